/* tests/unit/test_data_warp.c - tgc_warp_affine_u8 and tgc_rotation_matrix: properties, and byte-for-byte
 * equality with cv2.warpAffine / mmcv.imshear, imtranslate, imrotate on the reference files. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/data/data_warp.h"
#include "test_golden.h"

static const uint8_t border[4] = {7, 77, 177, 255};

static void noise(uint8_t *p, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = (uint8_t)(seed >> 16);
    }
}

START_TEST(identity_and_integer_shift) {
    enum { W = 9, H = 7, C = 3 };
    uint8_t src[W * H * C], dst[W * H * C];
    noise(src, sizeof src, 1);
    const double id[6] = {1, 0, 0, 0, 1, 0};
    for (int m = 0; m < 3; m++) {
        tgc_warp_affine_u8(src, W, H, C, id, (tgc_interp)m, border, dst);
        ck_assert_msg(!memcmp(src, dst, sizeof src), "identity changes the image (interpolation %d)", m);
    }
    /* dst(x, y) = src(x - 2, y + 1): the first two columns and the last row are the border. */
    const double sh[6] = {1, 0, 2, 0, 1, -1};
    for (int m = 0; m < 3; m++) {
        tgc_warp_affine_u8(src, W, H, 3, sh, (tgc_interp)m, border, dst);
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                for (int k = 0; k < C; k++) {
                    int sx = x - 2, sy = y + 1;
                    int want = sx >= 0 && sy < H ? src[(sy * W + sx) * C + k] : border[k];
                    ck_assert_int_eq(dst[(y * W + x) * C + k], want);
                }
    }
}
END_TEST

START_TEST(half_pixel_bilinear) {
    /* A shift by half a pixel averages neighbours, rounding half up: (10 + 21) / 2 -> 16. */
    uint8_t src[4] = {10, 21, 30, 41}, dst[4];
    const double M[6] = {1, 0, -0.5, 0, 1, 0};
    tgc_warp_affine_u8(src, 4, 1, 1, M, TGC_INTERP_BILINEAR, border, dst);
    ck_assert_int_eq(dst[0], 16);
    ck_assert_int_eq(dst[1], 26);
    ck_assert_int_eq(dst[2], 36);
    ck_assert_int_eq(dst[3], (41 + 7 + 1) / 2); /* the last pixel's right neighbour is the border */
}
END_TEST

START_TEST(rotation_matrix) {
    double M[6];
    tgc_rotation_matrix(4.5, 3.5, 90, 1, M);
    ck_assert(fabs(M[0]) < 1e-15 && M[1] == 1 && M[3] == -1 && fabs(M[4]) < 1e-15);
    /* the centre is fixed */
    ck_assert(fabs(M[0] * 4.5 + M[1] * 3.5 + M[2] - 4.5) < 1e-12);
    ck_assert(fabs(M[3] * 4.5 + M[4] * 3.5 + M[5] - 3.5) < 1e-12);
    tgc_rotation_matrix(0, 0, 30, 2, M);
    ck_assert(fabs(M[0] - 2 * cos(3.14159265358979323846 / 6)) < 1e-15 && fabs(M[1] - 1) < 1e-15);
}
END_TEST

START_TEST(degenerate_matrices) {
    /* NaN, infinite and huge entries map every pixel outside the source (or, for a singular matrix, to its
     * origin): no crash, no undefined arithmetic (the sanitizer build checks), the border or pixel (0, 0). */
    enum { W = 6, H = 5, C = 2 };
    uint8_t src[W * H * C], dst[W * H * C];
    noise(src, sizeof src, 3);
    const double bad[][6] = {{NAN, 0, 0, 0, 1, 0}, {INFINITY, 0, 0, 0, 1, 0}, {1, 0, 1e300, 0, 1, 0},
                             {1e-300, 0, 0, 0, 1e-300, 0}, {1, 0, -3e9, 0, 1, 3e9}};
    for (int i = 0; i < 5; i++)
        for (int m = 0; m < 3; m++) {
            tgc_warp_affine_u8(src, W, H, C, bad[i], (tgc_interp)m, border, dst);
            for (int p = 0; p < W * H; p++)
                for (int k = 0; k < C; k++) {
                    int v = dst[p * C + k];
                    ck_assert_msg(v == border[k] || v == src[k], "matrix %d interpolation %d: %d", i, m, v);
                }
        }
}
END_TEST

static tgc_interp interp_of(const char *s) {
    if (!strcmp(s, "nearest")) return TGC_INTERP_NEAREST;
    if (!strcmp(s, "bilinear")) return TGC_INTERP_BILINEAR;
    ck_assert_msg(!strcmp(s, "bicubic"), "unknown interpolation %s", s);
    return TGC_INTERP_BICUBIC;
}

/* Every warp and rotate record of one file; returns the number compared. */
static int check_file(const char *name, int optional) {
    golden_file g;
    if (!golden_open(&g, name, optional)) return 0;
    golden_record r;
    int n = 0, maxd[3] = {0, 0, 0}, cnt[3] = {0, 0, 0};
    while (golden_next(&g, &r)) {
        int rot = !strcmp(r.word[0], "rotate");
        ck_assert_msg(rot || !strcmp(r.word[0], "warp"), "%s: unexpected record %s", g.path, r.word[0]);
        ck_assert_int_eq(r.nword, rot ? 11 : 13);
        tgc_interp m = interp_of(r.word[2]);
        uint8_t b[4];
        for (int k = 0; k < 4; k++) b[k] = (uint8_t)atoi(r.word[3 + k]);
        double M[6];
        if (rot) {
            tgc_rotation_matrix(strtod(r.word[7], NULL), strtod(r.word[8], NULL), -strtod(r.word[9], NULL),
                                strtod(r.word[10], NULL), M);
        } else {
            for (int k = 0; k < 6; k++) M[k] = strtod(r.word[7 + k], NULL);
        }
        uint8_t *out = tgc_malloc(r.out_len);
        tgc_warp_affine_u8(r.in->data, r.in->w, r.in->h, r.in->c, M, m, b, out);
        int d = golden_max_diff(out, r.out, r.out_len);
        if (d > maxd[m]) maxd[m] = d;
        cnt[m]++;
        if (d) {
            for (size_t i = 0; i < r.out_len; i++)
                if (out[i] != r.out[i]) {
                    size_t px = i / (size_t)r.in->c;
                    fprintf(stderr, "%s record %d (%s %s, %dx%dx%d): first difference at x %zu y %zu ch %zu: tgc %d, "
                            "reference %d\n", g.path, n, r.word[0], r.word[2], r.in->w, r.in->h, r.in->c,
                            px % (size_t)r.in->w, px / (size_t)r.in->w, i % (size_t)r.in->c, out[i], r.out[i]);
                    break;
                }
        }
        free(out);
        free(r.out);
        n++;
    }
    golden_close(&g);
    printf("%s: %d warps; max |tgc - cv2|: nearest %d (%d), bilinear %d (%d), bicubic %d (%d)\n", name, n,
           maxd[0], cnt[0], maxd[1], cnt[1], maxd[2], cnt[2]);
    for (int m = 0; m < 3; m++) ck_assert_msg(maxd[m] == 0, "%s: interpolation %d differs by %d", name, m, maxd[m]);
    return n;
}

START_TEST(against_cv2) {
    ck_assert_int_gt(check_file("warp.golden", 0), 20);
    check_file("warp_large.golden", 1);
}
END_TEST

int main(void) {
    Suite *s = suite_create("data_warp");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, identity_and_integer_shift);
    tcase_add_test(tc, half_pixel_bilinear);
    tcase_add_test(tc, rotation_matrix);
    tcase_add_test(tc, degenerate_matrices);
    tcase_add_test(tc, against_cv2);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
