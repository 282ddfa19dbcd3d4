/* backend/cuda/kernels/kernels.cu - the hand-written kernels compiled for the GPU (sm_90; see
 * CMakeLists.txt) and their C launchers (kernels.h). The kernel bodies are the .cuh files, which the host
 * tests also run through kshim.h. */
#include <cuda_runtime.h>
#include <string.h>

#include "backend/cuda/kernels/amp.cuh"
#include "backend/cuda/kernels/convert.cuh"
#include "backend/cuda/kernels/det.cuh"
#include "backend/cuda/kernels/frcnn.cuh"
#include "backend/cuda/kernels/gradnorm.cuh"
#include "backend/cuda/kernels/kernels.h"
#include "backend/cuda/kernels/layout.cuh"
#include "backend/cuda/kernels/loss.cuh"
#include "backend/cuda/kernels/optim.cuh"
#include "backend/cuda/kernels/pool.cuh"
#include "backend/cuda/kernels/reduce.cuh"
#include "backend/cuda/kernels/retina.cuh"

/* kernel<<<g>>>(args) on stream, unless g says there is nothing to do; the launch's error or 0. */
#define TGC_K_LAUNCH(kernel, g, args, stream)                                                               \
    ((g).gx ? (kernel<<<dim3((g).gx, (g).gy, (g).gz), dim3((g).bx, (g).by, (g).bz), 0,                     \
                        (cudaStream_t)(stream)>>>(args),                                                   \
               (int)cudaGetLastError())                                                                    \
            : 0)

typedef struct opt_launch {
    int kind;
    void *stream;
    int status;
} opt_launch;

static int launch_opt(const tgc_k_opt_args *a, void *ctx) {
    opt_launch *o = (opt_launch *)ctx;
    tgc_k_geom g = tgc_k_geom_mt(&a->l);
    if (o->kind == TGC_K_OPT_SGD) o->status = TGC_K_LAUNCH(tgc_k_sgd, g, *a, o->stream);
    else if (o->kind == TGC_K_OPT_SGD_MOMENTUM) o->status = TGC_K_LAUNCH(tgc_k_sgd_momentum, g, *a, o->stream);
    else if (o->kind == TGC_K_OPT_ADAMW) o->status = TGC_K_LAUNCH(tgc_k_adamw, g, *a, o->stream);
    else if (o->kind == TGC_K_OPT_ADAM) o->status = TGC_K_LAUNCH(tgc_k_adam, g, *a, o->stream);
    else if (o->kind == TGC_K_OPT_RMSPROP) o->status = TGC_K_LAUNCH(tgc_k_rmsprop, g, *a, o->stream);
    else o->status = TGC_K_LAUNCH(tgc_k_ema, g, *a, o->stream);
    return o->status;
}

extern "C" int tgc_cuda_k_optimizer(int kind, tgc_k_opt_args *a, const tgc_mt_tensor *t, int n, void *stream) {
    int depth = tgc_k_opt_depth(kind);
    if (!depth) return -1;
    opt_launch o = {kind, stream, 0};
    if (tgc_mt_apply(a, depth, TGC_MT_CHUNK, t, n, launch_opt, &o)) return o.status ? o.status : -1;
    return 0;
}

extern "C" int tgc_cuda_k_softmax_ce(const tgc_k_ce_args *a, unsigned max_blocks, void *stream) {
    tgc_k_geom g = tgc_k_geom_warp_rows(a->n, max_blocks);
    int rc = TGC_K_LAUNCH(tgc_k_softmax_ce_rows, g, *a, stream);
    if (rc || !g.gx) return rc;
    g = tgc_k_geom_one_block();
    return TGC_K_LAUNCH(tgc_k_softmax_ce_mean, g, *a, stream);
}

extern "C" int tgc_cuda_k_softmax_ce_bwd(const tgc_k_ce_args *a, unsigned max_blocks, void *stream) {
    tgc_k_geom g = tgc_k_geom_warp_rows(a->n, max_blocks);
    return TGC_K_LAUNCH(tgc_k_softmax_ce_bwd, g, *a, stream);
}

extern "C" int tgc_cuda_k_softmax_ce_soft(const tgc_k_ce_args *a, unsigned max_blocks, void *stream) {
    tgc_k_geom g = tgc_k_geom_warp_rows(a->n, max_blocks);
    int rc = TGC_K_LAUNCH(tgc_k_softmax_ce_soft_rows, g, *a, stream);
    if (rc || !g.gx) return rc;
    g = tgc_k_geom_one_block();
    return TGC_K_LAUNCH(tgc_k_softmax_ce_mean, g, *a, stream);
}

extern "C" int tgc_cuda_k_softmax_ce_soft_bwd(const tgc_k_ce_args *a, unsigned max_blocks, void *stream) {
    tgc_k_geom g = tgc_k_geom_warp_rows(a->n, max_blocks);
    return TGC_K_LAUNCH(tgc_k_softmax_ce_soft_bwd, g, *a, stream);
}

extern "C" int tgc_cuda_k_channel_mul(const tgc_k_chmul_args *a, unsigned max_blocks, void *stream) {
    tgc_k_geom g = tgc_k_geom_elems(a->planes * a->inner, max_blocks);
    return TGC_K_LAUNCH(tgc_k_channel_mul, g, *a, stream);
}

extern "C" int tgc_cuda_k_channel_mul_grad_gate(const tgc_k_chmul_args *a, unsigned max_blocks, void *stream) {
    tgc_k_geom g = tgc_k_geom_warp_rows(a->planes, max_blocks);
    return TGC_K_LAUNCH(tgc_k_channel_mul_grad_gate, g, *a, stream);
}

extern "C" int tgc_cuda_k_global_avg_pool(const tgc_k_gap_args *a, unsigned max_blocks, void *stream) {
    tgc_k_geom g = tgc_k_geom_warp_rows(a->planes, max_blocks);
    return TGC_K_LAUNCH(tgc_k_global_avg_pool, g, *a, stream);
}

extern "C" int tgc_cuda_k_global_avg_pool_bwd(const tgc_k_gap_args *a, unsigned max_blocks, void *stream) {
    tgc_k_geom g = tgc_k_geom_elems(a->planes * a->inner, max_blocks);
    return TGC_K_LAUNCH(tgc_k_global_avg_pool_bwd, g, *a, stream);
}

extern "C" int tgc_cuda_k_bias_grad(const tgc_k_bias_grad_args *a, unsigned max_blocks, void *stream) {
    int cols = tgc_k_bias_grad_cols_wanted(a->inner);
    tgc_k_geom g = tgc_k_geom_bias_grad(cols, a->ch, max_blocks);
    if (cols) return TGC_K_LAUNCH(tgc_k_bias_grad_cols, g, *a, stream);
    return TGC_K_LAUNCH(tgc_k_bias_grad_planes, g, *a, stream);
}

extern "C" int tgc_cuda_k_max_pool2d_bwd(const tgc_k_maxpool_bwd_args *a, unsigned max_blocks, void *stream) {
    tgc_k_geom g = tgc_k_geom_planes(a->planes, (int64_t)a->h * a->w, max_blocks);
    return TGC_K_LAUNCH(tgc_k_max_pool2d_bwd, g, *a, stream);
}

extern "C" int tgc_cuda_k_cast(int from, int to, const tgc_k_cast_args *a, unsigned max_blocks, void *stream) {
    tgc_k_geom g = tgc_k_geom_elems(a->n, max_blocks);
    if (from == TGC_K_DT_F32 && to == TGC_K_DT_BF16) return TGC_K_LAUNCH(tgc_k_cast_f32_bf16, g, *a, stream);
    if (from == TGC_K_DT_BF16 && to == TGC_K_DT_F32) return TGC_K_LAUNCH(tgc_k_cast_bf16_f32, g, *a, stream);
    if (from == TGC_K_DT_F32 && to == TGC_K_DT_F16) return TGC_K_LAUNCH(tgc_k_cast_f32_f16, g, *a, stream);
    if (from == TGC_K_DT_F16 && to == TGC_K_DT_F32) return TGC_K_LAUNCH(tgc_k_cast_f16_f32, g, *a, stream);
    return -1;
}

extern "C" int tgc_cuda_k_fill(const tgc_k_fill_args *a, unsigned max_blocks, void *stream) {
    tgc_k_geom g = tgc_k_geom_elems(a->n, max_blocks);
    return TGC_K_LAUNCH(tgc_k_fill, g, *a, stream);
}

extern "C" int tgc_cuda_k_roi_align(const tgc_k_roi_args *a, unsigned max_blocks, void *stream) {
    tgc_k_geom g = tgc_k_geom_elems(a->k * a->c * a->oh * a->ow, max_blocks);
    return TGC_K_LAUNCH(tgc_k_roi_align, g, *a, stream);
}

extern "C" int tgc_cuda_k_roi_align_bwd(const tgc_k_roi_args *a, unsigned max_blocks, void *stream) {
    tgc_k_geom g = tgc_k_geom_roi_bwd(a->n * a->c, a->h, a->w, max_blocks);
    return TGC_K_LAUNCH(tgc_k_roi_align_bwd, g, *a, stream);
}

extern "C" int tgc_cuda_k_topk(const tgc_k_topk_args *a, unsigned max_blocks, void *stream) {
    tgc_k_geom g = tgc_k_geom_row_blocks(a->rows, max_blocks);
    return TGC_K_LAUNCH(tgc_k_topk, g, *a, stream);
}

extern "C" int tgc_cuda_k_nms(const tgc_k_nms_args *a, unsigned max_blocks, void *stream) {
    tgc_k_geom g = tgc_k_geom_row_blocks(a->b, max_blocks);
    return TGC_K_LAUNCH(tgc_k_nms, g, *a, stream);
}

extern "C" int tgc_cuda_k_smooth_l1(const tgc_k_sl1_args *a, void *stream) {
    tgc_k_geom g = tgc_k_geom_one_block();
    return TGC_K_LAUNCH(tgc_k_smooth_l1, g, *a, stream);
}

extern "C" int tgc_cuda_k_smooth_l1_bwd(const tgc_k_sl1_args *a, unsigned max_blocks, void *stream) {
    tgc_k_geom g = tgc_k_geom_elems(a->n, max_blocks);
    return TGC_K_LAUNCH(tgc_k_smooth_l1_bwd, g, *a, stream);
}

extern "C" int tgc_cuda_k_box_iou(const tgc_k_box_args *a, unsigned max_blocks, void *stream) {
    tgc_k_geom g = tgc_k_geom_elems(a->boxes * a->m, max_blocks);
    return TGC_K_LAUNCH(tgc_k_box_iou, g, *a, stream);
}

extern "C" int tgc_cuda_k_box_encode(const tgc_k_box_args *a, unsigned max_blocks, void *stream) {
    tgc_k_geom g = tgc_k_geom_elems(a->boxes, max_blocks);
    return TGC_K_LAUNCH(tgc_k_box_encode, g, *a, stream);
}

extern "C" int tgc_cuda_k_box_decode(const tgc_k_box_args *a, unsigned max_blocks, void *stream) {
    tgc_k_geom g = tgc_k_geom_elems(a->boxes, max_blocks);
    return TGC_K_LAUNCH(tgc_k_box_decode, g, *a, stream);
}

extern "C" int tgc_cuda_k_gather(const tgc_k_gather_args *a, unsigned max_blocks, void *stream) {
    tgc_k_geom g = tgc_k_geom_elems(a->b * a->m * a->inner, max_blocks);
    return TGC_K_LAUNCH(tgc_k_gather, g, *a, stream);
}

extern "C" int tgc_cuda_k_giou_loss(const tgc_k_giou_args *a, void *stream) {
    tgc_k_geom g = tgc_k_geom_one_block();
    return TGC_K_LAUNCH(tgc_k_giou_loss, g, *a, stream);
}

extern "C" int tgc_cuda_k_giou_loss_bwd(const tgc_k_giou_args *a, unsigned max_blocks, void *stream) {
    tgc_k_geom g = tgc_k_geom_elems(a->boxes, max_blocks);
    return TGC_K_LAUNCH(tgc_k_giou_loss_bwd, g, *a, stream);
}

extern "C" int tgc_cuda_k_rcnn_targets(const tgc_k_rcnn_args *a, unsigned max_blocks, void *stream) {
    tgc_k_geom g = tgc_k_geom_row_blocks(a->b, max_blocks);
    return TGC_K_LAUNCH(tgc_k_rcnn_targets, g, *a, stream);
}

extern "C" int tgc_cuda_k_sigmoid_bce(const tgc_k_ce_args *a, unsigned max_blocks, void *stream) {
    tgc_k_geom g = tgc_k_geom_warp_rows(a->n, max_blocks);
    int rc = TGC_K_LAUNCH(tgc_k_sigmoid_bce_rows, g, *a, stream);
    if (rc || !g.gx) return rc;
    g = tgc_k_geom_one_block();
    return TGC_K_LAUNCH(tgc_k_sigmoid_bce_mean, g, *a, stream);
}

extern "C" int tgc_cuda_k_sigmoid_bce_bwd(const tgc_k_ce_args *a, unsigned max_blocks, void *stream) {
    tgc_k_geom g = tgc_k_geom_warp_rows(a->n, max_blocks);
    return TGC_K_LAUNCH(tgc_k_sigmoid_bce_bwd, g, *a, stream);
}

extern "C" int tgc_cuda_k_grad_norm_acc(const tgc_k_norm_args *a, void *stream) {
    tgc_k_geom g = tgc_k_geom_blocks(a->blocks);
    int rc = TGC_K_LAUNCH(tgc_k_grad_norm_part, g, *a, stream);
    if (rc) return rc;
    g = tgc_k_geom_one_block();
    return TGC_K_LAUNCH(tgc_k_grad_norm_finish, g, *a, stream);
}

extern "C" int tgc_cuda_k_grad_clip(int by_value, const tgc_k_norm_args *a, unsigned max_blocks, void *stream) {
    tgc_k_geom g = tgc_k_geom_elems(a->n, max_blocks);
    if (by_value) return TGC_K_LAUNCH(tgc_k_grad_clip_value, g, *a, stream);
    return TGC_K_LAUNCH(tgc_k_grad_clip_norm, g, *a, stream);
}

extern "C" int tgc_cuda_k_lamb(const tgc_k_lamb_args *a, unsigned max_blocks, void *stream) {
    tgc_k_geom g = tgc_k_geom_blocks(a->blocks);
    int rc = TGC_K_LAUNCH(tgc_k_lamb_moments, g, *a, stream);
    if (rc) return rc;
    g = tgc_k_geom_elems(a->n, max_blocks);
    return TGC_K_LAUNCH(tgc_k_lamb_apply, g, *a, stream);
}

/* RetinaNet's dense ops (retina.cuh) */
extern "C" int tgc_cuda_k_upsample_nearest(const tgc_k_up_args *a, int bwd, unsigned max_blocks, void *stream) {
    tgc_k_geom g = tgc_k_geom_planes(a->planes, bwd ? (int64_t)a->h * a->w : (int64_t)a->H * a->W, max_blocks);
    if (bwd) return TGC_K_LAUNCH(tgc_k_upsample_nearest_bwd, g, *a, stream);
    return TGC_K_LAUNCH(tgc_k_upsample_nearest, g, *a, stream);
}

extern "C" int tgc_cuda_k_transpose(const tgc_k_tr_args *a, unsigned max_blocks, void *stream) {
    tgc_k_geom g = tgc_k_geom_transpose(a->n, a->a, a->b, max_blocks);
    return TGC_K_LAUNCH(tgc_k_transpose, g, *a, stream);
}

extern "C" int tgc_cuda_k_concat(const tgc_k_cat_args *a, int bwd, unsigned max_blocks, void *stream) {
    tgc_k_geom g = tgc_k_geom_planes(a->outer, a->la + a->lb, max_blocks);
    if (bwd) return TGC_K_LAUNCH(tgc_k_concat_bwd, g, *a, stream);
    return TGC_K_LAUNCH(tgc_k_concat, g, *a, stream);
}

extern "C" int tgc_cuda_k_anchor_loss(const tgc_k_anchor_loss_args *a, int l1, unsigned max_blocks, void *stream) {
    tgc_k_geom g = tgc_k_geom_elems(a->rows, max_blocks);
    int rc = l1 ? TGC_K_LAUNCH(tgc_k_l1_rows, g, *a, stream) : TGC_K_LAUNCH(tgc_k_focal_rows, g, *a, stream);
    if (rc) return rc;
    g = tgc_k_geom_one_block();
    return TGC_K_LAUNCH(tgc_k_anchor_loss_sum, g, *a, stream);
}

extern "C" int tgc_cuda_k_anchor_loss_bwd(const tgc_k_anchor_loss_args *a, int l1, unsigned max_blocks, void *stream) {
    tgc_k_geom g = tgc_k_geom_elems(a->rows * a->k, max_blocks);
    if (l1) return TGC_K_LAUNCH(tgc_k_l1_bwd, g, *a, stream);
    return TGC_K_LAUNCH(tgc_k_focal_bwd, g, *a, stream);
}

extern "C" int tgc_cuda_k_bn_eval_bwd(const tgc_k_bn_eval_bwd_args *a, unsigned max_blocks, void *stream) {
    tgc_k_geom g = tgc_k_geom_bias_grad(0, a->n * a->s > 0 ? a->c : 0, max_blocks);
    return TGC_K_LAUNCH(tgc_k_bn_eval_bwd, g, *a, stream);
}

/* Every kernel by name: what the executor launches the marshalled launches of native_marshal.c with. */
#define TGC_K_SYMBOLS(X)                                                                                       \
    X(tgc_k_sgd) X(tgc_k_sgd_momentum) X(tgc_k_adamw) X(tgc_k_softmax_ce_rows) X(tgc_k_softmax_ce_mean)          \
    X(tgc_k_softmax_ce_bwd) X(tgc_k_global_avg_pool) X(tgc_k_global_avg_pool_bwd) X(tgc_k_bias_grad_planes)     \
    X(tgc_k_bias_grad_cols) X(tgc_k_max_pool2d_bwd) X(tgc_k_fill) X(tgc_k_cast_f32_bf16) X(tgc_k_cast_bf16_f32) \
    X(tgc_k_cast_f32_f16) X(tgc_k_cast_f16_f32) X(tgc_k_adam) X(tgc_k_rmsprop) X(tgc_k_ema)                       \
    X(tgc_k_softmax_ce_soft_rows) X(tgc_k_softmax_ce_soft_bwd) X(tgc_k_channel_mul) X(tgc_k_channel_mul_grad_gate) \
    X(tgc_k_roi_align) X(tgc_k_roi_align_bwd) X(tgc_k_topk) X(tgc_k_nms) X(tgc_k_smooth_l1) X(tgc_k_smooth_l1_bwd) \
    X(tgc_k_box_iou) X(tgc_k_box_encode) X(tgc_k_box_decode) X(tgc_k_gather) X(tgc_k_giou_loss) \
    X(tgc_k_giou_loss_bwd) X(tgc_k_rcnn_targets)                                                               \
    X(tgc_k_sigmoid_bce_rows) X(tgc_k_sigmoid_bce_mean) X(tgc_k_sigmoid_bce_bwd) X(tgc_k_grad_norm_part)           \
    X(tgc_k_grad_norm_finish) X(tgc_k_grad_clip_norm) X(tgc_k_grad_clip_value) X(tgc_k_lamb_moments)              \
    X(tgc_k_lamb_apply) X(tgc_k_nonfinite) X(tgc_k_unscale) X(tgc_k_global_avg_pool_nhwc)                      \
    X(tgc_k_channel_mul_grad_gate_nhwc) X(tgc_k_transpose16)
/* RetinaNet's dense ops */
#define TGC_K_SYMBOLS_RETINA(X)                                                                                 \
    X(tgc_k_upsample_nearest) X(tgc_k_upsample_nearest_bwd) X(tgc_k_transpose) X(tgc_k_concat) X(tgc_k_concat_bwd) \
    X(tgc_k_focal_rows) X(tgc_k_l1_rows) X(tgc_k_anchor_loss_sum) X(tgc_k_focal_bwd) X(tgc_k_l1_bwd)             \
    X(tgc_k_bn_eval_bwd)
/* Faster R-CNN's ops */
#define TGC_K_SYMBOLS_FRCNN(X)                                                                                  \
    X(tgc_k_anchor_decode) X(tgc_k_class_box_targets) X(tgc_k_softmax_ce_masked_rows)                          \
    X(tgc_k_softmax_ce_masked_mean) X(tgc_k_softmax_ce_masked_bwd) X(tgc_k_accuracy_masked)

extern "C" const char *const tgc_cuda_k_names[] = {
#define TGC_K_NAME(k) #k,
    TGC_K_SYMBOLS(TGC_K_NAME)
    TGC_K_SYMBOLS_RETINA(TGC_K_NAME)
    TGC_K_SYMBOLS_FRCNN(TGC_K_NAME)
#undef TGC_K_NAME
    NULL};

extern "C" const void *tgc_cuda_k_symbol(const char *name) {
#define TGC_K_SYM(k)                                                                                            \
    if (!strcmp(name, #k)) return (const void *)k;
    TGC_K_SYMBOLS(TGC_K_SYM)
    TGC_K_SYMBOLS_RETINA(TGC_K_SYM)
    TGC_K_SYMBOLS_FRCNN(TGC_K_SYM)
#undef TGC_K_SYM
    return NULL;
}
