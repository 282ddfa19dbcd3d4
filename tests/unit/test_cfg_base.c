/* tests/unit/test_cfg_base.c - `_base_` loading: single and list, multi-level, relative paths, sibling
 * duplicates, child merge, lists replace, `_delete_`, missing bases, cycles, chain depth. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "frontend/cfg.h"
#include "test_util.h"

#define INPUTS TGC_SOURCE_DIR "/tests/unit/cfg_inputs/"

static tgc_cfg *load_ok(const char *rel) {
    tgc_err err = {{0}};
    tgc_cfg *c = tgc_cfg_load(rel, &err);
    ck_assert_msg(c != NULL, "load %s failed: %s", rel, err.msg);
    return c;
}

static void load_fails(const char *path, const char *const *needles) {
    tgc_err err = {{0}};
    tgc_cfg *c = tgc_cfg_load(path, &err);
    ck_assert_msg(c == NULL, "%s loaded but should fail", path);
    for (; *needles; needles++)
        ck_assert_msg(strstr(err.msg, *needles), "message '%s' lacks '%s'", err.msg, *needles);
}

static const tgc_cfg *at(const tgc_cfg *root, const char *path, tgc_cfg_kind kind) {
    return test_cfg_at(root, path, kind);
}

START_TEST(list_of_bases_multilevel) {
    tgc_cfg *c = load_ok(INPUTS "resnet/resnet50_child.yaml");
    ck_assert_ptr_null(tgc_cfg_get(c, "_base_"));
    /* child merged into the model base map by map */
    ck_assert_int_eq(at(c, "model.backbone.depth", TGC_CFG_INT)->i, 101);
    ck_assert_str_eq(at(c, "model.backbone.type", TGC_CFG_STR)->s, "ResNet");
    ck_assert_str_eq(at(c, "model.backbone.style", TGC_CFG_STR)->s, "pytorch");
    ck_assert_int_eq(at(c, "model.head.num_classes", TGC_CFG_INT)->i, 10);
    ck_assert_double_eq(at(c, "model.head.loss.loss_weight", TGC_CFG_FLOAT)->f, 1.0);
    /* lists replace, never concatenate */
    const tgc_cfg *topk = at(c, "model.head.topk", TGC_CFG_LIST);
    ck_assert_int_eq(topk->n, 1);
    const tgc_cfg *ms = at(c, "param_scheduler.milestones", TGC_CFG_LIST);
    ck_assert_int_eq(ms->n, 2);
    ck_assert_int_eq(ms->items[0]->i, 5);
    ck_assert_int_eq(ms->items[1]->i, 8);
    ck_assert_str_eq(at(c, "param_scheduler.type", TGC_CFG_STR)->s, "MultiStepLR");
    /* _delete_: the optimizer map is replaced, not merged, and the key is dropped */
    const tgc_cfg *opt = at(c, "optim_wrapper.optimizer", TGC_CFG_MAP);
    ck_assert_int_eq(opt->n, 2);
    ck_assert_str_eq(at(c, "optim_wrapper.optimizer.type", TGC_CFG_STR)->s, "Adam");
    ck_assert_ptr_null(tgc_cfg_get(opt, "momentum"));
    ck_assert_ptr_null(tgc_cfg_get(opt, "_delete_"));
    /* second level: sgd.yaml's own base (relative "../default_runtime.yaml" from _base_/schedules) */
    ck_assert_str_eq(at(c, "default_scope", TGC_CFG_STR)->s, "mmpretrain");
    ck_assert_int_eq(at(c, "randomness.deterministic", TGC_CFG_BOOL)->b, 0);
    ck_assert_int_eq(at(c, "train_cfg.max_epochs", TGC_CFG_INT)->i, 100); /* sgd.yaml over runtime */
    /* data base: anchors inside a base, and a partial override of a nested map */
    ck_assert_int_eq(at(c, "train_dataloader.batch_size", TGC_CFG_INT)->i, 64);
    ck_assert_int_eq(at(c, "train_dataloader.num_workers", TGC_CFG_INT)->i, 5);
    const tgc_cfg *scale = at(c, "train_dataloader.dataset.pipeline[1].scale", TGC_CFG_INT);
    ck_assert_int_eq(scale->i, 224);
    ck_assert_str_eq(scale->path, "train_dataloader.dataset.pipeline[1].scale");
    ck_assert_ptr_nonnull(strstr(scale->file, "_base_/datasets/imagenet.yaml"));
    /* unknown keys are kept */
    ck_assert_str_eq(at(c, "unknown_extension.keep", TGC_CFG_STR)->s, "me");
    /* every node knows where it came from */
    const tgc_cfg *depth = at(c, "model.backbone.depth", TGC_CFG_INT);
    ck_assert_ptr_nonnull(strstr(depth->file, "resnet50_child.yaml"));
    ck_assert_int_eq(depth->line, 7);
    const tgc_cfg *nc = at(c, "model.backbone.num_stages", TGC_CFG_INT);
    ck_assert_ptr_nonnull(strstr(nc->file, "models/resnet50.yaml"));
    ck_assert_int_eq(nc->line, 7);
    tgc_cfg_free(c);
}
END_TEST

START_TEST(single_base_string) {
    tgc_cfg *c = load_ok(INPUTS "resnet/single.yaml");
    ck_assert_str_eq(at(c, "model.neck.type", TGC_CFG_STR)->s, "GeneralizedMeanPooling");
    ck_assert_int_eq(at(c, "model.neck", TGC_CFG_MAP)->n, 1); /* `_delete_: false` merges and is dropped */
    ck_assert_int_eq(at(c, "model.backbone.depth", TGC_CFG_INT)->i, 50);
    tgc_cfg_free(c);
}
END_TEST

START_TEST(parse_resolves_relative_to_name) {
    const char *text = "_base_: ['../_base_/default_runtime.yaml']\nrandomness: {seed: 3}\n";
    tgc_err err = {{0}};
    tgc_cfg *c = tgc_cfg_parse(text, strlen(text), INPUTS "resnet/virtual.yaml", &err);
    ck_assert_msg(c != NULL, "%s", err.msg);
    ck_assert_int_eq(at(c, "randomness.seed", TGC_CFG_INT)->i, 3);
    ck_assert_int_eq(at(c, "randomness.deterministic", TGC_CFG_BOOL)->b, 0);
    tgc_cfg_free(c);
}
END_TEST

START_TEST(delete_semantics_in_memory) {
    /* _delete_ on a key the base lacks, on a nested map, and a scalar replacing a map */
    const char *text = "_base_: ../_base_/models/resnet50.yaml\n"
                       "model:\n"
                       "  head:\n"
                       "    loss: {_delete_: true, type: LabelSmoothLoss, label_smooth_val: 0.1}\n"
                       "  neck: null\n"
                       "  new_part: {_delete_: true, a: 1}\n";
    tgc_err err = {{0}};
    tgc_cfg *c = tgc_cfg_parse(text, strlen(text), INPUTS "resnet/virtual.yaml", &err);
    ck_assert_msg(c != NULL, "%s", err.msg);
    const tgc_cfg *loss = at(c, "model.head.loss", TGC_CFG_MAP);
    ck_assert_int_eq(loss->n, 2);
    ck_assert_ptr_null(tgc_cfg_get(loss, "loss_weight"));
    at(c, "model.neck", TGC_CFG_NULL);
    ck_assert_int_eq(at(c, "model.new_part", TGC_CFG_MAP)->n, 1);
    ck_assert_int_eq(at(c, "model.head.num_classes", TGC_CFG_INT)->i, 1000);
    tgc_cfg_free(c);
}
END_TEST

START_TEST(sibling_duplicate) {
    const char *needles[] = {"child.yaml:1", "Duplicate key 'model' among bases a.yaml and b.yaml", NULL};
    load_fails(INPUTS "dup/child.yaml", needles);
}
END_TEST

START_TEST(missing_base) {
    const char *needles[] = {"misc/missing_base.yaml:4: _base_",
                             "cannot open 'nope.yaml' (resolved to '", "misc/nope.yaml'): No such file or directory",
                             NULL};
    load_fails(INPUTS "misc/missing_base.yaml", needles);
}
END_TEST

START_TEST(cycle) {
    const char *needles[] = {"cycle/b.yaml:2: _base_: cycle:", "cycle/a.yaml -> ", "cycle/b.yaml -> ", NULL};
    load_fails(INPUTS "cycle/a.yaml", needles);
    tgc_err err = {{0}};
    ck_assert_ptr_null(tgc_cfg_load(INPUTS "cycle/a.yaml", &err));
    /* the chain is a.yaml -> b.yaml -> a.yaml, in that order */
    const char *a1 = strstr(err.msg, "a.yaml -> "), *b = strstr(err.msg, "b.yaml -> ");
    ck_assert(a1 && b && a1 < b && strstr(b, "a.yaml"));
}
END_TEST

START_TEST(map_onto_scalar_and_bad_base_type) {
    const char *needles[] = {"map_onto_scalar.yaml:3: default_scope: cannot merge a map into the str", "_delete_",
                             NULL};
    load_fails(INPUTS "misc/map_onto_scalar.yaml", needles);
    const char *needles2[] = {"bad_base_type.yaml:1: _base_: expected a path or a list of paths (got int)", NULL};
    load_fails(INPUTS "misc/bad_base_type.yaml", needles2);
    const char *needles3[] = {"cfg_inputs/misc/does_not_exist.yaml: cannot open", NULL};
    load_fails(INPUTS "misc/does_not_exist.yaml", needles3);
}
END_TEST

START_TEST(chain_too_deep) {
    /* 40 files, each the base of the previous: refused at 32 with the chain's ends shown (however long the
     * build directory's path) */
    char dir[512];
    snprintf(dir, sizeof dir, "%s/cfg_chain_test", TGC_BINARY_DIR);
    mkdir(dir, 0755);
    for (int i = 0; i < 40; i++) {
        char path[600];
        snprintf(path, sizeof path, "%s/c%d.yaml", dir, i);
        FILE *f = fopen(path, "w");
        ck_assert_ptr_nonnull(f);
        if (i < 39) fprintf(f, "_base_: c%d.yaml\nk%d: %d\n", i + 1, i, i);
        else fprintf(f, "last: 1\n");
        fclose(f);
    }
    char top[600];
    snprintf(top, sizeof top, "%s/c0.yaml", dir);
    const char *needles[] = {"chain deeper than 32", "/c0.yaml -> ", "/c2.yaml -> ... 28 more ... -> ",
                             "/c31.yaml -> ", "/c32.yaml -> ", "/c33.yaml", NULL};
    load_fails(top, needles);
    /* 20 levels is fine */
    snprintf(top, sizeof top, "%s/c20.yaml", dir);
    tgc_cfg *c = load_ok(top);
    ck_assert_int_eq(at(c, "last", TGC_CFG_INT)->i, 1);
    ck_assert_int_eq(at(c, "k38", TGC_CFG_INT)->i, 38);
    tgc_cfg_free(c);
}
END_TEST

int main(void) {
    Suite *s = suite_create("cfg_base");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, list_of_bases_multilevel);
    tcase_add_test(tc, single_base_string);
    tcase_add_test(tc, parse_resolves_relative_to_name);
    tcase_add_test(tc, delete_semantics_in_memory);
    tcase_add_test(tc, sibling_duplicate);
    tcase_add_test(tc, missing_base);
    tcase_add_test(tc, cycle);
    tcase_add_test(tc, map_onto_scalar_and_bad_base_type);
    tcase_add_test(tc, chain_too_deep);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
