/* backend/cuda/native_host.c - see native_host.h. */
#include "backend/cuda/native_host.h"

#include <pthread.h>
#include <string.h>

#include "backend/cuda/kernels/amp.cuh"
#include "backend/cuda/kernels/convert.cuh"
#include "backend/cuda/kernels/det.cuh"
#include "backend/cuda/kernels/frcnn.cuh"
#include "backend/cuda/kernels/gradnorm.cuh"
#include "backend/cuda/kernels/layout.cuh"
#include "backend/cuda/kernels/loss.cuh"
#include "backend/cuda/kernels/optim.cuh"
#include "backend/cuda/kernels/pool.cuh"
#include "backend/cuda/kernels/reduce.cuh"
#include "backend/cuda/kernels/retina.cuh"

static pthread_mutex_t shim_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t n_launches;

/* The executor passes a few waves' worth of blocks on a GPU; on the host a small cap keeps the grid-stride
 * loops exercised (several iterations per thread) and the fiber count low. */
#define HOST_MAX_BLOCKS 8u

uint64_t tgc_cuda_native_host_launches(void) {
    pthread_mutex_lock(&shim_lock);
    uint64_t n = n_launches;
    pthread_mutex_unlock(&shim_lock);
    return n;
}

/* Runs one marshalled launch through the shim, by the kernel's symbol. Under shim_lock. */
static int shim_run(const tgc_native_launch *l, void *ctx) {
    (void)ctx;
    const char *k = l->kernel;
#define RUN(name, T)                                                                                            \
    if (!strcmp(k, #name)) {                                                                                    \
        if (l->args_bytes != sizeof(T)) return -1;                                                              \
        tgc_shim_launch(#name, name##_shim, l->args, l->g, name##_threads);                                     \
        n_launches += l->g.gx ? 1 : 0;                                                                          \
        return 0;                                                                                               \
    }
    RUN(tgc_k_sgd, tgc_k_opt_args)
    RUN(tgc_k_sgd_momentum, tgc_k_opt_args)
    RUN(tgc_k_adamw, tgc_k_opt_args)
    RUN(tgc_k_adam, tgc_k_opt_args)
    RUN(tgc_k_rmsprop, tgc_k_opt_args)
    RUN(tgc_k_ema, tgc_k_opt_args)
    RUN(tgc_k_softmax_ce_soft_rows, tgc_k_ce_args)
    RUN(tgc_k_softmax_ce_soft_bwd, tgc_k_ce_args)
    RUN(tgc_k_channel_mul, tgc_k_chmul_args)
    RUN(tgc_k_channel_mul_grad_gate, tgc_k_chmul_args)
    RUN(tgc_k_softmax_ce_rows, tgc_k_ce_args)
    RUN(tgc_k_softmax_ce_mean, tgc_k_ce_args)
    RUN(tgc_k_softmax_ce_bwd, tgc_k_ce_args)
    RUN(tgc_k_global_avg_pool, tgc_k_gap_args)
    RUN(tgc_k_global_avg_pool_bwd, tgc_k_gap_args)
    RUN(tgc_k_global_avg_pool_nhwc, tgc_k_gap_args)
    RUN(tgc_k_channel_mul_grad_gate_nhwc, tgc_k_chmul_args)
    RUN(tgc_k_transpose16, tgc_k_tr16_args)
    RUN(tgc_k_bias_grad_planes, tgc_k_bias_grad_args)
    RUN(tgc_k_bias_grad_cols, tgc_k_bias_grad_args)
    RUN(tgc_k_max_pool2d_bwd, tgc_k_maxpool_bwd_args)
    RUN(tgc_k_fill, tgc_k_fill_args)
    RUN(tgc_k_cast_f32_bf16, tgc_k_cast_args)
    RUN(tgc_k_cast_bf16_f32, tgc_k_cast_args)
    RUN(tgc_k_cast_f32_f16, tgc_k_cast_args)
    RUN(tgc_k_cast_f16_f32, tgc_k_cast_args)
    RUN(tgc_k_roi_align, tgc_k_roi_args)
    RUN(tgc_k_roi_align_bwd, tgc_k_roi_args)
    RUN(tgc_k_topk, tgc_k_topk_args)
    RUN(tgc_k_nms, tgc_k_nms_args)
    RUN(tgc_k_smooth_l1, tgc_k_sl1_args)
    RUN(tgc_k_smooth_l1_bwd, tgc_k_sl1_args)
    RUN(tgc_k_box_iou, tgc_k_box_args)
    RUN(tgc_k_box_encode, tgc_k_box_args)
    RUN(tgc_k_box_decode, tgc_k_box_args)
    RUN(tgc_k_gather, tgc_k_gather_args)
    RUN(tgc_k_giou_loss, tgc_k_giou_args)
    RUN(tgc_k_giou_loss_bwd, tgc_k_giou_args)
    RUN(tgc_k_rcnn_targets, tgc_k_rcnn_args)
    RUN(tgc_k_sigmoid_bce_rows, tgc_k_ce_args)
    RUN(tgc_k_sigmoid_bce_mean, tgc_k_ce_args)
    RUN(tgc_k_sigmoid_bce_bwd, tgc_k_ce_args)
    RUN(tgc_k_grad_norm_part, tgc_k_norm_args)
    RUN(tgc_k_grad_norm_finish, tgc_k_norm_args)
    RUN(tgc_k_grad_clip_norm, tgc_k_norm_args)
    RUN(tgc_k_grad_clip_value, tgc_k_norm_args)
    RUN(tgc_k_lamb_moments, tgc_k_lamb_args)
    RUN(tgc_k_lamb_apply, tgc_k_lamb_args)
    RUN(tgc_k_nonfinite, tgc_k_unscale_args)
    RUN(tgc_k_unscale, tgc_k_unscale_args)
    /* RetinaNet's dense ops */
    RUN(tgc_k_upsample_nearest, tgc_k_up_args)
    RUN(tgc_k_upsample_nearest_bwd, tgc_k_up_args)
    RUN(tgc_k_transpose, tgc_k_tr_args)
    RUN(tgc_k_concat, tgc_k_cat_args)
    RUN(tgc_k_concat_bwd, tgc_k_cat_args)
    RUN(tgc_k_focal_rows, tgc_k_anchor_loss_args)
    RUN(tgc_k_l1_rows, tgc_k_anchor_loss_args)
    RUN(tgc_k_anchor_loss_sum, tgc_k_anchor_loss_args)
    RUN(tgc_k_focal_bwd, tgc_k_anchor_loss_args)
    RUN(tgc_k_l1_bwd, tgc_k_anchor_loss_args)
    RUN(tgc_k_bn_eval_bwd, tgc_k_bn_eval_bwd_args)
    /* Faster R-CNN's ops */
    RUN(tgc_k_anchor_decode, tgc_k_anchor_args)
    RUN(tgc_k_class_box_targets, tgc_k_cbt_args)
    RUN(tgc_k_softmax_ce_masked_rows, tgc_k_ce_args)
    RUN(tgc_k_softmax_ce_masked_mean, tgc_k_ce_args)
    RUN(tgc_k_softmax_ce_masked_bwd, tgc_k_ce_args)
    RUN(tgc_k_accuracy_masked, tgc_k_ce_args)
#undef RUN
    return -1;
}

int tgc_cuda_native_host_launch(const tgc_native_launch *l, tgc_err *err) {
    pthread_mutex_lock(&shim_lock);
    int rc = shim_run(l, NULL);
    pthread_mutex_unlock(&shim_lock);
    return rc < 0 ? tgc_fail(err, "no host body for kernel %s with %zu argument bytes", l->kernel, l->args_bytes) : 0;
}

int tgc_cuda_native_host_run(const tgc_cpu_op *ops, int n, void *ws, int32_t chunk, int *launches, tgc_err *err) {
    pthread_mutex_lock(&shim_lock);
    uint64_t before = n_launches;
    int rc = tgc_cuda_native_marshal(ops, n, ws, HOST_MAX_BLOCKS, chunk, shim_run, NULL, err);
    if (launches) *launches += (int)(n_launches - before);
    pthread_mutex_unlock(&shim_lock);
    return rc;
}
