#!/usr/bin/python3
"""tfjs_torch.py: a TF.js layers model (Keras graph: model.json + weight shards) ported to
PyTorch, for golden tensors: the named layers' activations and the input gradients of two
losses, written as safetensors. It is the PyTorch peer of Atelier's reader (src/tfjs), built
independently from the same files with Keras/TF semantics spelled out here:

  'same' padding: total = max((ceil(in / s) - 1) s + (k - 1) d + 1 - in, 0), the smaller half
  before (top/left); 'same' average pools divide by the real pixels in the window; 'same'
  max pools pad with -inf; kernels HWIO -> OIHW; depthwise kernels (kh, kw, C, M) -> a
  grouped convolution whose output channel c * M + m; Flatten is channels-last.

usage: /usr/bin/python3 tools/tfjs_torch.py MODEL_DIR OUT.safetensors --input IN.safetensors
           [--layers a,b] [--grad-layers a,b] [--double]
       /usr/bin/python3 tools/tfjs_torch.py MODEL_DIR --compare GOLDEN.safetensors
The input is IN's "input" (1, 3, H, W) (tools/tfjs_reference.mjs writes one). With
--grad-layers the output also holds "torch/grad_input" = d/dx sum_l mean(F_l^2) and
"torch/grad_input_gram" = d/dx sum_l mean(G_l^2), G_l = F_l F_l^T / (H W) per image
(computed in float64 with --double). The module is importable: load_model(dir) returns a
callable (x NCHW, names) -> {name: tensor}; bench/bench_torch.py uses it.
"""
import argparse
import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

BYTES = {"float32": 4, "int32": 4, "uint8": 1, "uint16": 2, "float16": 2}


def read_weights(d, manifest):
    out = {}
    for group in manifest:
        blob = b"".join(open(os.path.join(d, p), "rb").read() for p in group["paths"])
        off = 0
        for w in group["weights"]:
            n = int(np.prod(w["shape"])) if w["shape"] else 1
            q = w.get("quantization")
            if q:
                dt = {"uint8": np.uint8, "uint16": "<u2", "float16": "<f2"}[q["dtype"]]
                raw = np.frombuffer(blob, dt, n, off).astype(np.float64)
                v = raw if q["dtype"] == "float16" else q["min"] + q["scale"] * raw
                off += n * BYTES[q["dtype"]]
            else:
                v = np.frombuffer(blob, "<f4", n, off).astype(np.float64)
                off += n * 4
            out[w["name"]] = v.reshape(w["shape"])
        assert off == len(blob), "manifest and shards disagree"
    return out


def pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def same_pad(size, k, s, d):
    out = -(-size // s)
    total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
    return total // 2, total - total // 2


def activation(x, name):
    if name in (None, "linear"):
        return x
    if name == "relu":
        return F.relu(x)
    if name == "relu6":
        return torch.clamp(x, 0, 6)
    if name == "sigmoid":
        return torch.sigmoid(x)
    if name == "tanh":
        return torch.tanh(x)
    if name == "softmax":
        return torch.softmax(x, dim=1)
    raise ValueError("activation %s" % name)


class Model:
    def __init__(self, d, dtype=torch.float32):
        j = json.load(open(os.path.join(d, "model.json")))
        topo = j["modelTopology"]
        cfg = (topo.get("model_config") or topo)["config"]
        self.layers = cfg["layers"]
        self.out = cfg["output_layers"][0][0]
        w = read_weights(d, j["weightsManifest"])
        self.w = {k: torch.tensor(v, dtype=dtype) for k, v in w.items()}
        self.dtype = dtype

    def get(self, layer, var):
        return self.w[layer + "/" + var]

    def conv(self, x, c, name, depthwise):
        kh, kw = pair(c["kernel_size"])
        sh, sw = pair(c["strides"])
        dh, dw = pair(c.get("dilation_rate", 1))
        if depthwise:
            k = self.get(name, "depthwise_kernel")            # (kh, kw, C, M)
            C, M = k.shape[2], k.shape[3]
            weight = k.permute(2, 3, 0, 1).reshape(C * M, 1, kh, kw)
            groups = C
        else:
            weight = self.get(name, "kernel").permute(3, 2, 0, 1)   # HWIO -> OIHW
            groups = 1
        if c["padding"] == "same":
            t, b = same_pad(x.shape[2], kh, sh, dh)
            l, r = same_pad(x.shape[3], kw, sw, dw)
            x = F.pad(x, (l, r, t, b))
        bias = self.get(name, "bias") if c.get("use_bias", True) else None
        y = F.conv2d(x, weight, bias, (sh, sw), 0, (dh, dw), groups)
        return activation(y, c.get("activation"))

    def pool(self, x, c, is_max):
        k = pair(c["pool_size"])
        s = pair(c["strides"] or c["pool_size"])
        if c["padding"] == "same":
            t, b = same_pad(x.shape[2], k[0], s[0], 1)
            l, r = same_pad(x.shape[3], k[1], s[1], 1)
            if is_max:
                return F.max_pool2d(F.pad(x, (l, r, t, b), value=-math.inf), k, s)
            ones = torch.ones_like(x[:, :1])
            num = F.avg_pool2d(F.pad(x, (l, r, t, b)), k, s)
            den = F.avg_pool2d(F.pad(ones, (l, r, t, b)), k, s)
            return num / den
        return F.max_pool2d(x, k, s) if is_max else F.avg_pool2d(x, k, s)

    def __call__(self, x, names=None):
        """x (N, C, H, W) -> {layer: output}, NCHW or (N, F)."""
        v = {}
        left = set(names) if names is not None else None
        for L in self.layers:
            if left is not None and not left:
                break                      # everything asked for is computed
            cls, c, name = L["class_name"], L["config"], L["name"]
            ins = [v[e[0]] for e in (L["inbound_nodes"][0] if L["inbound_nodes"] else [])]
            a = ins[0] if ins else None
            if cls == "InputLayer":
                y = x
            elif cls in ("Conv2D", "DepthwiseConv2D"):
                y = self.conv(a, c, name, cls == "DepthwiseConv2D")
            elif cls == "BatchNormalization":
                n = a.shape[1]
                g = self.get(name, "gamma") if c.get("scale", True) else torch.ones(n, dtype=self.dtype)
                b = self.get(name, "beta") if c.get("center", True) else torch.zeros(n, dtype=self.dtype)
                y = F.batch_norm(a, self.get(name, "moving_mean"), self.get(name, "moving_variance"), g, b, False, 0.0,
                                 c.get("epsilon", 1e-3))
            elif cls == "Activation":
                y = activation(a, c["activation"])
            elif cls == "ReLU":
                y = F.leaky_relu(a, c.get("negative_slope") or 0.0) if c.get("negative_slope") else F.relu(a)
                if c.get("max_value") is not None:
                    y = torch.clamp(y, max=c["max_value"])
            elif cls == "Add":
                y = ins[0]
                for t in ins[1:]:
                    y = y + t
            elif cls == "Concatenate":
                ax = c["axis"]
                y = torch.cat(ins, 1 if (ax in (-1, 3) or a.dim() == 2) else {1: 2, 2: 3}[ax])
            elif cls in ("MaxPooling2D", "AveragePooling2D"):
                y = self.pool(a, c, cls == "MaxPooling2D")
            elif cls == "ZeroPadding2D":
                p = c["padding"]
                (t, b), (l, r) = (p if isinstance(p[0], list) else ((p[0], p[0]), (p[1], p[1]))) if isinstance(p, list) else ((p, p), (p, p))
                y = F.pad(a, (l, r, t, b))
            elif cls == "GlobalAveragePooling2D":
                y = a.mean((2, 3))
            elif cls == "Flatten":
                y = a.permute(0, 2, 3, 1).reshape(a.shape[0], -1) if a.dim() == 4 else a
            elif cls == "Dense":
                y = activation(a @ self.get(name, "kernel") + self.get(name, "bias"), c.get("activation"))
            elif cls == "Dropout":
                y = a
            elif cls == "Reshape":
                y = a.reshape(a.shape[0], -1)
            else:
                raise ValueError("layer %s: unsupported class %s" % (name, cls))
            v[name] = y
            if left is not None:
                left.discard(name)
        return v if names is None else {n: v[n] for n in names}


def load_model(d, dtype=torch.float32):
    return Model(d, dtype)


def read_safetensors(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n])
    meta = h.pop("__metadata__", {})
    out = {k: np.frombuffer(b, "<f4", int(np.prod(v["shape"])), 8 + n + v["data_offsets"][0]).reshape(v["shape"])
           for k, v in h.items()}
    return out, meta


def write_safetensors(path, tensors, meta):
    header, off, blobs = {"__metadata__": meta}, 0, []
    for k, t in tensors.items():
        a = np.ascontiguousarray(t, "<f4")
        header[k] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
        off += a.nbytes
        blobs.append(a.tobytes())
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
    os.replace(tmp, path)


def gram(f):
    n, c = f.shape[0], f.shape[1]
    f = f.reshape(n, c, -1)
    return f @ f.transpose(1, 2) / f.shape[2]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model_dir")
    ap.add_argument("out", nargs="?")
    ap.add_argument("--input")
    ap.add_argument("--layers")
    ap.add_argument("--grad-layers")
    ap.add_argument("--double", action="store_true")
    ap.add_argument("--compare")
    a = ap.parse_args()
    dtype = torch.float64 if a.double else torch.float32
    m = load_model(a.model_dir, dtype)
    src = a.compare or a.input
    if not src:
        sys.exit("tfjs_torch: give --input IN.safetensors (or --compare GOLDEN)")
    gold, meta = read_safetensors(src)
    x = torch.tensor(gold["input"], dtype=dtype)
    if a.compare:
        with torch.no_grad():
            v = m(x)
        for k, want in gold.items():
            if not k.startswith("tfjs/"):
                continue
            got = v[k[5:]].numpy()
            d = np.abs(got - want).max()
            print("%-24s max |diff| %.3g  of max %.3g: %.2e" % (k[5:], d, np.abs(want).max(), d / max(np.abs(want).max(), 1e-30)))
        return
    names = a.layers.split(",") if a.layers else [L["name"] for L in m.layers if L["class_name"] != "InputLayer"]
    with torch.no_grad():
        v = m(x, names)
    out = {"input": gold["input"]}
    for n in names:
        out["torch/" + n] = v[n].float().numpy()
    if a.grad_layers:
        gl = a.grad_layers.split(",")
        for key, loss_of in (("torch/grad_input", lambda f: (f ** 2).mean()),
                             ("torch/grad_input_gram", lambda f: (gram(f if f.dim() == 4 else f[:, :, None, None]) ** 2).mean())):
            xx = x.clone().requires_grad_(True)
            fs = m(xx, gl)
            loss = sum(loss_of(fs[n]) for n in gl)
            loss.backward()
            out[key] = xx.grad.float().numpy()
    write_safetensors(a.out, out, {"layers": ",".join(names), "grad_layers": a.grad_layers or "",
                                   "torch_version": torch.__version__, "dtype": str(dtype).replace("torch.", ""),
                                   "source": "tools/tfjs_torch.py"})
    print("%s: %d layers%s" % (a.out, len(names), ", input gradients" if a.grad_layers else ""))


if __name__ == "__main__":
    main()
