/* tests/weights/eval_harness.c - eval logits of a plan after loading weights the way load_from/init_cfg do.
 *
 * usage: tgc_eval_harness PLAN BATCH.ckpt OUT.ckpt [--load FILE [--scope S] [--prefix P]] [--save-ckpt FILE]
 *
 * The state starts from the plan's own init (seed 0); --load applies runtime/runner/weights.c's loader
 * (scope "" is load_from, "backbone." an init_cfg of the backbone) and prints its report on stderr.
 * BATCH.ckpt holds "inputs" (the eval program's image shape). OUT.ckpt gets "eval.logits".
 * --save-ckpt writes the state as a tgc checkpoint (what `tgc export` reads). Test-only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan/plan.h"
#include "runtime/exec/executor.h"
#include "runtime/io/checkpoint.h"
#include "runtime/runner/weights.h"

static int is_weight(const tgc_plan_tensor *t) { return t->kind == TGC_VAL_PARAM || t->kind == TGC_VAL_BUFFER; }

static int save_state(const tgc_plan *p, tgc_exec *x, const char *path, tgc_err *err) {
    tgc_ckpt_writer *w = tgc_ckpt_writer_new(p->checksum);
    void **bufs = tgc_calloc((size_t)p->n_tensors, sizeof *bufs);
    int rc = 0;
    for (int i = 0; i < p->n_tensors && rc == 0; i++) {
        const tgc_plan_tensor *t = &p->tensors[i];
        if (!is_weight(t)) continue;
        bufs[i] = tgc_malloc(t->bytes ? (size_t)t->bytes : 1);
        rc = tgc_exec_read(x, i, bufs[i], err);
        if (rc == 0) rc = tgc_ckpt_add(w, t->name, t->type.dtype, &t->type.shape, bufs[i], err);
    }
    tgc_ckpt_set_int(w, "iter", 0);
    if (rc == 0) rc = tgc_ckpt_save(w, path, err);
    tgc_ckpt_writer_free(w);
    for (int i = 0; i < p->n_tensors; i++) free(bufs[i]);
    free(bufs);
    return rc;
}

int main(int argc, char **argv) {
    const char *pos[3] = {0}, *load = NULL, *scope = "", *prefix = NULL, *save = NULL;
    int np = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--load") && i + 1 < argc) load = argv[++i];
        else if (!strcmp(argv[i], "--scope") && i + 1 < argc) scope = argv[++i];
        else if (!strcmp(argv[i], "--prefix") && i + 1 < argc) prefix = argv[++i];
        else if (!strcmp(argv[i], "--save-ckpt") && i + 1 < argc) save = argv[++i];
        else if (argv[i][0] != '-' && np < 3) pos[np++] = argv[i];
        else return fprintf(stderr, "eval_harness: unexpected argument '%s'\n", argv[i]), 1;
    }
    if (np != 3) return fprintf(stderr, "usage: tgc_eval_harness PLAN BATCH.ckpt OUT.ckpt [--load FILE ...]\n"), 1;
    tgc_err err = {{0}};
    int rc = 1;
    tgc_plan *p = NULL;
    tgc_exec *x = NULL;
    tgc_ckpt *batch = NULL;
    tgc_ckpt_writer *w = NULL;
    float *logits = NULL;
    if (!(p = tgc_plan_load(pos[0], &err)) || tgc_plan_validate(p, &err) < 0) goto done;
    tgc_exec_opts o = {.n_threads = 1, .deterministic = 1};
    if (!(x = tgc_exec_new(p, &o, &err)) || tgc_exec_init_state(x, 0, &err) < 0) goto done;
    if (load) {
        tgc_weights_opts wo = {load, scope, prefix, "--load"};
        tgc_weights_report rep;
        if (tgc_weights_load(p, x, &wo, &rep, &err) < 0) goto done;
        fprintf(stderr, "loaded %d tensors from %s\n%s%s", rep.loaded, rep.path, rep.info ? rep.info : "",
                rep.warning ? rep.warning : "");
        tgc_weights_report_free(&rep);
    }
    if (save && save_state(p, x, save, &err) < 0) goto done;
    int ei = tgc_exec_input(x, "eval", "inputs"), eo = tgc_exec_output(x, "eval");
    if (ei < 0 || eo < 0) {
        tgc_fail(&err, "%s: no eval program", pos[0]);
        goto done;
    }
    const tgc_plan_tensor *it = tgc_exec_tensor(x, ei), *ot = tgc_exec_tensor(x, eo);
    if (!(batch = tgc_ckpt_load(pos[1], NULL, &err))) goto done;
    void *img = tgc_malloc((size_t)it->bytes);
    int crc = tgc_ckpt_copy(batch, "inputs", it->type.dtype, &it->type.shape, img, (size_t)it->bytes, &err);
    if (crc == 0) crc = tgc_exec_write(x, ei, img, &err);
    free(img);
    if (crc < 0 || tgc_exec_run(x, "eval", &err) < 0) goto done;
    logits = tgc_malloc((size_t)ot->bytes);
    if (tgc_exec_read(x, eo, logits, &err) < 0) goto done;
    w = tgc_ckpt_writer_new(p->checksum);
    if (tgc_ckpt_add(w, "eval.logits", ot->type.dtype, &ot->type.shape, logits, &err) < 0 ||
        tgc_ckpt_save(w, pos[2], &err) < 0)
        goto done;
    rc = 0;
done:
    if (rc) fprintf(stderr, "eval_harness: %s\n", err.msg);
    tgc_ckpt_writer_free(w);
    free(logits);
    tgc_ckpt_free(batch);
    tgc_exec_free(x);
    tgc_plan_free(p);
    return rc;
}
