/* driver/cmd_bench.c - `tgc bench PLAN`: train and eval step throughput on seeded synthetic inputs. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "driver/driver.h"
#include "runtime/data/data.h"
#include "runtime/exec/executor.h"
#include "runtime/profile/profile.h"

typedef struct bench_opts {
    const char *plan;
    int64_t iters, warmup;
    int json;
    int train_only; /* --train-only: the eval program is not run */
    const char *profile_dir; /* --profile DIR: the timed train steps through the profiler */
} bench_opts;

static int parse_count(const char *s, int64_t lo, int64_t *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || errno || v < lo || v > 1000000) return -1;
    *out = v;
    return 0;
}

static int parse_args(int argc, char **argv, bench_opts *o) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return 1;
        const char *val;
        int r;
        if (!strcmp(a, "--json")) {
            o->json = 1;
        } else if (!strcmp(a, "--train-only")) {
            o->train_only = 1;
        } else if ((r = tgc_opt_value("--profile", argc, argv, &i, &val))) {
            if (r < 0 || !*val) return tgc_usage_error("bench", "bench: --profile needs a directory");
            o->profile_dir = val;
        } else if (!strcmp(a, "--iters") || !strcmp(a, "--warmup")) {
            int64_t *dst = a[2] == 'i' ? &o->iters : &o->warmup;
            if (i + 1 >= argc || parse_count(argv[++i], a[2] == 'i' ? 1 : 0, dst))
                return tgc_usage_error("bench", "bench: %s needs a count (%s)", a, a[2] == 'i' ? ">= 1" : ">= 0");
        } else if (a[0] == '-' && a[1]) {
            return tgc_usage_error("bench", "bench: unknown option '%s'", a);
        } else if (o->plan) {
            return tgc_usage_error("bench", "bench: more than one plan given ('%s', '%s')", o->plan, a);
        } else {
            o->plan = a;
        }
    }
    if (!o->plan) return tgc_usage_error("bench", "bench: no plan given");
    return 0;
}

/* Writes one f32 into the first element of a tensor. */
static int write_f32(tgc_exec *x, int tensor, float v, tgc_err *err) {
    const tgc_plan_tensor *t = tgc_exec_tensor(x, tensor);
    return tgc_exec_write_bytes(x, t->slab, t->offset, sizeof v, &v, err);
}

/* A detection plan's targets: about 1% of the anchors positive (a uniform class, deltas uniform in [-1, 1)),
 * 10% ignored, the rest negative; avg_factor the positives (at least 1). */
static int fill_det_targets(tgc_exec *x, const char *prog, int num_classes, tgc_rng *rng, tgc_err *err) {
    int cls = tgc_exec_input(x, prog, "data_samples.cls_target"), box = tgc_exec_input(x, prog, "data_samples.bbox_target"),
        avg = tgc_exec_input(x, prog, "data_samples.avg_factor");
    if (cls < 0 || box < 0 || avg < 0) return 0;
    const tgc_plan_tensor *ct = tgc_exec_tensor(x, cls), *bt = tgc_exec_tensor(x, box);
    size_t n = (size_t)(ct->bytes / sizeof(int32_t));
    if (bt->bytes != (uint64_t)n * 4 * sizeof(float)) return tgc_fail(err, "bench: the detection targets' shapes disagree");
    int32_t *c = tgc_malloc(n ? n * sizeof *c : 1);
    float *b = tgc_calloc(n ? n * 4 : 1, sizeof *b);
    int64_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t u = tgc_rng_below(rng, 100);
        c[i] = u == 0 ? (int32_t)tgc_rng_below(rng, (uint32_t)(num_classes > 0 ? num_classes : 1)) : u <= 10 ? -1 : num_classes;
        if (u == 0) {
            pos++;
            for (int k = 0; k < 4; k++) b[4 * i + k] = (float)(tgc_rng_uniform(rng) * 2.0 - 1.0);
        }
    }
    int rc = tgc_exec_write(x, cls, c, err) || tgc_exec_write(x, box, b, err) ||
             write_f32(x, avg, (float)(pos > 0 ? pos : 1), err);
    free(c);
    free(b);
    return rc ? -1 : 0;
}

/* A Faster R-CNN plan's inputs: per image 256 sampled anchors (up to 128 positives, label 0, deltas uniform in
 * [-1, 1); the rest negatives, label 1), the others -1; img_shape the whole canvas; 8 ground-truth boxes
 * (uniform classes, 16..128 pixels, inside the canvas), the other rows padding (-1); the sampler's key per image. */
static int fill_frcnn_inputs(tgc_exec *x, const char *prog, int num_classes, tgc_rng *rng, tgc_err *err) {
    int cls = tgc_exec_input(x, prog, "data_samples.rpn_cls_target"), box = tgc_exec_input(x, prog, "data_samples.rpn_bbox_target");
    int avg = tgc_exec_input(x, prog, "data_samples.rpn_avg_factor"), shp = tgc_exec_input(x, prog, "data_samples.img_shape");
    int gb = tgc_exec_input(x, prog, "data_samples.gt_bboxes"), gl = tgc_exec_input(x, prog, "data_samples.gt_labels");
    int key = tgc_exec_input(x, prog, "data_samples.rng"), img = tgc_exec_input(x, prog, "inputs");
    if (shp < 0 || img < 0) return 0;
    const tgc_shape *is = &tgc_exec_tensor(x, img)->type.shape;
    int64_t batch = is->d[0], h = is->d[2], w = is->d[3];
    float *sh = tgc_malloc(sizeof(float) * 2 * (size_t)batch);
    for (int64_t i = 0; i < batch; i++) sh[2 * i] = (float)h, sh[2 * i + 1] = (float)w;
    int rc = tgc_exec_write(x, shp, sh, err);
    free(sh);
    if (rc || cls < 0 || box < 0 || avg < 0 || gb < 0 || gl < 0 || key < 0) return rc ? -1 : 0;
    const tgc_shape *cs = &tgc_exec_tensor(x, cls)->type.shape, *gs = &tgc_exec_tensor(x, gl)->type.shape;
    int64_t a = cs->d[1], g = gs->d[1];
    int32_t *c = tgc_malloc(sizeof(int32_t) * (size_t)(batch * a)), *lab = tgc_malloc(sizeof(int32_t) * (size_t)(batch * g));
    int32_t *k = tgc_malloc(sizeof(int32_t) * 4 * (size_t)batch);
    float *b = tgc_calloc((size_t)(batch * a * 4), sizeof(float)), *gt = tgc_calloc((size_t)(batch * g * 4), sizeof(float));
    int64_t sampled = 0;
    for (int64_t i = 0; i < batch * a; i++) c[i] = -1;
    for (int64_t i = 0; i < batch; i++) {
        for (int s = 0; s < 256 && s < a; s++) {
            int64_t j = i * a + (int64_t)tgc_rng_below(rng, (uint32_t)a);
            if (c[j] >= 0) continue;
            c[j] = s < 128 && tgc_rng_below(rng, 4) == 0 ? 0 : 1;
            sampled++;
            if (c[j] == 0)
                for (int q = 0; q < 4; q++) b[4 * j + q] = (float)(tgc_rng_uniform(rng) * 2.0 - 1.0);
        }
        for (int64_t q = 0; q < g; q++) {
            int64_t r = i * g + q;
            lab[r] = q < 8 ? (int32_t)tgc_rng_below(rng, (uint32_t)(num_classes > 0 ? num_classes : 1)) : -1;
            if (q >= 8) continue;
            double bw = 16 + tgc_rng_uniform(rng) * 112, bh = 16 + tgc_rng_uniform(rng) * 112;
            double x1 = tgc_rng_uniform(rng) * ((double)w - bw), y1 = tgc_rng_uniform(rng) * ((double)h - bh);
            gt[4 * r] = (float)x1, gt[4 * r + 1] = (float)y1, gt[4 * r + 2] = (float)(x1 + bw), gt[4 * r + 3] = (float)(y1 + bh);
        }
        k[4 * i] = 7, k[4 * i + 1] = 0, k[4 * i + 2] = 0, k[4 * i + 3] = (int32_t)i;
    }
    rc = tgc_exec_write(x, cls, c, err) || tgc_exec_write(x, box, b, err) ||
         write_f32(x, avg, (float)(sampled > 0 ? sampled : 1), err) || tgc_exec_write(x, gb, gt, err) ||
         tgc_exec_write(x, gl, lab, err) || tgc_exec_write(x, key, k, err);
    free(c), free(lab), free(k), free(b), free(gt);
    return rc ? -1 : 0;
}

/* Seeded synthetic inputs: images uniform in [-2, 2), labels uniform over the classes (drawn on the host,
 * then uploaded), detection targets (fill_det_targets, fill_frcnn_inputs). */
static int fill_inputs(tgc_exec *x, const char *prog, int num_classes, double lr, tgc_err *err) {
    tgc_rng rng;
    tgc_rng_init(&rng, 0x7467632062656e63ull, 0, 0, TGC_RNG_AUGMENT);
    int img = tgc_exec_input(x, prog, "inputs"), lbl = tgc_exec_input(x, prog, "data_samples.gt_label");
    int lri = tgc_exec_input(x, prog, "lr");
    int rc = 0;
    if (img >= 0) {
        const tgc_plan_tensor *t = tgc_exec_tensor(x, img);
        float *d = tgc_malloc(t->bytes ? (size_t)t->bytes : 1);
        for (uint64_t i = 0; i < t->bytes / sizeof(float); i++) d[i] = (float)(tgc_rng_uniform(&rng) * 4.0 - 2.0);
        rc = tgc_exec_write(x, img, d, err);
        free(d);
    }
    if (rc == 0 && lbl >= 0) {
        const tgc_plan_tensor *t = tgc_exec_tensor(x, lbl);
        int32_t *d = tgc_malloc(t->bytes ? (size_t)t->bytes : 1);
        for (uint64_t i = 0; i < t->bytes / sizeof(int32_t); i++)
            d[i] = (int32_t)tgc_rng_below(&rng, (uint32_t)(num_classes > 0 ? num_classes : 1));
        rc = tgc_exec_write(x, lbl, d, err);
        free(d);
    }
    if (rc == 0) rc = fill_det_targets(x, prog, num_classes, &rng, err);
    if (rc == 0) rc = fill_frcnn_inputs(x, prog, num_classes, &rng, err);
    if (rc == 0 && lri >= 0) rc = write_f32(x, lri, (float)lr, err);
    /* a float16 plan's loss scale: 1 (the gradients as they are; the bench does not check for overflow) */
    int lsi = tgc_exec_input(x, prog, "loss_scale");
    if (rc == 0 && lsi >= 0) rc = write_f32(x, lsi, 1.0f, err);
    return rc;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Runs prog warmup + iters times; *secs is the timed part and *median_ms the median timed step. With a
 * profiler, each step is marked (it records after its own warm-up window). */
static int time_program(tgc_exec *x, const char *prog, const bench_opts *o, tgc_profiler *prof, double *secs,
                        double *median_ms, tgc_err *err) {
    int step = tgc_exec_input(x, prog, "step");
    double *t = tgc_malloc(sizeof(double) * (size_t)o->iters);
    *secs = 0;
    for (int64_t i = 0; i < o->warmup + o->iters; i++) {
        if (step >= 0 && write_f32(x, step, (float)(i + 1), err) < 0) {
            free(t);
            return -1;
        }
        if (prof) tgc_profiler_step_begin(prof, i + 1);
        double t0 = tgc_now();
        int rc = tgc_exec_run(x, prog, err);
        if (rc == 0) rc = tgc_exec_sync(x, err); /* a device with streams finishes the step here */
        double dt = tgc_now() - t0;
        if (prof) tgc_profiler_step_end(prof);
        if (rc < 0) {
            free(t);
            return -1;
        }
        if (i >= o->warmup) {
            t[i - o->warmup] = dt;
            *secs += dt;
        }
    }
    qsort(t, (size_t)o->iters, sizeof *t, cmp_double);
    *median_ms = 1e3 * (o->iters % 2 ? t[o->iters / 2] : 0.5 * (t[o->iters / 2 - 1] + t[o->iters / 2]));
    free(t);
    return 0;
}

int tgc_cmd_bench(int argc, char **argv) {
    bench_opts o = {NULL, 20, 3, 0, 0, NULL};
    int pr = parse_args(argc, argv, &o);
    if (pr == 1) {
        tgc_usage("bench", stdout);
        return TGC_EXIT_OK;
    }
    if (pr) return pr;
    tgc_err err = {{0}};
    tgc_exec *x = NULL;
    tgc_profiler *prof = NULL;
    tgc_plan *p = tgc_plan_load(o.plan, &err);
    int threads = tgc_default_threads();
    tgc_exec_opts xo = {threads, 0, NULL};
    if (!p || tgc_plan_validate(p, &err) < 0) goto fail;
    if (tgc_plan_check_target(p, "cpu", &err) < 0) { /* the CPU executor runs only plans for the CPU */
        tgc_err_prefix(&err, "%s", o.plan);
        goto fail;
    }
    if (!(x = tgc_exec_new(p, &xo, &err)) || tgc_exec_init_state(x, 0, &err) < 0) goto fail;
    const tgc_program *tr = tgc_plan_program(p, "train"), *ev = o.train_only ? NULL : tgc_plan_program(p, "eval");
    int classes = 0, logits = tgc_exec_output(x, "eval");
    if (logits >= 0 && tgc_exec_tensor(x, logits)->type.shape.rank == 2)
        classes = (int)tgc_exec_tensor(x, logits)->type.shape.d[1];
    if (logits >= 0 && tgc_exec_tensor(x, logits)->type.shape.rank == 3) /* detection: det_out [B, A, C + 4] */
        classes = (int)tgc_exec_tensor(x, logits)->type.shape.d[2] - 4;
    if (classes > 0 && tgc_exec_input(x, "eval", "data_samples.img_shape") >= 0) /* Faster R-CNN: [B, P, 5 + 5C] */
        classes = (classes - 1) / 5;
    if (o.profile_dir) {
        tgc_profiler_limits lim = {(int)o.warmup, (int)o.iters, TGC_PROFILE_DEFAULT_MAX_EVENTS};
        if (!(prof = tgc_profiler_new(p, 0, &err)) || tgc_profiler_set_limits(prof, &lim, &err) < 0) goto fail;
        tgc_exec_on_instr(x, tgc_profiler_on_instr, prof);
    }
    double t_train = 0, t_eval = 0, med_train = 0, med_eval = 0;
    if (tr) {
        if (fill_inputs(x, "train", classes, p->optim.lr, &err) < 0) goto fail;
        if (time_program(x, "train", &o, prof, &t_train, &med_train, &err) < 0) goto fail;
    }
    tgc_exec_on_instr(x, NULL, NULL); /* the profile covers the train step */
    if (prof && tgc_profiler_write(prof, o.profile_dir, &err) < 0) goto fail;
    if (ev) {
        if (fill_inputs(x, "eval", classes, p->optim.lr, &err) < 0) goto fail;
        if (time_program(x, "eval", &o, NULL, &t_eval, &med_eval, &err) < 0) goto fail;
    }
    double tr_ips = tr ? (double)(tr->batch * o.iters) / t_train : 0, ev_ips = ev ? (double)(ev->batch * o.iters) / t_eval : 0;
    double tr_ms = tr ? t_train * 1e3 / (double)o.iters : 0, ev_ms = ev ? t_eval * 1e3 / (double)o.iters : 0;
    if (o.json) {
        printf("{\"train_img_per_s\": %.2f, \"eval_img_per_s\": %.2f, \"threads\": %d, \"train_ms_per_step\": %.3f, "
               "\"eval_ms_per_step\": %.3f, \"train_ms_median\": %.3f, \"eval_ms_median\": %.3f, "
               "\"train_batch\": %lld, \"eval_batch\": %lld, \"iters\": %lld}\n",
               tr_ips, ev_ips, threads, tr_ms, ev_ms, med_train, med_eval, (long long)(tr ? tr->batch : 0),
               (long long)(ev ? ev->batch : 0), (long long)o.iters);
    } else {
        if (tr) printf("train: %.1f img/s, %.2f ms/step (batch %lld)\n", tr_ips, tr_ms, (long long)tr->batch);
        if (ev) printf("eval:  %.1f img/s, %.2f ms/step (batch %lld)\n", ev_ips, ev_ms, (long long)ev->batch);
        printf("threads: %d, %lld timed steps after %lld warm-up steps, synthetic inputs\n", threads, (long long)o.iters,
               (long long)o.warmup);
    }
    tgc_profiler_free(prof);
    tgc_exec_free(x);
    tgc_plan_free(p);
    return TGC_EXIT_OK;
fail:
    fprintf(stderr, "tgc: %s\n", err.msg);
    tgc_profiler_free(prof);
    tgc_exec_free(x);
    tgc_plan_free(p);
    return TGC_EXIT_ERROR;
}
