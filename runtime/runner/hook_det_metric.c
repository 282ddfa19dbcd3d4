/* runtime/runner/hook_det_metric.c - detection evaluation in the runner: RetinaNet's or Faster R-CNN's
 * post-processing of the eval program's det_out and MMDetection's CocoMetric (runtime/det/coco_eval.h). */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/data/det_data.h"
#include "runtime/det/coco_eval.h"
#include "runtime/dist/dist.h"
#include "runtime/runner/hooks.h"

/* One detection as every rank keeps it until the evaluation, and as it travels to rank 0 (bytes, 40 each). */
typedef struct det_rec {
    int64_t pos;    /* the image's position in the val sampler's order: the results' order, as collect_results */
    int64_t img_id; /* COCO image id */
    int32_t label;
    float score;
    float box[4];   /* x1 y1 x2 y2 in the original image */
} det_rec;

struct tgc_det_metric {
    tgc_det_test_cfg test;
    tgc_det_coder_cfg coder;
    tgc_det_anchors anchors;
    tgc_det_anchors anchors_t; /* two orientations: the transposed canvas's (RetinaNet) */
    int num_classes;
    int two_stage;             /* det_out rows are proposals (tgc_det_rcnn_predict), not anchors */
    int64_t batch, n_anchors;  /* two-stage: n_anchors = proposals per image */
    int64_t row;               /* floats per det_out row */
    const tgc_det_dataset *ds; /* the val loader's, for label -> category id */
    tgc_coco_eval *coco;
    int format_only;
    char *outfile_prefix;      /* owned or NULL */
    det_rec *recs;             /* owned: this rank's detections since the reset */
    int n_recs, cap_recs;
};

void tgc_det_metric_free(tgc_det_metric *m) {
    if (!m) return;
    tgc_det_anchors_free(&m->anchors);
    tgc_det_anchors_free(&m->anchors_t);
    tgc_coco_eval_free(m->coco);
    free(m->outfile_prefix);
    free(m->recs);
    free(m);
}

/* Non-default CocoMetric keys tgc does not implement: a warning naming them (MMDetection's defaults pass). */
static int check_keys(tgc_runner *r, const tgc_cfg *ev, const char *key, tgc_err *err) {
    static const char *const known[] = {"type", "ann_file", "metric", "format_only", "outfile_prefix", "proposal_nums",
                                        "backend_args", "file_client_args", "classwise", "iou_thrs", "metric_items",
                                        "sort_categories", "use_mp_eval", "collect_device", "prefix", NULL};
    for (int i = 0; i < ev->n; i++) {
        const char *k = ev->keys[i];
        const tgc_cfg *v = ev->items[i];
        int j = 0;
        while (known[j] && strcmp(known[j], k)) j++;
        if (!known[j]) return tgc_cfg_fail(err, v, "unknown CocoMetric argument '%s'", k);
        int is_null = v->kind == TGC_CFG_NULL, is_false = v->kind == TGC_CFG_BOOL && !v->b;
        if (((!strcmp(k, "classwise") || !strcmp(k, "sort_categories") || !strcmp(k, "use_mp_eval")) && !is_false &&
             !is_null) ||
            ((!strcmp(k, "backend_args") || !strcmp(k, "file_client_args") || !strcmp(k, "metric_items") ||
              !strcmp(k, "prefix")) && !is_null) ||
            (!strcmp(k, "collect_device") && !(v->kind == TGC_CFG_STR && !strcmp(v->s, "cpu"))))
            tgc_log_warning(&r->log, "%s.%s is accepted but not implemented, so ignored", key, k);
        if (!strcmp(k, "iou_thrs") && !is_null)
            return tgc_cfg_fail(err, v, "only the default iou_thrs (0.50:0.95) is supported");
    }
    return 0;
}

static int read_metric(const tgc_cfg *ev, tgc_err *err) {
    const tgc_cfg *m = tgc_cfg_get(ev, "metric");
    if (!m || m->kind == TGC_CFG_NULL) return 0;
    const tgc_cfg *one = m;
    if (m->kind == TGC_CFG_LIST || m->kind == TGC_CFG_TUPLE) {
        if (m->n != 1) return tgc_cfg_fail(err, m, "only the metric 'bbox' is supported");
        one = m->items[0];
    }
    if (one->kind != TGC_CFG_STR || strcmp(one->s, "bbox"))
        return tgc_cfg_fail(err, one, "only the metric 'bbox' is supported (segm and proposal are not)");
    return 0;
}

static int check_classes(tgc_runner *r, tgc_det_metric *m, tgc_err *err) {
    m->ds = tgc_loader_det_dataset(r->val_loader);
    if (!m->ds || tgc_det_dataset_num_classes(m->ds) != m->num_classes)
        return tgc_fail(err, "the val dataset has %d classes but the plan's head %d",
                        m->ds ? tgc_det_dataset_num_classes(m->ds) : 0, m->num_classes);
    return 0;
}

/* Faster R-CNN: model.roi_head.bbox_head.bbox_coder and model.test_cfg.rcnn; det_out [B, P, 4 + 1 + (C+1) + 4C]. */
static int rcnn_settings(tgc_runner *r, tgc_det_metric *m, int eval_out, tgc_err *err) {
    const tgc_cfg *model = tgc_cfg_get(r->cfg, "model");
    const tgc_cfg *bc = tgc_cfg_at(model, "roi_head.bbox_head.bbox_coder"), *tc = tgc_cfg_at(model, "test_cfg.rcnn");
    tgc_det_coder_cfg_default(&m->coder);
    tgc_det_test_cfg_default(&m->test);
    if (!tc || tc->kind != TGC_CFG_MAP)
        return tgc_cfg_fail(err, tc ? tc : model, "model.test_cfg.rcnn must be a map (score_thr, nms, max_per_img)");
    if ((bc && tgc_det_coder_cfg_from(bc, &m->coder, err)) || tgc_det_test_cfg_from(tc, &m->test, err)) return -1;
    const tgc_plan_tensor *t = tgc_exec_tensor(r->x, eval_out);
    const int64_t *d = t->type.shape.d;
    if (t->type.dtype != TGC_F32 || t->type.shape.rank != 3 || d[0] != r->ev_batch || d[2] < 11 || (d[2] - 6) % 5)
        return tgc_fail(err, "the plan's eval output %s is not f32 [%lld, proposals, 4 + 1 + (C + 1) + 4C]", t->name,
                        (long long)r->ev_batch);
    m->two_stage = 1;
    m->batch = d[0];
    m->n_anchors = d[1];
    m->num_classes = (int)((d[2] - 6) / 5);
    m->row = d[2];
    return check_classes(r, m, err);
}

tgc_det_metric *tgc_det_metric_open(tgc_runner *r, const tgc_cfg *ev, const char *key, int eval_out, tgc_err *err) {
    if (ev && (ev->kind == TGC_CFG_LIST || ev->kind == TGC_CFG_TUPLE)) {
        if (ev->n != 1) {
            tgc_cfg_fail(err, ev, "only one evaluator (CocoMetric) is supported, got %d", ev->n);
            return NULL;
        }
        ev = ev->items[0];
    }
    if (!ev || ev->kind != TGC_CFG_MAP) {
        tgc_fail(err, "%s must be a map {type: CocoMetric, ann_file: ...} for a detection plan", key);
        return NULL;
    }
    const char *type, *ann, *prefix;
    tgc_det_metric *m = tgc_calloc(1, sizeof *m);
    if (tgc_cfg_str(ev, "type", "CocoMetric", &type, err)) goto fail;
    const char *dot = strrchr(type, '.');
    if (strcmp(dot ? dot + 1 : type, "CocoMetric")) {
        tgc_cfg_fail(err, tgc_cfg_get(ev, "type"), "unsupported evaluator '%s' for a detection plan (supported: "
                                                    "CocoMetric)", type);
        goto fail;
    }
    if (check_keys(r, ev, key, err) || read_metric(ev, err) || tgc_cfg_str(ev, "ann_file", NULL, &ann, err) ||
        tgc_cfg_bool(ev, "format_only", 0, &m->format_only, err) ||
        tgc_cfg_str(ev, "outfile_prefix", NULL, &prefix, err))
        goto fail;
    if (!ann) {
        tgc_cfg_fail(err, ev, "ann_file is required (the ground truth CocoMetric evaluates against)");
        goto fail;
    }
    if (m->format_only && !prefix) {
        tgc_cfg_fail(err, ev, "format_only needs outfile_prefix (where PREFIX.bbox.json is written)");
        goto fail;
    }
    if (prefix) m->outfile_prefix = tgc_strdup(prefix);
    int max_dets[3] = {100, 300, 1000}; /* MMDetection's CocoMetric: proposal_nums */
    const tgc_cfg *pn = tgc_cfg_get(ev, "proposal_nums");
    if (pn && pn->kind != TGC_CFG_NULL) {
        int64_t v[3];
        int n;
        if (tgc_cfg_ints(ev, "proposal_nums", v, 3, &n, err)) goto fail;
        if (n != 3 || v[0] < 1 || v[1] < 1 || v[2] < 1) {
            tgc_cfg_fail(err, pn, "proposal_nums must be three positive numbers");
            goto fail;
        }
        for (int i = 0; i < 3; i++) max_dets[i] = (int)TGC_MIN(v[i], (int64_t)1 << 30);
    }
    if (tgc_coco_eval_open(ann, &m->coco, err) || tgc_coco_eval_set_max_dets(m->coco, max_dets, err)) {
        tgc_err_prefix(err, "%s", key);
        goto fail;
    }
    if (r->det_two_stage) {
        if (rcnn_settings(r, m, eval_out, err)) goto fail;
        return m;
    }
    /* the head's settings and the canvas's anchors */
    const tgc_cfg *model = tgc_cfg_get(r->cfg, "model");
    const tgc_cfg *head = model ? tgc_cfg_get(model, "bbox_head") : NULL;
    const tgc_cfg *ag = head ? tgc_cfg_get(head, "anchor_generator") : NULL,
                  *bc = head ? tgc_cfg_get(head, "bbox_coder") : NULL, *tc = model ? tgc_cfg_get(model, "test_cfg") : NULL;
    tgc_det_anchor_cfg ac;
    tgc_det_anchor_cfg_retinanet(&ac);
    tgc_det_coder_cfg_default(&m->coder);
    tgc_det_test_cfg_default(&m->test);
    if ((ag && tgc_det_anchor_cfg_from(ag, &ac, err)) || (bc && tgc_det_coder_cfg_from(bc, &m->coder, err)) ||
        (tc && tc->kind != TGC_CFG_NULL && tgc_det_test_cfg_from(tc, &m->test, err)) ||
        tgc_det_anchors_for_canvas(&ac, r->det_h, r->det_w, &m->anchors, err) ||
        (r->por.eval && tgc_det_anchors_for_canvas(&ac, r->det_w, r->det_h, &m->anchors_t, err)))
        goto fail;
    if (r->por.eval && m->anchors_t.count != m->anchors.count) {
        tgc_fail(err, "the %dx%d canvas has %lld anchors but the transposed one %lld", r->det_h, r->det_w,
                 (long long)m->anchors.count, (long long)m->anchors_t.count);
        goto fail;
    }
    const tgc_plan_tensor *t = tgc_exec_tensor(r->x, eval_out);
    const int64_t *d = t->type.shape.d;
    if (t->type.dtype != TGC_F32 || t->type.shape.rank != 3 || d[0] != r->ev_batch || d[1] != m->anchors.count ||
        d[2] < 5) {
        tgc_fail(err, "the plan's eval output %s is not f32 [%lld, %lld, classes + 4] (the anchors of the %dx%d canvas)",
                 t->name, (long long)r->ev_batch, (long long)m->anchors.count, r->det_h, r->det_w);
        goto fail;
    }
    m->batch = d[0];
    m->n_anchors = d[1];
    m->num_classes = (int)(d[2] - 4);
    m->row = d[2];
    if (check_classes(r, m, err)) goto fail;
    return m;
fail:
    tgc_det_metric_free(m);
    return NULL;
}

size_t tgc_det_metric_out_floats(const tgc_det_metric *m) {
    return (size_t)m->batch * (size_t)m->n_anchors * (size_t)m->row;
}

void tgc_det_metric_reset(tgc_det_metric *m) {
    tgc_coco_eval_reset(m->coco);
    m->n_recs = 0;
}

int tgc_det_metric_process(tgc_det_metric *m, const float *out, const tgc_det_meta *meta, const int64_t *pos, int n,
                           int portrait, tgc_err *err) {
    const tgc_det_anchors *anchors = portrait ? &m->anchors_t : &m->anchors;
    if (portrait && !m->two_stage && !anchors->count) return tgc_fail(err, "internal error: a portrait batch without portrait anchors");
    int64_t row = m->row;
    for (int i = 0; i < n; i++) {
        const float *o = out + (size_t)i * (size_t)m->n_anchors * (size_t)row;
        tgc_det_head_out ho = {o, row, o + m->num_classes, row};
        float hw[2] = {(float)meta[i].img_h, (float)meta[i].img_w};
        float sf[2] = {(float)meta[i].scale_w, (float)meta[i].scale_h};
        tgc_det_result res = {0};
        if (m->two_stage ? tgc_det_rcnn_predict(&m->test, &m->coder, m->num_classes, o, m->n_anchors, row, hw, sf, &res, err)
                         : tgc_det_retina_predict(&m->test, &m->coder, anchors, m->num_classes, &ho, hw, sf, &res, err))
            return tgc_err_prefix(err, m->two_stage ? "model.test_cfg.rcnn" : "model.test_cfg");
        if (res.n > INT_MAX - 1 - m->n_recs) {
            tgc_det_result_free(&res);
            return tgc_fail(err, "more than %d detections in one evaluation", INT_MAX - 1);
        }
        TGC_GROW(m->recs, m->cap_recs, m->n_recs + res.n + 1);
        for (int k = 0; k < res.n; k++) {
            det_rec *d = &m->recs[m->n_recs++];
            memset(d, 0, sizeof *d);
            d->pos = pos[i];
            d->img_id = meta[i].img_id;
            d->label = res.labels[k];
            d->score = res.scores[k];
            memcpy(d->box, res.boxes + 4 * k, sizeof d->box);
        }
        tgc_det_result_free(&res);
    }
    return 0;
}

static int cmp_rec(const void *a, const void *b) {
    const det_rec *x = a, *y = b;
    if (x->pos != y->pos) return x->pos < y->pos ? -1 : 1;
    return x < y ? -1 : x > y; /* within an image: the order predict gave (one rank holds each image) */
}

/* The records of every rank (all of them on rank 0), in position order, positions >= n_images (the
 * sampler's repeats that fill the last round) left out, into the COCO evaluator. */
static int collect(tgc_det_metric *m, struct tgc_ddp *ddp, int64_t n_images, tgc_err *err) {
    det_rec *all = m->recs;
    size_t n = (size_t)m->n_recs;
    void *got = NULL;
    if (ddp) {
        size_t bytes;
        if (tgc_ddp_all_gather(ddp, m->recs, sizeof(det_rec) * (size_t)m->n_recs, &got, &bytes, NULL, err))
            return tgc_err_prefix(err, "collecting the detections of every rank");
        all = got;
        n = bytes / sizeof(det_rec);
        if (tgc_ddp_rank(ddp) != 0) {
            free(got);
            return 0;
        }
    }
    qsort(all, n, sizeof *all, cmp_rec);
    int rc = 0;
    for (size_t k = 0; k < n && rc == 0; k++) {
        const det_rec *d = &all[k];
        if (d->pos >= n_images) continue;
        /* results2json: xyxy2xywh of the float32 boxes in Python floats */
        double xywh[4] = {d->box[0], d->box[1], (double)d->box[2] - (double)d->box[0],
                          (double)d->box[3] - (double)d->box[1]};
        rc = tgc_coco_eval_add_result(m->coco, d->img_id, tgc_det_cat_id(m->ds, d->label), xywh, (double)d->score, err);
    }
    free(got);
    return rc;
}

/* A raw line (pycocotools prints its summary with print()) to the console and the log file. */
static void log_raw(tgc_log_sink *s, const char *text) {
    if (s->out) {
        fputs(text, s->out);
        fflush(s->out);
    }
    if (s->file) {
        fputs(text, s->file);
        fflush(s->file);
    }
}

int tgc_det_metric_finish(tgc_det_metric *m, struct tgc_ddp *ddp, int64_t n_images, tgc_log_sink *log,
                          char names[][32], double *values, int *n, tgc_err *err) {
    *n = 0;
    if (collect(m, ddp, n_images, err)) return -1;
    if (ddp && tgc_ddp_rank(ddp) != 0) return 0; /* rank 0 evaluates, logs and writes */
    if (m->outfile_prefix) {
        if (tgc_coco_eval_write_results(m->coco, m->outfile_prefix, err)) return -1;
        if (m->format_only) {
            tgc_log_info(log, "format_only is True, the results are saved to %s.bbox.json", m->outfile_prefix);
            return 0;
        }
    }
    tgc_log_info(log, "Evaluating bbox...");
    double stats[TGC_COCO_NSTATS];
    if (tgc_coco_eval_compute(m->coco, stats, err)) return -1;
    char *sum = tgc_coco_eval_summary(m->coco, stats);
    log_raw(log, sum);
    free(sum);
    char *cp = tgc_coco_eval_copypaste(stats);
    tgc_log_info(log, "%s", cp);
    free(cp);
    tgc_coco_eval_metrics(stats, values);
    for (int i = 0; i < TGC_COCO_NMETRICS; i++) snprintf(names[i], 32, "%s", tgc_coco_metric_names[i]);
    *n = TGC_COCO_NMETRICS;
    return 0;
}
