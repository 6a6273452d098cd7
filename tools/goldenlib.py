"""Shared helpers for the tools/gen_golden_*.py scripts (run with Debian's python3-torch).

save(path, tensors, metadata): write a dict name -> torch.Tensor as an F32 safetensors file,
the format Atelier reads (8-byte little-endian header length, JSON header, raw data).
The C tests load these files with safetensors_open().
"""
import json
import os
import struct

import torch


def save(path, tensors, metadata=None):
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        t = t.detach().to(torch.float32).contiguous()
        data = t.numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    if metadata:
        header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)
    total = os.path.getsize(path)
    print(f"wrote {path}: {len(tensors)} tensors, {total} bytes")
