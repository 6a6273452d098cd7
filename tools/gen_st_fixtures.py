"""Writes the small F16 and BF16 safetensors fixtures that tests/test_safetensors.c reads.

Each file holds "x" in the half-precision dtype (written by torch: the bytes are exactly
torch's rounding of the values below) and "x_ref" = x.float() as F32, the exact float32
values the C reader must produce. The values cover zeros of both signs, normal numbers,
the largest finite value, subnormals, infinities and NaN.

usage: $(tools/find_torch_python.sh) tools/gen_st_fixtures.py   (from the repository root)
"""
import json
import math
import os
import struct

import torch

F16_VALUES = [0.0, -0.0, 1.0, -2.5, 65504.0, 2.0**-24, 2.0**-14, 1023 * 2.0**-24,
              math.inf, -math.inf, math.nan, 0.1, 3.14159, -1e-5, 6e4, 1 / 3]
BF16_VALUES = [0.0, -0.0, 1.0, -2.5, 3.3895e38, 1e-40, 2.0**-126, math.inf,
               -math.inf, math.nan, 0.1, 3.14159, 1e30, -7.5e-39, 1 / 3, 255.5]


def raw(t):
    """Little-endian bytes of a tensor (bf16 has no numpy dtype: go through int16)."""
    if t.dtype in (torch.float16, torch.bfloat16):
        return t.contiguous().view(torch.int16).numpy().astype("<i2").tobytes()
    return t.contiguous().numpy().astype("<f4").tobytes()


def write(path, tensors, dtypes, metadata):
    header, blobs, offset = {"__metadata__": metadata}, [], 0
    for name, t in tensors.items():
        data = raw(t)
        header[name] = {"dtype": dtypes[name], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))
    print(f"wrote {path}: {os.path.getsize(path)} bytes")


def main():
    os.makedirs("tests/fixtures", exist_ok=True)
    meta = {"writer": f"torch {torch.__version__.split('+')[0]}"}
    x = torch.tensor(F16_VALUES, dtype=torch.float32).to(torch.float16).reshape(4, 4)
    write("tests/fixtures/f16.safetensors", {"x": x, "x_ref": x.float()},
          {"x": "F16", "x_ref": "F32"}, meta)
    x = torch.tensor(BF16_VALUES, dtype=torch.float32).to(torch.bfloat16).reshape(2, 2, 4)
    write("tests/fixtures/bf16.safetensors", {"x": x, "x_ref": x.float()},
          {"x": "BF16", "x_ref": "F32"}, meta)


if __name__ == "__main__":
    main()
