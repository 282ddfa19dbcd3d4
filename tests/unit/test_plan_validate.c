/* tests/unit/test_plan_validate.c - lowering a module to a plan, tgc_plan_validate catching bad plans (fusion
 * groups and optimizer layouts included), and the target a plan is compiled for. */
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

/* ---- fusion groups and the target ----------------------------------------------------------------
 * The fixture's train program (asserted by train_program): [1] bias_add and [2] relu form elementwise
 * group 0 (in place), [9] and [10] the SGD-momentum updates of head.fc.bias and head.fc.weight form
 * optimizer group 1 (bias at param+0, weight at param+64, and likewise in grad and optstate). Each test
 * corrupts one field and checks the message names the program, the instruction and the field. */

static tgc_program *train_program(tgc_plan *p) {
    tgc_program *tr = &p->programs[0];
    ck_assert_str_eq(tr->name, "train");
    ck_assert_int_eq(tr->n_instr, 11);
    static const tgc_opcode want[11] = {TGC_OP_MATMUL, TGC_OP_BIAS_ADD, TGC_OP_RELU, TGC_OP_SOFTMAX_CE, TGC_OP_FILL,
                                        TGC_OP_SOFTMAX_CE_BWD, TGC_OP_RELU_BWD, TGC_OP_BIAS_GRAD, TGC_OP_MATMUL,
                                        TGC_OP_SGD_MOMENTUM_UPDATE, TGC_OP_SGD_MOMENTUM_UPDATE};
    static const int group[11] = {-1, 0, 0, -1, -1, -1, -1, -1, -1, 1, 1};
    for (int k = 0; k < 11; k++) {
        ck_assert_msg(tr->instr[k].code == want[k], "instruction %d is %s", k, tgc_op_table[tr->instr[k].code].name);
        ck_assert_int_eq(tr->instr[k].group, group[k]);
    }
    return tr;
}

/* Validation fails with exactly `msg`. */
static void refused_with(const tgc_plan *p, const char *msg) {
    tgc_err err;
    ck_assert_int_eq(tgc_plan_validate(p, &err), -1);
    ck_assert_str_eq(err.msg, msg);
}

START_TEST(group_member_not_elementwise) {
    tgc_plan *p = fixture_plan();
    train_program(p)->instr[3].group = 0;
    refused_with(p, "plan: program train: instruction 3 (softmax_cross_entropy) in fusion group 0 is not an elementwise "
                    "op with one result");
    tgc_plan_free(p);
}
END_TEST

START_TEST(group_not_consecutive) {
    tgc_plan *p = fixture_plan();
    train_program(p)->instr[6].group = 0;
    refused_with(p, "plan: program train: instruction 6 (relu_bwd) is in fusion group 0, whose instructions from 1 end "
                    "before it: a group's instructions must be consecutive");
    tgc_plan_free(p);
}
END_TEST

START_TEST(group_id_invalid) {
    tgc_plan *p = fixture_plan();
    train_program(p)->instr[4].group = -3;
    refused_with(p, "plan: program train: instruction 4 (fill) has group id -3 (-1 or a group number)");
    tgc_plan_free(p);
}
END_TEST

/* Two elementwise ops of different sizes in one group: relu(head.fc.bias) -> a new [3] temp inserted
 * after relu_bwd (12 elements), both given group 7. */
START_TEST(group_sizes_differ) {
    tgc_plan *p = fixture_plan();
    tgc_program *tr = train_program(p);
    int bias = find_tensor(p, "head.fc.bias");
    p->tensors = realloc(p->tensors, sizeof(tgc_plan_tensor) * (size_t)(p->n_tensors + 1));
    int t = p->n_tensors++;
    p->tensors[t] = (tgc_plan_tensor){.name = tgc_strdup("train/extra"), .kind = TGC_VAL_TEMP,
                                      .type = p->tensors[bias].type, .slab = TGC_SLAB_ARENA, .offset = 192,
                                      .bytes = 12, .grad_of = -1};
    tr->instr = realloc(tr->instr, sizeof(tgc_instr) * (size_t)(tr->n_instr + 1));
    memmove(&tr->instr[8], &tr->instr[7], sizeof(tgc_instr) * (size_t)(tr->n_instr - 7));
    tr->n_instr++;
    tr->instr[7] = (tgc_instr){.code = TGC_OP_RELU, .n_in = 1, .in = {bias}, .n_out = 1, .out = {t},
                               .attrs = tgc_attrs_default(), .group = 7};
    tr->instr[6].group = 7;
    for (int b = 0; b < tr->n_buckets; b++)
        if (tr->buckets[b].ready_instr >= 7) tr->buckets[b].ready_instr++;
    refused_with(p, "plan: program train: instruction 7 (relu) in fusion group 7: result 'train/extra' has 3 elements, "
                    "the group 12");
    tr->instr[7].group = -1; /* the same plan without the group is fine */
    tr->instr[6].group = -1;
    tgc_err err;
    ck_assert_msg(tgc_plan_validate(p, &err) == 0, "%s", err.msg);
    tgc_plan_free(p);
}
END_TEST

/* bias_add's operand %8 dies inside the group and relu's result %10 reuses part of its memory: liveness
 * allows it (verify-plan passes), chunked execution would not (relu's chunk 0 overwrites elements of %8
 * that bias_add's later chunks still read). Alignment 16 so that a partial overlap can be placed (the
 * optimizer group, laid out in 64-byte slots, is dissolved). */
START_TEST(group_overlap_refused) {
    tgc_plan *p = fixture_plan();
    tgc_program *tr = train_program(p);
    p->target.alignment = 16;
    tr->instr[9].group = tr->instr[10].group = -1;
    /* Buckets end at their last gradient's slot, now rounded to 16 bytes. */
    for (int b = 0; b < tr->n_buckets; b++) {
        const tgc_plan_tensor *last = &p->tensors[tr->buckets[b].tensors[tr->buckets[b].n - 1]];
        tr->buckets[b].bytes = (last->offset + last->bytes + 15) / 16 * 16 - tr->buckets[b].offset;
    }
    int x = tr->instr[1].in[0], y = tr->instr[1].out[0], z = tr->instr[2].out[0];
    ck_assert_uint_eq(p->tensors[x].offset, 0);
    p->tensors[y].offset = 64;
    p->tensors[z].offset = 16;
    refused_with(p, "plan: program train: fusion group 0 (instructions 1-2): 'train/%8' [0, 48) (instruction 1) and "
                    "'train/%10' [16, 64) (instruction 2) overlap in the arena slab other than element for element");
    tr->instr[1].group = tr->instr[2].group = -1; /* without the group, the same placement is valid */
    tgc_err err;
    ck_assert_msg(tgc_plan_validate(p, &err) == 0, "%s", err.msg);
    tgc_plan_free(p);
}
END_TEST

START_TEST(update_group_other_op) {
    tgc_plan *p = fixture_plan();
    tgc_instr *in = &train_program(p)->instr[10];
    in->code = TGC_OP_SGD_UPDATE; /* (param, grad, lr): valid on its own */
    in->in[2] = in->in[3];
    in->n_in = 3;
    refused_with(p, "plan: program train: instruction 10 (sgd_update) in optimizer group 1 is not a "
                    "sgd_momentum_update like instruction 9");
    tgc_plan_free(p);
}
END_TEST

START_TEST(update_group_other_attributes) {
    static const char *const names[] = {"alpha", "weight_decay", "momentum", "dampening",
                                        "nesterov"};
    for (int f = 0; f < 5; f++) {
        tgc_plan *p = fixture_plan();
        tgc_attrs *a = &train_program(p)->instr[10].attrs;
        if (f == 0) a->alpha += 0.5;
        if (f == 1) a->weight_decay += 0.5;
        if (f == 2) a->momentum += 0.05;
        if (f == 3) a->dampening += 0.5;
        if (f == 4) a->nesterov = !a->nesterov;
        char want[256];
        snprintf(want, sizeof want, "plan: program train: instruction 10 (sgd_momentum_update) in optimizer group 1: "
                                    "attribute %s differs from instruction 9", names[f]);
        refused_with(p, want);
        tgc_plan_free(p);
    }
}
END_TEST

START_TEST(update_group_other_lr) {
    tgc_plan *p = fixture_plan();
    tgc_instr *in = &train_program(p)->instr[10];
    in->in[3] = in->in[4]; /* lr <- step: both f32 scalars */
    refused_with(p, "plan: program train: instruction 10 (sgd_momentum_update) in optimizer group 1: operand 3 is "
                    "'train/step', not the group's shared scalar 'train/lr'");
    tgc_plan_free(p);
}
END_TEST

START_TEST(update_group_layout) {
    tgc_plan *p = fixture_plan();
    train_program(p);
    int m = find_tensor(p, "optimizer.head.fc.weight.momentum_buffer");
    ck_assert_uint_eq(p->tensors[m].offset, 64);
    /* one slot further: inside a larger slab, overlapping nothing, aligned, but not where the group needs it */
    p->slab_bytes[TGC_SLAB_OPTSTATE] = 512;
    p->tensors[m].offset = 128;
    refused_with(p, "plan: program train: instruction 10 (sgd_momentum_update) in optimizer group 1: operand 2 "
                    "'optimizer.head.fc.weight.momentum_buffer' is at optstate+128, expected optstate+64: a group's "
                    "tensors sit back to back in 64-byte slots, in the same order in every slab");
    /* in another slab */
    p->slab_bytes[TGC_SLAB_BUFFER] = 128;
    p->tensors[m].slab = TGC_SLAB_BUFFER;
    p->tensors[m].offset = 0;
    refused_with(p, "plan: program train: instruction 10 (sgd_momentum_update) in optimizer group 1: operand 2 "
                    "'optimizer.head.fc.weight.momentum_buffer' is in the buffer slab, the group's first in the "
                    "optstate slab (a group's operands stay in one state slab each)");
    /* parameters in the other order */
    p->tensors[m].slab = TGC_SLAB_OPTSTATE;
    p->tensors[m].offset = 64;
    int w = find_tensor(p, "head.fc.weight"), b = find_tensor(p, "head.fc.bias");
    p->tensors[w].offset = 0;
    p->tensors[b].offset = 128;
    refused_with(p, "plan: program train: instruction 10 (sgd_momentum_update) in optimizer group 1: operand 0 "
                    "'head.fc.weight' is at param+0, expected param+192: a group's tensors sit back to back in 64-byte "
                    "slots, in the same order in every slab");
    tgc_plan_free(p);
}
END_TEST

START_TEST(misaligned_tensor_refused) {
    tgc_plan *p = fixture_plan();
    int m = find_tensor(p, "optimizer.head.fc.weight.momentum_buffer");
    p->slab_bytes[TGC_SLAB_OPTSTATE] = 512;
    p->tensors[m].offset = 200;
    char want[200];
    snprintf(want, sizeof want, "plan: tensor %d 'optimizer.head.fc.weight.momentum_buffer' at optstate+200 is not "
                                "aligned to the target's 64 bytes", m);
    refused_with(p, want);
    p->tensors[m].offset = 64;
    p->target.alignment = 48;
    refused_with(p, "plan: target cpu: alignment 48 is not a power of two");
    tgc_plan_free(p);
}
END_TEST

START_TEST(indices_out_of_range_refused) {
    tgc_plan *p = fixture_plan();
    tgc_program *tr = train_program(p);
    char want[200];
    int saved = tr->instr[0].in[1];
    tr->instr[0].in[1] = 999;
    snprintf(want, sizeof want, "plan: program train: instruction 0 (matmul): operand 1 is tensor 999, outside the "
                                "%d-entry tensor table", p->n_tensors);
    refused_with(p, want);
    tr->instr[0].in[1] = saved;
    tr->outputs[0] = -2;
    snprintf(want, sizeof want, "plan: program train: output 0 is tensor -2, outside the %d-entry tensor table",
             p->n_tensors);
    refused_with(p, want);
    tgc_plan_free(p);
}
END_TEST

/* --target cuda: every offset a multiple of 256, and the plan runs only where it was compiled for. */
START_TEST(cuda_target_plan) {
    const tgc_target *cuda = tgc_target_find("cuda");
    ck_assert_ptr_nonnull(cuda);
    ck_assert_uint_eq(cuda->alignment, 256);
    ck_assert_uint_eq(cuda->workspace_bytes, 32u << 20);
    ck_assert_uint_eq(cuda->fuse, TGC_FUSE_TRANSCENDENTALS);
    ck_assert_ptr_null(tgc_target_find("tpu"));
    tgc_plan *p = fixture_plan_for(cuda);
    tgc_err err;
    ck_assert_msg(tgc_plan_validate(p, &err) == 0, "%s", err.msg);
    ck_assert_str_eq(p->target.name, "cuda");
    int w = find_tensor(p, "head.fc.weight"), b = find_tensor(p, "head.fc.bias");
    ck_assert_uint_eq(p->tensors[b].offset, 0);
    ck_assert_uint_eq(p->tensors[w].offset, 256); /* the 12-byte bias takes a 256-byte slot */
    for (int i = 0; i < p->n_tensors; i++)
        ck_assert_msg(p->tensors[i].offset % 256 == 0, "%s at %llu", p->tensors[i].name,
                      (unsigned long long)p->tensors[i].offset);
    for (int s = 0; s < TGC_SLAB_COUNT; s++) ck_assert_uint_eq(p->slab_bytes[s] % 256, 0);
    ck_assert_int_eq(tgc_plan_check_target(p, "cuda", &err), 0);
    ck_assert_int_eq(tgc_plan_check_target(p, "cuda:1", &err), 0);
    ck_assert_int_eq(tgc_plan_check_target(p, "cpu", &err), -1);
    ck_assert_str_eq(err.msg, "the plan was compiled for target cuda and cannot run on the cpu device; recompile it for "
                              "cpu: `tgc compile CONFIG --target cpu`");
    ck_assert_int_eq(tgc_cfg_apply_option(p->config, "filename=configs/x.yaml", &err), 0);
    ck_assert_int_eq(tgc_plan_check_target(p, "cpu", &err), -1);
    ck_assert_msg(strstr(err.msg, "`tgc compile configs/x.yaml --target cpu`"), "%s", err.msg);
    tgc_plan_free(p);
    p = fixture_plan();
    ck_assert_int_eq(tgc_plan_check_target(p, "cpu", &err), 0);
    ck_assert_int_eq(tgc_plan_check_target(p, "cuda:0", &err), -1);
    ck_assert_str_eq(err.msg, "the plan was compiled for target cpu and cannot run on the cuda device; recompile it for "
                              "cuda: `tgc compile CONFIG --target cuda`");
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
    tcase_add_test(tc, group_member_not_elementwise);
    tcase_add_test(tc, group_not_consecutive);
    tcase_add_test(tc, group_id_invalid);
    tcase_add_test(tc, group_sizes_differ);
    tcase_add_test(tc, group_overlap_refused);
    tcase_add_test(tc, update_group_other_op);
    tcase_add_test(tc, update_group_other_attributes);
    tcase_add_test(tc, update_group_other_lr);
    tcase_add_test(tc, update_group_layout);
    tcase_add_test(tc, misaligned_tensor_refused);
    tcase_add_test(tc, indices_out_of_range_refused);
    tcase_add_test(tc, cuda_target_plan);
    suite_add_tcase(s, tc);
    return fixture_run(s);
}
