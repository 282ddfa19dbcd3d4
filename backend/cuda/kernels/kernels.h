/* backend/cuda/kernels/kernels.h - launching the hand-written kernels (kernels.cu, CUDA builds only) from
 * C: one function per op, each choosing the kernel(s) and geometry kargs.h describes and launching them on
 * `stream` (a cudaStream_t) without waiting. Each returns 0, or the cudaError_t of a failed launch (-1 for
 * arguments no kernel takes). Arguments are checked by the plan (tgc_plan_validate) and the executor, not
 * here. max_blocks caps grid-stride kernels (0: none); a few waves of the device's SM count is plenty. */
#ifndef TGC_CUDA_KERNELS_KERNELS_H
#define TGC_CUDA_KERNELS_KERNELS_H

#include "backend/cuda/kernels/kargs.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One optimizer group (kind TGC_K_OPT_*, ema_update included): t[0..n) packed into as many launches as needed (tgc_mt_apply,
 * TGC_MT_CHUNK elements per block); a's hyper-parameters and lr/step are used, a->l is overwritten. */
int tgc_cuda_k_optimizer(int kind, tgc_k_opt_args *a, const tgc_mt_tensor *t, int n, void *stream);
/* softmax_cross_entropy: the per-row kernel, then the mean (a->row_loss: a workspace of n doubles). */
int tgc_cuda_k_softmax_ce(const tgc_k_ce_args *a, unsigned max_blocks, void *stream);
int tgc_cuda_k_softmax_ce_bwd(const tgc_k_ce_args *a, unsigned max_blocks, void *stream);
/* softmax_cross_entropy_soft: soft rows, then the mean (a->t: targets; a->row_loss: n doubles); its bwd. */
int tgc_cuda_k_softmax_ce_soft(const tgc_k_ce_args *a, unsigned max_blocks, void *stream);
int tgc_cuda_k_softmax_ce_soft_bwd(const tgc_k_ce_args *a, unsigned max_blocks, void *stream);
int tgc_cuda_k_channel_mul(const tgc_k_chmul_args *a, unsigned max_blocks, void *stream);
int tgc_cuda_k_channel_mul_grad_gate(const tgc_k_chmul_args *a, unsigned max_blocks, void *stream);
int tgc_cuda_k_global_avg_pool(const tgc_k_gap_args *a, unsigned max_blocks, void *stream);
int tgc_cuda_k_global_avg_pool_bwd(const tgc_k_gap_args *a, unsigned max_blocks, void *stream);
int tgc_cuda_k_bias_grad(const tgc_k_bias_grad_args *a, unsigned max_blocks, void *stream);
int tgc_cuda_k_max_pool2d_bwd(const tgc_k_maxpool_bwd_args *a, unsigned max_blocks, void *stream);
/* cast between TGC_K_DT_F32 and TGC_K_DT_BF16 or TGC_K_DT_F16 (either way); other pairs: -1. */
int tgc_cuda_k_cast(int from, int to, const tgc_k_cast_args *a, unsigned max_blocks, void *stream);
int tgc_cuda_k_fill(const tgc_k_fill_args *a, unsigned max_blocks, void *stream);
/* detection (det.cuh): roi_align and its backward (a->y is dx there), topk, nms_fixed, smooth_l1 and its bwd */
int tgc_cuda_k_roi_align(const tgc_k_roi_args *a, unsigned max_blocks, void *stream);
int tgc_cuda_k_roi_align_bwd(const tgc_k_roi_args *a, unsigned max_blocks, void *stream);
int tgc_cuda_k_topk(const tgc_k_topk_args *a, unsigned max_blocks, void *stream);
int tgc_cuda_k_nms(const tgc_k_nms_args *a, unsigned max_blocks, void *stream);
int tgc_cuda_k_smooth_l1(const tgc_k_sl1_args *a, void *stream);
int tgc_cuda_k_smooth_l1_bwd(const tgc_k_sl1_args *a, unsigned max_blocks, void *stream);
/* box_iou, box_encode, box_decode (tgc_k_box_args), gather */
int tgc_cuda_k_box_iou(const tgc_k_box_args *a, unsigned max_blocks, void *stream);
int tgc_cuda_k_box_encode(const tgc_k_box_args *a, unsigned max_blocks, void *stream);
int tgc_cuda_k_box_decode(const tgc_k_box_args *a, unsigned max_blocks, void *stream);
int tgc_cuda_k_gather(const tgc_k_gather_args *a, unsigned max_blocks, void *stream);
int tgc_cuda_k_giou_loss(const tgc_k_giou_args *a, void *stream);
int tgc_cuda_k_giou_loss_bwd(const tgc_k_giou_args *a, unsigned max_blocks, void *stream);
/* rcnn_targets: a->ws holds tgc_k_rcnn_ws_words(b, p, g) words */
int tgc_cuda_k_rcnn_targets(const tgc_k_rcnn_args *a, unsigned max_blocks, void *stream);
/* sigmoid_bce: rows, then the mean over n*c (a->row_loss: n doubles; a->t NULL: labels a->y); its bwd. */
int tgc_cuda_k_sigmoid_bce(const tgc_k_ce_args *a, unsigned max_blocks, void *stream);
int tgc_cuda_k_sigmoid_bce_bwd(const tgc_k_ce_args *a, unsigned max_blocks, void *stream);
/* grad_norm_acc: the parts (a->part: a->blocks = tgc_k_norm_blocks(n) doubles), then their sum with *acc. */
int tgc_cuda_k_grad_norm_acc(const tgc_k_norm_args *a, void *stream);
/* grad_clip_norm (by_value 0) or grad_clip_value (1). */
int tgc_cuda_k_grad_clip(int by_value, const tgc_k_norm_args *a, unsigned max_blocks, void *stream);
/* lamb_update: the moments and the parts (a->part: 2 x a->blocks doubles), then the trust ratio and the update. */
int tgc_cuda_k_lamb(const tgc_k_lamb_args *a, unsigned max_blocks, void *stream);
/* RetinaNet's dense ops (retina.cuh): upsample_nearest (bwd: its backward), to_nhwc / to_nchw, concat (bwd:
 * concat_bwd), sigmoid_focal_loss or (l1) l1_loss_pos as rows then sum (a->row_loss: rows doubles), their
 * backwards, batch_norm_eval_bwd. */
int tgc_cuda_k_upsample_nearest(const tgc_k_up_args *a, int bwd, unsigned max_blocks, void *stream);
int tgc_cuda_k_transpose(const tgc_k_tr_args *a, unsigned max_blocks, void *stream);
int tgc_cuda_k_concat(const tgc_k_cat_args *a, int bwd, unsigned max_blocks, void *stream);
int tgc_cuda_k_anchor_loss(const tgc_k_anchor_loss_args *a, int l1, unsigned max_blocks, void *stream);
int tgc_cuda_k_anchor_loss_bwd(const tgc_k_anchor_loss_args *a, int l1, unsigned max_blocks, void *stream);
int tgc_cuda_k_bn_eval_bwd(const tgc_k_bn_eval_bwd_args *a, unsigned max_blocks, void *stream);

/* The kernel whose symbol is `name` (as native_marshal.c names launches: "tgc_k_sgd", ...), as the host-side
 * handle cudaGetFuncBySymbol takes; NULL for a name no kernel has. The executor launches it with the
 * marshalled argument bytes as its one parameter. */
const void *tgc_cuda_k_symbol(const char *name);
/* Every kernel's name, NULL-terminated (for tests: each must resolve). */
extern const char *const tgc_cuda_k_names[];

#ifdef __cplusplus
}
#endif

#endif
