/* ir/ir.h - tgc's IR: a typed SSA graph with static shapes.
 *
 * A graph is a program: values (SSA, each defined once, by an op or as a graph input/state) and ops in
 * program order. A compiled model is a module of two graphs, `train` (forward in training mode, loss,
 * backward, optimizer update) and `eval` (forward in eval mode, logits). Persistent state (parameters,
 * buffers, optimizer state) is named with PyTorch/MMPretrain state-dict names; the two graphs refer to the
 * same state by name.
 *
 * Everything an op is (arity, attributes, shape rule, gradient rule, cost) comes from ir/ops.def.
 */
#ifndef TGC_IR_H
#define TGC_IR_H

#include <stdint.h>
#include <stdio.h>

#include "common/util.h"

#define TGC_MAX_RANK 6
#define TGC_MAX_IN 8
#define TGC_MAX_OUT 4

typedef enum tgc_dtype { TGC_F32, TGC_F16, TGC_BF16, TGC_I32, TGC_I64, TGC_U8, TGC_DTYPE_COUNT } tgc_dtype;

const char *tgc_dtype_name(tgc_dtype t);  /* "f32", "i32", ... */
size_t tgc_dtype_size(tgc_dtype t);

typedef struct tgc_shape {
    int rank;
    int64_t d[TGC_MAX_RANK];
} tgc_shape;

tgc_shape tgc_shape_make(int rank, const int64_t *dims);
tgc_shape tgc_shape4(int64_t a, int64_t b, int64_t c, int64_t d);
tgc_shape tgc_shape2(int64_t a, int64_t b);
tgc_shape tgc_shape1(int64_t a);
tgc_shape tgc_shape0(void); /* a scalar */
int64_t tgc_shape_numel(const tgc_shape *s);
int tgc_shape_eq(const tgc_shape *a, const tgc_shape *b);
/* Writes "[32,3,224,224]" into buf (always terminated). */
void tgc_shape_str(const tgc_shape *s, char *buf, size_t n);

/* ---- attributes ------------------------------------------------------------------------------ */
enum {
    TGC_A_KERNEL = 1u << 0,    /* kernel[2]                     */
    TGC_A_STRIDE = 1u << 1,    /* stride[2]                     */
    TGC_A_PAD = 1u << 2,       /* pad[4]: top, left, bottom, right */
    TGC_A_DILATION = 1u << 3,  /* dilation[2]                   */
    TGC_A_GROUPS = 1u << 4,    /* groups                        */
    TGC_A_CEIL = 1u << 5,      /* ceil_mode                     */
    TGC_A_COUNT_PAD = 1u << 6, /* count_include_pad             */
    TGC_A_AXIS = 1u << 7,      /* axis                          */
    TGC_A_TRANS = 1u << 8,     /* trans_a, trans_b              */
    TGC_A_EPS = 1u << 9,       /* eps                           */
    TGC_A_MOMENTUM = 1u << 10, /* momentum                      */
    TGC_A_ALPHA = 1u << 11,    /* alpha (scale, fill value, loss weight, lr multiplier) */
    TGC_A_SMOOTH = 1u << 12,   /* label_smooth                  */
    TGC_A_WD = 1u << 13,       /* weight_decay                  */
    TGC_A_BETAS = 1u << 14,    /* beta1, beta2                  */
    TGC_A_DAMPENING = 1u << 15,/* dampening                     */
    TGC_A_NESTEROV = 1u << 16, /* nesterov                      */
    TGC_A_SHAPE = 1u << 17,    /* shape                         */
    TGC_A_DTYPE = 1u << 18,    /* dtype                         */
    TGC_A_FOCAL = 1u << 19,    /* gamma, focal_alpha            */
    TGC_A_CLASSES = 1u << 20,  /* num_classes                   */
    TGC_A_CLIP = 1u << 21,     /* max_norm, norm_type (gradient norms and clipping) */
    TGC_A_LAMB = 1u << 22,     /* always_adapt, trust_clip (Lamb) */
    TGC_A_ANCHOR = 1u << 23,   /* base_anchors, min_bbox_size (anchor_decode) */
    /* detection ops */
    TGC_A_ROI = 1u << 24,      /* output_size, spatial_scale, sampling_ratio, aligned, roi_level, num_levels, finest_scale */
    TGC_A_K = 1u << 25,        /* k                             */
    TGC_A_IOU = 1u << 26,      /* iou_threshold                 */
    TGC_A_BETA = 1u << 27,     /* beta                          */
    TGC_A_CODER = 1u << 28,    /* target_means, target_stds     */
    TGC_A_DECODE = 1u << 29,   /* wh_ratio_clip, clip_border    */
    TGC_A_SAMPLE = 1u << 30,   /* pos_fraction, pos_iou_thr, neg_iou_thr, min_pos_iou, match_low_quality, add_gt_as_proposals */
};
#define TGC_A_CONV (TGC_A_STRIDE | TGC_A_PAD | TGC_A_DILATION | TGC_A_GROUPS)
#define TGC_A_POOL (TGC_A_KERNEL | TGC_A_STRIDE | TGC_A_PAD | TGC_A_CEIL)

/* One struct for every op's attributes, one field per row of ir/attrs.def; an op reads only the fields
 * its row's attrs bits name. tgc_attrs_default() gives the rows' defaults (stride/dilation/groups 1,
 * pads 0, ...). */
#define TGC_ATTR_CTYPE_BOOL int
#define TGC_ATTR_CTYPE_I64 int64_t
#define TGC_ATTR_CTYPE_I64V int64_t
#define TGC_ATTR_CTYPE_F64 double
#define TGC_ATTR_CTYPE_F64V double
#define TGC_ATTR_CTYPE_SHAPE tgc_shape
#define TGC_ATTR_CTYPE_DTYPE tgc_dtype
#define TGC_ATTR_DIM_BOOL(n)
#define TGC_ATTR_DIM_I64(n)
#define TGC_ATTR_DIM_I64V(n) [n]
#define TGC_ATTR_DIM_F64(n)
#define TGC_ATTR_DIM_F64V(n) [n]
#define TGC_ATTR_DIM_SHAPE(n)
#define TGC_ATTR_DIM_DTYPE(n)
typedef struct tgc_attrs {
#define TGC_ATTR(name, kind, n, bit, def, fmt) TGC_ATTR_CTYPE_##kind name TGC_ATTR_DIM_##kind(n);
#include "ir/attrs.def"
#undef TGC_ATTR
} tgc_attrs;

/* The rows of ir/attrs.def as data (for readers of the text form and tests). */
typedef enum tgc_attr_kind {
    TGC_AK_BOOL,
    TGC_AK_I64,
    TGC_AK_I64V,
    TGC_AK_F64,
    TGC_AK_SHAPE,
    TGC_AK_DTYPE,
    TGC_AK_F64V,
} tgc_attr_kind;

enum {
#define TGC_ATTR(name, kind, n, bit, def, fmt) TGC_ATTR_##name,
#include "ir/attrs.def"
#undef TGC_ATTR
    TGC_ATTR_COUNT
};

typedef struct tgc_attr_info {
    const char *name;
    tgc_attr_kind kind;
    int n;          /* elements of an I64V or F64V, else 1 */
    uint32_t bit;   /* TGC_A_* */
    size_t offset;  /* of the field in tgc_attrs */
} tgc_attr_info;

extern const tgc_attr_info tgc_attr_table[TGC_ATTR_COUNT];

tgc_attrs tgc_attrs_default(void);
/* The name of the first attribute among `bits` (an op row's TGC_A_* set) whose values differ between a and
 * b, field by field (never padding or fields the bits do not name); NULL when they are equal. */
const char *tgc_attrs_diff(uint32_t bits, const tgc_attrs *a, const tgc_attrs *b);

/* ---- ops ------------------------------------------------------------------------------------- */
typedef enum tgc_opcode {
#define TGC_OP(E, name, n_in, n_out, attrs, mutates, flags) TGC_OP_##E,
#include "ir/ops.def"
#undef TGC_OP
    TGC_OP_COUNT
} tgc_opcode;

enum {
    TGC_OPF_ELEMENTWISE = 1u << 0, /* output i depends only on inputs at i (fusion, in-place reuse) */
    TGC_OPF_COMMUTATIVE = 1u << 1, /* CSE may swap the two operands                                */
    TGC_OPF_OPTIMIZER = 1u << 2,   /* an optimizer update                                          */
    /* evaluates a transcendental function (tanh, exp): fuse-elementwise groups it only where the target's
     * fusion policy allows (TGC_FUSE_TRANSCENDENTALS, passes/target.h) */
    TGC_OPF_TRANSCENDENTAL = 1u << 3,
};

/* How an op treats the floating-point dtypes (f32, bf16, f16): the dtype dimension of the op table
 * (ir/ops.c, tgc_op_dtype_rule). Integer operands (labels) and the f32 scalars lr/step are outside it.
 *   F32     every float operand and result is f32 (losses, optimizer updates, folds): the default
 *   COMPUTE the tensor operands share one float dtype, the result has it; accumulation is f32 inside
 *           the kernel (conv, matmul and their backward): the ops mixed precision runs in low precision
 *   FOLLOW  the tensor operands share one float dtype, results have it; per-channel vectors (bias) stay
 *           f32; reductions among them (global_avg_pool, pooling) accumulate in f32
 *   STATS   batch norm: x (and dy) of one float dtype, y/dx in it; gamma, beta, statistics and their
 *           gradients f32, and every sum and the normalisation computed in f32
 *   ACC     reduces a float tensor to an f32 result (bias_grad: a parameter's gradient stays f32)
 *   ANY     any dtype (cast, fill, reshape) */
typedef enum tgc_dtype_rule {
    TGC_DTR_F32 = 0,
    TGC_DTR_COMPUTE,
    TGC_DTR_FOLLOW,
    TGC_DTR_STATS,
    TGC_DTR_ACC,
    TGC_DTR_ANY,
} tgc_dtype_rule;

tgc_dtype_rule tgc_op_dtype_rule(tgc_opcode code);

/* Which rank-4 activation operands (bit i of *in_mask) and results (bit j of *out_mask) of an op may be
 * NHWC. The rank-4 operands and results in the masks always share one layout (a kernel sees all of them
 * NHWC or all ROW); operands outside the masks (a convolution's weights, per-channel vectors, rank-2
 * values) are ROW. Returns 1 for an op whose kernels take NHWC, 0 (both masks 0) for an op whose kernels
 * know only row-major: the layout pass keeps its operands and results ROW, with relayout ops at the border. */
int tgc_op_layout_io(tgc_opcode code, unsigned *in_mask, unsigned *out_mask);
/* f32, bf16 or f16. */
static inline int tgc_dtype_is_float(tgc_dtype t) { return t == TGC_F32 || t == TGC_BF16 || t == TGC_F16; }

/* Physical layout of a value: the layout dimension of the op table (tgc_op_layout_io). Shapes stay logical
 * (NCHW, PyTorch's) whatever the layout. ROW: row-major in the logical dims. NHWC: a rank-4 float value of
 * logical shape [N,C,H,W] stored as [N,H,W,C] (PyTorch's channels_last). Only the layout pass (passes/
 * layout.c) makes a value NHWC; every value it does not touch stays ROW, the zero value. */
typedef enum tgc_layout { TGC_LAYOUT_ROW = 0, TGC_LAYOUT_NHWC = 1, TGC_LAYOUT_COUNT } tgc_layout;

const char *tgc_layout_name(tgc_layout l); /* "row", "nhwc" */

typedef struct tgc_type {
    tgc_dtype dtype;
    tgc_shape shape;
    tgc_layout layout;
} tgc_type;

/* An op's operand and result types against its layout rule, for every checker (the verifier, the
 * backends' guards). t[s] is slot s: operands 0..n_in-1, then the results. TGC_LAYOUT_FAULT_NONE when the
 * rule holds, *nhwc then telling whether the masked rank-4 values are NHWC; otherwise the first fault in
 * slot order, at slot *at: a layout value outside tgc_layout (BAD), an NHWC value outside the masks
 * (UNMASKED), a masked value whose layout differs from the first masked one, slot *first (MIXED).
 * relayout's masked operand and result are not compared (they differ by design: its own rule). */
typedef enum tgc_layout_fault {
    TGC_LAYOUT_FAULT_NONE,
    TGC_LAYOUT_FAULT_BAD,
    TGC_LAYOUT_FAULT_UNMASKED,
    TGC_LAYOUT_FAULT_MIXED,
} tgc_layout_fault;
tgc_layout_fault tgc_op_layout_fault(tgc_opcode code, const tgc_type *const *t, int n_in, int n_out, int *at,
                                     int *first, int *nhwc);

typedef struct tgc_cost {
    double macs;  /* multiply-accumulates (conv, matmul); 0 for others */
    double flops; /* floating-point operations, a MAC counting as 2    */
    double bytes; /* bytes read + written, unfused                      */
} tgc_cost;

struct tgc_graph;
struct tgc_op;

typedef struct tgc_op_info {
    const char *name;
    int n_in, n_out;
    uint32_t attrs;
    uint32_t mutates;
    uint32_t flags;
    /* Result types from operand types and attributes; a clear error (op name, operand shapes) if the
     * operands are not acceptable. */
    int (*infer)(const struct tgc_graph *g, const struct tgc_op *op, tgc_type *out, tgc_err *err);
    /* Emits, into g, the ops computing operand gradients of op #op_index. dy[k] is the value holding the
     * gradient of result k, or -1 if result k has none (treated as zero). For every operand j with
     * need[j] set, sets dx[j] to the value holding its gradient (or -1 if it is identically zero).
     * NULL for ops that are not differentiable. */
    int (*grad)(struct tgc_graph *g, int op_index, const int *dy, const unsigned char *need, int *dx,
                tgc_err *err);
    void (*cost)(const struct tgc_graph *g, const struct tgc_op *op, tgc_cost *out);
} tgc_op_info;

extern const tgc_op_info tgc_op_table[TGC_OP_COUNT];
/* Looks an op up by its text-form name; returns -1 if unknown. */
int tgc_op_by_name(const char *name);

typedef struct tgc_op {
    tgc_opcode code;
    int n_in, in[TGC_MAX_IN];    /* value ids */
    int n_out, out[TGC_MAX_OUT]; /* value ids */
    tgc_attrs attrs;
    char *scope; /* owned; module path that emitted it, e.g. "backbone.layer1.0.conv1" (may be NULL) */
    int group;   /* fusion group id, -1 when not fused */
} tgc_op;

/* Dead ops: a pass removes an op by marking it (tgc_op_kill) and tgc_graph_compact drops it later, so op
 * indices held during a pass stay valid. Every walk over ops that can meet one skips it with
 * tgc_op_is_dead; that also holds for a code outside the op table (a corrupt graph), so a live op's code
 * always indexes tgc_op_table. The verifier refuses dead ops and the pipeline verifies after every pass,
 * so a pass meets only the dead ops it marked itself (passes that never mark any need no check). */
static inline int tgc_op_is_dead(const tgc_op *op) { return (unsigned)op->code >= TGC_OP_COUNT; }
static inline void tgc_op_kill(tgc_op *op) { op->code = TGC_OP_COUNT; }

/* ---- values ---------------------------------------------------------------------------------- */
typedef enum tgc_val_kind {
    TGC_VAL_TEMP,     /* defined by an op of this graph                                   */
    TGC_VAL_INPUT,    /* fed by the runtime each step: images, labels, lr, step           */
    TGC_VAL_PARAM,    /* trainable parameter (persistent)                                 */
    TGC_VAL_BUFFER,   /* non-trainable persistent state, e.g. BN running statistics       */
    TGC_VAL_OPTSTATE, /* optimizer state (persistent): momentum buffers, Adam moments      */
} tgc_val_kind;

const char *tgc_val_kind_name(tgc_val_kind k); /* "temp", "input", "param", "buffer", "optstate" */

/* How persistent state is initialised, with concrete distribution parameters computed by the builder
 * (e.g. Kaiming normal, fan_out, relu -> NORMAL with b = sqrt(2/fan_out)). */
typedef enum tgc_init_kind {
    TGC_INIT_NONE,     /* not persistent / not initialised here           */
    TGC_INIT_CONST,    /* every element a                                 */
    TGC_INIT_NORMAL,   /* mean a, std b                                   */
    TGC_INIT_UNIFORM,  /* in [a, b)                                       */
    TGC_INIT_TRUNC_NORMAL, /* mean a, std b, truncated to [lo, hi]        */
} tgc_init_kind;

typedef struct tgc_init {
    tgc_init_kind kind;
    double a, b, lo, hi;
    char *desc; /* owned, for people: "kaiming_normal(mode=fan_out, nonlinearity=relu)" (may be NULL) */
} tgc_init;

/* Memory placement, filled by the memory-planning pass. */
typedef enum tgc_slab {
    TGC_SLAB_NONE,     /* not placed yet                               */
    TGC_SLAB_ARENA,    /* transient: offset by liveness in the arena    */
    TGC_SLAB_INPUT,    /* step inputs                                    */
    TGC_SLAB_PARAM,    /* parameters                                     */
    TGC_SLAB_BUFFER,   /* buffers                                        */
    TGC_SLAB_GRAD,     /* parameter gradients, contiguous in bucket order */
    TGC_SLAB_OPTSTATE, /* optimizer state                                */
    TGC_SLAB_COUNT
} tgc_slab;

const char *tgc_slab_name(tgc_slab s);

typedef struct tgc_value {
    int id;
    tgc_type type;
    tgc_val_kind kind;
    char *name;     /* owned; state-dict name for state and inputs, NULL for most temps */
    int def_op;     /* op index defining it, -1 for inputs and state */
    int def_result; /* which result of def_op */
    int grad_of;    /* for the gradient of a parameter: that parameter's value id; else -1 */
    tgc_init init;  /* for PARAM, BUFFER and OPTSTATE */
    double lr_mult, decay_mult; /* paramwise_cfg multipliers for PARAM (default 1) */
    int frozen;     /* PARAM with requires_grad false (frozen_stages): no gradient, update or optimizer state */
    int is_output;  /* the runtime reads it after the program: 0 no; 1 by position (loss, logits, the
                     * gradient norm); TGC_OUTPUT_NAMED + k: the k-th named log output (a loss term or
                     * metric such as loss_cls or acc, `name` holding it), read by name */
    tgc_slab slab;
    uint64_t offset; /* byte offset within its slab */
} tgc_value;

/* A gradient all-reduce bucket: gradients that are reduced by one collective once the last of them is
 * produced (after op `ready_op`). */
typedef struct tgc_bucket {
    int n_vals;
    int *vals; /* owned; gradient value ids in the order they sit in the grad slab */
    uint64_t offset, bytes; /* the bucket's range in the grad slab */
    int ready_op;
} tgc_bucket;

typedef struct tgc_mem_stats {
    uint64_t arena_bytes;       /* size of the planned arena                               */
    uint64_t lower_bound_bytes; /* largest total size of simultaneously live transients    */
    uint64_t naive_bytes;       /* sum of all transient sizes                              */
} tgc_mem_stats;

typedef struct tgc_graph {
    char *name; /* owned: "train" or "eval" */
    tgc_value *vals;
    int n_vals, cap_vals;
    tgc_op *ops; /* program order */
    int n_ops, cap_ops;
    tgc_bucket *buckets;
    int n_buckets;
    tgc_mem_stats mem;
} tgc_graph;

tgc_graph *tgc_graph_new(const char *name);
void tgc_graph_free(tgc_graph *g);

/* Adds a graph input / persistent state value. `name` is copied. Returns its value id. */
int tgc_graph_input(tgc_graph *g, const char *name, tgc_dtype dt, tgc_shape shape);
int tgc_graph_state(tgc_graph *g, tgc_val_kind kind, const char *name, tgc_dtype dt, tgc_shape shape,
                    tgc_init init /* ownership of init.desc passes to the graph */);
/* Finds a named value (input or state); -1 if none. */
int tgc_graph_find(const tgc_graph *g, const char *name);

/* Named log outputs (a model's loss terms and metrics, MMDetection's loss-dict keys). The plan lists them
 * after the positional outputs, in the order they were named, as tensors "<graph>/<name>". */
#define TGC_OUTPUT_NAMED 2
/* Makes temp v the next named output; -1 (err) when v is not an unnamed temp that is no output yet, or
 * the name is empty or already names a value. */
int tgc_graph_named_output(tgc_graph *g, int v, const char *name, tgc_err *err);
/* The named outputs' value ids in their order into out (at most cap of them); returns how many there are. */
int tgc_graph_named_outputs(const tgc_graph *g, int *out, int cap);

/* Appends an op: checks arity, runs shape inference, creates the result values (TEMP) and writes their
 * ids to out[] (n_out of them; out may be NULL). `scope` is copied (may be NULL). Returns the op index,
 * or -1 with a message naming the op, the scope and the operand shapes. */
int tgc_emit(tgc_graph *g, tgc_opcode code, const int *in, int n_in, const tgc_attrs *attrs,
             const char *scope, int *out, tgc_err *err);
/* Single-result convenience: returns the result value id, or -1. attrs may be NULL (defaults). */
int tgc_emit1(tgc_graph *g, tgc_opcode code, const tgc_attrs *attrs, const char *scope, tgc_err *err,
              int n_in, ...);

/* Number of ops that read value v (computed on demand, O(ops)). */
int tgc_value_uses(const tgc_graph *g, int v);
int tgc_op_has_side_effects(const tgc_op *op); /* mutates state */

/* Removes dead ops (tgc_op_kill) and values no longer referenced by any op,
 * output, state or input, then renumbers values densely in definition order. Keeps value ids stable
 * for state and inputs (they come first). */
void tgc_graph_compact(tgc_graph *g);
/* As tgc_graph_compact; when remap is non-NULL it receives, for every value id before the
 * call (the old g->n_vals of them), its new id or -1 if the value was removed. Passes use it to follow
 * value ids they hold (the module's train_loss, eval_logits). */
void tgc_graph_compact_remap(tgc_graph *g, int *remap);

/* Whole-graph checks: SSA (each value defined once, before use), operand/result counts, re-run shape
 * inference and compare, mutated operands are persistent state, outputs exist. */
int tgc_graph_verify(const tgc_graph *g, tgc_err *err);

/* Totals over every op of the graph (flops_per_sample divides the eval graph's by its batch). */
tgc_cost tgc_graph_cost(const tgc_graph *g);

/* The stable text form: one value or op per line, typed results, attributes in table order.
 *   graph @train {
 *     %0 = input "inputs" : f32[32,3,224,224]
 *     %2 = param "backbone.conv1.weight" : f32[64,3,7,7] init=normal(0, 0.0589)
 *     %7 : f32[32,64,112,112] = conv2d %0, %2 {stride=[2,2], pad=[3,3,3,3], dilation=[1,1], groups=1}  # backbone.conv1
 *     sgd_momentum_update %2, %40, %41, %3, %4 {alpha=1, weight_decay=0.0001, momentum=0.9, ...}
 *     output %30
 *   }
 */
void tgc_graph_print(const tgc_graph *g, FILE *f);

/* (Addition) Reads the text form back (ir/parse.c has the grammar): every `graph @NAME { ... }` of text,
 * where NAME is one of names[0..n_names), into out[i] for names[i] (NULL where the text has none). Blank
 * lines and // comment lines are skipped anywhere. Each op is checked as it is read (arity, attributes,
 * result types against its shape rule); tgc_graph_verify checks the rest. Returns 0, or -1 with
 * "FILE:LINE:COL: message" in err and every out[i] NULL. `file` names the text in messages. */
int tgc_ir_parse(const char *text, size_t len, const char *file, const char *const *names, int n_names,
                 tgc_graph **out, tgc_err *err);

#endif
