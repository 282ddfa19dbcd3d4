/* driver/cmd_inspect.c - `tgc inspect PLAN [--json]`: load, validate and print a plan. */
#include <string.h>

#include "plan/plan.h"
#include "driver/driver.h"

int tgc_cmd_inspect(int argc, char **argv) {
    const char *path = NULL;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--json")) json = 1;
        else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            tgc_usage("inspect", stdout);
            return TGC_EXIT_OK;
        } else if (a[0] == '-' && a[1]) return tgc_usage_error("inspect", "inspect: unknown option '%s'", a);
        else if (path) return tgc_usage_error("inspect", "inspect: more than one plan given ('%s', '%s')", path, a);
        else path = a;
    }
    if (!path) return tgc_usage_error("inspect", "inspect: no plan given");
    tgc_err err = {{0}};
    tgc_plan *p = tgc_plan_load(path, &err);
    int rc = p ? 0 : -1;
    if (p && tgc_plan_validate(p, &err) < 0) rc = tgc_err_prefix(&err, "%s: invalid plan", path);
    if (rc < 0) {
        fprintf(stderr, "tgc: %s\n", err.msg);
        tgc_plan_free(p);
        return TGC_EXIT_ERROR;
    }
    if (json) tgc_plan_print_json(p, stdout);
    else tgc_plan_print(p, stdout);
    tgc_plan_free(p);
    return TGC_EXIT_OK;
}
