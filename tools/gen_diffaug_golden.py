#!/usr/bin/env python3
"""Reference DiffAugment outputs and gradients from PyTorch, for tests/test_diffaug.c.

Usage: $(tools/find_torch_python.sh) tools/gen_diffaug_golden.py
Writes tests/golden/diffaug.safetensors from any directory.

The functions below are the official DiffAugment_pytorch.py (mit-han-lab/data-efficient-gans,
policy 'color,translation,cutout') line for line, except that each random draw
(torch.rand / torch.randint) is an argument, so that the C test can apply the same draws.

The input x (3, 3, 16, 16) and the weights R of L = sum(out * R) are closed-form sine
patterns, x[i] = XS sin(XA i + XB) over the flat index, computed in double and rounded to
float32, exactly as test_sin_pattern() in tests/harness.c builds them; only their sums are
stored (a check that both sides built the same tensors). The file keeps the draws, the
output and d L / d x: about 19 KB.

The draws put the translations at both extremes of [-2, 2] on both axes (shift =
int(16 * 0.125 + 0.5) = 2) and the cutouts (8 x 8) against every border: offsets 0 and 16
(randint's whole range [0, 16] for an even cutout) clip the square at the image's edges.
"""
import os
import sys

import math
import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import goldenlib  # noqa: E402

SHAPE = (3, 3, 16, 16)
X_PATTERN = (0.37, 0.1, 1.2)   # a, b, s of s sin(a i + b)
R_PATTERN = (0.731, -0.4, 1.0)


def sin_pattern(shape, a, b, s):
    n = math.prod(shape)
    return torch.tensor([s * math.sin(a * i + b) for i in range(n)], dtype=torch.float32).reshape(shape)


# ---- the official functions, draws passed in (r: (N,) in [0, 1); integer draws: (N,)) ----

def rand_brightness(x, r):
    return x + (r.view(-1, 1, 1, 1) - 0.5)


def rand_saturation(x, r):
    x_mean = x.mean(dim=1, keepdim=True)
    return (x - x_mean) * (r.view(-1, 1, 1, 1) * 2) + x_mean


def rand_contrast(x, r):
    x_mean = x.mean(dim=[1, 2, 3], keepdim=True)
    return (x - x_mean) * (r.view(-1, 1, 1, 1) + 0.5) + x_mean


def rand_translation(x, translation_x, translation_y, ratio=0.125):
    shift_x, shift_y = int(x.size(2) * ratio + 0.5), int(x.size(3) * ratio + 0.5)
    assert translation_x.abs().max() <= shift_x and translation_y.abs().max() <= shift_y
    translation_x = translation_x.view(-1, 1, 1)
    translation_y = translation_y.view(-1, 1, 1)
    grid_batch, grid_x, grid_y = torch.meshgrid(
        torch.arange(x.size(0), dtype=torch.long),
        torch.arange(x.size(2), dtype=torch.long),
        torch.arange(x.size(3), dtype=torch.long),
        indexing="ij",
    )
    grid_x = torch.clamp(grid_x + translation_x + 1, 0, x.size(2) + 1)
    grid_y = torch.clamp(grid_y + translation_y + 1, 0, x.size(3) + 1)
    x_pad = F.pad(x, [1, 1, 1, 1, 0, 0, 0, 0])
    return x_pad.permute(0, 2, 3, 1).contiguous()[grid_batch, grid_x, grid_y].permute(0, 3, 1, 2)


def rand_cutout(x, offset_x, offset_y, ratio=0.5):
    cutout_size = int(x.size(2) * ratio + 0.5), int(x.size(3) * ratio + 0.5)
    assert 0 <= offset_x.min() and offset_x.max() < x.size(2) + (1 - cutout_size[0] % 2)
    assert 0 <= offset_y.min() and offset_y.max() < x.size(3) + (1 - cutout_size[1] % 2)
    offset_x = offset_x.view(-1, 1, 1)
    offset_y = offset_y.view(-1, 1, 1)
    grid_batch, grid_x, grid_y = torch.meshgrid(
        torch.arange(x.size(0), dtype=torch.long),
        torch.arange(cutout_size[0], dtype=torch.long),
        torch.arange(cutout_size[1], dtype=torch.long),
        indexing="ij",
    )
    grid_x = torch.clamp(grid_x + offset_x - cutout_size[0] // 2, min=0, max=x.size(2) - 1)
    grid_y = torch.clamp(grid_y + offset_y - cutout_size[1] // 2, min=0, max=x.size(3) - 1)
    mask = torch.ones(x.size(0), x.size(2), x.size(3), dtype=x.dtype)
    mask[grid_batch, grid_x, grid_y] = 0
    return x * mask.unsqueeze(1)


def diff_augment(x, d):
    x = rand_brightness(x, d["r_brightness"])
    x = rand_saturation(x, d["r_saturation"])
    x = rand_contrast(x, d["r_contrast"])
    x = rand_translation(x, d["translation_x"], d["translation_y"])
    x = rand_cutout(x, d["offset_x"], d["offset_y"])
    return x.contiguous()


def main():
    torch.manual_seed(20240611)
    long = lambda v: torch.tensor(v, dtype=torch.long)  # noqa: E731
    draws = {
        "r_brightness": torch.rand(3),
        "r_saturation": torch.rand(3),
        "r_contrast": torch.rand(3),
        # official naming: _x is along dim 2 (H), _y along dim 3 (W)
        "translation_x": long([-2, 2, 1]),
        "translation_y": long([2, -2, 0]),
        "offset_x": long([0, 16, 5]),
        "offset_y": long([16, 0, 9]),
    }
    x = sin_pattern(SHAPE, *X_PATTERN).requires_grad_(True)
    r = sin_pattern(SHAPE, *R_PATTERN)
    out = diff_augment(x, draws)
    (out * r).sum().backward()
    tensors = {k: v.to(torch.float32) for k, v in draws.items()}
    tensors.update({"out": out.detach(), "grad_x": x.grad, "x_sum": x.detach().sum(),
                    "r_sum": r.sum()})
    meta = {"policy": "color,translation,cutout", "torch": torch.__version__,
            "x_pattern": X_PATTERN, "r_pattern": R_PATTERN, "shape": SHAPE}
    goldenlib.save(os.path.join(ROOT, "tests", "golden", "diffaug.safetensors"), tensors, meta)


if __name__ == "__main__":
    main()
