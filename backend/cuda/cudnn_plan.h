/* backend/cuda/cudnn_plan.h - the cuDNN descriptors of a plan's convolutions, batch norms and poolings.
 *
 * For every conv2d, conv2d_bwd_data, conv2d_bwd_filter, batch_norm_{train,train_relu,eval,bwd,relu_bwd},
 * max_pool2d(_bwd) and avg_pool2d(_bwd) instruction of a plan this builds what the CUDA executor runs it
 * with, from the instruction's operands, results and attributes exactly as the plan has them:
 *
 *   - an operation graph of the backend (graph) API: backend tensors, the operation(s) and the graph,
 *     finalized. This is what the executor runs (engine heuristics -> execution plan -> cudnnBackendExecute);
 *   - the legacy descriptors of the same instruction (tensor, filter, convolution, pooling, activation,
 *     and the batch-norm statistics descriptor cudnnDeriveBNTensorDescriptor derives): cuDNN's own shape
 *     rules (cudnnGetConvolutionNdForwardOutputDim, cudnnGetPoolingNdForwardOutputDim,
 *     cudnnDeriveBNTensorDescriptor) checked against the plan's shapes, and the executor's fallback for a
 *     graph no engine takes on a device (cudnnBatchNormalization*, cudnnPooling*, cudnnConvolution*).
 *
 * Validation, all without a device: every descriptor finalizes (the backend API checks the convolution's
 * spatial sizes, the norm's statistics shapes and the resample's output size itself), cuDNN's output
 * dimensions equal the plan's result shapes, the derived BN descriptor equals the plan's statistics
 * tensors, the graph finalizes and cuDNN has at least one engine for it. Each failure is one message that
 * names the program, the instruction (index, op, scope), the cuDNN call, its status (cudnnGetErrorString
 * and the code) and cuDNN's own reason (cudnnGetLastErrorString).
 *
 * What cuDNN 9.19 does without a device (measured here, on a machine whose cudaGetDeviceCount fails with
 * error 35; the probe is tests/cuda/cudnn_probe.c):
 *   works: every legacy descriptor call (create/set tensor, filter, convolution incl. group count and
 *     math type, pooling, activation; cudnnGetConvolutionNdForwardOutputDim, cudnnGetPoolingNdForward-
 *     OutputDim, cudnnDeriveBNTensorDescriptor); cudnnBackendCreateDescriptor/SetAttribute/Finalize of
 *     TENSOR (incl. virtual and by-value), CONVOLUTION, OPERATION_CONVOLUTION_FORWARD/BACKWARD_DATA/
 *     BACKWARD_FILTER, POINTWISE + OPERATION_POINTWISE (add, relu_fwd, relu_bwd, ...), OPERATION_NORM_
 *     FORWARD (training, inference) and _BACKWARD, RESAMPLE + OPERATION_RESAMPLE_FWD/BWD, and
 *     OPERATIONGRAPH (its HANDLE attribute is deprecated in 9.x: the graph finalizes with no handle and
 *     reports CUDNN_ATTR_OPERATIONGRAPH_ENGINE_GLOBAL_COUNT); ENGINE descriptors of a graph finalize for
 *     the engines not tied to an architecture.
 *   fails: cudnnCreate (CUDNN_STATUS_NOT_INITIALIZED, "cudaGetDeviceCount(&count) != cudaSuccess"), so
 *     every call taking a handle (workspace queries: CUDNN_STATUS_BAD_PARAM "nullptr == handle";
 *     cudnnGetConvolutionForwardAlgorithm_v7 with a NULL handle crashes); ENGINEHEUR finalizes but returns
 *     0 configs; ENGINECFG and EXECUTION_PLAN fail (CUDNN_STATUS_NOT_SUPPORTED, BAD_PARAM_NOT_FINALIZED);
 *     a DEVICEPROP descriptor of device 0 fails (NOT_INITIALIZED, cudaDeviceGetAttribute).
 *   deviceless ahead-of-time (cuDNN >= 9.8): a DEVICEPROP descriptor made from a JSON description of a GPU
 *     finalizes without one (the JSON here is hand-written for an H100; its keys are the ones libcudnn_graph
 *     reads), and with it engine heuristics and execution plans of convolution graphs finalize
 *     (tgc_cudnn_exec_plan). Batch-norm graphs do not, NCHW or NHWC (their engines compile at run time and
 *     need libcuda: CUDNN_STATUS_NOT_SUPPORTED_RUNTIME_PREREQUISITE_MISSING), nor pointwise-only graphs;
 *     NCHW resample (pooling) graphs get no heuristics result but one engine of each reaches an execution
 *     plan when the engines are enumerated; the engine configs of an NHWC max-pool backward graph crash
 *     (SIGSEGV in libcudnn_engines_runtime_compiled). The JSON a real device reports comes from
 *     tgc_cudnn_gpu_check on a GPU.
 * So graph finalize happens here and at the executor's prepare alike; engine heuristics, the execution
 * plan, its workspace size and every legacy call that takes a handle run at the executor's prepare on a
 * GPU (tgc_cudnn_gpu_check does them for tools/gpu_check.sh).
 *
 * Choices:
 *   - Tensors bind to the plan by UID: a plan tensor t is UID t + 1 (TGC_CUDNN_UID); the executor's
 *     variant pack maps each binding to the tensor's slab address. Batch norm's running statistics are
 *     updated in place: the norm's output running mean/variance are second UIDs of the same tensors
 *     (TGC_CUDNN_UID_INPLACE), bound to the same address. Intermediate values are virtual tensors and
 *     eps/momentum by-value scalars (UIDs from TGC_CUDNN_UID_LOCAL on, unique within the op).
 *   - Byte alignment of a tensor: the largest power of two dividing its slab offset (slabs are cudaMalloc'd:
 *     256-byte aligned), at most 16. Capped, every tensor of a plan aligned to 16 or more gets the same value,
 *     which the norm operations require of mean and inverse variance (else BAD_PARAM_SHAPE_MISMATCH,
 *     "InvVarianceDesc.isSimilarTo(&MeanDesc)": a cpu-target plan, 64-byte aligned, hit it at 256).
 *   - fp32 math: legacy convolutions are CUDNN_FMA_MATH (no TF32: the plan's numerics are checked against
 *     fp32 references); the executor must likewise skip engines whose numerical notes say
 *     CUDNN_NUMERICAL_NOTE_TENSOR_CORE with reduced precision for f32 data.
 *   - Shapes are NCHW as the plan's (weights OIHW, statistics [C] -> [1,C,1,1]); strides follow each
 *     tensor's layout: an NHWC activation (the layout pass's) has NHWC strides, weights stay KCRS, and the
 *     statistics and virtual tensors take the instruction's activation layout. opts.layout NHWC describes
 *     every tensor NHWC (weights KRSC too), and opts.dtype F16/BF16 the 16-bit data types with f32 compute.
 *     Deviceless, every NHWC-activation convolution of the ResNet configs (KCRS weights, f32 and 16-bit) gets
 *     an execution plan.
 *   - Legacy descriptors exist where the legacy API can say the instruction: symmetric padding, and no
 *     ceil-mode overhang. Otherwise (asymmetric pads, ceil mode) only the graph (pre/post paddings) does.
 *   - batch_norm_train_relu: the norm's y is virtual, followed by a relu_fwd pointwise op. The legacy
 *     fused BN+activation (cudnnBatchNormalizationForwardTrainingEx, CUDNN_BATCHNORM_OPS_BN_ACTIVATION)
 *     takes only NHWC in CUDNN_BATCHNORM_SPATIAL_PERSISTENT mode, so the fallback is BN then a relu.
 *   - batch_norm_relu_bwd(dy, x, gamma, beta, mean, invstd): the relu mask is recomputed from x as the IR
 *     says: pre = (x - mean) * invstd * gamma + beta, d = relu_bwd(dy, pre) (four pointwise ops and a
 *     relu_bwd, all virtual), then the norm backward of d.
 *   - batch_norm_eval: pointwise operations y = (x - mean) * rsqrt(var + eps) * gamma + beta (as cudnn-
 *     frontend's batchnorm_inference): a NORM_FORWARD inference phase takes an inverse variance, which
 *     would be computed (virtual), and cuDNN wants it "similar" to the stored mean (it is not).
 *   - A graph that finalizes with engines listed is not yet one an engine runs: CUDNN_ATTR_OPERATIONGRAPH_
 *     ENGINE_GLOBAL_COUNT counts the engines to ask. The fused graphs (bn+relu, the relu mask ahead of the
 *     norm backward, bn eval as pointwise ops, max-pool backward recomputing y) may find none on a GPU;
 *     tgc_cudnn_gpu_check counts those, and the executor runs them on the legacy descriptors plus a kernel.
 *   - max_pool2d_bwd(dy, x) carries no y: the graph recomputes y (a resample forward into a virtual
 *     tensor) ahead of the resample backward, which takes x and y. Max pooling propagates NaN (as
 *     PyTorch); which of equal maxima receives the gradient is the engine's choice (PyTorch: the first), to
 *     be checked against the CPU on a GPU.
 *   - avg_pool2d with ceil_mode and count_include_pad whose last window runs past the padded input is
 *     refused: PyTorch's divisor leaves that overhang out and neither cuDNN mode does.
 */
#ifndef TGC_CUDNN_PLAN_H
#define TGC_CUDNN_PLAN_H

#include <cudnn.h>
#include <stdint.h>
#include <stdio.h>

#include "backend/cuda/cudnn_cache.h"
#include "plan/plan.h"

#define TGC_CUDNN_UID(t) ((int64_t)(t) + 1)
#define TGC_CUDNN_UID_INPLACE(t) ((INT64_C(1) << 32) + (int64_t)(t) + 1)
#define TGC_CUDNN_UID_LOCAL (INT64_C(2) << 32)

typedef enum tgc_cudnn_layout { TGC_CUDNN_NCHW, TGC_CUDNN_NHWC } tgc_cudnn_layout;

typedef struct tgc_cudnn_opts {
    tgc_cudnn_layout layout; /* of activations and weights */
    tgc_dtype dtype;         /* of every tensor: TGC_F32 (the plan's), TGC_F16 or TGC_BF16; compute is f32 */
} tgc_cudnn_opts;

/* NCHW, f32: what plans are today. */
tgc_cudnn_opts tgc_cudnn_opts_default(void);

typedef enum tgc_cudnn_kind {
    TGC_CUDNN_NONE, /* not an instruction of this module */
    TGC_CUDNN_CONV_FWD,
    TGC_CUDNN_CONV_BWD_DATA,
    TGC_CUDNN_CONV_BWD_FILTER,
    TGC_CUDNN_BN_FWD, /* batch_norm_train, _train_relu, _eval */
    TGC_CUDNN_BN_BWD, /* batch_norm_bwd, _relu_bwd */
    TGC_CUDNN_POOL_FWD,
    TGC_CUDNN_POOL_BWD,
    TGC_CUDNN_KIND_COUNT
} tgc_cudnn_kind;

tgc_cudnn_kind tgc_cudnn_kind_of(tgc_opcode code);
const char *tgc_cudnn_kind_name(tgc_cudnn_kind k); /* "conv fwd", "conv bwd-data", ... */

#define TGC_CUDNN_MAX_TENSORS 24
#define TGC_CUDNN_MAX_OPS 8

/* One backend tensor of an op: which plan tensor it binds to, or a virtual / by-value one. */
typedef struct tgc_cudnn_binding {
    int64_t uid;
    int tensor;   /* plan tensor index; -1: virtual (no memory) or by value */
    int by_value; /* 1: the executor passes &value (host memory) in the variant pack */
    float value;  /* eps, momentum */
} tgc_cudnn_binding;

typedef struct tgc_cudnn_op {
    tgc_cudnn_kind kind;
    tgc_opcode code;
    const char *program; /* the plan's program name (not owned) */
    int instr;
    /* legacy descriptors (NULL where not used). x: the tensor of x's shape (x, or dx for backward ops);
     * y: of y's shape (y or dy); w: the filter (w or dw); stats: cudnnDeriveBNTensorDescriptor's. */
    int legacy; /* 1 when the legacy API can say this instruction (see the header's notes) */
    cudnnTensorDescriptor_t x, y, stats;
    cudnnFilterDescriptor_t w;
    cudnnConvolutionDescriptor_t conv;
    cudnnPoolingDescriptor_t pool;
    cudnnActivationDescriptor_t act;
    /* the graph */
    int n_tensors;
    cudnnBackendDescriptor_t tensor[TGC_CUDNN_MAX_TENSORS];
    tgc_cudnn_binding bind[TGC_CUDNN_MAX_TENSORS];
    int n_aux; /* convolution, pointwise and resample descriptors */
    cudnnBackendDescriptor_t aux[TGC_CUDNN_MAX_OPS];
    int n_ops;
    cudnnBackendDescriptor_t op[TGC_CUDNN_MAX_OPS];
    cudnnBackendDescriptor_t graph;
    int64_t engine_count; /* CUDNN_ATTR_OPERATIONGRAPH_ENGINE_GLOBAL_COUNT */
} tgc_cudnn_op;

/* Builds and validates the descriptors of instruction k of program pr (o NULL: NCHW, and the instruction's
 * data dtype: f32, or the bf16/f16 of a mixed-precision plan, statistics f32). Returns 0; -1 with err (and op freed) on any failure. An instruction of another op (tgc_cudnn_kind_of == NONE) is an error. */
int tgc_cudnn_op_build(const tgc_plan *p, const tgc_program *pr, int k, const tgc_cudnn_opts *o, tgc_cudnn_op *op,
                       tgc_err *err);
/* Destroys every descriptor of op (a zeroed or freed op is fine). */
void tgc_cudnn_op_free(tgc_cudnn_op *op);

typedef struct tgc_cudnn_counts {
    int validated[TGC_CUDNN_KIND_COUNT]; /* instructions whose descriptors were built and validated */
    int legacy;                           /* of those, with legacy descriptors too */
    int graphs, ops, tensors;             /* backend descriptors finalized */
    int failures;
} tgc_cudnn_counts;

/* Every instruction of every program of p: build, validate, free. Counts are added to *c (which may be
 * NULL). Carries on past a failure; returns 0 when every instruction passed, else -1 with the first
 * failure's message in err (and c->failures counting them all). */
int tgc_cudnn_validate_plan(const tgc_plan *p, const tgc_cudnn_opts *o, tgc_cudnn_counts *c, tgc_err *err);

/* ---- execution plans (engine heuristics); need a device, or a device-properties description ---------- */

/* A finalized CUDNN_BACKEND_DEVICEPROP_DESCRIPTOR from cuDNN's JSON form (no device needed). */
int tgc_cudnn_devprop_from_json(const char *json, cudnnBackendDescriptor_t *out, tgc_err *err);
/* The device properties of the device under a handle (a GPU), and their JSON (malloc'd) when json != NULL. */
int tgc_cudnn_devprop_from_handle(cudnnHandle_t h, cudnnBackendDescriptor_t *out, char **json, tgc_err *err);

/* The execution plan of op's graph for the device devprop describes: engine heuristics (mode A, then the
 * fallback list), the first configuration whose plan finalizes. *plan (owned by the caller) and its
 * workspace size. Returns 0, or -1 with err naming the instruction when no configuration finalizes. */
int tgc_cudnn_exec_plan(const tgc_cudnn_op *op, cudnnBackendDescriptor_t devprop, cudnnBackendDescriptor_t *plan,
                        int64_t *workspace, int *configs_tried, tgc_err *err);

/* As tgc_cudnn_exec_plan, skipping configurations whose engine uses tensor cores (for f32 data that is TF32
 * rounding) unless flags has TGC_CUDNN_TENSOR_CORES, whose results depend on timing when it has
 * TGC_CUDNN_DETERMINISTIC (numerical note NONDETERMINISTIC), and those needing more than max_workspace bytes
 * (< 0: no limit). */
enum { TGC_CUDNN_TENSOR_CORES = 1, TGC_CUDNN_DETERMINISTIC = 2 };
int tgc_cudnn_exec_plan_ex(const tgc_cudnn_op *op, cudnnBackendDescriptor_t devprop, int flags,
                           int64_t max_workspace, cudnnBackendDescriptor_t *plan, int64_t *workspace,
                           int *configs_tried, tgc_err *err);

/* The first max configurations of engine heuristics (mode A, then the fallback list; a configuration listed
 * twice counts once) that pass tgc_cudnn_exec_plan_ex's filters and whose execution plan finalizes: what the
 * executor times with env_cfg.cudnn_benchmark. Each plan is the caller's (tgc_cudnn_candidates_free). Returns 0
 * with *n >= 1, or -1 with err as tgc_cudnn_exec_plan_ex. */
typedef struct tgc_cudnn_candidate {
    cudnnBackendDescriptor_t plan;
    int64_t workspace;
    tgc_cudnn_choice choice; /* the engine's global index and knob choices, to rebuild it */
    int known;               /* choice was read back (else it cannot be cached) */
} tgc_cudnn_candidate;
int tgc_cudnn_candidates(const tgc_cudnn_op *op, cudnnBackendDescriptor_t devprop, int flags, int64_t max_workspace,
                         int max, tgc_cudnn_candidate *out, int *n, int *configs_tried, tgc_err *err);
void tgc_cudnn_candidates_free(tgc_cudnn_candidate *c, int n);
/* The engine index and knob choices of a finalized engine configuration: 0, or -1 when cuDNN does not say. */
int tgc_cudnn_choice_of(cudnnBackendDescriptor_t cfg, tgc_cudnn_choice *out);
/* The execution plan of op's graph with the engine and knobs of ch (ENGINE, KNOB_CHOICE, ENGINECFG, then
 * EXECUTION_PLAN descriptors), refused as tgc_cudnn_exec_plan_ex refuses (flags, max_workspace): a cached
 * choice that no longer holds (another cuDNN, another graph under the key) fails here with err naming the
 * step, and the caller measures again. */
int tgc_cudnn_plan_from_choice(const tgc_cudnn_op *op, cudnnBackendDescriptor_t devprop, const tgc_cudnn_choice *ch,
                               int flags, int64_t max_workspace, cudnnBackendDescriptor_t *plan, int64_t *workspace,
                               tgc_err *err);
/* What an instruction's execution plan depends on, as text (malloc'd): op, operand and result shapes, dtypes
 * and alignments, attributes, and with flags >= 0 the engine filters (flags, max_workspace). Equal text, equal
 * plan; the algorithm cache keys on its hash (tgc_cudnn_cache_key). */
char *tgc_cudnn_signature(const tgc_plan *p, const tgc_instr *in, int flags, int64_t max_workspace);

typedef struct tgc_cudnn_gpu_counts {
    int planned[TGC_CUDNN_KIND_COUNT];   /* an execution plan finalized for the device */
    int no_engine[TGC_CUDNN_KIND_COUNT]; /* no configuration finalized: the executor's legacy fallback */
    int distinct;                        /* instructions planned: the others share a signature with one */
    int64_t max_workspace;
} tgc_cudnn_gpu_counts;

/* An execution plan for every instruction of p against devprop (a device's, or a JSON description's), once
 * per distinct signature (op, shapes, alignments, attributes). An instruction no configuration takes counts
 * as no_engine when it has legacy descriptors to fall back on, and is an error (-1, err) otherwise. An NHWC
 * max_pool2d_bwd (a hand-written kernel on the executor) counts as no_engine without asking cuDNN. */
int tgc_cudnn_plan_all(const tgc_plan *p, const tgc_cudnn_opts *o, cudnnBackendDescriptor_t devprop,
                       tgc_cudnn_gpu_counts *c, FILE *log, tgc_err *err);

/* For tools/gpu_check.sh: on device 0, an execution plan for every instruction's graph, the device's
 * properties JSON written to devprop_json_path (when not NULL) so that deviceless checks can use the real
 * one. Returns 1 without touching anything when no GPU is visible (cudnnCreate fails): the caller prints
 * "skipped: no GPU". Returns 0 when every graph got a plan or, where none did, the legacy descriptors
 * exist as the fallback; -1 with err otherwise. Lines for people go to log (may be NULL). */
int tgc_cudnn_gpu_check(const tgc_plan *p, const tgc_cudnn_opts *o, const char *devprop_json_path,
                        tgc_cudnn_gpu_counts *c, FILE *log, tgc_err *err);

#endif
