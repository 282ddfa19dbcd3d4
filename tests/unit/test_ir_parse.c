/* tests/unit/test_ir_parse.c - the attribute table (ir/attrs.def) and the reader of the text form
 * (ir/parse.c): every construct read back and printed identically, value renumbering, attributes of every
 * kind, errors with FILE:LINE:COL, and every prefix and many corruptions of a valid text read without a
 * crash or a leak (run under ASan). */
#include <check.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir/ir.h"

static const char *const names[] = {"train", "eval"};

static char *print_str(const tgc_graph *g) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_ptr_nonnull(f);
    tgc_graph_print(g, f);
    fclose(f);
    return buf;
}

/* Parses text (both graph names allowed); ck-fails with the message when it does not parse. */
static void parse_ok(const char *text, tgc_graph **g) {
    tgc_err err = {{0}};
    int rc = tgc_ir_parse(text, strlen(text), "t.ir", names, 2, g, &err);
    ck_assert_msg(rc == 0, "%s", err.msg);
}

/* The message of a text that must not parse. */
static const char *parse_fail(const char *text) {
    static tgc_err err;
    tgc_graph *g[2] = {(tgc_graph *)1, (tgc_graph *)1};
    int rc = tgc_ir_parse(text, strlen(text), "t.ir", names, 2, g, &err);
    ck_assert_msg(rc < 0, "parsed: %s", text);
    ck_assert_ptr_null(g[0]);
    ck_assert_ptr_null(g[1]);
    return err.msg;
}

/* ---- ir/attrs.def ----------------------------------------------------------------------------- */
START_TEST(attr_table_rows) {
    /* rows in bit order (the text form and plan.bin store them in row order) */
    uint32_t rows = 0;
    for (int i = 0; i < TGC_ATTR_COUNT; i++) {
        const tgc_attr_info *r = &tgc_attr_table[i];
        ck_assert_msg(r->bit && !(r->bit & (r->bit - 1)), "%s: one TGC_A_* bit", r->name);
        if (i) ck_assert_msg(r->bit >= tgc_attr_table[i - 1].bit, "%s is out of bit order", r->name);
        ck_assert_int_ge(r->n, 1);
        ck_assert_uint_lt(r->offset, sizeof(tgc_attrs));
        rows |= r->bit;
    }
    /* every bit an op reads has its fields */
    for (int op = 0; op < TGC_OP_COUNT; op++)
        ck_assert_msg((tgc_op_table[op].attrs & ~rows) == 0, "%s names an attribute bit without a row",
                      tgc_op_table[op].name);
    ck_assert_uint_eq(tgc_attr_table[TGC_ATTR_trans_b].bit, TGC_A_TRANS);
    ck_assert_uint_eq(tgc_attr_table[TGC_ATTR_pad].offset, offsetof(tgc_attrs, pad));
    ck_assert_int_eq(tgc_attr_table[TGC_ATTR_pad].n, 4);
    ck_assert_int_eq(tgc_attr_table[TGC_ATTR_dtype].kind, TGC_AK_DTYPE);
}
END_TEST

START_TEST(attr_defaults) {
    tgc_attrs a = tgc_attrs_default();
    ck_assert(a.kernel[0] == 1 && a.kernel[1] == 1 && a.stride[0] == 1 && a.stride[1] == 1);
    ck_assert(a.pad[0] == 0 && a.pad[1] == 0 && a.pad[2] == 0 && a.pad[3] == 0);
    ck_assert(a.dilation[0] == 1 && a.dilation[1] == 1 && a.groups == 1 && a.axis == 0);
    ck_assert(a.ceil_mode == 0 && a.count_include_pad == 1 && a.trans_a == 0 && a.trans_b == 0 && a.nesterov == 0);
    ck_assert(a.eps == 1e-5 && a.momentum == 0.1 && a.alpha == 1.0 && a.label_smooth == 0);
    ck_assert(a.weight_decay == 0 && a.beta1 == 0.9 && a.beta2 == 0.999 && a.dampening == 0);
    ck_assert(a.shape.rank == 0 && a.dtype == TGC_F32);
}
END_TEST

/* ---- reading back ------------------------------------------------------------------------------ */
/* Every construct of the text form, as the printer writes it. */
static const char full_text[] =
    "graph @train {\n"
    "  %0 = input \"inputs\" : f32[2,3,8,8] @input+0\n"
    "  %1 = input \"labels\" : i32[2] @input+1536\n"
    "  %2 = param \"conv.weight\" : f32[4,3,3,3] @param+0 init=normal(0, 0.272166)  # kaiming_normal(mode=fan_out)\n"
    "  %3 = param \"fc.weight\" : f32[10,4] @param+448 init=trunc_normal(0, 0.02, -2, 2) lr_mult=0.5 decay_mult=0\n"
    "  %4 = param \"fc.bias\" : f32[10] @param+640 init=uniform(-0.5, 0.5)\n"
    "  %5 = buffer \"bn.running_var\" : f32[4] @buffer+0 init=const(1)\n"
    "  %6 = input \"lr\" : f32[] @input+1600\n"
    "  %7 = optstate \"optimizer.fc.bias.exp_avg\" : f32[10] @optstate+0 init=const(0)\n"
    "  %8 : f32[2,4,8,8] @arena+0 = conv2d %0, %2 {stride=[1,1], pad=[1,1,1,1], dilation=[1,1], groups=1}  # conv\n"
    "  %9 : f32[2,4,4,4] @arena+2048 = avg_pool2d %8 {kernel=[2,2], stride=[2,2], pad=[0,0,0,0], ceil_mode=0, "
    "count_include_pad=1}\n"
    "  %10 : f32[2,4,1,1] @arena+0 = max_pool2d %9 {kernel=[4,4], stride=[4,4], pad=[0,0,0,0], ceil_mode=1}\n"
    "  %11 : f32[2,4] @arena+0 = reshape %10 {shape=[2,4]}  # neck\n"
    "  %12 : f32[2,10] @arena+64 = matmul %11, %3 {trans_a=0, trans_b=1}  # head.fc\n"
    "  %13 : f32[2,10] @arena+64 = bias_add %12, %4 {axis=1} group=3  # head.fc\n"
    "  %14 : f32[2,10] @arena+64 = scale %13 {alpha=0.5} group=3\n"
    "  %15 : f32[] @arena+0 = softmax_cross_entropy %14, %1 {alpha=1, label_smooth=0.1}  # head.loss\n"
    "  %16 : f32[10] @grad+0 = bias_grad %14 {axis=1}  # head.fc; grad of fc.bias\n"
    "  allreduce_bucket 0 @grad+0 bytes=64 (%16)\n"
    "  %17 : i32[2,10] @arena+192 = cast %14 {dtype=i32}\n"
    "  %18 : f16[3] @arena+0 = fill {alpha=2.5, shape=[3], dtype=f16}\n"
    "  adamw_update %4, %16, %7, %7, %6, %6 {eps=1e-08, alpha=1, weight_decay=0.01, beta1=0.9, beta2=0.999}  # fc.bias\n"
    "  output %15\n"
    "}\n"
    "graph @eval {\n"
    "  %0 = input \"inputs\" : f32[2,4]\n"
    "  %1 : f32[2,4] = relu %0\n"
    "  output %1\n"
    "}\n";

START_TEST(full_round_trip) {
    tgc_graph *g[2];
    parse_ok(full_text, g);
    ck_assert_ptr_nonnull(g[0]);
    ck_assert_ptr_nonnull(g[1]);
    char *a = print_str(g[0]), *b = print_str(g[1]);
    size_t na = strlen(a);
    ck_assert_int_eq(strncmp(a, full_text, na), 0);
    ck_assert_str_eq(b, full_text + na);
    free(a), free(b);

    const tgc_graph *t = g[0];
    ck_assert_int_eq(t->n_vals, 19);
    ck_assert_int_eq(t->n_ops, 12);
    ck_assert_int_eq(t->vals[2].kind, TGC_VAL_PARAM);
    ck_assert_str_eq(t->vals[2].init.desc, "kaiming_normal(mode=fan_out)");
    ck_assert_int_eq(t->vals[3].init.kind, TGC_INIT_TRUNC_NORMAL);
    ck_assert(t->vals[3].init.lo == -2 && t->vals[3].init.hi == 2 && t->vals[3].lr_mult == 0.5);
    ck_assert_int_eq(t->vals[5].kind, TGC_VAL_BUFFER);
    ck_assert_int_eq(t->vals[7].kind, TGC_VAL_OPTSTATE);
    ck_assert_int_eq(t->vals[9].slab, TGC_SLAB_ARENA);
    ck_assert_uint_eq(t->vals[9].offset, 2048);
    ck_assert_int_eq(t->vals[9].def_op, 1);
    ck_assert_int_eq(t->vals[16].grad_of, 4);
    ck_assert_int_eq(t->vals[15].is_output, 1);
    ck_assert_str_eq(t->ops[0].scope, "conv");
    ck_assert_ptr_null(t->ops[1].scope);
    ck_assert_int_eq(t->ops[0].attrs.pad[3], 1);
    ck_assert_int_eq(t->ops[2].attrs.ceil_mode, 1);
    ck_assert_int_eq(t->ops[2].attrs.count_include_pad, 1); /* not max_pool2d's: the default */
    ck_assert_int_eq(t->ops[4].attrs.trans_b, 1);
    ck_assert_int_eq(t->ops[5].group, 3);
    ck_assert_int_eq(t->ops[4].group, -1);
    ck_assert(t->ops[7].attrs.label_smooth == 0.1);
    ck_assert_str_eq(t->ops[8].scope, "head.fc");
    ck_assert_int_eq(t->ops[9].attrs.dtype, TGC_I32);
    ck_assert_int_eq(t->ops[10].attrs.shape.rank, 1);
    ck_assert(t->ops[11].attrs.eps == 1e-8 && t->ops[11].n_out == 0 && t->ops[11].n_in == 6);
    ck_assert_int_eq(t->n_buckets, 1);
    ck_assert_int_eq(t->buckets[0].ready_op, 8);
    ck_assert_int_eq(t->buckets[0].n_vals, 1);
    ck_assert_int_eq(t->buckets[0].vals[0], 16);
    ck_assert_uint_eq(t->buckets[0].bytes, 64);
    /* the arena's size, not in the text: where its last value ends, rounded to 64 bytes */
    ck_assert_uint_eq(t->mem.arena_bytes, 2048 + 512);
    tgc_err err;
    ck_assert_msg(tgc_graph_verify(g[0], &err) == 0, "%s", err.msg);
    ck_assert_msg(tgc_graph_verify(g[1], &err) == 0, "%s", err.msg);
    tgc_graph_free(g[0]);
    tgc_graph_free(g[1]);
}
END_TEST

/* Value numbers as written, in any order and with gaps: values are numbered in the order of theirs;
 * attributes left out take their defaults; comments and blank lines anywhere. */
START_TEST(renumber_and_defaults) {
    const char *text = "// a comment\n"
                       "\n"
                       "graph @eval {\n"
                       "  // another\n"
                       "  %40 : f32[2,4,8,8] = conv2d %7, %12 {pad=[1,1,1,1]}  # c\n"
                       "  %12 = param \"w\" : f32[4,3,3,3]\n"
                       "  %7 = input \"x\" : f32[2,3,8,8]\n"
                       "\n"
                       "  output %40\n"
                       "}\n";
    tgc_graph *g[2];
    parse_ok(text, g);
    ck_assert_ptr_null(g[0]);
    char *s = print_str(g[1]);
    ck_assert_str_eq(s, "graph @eval {\n"
                        "  %0 = input \"x\" : f32[2,3,8,8]\n"
                        "  %1 = param \"w\" : f32[4,3,3,3]\n"
                        "  %2 : f32[2,4,8,8] = conv2d %0, %1 {stride=[1,1], pad=[1,1,1,1], dilation=[1,1], groups=1}  # c\n"
                        "  output %2\n"
                        "}\n");
    free(s);
    tgc_graph_free(g[1]);
}
END_TEST

/* Gradients named in a comment go to the results of their parameters' types, in order. */
START_TEST(gradients_by_type) {
    const char *text =
        "graph @train {\n"
        "  %0 = input \"x\" : f32[2,4,3,3]\n"
        "  %1 = param \"g\" : f32[4]\n"
        "  %2 = param \"b\" : f32[4]\n"
        "  %3 = input \"m\" : f32[4]\n"
        "  %4 = input \"s\" : f32[4]\n"
        "  %5 : f32[2,4,3,3], %6 : f32[4], %7 : f32[4] = batch_norm_bwd %0, %0, %1, %3, %4 {eps=1e-05}  # bn; grad of g, grad of b\n"
        "}\n";
    tgc_graph *g[2];
    parse_ok(text, g);
    ck_assert_int_eq(g[0]->vals[5].grad_of, -1);
    ck_assert_int_eq(g[0]->vals[6].grad_of, 1);
    ck_assert_int_eq(g[0]->vals[7].grad_of, 2);
    ck_assert_str_eq(g[0]->ops[0].scope, "bn");
    tgc_graph_free(g[0]);
}
END_TEST

/* ---- errors ------------------------------------------------------------------------------------ */
typedef struct bad_case {
    const char *body; /* the lines inside graph @train { ... } */
    const char *msg;  /* expected in the message, with its position */
} bad_case;

#define X "  %0 = input \"x\" : f32[4,8]\n"
static const bad_case bad_cases[] = {
    {X "  %1 : f32[4,8] = relu %0 %0\n", "t.ir:3:27: unexpected '%' at the end of the line"},
    {X "  %1 : f32[4,8] = relu\n", "t.ir:3:23: relu takes 1 operand, the line gives 0"},
    {X "  %1 : f32[4,8] = add %0, %0, %0\n", "t.ir:3:31: add takes 2 operands"},
    {X "  %1 : f32[4,8], %2 : f32[4,8] = relu %0\n", "t.ir:3:3: relu has 1 result, the line gives 2"},
    {X "  relu %0\n", "t.ir:3:3: relu has 1 result, the line gives 0"},
    {X "  %1 = temp \"t\" : f32[4,8]\n", "t.ir:3:8: a temp value is defined by the op"},
    {X "  %1 = frob \"t\" : f32[4,8]\n", "t.ir:3:8: expected a value kind"},
    {X "  %1 = param \"w : f32[4,8]\n", "t.ir:3:14: the name has no closing '\"'"},
    {X "  %1 = param \"w\" f32[4,8]\n", "t.ir:3:18: expected ':' before the value's type, found 'f32'"},
    {X "  %1 = param \"w\" : f32[4,8] init=gauss(0, 1)\n", "t.ir:3:34: unknown init 'gauss'"},
    {X "  %1 = param \"w\" : f32[4,8] init=normal(0, 1, 2)\n", "t.ir:3:45: normal takes 2 numbers"},
    {X "  %1 = param \"w\" : f32[4,8] lr_mult=1 lr_mult=2\n", "t.ir:3:39: lr_mult is given twice"},
    {X "  %1 = param \"w\" : f32[4,8] foo=1\n", "t.ir:3:29: expected init=, lr_mult=, decay_mult=, frozen= or '#'"},
    {X "  %1 = param \"w\" : f32[4,8] @heap+0\n", "t.ir:3:30: unknown slab 'heap'"},
    {X "  %1 = param \"w\" : f32[4,8] @param 0\n", "t.ir:3:36: expected '+' after the slab"},
    {"  %0 = input \"x\" : f32[1,2,3,4,5,6,7]\n", "t.ir:2:23: the type's shape has more than 6 dimensions"},
    {"  %0 = input \"x\" : f32[-1]\n", "t.ir:2:24: dimension -1 of the type's shape is not in [1, 2^40]"},
    {"  %0 = input \"x\" : f32[1099511627777]\n", "not in [1, 2^40]"},
    {"  %0 = input \"x\" : f32[1048576,1048576,1048576]\n", "t.ir:2:23: the type's shape has more than 2^52 elements"},
    {"  %0 = input \"x\" : f32[99999999999999999999]\n", "t.ir:2:24: a dimension is too large"},
    {"  %0 = input \"x\" : f32[4,]\n", "t.ir:2:26: expected a dimension (an integer), found ']'"},
    {"  %99999999999 = input \"x\" : f32[4]\n", "t.ir:2:3: value number %99999999999 is too large"},
    {"  % = input \"x\" : f32[4]\n", "t.ir:2:3: expected a number after '%'"},
    {X "  %1 : f32[4,8] = scale %0 {alpha=}\n", "t.ir:3:35: expected alpha (a number), found '}'"},
    {X "  %1 : f32[4,8] = scale %0 {alpha=1, alpha=2}\n", "t.ir:3:38: attribute 'alpha' is given twice"},
    {X "  %1 : f32[4,8] = scale %0 {zeta=1}\n", "t.ir:3:29: unknown attribute 'zeta'"},
    {X "  %1 : f32[4,8] = scale %0 {alpha=1\n", "t.ir:3:36: expected ',' or '}' after an attribute"},
    {X "  %1 : f32[4,8] = matmul %0, %0 {trans_a=2}\n", "t.ir:3:42: trans_a must be 0 or 1"},
    {X "  %1 : f32[4,8] = cast %0 {dtype=f64}\n", "t.ir:3:34: unknown dtype 'f64'"},
    {X "  %1 : f32[4,8] = reshape %0 {shape=[0,8]}\n", "t.ir:3:38: dimension 0 of the shape attribute"},
    {X "  %1 : f32[4,8] = reshape %0 {shape=[8,8]}\n", "t.ir:3:19: reshape: cannot reshape f32[4,8]"},
    {"  %0 = input \"x\" : f32[4,4,8,8]\n  %1 = param \"w\" : f32[4,4,3,3]\n"
     "  %2 : f32[4,4,6,6] = conv2d %0, %1 {stride=[1,1,1]}\n",
     "t.ir:4:45: stride takes 2 values"},
    {"  %0 = input \"x\" : f32[4,4,8,8]\n  %1 = param \"w\" : f32[4,4,3,3]\n"
     "  %2 : f32[4,4,6,6] = conv2d %0, %1 {stride=[0,1]}\n",
     "t.ir:4:23: conv2d: stride=[0,1] must be at least 1"},
    {X "  %1 : f32[4,8] = relu %0 group=-2\n", "t.ir:3:27: group -2 is out of range"},
    {X "  %1 : f32[4,8] = relu %0  # grad of x, grad of x\n", "t.ir:3:28: grad of 'x': no result of relu left"},
    {X "  %1 : f32[4,8] = relu %0  # scope; grad of nope\n", "t.ir:3:28: grad of 'nope': graph @train has no value"},
    {X "  allreduce_bucket 0 @grad+0 bytes=0 ()\n", "t.ir:3:3: a bucket follows the op that completes it"},
    {X "  %1 : f32[4,8] = relu %0\n  allreduce_bucket 1 @grad+0 bytes=0 (%1)\n",
     "t.ir:4:3: bucket 1: the graph's 1 buckets are numbered 0 to 0"},
    {X "  %1 : f32[4,8] = relu %0\n  allreduce_bucket 0 @grad+0 bytes=0 (%1)\n  allreduce_bucket 0 @grad+0 bytes=0 (%1)\n",
     "t.ir:5:3: bucket 0 is given twice"},
    {X "  %1 : f32[4,8] = relu %0\n  allreduce_bucket 0 @arena+0 bytes=0 (%1)\n", "expected 'grad'"},
    {X "  %1 : f32[4,8] = relu %0\n  allreduce_bucket 0 @grad+0 bytes=0 (%1, %9)\n",
     "t.ir:4:43: value %9 is not defined in graph @train"},
    {X "  output %3\n", "t.ir:3:10: value %3 is not defined"},
    {X "  output\n", "t.ir:3:9: expected a value (%N), found the end of the line"},
    {X "  %0 : f32[4,8] = relu %0\n", "t.ir:3:3: value %0 is defined twice (first at line 2)"},
    {X "  %1 f32[4,8] = relu %0\n", "t.ir:3:6: expected '=' (a declaration) or ':' (an op's result), found 'f32'"},
    {X "  %1 : f32[4,8] relu %0\n", "t.ir:3:17: expected '=' after the results, found 'relu'"},
    {X "  {\n", "t.ir:3:3: expected an op name, found '{'"},
    {X "  %1 : f32[4,8] = relu %0\n  graph @eval {\n", "t.ir:4:3: unknown op 'graph'"},
    {X "  %1 : f32[4,8] = relu %0 \x01\n", "t.ir:3:27: unexpected byte 0x01 at the end of the line"},
};
#undef X

START_TEST(errors_name_their_place) {
    for (size_t i = 0; i < TGC_ARRAY_LEN(bad_cases); i++) {
        char *text = tgc_asprintf("graph @train {\n%s}\n", bad_cases[i].body);
        const char *msg = parse_fail(text);
        ck_assert_msg(strstr(msg, bad_cases[i].msg), "case %zu: got '%s', want '%s'", i, msg, bad_cases[i].msg);
        free(text);
    }
}
END_TEST

START_TEST(errors_outside_graphs) {
    ck_assert_str_eq(parse_fail("hello\n"), "t.ir:1:1: expected 'graph @NAME {' or a // comment, found 'hello'");
    ck_assert_str_eq(parse_fail("graph train {\n}\n"), "t.ir:1:7: expected '@' before the graph's name, found 'train'");
    ck_assert_str_eq(parse_fail("graph @main {\n}\n"), "t.ir:1:8: unexpected graph @main (expected @train or @eval)");
    ck_assert_str_eq(parse_fail("graph @train\n}\n"), "t.ir:1:13: expected '{' after the graph's name, found the end of the line");
    ck_assert_str_eq(parse_fail("graph @train {\n}\ngraph @train {\n}\n"), "t.ir:3:8: a second graph @train");
    ck_assert_str_eq(parse_fail("graph @train {\n  %0 = input \"x\" : f32[4]\n"), "t.ir:1:8: graph @train has no closing '}'");
    ck_assert_str_eq(parse_fail("graph @train {\n} x\n"), "t.ir:2:3: unexpected 'x' at the end of the line");
    /* an empty text is no graph at all: not an error for the reader */
    tgc_graph *g[2];
    parse_ok("", g);
    ck_assert_ptr_null(g[0]);
    ck_assert_ptr_null(g[1]);
    /* CRLF line ends and tabs are fine */
    parse_ok("graph @eval {\r\n\t%0 = input \"x\" : f32[4]\r\n\toutput %0\r\n}\r\n", g);
    ck_assert_ptr_nonnull(g[1]);
    tgc_graph_free(g[1]);
}
END_TEST

/* Every prefix of a valid text, and the text with single bytes replaced, reads or fails cleanly. */
START_TEST(prefixes_and_corruptions) {
    size_t n = strlen(full_text);
    tgc_err err;
    tgc_graph *g[2];
    for (size_t len = 0; len <= n; len++) {
        if (tgc_ir_parse(full_text, len, "t.ir", names, 2, g, &err) == 0) tgc_graph_free(g[0]), tgc_graph_free(g[1]);
        else ck_assert_msg(!strncmp(err.msg, "t.ir:", 5), "%s", err.msg);
    }
    static const char repl[] = {'%', '[', ']', ',', '{', '}', '"', '#', '@', '+', '-', '9', '0', 'x', ' ', '\n', '\0', '='};
    char *t = tgc_malloc(n);
    uint32_t seed = 12345;
    for (int iter = 0; iter < 4000; iter++) {
        memcpy(t, full_text, n);
        for (int k = 0; k < 1 + iter % 3; k++) {
            seed = seed * 1664525u + 1013904223u;
            size_t at = (seed >> 8) % n;
            seed = seed * 1664525u + 1013904223u;
            t[at] = repl[(seed >> 8) % sizeof repl];
        }
        if (tgc_ir_parse(t, n, "t.ir", names, 2, g, &err) == 0) {
            /* whatever reads prints, and verifies or not without crashing */
            for (int i = 0; i < 2; i++)
                if (g[i]) {
                    free(print_str(g[i]));
                    tgc_graph_verify(g[i], &err);
                    tgc_graph_free(g[i]);
                }
        } else {
            ck_assert_msg(!strncmp(err.msg, "t.ir:", 5), "%s", err.msg);
        }
    }
    free(t);
}
END_TEST

int main(void) {
    Suite *s = suite_create("ir_parse");
    TCase *tc = tcase_create("parse");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, attr_table_rows);
    tcase_add_test(tc, attr_defaults);
    tcase_add_test(tc, full_round_trip);
    tcase_add_test(tc, renumber_and_defaults);
    tcase_add_test(tc, gradients_by_type);
    tcase_add_test(tc, errors_name_their_place);
    tcase_add_test(tc, errors_outside_graphs);
    tcase_add_test(tc, prefixes_and_corruptions);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
