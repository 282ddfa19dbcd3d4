/* runtime/data/data_geometry.c - cv2 resizing of a region, padded cropping and flipping (u8 HWC). */
#include "runtime/data/data.h"

#include <stdlib.h>
#include <string.h>

void tgc_image_resize_region(const tgc_image *src, int x0, int y0, int rw, int rh, tgc_image *dst, int ow,
                             int oh, int nearest) {
    tgc_image_resample(src, x0, y0, rw, rh, dst, ow, oh, nearest ? TGC_INTERP_NEAREST : TGC_INTERP_BILINEAR,
                       TGC_RESIZE_CV2);
}

/* Maps a coordinate outside [0, n) back inside, or -1 for constant padding. Loops because a pad wider than
 * the image reflects more than once. */
static int map_coord(int i, int n, int mode) {
    if (i >= 0 && i < n) return i;
    if (mode == TGC_PAD_CONSTANT) return -1;
    if (mode == TGC_PAD_EDGE || n == 1) return i < 0 ? 0 : n - 1;
    while (i < 0 || i >= n) {
        if (mode == TGC_PAD_REFLECT) i = i < 0 ? -i : 2 * n - 2 - i;
        else i = i < 0 ? -i - 1 : 2 * n - 1 - i;
    }
    return i;
}

void tgc_image_crop_pad(const tgc_image *src, int x0, int y0, int cw, int ch, int mode, const uint8_t *pad_val,
                        tgc_image *dst) {
    int c = src->c;
    tgc_image_reserve(dst, ch, cw, c);
    int *xm = tgc_malloc(sizeof(int) * (size_t)cw);
    for (int x = 0; x < cw; x++) xm[x] = map_coord(x0 + x, src->w, mode);
    /* The run of output columns whose source is x0 + x itself: copied with one memcpy per row. */
    int lo = TGC_MAX(0, -x0), hi = TGC_MIN(cw, src->w - x0);
    for (int y = 0; y < ch; y++) {
        uint8_t *d = dst->data + (size_t)y * cw * c;
        int sy = map_coord(y0 + y, src->h, mode);
        if (sy < 0) {
            for (int x = 0; x < cw; x++) memcpy(d + (size_t)x * c, pad_val, (size_t)c);
            continue;
        }
        const uint8_t *row = src->data + (size_t)sy * src->w * c;
        for (int x = 0; x < cw; x++) {
            if (x == lo && hi > lo) {
                memcpy(d + (size_t)x * c, row + (size_t)(x0 + x) * c, (size_t)(hi - lo) * c);
                x = hi - 1;
                continue;
            }
            if (xm[x] < 0) memcpy(d + (size_t)x * c, pad_val, (size_t)c);
            else memcpy(d + (size_t)x * c, row + (size_t)xm[x] * c, (size_t)c);
        }
    }
    free(xm);
}

void tgc_image_flip(tgc_image *img, int horizontal, int vertical) {
    int c = img->c, w = img->w, h = img->h;
    size_t stride = (size_t)w * c;
    if (horizontal) {
        for (int y = 0; y < h; y++) {
            uint8_t *row = img->data + y * stride;
            for (int a = 0, b = w - 1; a < b; a++, b--)
                for (int k = 0; k < c; k++) {
                    uint8_t t = row[a * c + k];
                    row[a * c + k] = row[b * c + k];
                    row[b * c + k] = t;
                }
        }
    }
    if (vertical) {
        for (int a = 0, b = h - 1; a < b; a++, b--) {
            uint8_t *ra = img->data + a * stride, *rb = img->data + b * stride;
            for (size_t i = 0; i < stride; i++) {
                uint8_t t = ra[i];
                ra[i] = rb[i];
                rb[i] = t;
            }
        }
    }
}
