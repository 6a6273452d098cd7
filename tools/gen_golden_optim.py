"""Golden trajectories for tests/test_optim.c: 20 optimiser steps in PyTorch 1.13.

Run from the repository root with the python3 that has torch (tools/find_torch_python.sh):
    /usr/bin/python3 tools/gen_golden_optim.py
writes tests/golden/optim.safetensors.

The objective uses only elementwise ops and reductions, so the C test can build it from
op_sub/op_mul/op_square/op_sum...; it is non-quadratic (a Rosenbrock valley with a = 1,
b = 10) and couples the parameters (the squared sum of w):
    loss = sum(10 (v - u^2)^2 + (1 - u)^2) + sum((A w - B)^2) + 0.1 (sum w)^2
with parameters u (3), v (3), w (2, 3) and constants A, B (2, 3), elementwise products.

For each configuration <name> the file holds
    <name>.u (20, 3), <name>.v (20, 3), <name>.w (20, 2, 3): the parameters after each step,
    <name>.loss (20): the loss each step saw (for L-BFGS what step() returned: the first
        closure call's loss),
    <name>.evals (20): L-BFGS only, closure calls so far after each step,
    <name>.drift (20): how far this float32 run is from the same run in float64 by each step
        (the running maximum over the parameters): how much float32 rounding alone moves it,
and init.u, init.v, init.w, A, B. The metadata records each configuration's options.
A last configuration, rosen_wolfe_lr10, minimises Rosenbrock's function of x (2) instead
and stores rosen_wolfe_lr10.x (20, 2) with its loss, evals and drift.
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import goldenlib  # noqa: E402

STEPS = 20

INIT = {
    "u": [-1.2, 0.5, 1.5],
    "v": [1.0, -0.3, 2.0],
    "w": [[0.3, -0.7, 1.1], [-0.4, 0.9, 0.2]],
}
A = [[1.5, 0.8, -1.2], [0.6, -2.0, 1.0]]
B = [[0.5, -1.0, 0.3], [1.2, 0.4, -0.8]]

# name -> (constructor, options); the C test builds the same configurations.
CONFIGS = {
    "sgd": (torch.optim.SGD, dict(lr=0.005)),
    "sgd_momentum": (torch.optim.SGD, dict(lr=0.002, momentum=0.9, dampening=0.1, weight_decay=0.01)),
    "sgd_nesterov": (torch.optim.SGD, dict(lr=0.002, momentum=0.9, nesterov=True, weight_decay=0.01)),
    "adam": (torch.optim.Adam, dict(lr=0.05, weight_decay=0.01)),
    "adamw": (torch.optim.AdamW, dict(lr=0.05, weight_decay=0.1)),
    "lbfgs_lr1": (torch.optim.LBFGS, dict(lr=1, max_iter=5)),
    "lbfgs_lr05": (torch.optim.LBFGS, dict(lr=0.5, max_iter=5, history_size=3)),
    "lbfgs_wolfe": (torch.optim.LBFGS, dict(lr=1, max_iter=5, line_search_fn="strong_wolfe")),
    # t = 2 overshoots now and then: the line search extrapolates and zooms
    "lbfgs_wolfe_lr2": (torch.optim.LBFGS, dict(lr=2, max_iter=5, line_search_fn="strong_wolfe")),
}
# Rosenbrock's function 100 (x1 - x0^2)^2 + (1 - x0)^2 from (-1.2, 1) with t = 10: the
# line search's zoom phase runs (bracket swaps, the insufficient-progress rule).
ROSEN_INIT = [-1.2, 1.0]
ROSEN_CONFIGS = {
    "rosen_wolfe_lr10": (torch.optim.LBFGS, dict(lr=10, max_iter=5, line_search_fn="strong_wolfe")),
}


def objective(u, v, w, a, b):
    rosen = ((v - u.square()).square() * 10 + (1 - u).square()).sum()
    fit = (a * w - b).square().sum()
    couple = w.sum().square() * 0.1
    return rosen + fit + couple


def rosenbrock(x):
    return (x[1] - x[0].square()).square() * 100 + (1 - x[0]).square()


def run(name, dtype):
    if name in ROSEN_CONFIGS:
        ctor, opts = ROSEN_CONFIGS[name]
        p = {"x": torch.tensor(ROSEN_INIT, dtype=dtype, requires_grad=True)}
        objective_fn = lambda: rosenbrock(p["x"])  # noqa: E731
    else:
        ctor, opts = CONFIGS[name]
        p = {k: torch.tensor(val, dtype=dtype, requires_grad=True) for k, val in INIT.items()}
        a, b = torch.tensor(A, dtype=dtype), torch.tensor(B, dtype=dtype)
        objective_fn = lambda: objective(p["u"], p["v"], p["w"], a, b)  # noqa: E731
    opt = ctor(list(p.values()), **opts)

    def closure():
        opt.zero_grad()
        loss = objective_fn()
        loss.backward()
        return loss

    first = next(iter(p.values()))
    out = {k: [] for k in list(p) + ["loss", "evals"]}
    for _ in range(STEPS):
        if ctor is torch.optim.LBFGS:
            loss = opt.step(closure)
            out["evals"].append(float(opt.state[first]["func_evals"]))
        else:
            loss = closure()
            opt.step()
        out["loss"].append(float(loss))
        for k in p:
            out[k].append(p[k].detach().clone())
    return out, list(p)


def main():
    torch.set_num_threads(1)
    tensors = {f"init.{k}": torch.tensor(v) for k, v in INIT.items()}
    tensors["A"], tensors["B"] = torch.tensor(A), torch.tensor(B)
    tensors["init.x"] = torch.tensor(ROSEN_INIT)
    meta = {"generator": "tools/gen_golden_optim.py", "torch": torch.__version__, "steps": STEPS}
    for name in list(CONFIGS) + list(ROSEN_CONFIGS):
        got, keys = run(name, torch.float32)
        ref64, _ = run(name, torch.float64)
        for k in keys:
            tensors[f"{name}.{k}"] = torch.stack(got[k])
        tensors[f"{name}.loss"] = torch.tensor(got["loss"])
        if got["evals"]:
            tensors[f"{name}.evals"] = torch.tensor(got["evals"])
        # float32 rounding alone moves torch's run this far from float64 by each step (the
        # running maximum over all parameters): the C test's L-BFGS tolerances scale with it
        drift = torch.stack([torch.stack(got[k]).double().sub(torch.stack(ref64[k])).abs()
                             .flatten(1).max(1).values for k in keys]).max(0).values
        drift = torch.cummax(drift, 0).values
        tensors[f"{name}.drift"] = drift
        drift = drift[-1].item()
        meta[name] = str({**CONFIGS, **ROSEN_CONFIGS}[name][1])
        print(f"{name}: final loss {got['loss'][-1]:.6g}, float32 vs float64 drift {drift:.3g}")
    goldenlib.save("tests/golden/optim.safetensors", tensors, meta)


if __name__ == "__main__":
    main()
