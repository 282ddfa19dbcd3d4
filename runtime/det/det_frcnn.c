/* runtime/det/det_frcnn.c - Faster R-CNN's test-time post-processing on the host: MMDetection's
 * BBoxHead.predict_by_feat for one image (rescale=True) from the eval program's det_out rows. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/det/det.h"

int tgc_det_rcnn_predict(const tgc_det_test_cfg *tc, const tgc_det_coder_cfg *cc, int num_classes, const float *rows,
                         int64_t n_rows, int64_t row_stride, const float img_hw[2], const float scale_factor[2],
                         tgc_det_result *res, tgc_err *err) {
    memset(res, 0, sizeof *res);
    const int C = num_classes;
    if (C < 1) return tgc_fail(err, "rcnn predict: num_classes %d is not positive", C);
    if (tc->max_per_img < 1) return tgc_fail(err, "rcnn predict: test_cfg.max_per_img %d is not positive", tc->max_per_img);
    if (row_stride < TGC_DET_RCNN_ROW(C))
        return tgc_fail(err, "rcnn predict: row stride %lld is below 4 + 1 + %d + %d", (long long)row_stride, C + 1, 4 * C);
    if (!(scale_factor[0] > 0) || !(scale_factor[1] > 0))
        return tgc_fail(err, "rcnn predict: scale_factor (%g, %g) is not positive", scale_factor[0], scale_factor[1]);
    if (n_rows * C > INT32_MAX) return tgc_fail(err, "rcnn predict: %lld rows of %d classes", (long long)n_rows, C);
    /* multiclass_nms's candidates: (RoI, class) pairs in that order with softmax score > score_thr */
    int cap = 256, m = 0;
    float *boxes = tgc_malloc(sizeof(float) * 4 * (size_t)cap), *scores = tgc_malloc(sizeof(float) * (size_t)cap);
    int32_t *labels = tgc_malloc(sizeof(int32_t) * (size_t)cap);
    float *prob = tgc_malloc(sizeof(float) * (size_t)(C + 1));
    const float inv[2] = {(float)(1.0 / scale_factor[0]), (float)(1.0 / scale_factor[1])};
    for (int64_t r = 0; r < n_rows; r++) {
        const float *row = rows + r * row_stride, *logit = row + 5, *delta = row + 5 + C + 1;
        if (row[4] != 1.0f) continue; /* padding past the image's proposals */
        /* softmax over C + 1 classes (background last), in float with a double sum */
        float mx = logit[0];
        for (int c = 1; c <= C; c++) mx = fmaxf(mx, logit[c]);
        double sum = 0;
        for (int c = 0; c <= C; c++) sum += (double)(prob[c] = expf(logit[c] - mx));
        for (int c = 0; c < C; c++) {
            float s = (float)((double)prob[c] / sum);
            if (!(s > tc->score_thr)) continue;
            if (m == cap) {
                cap *= 2;
                boxes = tgc_realloc(boxes, sizeof(float) * 4 * (size_t)cap);
                scores = tgc_realloc(scores, sizeof(float) * (size_t)cap);
                labels = tgc_realloc(labels, sizeof(int32_t) * (size_t)cap);
            }
            float *b = boxes + 4 * m;
            tgc_det_delta_decode(cc, row, delta + 4 * c, 1, img_hw, b);
            for (int j = 0; j < 4; j++) b[j] *= inv[j & 1];
            scores[m] = s;
            labels[m] = c;
            m++;
        }
    }
    free(prob);
    tgc_det_nms_result(tc, boxes, scores, labels, m, res);
    free(boxes);
    free(scores);
    free(labels);
    return 0;
}
