#!/usr/bin/env python3
"""bench_torch.py: the workloads of bench/bench.c in PyTorch, one per process.

usage: bench_torch.py WORKLOAD [--iters N] [--threads T]

Prints the same JSON line as atelier_bench (name, ms = median of N timed iterations after
2 warm-ups, gflop counted the same way, peak_rss_mb from getrusage, times_ms and warmup_ms
listing the timed and the warm-up iterations). The models are written here, as the
references define them (torchvision's vgg19().features,
pytorch/examples fast_neural_style TransformerNet and dcgan, naoto0804/pytorch-AdaIN's
decoder), so that only torch itself is needed; the trained feature networks come from
tools/tfjs_torch.py and the fast style networks of stylenet.h from tools/stylenet_torch.py.
float32 throughout.
"""
import argparse
import json
import resource
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

WARMUP = 2

# ---- VGG-19 features (torchvision) ----
VGG_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
           512, 512, 512, 512, "M"]
VGG_NAMES = ["relu1_1", "relu1_2", "relu2_1", "relu2_2", "relu3_1", "relu3_2", "relu3_3",
             "relu3_4", "relu4_1", "relu4_2", "relu4_3", "relu4_4", "relu5_1", "relu5_2",
             "relu5_3", "relu5_4"]


def vgg19_features(last):
    """torchvision's vgg19().features up to the ReLU named last, and {features index: name}."""
    layers, names, c, k = [], {}, 3, 0
    for v in VGG_CFG:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
            continue
        conv = nn.Conv2d(c, v, 3, padding=1)
        nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
        nn.init.zeros_(conv.bias)
        layers += [conv, nn.ReLU(inplace=False)]
        names[len(layers) - 1] = VGG_NAMES[k]
        c = v
        if VGG_NAMES[k] == last:
            break
        k += 1
    return nn.Sequential(*layers), names


def vgg_forward(features, names, x, wanted):
    out = {}
    for i, layer in enumerate(features):
        x = layer(x)
        if names.get(i) in wanted:
            out[names[i]] = x
    return [out[n] for n in wanted]


MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def normalize(x):
    return (x - MEAN) / STD


def gram(f):
    n, c, h, w = f.shape
    f = f.reshape(n, c, h * w)
    return torch.bmm(f, f.transpose(1, 2)) / (h * w)


def conv_flop(n, c, oc, oh, ow, k):
    return 2.0 * n * oc * oh * ow * c * k * k


# ---- Johnson et al. (pytorch/examples fast_neural_style) ----
class ConvLayer(nn.Module):
    def __init__(self, c, oc, k, stride):
        super().__init__()
        self.reflection_pad = nn.ReflectionPad2d(k // 2)
        self.conv2d = nn.Conv2d(c, oc, k, stride)

    def forward(self, x):
        return self.conv2d(self.reflection_pad(x))


class ResidualBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1 = ConvLayer(c, c, 3, 1)
        self.in1 = nn.InstanceNorm2d(c, affine=True)
        self.conv2 = ConvLayer(c, c, 3, 1)
        self.in2 = nn.InstanceNorm2d(c, affine=True)

    def forward(self, x):
        out = F.relu(self.in1(self.conv1(x)))
        return self.in2(self.conv2(out)) + x


class UpsampleConvLayer(nn.Module):
    def __init__(self, c, oc, k, stride, upsample):
        super().__init__()
        self.upsample = upsample
        self.reflection_pad = nn.ReflectionPad2d(k // 2)
        self.conv2d = nn.Conv2d(c, oc, k, stride)

    def forward(self, x):
        x = F.interpolate(x, mode="nearest", scale_factor=self.upsample)
        return self.conv2d(self.reflection_pad(x))


class TransformerNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.in1 = ConvLayer(3, 32, 9, 1), nn.InstanceNorm2d(32, affine=True)
        self.conv2, self.in2 = ConvLayer(32, 64, 3, 2), nn.InstanceNorm2d(64, affine=True)
        self.conv3, self.in3 = ConvLayer(64, 128, 3, 2), nn.InstanceNorm2d(128, affine=True)
        self.res1, self.res2, self.res3, self.res4, self.res5 = [ResidualBlock(128) for _ in range(5)]
        self.deconv1, self.in4 = UpsampleConvLayer(128, 64, 3, 1, 2), nn.InstanceNorm2d(64, affine=True)
        self.deconv2, self.in5 = UpsampleConvLayer(64, 32, 3, 1, 2), nn.InstanceNorm2d(32, affine=True)
        self.deconv3 = ConvLayer(32, 3, 9, 1)

    def forward(self, x):
        y = F.relu(self.in1(self.conv1(x)))
        y = F.relu(self.in2(self.conv2(y)))
        y = F.relu(self.in3(self.conv3(y)))
        y = self.res5(self.res4(self.res3(self.res2(self.res1(y)))))
        y = F.relu(self.in4(self.deconv1(y)))
        y = F.relu(self.in5(self.deconv2(y)))
        return self.deconv3(y)


# ---- AdaIN decoder (naoto0804/pytorch-AdaIN) ----
def adain_decoder():
    def block(c, oc, relu=True):
        layers = [nn.ReflectionPad2d(1), nn.Conv2d(c, oc, 3)]
        return layers + [nn.ReLU()] if relu else layers
    up = [nn.Upsample(scale_factor=2, mode="nearest")]
    return nn.Sequential(*block(512, 256), *up, *block(256, 256), *block(256, 256),
                         *block(256, 256), *block(256, 128), *up, *block(128, 128),
                         *block(128, 64), *up, *block(64, 64), *block(64, 3, relu=False))


def adain(x, s, eps=1e-5):
    n, c = x.shape[:2]
    xm = x.reshape(n, c, -1).mean(2).view(n, c, 1, 1)
    xs = (x.reshape(n, c, -1).var(2) + eps).sqrt().view(n, c, 1, 1)
    sm = s.reshape(n, c, -1).mean(2).view(n, c, 1, 1)
    ss = (s.reshape(n, c, -1).var(2) + eps).sqrt().view(n, c, 1, 1)
    return (x - xm) / xs * ss + sm


# ---- DCGAN (pytorch/examples/dcgan) ----
NZ, NGF, NDF, NC, DCGAN_BATCH = 100, 64, 64, 3, 64


def weights_init(m):
    name = m.__class__.__name__
    if name.find("Conv") != -1:
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif name.find("BatchNorm") != -1:
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def dcgan_nets():
    g = nn.Sequential(
        nn.ConvTranspose2d(NZ, NGF * 8, 4, 1, 0, bias=False), nn.BatchNorm2d(NGF * 8), nn.ReLU(True),
        nn.ConvTranspose2d(NGF * 8, NGF * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(NGF * 4), nn.ReLU(True),
        nn.ConvTranspose2d(NGF * 4, NGF * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(NGF * 2), nn.ReLU(True),
        nn.ConvTranspose2d(NGF * 2, NGF, 4, 2, 1, bias=False), nn.BatchNorm2d(NGF), nn.ReLU(True),
        nn.ConvTranspose2d(NGF, NC, 4, 2, 1, bias=False), nn.Tanh())
    d = nn.Sequential(
        nn.Conv2d(NC, NDF, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(NDF, NDF * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(NDF * 2), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(NDF * 2, NDF * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(NDF * 4), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(NDF * 4, NDF * 8, 4, 2, 1, bias=False), nn.BatchNorm2d(NDF * 8), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(NDF * 8, 1, 4, 1, 0, bias=False))
    g.apply(weights_init)
    d.apply(weights_init)
    return g, d


# ---- workloads: each returns (step function, gflop) ----
GATYS_STYLE = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]


def gatys(s):
    features, names = vgg19_features("relu5_1")
    for p in features.parameters():
        p.requires_grad_(False)
    content, style = torch.rand(1, 3, s, s), torch.rand(1, 3, s, s)
    with torch.no_grad():
        target_c = vgg_forward(features, names, normalize(content), ["relu4_2"])[0]
        target_g = [gram(f) for f in vgg_forward(features, names, normalize(style), GATYS_STYLE)]
    img = content.clone().requires_grad_(True)
    opt = torch.optim.Adam([img], lr=0.02)

    def step():
        opt.zero_grad()
        f = vgg_forward(features, names, normalize(img), GATYS_STYLE + ["relu4_2"])
        loss = F.mse_loss(f[5], target_c)
        for i in range(5):
            loss = loss + 1e3 * F.mse_loss(gram(f[i]), target_g[i])
        loss.backward()
        opt.step()

    oc = [64, 64, 128, 128, 256, 256, 256, 256, 512, 512, 512, 512, 512]
    flop, c, side = 0.0, 3, s
    for i in range(13):
        if i in (2, 4, 8, 12):
            side //= 2
        flop += 2 * conv_flop(1, c, oc[i], side, side, 3)
        if i in (0, 2, 4, 8, 12):
            flop += 3 * 2.0 * oc[i] * oc[i] * side * side
        c = oc[i]
    return step, flop


def models_dir():
    import os
    return (os.environ.get("ATELIER_MODELS", "").split(":")[0]
            or os.path.join(os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share"), "atelier", "models"))


def tools_module(name):
    """a module of tools/ (tfjs_torch, stylenet_torch)"""
    import importlib
    import os
    import sys
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
    return importlib.import_module(name)


def tfjs_features(net):
    """A trained TF.js network (tools/tfjs_torch.py's port of the same files Atelier reads),
    fed as Atelier's featnet feeds it: [0, 1], a [1 2 1]^2/16 blur, reflect padding (16 px
    for InceptionV3, 8 for MobileNetV2). Returns feats(x, names) -> [activations] and the
    stylize recipe's style and content layers."""
    import os
    model = tools_module("tfjs_torch").load_model(os.path.join(models_dir(), net))
    if net == "inception_v3":
        style, content, pad = ["activation_1", "activation_3", "activation_5", "mixed0", "mixed2"], "mixed1", 16
    else:
        style, content, pad = ["Conv1_relu", "block_1_expand_relu", "block_3_expand_relu", "block_6_expand_relu"], "block_6_expand_relu", 8
    k = torch.tensor([1.0, 2.0, 1.0])
    blur = (k[:, None] * k[None, :] / 16).expand(3, 1, 3, 3).contiguous()

    def feats(x, names):
        x = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), blur, groups=3)
        x = F.pad(x, (pad, pad, pad, pad), mode="reflect")
        v = model(x, list(dict.fromkeys(names)))
        return [v[n] for n in names]

    return feats, style, content


def net_gatys(net, s):
    """A Gatys step on a trained TF.js network (tfjs_features), the stylize recipe's layers.
    GFLOP are not counted for these networks."""
    feats, style, content = tfjs_features(net)
    c_img, s_img = torch.rand(1, 3, s, s), torch.rand(1, 3, s, s)
    with torch.no_grad():
        target_c = feats(c_img, [content])[0]
        target_g = [gram(f) for f in feats(s_img, style)]
    img = c_img.clone().requires_grad_(True)
    opt = torch.optim.Adam([img], lr=0.02)

    def step():
        opt.zero_grad()
        f = feats(img, style + [content])
        loss = F.mse_loss(f[-1], target_c)
        for i in range(len(style)):
            loss = loss + 1e3 * F.mse_loss(gram(f[i]), target_g[i])
        loss.backward()
        opt.step()

    return step, 0.0


def fast_style(s):
    net = TransformerNet().eval()
    x = torch.rand(1, 3, s, s) * 255

    def step():
        with torch.no_grad():
            net(x)

    flop = (conv_flop(1, 3, 32, s, s, 9) + conv_flop(1, 32, 64, s // 2, s // 2, 3)
            + conv_flop(1, 64, 128, s // 4, s // 4, 3) + 10 * conv_flop(1, 128, 128, s // 4, s // 4, 3)
            + conv_flop(1, 128, 64, s // 2, s // 2, 3) + conv_flop(1, 64, 32, s, s, 3)
            + conv_flop(1, 32, 3, s, s, 9))
    return step, flop


def adain_style(s):
    features, names = vgg19_features("relu4_1")
    decoder = adain_decoder()
    content, style = torch.rand(1, 3, s, s), torch.rand(1, 3, s, s)

    def step():
        with torch.no_grad():
            fc = features(normalize(content))
            fs = features(normalize(style))
            decoder(adain(fc, fs))

    oc = [64, 64, 128, 128, 256, 256, 256, 256, 512]
    dc = [512, 256, 256, 256, 256, 128, 128, 64, 64]
    doc = [256, 256, 256, 256, 128, 128, 64, 64, 3]
    flop, c, side = 0.0, 3, s
    for i in range(9):
        if i in (2, 4, 8):
            side //= 2
        flop += 2 * conv_flop(1, c, oc[i], side, side, 3)
        c = oc[i]
    for i in range(9):
        if i in (1, 5, 7):
            side *= 2
        flop += conv_flop(1, dc[i], doc[i], side, side, 3)
    return step, flop


# ---- fast style networks (include/atelier/stylenet.h; tools/stylenet_torch.py) ----
STYLENET_STYLES, STYLENET_WIDTH = 11, 0.5


def stylenet_paint(s):
    """Inference: one (1, 3, S, S) image in style 0, output through the sigmoid."""
    sn = tools_module("stylenet_torch")
    net = sn.StyleNet(STYLENET_STYLES, STYLENET_WIDTH)
    x, mix = torch.rand(1, 3, s, s), sn.one_hot(1, STYLENET_STYLES, 0)

    def step():
        with torch.no_grad():
            net(x, mix)

    return step, net.flop(1, s, s)


def stylenet_loss_fn(feats, style_layers, content, style_images, weights=(1.0, 100.0, 10.0)):
    """The loss of stylenet_train.c: loss(net, photos, idx) -> (total, content, style, tv)
    for photos (B, 3, H, W) painted in styles idx (B). Content and TV over the batch, each
    style term per sample, each normalised by its target's mean square; the style layers
    weigh equally. The Gram targets come from style_images [(1, 3, h, w)], computed once.
    weights: content, style, tv (stylize's InceptionV3 recipe, stylenet_train_defaults)."""
    cw, sw, tw = weights
    with torch.no_grad():
        per_style = [[gram(f) for f in feats(im, style_layers)] for im in style_images]
    targets = [torch.cat([g[l] for g in per_style]) for l in range(len(style_layers))]   # (S, C, C)
    norms = [t.square().mean((1, 2)) for t in targets]                                   # (S)
    nstyles = len(style_images)

    def loss(net, photos, idx):
        mix = F.one_hot(idx, nstyles).to(photos.dtype)
        with torch.no_grad():
            fc = feats(photos, [content])[0]
        y = net(photos, mix)
        f = feats(y, style_layers + [content])
        lc = F.mse_loss(f[-1], fc) / fc.square().mean()
        ls = sum(((gram(f[l]) - targets[l][idx]).square().mean((1, 2)) / norms[l][idx]).mean()
                 for l in range(len(style_layers))) / len(style_layers)
        ltv = (y[:, :, 1:, :] - y[:, :, :-1, :]).square().mean() + (y[:, :, :, 1:] - y[:, :, :, :-1]).square().mean()
        return cw * lc + sw * ls + tw * ltv, lc, ls, ltv

    return loss


def stylenet_train(s, batch):
    """One training step of stylenet_trainer_step: the batch painted (sample i of step t in
    style (t B + i) mod S), the loss of stylenet_loss_fn on InceptionV3, backward, Adam
    (lr 1e-3). 11 style images of S x S. GFLOP are not counted (InceptionV3's are not)."""
    sn = tools_module("stylenet_torch")
    feats, style_layers, content = tfjs_features("inception_v3")
    net = sn.StyleNet(STYLENET_STYLES, STYLENET_WIDTH)
    loss_fn = stylenet_loss_fn(feats, style_layers, content,
                               [torch.rand(1, 3, s, s) for _ in range(STYLENET_STYLES)])
    photos = torch.rand(batch, 3, s, s)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    steps = [0]

    def step():
        idx = torch.tensor([(steps[0] * batch + i) % STYLENET_STYLES for i in range(batch)])
        steps[0] += 1
        opt.zero_grad()
        loss_fn(net, photos, idx)[0].backward()
        opt.step()

    return step, 0.0


def dcgan():
    g, d = dcgan_nets()
    opt_g = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    real = torch.rand(DCGAN_BATCH, 3, 64, 64) * 2 - 1
    ones, zeros = torch.ones(DCGAN_BATCH), torch.zeros(DCGAN_BATCH)
    bce = nn.BCEWithLogitsLoss()

    def step():
        z = torch.randn(DCGAN_BATCH, NZ, 1, 1)
        fake = g(z)
        opt_d.zero_grad()
        err_d = bce(d(real).view(-1), ones) + bce(d(fake.detach()).view(-1), zeros)
        err_d.backward()
        opt_d.step()
        opt_g.zero_grad()
        err_g = bce(d(fake).view(-1), ones)
        err_g.backward()
        opt_g.step()

    n = DCGAN_BATCH
    gc, gh, goc = [NZ, 512, 256, 128, 64], [1, 4, 8, 16, 32], [512, 256, 128, 64, 3]
    dc, doc, doh = [3, 64, 128, 256, 512], [64, 128, 256, 512, 1], [32, 16, 8, 4, 1]
    gf = sum(2.0 * n * gc[i] * gh[i] * gh[i] * goc[i] * 16 for i in range(5))
    gf_data = gf - 2.0 * n * gc[0] * goc[0] * 16
    df = sum(conv_flop(n, dc[i], doc[i], doh[i], doh[i], 4) for i in range(5))
    df_data = df - conv_flop(n, dc[0], doc[0], doh[0], doh[0], 4)
    flop = (gf + 4 * df + 2 * df_data) + (3 * df + gf + gf_data)
    return step, flop


def video_frame():
    """video-360: one frame of `atelier video --temporal` at 640x360 in PyTorch + OpenCV: the
    same network (tools/stylenet_torch.py), cv2.DISOpticalFlow (medium preset) both ways on
    the frames' luma, Ruder et al.'s occlusion check in numpy (flow.h's formula), the previous
    output warped by cv2.remap and blended (weight 0.7, as bench.c)."""
    import cv2
    import numpy as np
    sn = tools_module("stylenet_torch")
    net = sn.StyleNet(STYLENET_STYLES, STYLENET_WIDTH)
    mix = sn.one_hot(1, STYLENET_STYLES, 0)
    w, h = 640, 360
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    frames = []
    for f in range(2):
        u, v = xx - 3 * f, yy - f
        frames.append(np.stack([0.5 + 0.25 * np.sin(0.11 * u + c) * np.cos(0.07 * v)
                                + 0.2 * np.sin(0.031 * u * v / 40 + 0.3 * c) for c in range(3)]).astype(np.float32))
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    state = {"t": 0, "prev": np.zeros((3, h, w), np.float32)}

    def luma(f):
        return np.clip((0.299 * f[0] + 0.587 * f[1] + 0.114 * f[2]) * 255 + 0.5, 0, 255).astype(np.uint8)

    def step():
        t = state["t"]
        cur, prev = frames[t & 1], frames[(t + 1) & 1]
        state["t"] += 1
        with torch.no_grad():
            s = net(torch.from_numpy(cur)[None], mix)[0].numpy()
        a, b = luma(cur), luma(prev)
        fwd, bwd = dis.calc(a, b, None), dis.calc(b, a, None)
        mx, my = gx + fwd[..., 0], gy + fwd[..., 1]
        bt = cv2.remap(bwd, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        n2 = (fwd ** 2).sum(-1)
        bad = ((fwd + bt) ** 2).sum(-1) > 0.01 * (n2 + (bt ** 2).sum(-1)) + 0.5
        du, dv = np.gradient(fwd[..., 0]), np.gradient(fwd[..., 1])
        bad |= du[0] ** 2 + du[1] ** 2 + dv[0] ** 2 + dv[1] ** 2 > 0.01 * n2 + 0.002
        bad |= (mx < 0) | (mx > w - 1) | (my < 0) | (my > h - 1)
        mask = (~bad).astype(np.float32)
        warped = np.stack([cv2.remap(p, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE) for p in state["prev"]])
        state["prev"] = s + 0.7 * mask * (warped - s)

    return step, 0


WORKLOADS = {
    "gatys-256": lambda: gatys(256), "gatys-512": lambda: gatys(512),
    "gatys-inception-512": lambda: net_gatys("inception_v3", 512),
    "gatys-mobilenet-512": lambda: net_gatys("mobilenet_v2", 512),
    "fast-style-512": lambda: fast_style(512), "fast-style-1024": lambda: fast_style(1024),
    "adain-512": lambda: adain_style(512), "dcgan-64": dcgan,
    "stylenet-512": lambda: stylenet_paint(512), "stylenet-1024": lambda: stylenet_paint(1024),
    "stylenet-train-256": lambda: stylenet_train(256, 4), "video-360": video_frame,
}


def main():
    ap = argparse.ArgumentParser(description="The Atelier benchmark workloads in PyTorch.")
    ap.add_argument("workload", choices=sorted(WORKLOADS))
    ap.add_argument("--iters", type=int, default=5, help="timed iterations after 2 warm-ups (default 5)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (default 0: torch's own)")
    ap.add_argument("--bf16", action="store_true",
                    help="run under torch.autocast('cpu', bfloat16): convolutions in bfloat16 (oneDNN)")
    args = ap.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    step, flop = WORKLOADS[args.workload]()
    all_times = []
    for i in range(WARMUP + args.iters):
        t0 = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
            step()
        all_times.append((time.perf_counter() - t0) * 1e3)
    times = all_times[WARMUP:]
    ms = statistics.median(times)
    print(json.dumps({"name": args.workload + ("@bf16" if args.bf16 else ""), "impl": "pytorch", "torch": torch.__version__,
                      "threads": torch.get_num_threads(), "iters": args.iters,
                      "ms": round(ms, 3), "gflop": round(flop / 1e9, 4),
                      "gflops": round(flop / 1e9 / (ms / 1e3), 2) if flop else 0.0,
                      "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                      "times_ms": [round(t, 3) for t in times],
                      "warmup_ms": [round(t, 3) for t in all_times[:WARMUP]]}))


if __name__ == "__main__":
    main()
