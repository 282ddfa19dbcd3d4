/* tests/unit/test_exec_fusion.c - whole plans through the executor: a small ResNet compiled with the
 * fusion passes trains exactly as without them (BN+relu, elementwise groups and the multi-tensor update
 * change no arithmetic) and its folded eval is within 1e-5 of the unfolded one. */
#include <check.h>
#include <math.h>
#include <string.h>

#include "plan/plan.h"
#include "frontend/frontend.h"
#include "runtime/data/data.h"
#include "runtime/exec/executor.h"
#include "test_compile.h"
#include "test_exec_util.h"

static const char *RESNET =
    TEST_RESNET_YAML(8, 8, "lr: 0.05, momentum: 0.9, nesterov: true, weight_decay: 0.0001");

static tgc_plan *compile_text(const char *text, int fused) {
    static const char *const off[] = {"fold-bn", "fuse-bn-relu", "fuse-elementwise", "fuse-optimizer"};
    return test_compile(text, off, fused ? 0 : 4);
}

/* Max relative difference between a named tensor of two executors. */
static double tensor_diff(tgc_exec *a, const tgc_plan *pa, tgc_exec *b, const tgc_plan *pb, const char *name) {
    int ia = -1, ib = -1;
    for (int i = 0; i < pa->n_tensors; i++)
        if (!strcmp(pa->tensors[i].name, name)) ia = i;
    for (int i = 0; i < pb->n_tensors; i++)
        if (!strcmp(pb->tensors[i].name, name)) ib = i;
    ck_assert_msg(ia >= 0 && ib >= 0, "no tensor %s", name);
    float *x = exec_get(a, ia), *y = exec_get(b, ib);
    int64_t n = tgc_shape_numel(&pa->tensors[ia].type.shape);
    double worst = 0, scale = 1e-12;
    for (int64_t i = 0; i < n; i++) scale = fmax(scale, fabs(y[i]));
    for (int64_t i = 0; i < n; i++) worst = fmax(worst, fabs((double)x[i] - y[i]) / scale);
    free(x);
    free(y);
    return worst;
}

START_TEST(model_fused_matches_unfused) {
    tgc_plan *p[2] = {compile_text(RESNET, 1), compile_text(RESNET, 0)};
    int groups = 0;
    for (int k = 0; k < p[0]->n_programs; k++)
        for (int i = 0; i < p[0]->programs[k].n_instr; i++) groups += p[0]->programs[k].instr[i].group >= 0;
    ck_assert_int_gt(groups, 10);
    tgc_exec *x[2];
    float loss[2][3];
    for (int k = 0; k < 2; k++) {
        tgc_err err;
        tgc_exec_opts o = {.n_threads = 2};
        x[k] = tgc_exec_new(p[k], &o, &err);
        ck_assert_msg(x[k], "%s", err.msg);
        ck_assert_msg(tgc_exec_init_state(x[k], 42, &err) == 0, "%s", err.msg);
        test_feed(x[k], "train", 7, 0, 0.05f);
        test_feed(x[k], "eval", 7, 0, 0.05f);
        int step = tgc_exec_input(x[k], "train", "step");
        for (int s = 0; s < 3; s++) {
            exec_put_f32(x[k], step, (float)(s + 1));
            ck_assert_msg(tgc_exec_run(x[k], "train", &err) == 0, "%s", err.msg);
            loss[k][s] = exec_get_f32(x[k], tgc_exec_output(x[k], "train"));
        }
        ck_assert_msg(tgc_exec_run(x[k], "eval", &err) == 0, "%s", err.msg);
    }
    /* BN+relu, the elementwise groups and the multi-tensor update change no arithmetic */
    for (int s = 0; s < 3; s++) ck_assert_msg(loss[0][s] == loss[1][s], "step %d loss %.9g vs %.9g", s + 1, loss[0][s], loss[1][s]);
    const char *names[] = {"backbone.conv1.weight", "backbone.layer1.0.bn1.bias", "head.fc.weight",
                           "optimizer.backbone.layer2.1.conv2.weight.momentum_buffer", "backbone.layer2.0.bn2.running_var"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        double d = tensor_diff(x[0], p[0], x[1], p[1], names[i]);
        ck_assert_msg(d == 0, "%s differs by %.3g", names[i], d);
    }
    /* folding BN into the eval convs: within 1e-5 of the unfolded eval */
    int la = tgc_exec_output(x[0], "eval"), lb = tgc_exec_output(x[1], "eval");
    float *ya = exec_get(x[0], la), *yb = exec_get(x[1], lb);
    int64_t n = tgc_shape_numel(&p[0]->tensors[la].type.shape);
    double worst = 0, scale = 1e-12;
    for (int64_t i = 0; i < n; i++) scale = fmax(scale, fabs(yb[i]));
    for (int64_t i = 0; i < n; i++) worst = fmax(worst, fabs((double)ya[i] - yb[i]) / scale);
    ck_assert_msg(worst <= 1e-5, "eval logits differ by %.3g", worst);
    ck_assert_msg(worst > 0, "eval logits are bit-identical: was BN folded at all?");
    free(ya);
    free(yb);
    for (int k = 0; k < 2; k++) {
        tgc_exec_free(x[k]);
        tgc_plan_free(p[k]);
    }
}
END_TEST


int main(void) {
    Suite *s = suite_create("exec_fusion");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, model_fused_matches_unfused);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
