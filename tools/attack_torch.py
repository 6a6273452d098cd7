#!/usr/bin/env python3
"""Reference adversarial examples from PyTorch, for tests/test_attack.c (agreement).

Usage: /usr/bin/python3 tools/attack_torch.py
Writes tests/golden/attack.safetensors from any directory (about 20 KB).

A small CNN with fixed random weights (torch.manual_seed(16)), the op path of Atelier's
small classifier (classify.h CLASSIFY_CNN):
    x - 0.5 -> conv 3x3 3->4 (pad 1), ReLU, max-pool 2 -> conv 3x3 4->8 (pad 1), ReLU
    -> mean over H, W -> linear (3, 8)
on 4 images (4, 3, 8, 8) uniform in [0.02, 0.98], labels y. The attacks are written out
the textbook way (Goodfellow et al. 2015; Madry et al. 2018), with no random start, on the
cross-entropy summed over the batch:
  fgsm        x + eps sign(g), clipped to [0,1]                    eps 8/255
  fgsm_tgt    x - eps sign(g of CE(target 2)), clipped             eps 8/255
  pgd         3 steps of a = 2/255 along sign(g), projected on the linf ball of 8/255
              and [0,1] after each step
  pgd_l2      3 steps of a = 0.2 along g / ||g|| per image, projected on the L2 ball of 0.5
and per attack the gradient's smallest |g| over its steps (gmin), so that the C test can
skip pixels whose sign is a coin toss.
"""
import os
import sys

import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import goldenlib  # noqa: E402


def model(p, x):
    h = F.max_pool2d(F.relu(F.conv2d(x - 0.5, p["c1.weight"], p["c1.bias"], padding=1)), 2)
    h = F.relu(F.conv2d(h, p["c2.weight"], p["c2.bias"], padding=1))
    return F.linear(h.mean(dim=(2, 3)), p["fc.weight"], p["fc.bias"])


def grad(p, x, y):
    x = x.clone().requires_grad_(True)
    F.cross_entropy(model(p, x), y, reduction="sum").backward()
    return x.grad


def linf_steps(p, x, y, eps, a, steps, sign):
    xa, gmin = x.clone(), torch.full_like(x, float("inf"))
    for _ in range(steps):
        g = grad(p, xa, y)
        gmin = torch.minimum(gmin, g.abs())
        xa = xa + sign * a * g.sign()
        xa = torch.min(torch.max(xa, x - eps), x + eps).clamp(0, 1)
    return xa, gmin


def l2_steps(p, x, y, eps, a, steps):
    xa, gmin = x.clone(), torch.full_like(x, float("inf"))
    for _ in range(steps):
        g = grad(p, xa, y)
        gmin = torch.minimum(gmin, g.abs())
        n = g.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
        xa = xa + a * g / n
        d = xa - x
        dn = d.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
        xa = (x + d * torch.clamp(eps / dn, max=1.0)).clamp(0, 1)
    return xa, gmin


def main():
    torch.manual_seed(16)
    p = {
        "c1.weight": torch.randn(4, 3, 3, 3) * 0.5, "c1.bias": torch.randn(4) * 0.1,
        "c2.weight": torch.randn(8, 4, 3, 3) * 0.3, "c2.bias": torch.randn(8) * 0.1,
        "fc.weight": torch.randn(3, 8), "fc.bias": torch.randn(3) * 0.1,
    }
    x = torch.rand(4, 3, 8, 8) * 0.96 + 0.02
    y = torch.tensor([0, 1, 2, 1])
    eps = 8 / 255
    out = dict(p)
    out["x"] = x
    out["labels"] = y.float()
    out["logits"] = model(p, x)
    out["grad"] = grad(p, x, y)
    out["fgsm"], out["fgsm_gmin"] = linf_steps(p, x, y, eps, eps, 1, 1.0)
    tgt = torch.full_like(y, 2)
    out["fgsm_tgt"], out["fgsm_tgt_gmin"] = linf_steps(p, x, tgt, eps, eps, 1, -1.0)
    out["pgd"], out["pgd_gmin"] = linf_steps(p, x, y, eps, 2 / 255, 3, 1.0)
    out["pgd_l2"], out["pgd_l2_gmin"] = l2_steps(p, x, y, 0.5, 0.2, 3)
    goldenlib.save(os.path.join(ROOT, "tests", "golden", "attack.safetensors"), out,
                   {"script": "tools/attack_torch.py", "torch": torch.__version__})


if __name__ == "__main__":
    main()
