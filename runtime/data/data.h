/* runtime/data/data.h - the runtime's data path: datasets, transforms, randomness, sampler and batch loader.
 *
 * Everything here follows what an MMPretrain 1.x user writes in a config:
 *
 *   train_dataloader:
 *     batch_size: 128
 *     num_workers: 2
 *     sampler: {type: DefaultSampler, shuffle: true}
 *     dataset:
 *       type: FashionMNIST            # or MNIST, CustomDataset, ImageNet, ImageNet21k, CUB
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
#include "runtime/data/data_warp.h"

/* ================================ randomness (common/philox.c) ================================ */

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

/* tgc_rng, the keyed draw cursor: common/philox.h */

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
/* dst = the region (x0, y0, rw, rh) of src resized to ow x oh by cv2.resize, bilinear or nearest: the cv2
 * case of tgc_image_resample below. The region must lie inside src. dst must not be src. */
void tgc_image_resize_region(const tgc_image *src, int x0, int y0, int rw, int rh, tgc_image *dst, int ow,
                             int oh, int nearest);
/* mmcv.imresize of a region (data_resample.c): dst = the region (x0, y0, rw, rh) of src, cropped, then resized
 * to ow x oh by backend TGC_RESIZE_CV2 (cv2.resize) or TGC_RESIZE_PILLOW (Pillow's Image.resize of the
 * region as an L or RGB image; Pillow premultiplies the alpha of 2- and 4-channel images, which is not
 * reproduced) with interp; byte-exact with OpenCV 4.x and Pillow. The region must lie inside src; dst must
 * not be src. */
enum { TGC_RESIZE_CV2, TGC_RESIZE_PILLOW };
void tgc_image_resample(const tgc_image *src, int x0, int y0, int rw, int rh, tgc_image *dst, int ow, int oh,
                        tgc_interp interp, int backend);
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
 * datasets), Resize (scale int or [w, h], or scale_factor; keep_ratio; interpolation nearest | bilinear | bicubic and
 * backend cv2 | pillow, as in tgc_cfg_resample, also for RandomResizedCrop and ResizeEdge),
 * RandomCrop (crop_size int or [h, w], padding int | [lr, tb] | [l, t, r, b], pad_if_needed, pad_val,
 * padding_mode constant | edge | reflect | symmetric), RandomResizedCrop (scale int or [h, w],
 * crop_ratio_range, aspect_ratio_range, max_attempts, interpolation), ResizeEdge (scale, edge short | long |
 * width | height, interpolation), CenterCrop (crop_size int or [w, h]), RandomFlip (prob, direction
 * horizontal | vertical | diagonal, or lists of both), ColorJitter and RandomErasing (data_photometric.h),
 * RandAugment, AutoAugment and their operations (data_randaug.h), PackInputs / PackClsInputs (no-ops).
 * Unknown types and bad arguments are errors naming the key path. */
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

/* A resizing transform's interpolation (nearest | bilinear (default) | bicubic) and backend (cv2 (default) |
 * pillow), as mmcv.imresize takes them; others are errors naming the key. (data_transforms.c) */
int tgc_cfg_resample(const tgc_cfg *map, tgc_interp *interp, int *backend, tgc_err *err);
/* MMEngine BaseDataset's `indices` node ix over a dataset of `count` items: an int N keeps the first N (a
 * negative N the last -N), a list keeps those items in its order. *keep (owned by the caller) gets the *n kept
 * indices, or NULL when ix is absent or null. Errors name the node; `unit` names the items ("samples"). */
int tgc_cfg_indices(const tgc_cfg *ix, int count, const char *unit, int **keep, int *n, tgc_err *err);

/* Reads mean, std, to_rgb (also bgr_to_rgb) from a data_preprocessor map (may be NULL: identity). */
int tgc_normalize_from_cfg(const tgc_cfg *map, tgc_normalize *nm, tgc_err *err);
/* Writes img as float CHW into dst (img->c * img->h * img->w floats): dst[c][y][x] = (src - mean) / std. */
int tgc_normalize_image(const tgc_normalize *nm, const tgc_image *img, float *dst, tgc_err *err);

/* ================================ datasets (data_dataset.c) ================================ */

/* MNIST / FashionMNIST: data_root (or data_prefix) is a directory holding
 *   train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte
 * each plain or with .gz appended; test_mode (or split: train | test) picks the pair. All samples are
 * held in memory (47 MB for the 60,000 training images).
 * CustomDataset, ImageNet, ImageNet21k and CUB are lists of image files decoded on every access
 * (tgc_dataset_get); their settings are read as MMPretrain 1.2 reads them (data_files.c, below). Relative
 * directories are taken from the current directory, as MMEngine does. */
typedef struct tgc_dataset tgc_dataset;

/* Opens the dataset described by map (e.g. the node at train_dataloader.dataset), including its pipeline. */
tgc_dataset *tgc_dataset_open(const tgc_cfg *map, tgc_err *err);
void tgc_dataset_free(tgc_dataset *d);
int tgc_dataset_len(const tgc_dataset *d);
/* The class count: that of the class names (metainfo.classes, classes, the class folders, CUB's 200) when
 * the dataset has them, else the largest label + 1. */
int tgc_dataset_num_classes(const tgc_dataset *d);
/* Whether the dataset has class names (MMPretrain's metainfo 'classes' is not None). */
int tgc_dataset_has_class_names(const tgc_dataset *d);
/* The label of sample i (no decoding). */
int tgc_dataset_label(const tgc_dataset *d, int i);
/* A human name for sample i into buf, for messages: its file (and the annotation line that listed it), or
 * "FILE[i]" for IDX datasets. */
void tgc_dataset_sample_name(const tgc_dataset *d, int i, char *buf, size_t size);
/* The image file of sample i (NULL for in-memory datasets). */
const char *tgc_dataset_path(const tgc_dataset *d, int i);
/* What opening the dataset found worth a warning (MMPretrain warns about the same), one line each; "" when
 * nothing. The runner logs them. */
const char *tgc_dataset_notes(const tgc_dataset *d);
/* Loads sample i and runs the pipeline: the result is in *img. scratch is working space (see
 * tgc_pipeline_apply); rng must be initialised for this sample. Thread-safe. */
int tgc_dataset_get(const tgc_dataset *d, int i, tgc_image *img, tgc_image *scratch, tgc_rng *rng,
                    int32_t *label, tgc_err *err);

/* Lower-level constructors, used by tgc_dataset_open and the tests. Each takes ownership of the arrays
 * passed in (also on failure) and of pipeline. */
tgc_dataset *tgc_dataset_new_memory(const char *name, int count, int h, int w, uint8_t *pixels,
                                    int32_t *labels, int num_classes, tgc_pipeline *pipeline);
/* The same with c channels: pixels is count x h x w x c (HWC per sample). */
tgc_dataset *tgc_dataset_new_memory_hwc(const char *name, int count, int h, int w, int c, uint8_t *pixels,
                                        int32_t *labels, int num_classes, tgc_pipeline *pipeline);
tgc_dataset *tgc_dataset_new_files(int count, char **paths, int32_t *labels, int num_classes,
                                   tgc_pipeline *pipeline);

/* A list of image files with labels, as the file datasets read it. */
typedef struct tgc_sample_list {
    int count;
    char **paths;      /* full paths (data_prefix joined), owned */
    int32_t *labels;
    int32_t *lines;    /* the line of list_file that gave each sample; NULL for a folder scan */
    char *list_file;   /* the annotation file read, owned; NULL for a folder scan */
    int num_classes;   /* class folders found, else the largest label + 1 */
    tgc_buf notes;     /* warnings, one line each */
} tgc_sample_list;

void tgc_sample_list_free(tgc_sample_list *l);
/* os.path.join(dir, name): name alone when dir is empty or name is absolute. Caller frees. */
char *tgc_path_join(const char *dir, const char *name);
/* Hands l's samples and notes to a new file dataset (l is left empty). has_names: the class count comes from
 * class names (else from the labels). */
tgc_dataset *tgc_dataset_from_list(tgc_sample_list *l, int num_classes, int has_names, tgc_pipeline *pipeline);

/* CustomDataset's sample list (data_custom.c), as MMPretrain's CustomDataset makes it. Without ann_file:
 * one subfolder of img_dir per class (classes sorted by name), the files under each (recursively; hidden
 * files skipped, hidden folders not, as MMEngine's list_dir_or_file) whose path ends, case-insensitively,
 * with one of the extensions, sorted by path; a class folder without such files is a note. With ann_file:
 * lines "relative/path label" (the path joined to img_dir unless absolute; blank lines skipped). extensions:
 * NULL = MMPretrain's default (.jpg .jpeg .png .ppm .bmp .pgm .tif). Files tgc cannot decode (.ppm .bmp
 * .pgm .tif .tiff) are refused, naming the first. */
int tgc_custom_list(const char *img_dir, const char *ann_file, const char *const *extensions, tgc_sample_list *out,
                    tgc_err *err);

/* CUB-200-2011's sample list (data_cub.c), as MMPretrain's CUB makes it: root/images.txt ("id path", 1-based
 * ids; its order is the samples' order), root/image_class_labels.txt ("id label", label 1..num_classes) and
 * root/train_test_split.txt ("id 1" train, "id 0" test), matched by id; test_split picks the test samples.
 * Paths are joined to root/images. A line that is not two fields, an id that is not a positive integer or
 * repeats, ids missing from one file, a label or split value out of range and an image file that does not
 * exist are errors naming the file and the line. */
int tgc_cub_list(const char *root, int test_split, int num_classes, tgc_sample_list *out, tgc_err *err);

/* The file datasets opened from config (data_files.c): CustomDataset, ImageNet (split train | val | test;
 * test has no labels and is refused), ImageNet21k (split train; multi_label refused, as MMPretrain does) and
 * CUB (split train | test). Class names from metainfo.classes or classes (a list, or a file of one name per
 * line); ImageNet's default are its 1000, CUB's its 200; a folder scan with class names must find as many
 * class folders. Takes ownership of pipe. */
tgc_dataset *tgc_dataset_open_files(const tgc_cfg *map, const char *type, tgc_pipeline *pipe, tgc_err *err);

/* CIFAR10 / CIFAR100 (data_cifar.c), as MMPretrain 1.2 reads them: data_root (or data_prefix) holds
 * cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta} or cifar-100-python/{train, test, meta},
 * the python-version pickles. split train | test (test_mode alone does not pick the test files, as in
 * MMPretrain). Images are the rows of b'data' [N, 3072] (R, G, B planes of 32x32) made HWC, labels from
 * 'labels' (CIFAR-10) or 'fine_labels' (CIFAR-100); the meta file, when present, must name 10 / 100 classes
 * (MMPretrain takes the names from its own list and reads it only without one). Nothing is downloaded: a
 * missing file is an error naming it and the archive to extract there. Takes ownership of pipe. */
tgc_dataset *tgc_dataset_open_cifar(const tgc_cfg *map, int cifar100, tgc_pipeline *pipe, tgc_err *err);
/* One python-version CIFAR batch (the bytes of a pickle named path): its images as HWC bytes (count x 32 x 32
 * x 3, appended to *pixels) and labels (label_key, each checked in 0..num_classes-1, appended to *labels). */
int tgc_cifar_read_batch(const uint8_t *data, size_t len, const char *path, const char *label_key, int num_classes,
                         uint8_t **pixels, int32_t **labels, int *count, tgc_err *err);
/* A python-version meta file: the number of names in list key (0 and an error when malformed). */
int tgc_cifar_read_meta(const uint8_t *data, size_t len, const char *path, const char *key, int *n_names, tgc_err *err);

/* ================================ sampler (data_sampler.c) ================================ */

/* MMEngine's DefaultSampler. With round_up, the epoch order (a permutation of 0..n-1 when shuffling,
 * identity otherwise) is padded to total = ceil(n / world) * world by repeating it from the start; rank r
 * takes positions r, r + world, r + 2 world, ... Without round_up, total = n and rank r takes the same
 * stride over the unpadded order. The permutation is a Fisher-Yates shuffle driven by
 * tgc_rng(seed, epoch, 0, TGC_RNG_SHUFFLE): a function of (seed, epoch) only.
 * With num_repeats >= 1 it is MMPretrain's RepeatAugSampler instead: every entry of the epoch order is
 * repeated num_repeats times in a row, the list padded from its start to total = ceil(n * num_repeats / world)
 * * world, rank r takes positions r, r + world, ... and keeps the first num_samples = ceil(n / world) of them
 * (so the copies of a sample land on different ranks). The permutation is tgc's, not torch.randperm's. */
typedef struct tgc_sampler {
    int n, world, rank, shuffle, round_up;
    int num_repeats; /* 0: DefaultSampler; >= 1: RepeatAugSampler */
    uint64_t seed;
    int num_samples; /* indices this rank gets per epoch */
    int total;       /* length of the padded order */
} tgc_sampler;

int tgc_sampler_init(tgc_sampler *s, int n, int shuffle, uint64_t seed, int round_up, int rank, int world,
                     tgc_err *err);
/* RepeatAugSampler (num_repeats >= 1). */
int tgc_sampler_init_repeat(tgc_sampler *s, int n, int shuffle, uint64_t seed, int num_repeats, int rank, int world,
                            tgc_err *err);
/* Writes this rank's num_samples dataset indices for epoch into idx and, if pos is not NULL, their
 * positions in the padded order (the key of their augmentation draws). */
void tgc_sampler_epoch(const tgc_sampler *s, uint32_t epoch, int *idx, int *pos);

/* ======================== batches of one orientation (data_group.c) ======================== */

/* MMDetection 3.x's AspectRatioBatchSampler over one rank's epoch order: each sample goes to its
 * orientation's bucket (portrait: the annotation's width < height); a full bucket is a batch of that
 * orientation. Training yields exactly K = floor(n / B) - 1 batches when the dataset holds both orientations,
 * else floor(n / B) (floor(L / B) + floor(P / B) >= floor(n / B) - 1 always), so every rank of a shard split
 * runs the same number of steps; what is left (< B per orientation, and the surplus batch if any) is
 * dropped. MMDetection instead yields the leftovers as one mixed batch padded to both orientations' maxima.
 * Evaluation keeps every sample: landscape batches, then portrait ones, each orientation's last batch partial. */
typedef struct tgc_group {
    int cap;                 /* samples the arrays hold */
    int n;                   /* batches */
    int *start, *count;      /* [n]: batch b is entries start[b] .. start[b] + count[b] - 1 */
    uint8_t *portrait;       /* [n]: 1 for a portrait batch */
    int *idx, *pos;          /* [n_entries]: dataset index and padded sampler position, batch after batch */
    int n_entries;
    int n_orient[2];         /* batches per orientation (landscape, portrait) */
    int dropped;             /* training: samples of the epoch left out */
} tgc_group;

void tgc_group_init(tgc_group *g, int cap);
void tgc_group_free(tgc_group *g);
/* K above: the training batches per epoch of a rank with n samples (0 when there are fewer). */
int tgc_group_train_batches(int n, int batch_size, int both);
/* Groups the n entries idx/pos (a rank's epoch order, as tgc_sampler_epoch gives it); is_portrait is indexed
 * by dataset index; both: the whole dataset holds both orientations (the same on every rank). */
int tgc_group_batches(tgc_group *g, const int *idx, const int *pos, int n, const uint8_t *is_portrait, int batch_size,
                      int train, int both, tgc_err *err);

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
    int position;             /* the sample's position in the sampler's padded order (the metric's order) */
    int64_t num_pos;          /* positive anchors (with targets; the RPN's: sampled) */
    double avg_part;          /* its share of avg_factor (RetinaNet: max(num_pos, 1); RPN: sampled pos + neg) */
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
    float avg_factor;      /* max(1, the sum of the n samples' meta.avg_part) */
    /* two-stage detectors (Faster R-CNN): */
    float *img_shape;      /* [batch_size, 2] (h, w) after Resize; with targets also: */
    float *gt_bboxes;      /* [batch_size, max_gts, 4] on the canvas; rows past the image's boxes 0 */
    int32_t *gt_labels;    /* [batch_size, max_gts] 0..C-1, -1 padding */
    int32_t *rng;          /* [batch_size, 4] the RoI sampler's key: seed low, seed high, epoch, position */
    int n;           /* valid samples: batch_size, or fewer for the last evaluation batch */
    int index;       /* batch number within the epoch */
    int portrait;    /* 1: a batch of portrait images on the transposed canvas (W x H; orientation groups) */
    uint32_t epoch;
} tgc_batch;

typedef struct tgc_loader_opts {
    int batch_size;
    int num_workers;     /* 0: batches are built in the caller's thread, inside tgc_loader_next */
    int prefetch_factor; /* ready batches queued per worker (default 2 when 0) */
    int train;           /* 1: drop the last partial batch (never pad a training batch) */
    int shuffle, round_up;
    int num_repeats; /* 0: DefaultSampler; >= 1: RepeatAugSampler's repeats (round_up unused) */
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

/* With orientation groups (a detection loader of a two-orientation plan): the batches per orientation and the
 * samples left out of the epoch begun last (all 0 without groups). */
void tgc_loader_group_stats(const tgc_loader *l, int batches[2], int *dropped);

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
