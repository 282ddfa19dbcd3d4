"""tests/numerics/torchvision_det.py - torchvision's RetinaNet and Faster R-CNN set up to be compared with tgc's.

Shared by tests/numerics/det_retina_vs_torchvision.py, det_frcnn_vs_torchvision.py (loss terms on a small
canvas) and bench/det_step_vs_torchvision.py (the full configs: step time, peak memory, loss terms). Needs Debian's
python3-torchvision (0.14); every function takes the imported torch.

What "the same model" means here:
  * torchvision's ResNet-FPN backbone as retinanet_resnet50_fpn / fasterrcnn_resnet50_fpn build it for
    pretrained weights: FrozenBatchNorm2d everywhere, trainable_backbone_layers 3 (stem and layer1 frozen),
    FPN on layer2..4 with LastLevelP6P7(256, 256) for RetinaNet (P6 from P5's output, relu before P7). In
    MMDetection's terms: frozen_stages 1, norm_eval, FPN start_level 1, add_extra_convs on_output,
    relu_before_extra_convs. (The affine parameters of the unfrozen stages' batch norms train in MMDetection
    and not in torchvision: the forward pass, so the losses, are the same.)
  * GeneralizedRCNNTransform bypassed: no resize, mean 0 and std 1, so both see the same normalised batch
    (check_transform_identity asserts it changes nothing).
  * Anchors: torchvision's own (sizes int(s * 2^(k/3)), base anchors rounded to integers, level strides
    image_size // feature_size), or MMDetection's (unrounded, strides 8..128), which tgc uses. Faster R-CNN's
    RPN: torchvision's sizes 32..512 with rounded base anchors, or MMDetection's (scale 8 on strides 4..64,
    unrounded).
  * Faster R-CNN's samplers made deterministic where both agree (frcnn_sizes): every candidate taken on both
    sides (torchvision's BalancedPositiveNegativeSampler and MMDetection's RandomSampler with a batch larger
    than the candidates: the sums do not depend on the draw), the same proposal counts per level and image.
"""
import math

# MMDetection's RetinaNet anchor generator (configs/_base_/models/retinanet_r50_fpn.py)
RETINA_STRIDES = (8, 16, 32, 64, 128)
RETINA_RATIOS = (0.5, 1.0, 2.0)
OCTAVE_BASE_SCALE, SCALES_PER_OCTAVE = 4, 3


def tv_anchor_sizes():
    """torchvision's RetinaNet anchor sizes (retinanet.py, _default_anchorgen): int() of each octave scale."""
    return tuple((x, int(x * 2 ** (1.0 / 3)), int(x * 2 ** (2.0 / 3))) for x in [32, 64, 128, 256, 512])


# MMDetection's Faster R-CNN RPN anchor generator (configs/_base_/models/faster-rcnn_r50_fpn.py)
RPN_STRIDES = (4, 8, 16, 32, 64)
RPN_SCALES = (8.0,)


def mmdet_anchors(torch, feat_sizes, strides=RETINA_STRIDES, ratios=RETINA_RATIOS, scales=None):
    """MMDetection's AnchorGenerator (scales, default RetinaNet's octave_base_scale 4 with 3 scales per octave;
    center_offset 0) for the given level sizes [(h, w)], computed as mmdet does in float32: one
    [sum h*w*len(ratios)*len(scales), 4] tensor in its anchor order."""
    if scales is None:
        scales = [OCTAVE_BASE_SCALE * 2 ** (i / SCALES_PER_OCTAVE) for i in range(SCALES_PER_OCTAVE)]
    scales = torch.tensor(scales)
    r = torch.tensor(ratios)
    h_ratios = torch.sqrt(r)
    w_ratios = 1 / h_ratios
    out = []
    for (fh, fw), s in zip(feat_sizes, strides):
        ws = (s * w_ratios[:, None] * scales[None, :]).view(-1)
        hs = (s * h_ratios[:, None] * scales[None, :]).view(-1)
        base = torch.stack([-0.5 * ws, -0.5 * hs, 0.5 * ws, 0.5 * hs], dim=-1)
        sx = torch.arange(0, fw) * s
        sy = torch.arange(0, fh) * s
        yy, xx = torch.meshgrid(sy, sx, indexing="ij")
        shifts = torch.stack([xx.reshape(-1), yy.reshape(-1), xx.reshape(-1), yy.reshape(-1)], dim=-1).float()
        out.append((base[None, :, :] + shifts[:, None, :]).view(-1, 4))
    return torch.cat(out)


def nominal_stride_anchor_generator(torch, mmdet):
    """A torchvision AnchorGenerator on the nominal strides 8..128 (torchvision's own uses image_size //
    feature_size, which differs where the canvas is not a multiple of the stride) for any canvas. mmdet: it
    returns MMDetection's RetinaNet anchors (mmdet_anchors: octave scales unrounded, base anchors unrounded);
    else torchvision's base anchors (sizes int(), corners rounded) on those strides."""
    from torchvision.models.detection.anchor_utils import AnchorGenerator

    class NominalStrideAnchors(AnchorGenerator):
        def __init__(self):
            super().__init__(tv_anchor_sizes(), (RETINA_RATIOS,) * len(RETINA_STRIDES))

        def forward(self, image_list, feature_maps):
            sizes = [tuple(f.shape[-2:]) for f in feature_maps]
            if mmdet:
                a = mmdet_anchors(torch, sizes).to(feature_maps[0].dtype)
            else:
                self.set_cell_anchors(feature_maps[0].dtype, feature_maps[0].device)
                strides = [[torch.tensor(s), torch.tensor(s)] for s in RETINA_STRIDES]
                a = torch.cat(self.grid_anchors([list(s) for s in sizes], strides))
            return [a for _ in range(len(image_list.image_sizes))]

    return NominalStrideAnchors()


def rpn_mmdet_anchor_generator(torch):
    """A torchvision AnchorGenerator that returns MMDetection's RPN anchors (scale 8 on strides 4..64, ratios
    0.5 1 2, unrounded) on any canvas, in place of torchvision's sizes 32..512 with rounded base anchors."""
    from torchvision.models.detection.anchor_utils import AnchorGenerator

    class MMDetRPNAnchors(AnchorGenerator):
        def __init__(self):
            super().__init__(((32,), (64,), (128,), (256,), (512,)), (RETINA_RATIOS,) * len(RPN_STRIDES))

        def forward(self, image_list, feature_maps):
            sizes = [tuple(f.shape[-2:]) for f in feature_maps]
            a = mmdet_anchors(torch, sizes, RPN_STRIDES, RETINA_RATIOS, RPN_SCALES).to(feature_maps[0].dtype)
            return [a for _ in range(len(image_list.image_sizes))]

    return MMDetRPNAnchors()


def fpn_backbone(torch, depth, retina):
    """torchvision's ResNet-FPN as its detection builders make it for pretrained weights (FrozenBatchNorm2d,
    3 trainable layers); RetinaNet: layer2..4 and LastLevelP6P7(256, 256); Faster R-CNN: layer1..4 and max-pool P6."""
    import torchvision
    from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor
    from torchvision.ops import misc as misc_nn_ops
    from torchvision.ops.feature_pyramid_network import LastLevelP6P7
    body = getattr(torchvision.models, "resnet%d" % depth)(weights=None, norm_layer=misc_nn_ops.FrozenBatchNorm2d)
    if retina:
        return _resnet_fpn_extractor(body, 3, returned_layers=[2, 3, 4], extra_blocks=LastLevelP6P7(256, 256))
    return _resnet_fpn_extractor(body, 3)


def bypass_transform(model):
    """GeneralizedRCNNTransform without its resize and normalisation: the batch goes in as given (its
    batch_images still pads to a multiple of 32, which a canvas of multiples of 32 does not change)."""
    t = model.transform
    t.normalize = lambda image: image
    t.resize = lambda image, target=None: (image, target)
    return model


def check_transform_identity(torch, model, images, targets):
    """Asserts that the model's transform hands the images and boxes on unchanged."""
    il, tt = model.transform([i.clone() for i in images], [{k: v.clone() for k, v in t.items()} for t in targets])
    h, w = images[0].shape[-2:]
    if tuple(il.tensors.shape) != (len(images), 3, h, w) or any(tuple(s) != (h, w) for s in il.image_sizes):
        raise AssertionError("torchvision's transform changed the batch shape: %s, %s" % (tuple(il.tensors.shape),
                                                                                         il.image_sizes))
    if not torch.equal(il.tensors, torch.stack(images)):
        raise AssertionError("torchvision's transform changed the pixels")
    for a, b in zip(tt, targets):
        if not torch.equal(a["boxes"], b["boxes"]):
            raise AssertionError("torchvision's transform changed the boxes")


def retinanet(torch, depth, num_classes, anchors="torchvision"):
    """torchvision's RetinaNet (the v1 head of retinanet_resnet50_fpn) on a ResNet-<depth> FPN, transform
    bypassed; anchors "torchvision" (its own generator), "mmdet" (MMDetection's, as tgc) or "tv_nominal"
    (torchvision's base anchors on the nominal strides)."""
    from torchvision.models.detection.retinanet import RetinaNet
    ag = None if anchors == "torchvision" else nominal_stride_anchor_generator(torch, anchors == "mmdet")
    m = RetinaNet(fpn_backbone(torch, depth, True), num_classes, image_mean=[0.0, 0.0, 0.0],
                  image_std=[1.0, 1.0, 1.0], anchor_generator=ag)
    return bypass_transform(m)


def faster_rcnn(torch, num_classes, depth=50, anchors="torchvision", representation_size=1024, **kw):
    """torchvision's fasterrcnn_resnet50_fpn (v1) on a ResNet-<depth> FPN with num_classes foreground classes
    (+ background), transform bypassed; anchors "torchvision" (its own) or "mmdet" (MMDetection's RPN anchors,
    as tgc); the box head's width representation_size (TwoMLPHead); kw: FasterRCNN's own options (sampler
    sizes, proposal counts)."""
    from torchvision.models.detection.faster_rcnn import FasterRCNN, FastRCNNPredictor, TwoMLPHead
    if anchors == "mmdet":
        kw["rpn_anchor_generator"] = rpn_mmdet_anchor_generator(torch)
    if representation_size != 1024:
        kw["box_head"] = TwoMLPHead(256 * 7 * 7, representation_size)
        kw["box_predictor"] = FastRCNNPredictor(representation_size, num_classes + 1)
    m = FasterRCNN(fpn_backbone(torch, depth, False), None if "box_predictor" in kw else num_classes + 1,
                   image_mean=[0.0, 0.0, 0.0], image_std=[1.0, 1.0, 1.0], **kw)
    return bypass_transform(m)


def frcnn_sizes(proposals, max_gts, nms_pre=2000):
    """torchvision's FasterRCNN options that make its step deterministic and equal to an MMDetection config
    with frcnn_mmdet_options(the same arguments): nms_pre candidates per level, `proposals` kept after the NMS
    (0.7), every anchor assigned sampled (a batch larger than any anchor count) and every RoI candidate
    sampled (proposals + ground truth, positive fraction 1)."""
    return dict(rpn_pre_nms_top_n_train=nms_pre, rpn_post_nms_top_n_train=proposals, rpn_pre_nms_top_n_test=nms_pre,
                rpn_post_nms_top_n_test=proposals, rpn_batch_size_per_image=1 << 24, rpn_positive_fraction=0.5,
                box_batch_size_per_image=proposals + max_gts, box_positive_fraction=1.0)


def frcnn_mmdet_options(proposals, max_gts, nms_pre=2000):
    """The tgc --cfg-options of frcnn_sizes: the RPN's RandomSampler num 2^24 (every assigned anchor), nms_pre
    and max_per_img for training and testing (the eval program's proposals are then the train step's), the
    R-CNN's RandomSampler num = proposals + max_gts with pos_fraction 1 (every candidate), tgc_max_gts."""
    return ["model.train_cfg.rpn.sampler.num=%d" % (1 << 24),
            "model.train_cfg.rpn_proposal.nms_pre=%d" % nms_pre,
            "model.train_cfg.rpn_proposal.max_per_img=%d" % proposals,
            "model.test_cfg.rpn.nms_pre=%d" % nms_pre, "model.test_cfg.rpn.max_per_img=%d" % proposals,
            "model.train_cfg.rcnn.sampler.num=%d" % (proposals + max_gts),
            "model.train_cfg.rcnn.sampler.pos_fraction=1.0",
            "model.data_preprocessor.tgc_max_gts=%d" % max_gts]


def calibrate_frozen_bn(torch, model, images):
    """Gives every FrozenBatchNorm2d the statistics of its own input on this batch (one forward pass of the
    backbone, each layer's statistics set before it runs) and random affine weights in [0.5, 1.5) / [-0.1, 0.1):
    a randomly initialised network whose activations stay of order 1, as a trained one's do."""
    from torchvision.ops import misc as misc_nn_ops
    hooks = []

    def pre(mod, inp):
        x = inp[0].detach()
        mod.running_mean.copy_(x.mean(dim=(0, 2, 3)))
        mod.running_var.copy_(x.var(dim=(0, 2, 3), unbiased=False))
        mod.weight.uniform_(0.5, 1.5)
        mod.bias.uniform_(-0.1, 0.1)
    for mod in model.modules():
        if isinstance(mod, misc_nn_ops.FrozenBatchNorm2d):
            hooks.append(mod.register_forward_pre_hook(pre))
    with torch.no_grad():
        model.backbone.body(torch.stack(images))
    for h in hooks:
        h.remove()


def calibrate_background(torch, model, images):
    """Raises the background logit's bias of a Faster R-CNN's classifier by the median over the RPN's proposals
    (eval mode) of (best foreground logit - background logit), so that about half the RoIs are background:
    a random classifier whose top-1 accuracy (MMDetection's acc) is neither 0 nor 100 percent."""
    with torch.no_grad():
        model.eval()
        il, _ = model.transform(images)
        feats = model.backbone(il.tensors)
        props, _ = model.rpn(il, feats)
        rh = model.roi_heads
        scores, _ = rh.box_predictor(rh.box_head(rh.box_roi_pool(feats, props, il.image_sizes)))
        margin = (scores[:, 1:].max(1).values - scores[:, 0]).sort().values
        mid = len(margin) // 2  # between two middle margins, so that no RoI is left on a tie
        rh.box_predictor.cls_score.bias[0] += 0.5 * (margin[mid - 1] + margin[mid])


def _backbone_fpn_name(n):
    """The names both detectors share: backbone.body.* -> backbone.*; fpn.inner_blocks.i.0 ->
    neck.lateral_convs.i.conv; fpn.layer_blocks.i.0 -> neck.fpn_convs.i.conv; None for any other name."""
    if n.startswith("backbone.body."):
        return "backbone." + n[len("backbone.body."):]
    for prefix, mm in (("backbone.fpn.inner_blocks.", "lateral_convs"), ("backbone.fpn.layer_blocks.", "fpn_convs")):
        if n.startswith(prefix):
            i, rest = n[len(prefix):].split(".0.", 1)
            return "neck.%s.%s.conv.%s" % (mm, i, rest)
    return None


def to_mmdet_names(state_dict):
    """torchvision's RetinaNet state dict -> MMDetection's RetinaNet names (ResNet, FPN, RetinaHead), which tgc's
    load_from reads: backbone.body.* -> backbone.*; fpn.inner_blocks.i.0 -> neck.lateral_convs.i.conv;
    fpn.layer_blocks.i.0 -> neck.fpn_convs.i.conv; extra_blocks.p6/p7 -> neck.fpn_convs.3/4.conv;
    head.{classification,regression}_head.conv.i.0 -> bbox_head.{cls,reg}_convs.i.conv; cls_logits ->
    retina_cls; bbox_reg -> retina_reg."""
    out = {}
    for k, v in state_dict.items():
        n = k
        shared = _backbone_fpn_name(n)
        if shared is not None:
            n = shared
        elif n.startswith("backbone.fpn.extra_blocks.p6."):
            n = "neck.fpn_convs.3.conv." + n.rsplit(".", 1)[1]
        elif n.startswith("backbone.fpn.extra_blocks.p7."):
            n = "neck.fpn_convs.4.conv." + n.rsplit(".", 1)[1]
        elif n.startswith("head.classification_head.conv.") or n.startswith("head.regression_head.conv."):
            branch = "cls" if ".classification_head." in n else "reg"
            i, rest = n.split(".conv.", 1)[1].split(".0.", 1)
            n = "bbox_head.%s_convs.%s.conv.%s" % (branch, i, rest)
        elif n.startswith("head.classification_head.cls_logits."):
            n = "bbox_head.retina_cls." + n.rsplit(".", 1)[1]
        elif n.startswith("head.regression_head.bbox_reg."):
            n = "bbox_head.retina_reg." + n.rsplit(".", 1)[1]
        else:
            raise KeyError("no MMDetection name for torchvision's %s" % k)
        out[n] = v.detach().clone().contiguous()
    return out


def frcnn_to_mmdet_names(state_dict):
    """torchvision's Faster R-CNN state dict -> MMDetection's FasterRCNN names (ResNet, FPN, RPNHead,
    Shared2FCBBoxHead), which tgc's load_from reads: backbone.body.* -> backbone.*; fpn.inner_blocks.i.0 ->
    neck.lateral_convs.i.conv; fpn.layer_blocks.i.0 -> neck.fpn_convs.i.conv; rpn.head.conv.0.0 ->
    rpn_head.rpn_conv; cls_logits -> rpn_cls; bbox_pred -> rpn_reg; box_head.fc6/fc7 ->
    bbox_head.shared_fcs.0/1; box_predictor.cls_score -> fc_cls with the background row moved from first
    (torchvision's class 0) to last (MMDetection's class C); box_predictor.bbox_pred -> fc_reg without the
    background's four rows (MMDetection regresses the C foreground classes only)."""
    out = {}
    for k, v in state_dict.items():
        n = k
        v = v.detach().clone()
        shared = _backbone_fpn_name(n)
        if shared is not None:
            n = shared
        elif n.startswith("rpn.head.conv.0.0."):
            n = "rpn_head.rpn_conv." + n.rsplit(".", 1)[1]
        elif n.startswith("rpn.head.cls_logits."):
            n = "rpn_head.rpn_cls." + n.rsplit(".", 1)[1]
        elif n.startswith("rpn.head.bbox_pred."):
            n = "rpn_head.rpn_reg." + n.rsplit(".", 1)[1]
        elif n.startswith("roi_heads.box_head.fc6."):
            n = "roi_head.bbox_head.shared_fcs.0." + n.rsplit(".", 1)[1]
        elif n.startswith("roi_heads.box_head.fc7."):
            n = "roi_head.bbox_head.shared_fcs.1." + n.rsplit(".", 1)[1]
        elif n.startswith("roi_heads.box_predictor.cls_score."):
            n = "roi_head.bbox_head.fc_cls." + n.rsplit(".", 1)[1]
            v = v.roll(-1, 0)  # [bg, c1..cC] -> [c1..cC, bg]
        elif n.startswith("roi_heads.box_predictor.bbox_pred."):
            n = "roi_head.bbox_head.fc_reg." + n.rsplit(".", 1)[1]
            v = v[4:]
        else:
            raise KeyError("no MMDetection name for torchvision's %s" % k)
        out[n] = v.contiguous()
    return out


def synthetic_batch(torch, batch, h, w, num_classes, seed):
    """A normalised batch (N(0, 1) pixels, smoothed so that features vary smoothly) and per image 6 ground-truth
    boxes 24..0.85 min(h, w) pixels wide (positives on every level but the coarsest), labels 0..C-1: lists of
    [3, h, w] tensors and torchvision targets."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, 3, h, w, generator=g)
    x = torch.nn.functional.avg_pool2d(x, 5, 1, 2) * 2.0
    images = [x[i].contiguous() for i in range(batch)]
    targets = []
    side = min(h, w)
    for _ in range(batch):
        boxes = []
        for _ in range(6):
            bw = 24 + float(torch.rand(1, generator=g)) * (0.85 * side - 24)
            bh = bw * math.exp(float(torch.rand(1, generator=g)) * 1.4 - 0.7)
            bh = min(bh, h - 2.0)
            bw = min(bw, w - 2.0)
            x1 = float(torch.rand(1, generator=g)) * (w - bw - 1)
            y1 = float(torch.rand(1, generator=g)) * (h - bh - 1)
            boxes.append([x1, y1, x1 + bw, y1 + bh])
        labels = torch.randint(0, num_classes, (6,), generator=g)
        targets.append({"boxes": torch.tensor(boxes, dtype=torch.float32), "labels": labels})
    return images, targets


def retina_losses(torch, model, images, targets):
    """One training forward of a torchvision RetinaNet; returns its loss dict (its normaliser: per image by
    max(1, positives), then the mean over images) and, from the same head outputs, the per-image sums and
    counts: "mmdet_cls"/"mmdet_bbox" are the sums over the batch divided by the sum of max(1, positives) per image,
    MMDetection's (and tgc's) avg_factor; "targets" the assignment in tgc's encoding (class of a positive,
    num_classes for a negative, -1 ignored), [N, A]."""
    from torchvision.ops import box_iou
    seen = {}
    head = model.head
    orig = model.compute_loss

    def capture(tg, head_outputs, anchors):
        r = orig(tg, head_outputs, anchors)
        matched = []
        for a, t in zip(anchors, tg):
            matched.append(model.proposal_matcher(box_iou(t["boxes"], a)))
        cls_i, box_i, npos = [], [], []
        for i, (t, m) in enumerate(zip(tg, matched)):
            one = {k: v[i:i + 1] for k, v in head_outputs.items()}
            n = max(1, int((m >= 0).sum()))
            cls_i.append(float(head.classification_head.compute_loss([t], one, [m])) * n)
            box_i.append(float(head.regression_head.compute_loss([t], one, [anchors[i]], [m])) * n)
            npos.append(int((m >= 0).sum()))
        seen.update(matched=matched, cls_sum=cls_i, box_sum=box_i, num_pos=npos, anchors=anchors[0].detach())
        return r
    model.compute_loss = capture
    try:
        model.train()
        out = model(images, targets)
    finally:
        model.compute_loss = orig
    avg = sum(max(1, n) for n in seen["num_pos"])
    C = head.classification_head.num_classes
    enc = []
    for t, m in zip(targets, seen["matched"]):
        e = torch.full_like(m, C, dtype=torch.int32)
        e[m == -2] = -1
        pos = m >= 0
        e[pos] = t["labels"][m[pos]].to(torch.int32)
        enc.append(e)
    return {"classification": float(out["classification"]), "bbox_regression": float(out["bbox_regression"]),
            "mmdet_cls": sum(seen["cls_sum"]) / avg, "mmdet_bbox": sum(seen["box_sum"]) / avg,
            "num_pos": seen["num_pos"], "targets": torch.stack(enc), "anchors": seen["anchors"]}


def frcnn_step(torch, model, images, targets, proposals=None):
    """One training forward of a torchvision Faster R-CNN (labels in `targets` 1..C, 0 the background), in
    its parts: the backbone, the RPN (its losses, proposals, anchors and per-anchor labels: 1 positive, 0
    negative, -1 between the thresholds), then the RoI heads on the RPN's proposals or on the given ones
    (a list of [n_i, 4] tensors). Returns the four loss terms, acc (top-1 percent over the sampled RoIs, as
    MMDetection logs it), the RoI count and positives, the proposals used and the RPN's own, the RPN's labels,
    each anchor's matched gt box and the RPN's deltas ([N * A, 4], image-major)."""
    seen = {}
    rpn, rh = model.rpn, model.roi_heads
    orig_assign, orig_select, orig_pred = rpn.assign_targets_to_anchors, rh.select_training_samples, rh.box_predictor
    orig_loss = rpn.compute_loss

    def rpn_loss(objectness, deltas, labels, regression_targets):
        seen["rpn_deltas"] = deltas.detach()
        return orig_loss(objectness, deltas, labels, regression_targets)

    def assign(anchors, tg):
        labels, boxes = orig_assign(anchors, tg)
        seen.update(rpn_labels=torch.stack(labels), anchors=anchors[0].detach(), rpn_gt=torch.stack(boxes))
        return labels, boxes

    def select(props, tg):
        r = orig_select(props, tg)
        seen["roi_labels"] = torch.cat(r[2])
        return r

    class Capture(torch.nn.Module):
        def forward(self, x):
            scores, deltas = orig_pred(x)
            seen["class_logits"] = scores.detach()
            return scores, deltas
    rpn.assign_targets_to_anchors, rh.select_training_samples, rh.box_predictor = assign, select, Capture()
    rpn.compute_loss = rpn_loss
    try:
        model.train()
        il, tg = model.transform(images, targets)
        feats = model.backbone(il.tensors)
        own, rpn_losses = rpn(il, feats, tg)
        used = own if proposals is None else proposals
        _, roi_losses = rh(feats, used, il.image_sizes, tg)
    finally:
        rpn.assign_targets_to_anchors, rh.select_training_samples, rh.box_predictor = orig_assign, orig_select, orig_pred
        rpn.compute_loss = orig_loss
    labels = seen["roi_labels"]
    acc = float((seen["class_logits"].argmax(1) == labels).float().mean() * 100)
    return {"loss_rpn_cls": float(rpn_losses["loss_objectness"]), "loss_rpn_bbox": float(rpn_losses["loss_rpn_box_reg"]),
            "loss_cls": float(roi_losses["loss_classifier"]), "loss_bbox": float(roi_losses["loss_box_reg"]), "acc": acc,
            "rois": int(labels.numel()), "roi_pos": int((labels > 0).sum()), "rpn_labels": seen["rpn_labels"],
            "rpn_gt": seen["rpn_gt"], "rpn_deltas": seen["rpn_deltas"],
            "anchors": seen["anchors"], "proposals": [p.detach() for p in used], "rpn_proposals": [p.detach() for p in own]}


def frcnn_against_tgc(torch, np, model, images, targets, t_out, num_classes):
    """The figures of a tgc Faster R-CNN step (tgc_step_harness's output t_out, run --eval-first on the same
    weights, batch and ground truth, with frcnn_mmdet_options) against this torchvision model (frcnn_sizes,
    MMDetection's anchors; targets with labels 1..C): tgc's terms; torchvision's end to end ("own") and with
    its RoI heads on tgc's proposals (the eval program's det_out rows: "fed"); the anchors' largest
    difference; RPN anchors assigned differently; positives per image; proposals per image (tgc,
    torchvision) and tgc's not within 1e-3 px + 1e-5 max(h, w) of one of torchvision's, the largest distance of
    one of tgc's to its nearest; the RPN positives whose box target differs (torchvision encodes the anchor's own best gt; in a
    low-quality match MMDetection encodes the gt it is best for) and torchvision's loss_rpn_bbox on tgc's box
    targets instead ("tv_rpn_bbox_mmdet_targets"); the R-CNN head outputs on tgc's proposals
    against torchvision's (largest difference / largest magnitude, class logits and deltas)."""
    terms = ("loss_rpn_cls", "loss_rpn_bbox", "loss_cls", "loss_bbox", "acc")
    res = {"tgc": {k: float(t_out["step1/" + k]) for k in terms}, "tgc_loss": float(t_out["step1/loss"])}
    det = t_out["eval.logits"]
    n, C = det.shape[0], num_classes
    props, t_logits, t_deltas = [], [], []
    for b in range(n):
        v = det[b, :, 4] > 0
        props.append(torch.from_numpy(det[b, v, :4].copy()))
        t_logits.append(det[b, v, 5:6 + C])
        t_deltas.append(det[b, v, 6 + C:])
    own = frcnn_step(torch, model, images, targets)
    fed = frcnn_step(torch, model, images, targets, proposals=props)
    res["own"], res["fed"] = own, fed
    h, w = images[0].shape[-2:]
    with torch.no_grad():
        model.eval()
        feats = model.backbone(torch.stack(images))
        rh = model.roi_heads
        sc, dl = rh.box_predictor(rh.box_head(rh.box_roi_pool(feats, props, [(h, w)] * n)))
    ref_l, ref_d = sc.roll(-1, 1).numpy(), dl[:, 4:].numpy()  # MMDetection's class order, no background box
    got_l, got_d = np.concatenate(t_logits), np.concatenate(t_deltas)
    res["head_err"] = (float(np.abs(got_l - ref_l).max() / np.abs(ref_l).max()),
                       float(np.abs(got_d - ref_d).max() / np.abs(ref_d).max()))
    res["anchor_diff_px"] = float(np.abs(t_out["anchors"] - own["anchors"].numpy()).max())
    tvl = own["rpn_labels"]
    enc = torch.full_like(tvl, -1, dtype=torch.int32)  # tgc's encoding: 0 positive, 1 negative, -1 not sampled
    enc[tvl == 1] = 0
    enc[tvl == 0] = 1
    res["assign_diff"] = int((torch.from_numpy(t_out["cls_target"]) != enc).sum())
    res["num_pos"] = ([int(v) for v in t_out["num_pos"]], [int((tvl[b] == 1).sum()) for b in range(n)])
    res["rpn_assigned"] = int(t_out["avg_factor"])
    # float32 coordinates up to the canvas size: a few ulps of max(h, w) apart in two libraries' decodes
    tol = 1e-3 + 1e-5 * max(h, w)
    unmatched, counts, nearest = 0, [], [0.0]
    for a, r in zip(props, own["rpn_proposals"]):
        counts.append((len(a), len(r)))
        if len(a) and len(r):
            near = (a[:, None, :] - r[None, :, :]).abs().amax(-1).amin(1)
            unmatched += int((near > tol).sum())
            nearest.append(float(near.max()))
        else:
            unmatched += len(a)
    res["proposal_counts"], res["proposals_unmatched"], res["proposal_tol"] = counts, unmatched, tol
    res["proposal_max_dist"] = max(nearest)
    # the RPN's box targets: torchvision's (its matched gt, encoded on the anchors) against tgc's, at the positives
    from torchvision.models.detection._utils import BoxCoder
    coder = BoxCoder((1.0, 1.0, 1.0, 1.0))
    pos = tvl == 1
    tv_t = torch.stack([coder.encode_single(own["rpn_gt"][b], own["anchors"]) for b in range(n)])
    d = (torch.from_numpy(t_out["bbox_target"]) - tv_t).abs().amax(-1)[pos]
    res["rpn_target_diff"] = int((d > 1e-4).sum())
    # torchvision's loss_rpn_bbox on tgc's box targets (MMDetection's gt for a low-quality match)
    flat = pos.reshape(-1)
    tgt = torch.from_numpy(t_out["bbox_target"]).reshape(-1, 4)
    res["tv_rpn_bbox_mmdet_targets"] = float(torch.nn.functional.smooth_l1_loss(
        own["rpn_deltas"][flat], tgt[flat], beta=1.0 / 9, reduction="sum") / int((tvl >= 0).sum()))
    return res
