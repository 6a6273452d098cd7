#!/usr/bin/env python3
"""Reference outputs and gradients from PyTorch for every op in include/atelier/ops.h.

Usage: $(tools/find_torch_python.sh) tools/gen_golden_ops.py
Writes tests/golden/ops.safetensors (tests/test_golden_ops.c) and tests/golden/net.safetensors
(tests/test_golden_net.c), from any directory; the result depends only on the seed.

Each case stores its inputs ("<case>.x", "<case>.w"...), its output "<case>.out", a random
weight "<case>.R" of the output's shape, and for every differentiable input the gradient of
L = sum(out * R) ("<case>.grad_x"...). R makes every output element matter to L with its own
weight, so a backward that swaps or drops elements cannot pass. Scalar outputs (losses) are
stored with shape (). The metadata holds, per case, its options as JSON; the C tests repeat
them in their tables and check that every case in the file was run.

Sizes are awkward on purpose (1, 3, 5, 7) so that a kernel that assumes square or even
shapes, or mixes up H and W, fails. Inputs of functions with kinks or poles (relu, abs, log,
division, l1) are kept away from them, so that float32 rounding cannot pick another branch.
"""
import json
import os
import sys

import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import goldenlib  # noqa: E402

SEED = 20240607


def randn(*shape):
    return torch.randn(*shape, dtype=torch.float32)


def uniform(lo, hi, *shape):
    return torch.rand(*shape, dtype=torch.float32) * (hi - lo) + lo


def away_from_zero(lo, hi, *shape):
    """|x| in [lo, hi) with a random sign: for relu, abs, division."""
    sign = torch.where(torch.rand(*shape) < 0.5, -1.0, 1.0)
    return uniform(lo, hi, *shape) * sign


class Golden:
    def __init__(self):
        self.tensors, self.meta = {}, {}

    def case(self, name, fn, inputs, opts=None, nograd=()):
        """Run fn(**inputs), store inputs, out, R and d sum(out * R) / d input."""
        assert name not in self.meta, name
        leaves = {}
        for k, v in inputs.items():
            self.tensors[f"{name}.{k}"] = v.clone()
            leaves[k] = v.clone().requires_grad_(k not in nograd)
        out = fn(**leaves)
        r = torch.randn(out.shape, dtype=torch.float32)
        (out * r).sum().backward()
        self.tensors[f"{name}.out"] = out.detach()
        self.tensors[f"{name}.R"] = r
        for k, v in leaves.items():
            if k not in nograd:
                self.tensors[f"{name}.grad_{k}"] = v.grad
        self.meta[name] = json.dumps(opts or {}, sort_keys=True)
        return leaves

    def save(self, path, extra_meta):
        meta = dict(self.meta)
        meta.update(extra_meta)
        goldenlib.save(path, self.tensors, meta)


def gen_binary(g):
    # (x shape, y shape): same shapes, broadcasting on either side, (4,1) op (3).
    g.case("add_same", lambda x, y: x + y, {"x": randn(3, 5), "y": randn(3, 5)})
    g.case("add_bcast", lambda x, y: x + y, {"x": randn(2, 3, 4, 5), "y": randn(3, 1, 1)})
    g.case("sub_bcast", lambda x, y: x - y, {"x": randn(4, 1), "y": randn(3)})
    g.case("mul_bcast", lambda x, y: x * y, {"x": randn(4, 1), "y": randn(3)})
    g.case("mul_bcast_left", lambda x, y: x * y, {"x": randn(3, 1, 5), "y": randn(2, 3, 7, 5)})
    g.case("div_bcast", lambda x, y: x / y,
           {"x": randn(2, 3, 4, 5), "y": away_from_zero(0.5, 2.0, 4, 1)})
    g.case("div_bcast_left", lambda x, y: x / y,
           {"x": randn(1, 5), "y": away_from_zero(0.5, 2.0, 3, 1, 5)})


def gen_scalar(g):
    x = randn(2, 3, 5)
    pos = uniform(0.5, 2.0, 2, 3, 5)
    nz = away_from_zero(0.5, 2.0, 2, 3, 5)
    cases = [
        ("add_scalar", lambda x: x + 0.7, x, 0.7),
        ("sub_scalar", lambda x: x - 1.3, x, 1.3),
        ("rsub_scalar", lambda x: 2.5 - x, x, 2.5),
        ("mul_scalar", lambda x: x * -1.7, x, -1.7),
        ("div_scalar", lambda x: x / 3.0, x, 3.0),
        ("rdiv_scalar", lambda x: 2.0 / x, nz, 2.0),
        ("pow_scalar_2.5", lambda x: x ** 2.5, pos, 2.5),
        ("pow_scalar_-0.5", lambda x: x ** -0.5, pos, -0.5),
        ("pow_scalar_3", lambda x: x ** 3.0, x, 3.0),
    ]
    for name, fn, inp, s in cases:
        g.case(name, fn, {"x": inp}, {"s": s})


def gen_unary(g):
    x = randn(3, 5, 7)
    nz = away_from_zero(0.05, 2.0, 3, 5, 7)
    pos = uniform(0.2, 3.0, 3, 5, 7)
    g.case("relu", lambda x: F.relu(x), {"x": nz})
    g.case("leaky_relu", lambda x: F.leaky_relu(x, 0.2), {"x": nz}, {"slope": 0.2})
    g.case("tanh", lambda x: torch.tanh(x), {"x": x})
    g.case("sigmoid", lambda x: torch.sigmoid(x), {"x": x})
    g.case("exp", lambda x: torch.exp(x), {"x": x})
    g.case("log", lambda x: torch.log(x), {"x": pos})
    g.case("sqrt", lambda x: torch.sqrt(x), {"x": pos})
    g.case("abs", lambda x: torch.abs(x), {"x": nz})
    g.case("square", lambda x: torch.square(x), {"x": x})
    g.case("neg", lambda x: torch.neg(x), {"x": x})


def dims_of(axes, ndim):
    return tuple(range(ndim)) if axes == -1 else tuple(i for i in range(ndim) if axes >> i & 1)


def gen_reduce(g):
    x4, x3 = randn(2, 3, 5, 7), randn(3, 5, 7)
    # (name, x, kind, axes bit mask, keepdim, unbiased)
    cases = [
        ("sum_all", x4, "sum", -1, False, False),
        ("sum_all_keep", x3, "sum", -1, True, False),
        ("sum_13", x4, "sum", 0b1010, False, False),
        ("sum_13_keep", x4, "sum", 0b1010, True, False),
        ("sum_0", x3, "sum", 0b001, False, False),
        ("mean_all", x4, "mean", -1, False, False),
        ("mean_02_keep", x4, "mean", 0b0101, True, False),
        ("mean_2", x3, "mean", 0b100, False, False),
        ("var_23_biased_keep", x4, "var", 0b1100, True, False),
        ("var_23_unbiased", x4, "var", 0b1100, False, True),
        ("var_0_unbiased_keep", x3, "var", 0b001, True, True),
        ("var_all_biased", x3, "var", -1, False, False),
        ("var_all_unbiased", x4, "var", -1, False, True),
    ]
    for name, x, kind, axes, keep, unb in cases:
        d = dims_of(axes, x.dim())
        if kind == "sum":
            fn = lambda x, d=d, keep=keep: x.sum(dim=d, keepdim=keep)
        elif kind == "mean":
            fn = lambda x, d=d, keep=keep: x.mean(dim=d, keepdim=keep)
        else:
            fn = lambda x, d=d, keep=keep, unb=unb: x.var(dim=d, unbiased=unb, keepdim=keep)
        g.case(name, fn, {"x": x}, {"kind": kind, "axes": axes, "keepdim": keep,
                                    "unbiased": unb})


def gen_shape(g):
    g.case("concat_axis1", lambda x0, x1, x2: torch.cat([x0, x1, x2], 1),
           {"x0": randn(2, 1, 3), "x1": randn(2, 3, 3), "x2": randn(2, 2, 3)}, {"axis": 1})
    g.case("concat_axis0", lambda x0, x1: torch.cat([x0, x1], 0),
           {"x0": randn(1, 3, 5, 2), "x1": randn(3, 3, 5, 2)}, {"axis": 0})
    g.case("concat_axis-1", lambda x0, x1: torch.cat([x0, x1], -1),
           {"x0": randn(3, 5), "x1": randn(3, 1)}, {"axis": -1})
    x = randn(3, 7, 5)
    g.case("slice_axis1", lambda x: x[:, 2:6].clone(), {"x": x}, {"axis": 1, "start": 2, "end": 6})
    g.case("slice_axis-1", lambda x: x[..., 1:4].clone(), {"x": x},
           {"axis": -1, "start": 1, "end": 4})
    g.case("slice_axis0", lambda x: x[2:3].clone(), {"x": x}, {"axis": 0, "start": 2, "end": 3})


def gen_linalg(g):
    g.case("matmul_2d", lambda x, y: x @ y, {"x": randn(3, 5), "y": randn(5, 7)})
    g.case("matmul_batched", lambda x, y: x @ y, {"x": randn(2, 3, 5), "y": randn(2, 5, 4)})
    g.case("matmul_1x1", lambda x, y: x @ y, {"x": randn(1, 7), "y": randn(7, 1)})
    g.case("linear_bias", lambda x, w, b: F.linear(x, w, b),
           {"x": randn(5, 7), "w": randn(3, 7), "b": randn(3)})
    g.case("linear_nobias", lambda x, w: F.linear(x, w), {"x": randn(1, 7), "w": randn(3, 7)})

    def gram(f):
        n, c, h, w = f.shape
        m = f.reshape(n, c, h * w)
        return m @ m.transpose(1, 2) / (h * w)
    g.case("gram", gram, {"f": randn(2, 3, 5, 7)})
    g.case("gram_1x1", gram, {"f": randn(1, 5, 1, 1)})


CONV_CASES = [
    # name, x shape, w shape, bias, stride (h, w), pad (h, w), dilation (h, w), groups
    ("conv2d_basic", (2, 3, 7, 5), (4, 3, 3, 3), True, (1, 1), (0, 0), (1, 1), 1),
    ("conv2d_s2_p1", (2, 3, 7, 5), (4, 3, 3, 3), True, (2, 2), (1, 1), (1, 1), 1),
    ("conv2d_d2_p2_nobias", (1, 3, 7, 7), (5, 3, 3, 3), False, (1, 1), (2, 2), (2, 2), 1),
    ("conv2d_g3_p1", (1, 6, 5, 7), (9, 2, 3, 3), True, (1, 1), (1, 1), (1, 1), 3),
    ("conv2d_depthwise_s2", (2, 3, 7, 5), (3, 1, 3, 3), True, (2, 2), (1, 1), (1, 1), 3),
    ("conv2d_rect_1x3", (2, 3, 5, 7), (4, 3, 1, 3), True, (2, 1), (0, 1), (1, 1), 1),
    ("conv2d_5x5_s3", (1, 2, 7, 7), (3, 2, 5, 5), True, (3, 3), (2, 2), (1, 1), 1),
    ("conv2d_1x1", (1, 5, 3, 3), (7, 5, 1, 1), False, (1, 1), (0, 0), (1, 1), 1),
]

CONVT_CASES = [
    # name, x shape, w shape (C, OC/groups, KH, KW), bias, stride, pad, out_pad, dilation, groups
    ("convt_basic", (2, 4, 3, 5), (4, 3, 3, 3), False, (1, 1), (0, 0), (0, 0), (1, 1), 1),
    ("convt_s2_p1_op1", (2, 4, 3, 5), (4, 3, 3, 3), True, (2, 2), (1, 1), (1, 1), (1, 1), 1),
    ("convt_s2_p0", (1, 3, 5, 3), (3, 2, 4, 4), True, (2, 2), (0, 0), (0, 0), (1, 1), 1),
    ("convt_g2_s2_p1", (1, 4, 3, 3), (4, 3, 3, 3), True, (2, 2), (1, 1), (0, 0), (1, 1), 2),
    ("convt_s3_p1_op2", (1, 2, 3, 2), (2, 3, 3, 3), True, (3, 3), (1, 1), (2, 2), (1, 1), 1),
    ("convt_d2_s2_op1", (1, 2, 3, 3), (2, 2, 3, 3), True, (2, 2), (1, 1), (1, 1), (2, 2), 1),
]


def gen_conv(g):
    for name, xs, ws, bias, s, p, d, grp in CONV_CASES:
        inputs = {"x": randn(*xs), "w": randn(*ws) * 0.3}
        if bias:
            inputs["b"] = randn(ws[0])
        fn = lambda x, w, b=None, s=s, p=p, d=d, grp=grp: F.conv2d(x, w, b, s, p, d, grp)
        g.case(name, fn, inputs, {"stride": s, "pad": p, "dilation": d, "groups": grp})
    for name, xs, ws, bias, s, p, op, d, grp in CONVT_CASES:
        inputs = {"x": randn(*xs), "w": randn(*ws) * 0.3}
        if bias:
            inputs["b"] = randn(ws[1] * grp)
        fn = lambda x, w, b=None, s=s, p=p, op=op, d=d, grp=grp: \
            F.conv_transpose2d(x, w, b, s, p, op, grp, d)
        g.case(name, fn, inputs, {"stride": s, "pad": p, "out_pad": op, "dilation": d,
                                  "groups": grp})


def gen_pool(g):
    x = randn(2, 3, 7, 5)
    for kind, k, s, p in [("avg", 3, 2, 1), ("avg", 2, 2, 0), ("avg", 3, 1, 1),
                          ("max", 3, 2, 1), ("max", 2, 2, 0), ("max", 2, 1, 0)]:
        fn = F.avg_pool2d if kind == "avg" else F.max_pool2d
        g.case(f"{kind}_pool_k{k}_s{s}_p{p}", lambda x, fn=fn, k=k, s=s, p=p: fn(x, k, s, p),
               {"x": x}, {"kernel": k, "stride": s, "pad": p})


def gen_upsample(g):
    x = randn(2, 3, 3, 5)
    g.case("upsample_nearest_x2", lambda x: F.interpolate(x, scale_factor=2, mode="nearest"),
           {"x": x}, {"mode": "nearest", "factor": 2})
    g.case("upsample_nearest_x3", lambda x: F.interpolate(x, scale_factor=3, mode="nearest"),
           {"x": x}, {"mode": "nearest", "factor": 3})
    g.case("upsample_bilinear_x2",
           lambda x: F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False),
           {"x": x}, {"mode": "bilinear", "factor": 2, "align_corners": False})
    for mode in ("nearest", "bilinear"):
        for size in ((7, 8), (2, 3)):
            for ac in ((False, True) if mode == "bilinear" else (None,)):
                name = f"upsample_{mode}_to_{size[0]}x{size[1]}"
                if ac is not None:
                    name += "_ac" if ac else "_noac"
                fn = lambda x, mode=mode, size=size, ac=ac: \
                    F.interpolate(x, size=size, mode=mode, align_corners=ac)
                g.case(name, fn, {"x": x}, {"mode": mode, "size": size,
                                            "align_corners": bool(ac)})


def gen_pad(g):
    x = randn(2, 3, 4, 5)
    # (top, bottom, left, right) as Atelier takes them; F.pad wants (left, right, top, bottom)
    for mode, tblr in [("zero", (1, 2, 0, 3)), ("reflect", (2, 1, 1, 4)),
                       ("replicate", (3, 1, 2, 0))]:
        t, b, l, r = tblr
        tmode = "constant" if mode == "zero" else mode
        g.case(f"pad_{mode}", lambda x, tmode=tmode, p=(l, r, t, b): F.pad(x, p, mode=tmode),
               {"x": x}, {"mode": mode, "top": t, "bottom": b, "left": l, "right": r})


def adain(x, s, eps=1e-5):
    """AdaIN by hand (Huang & Belongie 2017, the authors' calc_mean_std): unbiased variance."""
    n, c = x.shape[:2]
    xf, sf = x.reshape(n, c, -1), s.reshape(n, c, -1)
    xm, sm = xf.mean(2, keepdim=True), sf.mean(2, keepdim=True)
    xs = (xf.var(2, unbiased=True, keepdim=True) + eps).sqrt()
    ss = (sf.var(2, unbiased=True, keepdim=True) + eps).sqrt()
    return ((xf - xm) / xs * ss + sm).reshape(x.shape)


def gen_norm(g):
    x = randn(2, 3, 5, 7) * 2 + 0.5
    g.case("instance_norm_affine", lambda x, gamma, beta: F.instance_norm(x, None, None, gamma,
           beta, eps=1e-5), {"x": x, "gamma": uniform(0.5, 1.5, 3), "beta": randn(3)},
           {"eps": 1e-5})
    g.case("instance_norm_plain", lambda x: F.instance_norm(x, eps=1e-5),
           {"x": randn(1, 4, 3, 3)}, {"eps": 1e-5})

    # training: the running statistics are inputs (not differentiated) and are updated in place
    x = randn(3, 4, 5, 3) * 1.5 - 0.3
    rm, rv = randn(4) * 0.1, uniform(0.5, 1.5, 4)
    leaves = g.case("batch_norm_train",
                    lambda x, gamma, beta, running_mean, running_var: F.batch_norm(
                        x, running_mean, running_var, gamma, beta, True, 0.1, 1e-5),
                    {"x": x, "gamma": uniform(0.5, 1.5, 4), "beta": randn(4),
                     "running_mean": rm, "running_var": rv},
                    {"momentum": 0.1, "eps": 1e-5}, nograd=("running_mean", "running_var"))
    g.tensors["batch_norm_train.running_mean_after"] = leaves["running_mean"].detach().clone()
    g.tensors["batch_norm_train.running_var_after"] = leaves["running_var"].detach().clone()
    g.case("batch_norm_eval",
           lambda x, gamma, beta, running_mean, running_var: F.batch_norm(
               x, running_mean, running_var, gamma, beta, False, 0.1, 1e-5),
           {"x": randn(2, 3, 5, 3), "gamma": uniform(0.5, 1.5, 3), "beta": randn(3),
            "running_mean": randn(3) * 0.5, "running_var": uniform(0.5, 1.5, 3)},
           {"eps": 1e-5}, nograd=("running_mean", "running_var"))

    g.case("adain", adain, {"x": randn(2, 3, 5, 7), "s": randn(2, 3, 3, 5) * 1.7 + 0.4},
           {"eps": 1e-5})


def gen_loss(g):
    x = randn(2, 3, 5)
    g.case("mse_loss", lambda x, t: F.mse_loss(x, t), {"x": x, "t": randn(2, 3, 5)})
    g.case("l1_loss", lambda x, t: F.l1_loss(x, t),
           {"x": x, "t": x + away_from_zero(0.05, 1.0, 2, 3, 5)})
    g.case("bce_with_logits", lambda x, t: F.binary_cross_entropy_with_logits(x, t),
           {"x": randn(2, 3, 5) * 3, "t": torch.rand(2, 3, 5)})
    # hinge: keep 1 - sign * x away from 0 so both sides take the same branch
    h = randn(3, 7) * 1.5
    h = torch.where((1 - h).abs() < 0.05, h + 0.2, h)
    h = torch.where((1 + h).abs() < 0.05, h + 0.2, h)
    for sign in (1.0, -1.0):
        g.case("hinge_real" if sign > 0 else "hinge_fake",
               lambda x, sign=sign: F.relu(1 - sign * x).mean(), {"x": h}, {"sign": sign})

    def tv(x):
        dh = x[:, :, 1:, :] - x[:, :, :-1, :]
        dw = x[:, :, :, 1:] - x[:, :, :, :-1]
        return dh.square().mean() + dw.square().mean()
    g.case("tv_loss", tv, {"x": randn(2, 3, 5, 7)})


def gen_net():
    """conv(3->8, 3x3, pad 1) -> instance norm (affine) -> relu -> conv(8->16, 3x3, stride 2,
    pad 1) -> batch norm (train) -> leaky_relu(0.2) -> conv_transpose(16->3, 3x3, stride 2,
    pad 1) -> tanh -> mse against a target. Input (2, 3, 7, 9): odd sizes round trip
    7 -> 4 -> 7 and 9 -> 5 -> 9 with output_padding 0."""
    p = {
        "x": uniform(-1, 1, 2, 3, 7, 9),
        "c1.w": randn(8, 3, 3, 3) * (1 / 27) ** 0.5, "c1.b": randn(8) * 0.1,
        "in.gamma": uniform(0.5, 1.5, 8), "in.beta": randn(8) * 0.1,
        "c2.w": randn(16, 8, 3, 3) * (1 / 72) ** 0.5, "c2.b": randn(16) * 0.1,
        "bn.gamma": uniform(0.5, 1.5, 16), "bn.beta": randn(16) * 0.1,
        "ct.w": randn(16, 3, 3, 3) * (1 / 48) ** 0.5, "ct.b": randn(3) * 0.1,
    }
    target = uniform(-0.9, 0.9, 2, 3, 7, 9)
    rm, rv = torch.zeros(16), torch.ones(16)
    t = {k: v.clone() for k, v in p.items()}
    t.update({"target": target.clone(), "bn.running_mean": rm.clone(),
              "bn.running_var": rv.clone()})
    q = {k: v.clone().requires_grad_(True) for k, v in p.items()}
    h = F.conv2d(q["x"], q["c1.w"], q["c1.b"], padding=1)
    h = F.relu(F.instance_norm(h, weight=q["in.gamma"], bias=q["in.beta"], eps=1e-5))
    h = F.conv2d(h, q["c2.w"], q["c2.b"], stride=2, padding=1)
    h = F.batch_norm(h, rm, rv, q["bn.gamma"], q["bn.beta"], True, 0.1, 1e-5)
    h = F.leaky_relu(h, 0.2)
    h = torch.tanh(F.conv_transpose2d(h, q["ct.w"], q["ct.b"], stride=2, padding=1))
    loss = F.mse_loss(h, target)
    loss.backward()
    t["out"] = h.detach()
    t["loss"] = loss.detach()
    t["bn.running_mean_after"], t["bn.running_var_after"] = rm, rv
    for k, v in q.items():
        t["grad." + k] = v.grad
    return t


def main():
    torch.manual_seed(SEED)
    torch.set_num_threads(1)  # deterministic summation order
    g = Golden()
    for gen in (gen_binary, gen_scalar, gen_unary, gen_reduce, gen_shape, gen_linalg,
                gen_conv, gen_pool, gen_upsample, gen_pad, gen_norm, gen_loss):
        gen(g)
    info = {"generator": "tools/gen_golden_ops.py", "seed": str(SEED),
            "torch": torch.__version__}
    g.save(os.path.join(ROOT, "tests/golden/ops.safetensors"), info)
    goldenlib.save(os.path.join(ROOT, "tests/golden/net.safetensors"), gen_net(), info)


if __name__ == "__main__":
    main()
