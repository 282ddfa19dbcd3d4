/* tests/unit/test_cfg_options.c - `--cfg-options` items with MMEngine DictAction's value rules. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/cfg.h"

static tgc_cfg *base(void) {
    const char *text = "model:\n"
                       "  backbone: {depth: 50, out_indices: [3]}\n"
                       "pipeline:\n"
                       "  - {type: Load}\n"
                       "  - {type: Crop, scale: 224}\n"
                       "lr: 0.1\n";
    tgc_err err = {{0}};
    tgc_cfg *c = tgc_cfg_parse(text, strlen(text), "opt.yaml", &err);
    ck_assert_msg(c != NULL, "%s", err.msg);
    return c;
}

/* Applies "k=<value>" to a fresh tree and returns the value node at k (tree in *root). */
static const tgc_cfg *apply(tgc_cfg **root, const char *item, const char *key) {
    tgc_err err = {{0}};
    *root = base();
    int rc = tgc_cfg_apply_option(*root, item, &err);
    ck_assert_msg(rc == 0, "'%s': %s", item, err.msg);
    const tgc_cfg *v = tgc_cfg_at(*root, key);
    ck_assert_msg(v != NULL, "%s missing after '%s'", key, item);
    return v;
}

#define EXPECT_SCALAR(item, kind_, check)                                                                       \
    do {                                                                                                       \
        tgc_cfg *r;                                                                                            \
        const tgc_cfg *v = apply(&r, item, "x");                                                               \
        ck_assert_msg(v->kind == kind_, "'%s' gave %s", item, tgc_cfg_kind_name(v->kind));                     \
        ck_assert_msg(check, "'%s' value", item);                                                              \
        tgc_cfg_free(r);                                                                                       \
    } while (0)

START_TEST(scalars) {
    EXPECT_SCALAR("x=3", TGC_CFG_INT, v->i == 3);
    EXPECT_SCALAR("x=-12", TGC_CFG_INT, v->i == -12);
    EXPECT_SCALAR("x=+5", TGC_CFG_INT, v->i == 5);
    EXPECT_SCALAR("x=0.01", TGC_CFG_FLOAT, v->f == 0.01);
    EXPECT_SCALAR("x=1e-4", TGC_CFG_FLOAT, v->f == 1e-4);
    EXPECT_SCALAR("x=.5", TGC_CFG_FLOAT, v->f == 0.5);
    EXPECT_SCALAR("x=inf", TGC_CFG_FLOAT, isinf(v->f));
    EXPECT_SCALAR("x=True", TGC_CFG_BOOL, v->b == 1);
    EXPECT_SCALAR("x=false", TGC_CFG_BOOL, v->b == 0);
    EXPECT_SCALAR("x=FALSE", TGC_CFG_BOOL, v->b == 0);
    EXPECT_SCALAR("x=None", TGC_CFG_NULL, 1);
    EXPECT_SCALAR("x=none", TGC_CFG_STR, !strcmp(v->s, "none")); /* only exactly None */
    EXPECT_SCALAR("x=null", TGC_CFG_STR, !strcmp(v->s, "null"));
    EXPECT_SCALAR("x=SGD", TGC_CFG_STR, !strcmp(v->s, "SGD"));
    EXPECT_SCALAR("x=0x10", TGC_CFG_STR, !strcmp(v->s, "0x10")); /* Python's int() and float() refuse it */
    EXPECT_SCALAR("x='3'", TGC_CFG_INT, v->i == 3);              /* quotes are stripped, then typed */
    EXPECT_SCALAR("x=\"a b c\"", TGC_CFG_STR, !strcmp(v->s, "abc")); /* spaces removed */
    EXPECT_SCALAR("x=", TGC_CFG_STR, !strcmp(v->s, ""));
    EXPECT_SCALAR("x=a=b", TGC_CFG_STR, !strcmp(v->s, "a=b")); /* split at the first '=' */
    EXPECT_SCALAR("x=99999999999999999999", TGC_CFG_FLOAT, v->f == 1e20);
}
END_TEST

START_TEST(iterables) {
    tgc_cfg *r;
    const tgc_cfg *v = apply(&r, "x=a,b", "x");
    ck_assert_int_eq(v->kind, TGC_CFG_LIST);
    ck_assert_int_eq(v->n, 2);
    ck_assert_str_eq(v->items[0]->s, "a");
    ck_assert_str_eq(v->items[1]->s, "b");
    tgc_cfg_free(r);

    v = apply(&r, "x=[1, 2.5,c]", "x");
    ck_assert_int_eq(v->kind, TGC_CFG_LIST);
    ck_assert_int_eq(v->n, 3);
    ck_assert_int_eq(v->items[0]->kind, TGC_CFG_INT);
    ck_assert_int_eq(v->items[1]->kind, TGC_CFG_FLOAT);
    ck_assert_int_eq(v->items[2]->kind, TGC_CFG_STR);
    tgc_cfg_free(r);

    v = apply(&r, "x=(1,2)", "x");
    ck_assert_int_eq(v->kind, TGC_CFG_TUPLE);
    ck_assert_int_eq(v->n, 2);
    ck_assert_int_eq(v->items[1]->i, 2);
    tgc_cfg_free(r);

    v = apply(&r, "x=[(1,2),(3,4)]", "x");
    ck_assert_int_eq(v->kind, TGC_CFG_LIST);
    ck_assert_int_eq(v->n, 2);
    ck_assert_int_eq(v->items[0]->kind, TGC_CFG_TUPLE);
    ck_assert_int_eq(v->items[1]->kind, TGC_CFG_TUPLE);
    ck_assert_int_eq(v->items[1]->items[0]->i, 3);
    ck_assert_str_eq(v->items[1]->items[1]->path, "x[1][1]");
    tgc_cfg_free(r);

    v = apply(&r, "x=[[1,[2,3]],4]", "x");
    ck_assert_int_eq(v->n, 2);
    ck_assert_int_eq(v->items[0]->items[1]->kind, TGC_CFG_LIST);
    ck_assert_int_eq(v->items[0]->items[1]->items[1]->i, 3);
    ck_assert_int_eq(v->items[1]->i, 4);
    tgc_cfg_free(r);

    v = apply(&r, "x=[]", "x");
    ck_assert_int_eq(v->kind, TGC_CFG_LIST);
    ck_assert_int_eq(v->n, 0);
    tgc_cfg_free(r);

    v = apply(&r, "x=()", "x");
    ck_assert_int_eq(v->kind, TGC_CFG_TUPLE);
    ck_assert_int_eq(v->n, 0);
    tgc_cfg_free(r);

    v = apply(&r, "x=\"[1, 'a']\"", "x"); /* outer quotes stripped; inner quotes stripped per element */
    ck_assert_int_eq(v->n, 2);
    ck_assert_str_eq(v->items[1]->s, "a");
    tgc_cfg_free(r);

    v = apply(&r, "x=1,", "x"); /* a trailing comma still makes a list */
    ck_assert_int_eq(v->kind, TGC_CFG_LIST);
    ck_assert_int_eq(v->n, 1);
    tgc_cfg_free(r);
}
END_TEST

START_TEST(keys_and_structure) {
    tgc_cfg *r;
    const tgc_cfg *v = apply(&r, "model.backbone.depth=101", "model.backbone.depth");
    ck_assert_int_eq(v->i, 101);
    ck_assert_str_eq(v->file, "<cfg-options>");
    ck_assert_int_eq(v->line, 0);
    ck_assert_str_eq(v->path, "model.backbone.depth");
    ck_assert_int_eq(tgc_cfg_at(r, "model.backbone")->n, 2); /* siblings kept, order kept */
    ck_assert_str_eq(tgc_cfg_at(r, "model.backbone")->keys[0], "depth");
    tgc_cfg_free(r);

    /* missing intermediate maps are created */
    v = apply(&r, "optim_wrapper.optimizer.lr=0.02", "optim_wrapper.optimizer.lr");
    ck_assert_double_eq(v->f, 0.02);
    const tgc_cfg *ow = tgc_cfg_at(r, "optim_wrapper");
    ck_assert_int_eq(ow->kind, TGC_CFG_MAP);
    ck_assert_str_eq(ow->file, "<cfg-options>");
    ck_assert_str_eq(ow->path, "optim_wrapper");
    tgc_cfg_free(r);

    /* a numeric component indexes an existing list */
    v = apply(&r, "pipeline.1.scale=256", "pipeline[1].scale");
    ck_assert_int_eq(v->i, 256);
    ck_assert_str_eq(v->path, "pipeline[1].scale");
    tgc_cfg_free(r);
    v = apply(&r, "pipeline.0=Resize", "pipeline[0]");
    ck_assert_str_eq(v->s, "Resize");
    tgc_cfg_free(r);

    /* replacing: a map by a scalar, a list by a scalar */
    v = apply(&r, "model.backbone=None", "model.backbone");
    ck_assert_int_eq(v->kind, TGC_CFG_NULL);
    tgc_cfg_free(r);
    v = apply(&r, "model.backbone.out_indices=(0,1,2,3)", "model.backbone.out_indices");
    ck_assert_int_eq(v->kind, TGC_CFG_TUPLE);
    ck_assert_int_eq(v->n, 4);
    tgc_cfg_free(r);

    /* several options in a row */
    tgc_err err = {{0}};
    r = base();
    ck_assert_int_eq(tgc_cfg_apply_option(r, "a.b=1", &err), 0);
    ck_assert_int_eq(tgc_cfg_apply_option(r, "a.c=2", &err), 0);
    ck_assert_int_eq(tgc_cfg_apply_option(r, "a.b=3", &err), 0);
    ck_assert_int_eq(tgc_cfg_at(r, "a")->n, 2);
    ck_assert_int_eq(tgc_cfg_at(r, "a.b")->i, 3);
    tgc_cfg_free(r);
}
END_TEST

static void fails(const char *item, const char *const *needles) {
    tgc_err err = {{0}};
    tgc_cfg *r = base();
    tgc_cfg *before = tgc_cfg_clone(r);
    ck_assert_msg(tgc_cfg_apply_option(r, item, &err) == -1, "'%s' should fail", item);
    for (; *needles; needles++)
        ck_assert_msg(strstr(err.msg, *needles), "'%s': message '%s' lacks '%s'", item, err.msg, *needles);
    ck_assert_msg(tgc_cfg_equal(r, before), "'%s' changed the tree although it failed", item);
    tgc_cfg_free(before);
    tgc_cfg_free(r);
}

START_TEST(bad_items) {
    fails("model.backbone.depth", (const char *[]){"<cfg-options>", "'model.backbone.depth'", "KEY=VALUE", NULL});
    fails("=3", (const char *[]){"'=3'", "empty key", NULL});
    fails("a..b=3", (const char *[]){"'a..b=3'", "empty part", NULL});
    fails("pipeline.5.scale=1",
          (const char *[]){"'pipeline.5.scale=1'", "index 5 is out of range", "'pipeline' of length 2", NULL});
    fails("pipeline.x=1", (const char *[]){"'pipeline' is a list", "'x' must be an index", NULL});
    fails("lr.x=1", (const char *[]){"key 'lr.x'", "'lr' (from opt.yaml:6) has kind float", NULL});
    fails("x=[1,2", (const char *[]){"unbalanced", NULL});
    fails("x=[(1,2]", (const char *[]){"unbalanced", NULL});
    /* deep values and keys are refused, not recursed into without bound */
    char deep[20000];
    size_t n = 0;
    n += (size_t)sprintf(deep, "x=");
    for (int i = 0; i < 5000; i++) deep[n++] = '[';
    for (int i = 0; i < 5000; i++) deep[n++] = ']';
    deep[n] = 0;
    fails(deep, (const char *[]){"deeper than 64", NULL});
    n = 0;
    for (int i = 0; i < 3000; i++) n += (size_t)sprintf(deep + n, "a.");
    sprintf(deep + n, "b=1");
    fails(deep, (const char *[]){"more than 64 parts", NULL});
}
END_TEST

int main(void) {
    Suite *s = suite_create("cfg_options");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, scalars);
    tcase_add_test(tc, iterables);
    tcase_add_test(tc, keys_and_structure);
    tcase_add_test(tc, bad_items);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
