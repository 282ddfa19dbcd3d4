/* tests/unit/test_data_transforms.c - each transform's output size and pixels, and the normalisation. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/data/data.h"

static tgc_cfg *cfg;

/* Parses "pipeline: [...]" and builds it. */
static tgc_pipeline *pipeline(const char *list) {
    char *yaml = tgc_asprintf("pipeline: %s\n", list);
    tgc_err err;
    tgc_cfg_free(cfg);
    cfg = tgc_cfg_parse(yaml, strlen(yaml), "t.yaml", &err);
    free(yaml);
    ck_assert_msg(cfg != NULL, "%s", err.msg);
    tgc_pipeline *p = tgc_pipeline_new(tgc_cfg_get(cfg, "pipeline"), &err);
    ck_assert_msg(p != NULL, "%s", err.msg);
    return p;
}

static const char *pipeline_error(const char *list) {
    static tgc_err err;
    char *yaml = tgc_asprintf("pipeline: %s\n", list);
    tgc_cfg_free(cfg);
    cfg = tgc_cfg_parse(yaml, strlen(yaml), "t.yaml", &err);
    free(yaml);
    ck_assert_msg(cfg != NULL, "%s", err.msg);
    ck_assert_ptr_null(tgc_pipeline_new(tgc_cfg_get(cfg, "pipeline"), &err));
    return err.msg;
}

/* img = w x h x c with pixel (x, y, k) = 1 + x + 10 * y + 100 * k. */
static void fill(tgc_image *img, int w, int h, int c) {
    tgc_image_reserve(img, h, w, c);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int k = 0; k < c; k++) img->data[((size_t)y * w + x) * c + k] = (uint8_t)(1 + x + 10 * y + 100 * k);
}

static int px(const tgc_image *img, int x, int y, int k) { return img->data[((size_t)y * img->w + x) * img->c + k]; }

static void run(tgc_pipeline *p, tgc_image *img, tgc_image *scratch, uint32_t key) {
    tgc_rng rng;
    tgc_rng_init(&rng, 7, 0, key, TGC_RNG_AUGMENT);
    tgc_err err;
    ck_assert_msg(tgc_pipeline_apply(p, img, scratch, &rng, &err) == 0, "%s", err.msg);
}

START_TEST(random_crop_padding) {
    tgc_image img = {0}, s = {0};
    /* crop == padded size: no randomness, the output is the padded image: a 2-pixel frame of zeros. */
    tgc_pipeline *p = pipeline("[{type: RandomCrop, crop_size: 8, padding: 2}]");
    fill(&img, 4, 4, 1);
    run(p, &img, &s, 0);
    ck_assert_int_eq(img.w, 8);
    ck_assert_int_eq(img.h, 8);
    for (int y = 0; y < 8; y++)
        for (int x = 0; x < 8; x++) {
            int inside = x >= 2 && x < 6 && y >= 2 && y < 6;
            ck_assert_int_eq(px(&img, x, y, 0), inside ? 1 + (x - 2) + 10 * (y - 2) : 0);
        }
    tgc_pipeline_free(p);

    /* crop_size [h, w] = [5, 3] from the 8x8 padded image: every offset in 0..3 x 0..5 occurs, and each output
     * is a window of the padded image. */
    p = pipeline("[{type: RandomCrop, crop_size: [5, 3], padding: 2, pad_val: 0, padding_mode: constant}]");
    int seen[4][6] = {{0}};
    for (uint32_t key = 0; key < 400; key++) {
        fill(&img, 4, 4, 1);
        run(p, &img, &s, key);
        ck_assert_int_eq(img.w, 3);
        ck_assert_int_eq(img.h, 5);
        int found = 0;
        for (int oy = 0; oy <= 3 && !found; oy++)
            for (int ox = 0; ox <= 5 && !found; ox++) {
                int ok = 1;
                for (int y = 0; y < 5 && ok; y++)
                    for (int x = 0; x < 3 && ok; x++) {
                        int sx = ox + x - 2, sy = oy + y - 2;
                        int want = sx >= 0 && sx < 4 && sy >= 0 && sy < 4 ? 1 + sx + 10 * sy : 0;
                        ok = px(&img, x, y, 0) == want;
                    }
                if (ok) seen[oy][ox]++, found = 1;
            }
        ck_assert_msg(found, "key %u: the output is no window of the padded image", key);
    }
    for (int oy = 0; oy < 4; oy++)
        for (int ox = 0; ox < 6; ox++) ck_assert_msg(seen[oy][ox] > 0, "offset (%d,%d) never drawn", ox, oy);
    tgc_pipeline_free(p);

    /* Other padding modes, with padding [l, t, r, b] = [3, 0, 0, 0] and no room to move. */
    p = pipeline("[{type: RandomCrop, crop_size: [4, 7], padding: [3, 0, 0, 0], padding_mode: reflect}]");
    fill(&img, 4, 4, 1);
    run(p, &img, &s, 0);
    ck_assert_int_eq(px(&img, 0, 1, 0), 1 + 3 + 10); /* reflect: -3 -> 3 */
    ck_assert_int_eq(px(&img, 2, 1, 0), 1 + 1 + 10);
    tgc_pipeline_free(p);
    p = pipeline("[{type: RandomCrop, crop_size: [4, 7], padding: [3, 0, 0, 0], padding_mode: edge}]");
    fill(&img, 4, 4, 1);
    run(p, &img, &s, 0);
    ck_assert_int_eq(px(&img, 0, 2, 0), 1 + 20);
    tgc_pipeline_free(p);
    p = pipeline("[{type: RandomCrop, crop_size: [4, 7], padding: [3, 0, 0, 0], padding_mode: symmetric}]");
    fill(&img, 4, 4, 1);
    run(p, &img, &s, 0);
    ck_assert_int_eq(px(&img, 0, 0, 0), 1 + 2); /* symmetric: -3 -> 2 */
    tgc_pipeline_free(p);
    tgc_image_free(&img);
    tgc_image_free(&s);
}
END_TEST

START_TEST(random_flip) {
    tgc_image img = {0}, s = {0};
    tgc_pipeline *p = pipeline("[{type: RandomFlip, prob: 1.0, direction: horizontal}]");
    fill(&img, 5, 3, 3);
    run(p, &img, &s, 0);
    for (int y = 0; y < 3; y++)
        for (int x = 0; x < 5; x++)
            for (int k = 0; k < 3; k++) ck_assert_int_eq(px(&img, x, y, k), 1 + (4 - x) + 10 * y + 100 * k);
    tgc_pipeline_free(p);
    p = pipeline("[{type: RandomFlip, prob: 1.0, direction: vertical}]");
    fill(&img, 5, 3, 1);
    run(p, &img, &s, 0);
    ck_assert_int_eq(px(&img, 1, 0, 0), 1 + 1 + 20);
    tgc_pipeline_free(p);
    p = pipeline("[{type: RandomFlip, prob: 0.5}]");
    int flipped = 0;
    for (uint32_t key = 0; key < 1000; key++) {
        fill(&img, 2, 1, 1);
        run(p, &img, &s, key);
        flipped += px(&img, 0, 0, 0) == 2;
    }
    ck_assert_msg(flipped > 430 && flipped < 570, "%d of 1000 flipped", flipped);
    tgc_pipeline_free(p);
    p = pipeline("[{type: RandomFlip, prob: 0.0}]");
    fill(&img, 2, 1, 1);
    run(p, &img, &s, 3);
    ck_assert_int_eq(px(&img, 0, 0, 0), 1);
    tgc_pipeline_free(p);
    tgc_image_free(&img);
    tgc_image_free(&s);
}
END_TEST

START_TEST(resize_and_resize_edge) {
    tgc_image img = {0}, s = {0};
    tgc_pipeline *p = pipeline("[{type: Resize, scale: [13, 5]}]");
    tgc_image_reserve(&img, 7, 10, 3);
    memset(img.data, 77, 7 * 10 * 3);
    run(p, &img, &s, 0);
    ck_assert_int_eq(img.w, 13);
    ck_assert_int_eq(img.h, 5);
    for (int i = 0; i < 13 * 5 * 3; i++) ck_assert_int_eq(img.data[i], 77); /* a constant stays constant */
    tgc_pipeline_free(p);

    /* cv2 geometry: [0, 100] to width 4 samples at -0.25 (clamped), 0.25, 0.75, 1.25 (clamped). */
    p = pipeline("[{type: Resize, scale: [4, 1]}]");
    tgc_image_reserve(&img, 1, 2, 1);
    img.data[0] = 0;
    img.data[1] = 100;
    run(p, &img, &s, 0);
    ck_assert_int_eq(img.w, 4);
    ck_assert_int_eq(px(&img, 0, 0, 0), 0);
    ck_assert_int_eq(px(&img, 1, 0, 0), 25);
    ck_assert_int_eq(px(&img, 2, 0, 0), 75);
    ck_assert_int_eq(px(&img, 3, 0, 0), 100);
    tgc_pipeline_free(p);

    p = pipeline("[{type: Resize, scale: 3, interpolation: nearest}]");
    fill(&img, 6, 6, 1);
    run(p, &img, &s, 0);
    ck_assert_int_eq(img.w, 3);
    ck_assert_int_eq(px(&img, 1, 2, 0), 1 + 2 + 40);
    tgc_pipeline_free(p);

    p = pipeline("[{type: Resize, scale: [40, 20], keep_ratio: true}]");
    fill(&img, 10, 20, 1); /* factor min(40 / 20, 20 / 10) = 2 -> 20 x 40 */
    run(p, &img, &s, 0);
    ck_assert_int_eq(img.w, 20);
    ck_assert_int_eq(img.h, 40);
    tgc_pipeline_free(p);

    p = pipeline("[{type: ResizeEdge, scale: 8, edge: short}]");
    fill(&img, 16, 33, 1);
    run(p, &img, &s, 0);
    ck_assert_int_eq(img.w, 8);
    ck_assert_int_eq(img.h, 16); /* int(8 * 33 / 16) = 16 */
    tgc_pipeline_free(p);
    p = pipeline("[{type: ResizeEdge, scale: 8, edge: long}]");
    fill(&img, 16, 33, 1);
    run(p, &img, &s, 0);
    ck_assert_int_eq(img.h, 8);
    ck_assert_int_eq(img.w, 3); /* int(8 * 16 / 33) = 3 */
    tgc_pipeline_free(p);
    tgc_image_free(&img);
    tgc_image_free(&s);
}
END_TEST

START_TEST(center_crop_and_random_resized_crop) {
    tgc_image img = {0}, s = {0};
    /* crop_size [w, h] = [3, 2] on 6 x 6: x1 = round(1.5) = 2 (ties to even, as Python), y1 = 2. */
    tgc_pipeline *p = pipeline("[{type: CenterCrop, crop_size: [3, 2]}]");
    fill(&img, 6, 6, 1);
    run(p, &img, &s, 0);
    ck_assert_int_eq(img.w, 3);
    ck_assert_int_eq(img.h, 2);
    ck_assert_int_eq(px(&img, 0, 0, 0), 1 + 2 + 20);
    tgc_pipeline_free(p);

    /* No attempts: the central fallback. 20 x 10 is wider than 4/3, so the crop is 13 x 10 at x = 3, and
     * scale [h, w] = [10, 13] keeps it pixel for pixel. */
    p = pipeline("[{type: RandomResizedCrop, scale: [10, 13], max_attempts: 0}]");
    fill(&img, 20, 10, 1);
    run(p, &img, &s, 0);
    ck_assert_int_eq(img.w, 13);
    ck_assert_int_eq(img.h, 10);
    for (int y = 0; y < 10; y++)
        for (int x = 0; x < 13; x++) ck_assert_int_eq(px(&img, x, y, 0), (uint8_t)(1 + x + 3 + 10 * y));
    tgc_pipeline_free(p);

    p = pipeline("[{type: RandomResizedCrop, scale: 9, crop_ratio_range: [0.08, 1.0], aspect_ratio_range: [0.75, 1.3333]}]");
    tgc_image first = {0};
    int differ = 0;
    for (uint32_t key = 0; key < 20; key++) {
        fill(&img, 32, 24, 3);
        run(p, &img, &s, key);
        ck_assert_int_eq(img.w, 9);
        ck_assert_int_eq(img.h, 9);
        ck_assert_int_eq(img.c, 3);
        if (key == 0) {
            tgc_image_reserve(&first, 9, 9, 3);
            memcpy(first.data, img.data, 9 * 9 * 3);
        } else {
            differ += memcmp(first.data, img.data, 9 * 9 * 3) != 0;
        }
    }
    ck_assert_int_gt(differ, 15);
    fill(&img, 32, 24, 3); /* the same key gives the same crop */
    run(p, &img, &s, 0);
    ck_assert_mem_eq(first.data, img.data, 9 * 9 * 3);
    tgc_pipeline_free(p);
    tgc_image_free(&first);
    tgc_image_free(&img);
    tgc_image_free(&s);
}
END_TEST

START_TEST(noops_and_errors) {
    tgc_image img = {0}, s = {0};
    tgc_pipeline *p = pipeline("[{type: LoadImageFromFile}, {type: mmpretrain.PackInputs}, {type: PackClsInputs}]");
    ck_assert_int_eq(tgc_pipeline_channels(p), 3);
    fill(&img, 3, 2, 1);
    run(p, &img, &s, 0);
    ck_assert_int_eq(img.w, 3);
    ck_assert_int_eq(px(&img, 2, 1, 0), 1 + 2 + 10);
    tgc_pipeline_free(p);
    const char *m = pipeline_error("[{type: PackInputs}, {type: BEiTMaskGenerator}]");
    ck_assert_msg(strstr(m, "t.yaml:1") && strstr(m, "pipeline[1].type") && strstr(m, "'BEiTMaskGenerator'"), "%s", m);
    m = pipeline_error("[{type: RandomCrop, crop_size: 4, padding_mode: wrap}]");
    ck_assert_msg(strstr(m, "pipeline[0].padding_mode") && strstr(m, "'wrap'"), "%s", m);
    m = pipeline_error("[{type: RandomCrop}]");
    ck_assert_msg(strstr(m, "crop_size"), "%s", m);
    m = pipeline_error("[{type: Resize, scale: [0, 4]}]");
    ck_assert_msg(strstr(m, "pipeline[0].scale"), "%s", m);
    m = pipeline_error("[{type: RandomFlip, prob: [0.5, 0.2], direction: horizontal}]");
    ck_assert_msg(strstr(m, "2 probabilities for 1 directions"), "%s", m);
    m = pipeline_error("{type: Resize}");
    ck_assert_msg(strstr(m, "must be a list"), "%s", m);
    /* Sizes computed from the input are capped: ResizeEdge on a 1 x 1000 strip would be 16384 x 16384000. */
    p = pipeline("[{type: ResizeEdge, scale: 16384}]");
    fill(&img, 1, 1000, 1);
    tgc_rng rng;
    tgc_rng_init(&rng, 0, 0, 0, TGC_RNG_AUGMENT);
    tgc_err err;
    ck_assert_int_eq(tgc_pipeline_apply(p, &img, &s, &rng, &err), -1);
    ck_assert_msg(strstr(err.msg, "16384-pixel side limit"), "%s", err.msg);
    tgc_pipeline_free(p);
    tgc_image_free(&img);
    tgc_image_free(&s);
}
END_TEST

START_TEST(normalisation) {
    const char *yaml = "pre: {mean: [10, 20, 30], std: [2, 4, 5], to_rgb: true}\nbad: {mean: [1, 2], std: [1]}\n"
                       "one: {mean: [33.46], std: [78.87]}\n";
    tgc_err err;
    tgc_cfg *c = tgc_cfg_parse(yaml, strlen(yaml), "p.yaml", &err);
    ck_assert_msg(c != NULL, "%s", err.msg);
    tgc_normalize nm;
    ck_assert_int_eq(tgc_normalize_from_cfg(tgc_cfg_get(c, "pre"), &nm, &err), 0);
    tgc_image img = {0};
    fill(&img, 2, 2, 3); /* BGR input: B = 1 + ..., G = 101 + ..., R = 201 + ... */
    float out[12];
    ck_assert_int_eq(tgc_normalize_image(&nm, &img, out, &err), 0);
    /* Channel 0 of the output is R (input channel 2), minus mean[0], over std[0]. CHW: [k][y][x]. */
    ck_assert_float_eq(out[0 * 4 + 1 * 2 + 1], (201 + 1 + 10 - 10) / 2.0f);
    ck_assert_float_eq(out[1 * 4 + 0], (101 - 20) / 4.0f);
    ck_assert_float_eq(out[2 * 4 + 3], (1 + 1 + 10 - 30) / 5.0f);
    ck_assert_int_eq(tgc_normalize_from_cfg(tgc_cfg_get(c, "bad"), &nm, &err), -1);
    ck_assert_msg(strstr(err.msg, "mean has 2 values but std has 1"), "%s", err.msg);
    ck_assert_int_eq(tgc_normalize_from_cfg(tgc_cfg_get(c, "one"), &nm, &err), 0);
    fill(&img, 1, 1, 1);
    ck_assert_int_eq(tgc_normalize_image(&nm, &img, out, &err), 0);
    ck_assert_float_eq(out[0], (1 - 33.46f) / 78.87f);
    ck_assert_int_eq(tgc_normalize_from_cfg(NULL, &nm, &err), 0); /* no preprocessor: values as floats */
    ck_assert_int_eq(tgc_normalize_image(&nm, &img, out, &err), 0);
    ck_assert_float_eq(out[0], 1.0f);
    tgc_image_free(&img);
    tgc_cfg_free(c);
}
END_TEST

int main(void) {
    Suite *s = suite_create("data_transforms");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, random_crop_padding);
    tcase_add_test(tc, random_flip);
    tcase_add_test(tc, resize_and_resize_edge);
    tcase_add_test(tc, center_crop_and_random_resized_crop);
    tcase_add_test(tc, noops_and_errors);
    tcase_add_test(tc, normalisation);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    tgc_cfg_free(cfg);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
