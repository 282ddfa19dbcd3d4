/* tests/unit/test_plan_validate.c - lowering a module to a plan, and tgc_plan_validate catching bad plans. */
#include <stdlib.h>

#include "test_plan_fixture.h"

static int find_tensor(const tgc_plan *p, const char *name) {
    for (int i = 0; i < p->n_tensors; i++)
        if (!strcmp(p->tensors[i].name, name)) return i;
    return -1;
}

START_TEST(lowered_plan_is_valid) {
    tgc_plan *p = fixture_plan();
    tgc_err err;
    ck_assert_msg(tgc_plan_validate(p, &err) == 0, "%s", err.msg);
    ck_assert_int_ge(find_tensor(p, "train/inputs"), 0);
    ck_assert_int_ge(find_tensor(p, "eval/inputs"), 0);
    ck_assert_int_ge(find_tensor(p, "train/labels"), 0);
    int w = find_tensor(p, "head.fc.weight");
    ck_assert_int_ge(w, 0);
    /* Exactly one gradient of w, in the GRAD slab and in a bucket. */
    int gw = -1;
    for (int i = 0; i < p->n_tensors; i++)
        if (p->tensors[i].grad_of == w) {
            ck_assert_int_eq(gw, -1);
            gw = i;
        }
    ck_assert_int_ge(gw, 0);
    ck_assert_int_eq(p->tensors[gw].slab, TGC_SLAB_GRAD);
    ck_assert_msg(!strncmp(p->tensors[gw].name, "train/%", 7), "%s", p->tensors[gw].name);
    const tgc_program *tr = tgc_plan_program(p, "train");
    int in_bucket = 0;
    for (int b = 0; b < tr->n_buckets; b++)
        for (int j = 0; j < tr->buckets[b].n; j++) in_bucket += tr->buckets[b].tensors[j] == gw;
    ck_assert_int_eq(in_bucket, 1);
    ck_assert_int_eq(p->params, 27);
    ck_assert(p->macs_per_sample == 8 * 3); /* one [1,8] x [8,3] matmul per sample */
    ck_assert_uint_ge(p->slab_bytes[TGC_SLAB_ARENA], tr->mem.arena_bytes);
    ck_assert_uint_ge(tr->mem.arena_bytes, tr->mem.lower_bound_bytes);
    ck_assert_int_eq(tr->batch, 4);
    ck_assert_int_eq(tr->n_outputs, 1);
    tgc_plan_free(p);
}
END_TEST

START_TEST(overlap_caught) {
    tgc_plan *p = fixture_plan();
    tgc_err err;
    /* Put every arena tensor of train at offset 0: some pair is live together. */
    for (int i = 0; i < p->n_tensors; i++)
        if (p->tensors[i].slab == TGC_SLAB_ARENA && !strncmp(p->tensors[i].name, "train/", 6)) p->tensors[i].offset = 0;
    ck_assert_int_eq(tgc_plan_validate(p, &err), -1);
    ck_assert_msg(strstr(err.msg, "overlap") && strstr(err.msg, "program train"), "%s", err.msg);
    tgc_plan_free(p);
}
END_TEST

START_TEST(outside_slab_caught) {
    tgc_plan *p = fixture_plan();
    tgc_err err;
    int w = find_tensor(p, "head.fc.weight");
    p->tensors[w].offset = p->slab_bytes[TGC_SLAB_PARAM];
    ck_assert_int_eq(tgc_plan_validate(p, &err), -1);
    ck_assert_msg(strstr(err.msg, "head.fc.weight") && strstr(err.msg, "outside"), "%s", err.msg);
    tgc_plan_free(p);
}
END_TEST

START_TEST(type_mismatch_caught) {
    tgc_plan *p = fixture_plan();
    tgc_err err;
    /* The matmul result claims another shape (same byte size, so only inference can tell). */
    const tgc_program *ev = tgc_plan_program(p, "eval");
    int t = ev->instr[0].out[0];
    ck_assert_int_eq(p->tensors[t].type.shape.rank, 2);
    p->tensors[t].type.shape = tgc_shape2(3, 4);
    ck_assert_int_eq(tgc_plan_validate(p, &err), -1);
    ck_assert_msg(strstr(err.msg, "[3,4]") && strstr(err.msg, "[4,3]"), "%s", err.msg);
    tgc_plan_free(p);
}
END_TEST

START_TEST(read_before_write_caught) {
    tgc_plan *p = fixture_plan();
    tgc_err err;
    tgc_program *ev = &p->programs[1];
    ck_assert_str_eq(ev->name, "eval");
    /* Swap the two instructions: bias_add now reads the matmul result before it exists. */
    tgc_instr tmp = ev->instr[0];
    ev->instr[0] = ev->instr[1];
    ev->instr[1] = tmp;
    ck_assert_int_eq(tgc_plan_validate(p, &err), -1);
    ck_assert_msg(strstr(err.msg, "before it is written"), "%s", err.msg);
    tgc_plan_free(p);
}
END_TEST

/* ---- buckets as loaded: the fields of a plan's bucket reach the placement checker ------------------- */

/* The instruction of program pr writing tensor t, or -1. */
static int writer(const tgc_program *pr, int t) {
    for (int k = 0; k < pr->n_instr; k++)
        for (int j = 0; j < pr->instr[k].n_out; j++)
            if (pr->instr[k].out[j] == t) return k;
    return -1;
}

static tgc_program *train_of(tgc_plan *p) {
    tgc_program *tr = &p->programs[0];
    ck_assert_str_eq(tr->name, "train");
    ck_assert_int_eq(tr->n_buckets, 1);
    ck_assert_int_eq(tr->buckets[0].n, 2);
    return tr;
}

static void expect_invalid(const tgc_plan *p, const char *want) {
    tgc_err err;
    ck_assert_int_eq(tgc_plan_validate(p, &err), -1);
    ck_assert_msg(strstr(err.msg, "program train") && strstr(err.msg, want), "no '%s' in: %s", want, err.msg);
}

/* A bucket issued before its last gradient is written all-reduces a half-computed gradient (a DDP race). */
START_TEST(bucket_ready_instr_caught) {
    tgc_plan *p = fixture_plan();
    tgc_program *tr = train_of(p);
    tgc_plan_bucket *bk = &tr->buckets[0];
    int first = writer(tr, bk->tensors[0]), last = writer(tr, bk->tensors[1]);
    ck_assert_int_lt(first, last);
    ck_assert_int_eq(bk->ready_instr, last);
    char want[96];
    snprintf(want, sizeof want, "bucket 0 is ready after op %d, but its last gradient is produced by op %d", first, last);
    bk->ready_instr = first;
    expect_invalid(p, want);
    bk->ready_instr = last + 1; /* late: the first update (which must read reduced gradients) */
    expect_invalid(p, "bucket 0 is ready after op");
    bk->ready_instr = last;
    tgc_err err;
    ck_assert_msg(tgc_plan_validate(p, &err) == 0, "%s", err.msg);
    tgc_plan_free(p);
}
END_TEST

/* The same through plan.bin: the corrupted field survives writing and reading and is caught on load. */
START_TEST(bucket_ready_instr_caught_after_load) {
    tgc_plan *p = fixture_plan();
    tgc_program *tr = train_of(p);
    tr->buckets[0].ready_instr = writer(tr, tr->buckets[0].tensors[0]);
    tgc_buf b = {0};
    fixture_bytes(p, &b);
    tgc_err err;
    tgc_plan *q = tgc_plan_deserialize(b.data, b.len, "race.plan", &err);
    ck_assert_msg(q != NULL, "%s", err.msg);
    ck_assert_int_eq(q->programs[0].buckets[0].ready_instr, tr->buckets[0].ready_instr);
    expect_invalid(q, "bucket 0 is ready after op");
    tgc_plan_free(q);
    tgc_buf_free(&b);
    tgc_plan_free(p);
}
END_TEST

START_TEST(bucket_offset_caught) {
    tgc_plan *p = fixture_plan();
    train_of(p)->buckets[0].offset = 64;
    expect_invalid(p, "bucket 0 starts at 64, expected 0");
    tgc_plan_free(p);
}
END_TEST

/* The collective covers [offset, offset + bytes) of the GRAD slab: a bucket longer than its gradients'
 * slots would have it reduce memory past the slab's end. */
START_TEST(bucket_bytes_caught) {
    tgc_plan *p = fixture_plan();
    tgc_plan_bucket *bk = &train_of(p)->buckets[0];
    ck_assert_uint_eq(bk->offset + bk->bytes, p->slab_bytes[TGC_SLAB_GRAD]);
    bk->bytes += 64;
    expect_invalid(p, "past the end of its last gradient's slot");
    bk->bytes -= 128; /* now short of its last gradient */
    expect_invalid(p, "is not inside bucket 0");
    tgc_plan_free(p);
}
END_TEST

START_TEST(bucket_tensors_caught) {
    tgc_plan *p = fixture_plan();
    tgc_program *tr = train_of(p);
    tgc_plan_bucket *bk = &tr->buckets[0];
    int g0 = bk->tensors[0], g1 = bk->tensors[1];
    /* A temp that is no gradient. */
    bk->tensors[0] = tr->instr[0].out[0];
    expect_invalid(p, "which is not a gradient");
    /* A gradient twice (and the other one in no bucket). */
    bk->tensors[0] = g1;
    expect_invalid(p, "is in bucket 0 and again in bucket 0");
    /* Out of order. */
    bk->tensors[0] = g1;
    bk->tensors[1] = g0;
    expect_invalid(p, "is not inside bucket 0");
    bk->tensors[0] = g0;
    bk->tensors[1] = g1;
    /* The gradient link: a bucket tensor that is no parameter's gradient. */
    int of = p->tensors[g0].grad_of;
    p->tensors[g0].grad_of = -1;
    expect_invalid(p, "which is not a gradient");
    p->tensors[g0].grad_of = of;
    tgc_err err;
    ck_assert_msg(tgc_plan_validate(p, &err) == 0, "%s", err.msg);
    tgc_plan_free(p);
}
END_TEST

START_TEST(eval_state_mismatch_refused) {
    tgc_module m;
    tgc_err err;
    fixture_module(&m);
    tgc_pipeline_opts o = {0};
    ck_assert_msg(tgc_run_pipeline(&m, &o, &err) == 0, "%s", err.msg);
    int b = tgc_graph_find(m.eval, "head.fc.bias");
    m.eval->vals[b].type.shape = tgc_shape1(5);
    ck_assert_ptr_null(tgc_plan_from_module(&m, NULL, &err));
    ck_assert_msg(strstr(err.msg, "head.fc.bias") && strstr(err.msg, "[5]"), "%s", err.msg);
    free(m.eval->vals[b].name);
    m.eval->vals[b].name = tgc_strdup("head.other");
    m.eval->vals[b].type.shape = tgc_shape1(3);
    ck_assert_ptr_null(tgc_plan_from_module(&m, NULL, &err));
    ck_assert_msg(strstr(err.msg, "head.other") && strstr(err.msg, "not in the train graph"), "%s", err.msg);
    tgc_module_free(&m);
}
END_TEST

START_TEST(print_smoke) {
    tgc_plan *p = fixture_plan();
    char *text = NULL, *json = NULL;
    size_t tn = 0, jn = 0;
    FILE *f = open_memstream(&text, &tn);
    tgc_plan_print(p, f);
    fclose(f);
    f = open_memstream(&json, &jn);
    tgc_plan_print_json(p, f);
    fclose(f);
    ck_assert_msg(strstr(text, "params: 27") && strstr(text, "program train") && strstr(text, "bucket 0"), "%s", text);
    ck_assert_msg(strstr(json, "\"params\": 27,") && strstr(json, "\"programs\": {\"train\": {\"ops\": "), "%s", json);
    free(text), free(json);
    tgc_plan_free(p);
}
END_TEST

int main(void) {
    Suite *s = suite_create("plan_validate");
    TCase *tc = tcase_create("validate");
    tcase_add_test(tc, lowered_plan_is_valid);
    tcase_add_test(tc, overlap_caught);
    tcase_add_test(tc, outside_slab_caught);
    tcase_add_test(tc, type_mismatch_caught);
    tcase_add_test(tc, read_before_write_caught);
    tcase_add_test(tc, bucket_ready_instr_caught);
    tcase_add_test(tc, bucket_ready_instr_caught_after_load);
    tcase_add_test(tc, bucket_offset_caught);
    tcase_add_test(tc, bucket_bytes_caught);
    tcase_add_test(tc, bucket_tensors_caught);
    tcase_add_test(tc, eval_state_mismatch_refused);
    tcase_add_test(tc, print_smoke);
    suite_add_tcase(s, tc);
    return fixture_run(s);
}
