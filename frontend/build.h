/* frontend/build.h - the build context and the helpers model builders use to emit IR layers
 * (conv, batch norm, linear, activations) with PyTorch state-dict names and MMPretrain init specs.
 *
 * A builder runs twice per model: once into the train graph (training = 1: batch_norm_train, labels
 * present, the head returns its losses) and once into the eval graph (training = 0: batch_norm_eval,
 * the head returns logits). Both runs declare the same state names, so the two graphs share state.
 */
#ifndef TGC_FRONTEND_BUILD_H
#define TGC_FRONTEND_BUILD_H

#include <stddef.h>

#include "frontend/cfg.h"
#include "frontend/frontend.h"
#include "ir/ir.h"

/* A list of feature values (value ids) passed between model parts: a backbone returns the feature maps
 * of its out_indices, a neck maps each, a head reads the last (detection necks/heads read them all). */
#define TGC_MAX_FEATS 8
typedef struct tgc_feats {
    int n;
    int v[TGC_MAX_FEATS];
} tgc_feats;

#define TGC_PREFIX_MAX 256

typedef struct tgc_bctx {
    tgc_graph *g;
    int training;            /* 1: train graph (and precise_bn's); 0: eval graph                  */
    double bn_momentum;      /* > 0: every batch norm's momentum (precise_bn: 1, the batch's own
                              * statistics); 0: the config's                                        */
    int labels;              /* value id of "data_samples.gt_label" (i32 [N]) in the train graph, or of
                              * "data_samples.gt_score" (f32 [N, classes]: soft targets of batch
                              * augments); -1 in the eval graph                                       */
    const char *input_desc;  /* for messages: "1-channel FashionMNIST input"                        */
    int freeze;              /* parameters declared now are frozen (requires_grad false: frozen_stages) */
    int bn_eval;             /* batch norms declared now use their running statistics even in the train
                              * graph (norm_eval, frozen stages); their affine parameters still train
                              * unless frozen                                                          */
    char prefix[TGC_PREFIX_MAX]; /* current module path, "backbone.layer1.0"; "" at the top          */
    size_t prefix_len;
    tgc_err *err;
} tgc_bctx;

/* Enters a submodule: appends ".name" (or "name" at the top) to the prefix. Returns the previous
 * prefix length, to give to tgc_b_leave. */
size_t tgc_b_enter(tgc_bctx *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void tgc_b_leave(tgc_bctx *b, size_t saved);

/* ---- init rules: an MMPretrain/PyTorch init policy, resolved to a concrete tgc_init per tensor ---- */
typedef enum tgc_init_rule_kind {
    TGC_RULE_CONST,          /* every element a                                                    */
    TGC_RULE_NORMAL,         /* mmengine NormalInit: mean a, std b                                 */
    TGC_RULE_KAIMING_OUT,    /* mmengine KaimingInit(mode=fan_out, nonlinearity=relu, normal)      */
    TGC_RULE_TORCH_DEFAULT,  /* PyTorch's reset_parameters: kaiming_uniform(a=sqrt(5)) for weights,
                                U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for biases: both the same bound  */
    TGC_RULE_XAVIER_UNIFORM, /* mmengine XavierInit(distribution=uniform, gain a): weights
                                U(-g*sqrt(6/(fan_in+fan_out)), +...), biases 0                      */
} tgc_init_rule_kind;

typedef struct tgc_init_rule {
    tgc_init_rule_kind kind;
    double a, b;
} tgc_init_rule;

tgc_init_rule tgc_rule_const(double v);
tgc_init_rule tgc_rule_normal(double mean, double std);
tgc_init_rule tgc_rule_kaiming_out(void);
tgc_init_rule tgc_rule_torch_default(void);
tgc_init_rule tgc_rule_xavier_uniform(double gain);
/* The concrete init of one tensor (desc is a fresh string; ownership passes with the tgc_init). */
tgc_init tgc_init_resolve(tgc_init_rule r, int64_t fan_in, int64_t fan_out, int is_bias);

/* ---- state and layers --------------------------------------------------------------------------- */
/* Declares PARAM / BUFFER "<prefix>.<local>"; -1 on a duplicate name. */
int tgc_b_param(tgc_bctx *b, const char *local, tgc_shape s, tgc_init init);
int tgc_b_buffer(tgc_bctx *b, const char *local, tgc_shape s, tgc_init init);

typedef struct tgc_conv_opts {
    int64_t out_channels, kernel, stride, pad, dilation, groups;
    int bias;                   /* conv bias (then emitted as bias_add) */
    tgc_init_rule weight, bias_init;
} tgc_conv_opts;

/* Each layer helper enters `name` (e.g. "conv1"), declares its state there and emits its ops with that
 * scope. They return the result value id or -1 with err set. */
int tgc_b_conv(tgc_bctx *b, int x, const char *name, const tgc_conv_opts *o);
/* BatchNorm2d: weight (gamma_init), bias 0, running_mean 0, running_var 1; train or eval form. */
int tgc_b_bn(tgc_bctx *b, int x, const char *name, double eps, double momentum, double gamma_init);
/* nn.Linear on x[N, in]: matmul(x, weight^T) + bias. */
int tgc_b_linear(tgc_bctx *b, int x, const char *name, int64_t out_features, tgc_init_rule weight,
                 tgc_init_rule bias);
/* A one-operand op (relu, tanh, pools, global_avg_pool, reshape) with the current prefix as scope. */
int tgc_b_op1(tgc_bctx *b, tgc_opcode code, const tgc_attrs *attrs, int x);
int tgc_b_add(tgc_bctx *b, int x, int y);

/* Shape of value v. */
const tgc_shape *tgc_b_shape(const tgc_bctx *b, int v);

/* ---- named loss terms (train graph) -------------------------------------------------------------- */
/* Registers scalar f32 value v of the train graph as the named log output `name`: MMDetection's loss-dict
 * key ("loss_cls", "loss_rpn_bbox", "acc"). Registration order is the order of the log line and the scalars
 * (register in MMDetection's dict order). Names are [a-z][a-z0-9_]*, at most 31 characters, unique; "loss"
 * and the runner's own keys (lr, time, data_time, grad_norm, memory, eta, epoch, iter, step) are refused.
 * Returns v, or -1 with err (also outside the train graph). */
int tgc_b_log_output(tgc_bctx *b, const char *name, int v);
/* The loss: the registered outputs whose name contains "loss" (MMEngine's parse_losses), added left to right
 * in registration order; the others (acc) are logged only. A fresh value; -1 + err when there is none. */
int tgc_b_loss_sum(tgc_bctx *b);

/* ---- config helpers ------------------------------------------------------------------------------ */
/* Errors about `key` of map `map`, present or not: "FILE:LINE: PATH.key: <message>" (the map's file and
 * line when the key is absent). Returns -1. */
int tgc_b_fail_key(tgc_err *err, const tgc_cfg *map, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Refuses keys of `map` that are not in `known` (NULL-terminated; "type" is always allowed), naming the
 * key and listing the accepted ones: a misspelt key must not silently fall back to a default. */
int tgc_b_check_keys(tgc_err *err, const tgc_cfg *map, const char *what, const char *const *known);
/* Accepts `key` only when absent/null or equal to the neutral value; otherwise "not supported yet". */
int tgc_b_require_null(tgc_err *err, const tgc_cfg *map, const char *key, const char *what);
/* A part's init_cfg: absent, null, or {type: Pretrained, checkpoint: PATH, prefix: P, map_location: ...},
 * which the runtime loads before load_from (runtime/runner/weights.h); any other init_cfg is refused. */
int tgc_b_init_cfg(tgc_err *err, const tgc_cfg *map);
/* Reads a string key and requires one of `choices` (NULL-terminated). */
int tgc_b_choice(tgc_err *err, const tgc_cfg *map, const char *key, const char *def,
                 const char *const *choices, const char **out);
/* The `type` of a part/transform/optimizer map: a string; absent or null -> "missing: the WHAT needs a `type`". */
int tgc_b_type(tgc_err *err, const tgc_cfg *map, const char *what, const char **out);
/* A size key: an int s gives (s, s); a 2-list gives (list[0], list[1]). Positive values only. */
int tgc_b_pair(tgc_err *err, const tgc_cfg *map, const char *key, int64_t *p0, int64_t *p1, int *present);

/* model.train_cfg.augments when it asks for any (NULL otherwise), and whether tgc implements every one. */
const tgc_cfg *tgc_b_batch_augments(const tgc_cfg *model);
int tgc_b_batch_augments_implemented(const tgc_cfg *augments);

/* Whether the model config is a detector (RetinaNet: its graphs take per-anchor targets, not labels). */
int tgc_b_is_detector(const tgc_cfg *model);

/* The first EMAHook of custom_hooks (NULL without one), and whether tgc implements what it asks: MMEngine's
 * ExponentialMovingAverage of the parameters (not the buffers) every iteration from the first. */
const tgc_cfg *tgc_b_ema_hook(const tgc_cfg *root);
int tgc_b_ema_hook_implemented(const tgc_cfg *hook);
/* The first PreciseBNHook of custom_hooks, and whether tgc implements what it asks (num_samples, interval). */
const tgc_cfg *tgc_b_precise_bn_hook(const tgc_cfg *root);
int tgc_b_precise_bn_hook_implemented(const tgc_cfg *hook);

/* ---- frontend internals shared between frontend.c, data.c and optim.c ------------------------------ */
/* The input spec plus a description of the input for messages ("1-channel FashionMNIST input"). */
int tgc_frontend_data(const tgc_cfg *root, tgc_input_spec *spec, char *desc, size_t desc_n, tgc_err *err);
/* optim_wrapper.optimizer -> spec. */
int tgc_frontend_optim(const tgc_cfg *root, tgc_optim_spec *spec, tgc_err *err);
/* optim_wrapper.paramwise_cfg -> lr_mult/decay_mult of the PARAM values of g (both graphs). */
int tgc_frontend_paramwise(const tgc_cfg *root, tgc_graph *g, tgc_err *err);

#endif
