/* tests/unit/test_plan_layout.c - the layout pass (passes/layout.c) on small modules and the layouts in
 * plan.bin: the module's layout and every tensor's survive the round trip, and the reader and
 * tgc_plan_validate refuse what breaks the format or the op table's layout rules. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "plan/plan.h"

/* conv -> relu -> global_avg_pool -> CE; eval the same forward to the logits. */
static const char module_text[] =
    "graph @train {\n"
    "  %0 = input \"inputs\" : f32[2,3,4,4]\n"
    "  %1 = input \"labels\" : i32[2]\n"
    "  %2 = param \"conv.weight\" : f32[4,3,3,3] init=normal(0, 0.1)\n"
    "  %3 : f32[2,4,4,4] = conv2d %0, %2 {stride=[1,1], pad=[1,1,1,1], dilation=[1,1], groups=1}  # conv\n"
    "  %4 : f32[2,4,4,4] = relu %3  # act\n"
    "  %5 : f32[2,4] = global_avg_pool %4  # neck\n"
    "  %6 : f32[] = softmax_cross_entropy %5, %1 {alpha=1, label_smooth=0}  # loss\n"
    "  output %6\n"
    "}\n"
    "graph @eval {\n"
    "  %0 = input \"inputs\" : f32[2,3,4,4]\n"
    "  %1 = param \"conv.weight\" : f32[4,3,3,3] init=normal(0, 0.1)\n"
    "  %2 : f32[2,4,4,4] = conv2d %0, %1 {stride=[1,1], pad=[1,1,1,1], dilation=[1,1], groups=1}  # conv\n"
    "  %3 : f32[2,4,4,4] = relu %2  # act\n"
    "  %4 : f32[2,4] = global_avg_pool %3  # neck\n"
    "  output %4\n"
    "}\n";

static void read_module(tgc_module *m, const char *text) {
    tgc_err err;
    ck_assert_msg(tgc_module_parse(text, strlen(text), "m.ir", m, &err) == 0, "%s", err.msg);
}

static int count_op(const tgc_graph *g, tgc_opcode code) {
    int n = 0;
    for (int i = 0; i < g->n_ops; i++) n += g->ops[i].code == code;
    return n;
}

static tgc_plan *compile(tgc_layout layout) {
    tgc_module m;
    tgc_err err;
    read_module(&m, module_text);
    m.layout = layout;
    ck_assert_msg(tgc_run_pipeline(&m, NULL, &err) == 0, "%s", err.msg);
    tgc_plan *p = tgc_plan_from_module(&m, NULL, &err);
    ck_assert_msg(p != NULL, "%s", err.msg);
    tgc_module_free(&m);
    return p;
}

static tgc_plan *round_trip(const tgc_plan *p, tgc_err *err) {
    tgc_buf b = {0};
    ck_assert_msg(tgc_plan_serialize(p, &b, err) == 0, "%s", err->msg);
    tgc_plan *q = tgc_plan_deserialize(b.data, b.len, "l.plan", err);
    tgc_buf_free(&b);
    return q;
}

/* The first tensor of layout l, or -1. */
static int find_layout(const tgc_plan *p, tgc_layout l) {
    for (int t = 0; t < p->n_tensors; t++)
        if (p->tensors[t].type.layout == l) return t;
    return -1;
}

START_TEST(pass_row_changes_nothing) {
    tgc_module m;
    tgc_err err;
    read_module(&m, module_text);
    ck_assert_int_eq(m.layout, TGC_LAYOUT_ROW);
    int n = m.train->n_ops;
    ck_assert_msg(tgc_pass_layout(&m, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(m.train->n_ops, n);
    for (int v = 0; v < m.train->n_vals; v++) ck_assert_int_eq(m.train->vals[v].type.layout, TGC_LAYOUT_ROW);
    tgc_module_free(&m);
}
END_TEST

START_TEST(pass_nhwc_one_relayout_and_idempotent) {
    tgc_module m;
    tgc_err err;
    read_module(&m, module_text);
    m.layout = TGC_LAYOUT_NHWC;
    ck_assert_msg(tgc_pass_layout(&m, &err) == 0 && tgc_pass_verify(&m, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(count_op(m.train, TGC_OP_RELAYOUT), 1);
    ck_assert_int_eq(count_op(m.eval, TGC_OP_RELAYOUT), 1);
    const tgc_graph *g = m.train;
    ck_assert_int_eq(g->ops[0].code, TGC_OP_RELAYOUT); /* the image, before its conv */
    ck_assert_str_eq(g->ops[0].scope, "conv");
    for (int i = 0; i < g->n_ops; i++) {
        const tgc_value *y = &g->vals[g->ops[i].out[0]];
        int want = g->ops[i].code == TGC_OP_CONV2D || g->ops[i].code == TGC_OP_RELU || g->ops[i].code == TGC_OP_RELAYOUT;
        ck_assert_int_eq(y->type.layout, want ? TGC_LAYOUT_NHWC : TGC_LAYOUT_ROW);
    }
    /* the module's loss still names the scalar output */
    ck_assert_int_eq(g->vals[m.train_loss].type.shape.rank, 0);
    ck_assert(g->vals[m.train_loss].is_output);
    /* again: the same graph */
    int n = g->n_ops;
    ck_assert_msg(tgc_pass_layout(&m, &err) == 0 && tgc_pass_verify(&m, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(m.train->n_ops, n);
    ck_assert_int_eq(count_op(m.train, TGC_OP_RELAYOUT), 1);
    tgc_module_free(&m);
}
END_TEST

/* Mixed precision casts rank-4 weights: elementwise ops alone stay row-major (no relayout of a weight). */
START_TEST(pass_keeps_weight_casts_row) {
    tgc_module m;
    tgc_err err;
    read_module(&m, module_text);
    m.layout = TGC_LAYOUT_NHWC;
    m.amp.dtype = TGC_BF16;
    ck_assert_msg(tgc_pass_amp(&m, &err) == 0 && tgc_pass_layout(&m, &err) == 0 && tgc_pass_verify(&m, &err) == 0,
                  "%s", err.msg);
    const tgc_graph *g = m.train;
    int casts = 0;
    for (int i = 0; i < g->n_ops; i++) {
        const tgc_op *op = &g->ops[i];
        if (op->code != TGC_OP_CAST || g->vals[op->in[0]].type.shape.rank != 4) continue;
        casts++;
        int of_weight = g->vals[op->in[0]].kind == TGC_VAL_PARAM;
        ck_assert_int_eq(g->vals[op->out[0]].type.layout, of_weight ? TGC_LAYOUT_ROW : TGC_LAYOUT_NHWC);
    }
    ck_assert_int_eq(casts, 2); /* the image's (NHWC, after its relayout) and the weight's */
    ck_assert_int_eq(count_op(g, TGC_OP_RELAYOUT), 1);
    tgc_module_free(&m);
}
END_TEST

/* A target without NHWC kernels refuses a module of layout NHWC, naming itself. */
START_TEST(pass_refuses_target_without_nhwc) {
    tgc_module m;
    tgc_err err;
    read_module(&m, module_text);
    m.layout = TGC_LAYOUT_NHWC;
    ck_assert(tgc_target_find("cuda")->nhwc_ok && tgc_target_find("cpu")->nhwc_ok); /* both built-ins take NHWC */
    ck_assert_int_eq(tgc_target_find("cpu")->layout_default, TGC_LAYOUT_ROW);
    tgc_target t = *tgc_target_find("cpu");
    t.nhwc_ok = 0;
    strcpy(t.name, "rowonly");
    m.target = &t;
    ck_assert_int_lt(tgc_pass_layout(&m, &err), 0);
    ck_assert_str_eq(err.msg, "--layout nhwc: target rowonly has no NHWC kernels for every op of the layout rules "
                              "(compile with --layout row)");
    tgc_module_free(&m);
}
END_TEST

START_TEST(plan_round_trip_keeps_layouts) {
    tgc_plan *p = compile(TGC_LAYOUT_NHWC);
    ck_assert_int_eq(p->layout, TGC_LAYOUT_NHWC);
    tgc_err err;
    ck_assert_msg(tgc_plan_validate(p, &err) == 0, "%s", err.msg);
    ck_assert_int_ge(find_layout(p, TGC_LAYOUT_NHWC), 0);
    tgc_plan *q = round_trip(p, &err);
    ck_assert_msg(q != NULL, "%s", err.msg);
    ck_assert_msg(tgc_plan_validate(q, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(q->layout, TGC_LAYOUT_NHWC);
    ck_assert_int_eq(q->n_tensors, p->n_tensors);
    for (int t = 0; t < p->n_tensors; t++) ck_assert_int_eq(q->tensors[t].type.layout, p->tensors[t].type.layout);
    tgc_plan_free(q);
    tgc_plan_free(p);
    p = compile(TGC_LAYOUT_ROW);
    q = round_trip(p, &err);
    ck_assert_msg(q != NULL, "%s", err.msg);
    ck_assert_int_eq(q->layout, TGC_LAYOUT_ROW);
    ck_assert_int_lt(find_layout(q, TGC_LAYOUT_NHWC), 0);
    tgc_plan_free(q);
    tgc_plan_free(p);
}
END_TEST

/* The reader refuses an unknown layout, in META and in a tensor, by name. */
START_TEST(plan_reader_refuses_unknown_layouts) {
    tgc_plan *p = compile(TGC_LAYOUT_NHWC);
    tgc_err err;
    p->layout = (tgc_layout)5;
    ck_assert_ptr_null(round_trip(p, &err));
    ck_assert_str_eq(err.msg, "l.plan: corrupted plan: META: layout '?' is not row or nhwc");
    p->layout = TGC_LAYOUT_NHWC;
    int t = find_layout(p, TGC_LAYOUT_NHWC);
    p->tensors[t].type.layout = (tgc_layout)3;
    ck_assert_ptr_null(round_trip(p, &err));
    char want[128];
    snprintf(want, sizeof want, "l.plan: corrupted plan: TENSORS: tensor %d has unknown layout 3", t);
    ck_assert_str_eq(err.msg, want);
    tgc_plan_free(p);
}
END_TEST

/* tgc_plan_validate holds the tensors' layouts to the op table's rules (the verifier's, through the graph
 * it rebuilds): a conv result turned row next to its nhwc relu, and an nhwc input. */
START_TEST(plan_validate_refuses_broken_layouts) {
    tgc_plan *p = compile(TGC_LAYOUT_NHWC);
    tgc_err err;
    const tgc_program *tr = tgc_plan_program(p, "train");
    int conv = -1;
    for (int k = 0; k < tr->n_instr && conv < 0; k++)
        if (tr->instr[k].code == TGC_OP_CONV2D) conv = k;
    ck_assert_int_ge(conv, 0);
    int y = tr->instr[conv].out[0];
    p->tensors[y].type.layout = TGC_LAYOUT_ROW;
    ck_assert_int_lt(tgc_plan_validate(p, &err), 0);
    ck_assert_msg(strstr(err.msg, "plan: program train: graph @train: op #1 conv2d at 'conv': operand 0") &&
                      strstr(err.msg, "is nhwc but result 0") && strstr(err.msg, "is row: the activations an op takes "
                                                                                    "in nhwc share one layout"),
                  "%s", err.msg);
    p->tensors[y].type.layout = TGC_LAYOUT_NHWC;
    ck_assert_msg(tgc_plan_validate(p, &err) == 0, "%s", err.msg);
    int in = tr->inputs[0];
    p->tensors[in].type.layout = TGC_LAYOUT_NHWC;
    ck_assert_int_lt(tgc_plan_validate(p, &err), 0);
    ck_assert_msg(strstr(err.msg, "(train/inputs) is nhwc: inputs and state are row-major"), "%s", err.msg);
    tgc_plan_free(p);
}
END_TEST

/* The plan's layout and its tensors' agree; a device whose kernels do not take NHWC refuses an nhwc plan. */
START_TEST(plan_layout_and_device) {
    tgc_plan *p = compile(TGC_LAYOUT_NHWC);
    tgc_err err;
    ck_assert_msg(tgc_plan_check_target(p, "cpu", &err) == 0, "%s", err.msg);
    p->layout = TGC_LAYOUT_ROW;
    ck_assert_int_lt(tgc_plan_validate(p, &err), 0);
    int t = find_layout(p, TGC_LAYOUT_NHWC);
    char want[160];
    snprintf(want, sizeof want, "plan: tensor %d '%s' is nhwc in a plan compiled with layout row", t, p->tensors[t].name);
    ck_assert_str_eq(err.msg, want);
    p->layout = TGC_LAYOUT_NHWC;
    p->target = *tgc_target_find("cuda");
    if (!tgc_target_find("cuda")->nhwc_ok) {
        ck_assert_int_lt(tgc_plan_check_target(p, "cuda:0", &err), 0);
        ck_assert_str_eq(err.msg, "the plan was compiled with --layout nhwc, which the cuda device does not take yet; "
                                  "recompile it: `tgc compile CONFIG --target cuda --layout row`");
    } else {
        ck_assert_msg(tgc_plan_check_target(p, "cuda:0", &err) == 0, "%s", err.msg);
    }
    tgc_plan_free(p);
}
END_TEST

int main(void) {
    Suite *s = suite_create("plan_layout");
    TCase *tc = tcase_create("layout");
    tcase_add_test(tc, pass_row_changes_nothing);
    tcase_add_test(tc, pass_nhwc_one_relayout_and_idempotent);
    tcase_add_test(tc, pass_keeps_weight_casts_row);
    tcase_add_test(tc, pass_refuses_target_without_nhwc);
    tcase_add_test(tc, plan_round_trip_keeps_layouts);
    tcase_add_test(tc, plan_reader_refuses_unknown_layouts);
    tcase_add_test(tc, plan_validate_refuses_broken_layouts);
    tcase_add_test(tc, plan_layout_and_device);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
