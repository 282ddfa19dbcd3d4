/* runtime/data/data_resample.c - mmcv.imresize on u8 HWC images, bit-exact for its cv2 backend (OpenCV 4.x
 * cv2.resize) and its pillow backend (Pillow's Image.resize), nearest, bilinear and bicubic.
 *
 * cv2.resize (OpenCV 4.x resize.cpp): scale = 1 / (out / in) in double; the source coordinate of output
 * pixel d is the float (d + 0.5) * scale - 0.5, split into floor and fraction; 1-D weights are float
 * (bilinear 1 - f, f; bicubic Keys' kernel with A = -0.75) rounded half to even to 11 bits
 * (INTER_RESIZE_COEF_BITS). The horizontal pass keeps exact int sums; the vertical pass rounds to u8 as
 * OpenCV's 128-bit SIMD kernels do for the bulk of a row and as its scalar code does for the rest:
 *   bilinear, blocks of 16 then of 8 while more than 8 remain: ((s0 >> 4) * b0 >> 16) + ((s1 >> 4) * b1 >> 16),
 *     then (v + 2) >> 2; scalar: (s0 * b0 + s1 * b1 + 2^21) >> 22;
 *   bicubic, blocks of 8: float s0 * b0' + (s1 * b1' + (s2 * b2' + s3 * b3')), b' = b / 2^22, rounded half
 *     to even; scalar: the int sum, (v + 2^21) >> 22.
 * Taps outside the source clamp to its edge. Nearest: source index floor(d * scale), at most in - 1.
 *
 * Pillow (libImaging Resample.c): NEAREST is its affine scaling (source index (int) of a coordinate
 * accumulated from scale / 2 by repeated addition of scale = in / out); the others are separable
 * convolutions whose support grows with the downscale factor (support * max(scale, 1)), weights from the
 * filter (bilinear: triangle, support 1; bicubic: Keys' kernel with a = -0.5, support 2) normalised to sum 1,
 * in 22-bit fixed point (rounded half away from zero); each pass rounds to u8 and is skipped when its size
 * does not change. Pillow 13 runs the horizontal pass first unless the vertical one removes more than
 * twice as many rows as the horizontal one removes columns.
 *
 * This file is compiled without floating-point contraction (CMakeLists.txt).
 */
#include "runtime/data/data.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CV_BITS 11
#define CV_ONE (1 << CV_BITS)
#define PIL_BITS 22

static uint8_t clamp_u8(int v) { return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v); }
static int16_t sat_s16(int v) { return (int16_t)(v < SHRT_MIN ? SHRT_MIN : v > SHRT_MAX ? SHRT_MAX : v); }
/* cvRound of a float: half to even. */
static int round_f(float v) { return (int)lrintf(v); }

static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* ---- cv2 ------------------------------------------------------------------------------------------ */

static void cubic_weights(float x, float k[4]) {
    const float A = -0.75f;
    k[0] = ((A * (x + 1) - 5 * A) * (x + 1) + 8 * A) * (x + 1) - 4 * A;
    k[1] = ((A + 2) * x - (A + 3)) * x * x + 1;
    k[2] = ((A + 2) * (1 - x) - (A + 3)) * (1 - x) * (1 - x) + 1;
    k[3] = 1.f - k[0] - k[1] - k[2];
}

/* One axis of cv2's linear or cubic resize: for each output index, the first tap's source index (taps are
 * consecutive; the caller clamps them) and the n fixed-point weights. */
static void cv_axis(int n_in, int n_out, int cubic, int clamp_linear, int *first, int16_t *wt) {
    double scale = 1. / ((double)n_out / n_in);
    int n = cubic ? 4 : 2;
    for (int d = 0; d < n_out; d++) {
        float f = (float)((d + 0.5) * scale - 0.5);
        int s = (int)floorf(f);
        f -= (float)s;
        if (!cubic && clamp_linear) { /* the horizontal pass pins the edges (the vertical one clamps rows) */
            if (s < 0) f = 0, s = 0;
            if (s >= n_in - 1) f = 0, s = n_in - 1;
        }
        float k[4];
        if (cubic) cubic_weights(f, k);
        else k[0] = 1.f - f, k[1] = f;
        for (int i = 0; i < n; i++) wt[d * n + i] = sat_s16(round_f(k[i] * CV_ONE));
        first[d] = cubic ? s - 1 : s;
    }
}

static void cv_nearest(const tgc_image *src, int x0, int y0, int rw, int rh, tgc_image *dst, int ow, int oh) {
    int c = src->c;
    double sx = 1. / ((double)ow / rw), sy = 1. / ((double)oh / rh);
    int *xo = tgc_malloc(sizeof(int) * (size_t)ow);
    for (int x = 0; x < ow; x++) xo[x] = x0 + TGC_MIN((int)floor(x * sx), rw - 1);
    for (int y = 0; y < oh; y++) {
        const uint8_t *row = src->data + (size_t)(y0 + TGC_MIN((int)floor(y * sy), rh - 1)) * src->w * c;
        uint8_t *d = dst->data + (size_t)y * ow * c;
        for (int x = 0; x < ow; x++) memcpy(d + (size_t)x * c, row + (size_t)xo[x] * c, (size_t)c);
    }
    free(xo);
}

/* One output row of the vertical pass from n horizontal rows r[] of width wd (ints). */
static void cv_vertical(const int *const *r, const int16_t *b, int n, int wd, uint8_t *d) {
    if (n == 2) {
        for (int x = 0; x < wd; x++) {
            int v = ((r[0][x] >> 4) * b[0] >> 16) + ((r[1][x] >> 4) * b[1] >> 16);
            d[x] = clamp_u8((v + 2) >> 2);
        }
        return;
    }
    const float scale = 1.f / (CV_ONE * CV_ONE);
    float fb[4];
    for (int k = 0; k < 4; k++) fb[k] = (float)b[k] * scale;
    int x = 0, end = wd / 8 * 8;
    for (; x < end; x++) {
        float v = (float)r[0][x] * fb[0] + ((float)r[1][x] * fb[1] + ((float)r[2][x] * fb[2] + (float)r[3][x] * fb[3]));
        d[x] = clamp_u8(sat_s16(round_f(v)));
    }
    for (; x < wd; x++) {
        int64_t v = 0;
        for (int k = 0; k < 4; k++) v += (int64_t)r[k][x] * b[k];
        d[x] = clamp_u8((int)((v + (1 << 21)) >> 22));
    }
}

/* The bicubic resize of OpenCV's IPP build (opencv-python's wheels hand 8-bit cubic resizes of 1-, 3- and
 * 4-channel sources of at least 4 x 4 pixels to Intel IPP), modelled: double-precision Keys weights
 * (A = -0.75) at the source coordinate (d + 0.5) * in / out - 0.5, rounded to float; a float horizontal pass,
 * then a float vertical pass, each tap sum (p0 + p1) + (p2 + p3); rounded half to even. IPP is closed; this
 * model differs from it by 1 on about one pixel in 100,000 (measured; tests/data/resample). */
static void ipp_axis(int n_in, int n_out, int *first, float *wt) {
    double scale = (double)n_in / n_out;
    for (int d = 0; d < n_out; d++) {
        double f = (d + 0.5) * scale - 0.5, s = floor(f), A = -0.75;
        f -= s;
        double k0 = ((A * (f + 1) - 5 * A) * (f + 1) + 8 * A) * (f + 1) - 4 * A;
        double k1 = ((A + 2) * f - (A + 3)) * f * f + 1;
        double k2 = ((A + 2) * (1 - f) - (A + 3)) * (1 - f) * (1 - f) + 1;
        wt[4 * d] = (float)k0, wt[4 * d + 1] = (float)k1, wt[4 * d + 2] = (float)k2;
        wt[4 * d + 3] = (float)(1 - k0 - k1 - k2);
        first[d] = (int)s - 1;
    }
}

static void ipp_cubic(const tgc_image *src, int x0, int y0, int rw, int rh, tgc_image *dst, int ow, int oh) {
    int c = src->c, wd = ow * c;
    int *xf = tgc_malloc(sizeof(int) * (size_t)(ow + oh)), *yf = xf + ow;
    float *xw = tgc_malloc(sizeof(float) * 4 * (size_t)(ow + oh)), *yw = xw + 4 * (size_t)ow;
    ipp_axis(rw, ow, xf, xw);
    ipp_axis(rh, oh, yf, yw);
    float *h = tgc_malloc(sizeof(float) * (size_t)rh * wd);
    for (int y = 0; y < rh; y++) {
        const uint8_t *row = src->data + ((size_t)(y0 + y) * src->w + x0) * c;
        for (int x = 0; x < ow; x++) {
            const float *a = xw + 4 * (size_t)x;
            for (int k = 0; k < c; k++) {
                float p[4];
                for (int i = 0; i < 4; i++) p[i] = (float)row[(size_t)clampi(xf[x] + i, 0, rw - 1) * c + k] * a[i];
                h[(size_t)y * wd + x * c + k] = (p[0] + p[1]) + (p[2] + p[3]);
            }
        }
    }
    for (int y = 0; y < oh; y++) {
        const float *b = yw + 4 * (size_t)y, *r[4];
        for (int i = 0; i < 4; i++) r[i] = h + (size_t)clampi(yf[y] + i, 0, rh - 1) * wd;
        uint8_t *d = dst->data + (size_t)y * wd;
        for (int x = 0; x < wd; x++) {
            float v = (r[0][x] * b[0] + r[1][x] * b[1]) + (r[2][x] * b[2] + r[3][x] * b[3]);
            d[x] = clamp_u8(round_f(v < -1e9f ? -1e9f : v > 1e9f ? 1e9f : v));
        }
    }
    free(h);
    free(xw);
    free(xf);
}

static void cv_separable(const tgc_image *src, int x0, int y0, int rw, int rh, tgc_image *dst, int ow, int oh,
                         int cubic) {
    int c = src->c, n = cubic ? 4 : 2, wd = ow * c;
    int *xf = tgc_malloc(sizeof(int) * (size_t)(ow + oh));
    int *yf = xf + ow;
    int16_t *xw = tgc_malloc(sizeof(int16_t) * (size_t)n * (size_t)(ow + oh));
    int16_t *yw = xw + (size_t)n * ow;
    cv_axis(rw, ow, cubic, 1, xf, xw);
    cv_axis(rh, oh, cubic, 0, yf, yw);
    /* The horizontal pass of every source row the output reads (a contiguous range, rows clamped). */
    int lo = clampi(yf[0], 0, rh - 1), hi = clampi(yf[oh - 1] + n - 1, 0, rh - 1);
    int *hbuf = tgc_malloc(sizeof(int) * (size_t)(hi - lo + 1) * (size_t)wd);
    for (int y = lo; y <= hi; y++) {
        const uint8_t *row = src->data + ((size_t)(y0 + y) * src->w + x0) * c;
        int *h = hbuf + (size_t)(y - lo) * wd;
        for (int x = 0; x < ow; x++) {
            const int16_t *a = xw + (size_t)x * n;
            for (int k = 0; k < c; k++) {
                int v = 0;
                for (int i = 0; i < n; i++) v += row[(size_t)clampi(xf[x] + i, 0, rw - 1) * c + k] * a[i];
                h[x * c + k] = v;
            }
        }
    }
    for (int y = 0; y < oh; y++) {
        const int *r[4];
        for (int i = 0; i < n; i++) r[i] = hbuf + (size_t)(clampi(yf[y] + i, 0, rh - 1) - lo) * wd;
        cv_vertical(r, yw + (size_t)y * n, n, wd, dst->data + (size_t)y * wd);
    }
    free(hbuf);
    free(xw);
    free(xf);
}

/* ---- Pillow --------------------------------------------------------------------------------------- */

static double pil_filter(double x, int cubic) {
    if (x < 0) x = -x;
    if (!cubic) return x < 1 ? 1 - x : 0;
    const double a = -0.5;
    if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
    if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
    return 0;
}

/* One axis: per output index the first tap and the tap count (bounds) and ksize fixed-point weights. */
static int pil_axis(int n_in, int n_out, int cubic, int **bounds, int **wt) {
    double scale = (double)n_in / n_out, fscale = scale < 1 ? 1 : scale;
    double support = (cubic ? 2.0 : 1.0) * fscale, ss = 1.0 / fscale;
    int ks = (int)ceil(support) * 2 + 1;
    double *k = tgc_malloc(sizeof(double) * (size_t)ks);
    *bounds = tgc_malloc(sizeof(int) * 2 * (size_t)n_out);
    *wt = tgc_calloc((size_t)n_out * ks, sizeof(int));
    for (int o = 0; o < n_out; o++) {
        double center = (o + 0.5) * scale, sum = 0;
        int lo = (int)(center - support + 0.5), hi = (int)(center + support + 0.5);
        if (lo < 0) lo = 0;
        if (hi > n_in) hi = n_in;
        int cnt = hi - lo;
        for (int x = 0; x < cnt; x++) sum += k[x] = pil_filter((x + lo - center + 0.5) * ss, cubic);
        for (int x = 0; x < cnt; x++) {
            double v = sum != 0 ? k[x] / sum : k[x];
            (*wt)[(size_t)o * ks + x] = v < 0 ? (int)(-0.5 + v * (1 << PIL_BITS)) : (int)(0.5 + v * (1 << PIL_BITS));
        }
        (*bounds)[2 * o] = lo;
        (*bounds)[2 * o + 1] = cnt;
    }
    free(k);
    return ks;
}

static uint8_t pil_clip(int v) { return clamp_u8(v >> PIL_BITS); }

static void pil_nearest(const tgc_image *src, int x0, int y0, int rw, int rh, tgc_image *dst, int ow, int oh) {
    int c = src->c;
    double ax = (double)rw / ow, ay = (double)rh / oh;
    int *xi = tgc_malloc(sizeof(int) * (size_t)ow);
    double xo = ax * 0.5, yo = ay * 0.5;
    for (int x = 0; x < ow; x++, xo += ax) xi[x] = xo < 0 ? -1 : (int)xo;
    for (int y = 0; y < oh; y++, yo += ay) {
        int yi = yo < 0 ? -1 : (int)yo;
        uint8_t *d = dst->data + (size_t)y * ow * c;
        for (int x = 0; x < ow; x++) {
            if (yi >= 0 && yi < rh && xi[x] >= 0 && xi[x] < rw)
                memcpy(d + (size_t)x * c, src->data + ((size_t)(y0 + yi) * src->w + x0 + xi[x]) * c, (size_t)c);
            else
                memset(d + (size_t)x * c, 0, (size_t)c); /* Pillow's fill for coordinates that run off */
        }
    }
    free(xi);
}

/* Pillow's horizontal pass: rows of in (stride in elements) to rows of out, ow pixels of c channels each. */
static void pil_hpass(const uint8_t *in, size_t in_stride, int rows, int c, const int *b, const int *w, int ks, int ow,
                      uint8_t *out, size_t out_stride) {
    for (int y = 0; y < rows; y++) {
        const uint8_t *row = in + (size_t)y * in_stride;
        uint8_t *t = out + (size_t)y * out_stride;
        for (int x = 0; x < ow; x++) {
            const int *k = w + (size_t)x * ks;
            const uint8_t *s = row + (size_t)b[2 * x] * c;
            for (int ch = 0; ch < c; ch++) {
                int v = 1 << (PIL_BITS - 1);
                for (int i = 0; i < b[2 * x + 1]; i++) v += s[(size_t)i * c + ch] * k[i];
                t[x * c + ch] = pil_clip(v);
            }
        }
    }
}

/* Pillow's vertical pass: output row y reads rows b[2y] - first .. of in; n elements per row. */
static void pil_vpass(const uint8_t *in, size_t in_stride, int first, const int *b, const int *w, int ks, int oh,
                      size_t n, uint8_t *out, size_t out_stride) {
    for (int y = 0; y < oh; y++) {
        const int *k = w + (size_t)y * ks;
        const uint8_t *s = in + (size_t)(b[2 * y] - first) * in_stride;
        uint8_t *d = out + (size_t)y * out_stride;
        for (size_t x = 0; x < n; x++) {
            int v = 1 << (PIL_BITS - 1);
            for (int i = 0; i < b[2 * y + 1]; i++) v += s[(size_t)i * in_stride + x] * k[i];
            d[x] = pil_clip(v);
        }
    }
}

static void pil_convolve(const tgc_image *src, int x0, int y0, int rw, int rh, tgc_image *dst, int ow, int oh,
                         int cubic) {
    int c = src->c;
    int *xb, *xw, *yb, *yw;
    int kx = pil_axis(rw, ow, cubic, &xb, &xw), ky = pil_axis(rh, oh, cubic, &yb, &yw);
    size_t sstride = (size_t)src->w * c, dstride = (size_t)ow * c;
    const uint8_t *in = src->data + (size_t)y0 * sstride + (size_t)x0 * c;
    if (ow == rw) { /* one pass */
        pil_vpass(in, sstride, 0, yb, yw, ky, oh, (size_t)rw * c, dst->data, dstride);
    } else if (oh == rh) {
        pil_hpass(in, sstride, rh, c, xb, xw, kx, ow, dst->data, dstride);
    } else if (rh - oh > 0 && rh - oh > 2 * (rw - ow)) {
        /* Pillow (13) runs the vertical pass first when it removes more than twice the rows the horizontal pass
         * removes columns (measured against it, and read from its library's code). */
        uint8_t *tmp = tgc_malloc((size_t)oh * rw * c);
        pil_vpass(in, sstride, 0, yb, yw, ky, oh, (size_t)rw * c, tmp, (size_t)rw * c);
        pil_hpass(tmp, (size_t)rw * c, oh, c, xb, xw, kx, ow, dst->data, dstride);
        free(tmp);
    } else { /* horizontal first, over the rows the vertical pass reads */
        int first = yb[0], last = yb[2 * oh - 2] + yb[2 * oh - 1];
        uint8_t *tmp = tgc_malloc((size_t)(last - first) * dstride);
        pil_hpass(in + (size_t)first * sstride, sstride, last - first, c, xb, xw, kx, ow, tmp, dstride);
        pil_vpass(tmp, dstride, first, yb, yw, ky, oh, dstride, dst->data, dstride);
        free(tmp);
    }
    free(xb);
    free(xw);
    free(yb);
    free(yw);
}

/* ---- entry ---------------------------------------------------------------------------------------- */

void tgc_image_resample(const tgc_image *src, int x0, int y0, int rw, int rh, tgc_image *dst, int ow, int oh,
                        tgc_interp interp, int backend) {
    int c = src->c;
    tgc_image_reserve(dst, oh, ow, c);
    if (ow == rw && oh == rh) { /* both libraries copy */
        for (int y = 0; y < oh; y++)
            memcpy(dst->data + (size_t)y * ow * c, src->data + ((size_t)(y0 + y) * src->w + x0) * c, (size_t)ow * c);
        return;
    }
    if (backend == TGC_RESIZE_PILLOW) {
        if (interp == TGC_INTERP_NEAREST) pil_nearest(src, x0, y0, rw, rh, dst, ow, oh);
        else pil_convolve(src, x0, y0, rw, rh, dst, ow, oh, interp == TGC_INTERP_BICUBIC);
    } else {
        if (interp == TGC_INTERP_NEAREST) cv_nearest(src, x0, y0, rw, rh, dst, ow, oh);
        else if (interp == TGC_INTERP_BICUBIC && rw >= 4 && rh >= 4 && c != 2)
            ipp_cubic(src, x0, y0, rw, rh, dst, ow, oh);
        else cv_separable(src, x0, y0, rw, rh, dst, ow, oh, interp == TGC_INTERP_BICUBIC);
    }
}
