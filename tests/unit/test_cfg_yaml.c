/* tests/unit/test_cfg_yaml.c - YAML -> config tree: scalar types, structure, paths, anchors, merge keys,
 * lookups, typed getters, clone/equal. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/cfg.h"
#include "test_util.h"

static tgc_cfg *parse(const char *text) { return test_cfg_parse(text, "mem.yaml"); }

static const tgc_cfg *at(const tgc_cfg *root, const char *path, tgc_cfg_kind kind) {
    return test_cfg_at(root, path, kind);
}

START_TEST(scalar_types) {
    tgc_cfg *c = parse("n1: null\nn2: ~\nn3:\nn4: Null\n"
                       "b1: true\nb2: False\nb3: TRUE\nb4: false\n"
                       "i1: 42\ni2: -7\ni3: +3\ni4: 0x1F\ni5: 9223372036854775807\n"
                       "f1: 1.0\nf2: .5\nf3: 1e-4\nf4: 5e-05\nf5: -2.5E3\nf6: .inf\nf7: -.inf\nf8: .nan\nf9: 3.\n"
                       "s1: hello\ns2: \"1\"\ns3: '1.5'\ns4: \"true\"\ns5: yes\ns6: 1.2.3\ns7: 'null'\ns8: ''\n"
                       "s9: |\n  two\n  lines\ns10: 0x\ns11: 1e\ns12: !!str 12\n");
    for (int i = 1; i <= 4; i++) {
        char k[8];
        snprintf(k, sizeof k, "n%d", i);
        at(c, k, TGC_CFG_NULL);
    }
    ck_assert_int_eq(at(c, "b1", TGC_CFG_BOOL)->b, 1);
    ck_assert_int_eq(at(c, "b2", TGC_CFG_BOOL)->b, 0);
    ck_assert_int_eq(at(c, "b3", TGC_CFG_BOOL)->b, 1);
    ck_assert_int_eq(at(c, "b4", TGC_CFG_BOOL)->b, 0);
    ck_assert_int_eq(at(c, "i1", TGC_CFG_INT)->i, 42);
    ck_assert_int_eq(at(c, "i2", TGC_CFG_INT)->i, -7);
    ck_assert_int_eq(at(c, "i3", TGC_CFG_INT)->i, 3);
    ck_assert_int_eq(at(c, "i4", TGC_CFG_INT)->i, 31);
    ck_assert(at(c, "i5", TGC_CFG_INT)->i == INT64_MAX);
    ck_assert_double_eq(at(c, "f1", TGC_CFG_FLOAT)->f, 1.0);
    ck_assert_double_eq(at(c, "f2", TGC_CFG_FLOAT)->f, 0.5);
    ck_assert_double_eq(at(c, "f3", TGC_CFG_FLOAT)->f, 1e-4);
    ck_assert_double_eq(at(c, "f4", TGC_CFG_FLOAT)->f, 5e-5);
    ck_assert_double_eq(at(c, "f5", TGC_CFG_FLOAT)->f, -2500.0);
    ck_assert(isinf(at(c, "f6", TGC_CFG_FLOAT)->f) && at(c, "f6", TGC_CFG_FLOAT)->f > 0);
    ck_assert(isinf(at(c, "f7", TGC_CFG_FLOAT)->f) && at(c, "f7", TGC_CFG_FLOAT)->f < 0);
    ck_assert(isnan(at(c, "f8", TGC_CFG_FLOAT)->f));
    ck_assert_double_eq(at(c, "f9", TGC_CFG_FLOAT)->f, 3.0);
    ck_assert_str_eq(at(c, "s1", TGC_CFG_STR)->s, "hello");
    ck_assert_str_eq(at(c, "s2", TGC_CFG_STR)->s, "1");
    ck_assert_str_eq(at(c, "s3", TGC_CFG_STR)->s, "1.5");
    ck_assert_str_eq(at(c, "s4", TGC_CFG_STR)->s, "true");
    ck_assert_str_eq(at(c, "s5", TGC_CFG_STR)->s, "yes"); /* YAML 1.2: not a bool */
    ck_assert_str_eq(at(c, "s6", TGC_CFG_STR)->s, "1.2.3");
    ck_assert_str_eq(at(c, "s7", TGC_CFG_STR)->s, "null");
    ck_assert_str_eq(at(c, "s8", TGC_CFG_STR)->s, "");
    ck_assert_str_eq(at(c, "s9", TGC_CFG_STR)->s, "two\nlines\n");
    ck_assert_str_eq(at(c, "s10", TGC_CFG_STR)->s, "0x");
    ck_assert_str_eq(at(c, "s11", TGC_CFG_STR)->s, "1e");
    ck_assert_str_eq(at(c, "s12", TGC_CFG_STR)->s, "12");
    tgc_cfg_free(c);
}
END_TEST

START_TEST(structure_paths_lines) {
    tgc_cfg *c = parse("model:\n"
                       "  backbone:\n"
                       "    depth: 50\n"
                       "  zeta: 1\n"
                       "  alpha: 2\n"
                       "train_dataloader:\n"
                       "  dataset:\n"
                       "    pipeline:\n"
                       "      - type: Load\n"
                       "      - type: Crop\n"
                       "        scale: [224, 224]\n"
                       "flow: {a: [1, {b: 2}], c: []}\n");
    ck_assert_str_eq(c->path, "");
    ck_assert_int_eq(c->kind, TGC_CFG_MAP);
    const tgc_cfg *d = at(c, "model.backbone.depth", TGC_CFG_INT);
    ck_assert_str_eq(d->path, "model.backbone.depth");
    ck_assert_str_eq(d->file, "mem.yaml");
    ck_assert_int_eq(d->line, 3);
    /* key order is kept */
    const tgc_cfg *m = at(c, "model", TGC_CFG_MAP);
    ck_assert_int_eq(m->n, 3);
    ck_assert_str_eq(m->keys[0], "backbone");
    ck_assert_str_eq(m->keys[1], "zeta");
    ck_assert_str_eq(m->keys[2], "alpha");
    const tgc_cfg *s = at(c, "train_dataloader.dataset.pipeline[1].scale", TGC_CFG_LIST);
    ck_assert_str_eq(s->path, "train_dataloader.dataset.pipeline[1].scale");
    ck_assert_int_eq(s->line, 11);
    ck_assert_str_eq(s->items[1]->path, "train_dataloader.dataset.pipeline[1].scale[1]");
    ck_assert_ptr_eq(tgc_cfg_at(c, "train_dataloader.dataset.pipeline.1.scale"), s);
    ck_assert_int_eq(at(c, "flow.a[1].b", TGC_CFG_INT)->i, 2);
    ck_assert_int_eq(at(c, "flow.c", TGC_CFG_LIST)->n, 0);
    ck_assert_ptr_null(tgc_cfg_at(c, "flow.a[2]"));
    ck_assert_ptr_null(tgc_cfg_at(c, "flow.a[x]"));
    ck_assert_ptr_null(tgc_cfg_at(c, "model.backbone.depth.x"));
    ck_assert_ptr_null(tgc_cfg_at(c, "model..backbone"));
    ck_assert_ptr_null(tgc_cfg_at(c, "nope"));
    ck_assert_ptr_eq(tgc_cfg_at(c, ""), c);
    ck_assert_ptr_eq(tgc_cfg_get(m, "zeta"), m->items[1]);
    ck_assert_ptr_null(tgc_cfg_get(m, "beta"));
    tgc_cfg_free(c);
}
END_TEST

START_TEST(anchors_aliases) {
    tgc_cfg *c = parse("base: &b\n  x: 1\n  y: [1, 2]\n"
                       "copy: *b\n"
                       "scalar: &s hello\n"
                       "again: *s\n"
                       "lst: [*s, *b]\n");
    const tgc_cfg *b = at(c, "base", TGC_CFG_MAP), *cp = at(c, "copy", TGC_CFG_MAP);
    ck_assert(b != cp);
    ck_assert(tgc_cfg_equal(b, cp));
    ck_assert_str_eq(at(c, "copy.y[1]", TGC_CFG_INT)->path, "copy.y[1]");
    ck_assert_str_eq(at(c, "again", TGC_CFG_STR)->s, "hello");
    ck_assert_str_eq(at(c, "lst[0]", TGC_CFG_STR)->s, "hello");
    ck_assert_int_eq(at(c, "lst[1].x", TGC_CFG_INT)->i, 1);
    /* a deep copy: changing the copy leaves the anchor's node alone */
    tgc_cfg_at(c, "copy.x")->i = 99;
    ck_assert_int_eq(at(c, "base.x", TGC_CFG_INT)->i, 1);
    tgc_cfg_free(c);
}
END_TEST

START_TEST(merge_keys) {
    tgc_cfg *c = parse("a: &a {x: 1, y: 2, z: 3}\n"
                       "b: &b {y: 20, w: 40}\n"
                       "single:\n  <<: *a\n  y: 5\n"
                       "explicit_first:\n  z: 7\n  <<: *a\n"
                       "list:\n  <<: [*b, *a]\n  x: 100\n"
                       "quoted:\n  \"<<\": 1\n");
    const tgc_cfg *s = at(c, "single", TGC_CFG_MAP);
    ck_assert_int_eq(s->n, 3);
    ck_assert_int_eq(at(c, "single.x", TGC_CFG_INT)->i, 1);
    ck_assert_int_eq(at(c, "single.y", TGC_CFG_INT)->i, 5); /* explicit key wins */
    ck_assert_int_eq(at(c, "single.z", TGC_CFG_INT)->i, 3);
    ck_assert_str_eq(at(c, "single.z", TGC_CFG_INT)->path, "single.z");
    ck_assert_ptr_null(tgc_cfg_get(s, "<<"));
    /* merged keys sit where `<<` was written */
    ck_assert_str_eq(s->keys[0], "x");
    ck_assert_str_eq(s->keys[2], "y");
    ck_assert_int_eq(at(c, "explicit_first.z", TGC_CFG_INT)->i, 7); /* explicit wins even before `<<` */
    ck_assert_int_eq(at(c, "explicit_first", TGC_CFG_MAP)->n, 3);
    const tgc_cfg *l = at(c, "list", TGC_CFG_MAP);
    ck_assert_int_eq(l->n, 4);
    ck_assert_int_eq(at(c, "list.y", TGC_CFG_INT)->i, 20); /* earlier source wins */
    ck_assert_int_eq(at(c, "list.w", TGC_CFG_INT)->i, 40);
    ck_assert_int_eq(at(c, "list.z", TGC_CFG_INT)->i, 3);
    ck_assert_int_eq(at(c, "list.x", TGC_CFG_INT)->i, 100);
    ck_assert_int_eq(at(c, "quoted.<<", TGC_CFG_INT)->i, 1); /* a quoted "<<" is an ordinary key */
    /* the anchored maps are untouched */
    ck_assert_int_eq(at(c, "a", TGC_CFG_MAP)->n, 3);
    ck_assert_int_eq(at(c, "b", TGC_CFG_MAP)->n, 2);
    tgc_cfg_free(c);
}
END_TEST

START_TEST(merge_anchor_reuse) {
    /* an anchor defined inside a `<<` value stays usable afterwards */
    tgc_cfg *c = parse("m:\n  <<: &inner {k: 1}\n  j: 2\nn: *inner\n");
    ck_assert_int_eq(at(c, "m.k", TGC_CFG_INT)->i, 1);
    ck_assert_int_eq(at(c, "n.k", TGC_CFG_INT)->i, 1);
    ck_assert_int_eq(at(c, "n", TGC_CFG_MAP)->n, 1);
    tgc_cfg_free(c);
}
END_TEST

START_TEST(typed_getters) {
    tgc_cfg *c = parse("i: 3\nf: 0.5\nb: true\ns: abc\nnil: null\nl: [1, 2, 3]\nmixed: [1, 2.5]\n");
    tgc_err err = {{0}};
    int64_t i;
    double f;
    int b, n;
    const char *s;
    int64_t v[4];
    ck_assert_int_eq(tgc_cfg_int(c, "i", 0, &i, &err), 0);
    ck_assert_int_eq(i, 3);
    ck_assert_int_eq(tgc_cfg_int(c, "absent", 17, &i, &err), 0);
    ck_assert_int_eq(i, 17);
    ck_assert_int_eq(tgc_cfg_int(c, "nil", 18, &i, &err), 0);
    ck_assert_int_eq(i, 18);
    ck_assert_int_eq(tgc_cfg_float(c, "f", 0, &f, &err), 0);
    ck_assert_double_eq(f, 0.5);
    ck_assert_int_eq(tgc_cfg_float(c, "i", 0, &f, &err), 0); /* ints are accepted as floats */
    ck_assert_double_eq(f, 3.0);
    ck_assert_int_eq(tgc_cfg_bool(c, "b", 0, &b, &err), 0);
    ck_assert_int_eq(b, 1);
    ck_assert_int_eq(tgc_cfg_str(c, "s", NULL, &s, &err), 0);
    ck_assert_str_eq(s, "abc");
    ck_assert_ptr_eq(s, tgc_cfg_get(c, "s")->s);
    ck_assert_int_eq(tgc_cfg_str(c, "absent", "dflt", &s, &err), 0);
    ck_assert_str_eq(s, "dflt");
    ck_assert_int_eq(tgc_cfg_ints(c, "l", v, 4, &n, &err), 0);
    ck_assert_int_eq(n, 3);
    ck_assert_int_eq(v[2], 3);
    ck_assert_int_eq(tgc_cfg_ints(c, "i", v, 4, &n, &err), 0);
    ck_assert_int_eq(n, 1);
    ck_assert_int_eq(v[0], 3);
    ck_assert_int_eq(tgc_cfg_ints(c, "absent", v, 4, &n, &err), 0);
    ck_assert_int_eq(n, 0);

    ck_assert_int_eq(tgc_cfg_int(c, "s", 0, &i, &err), -1);
    ck_assert_str_eq(err.msg, "mem.yaml:4: s: expected an integer, got a string ('abc')");
    ck_assert_int_eq(tgc_cfg_int(c, "f", 0, &i, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "expected an integer, got a float (0.5)"));
    ck_assert_int_eq(tgc_cfg_float(c, "s", 0, &f, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "mem.yaml:4: s: expected a number"));
    ck_assert_int_eq(tgc_cfg_bool(c, "i", 0, &b, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "expected a boolean, got an integer (3)"));
    ck_assert_int_eq(tgc_cfg_str(c, "l", NULL, &s, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "mem.yaml:6: l: expected a string, got a list"));
    ck_assert_int_eq(tgc_cfg_ints(c, "mixed", v, 4, &n, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "mem.yaml:7: mixed[1]: expected an integer, got a float (2.5)"));
    ck_assert_int_eq(tgc_cfg_ints(c, "l", v, 2, &n, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "at most 2"));
    ck_assert_int_eq(tgc_cfg_fail(&err, tgc_cfg_get(c, "b"), "bad %s", "thing"), -1);
    ck_assert_str_eq(err.msg, "mem.yaml:3: b: bad thing");
    tgc_cfg_free(c);
}
END_TEST

START_TEST(clone_equal_kinds) {
    tgc_cfg *c = parse("a: {b: [1, 2.5, x, null, true]}\nc: .nan\n");
    tgc_cfg *d = tgc_cfg_clone(c);
    ck_assert(tgc_cfg_equal(c, d));
    ck_assert_str_eq(tgc_cfg_at(d, "a.b[2]")->path, "a.b[2]");
    tgc_cfg_at(d, "a.b[1]")->f = 2.0;
    ck_assert(!tgc_cfg_equal(c, d));
    tgc_cfg_free(d);
    ck_assert_str_eq(tgc_cfg_kind_name(TGC_CFG_NULL), "null");
    ck_assert_str_eq(tgc_cfg_kind_name(TGC_CFG_INT), "int");
    ck_assert_str_eq(tgc_cfg_kind_name(TGC_CFG_TUPLE), "tuple");
    ck_assert_str_eq(tgc_cfg_kind_name(TGC_CFG_MAP), "map");
    ck_assert_ptr_null(tgc_cfg_clone(NULL));
    tgc_cfg_free(NULL);
    tgc_cfg_free(c);
}
END_TEST

START_TEST(many_keys_linear) {
    /* 200k keys in one map: duplicate detection must not be quadratic (this would take minutes). */
    enum { N = 200000 };
    char *text = malloc((size_t)N * 16);
    size_t len = 0;
    for (int i = 0; i < N; i++) len += (size_t)sprintf(text + len, "k%d: %d\n", i, i);
    tgc_err err = {{0}};
    tgc_cfg *c = tgc_cfg_parse(text, len, "big.yaml", &err);
    ck_assert_msg(c != NULL, "%s", err.msg);
    ck_assert_int_eq(c->n, N);
    ck_assert_int_eq(tgc_cfg_get(c, "k199999")->i, 199999);
    tgc_cfg_free(c);
    free(text);
}
END_TEST

int main(void) {
    Suite *s = suite_create("cfg_yaml");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, scalar_types);
    tcase_add_test(tc, structure_paths_lines);
    tcase_add_test(tc, anchors_aliases);
    tcase_add_test(tc, merge_keys);
    tcase_add_test(tc, merge_anchor_reuse);
    tcase_add_test(tc, typed_getters);
    tcase_add_test(tc, clone_equal_kinds);
    tcase_add_test(tc, many_keys_linear);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
