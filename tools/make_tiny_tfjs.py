#!/usr/bin/python3
"""Writes tests/fixtures/tfjs_tiny: a small TF.js layers model (Keras 2.2.4 functional
config, as nsfwjs's models) that uses every layer type Atelier's reader supports, with the
awkward cases: 'same' stride-2 convolutions (TF pads more at the bottom and right), a
non-square dilated kernel, depthwise convolutions with multipliers 2 and 1, batch norms
with and without scale, ReLU, ReLU6 (as a layer and as an activation), sigmoid, Add, a
channel Concatenate of three branches and a flat one, max pools ('valid', 'same'), average
pools ('same': TF averages the real pixels only; 'valid'), ZeroPadding2D, Flatten of a
2x2 map (Keras flattens channels last), Dense with ReLU and softmax, Dropout,
GlobalAveragePooling2D. Weights are uint8-quantised (value = min + scale * q) like the real
models, except one float32 tensor and one uint16-quantised one.

usage: /usr/bin/python3 tools/make_tiny_tfjs.py [OUT_DIR]   (numpy only; fixed seed)
The goldens come from tools/tfjs_reference.mjs (TF.js) and tools/tfjs_torch.py (PyTorch).
"""
import json
import os
import sys

import numpy as np

OUT = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/tfjs_tiny"
rng = np.random.default_rng(20261205)
layers, weights = [], []  # Keras layer configs; (name, array, quantisation)


def layer(name, cls, config, inputs):
    config = dict(config, name=name)
    inbound = [[[i, 0, 0, {}] for i in inputs]] if inputs else []
    layers.append({"name": name, "class_name": cls, "config": config, "inbound_nodes": inbound})
    return name


def weight(name, arr, quant="uint8"):
    weights.append((name, np.asarray(arr, np.float32), quant))


def conv(name, src, cin, filters, k, strides=(1, 1), padding="same", dilation=(1, 1), bias=True, act="linear"):
    layer(name, "Conv2D", {"filters": filters, "kernel_size": list(k), "strides": list(strides), "padding": padding,
                           "data_format": "channels_last", "dilation_rate": list(dilation), "activation": act,
                           "use_bias": bias}, [src])
    weight(name + "/kernel", rng.normal(0, 1.0 / np.sqrt(k[0] * k[1] * cin), (k[0], k[1], cin, filters)))
    if bias:
        weight(name + "/bias", rng.normal(0, 0.1, filters))
    return name


def depthwise(name, src, cin, mult, k, strides, padding, bias):
    layer(name, "DepthwiseConv2D", {"kernel_size": list(k), "strides": list(strides), "padding": padding,
                                    "depth_multiplier": mult, "data_format": "channels_last", "dilation_rate": [1, 1],
                                    "activation": "linear", "use_bias": bias}, [src])
    weight(name + "/depthwise_kernel", rng.normal(0, 1.0 / 3, (k[0], k[1], cin, mult)))
    if bias:
        weight(name + "/bias", rng.normal(0, 0.1, cin * mult))
    return name


def batchnorm(name, src, c, scale=True, center=True, quant_gamma="uint8"):
    layer(name, "BatchNormalization", {"axis": -1, "momentum": 0.99, "epsilon": 0.001, "center": center,
                                       "scale": scale}, [src])
    if scale:
        weight(name + "/gamma", rng.uniform(0.5, 1.5, c), quant_gamma)
    if center:
        weight(name + "/beta", rng.normal(0, 0.2, c))
    weight(name + "/moving_mean", rng.normal(0, 0.3, c))
    weight(name + "/moving_variance", rng.uniform(0.3, 2.0, c))
    return name


def dense(name, src, fin, units, act, quant="uint8"):
    layer(name, "Dense", {"units": units, "activation": act, "use_bias": True}, [src])
    weight(name + "/kernel", rng.normal(0, 1.0 / np.sqrt(fin), (fin, units)), quant)
    weight(name + "/bias", rng.normal(0, 0.1, units))
    return name


def pool(name, cls, src, size, strides, padding):
    return layer(name, cls, {"pool_size": list(size), "strides": list(strides), "padding": padding,
                             "data_format": "channels_last"}, [src])


x = layer("input_1", "InputLayer", {"batch_input_shape": [None, 19, 23, 3], "dtype": "float32", "sparse": False}, [])
a = conv("conv_a", x, 3, 8, (3, 3), strides=(2, 2))                            # (10, 12, 8) same, stride 2
a = batchnorm("bn_a", a, 8, quant_gamma="float32")                             # gamma stored as float32
a = layer("relu_a", "Activation", {"activation": "relu"}, [a])
b = depthwise("dw_b", a, 8, 2, (3, 3), (1, 1), "same", bias=False)            # (10, 12, 16)
b = batchnorm("bn_b", b, 16, scale=False)
b = layer("relu6_b", "ReLU", {"max_value": 6.0, "negative_slope": 0.0, "threshold": 0.0}, [b])
c = conv("conv_c", b, 16, 8, (1, 1), padding="valid")                           # (10, 12, 8)
s = layer("add_1", "Add", {}, [c, a])
p = layer("pad_1", "ZeroPadding2D", {"padding": [[0, 1], [0, 1]], "data_format": "channels_last"}, [s])  # (11, 13, 8)
d = depthwise("dw_d", p, 8, 1, (3, 3), (2, 2), "valid", bias=True)             # (5, 6, 8)
e = conv("conv_e", d, 8, 6, (3, 1), dilation=(2, 1), act="relu")              # (5, 6, 6) dilated 3x1
f = conv("conv_f", s, 8, 6, (3, 3), strides=(2, 2), act="relu6")               # (5, 6, 6)
g = layer("concat_1", "Concatenate", {"axis": -1}, [d, e, f])                  # (5, 6, 20)
g = pool("ap_1", "AveragePooling2D", g, (3, 3), (1, 1), "same")                # (5, 6, 20)
g = pool("mp_2", "MaxPooling2D", g, (2, 2), (2, 2), "same")                    # (3, 3, 20)
g = layer("sig_1", "Activation", {"activation": "sigmoid"}, [g])
g = pool("ap_2", "AveragePooling2D", g, (2, 2), (1, 1), "valid")               # (2, 2, 20)
g = layer("flatten_1", "Flatten", {"data_format": "channels_last"}, [g])        # (80)
g = dense("dense_1", g, 80, 12, "relu", quant="uint16")
g = layer("dropout_1", "Dropout", {"rate": 0.5}, [g])
h = pool("mp_3", "MaxPooling2D", s, (3, 3), (2, 2), "valid")                   # (4, 5, 8)
h = layer("gap_1", "GlobalAveragePooling2D", {"data_format": "channels_last"}, [h])   # (8)
g = layer("concat_2", "Concatenate", {"axis": -1}, [g, h])                     # (20)
out = dense("dense_2", g, 20, 5, "softmax")

# the weights: quantised as tfjs-converter does (per tensor: min, scale = (max - min) / levels)
manifest, blob = [], bytearray()
for name, arr, quant in weights:
    entry = {"name": name, "shape": list(arr.shape), "dtype": "float32"}
    if quant == "float32":
        blob += arr.astype("<f4").tobytes()
    else:
        levels = 255 if quant == "uint8" else 65535
        lo, hi = float(arr.min()), float(arr.max())
        scale = (hi - lo) / levels if hi > lo else 1.0
        q = np.clip(np.round((arr - lo) / scale), 0, levels)
        blob += q.astype(np.uint8 if quant == "uint8" else "<u2").tobytes()
        entry["quantization"] = {"min": lo, "scale": scale, "dtype": quant}
    manifest.append(entry)

model = {
    "modelTopology": {
        "keras_version": "2.2.4", "backend": "tensorflow",
        "model_config": {"class_name": "Model", "config": {
            "name": "tiny", "layers": layers,
            "input_layers": [["input_1", 0, 0]], "output_layers": [[out, 0, 0]]}},
    },
    "weightsManifest": [{"paths": ["group1-shard1of1.bin"], "weights": manifest}],
}
os.makedirs(OUT, exist_ok=True)
with open(os.path.join(OUT, "group1-shard1of1.bin"), "wb") as fh:
    fh.write(bytes(blob))
with open(os.path.join(OUT, "model.json"), "w") as fh:
    json.dump(model, fh)
print("%s: %d layers, %d weights, %d bytes of shard" % (OUT, len(layers), len(weights), len(blob)))
