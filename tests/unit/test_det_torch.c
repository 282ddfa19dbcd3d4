/* tests/unit/test_det_torch.c - box IoU, NMS, batched NMS and the delta coder on random boxes against
 * torchvision (tests/numerics/det_torchvision.py under Debian's python3). Skipped (77) without torch or
 * torchvision, a failure under CI=true. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "runtime/det/det.h"
#include "test_util.h"

#define PY "/usr/bin/python3"
#define SCRIPT TGC_SOURCE_DIR "/tests/numerics/det_torchvision.py"
enum { N = 400, M = 37 };

static char *dir;
static float boxes[N * 4], scores[N], classes[N], gts[M * 4], targets[N * 4], deltas[N * 4];

static uint32_t lcg_state = 12345;
static float uni(float lo, float hi) {
    lcg_state = lcg_state * 1664525u + 1013904223u;
    return lo + (hi - lo) * (float)(lcg_state >> 8) / 16777216.0f;
}

static void random_boxes(float *b, int n) {
    for (int i = 0; i < n; i++) {
        float x = uni(0, 160), y = uni(0, 160);
        b[4 * i + 0] = x, b[4 * i + 1] = y;
        b[4 * i + 2] = x + uni(2, 60), b[4 * i + 3] = y + uni(2, 60);
    }
}

/* (runs outside the Check tests: no ck_assert here) */
static int put(const char *name, const void *data, size_t bytes) {
    char *p = tgc_asprintf("%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    int ok = f && fwrite(data, 1, bytes, f) == bytes;
    if (f) ok &= fclose(f) == 0;
    if (!ok) fprintf(stderr, "test_det_torch: cannot write %s\n", p);
    free(p);
    return ok ? 0 : -1;
}

/* The file's bytes; *n gets the element count of 4-byte items. */
static void *get(const char *name, int *n) {
    char *p = tgc_asprintf("%s/%s", dir, name);
    size_t len;
    char *s = test_slurp(p, &len);
    free(p);
    *n = (int)(len / 4);
    return s;
}

START_TEST(iou_matches) {
    int n;
    float *ref = get("iou.f32", &n);
    ck_assert_int_eq(n, N * M);
    float *mine = malloc(sizeof(float) * N * M);
    tgc_det_overlaps(boxes, N, gts, M, TGC_DET_IOU, mine);
    int nonzero = 0;
    for (int i = 0; i < N * M; i++) {
        ck_assert_msg(fabsf(mine[i] - ref[i]) <= 1e-6f, "iou %d: %g vs torchvision %g", i, mine[i], ref[i]);
        nonzero += ref[i] > 0;
    }
    ck_assert_int_gt(nonzero, 100);
    free(mine);
    free(ref);
}
END_TEST

START_TEST(nms_matches) {
    int n;
    int32_t *ref = get("nms.i32", &n);
    int keep[N];
    int k = tgc_det_nms(boxes, scores, N, 0.5f, 0, keep);
    ck_assert_int_eq(k, n);
    ck_assert_int_lt(k, N); /* something was suppressed */
    for (int i = 0; i < k; i++) ck_assert_msg(keep[i] == ref[i], "nms keep[%d]: %d vs torchvision %d", i, keep[i], ref[i]);
    free(ref);
    ref = get("bnms.i32", &n);
    int32_t cls[N];
    for (int i = 0; i < N; i++) cls[i] = (int32_t)classes[i];
    k = tgc_det_batched_nms(boxes, scores, cls, N, 0.5f, 0, keep);
    ck_assert_int_eq(k, n);
    for (int i = 0; i < k; i++)
        ck_assert_msg(keep[i] == ref[i], "batched keep[%d]: %d vs torchvision %d", i, keep[i], ref[i]);
    free(ref);
}
END_TEST

START_TEST(coder_matches) {
    tgc_det_coder_cfg cc;
    tgc_det_coder_cfg_default(&cc);
    int n;
    float *ref = get("decode.f32", &n), out[N * 4];
    ck_assert_int_eq(n, N * 4);
    const float max_hw[2] = {150, 180};
    tgc_det_delta_decode(&cc, boxes, deltas, N, max_hw, out);
    for (int i = 0; i < N * 4; i++)
        ck_assert_msg(fabsf(out[i] - ref[i]) <= 1e-4f * (1 + fabsf(ref[i])), "decode %d: %g vs %g", i, out[i], ref[i]);
    free(ref);
    ref = get("encode.f32", &n);
    tgc_det_delta_encode(&cc, boxes, targets, N, out);
    for (int i = 0; i < N * 4; i++)
        ck_assert_msg(fabsf(out[i] - ref[i]) <= 1e-5f * (1 + fabsf(ref[i])), "encode %d: %g vs %g", i, out[i], ref[i]);
    free(ref);
}
END_TEST

int main(void) {
    const char *ci = getenv("CI");
    int under_ci = ci && (!strcmp(ci, "true") || !strcmp(ci, "1"));
    random_boxes(boxes, N);
    random_boxes(gts, M);
    random_boxes(targets, N);
    for (int i = 0; i < N; i++) {
        scores[i] = uni(0, 1);
        classes[i] = (float)(int)uni(0, 4);
        for (int k = 0; k < 4; k++) deltas[4 * i + k] = uni(-2, 2);
    }
    const char *tmp = getenv("TMPDIR");
    dir = tgc_asprintf("%s/tgc_det_torch_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) return fprintf(stderr, "mkdtemp %s failed\n", dir), 1;
    if (put("boxes.f32", boxes, sizeof boxes) || put("scores.f32", scores, sizeof scores) ||
        put("classes.f32", classes, sizeof classes) || put("gts.f32", gts, sizeof gts) ||
        put("targets.f32", targets, sizeof targets) || put("deltas.f32", deltas, sizeof deltas))
        return 1;
    char *cmd = tgc_asprintf("'%s' '%s' '%s' %d %d >'%s/py.log' 2>&1", PY, SCRIPT, dir, N, M, dir);
    int rc = system(cmd);
    free(cmd);
    int code = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
    if (code != 0) {
        char *log = tgc_asprintf("cat '%s/py.log'", dir);
        printf("test_det_torch: %s exited %d:\n", SCRIPT, code);
        fflush(stdout);
        if (system(log) != 0) printf("(no log)\n");
        free(log);
        test_rm_tree(dir);
        free(dir);
        if (code == 77 || code == 127) {
            printf("skipped: torch/torchvision not importable by %s\n", PY);
            return under_ci ? 1 : 77;
        }
        return 1;
    }
    Suite *s = suite_create("det_torch");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, iou_matches);
    tcase_add_test(tc, nms_matches);
    tcase_add_test(tc, coder_matches);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    test_rm_tree(dir);
    free(dir);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
