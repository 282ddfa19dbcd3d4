/* tests/unit/test_data_randaug.c - RandAugment's operations against MMPretrain's bytes (tests/data/randaug, made
 * by make_goldens.py there; $TGC_RANDAUG_GOLDEN_DIR points at a fresh set in the live comparison), the policy
 * machinery's choices and magnitudes, determinism across num_workers, and the config errors. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/data/data.h"
#include "runtime/data/data_randaug.h"
#include "test_golden.h"
#include "test_util.h"

/* ---- the reference outputs ------------------------------------------------------------------------------ */

static double num_of(const tgc_cfg *c) { return c->kind == TGC_CFG_INT ? (double)c->i : c->f; }

/* Cutout's draws are the record's: the shape and fill come from its config, the centre from Y0 X0. */
static void cutout_from_record(const tgc_cfg *m, tgc_image *img, double y0, double x0) {
    int ch, cw;
    const tgc_cfg *s = tgc_cfg_get(m, "shape");
    if (s && s->kind == TGC_CFG_INT) {
        ch = cw = (int)s->i;
    } else if (s) {
        ch = (int)s->items[0]->i;
        cw = (int)s->items[1]->i;
    } else {
        const tgc_cfg *r = tgc_cfg_get(m, "magnitude_range");
        double lv = num_of(tgc_cfg_get(m, "magnitude_level")), v1 = num_of(r->items[0]), v2 = num_of(r->items[1]);
        ch = cw = (int)((lv / 10) * (v2 - v1) + v1);
    }
    uint8_t pad[4] = {128, 128, 128, 128};
    const tgc_cfg *p = tgc_cfg_get(m, "pad_val");
    for (int k = 0; p && k < 4; k++)
        pad[k] = (uint8_t)num_of(p->kind == TGC_CFG_LIST ? p->items[TGC_MIN(k, p->n - 1)] : p);
    tgc_aug_cutout_at(img, ch, cw, y0, x0, pad);
}

START_TEST(operations_equal_mmpretrain) {
    golden_file g;
    golden_open(&g, "randaug.golden", 0);
    golden_record r;
    struct { char name[32]; int cases, max_diff; } stats[32];
    int nstats = 0, total = 0, worst = 0;
    tgc_image img = {0}, scratch = {0};
    while (golden_next(&g, &r)) {
        ck_assert_msg(r.nword >= 5 && !strcmp(r.word[0], "aug"), "%s: unexpected record %s", g.path, r.word[0]);
        char text[512] = "";
        for (int i = 4; i < r.nword; i++) {
            strcat(text, r.word[i]);
            strcat(text, i + 1 < r.nword ? " " : "");
        }
        tgc_cfg *cfg = test_cfg_parse(text, "record.yaml");
        const char *type = tgc_cfg_get(cfg, "type")->s;
        tgc_image_reserve(&img, r.in->h, r.in->w, r.in->c);
        memcpy(img.data, r.in->data, r.out_len);
        if (!strcmp(type, "Cutout")) {
            cutout_from_record(cfg, &img, atof(r.word[2]), atof(r.word[3]));
        } else {
            tgc_err err;
            tgc_aug *a = tgc_aug_new(cfg, type, &err);
            ck_assert_msg(a != NULL, "%s: %s", text, err.msg);
            tgc_rng rng;
            tgc_rng_init(&rng, 1, 0, (uint32_t)total, TGC_RNG_AUGMENT);
            ck_assert_msg(tgc_aug_apply(a, &img, &scratch, &rng, &err) == 0, "%s", err.msg);
            tgc_aug_free(a);
        }
        ck_assert(img.h == r.in->h && img.w == r.in->w && img.c == r.in->c);
        int d = golden_max_diff(img.data, r.out, r.out_len);
        if (d) printf("  image %s %s: max pixel difference %d\n", r.word[1], text, d);
        int s = 0;
        while (s < nstats && strcmp(stats[s].name, type)) s++;
        if (s == nstats) {
            snprintf(stats[nstats].name, sizeof stats[0].name, "%s", type);
            stats[nstats].cases = stats[nstats].max_diff = 0;
            nstats++;
        }
        stats[s].cases++;
        stats[s].max_diff = TGC_MAX(stats[s].max_diff, d);
        worst = TGC_MAX(worst, d);
        total++;
        free(r.out);
        tgc_cfg_free(cfg);
    }
    golden_close(&g);
    tgc_image_free(&img);
    tgc_image_free(&scratch);
    for (int s = 0; s < nstats; s++)
        printf("%-15s %3d cases  max pixel difference %d\n", stats[s].name, stats[s].cases, stats[s].max_diff);
    printf("%d cases against %s, max pixel difference %d\n", total, g.path, worst);
    ck_assert_int_ge(nstats, 14);
    ck_assert_int_ge(total, 100);
    ck_assert_int_eq(worst, 0);
}
END_TEST

/* ---- the policy machinery -------------------------------------------------------------------------------- */

static tgc_cfg *cfg_keep;

static tgc_aug *aug(const char *yaml) {
    tgc_cfg_free(cfg_keep);
    cfg_keep = test_cfg_parse(yaml, "ra.yaml");
    tgc_err err;
    const tgc_cfg *t = tgc_cfg_get(cfg_keep, "t");
    tgc_aug *a = tgc_aug_new(t, tgc_cfg_get(t, "type")->s, &err);
    ck_assert_msg(a != NULL, "%s", err.msg);
    return a;
}

static const char *aug_error(const char *yaml) {
    static tgc_err err;
    tgc_cfg_free(cfg_keep);
    cfg_keep = test_cfg_parse(yaml, "ra.yaml");
    tgc_cfg *pl = tgc_cfg_get(cfg_keep, "pipeline");
    ck_assert_ptr_null(tgc_pipeline_new(pl, &err));
    return err.msg;
}

static void test_image(tgc_image *img, int c) {
    tgc_image_reserve(img, 20, 24, c);
    for (int i = 0; i < 20 * 24 * c; i++) img->data[i] = (uint8_t)(i * 37 + (i / 7) * 11);
}

/* Runs a on n samples (positions 0..n-1 of epoch 0) and collects, per operation, the magnitudes drawn. */
typedef struct stats {
    int chosen[64], applied[64], negated[64];
    double sum_abs[64], min_abs[64], max_abs[64];
    int nchosen;
} stats;

static void collect(const tgc_aug *a, int n, int channels, stats *st) {
    memset(st, 0, sizeof *st);
    for (int i = 0; i < 64; i++) st->min_abs[i] = INFINITY;
    tgc_image img = {0}, scratch = {0};
    for (int s = 0; s < n; s++) {
        test_image(&img, channels);
        tgc_rng rng;
        tgc_rng_init(&rng, 7, 0, (uint32_t)s, TGC_RNG_AUGMENT);
        tgc_aug_trace tr;
        tgc_err err;
        ck_assert_msg(tgc_aug_apply_traced(a, &img, &scratch, &rng, &tr, &err) == 0, "%s", err.msg);
        for (int k = 0; k < tr.nchosen; k++) st->chosen[tr.chosen[k]]++;
        st->nchosen += tr.nchosen;
        for (int k = 0; k < tr.napplied; k++) {
            int op = tr.op[k];
            double m = tr.magnitude[k];
            st->applied[op]++;
            if (isnan(m)) continue;
            st->negated[op] += m < 0;
            st->sum_abs[op] += fabs(m);
            st->min_abs[op] = fmin(st->min_abs[op], fabs(m));
            st->max_abs[op] = fmax(st->max_abs[op], fabs(m));
        }
    }
    tgc_image_free(&img);
    tgc_image_free(&scratch);
}

/* timm_increasing's magnitude ranges (|val2 - val1|, the bound of |magnitude| when noise is clipped). */
static const double timm_bound[15] = {0, 0, 0, 30, 4, 256, 110, 0.9, 0.9, 0.9, 0.9, 0.3, 0.3, 0.45, 0.45};

START_TEST(randaugment_choices_and_magnitudes) {
    /* the rsb-a1 recipe's RandAugment */
    tgc_aug *a = aug("t: {type: RandAugment, policies: timm_increasing, num_policies: 2, total_level: 10,\n"
                     "    magnitude_level: 7, magnitude_std: 0.5, hparams: {pad_val: [104, 116, 124], interpolation: bicubic}}\n");
    ck_assert_int_eq(tgc_aug_num_ops(a), 15);
    stats st;
    int n = 3000;
    collect(a, n, 3, &st);
    ck_assert_int_eq(st.nchosen, 2 * n);
    int applied = 0;
    for (int i = 0; i < 15; i++) {
        /* each policy chosen 400 times on average (binomial sd ~19) */
        ck_assert_msg(st.chosen[i] > 300 && st.chosen[i] < 500, "policy %d chosen %d times", i, st.chosen[i]);
        applied += st.applied[i];
        if (timm_bound[i] > 0) {
            ck_assert_msg(st.max_abs[i] <= timm_bound[i] + 1e-9, "policy %d magnitude %g", i, st.max_abs[i]);
            ck_assert_msg(st.max_abs[i] > st.min_abs[i], "policy %d: no magnitude noise", i);
        }
    }
    ck_assert_msg(applied > 0.45 * 2 * n && applied < 0.55 * 2 * n, "applied %d of %d (prob 0.5)", applied, 2 * n);
    /* Rotate: level 7 of 10 on (0, 30) = 21 degrees with N(0, 0.5 level) noise; negated half the time */
    double mean = st.sum_abs[3] / st.applied[3];
    ck_assert_msg(fabs(mean - 21) < 0.5, "Rotate mean |angle| %g", mean);
    ck_assert_msg(st.negated[3] > 0.4 * st.applied[3] && st.negated[3] < 0.6 * st.applied[3], "negated %d of %d",
                  st.negated[3], st.applied[3]);
    /* Solarize, Posterize, SolarizeAdd are never negated; Solarize's threshold is 256 - 0.7 * 256 +- noise */
    ck_assert_int_eq(st.negated[4] + st.negated[5] + st.negated[6], 0);
    ck_assert_msg(fabs(st.sum_abs[5] / st.applied[5] - 76.8) < 2, "Solarize mean %g", st.sum_abs[5] / st.applied[5]);
    tgc_aug_free(a);

    /* magnitude_std: inf draws the level uniformly in [0, 7]; 0 keeps it */
    a = aug("t: {type: RandAugment, policies: timm_increasing, num_policies: 1, magnitude_level: 7, magnitude_std: inf}\n");
    collect(a, 9000, 3, &st);
    ck_assert(st.max_abs[3] <= 21 && st.min_abs[3] < 1 && st.max_abs[3] > 20);
    ck_assert_msg(fabs(st.sum_abs[3] / st.applied[3] - 10.5) < 1.2, "uniform mean %g", st.sum_abs[3] / st.applied[3]);
    tgc_aug_free(a);
    a = aug("t: {type: RandAugment, policies: timm_increasing, num_policies: 3, magnitude_level: 9}\n");
    collect(a, 1000, 1, &st); /* grey images too */
    ck_assert_int_eq(st.nchosen, 3000);
    ck_assert(st.min_abs[3] == st.max_abs[3] && fabs(st.max_abs[3] - 27) < 1e-12);
    ck_assert(fabs(st.max_abs[13] - 0.405) < 1e-12);
    tgc_aug_free(a);

    /* hparams fill the operations' own arguments they do not set (prob here: every choice applies), and
     * RandAugment's level replaces a policy's own when it has a magnitude_range */
    a = aug("t: {type: RandAugment, num_policies: 2, magnitude_level: 5, hparams: {prob: 1.0},\n"
            "    policies: [{type: Rotate, magnitude_range: [0, 30], magnitude_level: 1, random_negative_prob: 0},\n"
            "               {type: Invert, prob: 0.0}]}\n");
    collect(a, 500, 3, &st);
    ck_assert_int_eq(st.applied[1], 0);
    ck_assert_int_eq(st.applied[0], st.chosen[0]);
    ck_assert(st.min_abs[0] == 15 && st.max_abs[0] == 15 && st.negated[0] == 0);
    tgc_aug_free(a);
}
END_TEST

START_TEST(autoaugment_sub_policies) {
    tgc_aug *a = aug("t: {type: AutoAugment, policies: imagenet}\n");
    ck_assert_int_eq(tgc_aug_num_ops(a), 50);
    stats st;
    collect(a, 2500, 3, &st);
    for (int i = 0; i < 25; i++) ck_assert_msg(st.chosen[i] > 50 && st.chosen[i] < 160, "sub-policy %d: %d", i, st.chosen[i]);
    /* sub-policy 12 is Equalize with prob 0.0, then Equalize with prob 0.8 */
    ck_assert_int_eq(st.applied[24], 0);
    ck_assert(st.applied[25] > 0.6 * st.chosen[12] && st.applied[25] < st.chosen[12]);
    /* fixed magnitudes: Rotate 30 (op 1), negated half the time */
    ck_assert(st.min_abs[1] == 30 && st.max_abs[1] == 30);
    ck_assert(st.negated[1] > 0.3 * st.applied[1] && st.negated[1] < 0.7 * st.applied[1]);
    tgc_aug_free(a);

    /* an explicit list; the operations applied belong to the sub-policy chosen */
    a = aug("t: {type: AutoAugment, policies: [[{type: Invert, prob: 1.0}], [{type: Posterize, bits: 2, prob: 1.0},"
            " {type: Cutout, shape: 4, prob: 1.0}]]}\n");
    tgc_image img = {0}, scratch = {0};
    for (int s = 0; s < 50; s++) {
        test_image(&img, 3);
        tgc_rng rng;
        tgc_rng_init(&rng, 3, 1, (uint32_t)s, TGC_RNG_AUGMENT);
        tgc_aug_trace tr;
        tgc_err err;
        ck_assert_int_eq(tgc_aug_apply_traced(a, &img, &scratch, &rng, &tr, &err), 0);
        ck_assert_int_eq(tr.nchosen, 1);
        ck_assert_int_eq(tr.napplied, tr.chosen[0] == 0 ? 1 : 2);
        ck_assert_int_eq(tr.op[0], tr.chosen[0] == 0 ? 0 : 1);
    }
    tgc_image_free(&img);
    tgc_image_free(&scratch);
    tgc_aug_free(a);
}
END_TEST

/* ---- determinism ------------------------------------------------------------------------------------------ */

START_TEST(same_draws_same_bytes) {
    tgc_aug *a = aug("t: {type: RandAugment, policies: timm_increasing, num_policies: 2, magnitude_level: 9,"
                     " magnitude_std: 0.5}\n");
    tgc_image x = {0}, y = {0}, s = {0};
    int differ = 0;
    for (int p = 0; p < 40; p++) {
        tgc_rng r1, r2;
        tgc_err err;
        test_image(&x, 3);
        test_image(&y, 3);
        tgc_rng_init(&r1, 5, 2, (uint32_t)p, TGC_RNG_AUGMENT);
        tgc_rng_init(&r2, 5, 2, (uint32_t)p, TGC_RNG_AUGMENT);
        ck_assert_int_eq(tgc_aug_apply(a, &x, &s, &r1, &err), 0);
        ck_assert_int_eq(tgc_aug_apply(a, &y, &s, &r2, &err), 0);
        ck_assert_mem_eq(x.data, y.data, (size_t)20 * 24 * 3);
        tgc_rng_init(&r2, 5, 3, (uint32_t)p, TGC_RNG_AUGMENT); /* another epoch */
        test_image(&y, 3);
        ck_assert_int_eq(tgc_aug_apply(a, &y, &s, &r2, &err), 0);
        differ += memcmp(x.data, y.data, (size_t)20 * 24 * 3) != 0;
    }
    ck_assert_int_gt(differ, 20);
    tgc_image_free(&x);
    tgc_image_free(&y);
    tgc_image_free(&s);
    tgc_aug_free(a);
}
END_TEST

/* A grey in-memory dataset with the Fashion-MNIST recipe's RandAugment: the batches are the same for any
 * number of workers. */
START_TEST(loader_batches_independent_of_workers) {
    const char *yaml = "pipeline: [{type: RandomCrop, crop_size: 28, padding: 2},\n"
                       "  {type: RandAugment, policies: timm_increasing, num_policies: 2, magnitude_level: 9,"
                       " magnitude_std: 0.5, hparams: {pad_val: 0}}, {type: PackInputs}]\n";
    tgc_cfg *cfg = test_cfg_parse(yaml, "l.yaml");
    float *ref = NULL;
    size_t len = 0;
    int workers[] = {0, 1, 3};
    for (int wi = 0; wi < 3; wi++) {
        tgc_err err;
        tgc_pipeline *p = tgc_pipeline_new(tgc_cfg_get(cfg, "pipeline"), &err);
        ck_assert_msg(p != NULL, "%s", err.msg);
        int n = 64;
        uint8_t *px = tgc_malloc((size_t)n * 784);
        int32_t *lab = tgc_malloc(sizeof(int32_t) * n);
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < 784; j++) px[i * 784 + j] = (uint8_t)((j % 28 > 6 && j % 28 < 20) ? 40 + (i * 13 + j) % 200 : 0);
            lab[i] = i % 10;
        }
        tgc_dataset *ds = tgc_dataset_new_memory("mem", n, 28, 28, px, lab, 10, p);
        tgc_loader_opts o = {.batch_size = 8, .train = 1, .shuffle = 1, .round_up = 1, .seed = 21, .world = 1,
                             .num_workers = workers[wi]};
        tgc_loader *l = tgc_loader_new(ds, &o, &err);
        ck_assert_msg(l != NULL, "%s", err.msg);
        float *all = tgc_calloc((size_t)n * 784, sizeof(float));
        ck_assert_int_eq(tgc_loader_begin_epoch(l, 1, 0, &err), 0);
        tgc_batch *b;
        int rc;
        while ((rc = tgc_loader_next(l, &b, &err)) == 1) {
            memcpy(all + (size_t)b->index * 8 * 784, b->images, sizeof(float) * 784 * b->n);
            tgc_loader_release(l, b);
        }
        ck_assert_msg(rc == 0, "%s", err.msg);
        tgc_loader_free(l);
        tgc_dataset_free(ds);
        if (!ref) {
            ref = all;
            len = (size_t)n * 784 * sizeof(float);
        } else {
            ck_assert_msg(memcmp(ref, all, len) == 0, "num_workers %d gave other images", workers[wi]);
            free(all);
        }
    }
    free(ref);
    tgc_cfg_free(cfg);
}
END_TEST

/* ---- configs ---------------------------------------------------------------------------------------------- */

START_TEST(config_errors_name_the_key) {
    const char *m;
    m = aug_error("pipeline: [{type: RandAugment, num_policies: 2, magnitude_level: 9, policies: [{type: Invert}, {type: Blur}]}]\n");
    ck_assert_msg(strstr(m, "pipeline[0].policies[1].type") && strstr(m, "unknown augmentation 'Blur'"), "%s", m);
    m = aug_error("pipeline: [{type: RandAugment, num_policies: 2, magnitude_level: 9, policies: chaos}]\n");
    ck_assert_msg(strstr(m, "pipeline[0].policies") && strstr(m, "timm_increasing"), "%s", m);
    m = aug_error("pipeline: [{type: RandAugment, num_policies: 2, magnitude_level: 9, magnitude_std: wide, policies: timm_increasing}]\n");
    ck_assert_msg(strstr(m, "pipeline[0].magnitude_std") && strstr(m, "\"inf\""), "%s", m);
    m = aug_error("pipeline: [{type: RandAugment, num_policies: 0, magnitude_level: 9, policies: timm_increasing}]\n");
    ck_assert_msg(strstr(m, "pipeline[0].num_policies"), "%s", m);
    m = aug_error("pipeline: [{type: RandAugment, num_policies: 1, policies: timm_increasing}]\n");
    ck_assert_msg(strstr(m, "magnitude_level"), "%s", m);
    m = aug_error("pipeline: [{type: RandAugment, num_policies: 1, magnitude_level: 3, policies: timm_increasing, magnitude: 3}]\n");
    ck_assert_msg(strstr(m, "pipeline[0].magnitude") && strstr(m, "no argument"), "%s", m);
    m = aug_error("pipeline: [{type: RandAugment, num_policies: 1, magnitude_level: 3, policies: timm_increasing,"
                  " hparams: {interpolation: lanczos}}]\n");
    ck_assert_msg(strstr(m, "pipeline[0].hparams.interpolation") && strstr(m, "lanczos"), "%s", m);
    m = aug_error("pipeline: [{type: Rotate, angle: 3, magnitude_range: [0, 30]}]\n");
    ck_assert_msg(strstr(m, "pipeline[0]") && strstr(m, "exactly one of 'angle' and 'magnitude_range'"), "%s", m);
    m = aug_error("pipeline: [{type: Shear, magnitude: 0.1, direction: diagonal}]\n");
    ck_assert_msg(strstr(m, "pipeline[0].direction"), "%s", m);
    m = aug_error("pipeline: [{type: Solarize, thr: 100, random_negative_prob: 0.5}]\n");
    ck_assert_msg(strstr(m, "pipeline[0].random_negative_prob") && strstr(m, "Solarize has no argument"), "%s", m);
    m = aug_error("pipeline: [{type: Posterize, bits: 9}]\n");
    ck_assert_msg(strstr(m, "pipeline[0].bits"), "%s", m);
    m = aug_error("pipeline: [{type: Brightness, magnitude: 0.1, prob: 1.5}]\n");
    ck_assert_msg(strstr(m, "pipeline[0].prob"), "%s", m);
    m = aug_error("pipeline: [{type: Cutout, shape: [1, 2, 3]}]\n");
    ck_assert_msg(strstr(m, "pipeline[0].shape"), "%s", m);
    m = aug_error("pipeline: [{type: Translate, magnitude: 0.1, pad_val: [1, 2, 3, 4, 5]}]\n");
    ck_assert_msg(strstr(m, "pipeline[0].pad_val"), "%s", m);
    m = aug_error("pipeline: [{type: AutoAugment, policies: [{type: Invert}]}]\n");
    ck_assert_msg(strstr(m, "pipeline[0].policies[0]") && strstr(m, "sub-policy"), "%s", m);
    m = aug_error("pipeline: [{type: AutoAugment, policies: imagenet, num_policies: 2}]\n");
    ck_assert_msg(strstr(m, "pipeline[0].num_policies"), "%s", m);
}
END_TEST

/* A whole pipeline: the rsb-a1 recipe's transforms parse and run, scope prefixes included. */
START_TEST(pipeline_runs_augmentations) {
    tgc_cfg *cfg = test_cfg_parse(
        "pipeline:\n"
        "  - {type: RandomResizedCrop, scale: 16}\n"
        "  - {type: mmpretrain.RandAugment, policies: timm_increasing, num_policies: 2, total_level: 10,\n"
        "     magnitude_level: 7, magnitude_std: 0.5, hparams: {pad_val: [104, 116, 124], interpolation: bicubic}}\n"
        "  - {type: AutoAugment, policies: imagenet}\n"
        "  - {type: Brightness, magnitude: 0.2, prob: 1.0, random_negative_prob: 0.0}\n"
        "  - {type: PackInputs}\n",
        "p.yaml");
    tgc_err err;
    tgc_pipeline *p = tgc_pipeline_new(tgc_cfg_get(cfg, "pipeline"), &err);
    ck_assert_msg(p != NULL, "%s", err.msg);
    tgc_image img = {0}, scratch = {0};
    for (int s = 0; s < 30; s++) {
        test_image(&img, 3);
        tgc_rng rng;
        tgc_rng_init(&rng, 9, 0, (uint32_t)s, TGC_RNG_AUGMENT);
        ck_assert_msg(tgc_pipeline_apply(p, &img, &scratch, &rng, &err) == 0, "%s", err.msg);
        ck_assert(img.w == 16 && img.h == 16 && img.c == 3);
    }
    tgc_image_free(&img);
    tgc_image_free(&scratch);
    tgc_pipeline_free(p);
    tgc_cfg_free(cfg);
}
END_TEST

static void teardown(void) {
    tgc_cfg_free(cfg_keep);
    cfg_keep = NULL;
}

int main(void) {
    const char *d = getenv("TGC_RANDAUG_GOLDEN_DIR");
    setenv("TGC_GOLDEN_DIR", d && *d ? d : TGC_SOURCE_DIR "/tests/data/randaug", 1);
    Suite *s = suite_create("data_randaug");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, operations_equal_mmpretrain);
    tcase_add_test(tc, randaugment_choices_and_magnitudes);
    tcase_add_test(tc, autoaugment_sub_policies);
    tcase_add_test(tc, same_draws_same_bytes);
    tcase_add_test(tc, loader_batches_independent_of_workers);
    tcase_add_test(tc, config_errors_name_the_key);
    tcase_add_test(tc, pipeline_runs_augmentations);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
