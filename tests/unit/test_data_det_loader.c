/* tests/unit/test_data_det_loader.c - detection batches: each row equals tgc_det_get + normalisation onto the
 * canvas + tgc_det_retina_targets on the same sample, avg_factor is the sum of max(num_pos, 1), and the batches
 * do not depend on num_workers. Two-stage (Faster R-CNN) batches: each row's RPN targets equal
 * tgc_det_rpn_targets keyed by (seed, epoch, position) on the RPN sampler's stream, avg_factor the sampled
 * anchors, the gts padded to max_gts (label -1), img_shape and the RoI sampler's key; byte-identical with 0
 * and 3 workers; an image with more gts than max_gts refused with the key to raise. */
#define _GNU_SOURCE
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/data/det_data.h"
#include "test_dataset.h"
#include "test_util.h"

#define CANVAS 128
#define BATCH 4
#define N_TRAIN 10

static char *tmpdir;
static tgc_det_dataset *ds;

static void setup(void) {
    tmpdir = test_tmpdir(TGC_BINARY_DIR "/tests", "data_det_loader");
    if (!fashion_present()) return;
    tgc_det_synth_opts so = {.out_dir = tmpdir, .fashion_dir = FASHION_DIR, .n_train = N_TRAIN, .n_val = 1,
                             .size = CANVAS, .seed = 5};
    tgc_err err = {{0}};
    ck_assert_msg(tgc_det_synth(&so, NULL, &err) == 0, "%s", err.msg);
    char *ann = tgc_asprintf("%s/annotations/instances_train.json", tmpdir), *img = tgc_asprintf("%s/train", tmpdir);
    tgc_coco_opts co = {.ann_file = ann, .img_dir = img};
    ds = tgc_coco_load(&co, &err);
    ck_assert_msg(ds, "%s", err.msg);
    free(ann);
    free(img);
    /* resized below the canvas (so the zero fill and the pad_shape's valid flags matter), flipped at random */
    const char *yaml = "pipeline: [{type: LoadImageFromFile}, {type: LoadAnnotations, with_bbox: true}, "
                       "{type: Resize, scale: [80, 80], keep_ratio: true}, {type: RandomFlip, prob: 0.5}, "
                       "{type: PackDetInputs}]\n";
    tgc_cfg *root = test_cfg_parse(yaml, "pipe.yaml");
    tgc_det_pipeline *p = tgc_det_pipeline_new(tgc_cfg_get(root, "pipeline"), &err);
    ck_assert_msg(p, "%s", err.msg);
    tgc_det_dataset_set_pipeline(ds, p);
    tgc_cfg_free(root);
}

static void teardown(void) {
    tgc_det_dataset_free(ds);
    test_rm_tree(tmpdir);
    free(tmpdir);
}

static tgc_loader_opts loader_opts(int workers) {
    tgc_loader_opts o = {.batch_size = BATCH, .num_workers = workers, .train = 1, .shuffle = 1, .round_up = 1,
                         .seed = 11, .rank = 0, .world = 1};
    o.norm.n = 3;
    const float mean[3] = {123.675f, 116.28f, 103.53f}, sd[3] = {58.395f, 57.12f, 57.375f};
    memcpy(o.norm.mean, mean, sizeof mean);
    memcpy(o.norm.std, sd, sizeof sd);
    o.norm.to_rgb = 1;
    return o;
}

static tgc_det_batch_opts batch_opts(void) {
    tgc_det_batch_opts b = {.canvas_h = CANVAS, .canvas_w = CANVAS, .pad_size_divisor = 32, .targets = 1,
                            .num_classes = 10};
    tgc_det_anchor_cfg_retinanet(&b.anchor);
    tgc_det_coder_cfg_default(&b.coder);
    tgc_det_assigner_cfg_default(&b.assigner, 0.5f, 0.4f);
    return b;
}

START_TEST(rows_equal_targets_of_the_sample) {
    FASHION_REQUIRED();
    tgc_err err = {{0}};
    tgc_loader_opts lo = loader_opts(2);
    tgc_det_batch_opts bo = batch_opts();
    tgc_loader *l = tgc_det_loader_new(ds, &lo, &bo, &err);
    ck_assert_msg(l, "%s", err.msg);
    ck_assert_ptr_eq(tgc_loader_det_dataset(l), ds);
    tgc_det_anchors an;
    ck_assert_int_eq(tgc_det_anchors_for_canvas(&bo.anchor, CANVAS, CANVAS, &an, &err), 0);
    int64_t na = an.count;
    ck_assert_int_eq(tgc_loader_det_anchors(l), na);
    ck_assert_int_eq(tgc_loader_num_batches(l), N_TRAIN / BATCH); /* the partial batch is dropped */

    tgc_sampler s;
    ck_assert_int_eq(tgc_sampler_init(&s, N_TRAIN, 1, lo.seed, 1, 0, 1, &err), 0);
    int idx[N_TRAIN], pos[N_TRAIN];
    const uint32_t epoch = 3;
    tgc_sampler_epoch(&s, epoch, idx, pos);

    int32_t *cls = tgc_malloc(sizeof(int32_t) * (size_t)na);
    float *box = tgc_malloc(sizeof(float) * 4 * (size_t)na);
    uint8_t *valid = tgc_malloc((size_t)na);
    tgc_det_sample smp = {0};
    int flips = 0, positives = 0, ignored_invalid = 0;
    ck_assert_int_eq(tgc_loader_begin_epoch(l, epoch, 0, &err), 0);
    tgc_batch *b;
    for (int bi = 0; tgc_loader_next(l, &b, &err) == 1; bi++) {
        ck_assert_int_eq(b->n, BATCH);
        double avg = 0;
        for (int i = 0; i < BATCH; i++) {
            int k = bi * BATCH + i;
            const tgc_det_meta *m = &b->meta[i];
            ck_assert_int_eq(m->index, idx[k]);
            ck_assert_int_eq(tgc_det_get(ds, idx[k], epoch, (uint32_t)pos[k], lo.seed, &smp, &err), 0);
            ck_assert_int_eq(m->img_id, smp.img_id);
            ck_assert_int_eq(m->img_h, smp.img_h);
            ck_assert_int_eq(m->img_w, 80);
            ck_assert_int_eq(m->pad_h, 96); /* 80 rounded up to 32 */
            ck_assert_int_eq(m->pad_w, 96);
            ck_assert_int_eq(m->flip, smp.flip);
            flips += smp.flip != 0;
            /* the image: (x - mean) / std of the RGB channel at (y, x), zeros outside */
            const float *img = b->images + (size_t)i * 3 * CANVAS * CANVAS;
            for (int c = 0; c < 3; c++)
                for (int y = 0; y < CANVAS; y += 7)
                    for (int x = 0; x < CANVAS; x += 5) {
                        float got = img[((size_t)c * CANVAS + y) * CANVAS + x];
                        if (y >= smp.img.h || x >= smp.img.w) {
                            ck_assert_float_eq(got, 0.0f);
                            continue;
                        }
                        float v = smp.img.data[((size_t)y * smp.img.w + x) * 3 + (2 - c)];
                        ck_assert_float_eq(got, (v - lo.norm.mean[c]) / lo.norm.std[c]);
                    }
            /* the targets */
            tgc_det_valid_flags(&an, m->pad_h, m->pad_w, valid);
            tgc_det_gt gt = {smp.gt, smp.labels, NULL, smp.n_gt, smp.ignore, smp.n_ignore};
            int64_t np;
            ck_assert_int_eq(tgc_det_retina_targets(&bo.assigner, &bo.coder, 10, an.boxes, valid, na, &gt, cls, box, &np,
                                                    &err),
                             0);
            ck_assert_int_eq(m->num_pos, np);
            ck_assert_mem_eq(b->cls_target + (size_t)i * na, cls, sizeof(int32_t) * (size_t)na);
            ck_assert_mem_eq(b->bbox_target + (size_t)i * na * 4, box, sizeof(float) * 4 * (size_t)na);
            positives += np > 0;
            for (int64_t a = 0; a < na; a++) ignored_invalid += !valid[a] && cls[a] == -1;
            avg += (double)(np > 1 ? np : 1);
        }
        ck_assert_float_eq(b->avg_factor, (float)avg);
        tgc_loader_release(l, b);
    }
    ck_assert_msg(err.msg[0] == 0, "%s", err.msg);
    ck_assert_int_gt(flips, 0);            /* RandomFlip drew both ways over 8 samples */
    ck_assert_int_lt(flips, 8);
    ck_assert_int_eq(positives, 8);         /* every image has a box, every box an anchor */
    ck_assert_int_gt(ignored_invalid, 0);   /* anchors outside the 96 x 96 pad_shape are ignored */
    tgc_det_sample_free(&smp);
    free(cls);
    free(box);
    free(valid);
    tgc_det_anchors_free(&an);
    tgc_loader_free(l);
}
END_TEST

/* The same batches with 0 and 3 workers. */
static void epoch_bytes(int workers, float **img, int32_t **cls, float *avg) {
    tgc_err err = {{0}};
    tgc_loader_opts lo = loader_opts(workers);
    tgc_det_batch_opts bo = batch_opts();
    tgc_loader *l = tgc_det_loader_new(ds, &lo, &bo, &err);
    ck_assert_msg(l, "%s", err.msg);
    size_t ni = (size_t)BATCH * 3 * CANVAS * CANVAS, nc = (size_t)BATCH * (size_t)tgc_loader_det_anchors(l);
    *img = tgc_malloc(sizeof(float) * ni * 2);
    *cls = tgc_malloc(sizeof(int32_t) * nc * 2);
    ck_assert_int_eq(tgc_loader_begin_epoch(l, 1, 0, &err), 0);
    tgc_batch *b;
    for (int bi = 0; tgc_loader_next(l, &b, &err) == 1; bi++) {
        memcpy(*img + ni * bi, b->images, sizeof(float) * ni);
        memcpy(*cls + nc * bi, b->cls_target, sizeof(int32_t) * nc);
        avg[bi] = b->avg_factor;
        tgc_loader_release(l, b);
    }
    tgc_loader_free(l);
}

START_TEST(independent_of_num_workers) {
    FASHION_REQUIRED();
    float *i0, *i3, a0[2], a3[2];
    int32_t *c0, *c3;
    epoch_bytes(0, &i0, &c0, a0);
    epoch_bytes(3, &i3, &c3, a3);
    ck_assert_mem_eq(i0, i3, sizeof(float) * 2 * BATCH * 3 * CANVAS * CANVAS);
    ck_assert_mem_eq(c0, c3, sizeof(int32_t) * 2 * BATCH * 3069);
    ck_assert_mem_eq(a0, a3, sizeof a0);
    free(i0);
    free(i3);
    free(c0);
    free(c3);
}
END_TEST

/* Orientation groups (two-orientation plans): a 128 x 256 canvas, a quarter of the images portrait (256 x 128,
 * onto the transposed canvas with its anchors); batches of one orientation, K = 24 / 4 - 1 per epoch; the
 * same bytes with 0 and 3 workers and from a resumed batch; evaluation keeps every image once. */
#define OH 128
#define OW 256
#define ON 24
typedef struct orient_epoch {
    float *img;
    int32_t *cls;
    int portrait[ON];
    int index[ON];
    int nb;
} orient_epoch;

static tgc_det_dataset *orient_set(void) {
    char *dir = tgc_asprintf("%s/orient", tmpdir);
    tgc_det_synth_opts so = {.out_dir = dir, .fashion_dir = FASHION_DIR, .n_train = ON, .n_val = 1, .size = OH,
                             .height = OH, .width = OW, .portrait = 0.25, .seed = 2};
    tgc_err err = {{0}};
    ck_assert_msg(tgc_det_synth(&so, NULL, &err) == 0, "%s", err.msg);
    char *ann = tgc_asprintf("%s/annotations/instances_train.json", dir), *img = tgc_asprintf("%s/train", dir);
    tgc_coco_opts co = {.ann_file = ann, .img_dir = img};
    tgc_det_dataset *d = tgc_coco_load(&co, &err);
    ck_assert_msg(d, "%s", err.msg);
    const char *yaml = "pipeline: [{type: LoadImageFromFile}, {type: LoadAnnotations, with_bbox: true}, "
                       "{type: Resize, scale: [256, 128], keep_ratio: true}, {type: RandomFlip, prob: 0.5}, "
                       "{type: PackDetInputs}]\n";
    tgc_cfg *root = test_cfg_parse(yaml, "pipe.yaml");
    tgc_det_pipeline *p = tgc_det_pipeline_new(tgc_cfg_get(root, "pipeline"), &err);
    ck_assert_msg(p, "%s", err.msg);
    tgc_det_dataset_set_pipeline(d, p);
    tgc_cfg_free(root);
    free(ann);
    free(img);
    free(dir);
    return d;
}

static void orient_run(const tgc_det_dataset *d, int workers, int first, orient_epoch *e) {
    tgc_err err = {{0}};
    tgc_loader_opts lo = loader_opts(workers);
    tgc_det_batch_opts bo = batch_opts();
    bo.canvas_h = OH;
    bo.canvas_w = OW;
    bo.two_orient = 1;
    tgc_loader *l = tgc_det_loader_new(d, &lo, &bo, &err);
    ck_assert_msg(l, "%s", err.msg);
    e->nb = tgc_loader_num_batches(l);
    size_t ni = (size_t)BATCH * 3 * OH * OW, nc = (size_t)BATCH * (size_t)tgc_loader_det_anchors(l);
    e->img = tgc_calloc(ni * (size_t)e->nb, sizeof(float));
    e->cls = tgc_calloc(nc * (size_t)e->nb, sizeof(int32_t));
    ck_assert_int_eq(tgc_loader_begin_epoch(l, 2, first, &err), 0);
    int stats[2], dropped;
    tgc_loader_group_stats(l, stats, &dropped);
    ck_assert_int_eq(stats[0] + stats[1], e->nb);
    ck_assert_int_gt(stats[1], 0);
    ck_assert_int_eq(dropped, ON - e->nb * BATCH);
    tgc_batch *b;
    int bi = first;
    for (; tgc_loader_next(l, &b, &err) == 1; bi++) {
        ck_assert_int_eq(b->n, BATCH);
        e->portrait[bi] = b->portrait;
        for (int i = 0; i < BATCH; i++) {
            const tgc_det_meta *m = &b->meta[i];
            ck_assert_int_eq(m->ori_h > m->ori_w, b->portrait); /* one orientation per batch */
            ck_assert_int_eq(m->img_h, b->portrait ? OW : OH);
            ck_assert_int_eq(m->pad_w, b->portrait ? OH : OW);
            if (i == 0) e->index[bi] = m->index;
        }
        memcpy(e->img + ni * bi, b->images, sizeof(float) * ni);
        memcpy(e->cls + nc * bi, b->cls_target, sizeof(int32_t) * nc);
        tgc_loader_release(l, b);
    }
    ck_assert_msg(err.msg[0] == 0, "%s", err.msg);
    ck_assert_int_eq(bi, e->nb);
    tgc_loader_free(l);
}

START_TEST(two_orientations) {
    FASHION_REQUIRED();
    tgc_det_dataset *d = orient_set();
    orient_epoch e0, e3, er;
    orient_run(d, 0, 0, &e0);
    orient_run(d, 3, 0, &e3);
    orient_run(d, 2, 3, &er);
    ck_assert_int_eq(e0.nb, ON / BATCH - 1);
    size_t ni = (size_t)BATCH * 3 * OH * OW, na = 0;
    tgc_det_batch_opts bo = batch_opts();
    tgc_det_anchors an, at;
    tgc_err err = {{0}};
    ck_assert_int_eq(tgc_det_anchors_for_canvas(&bo.anchor, OH, OW, &an, &err), 0);
    ck_assert_int_eq(tgc_det_anchors_for_canvas(&bo.anchor, OW, OH, &at, &err), 0);
    ck_assert_int_eq(an.count, at.count);
    na = (size_t)an.count;
    ck_assert_mem_eq(e0.img, e3.img, sizeof(float) * ni * (size_t)e0.nb);
    ck_assert_mem_eq(e0.cls, e3.cls, sizeof(int32_t) * BATCH * na * (size_t)e0.nb);
    ck_assert_mem_eq(e0.img + ni * 3, er.img + ni * 3, sizeof(float) * ni * (size_t)(e0.nb - 3));
    ck_assert_mem_eq(e0.cls + BATCH * na * 3, er.cls + BATCH * na * 3, sizeof(int32_t) * BATCH * na * (size_t)(e0.nb - 3));
    int por = 0;
    for (int b = 0; b < e0.nb; b++) {
        ck_assert_int_eq(e0.portrait[b], e3.portrait[b]);
        if (b >= 3) ck_assert_int_eq(e0.portrait[b], er.portrait[b]);
        por += e0.portrait[b];
    }
    ck_assert_int_gt(por, 0);
    ck_assert_int_lt(por, e0.nb);
    /* a portrait batch's first row: the image on the 256 x 128 canvas, targets on its anchors */
    int pb = 0;
    while (!e0.portrait[pb]) pb++;
    tgc_sampler s;
    ck_assert_int_eq(tgc_sampler_init(&s, ON, 1, 11, 1, 0, 1, &err), 0);
    int idx[ON], pos[ON], k = 0;
    tgc_sampler_epoch(&s, 2, idx, pos);
    while (idx[k] != e0.index[pb]) k++;
    tgc_det_sample smp = {0};
    ck_assert_int_eq(tgc_det_get(d, idx[k], 2, (uint32_t)pos[k], 11, &smp, &err), 0);
    ck_assert_int_eq(smp.img.h, OW);
    const float *img = e0.img + ni * pb;
    for (int y = 0; y < OW; y += 9)
        for (int x = 0; x < OH; x += 7) {
            float v = smp.img.data[((size_t)y * smp.img.w + x) * 3 + 2];
            ck_assert_float_eq(img[(size_t)y * OH + x], (v - 123.675f) / 58.395f);
        }
    uint8_t *valid = tgc_malloc(na);
    int32_t *cls = tgc_malloc(sizeof(int32_t) * na);
    float *box = tgc_malloc(sizeof(float) * 4 * na);
    tgc_det_valid_flags(&at, OW, OH, valid);
    tgc_det_gt gt = {smp.gt, smp.labels, NULL, smp.n_gt, smp.ignore, smp.n_ignore};
    int64_t np;
    ck_assert_int_eq(tgc_det_retina_targets(&bo.assigner, &bo.coder, 10, at.boxes, valid, (int64_t)na, &gt, cls, box, &np,
                                            &err), 0);
    ck_assert_int_gt(np, 0);
    ck_assert_mem_eq(e0.cls + BATCH * na * pb, cls, sizeof(int32_t) * na);
    /* evaluation: every image once, landscape batches first, the last of each orientation partial */
    tgc_loader_opts lo = loader_opts(2);
    lo.train = 0;
    lo.shuffle = 0;
    bo.canvas_h = OH;
    bo.canvas_w = OW;
    bo.two_orient = 1;
    bo.targets = 0;
    tgc_loader *l = tgc_det_loader_new(d, &lo, &bo, &err);
    ck_assert_msg(l, "%s", err.msg);
    ck_assert_int_eq(tgc_loader_num_batches(l), 5 + 2); /* 18 landscape, 6 portrait */
    ck_assert_int_eq(tgc_loader_begin_epoch(l, 0, 0, &err), 0);
    int seen[ON] = {0}, n = 0, last = 0;
    tgc_batch *b;
    while (tgc_loader_next(l, &b, &err) == 1) {
        ck_assert_int_ge(b->portrait, last);
        last = b->portrait;
        for (int i = 0; i < b->n; i++) {
            seen[b->meta[i].index]++;
            ck_assert_int_eq(b->meta[i].position, b->meta[i].index); /* one rank, unshuffled */
            ck_assert_int_eq(b->meta[i].ori_h > b->meta[i].ori_w, b->portrait);
        }
        n += b->n;
        tgc_loader_release(l, b);
    }
    ck_assert_int_eq(n, ON);
    for (int i = 0; i < ON; i++) ck_assert_int_eq(seen[i], 1);
    tgc_loader_free(l);
    free(valid);
    free(cls);
    free(box);
    tgc_det_sample_free(&smp);
    tgc_det_anchors_free(&an);
    tgc_det_anchors_free(&at);
    for (orient_epoch *e = &e0; e; e = e == &e0 ? &e3 : e == &e3 ? &er : NULL) {
        free(e->img);
        free(e->cls);
    }
    tgc_det_dataset_free(d);
}
END_TEST

START_TEST(image_larger_than_canvas) {
    FASHION_REQUIRED();
    tgc_err err = {{0}};
    tgc_loader_opts lo = loader_opts(0);
    tgc_det_batch_opts bo = batch_opts();
    bo.canvas_h = bo.canvas_w = 64;
    tgc_loader *l = tgc_det_loader_new(ds, &lo, &bo, &err);
    ck_assert_msg(l, "%s", err.msg);
    ck_assert_int_eq(tgc_loader_begin_epoch(l, 0, 0, &err), 0);
    tgc_batch *b;
    ck_assert_int_eq(tgc_loader_next(l, &b, &err), -1);
    ck_assert_msg(strstr(err.msg, "larger than the plan's canvas 64x64") && strstr(err.msg, "epoch 0, batch 0"), "%s",
                  err.msg);
    tgc_loader_free(l);
}
END_TEST

static tgc_det_batch_opts two_stage_opts(void) {
    tgc_det_batch_opts b = {.canvas_h = CANVAS, .canvas_w = CANVAS, .pad_size_divisor = 32, .targets = 1,
                            .two_stage = 1, .num_classes = 10, .allowed_border = -1, .max_gts = 6};
    tgc_det_anchor_cfg_rpn(&b.anchor);
    tgc_det_coder_cfg_default(&b.coder);
    tgc_det_assigner_cfg_default(&b.assigner, 0.7f, 0.3f);
    b.assigner.min_pos_iou = 0.3f;
    tgc_det_sampler_cfg_default(&b.sampler, 256, 0.5);
    b.sampler.add_gt_as_proposals = 0;
    return b;
}

START_TEST(two_stage_rows) {
    FASHION_REQUIRED();
    tgc_err err = {{0}};
    tgc_loader_opts lo = loader_opts(2);
    tgc_det_batch_opts bo = two_stage_opts();
    tgc_loader *l = tgc_det_loader_new(ds, &lo, &bo, &err);
    ck_assert_msg(l, "%s", err.msg);
    tgc_det_anchors an;
    ck_assert_int_eq(tgc_det_anchors_for_canvas(&bo.anchor, CANVAS, CANVAS, &an, &err), 0);
    int64_t na = an.count;
    ck_assert_int_eq(tgc_loader_det_anchors(l), na);
    tgc_sampler s;
    ck_assert_int_eq(tgc_sampler_init(&s, N_TRAIN, 1, lo.seed, 1, 0, 1, &err), 0);
    int idx[N_TRAIN], pos[N_TRAIN];
    const uint32_t epoch = 2;
    tgc_sampler_epoch(&s, epoch, idx, pos);
    int32_t *cls = tgc_malloc(sizeof(int32_t) * (size_t)na);
    float *box = tgc_malloc(sizeof(float) * 4 * (size_t)na);
    uint8_t *valid = tgc_malloc((size_t)na);
    tgc_det_sample smp = {0};
    int sampled_pos = 0;
    ck_assert_int_eq(tgc_loader_begin_epoch(l, epoch, 0, &err), 0);
    tgc_batch *b;
    for (int bi = 0; tgc_loader_next(l, &b, &err) == 1; bi++) {
        double avg = 0;
        for (int i = 0; i < BATCH; i++) {
            int k = bi * BATCH + i;
            const tgc_det_meta *m = &b->meta[i];
            ck_assert_int_eq(tgc_det_get(ds, idx[k], epoch, (uint32_t)pos[k], lo.seed, &smp, &err), 0);
            tgc_det_valid_flags(&an, m->pad_h, m->pad_w, valid);
            tgc_det_gt gt = {smp.gt, smp.labels, NULL, smp.n_gt, smp.ignore, smp.n_ignore};
            tgc_rng rng;
            tgc_rng_init(&rng, lo.seed, epoch, (uint32_t)pos[k], TGC_RNG_RPN_SAMPLE);
            int64_t np, nn;
            ck_assert_int_eq(tgc_det_rpn_targets(&bo.assigner, &bo.sampler, &bo.coder, an.boxes, valid, na, &gt, &rng, cls,
                                                 box, &np, &nn, &err),
                             0);
            ck_assert_mem_eq(b->cls_target + (size_t)i * na, cls, sizeof(int32_t) * (size_t)na);
            ck_assert_mem_eq(b->bbox_target + (size_t)i * na * 4, box, sizeof(float) * 4 * (size_t)na);
            ck_assert(m->num_pos == np && np + nn == 256); /* plenty of negatives: 256 sampled */
            sampled_pos += np > 0;
            avg += (double)(np + nn);
            /* the padded ground truth, img_shape, the key */
            const float *gb = b->gt_bboxes + (size_t)i * 6 * 4;
            const int32_t *gl = b->gt_labels + (size_t)i * 6, *key = b->rng + (size_t)i * 4;
            ck_assert_mem_eq(gb, smp.gt, sizeof(float) * 4 * (size_t)smp.n_gt);
            for (int g = 0; g < 6; g++) {
                ck_assert_int_eq(gl[g], g < smp.n_gt ? smp.labels[g] : -1);
                for (int q = 0; g >= smp.n_gt && q < 4; q++) ck_assert(gb[g * 4 + q] == 0.f);
            }
            ck_assert(b->img_shape[i * 2] == (float)smp.img_h && b->img_shape[i * 2 + 1] == (float)smp.img_w);
            ck_assert(key[0] == (int32_t)lo.seed && key[1] == 0 && key[2] == (int32_t)epoch && key[3] == pos[k]);
        }
        ck_assert_float_eq(b->avg_factor, (float)avg);
        tgc_loader_release(l, b);
    }
    ck_assert_msg(err.msg[0] == 0, "%s", err.msg);
    ck_assert_int_eq(sampled_pos, 8);
    tgc_det_sample_free(&smp);
    free(cls), free(box), free(valid);
    tgc_det_anchors_free(&an);
    tgc_loader_free(l);
}
END_TEST

/* Every buffer of two epochs' batches, concatenated. */
static size_t two_stage_epoch(int workers, unsigned char **out) {
    tgc_err err = {{0}};
    tgc_loader_opts lo = loader_opts(workers);
    tgc_det_batch_opts bo = two_stage_opts();
    tgc_loader *l = tgc_det_loader_new(ds, &lo, &bo, &err);
    ck_assert_msg(l, "%s", err.msg);
    size_t na = (size_t)tgc_loader_det_anchors(l), bs = BATCH;
    size_t parts[] = {sizeof(float) * bs * 3 * CANVAS * CANVAS, sizeof(int32_t) * bs * na, sizeof(float) * bs * na * 4,
                      sizeof(float) * bs * 6 * 4, sizeof(int32_t) * bs * 6, sizeof(float) * bs * 2, sizeof(int32_t) * bs * 4,
                      sizeof(float)};
    size_t per = 0, len = 0;
    for (size_t p = 0; p < sizeof parts / sizeof *parts; p++) per += parts[p];
    *out = tgc_malloc(per * 4);
    for (uint32_t epoch = 0; epoch < 2; epoch++) {
        ck_assert_int_eq(tgc_loader_begin_epoch(l, epoch, 0, &err), 0);
        tgc_batch *b;
        while (tgc_loader_next(l, &b, &err) == 1) {
            const void *src[] = {b->images, b->cls_target, b->bbox_target, b->gt_bboxes, b->gt_labels, b->img_shape, b->rng,
                                 &b->avg_factor};
            for (size_t p = 0; p < sizeof parts / sizeof *parts; p++) memcpy(*out + len, src[p], parts[p]), len += parts[p];
            tgc_loader_release(l, b);
        }
    }
    ck_assert_msg(err.msg[0] == 0, "%s", err.msg);
    tgc_loader_free(l);
    return len;
}

START_TEST(two_stage_independent_of_num_workers) {
    FASHION_REQUIRED();
    unsigned char *a, *b;
    size_t na = two_stage_epoch(0, &a), nb = two_stage_epoch(3, &b);
    ck_assert(na == nb && na > 0);
    ck_assert_mem_eq(a, b, na);
    free(a), free(b);
}
END_TEST

START_TEST(two_stage_too_many_gts) {
    FASHION_REQUIRED();
    tgc_err err = {{0}};
    tgc_loader_opts lo = loader_opts(0);
    tgc_det_batch_opts bo = two_stage_opts();
    bo.max_gts = 1;
    tgc_loader *l = tgc_det_loader_new(ds, &lo, &bo, &err);
    ck_assert_msg(l, "%s", err.msg);
    int failed = 0;
    for (uint32_t epoch = 0; epoch < 3 && !failed; epoch++) {
        ck_assert_int_eq(tgc_loader_begin_epoch(l, epoch, 0, &err), 0);
        tgc_batch *b;
        int rc;
        while ((rc = tgc_loader_next(l, &b, &err)) == 1) tgc_loader_release(l, b);
        failed = rc < 0;
    }
    ck_assert_msg(failed, "no image of the synthetic set has two boxes?");
    ck_assert_msg(strstr(err.msg, ".png: ") && strstr(err.msg, "more than the plan's 1") &&
                      strstr(err.msg, "model.data_preprocessor.tgc_max_gts"),
                  "%s", err.msg);
    tgc_loader_free(l);
}
END_TEST

int main(void) {
    Suite *s = suite_create("data_det_loader");
    TCase *tc = tcase_create("core");
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, rows_equal_targets_of_the_sample);
    tcase_add_test(tc, independent_of_num_workers);
    tcase_add_test(tc, image_larger_than_canvas);
    tcase_add_test(tc, two_orientations);
    tcase_add_test(tc, two_stage_rows);
    tcase_add_test(tc, two_stage_independent_of_num_workers);
    tcase_add_test(tc, two_stage_too_many_gts);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return fashion_status(nf);
}
