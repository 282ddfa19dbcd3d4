/* driver/cmd_train.c - `tgc train CONFIG`: compile in memory (with --cfg-options), then run as `tgc run`. */
#include <stdlib.h>
#include <string.h>

#include "driver/driver.h"

int tgc_cmd_train(int argc, char **argv) {
    tgc_run_args *a = tgc_calloc(1, sizeof *a);
    int pr = tgc_run_parse_args("train", argc, argv, a);
    if (pr) {
        free(a);
        if (pr == 1) tgc_usage("train", stdout);
        return pr == 1 ? TGC_EXIT_OK : pr;
    }
    tgc_err err = {{0}};
    /* Graph keys (model.*, batch_size, pipeline) go into the compile; runtime keys are applied to the
     * compiled plan's config as `tgc run` would, so the plan (and its checksum, which checkpoints record)
     * is the one `tgc compile CONFIG --cfg-options GRAPH_KEYS` writes: a run can be resumed with other
     * runtime options, and by `tgc run` of that plan. */
    const char **graph = tgc_calloc((size_t)a->n_options + 1, sizeof *graph);
    const char **runtime = tgc_calloc((size_t)a->n_options + 1, sizeof *runtime);
    int ng = 0, nr = 0;
    for (int i = 0; i < a->n_options; i++) {
        char key[512];
        size_t kn = strcspn(a->options[i], "=");
        snprintf(key, sizeof key, "%.*s", (int)TGC_MIN(kn, sizeof key - 1), a->options[i]);
        if (tgc_run_option_allowed(key)) runtime[nr++] = a->options[i];
        else graph[ng++] = a->options[i];
    }
    /* for the device it will run on: --device cuda[:N] (or --gpus) compiles for cuda */
    const char *target = strncmp(a->device, "cuda", 4) ? "cpu" : "cuda";
    tgc_plan *p = tgc_compile_config(a->input, target, graph, ng, a->strict, a->train.amp, a->layout, &err);
    free(graph);
    if (!p) {
        fprintf(stderr, "tgc: %s\n", err.msg);
        free(runtime);
        free(a);
        return TGC_EXIT_ERROR;
    }
    int rc = tgc_run_loaded(p, a, "train", runtime, nr);
    free(runtime);
    return rc;
}
