"""tests/numerics/torch_models.py - PyTorch twins of tgc's models, with MMPretrain's state-dict names.

build(cfg) takes the resolved config (a dict: `tgc compile CFG --print-config`, parsed by load_config)
and returns an nn.Module whose state_dict keys equal the plan's PARAM/BUFFER names (plus BN's
num_batches_tracked, which tgc does not keep): ImageClassifier with ResNet / ResNet_CIFAR (BasicBlock,
Bottleneck) or LeNet5 backbones, the GlobalAveragePooling neck, LinearClsHead / ClsHead and
CrossEntropyLoss / LabelSmoothLoss (loss_weight, label smoothing in both modes, use_sigmoid). forward(x) gives the
scores; loss(scores, labels) the training loss. optimizer(cfg, model) is torch.optim's SGD or AdamW with
MMEngine's paramwise_cfg param groups (param_groups). The ReLUs go through relu() and KINKS, which can
record their inputs and flip chosen mask elements (step_vs_torch.py's handling of ReLU inputs at 0).
"""
import subprocess

import math

import torch
from torch import nn
import torch.nn.functional as F

ARCHS = {18: ("basic", (2, 2, 2, 2)), 34: ("basic", (3, 4, 6, 3)), 50: ("bottleneck", (3, 4, 6, 3)),
         101: ("bottleneck", (3, 4, 23, 3)), 152: ("bottleneck", (3, 8, 36, 3))}


# ---- the resolved config --------------------------------------------------------------------------

def _scalar(s):
    s = s.strip()
    if s in ("null", "~", ""):
        return None
    if s in ("true", "True"):
        return True
    if s in ("false", "False"):
        return False
    if len(s) >= 2 and s[0] == s[-1] and s[0] in "'\"":
        return s[1:-1]
    if s.startswith("[") and s.endswith("]"):
        return [_scalar(p) for p in s[1:-1].split(",") if p.strip()]
    for conv in (int, float):
        try:
            return conv(s)
        except ValueError:
            pass
    return s


def _parse_block(lines, i, indent):
    """Parses the block-style YAML subset tgc's --print-config writes (maps, '- ' lists, plain scalars)."""
    if lines[i][1].startswith("- "):
        out = []
        while i < len(lines) and lines[i][0] == indent and lines[i][1].startswith("- "):
            body = lines[i][1][2:]
            if ":" in body and not body.startswith(("'", '"')) and (body.endswith(":") or ": " in body):
                # a map item whose first key is on the dash line: re-indent it as a map block
                lines[i] = (indent + 2, body)
                v, i = _parse_block(lines, i, indent + 2)
            else:
                v, i = _scalar(body), i + 1
            out.append(v)
        return out, i
    out = {}
    while i < len(lines) and lines[i][0] == indent and not lines[i][1].startswith("- "):
        key, _, rest = lines[i][1].partition(":")
        rest = rest.strip()
        i += 1
        if rest:
            out[key.strip()] = _scalar(rest)
        elif i < len(lines) and (lines[i][0] > indent or (lines[i][0] == indent and lines[i][1].startswith("- "))):
            out[key.strip()], i = _parse_block(lines, i, lines[i][0])
        else:
            out[key.strip()] = None
    return out, i


def parse_yaml_subset(text):
    lines = []
    for raw in text.splitlines():
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        lines.append((len(raw) - len(raw.lstrip(" ")), raw.strip()))
    if not lines:
        return {}
    cfg, _ = _parse_block(lines, 0, lines[0][0])
    return cfg


def load_config(tgc, config_path, plan_path):
    """Compiles config_path to plan_path and returns the resolved config (bases merged) as a dict, through
    `tgc compile --print-config`. (Never -o /dev/null: the plan is written atomically by rename, which
    would replace /dev/null itself when run as root.)"""
    out = subprocess.run([tgc, "compile", config_path, "--print-config", "-o", plan_path], check=True,
                         capture_output=True, text=True).stdout
    try:
        import yaml  # PyYAML when present; the subset parser otherwise
        return yaml.safe_load(out)
    except ImportError:
        return parse_yaml_subset(out)


# ---- ReLU with mask flips -------------------------------------------------------------------------

class Kinks:
    """The twin's ReLUs, numbered by call order within one forward (reset() before each): when `record`
    is a list, each ReLU's input is appended to it; `flips` maps a call number to flat element indices
    whose mask (x > 0) is inverted, so that the reference can take the other side of a ReLU input that
    float rounding puts on either side of 0 (tests/numerics/step_vs_torch.py). Off by default."""

    def __init__(self):
        self.record, self.flips, self.calls = None, {}, 0

    def reset(self, record=None, flips=None):
        self.record, self.flips, self.calls = record, flips or {}, 0


KINKS = Kinks()


def relu(x):
    k = KINKS
    i = k.calls
    k.calls += 1
    if k.record is not None:
        k.record.append(x.detach())
    idx = k.flips.get(i)
    if idx is None:
        return F.relu(x)
    mask = (x > 0).reshape(-1).clone()
    mask[idx] = ~mask[idx]
    return x * mask.reshape(x.shape).to(x.dtype)


# ---- ResNet ---------------------------------------------------------------------------------------

def num(v):
    """A number from the config: the YAML dump writes floats such as 1e-08, which PyYAML reads as str."""
    return float(v) if isinstance(v, str) else v


def _bn(c, norm):
    return nn.BatchNorm2d(c, eps=norm["eps"], momentum=norm["momentum"])


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride, dil, downsample, norm):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, dil, dil, bias=False)
        self.bn1 = _bn(cout, norm)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = _bn(cout, norm)
        self.downsample = downsample

    def forward(self, x):
        y = relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return relu(y + (self.downsample(x) if self.downsample is not None else x))


def _make_divisible(value, divisor, min_ratio=0.9):
    new = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return new + divisor if new < min_ratio * value else new


class SELayer(nn.Module):
    """MMPretrain's SELayer: GAP, 1x1 conv + ReLU, 1x1 conv + sigmoid, x scaled per channel."""

    def __init__(self, c, ratio):
        super().__init__()
        sq = _make_divisible(c // ratio, 8)
        self.conv1, self.conv2 = nn.Module(), nn.Module()
        self.conv1.conv = nn.Conv2d(c, sq, 1)
        self.conv2.conv = nn.Conv2d(sq, c, 1)

    def forward(self, x):
        g = x.mean(dim=(2, 3), keepdim=True)
        g = torch.sigmoid(self.conv2.conv(relu(self.conv1.conv(g))))
        return x * g


class Bottleneck(nn.Module):
    def __init__(self, cin, cout, stride, dil, downsample, norm, expansion, caffe, groups=1, wpg=4, base=64,
                 se_ratio=0):
        super().__init__()
        mid = cout // expansion
        if groups != 1:  # ResNeXt's widened, grouped middle
            mid = groups * wpg * mid // base
        s1, s2 = (stride, 1) if caffe else (1, stride)
        self.conv1 = nn.Conv2d(cin, mid, 1, s1, bias=False)
        self.bn1 = _bn(mid, norm)
        self.conv2 = nn.Conv2d(mid, mid, 3, s2, dil, dil, groups=groups, bias=False)
        self.bn2 = _bn(mid, norm)
        self.conv3 = nn.Conv2d(mid, cout, 1, bias=False)
        self.bn3 = _bn(cout, norm)
        self.se_layer = SELayer(cout, se_ratio) if se_ratio else None
        self.downsample = downsample

    def forward(self, x):
        y = relu(self.bn1(self.conv1(x)))
        y = relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        if self.se_layer is not None:
            y = self.se_layer(y)
        return relu(y + (self.downsample(x) if self.downsample is not None else x))


def _conv_module(cin, cout, stride, norm):
    m = nn.Module()
    m.conv = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
    m.bn = _bn(cout, norm)
    return m


class ResNet(nn.Module):
    """MMPretrain's ResNet (cifar=False) and ResNet_CIFAR (cifar=True), from the backbone config; the
    variants' fixed options (ResNetV1c/V1d) and Bottlenecks (ResNeXt, SEResNet, SEResNeXt) by type."""

    def __init__(self, c, cifar):
        super().__init__()
        kind, blocks = ARCHS[c["depth"]]
        ns = c.get("num_stages", 4)
        self.bottleneck = kind == "bottleneck"
        expansion = c.get("expansion") or (4 if self.bottleneck else 1)
        strides = c.get("strides") or [1, 2, 2, 2]
        dils = c.get("dilations") or [1, 1, 1, 1]
        oi = c.get("out_indices", [3])
        self.out_stages = {(i + ns) % ns for i in (oi if isinstance(oi, list) else [oi])}
        nc = c.get("norm_cfg") or {}
        norm = {"eps": num(nc.get("eps", 1e-5)), "momentum": num(nc.get("momentum", 0.1))}
        caffe = c.get("style", "pytorch") == "caffe"
        avg_down = bool(c.get("avg_down", False))
        t = c["type"]
        if t in ("ResNetV1c", "ResNetV1d"):
            c = dict(c, deep_stem=True)
            avg_down = t == "ResNetV1d"
        groups = c.get("groups", 32) if t in ("ResNeXt", "SEResNeXt") else 1
        wpg = c.get("width_per_group", 4)
        se_ratio = c.get("se_ratio", 16) if t in ("SEResNet", "SEResNeXt") else 0
        cin, stem = c.get("in_channels", 3), c.get("stem_channels", 64)
        base = c.get("base_channels", 64)
        self.cifar, self.deep_stem = cifar, bool(c.get("deep_stem", False))
        if self.deep_stem:
            self.stem = nn.Sequential(_conv_module(cin, stem // 2, 2, norm), _conv_module(stem // 2, stem // 2, 1, norm),
                                      _conv_module(stem // 2, stem, 1, norm))
        elif cifar:
            self.conv1 = nn.Conv2d(cin, stem, 3, 1, 1, bias=False)
            self.bn1 = _bn(stem, norm)
        else:
            self.conv1 = nn.Conv2d(cin, stem, 7, 2, 3, bias=False)
            self.bn1 = _bn(stem, norm)
        self.n_stages = ns
        inc, outc = stem, base * expansion
        for i in range(ns):
            layer = []
            for j in range(blocks[i]):
                s = strides[i] if j == 0 else 1
                ds = None
                if s != 1 or inc != outc:
                    mods = []
                    if avg_down and s != 1:
                        mods.append(nn.AvgPool2d(s, s, ceil_mode=True, count_include_pad=False))
                    mods += [nn.Conv2d(inc, outc, 1, 1 if (avg_down and s != 1) else s, bias=False), _bn(outc, norm)]
                    ds = nn.Sequential(*mods)
                if self.bottleneck:
                    layer.append(Bottleneck(inc, outc, s, dils[i], ds, norm, expansion, caffe, groups, wpg, base,
                                            se_ratio))
                else:
                    layer.append(BasicBlock(inc, outc, s, dils[i], ds, norm))
                inc = outc
            setattr(self, "layer%d" % (i + 1), nn.Sequential(*layer))
            outc *= 2

    def forward(self, x):
        if self.deep_stem:
            for m in self.stem:
                x = relu(m.bn(m.conv(x)))
        else:
            x = relu(self.bn1(self.conv1(x)))
        if not self.cifar:
            x = F.max_pool2d(x, 3, 2, 1)
        outs = []
        for i in range(self.n_stages):
            x = getattr(self, "layer%d" % (i + 1))(x)
            if i in self.out_stages:
                outs.append(x)
        return tuple(outs)


# ---- LeNet5 ---------------------------------------------------------------------------------------

class LeNet5(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.num_classes = c.get("num_classes", -1)
        self.features = nn.Sequential(nn.Conv2d(1, 6, 5), nn.Tanh(), nn.AvgPool2d(2), nn.Conv2d(6, 16, 5), nn.Tanh(),
                                      nn.AvgPool2d(2), nn.Conv2d(16, 120, 5), nn.Tanh())
        if self.num_classes > 0:
            self.classifier = nn.Sequential(nn.Linear(120, 84), nn.Tanh(), nn.Linear(84, self.num_classes))

    def forward(self, x):
        x = self.features(x)
        if self.num_classes > 0:
            x = self.classifier(x.reshape(x.shape[0], 120))
        return (x,)


# ---- heads and the classifier ---------------------------------------------------------------------

class LinearHead(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.fc = nn.Linear(c["in_channels"], c["num_classes"])

    def forward(self, feats):
        return self.fc(feats[-1])


class PlainHead(nn.Module):
    def forward(self, feats):
        return feats[-1]


class ImageClassifier(nn.Module):
    def __init__(self, model_cfg):
        super().__init__()
        bb, head = model_cfg["backbone"], model_cfg["head"]
        if bb["type"] in ("ResNet", "ResNet_CIFAR", "ResNetV1c", "ResNetV1d", "ResNeXt", "SEResNet", "SEResNeXt"):
            self.backbone = ResNet(bb, bb["type"] == "ResNet_CIFAR")
        elif bb["type"] == "LeNet5":
            self.backbone = LeNet5(bb)
        else:
            raise ValueError("no torch twin for backbone %s" % bb["type"])
        neck = model_cfg.get("neck")
        if neck and neck.get("type") != "GlobalAveragePooling":
            raise ValueError("no torch twin for neck %s" % neck.get("type"))
        self.gap = bool(neck)
        if head["type"] == "LinearClsHead":
            self.head = LinearHead(head)
        elif head["type"] == "ClsHead":
            self.head = PlainHead()
        else:
            raise ValueError("no torch twin for head %s" % head["type"])
        loss = head.get("loss") or {"type": "CrossEntropyLoss"}
        self.loss_weight = float(num(loss.get("loss_weight", 1.0)))
        s = float(num(loss.get("label_smooth_val", 0.0) or 0.0))
        if loss["type"] == "LabelSmoothLoss" and loss.get("mode", "original") == "classy_vision":
            s = s / (1 + s)
        self.smooth = s
        self.sigmoid = bool(loss.get("use_sigmoid", False))

    def forward(self, x):
        feats = self.backbone(x)
        if self.gap:
            feats = tuple(f.mean(dim=(2, 3)) for f in feats)
        return self.head(feats)

    def loss(self, scores, labels):
        """Hard labels [N], or soft targets [N, C] (batch augments): torch smooths both as (1-s)*t + s/C."""
        target = labels if labels.is_floating_point() else labels.long()
        if self.sigmoid:  # use_sigmoid: BCE with logits on (1-s)*t + s/C (t one-hot or soft), mean over N*C
            t = target if target.is_floating_point() else F.one_hot(target, scores.shape[1]).float()
            q = t * (1 - self.smooth) + self.smooth / scores.shape[1]
            return self.loss_weight * F.binary_cross_entropy_with_logits(scores, q)
        return self.loss_weight * F.cross_entropy(scores, target, label_smoothing=self.smooth)


def build(cfg):
    m = cfg["model"]
    if m.get("type") != "ImageClassifier":
        raise ValueError("no torch twin for model %s" % m.get("type"))
    return ImageClassifier(m)


def param_groups(cfg, model):
    """MMEngine's DefaultOptimWrapperConstructor: one param group per parameter of `model`, with lr =
    lr * lr_mult and weight_decay = weight_decay * decay_mult from optim_wrapper.paramwise_cfg, and the
    multiplier under "lr_mult" (so a caller that overrides the lr can keep it). Precedence as MMEngine's
    add_params: the longest matching custom key (ties alphabetically; a substring of the full name
    'backbone.layer1.0.conv1.weight') sets both multipliers (a missing one is 1); otherwise bias_lr_mult
    for a 'bias' outside norm layers, and the first of norm_decay_mult (BatchNorm), bias_decay_mult
    ('bias'), dwconv_decay_mult (a Conv2d whose groups equal its in_channels: MMEngine's test, which
    also holds for an ordinary conv on 1 input channel), flat_decay_mult (1-d) that is set. Without a
    weight_decay in the optimizer config (MMEngine's base_wd is None) no decay multiplier applies and
    the optimizer's default decay is used as is (MMEngine refuses decay multipliers then)."""
    o = cfg["optim_wrapper"]["optimizer"]
    pw = cfg["optim_wrapper"].get("paramwise_cfg") or {}
    base_lr = num(o.get("lr", 1e-3))
    base_wd = num(o["weight_decay"]) if o.get("weight_decay") is not None else None
    ck = {k: (v or {}) for k, v in (pw.get("custom_keys") or {}).items()}
    keys = sorted(sorted(ck), key=len, reverse=True)

    def mult(k):
        v = pw.get(k)
        return None if v is None else float(num(v))

    bias_lr, norm_m, bias_m = mult("bias_lr_mult"), mult("norm_decay_mult"), mult("bias_decay_mult")
    dw_m, flat_m = mult("dwconv_decay_mult"), mult("flat_decay_mult")
    groups = []
    for mname, m in model.named_modules():
        is_norm = isinstance(m, (nn.modules.batchnorm._BatchNorm, nn.modules.instancenorm._InstanceNorm,
                                 nn.GroupNorm, nn.LayerNorm))
        is_dw = isinstance(m, nn.Conv2d) and m.in_channels == m.groups
        for pname, p in m.named_parameters(recurse=False):
            full = "%s.%s" % (mname, pname) if mname else pname
            lr_mult, decay_mult = 1.0, 1.0
            key = next((k for k in keys if k in full), None)
            if key is not None:
                lr_mult = float(num(ck[key].get("lr_mult", 1.0)))
                decay_mult = float(num(ck[key].get("decay_mult", 1.0)))
            else:
                if pname == "bias" and not is_norm and bias_lr is not None:
                    lr_mult = bias_lr
                if is_norm and norm_m is not None:
                    decay_mult = norm_m
                elif pname == "bias" and bias_m is not None:
                    decay_mult = bias_m
                elif is_dw and dw_m is not None:
                    decay_mult = dw_m
                elif p.ndim == 1 and flat_m is not None:
                    decay_mult = flat_m
            g = {"params": [p], "name": full, "lr": base_lr * lr_mult, "lr_mult": lr_mult}
            if base_wd is not None:
                g["weight_decay"] = base_wd * decay_mult
            groups.append(g)
    return groups


def optimizer(cfg, params):
    """torch.optim twin of optim_wrapper.optimizer (SGD or AdamW, PyTorch's defaults as tgc's). `params`:
    the model (an nn.Module: paramwise_cfg applies, see param_groups) or an iterable of parameters (one
    group, paramwise_cfg ignored)."""
    o = cfg["optim_wrapper"]["optimizer"]
    if isinstance(params, nn.Module):
        params = param_groups(cfg, params)
    if o["type"] == "SGD":
        return torch.optim.SGD(params, lr=num(o["lr"]), momentum=num(o.get("momentum", 0) or 0),
                               dampening=num(o.get("dampening", 0) or 0),
                               weight_decay=num(o.get("weight_decay", 0) or 0), nesterov=bool(o.get("nesterov", False)))
    if o["type"] in ("AdamW", "Adam"):
        betas = tuple(num(b) for b in (o.get("betas") or (0.9, 0.999)))
        wd = o.get("weight_decay")
        cls, wd_def = (torch.optim.AdamW, 0.01) if o["type"] == "AdamW" else (torch.optim.Adam, 0.0)
        return cls(params, lr=num(o.get("lr", 1e-3)), betas=betas, eps=num(o.get("eps", 1e-8)),
                   weight_decay=num(wd) if wd is not None else wd_def)
    if o["type"] == "Lamb":
        betas = tuple(num(b) for b in (o.get("betas") or (0.9, 0.999)))
        wd = o.get("weight_decay")
        return Lamb(params, lr=num(o.get("lr", 1e-3)), betas=betas, eps=num(o.get("eps", 1e-6)),
                    weight_decay=num(wd) if wd is not None else 0.01, max_grad_norm=num(o.get("max_grad_norm", 1.0)),
                    trust_clip=bool(o.get("trust_clip", False)), always_adapt=bool(o.get("always_adapt", False)))
    if o["type"] == "RMSprop":
        return torch.optim.RMSprop(params, lr=num(o.get("lr", 1e-2)), alpha=num(o.get("alpha", 0.99)),
                                   eps=num(o.get("eps", 1e-8)), weight_decay=num(o.get("weight_decay", 0) or 0),
                                   momentum=num(o.get("momentum", 0) or 0))
    raise ValueError("no torch twin for optimizer %s" % o["type"])


class Lamb(torch.optim.Optimizer):
    """LAMB as MMPretrain's optimizer defines it (bias-corrected Adam moments; the gradients first divided
    by max(1, global_norm / max_grad_norm), the norm taken over every gradient before any update; the
    direction m_hat / (sqrt(v_hat) + eps) plus weight_decay * p; scaled by the trust ratio ||p|| / ||dir||,
    1 when either norm is 0, at most 1 with trust_clip, and only for parameters with weight decay unless
    always_adapt), written here from that definition for the comparison."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.01, max_grad_norm=1.0,
                 trust_clip=False, always_adapt=False):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      trust_clip=trust_clip, always_adapt=always_adapt))
        self.max_grad_norm = max_grad_norm
        self.t = 0

    @torch.no_grad()
    def step(self, closure=None):
        live = [p for g in self.param_groups for p in g["params"] if p.grad is not None]
        sq = torch.zeros(1)
        for p in live:
            sq += (p.grad * p.grad).sum()
        norm = sq.sqrt()
        limit = torch.tensor(float(self.max_grad_norm))
        divisor = norm / limit if bool(norm > limit) else torch.ones(1)
        self.t += 1
        for group in self.param_groups:
            b1, b2 = group["betas"]
            c1, c2 = 1.0 - b1 ** self.t, 1.0 - b2 ** self.t
            wd = group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad / divisor
                st = self.state[p]
                if not st:
                    st["exp_avg"] = torch.zeros_like(p)
                    st["exp_avg_sq"] = torch.zeros_like(p)
                m, v = st["exp_avg"], st["exp_avg_sq"]
                m.mul_(b1).add_(g, alpha=1.0 - b1)
                v.mul_(b2).addcmul_(g, g, value=1.0 - b2)
                d = (m / c1) / (v.sqrt() / math.sqrt(c2) + group["eps"])
                if wd != 0:
                    d.add_(p, alpha=wd)
                if wd != 0 or group["always_adapt"]:
                    pn, dn = p.norm(2.0), d.norm(2.0)
                    ratio = pn / dn if bool(pn > 0) and bool(dn > 0) else torch.ones(())
                    if group["trust_clip"]:
                        ratio = torch.clamp(ratio, max=1.0)
                    d.mul_(ratio)
                p.add_(d, alpha=-group["lr"])


def clip_grads(cfg, params):
    """optim_wrapper.clip_grad applied to the parameters' .grad as MMEngine's OptimWrapper does in step()."""
    c = cfg["optim_wrapper"].get("clip_grad")
    if not c:
        return
    c = dict(c)
    kind = c.pop("type", "norm")
    live = [p for p in params if p.grad is not None]
    if kind == "value":
        torch.nn.utils.clip_grad_value_(live, num(c["clip_value"]))
    else:
        nt = c.get("norm_type", 2.0)
        torch.nn.utils.clip_grad_norm_(live, num(c["max_norm"]), norm_type=float(nt) if nt != "inf" else float("inf"))


def accumulation(cfg, steps):
    """[(loss factor, updates)] of each step 1..steps, as MMEngine's OptimWrapper with accumulative_counts N
    over a loop of `steps` iterations (the last incomplete group divides by steps % N)."""
    n = int(cfg["optim_wrapper"].get("accumulative_counts", 1) or 1)
    rem = steps % n
    return [(n if (s - 1) < steps - rem else rem, s % n == 0 or s == steps) for s in range(1, steps + 1)]


def optim_state_names(cfg):
    """The per-parameter state keys, as tgc names them optimizer.<param>.<key>."""
    o = cfg["optim_wrapper"]["optimizer"]
    if o["type"] == "SGD":
        return ["momentum_buffer"] if num(o.get("momentum", 0) or 0) > 0 else []
    if o["type"] == "RMSprop":  # tgc keeps a (zero) momentum buffer even without momentum
        return ["square_avg", "momentum_buffer"] if num(o.get("momentum", 0) or 0) > 0 else ["square_avg"]
    return ["exp_avg", "exp_avg_sq"]


def synthetic_setup(cfg, shape, threads):
    """For the benchmarks: the model in training mode, its optimizer, and a fixed synthetic batch
    (images uniform in [-1, 1), labels cycling over the classes), with torch seeded and threads set."""
    import torch
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = build(cfg)
    model.train()
    opt = optimizer(cfg, model)
    x = torch.rand(*shape) * 2 - 1
    with torch.no_grad():
        classes = model(x[:1]).shape[1]
    y = torch.arange(shape[0]) % classes
    return model, opt, x, y
