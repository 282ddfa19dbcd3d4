/* tests/unit/test_data_image.c - PNG/JPEG decoding of images the test writes, and CustomDataset. */
#define _GNU_SOURCE
#include <check.h>
#include <stdio.h> /* before jpeglib.h, which needs FILE */
#include <jpeglib.h>
#include <png.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "runtime/data/data.h"
#include "test_util.h"

static char *tmpdir;

static void make_tmpdir(void) { tmpdir = test_tmpdir(TGC_BINARY_DIR "/tests", "data_image"); }

static void remove_tmpdir(void) {
    test_rm_tree(tmpdir);
    free(tmpdir);
}

/* A w x h image in the given PNG format with pixel (x, y) channel k = (x * 40 + y * 10 + k * 3) & 255. */
static uint8_t pattern(int x, int y, int k) { return (uint8_t)((x * 40 + y * 10 + k * 3) & 255); }

static void write_png(const char *path, int w, int h, png_uint_32 format) {
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    im.width = (png_uint_32)w;
    im.height = (png_uint_32)h;
    im.format = format;
    int c = PNG_IMAGE_SAMPLE_CHANNELS(format);
    uint8_t *px = tgc_malloc((size_t)w * h * c);
    uint8_t cmap[256 * 3];
    if (format & PNG_FORMAT_FLAG_COLORMAP) { /* palette entry i = (i, 255 - i, 7) in RGB, pixels index i */
        c = 1;
        im.colormap_entries = 256;
        for (int i = 0; i < 256; i++) cmap[3 * i] = (uint8_t)i, cmap[3 * i + 1] = (uint8_t)(255 - i), cmap[3 * i + 2] = 7;
    }
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int k = 0; k < c; k++) px[((size_t)y * w + x) * c + k] = pattern(x, y, k);
    ck_assert_msg(png_image_write_to_file(&im, path, 0, px, 0, cmap), "%s", im.message);
    free(px);
}

/* A JPEG of flat 16x16 blocks (JPEG keeps their centres nearly exactly, 4:2:0 chroma included): block (bx, by)
 * has RGB (bx*60, by*60, 100). */
static void write_jpeg(const char *path, int w, int h, int gray) {
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr jerr;
    c.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&c);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    jpeg_stdio_dest(&c, f);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = gray ? 1 : 3;
    c.in_color_space = gray ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 100, TRUE);
    jpeg_start_compress(&c, TRUE);
    uint8_t *row = tgc_malloc((size_t)w * 3);
    while (c.next_scanline < c.image_height) {
        int y = (int)c.next_scanline;
        for (int x = 0; x < w; x++) {
            uint8_t rgb[3] = {(uint8_t)(x / 16 * 60), (uint8_t)(y / 16 * 60), 100};
            if (gray) row[x] = rgb[0];
            else memcpy(row + 3 * x, rgb, 3);
        }
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    fclose(f);
    free(row);
}

static int near(int a, int b, int tol) { return abs(a - b) <= tol; }

START_TEST(png_formats) {
    make_tmpdir();
    tgc_err err;
    tgc_image img = {0};
    char *p = tgc_asprintf("%s/rgb.png", tmpdir);
    write_png(p, 5, 3, PNG_FORMAT_RGB);
    ck_assert_msg(tgc_image_load(p, 3, &img, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(img.w, 5);
    ck_assert_int_eq(img.h, 3);
    ck_assert_int_eq(img.c, 3);
    /* BGR order: byte 0 is blue (channel 2 of the RGB file). */
    uint8_t *px = img.data + ((size_t)2 * 5 + 4) * 3;
    ck_assert_uint_eq(px[0], pattern(4, 2, 2));
    ck_assert_uint_eq(px[1], pattern(4, 2, 1));
    ck_assert_uint_eq(px[2], pattern(4, 2, 0));
    /* Grey from colour: ITU-R 601 luma. */
    ck_assert_int_eq(tgc_image_load(p, 1, &img, &err), 0);
    ck_assert_int_eq(img.c, 1);
    int want = (299 * pattern(1, 1, 0) + 587 * pattern(1, 1, 1) + 114 * pattern(1, 1, 2) + 500) / 1000;
    ck_assert_int_eq(img.data[1 * 5 + 1], want);
    free(p);

    p = tgc_asprintf("%s/rgba.png", tmpdir);
    write_png(p, 4, 4, PNG_FORMAT_RGBA);
    ck_assert_msg(tgc_image_load(p, 3, &img, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(img.c, 3); /* alpha dropped, colour kept as stored */
    ck_assert_uint_eq(img.data[(3 * 4 + 3) * 3 + 2], pattern(3, 3, 0));
    free(p);

    p = tgc_asprintf("%s/gray.png", tmpdir);
    write_png(p, 6, 2, PNG_FORMAT_GRAY);
    ck_assert_int_eq(tgc_image_load(p, 1, &img, &err), 0);
    ck_assert_int_eq(img.c, 1);
    ck_assert_uint_eq(img.data[1 * 6 + 5], pattern(5, 1, 0));
    ck_assert_int_eq(tgc_image_load(p, 3, &img, &err), 0); /* grey replicated into B, G, R */
    ck_assert_int_eq(img.c, 3);
    for (int k = 0; k < 3; k++) ck_assert_uint_eq(img.data[(1 * 6 + 5) * 3 + k], pattern(5, 1, 0));
    free(p);

    p = tgc_asprintf("%s/palette.png", tmpdir);
    write_png(p, 4, 3, PNG_FORMAT_RGB_COLORMAP);
    ck_assert_msg(tgc_image_load(p, 3, &img, &err) == 0, "%s", err.msg);
    int i = pattern(2, 1, 0);
    ck_assert_uint_eq(img.data[(1 * 4 + 2) * 3 + 0], 7);
    ck_assert_uint_eq(img.data[(1 * 4 + 2) * 3 + 1], 255 - i);
    ck_assert_uint_eq(img.data[(1 * 4 + 2) * 3 + 2], i);
    free(p);
    tgc_image_free(&img);
    remove_tmpdir();
}
END_TEST

START_TEST(jpeg_decode) {
    make_tmpdir();
    tgc_err err;
    tgc_image img = {0};
    char *p = tgc_asprintf("%s/a.jpg", tmpdir);
    write_jpeg(p, 32, 24, 0);
    ck_assert_msg(tgc_image_load(p, 3, &img, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(img.w, 32);
    ck_assert_int_eq(img.h, 24);
    ck_assert_int_eq(img.c, 3);
    for (int y = 4; y < 24; y += 16)
        for (int x = 4; x < 32; x += (x % 16 == 4 ? 7 : 9)) { /* block centres: x = 4, 11, 20, 27 */
            uint8_t *px = img.data + ((size_t)y * 32 + x) * 3;
            ck_assert_msg(near(px[2], x / 16 * 60, 3) && near(px[1], y / 16 * 60, 3) && near(px[0], 100, 3),
                          "(%d,%d): BGR %d %d %d", x, y, px[0], px[1], px[2]);
        }
    free(p);
    p = tgc_asprintf("%s/g.jpeg", tmpdir);
    write_jpeg(p, 16, 16, 1);
    ck_assert_msg(tgc_image_load(p, 3, &img, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(img.c, 3);
    ck_assert(near(img.data[(9 * 16 + 12) * 3 + 1], 0, 2));
    write_jpeg(p, 40, 16, 1);
    ck_assert_int_eq(tgc_image_load(p, 3, &img, &err), 0);
    ck_assert(near(img.data[(9 * 40 + 20) * 3 + 1], 60, 2));
    ck_assert_int_eq(tgc_image_load(p, 1, &img, &err), 0);
    ck_assert_int_eq(img.c, 1);
    ck_assert(near(img.data[9 * 40 + 3], 0, 2));
    ck_assert(near(img.data[9 * 40 + 37], 120, 2));
    free(p);
    tgc_image_free(&img);
    remove_tmpdir();
}
END_TEST

/* Writes the first `keep` bytes of src (optionally with byte `flip` inverted) to dst. */
static void damaged_copy(const char *src, const char *dst, size_t keep, long flip) {
    uint8_t *d;
    size_t n;
    tgc_err err;
    ck_assert_int_eq(tgc_read_file(src, 1 << 20, &d, &n, &err), 0);
    if (keep > n) keep = n;
    if (flip >= 0) d[flip] ^= 0xff;
    ck_assert_int_eq(tgc_write_file_atomic(dst, d, keep, &err), 0);
    free(d);
}

START_TEST(corrupt_images_refused) {
    make_tmpdir();
    tgc_err err;
    tgc_image img = {0};
    char *png = tgc_asprintf("%s/ok.png", tmpdir), *jpg = tgc_asprintf("%s/ok.jpg", tmpdir);
    char *bad = tgc_asprintf("%s/bad.img", tmpdir);
    write_png(png, 40, 30, PNG_FORMAT_RGB);
    write_jpeg(jpg, 64, 64, 0);
    struct stat st;
    ck_assert_int_eq(stat(png, &st), 0);
    damaged_copy(png, bad, (size_t)st.st_size / 2, -1);
    ck_assert_int_eq(tgc_image_load(bad, 3, &img, &err), -1);
    ck_assert_msg(strstr(err.msg, bad) && strstr(err.msg, "corrupt PNG"), "%s", err.msg);
    damaged_copy(png, bad, (size_t)st.st_size, 60); /* inside the first chunk's data: CRC mismatch */
    ck_assert_int_eq(tgc_image_load(bad, 3, &img, &err), -1);
    ck_assert_msg(strstr(err.msg, "corrupt PNG"), "%s", err.msg);
    ck_assert_int_eq(stat(jpg, &st), 0);
    damaged_copy(jpg, bad, (size_t)st.st_size * 2 / 3, -1);
    ck_assert_int_eq(tgc_image_load(bad, 3, &img, &err), -1);
    ck_assert_msg(strstr(err.msg, bad) && strstr(err.msg, "corrupt JPEG"), "%s", err.msg);
    damaged_copy(jpg, bad, 40, -1);
    ck_assert_int_eq(tgc_image_load(bad, 3, &img, &err), -1);
    ck_assert_msg(strstr(err.msg, "corrupt JPEG"), "%s", err.msg);
    ck_assert_int_eq(tgc_write_file_atomic(bad, "GIF89a....", 10, &err), 0);
    ck_assert_int_eq(tgc_image_load(bad, 3, &img, &err), -1);
    ck_assert_msg(strstr(err.msg, "not a JPEG or PNG"), "%s", err.msg);
    ck_assert_int_eq(tgc_write_file_atomic(bad, "", 0, &err), 0);
    ck_assert_int_eq(tgc_image_load(bad, 3, &img, &err), -1);
    free(png);
    free(jpg);
    free(bad);
    tgc_image_free(&img);
    remove_tmpdir();
}
END_TEST

static char *mkpath(const char *rel) {
    char *p = tgc_asprintf("%s/%s", tmpdir, rel);
    return p;
}

static void mkdir_rel(const char *rel) {
    char *p = mkpath(rel);
    ck_assert_int_eq(mkdir(p, 0755), 0);
    free(p);
}

START_TEST(custom_dataset_folders_and_ann_file) {
    make_tmpdir();
    mkdir_rel("imgs");
    mkdir_rel("imgs/dog");
    mkdir_rel("imgs/cat");
    mkdir_rel("imgs/cat/sub");
    mkdir_rel("imgs/.hidden");
    const char *pngs[] = {"imgs/dog/b.png", "imgs/dog/A.PNG", "imgs/cat/z.png", "imgs/cat/sub/m.png", "imgs/.hidden/x.png"};
    for (size_t i = 0; i < 5; i++) {
        char *p = mkpath(pngs[i]);
        write_png(p, 10 + (int)i, 12, PNG_FORMAT_RGB);
        free(p);
    }
    char *p = mkpath("imgs/cat/c.JpG");
    write_jpeg(p, 16, 8, 0);
    free(p);
    p = mkpath("imgs/cat/readme.txt");
    tgc_err err;
    ck_assert_int_eq(tgc_write_file_atomic(p, "hi", 2, &err), 0);
    free(p);

    char *yaml = tgc_asprintf("dataset:\n  type: CustomDataset\n  data_root: %s\n  data_prefix: imgs\n"
                              "  pipeline:\n  - {type: LoadImageFromFile}\n  - {type: Resize, scale: [7, 5]}\n"
                              "  - {type: PackInputs}\n", tmpdir);
    tgc_cfg *cfg = test_cfg_parse(yaml, "test.yaml");
    tgc_dataset *d = tgc_dataset_open(tgc_cfg_get(cfg, "dataset"), &err);
    ck_assert_msg(d != NULL, "%s", err.msg);
    /* cat = 0 (c.JpG, sub/m.png, z.png), dog = 1 (A.PNG, b.png): classes and files sorted by name. */
    /* A hidden folder is a class too (MMEngine lists hidden folders, not hidden files): .hidden = 0. */
    ck_assert_int_eq(tgc_dataset_len(d), 6);
    ck_assert_int_eq(tgc_dataset_num_classes(d), 3);
    const char *order[] = {".hidden/x.png", "cat/c.JpG", "cat/sub/m.png", "cat/z.png", "dog/A.PNG", "dog/b.png"};
    for (int i = 0; i < 6; i++) {
        char name[512];
        tgc_dataset_sample_name(d, i, name, sizeof name);
        ck_assert_msg(strstr(name, order[i]), "sample %d is %s", i, name);
        ck_assert_int_eq(tgc_dataset_label(d, i), i < 1 ? 0 : i < 4 ? 1 : 2);
    }
    tgc_image img = {0}, scratch = {0};
    tgc_rng rng;
    tgc_rng_init(&rng, 0, 0, 0, TGC_RNG_AUGMENT);
    int32_t label;
    for (int i = 0; i < 6; i++) {
        ck_assert_msg(tgc_dataset_get(d, i, &img, &scratch, &rng, &label, &err) == 0, "%s", err.msg);
        ck_assert_int_eq(img.w, 7);
        ck_assert_int_eq(img.h, 5);
        ck_assert_int_eq(img.c, 3);
    }
    tgc_dataset_free(d);
    tgc_cfg_free(cfg);
    free(yaml);

    /* ann_file: paths relative to data_prefix; a corrupt image is named when loaded. */
    p = mkpath("ann.txt");
    const char *ann = "dog/b.png 3\n\ncat/z.png 0\r\ncat/broken.png 1\n";
    ck_assert_int_eq(tgc_write_file_atomic(p, ann, strlen(ann), &err), 0);
    free(p);
    p = mkpath("imgs/cat/broken.png");
    ck_assert_int_eq(tgc_write_file_atomic(p, "\x89PNG\r\n\x1a\n\0\0", 10, &err), 0);
    free(p);
    yaml = tgc_asprintf("dataset: {type: CustomDataset, data_root: %s, data_prefix: {img_path: imgs}, ann_file: ann.txt,"
                        " pipeline: [{type: LoadImageFromFile, color_type: grayscale}]}\n", tmpdir);
    cfg = test_cfg_parse(yaml, "test.yaml");
    d = tgc_dataset_open(tgc_cfg_get(cfg, "dataset"), &err);
    ck_assert_msg(d != NULL, "%s", err.msg);
    ck_assert_int_eq(tgc_dataset_len(d), 3);
    ck_assert_int_eq(tgc_dataset_num_classes(d), 4);
    ck_assert_int_eq(tgc_dataset_label(d, 0), 3);
    ck_assert_int_eq(tgc_dataset_get(d, 1, &img, &scratch, &rng, &label, &err), 0);
    ck_assert_int_eq(label, 0);
    ck_assert_int_eq(img.c, 1);
    ck_assert_int_eq(tgc_dataset_get(d, 2, &img, &scratch, &rng, &label, &err), -1);
    ck_assert_msg(strstr(err.msg, "sample 2 of 3 (listed at ") && strstr(err.msg, "ann.txt:4)") &&
                      strstr(err.msg, "imgs/cat/broken.png") &&
                      strstr(err.msg, "corrupt PNG"),
                  "%s", err.msg);
    tgc_dataset_free(d);
    tgc_cfg_free(cfg);
    free(yaml);

    /* A malformed annotation line names the file and the line. */
    p = mkpath("ann.txt");
    ck_assert_int_eq(tgc_write_file_atomic(p, "dog/b.png 1\ndog/b.png\n", 22, &err), 0);
    free(p);
    yaml = tgc_asprintf("dataset: {type: CustomDataset, data_root: %s, data_prefix: imgs, ann_file: ann.txt}\n", tmpdir);
    cfg = test_cfg_parse(yaml, "test.yaml");
    ck_assert_ptr_null(tgc_dataset_open(tgc_cfg_get(cfg, "dataset"), &err));
    ck_assert_msg(strstr(err.msg, "ann.txt:2: expected 'relative/path label'"), "%s", err.msg);
    tgc_cfg_free(cfg);
    free(yaml);

    /* A class folder with no images keeps its class and is a note (MMPretrain 1.2 warns). */
    mkdir_rel("imgs/emu");
    yaml = tgc_asprintf("dataset: {type: CustomDataset, data_prefix: %s/imgs}\n", tmpdir);
    cfg = test_cfg_parse(yaml, "test.yaml");
    d = tgc_dataset_open(tgc_cfg_get(cfg, "dataset"), &err);
    ck_assert_msg(d != NULL, "%s", err.msg);
    ck_assert_int_eq(tgc_dataset_num_classes(d), 4);
    ck_assert_msg(strstr(tgc_dataset_notes(d), "no image files in the class folder emu"), "%s", tgc_dataset_notes(d));
    tgc_dataset_free(d);
    tgc_cfg_free(cfg);
    free(yaml);
    tgc_image_free(&img);
    tgc_image_free(&scratch);
    remove_tmpdir();
}
END_TEST

int main(void) {
    Suite *s = suite_create("data_image");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, png_formats);
    tcase_add_test(tc, jpeg_decode);
    tcase_add_test(tc, corrupt_images_refused);
    tcase_add_test(tc, custom_dataset_folders_and_ann_file);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
