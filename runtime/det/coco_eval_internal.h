/* runtime/det/coco_eval_internal.h - the COCO evaluator's state, shared by its algorithm (coco_eval.c) and its
 * JSON files (coco_json.c). Not for other modules: they use coco_eval.h. */
#ifndef TGC_RUNTIME_DET_COCO_EVAL_INTERNAL_H
#define TGC_RUNTIME_DET_COCO_EVAL_INTERNAL_H

#include "runtime/det/coco_eval.h"

typedef struct coco_gt {
    int64_t id;
    int img, cat; /* indices into img_ids / cat_ids */
    double bbox[4], area;
    int iscrowd;
} coco_gt;

typedef struct coco_det {
    int img, cat;
    double bbox[4]; /* xywh */
    double score;
} coco_det;

struct tgc_coco_eval {
    int n_img, n_cat, n_gt;
    int64_t *img_ids; /* sorted */
    int64_t *cat_ids; /* sorted */
    coco_gt *gt;      /* in the annotation file's order */
    coco_det *det;    /* in the order added */
    int n_det, cap_det;
    int max_dets[3]; /* sorted */
};

/* Index of id in the sorted ids, or -1. */
int coco_find_id(const int64_t *ids, int n, int64_t id);

#endif
