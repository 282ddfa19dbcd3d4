/* tests/unit/test_data_loader.c - DefaultSampler and RepeatAugSampler sharding and the threaded loader's determinism and errors. */
#define _GNU_SOURCE
#include <check.h>
#include <png.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/data/data.h"
#include "runtime/data/data_loader_src.h"
#include "test_dataset.h"

START_TEST(sampler_permutation_and_shards) {
    tgc_err err;
    tgc_sampler s;
    ck_assert_int_eq(tgc_sampler_init(&s, 1000, 1, 5, 1, 0, 1, &err), 0);
    int a[1000], b[1000], c[1000], seen[1000] = {0};
    tgc_sampler_epoch(&s, 0, a, NULL);
    tgc_sampler_epoch(&s, 0, b, NULL);
    tgc_sampler_epoch(&s, 1, c, NULL);
    int fixed = 0, same_next = 0;
    for (int i = 0; i < 1000; i++) {
        ck_assert(a[i] >= 0 && a[i] < 1000);
        seen[a[i]]++;
        fixed += a[i] == i;
        same_next += a[i] == c[i];
    }
    for (int i = 0; i < 1000; i++) ck_assert_int_eq(seen[i], 1); /* a permutation */
    ck_assert_mem_eq(a, b, sizeof a);                            /* a function of (seed, epoch) */
    ck_assert_int_lt(fixed, 20);                                 /* shuffled */
    ck_assert_int_lt(same_next, 20);                             /* a different order next epoch */
    ck_assert_int_eq(tgc_sampler_init(&s, 1000, 1, 6, 1, 0, 1, &err), 0);
    tgc_sampler_epoch(&s, 0, b, NULL);
    ck_assert(memcmp(a, b, sizeof a) != 0); /* and of the seed */

    /* 10 samples on 3 ranks: padded to 12 by repeating the start; the ranks' positions are disjoint and cover
     * 0..11, and position p holds order[p % 10]. */
    int full[10], cover[12] = {0};
    ck_assert_int_eq(tgc_sampler_init(&s, 10, 1, 9, 1, 0, 1, &err), 0);
    tgc_sampler_epoch(&s, 4, full, NULL);
    for (int r = 0; r < 3; r++) {
        int idx[4], pos[4];
        ck_assert_int_eq(tgc_sampler_init(&s, 10, 1, 9, 1, r, 3, &err), 0);
        ck_assert_int_eq(s.num_samples, 4);
        ck_assert_int_eq(s.total, 12);
        tgc_sampler_epoch(&s, 4, idx, pos);
        for (int k = 0; k < 4; k++) {
            ck_assert_int_eq(pos[k], r + 3 * k);
            ck_assert_int_eq(idx[k], full[pos[k] % 10]);
            cover[pos[k]]++;
        }
    }
    for (int p = 0; p < 12; p++) ck_assert_int_eq(cover[p], 1);
    /* round_up false: no padding, ranks get 4, 3, 3. */
    int want[3] = {4, 3, 3};
    for (int r = 0; r < 3; r++) {
        ck_assert_int_eq(tgc_sampler_init(&s, 10, 0, 0, 0, r, 3, &err), 0);
        ck_assert_int_eq(s.num_samples, want[r]);
    }
    int idx[4];
    tgc_sampler_epoch(&s, 0, idx, NULL); /* rank 2, no shuffle: 2, 5, 8 */
    ck_assert_int_eq(idx[0], 2);
    ck_assert_int_eq(idx[2], 8);
    ck_assert_int_eq(tgc_sampler_init(&s, 10, 0, 0, 1, 3, 3, &err), -1);
    ck_assert_int_eq(tgc_sampler_init(&s, 0, 0, 0, 1, 0, 1, &err), -1);
}
END_TEST

/* RepeatAugSampler: the unshuffled index lists are MMPretrain 1.2's (its RepeatAugSampler with shuffle=False,
 * rank and world set by hand); shuffled, every rank keeps ceil(n / world) indices, the copies of a sample go to
 * different ranks, and the lists are a function of (seed, epoch). */
START_TEST(repeat_aug_sampler) {
    tgc_err err;
    tgc_sampler s;
    static const int want_10_4_3[4][3] = {{0, 1, 2}, {0, 1, 3}, {0, 2, 3}, {1, 2, 3}};
    for (int r = 0; r < 4; r++) {
        int idx[3], pos[3];
        ck_assert_int_eq(tgc_sampler_init_repeat(&s, 10, 0, 0, 3, r, 4, &err), 0);
        ck_assert_int_eq(s.num_samples, 3);
        ck_assert_int_eq(s.total, 32);
        tgc_sampler_epoch(&s, 0, idx, pos);
        for (int k = 0; k < 3; k++) {
            ck_assert_int_eq(idx[k], want_10_4_3[r][k]);
            ck_assert_int_eq(pos[k], r + 4 * k); /* distinct keys for the copies of a sample */
        }
    }
    static const int want_7_2_3[2][4] = {{0, 0, 1, 2}, {0, 1, 1, 2}};
    for (int r = 0; r < 2; r++) {
        int idx[4];
        ck_assert_int_eq(tgc_sampler_init_repeat(&s, 7, 0, 0, 3, r, 2, &err), 0);
        ck_assert_int_eq(s.num_samples, 4);
        tgc_sampler_epoch(&s, 0, idx, NULL);
        for (int k = 0; k < 4; k++) ck_assert_int_eq(idx[k], want_7_2_3[r][k]);
    }
    /* 5 samples, 2 repeats, 8 ranks (padding wraps around the repeated list): ranks 2i and 2i+1 get sample i. */
    for (int r = 0; r < 8; r++) {
        int idx[1];
        ck_assert_int_eq(tgc_sampler_init_repeat(&s, 5, 0, 0, 2, r, 8, &err), 0);
        ck_assert_int_eq(s.num_samples, 1);
        tgc_sampler_epoch(&s, 0, idx, NULL);
        ck_assert_int_eq(idx[0], r / 2);
    }
    /* Shuffled, 1000 samples, 3 repeats, 3 ranks: every rank sees the same 334 samples (the first 334 of the
     * epoch's order, one copy each); other epochs and seeds give other orders; same key, same lists. */
    int a[3][334], b[334], c[334];
    for (int r = 0; r < 3; r++) {
        ck_assert_int_eq(tgc_sampler_init_repeat(&s, 1000, 1, 7, 3, r, 3, &err), 0);
        ck_assert_int_eq(s.num_samples, 334);
        tgc_sampler_epoch(&s, 2, a[r], NULL);
    }
    ck_assert_mem_eq(a[0], a[1], sizeof a[0]);
    ck_assert_mem_eq(a[0], a[2], sizeof a[0]);
    int seen[1000] = {0}, fixed = 0;
    for (int k = 0; k < 334; k++) {
        ck_assert(a[0][k] >= 0 && a[0][k] < 1000);
        ck_assert_int_eq(seen[a[0][k]]++, 0);
        fixed += a[0][k] == k;
    }
    ck_assert_int_lt(fixed, 20);
    tgc_sampler_epoch(&s, 2, b, NULL);
    ck_assert_mem_eq(a[2], b, sizeof b);
    tgc_sampler_epoch(&s, 3, c, NULL);
    ck_assert(memcmp(b, c, sizeof b) != 0);
    ck_assert_int_eq(tgc_sampler_init_repeat(&s, 1000, 1, 8, 3, 2, 3, &err), 0);
    tgc_sampler_epoch(&s, 2, c, NULL);
    ck_assert(memcmp(b, c, sizeof b) != 0);
    /* 1000 samples, 3 repeats, 2 ranks: 500 each; the union covers the first 334 samples of the order with
     * 3 copies each but the 334th, which has one. */
    int counts[1000] = {0};
    for (int r = 0; r < 2; r++) {
        int idx[500];
        ck_assert_int_eq(tgc_sampler_init_repeat(&s, 1000, 1, 7, 3, r, 2, &err), 0);
        ck_assert_int_eq(s.num_samples, 500);
        tgc_sampler_epoch(&s, 2, idx, NULL);
        for (int k = 0; k < 500; k++) counts[idx[k]]++;
    }
    int three = 0, one = 0;
    for (int i = 0; i < 1000; i++) three += counts[i] == 3, one += counts[i] == 1;
    ck_assert_int_eq(three, 333);
    ck_assert_int_eq(one, 1);
    ck_assert_int_eq(tgc_sampler_init_repeat(&s, 10, 1, 0, 0, 0, 1, &err), -1);
    ck_assert_int_eq(tgc_sampler_init_repeat(&s, 10, 1, 0, 3, 2, 2, &err), -1);
}
END_TEST

/* n grey 5 x 6 images, pixel j of image i = (3 i + j) & 255, label i % 10; with padding, crop and flip. */
static tgc_dataset *memory_dataset(int n, tgc_cfg **cfg_out) {
    const char *yaml = "pipeline: [{type: RandomCrop, crop_size: [5, 6], padding: 1}, {type: RandomFlip, prob: 0.5}]\n";
    tgc_err err;
    tgc_cfg *cfg = tgc_cfg_parse(yaml, strlen(yaml), "l.yaml", &err);
    ck_assert_msg(cfg != NULL, "%s", err.msg);
    tgc_pipeline *p = tgc_pipeline_new(tgc_cfg_get(cfg, "pipeline"), &err);
    ck_assert_msg(p != NULL, "%s", err.msg);
    uint8_t *px = tgc_malloc((size_t)n * 30);
    int32_t *lab = tgc_malloc(sizeof(int32_t) * n);
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < 30; j++) px[i * 30 + j] = (uint8_t)((3 * i + j) & 255);
        lab[i] = i % 10;
    }
    *cfg_out = cfg;
    return tgc_dataset_new_memory("mem", n, 5, 6, px, lab, 10, p);
}

/* Runs a whole epoch and returns all its images and labels concatenated (caller frees). */
static float *run_epoch(const tgc_dataset *ds, tgc_loader_opts o, uint32_t epoch, int first, int *nbatches,
                        int *last_n, int32_t **labels_out) {
    tgc_err err;
    tgc_loader *l = tgc_loader_new(ds, &o, &err);
    ck_assert_msg(l != NULL, "%s", err.msg);
    int c, h, w;
    tgc_loader_shape(l, &c, &h, &w);
    ck_assert_int_eq(c * h * w, 30);
    int nb = tgc_loader_num_batches(l);
    size_t per = (size_t)o.batch_size * 30;
    float *all = tgc_calloc((size_t)nb * per, sizeof(float));
    int32_t *labels = tgc_calloc((size_t)nb * o.batch_size, sizeof(int32_t));
    ck_assert_int_eq(tgc_loader_begin_epoch(l, epoch, first, &err), 0);
    tgc_batch *b;
    int got = 0, rc;
    while ((rc = tgc_loader_next(l, &b, &err)) == 1) {
        ck_assert_int_eq(b->index, first + got);
        ck_assert_uint_eq(b->epoch, epoch);
        memcpy(all + (size_t)b->index * per, b->images, sizeof(float) * 30 * b->n);
        memcpy(labels + (size_t)b->index * o.batch_size, b->labels, sizeof(int32_t) * b->n);
        *last_n = b->n;
        got++;
        tgc_loader_release(l, b);
    }
    ck_assert_msg(rc == 0, "%s", err.msg);
    ck_assert_int_eq(got, nb - first);
    ck_assert_int_eq(tgc_loader_next(l, &b, &err), 0); /* stays at the end */
    *nbatches = nb;
    *labels_out = labels;
    tgc_loader_free(l);
    return all;
}

START_TEST(loader_same_batches_for_any_worker_count) {
    tgc_cfg *cfg;
    tgc_dataset *ds = memory_dataset(103, &cfg);
    tgc_loader_opts o = {.batch_size = 8, .train = 1, .shuffle = 1, .round_up = 1, .seed = 11, .world = 1};
    o.norm.n = 1;
    o.norm.mean[0] = 100;
    o.norm.std[0] = 2;
    int nb0, nb, last;
    int32_t *lab0, *lab;
    float *ref = run_epoch(ds, o, 2, 0, &nb0, &last, &lab0);
    ck_assert_int_eq(nb0, 12); /* 103 / 8, the partial batch dropped in training */
    ck_assert_int_eq(last, 8);
    size_t len = (size_t)nb0 * 8 * 30 * sizeof(float);
    int workers[] = {1, 3, 3};
    for (int i = 0; i < 3; i++) {
        o.num_workers = workers[i];
        o.prefetch_factor = i == 2 ? 1 : 2;
        float *got = run_epoch(ds, o, 2, 0, &nb, &last, &lab);
        ck_assert_int_eq(nb, nb0);
        ck_assert_msg(memcmp(ref, got, len) == 0, "num_workers %d gave different images", workers[i]);
        ck_assert_mem_eq(lab0, lab, (size_t)nb0 * 8 * sizeof(int32_t));
        free(got);
        free(lab);
    }
    /* Resuming at batch 5 gives the same batches 5.. as the full epoch. */
    o.num_workers = 2;
    float *res = run_epoch(ds, o, 2, 5, &nb, &last, &lab);
    size_t per = (size_t)8 * 30;
    ck_assert(memcmp(ref + 5 * per, res + 5 * per, (size_t)7 * per * sizeof(float)) == 0);
    free(res);
    free(lab);
    /* Another epoch, another order and augmentation. */
    float *other = run_epoch(ds, o, 3, 0, &nb, &last, &lab);
    ck_assert(memcmp(ref, other, len) != 0);
    free(other);
    free(lab);
    /* Each label belongs to the sample the sampler put at that position. */
    tgc_sampler smp;
    tgc_err err;
    int order[103];
    ck_assert_int_eq(tgc_sampler_init(&smp, 103, 1, 11, 1, 0, 1, &err), 0);
    tgc_sampler_epoch(&smp, 2, order, NULL);
    for (int k = 0; k < nb0 * 8; k++) ck_assert_int_eq(lab0[k], order[k] % 10);
    free(ref);
    free(lab0);

    /* Evaluation keeps the last partial batch and reports how many samples are valid. */
    o.train = 0;
    o.shuffle = 0;
    o.num_workers = 3;
    float *ev = run_epoch(ds, o, 0, 0, &nb, &last, &lab);
    ck_assert_int_eq(nb, 13);
    ck_assert_int_eq(last, 7);
    ck_assert_int_eq(lab[12 * 8 + 6], 102 % 10);
    free(ev);
    free(lab);
    tgc_dataset_free(ds);
    tgc_cfg_free(cfg);
}
END_TEST

START_TEST(loader_never_hangs) {
    tgc_cfg *cfg;
    tgc_dataset *ds = memory_dataset(64, &cfg);
    tgc_err err;
    tgc_loader_opts o = {.batch_size = 4, .num_workers = 1, .prefetch_factor = 1, .train = 1, .world = 1};
    tgc_loader *l = tgc_loader_new(ds, &o, &err);
    ck_assert_msg(l != NULL, "%s", err.msg);
    tgc_batch *b[4];
    ck_assert_int_eq(tgc_loader_next(l, &b[0], &err), -1); /* no epoch begun */
    ck_assert_int_eq(tgc_loader_begin_epoch(l, 0, 0, &err), 0);
    for (int i = 0; i < 3; i++) ck_assert_int_eq(tgc_loader_next(l, &b[i], &err), 1); /* 1 * 1 + 2 buffers */
    ck_assert_int_eq(tgc_loader_next(l, &b[3], &err), -1);
    ck_assert_msg(strstr(err.msg, "held by the caller"), "%s", err.msg);
    tgc_loader_free(l); /* with batches held and the queue busy: a clean shutdown */

    /* Restarting an epoch midway discards what was queued. */
    o.num_workers = 2;
    o.prefetch_factor = 2;
    l = tgc_loader_new(ds, &o, &err);
    ck_assert_int_eq(tgc_loader_begin_epoch(l, 0, 0, &err), 0);
    ck_assert_int_eq(tgc_loader_next(l, &b[0], &err), 1);
    ck_assert_int_eq(tgc_loader_begin_epoch(l, 1, 0, &err), 0);
    tgc_loader_release(l, b[0]);
    int n = 0;
    while (tgc_loader_next(l, &b[0], &err) == 1) {
        ck_assert_int_eq(b[0]->index, n++);
        ck_assert_uint_eq(b[0]->epoch, 1);
        tgc_loader_release(l, b[0]);
    }
    ck_assert_int_eq(n, 16);
    ck_assert_int_eq(tgc_loader_begin_epoch(l, 1, 17, &err), -1);
    tgc_loader_free(l);
    tgc_dataset_free(ds);
    tgc_cfg_free(cfg);
}
END_TEST

START_TEST(worker_errors_reach_the_caller) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s/tests/data_loader_XXXXXX", TGC_BINARY_DIR);
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char *good = tgc_asprintf("%s/g.png", dir);
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    im.width = 4;
    im.height = 4;
    im.format = PNG_FORMAT_RGB;
    uint8_t px[48] = {0};
    ck_assert(png_image_write_to_file(&im, good, 0, px, 0, NULL));
    for (int workers = 0; workers <= 3; workers += 3) {
        int n = 20;
        char **paths = tgc_malloc(sizeof(char *) * n);
        int32_t *labels = tgc_calloc((size_t)n, sizeof(int32_t));
        for (int i = 0; i < n; i++) paths[i] = i == 13 ? tgc_asprintf("%s/missing.png", dir) : tgc_strdup(good);
        tgc_err err;
        tgc_pipeline *p = tgc_pipeline_new(NULL, &err);
        tgc_dataset *ds = tgc_dataset_new_files(n, paths, labels, 1, p);
        tgc_loader_opts o = {.batch_size = 4, .num_workers = workers, .train = 1, .world = 1};
        tgc_loader *l = tgc_loader_new(ds, &o, &err);
        ck_assert_msg(l != NULL, "%s", err.msg);
        ck_assert_int_eq(tgc_loader_begin_epoch(l, 0, 0, &err), 0);
        tgc_batch *b;
        for (int i = 0; i < 3; i++) { /* batches 0..2 arrive, batch 3 (samples 12..15) fails */
            ck_assert_msg(tgc_loader_next(l, &b, &err) == 1, "%s", err.msg);
            tgc_loader_release(l, b);
        }
        ck_assert_int_eq(tgc_loader_next(l, &b, &err), -1);
        ck_assert_msg(strstr(err.msg, "missing.png: cannot open") && strstr(err.msg, "batch 3") &&
                          strstr(err.msg, "sample 13 of 20"),
                      "%s", err.msg);
        ck_assert_int_eq(tgc_loader_next(l, &b, &err), -1); /* and stays failed */
        tgc_loader_free(l);
        tgc_dataset_free(ds);
    }
    free(good);
    char *cmd = tgc_asprintf("rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
    free(cmd);
}
END_TEST

START_TEST(loader_from_config) {
    const char *yaml = "train_dataloader:\n  batch_size: 4\n  num_workers: 1\n  sampler: {type: DefaultSampler, shuffle: false}\n"
                       "  dataset: {type: CustomDataset, data_prefix: /nonexistent-dir}\n"
                       "bad: {batch_size: 0, dataset: {type: MNIST}}\n"
                       "bad2: {batch_size: 2, sampler: {type: InfiniteSampler}, dataset: {type: MNIST}}\n"
                       "ra: {batch_size: 2, sampler: {type: RepeatAugSampler, shuffle: false, seed: 3}, dataset: {type: MNIST}}\n"
                       "ra0: {batch_size: 2, sampler: {type: RepeatAugSampler, num_repeats: 0}, dataset: {type: MNIST}}\n";
    tgc_err err;
    tgc_cfg *c = tgc_cfg_parse(yaml, strlen(yaml), "d.yaml", &err);
    ck_assert_msg(c != NULL, "%s", err.msg);
    ck_assert_ptr_null(tgc_loader_open(tgc_cfg_get(c, "train_dataloader"), NULL, 1, 0, 0, 1, NULL, &err));
    ck_assert_msg(strstr(err.msg, "/nonexistent-dir: cannot open directory"), "%s", err.msg);
    ck_assert_ptr_null(tgc_loader_open(tgc_cfg_get(c, "bad"), NULL, 1, 0, 0, 1, NULL, &err));
    ck_assert_msg(strstr(err.msg, "d.yaml:6") && strstr(err.msg, "bad.batch_size"), "%s", err.msg);
    ck_assert_ptr_null(tgc_loader_open(tgc_cfg_get(c, "bad2"), NULL, 1, 0, 0, 1, NULL, &err));
    ck_assert_msg(strstr(err.msg, "bad2.sampler.type") && strstr(err.msg, "InfiniteSampler"), "%s", err.msg);
    tgc_loader_opts o;
    ck_assert_int_eq(tgc_loader_opts_from_cfg(tgc_cfg_get(c, "ra"), NULL, 1, 0, 0, 1, NULL, &o, &err), 0);
    ck_assert_int_eq(o.num_repeats, 3); /* MMPretrain's default */
    ck_assert_int_eq(o.shuffle, 0);
    ck_assert_uint_eq(o.seed, 3);
    ck_assert_int_eq(tgc_loader_opts_from_cfg(tgc_cfg_get(c, "ra0"), NULL, 1, 0, 0, 1, NULL, &o, &err), -1);
    ck_assert_msg(strstr(err.msg, "ra0.sampler.num_repeats"), "%s", err.msg);
    tgc_cfg_free(c);
}
END_TEST

START_TEST(fashion_mnist_epoch_throughput) {
    FASHION_REQUIRED();
    for (int workers = 0; workers <= 2; workers += 2) {
        char *yaml = tgc_asprintf(
            "train_dataloader:\n  batch_size: 128\n  num_workers: %d\n  sampler: {type: DefaultSampler, shuffle: true}\n"
            "  dataset:\n    type: FashionMNIST\n    data_root: %s\n    pipeline:\n"
            "    - {type: RandomCrop, crop_size: 28, padding: 4}\n    - {type: RandomFlip, prob: 0.5}\n"
            "    - {type: PackInputs}\ndata_preprocessor: {mean: [72.94], std: [90.02]}\n",
            workers, FASHION_DIR);
        tgc_err err;
        tgc_cfg *c = tgc_cfg_parse(yaml, strlen(yaml), "f.yaml", &err);
        ck_assert_msg(c != NULL, "%s", err.msg);
        double t0 = tgc_now();
        tgc_loader *l = tgc_loader_open(tgc_cfg_get(c, "train_dataloader"), tgc_cfg_get(c, "data_preprocessor"), 1,
                                        42, 0, 1, NULL, &err);
        ck_assert_msg(l != NULL, "%s", err.msg);
        double t1 = tgc_now();
        ck_assert_int_eq(tgc_loader_num_batches(l), 468);
        ck_assert_int_eq(tgc_loader_begin_epoch(l, 0, 0, &err), 0);
        tgc_batch *b;
        int n = 0;
        double sum = 0;
        while (tgc_loader_next(l, &b, &err) == 1) {
            n += b->n;
            sum += b->images[0];
            tgc_loader_release(l, b);
        }
        double t2 = tgc_now();
        ck_assert_int_eq(n, 468 * 128);
        printf("FashionMNIST epoch, num_workers %d: open %.3f s, %d samples in %.3f s (%.0f samples/s)\n", workers,
               t1 - t0, n, t2 - t1, n / (t2 - t1));
        (void)sum;
        tgc_loader_free(l);
        tgc_cfg_free(c);
        free(yaml);
    }
}
END_TEST

int main(void) {
    Suite *s = suite_create("data_loader");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, sampler_permutation_and_shards);
    tcase_add_test(tc, repeat_aug_sampler);
    tcase_add_test(tc, loader_same_batches_for_any_worker_count);
    tcase_add_test(tc, loader_never_hangs);
    tcase_add_test(tc, worker_errors_reach_the_caller);
    tcase_add_test(tc, loader_from_config);
    tcase_add_test(tc, fashion_mnist_epoch_throughput);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return fashion_status(nf);
}
