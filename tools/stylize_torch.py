"""The style-transfer algorithm of `atelier stylize` (plain RGB, the loss of the README), in
PyTorch, to check Atelier against it with the same weights and inputs.

Two uses (run with Debian's python3-torch: $(tools/find_torch_python.sh)):

  compare: stylize_torch.py --weights W.safetensors --content C.png --style S.png
                            --iterations 50 [--content-layers L] [--style-layers L]
                            [--content-weight A --style-weight B --tv-weight C]
     C.png and S.png at the exact working size (8-bit RGB PNGs, as `atelier stylize
     --iterations 0` writes them: no resizing happens on either side). Prints JSON with the
     first and final loss. tools/compare_stylize.sh runs both programs.

  golden:  stylize_torch.py --golden tests/golden/stylize_small.safetensors
     A small synthetic case (weights and images from closed formulas that
     tests/test_stylize.c computes too), written for the C test.

The optimiser: L-BFGS (lr 1, history 100, strong Wolfe line search) called once per iteration with
max_iter=1, as Atelier does; the image is clamped to [0, 1] at the end and the loss
evaluated there ("final").
"""
import argparse
import json
import math
import struct
import sys
import zlib

import torch
import torch.nn.functional as F

VGG_CONVS = [(3, 64), (64, 64), (64, 128), (128, 128), (128, 256), (256, 256), (256, 256), (256, 256),
             (256, 512), (512, 512), (512, 512), (512, 512), (512, 512), (512, 512), (512, 512), (512, 512)]
GROUP_ENDS = [1, 3, 7, 11]  # a pool follows these convs
NAMES = ["relu1_1", "relu1_2", "relu2_1", "relu2_2", "relu3_1", "relu3_2", "relu3_3", "relu3_4",
         "relu4_1", "relu4_2", "relu4_3", "relu4_4", "relu5_1", "relu5_2", "relu5_3", "relu5_4"]


def torchvision_index(i):
    """features.K of conv i in torchvision's vgg19: conv, relu (and pool after a group)."""
    k = 0
    for j in range(i):
        k += 2 + (1 if j in GROUP_ENDS else 0)
    return k


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, h in header.items():
        if name == "__metadata__":
            continue
        assert h["dtype"] == "F32", name
        b, e = h["data_offsets"]
        out[name] = torch.frombuffer(bytearray(data[b:e]), dtype=torch.float32).reshape(h["shape"])
    return out


def read_png(path):
    """8-bit RGB/RGBA, non-interlaced PNG -> (3, H, W) float in [0, 1]."""
    with open(path, "rb") as f:
        raw = f.read()
    assert raw[:8] == b"\x89PNG\r\n\x1a\n", path
    pos, idat, w = 8, b"", 0
    while pos < len(raw):
        n, kind = struct.unpack(">I4s", raw[pos:pos + 8])
        body = raw[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and ctype in (2, 6) and interlace == 0, "8-bit RGB(A) PNGs only"
            ch = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    data, stride, prev, rows = zlib.decompress(idat), w * ch, bytearray(w * ch), []
    for y in range(h):
        ft, line = data[y * (stride + 1)], bytearray(data[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - ch] if i >= ch else 0
            b, c = prev[i], prev[i - ch] if i >= ch else 0
            if ft == 1: line[i] = (line[i] + a) & 255
            elif ft == 2: line[i] = (line[i] + b) & 255
            elif ft == 3: line[i] = (line[i] + (a + b) // 2) & 255
            elif ft == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    t = torch.tensor(list(b"".join(rows)), dtype=torch.float32).reshape(h, w, ch)[:, :, :3]
    return t.permute(2, 0, 1).contiguous() / 255.0


def parse_layers(text):
    out = []
    for item in text.split(","):
        name, _, w = item.partition(":")
        out.append((NAMES.index(name), float(w) if w else 1.0))
    return out


class Net:
    def __init__(self, weights, deepest, pool="max"):
        self.w, self.b, self.pool = [], [], pool
        for i in range(deepest + 1):
            k = torchvision_index(i)
            self.w.append(weights[f"features.{k}.weight"])
            self.b.append(weights[f"features.{k}.bias"])

    def features(self, x, wanted):
        mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
        std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
        h, out = (x - mean) / std, {}
        for i in range(max(wanted) + 1):
            h = F.relu(F.conv2d(h, self.w[i], self.b[i], padding=1))
            if i in wanted:
                out[i] = h
            if i in GROUP_ENDS and i < max(wanted):
                h = F.max_pool2d(h, 2) if self.pool == "max" else F.avg_pool2d(h, 2)
        return out


def gram(f):
    n, c, h, w = f.shape
    f = f.reshape(c, h * w)
    return f @ f.t() / (h * w)


def tv(x):
    return ((x[:, :, 1:, :] - x[:, :, :-1, :]) ** 2).mean() + ((x[:, :, :, 1:] - x[:, :, :, :-1]) ** 2).mean()


def stylize(net, content, style, cl, sl, a, b, c, iterations):
    wanted = {i for i, _ in cl} | {i for i, _ in sl}
    with torch.no_grad():
        fc = net.features(content[None], wanted)
        fs = net.features(style[None], wanted)
        ct = {i: fc[i] for i, _ in cl}
        gt = {i: gram(fs[i]) for i, _ in sl}
    swsum = sum(w for _, w in sl)
    x = content[None].clone().requires_grad_(True)

    def loss_of(img):
        f = net.features(img, wanted)
        lc = sum(w * ((f[i] - ct[i]) ** 2).mean() / (ct[i] ** 2).mean() for i, w in cl)
        ls = sum(w / swsum * ((gram(f[i]) - gt[i]) ** 2).mean() / (gt[i] ** 2).mean() for i, w in sl)
        return a * lc + b * ls + c * tv(img)

    opt = torch.optim.LBFGS([x], lr=1, max_iter=1, history_size=100, line_search_fn="strong_wolfe")
    losses = []

    def closure():
        opt.zero_grad()
        loss = loss_of(x)
        loss.backward()
        return loss

    for _ in range(iterations):
        losses.append(float(opt.step(closure)))
    with torch.no_grad():
        x.clamp_(0, 1)
        final = float(loss_of(x))
    return losses, final, x.detach()[0]


# ---- the synthetic case of tests/test_stylize.c (the same formulas in C) ----

def formula_weights(deepest):
    """Conv i: w[j] = sqrt(2 / fan_out) * sqrt(3) * sin(j * 0.7071 + i * 1.3 + 0.2) ... a
    deterministic stand-in for random weights (uniform-like spread), biases 0.01 * cos(j + i)."""
    out = {}
    for i in range(deepest + 1):
        cin, cout = VGG_CONVS[i]
        n = cout * cin * 9
        j = torch.arange(n, dtype=torch.float64)
        scale = math.sqrt(2.0 / (cout * 9)) * math.sqrt(3.0)
        w = (scale * torch.sin(j * 0.7071 + i * 1.3 + 0.2) * torch.cos(j * 0.1234 + i)).float()
        bj = torch.arange(cout, dtype=torch.float64)
        k = torchvision_index(i)
        out[f"features.{k}.weight"] = w.reshape(cout, cin, 3, 3)
        out[f"features.{k}.bias"] = (0.01 * torch.cos(bj + i)).float()
    return out


def formula_image(h, w, seed):
    """(3, H, W) in [0, 1], quantised to 8 bits: smooth stripes and blobs."""
    c = torch.arange(3, dtype=torch.float64).view(3, 1, 1)
    y = torch.arange(h, dtype=torch.float64).view(1, h, 1)
    x = torch.arange(w, dtype=torch.float64).view(1, 1, w)
    v = 0.5 + 0.25 * torch.sin(x * (0.3 + 0.1 * seed) + c * 2.0) + 0.2 * torch.cos(y * (0.2 + 0.05 * seed) - x * 0.1 * c)
    return (torch.round(v.clamp(0, 1) * 255) / 255).float()


def golden(path):
    sys.path.insert(0, "tools")
    import goldenlib
    cl, sl = parse_layers("relu2_1"), parse_layers("relu1_1,relu1_2:0.5,relu2_1")
    net = Net(formula_weights(2), 2)
    content, style = formula_image(24, 32, 1), formula_image(32, 32, 2)
    losses, final, img = stylize(net, content, style, cl, sl, 1.0, 10.0, 1.0, 20)
    goldenlib.save(path, {"losses": torch.tensor(losses), "final": torch.tensor([final]), "image": img},
                   {"iterations": 20, "content_layers": "relu2_1", "style_layers": "relu1_1,relu1_2:0.5,relu2_1",
                    "weights": "1,10,1"})


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--golden")
    p.add_argument("--weights")
    p.add_argument("--content")
    p.add_argument("--style")
    p.add_argument("--iterations", type=int, default=50)
    p.add_argument("--content-layers", default="relu4_2")
    p.add_argument("--style-layers", default="relu1_1,relu2_1,relu3_1,relu4_1,relu5_1")
    p.add_argument("--content-weight", type=float, default=1.0)
    p.add_argument("--style-weight", type=float, default=10.0)
    p.add_argument("--tv-weight", type=float, default=1.0)
    p.add_argument("--threads", type=int, default=0)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.golden:
        golden(args.golden)
        return
    cl, sl = parse_layers(args.content_layers), parse_layers(args.style_layers)
    deepest = max(i for i, _ in cl + sl)
    net = Net(read_safetensors(args.weights), deepest)
    losses, final, _ = stylize(net, read_png(args.content), read_png(args.style), cl, sl,
                               args.content_weight, args.style_weight, args.tv_weight, args.iterations)
    print(json.dumps({"first_loss": losses[0], "loss_at_last_iteration": losses[-1], "final_loss": final}))


if __name__ == "__main__":
    main()
