/* runtime/data/data_warp.c - cv2.warpAffine on u8 HWC images, bit-exact (see data_warp.h for the scheme).
 *
 * Facts about OpenCV 4.x used here (imgwarp.cpp): AB_BITS = max(10, INTER_BITS) = 10, INTER_BITS = 5,
 * INTER_REMAP_COEF_BITS = 15; a row's start is cvRound((M1 * y + M2) * 1024) plus a rounding offset (512 for
 * nearest, 16 otherwise), a column's step cvRound(M0 * x * 1024); cvRound rounds half to even. The 1-D
 * weight tables are float; their products are rounded half to even to 15 bits. This file is compiled
 * without floating-point contraction (CMakeLists.txt) so the float products round as OpenCV's do.
 */
#include "runtime/data/data_warp.h"

#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

#define AB_BITS 10
#define AB_SCALE (1 << AB_BITS)
#define INTER_BITS 5
#define TAB_SIZE (1 << INTER_BITS)
#define COEF_BITS 15
#define COEF_ONE (1 << COEF_BITS)

/* The 2-D weight tables, indexed by (fy * 32 + fx): 4 taps (bilinear) or 16 (bicubic), row-major. */
static int16_t lin_tab[TAB_SIZE * TAB_SIZE][4];
static int16_t cub_tab[TAB_SIZE * TAB_SIZE][16];
static pthread_once_t tabs_once = PTHREAD_ONCE_INIT;

/* cvRound of a double as the x86 conversion does it: half to even, and INT_MIN for NaN or overflow. */
static int cv_round(double v) {
    if (!(v > (double)INT_MIN - 0.5 && v < (double)INT_MAX + 0.5)) return INT_MIN;
    return (int)lrint(v);
}

static int16_t sat_short(int v) { return (int16_t)(v < SHRT_MIN ? SHRT_MIN : v > SHRT_MAX ? SHRT_MAX : v); }

/* Keys' cubic convolution weights of the four taps around a sub-pixel offset x in [0, 1), A = -0.75, in
 * float as OpenCV evaluates them. */
static void cubic_weights(float x, float k[4]) {
    const float A = -0.75f;
    k[0] = ((A * (x + 1) - 5 * A) * (x + 1) + 8 * A) * (x + 1) - 4 * A;
    k[1] = ((A + 2) * x - (A + 3)) * x * x + 1;
    k[2] = ((A + 2) * (1 - x) - (A + 3)) * (1 - x) * (1 - x) + 1;
    k[3] = 1.f - k[0] - k[1] - k[2];
}

/* One 2-D table entry: the outer product of the 1-D weights, rounded; a sum off 1 << 15 is corrected on
 * the largest (sum too small) or smallest (too large) of the central 2 x 2 taps, the first found winning. */
static void tab_entry(const float *wy, const float *wx, int n, int16_t *out) {
    int sum = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            float v = wy[i] * wx[j];
            out[i * n + j] = sat_short((int)lrintf(v * COEF_ONE));
            sum += out[i * n + j];
        }
    if (sum == COEF_ONE) return;
    int diff = sum - COEF_ONE, c = n / 2, lo = c * n + c, hi = lo;
    for (int i = c; i < c + 2; i++)
        for (int j = c; j < c + 2; j++) {
            int k = i * n + j;
            if (out[k] < out[lo]) lo = k;
            else if (out[k] > out[hi]) hi = k;
        }
    if (diff < 0) out[hi] = (int16_t)(out[hi] - diff);
    else out[lo] = (int16_t)(out[lo] - diff);
}

static void init_tabs(void) {
    float lin[TAB_SIZE][2], cub[TAB_SIZE][4];
    for (int i = 0; i < TAB_SIZE; i++) {
        float x = (float)i * (1.f / TAB_SIZE);
        lin[i][0] = 1.f - x;
        lin[i][1] = x;
        cubic_weights(x, cub[i]);
    }
    for (int fy = 0; fy < TAB_SIZE; fy++)
        for (int fx = 0; fx < TAB_SIZE; fx++) {
            tab_entry(lin[fy], lin[fx], 2, lin_tab[fy * TAB_SIZE + fx]);
            tab_entry(cub[fy], cub[fx], 4, cub_tab[fy * TAB_SIZE + fx]);
        }
}

/* The fixed-point sum of a pixel's taps, rounded and saturated to u8. */
static uint8_t cast_u8(int v) {
    v = (int)(((int64_t)v + (1 << (COEF_BITS - 1))) >> COEF_BITS);
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* One output pixel from an n x n neighbourhood whose top-left tap is (sx, sy); taps outside the source read
 * the border value. */
static void taps(const uint8_t *src, int w, int h, int c, int sx, int sy, int n, const int16_t *wt,
                 const uint8_t *border, uint8_t *d) {
    int sum[4] = {0, 0, 0, 0};
    for (int i = 0; i < n; i++) {
        int y = sy + i;
        int yin = y >= 0 && y < h;
        for (int j = 0; j < n; j++) {
            int x = sx + j, wk = wt[i * n + j];
            if (yin && x >= 0 && x < w) {
                const uint8_t *s = src + ((size_t)y * w + x) * c;
                for (int k = 0; k < c; k++) sum[k] += s[k] * wk;
            } else {
                for (int k = 0; k < c; k++) sum[k] += border[k] * wk;
            }
        }
    }
    for (int k = 0; k < c; k++) d[k] = cast_u8(sum[k]);
}

/* 32-bit wrap-around addition, as OpenCV's int arithmetic behaves on overflow (a matrix mapping pixels
 * millions of pixels away). */
static int add_wrap(int a, int b) { return (int)(uint32_t)((uint32_t)a + (uint32_t)b); }

void tgc_warp_affine_u8(const uint8_t *src, int w, int h, int c, const double M[6], tgc_interp interp,
                        const uint8_t border[4], uint8_t *dst) {
    pthread_once(&tabs_once, init_tabs);
    /* The inverse (dst -> src) matrix, with OpenCV's operation order. */
    double m[6];
    memcpy(m, M, sizeof m);
    double det = m[0] * m[4] - m[1] * m[3];
    det = det != 0 ? 1. / det : 0;
    double a11 = m[4] * det, a22 = m[0] * det;
    m[0] = a11;
    m[1] *= -det;
    m[3] *= -det;
    m[4] = a22;
    double b1 = -m[0] * m[2] - m[1] * m[5];
    double b2 = -m[3] * m[2] - m[4] * m[5];
    m[2] = b1;
    m[5] = b2;

    int *adelta = tgc_malloc(sizeof(int) * 2 * (size_t)w), *bdelta = adelta + w;
    for (int x = 0; x < w; x++) {
        adelta[x] = cv_round(m[0] * x * AB_SCALE);
        bdelta[x] = cv_round(m[3] * x * AB_SCALE);
    }
    int nearest = interp == TGC_INTERP_NEAREST, cubic = interp == TGC_INTERP_BICUBIC;
    int round_delta = nearest ? AB_SCALE / 2 : AB_SCALE / TAB_SIZE / 2;
    for (int y = 0; y < h; y++) {
        int x0 = add_wrap(cv_round((m[1] * y + m[2]) * AB_SCALE), round_delta);
        int y0 = add_wrap(cv_round((m[4] * y + m[5]) * AB_SCALE), round_delta);
        uint8_t *d = dst + (size_t)y * w * c;
        for (int x = 0; x < w; x++, d += c) {
            int X = add_wrap(x0, adelta[x]), Y = add_wrap(y0, bdelta[x]);
            if (nearest) {
                int sx = sat_short(X >> AB_BITS), sy = sat_short(Y >> AB_BITS);
                const uint8_t *s = sx >= 0 && sx < w && sy >= 0 && sy < h ? src + ((size_t)sy * w + sx) * c : border;
                memcpy(d, s, (size_t)c);
                continue;
            }
            X >>= AB_BITS - INTER_BITS;
            Y >>= AB_BITS - INTER_BITS;
            int sx = sat_short(X >> INTER_BITS), sy = sat_short(Y >> INTER_BITS);
            int f = (Y & (TAB_SIZE - 1)) * TAB_SIZE + (X & (TAB_SIZE - 1));
            if (cubic) taps(src, w, h, c, sx - 1, sy - 1, 4, cub_tab[f], border, d);
            else taps(src, w, h, c, sx, sy, 2, lin_tab[f], border, d);
        }
    }
    free(adelta);
}

void tgc_rotation_matrix(double cx, double cy, double angle_deg, double scale, double M[6]) {
    /* cv2 takes the centre as a float point. */
    double x = (float)cx, y = (float)cy;
    double a = angle_deg * (3.1415926535897932384626433832795 / 180);
    double alpha = cos(a) * scale, beta = sin(a) * scale;
    M[0] = alpha;
    M[1] = beta;
    M[2] = (1 - alpha) * x - beta * y;
    M[3] = -beta;
    M[4] = alpha;
    M[5] = beta * x + (1 - alpha) * y;
}
