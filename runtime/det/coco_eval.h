/* runtime/det/coco_eval.h - COCO bbox evaluation (pycocotools' COCOeval, iouType "bbox") and MMDetection's
 * CocoMetric outputs: the 12 summary stats, their printout, the coco/bbox_mAP* log keys, the copypaste line
 * and the result file PREFIX.bbox.json.
 *
 * Semantics follow pycocotools 2.0.11 (cocoeval.py, maskApi.c bbIou):
 *   - IoU thresholds linspace(0.5, 0.95, 10), recall points linspace(0, 1, 101), maxDets (sorted, 3 values;
 *     pycocotools' default 1 10 100, MMDetection's CocoMetric sets its proposal_nums 100 300 1000), area
 *     ranges all [0, 1e10], small [0, 32^2], medium [32^2, 96^2], large [96^2, 1e10], bounds inclusive;
 *   - boxes xywh, no +1; for a crowd GT, IoU = intersection / area(dt);
 *   - per image and category: dts sorted by score (stable), cut to the largest maxDet; a GT is ignored when it
 *     is a crowd or its `area` field lies outside the range; GTs sorted non-ignored first (stable); greedy
 *     matching per threshold (best IoU >= min(t, 1-1e-10), a non-crowd GT matched once, stop at the ignored
 *     GTs once a non-ignored one matched); a dt matched to an ignored GT is ignored, and so is an unmatched dt
 *     whose area w*h lies outside the range. As in pycocotools, a match to a GT whose id is 0 counts as no
 *     match (the match is stored as the GT's id);
 *   - per category, area and maxDet: the images' dts (each image's first maxDet) merged by score (stable, in
 *     image id order), cumulative tp/fp, precision made monotone from the right and sampled at the recall
 *     points (searchsorted left; 0 past the last recall reached); -1 where the category has no
 *     non-ignored GT;
 *   - stats: mean over entries > -1 (-1 when there is none): AP, AP50, AP75, APs, APm, APl at maxDets[2]
 *     (AP at maxDet 100), AR at maxDets[0], [1], [2], ARs, ARm, ARl at maxDets[2].
 * Category ids are the GT file's `categories` ids, sorted; label i of a detection is the i-th of them.
 * Images are the GT file's `images`; every detection's image must be one of them.
 */
#ifndef TGC_RUNTIME_DET_COCO_EVAL_H
#define TGC_RUNTIME_DET_COCO_EVAL_H

#include <stdint.h>

#include "common/util.h"

#define TGC_COCO_NSTATS 12
#define TGC_COCO_NMETRICS 6 /* the log keys: mAP, mAP_50, mAP_75, mAP_s, mAP_m, mAP_l */

/* One ground-truth annotation (the fields of a COCO annotation the bbox evaluation reads). */
typedef struct tgc_coco_ann {
    int64_t id, image_id, category_id;
    double bbox[4]; /* x, y, w, h */
    double area;    /* the annotation's `area` field: the area ranges use it, not w*h */
    int iscrowd;
} tgc_coco_ann;

typedef struct tgc_coco_eval tgc_coco_eval;

/* The ground truth from a COCO annotation file (images, annotations, categories). Errors name the file and
 * the field ("ann.json: annotations[3].bbox: ..."). */
int tgc_coco_eval_open(const char *ann_file, tgc_coco_eval **out, tgc_err *err);
/* The ground truth from memory: image ids, category ids (any order, no repeats) and annotations (copied). */
int tgc_coco_eval_new(const int64_t *image_ids, int n_images, const int64_t *cat_ids, int n_cats,
                      const tgc_coco_ann *anns, int n_anns, tgc_coco_eval **out, tgc_err *err);
void tgc_coco_eval_free(tgc_coco_eval *ev);

/* maxDets (3 positive values, any order; kept sorted). Default 1 10 100; MMDetection's CocoMetric: 100 300 1000. */
int tgc_coco_eval_set_max_dets(tgc_coco_eval *ev, const int max_dets[3], tgc_err *err);
/* The sorted category ids (label i -> cat_ids[i]) and their count. */
const int64_t *tgc_coco_eval_cat_ids(const tgc_coco_eval *ev, int *n);

/* Detections of one image as a detector outputs them: n boxes x1 y1 x2 y2 (in the original image's
 * pixels), scores and labels 0..C-1. Stored as MMDetection's results2json does: bbox [x1, y1, x2-x1, y2-y1]
 * in double, score as a double, category_id = cat_ids[label]. May be called more than once per image. */
int tgc_coco_eval_add(tgc_coco_eval *ev, int64_t image_id, int n, const float *boxes_xyxy, const float *scores,
                      const int *labels, tgc_err *err);
/* One detection in COCO result form (bbox xywh, a category id). */
int tgc_coco_eval_add_result(tgc_coco_eval *ev, int64_t image_id, int64_t category_id, const double bbox[4],
                             double score, tgc_err *err);
/* Detections from a COCO result file (a JSON list of {image_id, category_id, bbox, score}). */
int tgc_coco_eval_load_results(tgc_coco_eval *ev, const char *path, tgc_err *err);
/* Drops the detections (the ground truth stays). */
void tgc_coco_eval_reset(tgc_coco_eval *ev);
int tgc_coco_eval_num_dets(const tgc_coco_eval *ev);

/* format_only / outfile_prefix: the detections, in the order added, as PREFIX.bbox.json (COCO result
 * format: image_id, bbox, score, category_id; numbers printed so they read back exactly). */
int tgc_coco_eval_write_results(const tgc_coco_eval *ev, const char *outfile_prefix, tgc_err *err);

/* evaluate + accumulate + summarize: the 12 stats. */
int tgc_coco_eval_compute(tgc_coco_eval *ev, double stats[TGC_COCO_NSTATS], tgc_err *err);

/* pycocotools' summarize() printout: 12 lines " Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all |
 * maxDets=100 ] = 0.767", each ending in a newline. Heap string (caller frees). */
char *tgc_coco_eval_summary(const tgc_coco_eval *ev, const double stats[TGC_COCO_NSTATS]);
/* MMDetection's log keys and values: coco/bbox_mAP, _50, _75, _s, _m, _l = round(stats[0..5], 3). */
extern const char *const tgc_coco_metric_names[TGC_COCO_NMETRICS];
void tgc_coco_eval_metrics(const double stats[TGC_COCO_NSTATS], double values[TGC_COCO_NMETRICS]);
/* "bbox_mAP_copypaste: 0.767 0.917 0.917 1.000 0.850 -1.000" (no newline). Heap string. */
char *tgc_coco_eval_copypaste(const double stats[TGC_COCO_NSTATS]);

#endif
