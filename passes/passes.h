/* passes/passes.h - the module the passes transform, and the pass pipeline.
 *
 * Each pass is one file in passes/ with one entry point `int tgc_pass_<name>(tgc_module *, tgc_err *)`
 * and a one-line summary in the pipeline table (passes/pipeline.c). A pass runs on both graphs of the
 * module where it applies (autodiff and optimizer lowering only on `train`).
 */
#ifndef TGC_PASSES_H
#define TGC_PASSES_H

#include "ir/ir.h"
#include "passes/target.h"

/* optim_wrapper.optimizer, as MMEngine / PyTorch define it. */
typedef enum tgc_optim_kind { TGC_OPTIM_SGD, TGC_OPTIM_ADAMW, TGC_OPTIM_ADAM, TGC_OPTIM_RMSPROP, TGC_OPTIM_LAMB } tgc_optim_kind;
/* "sgd", "adamw", "adam", "rmsprop", "lamb" (plan.bin's optim.kind); NULL out of range. */
const char *tgc_optim_kind_name(tgc_optim_kind k);

typedef struct tgc_optim_spec {
    tgc_optim_kind kind;
    double lr;           /* base lr (the runtime scales it by the schedule and feeds the `lr` input) */
    double momentum;     /* SGD                                  */
    double dampening;    /* SGD                                  */
    int nesterov;        /* SGD                                  */
    double weight_decay; /* SGD, Adam, RMSprop: L2 added to the gradient; AdamW: decoupled */
    double beta1, beta2, eps; /* AdamW, Adam (defaults 0.9, 0.999, 1e-8); RMSprop: beta2 is its alpha
                               * (0.99), eps 1e-8, and momentum above; Lamb (0.9, 0.999, 1e-6)     */
    double max_grad_norm;     /* Lamb: its own global gradient-norm clip (1.0)                     */
    int always_adapt, trust_clip; /* Lamb: trust ratio also without decay; trust ratio at most 1   */
    /* optim_wrapper.clip_grad, after the all-reduce and before the updates */
    enum { TGC_CLIP_NONE, TGC_CLIP_NORM, TGC_CLIP_VALUE } clip;
    double clip_max;          /* NORM: max_norm; VALUE: clip_value                                  */
    double clip_norm_type;    /* NORM: p (2; INFINITY for inf)                                      */
    int accumulative_counts;  /* optim_wrapper.accumulative_counts (0 or 1: none; the runtime's business) */
} tgc_optim_spec;

/* Mixed precision (optim_wrapper AmpOptimWrapper / fp16 / --amp), decided at compile time. dtype TGC_F32:
 * an fp32 plan. Loss scaling applies to float16 only (bf16 has f32's exponent range): dynamic as
 * MMEngine's GradScaler (init_scale, x2 after growth_interval finite steps, x0.5 and the step skipped on
 * inf/NaN), or the fixed scale init_scale. */
typedef struct tgc_amp_spec {
    tgc_dtype dtype;     /* TGC_F32 (off), TGC_BF16 or TGC_F16 */
    int dynamic;         /* f16: dynamic loss scaling                                */
    double init_scale;   /* f16: the (initial) loss scale; 65536 for dynamic          */
    int growth_interval; /* f16 dynamic: finite steps before the scale doubles (2000) */
    int dtype_default;   /* AmpOptimWrapper without dtype: float16, unless the target lacks fast float16 */
    uint64_t fp32_arena_bytes; /* the arena of the same plan compiled in fp32 (what `tgc inspect` compares) */
} tgc_amp_spec;

/* Settles an AmpOptimWrapper without dtype for the target: bf16 where float16 has no fast path (the
 * cpu target), float16 otherwise. Writes a note for the log into note (empty when nothing was chosen). */
void tgc_amp_resolve(tgc_amp_spec *a, const tgc_target *t, char *note, size_t n);

/* The train graph's scalar input holding the loss scale (float16 plans). */
#define TGC_AMP_LOSS_SCALE "loss_scale"
/* "bfloat16", "float16" or "float32", as PyTorch names them. */
const char *tgc_amp_dtype_name(tgc_dtype t);

typedef struct tgc_module {
    tgc_graph *train; /* owned */
    tgc_graph *eval;  /* owned */
    tgc_optim_spec optim;
    int train_loss;   /* value id of the scalar loss in `train` */
    int eval_logits;  /* value id of the logits in `eval` */
    int64_t train_batch, eval_batch;
    double bucket_cap_mb;   /* model_wrapper_cfg.bucket_cap_mb, default 25 (PyTorch DDP)   */
    double first_bucket_mb; /* 1 MiB first bucket, as PyTorch DDP                          */
    const tgc_target *target; /* what the plan is for (passes/target.h); NULL: the default (cpu) */
    double ema_momentum;      /* EMAHook's momentum; > 0: the optimizer pass adds the `ema` graph       */
    tgc_graph *precise_bn;    /* owned or NULL: PreciseBNHook's forward (frontend.c): training-mode batch
                               * norm with momentum 1 and the scores as output                        */
    tgc_graph *ema;           /* owned or NULL: ema_update of each trained param into its "ema.<param>"
                               * state (declared in train too, so the plan places it once)            */
    tgc_amp_spec amp;         /* mixed precision; zeroed = fp32 (TGC_F32 is 0)                     */
    tgc_layout layout;        /* activations' layout (`--layout`): ROW (the zero value) leaves every value
                               * row-major; NHWC lets the layout pass (passes/layout.c) decide per value */
} tgc_module;

/* m->target, or the default target when none was chosen. */
static inline const tgc_target *tgc_module_target(const tgc_module *m) {
    return m && m->target ? m->target : tgc_target_default();
}

void tgc_module_free(tgc_module *m); /* frees the graphs; m itself is the caller's */
/* Compacts g, one of m's graphs (tgc_graph_compact), and renumbers m->train_loss or
 * m->eval_logits with it. Passes that remove ops or add state call it. */
void tgc_module_compact(tgc_module *m, tgc_graph *g);

/* (Addition) Reads a module from the IR text form (passes/module_read.c): graph @train and, optionally,
 * graph @eval, as --dump-ir prints them after a pass (tgc_ir_parse; errors are "FILE:LINE:COL: ...").
 * The text form does not carry the module's settings, so: the loss is train's first 0-D f32 output and
 * the logits eval's first 2-D f32 output (else each graph's first output), the batches the first
 * dimension of each graph's "inputs", the bucket caps PyTorch DDP's defaults (25 MiB, the first 1 MiB)
 * and the optimizer plain SGD (lr 0.01, no momentum or decay), which only matters to the optimizer pass;
 * the layout NHWC when some value of the text is nhwc, else ROW (`tgc opt --layout` sets it). The module is not verified (tgc_pass_verify). */
int tgc_module_parse(const char *text, size_t len, const char *file, tgc_module *m, tgc_err *err);

typedef struct tgc_pass {
    const char *name;    /* as used by --dump-ir=NAME and --disable-pass NAME */
    const char *summary; /* one line */
    int optional;        /* may be turned off with --disable-pass */
    int (*run)(tgc_module *m, tgc_err *err);
} tgc_pass;

/* The pipeline in order: verify, amp, autodiff, optimizer, dce, cse, layout, fold-bn, fuse-bn-relu, fuse-elementwise,
 * buckets (decides the grad slab order), fuse-optimizer, schedule (op order for a low peak), memplan
 * (places every value), verify-plan (placement checker). */
extern const tgc_pass tgc_passes_table[];
extern const int tgc_passes_table_len;
const tgc_pass *tgc_pass_find(const char *name);

typedef struct tgc_pipeline_opts {
    const char *dump_after;  /* NULL: no dumps; "*": after every pass; else after the named pass */
    FILE *dump_to;           /* where dumps go (stdout) */
    const char *disabled[32];
    int n_disabled;
    /* (Addition, for `tgc opt`) n_only > 0: run exactly the passes only[0..n_only), in that order
     * (disabled[] does not apply); else from != NULL: run the pipeline from that pass on. Either way the
     * module is taken as it is (no "build" dump). */
    const char *const *only;
    int n_only;
    const char *from;
} tgc_pipeline_opts;

/* Runs the pipeline; a pass failing stops it with "pass NAME: ..." in err. Dumps print
 * "// ----- after PASS -----" then each graph's text form. */
int tgc_run_pipeline(tgc_module *m, const tgc_pipeline_opts *opts, tgc_err *err);

/* The passes. */
int tgc_pass_verify(tgc_module *m, tgc_err *err);
/* Before autodiff: conv/matmul in m->amp.dtype, casts inserted once per value (passes/amp.c). */
int tgc_pass_amp(tgc_module *m, tgc_err *err);
int tgc_pass_autodiff(tgc_module *m, tgc_err *err);  /* train: gradients of train_loss for every param */
int tgc_pass_optimizer(tgc_module *m, tgc_err *err); /* train: one update op per param, adds opt state */
int tgc_pass_dce(tgc_module *m, tgc_err *err);
int tgc_pass_cse(tgc_module *m, tgc_err *err);
/* After cse: with m->layout NHWC, the activations of the ops that take NHWC in that layout, relayout ops at
 * the borders (passes/layout.c); nothing with ROW. */
int tgc_pass_layout(tgc_module *m, tgc_err *err);
int tgc_pass_memplan(tgc_module *m, tgc_err *err);   /* slabs, arena offsets by liveness, mem stats */
int tgc_pass_buckets(tgc_module *m, tgc_err *err);   /* gradient all-reduce buckets */
int tgc_pass_verify_plan(tgc_module *m, tgc_err *err); /* placement checker: no two live tensors overlap */
/* The fusion passes (optional; see passes/pipeline.c for their place in the order). */
int tgc_pass_fold_bn(tgc_module *m, tgc_err *err);          /* eval: conv2d + batch_norm_eval -> folded conv + bias_add */
int tgc_pass_fuse_bn_relu(tgc_module *m, tgc_err *err);     /* train: BN + relu (and their backward) as one op */
int tgc_pass_fuse_elementwise(tgc_module *m, tgc_err *err); /* group ids on chains of elementwise ops */
int tgc_pass_fuse_optimizer(tgc_module *m, tgc_err *err);   /* group ids on runs of optimizer updates */
/* Optional, between fuse-optimizer and memplan: a valid op order with a lower peak of live
 * arena bytes (passes/schedule.c); never raises memplan's lower bound. */
int tgc_pass_schedule(tgc_module *m, tgc_err *err);

#endif
