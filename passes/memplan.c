/* passes/memplan.c - placeholder until its implementation lands. */
#include "passes/passes.h"
int tgc_pass_memplan(tgc_module *m, tgc_err *err) { (void)m; (void)err; return 0; }
