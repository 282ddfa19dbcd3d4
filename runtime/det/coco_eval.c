/* runtime/det/coco_eval.c - pycocotools' bbox evaluation (evaluate, accumulate, summarize) over ground truth and
 * detections held in memory, and MMDetection's CocoMetric outputs. The rules are listed in coco_eval.h. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/det/coco_eval_internal.h"

#define NT 10  /* IoU thresholds */
#define NR 101 /* recall points */
#define NA 4   /* area ranges */
#define NM 3   /* maxDets */

static const double area_lo[NA] = {0.0, 0.0, 32.0 * 32.0, 96.0 * 96.0};
static const double area_hi[NA] = {1e10, 32.0 * 32.0, 96.0 * 96.0, 1e10};
static const char *const area_lbl[NA] = {"all", "small", "medium", "large"};

/* numpy.linspace(start, stop, n): i * ((stop - start) / (n - 1)) + start, the last point = stop exactly. */
static void linspace(double start, double stop, int n, double *out) {
    double step = (stop - start) / (double)(n - 1);
    for (int i = 0; i < n; i++) out[i] = (double)i * step + start;
    out[n - 1] = stop;
}

int coco_find_id(const int64_t *ids, int n, int64_t id) {
    int lo = 0, hi = n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        if (ids[mid] == id) return mid;
        if (ids[mid] < id) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Sorted copy of ids; fails on a repeat, naming what (e.g. "images[].id"). */
static int sorted_ids(const int64_t *ids, int n, const char *what, int64_t **out, tgc_err *err) {
    int64_t *s = tgc_malloc((size_t)(n > 0 ? n : 1) * sizeof *s);
    if (n > 0) memcpy(s, ids, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp_i64);
    for (int i = 1; i < n; i++)
        if (s[i] == s[i - 1]) {
            long long dup = (long long)s[i];
            free(s);
            return tgc_fail(err, "%s %lld appears more than once", what, dup);
        }
    *out = s;
    return 0;
}

static int finite4(const double b[4]) {
    return isfinite(b[0]) && isfinite(b[1]) && isfinite(b[2]) && isfinite(b[3]);
}

int tgc_coco_eval_new(const int64_t *image_ids, int n_images, const int64_t *cat_ids, int n_cats,
                      const tgc_coco_ann *anns, int n_anns, tgc_coco_eval **out, tgc_err *err) {
    *out = NULL;
    if (n_images < 0 || n_cats < 0 || n_anns < 0)
        return tgc_fail(err, "negative count of images, categories or annotations");
    tgc_coco_eval *ev = tgc_calloc(1, sizeof *ev);
    ev->max_dets[0] = 1, ev->max_dets[1] = 10, ev->max_dets[2] = 100;
    if (sorted_ids(image_ids, n_images, "images[].id", &ev->img_ids, err) ||
        sorted_ids(cat_ids, n_cats, "categories[].id", &ev->cat_ids, err))
        goto fail;
    ev->n_img = n_images, ev->n_cat = n_cats;
    ev->gt = tgc_calloc((size_t)(n_anns > 0 ? n_anns : 1), sizeof *ev->gt);
    for (int i = 0; i < n_anns; i++) {
        const tgc_coco_ann *a = &anns[i];
        coco_gt *g = &ev->gt[i];
        g->id = a->id;
        g->img = coco_find_id(ev->img_ids, n_images, a->image_id);
        g->cat = coco_find_id(ev->cat_ids, n_cats, a->category_id);
        if (g->img < 0) {
            tgc_fail(err, "annotations[%d].image_id %lld is not an id of images", i, (long long)a->image_id);
            goto fail;
        }
        if (g->cat < 0) {
            tgc_fail(err, "annotations[%d].category_id %lld is not an id of categories", i, (long long)a->category_id);
            goto fail;
        }
        if (!finite4(a->bbox)) {
            tgc_fail(err, "annotations[%d].bbox holds a value that is not a finite number", i);
            goto fail;
        }
        if (!isfinite(a->area)) {
            tgc_fail(err, "annotations[%d].area is not a finite number", i);
            goto fail;
        }
        memcpy(g->bbox, a->bbox, sizeof g->bbox);
        g->area = a->area;
        g->iscrowd = a->iscrowd != 0;
    }
    ev->n_gt = n_anns;
    /* pycocotools looks annotations up by id: a repeated id would stand for another annotation */
    if (n_anns > 1) {
        int64_t *ids = tgc_malloc((size_t)n_anns * sizeof *ids), *s;
        for (int i = 0; i < n_anns; i++) ids[i] = anns[i].id;
        int rc = sorted_ids(ids, n_anns, "annotations[].id", &s, err);
        free(ids);
        if (rc) goto fail;
        free(s);
    }
    *out = ev;
    return 0;
fail:
    tgc_coco_eval_free(ev);
    return -1;
}

void tgc_coco_eval_free(tgc_coco_eval *ev) {
    if (!ev) return;
    free(ev->img_ids);
    free(ev->cat_ids);
    free(ev->gt);
    free(ev->det);
    free(ev);
}

static int cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

int tgc_coco_eval_set_max_dets(tgc_coco_eval *ev, const int max_dets[3], tgc_err *err) {
    int m[NM];
    for (int i = 0; i < NM; i++) {
        if (max_dets[i] < 1) return tgc_fail(err, "maxDets %d: must be at least 1", max_dets[i]);
        m[i] = max_dets[i];
    }
    qsort(m, NM, sizeof m[0], cmp_int);
    memcpy(ev->max_dets, m, sizeof m);
    return 0;
}

const int64_t *tgc_coco_eval_cat_ids(const tgc_coco_eval *ev, int *n) {
    *n = ev->n_cat;
    return ev->cat_ids;
}

void tgc_coco_eval_reset(tgc_coco_eval *ev) { ev->n_det = 0; }

int tgc_coco_eval_num_dets(const tgc_coco_eval *ev) { return ev->n_det; }

static int add_det(tgc_coco_eval *ev, int img, int cat, const double bbox[4], double score) {
    TGC_GROW(ev->det, ev->cap_det, ev->n_det + 1);
    coco_det *d = &ev->det[ev->n_det++];
    d->img = img, d->cat = cat, d->score = score;
    memcpy(d->bbox, bbox, sizeof d->bbox);
    return 0;
}

int tgc_coco_eval_add(tgc_coco_eval *ev, int64_t image_id, int n, const float *boxes_xyxy, const float *scores,
                      const int *labels, tgc_err *err) {
    int img = coco_find_id(ev->img_ids, ev->n_img, image_id);
    if (img < 0) return tgc_fail(err, "image id %lld is not an id of the ground truth's images", (long long)image_id);
    for (int i = 0; i < n; i++) {
        const float *b = boxes_xyxy + 4 * i;
        if (labels[i] < 0 || labels[i] >= ev->n_cat)
            return tgc_fail(err, "image %lld, detection %d: label %d is outside 0..%d (the ground truth's categories)",
                            (long long)image_id, i, labels[i], ev->n_cat - 1);
        double bb[4] = {b[0], b[1], (double)b[2] - (double)b[0], (double)b[3] - (double)b[1]};
        if (!finite4(bb) || !isfinite(scores[i]))
            return tgc_fail(err, "image %lld, detection %d: box or score is not a finite number", (long long)image_id,
                            i);
    }
    for (int i = 0; i < n; i++) {
        const float *b = boxes_xyxy + 4 * i;
        double bb[4] = {b[0], b[1], (double)b[2] - (double)b[0], (double)b[3] - (double)b[1]};
        add_det(ev, img, labels[i], bb, scores[i]);
    }
    return 0;
}

int tgc_coco_eval_add_result(tgc_coco_eval *ev, int64_t image_id, int64_t category_id, const double bbox[4],
                             double score, tgc_err *err) {
    int img = coco_find_id(ev->img_ids, ev->n_img, image_id);
    if (img < 0) return tgc_fail(err, "image_id %lld is not an id of the ground truth's images", (long long)image_id);
    int cat = coco_find_id(ev->cat_ids, ev->n_cat, category_id);
    if (cat < 0)
        return tgc_fail(err, "category_id %lld is not an id of the ground truth's categories", (long long)category_id);
    if (!finite4(bbox)) return tgc_fail(err, "bbox holds a value that is not a finite number");
    if (!isfinite(score)) return tgc_fail(err, "score is not a finite number");
    return add_det(ev, img, cat, bbox, score);
}

/* ---- evaluate ---- */

/* maskApi.c's bbIou for one pair, the same operations in the same order. */
static double box_iou(const double *d, const double *g, int crowd) {
    double da = d[2] * d[3], ga = g[2] * g[3];
    double w = fmin(d[2] + d[0], g[2] + g[0]) - fmax(d[0], g[0]);
    if (w <= 0) return 0;
    double h = fmin(d[3] + d[1], g[3] + g[1]) - fmax(d[1], g[1]);
    if (h <= 0) return 0;
    double i = w * h, u = crowd ? da : da + ga - i;
    return i / u;
}

/* One detection of one image, category and area range, as accumulate reads it. */
typedef struct coco_entry {
    double score;
    int rank;        /* position within its image's score order (the maxDet cut) */
    uint16_t tp, ig; /* bit t: matched at threshold t / ignored at threshold t */
} coco_entry;

typedef struct entry_list {
    coco_entry *e;
    int n, cap;
} entry_list;

/* Sort keys for a stable descending sort by score through qsort: ties keep their positions. */
typedef struct score_key {
    double score;
    int pos;
} score_key;

static int cmp_score_desc(const void *a, const void *b) {
    const score_key *x = a, *y = b;
    if (x->score > y->score) return -1;
    if (x->score < y->score) return 1;
    return (x->pos > y->pos) - (x->pos < y->pos);
}

/* Stable order of positions by descending score. */
static void order_by_score(score_key *k, int n) {
    if (n > 1) qsort(k, (size_t)n, sizeof *k, cmp_score_desc);
}

typedef struct eval_scratch {
    score_key *dk;
    double *ious;
    int *gorder, *gig, *taken;
    int64_t *match; /* [NT][D]: the matched GT's id, 0 none */
    int *dig;       /* [NT][D] */
    int cap_d, cap_g;
    size_t cap_dg;
} eval_scratch;

/* Room for nd detections of which D are kept, and G GTs. */
static void scratch_fit(eval_scratch *s, int nd, int D, int G) {
    if (nd > s->cap_d) {
        s->cap_d = nd;
        s->dk = tgc_realloc(s->dk, (size_t)nd * sizeof *s->dk);
        s->match = tgc_realloc(s->match, (size_t)nd * NT * sizeof *s->match);
        s->dig = tgc_realloc(s->dig, (size_t)nd * NT * sizeof *s->dig);
    }
    if (G > s->cap_g) {
        s->cap_g = G;
        s->gorder = tgc_realloc(s->gorder, (size_t)G * sizeof *s->gorder);
        s->gig = tgc_realloc(s->gig, (size_t)G * sizeof *s->gig);
        s->taken = tgc_realloc(s->taken, (size_t)G * sizeof *s->taken);
    }
    if ((size_t)D * G > s->cap_dg) {
        s->cap_dg = (size_t)D * G;
        s->ious = tgc_realloc(s->ious, (size_t)D * G * sizeof *s->ious);
    }
}

static void scratch_free(eval_scratch *s) {
    free(s->dk), free(s->ious), free(s->gorder), free(s->gig), free(s->taken), free(s->match), free(s->dig);
}

/* evaluateImg for one image and category over the four area ranges: appends one entry per kept detection to
 * lists[a] and counts the non-ignored GTs into npig[a]. gi/di: the cell's GT and detection indices in order. */
static void eval_cell(const tgc_coco_eval *ev, const int *gi, int G, const int *di, int nd, const double *thr,
                      eval_scratch *s, entry_list *lists, int64_t *npig) {
    int D = TGC_MIN(nd, ev->max_dets[NM - 1]);
    scratch_fit(s, nd, D, G);
    for (int j = 0; j < nd; j++) s->dk[j] = (score_key){ev->det[di[j]].score, j};
    order_by_score(s->dk, nd);
    for (int d = 0; d < D; d++)
        for (int g = 0; g < G; g++) {
            const coco_gt *gt = &ev->gt[gi[g]];
            s->ious[(size_t)d * G + g] = box_iou(ev->det[di[s->dk[d].pos]].bbox, gt->bbox, gt->iscrowd);
        }
    for (int a = 0; a < NA; a++) {
        /* GTs: non-ignored first, each group in file order */
        int ng = 0;
        for (int g = 0; g < G; g++) {
            const coco_gt *gt = &ev->gt[gi[g]];
            s->gig[g] = gt->iscrowd || gt->area < area_lo[a] || gt->area > area_hi[a];
            if (!s->gig[g]) s->gorder[ng++] = g;
        }
        npig[a] += ng;
        for (int g = 0, k = ng; g < G; g++)
            if (s->gig[g]) s->gorder[k++] = g;
        for (int t = 0; t < NT; t++) {
            int64_t *match = s->match + (size_t)t * D;
            int *dig = s->dig + (size_t)t * D;
            if (G > 0) memset(s->taken, 0, (size_t)G * sizeof *s->taken);
            for (int d = 0; d < D; d++) {
                double best = fmin(thr[t], 1 - 1e-10);
                int m = -1; /* position in gorder */
                for (int k = 0; k < G; k++) {
                    int g = s->gorder[k];
                    if (s->taken[g] && !ev->gt[gi[g]].iscrowd) continue;
                    if (m > -1 && !s->gig[s->gorder[m]] && s->gig[g]) break;
                    double iou = s->ious[(size_t)d * G + g];
                    if (iou < best) continue;
                    best = iou;
                    m = k;
                }
                match[d] = 0, dig[d] = 0;
                if (m == -1) continue;
                int g = s->gorder[m];
                dig[d] = s->gig[g];
                match[d] = ev->gt[gi[g]].id;
                s->taken[g] = 1;
            }
        }
        entry_list *L = &lists[a];
        TGC_GROW(L->e, L->cap, L->n + D);
        for (int d = 0; d < D; d++) {
            const double *b = ev->det[di[s->dk[d].pos]].bbox;
            double area = b[2] * b[3];
            int out = area < area_lo[a] || area > area_hi[a];
            coco_entry *e = &L->e[L->n++];
            e->score = s->dk[d].score;
            e->rank = d;
            e->tp = e->ig = 0;
            for (int t = 0; t < NT; t++) {
                int64_t mt = s->match[(size_t)t * D + d];
                if (mt != 0) e->tp |= (uint16_t)(1u << t);
                if (s->dig[(size_t)t * D + d] || (mt == 0 && out)) e->ig |= (uint16_t)(1u << t);
            }
        }
    }
}

/* Stable grouping of n items by key (0..nkeys-1): start[k]..start[k+1] index order[]. */
static void group_by(const int *key, int n, int nkeys, int **start_out, int **order_out) {
    int *start = tgc_calloc((size_t)nkeys + 1, sizeof *start);
    int *order = tgc_malloc((size_t)(n > 0 ? n : 1) * sizeof *order);
    for (int i = 0; i < n; i++) start[key[i] + 1]++;
    for (int k = 0; k < nkeys; k++) start[k + 1] += start[k];
    int *fill = tgc_malloc(((size_t)nkeys + 1) * sizeof *fill);
    memcpy(fill, start, ((size_t)nkeys + 1) * sizeof *fill);
    for (int i = 0; i < n; i++) order[fill[key[i]]++] = i;
    free(fill);
    *start_out = start, *order_out = order;
}

/* accumulate for one category and area range: precision[t][r] and recall[t] at each maxDet (left at -1 when
 * the category has no non-ignored GT there). */
static void accumulate(const tgc_coco_eval *ev, const entry_list *L, int64_t npig, const double *rec_thr,
                       double *prec /* [NM][NT][NR] */, double *recall /* [NM][NT] */) {
    if (npig == 0) return;
    size_t cap = (size_t)(L->n > 0 ? L->n : 1);
    score_key *k = tgc_malloc(cap * sizeof *k);
    int *src = tgc_malloc(cap * sizeof *src);
    double *rc = tgc_malloc(cap * sizeof *rc), *pr = tgc_malloc(cap * sizeof *pr);
    for (int m = 0; m < NM; m++) {
        /* each image's first maxDet entries, in image order, then a stable sort by score (numpy's mergesort) */
        int nd = 0;
        for (int i = 0; i < L->n; i++)
            if (L->e[i].rank < ev->max_dets[m]) k[nd] = (score_key){L->e[i].score, nd}, src[nd++] = i;
        order_by_score(k, nd);
        for (int t = 0; t < NT; t++) {
            double ctp = 0, cfp = 0;
            for (int i = 0; i < nd; i++) {
                const coco_entry *e = &L->e[src[k[i].pos]];
                if (!(e->ig >> t & 1)) {
                    if (e->tp >> t & 1) ctp += 1;
                    else cfp += 1;
                }
                rc[i] = ctp / (double)npig;
                pr[i] = ctp / (cfp + ctp + DBL_EPSILON);
            }
            recall[m * NT + t] = nd ? rc[nd - 1] : 0;
            for (int i = nd - 1; i > 0; i--)
                if (pr[i] > pr[i - 1]) pr[i - 1] = pr[i];
            double *q = prec + ((size_t)m * NT + t) * NR;
            int i = 0;
            for (int r = 0; r < NR; r++) {
                while (i < nd && rc[i] < rec_thr[r]) i++; /* searchsorted, side left */
                q[r] = i < nd ? pr[i] : 0;
            }
        }
    }
    free(k), free(src), free(rc), free(pr);
}

/* The summarize() table: AP or AR, IoU threshold (< 0: all), area range, maxDets (< 0: the value 100,
 * else the index into max_dets). */
typedef struct stat_spec {
    int ap;
    double iou;
    int area;
    int mdet;
} stat_spec;

static const stat_spec stat_specs[TGC_COCO_NSTATS] = {
    {1, -1, 0, -1}, {1, 0.5, 0, 2}, {1, 0.75, 0, 2}, {1, -1, 1, 2}, {1, -1, 2, 2}, {1, -1, 3, 2},
    {0, -1, 0, 0},  {0, -1, 0, 1},  {0, -1, 0, 2},   {0, -1, 1, 2}, {0, -1, 2, 2}, {0, -1, 3, 2},
};

static int spec_max_det(const tgc_coco_eval *ev, const stat_spec *sp) {
    return sp->mdet < 0 ? 100 : ev->max_dets[sp->mdet];
}

/* numpy's pairwise summation (np.add.reduce over a contiguous double array): so that the means, and the
 * printed 3-decimal values of results that fall on a rounding boundary, are the same as pycocotools'. */
static double pairwise_sum(const double *a, size_t n) {
    if (n < 8) {
        double r = 0;
        for (size_t i = 0; i < n; i++) r += a[i];
        return r;
    }
    if (n <= 128) {
        double r[8];
        memcpy(r, a, sizeof r);
        size_t i = 8;
        for (; i < n - n % 8; i += 8)
            for (int j = 0; j < 8; j++) r[j] += a[i + j];
        double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++) res += a[i];
        return res;
    }
    size_t n2 = n / 2;
    n2 -= n2 % 8;
    return pairwise_sum(a, n2) + pairwise_sum(a + n2, n - n2);
}

int tgc_coco_eval_compute(tgc_coco_eval *ev, double stats[TGC_COCO_NSTATS], tgc_err *err) {
    double thr[NT], rec_thr[NR];
    linspace(0.5, 0.95, NT, thr);
    linspace(0.0, 1.0, NR, rec_thr);
    int K = ev->n_cat, I = ev->n_img;
    if ((int64_t)I * K > INT32_MAX / 2) return tgc_fail(err, "%d images x %d categories: too many to evaluate", I, K);
    int ncell = I * K;
    /* GTs and detections grouped by (image, category), each group in its original order */
    int *key = tgc_malloc((size_t)(TGC_MAX(ev->n_gt, ev->n_det) + 1) * sizeof *key);
    for (int i = 0; i < ev->n_gt; i++) key[i] = ev->gt[i].img * K + ev->gt[i].cat;
    int *gstart, *gord, *dstart, *dord;
    group_by(key, ev->n_gt, ncell, &gstart, &gord);
    for (int i = 0; i < ev->n_det; i++) key[i] = ev->det[i].img * K + ev->det[i].cat;
    group_by(key, ev->n_det, ncell, &dstart, &dord);
    free(key);

    entry_list *lists = tgc_calloc((size_t)(K > 0 ? K : 1) * NA, sizeof *lists);
    int64_t *npig = tgc_calloc((size_t)(K > 0 ? K : 1) * NA, sizeof *npig);
    eval_scratch s = {0};
    for (int img = 0; img < I; img++) /* image order: accumulate concatenates the images in id order */
        for (int c = 0; c < K; c++) {
            int cell = img * K + c;
            int G = gstart[cell + 1] - gstart[cell], nd = dstart[cell + 1] - dstart[cell];
            if (G == 0 && nd == 0) continue;
            eval_cell(ev, gord + gstart[cell], G, dord + dstart[cell], nd, thr, &s, lists + (size_t)c * NA,
                      npig + (size_t)c * NA);
        }
    scratch_free(&s);
    free(gstart), free(gord), free(dstart), free(dord);

    /* precision [K][NA][NM][NT][NR], recall [K][NA][NM][NT], -1 where not reached */
    size_t np = (size_t)(K > 0 ? K : 1) * NA * NM * NT * NR, nrc = (size_t)(K > 0 ? K : 1) * NA * NM * NT;
    double *prec = tgc_malloc(np * sizeof *prec), *recall = tgc_malloc(nrc * sizeof *recall);
    for (size_t i = 0; i < np; i++) prec[i] = -1;
    for (size_t i = 0; i < nrc; i++) recall[i] = -1;
    for (int c = 0; c < K; c++)
        for (int a = 0; a < NA; a++) {
            size_t ca = (size_t)c * NA + a;
            accumulate(ev, &lists[ca], npig[ca], rec_thr, prec + ca * NM * NT * NR, recall + ca * NM * NT);
            free(lists[ca].e);
        }
    free(lists), free(npig);

    /* summarize: the mean of the entries > -1, taken in numpy's order of precision[t, r, k, a, m] (recall[t, k,
     * a, m]) */
    double *vals = tgc_malloc((size_t)NT * NR * (K > 0 ? K : 1) * NM * sizeof *vals);
    for (int si = 0; si < TGC_COCO_NSTATS; si++) {
        const stat_spec *sp = &stat_specs[si];
        int md = spec_max_det(ev, sp);
        size_t cnt = 0;
        for (int t = 0; t < NT; t++) {
            if (sp->iou >= 0 && thr[t] != sp->iou) continue;
            for (int r = 0; r < (sp->ap ? NR : 1); r++)
                for (int c = 0; c < K; c++)
                    for (int m = 0; m < NM; m++) {
                        if (ev->max_dets[m] != md) continue;
                        size_t base = ((size_t)c * NA + sp->area) * NM + m;
                        double v = sp->ap ? prec[(base * NT + t) * NR + r] : recall[base * NT + t];
                        if (v > -1) vals[cnt++] = v;
                    }
        }
        stats[si] = cnt ? pairwise_sum(vals, cnt) / (double)cnt : -1;
    }
    free(vals);
    free(prec), free(recall);
    return 0;
}

/* ---- outputs ---- */

char *tgc_coco_eval_summary(const tgc_coco_eval *ev, const double stats[TGC_COCO_NSTATS]) {
    tgc_buf b = {0};
    for (int si = 0; si < TGC_COCO_NSTATS; si++) {
        const stat_spec *sp = &stat_specs[si];
        char iou[16];
        if (sp->iou < 0) snprintf(iou, sizeof iou, "%0.2f:%0.2f", 0.5, 0.95);
        else snprintf(iou, sizeof iou, "%0.2f", sp->iou);
        tgc_buf_printf(&b, " %-18s %s @[ IoU=%-9s | area=%6s | maxDets=%3d ] = %0.3f\n",
                       sp->ap ? "Average Precision" : "Average Recall", sp->ap ? "(AP)" : "(AR)", iou,
                       area_lbl[sp->area], spec_max_det(ev, sp), stats[si]);
    }
    tgc_buf_u8(&b, 0);
    return (char *)b.data;
}

const char *const tgc_coco_metric_names[TGC_COCO_NMETRICS] = {
    "coco/bbox_mAP", "coco/bbox_mAP_50", "coco/bbox_mAP_75", "coco/bbox_mAP_s", "coco/bbox_mAP_m", "coco/bbox_mAP_l",
};

/* Python's round(v, 3): the correctly rounded 3-decimal value (printf rounds the exact binary value too). */
static double round3(double v) {
    char s[64];
    snprintf(s, sizeof s, "%.3f", v);
    return strtod(s, NULL);
}

void tgc_coco_eval_metrics(const double stats[TGC_COCO_NSTATS], double values[TGC_COCO_NMETRICS]) {
    for (int i = 0; i < TGC_COCO_NMETRICS; i++) values[i] = round3(stats[i]);
}

char *tgc_coco_eval_copypaste(const double stats[TGC_COCO_NSTATS]) {
    return tgc_asprintf("bbox_mAP_copypaste: %.3f %.3f %.3f %.3f %.3f %.3f", stats[0], stats[1], stats[2], stats[3],
                        stats[4], stats[5]);
}
