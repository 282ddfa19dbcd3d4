/* runtime/data/data_augops.c - the pixel kernels of RandAugment's operations: mmcv 2.x's photometric functions
 * (and cutout) on u8 HWC images, in their numpy/cv2 float order (see data_randaug.h).
 *
 * Compiled with -ffp-contract=off: the float expressions below are mmcv's arithmetic operation by operation;
 * where cv2 fuses a multiply-add, fma()/fmaf() say so explicitly. */
#include "runtime/data/data_randaug.h"

#include <math.h>
#include <string.h>

void tgc_augop_invert(tgc_image *img) {
    size_t n = (size_t)img->h * img->w * img->c;
    for (size_t i = 0; i < n; i++) img->data[i] = (uint8_t)(255 - img->data[i]);
}

/* mmcv.solarize: np.where(img < thr, img, 255 - img); the comparison is exact in float64. */
void tgc_augop_solarize(tgc_image *img, double thr) {
    size_t n = (size_t)img->h * img->w * img->c;
    for (size_t i = 0; i < n; i++)
        if (!(img->data[i] < thr)) img->data[i] = (uint8_t)(255 - img->data[i]);
}

/* np.where(img < thr, np.minimum(img + magnitude, 255), img).astype(uint8) under numpy 1.x's value-based
 * casting: an int magnitude 0..255 adds in uint8 (wrapping), another int in a wider integer type; a float
 * adds in float64 and the cast truncates (a negative sum wraps as C's conversion through an integer does). */
void tgc_augop_solarize_add(tgc_image *img, double mag, int mag_int, double thr) {
    size_t n = (size_t)img->h * img->w * img->c;
    for (size_t i = 0; i < n; i++) {
        int x = img->data[i];
        if (!(x < thr)) continue;
        if (mag_int) {
            int64_t m = (int64_t)mag, v = x + m;
            v = m >= 0 && m <= 255 ? (v & 255) : TGC_MIN(v, 255);
            img->data[i] = (uint8_t)(v & 255);
        } else {
            double v = TGC_MIN((double)x + mag, 255.0);
            img->data[i] = (uint8_t)(int64_t)v;
        }
    }
}

/* mmcv.posterize with bits = ceil(bits): (img >> shift) << shift, shift = 8 - bits; numpy gives 0 for a
 * shift outside 0..7 (bits <= 0 or > 8). */
void tgc_augop_posterize(tgc_image *img, double bits) {
    double b = ceil(bits);
    int shift = b >= 1 && b <= 8 ? 8 - (int)b : -1;
    size_t n = (size_t)img->h * img->w * img->c;
    for (size_t i = 0; i < n; i++)
        img->data[i] = shift < 0 ? 0 : (uint8_t)((img->data[i] >> shift) << shift);
}

static void histogram(const tgc_image *img, int c, int64_t hist[256]) {
    memset(hist, 0, 256 * sizeof *hist);
    size_t n = (size_t)img->h * img->w;
    for (size_t i = 0; i < n; i++) hist[img->data[i * img->c + c]]++;
}

static void apply_lut(tgc_image *img, int c, const uint8_t lut[256]) {
    size_t n = (size_t)img->h * img->w;
    for (size_t i = 0; i < n; i++) img->data[i * img->c + c] = lut[img->data[i * img->c + c]];
}

/* mmcv.imequalize, per channel: step = (pixels - count of the last occupied bin) // 255; lut[i] =
 * (cumsum[i - 1] + step // 2) // step (lut[0] = 0), capped at 255; step 0 leaves the channel. */
void tgc_augop_equalize(tgc_image *img) {
    for (int c = 0; c < img->c; c++) {
        int64_t hist[256], total = 0, last = 0;
        histogram(img, c, hist);
        for (int i = 0; i < 256; i++) {
            total += hist[i];
            if (hist[i]) last = hist[i];
        }
        int64_t step = (total - last) / 255;
        if (!step) continue;
        uint8_t lut[256];
        int64_t cum = 0;
        lut[0] = 0;
        for (int i = 1; i < 256; i++) {
            cum += hist[i - 1];
            lut[i] = (uint8_t)TGC_MIN((cum + step / 2) / step, 255);
        }
        apply_lut(img, c, lut);
    }
}

/* mmcv.auto_contrast (cutoff 0), per channel: lut = i * (255 / (high - low)) + (-low * scale) in float64,
 * clipped to 0..255 and truncated; a constant channel is left as it is. */
void tgc_augop_autocontrast(tgc_image *img) {
    for (int c = 0; c < img->c; c++) {
        int64_t hist[256];
        histogram(img, c, hist);
        int low = 0, high = 255;
        while (low < 256 && !hist[low]) low++;
        while (high >= 0 && !hist[high]) high--;
        if (low >= high) continue;
        double scale = 255.0 / (high - low), offset = -(double)low * scale;
        uint8_t lut[256];
        for (int i = 0; i < 256; i++) {
            double v = (double)i * scale;
            v = v + offset;
            lut[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
        apply_lut(img, c, lut);
    }
}

/* cv2.cvtColor(BGR2GRAY) on u8: 15-bit fixed-point weights of ITU-R 601 (OpenCV 4.x's RGB2Gray<uchar>:
 * 3735 B + 19235 G + 9798 R, rounded); a grey image is its own grey. */
static uint8_t gray_at(const uint8_t *p, int c) {
    if (c < 3) return p[0];
    return (uint8_t)((p[0] * 3735 + p[1] * 19235 + p[2] * 9798 + (1 << 14)) >> 15);
}

/* The blend of mmcv's adjust_brightness/contrast/sharpness: cv2.addWeighted on float32 images (OpenCV
 * computes it in double with fused multiply-adds: fma(a, alpha, b * beta)), rounded to float32, clipped to
 * 0..255 by numpy and truncated by astype(uint8). */
static uint8_t blend_f32(int a, int b, double alpha, double beta) {
    float r = (float)fma((double)a, alpha, (double)b * beta);
    if (r < 0) r = 0;
    if (r > 255) r = 255;
    return (uint8_t)r;
}

void tgc_augop_brightness(tgc_image *img, double factor) {
    size_t n = (size_t)img->h * img->w * img->c;
    for (size_t i = 0; i < n; i++) img->data[i] = blend_f32(img->data[i], 0, factor, 1 - factor);
}

/* mmcv.adjust_contrast: the grey image's mean, rounded half to even, is the degenerate image. */
void tgc_augop_contrast(tgc_image *img, double factor) {
    size_t n = (size_t)img->h * img->w;
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++) sum += gray_at(img->data + i * img->c, img->c);
    double mean = rint((double)sum / (double)n);
    int m = (int)mean;
    for (size_t i = 0; i < n * img->c; i++) img->data[i] = blend_f32(img->data[i], m, factor, 1 - factor);
}

/* mmcv.adjust_color: cv2.addWeighted(img, alpha, grey, 1 - alpha, 0) on u8 images: float32 weights,
 * fmaf(img, alpha, grey * beta), rounded half to even and saturated. */
void tgc_augop_color(tgc_image *img, double alpha) {
    float fa = (float)alpha, fb = (float)(1 - alpha);
    size_t n = (size_t)img->h * img->w;
    for (size_t i = 0; i < n; i++) {
        uint8_t *p = img->data + i * img->c;
        float g = (float)gray_at(p, img->c) * fb;
        for (int c = 0; c < img->c; c++) {
            float r = rintf(fmaf((float)p[c], fa, g));
            p[c] = (uint8_t)(r < 0 ? 0 : r > 255 ? 255 : r);
        }
    }
}

static int reflect101(int i, int n) {
    if (n == 1) return 0;
    if (i < 0) return -i;
    if (i >= n) return 2 * n - 2 - i;
    return i;
}

/* mmcv.adjust_sharpness: the degenerate image is cv2.filter2D with PIL's SMOOTH kernel [[1 1 1] [1 5 1]
 * [1 1 1]] / 13 and reflect-101 borders, rounded to u8 (T / 13 is never within float error of a half, so
 * integer rounding of T = the weighted sum gives cv2's value); then the float32 blend. */
void tgc_augop_sharpness(tgc_image *img, tgc_image *scratch, double factor) {
    int h = img->h, w = img->w, cn = img->c;
    tgc_image_reserve(scratch, h, w, cn);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < cn; c++) {
                int t = 0;
                for (int dy = -1; dy <= 1; dy++)
                    for (int dx = -1; dx <= 1; dx++)
                        t += img->data[((size_t)reflect101(y + dy, h) * w + reflect101(x + dx, w)) * cn + c];
                t += 4 * img->data[((size_t)y * w + x) * cn + c];
                scratch->data[((size_t)y * w + x) * cn + c] = (uint8_t)((2 * t + 13) / 26);
            }
    size_t n = (size_t)h * w * cn;
    for (size_t i = 0; i < n; i++) img->data[i] = blend_f32(img->data[i], scratch->data[i], factor, 1 - factor);
}

void tgc_aug_cutout_at(tgc_image *img, int cut_h, int cut_w, double y0, double x0, const uint8_t pad[4]) {
    int h = img->h, w = img->w;
    int y1 = (int)TGC_MAX(0.0, y0 - cut_h / 2.0), x1 = (int)TGC_MAX(0.0, x0 - cut_w / 2.0);
    int y2 = TGC_MIN(h, y1 + cut_h), x2 = TGC_MIN(w, x1 + cut_w);
    for (int y = y1; y < y2; y++)
        for (int x = x1; x < x2; x++)
            for (int c = 0; c < img->c; c++) img->data[((size_t)y * w + x) * img->c + c] = pad[c];
}
