/* tests/unit/test_cfg_serialize.c - binary round trip, refusal of truncated and random buffers, and
 * dump -> parse round trips. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/cfg.h"

#define INPUTS TGC_SOURCE_DIR "/tests/unit/cfg_inputs/"

static tgc_cfg *sample(void) {
    tgc_err err = {{0}};
    tgc_cfg *c = tgc_cfg_load(INPUTS "resnet/resnet50_child.yaml", &err);
    ck_assert_msg(c != NULL, "%s", err.msg);
    ck_assert_int_eq(tgc_cfg_apply_option(c, "model.backbone.out_indices=[(1,2),(3,4)]", &err), 0);
    ck_assert_int_eq(tgc_cfg_apply_option(c, "extra.lr=1e-5", &err), 0);
    return c;
}

/* Same values, files, lines and paths. */
static void assert_same(const tgc_cfg *a, const tgc_cfg *b) {
    ck_assert(tgc_cfg_equal(a, b));
    ck_assert_str_eq(a->file, b->file);
    ck_assert_int_eq(a->line, b->line);
    ck_assert_str_eq(a->path, b->path);
    for (int i = 0; i < a->n; i++) assert_same(a->items[i], b->items[i]);
}

START_TEST(binary_round_trip) {
    tgc_cfg *c = sample();
    tgc_buf buf = {0};
    tgc_cfg_serialize(c, &buf);
    tgc_err err = {{0}};
    tgc_cfg *d = tgc_cfg_deserialize(buf.data, buf.len, &err);
    ck_assert_msg(d != NULL, "%s", err.msg);
    assert_same(c, d);
    ck_assert_int_eq(tgc_cfg_at(d, "model.backbone.out_indices[1]")->kind, TGC_CFG_TUPLE);
    ck_assert_str_eq(tgc_cfg_at(d, "extra.lr")->file, "<cfg-options>");
    /* serializing the copy gives the same bytes */
    tgc_buf buf2 = {0};
    tgc_cfg_serialize(d, &buf2);
    ck_assert_uint_eq(buf.len, buf2.len);
    ck_assert(memcmp(buf.data, buf2.data, buf.len) == 0);
    tgc_buf_free(&buf2);
    tgc_cfg_free(d);
    tgc_buf_free(&buf);
    tgc_cfg_free(c);
}
END_TEST

START_TEST(every_truncation_refused) {
    tgc_cfg *c = sample();
    tgc_buf buf = {0};
    tgc_cfg_serialize(c, &buf);
    for (size_t n = 0; n < buf.len; n++) {
        tgc_err err = {{0}};
        /* a private copy of exactly n bytes, so a read past the end is caught by ASan too */
        uint8_t *p = malloc(n ? n : 1);
        memcpy(p, buf.data, n);
        tgc_cfg *d = tgc_cfg_deserialize(p, n, &err);
        ck_assert_msg(d == NULL, "truncation to %zu of %zu bytes was accepted", n, buf.len);
        ck_assert_ptr_nonnull(strstr(err.msg, "serialized config"));
        free(p);
    }
    /* trailing garbage is refused too */
    tgc_buf_u8(&buf, 0);
    tgc_err err = {{0}};
    ck_assert_ptr_null(tgc_cfg_deserialize(buf.data, buf.len, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "trailing"));
    tgc_buf_free(&buf);
    tgc_cfg_free(c);
}
END_TEST

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t next_rand(void) { /* xorshift64*: a fixed sequence, so failures reproduce */
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return (uint32_t)((rng * 2685821657736338717ull) >> 32);
}

START_TEST(random_and_mutated_bytes) {
    tgc_err err = {{0}};
    for (int t = 0; t < 3000; t++) {
        size_t n = next_rand() % 256;
        uint8_t *p = malloc(n + 9);
        for (size_t i = 0; i < n + 9; i++) p[i] = (uint8_t)next_rand();
        if (t % 2) { /* a valid header, so the node reader itself meets the garbage */
            memcpy(p, "TGCF\x01", 5);
            n += 9;
            if (t % 4 == 1) memset(p + 5, 0, 4); /* no file table: every file index is out of range */
        }
        tgc_cfg *d = tgc_cfg_deserialize(p, n, &err);
        tgc_cfg_free(d); /* accepted or not, no crash and no leak */
        free(p);
    }
    /* single-byte mutations of a valid buffer: counts, lengths and kinds all get corrupted */
    tgc_cfg *c = sample();
    tgc_buf buf = {0};
    tgc_cfg_serialize(c, &buf);
    uint8_t *p = malloc(buf.len);
    for (size_t i = 0; i < buf.len; i++) {
        memcpy(p, buf.data, buf.len);
        p[i] ^= (uint8_t)(1u << (next_rand() % 8));
        if (i % 3 == 0) p[i] = 0xff;
        tgc_cfg *d = tgc_cfg_deserialize(p, buf.len, &err);
        tgc_cfg_free(d);
    }
    free(p);
    /* a huge child count must be refused before allocating for it */
    tgc_buf b = {0};
    tgc_buf_u32(&b, 0x46434754u);
    tgc_buf_u8(&b, 1);
    tgc_buf_u32(&b, 1);
    tgc_buf_str(&b, "f.yaml");
    tgc_buf_u8(&b, TGC_CFG_LIST);
    tgc_buf_u32(&b, 0);
    tgc_buf_u32(&b, 1);
    tgc_buf_u32(&b, 0xfffffff0u);
    ck_assert_ptr_null(tgc_cfg_deserialize(b.data, b.len, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "child count"));
    tgc_buf_free(&b);
    /* nesting deeper than 64 */
    tgc_buf_u32(&b, 0x46434754u);
    tgc_buf_u8(&b, 1);
    tgc_buf_u32(&b, 1);
    tgc_buf_str(&b, "f.yaml");
    for (int i = 0; i < 100; i++) {
        tgc_buf_u8(&b, TGC_CFG_LIST);
        tgc_buf_u32(&b, 0);
        tgc_buf_u32(&b, 1);
        tgc_buf_u32(&b, 1);
    }
    for (int i = 0; i < 20; i++) tgc_buf_u8(&b, 0); /* padding so counts look plausible */
    ck_assert_ptr_null(tgc_cfg_deserialize(b.data, b.len, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "deeper than 64"));
    tgc_buf_free(&b);
    tgc_buf_free(&buf);
    tgc_cfg_free(c);
}
END_TEST

static char *dump_to_string(const tgc_cfg *c, size_t *len) {
    char *s = NULL;
    FILE *f = open_memstream(&s, len);
    ck_assert_ptr_nonnull(f);
    tgc_cfg_dump(c, f);
    fclose(f);
    return s;
}

static void dump_round_trip(const tgc_cfg *c) {
    size_t len;
    char *text = dump_to_string(c, &len);
    tgc_err err = {{0}};
    tgc_cfg *d = tgc_cfg_parse(text, len, "dumped.yaml", &err);
    ck_assert_msg(d != NULL, "dump does not parse: %s\n%s", err.msg, text);
    ck_assert_msg(tgc_cfg_equal(c, d), "dump round trip differs:\n%s", text);
    /* and dumping is stable */
    size_t len2;
    char *text2 = dump_to_string(d, &len2);
    ck_assert_str_eq(text, text2);
    free(text2);
    tgc_cfg_free(d);
    free(text);
}

START_TEST(dump_round_trip_fixture) {
    tgc_err err = {{0}};
    tgc_cfg *c = tgc_cfg_load(INPUTS "resnet/resnet50_child.yaml", &err);
    ck_assert_msg(c != NULL, "%s", err.msg);
    dump_round_trip(c);
    tgc_cfg_free(c);
}
END_TEST

START_TEST(dump_round_trip_tricky) {
    const char *text =
        "strings: ['true', 'False', '1', '-2', '0x1F', '1.5', '1e-4', '.inf', '.nan', 'null', '~', '', ' ',\n"
        "          'a: b', '- x', '#c', '<<', \"x\\ny\", \"tab\\there\", \"q'uote\", 'd\"q', 'yes', '[1]', '{a}',\n"
        "          '&anchor', '*alias', '!tag', '%pct', '@at', '`bt', '|pipe', '>gt', '...', '---', 'a #b',\n"
        "          \"\\x01ctl\", 'caf\xc3\xa9', 'path/to/file.yaml', 'under_score', 'trailing ', ' leading']\n"
        "floats: [1.0, 0.0001, 1e-05, 1e20, -0.0, 0.1, 0.3333333333333333, .inf, -.inf, .nan, 5e-324,\n"
        "         1.7976931348623157e308, -2.5E3, 123456789.125]\n"
        "ints: [0, -1, 9223372036854775807, -9223372036854775808]\n"
        "other: [null, true, false, [], {}, [[]], [[1, [2, {}]], {a: []}]]\n"
        "'key with: colon': 1\n"
        "'': empty key\n"
        "'<<': not a merge\n"
        "'123': numeric key\n"
        "'- dash': 2\n"
        "nested:\n"
        "  - - - deep\n"
        "  - {x: {y: {z: [1, {w: v}]}}}\n"
        "empty_map: {}\n"
        "empty_list: []\n";
    tgc_err err = {{0}};
    tgc_cfg *c = tgc_cfg_parse(text, strlen(text), "tricky.yaml", &err);
    ck_assert_msg(c != NULL, "%s", err.msg);
    dump_round_trip(c);
    /* floats are written so that they read back as floats */
    size_t len;
    char *s = dump_to_string(tgc_cfg_get(c, "floats"), &len);
    ck_assert_msg(strstr(s, "- 1.0\n") && strstr(s, "- 0.0001\n") && strstr(s, "- 1e-05\n") &&
                      strstr(s, "- .inf\n") && strstr(s, "- -.inf\n") && strstr(s, "- .nan\n"),
                  "%s", s);
    free(s);
    /* a scalar and an empty tree dump too */
    s = dump_to_string(tgc_cfg_get(c, "empty_map"), &len);
    ck_assert_str_eq(s, "{}\n");
    free(s);
    tgc_cfg_free(c);
}
END_TEST

int main(void) {
    Suite *s = suite_create("cfg_serialize");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, binary_round_trip);
    tcase_add_test(tc, every_truncation_refused);
    tcase_add_test(tc, random_and_mutated_bytes);
    tcase_add_test(tc, dump_round_trip_fixture);
    tcase_add_test(tc, dump_round_trip_tricky);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
