/* ir/ops_det.h - private to ir/: the shape rules, gradient rules and costs of the detection ops of
 * ir/ops.def (roi_align, topk, nms_fixed, smooth_l1, the box ops, giou_loss, their backward ops, rcnn_targets;
 * Faster R-CNN's anchor_decode, softmax_cross_entropy_masked, class_box_targets, accuracy_masked), defined in ir/ops_det.c and
 * named here as ir/ops.c's table expects them (infer_<name>, grad_<name>, cost_<name>). */
#ifndef TGC_IR_OPS_DET_H
#define TGC_IR_OPS_DET_H

#include "ir/ir.h"

#define TGC_DET_RULES(name)                                                                                  \
    int tgc_det_infer_##name(const tgc_graph *g, const tgc_op *op, tgc_type *out, tgc_err *err);            \
    void tgc_det_cost_##name(const tgc_graph *g, const tgc_op *op, tgc_cost *out);
TGC_DET_RULES(roi_align)
TGC_DET_RULES(roi_align_bwd)
TGC_DET_RULES(topk)
TGC_DET_RULES(nms_fixed)
TGC_DET_RULES(smooth_l1)
TGC_DET_RULES(smooth_l1_bwd)
TGC_DET_RULES(box_iou)
TGC_DET_RULES(box_encode)
TGC_DET_RULES(box_decode)
TGC_DET_RULES(gather)
TGC_DET_RULES(giou_loss)
TGC_DET_RULES(giou_loss_bwd)
TGC_DET_RULES(rcnn_targets)
TGC_DET_RULES(anchor_decode)
TGC_DET_RULES(softmax_cross_entropy_masked)
TGC_DET_RULES(softmax_cross_entropy_masked_bwd)
TGC_DET_RULES(class_box_targets)
TGC_DET_RULES(accuracy_masked)
#undef TGC_DET_RULES

int tgc_det_grad_roi_align(tgc_graph *g, int op_index, const int *dy, const unsigned char *need, int *dx,
                           tgc_err *err);
int tgc_det_grad_giou_loss(tgc_graph *g, int op_index, const int *dy, const unsigned char *need, int *dx,
                           tgc_err *err);
int tgc_det_grad_softmax_cross_entropy_masked(tgc_graph *g, int op_index, const int *dy, const unsigned char *need,
                                               int *dx, tgc_err *err);
int tgc_det_grad_smooth_l1(tgc_graph *g, int op_index, const int *dy, const unsigned char *need, int *dx,
                           tgc_err *err);

#define infer_roi_align tgc_det_infer_roi_align
#define infer_roi_align_bwd tgc_det_infer_roi_align_bwd
#define infer_topk tgc_det_infer_topk
#define infer_nms_fixed tgc_det_infer_nms_fixed
#define infer_smooth_l1 tgc_det_infer_smooth_l1
#define infer_smooth_l1_bwd tgc_det_infer_smooth_l1_bwd
#define cost_roi_align tgc_det_cost_roi_align
#define cost_roi_align_bwd tgc_det_cost_roi_align_bwd
#define cost_topk tgc_det_cost_topk
#define cost_nms_fixed tgc_det_cost_nms_fixed
#define cost_smooth_l1 tgc_det_cost_smooth_l1
#define cost_smooth_l1_bwd tgc_det_cost_smooth_l1_bwd
#define infer_box_iou tgc_det_infer_box_iou
#define infer_box_encode tgc_det_infer_box_encode
#define infer_box_decode tgc_det_infer_box_decode
#define infer_gather tgc_det_infer_gather
#define cost_box_iou tgc_det_cost_box_iou
#define cost_box_encode tgc_det_cost_box_encode
#define cost_box_decode tgc_det_cost_box_decode
#define cost_gather tgc_det_cost_gather
#define infer_giou_loss tgc_det_infer_giou_loss
#define infer_giou_loss_bwd tgc_det_infer_giou_loss_bwd
#define cost_giou_loss tgc_det_cost_giou_loss
#define cost_giou_loss_bwd tgc_det_cost_giou_loss_bwd
#define grad_giou_loss tgc_det_grad_giou_loss
#define grad_roi_align tgc_det_grad_roi_align
#define grad_smooth_l1 tgc_det_grad_smooth_l1
#define infer_anchor_decode tgc_det_infer_anchor_decode
#define cost_anchor_decode tgc_det_cost_anchor_decode
#define infer_softmax_cross_entropy_masked tgc_det_infer_softmax_cross_entropy_masked
#define cost_softmax_cross_entropy_masked tgc_det_cost_softmax_cross_entropy_masked
#define grad_softmax_cross_entropy_masked tgc_det_grad_softmax_cross_entropy_masked
#define infer_softmax_cross_entropy_masked_bwd tgc_det_infer_softmax_cross_entropy_masked_bwd
#define cost_softmax_cross_entropy_masked_bwd tgc_det_cost_softmax_cross_entropy_masked_bwd
#define infer_class_box_targets tgc_det_infer_class_box_targets
#define cost_class_box_targets tgc_det_cost_class_box_targets
#define infer_accuracy_masked tgc_det_infer_accuracy_masked
#define cost_accuracy_masked tgc_det_cost_accuracy_masked
/* no gradient: the backward ops, the selections (indices are integers; top-k values feed only the
 * selection of proposals, which MMDetection detaches) and the box coder and IoU (targets and proposals,
 * detached in MMDetection too) */
#define grad_roi_align_bwd NULL
#define grad_topk NULL
#define grad_nms_fixed NULL
#define grad_smooth_l1_bwd NULL
#define grad_box_iou NULL
#define grad_box_encode NULL
#define grad_box_decode NULL
#define grad_gather NULL
#define grad_giou_loss_bwd NULL
#define infer_rcnn_targets tgc_det_infer_rcnn_targets
#define cost_rcnn_targets tgc_det_cost_rcnn_targets
#define grad_rcnn_targets NULL /* targets: data, as MMDetection's */
#define grad_anchor_decode NULL
#define grad_softmax_cross_entropy_masked_bwd NULL
#define grad_class_box_targets NULL
#define grad_accuracy_masked NULL

#endif
