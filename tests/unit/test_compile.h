/* tests/unit/test_compile.h - for Check tests: compiles a YAML config held in a string through the
 * frontend and the pass pipeline into a validated plan (the caller frees it). `disabled` lists optional
 * passes to turn off (may be NULL). */
#ifndef TGC_TEST_COMPILE_H
#define TGC_TEST_COMPILE_H

#include <check.h>
#include <string.h>

#include "plan/plan.h"
#include "frontend/frontend.h"

static tgc_plan *test_compile(const char *text, const char *const *disabled, int n_disabled) {
    tgc_err err;
    tgc_cfg *cfg = tgc_cfg_parse(text, strlen(text), "test.yaml", &err);
    ck_assert_msg(cfg, "%s", err.msg);
    tgc_module m;
    memset(&m, 0, sizeof m);
    ck_assert_msg(tgc_frontend_build(cfg, &m, &err) == 0, "%s", err.msg);
    tgc_pipeline_opts po;
    memset(&po, 0, sizeof po);
    for (int i = 0; i < n_disabled; i++) po.disabled[po.n_disabled++] = disabled[i];
    ck_assert_msg(tgc_run_pipeline(&m, &po, &err) == 0, "%s", err.msg);
    tgc_plan *p = tgc_plan_from_module(&m, cfg, &err);
    ck_assert_msg(p, "%s", err.msg);
    tgc_module_free(&m);
    tgc_cfg_free(cfg);
    ck_assert_msg(tgc_plan_validate(p, &err) == 0, "%s", err.msg);
    return p;
}

#endif
