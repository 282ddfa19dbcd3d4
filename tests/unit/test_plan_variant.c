/* tests/unit/test_plan_variant.c - the portrait programs of a two-orientation plan: tgc_plan_add_variant
 * merging a second module's train and eval into a plan, and tgc_plan_validate refusing a variant whose
 * buckets, gradients or inputs no longer match its base program. */
#include <stdlib.h>

#include "test_plan_fixture.h"

/* The two-layer MLP with two buckets (fixture_mlp_module), lowered to a plan. */
static tgc_plan *mlp_plan(void) {
    tgc_module m;
    tgc_err err;
    fixture_mlp_module(&m, 0.0001, 0.0001);
    tgc_plan *p = tgc_plan_from_module(&m, NULL, &err);
    ck_assert_msg(p != NULL, "%s", err.msg);
    tgc_module_free(&m);
    return p;
}

/* The plan with the same module merged again as the "_portrait" variant. */
static tgc_plan *merged_plan(void) {
    tgc_plan *p = mlp_plan();
    tgc_module m;
    tgc_err err;
    fixture_mlp_module(&m, 0.0001, 0.0001);
    ck_assert_msg(tgc_plan_add_variant(p, &m, TGC_PLAN_PORTRAIT, &err) == 0, "%s", err.msg);
    tgc_module_free(&m);
    return p;
}

static int find_tensor(const tgc_plan *p, const char *name) {
    for (int i = 0; i < p->n_tensors; i++)
        if (!strcmp(p->tensors[i].name, name)) return i;
    return -1;
}

static tgc_program *program(tgc_plan *p, const char *name) { return (tgc_program *)tgc_plan_program(p, name); }

static void expect_invalid(const tgc_plan *p, const char *want1, const char *want2) {
    tgc_err err;
    ck_assert_int_eq(tgc_plan_validate(p, &err), -1);
    ck_assert_msg(strstr(err.msg, want1) && (!want2 || strstr(err.msg, want2)), "no '%s' / '%s' in: %s", want1,
                  want2 ? want2 : "", err.msg);
}

START_TEST(merged_plan_is_valid) {
    tgc_plan *p0 = mlp_plan(), *p = merged_plan();
    tgc_err err;
    ck_assert_msg(tgc_plan_validate(p, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(p->n_programs, 4);
    ck_assert_str_eq(p->programs[2].name, "train_portrait");
    ck_assert_str_eq(p->programs[3].name, "eval_portrait");
    /* The inputs are the variant's own, by the same names after the program's; the state is shared. */
    int in = find_tensor(p, "train_portrait/inputs");
    ck_assert_int_ge(in, 0);
    ck_assert_int_eq(p->tensors[in].slab, TGC_SLAB_INPUT);
    ck_assert_int_ge(find_tensor(p, "train_portrait/labels"), 0);
    ck_assert_int_ge(find_tensor(p, "eval_portrait/inputs"), 0);
    ck_assert_int_eq(find_tensor(p, "train_portrait/fc1.weight"), -1);
    /* Every parameter has one gradient per train program, at the same grad-slab offset; the buckets match. */
    const tgc_program *tr = tgc_plan_program(p, "train"), *tp = tgc_plan_program(p, "train_portrait");
    ck_assert_int_eq(tr->n_buckets, 2);
    ck_assert_int_eq(tp->n_buckets, 2);
    for (int b = 0; b < 2; b++) {
        ck_assert_uint_eq(tr->buckets[b].offset, tp->buckets[b].offset);
        ck_assert_uint_eq(tr->buckets[b].bytes, tp->buckets[b].bytes);
        for (int j = 0; j < tr->buckets[b].n; j++) {
            const tgc_plan_tensor *x = &p->tensors[tr->buckets[b].tensors[j]], *y = &p->tensors[tp->buckets[b].tensors[j]];
            ck_assert_int_ne(tr->buckets[b].tensors[j], tp->buckets[b].tensors[j]);
            ck_assert_int_eq(x->grad_of, y->grad_of);
            ck_assert_uint_eq(x->offset, y->offset);
            ck_assert_msg(!strncmp(y->name, "train_portrait/%", 16), "%s", y->name);
        }
    }
    /* Slabs: the state and gradient slabs as before, parameters counted once. */
    for (int s = TGC_SLAB_ARENA; s < TGC_SLAB_COUNT; s++) ck_assert_uint_eq(p->slab_bytes[s], p0->slab_bytes[s]);
    ck_assert_int_eq(p->params, 8 * 16 + 16 + 16 * 3 + 3);
    ck_assert_int_eq(tgc_plan_trainable_params(p), p->params);
    /* Through plan.bin and back: still valid, the same programs. */
    tgc_buf b = {0};
    fixture_bytes(p, &b);
    tgc_plan *q = tgc_plan_deserialize(b.data, b.len, "merged.plan", &err);
    ck_assert_msg(q != NULL, "%s", err.msg);
    ck_assert_msg(tgc_plan_validate(q, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(q->n_programs, 4);
    ck_assert_ptr_nonnull(tgc_plan_program(q, "eval_portrait"));
    tgc_plan_free(q);
    tgc_buf_free(&b);
    tgc_plan_free(p);
    tgc_plan_free(p0);
}
END_TEST

/* A larger input in the variant (as the transposed canvas of a detector may need): the input slab and the
 * arena grow to the largest program's, the others stay. */
START_TEST(input_slab_is_the_largest) {
    tgc_plan *p = merged_plan();
    uint64_t in = p->slab_bytes[TGC_SLAB_INPUT];
    int t = find_tensor(p, "eval_portrait/inputs");
    p->tensors[t].offset = in; /* past the others: the slab must grow */
    p->slab_bytes[TGC_SLAB_INPUT] = in + p->tensors[t].bytes;
    tgc_err err;
    ck_assert_msg(tgc_plan_validate(p, &err) == 0, "%s", err.msg);
    p->slab_bytes[TGC_SLAB_INPUT] = in;
    expect_invalid(p, "eval_portrait/inputs", "outside");
    tgc_plan_free(p);
}
END_TEST

/* Corruptions of a variant that its program's own checks accept, refused by the comparison with its base
 * (tgc_plan_check_variant, which tgc_plan_validate and tgc_plan_add_variant run), naming what differs. */
static void expect_mismatch(tgc_plan *p, const char *want) {
    tgc_err err;
    ck_assert_int_eq(tgc_plan_check_variant(p, tgc_plan_program(p, "train"), tgc_plan_program(p, "train_portrait"), &err),
                     -1);
    ck_assert_msg(strstr(err.msg, "program train_portrait, a variant of train") && strstr(err.msg, want), "no '%s' in: %s",
                  want, err.msg);
}

START_TEST(variant_gradient_of_another_param) {
    tgc_plan *p = merged_plan();
    tgc_program *tp = program(p, "train_portrait");
    /* The portrait program's first two gradients trade parameters: an all-reduce would add one parameter's
     * gradient on a rank running landscape to another's on a rank running portrait. */
    tgc_plan_tensor *a = &p->tensors[tp->buckets[0].tensors[0]], *b = &p->tensors[tp->buckets[0].tensors[1]];
    int g = a->grad_of;
    a->grad_of = b->grad_of;
    b->grad_of = g;
    char want[96];
    snprintf(want, sizeof want, "bucket 0 entry 0 is '%s'", a->name);
    expect_mismatch(p, want);
    b->grad_of = a->grad_of;
    a->grad_of = g;
    /* At another place in the grad slab (the bucket's own layout unchanged). */
    a->offset += 64;
    expect_mismatch(p, want);
    a->offset -= 64;
    tgc_err err;
    ck_assert_msg(tgc_plan_validate(p, &err) == 0, "%s", err.msg);
    tgc_plan_free(p);
}
END_TEST

START_TEST(variant_bucket_differs) {
    tgc_plan *p = merged_plan();
    tgc_program *tp = program(p, "train_portrait");
    tp->n_buckets = 1;
    expect_mismatch(p, "1 gradient buckets, the base program 2");
    tp->n_buckets = 2;
    tp->buckets[1].bytes += 64;
    expect_mismatch(p, "bucket 1 is");
    tp->buckets[1].bytes -= 64;
    tp->batch = 3;
    expect_mismatch(p, "batch 3, the base program's 4");
    tp->batch = 4;
    tgc_err err;
    ck_assert_msg(tgc_plan_validate(p, &err) == 0, "%s", err.msg);
    tgc_plan_free(p);
}
END_TEST

/* A variant compiled with other buckets (each program valid alone): tgc_plan_add_variant refuses it, and so
 * does tgc_plan_validate, through plan.bin too. */
START_TEST(variant_other_buckets_refused) {
    tgc_err err;
    tgc_module m;
    tgc_plan *p = mlp_plan();
    fixture_mlp_module(&m, 1, 25); /* one bucket of four gradients instead of two of two */
    ck_assert_int_eq(tgc_plan_add_variant(p, &m, TGC_PLAN_PORTRAIT, &err), -1);
    ck_assert_msg(strstr(err.msg, "train_portrait") && strstr(err.msg, "1 gradient buckets, the base program 2"), "%s",
                  err.msg);
    tgc_module_free(&m);
    ck_assert_int_eq(p->n_programs, 4);
    expect_invalid(p, "program train_portrait, a variant of train", "1 gradient buckets, the base program 2");
    tgc_buf b = {0};
    fixture_bytes(p, &b);
    tgc_plan *q = tgc_plan_deserialize(b.data, b.len, "mismatch.plan", &err);
    ck_assert_msg(q != NULL, "%s", err.msg);
    expect_invalid(q, "program train_portrait, a variant of train", "1 gradient buckets, the base program 2");
    tgc_plan_free(q);
    tgc_buf_free(&b);
    tgc_plan_free(p);
}
END_TEST

START_TEST(variant_input_renamed) {
    tgc_plan *p = merged_plan();
    int t = find_tensor(p, "train_portrait/labels");
    free(p->tensors[t].name);
    p->tensors[t].name = tgc_strdup("train_portrait/targets");
    expect_invalid(p, "train_portrait/targets", "train/labels");
    tgc_plan_free(p);
}
END_TEST

START_TEST(variant_without_base) {
    tgc_plan *p = merged_plan();
    free(program(p, "eval")->name);
    p->programs[1].name = tgc_strdup("test");
    expect_invalid(p, "program eval_portrait: no base program", NULL);
    tgc_plan_free(p);
}
END_TEST

/* The same checks at compile time: a module whose state or buckets differ is an error naming it. */
START_TEST(add_variant_mismatch_refused) {
    tgc_err err;
    tgc_module m;
    /* a parameter of another shape */
    tgc_plan *p = mlp_plan();
    fixture_mlp_module(&m, 0.0001, 0.0001);
    int w = tgc_graph_find(m.eval, "fc2.bias");
    m.eval->vals[w].type.shape = tgc_shape1(5);
    ck_assert_int_eq(tgc_plan_add_variant(p, &m, TGC_PLAN_PORTRAIT, &err), -1);
    ck_assert_msg(strstr(err.msg, "fc2.bias") && strstr(err.msg, "[5]"), "%s", err.msg);
    tgc_module_free(&m);
    tgc_plan_free(p);
    /* twice */
    p = merged_plan();
    fixture_mlp_module(&m, 0.0001, 0.0001);
    ck_assert_int_eq(tgc_plan_add_variant(p, &m, TGC_PLAN_PORTRAIT, &err), -1);
    ck_assert_msg(strstr(err.msg, "train_portrait is there already"), "%s", err.msg);
    tgc_module_free(&m);
    tgc_plan_free(p);
}
END_TEST

int main(void) {
    Suite *s = suite_create("plan_variant");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, merged_plan_is_valid);
    tcase_add_test(tc, input_slab_is_the_largest);
    tcase_add_test(tc, variant_gradient_of_another_param);
    tcase_add_test(tc, variant_bucket_differs);
    tcase_add_test(tc, variant_other_buckets_refused);
    tcase_add_test(tc, variant_input_renamed);
    tcase_add_test(tc, variant_without_base);
    tcase_add_test(tc, add_variant_mismatch_refused);
    suite_add_tcase(s, tc);
    return fixture_run(s);
}
