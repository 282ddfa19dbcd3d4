/* runtime/runner/train.c - the Runner: sets up a run from the plan's config, trains, validates, stops cleanly. */
#include "runtime/runner/train.h"

#include <errno.h>
#include <math.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "runtime/data/det_data.h"
#include "runtime/dist/dist.h"
#include "runtime/runner/hooks.h"
#include "runtime/profile/profile.h"

/* ---- stop requests: the loop stops after the current iteration once one is set (the driver's SIGINT/
 * SIGTERM handler sets it; the library installs no handler) ---- */
static volatile sig_atomic_t g_signal;

void tgc_train_request_stop(int sig) { g_signal = sig; }

int tgc_train_stop_requested(void) { return g_signal; }

/* ---- small helpers ---- */

static const char *base_name(const char *p) {
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* "configs/fashion/lenet5.yaml" -> "lenet5" (heap) */
static char *stem(const char *path) {
    char *s = tgc_strdup(base_name(path));
    char *dot = strrchr(s, '.');
    if (dot && dot != s) *dot = 0;
    return s;
}

static int draw_seed(uint64_t *seed, tgc_err *err) {
    int fd = open("/dev/urandom", O_RDONLY);
    uint32_t v = 0;
    if (fd < 0 || read(fd, &v, sizeof v) != (ssize_t)sizeof v) {
        if (fd >= 0) close(fd);
        return tgc_fail(err, "cannot read /dev/urandom for a random seed (set randomness.seed or --seed)");
    }
    close(fd);
    *seed = v & 0x7fffffffu; /* MMEngine draws np.random.randint(2**31) */
    return 0;
}

/* Writes a scalar into an input tensor of any numeric dtype. */
static int set_scalar(tgc_exec *x, int t, double v, tgc_err *err) {
    const tgc_plan_tensor *pt = tgc_exec_tensor(x, t);
    float f = (float)v;
    int32_t i32 = (int32_t)v;
    int64_t i64 = (int64_t)v;
    switch (pt->type.dtype) {
    case TGC_F32: return tgc_exec_write_bytes(x, pt->slab, pt->offset, sizeof f, &f, err);
    case TGC_I32: return tgc_exec_write_bytes(x, pt->slab, pt->offset, sizeof i32, &i32, err);
    case TGC_I64: return tgc_exec_write_bytes(x, pt->slab, pt->offset, sizeof i64, &i64, err);
    default: return tgc_fail(err, "input %s has dtype %s; expected f32, i32 or i64", pt->name, tgc_dtype_name(pt->type.dtype));
    }
}

static int64_t numel(const tgc_shape *s) {
    int64_t n = 1;
    for (int i = 0; i < s->rank; i++) n *= s->d[i];
    return n;
}

/* Finds a program input; required ones missing are an error naming the plan's inputs. */
static int find_input(const tgc_plan *p, tgc_exec *x, const char *prog, const char *name, int required, int *out,
                      tgc_err *err) {
    *out = tgc_exec_input(x, prog, name);
    if (*out < 0 && required)
        return tgc_fail(err, "the plan's %s program has no input '%s' (was it compiled by another tgc?)", prog, name);
    (void)p;
    return 0;
}

/* Checks an images input [B, C, H, W] f32 and a labels input [B] against a loader. */
static int check_io(tgc_exec *x, const char *prog, int img, int lbl, const tgc_loader *l, const char *loader_key,
                    int64_t *batch, size_t *sample_floats, tgc_err *err) {
    const tgc_plan_tensor *t = tgc_exec_tensor(x, img);
    if (t->type.dtype != TGC_F32 || t->type.shape.rank != 4)
        return tgc_fail(err, "the %s program's inputs are not f32 [N, C, H, W]", prog);
    int c, h, w;
    tgc_loader_shape(l, &c, &h, &w);
    const int64_t *d = t->type.shape.d;
    if (d[1] != c || d[2] != h || d[3] != w)
        return tgc_fail(err,
                        "%s: the pipeline gives %dx%dx%d (CxHxW) images but the plan's %s program was compiled for "
                        "%lldx%lldx%lld; fix the dataset or pipeline, or recompile the plan",
                        loader_key, c, h, w, prog, (long long)d[1], (long long)d[2], (long long)d[3]);
    if (tgc_loader_batch_size(l) != d[0])
        return tgc_fail(err, "%s.batch_size is %d but the plan's %s program was compiled for a batch of %lld; "
                             "recompile with `tgc compile ... --cfg-options %s.batch_size=%d`",
                        loader_key, tgc_loader_batch_size(l), prog, (long long)d[0], loader_key, tgc_loader_batch_size(l));
    if (lbl >= 0) {
        const tgc_plan_tensor *lt = tgc_exec_tensor(x, lbl);
        if (lt->type.dtype != TGC_I32 || numel(&lt->type.shape) != d[0])
            return tgc_fail(err, "the %s program's labels input is not i32 [%lld]", prog, (long long)d[0]);
    }
    *batch = d[0];
    *sample_floats = (size_t)(c * h * w);
    return 0;
}

/* WORK_DIR/<timestamp>, made unique with a suffix when a run in the same second already took it. */
static char *make_log_dir(const char *work_dir, char **stamp_out, tgc_err *err) {
    char stamp[32];
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(stamp, sizeof stamp, "%Y%m%d_%H%M%S", &tm);
    for (int k = 0; k < 100; k++) {
        char *name = k ? tgc_asprintf("%s_%d", stamp, k) : tgc_strdup(stamp);
        char *dir = tgc_asprintf("%s/%s", work_dir, name);
        if (mkdir(dir, 0777) == 0) {
            *stamp_out = name;
            return dir;
        }
        int e = errno;
        free(name);
        free(dir);
        if (e != EEXIST) {
            tgc_fail(err, "cannot create %s/%s: %s", work_dir, stamp, strerror(e));
            return NULL;
        }
    }
    tgc_fail(err, "cannot create a log directory under %s: too many runs this second", work_dir);
    return NULL;
}

/* ---- the run ---- */

typedef struct run_ctx {
    tgc_runner r;
    tgc_lr_sched *sched;
    tgc_ckpt *resume_ckpt;
    char *resume_path;
    char *stamp;
    tgc_profiler *prof; /* --profile, else NULL */
    char *prof_dir;
} run_ctx;

/* ---- --profile: the profiler on the executor's instruction callback, spans for data and hooks ---- */

/* The rank naming the profile folder: $RANK (set by launchers), else 0. */
static int profile_rank(void) {
    const char *e = getenv("RANK");
    char *end;
    long v = e && *e ? strtol(e, &end, 10) : 0;
    return e && *e && !*end && v >= 0 && v < 1000000 ? (int)v : 0;
}

static int profile_open(run_ctx *c, const tgc_train_opts *o, tgc_err *err) {
    if (!o->profile_dir) return 0;
    if (!(c->prof = tgc_profiler_new(c->r.plan, profile_rank(), err))) return -1;
    tgc_profiler_limits lim = {TGC_PROFILE_DEFAULT_WARMUP, o->profile_steps > 0 ? o->profile_steps : TGC_PROFILE_DEFAULT_STEPS,
                               TGC_PROFILE_DEFAULT_MAX_EVENTS};
    if (tgc_profiler_set_limits(c->prof, &lim, err)) return -1;
    c->prof_dir = tgc_strdup(o->profile_dir);
    tgc_exec_on_instr(c->r.x, tgc_profiler_on_instr, c->prof);
    tgc_log_info(&c->r.log, "Profiling %d steps after %d warm-up step into %s", lim.steps, lim.warmup_steps, c->prof_dir);
    return 0;
}

/* A span from t0 to now on a track ("data" or "hooks"); nothing without a profiler. */
static void profile_span(run_ctx *c, const char *track, const char *name, double t0) {
    if (c->prof) tgc_profiler_span(c->prof, track, name, t0, tgc_now(), NULL);
}

/* Writes the dumps (at the end, also after --max-iters or a signal). */
static int profile_close(run_ctx *c, tgc_err *err) {
    if (!c->prof) return 0;
    tgc_exec_on_instr(c->r.x, NULL, NULL);
    if (tgc_profiler_write(c->prof, c->prof_dir, err)) return -1;
    tgc_log_info(&c->r.log, "Profile of %d events written to %s/rank%d", tgc_profiler_n_events(c->prof), c->prof_dir,
                 profile_rank());
    return 0;
}

static void run_free(run_ctx *c) {
    tgc_runner *r = &c->r;
    tgc_ddp_free(r->ddp); /* first: its queued all-reduces point into the executor's grad slab */
    if (c->prof) tgc_exec_on_instr(r->x, NULL, NULL);
    tgc_profiler_free(c->prof);
    free(c->prof_dir);
    tgc_batch_aug_free(r->baug);
    tgc_ema_free(r->ema);
    tgc_precise_bn_free(r->pbn); /* before the executor: its loader's batches live in the device's memory */
    free(r->scores);
    tgc_det_metric_free(r->dm);
    tgc_loader_free(r->train_loader);
    tgc_loader_free(r->val_loader);
    tgc_loss_scaler_free(&r->scaler);
    tgc_grad_accum_free(&r->accum);
    tgc_exec_free(r->x);
    tgc_device_close(r->dev); /* after the executor and the loaders: their memory is the device's */
    tgc_lr_sched_free(c->sched);
    tgc_ckpt_free(c->resume_ckpt);
    tgc_vis_close(&r->vis, NULL);
    if (r->log.file) fclose(r->log.file);
    tgc_window_free(&r->loss_w);
    tgc_window_free(&r->gnorm_w);
    tgc_window_free(&r->time_w);
    tgc_window_free(&r->data_w);
    for (int k = 0; k < r->n_terms; k++) tgc_window_free(&r->term_w[k]);
    free(r->work_dir);
    free(r->log_dir);
    free(r->ckpt_dir);
    free(r->exp_name);
    free(r->best_ckpt);
    free(c->resume_path);
    free(c->stamp);
}

/* Where to resume from (NULL: not resuming): --resume PATH, --resume (WORK_DIR/last_checkpoint), or the
 * config's resume: true (load_from when set, else last_checkpoint), as Runner.load_or_resume decides. */
static int resume_path(run_ctx *c, const tgc_train_opts *o, tgc_err *err) {
    tgc_runner *r = &c->r;
    int cfg_resume;
    const char *load_from;
    if (tgc_cfg_bool(r->cfg, "resume", 0, &cfg_resume, err) || tgc_cfg_str(r->cfg, "load_from", NULL, &load_from, err))
        return -1;
    if (o->test_ckpt) return 0;
    if (o->resume_from) {
        c->resume_path = tgc_strdup(o->resume_from);
        return 0;
    }
    if (!o->resume && !cfg_resume) return 0;
    if (cfg_resume && load_from && !o->resume) {
        c->resume_path = tgc_strdup(load_from);
        return 0;
    }
    int got = tgc_ckpt_read_last(r->work_dir, &c->resume_path, err);
    if (got < 0) return -1;
    if (got == 0)
        tgc_log_warning(&r->log, "--resume: no checkpoint to resume from (%s/last_checkpoint does not exist); "
                                 "training starts from scratch", r->work_dir);
    return 0;
}

static int setup_rest(run_ctx *c, const tgc_train_opts *o, tgc_err *err);

static int setup(run_ctx *c, const tgc_plan *plan, const tgc_train_opts *o, tgc_err *err) {
    tgc_runner *r = &c->r;
    const tgc_cfg *cfg = plan->config;
    r->plan = plan;
    r->cfg = cfg;
    r->log.out = o->out ? o->out : stdout;
    r->eval_mode = o->test_ckpt ? "test" : "val";
    r->dl_key = "val_dataloader";
    r->ev_key = "val_evaluator";
    r->tr_lbl = r->ev_lbl = r->ev_img = r->ev_logits = r->tr_score = r->tr_gnorm = r->tr_cls = r->tr_box = r->tr_avg = -1;
    r->tr_gtb = r->tr_gtl = r->tr_shape = r->tr_rng = r->ev_shape = -1;
    tgc_portrait_io *pio = &r->por;
    pio->tr_img = pio->tr_cls = pio->tr_box = pio->tr_avg = pio->tr_gtb = pio->tr_gtl = pio->tr_shape = pio->tr_rng = -1;
    pio->tr_lr = pio->tr_step = pio->tr_scale = pio->tr_loss = pio->tr_gnorm = pio->ev_img = pio->ev_shape = -1;
    pio->ev_logits = -1;
    r->world = 1;
    if (o->dist) { /* the rendezvous first: a missing rank fails before anything is written */
        if (!(r->ddp = tgc_ddp_open(o->dist, plan->checksum, o->device, err))) return -1;
        r->rank = o->dist->rank;
        r->world = o->dist->world;
        if (r->rank != 0) r->log.out = NULL; /* MMEngine logs on rank 0 only */
    }

    /* work dir and the run's log folder */
    const char *wd, *fname;
    if (tgc_cfg_str(cfg, "work_dir", NULL, &wd, err) || tgc_cfg_str(cfg, "filename", NULL, &fname, err)) return -1;
    char *name = stem(fname ? fname : o->plan_name ? o->plan_name : "plan");
    if (o->work_dir) r->work_dir = tgc_strdup(o->work_dir);
    else if (wd) r->work_dir = tgc_strdup(wd);
    else r->work_dir = tgc_asprintf("./work_dirs/%s", name);
    if (r->rank != 0) { /* other ranks write nothing; they read the work dir only to resume */
        free(name);
        return setup_rest(c, o, err);
    }
    if (tgc_mkdir_p(r->work_dir, err) || !(r->log_dir = make_log_dir(r->work_dir, &c->stamp, err))) {
        free(name);
        return -1;
    }
    r->exp_name = tgc_asprintf("%s_%s", name, c->stamp);
    free(name);
    char *log_path = tgc_asprintf("%s/%s.log", r->log_dir, c->stamp);
    r->log.file = fopen(log_path, "a");
    if (!r->log.file) {
        tgc_fail(err, "cannot open %s: %s", log_path, strerror(errno));
        free(log_path);
        return -1;
    }
    free(log_path);
    char *vis_dir = tgc_asprintf("%s/vis_data", r->log_dir);
    int vrc = tgc_vis_open(&r->vis, cfg, vis_dir, err);
    if (vrc == 0) {
        char *cp = tgc_asprintf("%s/config.yaml", vis_dir);
        FILE *f = fopen(cp, "w");
        if (f) {
            tgc_cfg_dump(cfg, f);
            fclose(f);
        }
        free(cp);
    }
    free(vis_dir);
    if (vrc) return -1;
    return setup_rest(c, o, err);
}

/* Loop, logger and checkpoint settings; the checkpoint folder; the logger's windows. */
static int setup_hooks(run_ctx *c, tgc_err *err) {
    tgc_runner *r = &c->r;
    const tgc_cfg *cfg = r->cfg;
    if (tgc_loop_from_cfg(tgc_cfg_get(cfg, "train_cfg"), &r->loop, err) ||
        tgc_logger_from_cfg(cfg, r->loop.by_epoch, &r->logc, err) ||
        tgc_ckpt_cfg_from(tgc_cfg_get(cfg, "default_hooks"), &r->ckc, err))
        return -1;
    if (r->ckc.out_dir[0]) r->ckpt_dir = tgc_asprintf("%s/%s", r->ckc.out_dir, base_name(r->work_dir));
    else r->ckpt_dir = tgc_strdup(r->work_dir);
    if (r->rank == 0 && tgc_mkdir_p(r->ckpt_dir, err)) return -1;
    tgc_window_init(&r->loss_w, r->logc.window_size);
    tgc_window_init(&r->gnorm_w, r->logc.window_size);
    tgc_window_init(&r->time_w, r->logc.window_size);
    tgc_window_init(&r->data_w, r->logc.window_size);
    return 0;
}

/* The run's first log lines: the plan and the device, the processes, what --amp does. */
static void log_header(run_ctx *c, const tgc_train_opts *o) {
    tgc_runner *r = &c->r;
    const tgc_plan *plan = r->plan;
    char device[512];
    tgc_device_describe(r->dev, device, sizeof device);
    tgc_log_info(&r->log, "tgc %s: plan checksum 0x%08x, %lld parameters, %.4g GFLOPs per image (forward), device %s",
                 TGC_VERSION, plan->checksum, (long long)plan->params, plan->flops_per_sample / 1e9, device);
    if (r->ddp)
        tgc_log_info(&r->log, "Distributed: %d processes (--launcher %s), %s collectives, rendezvous at %s:%d; "
                              "logs and checkpoints from rank 0", r->world, tgc_launcher_name(o->dist->launcher),
                     tgc_ddp_engine(r->ddp), o->dist->master_addr, o->dist->port);
    if (plan->ignored && plan->ignored[0]) {
        int n = 0;
        for (const char *c = plan->ignored; *c; c++) n += *c == '\n';
        tgc_log_warning(&r->log, "%d setting%s of the config %s accepted but not implemented, so ignored:", n,
                        n == 1 ? "" : "s", n == 1 ? "is" : "are");
        for (const char *c = plan->ignored; *c;) {
            size_t len = strcspn(c, "\n");
            tgc_log_warning(&r->log, "  %.*s", (int)len, c);
            c += len + (c[len] == '\n');
        }
    }
    if (plan->amp.dtype != TGC_F32) {
        char sc[40] = "";
        if (plan->amp.dtype == TGC_F16) tgc_py_float(plan->amp.init_scale, sc, sizeof sc);
        tgc_log_info(&r->log, "Mixed precision (AmpOptimWrapper): %s conv/matmul, f32 master weights, gradients and "
                              "optimizer%s%s%s", tgc_amp_dtype_name(plan->amp.dtype),
                     plan->amp.dtype == TGC_F16 ? (plan->amp.dynamic ? "; dynamic loss scale from " : "; loss scale ") : "",
                     sc, plan->amp.dtype == TGC_BF16 ? "; no loss scaling (bf16 has f32's range)" : "");
    }
}

/* The checkpoint to resume from, and the seed: the checkpoint's when resuming, else --seed, else
 * randomness.seed, else drawn (then rank 0's on every rank). *det: randomness.deterministic or
 * --deterministic. */
static int setup_seed(run_ctx *c, const tgc_train_opts *o, int *det_out, tgc_err *err) {
    tgc_runner *r = &c->r;
    const tgc_plan *plan = r->plan;
    const tgc_cfg *cfg = plan->config;
    const tgc_cfg *rnd = tgc_cfg_get(cfg, "randomness");
    int64_t cfg_seed = -1;
    int det = 0;
    if (rnd && rnd->kind == TGC_CFG_MAP &&
        (tgc_cfg_int(rnd, "seed", -1, &cfg_seed, err) || tgc_cfg_bool(rnd, "deterministic", 0, &det, err)))
        return -1;
    det = det || o->deterministic;
    if (resume_path(c, o, err)) return -1;
    if (c->resume_path) {
        c->resume_ckpt = tgc_ckpt_load(c->resume_path, &plan->checksum, err);
        if (!c->resume_ckpt) {
            int64_t it;
            char *valid = tgc_ckpt_newest_valid(c->resume_path, plan->checksum, &it);
            if (valid) {
                size_t n = strlen(err->msg);
                snprintf(err->msg + n, sizeof err->msg - n, "; the newest valid checkpoint is %s (iteration %lld): "
                         "resume from it with --resume %s", valid, (long long)it, valid);
            } else {
                size_t n = strlen(err->msg);
                snprintf(err->msg + n, sizeof err->msg - n, "; no other valid checkpoint of this plan is beside it");
            }
            free(valid);
            return tgc_err_prefix(err, "cannot resume");
        }
    }
    if (o->has_seed) r->seed = o->seed;
    else if (cfg_seed >= 0) r->seed = (uint64_t)cfg_seed;
    else if (draw_seed(&r->seed, err)) return -1;
    if (c->resume_ckpt) {
        int64_t s;
        if (tgc_ckpt_get_int(c->resume_ckpt, "seed", (int64_t)r->seed, &s, err) < 0) return -1;
        if ((uint64_t)s != r->seed && (o->has_seed || cfg_seed >= 0))
            tgc_log_warning(&r->log, "The value of random seed in the checkpoint \"%lld\" is different from the value "
                                     "in `randomness` config \"%llu\"", (long long)s, (unsigned long long)r->seed);
        r->seed = (uint64_t)s;
    }
    if (r->ddp && tgc_ddp_sync_u64(r->ddp, "seed", &r->seed, err)) return -1; /* MMEngine's sync_random_seed */
    tgc_log_info(&r->log, "randomness: seed %llu%s, deterministic %s", (unsigned long long)r->seed,
                 (!o->has_seed && cfg_seed < 0 && !c->resume_ckpt) ? " (drawn at random; pass --seed to repeat the run)"
                                                                   : "",
                 det ? "true" : "false");
    *det_out = det;
    return 0;
}

/* A program's input tensor by name, or NULL. */
static const tgc_plan_tensor *plan_input(const tgc_plan *p, const char *prog, const char *name) {
    const tgc_program *pr = tgc_plan_program(p, prog);
    size_t lp = strlen(prog);
    for (int i = 0; pr && i < pr->n_inputs; i++) {
        const char *t = p->tensors[pr->inputs[i]].name; /* "train/inputs" */
        if (!strncmp(t, prog, lp) && t[lp] == '/' && !strcmp(t + lp + 1, name)) return &p->tensors[pr->inputs[i]];
    }
    return NULL;
}

/* Whether the run evaluates, and with which dataloader and evaluator: val_* for validation; for `tgc test` the
 * test_* ones, or val_* when the config has no test_dataloader (MMDetection's and MMPretrain's tools/test.py). */
static int eval_wanted(run_ctx *c, const tgc_train_opts *o, int this_rank) {
    tgc_runner *r = &c->r;
    const tgc_cfg *cfg = r->cfg;
    int test = o->test_ckpt != NULL;
    const tgc_cfg *td = tgc_cfg_get(cfg, "test_dataloader");
    int use_test = test && td && td->kind == TGC_CFG_MAP;
    r->dl_key = use_test ? "test_dataloader" : "val_dataloader";
    r->ev_key = use_test ? "test_evaluator" : "val_evaluator";
    const tgc_cfg *dl = tgc_cfg_get(cfg, r->dl_key), *lc = tgc_cfg_get(cfg, use_test ? "test_cfg" : "val_cfg"),
                  *ev = tgc_cfg_get(cfg, r->ev_key);
    if (test) return 1; /* a missing loader or evaluator is an error below */
    return this_rank && !o->no_validate && tgc_plan_program(r->plan, "eval") && dl && dl->kind == TGC_CFG_MAP && lc &&
           lc->kind != TGC_CFG_NULL && ev && ev->kind != TGC_CFG_NULL;
}

static void warn_line(void *ctx, const char *line) { tgc_log_warning(&((tgc_runner *)ctx)->log, "%s", line); }

/* Whether the plan has PROG_portrait (*on), and that its inputs are the transposed canvas [B, 3, w, h]. */
static int portrait_program(const tgc_plan *plan, const char *prog, int h, int w, int *on, tgc_err *err) {
    char name[32];
    snprintf(name, sizeof name, "%s_portrait", prog);
    *on = tgc_plan_program(plan, name) != NULL;
    if (!*on) return 0;
    const tgc_plan_tensor *img = plan_input(plan, name, "inputs");
    if (!img || img->type.shape.rank != 4 || img->type.shape.d[2] != w || img->type.shape.d[3] != h)
        return tgc_fail(err, "the plan's %s program has no inputs [B, 3, %d, %d] (the %dx%d canvas transposed)", name, w,
                        h, h, w);
    return 0;
}

/* A detection plan (its train program takes data_samples.cls_target, or data_samples.rpn_cls_target: a two-stage
 * detector): detection loaders on the plan's canvas (two-stage: gts padded to the plan's G); every rank
 * validates its shard of the val set, CocoMetric runs over all of them on rank 0. */
static int setup_det_data(run_ctx *c, const tgc_train_opts *o, tgc_err *err) {
    tgc_runner *r = &c->r;
    const tgc_plan *plan = r->plan;
    const tgc_cfg *cfg = plan->config;
    const tgc_plan_tensor *img = plan_input(plan, "train", "inputs");
    if (!img || img->type.shape.rank != 4) return tgc_fail(err, "the detection plan's train program has no inputs [B, 3, H, W]");
    r->det = 1;
    r->det_h = (int)img->type.shape.d[2];
    r->det_w = (int)img->type.shape.d[3];
    const tgc_cfg *model = tgc_cfg_get(cfg, "model");
    const tgc_cfg *pre = model ? tgc_cfg_get(model, "data_preprocessor") : NULL;
    if (!pre) pre = tgc_cfg_get(cfg, "data_preprocessor");
    tgc_det_batch_opts bo = {.canvas_h = r->det_h, .canvas_w = r->det_w, .two_stage = r->det_two_stage};
    if (tgc_det_batch_opts_from_cfg(model, !o->test_ckpt, &bo, err)) return -1;
    const tgc_cfg *tc = model ? tgc_cfg_get(model, "train_cfg") : NULL;
    if (tc && tc->kind == TGC_CFG_MAP && tgc_cfg_bool(tc, "tgc_reduce_avg_factor", 0, &r->reduce_avg_factor, err))
        return -1;
    const tgc_plan_tensor *gtb = plan_input(plan, "train", "data_samples.gt_bboxes");
    if (r->det_two_stage && !o->test_ckpt) {
        if (!gtb || gtb->type.shape.rank != 3)
            return tgc_fail(err, "the two-stage plan's train program has no input data_samples.gt_bboxes [B, G, 4]");
        bo.max_gts = (int)gtb->type.shape.d[1]; /* the plan's G (model.data_preprocessor.tgc_max_gts when compiled) */
    }
    /* a two-orientation plan (train_portrait / eval_portrait: the transposed canvas): batches of one orientation */
    if (portrait_program(plan, "train", r->det_h, r->det_w, &r->por.train, err) ||
        portrait_program(plan, "eval", r->det_h, r->det_w, &r->por.eval, err))
        return -1;
    bo.two_orient = r->por.train;
    if (!o->test_ckpt && !(r->train_loader = tgc_det_loader_open(tgc_cfg_get(cfg, "train_dataloader"), pre, &bo, 1,
                                                                 r->seed, r->rank, r->world, r->dev, warn_line, r, err)))
        return tgc_err_prefix(err, "train_dataloader");
    if (r->train_loader) r->iters_per_epoch = tgc_loader_num_batches(r->train_loader);
    bo.targets = 0;
    bo.two_orient = r->por.eval;
    if (eval_wanted(c, o, 1) &&
        !(r->val_loader = tgc_det_loader_open(tgc_cfg_get(cfg, r->dl_key), pre, &bo, 0, r->seed, r->rank, r->world,
                                              r->dev, warn_line, r, err)))
        return tgc_err_prefix(err, "%s", r->dl_key);
    return 0;
}

/* What opening a loader's dataset found worth a warning (an empty class folder, ...), one log line each. */
static void warn_notes(tgc_runner *r, const tgc_loader *l) {
    const char *notes = l ? tgc_dataset_notes(tgc_loader_dataset(l)) : "";
    for (const char *s = notes; *s;) {
        const char *nl = strchr(s, '\n');
        int n = nl ? (int)(nl - s) : (int)strlen(s);
        tgc_log_warning(&r->log, "%.*s", n, s);
        s += n + (nl ? 1 : 0);
    }
}

/* The train loader, and the val loader when the run validates. */
static int setup_data(run_ctx *c, const tgc_train_opts *o, tgc_err *err) {
    tgc_runner *r = &c->r;
    const tgc_plan *plan = r->plan;
    const tgc_cfg *cfg = plan->config;
    const tgc_cfg *pre = tgc_cfg_get(cfg, "data_preprocessor");
    if (plan_input(plan, "train", "data_samples.cls_target")) return setup_det_data(c, o, err);
    if (plan_input(plan, "train", "data_samples.rpn_cls_target")) {
        c->r.det_two_stage = 1;
        return setup_det_data(c, o, err);
    }
    if (!o->test_ckpt) {
        if (!(r->train_loader = tgc_loader_open(tgc_cfg_get(cfg, "train_dataloader"), pre, 1, r->seed, r->rank,
                                                r->world, r->dev, err)))
            return tgc_err_prefix(err, "train_dataloader");
        r->iters_per_epoch = tgc_loader_num_batches(r->train_loader);
    }
    if (eval_wanted(c, o, 1) &&
        !(r->val_loader = tgc_loader_open(tgc_cfg_get(cfg, r->dl_key), pre, 0, r->seed, r->rank, r->world, r->dev, err)))
        return tgc_err_prefix(err, "%s", r->dl_key);
    warn_notes(r, r->train_loader);
    warn_notes(r, r->val_loader);
    return 0;
}

/* Batch augments: the plan's soft targets [batch, classes] come from model.train_cfg.augments. */
static int setup_batch_aug(tgc_runner *r, tgc_err *err) {
    const tgc_plan_tensor *st = tgc_exec_tensor(r->x, r->tr_score);
    if (st->type.dtype != TGC_F32 || st->type.shape.rank != 2 || st->type.shape.d[0] != r->tr_batch)
        return tgc_fail(err, "the train program's soft targets input is not f32 [%lld, classes]", (long long)r->tr_batch);
    const tgc_cfg *tc = tgc_cfg_at(r->plan->config, "model.train_cfg");
    err->msg[0] = '\0';
    if (!(r->baug = tgc_batch_aug_from_cfg(tc, err)))
        return err->msg[0] ? tgc_err_prefix(err, "model.train_cfg")
                           : tgc_fail(err, "the plan trains on soft targets but its config has no model.train_cfg.augments");
    r->score_classes = (int)st->type.shape.d[1];
    r->scores = tgc_malloc(sizeof(float) * (size_t)r->tr_batch * (size_t)r->score_classes);
    return 0;
}

/* The named loss terms: the train program's outputs called "train/<name>" (after the positional ones). */
static int find_loss_terms(tgc_runner *r, tgc_err *err) {
    for (int k = 1, t; (t = tgc_exec_output_at(r->x, "train", k)) >= 0; k++) {
        const tgc_plan_tensor *pt = tgc_exec_tensor(r->x, t);
        const char *name = strncmp(pt->name, "train/", 6) ? NULL : pt->name + 6;
        if (!name || name[0] == '%') continue;
        if (r->n_terms == TGC_MAX_LOSS_TERMS || strlen(name) >= sizeof r->term_name[0] || pt->type.dtype != TGC_F32 ||
            tgc_shape_numel(&pt->type.shape) != 1)
            return tgc_fail(err, "the plan's train output %s is not one of at most %d scalar f32 loss terms", pt->name,
                            TGC_MAX_LOSS_TERMS);
        r->term_t[r->n_terms] = t;
        snprintf(r->term_name[r->n_terms], sizeof r->term_name[0], "%s", name);
        tgc_window_init(&r->term_w[r->n_terms++], r->logc.window_size);
    }
    return 0;
}

/* The portrait twin of a landscape train tensor t (an input: the same name in train_portrait; with out >= 0 the
 * out-th output), with the same dtype and element count (-1 when t is -1). */
static int portrait_twin(tgc_runner *r, int t, int out, int *twin, tgc_err *err) {
    *twin = -1;
    if (t < 0) return 0;
    const tgc_plan_tensor *lt = tgc_exec_tensor(r->x, t);
    const char *name = strchr(lt->name, '/') ? strchr(lt->name, '/') + 1 : lt->name;
    *twin = out >= 0 ? tgc_exec_output_at(r->x, "train_portrait", out) : tgc_exec_input(r->x, "train_portrait", name);
    const tgc_plan_tensor *pt = *twin >= 0 ? tgc_exec_tensor(r->x, *twin) : NULL;
    if (!pt) /* outputs are positional (the loss, then the norm-sum with clip_grad by norm) */
        return out >= 0 ? tgc_fail(err, "the plan's train_portrait program has no output %d as the train program has", out)
                        : tgc_fail(err, "the plan's train_portrait program has no input '%s' as the train program has", name);
    if (pt->type.dtype != lt->type.dtype || numel(&pt->type.shape) != numel(&lt->type.shape))
        return tgc_fail(err, "the plan's %s is not of the type and size of %s", pt->name, lt->name);
    return 0;
}

/* A two-orientation plan's train_portrait: its tensors for every one the loop uses in train. */
static int setup_portrait_train_io(tgc_runner *r, tgc_err *err) {
    tgc_portrait_io *p = &r->por;
    if (portrait_twin(r, r->tr_img, -1, &p->tr_img, err) || portrait_twin(r, r->tr_cls, -1, &p->tr_cls, err) ||
        portrait_twin(r, r->tr_box, -1, &p->tr_box, err) || portrait_twin(r, r->tr_avg, -1, &p->tr_avg, err) ||
        portrait_twin(r, r->tr_gtb, -1, &p->tr_gtb, err) || portrait_twin(r, r->tr_gtl, -1, &p->tr_gtl, err) ||
        portrait_twin(r, r->tr_shape, -1, &p->tr_shape, err) || portrait_twin(r, r->tr_rng, -1, &p->tr_rng, err) ||
        portrait_twin(r, r->tr_lr, -1, &p->tr_lr, err) || portrait_twin(r, r->tr_step, -1, &p->tr_step, err) ||
        portrait_twin(r, r->scaler.scale_input, -1, &p->tr_scale, err) ||
        portrait_twin(r, r->tr_loss, 0, &p->tr_loss, err) || portrait_twin(r, r->tr_gnorm, 1, &p->tr_gnorm, err))
        return -1;
    for (int k = 0; k < r->n_terms; k++) { /* the named terms, in the same order */
        int t = -1;
        for (int j = 1, u; t < 0 && (u = tgc_exec_output_at(r->x, "train_portrait", j)) >= 0; j++) {
            const char *nm = tgc_exec_tensor(r->x, u)->name;
            if (!strncmp(nm, "train_portrait/", 15) && !strcmp(nm + 15, r->term_name[k])) t = u;
        }
        if (t < 0) return tgc_fail(err, "the plan's train_portrait program has no loss term '%s'", r->term_name[k]);
        p->term_t[k] = t;
    }
    return 0;
}

/* The train program's inputs and loss, checked against the train loader. */
static int setup_train_io(tgc_runner *r, tgc_err *err) {
    const tgc_plan *plan = r->plan;
    /* hard labels, or the soft targets of batch augments (the plan has one or the other), or detection targets */
    if (r->det_two_stage) {
        if (find_input(plan, r->x, "train", "data_samples.rpn_cls_target", 1, &r->tr_cls, err) ||
            find_input(plan, r->x, "train", "data_samples.rpn_bbox_target", 1, &r->tr_box, err) ||
            find_input(plan, r->x, "train", "data_samples.rpn_avg_factor", 1, &r->tr_avg, err) ||
            find_input(plan, r->x, "train", "data_samples.gt_bboxes", 1, &r->tr_gtb, err) ||
            find_input(plan, r->x, "train", "data_samples.gt_labels", 1, &r->tr_gtl, err) ||
            find_input(plan, r->x, "train", "data_samples.img_shape", 1, &r->tr_shape, err) ||
            find_input(plan, r->x, "train", "data_samples.rng", 1, &r->tr_rng, err))
            return -1;
    } else if (r->det) {
        if (find_input(plan, r->x, "train", "data_samples.cls_target", 1, &r->tr_cls, err) ||
            find_input(plan, r->x, "train", "data_samples.bbox_target", 1, &r->tr_box, err) ||
            find_input(plan, r->x, "train", "data_samples.avg_factor", 1, &r->tr_avg, err))
            return -1;
    } else if (find_input(plan, r->x, "train", "data_samples.gt_label", 0, &r->tr_lbl, err) ||
               (r->tr_lbl < 0 && find_input(plan, r->x, "train", "data_samples.gt_score", 1, &r->tr_score, err))) {
        return -1;
    }
    if (tgc_loss_scaler_init(&r->scaler, plan, r->x, err) || tgc_grad_accum_init(&r->accum, plan, r->x, err)) return -1;
    if (find_input(plan, r->x, "train", "inputs", 1, &r->tr_img, err) ||
        find_input(plan, r->x, "train", "lr", 1, &r->tr_lr, err) ||
        find_input(plan, r->x, "train", "step", 0, &r->tr_step, err))
        return -1;
    if ((r->tr_loss = tgc_exec_output(r->x, "train")) < 0) return tgc_fail(err, "the plan's train program has no loss output");
    r->tr_gnorm = plan->optim.clip == TGC_CLIP_NORM ? tgc_exec_output_at(r->x, "train", 1) : -1;
    if (r->tr_gnorm >= 0 && tgc_shape_numel(&tgc_exec_tensor(r->x, r->tr_gnorm)->type.shape) != 1)
        return tgc_fail(err, "the plan's train program: its second output is not the gradient norm's scalar");
    if (find_loss_terms(r, err)) return -1;
    if (check_io(r->x, "train", r->tr_img, r->tr_lbl, r->train_loader, "train_dataloader", &r->tr_batch,
                 &r->sample_floats, err))
        return -1;
    if (r->tr_score >= 0 && setup_batch_aug(r, err)) return -1;
    if (r->det) {
        const tgc_plan_tensor *ct = tgc_exec_tensor(r->x, r->tr_cls), *bt = tgc_exec_tensor(r->x, r->tr_box),
                              *at = tgc_exec_tensor(r->x, r->tr_avg);
        int64_t na = tgc_loader_det_anchors(r->train_loader);
        if (ct->type.dtype != TGC_I32 || numel(&ct->type.shape) != r->tr_batch * na || bt->type.dtype != TGC_F32 ||
            numel(&bt->type.shape) != r->tr_batch * na * 4 || at->type.dtype != TGC_F32 || numel(&at->type.shape) != 1)
            return tgc_fail(err, "the plan's detection targets are not i32 [%lld, %lld], f32 [%lld, %lld, 4] and f32 [1] "
                                 "(the anchors of the %dx%d canvas from model.bbox_head.anchor_generator)",
                            (long long)r->tr_batch, (long long)na, (long long)r->tr_batch, (long long)na, r->det_h,
                            r->det_w);
    }
    if (r->por.train && setup_portrait_train_io(r, err)) return -1;
    if (r->det_two_stage) {
        const tgc_plan_tensor *gb = tgc_exec_tensor(r->x, r->tr_gtb), *gl = tgc_exec_tensor(r->x, r->tr_gtl),
                              *sh = tgc_exec_tensor(r->x, r->tr_shape), *rg = tgc_exec_tensor(r->x, r->tr_rng);
        int64_t g = gb->type.shape.rank == 3 ? gb->type.shape.d[1] : 0;
        if (gb->type.dtype != TGC_F32 || numel(&gb->type.shape) != r->tr_batch * g * 4 || gl->type.dtype != TGC_I32 ||
            numel(&gl->type.shape) != r->tr_batch * g || sh->type.dtype != TGC_F32 || numel(&sh->type.shape) != r->tr_batch * 2 ||
            rg->type.dtype != TGC_I32 || numel(&rg->type.shape) != r->tr_batch * 4)
            return tgc_fail(err, "the plan's ground-truth inputs are not f32 [%lld, G, 4], i32 [%lld, G], f32 [%lld, 2] "
                                 "(img_shape) and i32 [%lld, 4] (rng)",
                            (long long)r->tr_batch, (long long)r->tr_batch, (long long)r->tr_batch, (long long)r->tr_batch);
    }
    return 0;
}

/* A two-orientation plan's eval_portrait: its inputs and det_out, of eval's types and sizes. */
static int setup_portrait_eval_io(tgc_runner *r, tgc_err *err) {
    tgc_portrait_io *p = &r->por;
    if (find_input(r->plan, r->x, "eval_portrait", "inputs", 1, &p->ev_img, err) ||
        find_input(r->plan, r->x, "eval_portrait", "data_samples.img_shape", r->ev_shape >= 0, &p->ev_shape, err))
        return -1;
    if ((p->ev_logits = tgc_exec_output(r->x, "eval_portrait")) < 0)
        return tgc_fail(err, "the plan's eval_portrait program has no output");
    const int pairs[3][2] = {{r->ev_img, p->ev_img}, {r->ev_shape, p->ev_shape}, {r->ev_logits, p->ev_logits}};
    for (int k = 0; k < 3; k++) {
        if (pairs[k][0] < 0) continue;
        const tgc_plan_tensor *a = tgc_exec_tensor(r->x, pairs[k][0]), *b = tgc_exec_tensor(r->x, pairs[k][1]);
        if (a->type.dtype != b->type.dtype || numel(&a->type.shape) != numel(&b->type.shape))
            return tgc_fail(err, "the plan's %s is not of the type and size of %s", b->name, a->name);
    }
    return 0;
}

/* The executor (and DDP's hooks on it), the program tensors the loop feeds and reads, initial state,
 * the profiler. */
static int setup_exec(run_ctx *c, const tgc_train_opts *o, int threads, int det, tgc_err *err) {
    tgc_runner *r = &c->r;
    const tgc_plan *plan = r->plan;
    tgc_exec_opts xo = {threads, det, r->dev};
    if (!(r->x = tgc_exec_new(plan, &xo, err))) return -1;
    if (r->ddp && (tgc_ddp_attach(r->ddp, r->x, plan, &g_signal, err) || tgc_ddp_attach_device(r->ddp, r->x, r->dev, err)))
        return -1;
    if (!o->test_ckpt && setup_train_io(r, err)) return -1;
    err->msg[0] = '\0';
    if (!(r->ema = tgc_ema_open(plan, err)) && err->msg[0]) return -1;
    if (!(r->pbn = tgc_precise_bn_open(plan, r->x, err)) && err->msg[0]) return -1;
    if (r->val_loader) {
        const tgc_cfg *ve = tgc_cfg_get(r->cfg, r->ev_key);
        size_t sf;
        if (find_input(plan, r->x, "eval", "inputs", 1, &r->ev_img, err) ||
            find_input(plan, r->x, "eval", "data_samples.gt_label", 0, &r->ev_lbl, err) ||
            find_input(plan, r->x, "eval", "data_samples.img_shape", r->det_two_stage, &r->ev_shape, err))
            return -1;
        if ((r->ev_logits = tgc_exec_output(r->x, "eval")) < 0) return tgc_fail(err, "the plan's eval program has no output");
        if (check_io(r->x, "eval", r->ev_img, r->ev_lbl, r->val_loader, r->dl_key, &r->ev_batch, &sf, err)) return -1;
        if (o->test_ckpt) r->sample_floats = sf;
        if (r->por.eval && setup_portrait_eval_io(r, err)) return -1;
        if (r->det) {
            if (!(r->dm = tgc_det_metric_open(r, ve, r->ev_key, r->ev_logits, err))) return -1;
        } else {
            const tgc_plan_tensor *lt = tgc_exec_tensor(r->x, r->ev_logits);
            if (lt->type.dtype != TGC_F32 || lt->type.shape.rank != 2 || lt->type.shape.d[0] != r->ev_batch)
                return tgc_fail(err, "the plan's eval output is not f32 logits [%lld, classes]", (long long)r->ev_batch);
            r->num_classes = (int)lt->type.shape.d[1];
            if (tgc_accuracy_from_cfg(ve, r->num_classes, &r->acc, err)) return -1;
        }
    }
    if (tgc_exec_init_state(r->x, r->seed, err) || profile_open(c, o, err)) return -1;
    if (r->ddp && c->prof) tgc_ddp_set_profiler(r->ddp, c->prof); /* all-reduce waits on the comm track */
    return 0;
}

/* The iteration counts and the LR schedule (base lr scaled by auto_scale_lr). */
static int setup_schedule(run_ctx *c, const tgc_train_opts *o, tgc_err *err) {
    tgc_runner *r = &c->r;
    const tgc_plan *plan = r->plan;
    const tgc_cfg *cfg = plan->config;
    r->max_iters = r->loop.by_epoch ? r->loop.max_epochs * r->iters_per_epoch : r->loop.max_iters;
    r->stop_iter = o->max_iters > 0 ? TGC_MIN(o->max_iters, r->max_iters) : r->max_iters;
    double base_lr = plan->optim.lr;
    const tgc_cfg *opt = tgc_cfg_at(cfg, "optim_wrapper.optimizer");
    if (opt && opt->kind == TGC_CFG_MAP && tgc_cfg_float(opt, "lr", base_lr, &base_lr, err)) return -1;
    /* --auto-scale-lr sets auto_scale_lr.enable (MMPretrain's tools/train.py); Runner.scale_lr logs the
     * scaling whenever it is enabled, by the flag or by the config. */
    const tgc_cfg *asl = tgc_cfg_get(cfg, "auto_scale_lr");
    tgc_cfg *on = NULL;
    if (o->auto_scale_lr) {
        if (!asl || asl->kind != TGC_CFG_MAP || !tgc_cfg_get(asl, "base_batch_size"))
            return tgc_fail(err, "--auto-scale-lr: the config has no auto_scale_lr.base_batch_size");
        on = tgc_cfg_clone(asl);
        tgc_cfg *t = tgc_cfg_new(TGC_CFG_BOOL, "<--auto-scale-lr>", 0);
        t->b = 1;
        tgc_cfg_set(on, "enable", t);
        asl = on;
    }
    double ratio = 1;
    int enabled = 0;
    int rc = asl && asl->kind == TGC_CFG_MAP &&
             (tgc_cfg_bool(asl, "enable", 0, &enabled, err) || tgc_auto_scale_lr(asl, r->tr_batch * r->world, &ratio, err));
    tgc_cfg_free(on);
    if (rc) return -1;
    if (enabled) {
        tgc_log_info(&r->log, "LR is set based on batch size of %lld and the current batch size is %lld: lr %g -> %g",
                     (long long)(ratio > 0 ? (double)(r->tr_batch * r->world) / ratio + 0.5 : 0),
                     (long long)(r->tr_batch * r->world), base_lr,
                     base_lr * ratio);
        base_lr *= ratio;
    }
    tgc_lr_sched_facts facts = {r->iters_per_epoch, r->loop.by_epoch ? r->loop.max_epochs : 0,
                             r->loop.by_epoch ? 0 : r->loop.max_iters};
    if (!(c->sched = tgc_lr_sched_build(tgc_cfg_get(cfg, "param_scheduler"), base_lr, &facts, err))) return -1;
    return 0;
}

/* The state: resumed, or load_from's weights; with DDP, rank 0's on every rank. */
static int setup_state(run_ctx *c, tgc_err *err) {
    tgc_runner *r = &c->r;
    const tgc_cfg *cfg = r->cfg;
    r->saved_iter = -1;
    if (c->resume_ckpt) {
        tgc_log_info(&r->log, "Resuming from %s", c->resume_path);
        if (tgc_runner_resume(r, c->resume_ckpt, c->resume_path, err)) return -1;
        r->saved_iter = r->iter;
    } else {
        const char *load_from;
        if (tgc_cfg_str(cfg, "load_from", NULL, &load_from, err)) return -1;
        if (tgc_runner_init_pretrained(r, err)) return -1;
        if (load_from && tgc_runner_load_weights(r, load_from, err)) return -1;
    }
    if (r->ddp) { /* every rank starts from rank 0's state and counters */
        uint64_t it = (uint64_t)r->iter;
        if (tgc_ddp_sync_u64(r->ddp, "iter", &it, err)) return -1;
        if ((int64_t)it != r->iter)
            return tgc_fail(err, "rank %d resumed at iteration %lld but rank 0 at %lld: every rank must see the same "
                                 "checkpoint (a shared work dir, or --resume CKPT on every node)",
                            r->rank, (long long)r->iter, (long long)it);
        if (tgc_ddp_broadcast_state(r->ddp, r->x, err)) return -1;
    }
    return 0;
}

/* Everything after the log folder (every rank), in this order. */
static int setup_rest(run_ctx *c, const tgc_train_opts *o, tgc_err *err) {
    int threads = o->n_threads > 0 ? o->n_threads : tgc_default_threads(), det = 0;
    if (setup_hooks(c, err)) return -1;
    tgc_device_opts dopts = {.n_threads = threads, .work_dir = c->r.work_dir};
    /* env_cfg.cudnn_benchmark (MMEngine's switch; MMPretrain's default_runtime has it false): the cuda device
     * measures its convolution algorithms at prepare and keeps the choices in the work dir */
    const tgc_cfg *env = tgc_cfg_get(c->r.cfg, "env_cfg");
    if (env && env->kind == TGC_CFG_MAP && tgc_cfg_bool(env, "cudnn_benchmark", 0, &dopts.cudnn_benchmark, err))
        return -1;
    /* one GPU per worker: the LOCAL_RANK-th visible one (CUDA_VISIBLE_DEVICES picks which those are) */
    if (o->dist && o->device && !strcmp(o->device, "cuda")) dopts.ordinal = o->dist->local_rank;
    if (!(c->r.dev = tgc_device_open(o->device ? o->device : "cpu", &dopts, err))) return -1;
    log_header(c, o);
    if (dopts.cudnn_benchmark && strcmp(o->device ? o->device : "cpu", "cuda"))
        tgc_log_warning(&c->r.log, "env_cfg.cudnn_benchmark has no effect on the %s device (it measures cuDNN's "
                                   "convolution algorithms on a GPU)", o->device ? o->device : "cpu");
    if (setup_seed(c, o, &det, err) || setup_data(c, o, err) || setup_exec(c, o, threads, det, err)) return -1;
    if (o->test_ckpt) {
        if (!c->r.val_loader) return tgc_fail(err, "the plan has no eval program to test with");
        c->r.ckc.enabled = 0; /* testing saves nothing */
        if (c->r.ema) {
            tgc_log_warning(&c->r.log, "custom_hooks: EMAHook's averages are not used by tgc test: it evaluates the "
                                       "checkpoint's parameters");
            tgc_ema_free(c->r.ema);
            c->r.ema = NULL;
        }
        return tgc_runner_load_test_weights(&c->r, o->test_ckpt, err);
    }
    if (setup_schedule(c, o, err) || setup_state(c, err)) return -1;
    return 0;
}

/* A portrait batch of a two-orientation plan: the detection inputs of train_portrait, its lr, step and loss
 * scale (the same values the train program would get). */
static int fill_portrait_inputs(tgc_runner *r, tgc_batch *b, double lr, tgc_err *err) {
    const tgc_portrait_io *p = &r->por;
    if (!p->train) return tgc_fail(err, "internal error: a portrait batch but no train_portrait program");
    float af = b->avg_factor;
    if (r->reduce_avg_factor && r->ddp && tgc_ddp_mean_f32(r->ddp, &af, 1, err))
        return tgc_err_prefix(err, "avg_factor's mean over ranks");
    if (tgc_exec_write(r->x, p->tr_img, b->images, err) || tgc_exec_write(r->x, p->tr_cls, b->cls_target, err) ||
        tgc_exec_write(r->x, p->tr_box, b->bbox_target, err) || tgc_exec_write(r->x, p->tr_avg, &af, err))
        return -1;
    if (r->det_two_stage &&
        (tgc_exec_write(r->x, p->tr_gtb, b->gt_bboxes, err) || tgc_exec_write(r->x, p->tr_gtl, b->gt_labels, err) ||
         tgc_exec_write(r->x, p->tr_shape, b->img_shape, err) || tgc_exec_write(r->x, p->tr_rng, b->rng, err)))
        return -1;
    if (set_scalar(r->x, p->tr_lr, lr, err)) return -1;
    tgc_grad_accum_begin(&r->accum, r->iter);
    if (p->tr_step >= 0 && set_scalar(r->x, p->tr_step, (double)tgc_grad_accum_step(&r->accum, r->iter), err)) return -1;
    return p->tr_scale >= 0 ? set_scalar(r->x, p->tr_scale, r->scaler.scale, err) : 0;
}

/* Uploads a training batch (built in the device's host memory) and the step's scalars into the train
 * program's inputs (train_portrait's for a portrait batch). */
static int fill_train_inputs(run_ctx *c, tgc_batch *b, double lr, tgc_err *err) {
    tgc_runner *r = &c->r;
    if (b->portrait) return fill_portrait_inputs(r, b, lr, err);
    if (r->det) {
        /* MMDetection's AnchorHead normalises each rank's losses by that rank's avg_factor; with
         * tgc_reduce_avg_factor by the ranks' mean (reduce_mean, as FCOS or ATSS do), which makes N ranks at
         * batch B compute what one rank at batch N x B does */
        float af = b->avg_factor;
        if (r->reduce_avg_factor && r->ddp && tgc_ddp_mean_f32(r->ddp, &af, 1, err))
            return tgc_err_prefix(err, "avg_factor's mean over ranks");
        if (tgc_exec_write(r->x, r->tr_img, b->images, err) || tgc_exec_write(r->x, r->tr_cls, b->cls_target, err) ||
            tgc_exec_write(r->x, r->tr_box, b->bbox_target, err) || tgc_exec_write(r->x, r->tr_avg, &af, err))
            return -1;
        if (r->det_two_stage &&
            (tgc_exec_write(r->x, r->tr_gtb, b->gt_bboxes, err) || tgc_exec_write(r->x, r->tr_gtl, b->gt_labels, err) ||
             tgc_exec_write(r->x, r->tr_shape, b->img_shape, err) || tgc_exec_write(r->x, r->tr_rng, b->rng, err)))
            return -1;
    } else if (r->baug) { /* mixed in place: the batch is ours until released */
        int ch, h, w;
        tgc_loader_shape(r->train_loader, &ch, &h, &w);
        tgc_batch_aug_key key = {r->seed, b->epoch, (uint32_t)((uint64_t)b->index * (uint64_t)r->world + (uint64_t)r->rank)};
        if (tgc_batch_aug_apply(r->baug, b->images, b->labels, (int)r->tr_batch, ch, h, w, r->score_classes, r->scores,
                                &key, NULL, err))
            return tgc_err_prefix(err, "batch augments");
        if (tgc_exec_write(r->x, r->tr_img, b->images, err) || tgc_exec_write(r->x, r->tr_score, r->scores, err)) return -1;
    } else if (tgc_exec_write(r->x, r->tr_img, b->images, err) || tgc_exec_write(r->x, r->tr_lbl, b->labels, err)) {
        return -1;
    }
    if (set_scalar(r->x, r->tr_lr, lr, err)) return -1;
    tgc_grad_accum_begin(&r->accum, r->iter);
    if (r->tr_step >= 0 && set_scalar(r->x, r->tr_step, (double)tgc_grad_accum_step(&r->accum, r->iter), err)) return -1;
    return tgc_loss_scaler_feed(&r->scaler, err);
}

/* Saves iter_N.ckpt outside the keep list (a stop by --max-iters or a signal). With reuse, a state this
 * iteration already saved under another name (epoch_N.ckpt) is not written twice; *where is the file. */
static int save_stop(run_ctx *c, int reuse, char **where, tgc_err *err) {
    tgc_runner *r = &c->r;
    char name[64];
    snprintf(name, sizeof name, "iter_%lld.ckpt", (long long)r->iter);
    *where = tgc_asprintf("%s/%s", r->ckpt_dir, name);
    if (r->saved_iter == r->iter) {
        char *last = NULL;
        if (tgc_ckpt_read_last(r->work_dir, &last, err) < 0) return -1;
        if (last && (reuse || !strcmp(last, *where))) {
            free(*where);
            *where = last;
            return 0;
        }
        free(last);
    }
    tgc_log_info(&r->log, "Saving checkpoint at %lld iterations", (long long)r->iter);
    return tgc_runner_save(r, name, NULL, 1, err);
}

/* clip_grad by norm: the total norm the clip saw (torch's clip_grad_norm_ return value, MMEngine's grad_norm)
 * from the program's sum of |g|^p, into the logger's window. */
static int read_grad_norm(tgc_runner *r, int gnorm, tgc_err *err) {
    const tgc_plan_tensor *t = tgc_exec_tensor(r->x, gnorm);
    float s;
    if (tgc_exec_read_bytes(r->x, t->slab, t->offset, sizeof s, &s, err) < 0) return -1;
    double p = r->plan->optim.clip_norm_type;
    tgc_window_push(&r->gnorm_w, isinf(p) ? s : p == 2 ? sqrt(s) : p == 1 ? s : pow(s, 1.0 / p));
    return 0;
}

static int has_batch_norm(const tgc_plan *p) {
    for (int k = 0; k < p->n_programs; k++)
        for (int i = 0; i < p->programs[k].n_instr; i++) {
            tgc_opcode c = p->programs[k].instr[i].code;
            if (c == TGC_OP_BN_TRAIN || c == TGC_OP_BN_TRAIN_RELU) return 1;
        }
    return 0;
}

static int train_loop(run_ctx *c, const tgc_train_opts *o, tgc_err *err) {
    tgc_runner *r = &c->r;
    int need_begin = 1;
    double t_last = 0;
    if (r->iter < r->stop_iter)
        tgc_log_info(&r->log, "Checkpoints will be saved to %s.", r->ckpt_dir);
    tgc_grad_accum_set_max(&r->accum, r->max_iters);
    if (r->accum.n > 1 && r->rank == 0) { /* MMEngine's initialize_count_status warnings */
        if (r->iter % r->accum.n != 0)
            tgc_log_warning(&r->log, "Resumed iteration number is not divisible by `_accumulative_counts` in "
                                     "`GradientCumulativeOptimizerHook`, which means the gradient of some iterations "
                                     "is lost and the result may be influenced slightly.");
        if (has_batch_norm(r->plan))
            tgc_log_warning(&r->log, "Gradient accumulative may slightly decrease performance because the model has "
                                     "BatchNorm layers.");
    }
    while (r->iter < r->stop_iter) {
        if (need_begin) {
            if (tgc_loader_begin_epoch(r->train_loader, (uint32_t)r->epoch, (int)r->batch, err) < 0) return -1;
            need_begin = 0;
            if (r->por.train) { /* what the orientation groups made of this epoch (rank 0's shard) */
                int nb[2], dropped;
                tgc_loader_group_stats(r->train_loader, nb, &dropped);
                tgc_log_info(&r->log, "Epoch %lld: %d landscape / %d portrait batches (train / train_portrait), %d "
                                      "image%s left over", (long long)r->epoch + 1, nb[0], nb[1], dropped,
                             dropped == 1 ? "" : "s");
            }
            t_last = tgc_now();
        }
        tgc_batch *b;
        double t_data = tgc_now();
        int got = tgc_loader_next(r->train_loader, &b, err);
        profile_span(c, "data", "load", t_data);
        if (got < 0) return tgc_err_prefix(err, "train_dataloader");
        if (got == 0) return tgc_fail(err, "internal error: the train loader ended its epoch early");
        double data_time = tgc_now() - t_last;
        double lr = tgc_lr_sched_lr_at(c->sched, r->iter);
        int rc = fill_train_inputs(c, b, lr, err), por = b->portrait;
        tgc_loader_release(r->train_loader, b);
        if (c->prof) tgc_profiler_step_begin(c->prof, r->iter + 1);
        if (rc || tgc_exec_run(r->x, por ? "train_portrait" : "train", err) < 0) return -1;
        if (c->prof) tgc_profiler_step_end(c->prof);
        const tgc_plan_tensor *lt = tgc_exec_tensor(r->x, por ? r->por.tr_loss : r->tr_loss);
        float loss_f;
        if (tgc_exec_read_bytes(r->x, lt->slab, lt->offset, sizeof loss_f, &loss_f, err) < 0) return -1;
        if (tgc_loss_scaler_update(&r->scaler) && r->rank == 0) {
            char sc[40];
            tgc_py_float(r->scaler.scale, sc, sizeof sc);
            if (r->scaler.dynamic) /* mmcv's Fp16OptimizerHook's words */
                tgc_log_warning(&r->log, "Check overflow, downscale loss scale to %s", sc);
            else
                tgc_log_warning(&r->log, "Check overflow: the step is skipped (fixed loss scale %s)", sc);
        }
        double loss = (double)loss_f;
        for (int k = 0; k < r->n_terms; k++) { /* the loss terms, read as the loss is */
            const tgc_plan_tensor *tt = tgc_exec_tensor(r->x, por ? r->por.term_t[k] : r->term_t[k]);
            float v;
            if (tgc_exec_read_bytes(r->x, tt->slab, tt->offset, sizeof v, &v, err) < 0) return -1;
            tgc_window_push(&r->term_w[k], (double)v);
        }
        if (r->tr_gnorm >= 0 && r->accum.update && !r->scaler.found_inf &&
            read_grad_norm(r, por ? r->por.tr_gnorm : r->tr_gnorm, err) < 0)
            return -1;
        r->iter++;
        r->batch++;
        if (tgc_ema_after_iter(r->ema, r->x, r->iter, err)) return -1;
        double now = tgc_now(), it = now - t_last;
        t_last = now;
        tgc_window_push(&r->loss_w, loss);
        tgc_window_push(&r->time_w, it);
        tgc_window_push(&r->data_w, data_time);
        r->time_sum += it;
        r->timed_iters++;
        double t_hook = tgc_now();
        if (r->rank == 0 && tgc_runner_log_train_iter(r, lr, err)) return -1;
        profile_span(c, "hooks", "logging", t_hook);
        t_hook = tgc_now();
        if (r->rank == 0 && tgc_runner_after_train_iter_ckpt(r, r->iter == r->max_iters, err)) return -1;
        profile_span(c, "hooks", "checkpoint", t_hook);
        int validated = 0;
        if (r->batch == r->iters_per_epoch) { /* end of an epoch */
            r->epoch++;
            r->batch = 0;
            need_begin = 1;
            if (r->loop.by_epoch) {
                t_hook = tgc_now();
                if (tgc_precise_bn_after_epoch(r->pbn, r, r->epoch, err)) return -1;
                profile_span(c, "hooks", "precise_bn", t_hook);
                t_hook = tgc_now();
                if (r->rank == 0 && tgc_runner_after_train_epoch_ckpt(r, r->epoch == r->loop.max_epochs, err))
                    return -1;
                profile_span(c, "hooks", "checkpoint", t_hook);
                if (r->val_loader && tgc_loop_should_validate(&r->loop, r->epoch)) {
                    t_hook = tgc_now();
                    if (tgc_runner_validate(r, err)) return -1;
                    profile_span(c, "hooks", "validation", t_hook);
                    validated = 1;
                }
            }
        }
        if (!r->loop.by_epoch && r->val_loader && tgc_loop_should_validate(&r->loop, r->iter)) {
            t_hook = tgc_now();
            if (tgc_runner_validate(r, err)) return -1;
            profile_span(c, "hooks", "validation", t_hook);
            validated = 1;
        }
        if (validated) t_last = tgc_now(); /* validation time is not a train iteration's */
        /* Several ranks stop after the iteration in which they agreed to (a signal may reach them apart). */
        int stop = r->ddp ? tgc_ddp_stop_signal(r->ddp) : g_signal;
        if (stop) {
            int sig = stop;
            char *where = NULL;
            if (r->rank != 0) return sig; /* rank 0 saves the checkpoint */
            if (save_stop(c, 0, &where, err) < 0) {
                free(where);
                return tgc_err_prefix(err, "interrupted by signal %d and the checkpoint could not be saved", sig);
            }
            tgc_log_warning(&r->log, "Interrupted by %s after iteration %lld: checkpoint saved to %s",
                            sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "a signal",
                            (long long)r->iter, where ? where : "?");
            tgc_log_info(&r->log, "Resume with: %s --work-dir %s --resume %s", o->command ? o->command : "tgc run PLAN",
                         r->work_dir, where ? where : "");
            free(where);
            return sig;
        }
    }
    if (r->rank == 0 && r->stop_iter < r->max_iters && r->ckc.enabled && r->ckc.save_last && r->iter == r->stop_iter) {
        char *where = NULL;
        int rc = save_stop(c, 1, &where, err);
        if (rc == 0)
            tgc_log_info(&r->log, "Stopped after --max-iters %lld iterations; resume with: %s --work-dir %s --resume",
                         (long long)r->stop_iter, o->command ? o->command : "tgc run PLAN", r->work_dir);
        free(where);
        if (rc) return -1;
    }
    return 0;
}

/* How much of the gradient all-reduce backward did not hide (rank 0's view). */
static void dist_summary(tgc_runner *r) {
    int64_t steps;
    double wait_s;
    uint64_t bytes;
    tgc_ddp_stats(r->ddp, &steps, &wait_s, &bytes);
    const tgc_program *tp = tgc_plan_program(r->plan, "train");
    if (steps > 0)
        tgc_log_info(&r->log, "All-reduce: %.1f KiB of gradients per step in %d buckets; %.3f ms per step waited for "
                              "before the optimizer (communication not hidden by backward) over %lld steps",
                     (double)bytes / 1024.0, tp ? tp->n_buckets : 0, wait_s * 1e3 / (double)steps, (long long)steps);
}

int tgc_train(const tgc_plan *plan, const tgc_train_opts *o, tgc_err *err) {
    run_ctx *c = tgc_calloc(1, sizeof *c);
    double t0 = tgc_now();
    int rc = setup(c, plan, o, err);
    if (rc == 0 && o->test_ckpt) {
        rc = tgc_runner_validate(&c->r, err);
        if (rc == 0) tgc_log_info(&c->r.log, "Testing finished in %.1f s", tgc_now() - t0);
    } else if (rc == 0) {
        rc = train_loop(c, o, err);
    }
    if (rc >= 0 && profile_close(c, err)) rc = -1;
    if (rc >= 0 && c->r.ddp) dist_summary(&c->r);
    if (rc == 0 && !o->test_ckpt)
        tgc_log_info(&c->r.log, "Training finished: %lld iterations (%lld epochs) in %.1f s", (long long)c->r.iter,
                     (long long)c->r.epoch, tgc_now() - t0);
    else if (rc < 0 && c->r.log.file) { /* the log file keeps the reason too; stderr gets it from the caller */
        c->r.log.out = NULL;
        tgc_log_error(&c->r.log, "%s", err->msg);
    }
    if (c->r.vis.json || c->r.vis.tb) {
        tgc_err cerr;
        if (tgc_vis_close(&c->r.vis, &cerr) < 0 && rc == 0) {
            *err = cerr;
            rc = -1;
        }
    }
    run_free(c);
    free(c);
    return rc;
}
