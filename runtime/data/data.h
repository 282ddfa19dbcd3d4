/* runtime/data/data.h - the runtime's data path: datasets, transforms, randomness, sampler and batch loader.
 *
 * Everything here follows what an MMPretrain 1.x user writes in a config:
 *
 *   train_dataloader:
 *     batch_size: 128
 *     num_workers: 2
 *     sampler: {type: DefaultSampler, shuffle: true}
 *     dataset:
 *       type: FashionMNIST            # or MNIST, CustomDataset
 *       data_root: data/fashion-mnist
 *       test_mode: false
 *       pipeline: [{type: RandomCrop, crop_size: 28, padding: 2}, {type: RandomFlip, prob: 0.5},
 *                  {type: PackInputs}]
 *   data_preprocessor: {mean: [72.94], std: [90.02], to_rgb: false}
 *
 * The flow for one sample: dataset (decoded u8 HWC image + label) -> pipeline of transforms (u8 HWC to u8
 * HWC) -> normalisation (the data_preprocessor: to_rgb, (x - mean) / std) written straight into the batch
 * buffer as float CHW.
 *
 * Randomness is a function, not a state (DESIGN.md section 6). Every random draw is Philox4x32-10 of a
 * counter (draw number, sample position, epoch, stream) under a key (the seed). "Sample position" is the
 * position of the sample in the epoch's padded order (see tgc_sampler), so the augmentation of a sample
 * does not depend on num_workers, thread timing, the rank or the world size, and an exact resume needs
 * only (seed, epoch, batch number).
 *
 * Images: u8, HWC, rows top to bottom. Colour images are BGR, as mmcv decodes them (to_rgb in the
 * data_preprocessor flips them to RGB); grey images have one channel.
 *
 * Errors follow common/util.h: -1 (or NULL) and one message in err naming the file (and the config key
 * path, "FILE:LINE: train_dataloader.dataset.pipeline[1].scale: ...", where a config value is at fault).
 * Thread safety: a tgc_dataset and a tgc_pipeline are read-only after creation; tgc_dataset_get may be
 * called from many threads at once, each with its own images and generator.
 */
#ifndef TGC_RUNTIME_DATA_H
#define TGC_RUNTIME_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "common/philox.h"
#include "common/util.h"
#include "frontend/cfg.h"

/* ================================ randomness (data_rng.c) ================================ */

/* tgc_philox4x32_10: common/philox.h */

/* Streams separate independent uses of one seed. */
enum {
    TGC_RNG_SHUFFLE = 1,
    TGC_RNG_AUGMENT = 2,
    TGC_RNG_INIT = 3,         /* parameter initialisation (executor) */
    TGC_RNG_BATCH_AUGMENT = 4, /* Mixup/CutMix of a whole batch (data_batch_aug.c) */
    TGC_RNG_SYNTH = 5,         /* the synthetic detection set's canvases (data_det_synth.c) */
    TGC_RNG_RPN_SAMPLE = 6,    /* the RPN's anchor sampler (runtime/det/det_rpn.c) */
    TGC_RNG_RCNN_SAMPLE = TGC_PHILOX_STREAM_RCNN /* the rcnn_targets op's RoI sampler (backend kernels) */
};

/* A cursor over the draws of one (seed, epoch, position, stream): counter = {draw block, position, epoch,
 * stream}, key = the seed's two halves. Initialising it is free; it holds no hidden state beyond the draw
 * number, so the same arguments always give the same sequence. */
typedef struct tgc_rng {
    uint32_t key[2];
    uint32_t ctr[4];
    uint32_t out[4]; /* the current block of four draws */
    int used;        /* how many of out[] are consumed (4 = need a new block) */
} tgc_rng;

void tgc_rng_init(tgc_rng *r, uint64_t seed, uint32_t epoch, uint32_t position, uint32_t stream);
uint32_t tgc_rng_u32(tgc_rng *r);
/* Uniform in [0, 1) with 53 random bits (two draws). */
double tgc_rng_uniform(tgc_rng *r);
/* Uniform integer in [0, n), unbiased (rejection); n >= 1. */
uint32_t tgc_rng_below(tgc_rng *r, uint32_t n);

/* ================================ images (data_image.c) ================================ */

/* A u8 HWC image; data (owned) is reused between samples: its capacity only grows. */
typedef struct tgc_image {
    int h, w, c;
    uint8_t *data;
    size_t cap;
} tgc_image;

/* Makes img h x w x c (contents undefined), growing the buffer if needed. */
void tgc_image_reserve(tgc_image *img, int h, int w, int c);
void tgc_image_free(tgc_image *img);

/* Decodes a JPEG (libjpeg-turbo) or PNG (libpng; 8/16-bit grey, grey+alpha, RGB, RGBA, palette) held in
 * memory, recognised by its signature, into img with `channels` channels: 3 = BGR (alpha dropped, grey
 * replicated), 1 = grey (ITU-R 601 luma for colour input). `name` is used in error messages. Images
 * larger than 16384 pixels on a side or 2^28 pixels in all are refused (bounded memory). */
int tgc_image_decode(const uint8_t *data, size_t len, const char *name, int channels, tgc_image *img,
                     tgc_err *err);
/* Reads and decodes a file (at most 256 MiB). */
int tgc_image_load(const char *path, int channels, tgc_image *img, tgc_err *err);

/* Geometry kernels (data_geometry.c), the building blocks of the transforms. */
enum { TGC_PAD_CONSTANT, TGC_PAD_EDGE, TGC_PAD_REFLECT, TGC_PAD_SYMMETRIC };
/* dst = the region (x0, y0, rw, rh) of src resized to ow x oh, as cv2.resize does: bilinear with
 * half-pixel centres and clamped borders (11-bit fixed-point weights), or nearest (floor(x * scale)).
 * The region must lie inside src. dst must not be src. */
void tgc_image_resize_region(const tgc_image *src, int x0, int y0, int rw, int rh, tgc_image *dst, int ow,
                             int oh, int nearest);
/* dst (cw x ch) = src at (x0 + x, y0 + y); coordinates outside src (x0, y0 may be negative) follow mode as
 * numpy.pad / mmcv.impad do: constant (pad_val[channel]), edge, reflect (edge not repeated), symmetric
 * (edge repeated). dst must not be src. */
void tgc_image_crop_pad(const tgc_image *src, int x0, int y0, int cw, int ch, int mode, const uint8_t *pad_val,
                        tgc_image *dst);
/* Mirrors img in place: left-right (horizontal) and/or top-bottom (vertical). */
void tgc_image_flip(tgc_image *img, int horizontal, int vertical);

/* ================================ IDX files (data_idx.c) ================================ */

/* Reads an IDX image file (magic 0x00000803, dims count x rows x cols), gzipped or plain (zlib detects
 * which). On success *pixels (caller frees) holds count*rows*cols bytes. Truncation, trailing bytes, a
 * wrong magic and insane dimensions (rows or cols outside 1..4096, more than 2^30 bytes) are errors naming
 * the file. */
int tgc_idx_read_images(const char *path, int *count, int *rows, int *cols, uint8_t **pixels, tgc_err *err);
/* Reads an IDX label file (magic 0x00000801); every label must be < max_label. *labels: caller frees. */
int tgc_idx_read_labels(const char *path, int max_label, int *count, int32_t **labels, tgc_err *err);

/* ================================ transforms (data_transforms.c) ================================ */

/* A parsed pipeline: the list under `dataset.pipeline`. Supported types (an optional scope prefix such as
 * "mmpretrain." is ignored): LoadImageFromFile (color_type: color | grayscale; a no-op for in-memory
 * datasets), Resize (scale int or [w, h], or scale_factor; keep_ratio; interpolation bilinear | nearest),
 * RandomCrop (crop_size int or [h, w], padding int | [lr, tb] | [l, t, r, b], pad_if_needed, pad_val,
 * padding_mode constant | edge | reflect | symmetric), RandomResizedCrop (scale int or [h, w],
 * crop_ratio_range, aspect_ratio_range, max_attempts, interpolation), ResizeEdge (scale, edge short | long |
 * width | height, interpolation), CenterCrop (crop_size int or [w, h]), RandomFlip (prob, direction
 * horizontal | vertical | diagonal, or lists of both), PackInputs / PackClsInputs (no-ops). Unknown types and
 * bad arguments are errors naming the key path. */
typedef struct tgc_pipeline tgc_pipeline;

/* list may be NULL (an empty pipeline). */
tgc_pipeline *tgc_pipeline_new(const tgc_cfg *list, tgc_err *err);
void tgc_pipeline_free(tgc_pipeline *p);
/* The channel count LoadImageFromFile asks for: 3 (color, the default) or 1 (grayscale). */
int tgc_pipeline_channels(const tgc_pipeline *p);
/* Applies the transforms in order to *img. scratch is a second image the transforms ping-pong with (the
 * result may end up in either; the two are swapped so that the result is always in *img). rng supplies
 * the sample's draws. */
int tgc_pipeline_apply(const tgc_pipeline *p, tgc_image *img, tgc_image *scratch, tgc_rng *rng, tgc_err *err);

/* ============================ normalisation (data_normalize.c) ============================ */

/* The data_preprocessor's per-channel normalisation. */
typedef struct tgc_normalize {
    int n;          /* number of mean/std values: 0 (no normalisation), 1 (broadcast) or the channel count */
    float mean[4], std[4];
    int to_rgb;     /* flip BGR to RGB for 3-channel images before normalising */
} tgc_normalize;

/* A transform's size key: an int (square) or a pair, whose order is the transform's (mmcv's Resize, Pad and
 * CenterCrop take (w, h): wh_order 1; MMPretrain's RandomCrop and RandomResizedCrop take (h, w): 0). Absent or
 * null: 0 x 0, or an error when required. Each side must be in 1..16384. (data_transforms.c) */
int tgc_cfg_size(const tgc_cfg *map, const char *key, int required, int wh_order, int *w, int *h, tgc_err *err);

/* Reads mean, std, to_rgb (also bgr_to_rgb) from a data_preprocessor map (may be NULL: identity). */
int tgc_normalize_from_cfg(const tgc_cfg *map, tgc_normalize *nm, tgc_err *err);
/* Writes img as float CHW into dst (img->c * img->h * img->w floats): dst[c][y][x] = (src - mean) / std. */
int tgc_normalize_image(const tgc_normalize *nm, const tgc_image *img, float *dst, tgc_err *err);

/* ================================ datasets (data_dataset.c) ================================ */

/* MNIST / FashionMNIST: data_root (or data_prefix) is a directory holding
 *   train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte
 * each plain or with .gz appended; test_mode (or split: train | test) picks the pair. All samples are
 * held in memory (47 MB for the 60,000 training images).
 * CustomDataset: data_prefix (a string, or a map with img_path) joined to data_root is the image folder.
 * Without ann_file: one subfolder per class, classes sorted by name, images (.jpg .jpeg .png in any case)
 * found recursively and sorted by path. With ann_file (joined to data_root): lines "relative/path label".
 * Images are decoded on every access (tgc_dataset_get). Relative directories are taken from the current
 * directory, as MMEngine does. */
typedef struct tgc_dataset tgc_dataset;

/* Opens the dataset described by map (e.g. the node at train_dataloader.dataset), including its pipeline. */
tgc_dataset *tgc_dataset_open(const tgc_cfg *map, tgc_err *err);
void tgc_dataset_free(tgc_dataset *d);
int tgc_dataset_len(const tgc_dataset *d);
int tgc_dataset_num_classes(const tgc_dataset *d);
/* The label of sample i (no decoding). */
int tgc_dataset_label(const tgc_dataset *d, int i);
/* A human name for sample i (its file, or "FILE[i]" for IDX datasets) into buf, for messages. */
void tgc_dataset_sample_name(const tgc_dataset *d, int i, char *buf, size_t size);
/* Loads sample i and runs the pipeline: the result is in *img. scratch is working space (see
 * tgc_pipeline_apply); rng must be initialised for this sample. Thread-safe. */
int tgc_dataset_get(const tgc_dataset *d, int i, tgc_image *img, tgc_image *scratch, tgc_rng *rng,
                    int32_t *label, tgc_err *err);

/* Lower-level constructors, used by tgc_dataset_open and the tests. Each takes ownership of the arrays
 * passed in (also on failure) and of pipeline. */
tgc_dataset *tgc_dataset_new_memory(const char *name, int count, int h, int w, uint8_t *pixels,
                                    int32_t *labels, int num_classes, tgc_pipeline *pipeline);
tgc_dataset *tgc_dataset_new_files(int count, char **paths, int32_t *labels, int num_classes,
                                   tgc_pipeline *pipeline);

/* CustomDataset's file list (data_custom.c). Scans img_dir (class subfolders) or reads ann_file (when not
 * NULL; paths in it are relative to img_dir). Outputs: *paths (count owned strings, full paths), *labels,
 * *num_classes. */
int tgc_custom_list(const char *img_dir, const char *ann_file, int *count, char ***paths, int32_t **labels,
                    int *num_classes, tgc_err *err);

/* ================================ sampler (data_sampler.c) ================================ */

/* MMEngine's DefaultSampler. With round_up, the epoch order (a permutation of 0..n-1 when shuffling,
 * identity otherwise) is padded to total = ceil(n / world) * world by repeating it from the start; rank r
 * takes positions r, r + world, r + 2 world, ... Without round_up, total = n and rank r takes the same
 * stride over the unpadded order. The permutation is a Fisher-Yates shuffle driven by
 * tgc_rng(seed, epoch, 0, TGC_RNG_SHUFFLE): a function of (seed, epoch) only. */
typedef struct tgc_sampler {
    int n, world, rank, shuffle, round_up;
    uint64_t seed;
    int num_samples; /* indices this rank gets per epoch */
    int total;       /* length of the padded order */
} tgc_sampler;

int tgc_sampler_init(tgc_sampler *s, int n, int shuffle, uint64_t seed, int round_up, int rank, int world,
                     tgc_err *err);
/* Writes this rank's num_samples dataset indices for epoch into idx and, if pos is not NULL, their
 * positions in the padded order (the key of their augmentation draws). */
void tgc_sampler_epoch(const tgc_sampler *s, uint32_t epoch, int *idx, int *pos);

/* ================================ batch augments (data_batch_aug.c) ================================ */

/* MMPretrain's model.train_cfg.augments (Mixup: alpha; CutMix: alpha, cutmix_minmax, correct_lam) and probs,
 * as its RandomBatchAugment chooses among them per batch. */
#define TGC_BATCH_AUG_MAX 8
typedef struct tgc_batch_aug tgc_batch_aug;
/* NULL with err empty when train_cfg asks for none; NULL with err set on a bad setting. */
tgc_batch_aug *tgc_batch_aug_from_cfg(const tgc_cfg *train_cfg, tgc_err *err);
void tgc_batch_aug_free(tgc_batch_aug *b);

/* What keys one batch's draws: the run's seed, the epoch, and the batch's position (number x world + rank). */
typedef struct tgc_batch_aug_key {
    uint64_t seed;
    uint32_t epoch, position;
} tgc_batch_aug_key;

/* What was drawn (for tests): the augment chosen (-1: none), lam after CutMix's correction, the box. */
typedef struct tgc_batch_aug_draw {
    int choice;
    double lam;
    int y1, y2, x1, x2;
} tgc_batch_aug_draw;

/* Mixes images [n, c, h, w] (normalised) in place and writes the soft targets scores [n, classes]:
 * lam * onehot(label) + (1 - lam) * onehot(label of the partner), one-hot when no augment was chosen.
 * drawn may be NULL. Fails on a label outside [0, classes). */
int tgc_batch_aug_apply(tgc_batch_aug *b, float *images, const int32_t *labels, int n, int c, int h, int w,
                        int classes, float *scores, const tgc_batch_aug_key *key, tgc_batch_aug_draw *drawn,
                        tgc_err *err);
/* The partner of each sample in the last apply (tests). */
const int *tgc_batch_aug_perm(const tgc_batch_aug *b);

/* ================================ loader (data_loader.c) ================================ */

/* Per-sample metadata of a detection batch (runtime/data/det_data.h): what post-processing and the metric
 * need to map the canvas back to the original image. */
typedef struct tgc_det_meta {
    int index;                /* dataset index */
    int64_t img_id;           /* COCO image id */
    int ori_h, ori_w;         /* the decoded image */
    int img_h, img_w;         /* after the pipeline's Resize (img_shape) */
    int pad_h, pad_w;         /* img_shape rounded up to pad_size_divisor (the valid anchors' extent) */
    double scale_w, scale_h;  /* scale_factor */
    int flip;
    int64_t num_pos;          /* positive anchors (with targets) */
} tgc_det_meta;

/* One batch. The buffers are owned by the loader; a batch handed out by tgc_loader_next belongs to the
 * caller until tgc_loader_release. */
typedef struct tgc_batch {
    float *images;   /* [batch_size, C, H, W], normalised; rows n.. are undefined */
    int32_t *labels; /* [batch_size]; entries n.. are undefined (detection: unused) */
    /* detection loaders only (NULL otherwise): */
    tgc_det_meta *meta;    /* [batch_size] */
    int32_t *cls_target;   /* [batch_size, A] with targets: class, num_classes (negative), -1 (ignored) */
    float *bbox_target;    /* [batch_size, A, 4] */
    float avg_factor;      /* sum over the n samples of max(num_pos, 1) */
    int n;           /* valid samples: batch_size, or fewer for the last evaluation batch */
    int index;       /* batch number within the epoch */
    uint32_t epoch;
} tgc_batch;

typedef struct tgc_loader_opts {
    int batch_size;
    int num_workers;     /* 0: batches are built in the caller's thread, inside tgc_loader_next */
    int prefetch_factor; /* ready batches queued per worker (default 2 when 0) */
    int train;           /* 1: drop the last partial batch (never pad a training batch) */
    int shuffle, round_up;
    uint64_t seed;
    int rank, world;
    tgc_normalize norm;
    const struct tgc_device *device; /* batch buffers from its host allocation (backend/device.h: pinned where the
                                      * device has it, so uploads are fast); NULL: plain host memory */
} tgc_loader_opts;

typedef struct tgc_loader tgc_loader;

/* Creates a loader over ds (borrowed: it must outlive the loader). The batch shape C x H x W is the
 * pipeline's output for sample 0; a sample with another shape is an error naming it. Worker threads start
 * here and idle until tgc_loader_begin_epoch. */
tgc_loader *tgc_loader_new(const tgc_dataset *ds, const tgc_loader_opts *o, tgc_err *err);
/* Opens a loader from a dataloader map (batch_size, num_workers, prefetch_factor, sampler {shuffle, seed,
 * round_up}, dataset) and the data_preprocessor map (may be NULL). The loader owns the dataset it opens.
 * default_seed is used when sampler.seed is absent (the run's randomness.seed). device: as
 * tgc_loader_opts.device (may be NULL; it must outlive the loader). */
tgc_loader *tgc_loader_open(const tgc_cfg *dataloader, const tgc_cfg *preprocessor, int train,
                            uint64_t default_seed, int rank, int world, const struct tgc_device *device, tgc_err *err);
void tgc_loader_free(tgc_loader *l);

void tgc_loader_shape(const tgc_loader *l, int *c, int *h, int *w);
int tgc_loader_batch_size(const tgc_loader *l);
/* Batches this rank gets per epoch. */
int tgc_loader_num_batches(const tgc_loader *l);
const tgc_dataset *tgc_loader_dataset(const tgc_loader *l);

/* Threads: begin_epoch and next are called from one consumer thread; release may be called from any. */

/* Starts an epoch at batch first_batch (0, or a resumed run's position). Batches still queued from an
 * earlier epoch are discarded; batches the caller holds stay valid until released. */
int tgc_loader_begin_epoch(tgc_loader *l, uint32_t epoch, int first_batch, tgc_err *err);
/* Hands out the epoch's next batch in order: 1 and *out, 0 at the end of the epoch, or -1 and err (a
 * worker's error arrives here, at the batch it belongs to). The caller may hold up to 2 batches at once
 * (more blocks the workers; if every buffer is held, next fails instead of hanging). */
int tgc_loader_next(tgc_loader *l, tgc_batch **out, tgc_err *err);
void tgc_loader_release(tgc_loader *l, tgc_batch *b);

#endif
