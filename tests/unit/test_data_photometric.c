/* tests/unit/test_data_photometric.c - ColorJitter and RandomErasing (runtime/data/data_photometric.c): the
 * deterministic operations bit for bit against MMPretrain 1.2 / mmcv's Pillow backend
 * (tests/datasets/photometric_golden.txt, or the file TGC_PHOTOMETRIC_GOLDEN names), the settings, and the
 * draws' effects. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/data/data_photometric.h"
#include "test_util.h"

enum { W = 13, H = 11 };

/* tests/datasets/photometric.py's image (BGR). */
static void pattern(tgc_image *img) {
    tgc_image_reserve(img, H, W, 3);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            for (int c = 0; c < 3; c++)
                img->data[(y * W + x) * 3 + c] = (uint8_t)(y == 0 ? (x * 19) & 255 : (x * 37 + y * 91 + c * 53 + x * y * 7) & 255);
    memset(img->data + W * 3, 0, 3);
    memset(img->data + W * 3 + 3, 255, 3);
}

/* The largest difference between img and the hex bytes. */
static int max_diff(const tgc_image *img, const char *hex) {
    ck_assert_int_eq((int)strlen(hex), H * W * 3 * 2);
    int worst = 0;
    for (int i = 0; i < H * W * 3; i++) {
        unsigned v;
        ck_assert_int_eq(sscanf(hex + 2 * i, "%2x", &v), 1);
        worst = TGC_MAX(worst, abs((int)v - (int)img->data[i]));
    }
    return worst;
}

START_TEST(against_mmpretrain) {
    const char *path = getenv("TGC_PHOTOMETRIC_GOLDEN");
    if (!path || !*path) path = TGC_SOURCE_DIR "/tests/datasets/photometric_golden.txt";
    size_t len;
    char *text = test_slurp(path, &len);
    ck_assert_msg(text != NULL, "cannot read %s", path);
    tgc_image img = {0};
    int n_ops = 0, n_jitter = 0, n_size = 0, worst = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == '#') continue;
        char op[32], hex[2048], order[8], hs[64];
        double f, b, c, s;
        int ih, iw, h, w;
        if (sscanf(line, "erase_size %d %d %lf %lf %d %d", &ih, &iw, &f, &b, &h, &w) == 6) {
            int gh, gw;
            tgc_erasing_size(ih, iw, f, b, &gh, &gw);
            ck_assert_msg(gh == h && gw == w, "%s: tgc gives %d x %d", line, gh, gw);
            n_size++;
        } else if (sscanf(line, "jitter %7s %lf %lf %lf %63s %2047s", order, &b, &c, &s, hs, hex) == 6) {
            tgc_color_jitter cj = {.on = {1, 1, 1, strcmp(hs, "-") != 0}};
            int o[4];
            for (int k = 0; k < 4; k++) o[k] = order[k] - '0';
            double fac[4] = {b, c, s, cj.on[3] ? atof(hs) : 0};
            pattern(&img);
            tgc_color_jitter_fixed(&cj, &img, o, fac);
            int d = max_diff(&img, hex);
            ck_assert_msg(d == 0, "jitter %s: max difference %d", order, d);
            n_jitter++;
        } else {
            ck_assert_msg(sscanf(line, "%31s %lf %2047s", op, &f, hex) == 3, "bad golden line: %.80s", line);
            pattern(&img);
            if (!strcmp(op, "brightness")) tgc_adjust_brightness(&img, f);
            else if (!strcmp(op, "contrast")) tgc_adjust_contrast(&img, f);
            else if (!strcmp(op, "color")) tgc_adjust_color(&img, f);
            else if (!strcmp(op, "hue")) tgc_adjust_hue(&img, f);
            else ck_abort_msg("unknown operation %s", op);
            int d = max_diff(&img, hex);
            worst = TGC_MAX(worst, d);
            ck_assert_msg(d == 0, "%s %g: max difference %d from MMPretrain's", op, f, d);
            n_ops++;
        }
    }
    printf("ColorJitter against %s: %d operations and %d whole jitters equal (max difference %d); %d "
           "RandomErasing sizes equal\n", path, n_ops, n_jitter, worst, n_size);
    ck_assert_int_ge(n_ops, 19);
    ck_assert_int_ge(n_jitter, 6);
    ck_assert_int_ge(n_size, 8);
    tgc_image_free(&img);
    free(text);
}
END_TEST

static tgc_pipeline *pipe_of(const char *yaml, tgc_err *err) {
    tgc_cfg *cfg = test_cfg_parse(yaml, "p.yaml");
    tgc_pipeline *p = tgc_pipeline_new(tgc_cfg_get(cfg, "pipeline"), err);
    tgc_cfg_free(cfg);
    return p;
}

START_TEST(settings) {
    tgc_err err;
    const struct {
        const char *yaml, *msg;
    } bad[] = {
        {"pipeline: [{type: ColorJitter, brightness: -0.1}]", "pipeline[0].brightness: brightness must be non-negative"},
        {"pipeline: [{type: ColorJitter, contrast: [1.2, 0.8]}]", "contrast: expected [min, max] with min <= max"},
        {"pipeline: [{type: ColorJitter, hue: abc}]", "hue must be a number or a pair"},
        {"pipeline: [{type: ColorJitter, backend: cv2}]", "ColorJitter's backend 'cv2' is not implemented"},
        {"pipeline: [{type: RandomErasing, erase_prob: 1.5}]", "erase_prob must be in [0, 1]"},
        {"pipeline: [{type: RandomErasing, min_area_ratio: 0.5, max_area_ratio: 0.2}]", "must not exceed max_area_ratio"},
        {"pipeline: [{type: RandomErasing, mode: noise}]", "mode must be 'const' or 'rand'"},
        {"pipeline: [{type: RandomErasing, aspect_range: [2.0, 1.0]}]", "aspect_range must be positive with min <= max"},
        {"pipeline: [{type: RandomErasing, fill_color: [1, 2]}]", "fill_color must be a number or a list of 3"},
    };
    for (size_t i = 0; i < TGC_ARRAY_LEN(bad); i++) {
        ck_assert_msg(pipe_of(bad[i].yaml, &err) == NULL, "accepted: %s", bad[i].yaml);
        ck_assert_msg(strstr(err.msg, bad[i].msg), "%s: %s", bad[i].yaml, err.msg);
    }
    /* MMPretrain's ranges: a number v gives (1 - v, 1 + v) clipped at 0; hue (-v, v) clipped to 0.5 */
    tgc_color_jitter cj;
    tgc_cfg *cfg = test_cfg_parse("t: {type: ColorJitter, brightness: 1.5, contrast: [0.5, 1.5], hue: 0.7}", "p.yaml");
    ck_assert_int_eq(tgc_color_jitter_parse(tgc_cfg_get(cfg, "t"), &cj, &err), 0);
    ck_assert(cj.on[0] && cj.lo[0] == 0 && cj.hi[0] == 2.5);
    ck_assert(cj.on[1] && cj.lo[1] == 0.5 && cj.hi[1] == 1.5);
    ck_assert(!cj.on[2]);
    ck_assert(cj.on[3] && cj.lo[3] == -0.5 && cj.hi[3] == 0.5);
    tgc_cfg_free(cfg);
    tgc_erasing e;
    cfg = test_cfg_parse("t: {type: RandomErasing, aspect_range: 3.0, fill_color: 7, fill_std: [1, 2, 3], mode: rand}", "p.yaml");
    ck_assert_int_eq(tgc_erasing_parse(tgc_cfg_get(cfg, "t"), &e, &err), 0);
    ck_assert(fabs(e.log_ar_lo + log(3.0)) < 1e-6 && fabs(e.log_ar_hi - log(3.0)) < 1e-6);
    ck_assert(e.rand_mode && e.has_std && e.fill[2] == 7 && e.std[2] == 3);
    tgc_cfg_free(cfg);
}
END_TEST

START_TEST(draws) {
    tgc_err err;
    tgc_image a = {0}, b = {0}, scratch = {0};
    tgc_rng r1, r2;
    /* the same sample's generator gives the same jitter; another sample's another one */
    tgc_pipeline *p = pipe_of("pipeline: [{type: ColorJitter, brightness: 0.4, contrast: 0.4, saturation: 0.4, hue: 0.1}]", &err);
    ck_assert_msg(p != NULL, "%s", err.msg);
    pattern(&a);
    pattern(&b);
    tgc_rng_init(&r1, 5, 0, 3, TGC_RNG_AUGMENT);
    tgc_rng_init(&r2, 5, 0, 3, TGC_RNG_AUGMENT);
    ck_assert_int_eq(tgc_pipeline_apply(p, &a, &scratch, &r1, &err), 0);
    ck_assert_int_eq(tgc_pipeline_apply(p, &b, &scratch, &r2, &err), 0);
    ck_assert_mem_eq(a.data, b.data, H * W * 3);
    pattern(&b);
    tgc_rng_init(&r2, 5, 0, 4, TGC_RNG_AUGMENT);
    ck_assert_int_eq(tgc_pipeline_apply(p, &b, &scratch, &r2, &err), 0);
    ck_assert(memcmp(a.data, b.data, H * W * 3) != 0);
    /* a grey image is refused */
    tgc_image_reserve(&b, 4, 4, 1);
    memset(b.data, 9, 16);
    ck_assert_int_eq(tgc_pipeline_apply(p, &b, &scratch, &r2, &err), -1);
    ck_assert_msg(strstr(err.msg, "ColorJitter needs a 3-channel image"), "%s", err.msg);
    tgc_pipeline_free(p);

    /* RandomErasing: prob 0 leaves the image; prob 1 fills one rectangle within the area bounds with fill_color
     * (in the image's channel order), never touching the last row and column positions it cannot draw */
    p = pipe_of("pipeline: [{type: RandomErasing, erase_prob: 0.0}]", &err);
    pattern(&a);
    pattern(&b);
    ck_assert_int_eq(tgc_pipeline_apply(p, &a, &scratch, &r1, &err), 0);
    ck_assert_mem_eq(a.data, b.data, H * W * 3);
    tgc_pipeline_free(p);
    p = pipe_of("pipeline: [{type: RandomErasing, erase_prob: 1.0, min_area_ratio: 0.1, max_area_ratio: 0.3, "
                "fill_color: [1, 2, 3]}]", &err);
    for (uint32_t pos = 0; pos < 200; pos++) {
        tgc_image_reserve(&a, 40, 50, 3);
        memset(a.data, 200, 40 * 50 * 3);
        tgc_rng_init(&r1, 1, 0, pos, TGC_RNG_AUGMENT);
        ck_assert_int_eq(tgc_pipeline_apply(p, &a, &scratch, &r1, &err), 0);
        int n = 0, x0 = 99, y0 = 99, x1 = -1, y1 = -1;
        for (int y = 0; y < 40; y++)
            for (int x = 0; x < 50; x++) {
                const uint8_t *px = a.data + (y * 50 + x) * 3;
                if (px[0] == 200) continue;
                ck_assert(px[0] == 1 && px[1] == 2 && px[2] == 3);
                n++, x0 = TGC_MIN(x0, x), y0 = TGC_MIN(y0, y), x1 = TGC_MAX(x1, x), y1 = TGC_MAX(y1, y);
            }
        ck_assert_int_eq(n, (x1 - x0 + 1) * (y1 - y0 + 1)); /* one rectangle */
        ck_assert_msg(n >= 150 && n <= 650, "area %d", n); /* 0.1 .. 0.3 of 2000, with rounding */
        ck_assert(y1 < 39 || y0 == 0);
    }
    tgc_pipeline_free(p);
    /* 'rand' with fill_std: values around fill_color; on a grey image, channel 0's */
    p = pipe_of("pipeline: [{type: RandomErasing, erase_prob: 1.0, min_area_ratio: 0.5, max_area_ratio: 0.5, mode: rand, "
                "fill_color: 100, fill_std: 10}]", &err);
    tgc_image_reserve(&a, 64, 64, 1);
    memset(a.data, 0, 64 * 64);
    ck_assert_int_eq(tgc_pipeline_apply(p, &a, &scratch, &r1, &err), 0);
    double sum = 0;
    int n = 0;
    for (int i = 0; i < 64 * 64; i++)
        if (a.data[i]) sum += a.data[i], n++;
    ck_assert_msg(n > 1500 && fabs(sum / n - 99.5) < 1.5, "%d pixels, mean %g", n, sum / n);
    tgc_pipeline_free(p);
    tgc_image_free(&a);
    tgc_image_free(&b);
    tgc_image_free(&scratch);
}
END_TEST

int main(void) {
    Suite *s = suite_create("data_photometric");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, against_mmpretrain);
    tcase_add_test(tc, settings);
    tcase_add_test(tc, draws);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
