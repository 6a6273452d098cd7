#!/usr/bin/env python3
"""The golden of tests/test_stylenet_golden.c: a tiny fast style network (stylenet.h) run
forward and backward in PyTorch (tools/stylenet_torch.py).

Usage: $(tools/find_torch_python.sh) tools/gen_stylenet_golden.py
Writes tests/golden/stylenet.safetensors, from any directory; the result depends only on
the seed.

The network: 3 styles, width 0.25 (C1, C2, C3 = 8, 16, 32). Its parameters are drawn here
(seed SEED), not PyTorch's default init, so that every part of the network matters: conv
weights U(-0.2, 0.2), biases U(-0.1, 0.1), the CIN tables gamma U(0.5, 1.5) and beta
U(-0.5, 0.5), so that the three styles' rows differ. Inputs: x (2, 3, 12, 16) U(0, 1) (12x16
-> 6x8 -> 3x4 and back), mix (2, 3) = [[0, 1, 0], [0.25, 0, 0.75]] (one style; a blend),
and wgt, U(-1, 1) of y's shape. The loss is L = sum(y * wgt): wgt gives every output
element its own weight, so a backward that swaps or drops elements cannot pass.

The file holds
    x, mix, wgt                 the inputs
    <param>                     every parameter by its stylenet.h name (conv1.weight ...)
    y (2, 3, 12, 16)            the output
    grad.x, grad.mix, grad.<param>   dL / d each
All values are float32; the forward and backward run in float64 from those float32 values,
so the file holds the exact answer to float32 inputs, and the C test's tolerance covers
only its own float32 rounding. The metadata gives the generator, seed, torch version,
nstyles, width, the parameter names in state-dict order ("params"), and "drift": for y and
each gradient, how far PyTorch's own float32 run is from the float64 one (max |diff| /
max |ref|): the scale of float32 rounding on this network.
"""
import json
import os
import sys

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import goldenlib  # noqa: E402
import stylenet_torch  # noqa: E402

SEED = 20261203
NSTYLES, WIDTH = 3, 0.25
MIX = [[0.0, 1.0, 0.0], [0.25, 0.0, 0.75]]


def uniform(lo, hi, shape):
    return torch.rand(shape, dtype=torch.float32) * (hi - lo) + lo


def draw_params():
    out = {}
    for name, shape in stylenet_torch.layout(NSTYLES, WIDTH):
        if name.endswith(".weight"):
            out[name] = uniform(-0.2, 0.2, shape)
        elif name.endswith(".bias"):
            out[name] = uniform(-0.1, 0.1, shape)
        elif name.endswith(".gamma"):
            out[name] = uniform(0.5, 1.5, shape)
        else:
            out[name] = uniform(-0.5, 0.5, shape)
    return out


def run(params, x, mix, wgt, dtype):
    """y and the gradients of sum(y * wgt), computed in dtype."""
    net = stylenet_torch.StyleNet(NSTYLES, WIDTH, dtype=dtype).load_state(params)
    xl = x.to(dtype).requires_grad_(True)
    ml = mix.to(dtype).requires_grad_(True)
    y = net(xl, ml)
    (y * wgt.to(dtype)).sum().backward()
    grads = {"grad.x": xl.grad, "grad.mix": ml.grad}
    grads.update({"grad." + n: p.grad for n, p in net.named_parameters()})
    return y.detach(), grads


def main():
    torch.manual_seed(SEED)
    torch.set_num_threads(1)  # deterministic summation order
    params = draw_params()
    x = uniform(0, 1, (2, 3, 12, 16))
    mix = torch.tensor(MIX, dtype=torch.float32)
    wgt = uniform(-1, 1, (2, 3, 12, 16))

    y, grads = run(params, x, mix, wgt, torch.float64)
    y32, grads32 = run(params, x, mix, wgt, torch.float32)

    def drift(a, b):
        scale = float(a.abs().max())
        return float((a - b.to(a.dtype)).abs().max()) / scale if scale else 0.0

    d = {"y": drift(y, y32)}
    d.update({k: drift(v, grads32[k]) for k, v in grads.items()})
    for k, v in d.items():
        print(f"  float32 drift {k:28s} {v:.2e}")

    t = {"x": x, "mix": mix, "wgt": wgt}
    t.update(params)
    t["y"] = y
    t.update(grads)
    names = stylenet_torch.StyleNet(NSTYLES, WIDTH).names()
    meta = {"generator": "tools/gen_stylenet_golden.py", "seed": str(SEED), "torch": torch.__version__,
            "nstyles": str(NSTYLES), "width": str(WIDTH), "params": ",".join(names),
            "drift": json.dumps({k: float(f"{v:.3g}") for k, v in d.items()}, separators=(",", ":"))}
    goldenlib.save(os.path.join(ROOT, "tests/golden/stylenet.safetensors"), t, meta)


if __name__ == "__main__":
    main()
