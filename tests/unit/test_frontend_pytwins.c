/* tests/unit/test_frontend_pytwins.c - every shipped config that has a `.py` twin (configs/X.py next to
 * configs/X.yaml) compiles from the `.py` text to the byte-identical plan of its YAML form. The plan embeds
 * the config tree with each node's source file and line, which necessarily differ between the two files:
 * both trees are checked equal (tgc_cfg_equal: kinds, values, keys and order), then their locations are
 * blanked and the two plans compared byte for byte. */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/frontend.h"
#include "plan/plan.h"

#define CONFIGS TGC_SOURCE_DIR "/configs"

static void blank_locations(tgc_cfg *c) {
    free(c->file);
    c->file = tgc_strdup("");
    c->line = 0;
    for (int i = 0; i < c->n; i++) blank_locations(c->items[i]);
}

/* The serialized plan of cfg (consumed); its parameter count in *params. `no_config`: the plan's config
 * section holds an empty map (the graph, tensors and programs only). */
static tgc_buf compile_tree(tgc_cfg *cfg, const char *what, int64_t *params, int no_config) {
    tgc_err err = {{0}};
    blank_locations(cfg);
    tgc_cfg *fn = tgc_cfg_new(TGC_CFG_STR, "", 0); /* what `tgc compile` records, the same for both */
    fn->s = tgc_strdup("twin");
    tgc_cfg_set(cfg, "filename", fn);
    tgc_cfg_set_paths(cfg);
    tgc_module m;
    memset(&m, 0, sizeof m);
    ck_assert_msg(tgc_frontend_build(cfg, &m, &err) == 0, "%s: %s", what, err.msg);
    m.target = tgc_target_find("cpu");
    tgc_pipeline_opts po;
    memset(&po, 0, sizeof po);
    ck_assert_msg(tgc_run_pipeline(&m, &po, &err) == 0, "%s: %s", what, err.msg);
    tgc_plan *p = tgc_plan_from_module(&m, cfg, &err);
    ck_assert_msg(p, "%s: %s", what, err.msg);
    if (no_config) {
        tgc_cfg_free(p->config);
        p->config = tgc_cfg_new(TGC_CFG_MAP, "", 0);
    }
    tgc_buf b = {0};
    ck_assert_msg(tgc_plan_serialize(p, &b, &err) == 0, "%s: %s", what, err.msg);
    *params = p->params;
    tgc_plan_free(p);
    tgc_module_free(&m);
    tgc_cfg_free(cfg);
    return b;
}

static int n_twins;

static void check_twin(const char *py) {
    char *yaml = tgc_asprintf("%.*s.yaml", (int)strlen(py) - 3, py);
    tgc_err err = {{0}};
    tgc_cfg *a = tgc_cfg_load(py, &err);
    ck_assert_msg(a, "%s", err.msg);
    tgc_cfg *b = tgc_cfg_load(yaml, &err);
    ck_assert_msg(b, "%s", err.msg);
    ck_assert_msg(tgc_cfg_equal(a, b), "%s and %s load to different trees", py, yaml);
    int64_t pa, pb;
    tgc_buf ba = compile_tree(a, py, &pa, 0), bb = compile_tree(b, yaml, &pb, 0);
    ck_assert_int_eq(pa, pb);
    ck_assert_msg(ba.len == bb.len && memcmp(ba.data, bb.data, ba.len) == 0, "%s: plan differs from its YAML twin's",
                  py);
    fprintf(stderr, "%s: %lld params, %zu-byte plan, identical to its YAML twin's\n", py + strlen(CONFIGS) + 1,
            (long long)pa, ba.len);
    n_twins++;
    tgc_buf_free(&ba);
    tgc_buf_free(&bb);
    free(yaml);
}

START_TEST(twins_compile_to_identical_plans) {
    static const char *const dirs[] = {"fashion", "lenet", "resnet"};
    for (size_t k = 0; k < sizeof dirs / sizeof *dirs; k++) {
        char *d = tgc_asprintf("%s/%s", CONFIGS, dirs[k]);
        struct dirent **names;
        int n = scandir(d, &names, NULL, alphasort);
        ck_assert_int_ge(n, 0);
        for (int i = 0; i < n; i++) {
            const char *nm = names[i]->d_name;
            size_t l = strlen(nm);
            if (l > 3 && !strcmp(nm + l - 3, ".py")) {
                char *py = tgc_asprintf("%s/%s", d, nm);
                char *yaml = tgc_asprintf("%s/%.*s.yaml", d, (int)l - 3, nm);
                FILE *f = fopen(yaml, "r");
                if (f) {
                    fclose(f);
                    check_twin(py);
                }
                free(py);
                free(yaml);
            }
            free(names[i]);
        }
        free(names);
        free(d);
    }
    /* LeNet-5 (2), ResNet-18/34/50/101/152 on ImageNet, ResNet-18 on CIFAR-10, the small ResNet */
    ck_assert_int_ge(n_twins, 9);
}
END_TEST

/* An MMClassification 0.x config, translated at load, reaches the graph of its MMPretrain 1.x twin and the
 * same runtime settings: every key of the 1.x form is equal in the translation. (The 0.x file keeps
 * variables the 1.x one has not, img_norm_cfg for one, so the plans' config sections differ.) */
START_TEST(mmcls0x_translates_to_its_1x_twin) {
    const char *old = TGC_SOURCE_DIR "/tests/unit/cfg_inputs/legacy/resnet_fashion_mmcls0x.py";
    const char *new = TGC_SOURCE_DIR "/tests/unit/cfg_inputs/legacy/resnet_fashion_mmpretrain1x.yaml";
    tgc_err err = {{0}};
    tgc_cfg *a = tgc_cfg_load(old, &err);
    ck_assert_msg(a, "%s", err.msg);
    tgc_cfg *b = tgc_cfg_load(new, &err);
    ck_assert_msg(b, "%s", err.msg);
    FILE *log = tmpfile();
    ck_assert_int_eq(tgc_cfg_translate_legacy(a, log, &err), 0);
    ck_assert_int_eq(tgc_cfg_translate_legacy(b, log, &err), 0);
    ck_assert_int_eq(ftell(log) > 0, 1);
    fclose(log);
    for (int i = 0; i < b->n; i++) {
        const tgc_cfg *v = tgc_cfg_get(a, b->keys[i]);
        ck_assert_msg(v, "the translation lacks '%s'", b->keys[i]);
        ck_assert_msg(tgc_cfg_equal(v, b->items[i]), "'%s' differs from the 1.x twin's", b->keys[i]);
    }
    static const char *const gone[] = {"data", "optimizer", "optimizer_config", "lr_config", "runner",
                                       "checkpoint_config", "log_config", "evaluation", "dist_params"};
    for (size_t i = 0; i < sizeof gone / sizeof *gone; i++) ck_assert_ptr_null(tgc_cfg_get(a, gone[i]));
    ck_assert_ptr_nonnull(tgc_cfg_get(a, "workflow")); /* ignored, not dropped */
    int64_t pa, pb;
    tgc_buf ba = compile_tree(a, old, &pa, 1), bb = compile_tree(b, new, &pb, 1);
    ck_assert_int_eq(pa, pb);
    ck_assert_msg(ba.len == bb.len && memcmp(ba.data, bb.data, ba.len) == 0, "plans differ");
    fprintf(stderr, "MMClassification 0.x config: %lld params, the plan of its 1.x twin\n", (long long)pa);
    tgc_buf_free(&ba);
    tgc_buf_free(&bb);
}
END_TEST

int main(void) {
    Suite *s = suite_create("frontend_pytwins");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, twins_compile_to_identical_plans);
    tcase_add_test(tc, mmcls0x_translates_to_its_1x_twin);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
