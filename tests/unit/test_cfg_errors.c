/* tests/unit/test_cfg_errors.c - bad configs: every error names the file, the line and the key path where
 * they apply; bombs, deep nesting and oversized input fail fast and cleanly. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/cfg.h"

#define INPUTS TGC_SOURCE_DIR "/tests/unit/cfg_inputs/"

/* Parses text as `name`, expects failure, and checks that the message contains every needle. */
static void parse_fails(const char *name, const char *text, size_t len, const char *const *needles) {
    tgc_err err = {{0}};
    tgc_cfg *c = tgc_cfg_parse(text, len, name, &err);
    ck_assert_msg(c == NULL, "%s parsed but should fail", name);
    for (; *needles; needles++)
        ck_assert_msg(strstr(err.msg, *needles), "%s: message '%s' lacks '%s'", name, err.msg, *needles);
}
#define FAILS(name, text, ...) parse_fails(name, text, strlen(text), (const char *[]){__VA_ARGS__, NULL})

START_TEST(malformed_yaml) {
    FAILS("bad.yaml", "a: 1\nb: [1, 2\nc: 3\n", "bad.yaml:3:2: ", "did not find expected ',' or ']'");
    FAILS("bad2.yaml", "a: 1\n b: 2\n", "bad2.yaml:2:3: mapping values are not allowed");
    FAILS("bad3.yaml", "a: 'x\n", "bad3.yaml:2:1: ", "quoted scalar");
    FAILS("tab.yaml", "a:\n\tb: 1\n", "tab.yaml:2:1: ");
}
END_TEST

START_TEST(empty_and_not_text) {
    FAILS("e.yaml", "", "e.yaml: empty config");
    FAILS("e.yaml", "# only a comment\n\n", "e.yaml: empty config");
    FAILS("e.yaml", "null\n", "e.yaml: empty config");
    FAILS("e.yaml", "---\n", "e.yaml: empty config");
    tgc_err err = {{0}};
    ck_assert_ptr_null(tgc_cfg_load(INPUTS "misc/empty.yaml", &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "misc/empty.yaml: empty config"));
    ck_assert_ptr_null(tgc_cfg_load(INPUTS "misc/binary.bin", &err));
    ck_assert_msg(strstr(err.msg, "misc/binary.bin: not a text file (NUL byte at offset 8)"), "%s", err.msg);
    FAILS("utf.yaml", "a: \xff\xfe\n", "utf.yaml: not a UTF-8 text file", "invalid leading UTF-8 octet");
    FAILS("utf2.yaml", "a: caf\xc3\n", "utf2.yaml: not a UTF-8 text file");
    /* valid UTF-8 is fine */
    const char *ok = "name: caf\xc3\xa9\n";
    tgc_cfg *c = tgc_cfg_parse(ok, strlen(ok), "ok.yaml", &err);
    ck_assert_ptr_nonnull(c);
    ck_assert_str_eq(tgc_cfg_get(c, "name")->s, "caf\xc3\xa9");
    tgc_cfg_free(c);
}
END_TEST

START_TEST(structure_errors) {
    FAILS("dup.yaml", "model:\n  depth: 1\n  depth: 2\n",
          "dup.yaml:3: model.depth: duplicate key 'depth' (first defined at line 2)");
    FAILS("dup2.yaml", "a: 1\nb: 2\na: 3\n", "dup2.yaml:3: a: duplicate key 'a'");
    FAILS("dupm.yaml", "x: &x {a: 1}\ny:\n  <<: *x\n  <<: *x\n", "dupm.yaml:4: y.<<: duplicate key '<<'");
    FAILS("list.yaml", "- 1\n- 2\n", "list.yaml:1: the root of a config must be a map (got list)");
    FAILS("scalar.yaml", "hello\n", "scalar.yaml:1: the root of a config must be a map (got str)");
    FAILS("alias.yaml", "a:\n  b: *nope\n", "alias.yaml:2: a.b: unknown alias '*nope'");
    FAILS("self.yaml", "a: &s [1, *s]\n", "self.yaml:1: a[1]: unknown alias '*s'"); /* no recursive structures */
    FAILS("multi.yaml", "a: 1\n---\nb: 2\n", "multi.yaml:", "one YAML document");
    FAILS("merge.yaml", "a: 1\nb:\n  <<: 3\n", "merge.yaml:3: b.<<: '<<' merge value must be a map");
    FAILS("merge2.yaml", "a: &a [1]\nb:\n  <<: [*a]\n", "merge2.yaml:3: b.<<:");
    FAILS("bigint.yaml", "lr:\n  steps: 99999999999999999999\n", "bigint.yaml:2: lr.steps: integer",
          "out of the 64-bit range");
    FAILS("key.yaml", "? [1, 2]\n: x\n", "key.yaml:1: map keys must be scalars");
}
END_TEST

START_TEST(getter_type_mismatch) {
    const char *text = "model:\n  backbone:\n    depth: abc\n";
    tgc_err err = {{0}};
    tgc_cfg *c = tgc_cfg_parse(text, strlen(text), "typed.yaml", &err);
    ck_assert_ptr_nonnull(c);
    int64_t v;
    ck_assert_int_eq(tgc_cfg_int(tgc_cfg_at(c, "model.backbone"), "depth", 50, &v, &err), -1);
    ck_assert_str_eq(err.msg, "typed.yaml:3: model.backbone.depth: expected an integer, got a string ('abc')");
    ck_assert_int_eq(tgc_cfg_int(tgc_cfg_at(c, "model.backbone.depth"), "x", 50, &v, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "typed.yaml:3: model.backbone.depth: expected a map"));
    tgc_cfg_free(c);
}
END_TEST

/* The classic "billion laughs": 9 levels of 9 aliases each would be 9^9 nodes. */
START_TEST(billion_laughs) {
    char text[4096];
    size_t n = (size_t)sprintf(text, "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for (char k = 'b'; k <= 'i'; k++) {
        char p = (char)(k - 1);
        n += (size_t)sprintf(text + n, "%c: &%c [*%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c]\n", k, k, p, p, p, p, p,
                             p, p, p, p);
    }
    parse_fails("lol.yaml", text, n, (const char *[]){"lol.yaml:", "more than 1000000 nodes after alias expansion", NULL});
    /* the same with maps and merge keys */
    n = (size_t)sprintf(text, "a: &a {x: 1, y: 2, z: 3, w: 4, v: 5, u: 6, t: 7, s: 8}\n");
    for (char k = 'b'; k <= 'k'; k++)
        n += (size_t)sprintf(text + n, "%c: &%c [*%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c]\n", k, k, k - 1, k - 1, k - 1,
                             k - 1, k - 1, k - 1, k - 1, k - 1);
    parse_fails("lol2.yaml", text, n, (const char *[]){"more than 1000000 nodes", NULL});
    /* few nodes, huge strings: bounded by expanded bytes */
    size_t big = 1 << 20;
    char *t2 = malloc(big + 4096);
    n = (size_t)sprintf(t2, "s: &s ");
    memset(t2 + n, 'x', big);
    n += big;
    n += (size_t)sprintf(t2 + n, "\nl: [");
    for (int i = 0; i < 100; i++) n += (size_t)sprintf(t2 + n, "*s, ");
    n += (size_t)sprintf(t2 + n, "*s]\n");
    parse_fails("fat.yaml", t2, n, (const char *[]){"fat.yaml:", "bytes of text after alias expansion", NULL});
    free(t2);
}
END_TEST

START_TEST(deep_nesting) {
    enum { D = 10000 };
    char *t = malloc(4 * D + 64);
    size_t n = (size_t)sprintf(t, "a: ");
    for (int i = 0; i < D; i++) t[n++] = '[';
    for (int i = 0; i < D; i++) t[n++] = ']';
    t[n++] = '\n';
    parse_fails("deep.yaml", t, n, (const char *[]){"deep.yaml:1: ", "nesting deeper than 64 levels", NULL});
    n = (size_t)sprintf(t, "a: ");
    for (int i = 0; i < D; i++) n += (size_t)sprintf(t + n, "{a: ");
    parse_fails("deep2.yaml", t, n, (const char *[]){"deep2.yaml:1: a.a.a", "nesting deeper than 64 levels", NULL});
    /* exactly 64 levels is accepted */
    n = 0;
    for (int i = 0; i < 63; i++) n += (size_t)sprintf(t + n, "%*sk:\n", 2 * i, "");
    n += (size_t)sprintf(t + n, "%*sk: 1\n", 2 * 63, "");
    tgc_err err = {{0}};
    tgc_cfg *c = tgc_cfg_parse(t, n, "ok64.yaml", &err);
    ck_assert_msg(c != NULL, "%s", err.msg);
    tgc_cfg_free(c);
    n = 0;
    for (int i = 0; i < 64; i++) n += (size_t)sprintf(t + n, "%*sk:\n", 2 * i, "");
    n += (size_t)sprintf(t + n, "%*sk: 1\n", 2 * 64, "");
    parse_fails("deep65.yaml", t, n, (const char *[]){"deep65.yaml:65: k.k.k", "deeper than 64", NULL});
    free(t);
}
END_TEST

START_TEST(size_limit) {
    size_t n = (16u << 20) + 1;
    char *t = malloc(n);
    memset(t, '#', n); /* one long comment line */
    parse_fails("huge.yaml", t, n, (const char *[]){"huge.yaml: file is larger than the 16777216-byte", NULL});
    char path[512];
    snprintf(path, sizeof path, "%s/cfg_huge_test.yaml", TGC_BINARY_DIR);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(t, 1, n, f), n);
    fclose(f);
    tgc_err err = {{0}};
    ck_assert_ptr_null(tgc_cfg_load(path, &err));
    ck_assert_msg(strstr(err.msg, "cfg_huge_test.yaml: file is larger than the 16777216-byte limit"), "%s", err.msg);
    remove(path);
    free(t);
}
END_TEST

int main(void) {
    Suite *s = suite_create("cfg_errors");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 20); /* bombs must fail fast: a hang shows up as a timeout */
    tcase_add_test(tc, malformed_yaml);
    tcase_add_test(tc, empty_and_not_text);
    tcase_add_test(tc, structure_errors);
    tcase_add_test(tc, getter_type_mismatch);
    tcase_add_test(tc, billion_laughs);
    tcase_add_test(tc, deep_nesting);
    tcase_add_test(tc, size_limit);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
