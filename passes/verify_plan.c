/* passes/verify_plan.c - placeholder until its implementation lands. */
#include "passes/passes.h"
int tgc_pass_verify_plan(tgc_module *m, tgc_err *err) { (void)m; (void)err; return 0; }
