/* backend/cuda/native_marshal.h - the executor's side of the hand-written kernels (backend/cuda/kernels): which
 * instructions they cover, and each instruction's launches - kernel symbol, geometry (kargs.h) and argument
 * struct - marshalled from the plan's operands and attributes. Plain C, no CUDA: the stand-in runs the
 * launches through kshim.h (native_host.c); a GPU path would launch the same symbols with the same argument
 * bytes (cuLaunchKernel with one kernel parameter). */
#ifndef TGC_BACKEND_CUDA_NATIVE_MARSHAL_H
#define TGC_BACKEND_CUDA_NATIVE_MARSHAL_H

#include "backend/cpu/cpu_kernels.h"
#include "backend/cuda/kernels/kargs.h"

/* The classes of ops the native switch picks (tgc_cuda_device_opts.native is a mask of them), by what the
 * kernels promise against the CPU reference (backend/cuda/kernels/README.md): */
enum {
    TGC_NATIVE_OPTIMIZER = 1, /* sgd, sgd_momentum, adamw, adam, rmsprop groups, ema_update: bit for bit */
    TGC_NATIVE_EXACT = 2,     /* max_pool2d_bwd, global_avg_pool_bwd, channel_mul, fill, cast, roi_align(_bwd),
                                 topk, nms_fixed, smooth_l1_bwd, box_iou, box_encode, box_decode, gather,
                                 giou_loss_bwd, rcnn_targets, grad_clip_value; upsample_nearest(_bwd), to_nhwc, to_nchw,
                                 concat(_bwd), sigmoid_focal_loss_bwd, l1_loss_pos_bwd: bit for bit */
    TGC_NATIVE_REDUCE = 4,    /* softmax_cross_entropy(_soft)(_bwd), global_avg_pool, bias_grad,
                                 channel_mul_grad_gate, smooth_l1, giou_loss; sigmoid_focal_loss, l1_loss_pos,
                                 batch_norm_eval_bwd: relative 1e-6 */
    TGC_NATIVE_ALL = 7,
    TGC_NATIVE_LIBRARY = 8,   /* not a kernel class: each matmul and batch norm issued as library work (lib_call)
                                 whose body is cuBLAS's column-major gemm / cuDNN's legacy batch norm call, as
                                 documented, on the arguments cuda_ops.c marshals (relative 1e-5) */
};
/* The class of an op's kernel, 0 when it has none. */
int tgc_cuda_native_class(tgc_opcode code);
/* Whether instruction `o` (one op) has a kernel for these operand types. */
int tgc_cuda_native_supports(const tgc_cpu_op *o);
/* Bytes of device workspace the instruction's kernels need (softmax_cross_entropy(_soft): n doubles;
 * sigmoid_focal_loss, l1_loss_pos: N*A doubles; rcnn_targets: tgc_k_rcnn_ws_words words), else 0. */
uint64_t tgc_cuda_native_workspace(const tgc_cpu_op *o);

/* One kernel launch: the kernel's symbol (as kernels.cu exports it), its geometry (gx == 0: launch nothing)
 * and its one argument, args_bytes bytes (valid during the callback only). */
typedef struct tgc_native_launch {
    const char *kernel;
    tgc_k_geom g;
    const void *args;
    size_t args_bytes;
} tgc_native_launch;
typedef int (*tgc_native_launch_fn)(const tgc_native_launch *l, void *ctx);

/* Marshals ops[0..n) - one instruction, or an optimizer group (one op, equal attributes and lr/step operands)
 * - into launches, handing each to fn in order: an optimizer group as multi-tensor lists over its tensors
 * (tgc_mt_apply with `chunk` elements per block), softmax_cross_entropy as its rows and mean kernels over the
 * workspace ws. max_blocks caps grid-stride grids (0: none). Returns 0, or -1 with err (fn's non-zero result
 * included). */
int tgc_cuda_native_marshal(const tgc_cpu_op *ops, int n, void *ws, unsigned max_blocks, int32_t chunk,
                            tgc_native_launch_fn fn, void *ctx, tgc_err *err);

#endif
