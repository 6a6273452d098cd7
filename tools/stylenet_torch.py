#!/usr/bin/python3
"""The fast style network of include/atelier/stylenet.h in PyTorch: the reference that
tests/test_stylenet_golden.c (through tools/gen_stylenet_golden.py) and bench/bench_torch.py
check Atelier against. Run with Debian's python3-torch ($(tools/find_torch_python.sh)).

The network (width w; C1, C2, C3 = max(4, round(32 w)), max(4, round(64 w)),
max(4, round(128 w)), rounded half away from zero as C's lroundf on the float32 product):
    conv1 9x9      3 -> C1, in1, ReLU        every conv after reflection padding of K // 2
    conv2 3x3 /2  C1 -> C2, in2, ReLU
    conv3 3x3 /2  C2 -> C3, in3, ReLU
    res1 .. res5  h + in2(conv2(ReLU(in1(conv1(h)))))    3x3, C3 -> C3; no ReLU after the add
    up1 (nearest x2, then conv 3x3) C3 -> C2, in4, ReLU
    up2 (nearest x2, then conv 3x3) C2 -> C1, in5, ReLU
    out 9x9       C1 -> 3, sigmoid
Each in* is conditional instance norm (Dumoulin et al. 2017): instance norm (biased
variance, eps 1e-5) whose per-sample affine parameters are mix @ gamma_table and
mix @ beta_table, mix (N, S) the style weights, the tables (S, C).

Parameters, in state-dict order (the names of stylenet.h):
    conv1.weight (C1, 3, 9, 9), conv1.bias (C1), in1.gamma (S, C1), in1.beta (S, C1),
    conv2.*, in2.*, conv3.*, in3.*, res{k}.conv1.*, res{k}.in1.*, res{k}.conv2.*,
    res{k}.in2.* (k = 1..5), up1.*, in4.*, up2.*, in5.*, out.weight (3, C1, 9, 9), out.bias.

As a module:
    net = StyleNet(nstyles, width)            # PyTorch's default conv init, gamma 1, beta 0
    net.load_state({name: tensor})            # every parameter, shapes checked
    y = net(x, mix)                           # x (N, 3, H, W) in [0, 1], mix (N, S)
    net, meta = load_model("model.safetensors")   # an Atelier model file
The parameters are plain leaf tensors (net.params, name -> tensor; net.parameters() lists
them) so that torch.optim can train them.

As a program:
    stylenet_torch.py MODEL.safetensors [--size H W] [--style I]
runs an Atelier model file on a synthetic image and prints the styles, the parameter count
and the output's mean per channel (a quick check that a file Atelier wrote loads here).
"""
import argparse
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tfjs_torch  # noqa: E402  (its read_safetensors: F32, F16, BF16 and the metadata)

EPS = 1e-5
FORMAT = "atelier-style-net"


def channels(width):
    """(C1, C2, C3) as stylenet_init computes them: lroundf(base * w) in float32, at least 4."""
    w = np.float32(width)

    def one(base):
        v = float(np.float32(base) * w)
        return max(4, int(math.floor(v + 0.5)))   # v > 0: half away from zero
    return one(32), one(64), one(128)


def layout(nstyles, width):
    """[(name, shape)] in state-dict order."""
    c1, c2, c3 = channels(width)
    out = []

    def conv(name, c, oc, k):
        out.extend([(name + ".weight", (oc, c, k, k)), (name + ".bias", (oc,))])

    def norm(name, c):
        out.extend([(name + ".gamma", (nstyles, c)), (name + ".beta", (nstyles, c))])

    conv("conv1", 3, c1, 9); norm("in1", c1)
    conv("conv2", c1, c2, 3); norm("in2", c2)
    conv("conv3", c2, c3, 3); norm("in3", c3)
    for k in range(1, 6):
        conv(f"res{k}.conv1", c3, c3, 3); norm(f"res{k}.in1", c3)
        conv(f"res{k}.conv2", c3, c3, 3); norm(f"res{k}.in2", c3)
    conv("up1", c3, c2, 3); norm("in4", c2)
    conv("up2", c2, c1, 3); norm("in5", c1)
    conv("out", c1, 3, 9)
    return out


class StyleNet:
    def __init__(self, nstyles, width, dtype=torch.float32, generator=None):
        if not 1 <= nstyles <= 64:
            raise ValueError(f"nstyles {nstyles}: 1 .. 64")
        self.nstyles, self.width = nstyles, width
        self.c1, self.c2, self.c3 = channels(width)
        self.params = {}
        for name, shape in layout(nstyles, width):
            if name.endswith(".weight"):
                # PyTorch's Conv2d default: kaiming_uniform(a = sqrt 5) = U(-1/sqrt(fan_in), ..)
                bound = 1.0 / math.sqrt(shape[1] * shape[2] * shape[3])
                t = (torch.rand(shape, generator=generator, dtype=torch.float64) * 2 - 1) * bound
            elif name.endswith(".bias"):
                w = self.params[name[:-5] + ".weight"]
                bound = 1.0 / math.sqrt(w.shape[1] * w.shape[2] * w.shape[3])
                t = (torch.rand(shape, generator=generator, dtype=torch.float64) * 2 - 1) * bound
            elif name.endswith(".gamma"):
                t = torch.ones(shape, dtype=torch.float64)
            else:
                t = torch.zeros(shape, dtype=torch.float64)
            self.params[name] = t.to(dtype).requires_grad_(True)

    # ---- parameters ----
    def names(self):
        return list(self.params)

    def parameters(self):
        return list(self.params.values())

    def named_parameters(self):
        return list(self.params.items())

    def load_state(self, state, strict=True):
        """Copies every parameter from state (name -> tensor), shapes checked; extra names
        (other tensors of a file) are ignored unless strict."""
        for name, p in self.params.items():
            if name not in state:
                raise KeyError(f"stylenet: parameter {name} missing")
            t = torch.as_tensor(state[name])
            if tuple(t.shape) != tuple(p.shape):
                raise ValueError(f"stylenet: {name} is {tuple(t.shape)}, want {tuple(p.shape)}")
            with torch.no_grad():
                p.copy_(t.to(p.dtype))
        extra = [n for n in state if n not in self.params]
        if strict and extra:
            raise KeyError(f"stylenet: unknown tensors {extra[:4]}")
        return self

    def to(self, dtype):
        for name, p in self.params.items():
            self.params[name] = p.detach().to(dtype).requires_grad_(p.requires_grad)
        return self

    # ---- forward ----
    def conv(self, name, x, stride=1, upsample=False):
        if upsample:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        w = self.params[name + ".weight"]
        p = w.shape[-1] // 2
        return F.conv2d(F.pad(x, (p, p, p, p), mode="reflect"), w, self.params[name + ".bias"], stride)

    def cin(self, name, x, mix):
        """Conditional instance norm: the per-sample gamma, beta (N, C) = mix @ tables."""
        g = mix @ self.params[name + ".gamma"]
        b = mix @ self.params[name + ".beta"]
        x = F.instance_norm(x, eps=EPS)
        return x * g[:, :, None, None] + b[:, :, None, None]

    def forward(self, x, mix):
        """x (N, 3, H, W) in [0, 1], H and W multiples of 4; mix (N, S) -> (N, 3, H, W)."""
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"stylenet: x is {tuple(x.shape)}, want (N, 3, H, W)")
        if mix.shape != (x.shape[0], self.nstyles):
            raise ValueError(f"stylenet: mix is {tuple(mix.shape)}, want ({x.shape[0]}, {self.nstyles})")
        h = F.relu(self.cin("in1", self.conv("conv1", x), mix))
        h = F.relu(self.cin("in2", self.conv("conv2", h, stride=2), mix))
        h = F.relu(self.cin("in3", self.conv("conv3", h, stride=2), mix))
        for k in range(1, 6):
            r = F.relu(self.cin(f"res{k}.in1", self.conv(f"res{k}.conv1", h), mix))
            h = h + self.cin(f"res{k}.in2", self.conv(f"res{k}.conv2", r), mix)
        h = F.relu(self.cin("in4", self.conv("up1", h, upsample=True), mix))
        h = F.relu(self.cin("in5", self.conv("up2", h, upsample=True), mix))
        return torch.sigmoid(self.conv("out", h))

    __call__ = forward

    def flop(self, n, h, w):
        """Forward FLOP of the convolutions, 2 N OC OH OW C K K each (bench/bench.c's count)."""
        c1, c2, c3 = self.c1, self.c2, self.c3
        f = 2.0 * n * (c1 * h * w * 3 * 81 + c2 * (h // 2) * (w // 2) * c1 * 9
                       + c3 * (h // 4) * (w // 4) * c2 * 9 + 10 * c3 * (h // 4) * (w // 4) * c3 * 9
                       + c2 * (h // 2) * (w // 2) * c3 * 9 + c1 * h * w * c2 * 9 + 3 * h * w * c1 * 81)
        return f


def one_hot(n, nstyles, style, dtype=torch.float32):
    m = torch.zeros(n, nstyles, dtype=dtype)
    m[:, style] = 1
    return m


def load_model(path):
    """An Atelier model file (stylenet_save) -> (StyleNet, metadata dict)."""
    tensors, meta = tfjs_torch.read_safetensors(path)
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path}: not an Atelier style network (format {meta.get('format')!r}, want {FORMAT!r})")
    if meta.get("version") != "1":
        raise ValueError(f"{path}: {FORMAT} version {meta.get('version')!r}, this reader knows '1'")
    nstyles = tensors["in1.gamma"].shape[0]
    width = float(meta["width"]) if "width" in meta else None
    if width is None:
        raise ValueError(f"{path}: no width in the metadata")
    net = StyleNet(nstyles, width).load_state(tensors, strict=False)
    return net, meta


def main():
    ap = argparse.ArgumentParser(description="Run an Atelier style network file in PyTorch.")
    ap.add_argument("model")
    ap.add_argument("--size", type=int, nargs=2, default=[64, 64], metavar=("H", "W"))
    ap.add_argument("--style", type=int, default=0)
    args = ap.parse_args()
    net, meta = load_model(args.model)
    h, w = args.size
    x = tfjs_torch.formula_image(h, w, 1)
    x = x[None] if x.dim() == 3 else x
    with torch.no_grad():
        y = net(x, one_hot(1, net.nstyles, args.style))
    print(f"{args.model}: {net.nstyles} styles ({meta.get('styles', '?')}), width {net.width}, "
          f"channels {net.c1}/{net.c2}/{net.c3}, {sum(p.numel() for p in net.parameters())} parameters")
    print("output mean per channel:", [round(float(v), 6) for v in y.mean((0, 2, 3))])


if __name__ == "__main__":
    main()
