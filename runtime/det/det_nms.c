/* runtime/det/det_nms.c - greedy NMS (mmcv's nms) and NMS by class id (mmcv's batched_nms). */
#include <stdlib.h>
#include <string.h>

#include "runtime/det/det.h"

/* Sort keys: class (batched only), descending score, ascending index. NaN scores sort last. */
typedef struct nms_key {
    float score;
    int32_t cls;
    int idx;
} nms_key;

static int key_cmp(const void *pa, const void *pb) {
    const nms_key *a = pa, *b = pb;
    if (a->cls != b->cls) return a->cls < b->cls ? -1 : 1;
    int an = a->score != a->score, bn = b->score != b->score;
    if (an != bn) return an - bn;
    if (!an && a->score != b->score) return a->score > b->score ? -1 : 1;
    return (a->idx > b->idx) - (a->idx < b->idx);
}

/* mmcv's CPU overlap: no clamp of the union (0/0 is NaN, which suppresses nothing). */
static float nms_iou(const float *a, const float *b) {
    float w = (a[2] < b[2] ? a[2] : b[2]) - (a[0] > b[0] ? a[0] : b[0]);
    float h = (a[3] < b[3] ? a[3] : b[3]) - (a[1] > b[1] ? a[1] : b[1]);
    w = w > 0 ? w : 0;
    h = h > 0 ? h : 0;
    float inter = w * h;
    float aa = (a[2] - a[0]) * (a[3] - a[1]), ab = (b[2] - b[0]) * (b[3] - b[1]);
    return inter / (aa + ab - inter);
}

/* Greedy NMS over keys[0..n) (already in score order); appends kept indices to keep, stops at max_out. */
static int greedy(const float *boxes, const nms_key *keys, int n, float thr, int max_out, uint8_t *supp, int *keep) {
    int nk = 0;
    for (int i = 0; i < n; i++) supp[i] = 0;
    for (int i = 0; i < n && (max_out <= 0 || nk < max_out); i++) {
        if (supp[i]) continue;
        const float *bi = boxes + 4 * keys[i].idx;
        keep[nk++] = keys[i].idx;
        for (int j = i + 1; j < n; j++)
            if (!supp[j] && nms_iou(bi, boxes + 4 * keys[j].idx) > thr) supp[j] = 1;
    }
    return nk;
}

static int run(const float *boxes, const float *scores, const int32_t *idxs, int n, float thr, int max_out, int *keep) {
    if (n <= 0) return 0;
    nms_key *keys = tgc_malloc(sizeof(nms_key) * (size_t)n);
    for (int i = 0; i < n; i++) keys[i] = (nms_key){scores[i], idxs ? idxs[i] : 0, i};
    qsort(keys, (size_t)n, sizeof *keys, key_cmp);
    uint8_t *supp = tgc_malloc((size_t)n);
    int nk = 0;
    if (!idxs) {
        nk = greedy(boxes, keys, n, thr, max_out, supp, keep);
    } else {
        for (int s = 0; s < n;) { /* each class's run of keys */
            int e = s + 1;
            while (e < n && keys[e].cls == keys[s].cls) e++;
            nk += greedy(boxes, keys + s, e - s, thr, 0, supp, keep + nk);
            s = e;
        }
        /* all classes' kept boxes by descending score (ties: lower index first) */
        for (int k = 0; k < nk; k++) keys[k] = (nms_key){scores[keep[k]], 0, keep[k]};
        qsort(keys, (size_t)nk, sizeof *keys, key_cmp);
        if (max_out > 0 && nk > max_out) nk = max_out;
        for (int k = 0; k < nk; k++) keep[k] = keys[k].idx;
    }
    free(supp);
    free(keys);
    return nk;
}

int tgc_det_nms(const float *boxes, const float *scores, int n, float iou_thr, int max_out, int *keep) {
    return run(boxes, scores, NULL, n, iou_thr, max_out, keep);
}

int tgc_det_batched_nms(const float *boxes, const float *scores, const int32_t *idxs, int n, float iou_thr,
                        int max_out, int *keep) {
    return run(boxes, scores, idxs, n, iou_thr, max_out, keep);
}

void tgc_det_nms_result(const tgc_det_test_cfg *tc, const float *boxes, const float *scores, const int32_t *labels, int m,
                        tgc_det_result *res) {
    int *keep = tgc_malloc(sizeof(int) * (size_t)(m > 0 ? m : 1));
    int nk = tgc_det_batched_nms(boxes, scores, labels, m, tc->nms_iou, tc->max_per_img, keep);
    res->n = nk;
    res->boxes = tgc_malloc(sizeof(float) * 4 * (size_t)tc->max_per_img);
    res->scores = tgc_malloc(sizeof(float) * (size_t)tc->max_per_img);
    res->labels = tgc_malloc(sizeof(int32_t) * (size_t)tc->max_per_img);
    for (int k = 0; k < nk; k++) {
        memcpy(res->boxes + 4 * k, boxes + 4 * keep[k], sizeof(float) * 4);
        res->scores[k] = scores[keep[k]];
        res->labels[k] = labels[keep[k]];
    }
    free(keep);
}
