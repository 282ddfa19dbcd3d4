/* runtime/det/det_boxes.c - box overlaps and the DeltaXYWH box coder, in float32 with MMDetection's order of
 * operations (so results match its CPU tensors to the last bit or nearly so). */
#include <math.h>

#include "runtime/det/det.h"

#define DET_EPS 1e-6f

static float area(const float *b) {
    return (b[2] - b[0]) * (b[3] - b[1]);
}

static float inter(const float *a, const float *b) {
    float w = fminf(a[2], b[2]) - fmaxf(a[0], b[0]);
    float h = fminf(a[3], b[3]) - fmaxf(a[1], b[1]);
    w = w > 0 ? w : 0;
    h = h > 0 ? h : 0;
    return w * h;
}

float tgc_det_iou(const float *a, const float *b) {
    float ov = inter(a, b);
    float uni = area(a) + area(b) - ov;
    return ov / (uni > DET_EPS ? uni : DET_EPS);
}

void tgc_det_overlaps(const float *a, int64_t n, const float *b, int64_t m, tgc_det_overlap_mode mode, float *out) {
    for (int64_t i = 0; i < n; i++) {
        const float *ai = a + 4 * i;
        float aa = area(ai);
        for (int64_t j = 0; j < m; j++) {
            if (mode == TGC_DET_IOU) {
                out[i * m + j] = tgc_det_iou(ai, b + 4 * j);
            } else {
                float ov = inter(ai, b + 4 * j);
                out[i * m + j] = ov / (aa > DET_EPS ? aa : DET_EPS);
            }
        }
    }
}

void tgc_det_coder_cfg_default(tgc_det_coder_cfg *c) {
    *c = (tgc_det_coder_cfg){.means = {0, 0, 0, 0},
                             .stds = {1, 1, 1, 1},
                             .wh_ratio_clip = 16.0 / 1000.0,
                             .clip_border = 1,
                             .add_ctr_clamp = 0,
                             .ctr_clamp = 32};
}

void tgc_det_delta_encode(const tgc_det_coder_cfg *c, const float *priors, const float *gts, int64_t n, float *deltas) {
    for (int64_t i = 0; i < n; i++) {
        const float *p = priors + 4 * i, *g = gts + 4 * i;
        float px = (p[0] + p[2]) * 0.5f, py = (p[1] + p[3]) * 0.5f;
        float pw = p[2] - p[0], ph = p[3] - p[1];
        float gx = (g[0] + g[2]) * 0.5f, gy = (g[1] + g[3]) * 0.5f;
        float gw = g[2] - g[0], gh = g[3] - g[1];
        float d[4] = {(gx - px) / pw, (gy - py) / ph, logf(gw / pw), logf(gh / ph)};
        for (int k = 0; k < 4; k++) deltas[4 * i + k] = (d[k] - c->means[k]) / c->stds[k];
    }
}

static float clampf(float v, float lo, float hi) {
    return v < lo ? lo : v > hi ? hi : v;
}

void tgc_det_delta_decode(const tgc_det_coder_cfg *c, const float *priors, const float *deltas, int64_t n,
                          const float *max_hw, float *boxes) {
    float max_ratio = (float)fabs(log(c->wh_ratio_clip));
    float ctr = (float)c->ctr_clamp;
    for (int64_t i = 0; i < n; i++) {
        const float *p = priors + 4 * i, *d = deltas + 4 * i;
        float dn[4];
        for (int k = 0; k < 4; k++) dn[k] = d[k] * c->stds[k] + c->means[k];
        float pxy[2] = {(p[0] + p[2]) * 0.5f, (p[1] + p[3]) * 0.5f};
        float pwh[2] = {p[2] - p[0], p[3] - p[1]};
        float out[4];
        for (int k = 0; k < 2; k++) {
            float shift = pwh[k] * dn[k];
            float dwh = dn[2 + k];
            if (c->add_ctr_clamp) {
                shift = clampf(shift, -ctr, ctr);
                dwh = dwh > max_ratio ? max_ratio : dwh;
            } else {
                dwh = clampf(dwh, -max_ratio, max_ratio);
            }
            float g = pxy[k] + shift;
            float gwh = pwh[k] * expf(dwh);
            out[k] = g - gwh * 0.5f;
            out[2 + k] = g + gwh * 0.5f;
        }
        if (c->clip_border && max_hw) {
            for (int k = 0; k < 4; k++) out[k] = clampf(out[k], 0, max_hw[(k & 1) ? 0 : 1]);
        }
        for (int k = 0; k < 4; k++) boxes[4 * i + k] = out[k];
    }
}
