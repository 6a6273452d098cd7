#!/usr/bin/env python3
"""Reference values from PyTorch for the measures of include/atelier/metrics.h.

Usage: $(tools/find_torch_python.sh) tools/gen_metrics_golden.py
Writes tests/golden/metrics.safetensors (tests/test_metrics.c), from any directory; the
result depends only on the seed.

Two fixed sets of feature rows, "x" (20, 8) and "y" (25, 8), stored as float32 (the C
functions take floats). x's first 6 rows are y's first 6 plus noise of 0.01, so that the
memorisation measures have copies to find; the rest are independent normals, y shifted by
0.3 so that the MMD is clearly non-zero. Every result is computed in float64 from the stored
float32 values and kept in the file's metadata as a Python repr (17 significant digits, it
reads back exactly): a float32 tensor would round it to 6e-8, and the C test asks 1e-9.

The formulas, written out here independently of the C:
  mmd2      mean_{i != j} k(x_i, x_j) + mean_{i != j} k(y_i, y_j) - 2 mean k(x_i, y_j),
            k(a, b) = (a.b / d + 1)^3 (Binkowski et al. 2018; torch-fidelity's kid)
  diversity mean over pairs i < j of |x_i - x_j|
  memo      medians (torch.quantile 0.5: the mean of the middle two for an even count) of
            each x's distance to its nearest y and each y's to its nearest other y
"""
import os
import sys

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import goldenlib  # noqa: E402

SEED = 20240611
N, M, D = 20, 25, 8
NCOPIES = 6
COPY_THRESHOLD = 0.5


def sets():
    g = torch.Generator().manual_seed(SEED)
    y = torch.randn(M, D, generator=g) + 0.3
    x = torch.randn(N, D, generator=g)
    x[:NCOPIES] = y[:NCOPIES] + 0.01 * torch.randn(NCOPIES, D, generator=g)
    return x.float(), y.float()


def kernel(a, b):
    return (a @ b.T / a.shape[1] + 1) ** 3


def mmd2_unbiased(x, y):
    n, m = x.shape[0], y.shape[0]
    kxx, kyy = kernel(x, x), kernel(y, y)
    return ((kxx.sum() - kxx.diag().sum()) / (n * (n - 1))
            + (kyy.sum() - kyy.diag().sum()) / (m * (m - 1))
            - 2 * kernel(x, y).mean()).item()


def diversity(x):
    i, j = torch.triu_indices(x.shape[0], x.shape[0], 1)
    return (x[i] - x[j]).norm(dim=1).mean().item()


def memorisation(fake, real):
    fake_nn = torch.cdist(fake, real).min(dim=1).values
    rr = torch.cdist(real, real)
    rr.fill_diagonal_(float("inf"))
    real_nn = rr.min(dim=1).values
    fmed, rmed = torch.quantile(fake_nn, 0.5).item(), torch.quantile(real_nn, 0.5).item()
    copies = (fake_nn < COPY_THRESHOLD * rmed).double().mean().item()
    return {"fake_nn_median": fmed, "real_nn_median": rmed, "ratio": fmed / rmed,
            "copy_fraction": copies}


def main():
    torch.set_num_threads(1)
    x, y = sets()
    x64, y64 = x.double(), y.double()
    meta = {"generator": "tools/gen_metrics_golden.py", "torch": torch.__version__,
            "copy_threshold": repr(COPY_THRESHOLD),
            "mmd2": repr(mmd2_unbiased(x64, y64)),
            "mmd2_xx": repr(mmd2_unbiased(x64[:10], x64[10:])),
            "diversity_x": repr(diversity(x64)), "diversity_y": repr(diversity(y64))}
    for k, v in memorisation(x64, y64).items():
        meta[f"memo.{k}"] = repr(v)
    for k, v in meta.items():
        print(f"  {k}: {v}")
    goldenlib.save(os.path.join(ROOT, "tests/golden/metrics.safetensors"), {"x": x, "y": y}, meta)


if __name__ == "__main__":
    main()
