/* tests/unit/test_data_det_pipeline.c - the detection transforms on an image and its boxes: Resize sizes and box
 * scaling (MMDetection's keep_ratio rule), RandomFlip, Pad, the order of LoadAnnotations, config errors. */
#define _GNU_SOURCE
#include <check.h>
#include <math.h>
#include <png.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/data/det_data.h"
#include "test_util.h"

static char *tmpdir;

/* An RGB w x h PNG: pixel (x, y) = (x, y, x + y) & 255 (decoded as BGR: (x + y, y, x)). */
static char *write_png(const char *name, int w, int h) {
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    im.width = (png_uint_32)w;
    im.height = (png_uint_32)h;
    im.format = PNG_FORMAT_RGB;
    uint8_t *px = tgc_malloc((size_t)w * h * 3);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *p = px + ((size_t)y * w + x) * 3;
            p[0] = (uint8_t)x, p[1] = (uint8_t)y, p[2] = (uint8_t)(x + y);
        }
    char *p = tgc_asprintf("%s/%s", tmpdir, name);
    ck_assert_msg(png_image_write_to_file(&im, p, 0, px, 0, NULL), "%s", im.message);
    free(px);
    return p;
}

static void setup(void) {
    tmpdir = test_tmpdir(TGC_BINARY_DIR "/tests", "data_det_pipeline");
    free(write_png("img.png", 64, 48));
    free(write_png("big.png", 640, 480));
    free(write_png("tall.png", 480, 640));
}

static void teardown(void) {
    test_rm_tree(tmpdir);
    free(tmpdir);
}

/* The 64 x 48 image with two boxes (the second leaves the image) and one crowd box. */
static float gt[8] = {8, 6, 40, 30, 50, 40, 70, 50};
static int32_t labels[2] = {3, 1};
static float crowd[4] = {0, 0, 16, 12};

static tgc_det_image image(const char *name, int w, int h) {
    tgc_det_image im = {.id = 5, .width = w, .height = h, .n_gt = 2, .n_ignore = 1, .gt = gt, .labels = labels,
                        .ignore = crowd};
    im.path = tgc_asprintf("%s/%s", tmpdir, name);
    return im;
}

static tgc_det_pipeline *pipeline(const char *yaml_list) {
    char *text = tgc_asprintf("pipeline: %s\n", yaml_list);
    tgc_cfg *root = test_cfg_parse(text, "pipe.yaml");
    tgc_err err = {{0}};
    tgc_det_pipeline *p = tgc_det_pipeline_new(tgc_cfg_get(root, "pipeline"), &err);
    ck_assert_msg(p, "%s: %s", yaml_list, err.msg);
    tgc_cfg_free(root);
    free(text);
    return p;
}

static const char *pipeline_error(const char *yaml_list) {
    static tgc_err err;
    char *text = tgc_asprintf("pipeline: %s\n", yaml_list);
    tgc_cfg *root = test_cfg_parse(text, "pipe.yaml");
    ck_assert_ptr_null(tgc_det_pipeline_new(tgc_cfg_get(root, "pipeline"), &err));
    tgc_cfg_free(root);
    free(text);
    return err.msg;
}

/* Runs yaml_list on im with the draws of (seed 1, epoch 0, position pos). */
static void run(const char *yaml_list, tgc_det_image *im, uint32_t pos, tgc_det_sample *s) {
    tgc_det_pipeline *p = pipeline(yaml_list);
    tgc_rng r;
    tgc_rng_init(&r, 1, 0, pos, TGC_RNG_AUGMENT);
    tgc_err err = {{0}};
    ck_assert_msg(tgc_det_pipeline_apply(p, im, s, &r, &err) == 0, "%s", err.msg);
    tgc_det_pipeline_free(p);
}

static void assert_box(const float *b, double x1, double y1, double x2, double y2) {
    ck_assert_msg(fabs(b[0] - x1) < 1e-4 && fabs(b[1] - y1) < 1e-4 && fabs(b[2] - x2) < 1e-4 && fabs(b[3] - y2) < 1e-4,
                  "box [%g %g %g %g], expected [%g %g %g %g]", b[0], b[1], b[2], b[3], x1, y1, x2, y2);
}

#define LOAD "{type: LoadImageFromFile}, {type: LoadAnnotations, with_bbox: true}"

START_TEST(resize_keep_ratio) {
    /* MMDetection's (1333, 800): a 640 x 480 image becomes 1067 x 800, a 480 x 640 one 800 x 1067 */
    tgc_det_sample s = {0};
    tgc_det_image im = image("big.png", 640, 480);
    run("[" LOAD ", {type: Resize, scale: [1333, 800], keep_ratio: true}]", &im, 0, &s);
    ck_assert_int_eq(s.img.w, 1067);
    ck_assert_int_eq(s.img.h, 800);
    ck_assert_int_eq(s.img_w, 1067);
    ck_assert_int_eq(s.img_h, 800);
    ck_assert_int_eq(s.ori_w, 640);
    ck_assert_int_eq(s.ori_h, 480);
    ck_assert(s.scale_w == 1067.0 / 640 && s.scale_h == 800.0 / 480);
    assert_box(s.gt, 8 * 1067.0 / 640, 6 * 800.0 / 480, 40 * 1067.0 / 640, 30 * 800.0 / 480);
    free(im.path);
    im = image("tall.png", 480, 640);
    run("[" LOAD ", {type: Resize, scale: [1333, 800], keep_ratio: true}]", &im, 0, &s);
    ck_assert_int_eq(s.img.w, 800);
    ck_assert_int_eq(s.img.h, 1067);
    free(im.path);
    /* 64 x 48 into (133, 80): factor min(133 / 64, 80 / 48) = 5 / 3: int(64 * 5 / 3 + 0.5) = 107, 80 */
    im = image("img.png", 64, 48);
    run("[" LOAD ", {type: Resize, scale: [133, 80], keep_ratio: true}]", &im, 0, &s);
    ck_assert_int_eq(s.img.w, 107);
    ck_assert_int_eq(s.img.h, 80);
    double sw = 107.0 / 64, sh = 80.0 / 48;
    ck_assert_int_eq(s.n_gt, 2);
    assert_box(s.gt, 8 * sw, 6 * sh, 40 * sw, 30 * sh);
    assert_box(s.gt + 4, 50 * sw, 40 * sh, 107, 80); /* clipped to the new image */
    ck_assert_int_eq(s.labels[0], 3);
    ck_assert_int_eq(s.labels[1], 1);
    ck_assert_int_eq(s.n_ignore, 1);
    assert_box(s.ignore, 0, 0, 16 * sw, 12 * sh);
    /* the pixels are the bilinear kernel's (cv2.resize's rule, tested in test_data_transforms) */
    tgc_image src = {0}, want = {0};
    tgc_err err;
    ck_assert_int_eq(tgc_image_load(im.path, 3, &src, &err), 0);
    tgc_image_resize_region(&src, 0, 0, 64, 48, &want, 107, 80, 0);
    ck_assert_int_eq(memcmp(want.data, s.img.data, (size_t)107 * 80 * 3), 0);
    /* clip_object_border false keeps the box as scaled */
    run("[" LOAD ", {type: Resize, scale: [133, 80], keep_ratio: true, clip_object_border: false}]", &im, 0, &s);
    assert_box(s.gt + 4, 50 * sw, 40 * sh, 70 * sw, 50 * sh);
    /* without keep_ratio, and by scale_factor */
    run("[" LOAD ", {type: Resize, scale: [50, 20]}]", &im, 0, &s);
    ck_assert_int_eq(s.img.w, 50);
    ck_assert_int_eq(s.img.h, 20);
    ck_assert(s.scale_w == 50.0 / 64 && s.scale_h == 20.0 / 48);
    assert_box(s.gt, 8 * 50.0 / 64, 6 * 20.0 / 48, 40 * 50.0 / 64, 30 * 20.0 / 48);
    run("[" LOAD ", {type: Resize, scale_factor: 0.5, keep_ratio: true}]", &im, 0, &s);
    ck_assert_int_eq(s.img.w, 32);
    ck_assert_int_eq(s.img.h, 24);
    assert_box(s.gt, 4, 3, 20, 15);
    tgc_image_free(&src);
    tgc_image_free(&want);
    tgc_det_sample_free(&s);
    free(im.path);
}
END_TEST

START_TEST(flip) {
    tgc_det_sample s = {0};
    tgc_det_image im = image("img.png", 64, 48);
    run("[" LOAD ", {type: RandomFlip, prob: 1.0}]", &im, 0, &s);
    ck_assert_int_eq(s.flip, TGC_DET_FLIP_HORIZONTAL);
    assert_box(s.gt, 64 - 40, 6, 64 - 8, 30); /* x1' = W - x2, no -1 */
    assert_box(s.ignore, 48, 0, 64, 12);
    /* pixel (x, y) of the flipped image is (63 - x, y) of the original: BGR (63 - x + y, y, 63 - x) */
    ck_assert_int_eq(s.img.data[(5 * 64 + 10) * 3 + 2], 63 - 10);
    ck_assert_int_eq(s.img.data[(5 * 64 + 10) * 3 + 1], 5);
    run("[" LOAD ", {type: RandomFlip, prob: 1.0, direction: vertical}]", &im, 0, &s);
    ck_assert_int_eq(s.flip, TGC_DET_FLIP_VERTICAL);
    assert_box(s.gt, 8, 48 - 30, 40, 48 - 6);
    ck_assert_int_eq(s.img.data[(5 * 64 + 10) * 3 + 1], 47 - 5);
    run("[" LOAD ", {type: RandomFlip, prob: 1.0, direction: diagonal}]", &im, 0, &s);
    ck_assert_int_eq(s.flip, TGC_DET_FLIP_DIAGONAL);
    assert_box(s.gt, 24, 18, 56, 42);
    run("[" LOAD ", {type: RandomFlip, prob: 0.0}]", &im, 0, &s);
    ck_assert_int_eq(s.flip, TGC_DET_FLIP_NONE);
    assert_box(s.gt, 8, 6, 40, 30);
    /* prob 0.5: the flip is the first draw u < 0.5 of (seed 1, epoch 0, position), nothing else */
    int flips = 0;
    for (uint32_t pos = 0; pos < 64; pos++) {
        run("[" LOAD ", {type: RandomFlip, prob: 0.5}]", &im, pos, &s);
        tgc_rng r;
        tgc_rng_init(&r, 1, 0, pos, TGC_RNG_AUGMENT);
        int want = tgc_rng_uniform(&r) < 0.5;
        ck_assert_int_eq(s.flip, want ? TGC_DET_FLIP_HORIZONTAL : TGC_DET_FLIP_NONE);
        if (want) assert_box(s.gt, 24, 6, 56, 30);
        else assert_box(s.gt, 8, 6, 40, 30);
        flips += want;
    }
    ck_assert_msg(flips > 16 && flips < 48, "%d flips of 64", flips);
    /* after a Resize, the flip mirrors in the resized image's width */
    run("[" LOAD ", {type: Resize, scale_factor: 0.5}, {type: RandomFlip, prob: 1.0}]", &im, 0, &s);
    assert_box(s.gt, 32 - 20, 3, 32 - 4, 15);
    tgc_det_sample_free(&s);
    free(im.path);
}
END_TEST

START_TEST(pad) {
    tgc_det_sample s = {0};
    tgc_det_image im = image("img.png", 64, 48);
    run("[" LOAD ", {type: Pad, size_divisor: 32}]", &im, 0, &s);
    ck_assert_int_eq(s.img.w, 64);
    ck_assert_int_eq(s.img.h, 64);
    ck_assert_int_eq(s.pad_w, 64);
    ck_assert_int_eq(s.pad_h, 64);
    ck_assert_int_eq(s.img_w, 64);
    ck_assert_int_eq(s.img_h, 48);
    assert_box(s.gt, 8, 6, 40, 30);
    ck_assert_int_eq(s.img.data[(47 * 64 + 10) * 3 + 2], 10); /* the image stays top-left */
    for (int y = 48; y < 64; y++)
        for (int x = 0; x < 64 * 3; x++) ck_assert_int_eq(s.img.data[y * 64 * 3 + x], 0);
    /* Resize, then pad to the divisor */
    run("[" LOAD ", {type: Resize, scale: [133, 80], keep_ratio: true}, {type: Pad, size_divisor: 32}]", &im, 0, &s);
    ck_assert_int_eq(s.img_w, 107);
    ck_assert_int_eq(s.img_h, 80);
    ck_assert_int_eq(s.pad_w, 128);
    ck_assert_int_eq(s.pad_h, 96);
    ck_assert_int_eq(s.img.w, 128);
    /* a fixed size (w, h) with pad_val {img: 7} */
    run("[" LOAD ", {type: Pad, size: [100, 50], pad_val: {img: 7, seg: 255}}]", &im, 0, &s);
    ck_assert_int_eq(s.img.w, 100);
    ck_assert_int_eq(s.img.h, 50);
    ck_assert_int_eq(s.img.data[(49 * 100 + 99) * 3], 7);
    ck_assert_int_eq(s.img.data[(10 * 100 + 70) * 3 + 1], 7);
    run("[" LOAD ", {type: Pad, pad_to_square: true}]", &im, 0, &s);
    ck_assert_int_eq(s.img.w, 64);
    ck_assert_int_eq(s.img.h, 64);
    /* a size below the image's */
    tgc_det_pipeline *p = pipeline("[" LOAD ", {type: Pad, size: [32, 32]}]");
    tgc_rng r;
    tgc_rng_init(&r, 1, 0, 0, TGC_RNG_AUGMENT);
    tgc_err err;
    ck_assert_int_eq(tgc_det_pipeline_apply(p, &im, &s, &r, &err), -1);
    ck_assert_str_eq(err.msg, "Pad: the 64x48 image is larger than the padded size 32x32");
    tgc_det_pipeline_free(p);
    tgc_det_sample_free(&s);
    free(im.path);
}
END_TEST

/* MMDetection's test pipeline loads the annotations after Resize: they stay in the original coordinates. */
START_TEST(annotations_after_resize) {
    tgc_det_sample s = {0};
    tgc_det_image im = image("img.png", 64, 48);
    run("[{type: LoadImageFromFile}, {type: Resize, scale: [133, 80], keep_ratio: true}, {type: LoadAnnotations}, "
        "{type: PackDetInputs, meta_keys: [img_id, img_path, ori_shape, img_shape, scale_factor]}]",
        &im, 0, &s);
    ck_assert_int_eq(s.img.w, 107);
    assert_box(s.gt, 8, 6, 40, 30);
    /* no LoadAnnotations: no boxes; grayscale: one channel */
    run("[{type: LoadImageFromFile, color_type: grayscale}, {type: RandomFlip, prob: 1.0}]", &im, 0, &s);
    ck_assert_int_eq(s.n_gt, 0);
    ck_assert_int_eq(s.n_ignore, 0);
    ck_assert_int_eq(s.img.c, 1);
    tgc_det_sample_free(&s);
    free(im.path);
}
END_TEST

START_TEST(config_errors) {
    ck_assert_str_eq(pipeline_error("[{type: LoadImageFromFile}, {type: Mosaic, img_scale: [640, 640]}]"),
                     "pipe.yaml:1: pipeline[1].type: unsupported detection transform 'Mosaic' (supported: "
                     "LoadImageFromFile, LoadAnnotations, Resize, RandomFlip, Pad, PackDetInputs)");
    ck_assert_msg(strstr(pipeline_error("[{type: LoadImageFromFile}, {type: LoadAnnotations, with_mask: true}]"),
                         "pipeline[1].with_mask: with_mask: masks and segmentation maps are not supported"),
                  "%s", pipeline_error("[{type: LoadImageFromFile}, {type: LoadAnnotations, with_mask: true}]"));
    ck_assert_msg(strstr(pipeline_error("[{type: Resize, scale: 8}, {type: LoadImageFromFile}]"),
                         "pipeline[0]: this transform needs an image: LoadImageFromFile must come first"),
                  "%s", pipeline_error("[{type: Resize, scale: 8}, {type: LoadImageFromFile}]"));
    ck_assert_msg(strstr(pipeline_error("[{type: LoadImageFromFile}, {type: RandomFlip}]"), "RandomFlip needs 'prob'"),
                  "%s", pipeline_error("[{type: LoadImageFromFile}, {type: RandomFlip}]"));
    ck_assert_msg(strstr(pipeline_error("[{type: LoadImageFromFile}, {type: Pad}]"),
                         "Pad needs 'size', 'size_divisor' or 'pad_to_square'"),
                  "%s", pipeline_error("[{type: LoadImageFromFile}, {type: Pad}]"));
    ck_assert_msg(strstr(pipeline_error("[{type: LoadImageFromFile}, {type: Resize, keep_ratio: true}]"),
                         "Resize needs 'scale' or 'scale_factor'"),
                  "%s", pipeline_error("[{type: LoadImageFromFile}, {type: Resize, keep_ratio: true}]"));
    ck_assert_msg(strstr(pipeline_error("[{type: LoadImageFromFile}, {type: RandomFlip, prob: 0.5, direction: up}]"),
                         "unsupported flip direction 'up'"),
                  "%s", pipeline_error("[{type: LoadImageFromFile}, {type: RandomFlip, prob: 0.5, direction: up}]"));
    ck_assert_msg(strstr(pipeline_error("[{type: LoadAnnotations}]"), "the pipeline has no LoadImageFromFile"), "%s",
                  pipeline_error("[{type: LoadAnnotations}]"));
}
END_TEST

int main(void) {
    Suite *s = suite_create("data_det_pipeline");
    TCase *tc = tcase_create("core");
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_add_test(tc, resize_keep_ratio);
    tcase_add_test(tc, flip);
    tcase_add_test(tc, pad);
    tcase_add_test(tc, annotations_after_resize);
    tcase_add_test(tc, config_errors);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
