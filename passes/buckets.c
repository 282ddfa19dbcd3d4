/* passes/buckets.c - placeholder until its implementation lands. */
#include "passes/passes.h"
int tgc_pass_buckets(tgc_module *m, tgc_err *err) { (void)m; (void)err; return 0; }
