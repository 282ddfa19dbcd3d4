/* frontend/registry.c - the table of model parts (`type:` name, kind, builder) and the lookup. */
#include "frontend/registry.h"

#include <string.h>

const tgc_part tgc_parts[] = {
    {"ImageClassifier", TGC_PART_CLASSIFIER, tgc_build_image_classifier},
    {"ResNet", TGC_PART_BACKBONE, tgc_build_resnet},
    {"ResNet_CIFAR", TGC_PART_BACKBONE, tgc_build_resnet_cifar},
    {"ResNetV1c", TGC_PART_BACKBONE, tgc_build_resnet_v1c},
    {"ResNetV1d", TGC_PART_BACKBONE, tgc_build_resnet_v1d},
    {"ResNeXt", TGC_PART_BACKBONE, tgc_build_resnext},
    {"SEResNet", TGC_PART_BACKBONE, tgc_build_seresnet},
    {"SEResNeXt", TGC_PART_BACKBONE, tgc_build_seresnext},
    {"LeNet5", TGC_PART_BACKBONE, tgc_build_lenet5},
    {"GlobalAveragePooling", TGC_PART_NECK, tgc_build_gap_neck},
    {"LinearClsHead", TGC_PART_HEAD, tgc_build_linear_cls_head},
    {"MultiLabelLinearClsHead", TGC_PART_HEAD, tgc_build_multilabel_linear_cls_head},
    {"ClsHead", TGC_PART_HEAD, tgc_build_cls_head},
    {"CrossEntropyLoss", TGC_PART_LOSS, tgc_build_ce_loss},
    {"LabelSmoothLoss", TGC_PART_LOSS, tgc_build_label_smooth_loss},
    {"RetinaNet", TGC_PART_CLASSIFIER, tgc_build_retinanet},
    {"FPN", TGC_PART_NECK, tgc_build_fpn},
    {"RetinaHead", TGC_PART_HEAD, tgc_build_retina_head},
    {"FasterRCNN", TGC_PART_CLASSIFIER, tgc_build_faster_rcnn},
};

int tgc_b_is_detector(const tgc_cfg *model) {
    const tgc_cfg *t = model && model->kind == TGC_CFG_MAP ? tgc_cfg_get(model, "type") : NULL;
    return t && t->kind == TGC_CFG_STR && (!strcmp(t->s, "RetinaNet") || !strcmp(t->s, "FasterRCNN"));
}
const int tgc_n_parts = (int)TGC_ARRAY_LEN(tgc_parts);

const char *tgc_part_kind_name(tgc_part_kind k) {
    static const char *const names[TGC_PART_KIND_COUNT] = {"classifier", "backbone", "neck", "head", "loss"};
    return (unsigned)k < TGC_PART_KIND_COUNT ? names[k] : "?";
}

const tgc_part *tgc_registry_find(tgc_part_kind kind, const char *type) {
    for (int i = 0; i < tgc_n_parts; i++)
        if (tgc_parts[i].kind == kind && !strcmp(tgc_parts[i].type, type)) return &tgc_parts[i];
    return NULL;
}

void tgc_registry_list(tgc_part_kind kind, char *buf, size_t n) {
    size_t len = 0;
    if (n) buf[0] = '\0';
    for (int i = 0; i < tgc_n_parts && len < n; i++)
        if (tgc_parts[i].kind == kind)
            len += (size_t)snprintf(buf + len, n - len, "%s%s", len ? ", " : "", tgc_parts[i].type);
}

/* Whether the message already starts with "FILE:LINE: " (a config error, located where it arose). */
static int is_located(const tgc_err *err) {
    if (!err) return 1;
    const char *m = err->msg, *sp = strchr(m, ' ');
    for (const char *c = m; *c && (!sp || c < sp); c++) {
        if (*c != ':' || !(c[1] >= '0' && c[1] <= '9')) continue;
        const char *d = c + 1;
        while (*d >= '0' && *d <= '9') d++;
        if (*d == ':') return 1;
    }
    return 0;
}

int tgc_registry_build(tgc_bctx *b, tgc_part_kind kind, const tgc_cfg *node, const char *scope,
                       const tgc_feats *in, tgc_feats *out) {
    const char *kname = tgc_part_kind_name(kind);
    if (!node || node->kind != TGC_CFG_MAP)
        return node ? tgc_cfg_fail(b->err, node, "expected a map describing the %s, got %s", kname,
                                   tgc_cfg_kind_name(node->kind))
                    : tgc_fail(b->err, "internal error: no %s config", kname);
    const tgc_cfg *t = tgc_cfg_get(node, "type");
    const char *type = NULL;
    if (tgc_b_type(b->err, node, kname, &type) < 0) return -1;
    const tgc_part *p = tgc_registry_find(kind, type);
    if (!p) {
        char known[512];
        tgc_registry_list(kind, known, sizeof known);
        return tgc_cfg_fail(b->err, t, "unknown %s type '%s' (known %s types: %s)", kname, type, kname, known);
    }
    size_t saved = b->prefix_len;
    if (scope && scope[0]) tgc_b_enter(b, "%s", scope);
    out->n = 0;
    int rc = p->build(b, node, in, out);
    tgc_b_leave(b, saved);
    /* Config errors name their key (under this part's path, or "FILE:LINE:" first); others get located. */
    if (rc < 0 && !is_located(b->err) && !(node->path && node->path[0] && strstr(b->err->msg, node->path))) {
        /* An IR error (say, a shape the op refuses) names the op and its scope; add where in the config
         * the part was described. */
        tgc_err_prefix(b->err, "%s:%d: %s: building %s '%s'", node->file ? node->file : "<config>", node->line,
                       node->path ? node->path : "", kname, type);
    }
    return rc < 0 ? -1 : 0;
}
