"""Writes the small PyTorch checkpoints that tests/test_pth.c reads (tests/fixtures/pth/).

Each checkpoint is written by torch.save itself, in the zip format and (the *_legacy
files) in the legacy one, so the C reader is tested on the bytes torch really writes:

  state_zip / state_legacy       a state dict: nn.Sequential(Conv2d(2, 3, 3), BatchNorm2d(3)),
                                 OrderedDict with _metadata, num_batches_tracked int64
  dtypes_zip / dtypes_legacy     float16 (with inf, NaN, subnormals), bfloat16, float64 (with
                                 values that round, overflow and underflow in float32), int32,
                                 uint8, bool
  views_zip / views_legacy       a transposed tensor, a strided column, slices sharing one
                                 storage at offsets, an expanded (stride 0) tensor, 0-d tensors
  nested_zip                     {"state_dict": ..., "epoch": 3, "optim": {..., "state":
                                 {0: {...}}}, ...} with pickle protocol 4 (FRAME, MEMOIZE,
                                 SHORT_BINUNICODE, STACK_GLOBAL, SHORT_BINBYTES)
  nested_legacy                  the same (without bytes) in the legacy format, protocol 2
  param_zip                      nn.Parameters saved directly in a dict
  zip64_archive                  state_zip's entries rewritten under "archive/" with zip64
                                 extra fields in the central directory (torch.load reads it)
  compressed                     state_zip's entries deflated: must be refused clearly
  evil_reduce                    a torch.save'd object whose __reduce__ is os.system
                                 (pickled as 'posix.system'); nothing is run here
  evil_global                    a valid torch zip whose data.pkl is a hand-written
                                 GLOBAL 'os system' + REDUCE
  evil_legacy                    the legacy format, protocol 4, reducing to builtins.eval

expected.safetensors holds the float32 value of every tensor of every readable fixture as
"<fixture>/<name>" (names as pth.h joins them: dict keys and list indices with dots),
written with the json+struct approach of tools/gen_st_fixtures.py.

usage: $(tools/find_torch_python.sh) tools/gen_pth_fixtures.py   (from the repository root)
"""
import collections
import io
import math
import os
import struct
import sys
import zipfile

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import goldenlib  # noqa: E402
from torch import nn

OUT = "tests/fixtures/pth"


def save(obj, name, legacy=False, protocol=2):
    path = os.path.join(OUT, name + ".pth")
    torch.save(obj, path, pickle_protocol=protocol, _use_new_zipfile_serialization=not legacy)
    return path


def state_dict():
    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3))
    with torch.no_grad():
        m[1].weight.copy_(torch.tensor([0.5, -1.25, 2.0]))
        m[1].bias.copy_(torch.tensor([0.1, 0.2, -0.3]))
        m[1].running_mean.copy_(torch.randn(3))
        m[1].running_var.copy_(torch.rand(3) + 0.5)
        m[1].num_batches_tracked.fill_(7)
    return m.state_dict()


def dtypes():
    f16 = torch.tensor([0.0, -0.0, 1.0, 65504.0, 2.0**-24, 2.0**-14, math.inf, -math.inf,
                        math.nan, 0.1, 1 / 3, -2.5], dtype=torch.float32).to(torch.float16)
    bf16 = torch.tensor([1.0, -0.0, 3.3895e38, 1e-40, math.inf, math.nan, 0.1, 255.5],
                        dtype=torch.float32).to(torch.bfloat16)
    f64 = torch.tensor([0.1, 1 / 3, 1e-50, 1e300, -1e300, 2.0**-149, math.nan, -7.25],
                       dtype=torch.float64)
    return collections.OrderedDict([
        ("f16", f16.reshape(3, 4)), ("bf16", bf16.reshape(2, 4)), ("f64", f64),
        ("f32", torch.tensor([[1.5, -2.0], [3.25, 1e-45]])),
        ("i32", torch.tensor([-2**31, 7, 2**24 + 1], dtype=torch.int32)),
        ("u8", torch.tensor([0, 1, 255], dtype=torch.uint8)),
        ("flag", torch.tensor([True, False])),
    ])


def views():
    torch.manual_seed(1)
    m = torch.randn(3, 4)
    base = torch.arange(12, dtype=torch.float32) * 0.5
    return {
        "t": m.t(),                          # (4, 3) stride (1, 4)
        "col": m[:, 1],                      # (3,) stride (4,) offset 1, shares m's storage
        "a": base[2:6],                      # offset 2
        "b": base.view(3, 4)[1:, ::2],       # (2, 2) stride (4, 2) offset 4, same storage
        "wide": torch.tensor([1.0, 2.0]).expand(3, 2),  # stride (0, 1)
        "s": torch.tensor(2.5),              # 0-d
        "e": base[7],                        # 0-d view at offset 7
        "empty": torch.zeros(0, 3),
    }


def nested(with_bytes):
    d = {
        "state_dict": state_dict(), "epoch": 3, "name": "run", "ok": True, "none": None,
        "big": 2**40, "neg": -5, "huge": 2**70, "ratio": 0.25,
        "optim": {"lr": 0.1, "betas": (0.9, 0.999),
                  "state": {0: {"step": torch.tensor(5.0), "exp_avg": torch.ones(2, 2)}}},
        "list": [torch.tensor([1.0, 2.0]), (torch.tensor([3.0]), "x")],
    }
    if with_bytes:
        d["blob"] = b"\x00\x01"
    return d


def params():
    torch.manual_seed(2)
    return {"weight": nn.Parameter(torch.randn(2, 3)),
            "frozen": nn.Parameter(torch.randn(2), requires_grad=False)}


class Reduce:
    """Pickles as a call of fn(arg); torch.save writes it, nothing calls it here."""

    def __init__(self, fn, arg):
        self.fn, self.arg = fn, arg

    def __reduce__(self):
        return (self.fn, (self.arg,))


def flatten(obj, prefix, out):
    """Names every tensor as pth.h does: dict keys and list/tuple indices joined by dots."""
    join = (lambda k: f"{prefix}.{k}") if prefix else str
    if isinstance(obj, torch.Tensor):
        out[prefix] = obj.detach().to(torch.float32).contiguous()
    elif isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(k, (str, int)) and not isinstance(k, bool):
                flatten(v, join(k), out)
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            flatten(v, join(i), out)


def zip_entries(path):
    with zipfile.ZipFile(path) as z:
        return [(i.filename, z.read(i.filename)) for i in z.infolist()]


def write_zip64(path, entries):
    """Stored entries whose central directory gives sizes and offsets in zip64 extra fields."""
    out, central = io.BytesIO(), []
    for name, data in entries:
        name = name.encode()
        offset, crc = out.tell(), zipfile.crc32(data)
        out.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, 0, 0, 0, crc, len(data), len(data),
                              len(name), 0) + name + data)
        extra = struct.pack("<HHQQQ", 1, 24, len(data), len(data), offset)
        central.append(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0, 0, 0, 0, crc,
                                   0xFFFFFFFF, 0xFFFFFFFF, len(name), len(extra), 0, 0, 0, 0,
                                   0xFFFFFFFF) + name + extra)
    cd_offset = out.tell()
    for c in central:
        out.write(c)
    cd_size, n = out.tell() - cd_offset, len(central)
    eocd64 = out.tell()
    out.write(struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, n, n, cd_size, cd_offset))
    out.write(struct.pack("<IIQI", 0x07064B50, 0, eocd64, 1))
    out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0))
    with open(path, "wb") as f:
        f.write(out.getvalue())


def write_rezipped(path, entries, prefix, compression):
    with zipfile.ZipFile(path, "w", compression=compression) as z:
        for name, data in entries:
            z.writestr(prefix + name.split("/", 1)[1], data)


def main():
    os.makedirs(OUT, exist_ok=True)
    readable = {
        "state_zip": (state_dict(), False, 2), "state_legacy": (state_dict(), True, 2),
        "dtypes_zip": (dtypes(), False, 2), "dtypes_legacy": (dtypes(), True, 2),
        "views_zip": (views(), False, 2), "views_legacy": (views(), True, 2),
        "nested_zip": (nested(True), False, 4), "nested_legacy": (nested(False), True, 2),
        "param_zip": (params(), False, 2),
    }
    expected = {}
    for name, (obj, legacy, protocol) in readable.items():
        path = save(obj, name, legacy, protocol)
        back = torch.load(path)
        flat = {}
        flatten(back, "", flat)
        for k, v in flat.items():
            expected[f"{name}/{k}"] = v
    entries = zip_entries(os.path.join(OUT, "state_zip.pth"))
    write_zip64(os.path.join(OUT, "zip64_archive.pth"), [("archive/" + n.split("/", 1)[1], d) for n, d in entries])
    flat = {}
    flatten(torch.load(os.path.join(OUT, "zip64_archive.pth")), "", flat)
    expected.update({f"zip64_archive/{k}": v for k, v in flat.items()})
    write_rezipped(os.path.join(OUT, "compressed.pth"), entries, "compressed/", zipfile.ZIP_DEFLATED)
    save({"x": Reduce(os.system, "echo pwned")}, "evil_reduce")
    evil = b"\x80\x02}X\x01\x00\x00\x00xcos\nsystem\nX\n\x00\x00\x00echo pwned\x85Rs."
    write_rezipped(os.path.join(OUT, "evil_global.pth"), [("a/data.pkl", evil), ("a/version", b"3\n")],
                   "evil_global/", zipfile.ZIP_STORED)
    save(Reduce(eval, "1 + 1"), "evil_legacy", legacy=True, protocol=4)
    goldenlib.save(os.path.join(OUT, "expected.safetensors"), expected, {"writer": f"torch {torch.__version__}"})
    total = 0
    for f in sorted(os.listdir(OUT)):
        size = os.path.getsize(os.path.join(OUT, f))
        total += size
        print(f"{f}: {size} bytes")
    print(f"total {total} bytes, {len(expected)} expected tensors")


if __name__ == "__main__":
    main()
