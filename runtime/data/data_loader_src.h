/* runtime/data/data_loader_src.h - how a loader gets samples from something other than a tgc_dataset (the
 * detection data path, data_det_loader.c): a table of functions the batch loader (data_loader.c) calls from its
 * worker threads, so that one loader keeps the threads, ordering and buffer ownership for every task. */
#ifndef TGC_RUNTIME_DATA_LOADER_SRC_H
#define TGC_RUNTIME_DATA_LOADER_SRC_H

#include "runtime/data/data.h"

typedef struct tgc_loader_src {
    void *ctx;                    /* owned by the loader from tgc_loader_new_src on (ctx_free) */
    void (*ctx_free)(void *ctx);
    int n;                        /* samples in the dataset */
    int c, h, w;                  /* the batch's image shape */
    int64_t anchors;              /* > 0: the batch has cls_target [B, anchors] and bbox_target [B, anchors, 4] */
    int img_shape;                /* 1: the batch has img_shape [B, 2] */
    int max_gts;                  /* > 0: the batch has gt_bboxes [B, max_gts, 4], gt_labels [B, max_gts], rng [B, 4] */
    const uint8_t *portrait;      /* non-NULL: batches of one orientation (tgc_group_batches), 1 per portrait
                                   * dataset index (owned by ctx); the batch's `portrait` is set before its rows
                                   * are built */
    int both_orientations;        /* with portrait: the dataset holds both (training drops one more batch) */
    void *(*worker_new)(void *ctx); /* one per worker thread (and one for the caller's thread) */
    void (*worker_free)(void *ws);
    /* Builds sample `index` (epoch, padded position) into row `row` of b: image, meta, targets. */
    int (*build)(void *ctx, void *ws, int index, uint32_t epoch, uint32_t position, uint64_t seed, tgc_batch *b,
                 int row, tgc_err *err);
} tgc_loader_src;

/* A loader over src (taken over, also on failure: ctx is freed with ctx_free). Options as tgc_loader_new; the
 * batches get meta, and with anchors > 0 the target arrays and avg_factor = max(1, sum over rows of avg_part). */
tgc_loader *tgc_loader_new_src(const tgc_loader_src *src, const tgc_loader_opts *o, tgc_err *err);
/* The loader's source (all NULL/0 for a dataset loader). */
const tgc_loader_src *tgc_loader_get_src(const tgc_loader *l);
/* The options of a dataloader map (batch_size, num_workers, prefetch_factor, sampler) and the
 * data_preprocessor's normalisation, as tgc_loader_open reads them. */
int tgc_loader_opts_from_cfg(const tgc_cfg *dataloader, const tgc_cfg *preprocessor, int train, uint64_t default_seed,
                             int rank, int world, const struct tgc_device *device, tgc_loader_opts *o, tgc_err *err);

#endif
