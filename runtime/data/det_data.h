/* runtime/data/det_data.h - the detection data path: CocoDataset, the detection pipeline, one sample.
 *
 * What an MMDetection 3.x user writes:
 *
 *   train_dataloader:
 *     dataset:
 *       type: CocoDataset
 *       data_root: data/coco/
 *       ann_file: annotations/instances_train2017.json
 *       data_prefix: {img: train2017/}
 *       filter_cfg: {filter_empty_gt: true, min_size: 32}
 *       metainfo: {classes: [person, bicycle, ...]}     # optional: a subset of the file's categories
 *       pipeline: [{type: LoadImageFromFile}, {type: LoadAnnotations, with_bbox: true},
 *                  {type: Resize, scale: [1333, 800], keep_ratio: true}, {type: RandomFlip, prob: 0.5},
 *                  {type: PackDetInputs}]
 *
 * One sample (tgc_det_get): the image decoded (u8 HWC, BGR), its boxes (xyxy, float, pixels), labels
 * 0..C-1 and ignored (iscrowd) boxes, transformed by the pipeline together, with the per-image metadata
 * MMDetection keeps (img_shape, pad_shape, scale_factor, flip). Random draws come from
 * tgc_rng(seed, epoch, position, TGC_RNG_AUGMENT) as for classification (data.h).
 *
 * Errors follow common/util.h: -1 (or NULL) and one message naming the annotation file and the JSON element
 * ("FILE: annotations[4] (id 17): 'bbox' must be ...") or the config key path.
 */
#ifndef TGC_RUNTIME_DET_DATA_H
#define TGC_RUNTIME_DET_DATA_H

#include <stdint.h>

#include "runtime/data/data.h"
#include "runtime/det/det.h"

/* ================================ CocoDataset (data_coco.c) ================================ */

/* One image of the annotation file, after MMDetection's annotation rules (CocoDataset.parse_data_info):
 * annotations with a true `ignore`, no overlap with the image, area <= 0, or w < 1 or h < 1 are skipped
 * (counted in the notes); bbox [x, y, w, h] becomes [x, y, x + w, y + h] (no +1); iscrowd boxes go to
 * `ignore`, the others to `gt` with their label; annotations of categories outside metainfo.classes are
 * left out. */
typedef struct tgc_det_image {
    char *path;        /* image folder + file_name */
    int64_t id;        /* the COCO image id */
    int width, height; /* as the file states them */
    int n_gt, n_ignore;
    float *gt;         /* n_gt x 4, xyxy */
    int32_t *labels;   /* n_gt, 0..C-1 */
    float *ignore;     /* n_ignore x 4, xyxy (iscrowd) */
} tgc_det_image;

typedef struct tgc_coco_opts {
    const char *ann_file;             /* the JSON file */
    const char *img_dir;              /* the folder file_name is relative to ("" = the current directory) */
    int test_mode;                    /* no filtering; `annotations` may be absent */
    int filter_empty_gt;              /* drop images with no annotation of a selected category (train only) */
    int min_size;                     /* drop images whose shorter side is below this (train only) */
    const char *const *classes;       /* category names to keep (metainfo.classes); NULL: all */
    int n_classes;
} tgc_coco_opts;

typedef struct tgc_det_dataset tgc_det_dataset;

/* Reads the annotation file (cJSON). Labels follow the file's category order restricted to the selected
 * names, as MMDetection's cat2label does (for COCO files: sorted category ids). Every kept image's file
 * must exist. The dataset has no pipeline (tgc_det_get loads the image and the annotations). */
tgc_det_dataset *tgc_coco_load(const tgc_coco_opts *o, tgc_err *err);
/* Opens a CocoDataset map (the node at train_dataloader.dataset): ann_file and data_prefix.img joined to
 * data_root when relative (MMEngine), filter_cfg, metainfo.classes (also 2.x `classes`), test_mode,
 * pipeline. Keys it does not use are named in the notes. */
tgc_det_dataset *tgc_det_dataset_open(const tgc_cfg *map, tgc_err *err);
void tgc_det_dataset_free(tgc_det_dataset *d);

int tgc_det_dataset_len(const tgc_det_dataset *d);
int tgc_det_dataset_num_classes(const tgc_det_dataset *d);
const char *tgc_det_class_name(const tgc_det_dataset *d, int label);
int64_t tgc_det_cat_id(const tgc_det_dataset *d, int label); /* label -> COCO category id (CocoMetric) */
const tgc_det_image *tgc_det_dataset_image(const tgc_det_dataset *d, int i);
/* What was skipped or not used, one line each ("" when nothing): the caller shows it as a warning. */
const char *tgc_det_dataset_notes(const tgc_det_dataset *d);

/* ============================ detection pipeline (data_det_pipeline.c) ============================ */

/* Supported transforms (an optional scope prefix such as "mmdet." is ignored): LoadImageFromFile
 * (color_type color | grayscale), LoadAnnotations (with_bbox, with_label; with_mask / with_seg are
 * refused), Resize (scale int or [w, h], or scale_factor; keep_ratio; interpolation and backend as
 * tgc_cfg_resample reads them; clip_object_border), RandomFlip (prob, direction horizontal | vertical | diagonal or a list), Pad (size
 * [w, h], size_divisor, pad_to_square, pad_val number or {img: number}), PackDetInputs (meta_keys: all are
 * kept anyway). Boxes enter the sample at LoadAnnotations, so in MMDetection's test pipeline (Resize before
 * LoadAnnotations) they stay in the original image's coordinates, as there. */
typedef struct tgc_det_pipeline tgc_det_pipeline;

tgc_det_pipeline *tgc_det_pipeline_new(const tgc_cfg *list, tgc_err *err);
void tgc_det_pipeline_free(tgc_det_pipeline *p);
/* Gives the dataset a pipeline (owned from then on; replaces one it had). */
void tgc_det_dataset_set_pipeline(tgc_det_dataset *d, tgc_det_pipeline *p);

enum { TGC_DET_FLIP_NONE = 0, TGC_DET_FLIP_HORIZONTAL = 1, TGC_DET_FLIP_VERTICAL = 2, TGC_DET_FLIP_DIAGONAL = 3 };

/* One transformed sample. The buffers are owned by the sample and reused from call to call (capacities only
 * grow): zero-initialise it once, call tgc_det_get as often as needed, free it with tgc_det_sample_free. */
typedef struct tgc_det_sample {
    tgc_image img;            /* u8 HWC, BGR (or grey): the transformed (and padded) image */
    tgc_image scratch;        /* working space */
    int n_gt, n_ignore;
    float *gt;                /* n_gt x 4 xyxy in img's pixels */
    int32_t *labels;          /* n_gt, 0..C-1 */
    float *ignore;            /* n_ignore x 4 xyxy */
    int cap_gt, cap_ignore;
    int index;                /* dataset index */
    int64_t img_id;           /* COCO image id */
    int ori_h, ori_w;         /* ori_shape: the decoded image */
    int img_h, img_w;         /* img_shape: after Resize (before Pad) */
    int pad_h, pad_w;         /* pad_shape: after Pad (= img_shape without one) */
    double scale_w, scale_h;  /* scale_factor (new_w / w, new_h / h); 1 without Resize */
    int flip;                 /* TGC_DET_FLIP_*; the flip applied */
} tgc_det_sample;

void tgc_det_sample_free(tgc_det_sample *s);

/* Sample `index` through the dataset's pipeline, its draws keyed by (seed, epoch, position) with the
 * augmentation stream (position: the sample's place in the epoch's padded order, see tgc_sampler; passing
 * the index is fine where no sampler is involved). Thread-safe for distinct samples. A decoded image whose
 * size differs from the file's width/height is an error (its boxes would not fit it). */
int tgc_det_get(const tgc_det_dataset *d, int index, uint32_t epoch, uint32_t position, uint64_t seed,
                tgc_det_sample *s, tgc_err *err);
/* The pipeline on a sample whose image (and, for LoadAnnotations, `im`) are given: what tgc_det_get runs. */
int tgc_det_pipeline_apply(const tgc_det_pipeline *p, const tgc_det_image *im, tgc_det_sample *s, tgc_rng *rng,
                           tgc_err *err);

/* ============================ synthetic detection set (data_det_synth.c) ============================ */

/* Fashion-MNIST items on size x size canvases (size a multiple of 128; or height x width, a fraction of the
 * images transposed, for both orientations): 1 to 4 items per image, each
 * scaled by s uniform in [1, 3.5] (bilinear; side int(28 s + 0.5)), placed uniformly where its tight box has
 * IoU <= 0.3 with every earlier one (50 tries, then the image keeps what it has), composited with max, grey
 * replicated to 3 channels. Boxes are the tight boxes of the scaled item's pixels > 0; category ids 1..10
 * with Fashion-MNIST's class names. Train images take items from the train IDX files, val images from
 * t10k. Writes out_dir/annotations/instances_{train,val}.json and out_dir/{train,val}/NNNNNN.png. A function
 * of (seed, sizes, counts, the IDX files): the same arguments give byte-identical files. */
typedef struct tgc_det_synth_opts {
    const char *out_dir;
    const char *fashion_dir; /* folder of the Fashion-MNIST IDX files (plain or .gz) */
    int n_train, n_val, size;
    int height, width;       /* non-zero: height x width canvases instead of size x size (multiples of 128) */
    double portrait;         /* with height != width: the fraction of images transposed (width x height), image i
                              * when floor((i + 1) f) > floor(i f) (no random draw) */
    uint64_t seed;
} tgc_det_synth_opts;

/* Returns 0 and the number of boxes written per split in *boxes (may be NULL). */
int tgc_det_synth(const tgc_det_synth_opts *o, int boxes[2], tgc_err *err);
/* The ten category names (index = category id - 1). */
extern const char *const tgc_fashion_classes[10];

/* ============================ detection batches (data_det_loader.c) ============================ */

/* What the loader needs to turn samples into a detection batch (tgc_det_loader_new): the plan's canvas, the
 * data_preprocessor's normalisation and pad_size_divisor, and, for training, the anchor targets' settings:
 * RetinaNet's (one-stage), or the RPN's with RandomSampler plus the padded ground truth the R-CNN head
 * samples its RoIs from (two-stage: Faster R-CNN). */
typedef struct tgc_det_batch_opts {
    int canvas_h, canvas_w;  /* every image (after the pipeline) must fit; the rest is zero-filled */
    int pad_size_divisor;    /* an image's pad_shape: its own size rounded up to this (DetDataPreprocessor) */
    int targets;             /* 1: build the targets (training) */
    int two_stage;           /* 1: RPN targets, gt_bboxes/gt_labels/rng (with targets) and img_shape (always) */
    int num_classes;
    tgc_det_anchor_cfg anchor;     /* model.bbox_head (two-stage: model.rpn_head).anchor_generator */
    tgc_det_coder_cfg coder;       /* model.bbox_head (rpn_head).bbox_coder */
    tgc_det_assigner_cfg assigner; /* model.train_cfg(.rpn).assigner */
    tgc_det_sampler_cfg sampler;   /* two-stage: model.train_cfg.rpn.sampler */
    int allowed_border;            /* two-stage: model.train_cfg.rpn.allowed_border (-1: no border rule) */
    int max_gts;                   /* two-stage: model.data_preprocessor.tgc_max_gts (default 128) */
    int two_orient;                /* 1: batches of one orientation (tgc_group_batches; portrait: the annotation's
                                    * width < height), portrait ones on the transposed canvas with its anchors */
} tgc_det_batch_opts;

/* Reads pad_size_divisor from the data_preprocessor map, and for training the anchor generator, box coder
 * (model.bbox_head) and assigner (model.train_cfg.assigner), num_classes (model.bbox_head.num_classes). With
 * o->two_stage set by the caller: num_classes from model.roi_head.bbox_head, the anchor generator and coder
 * from model.rpn_head, assigner, sampler and allowed_border from model.train_cfg.rpn (pos_weight must be -1),
 * tgc_max_gts. The canvas, two_stage and two_orient are the caller's (from the plan's programs). */
int tgc_det_batch_opts_from_cfg(const tgc_cfg *model, int train, tgc_det_batch_opts *o, tgc_err *err);

/* A loader of detection batches over ds (borrowed; it must outlive the loader): the same worker threads,
 * ordering, sampler and buffer ownership as tgc_loader_new. Each sample goes through tgc_det_get (draws
 * keyed by its padded position), is normalised (o->norm) into the top-left of the canvas, zeros elsewhere
 * (after normalisation, as DetDataPreprocessor pads), and with targets its RetinaNet targets are built on the
 * canvas's anchors with the valid flags of its own pad_shape. Two-stage: the RPN's targets instead (the
 * sampler's draws keyed by (seed, epoch, position) on the TGC_RNG_RPN_SAMPLE stream), the image's non-crowd
 * gts padded to max_gts (more is an error naming the image and the key to raise), img_shape, and the RoI
 * sampler's key. The batch's det fields are filled (data.h). */
tgc_loader *tgc_det_loader_new(const tgc_det_dataset *ds, const tgc_loader_opts *o, const tgc_det_batch_opts *d,
                               tgc_err *err);
/* From a dataloader map as tgc_loader_open (the loader owns the CocoDataset it opens; its notes are passed
 * to warn, when not NULL, as one line each). */
tgc_loader *tgc_det_loader_open(const tgc_cfg *dataloader, const tgc_cfg *preprocessor, const tgc_det_batch_opts *d,
                                int train, uint64_t default_seed, int rank, int world, const struct tgc_device *device,
                                void (*warn)(void *ctx, const char *line), void *warn_ctx, tgc_err *err);
/* The CocoDataset of a detection loader (NULL for a classification loader). */
const tgc_det_dataset *tgc_loader_det_dataset(const tgc_loader *l);
/* Anchors per image of a detection loader's canvas (0 without targets). */
int64_t tgc_loader_det_anchors(const tgc_loader *l);

#endif
