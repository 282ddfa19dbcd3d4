/* frontend/registry.h - the model-part registry: a `type:` name and its kind -> a builder.
 *
 * This is the one place a model part is added: write its builder in frontend/models/, declare it below
 * and add a row to the table in frontend/registry.c.
 *
 * Every builder has the same shape: it reads its config map `node`, takes a list of feature values and
 * returns a list, emitting into b->g with b->prefix as the state-name prefix. What the lists hold, by kind:
 *   classifier: in {images [N,C,H,W]}            -> out training ? {loss []} : {logits [N,K]}
 *   backbone:   in {images}                      -> out the feature maps of out_indices, shallow first
 *   neck:       in feature maps                  -> out the same number of features (e.g. pooled)
 *   head:       in features (a classifier head reads the last; an FPN-fed detection head, all)
 *                                                -> out training ? its losses (summed by the caller)
 *                                                                : its predictions ({logits})
 *   loss:       in {predictions, labels [N] i32} -> out {loss []}
 *   (a detector, kind classifier, returns training ? {loss []} : {det_out [N, A, C + 4]} (RetinaNet) or
 *   {det_out [N, P, 5 + (C + 1) + 4C]} (FasterRCNN); it declares its target inputs itself, see
 *   frontend/models/retinanet.c and faster_rcnn.c)
 */
#ifndef TGC_FRONTEND_REGISTRY_H
#define TGC_FRONTEND_REGISTRY_H

#include "frontend/build.h"

typedef enum tgc_part_kind {
    TGC_PART_CLASSIFIER,
    TGC_PART_BACKBONE,
    TGC_PART_NECK,
    TGC_PART_HEAD,
    TGC_PART_LOSS,
    TGC_PART_KIND_COUNT
} tgc_part_kind;

typedef int (*tgc_part_fn)(tgc_bctx *b, const tgc_cfg *node, const tgc_feats *in, tgc_feats *out);

typedef struct tgc_part {
    const char *type; /* the `type:` name, as MMPretrain registers it */
    tgc_part_kind kind;
    tgc_part_fn build;
} tgc_part;

extern const tgc_part tgc_parts[];
extern const int tgc_n_parts;

const char *tgc_part_kind_name(tgc_part_kind k); /* "classifier", "backbone", ... */
/* NULL when no part of that kind has that type. */
const tgc_part *tgc_registry_find(tgc_part_kind kind, const char *type);
/* "ResNet, ResNet_CIFAR, LeNet5": the known types of a kind, for messages. */
void tgc_registry_list(tgc_part_kind kind, char *buf, size_t n);

/* Builds the part described by map `node` (its `type` looked up among `kind`) inside submodule `scope`
 * ("backbone"; "" or NULL for none). Errors name the file, line and key path; an unknown type lists
 * the known ones. */
int tgc_registry_build(tgc_bctx *b, tgc_part_kind kind, const tgc_cfg *node, const char *scope,
                       const tgc_feats *in, tgc_feats *out);

/* ---- the builders (frontend/models/) ---- */
int tgc_build_image_classifier(tgc_bctx *b, const tgc_cfg *node, const tgc_feats *in, tgc_feats *out);
int tgc_build_resnet(tgc_bctx *b, const tgc_cfg *node, const tgc_feats *in, tgc_feats *out);
int tgc_build_resnet_cifar(tgc_bctx *b, const tgc_cfg *node, const tgc_feats *in, tgc_feats *out);
int tgc_build_lenet5(tgc_bctx *b, const tgc_cfg *node, const tgc_feats *in, tgc_feats *out);
int tgc_build_gap_neck(tgc_bctx *b, const tgc_cfg *node, const tgc_feats *in, tgc_feats *out);
int tgc_build_resnet_v1c(tgc_bctx *b, const tgc_cfg *node, const tgc_feats *in, tgc_feats *out);
int tgc_build_resnet_v1d(tgc_bctx *b, const tgc_cfg *node, const tgc_feats *in, tgc_feats *out);
int tgc_build_resnext(tgc_bctx *b, const tgc_cfg *node, const tgc_feats *in, tgc_feats *out);
int tgc_build_seresnet(tgc_bctx *b, const tgc_cfg *node, const tgc_feats *in, tgc_feats *out);
int tgc_build_seresnext(tgc_bctx *b, const tgc_cfg *node, const tgc_feats *in, tgc_feats *out);
int tgc_build_linear_cls_head(tgc_bctx *b, const tgc_cfg *node, const tgc_feats *in, tgc_feats *out);
int tgc_build_multilabel_linear_cls_head(tgc_bctx *b, const tgc_cfg *node, const tgc_feats *in, tgc_feats *out);
int tgc_build_cls_head(tgc_bctx *b, const tgc_cfg *node, const tgc_feats *in, tgc_feats *out);
int tgc_build_ce_loss(tgc_bctx *b, const tgc_cfg *node, const tgc_feats *in, tgc_feats *out);
int tgc_build_label_smooth_loss(tgc_bctx *b, const tgc_cfg *node, const tgc_feats *in, tgc_feats *out);
/* detection (frontend/models/retinanet.c) */
int tgc_build_retinanet(tgc_bctx *b, const tgc_cfg *node, const tgc_feats *in, tgc_feats *out);
int tgc_build_fpn(tgc_bctx *b, const tgc_cfg *node, const tgc_feats *in, tgc_feats *out);
int tgc_build_retina_head(tgc_bctx *b, const tgc_cfg *node, const tgc_feats *in, tgc_feats *out);
/* frontend/models/faster_rcnn.c */
int tgc_build_faster_rcnn(tgc_bctx *b, const tgc_cfg *node, const tgc_feats *in, tgc_feats *out);

#endif
