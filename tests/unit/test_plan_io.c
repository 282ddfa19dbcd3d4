/* tests/unit/test_plan_io.c - plan.bin: round trip, and refusal of truncated, corrupted, foreign, newer and
 * older files. */
#include <stdlib.h>

#include "test_plan_fixture.h"
#include "test_util.h"

START_TEST(round_trip_identical) {
    tgc_plan *p = fixture_plan();
    tgc_buf a = {0}, b = {0};
    fixture_bytes(p, &a);
    tgc_err err;
    tgc_plan *q = tgc_plan_deserialize(a.data, a.len, "a.plan", &err);
    ck_assert_msg(q != NULL, "%s", err.msg);
    fixture_bytes(q, &b);
    ck_assert_uint_eq(a.len, b.len);
    ck_assert(memcmp(a.data, b.data, a.len) == 0);
    /* Content survived, not just bytes. */
    ck_assert_int_eq(q->n_tensors, p->n_tensors);
    ck_assert_int_eq(q->n_programs, 2);
    ck_assert_int_eq(q->params, 8 * 3 + 3);
    ck_assert_str_eq(q->target.name, "cpu");
    ck_assert_uint_eq(q->target.alignment, 64);
    ck_assert_uint_eq(q->target.workspace_bytes, 0);
    ck_assert_uint_eq(q->target.fuse, 0);
    ck_assert_uint_eq(q->checksum, test_rd_le32(a.data + 24));
    ck_assert_ptr_nonnull(q->config);
    ck_assert_ptr_nonnull(tgc_cfg_at(q->config, "model.type"));
    ck_assert_str_eq(tgc_cfg_at(q->config, "model.type")->s, "ImageClassifier");
    const tgc_program *tr = tgc_plan_program(q, "train"), *ev = tgc_plan_program(q, "eval");
    ck_assert_ptr_nonnull(tr);
    ck_assert_ptr_nonnull(ev);
    ck_assert_int_eq(tr->n_instr, tgc_plan_program(p, "train")->n_instr);
    ck_assert_int_ge(tr->n_buckets, 1);
    ck_assert_int_eq(ev->n_buckets, 0);
    ck_assert_int_eq(ev->batch, 4);
    ck_assert_msg(tgc_plan_validate(q, &err) == 0, "%s", err.msg);
    /* The eval program reads the same weight tensor as train. */
    int w = -1;
    for (int i = 0; i < q->n_tensors; i++)
        if (!strcmp(q->tensors[i].name, "head.fc.weight")) {
            ck_assert_int_eq(w, -1); /* state is listed once */
            w = i;
        }
    ck_assert_int_ge(w, 0);
    ck_assert_int_eq(q->tensors[w].init.kind, TGC_INIT_NORMAL);
    ck_assert_str_eq(q->tensors[w].init.desc, "normal(0, 0.01)");
    int found = 0;
    for (int k = 0; k < ev->n_instr; k++)
        for (int j = 0; j < ev->instr[k].n_in; j++) found |= ev->instr[k].in[j] == w;
    ck_assert(found);
    tgc_buf_free(&a), tgc_buf_free(&b);
    tgc_plan_free(p), tgc_plan_free(q);
}
END_TEST

START_TEST(every_truncation_refused) {
    tgc_plan *p = fixture_plan();
    tgc_buf a = {0};
    fixture_bytes(p, &a);
    for (size_t len = 0; len < a.len; len++) {
        /* A fresh copy of exactly len bytes, so that ASan sees any read past the end. */
        uint8_t *c = malloc(len ? len : 1);
        memcpy(c, a.data, len);
        tgc_err err = {{0}};
        tgc_plan *q = tgc_plan_deserialize(c, len, "t.plan", &err);
        ck_assert_msg(q == NULL, "a %zu-byte prefix of a %zu-byte plan was accepted", len, a.len);
        ck_assert_msg(strstr(err.msg, len == 0 ? "empty" : "truncated") != NULL, "len %zu: %s", len, err.msg);
        ck_assert(strncmp(err.msg, "t.plan: ", 8) == 0);
        free(c);
    }
    tgc_buf_free(&a);
    tgc_plan_free(p);
}
END_TEST

START_TEST(every_bit_flip_refused) {
    tgc_plan *p = fixture_plan();
    tgc_buf a = {0};
    fixture_bytes(p, &a);
    uint8_t *c = malloc(a.len);
    for (size_t pos = 0; pos < a.len; pos++)
        for (int bit = 0; bit < 8; bit++) {
            memcpy(c, a.data, a.len);
            c[pos] ^= (uint8_t)(1u << bit);
            tgc_err err = {{0}};
            tgc_plan *q = tgc_plan_deserialize(c, a.len, "f.plan", &err);
            ck_assert_msg(q == NULL, "flip of bit %d at byte %zu accepted", bit, pos);
            /* Past magic, version and size, the checksum is what catches it. */
            if (pos >= 24) ck_assert_msg(strstr(err.msg, "corrupted: checksum") != NULL, "byte %zu: %s", pos, err.msg);
        }
    free(c);
    tgc_buf_free(&a);
    tgc_plan_free(p);
}
END_TEST

START_TEST(newer_version_refused) {
    tgc_plan *p = fixture_plan();
    tgc_buf a = {0};
    fixture_bytes(p, &a);
    test_put_le32(a.data + 8, TGC_PLAN_VERSION + 1);
    test_reseal(a.data, a.len, 24);
    tgc_err err;
    ck_assert_ptr_null(tgc_plan_deserialize(a.data, a.len, "n.plan", &err));
    char want[128];
    snprintf(want, sizeof want, "n.plan: plan format version %d is newer than this tgc (%d): recompile",
             TGC_PLAN_VERSION + 1, TGC_PLAN_VERSION);
    ck_assert_str_eq(err.msg, want);
    tgc_buf_free(&a);
    tgc_plan_free(p);
}
END_TEST

/* Version 1 plans have no target parameters, version 2 ones no layouts: refused with the command that
 * recompiles. */
START_TEST(older_version_refused) {
    ck_assert_int_eq(TGC_PLAN_VERSION, 3);
    tgc_plan *p = fixture_plan();
    tgc_buf a = {0};
    fixture_bytes(p, &a);
    test_put_le32(a.data + 8, 1);
    test_reseal(a.data, a.len, 24);
    tgc_err err;
    ck_assert_ptr_null(tgc_plan_deserialize(a.data, a.len, "o.plan", &err));
    ck_assert_str_eq(err.msg, "o.plan: plan format version 1 is older than this tgc (3), whose plans record the target "
                              "and the layouts they were compiled for: recompile it with `tgc compile CONFIG --target "
                              "cpu|cuda`");
    test_put_le32(a.data + 8, 2);
    test_reseal(a.data, a.len, 24);
    ck_assert_ptr_null(tgc_plan_deserialize(a.data, a.len, "o.plan", &err));
    ck_assert_msg(strstr(err.msg, "version 2 is older than this tgc (3)") != NULL, "%s", err.msg);
    tgc_buf_free(&a);
    tgc_plan_free(p);
}
END_TEST

/* The target and its parameters travel in META; impossible values are refused by name. */
START_TEST(target_round_trip_and_refusals) {
    tgc_plan *p = fixture_plan();
    tgc_err err;
    p->target = *tgc_target_find("cuda");
    tgc_buf a = {0};
    fixture_bytes(p, &a);
    tgc_plan *q = tgc_plan_deserialize(a.data, a.len, "t.plan", &err);
    ck_assert_msg(q != NULL, "%s", err.msg);
    ck_assert_str_eq(q->target.name, "cuda");
    ck_assert_uint_eq(q->target.alignment, 256);
    ck_assert_uint_eq(q->target.workspace_bytes, 32u << 20);
    ck_assert_uint_eq(q->target.fuse, TGC_FUSE_TRANSCENDENTALS);
    tgc_plan_free(q);
    tgc_buf_free(&a);
    static const struct {
        uint32_t alignment, fuse;
        const char *name, *msg;
    } bad[] = {
        {48, 0, "cpu", "t.plan: corrupted plan: META: target.alignment 48 is not a power of two from 8 to 65536"},
        {0, 0, "cpu", "t.plan: corrupted plan: META: target.alignment 0 is not a power of two from 8 to 65536"},
        {64, 0x80, "cpu", "t.plan: corrupted plan: META: target.fuse has unknown flags 0x80"},
        {64, 0, "", "t.plan: corrupted plan: META: target name '' is empty or too long"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        p->target = *tgc_target_find("cpu");
        p->target.alignment = bad[i].alignment;
        p->target.fuse = bad[i].fuse;
        strcpy(p->target.name, bad[i].name);
        fixture_bytes(p, &a);
        ck_assert_ptr_null(tgc_plan_deserialize(a.data, a.len, "t.plan", &err));
        ck_assert_str_eq(err.msg, bad[i].msg);
        tgc_buf_free(&a);
    }
    tgc_plan_free(p);
}
END_TEST

START_TEST(wrong_magic_refused) {
    tgc_plan *p = fixture_plan();
    tgc_buf a = {0};
    fixture_bytes(p, &a);
    memcpy(a.data, "GGUF\0\0\0\0", 8);
    test_reseal(a.data, a.len, 24);
    tgc_err err;
    ck_assert_ptr_null(tgc_plan_deserialize(a.data, a.len, "m.plan", &err));
    ck_assert_msg(strstr(err.msg, "not a tgc plan") != NULL, "%s", err.msg);
    const char text[] = "model:\n  type: x\n";
    ck_assert_ptr_null(tgc_plan_deserialize((const uint8_t *)text, sizeof text - 1, "cfg.yaml", &err));
    ck_assert_msg(strstr(err.msg, "not a tgc plan") != NULL, "%s", err.msg);
    tgc_buf_free(&a);
    tgc_plan_free(p);
}
END_TEST

/* With a valid checksum, a hostile table must still be refused without reading outside the file. */
START_TEST(resealed_bad_tables_refused) {
    tgc_plan *p = fixture_plan();
    tgc_buf a = {0};
    fixture_bytes(p, &a);
    uint8_t *c = malloc(a.len);
    tgc_err err;
    /* Section 0's offset far past the end. */
    memcpy(c, a.data, a.len);
    test_put_le32(c + 64 + 8, 0x7fffff00u);
    test_reseal(c, a.len, 24);
    ck_assert_ptr_null(tgc_plan_deserialize(c, a.len, "s.plan", &err));
    ck_assert_msg(strstr(err.msg, "outside the file") != NULL, "%s", err.msg);
    /* Too many sections. */
    memcpy(c, a.data, a.len);
    test_put_le32(c + 12, 100000);
    test_reseal(c, a.len, 24);
    ck_assert_ptr_null(tgc_plan_deserialize(c, a.len, "s.plan", &err));
    /* Unknown section kind. */
    memcpy(c, a.data, a.len);
    test_put_le32(c + 64, 77);
    test_reseal(c, a.len, 24);
    ck_assert_ptr_null(tgc_plan_deserialize(c, a.len, "s.plan", &err));
    ck_assert_msg(strstr(err.msg, "unknown kind") != NULL, "%s", err.msg);
    /* The tensor count of the TENSORS section (section 2) made huge. */
    memcpy(c, a.data, a.len);
    uint32_t toff = test_rd_le32(c + 64 + 2 * 24 + 8);
    test_put_le32(c + toff, 0x40000000u);
    test_reseal(c, a.len, 24);
    ck_assert_ptr_null(tgc_plan_deserialize(c, a.len, "s.plan", &err));
    ck_assert_msg(strstr(err.msg, "do not fit") != NULL, "%s", err.msg);
    /* The eval program (section 4): name "eval", batch, 3 memory stats, instruction count, then the first
     * instruction's opcode (u16), counts (2 x u8) and first operand (u32). */
    uint32_t eoff = test_rd_le32(c + 64 + 4 * 24 + 8);
    ck_assert_uint_eq(test_rd_le32(a.data + eoff), 4);
    ck_assert(memcmp(a.data + eoff + 4, "eval", 4) == 0);
    memcpy(c, a.data, a.len);
    c[eoff + 44] = 0xff, c[eoff + 45] = 0xff;
    test_reseal(c, a.len, 24);
    ck_assert_ptr_null(tgc_plan_deserialize(c, a.len, "s.plan", &err));
    ck_assert_msg(strstr(err.msg, "PROGRAM: instruction 0 has unknown opcode 65535"), "%s", err.msg);
    memcpy(c, a.data, a.len);
    test_put_le32(c + eoff + 48, 100000);
    test_reseal(c, a.len, 24);
    ck_assert_ptr_null(tgc_plan_deserialize(c, a.len, "s.plan", &err));
    ck_assert_msg(strstr(err.msg, "operand index 100000 is out of range"), "%s", err.msg);
    /* Every byte of every section body rewritten (resealed): refused or accepted, never a crash; and what
     * is accepted still passes or fails validation cleanly. */
    for (size_t pos = 64; pos < a.len; pos++) {
        for (int v = 0; v < 3; v++) {
            memcpy(c, a.data, a.len);
            c[pos] = v == 0 ? 0xff : v == 1 ? 0x00 : (uint8_t)(c[pos] + 1);
            test_reseal(c, a.len, 24);
            tgc_plan *q = tgc_plan_deserialize(c, a.len, "s.plan", &err);
            if (q) tgc_plan_validate(q, &err);
            tgc_plan_free(q);
        }
    }
    free(c);
    tgc_buf_free(&a);
    tgc_plan_free(p);
}
END_TEST

START_TEST(save_and_load) {
    tgc_plan *p = fixture_plan();
    char path[512];
    snprintf(path, sizeof path, "%s/test_plan_io.plan", TGC_BINARY_DIR);
    tgc_err err;
    ck_assert_msg(tgc_plan_save(p, path, &err) == 0, "%s", err.msg);
    tgc_plan *q = tgc_plan_load(path, &err);
    ck_assert_msg(q != NULL, "%s", err.msg);
    ck_assert_int_eq(q->n_tensors, p->n_tensors);
    ck_assert_ptr_null(tgc_plan_load(TGC_BINARY_DIR "/no-such-file.plan", &err));
    ck_assert_msg(strstr(err.msg, "no-such-file.plan") != NULL, "%s", err.msg);
    remove(path);
    tgc_plan_free(p), tgc_plan_free(q);
}
END_TEST

int main(void) {
    Suite *s = suite_create("plan_io");
    TCase *tc = tcase_create("io");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, round_trip_identical);
    tcase_add_test(tc, every_truncation_refused);
    tcase_add_test(tc, every_bit_flip_refused);
    tcase_add_test(tc, newer_version_refused);
    tcase_add_test(tc, older_version_refused);
    tcase_add_test(tc, target_round_trip_and_refusals);
    tcase_add_test(tc, wrong_magic_refused);
    tcase_add_test(tc, resealed_bad_tables_refused);
    tcase_add_test(tc, save_and_load);
    suite_add_tcase(s, tc);
    return fixture_run(s);
}
