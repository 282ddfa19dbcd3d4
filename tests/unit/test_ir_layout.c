/* tests/unit/test_ir_layout.c - the verifier's layout rules (ir/verify.c): each rule refuses a graph that
 * breaks exactly it, with a message naming the op and the value; the text form carries the layout. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir/ir.h"

/* A valid NHWC graph: the image relayout to NHWC, conv -> relu in NHWC, a relayout back for the
 * row-major-only reshape, the weight's gradient and global_avg_pool's [N,C] result row-major. */
static const char base_text[] =
    "graph @train {\n"
    "  %0 = input \"inputs\" : f32[2,3,4,4]\n"
    "  %1 = param \"w\" : f32[4,3,3,3] init=const(0.1)\n"
    "  %2 = input \"mask\" : i32[2,4,4,4]\n"
    "  %3 : f32[2,3,4,4] nhwc = relayout %0  # r\n"
    "  %4 : f32[2,4,4,4] nhwc = conv2d %3, %1 {stride=[1,1], pad=[1,1,1,1], dilation=[1,1], groups=1}  # conv\n"
    "  %5 : f32[2,4,4,4] nhwc = relu %4  # act\n"
    "  %6 : f32[2,4,4,4] = relayout %5  # act\n"
    "  %7 : f32[2,64] = reshape %6 {shape=[2,64]}  # flat\n"
    "  %8 : f32[4,3,3,3] = conv2d_bwd_filter %3, %5 {stride=[1,1], pad=[1,1,1,1], dilation=[1,1], groups=1, "
    "shape=[4,3,3,3]}  # conv; grad of w\n"
    "  %9 : f32[2,4] = global_avg_pool %5  # neck\n"
    "  output %7\n"
    "  output %9\n"
    "}\n";

static tgc_graph *parse(const char *text) {
    static const char *const names[] = {"train"};
    tgc_graph *g[1];
    tgc_err err;
    ck_assert_msg(tgc_ir_parse(text, strlen(text), "t.ir", names, 1, g, &err) == 0, "%s", err.msg);
    ck_assert_ptr_nonnull(g[0]);
    return g[0];
}

/* The base text with `from` replaced by `to` (once). */
static tgc_graph *parse_edited(const char *from, const char *to) {
    const char *at = strstr(base_text, from);
    ck_assert_msg(at != NULL, "'%s' not in the base text", from);
    char *text = tgc_asprintf("%.*s%s%s", (int)(at - base_text), base_text, to, at + strlen(from));
    tgc_graph *g = parse(text);
    free(text);
    return g;
}

static void expect_refused(tgc_graph *g, const char *want) {
    tgc_err err;
    ck_assert_int_lt(tgc_graph_verify(g, &err), 0);
    ck_assert_str_eq(err.msg, want);
    tgc_graph_free(g);
}

START_TEST(valid_graph_and_text_form) {
    tgc_graph *g = parse(base_text);
    tgc_err err;
    ck_assert_msg(tgc_graph_verify(g, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(g->vals[3].type.layout, TGC_LAYOUT_NHWC);
    ck_assert_int_eq(g->vals[6].type.layout, TGC_LAYOUT_ROW);
    ck_assert_str_eq(tgc_layout_name(TGC_LAYOUT_NHWC), "nhwc");
    ck_assert_str_eq(tgc_layout_name(TGC_LAYOUT_COUNT), "?");
    /* printed back exactly as written: nhwc after the type, row not printed */
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    tgc_graph_print(g, f);
    fclose(f);
    ck_assert_str_eq(buf, base_text);
    free(buf);
    tgc_graph_free(g);
    /* `row` may be written out; it reads as the default */
    g = parse_edited("%6 : f32[2,4,4,4] =", "%6 : f32[2,4,4,4] row =");
    ck_assert_msg(tgc_graph_verify(g, &err) == 0, "%s", err.msg);
    tgc_graph_free(g);
}
END_TEST

/* NHWC only on rank-4 float values. */
START_TEST(nhwc_needs_rank4_float) {
    expect_refused(parse_edited("%9 : f32[2,4] =", "%9 : f32[2,4] nhwc ="),
                   "graph @train: value %9 is f32[2,4] nhwc: only rank-4 float values may be nhwc");
    expect_refused(parse_edited("i32[2,4,4,4]", "i32[2,4,4,4] nhwc"),
                   "graph @train: value %2 is i32[2,4,4,4] nhwc: only rank-4 float values may be nhwc");
    tgc_graph *g = parse(base_text);
    g->vals[5].type.layout = (tgc_layout)7;
    expect_refused(g, "graph @train: value %5 has an invalid layout 7");
}
END_TEST

/* Inputs, state, outputs and gradients are row-major. */
START_TEST(inputs_state_outputs_row) {
    tgc_graph *g = parse(base_text);
    g->vals[0].type.layout = TGC_LAYOUT_NHWC;
    expect_refused(g, "graph @train: input %0 (inputs) is nhwc: inputs and state are row-major");
    g = parse(base_text);
    g->vals[1].type.layout = TGC_LAYOUT_NHWC;
    expect_refused(g, "graph @train: param %1 (w) is nhwc: inputs and state are row-major");
    g = parse(base_text);
    g->vals[5].is_output = 1;
    expect_refused(g, "graph @train: output %5 is nhwc: outputs are row-major (a relayout before them)");
    expect_refused(parse_edited("%8 : f32[4,3,3,3] =", "%8 : f32[4,3,3,3] nhwc ="),
                   "graph @train: gradient %8 f32[4,3,3,3] nhwc does not match its param w f32[4,3,3,3]");
}
END_TEST

/* An op's masked rank-4 operands and results share one layout. */
START_TEST(masked_values_share_a_layout) {
    expect_refused(parse_edited("%5 : f32[2,4,4,4] nhwc = relu", "%5 : f32[2,4,4,4] = relu"),
                   "graph @train: op #2 relu at 'act': operand 0 (%4) is nhwc but result 0 (%5) is row: the "
                   "activations an op takes in nhwc share one layout");
    /* conv2d_bwd_filter's x and dy */
    expect_refused(parse_edited("conv2d_bwd_filter %3, %5", "conv2d_bwd_filter %0, %5"),
                   "graph @train: op #5 conv2d_bwd_filter at 'conv': operand 0 (%0) is row but operand 1 (%5) is "
                   "nhwc: the activations an op takes in nhwc share one layout");
}
END_TEST

/* Outside the masks (weights, unmasked results) and at row-major-only ops, row-major only. */
START_TEST(unmasked_and_row_only_ops_row) {
    /* a convolution's weight from a relayout: operand 1 is outside conv2d's mask */
    const char *text = "graph @train {\n"
                       "  %0 = input \"inputs\" : f32[2,3,4,4]\n"
                       "  %1 = param \"w\" : f32[4,3,3,3] init=const(0.1)\n"
                       "  %2 : f32[2,3,4,4] nhwc = relayout %0  # r\n"
                       "  %3 : f32[4,3,3,3] nhwc = relayout %1  # rw\n"
                       "  %4 : f32[2,4,4,4] nhwc = conv2d %2, %3 {stride=[1,1], pad=[1,1,1,1], dilation=[1,1], "
                       "groups=1}  # conv\n"
                       "  %5 : f32[2,4] = global_avg_pool %4  # neck\n"
                       "  output %5\n"
                       "}\n";
    expect_refused(parse(text), "graph @train: op #2 conv2d at 'conv': operand 1 (%3) is nhwc, but conv2d takes it "
                                "row-major only (its layout rule)");
    /* reshape takes row-major data only */
    expect_refused(parse_edited("reshape %6", "reshape %5"),
                   "graph @train: op #4 reshape at 'flat': operand 0 (%5) is nhwc, but reshape takes row-major data "
                   "only");
    /* an unmasked result (conv2d_bwd_filter's dw, here not marked a gradient) */
    expect_refused(parse_edited("%8 : f32[4,3,3,3] = conv2d_bwd_filter %3, %5 {stride=[1,1], pad=[1,1,1,1], "
                                "dilation=[1,1], groups=1, shape=[4,3,3,3]}  # conv; grad of w",
                                "%8 : f32[4,3,3,3] nhwc = conv2d_bwd_filter %3, %5 {stride=[1,1], pad=[1,1,1,1], "
                                "dilation=[1,1], groups=1, shape=[4,3,3,3]}  # conv"),
                   "graph @train: op #5 conv2d_bwd_filter at 'conv': result 0 (%8) is nhwc, but conv2d_bwd_filter "
                   "takes it row-major only (its layout rule)");
}
END_TEST

/* relayout changes the layout. */
START_TEST(relayout_changes_layout) {
    expect_refused(parse_edited("%6 : f32[2,4,4,4] = relayout", "%6 : f32[2,4,4,4] nhwc = relayout"),
                   "graph @train: op #3 relayout at 'act': operand %5 and result %6 are both nhwc (a relayout "
                   "changes the layout)");
    tgc_graph *g = parse(base_text);
    g->vals[3].type.layout = TGC_LAYOUT_ROW;
    expect_refused(g, "graph @train: op #0 relayout at 'r': operand %0 and result %3 are both row (a relayout "
                      "changes the layout)");
}
END_TEST

/* Ops emitted on NHWC operands infer row-major results (the layout pass decides), relayout the flip. */
START_TEST(emit_infers_row_and_relayout_flips) {
    tgc_graph *g = parse(base_text);
    tgc_err err;
    int r = tgc_emit1(g, TGC_OP_RELU, NULL, "x", &err, 1, 5);
    ck_assert_msg(r >= 0, "%s", err.msg);
    ck_assert_int_eq(g->vals[r].type.layout, TGC_LAYOUT_ROW);
    int back = tgc_emit1(g, TGC_OP_RELAYOUT, NULL, "x", &err, 1, 5);
    ck_assert_msg(back >= 0, "%s", err.msg);
    ck_assert_int_eq(g->vals[back].type.layout, TGC_LAYOUT_ROW);
    int there = tgc_emit1(g, TGC_OP_RELAYOUT, NULL, "x", &err, 1, 0);
    ck_assert_msg(there >= 0, "%s", err.msg);
    ck_assert_int_eq(g->vals[there].type.layout, TGC_LAYOUT_NHWC);
    ck_assert_int_lt(tgc_emit1(g, TGC_OP_RELAYOUT, NULL, "x", &err, 1, 9), 0); /* rank 2 */
    tgc_graph_free(g);
}
END_TEST

int main(void) {
    Suite *s = suite_create("ir_layout");
    TCase *tc = tcase_create("verify");
    tcase_add_test(tc, valid_graph_and_text_form);
    tcase_add_test(tc, nhwc_needs_rank4_float);
    tcase_add_test(tc, inputs_state_outputs_row);
    tcase_add_test(tc, masked_values_share_a_layout);
    tcase_add_test(tc, unmasked_and_row_only_ops_row);
    tcase_add_test(tc, relayout_changes_layout);
    tcase_add_test(tc, emit_infers_row_and_relayout_flips);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
