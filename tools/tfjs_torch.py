#!/usr/bin/python3
"""A PyTorch port of TF.js *layers* models (model.json + weight shards), for golden tensors
that check Atelier's TF.js reader (src/tfjs) against an independent implementation.

Run with Debian's python3-torch ($(tools/find_torch_python.sh), i.e. /usr/bin/python3); needs
torch and numpy only.

  tfjs_torch.py MODEL_DIR OUT.safetensors [--input IN.safetensors] [--size H W] [--seed S]
                [--layers a,b,c] [--grad-layers a,b] [--double]
      Runs the model and writes OUT.safetensors (F32, the layout Atelier reads) with
        "input"                  (1, 3, H, W) NCHW, the image the model saw;
        "torch/<layer>"          each requested layer's output (default: every layer but the
                                 InputLayer); 4-D outputs NCHW, others in Keras's order;
        "torch/grad_input"       (with --grad-layers) d/d input of  sum_l mean(F_l^2);
        "torch/grad_input_gram"  (with --grad-layers) d/d input of  sum_l mean(G_l^2), with
                                 G_l = F F^T / (H W) per image ((N, C) outputs count as
                                 (N, C, 1, 1)); both gradients always in float64 (a float64
                                 copy of the model), stored as float32;
      and metadata "layers", "grad_layers", "torch_version", "dtype" (of the forward pass:
      float32, or float64 with --double), "model", "input".
      The input is IN.safetensors's "input" tensor (NCHW, (1, 3, H, W)) when given, else a
      deterministic synthetic image (formula_image: smooth stripes in [0, 1], 8-bit
      quantised; size --size, else the model's own input size, else 224; --seed varies it).

  tfjs_torch.py MODEL_DIR [OUT.safetensors] --compare GOLDEN.safetensors [--prefix tfjs/]
      Runs the model on GOLDEN's "input" (unless --input) for GOLDEN's "tfjs/<layer>"
      tensors (or --layers) and prints, per layer, max |diff| and max |diff| / max |ref|,
      the input gradients too when GOLDEN has "tfjs/grad_input[_gram]". Exit status 2 when
      some layer differs by more than 1e-4 of its largest value.

  tfjs_torch.py A.safetensors --compare GOLDEN.safetensors [--prefix tfjs/]
      Compares the "torch/<name>" tensors already stored in A with GOLDEN's PREFIX<name>
      without rerunning anything.

  As a module: load_model(MODEL_DIR, dtype) returns a torch.nn.Module; model(x, names) maps
  x (N, 3, H, W) to {name: output} (every layer when names is None); bench/bench_torch.py
  uses it.

Semantics (Keras 2.x / TF, channels_last models, run here in NCHW):
  Conv2D            kernel HWIO -> OIHW; strides; dilation_rate; groups; 'valid' / 'same' (TF:
                    total = max((ceil(in/s)-1)*s + (k-1)*d + 1 - in, 0), top = total // 2, the
                    rest at the bottom / right); use_bias; activation.
  DepthwiseConv2D   depthwise_kernel [kh, kw, C, M] -> groups=C conv, out channel c*M + m.
  BatchNormalization  inference: (x - moving_mean) / sqrt(moving_variance + epsilon) * gamma
                    + beta; gamma exists iff scale, beta iff center.
  Activation / ReLU linear, relu, relu6, sigmoid, tanh, softmax (over channels);
                    ReLU(max_value, negative_slope, threshold) as Keras's K.relu: x if x >
                    threshold (clipped at max_value) else negative_slope * (x - threshold).
                    NB: TF.js's ReLU layer honours max_value only (it ignores negative_slope and
                    threshold), so a model using those will differ from TF.js there.
  Add, Concatenate  (axis -1 / 3 = channels; 1 / 2 = H / W; for (N, F) tensors the last dim).
  MaxPooling2D / AveragePooling2D  'valid' / 'same' (TF: 'same' max pads -inf, 'same' average
                    divides by the number of in-image pixels only).
  ZeroPadding2D     p, (a, b) or ((t, b), (l, r)).
  GlobalAveragePooling2D (keepdims), Flatten (channels-last order: NCHW -> NHWC first), Dense
                    (kernel (IN, OUT); on a 4-D input it acts on the channels), Dropout
                    (identity), Reshape (target shape channels-last), InputLayer.
  Anything else is refused with a message naming the layer and its class.

Weights: every group of weightsManifest is its shard files concatenated in order, holding its
weights in manifest order; quantised uint8 / uint16 values are q * scale + min computed in
double and rounded to float32 (as tfjs-core's decodeWeights), float16 is widened, unquantised
float32 is raw little-endian. A weight is found by its name '<layer>/<weight>'.
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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import goldenlib  # noqa: E402

SUPPORTED = ("InputLayer", "Conv2D", "DepthwiseConv2D", "BatchNormalization", "Activation", "ReLU",
             "Add", "Concatenate", "MaxPooling2D", "AveragePooling2D", "ZeroPadding2D",
             "GlobalAveragePooling2D", "Flatten", "Dense", "Dropout", "Reshape")


class ModelError(Exception):
    pass


# ---------------------------------------------------------------- safetensors by hand

ST_DTYPES = {"F32": "<f4", "F64": "<f8", "F16": "<f2"}


def read_safetensors(path):
    """name -> float32 torch tensor, and the metadata dict."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out, meta = {}, header.pop("__metadata__", {}) or {}
    for name, h in header.items():
        b, e = h["data_offsets"]
        if h["dtype"] == "BF16":
            arr = (np.frombuffer(data[b:e], dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        elif h["dtype"] in ST_DTYPES:
            arr = np.frombuffer(data[b:e], dtype=ST_DTYPES[h["dtype"]])
        else:
            raise ModelError(f"{path}: tensor {name}: dtype {h['dtype']} not supported")
        out[name] = torch.from_numpy(arr.astype(np.float32).reshape(h["shape"]).copy())
    return out, meta


def write_safetensors(path, tensors, metadata):
    """F32 safetensors (the goldens' writer, tools/goldenlib.py)."""
    goldenlib.save(path, tensors, {str(k): str(v) for k, v in metadata.items()})


# ---------------------------------------------------------------- model.json + shards

def read_weights(model_dir, manifest):
    """manifest name -> float32 numpy array, and the names in manifest order."""
    weights, order = {}, []
    for gi, group in enumerate(manifest):
        buf = b""
        for p in group["paths"]:
            with open(os.path.join(model_dir, p), "rb") as f:
                buf += f.read()
        off = 0
        for w in group["weights"]:
            name, shape, dtype = w["name"], [int(s) for s in w["shape"]], w.get("dtype", "float32")
            n = int(np.prod(shape)) if shape else 1
            q = w.get("quantization")
            if dtype not in ("float32", "int32"):
                raise ModelError(f"weight {name}: dtype {dtype} not supported")
            qd = q.get("dtype") if q else None
            size = {None: 4, "uint8": 1, "uint16": 2, "float16": 2}.get(qd)
            if size is None:
                raise ModelError(f"weight {name}: quantisation dtype {qd} not supported")
            if off + n * size > len(buf):
                raise ModelError(f"weight {name}: past the end of group {gi}'s shards ({len(buf)} bytes)")
            if qd in ("uint8", "uint16"):
                if "min" not in q or "scale" not in q:
                    raise ModelError(f"weight {name}: {qd} quantisation without min / scale")
                raw = np.frombuffer(buf, dtype="<u1" if size == 1 else "<u2", count=n, offset=off)
                # tfjs-core decodeWeights: v * scale + min in double, stored to a Float32Array
                vals = (raw.astype(np.float64) * float(q["scale"]) + float(q["min"])).astype(np.float32)
            elif qd == "float16":
                vals = np.frombuffer(buf, dtype="<f2", count=n, offset=off).astype(np.float32)
            else:
                vals = np.frombuffer(buf, dtype="<f4" if dtype == "float32" else "<i4", count=n,
                                     offset=off).astype(np.float32)
            off += n * size
            key = name[:-2] if name.endswith(":0") else name
            if key in weights:
                raise ModelError(f"weight {name} twice in the manifest")
            weights[key] = vals.reshape(shape).copy()
            order.append(key)
        if off != len(buf):
            print(f"warning: group {gi}: {len(buf) - off} bytes after the last weight", file=sys.stderr)
    return weights, order


def parse_topology(j):
    if j.get("format") == "graph-model" or "node" in j.get("modelTopology", {}):
        raise ModelError("a TF.js graph model (GraphDef): only layers models (Keras topology) are supported")
    topo = j["modelTopology"]
    cfg = topo.get("model_config", topo)
    cls, conf = cfg.get("class_name"), cfg.get("config")
    if cls in ("Model", "Functional"):
        layers = conf["layers"]
        for l in layers:
            nodes = l.get("inbound_nodes", [])
            if len(nodes) > 1:
                raise ModelError(f"layer {l['name']} ({l['class_name']}): called {len(nodes)} times (shared layers "
                                 "are not supported)")
            ins = []
            for item in (nodes[0] if nodes else []):
                if not isinstance(item, list) or len(item) < 3:
                    raise ModelError(f"layer {l['name']}: inbound node format not understood (Keras 2 format needed)")
                ins.append(item[0])
            l["_in"] = ins
        inputs = [x[0] for x in conf["input_layers"]]
        outputs = [x[0] for x in conf["output_layers"]]
    elif cls == "Sequential":
        seq = conf["layers"] if isinstance(conf, dict) else conf
        shape = seq[0]["config"].get("batch_input_shape")
        if shape is None:
            raise ModelError("Sequential model without batch_input_shape on its first layer")
        layers = [{"name": "input", "class_name": "InputLayer", "config": {"batch_input_shape": shape}, "_in": []}]
        for l in seq:
            l = dict(l)
            l["_in"] = [layers[-1]["name"]]
            layers.append(l)
        inputs, outputs = ["input"], [layers[-1]["name"]]
    else:
        raise ModelError(f"model class {cls} not supported (Model / Functional / Sequential)")
    if len(inputs) != 1:
        raise ModelError(f"{len(inputs)} inputs: one needed")
    for l in layers:
        if l["class_name"] not in SUPPORTED:
            raise ModelError(f"layer {l['name']}: class {l['class_name']} not supported")
        if l["config"].get("data_format", "channels_last") != "channels_last":
            raise ModelError(f"layer {l['name']} ({l['class_name']}): data_format {l['config']['data_format']} "
                             "not supported")
        if l["class_name"] != "InputLayer" and not l["_in"]:
            raise ModelError(f"layer {l['name']} ({l['class_name']}): no inputs")
    return layers, inputs[0], outputs


def topo_sort(layers):
    by = {l["name"]: l for l in layers}
    if len(by) != len(layers):
        raise ModelError("two layers with the same name")
    done, out = set(), []

    def visit(n, stack):
        if n in done:
            return
        if n in stack:
            raise ModelError(f"layer {n}: the graph has a cycle")
        if n not in by:
            raise ModelError(f"unknown layer {n} named as an input")
        stack.add(n)
        for s in by[n]["_in"]:
            visit(s, stack)
        stack.discard(n)
        done.add(n)
        out.append(by[n])

    for l in layers:
        visit(l["name"], set())
    return out


WEIGHT_NAMES = {
    "Conv2D": lambda c: ["kernel"] + (["bias"] if c.get("use_bias", True) else []),
    "DepthwiseConv2D": lambda c: ["depthwise_kernel"] + (["bias"] if c.get("use_bias", True) else []),
    "Dense": lambda c: ["kernel"] + (["bias"] if c.get("use_bias", True) else []),
    "BatchNormalization": lambda c: (["gamma"] if c.get("scale", True) else []) + (
        ["beta"] if c.get("center", True) else []) + ["moving_mean", "moving_variance"],
}


def layer_weights(layer, weights, order, used):
    """The layer's weights by name ('<layer>/<weight>', possibly under a scope prefix)."""
    names = WEIGHT_NAMES.get(layer["class_name"], lambda c: [])(layer["config"])
    lname, out = layer["name"], {}
    mine = [k for k in order if k.rsplit("/", 1)[0] == lname or k.rsplit("/", 1)[0].endswith("/" + lname)]
    for wn in names:
        hits = [k for k in mine if k.rsplit("/", 1)[-1] == wn]
        if len(hits) == 1:
            out[wn] = hits[0]
    if len(out) != len(names):  # names not as Keras writes them: this layer's weights in order
        if len(mine) == len(names):
            out = dict(zip(names, mine))
        else:
            raise ModelError(f"layer {lname} ({layer['class_name']}): weights {names} needed, the manifest has "
                             f"{mine or 'none'}")
    used.update(out.values())
    return {wn: torch.from_numpy(weights[k]) for wn, k in out.items()}


# ---------------------------------------------------------------- the layers

def pair(v):
    return (int(v), int(v)) if isinstance(v, (int, float)) else (int(v[0]), int(v[1]))


def same_pads(size, k, s, d=1):
    eff = (k - 1) * d + 1
    total = max((math.ceil(size / s) - 1) * s + eff - size, 0)
    return total // 2, total - total // 2


def pad_for(x, padding, k, s, d, lname):
    """F.pad's (left, right, top, bottom) for TF's padding mode."""
    if padding == "valid":
        return (0, 0, 0, 0)
    if padding != "same":
        raise ModelError(f"layer {lname}: padding '{padding}' not supported")
    t, b = same_pads(x.shape[2], k[0], s[0], d[0])
    l, r = same_pads(x.shape[3], k[1], s[1], d[1])
    return (l, r, t, b)


def channel_dim(x):
    """Keras's last (channels) axis in our layout."""
    return 1 if x.dim() == 4 else x.dim() - 1


def keras_axis(x, axis, lname):
    r = x.dim()
    a = axis + r if axis < 0 else axis
    if not 1 <= a < r:
        raise ModelError(f"layer {lname}: axis {axis} out of range for a rank-{r} tensor")
    return {1: 2, 2: 3, 3: 1}[a] if r == 4 else a


def activation(x, name, lname):
    if name in (None, "linear"):
        return x
    if name == "relu":
        return F.relu(x)
    if name == "relu6":
        return x.clamp(0, 6)
    if name == "sigmoid":
        return torch.sigmoid(x)
    if name == "tanh":
        return torch.tanh(x)
    if name == "softmax":
        return torch.softmax(x, dim=channel_dim(x))
    raise ModelError(f"layer {lname}: activation '{name}' not supported")


def keras_relu(x, max_value, slope, threshold):
    """Keras 2's K.relu(x, alpha=slope, max_value, threshold) (tensorflow_backend)."""
    y = torch.where(x > threshold, x, torch.zeros_like(x)) if threshold != 0 else F.relu(x)
    if max_value is not None:
        y = y.clamp(max=float(max_value))
    if slope != 0:
        y = y - slope * F.relu(threshold - x)
    return y


def to_keras(x):
    return x.permute(0, 2, 3, 1) if x.dim() == 4 else x


def from_keras(x):
    return x.permute(0, 3, 1, 2) if x.dim() == 4 else x


class TfjsModel(torch.nn.Module):
    def __init__(self, model_dir, dtype=torch.float32):
        super().__init__()
        with open(os.path.join(model_dir, "model.json")) as f:
            j = json.load(f)
        layers, self.input_name, self.outputs = parse_topology(j)
        self.layers = topo_sort(layers)
        self.by_name = {l["name"]: l for l in self.layers}
        weights, order = read_weights(model_dir, j["weightsManifest"])
        used = set()
        self.params = {}
        for l in self.layers:
            w = layer_weights(l, weights, order, used)
            self.params[l["name"]] = {k: v.to(dtype) for k, v in w.items()}
        unused = [k for k in order if k not in used]
        if unused:
            print(f"warning: {len(unused)} manifest weights belong to no layer: {unused[:5]}", file=sys.stderr)
        self.dtype = dtype
        self.input_shape = self.by_name[self.input_name]["config"].get("batch_input_shape") or [None, None, None, 3]

    def layer_names(self):
        return [l["name"] for l in self.layers if l["class_name"] != "InputLayer"]

    def ancestors(self, names):
        need, todo = set(), list(names)
        while todo:
            n = todo.pop()
            if n in need:
                continue
            if n not in self.by_name:
                raise ModelError(f"no layer named {n}")
            need.add(n)
            todo.extend(self.by_name[n]["_in"])
        return need

    def forward(self, x, wanted=None):
        """x (N, 3, H, W) -> {layer: output} for the wanted layers (default: all)."""
        wanted = [l["name"] for l in self.layers] if wanted is None else list(wanted)
        need = self.ancestors(wanted)
        last_use = {}
        for i, l in enumerate(self.layers):
            if l["name"] in need:
                for s in l["_in"]:
                    last_use[s] = i
        vals, out = {}, {}
        for i, l in enumerate(self.layers):
            n = l["name"]
            if n not in need:
                continue
            if l["class_name"] == "InputLayer":
                if x.dim() != 4:
                    raise ModelError(f"input {list(x.shape)}: (N, C, H, W) expected")
                y = x.to(self.dtype)
            else:
                ins = [vals[s] for s in l["_in"]]
                try:
                    y = self.run_layer(l, ins)
                except RuntimeError as e:
                    raise ModelError(f"layer {n} ({l['class_name']}) on {[list(t.shape) for t in ins]}: "
                                     f"{str(e).splitlines()[0]}") from None
            vals[n] = y
            if n in wanted:
                out[n] = y
            for s in l["_in"]:  # free what no later needed layer reads
                if last_use.get(s) == i and s not in wanted:
                    vals.pop(s, None)
        return out

    def run_layer(self, l, ins):
        cls, c, n, w = l["class_name"], l["config"], l["name"], self.params[l["name"]]
        if cls not in ("Add", "Concatenate") and len(ins) != 1:
            raise ModelError(f"layer {n} ({cls}): {len(ins)} inputs, one expected")
        x = ins[0]
        if cls in ("Conv2D", "DepthwiseConv2D", "MaxPooling2D", "AveragePooling2D", "ZeroPadding2D",
                   "GlobalAveragePooling2D") and x.dim() != 4:
            raise ModelError(f"layer {n} ({cls}): rank-{x.dim()} input, an image (rank 4) expected")
        if cls in ("Conv2D", "DepthwiseConv2D"):
            k, s, d = pair(c["kernel_size"]), pair(c.get("strides", 1)), pair(c.get("dilation_rate", 1))
            if cls == "Conv2D":
                K = w["kernel"]  # (kh, kw, I / groups, O)
                groups = int(c.get("groups", 1) or 1)
                Wt = K.permute(3, 2, 0, 1).contiguous()
            else:
                K = w["depthwise_kernel"]  # (kh, kw, C, M)
                C, M = K.shape[2], K.shape[3]
                if M != int(c.get("depth_multiplier", 1)):
                    raise ModelError(f"layer {n}: depthwise_kernel {list(K.shape)} vs depth_multiplier "
                                     f"{c.get('depth_multiplier')}")
                Wt = K.permute(2, 3, 0, 1).reshape(C * M, 1, K.shape[0], K.shape[1]).contiguous()
                groups = C
            if (Wt.shape[2], Wt.shape[3]) != k or Wt.shape[1] * groups != x.shape[1]:
                raise ModelError(f"layer {n} ({cls}): kernel {list(K.shape)} does not fit kernel_size {k} and a "
                                 f"{x.shape[1]}-channel input")
            x = F.pad(x, pad_for(x, c.get("padding", "valid"), k, s, d, n))
            y = F.conv2d(x, Wt, w.get("bias"), stride=s, dilation=d, groups=groups)
            return activation(y, c.get("activation"), n)
        if cls == "Dense":
            K = w["kernel"]
            if x.shape[channel_dim(x)] != K.shape[0]:
                raise ModelError(f"layer {n} (Dense): input has {x.shape[channel_dim(x)]} features, kernel "
                                 f"{list(K.shape)}")
            y = from_keras(F.linear(to_keras(x), K.t(), w.get("bias")))
            return activation(y, c.get("activation"), n)
        if cls == "BatchNormalization":
            axis = c.get("axis", -1)
            axis = axis[0] if isinstance(axis, list) and len(axis) == 1 else axis
            if not isinstance(axis, int) or keras_axis(x, axis, n) != channel_dim(x):
                raise ModelError(f"layer {n} (BatchNormalization): axis {axis} is not the channel axis")
            C = x.shape[channel_dim(x)]
            gamma = w.get("gamma", torch.ones(C, dtype=x.dtype))
            beta = w.get("beta", torch.zeros(C, dtype=x.dtype))
            inv = gamma / torch.sqrt(w["moving_variance"] + float(c.get("epsilon", 1e-3)))
            shape = [1] * x.dim()
            shape[channel_dim(x)] = C
            return (x - w["moving_mean"].view(shape)) * inv.view(shape) + beta.view(shape)
        if cls == "Activation":
            return activation(x, c.get("activation"), n)
        if cls == "ReLU":
            return keras_relu(x, c.get("max_value"), float(c.get("negative_slope") or 0),
                              float(c.get("threshold") or 0))
        if cls == "Add":
            y = ins[0]
            for t in ins[1:]:
                if t.shape != y.shape:
                    raise ModelError(f"layer {n} (Add): shapes {list(y.shape)} and {list(t.shape)}")
                y = y + t
            return y
        if cls == "Concatenate":
            return torch.cat(ins, dim=keras_axis(x, int(c.get("axis", -1)), n))
        if cls in ("MaxPooling2D", "AveragePooling2D"):
            k = pair(c.get("pool_size", 2))
            s = pair(c["strides"]) if c.get("strides") is not None else k
            pads = pad_for(x, c.get("padding", "valid"), k, s, (1, 1), n)
            if cls == "MaxPooling2D":
                return F.max_pool2d(F.pad(x, pads, value=-math.inf), k, s)
            if pads == (0, 0, 0, 0):
                return F.avg_pool2d(x, k, s)
            # TF 'same' average: the window's in-image pixels over their count
            tot = F.avg_pool2d(F.pad(x, pads), k, s, divisor_override=1)
            ones = torch.ones(1, 1, x.shape[2], x.shape[3], dtype=x.dtype)
            return tot / F.avg_pool2d(F.pad(ones, pads), k, s, divisor_override=1)
        if cls == "ZeroPadding2D":
            p = c.get("padding", 1)
            if isinstance(p, (int, float)):
                (t, b), (l_, r) = (p, p), (p, p)
            elif all(isinstance(v, (int, float)) for v in p):
                (t, b), (l_, r) = (p[0], p[0]), (p[1], p[1])
            else:
                (t, b), (l_, r) = p
            return F.pad(x, (int(l_), int(r), int(t), int(b)))
        if cls == "GlobalAveragePooling2D":
            return x.mean(dim=(2, 3), keepdim=bool(c.get("keepdims", False)))
        if cls == "Flatten":
            return to_keras(x).reshape(x.shape[0], -1)
        if cls == "Reshape":
            return from_keras(to_keras(x).reshape([x.shape[0]] + [int(v) for v in c["target_shape"]]))
        if cls == "Dropout":
            return x
        raise ModelError(f"layer {n}: class {cls} not supported")


def load_model(model_dir, dtype=torch.float32):
    """The model as a torch.nn.Module: model(x NCHW, names=None) -> {name: output}."""
    return TfjsModel(model_dir, dtype)


# ---------------------------------------------------------------- inputs, losses, the CLI

def formula_image(h, w, seed):
    """(1, 3, H, W) in [0, 1], 8-bit quantised: smooth stripes and blobs."""
    c = torch.arange(3, dtype=torch.float64).view(3, 1, 1)
    y = torch.arange(h, dtype=torch.float64).view(1, h, 1)
    x = torch.arange(w, dtype=torch.float64).view(1, 1, w)
    v = (0.5 + 0.25 * torch.sin(x * (0.3 + 0.1 * seed) + c * 2.0)
         + 0.2 * torch.cos(y * (0.2 + 0.05 * seed) - x * 0.1 * c)
         + 0.05 * torch.sin(0.7 * x * y / (h + w) + c))
    return (torch.round(v.clamp(0, 1) * 255) / 255).float().unsqueeze(0)


def gram_term(f, name):
    """mean(G^2), G = F F^T / (H W) per image; (N, C) counts as (N, C, 1, 1)."""
    if f.dim() == 2:
        f = f.reshape(f.shape[0], f.shape[1], 1, 1)
    if f.dim() != 4:
        raise ModelError(f"grad layer {name}: a rank-{f.dim()} output has no Gram matrix")
    n, c, h, w = f.shape
    v = f.reshape(n, c, h * w)
    g = torch.bmm(v, v.transpose(1, 2)) / (h * w)
    return (g * g).mean()


def input_gradients(model_dir, x, grad_layers):
    m64 = TfjsModel(model_dir, torch.float64)
    out = {}
    for key, gram in (("torch/grad_input", False), ("torch/grad_input_gram", True)):
        xi = x.to(torch.float64).clone().requires_grad_(True)
        feats = m64(xi, grad_layers)
        loss = sum(gram_term(feats[l], l) if gram else (feats[l] * feats[l]).mean() for l in grad_layers)
        (g,) = torch.autograd.grad(loss, xi)
        out[key] = g
        print(f"  {key}: loss {loss.item():.6g}, max |grad| {g.abs().max().item():.4g}")
    return out


def split(s):
    return [v for v in (s or "").split(",") if v]


def compare(ours, golden, prefix, ours_prefix="torch/"):
    """Prints max |diff| and max |diff| / max |ref| per golden PREFIX<name>; the worst ratio."""
    worst, count = 0.0, 0
    names = [k[len(prefix):] for k in golden if k.startswith(prefix)]
    print(f"{'layer':32s} {'shape':>20s} {'max|diff|':>10s} {'max|ref|':>10s} {'rel':>9s}")
    for n in names:
        ref, got = golden[prefix + n], ours.get(ours_prefix + n)
        if got is None:
            print(f"{n:32s} {'(not here)':>20s}")
            continue
        got, note = got.to(torch.float32), ""
        if got.shape != ref.shape and got.dim() == 4 and to_keras(got).shape == ref.shape:
            got, note = to_keras(got), " (golden NHWC)"
        if got.shape != ref.shape:
            print(f"{n:32s} shape {list(got.shape)} vs golden {list(ref.shape)}: MISMATCH")
            worst = math.inf
            continue
        d = (got.double() - ref.double()).abs().max().item()
        mref = ref.double().abs().max().item()
        rel = d / mref if mref > 0 else d
        worst, count = max(worst, rel), count + 1
        print(f"{n:32s} {str(list(ref.shape)):>20s} {d:10.3e} {mref:10.4g} {rel:9.2e}{note}")
    print(f"{count} tensors compared; worst max|diff|/max|ref| {worst:.3e}")
    return worst


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", help="TF.js model folder (model.json + shards), or a .safetensors to --compare")
    ap.add_argument("out", nargs="?", help="output .safetensors")
    ap.add_argument("--input", help="safetensors whose 'input' tensor (1, 3, H, W) is the image")
    ap.add_argument("--size", type=int, nargs=2, metavar=("H", "W"), help="synthetic image size")
    ap.add_argument("--seed", type=int, default=0, help="synthetic image variant (default 0)")
    ap.add_argument("--layers", help="comma-separated layers to store (default: all)")
    ap.add_argument("--grad-layers", help="comma-separated layers of the input-gradient losses")
    ap.add_argument("--double", action="store_true", help="run the forward pass in float64")
    ap.add_argument("--compare", metavar="GOLDEN", help="compare with GOLDEN's PREFIX<layer> tensors")
    ap.add_argument("--prefix", default="tfjs/", help="GOLDEN's tensor prefix for --compare (default tfjs/)")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    try:
        if a.model.endswith(".safetensors"):
            if not a.compare:
                ap.error("a .safetensors first argument needs --compare")
            worst = compare(read_safetensors(a.model)[0], read_safetensors(a.compare)[0], a.prefix)
            return 0 if worst <= 1e-4 else 2
        if not a.out and not a.compare:
            ap.error("OUT.safetensors or --compare GOLDEN needed")
        golden = gmeta = None
        if a.compare:
            golden, gmeta = read_safetensors(a.compare)
        model = TfjsModel(a.model, torch.float64 if a.double else torch.float32)
        src = a.input or (a.compare if golden is not None and "input" in golden else None)
        if src:
            x = (golden if src == a.compare else read_safetensors(src)[0]).get("input")
            if x is None or x.dim() != 4 or x.shape[1] != 3:
                raise ModelError(f"{src}: no 'input' tensor of shape (N, 3, H, W)")
            how = f"'input' of {os.path.basename(src)}"
        else:
            s = model.input_shape
            h, w = a.size or ((s[1] or 224, s[2] or 224) if len(s) == 4 else (224, 224))
            x = formula_image(h, w, a.seed)
            how = f"formula_image({h}, {w}, seed {a.seed})"
        grad_layers = split(a.grad_layers)
        if a.layers:
            layers = split(a.layers)
        elif golden is not None and not a.out:
            layers = [k[len(a.prefix):] for k in golden if k.startswith(a.prefix) and "/" not in k[len(a.prefix):]]
            if not grad_layers and any(k.startswith(a.prefix + "grad_input") for k in golden):
                grad_layers = split(gmeta.get("grad_layers"))
            layers = [n for n in layers if not n.startswith("grad_input")]
        else:
            layers = model.layer_names()
        for n in layers + grad_layers:
            if n not in model.by_name:
                raise ModelError(f"no layer named {n}")
        with torch.no_grad():
            feats = model(x, layers)
        tensors = {"input": x}
        for n in layers:
            tensors["torch/" + n] = feats[n]
        if model.outputs[0] in feats:
            o = feats[model.outputs[0]].double()
            print(f"output {model.outputs[0]} {list(o.shape)}: {np.array2string(o.flatten()[:10].numpy(), precision=5)}"
                  f", sum {o.sum().item():.6f}")
        if grad_layers:
            tensors.update(input_gradients(a.model, x, grad_layers))
        if a.out:
            write_safetensors(a.out, tensors, {
                "layers": ",".join(layers), "grad_layers": ",".join(grad_layers),
                "torch_version": torch.__version__, "dtype": "float64" if a.double else "float32",
                "model": os.path.basename(os.path.normpath(a.model)), "input": how,
                "source": "tools/tfjs_torch.py"})
        if golden is not None:
            return 0 if compare(tensors, golden, a.prefix) <= 1e-4 else 2
        return 0
    except ModelError as e:
        print(f"tfjs_torch: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
