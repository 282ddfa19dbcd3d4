/* runtime/data/data_image.c - u8 HWC image buffers and JPEG (libjpeg-turbo) / PNG (libpng) decoding. */
#include "runtime/data/data.h"

#include <jpeglib.h>
#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SIDE 16384
#define MAX_PIXELS (1u << 28)

void tgc_image_reserve(tgc_image *img, int h, int w, int c) {
    size_t need = (size_t)h * (size_t)w * (size_t)c;
    if (need > img->cap) {
        free(img->data);
        img->data = tgc_malloc(need);
        img->cap = need;
    }
    img->h = h;
    img->w = w;
    img->c = c;
}

void tgc_image_free(tgc_image *img) {
    free(img->data);
    memset(img, 0, sizeof *img);
}

static int check_dims(const char *name, long w, long h, tgc_err *err) {
    if (w < 1 || h < 1 || w > MAX_SIDE || h > MAX_SIDE || (uint64_t)w * (uint64_t)h > MAX_PIXELS)
        return tgc_fail(err, "%s: image size %ldx%ld is outside the supported range (1..%d per side, %u pixels)",
                        name, w, h, MAX_SIDE, MAX_PIXELS);
    return 0;
}

/* Converts img between 1 (grey) and 3 (BGR) channels in place; grey from colour uses ITU-R 601 luma,
 * as OpenCV (and so mmcv) does. */
static void convert_channels(tgc_image *img, int channels) {
    size_t n = (size_t)img->h * img->w;
    if (img->c == channels) return;
    if (channels == 1) {
        uint8_t *p = img->data;
        for (size_t i = 0; i < n; i++) {
            unsigned b = p[3 * i], g = p[3 * i + 1], r = p[3 * i + 2];
            p[i] = (uint8_t)((299 * r + 587 * g + 114 * b + 500) / 1000);
        }
        img->c = 1;
    } else {
        if (n * 3 > img->cap) {
            uint8_t *d = tgc_malloc(n * 3);
            memcpy(d, img->data, n);
            free(img->data);
            img->data = d;
            img->cap = n * 3;
        }
        uint8_t *p = img->data;
        for (size_t i = n; i-- > 0;) p[3 * i] = p[3 * i + 1] = p[3 * i + 2] = p[i]; /* backwards: no overlap */
        img->c = 3;
    }
}

/* ---- JPEG ---------------------------------------------------------------------------------------- */

typedef struct jpeg_fail {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    char msg[JMSG_LENGTH_MAX];
} jpeg_fail;

static void jpeg_on_error(j_common_ptr cinfo) {
    jpeg_fail *f = (jpeg_fail *)cinfo->err;
    f->pub.format_message(cinfo, f->msg);
    longjmp(f->jump, 1);
}

/* libjpeg only warns about corrupt or truncated data and fills the rest with grey; a training sample
 * silently half grey is worse than an error, so warnings are errors here. */
static void jpeg_on_message(j_common_ptr cinfo, int level) {
    if (level < 0) jpeg_on_error(cinfo);
}

static int decode_jpeg(const uint8_t *data, size_t len, const char *name, int channels, tgc_image *img,
                       tgc_err *err) {
    struct jpeg_decompress_struct cinfo;
    jpeg_fail fail;
    memset(&cinfo, 0, sizeof cinfo);
    cinfo.err = jpeg_std_error(&fail.pub);
    fail.pub.error_exit = jpeg_on_error;
    fail.pub.emit_message = jpeg_on_message;
    fail.msg[0] = 0;
    if (setjmp(fail.jump)) {
        jpeg_destroy_decompress(&cinfo);
        return tgc_fail(err, "%s: corrupt JPEG: %s", name, fail.msg);
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, (unsigned long)len);
    jpeg_read_header(&cinfo, TRUE);
    if (check_dims(name, (long)cinfo.image_width, (long)cinfo.image_height, err)) {
        jpeg_destroy_decompress(&cinfo);
        return -1;
    }
    cinfo.out_color_space = channels == 1 ? JCS_GRAYSCALE : JCS_EXT_BGR;
    jpeg_start_decompress(&cinfo);
    int w = (int)cinfo.output_width, h = (int)cinfo.output_height, c = cinfo.output_components;
    tgc_image_reserve(img, h, w, c);
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = img->data + (size_t)cinfo.output_scanline * w * c;
        jpeg_read_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    convert_channels(img, channels);
    return 0;
}

/* ---- PNG ----------------------------------------------------------------------------------------- */

typedef struct png_src {
    const uint8_t *data;
    size_t len, pos;
    char msg[256];
} png_src;

static void png_on_error(png_structp png, png_const_charp msg) {
    png_src *s = png_get_error_ptr(png);
    snprintf(s->msg, sizeof s->msg, "%s", msg);
    png_longjmp(png, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg) { /* ancillary-chunk noise: ignored */ }

static void png_read_mem(png_structp png, png_bytep out, png_size_t n) {
    png_src *s = png_get_io_ptr(png);
    if (n > s->len - s->pos) png_error(png, "file is truncated");
    memcpy(out, s->data + s->pos, n);
    s->pos += n;
}

static int decode_png(const uint8_t *data, size_t len, const char *name, int channels, tgc_image *img,
                      tgc_err *err) {
    png_src src = {data, len, 0, ""};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, png_on_error, png_on_warning);
    if (!png) return tgc_fail(err, "%s: cannot create a PNG reader", name);
    png_infop info = png_create_info_struct(png);
    png_bytep *volatile rows = NULL; /* volatile: freed after a longjmp */
    if (!info || setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, info ? &info : NULL, NULL);
        free(rows);
        return tgc_fail(err, "%s: corrupt PNG: %s", name, src.msg[0] ? src.msg : "cannot read");
    }
    png_set_read_fn(png, &src, png_read_mem);
    png_set_user_limits(png, MAX_SIDE, MAX_SIDE);
    png_read_info(png, info);
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    int color = png_get_color_type(png, info);
    if (check_dims(name, (long)w, (long)h, err)) {
        png_destroy_read_struct(&png, &info, NULL);
        return -1;
    }
    /* Normalise every PNG flavour to 8-bit grey or BGR, dropping alpha as cv2.IMREAD_COLOR does. */
    png_set_expand(png);
    png_set_strip_16(png);
    png_set_strip_alpha(png);
    int native = (color & PNG_COLOR_MASK_COLOR) ? 3 : 1;
    if (native == 3) png_set_bgr(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    if (png_get_rowbytes(png, info) != (size_t)w * native) png_error(png, "unexpected row layout");
    tgc_image_reserve(img, (int)h, (int)w, native);
    rows = tgc_malloc(sizeof(png_bytep) * h);
    for (png_uint_32 y = 0; y < h; y++) rows[y] = img->data + (size_t)y * w * native;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    png_destroy_read_struct(&png, &info, NULL);
    free(rows);
    convert_channels(img, channels);
    return 0;
}

int tgc_image_decode(const uint8_t *data, size_t len, const char *name, int channels, tgc_image *img,
                     tgc_err *err) {
    static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (channels != 1 && channels != 3) return tgc_fail(err, "%s: cannot decode to %d channels", name, channels);
    if (len >= 8 && memcmp(data, png_sig, 8) == 0) return decode_png(data, len, name, channels, img, err);
    if (len >= 3 && data[0] == 0xff && data[1] == 0xd8 && data[2] == 0xff)
        return decode_jpeg(data, len, name, channels, img, err);
    return tgc_fail(err, "%s: not a JPEG or PNG image (%zu bytes, unrecognised signature)", name, len);
}

int tgc_image_load(const char *path, int channels, tgc_image *img, tgc_err *err) {
    uint8_t *data;
    size_t len;
    if (tgc_read_file(path, (size_t)256 << 20, &data, &len, err)) return -1;
    int rc = tgc_image_decode(data, len, path, channels, img, err);
    free(data);
    return rc;
}
