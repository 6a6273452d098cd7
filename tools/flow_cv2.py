"""OpenCV's DIS optical flow through Python (cv2.DISOpticalFlow, Debian's python3-opencv), to
check Atelier's flow (flow.h, src/video/flow_cv.cpp) against the same library.

Two uses (Debian's /usr/bin/python3, which sees cv2 and torch):

  golden:  flow_cv2.py --golden tests/golden/flow_dis.safetensors
     Two small 8-bit grey frames (a texture with a square moving over it) and cv2's DIS flow
     (preset MEDIUM) between them, for tests/test_flow.c (test_agrees_with_cv2).

  compare: flow_cv2.py --compare A.png B.png FLOW.f32 [--preset medium]
     FLOW.f32: Atelier's flow from A to B as raw little-endian float32, u plane then v plane
     (atelier_flow_bench --dump writes it). Prints JSON: the mean end-point error between
     the two flows, cv2's time for the pair, and the frame size. The grey frames are made
     as Atelier makes them (Rec. 601 luma of the RGB values, rounded to 8 bits).
"""
import argparse
import json
import os
import sys
import time

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

PRESETS = {"ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST, "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
           "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM}


def dis(a, b, preset="medium"):
    """Flow (H, W, 2) from a to b, both uint8 (H, W)."""
    return cv2.DISOpticalFlow_create(PRESETS[preset]).calc(a, b, None)


def luma8(path):
    """Atelier's luma8 (src/video/flow.c): float32 RGB in [0, 1], Rec. 601, rounded."""
    bgr = cv2.imread(path, cv2.IMREAD_COLOR)
    if bgr is None:
        sys.exit(f"flow_cv2.py: cannot read {path}")
    rgb = bgr[:, :, ::-1].astype(np.float32) / np.float32(255)
    y = np.float32(0.299) * rgb[:, :, 0] + np.float32(0.587) * rgb[:, :, 1] + np.float32(0.114) * rgb[:, :, 2]
    return np.rint(np.clip(y, 0, 1) * np.float32(255)).astype(np.uint8)


def golden_frames(w=96, h=64, shift=(3, 1), side=24, move=(5, -2)):
    """A texture moving by `shift` with a square of another texture moving by `move` on it."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)

    def tex(x, y):
        return 0.5 + 0.2 * np.sin(0.41 * x + 0.13 * y) + 0.15 * np.sin(-0.17 * x + 0.37 * y + 1.3) \
            + 0.1 * np.cos(0.061 * x) * np.sin(0.093 * y + 0.7)

    def frame(t):
        v = tex(xs - t * shift[0], ys - t * shift[1])
        x0, y0 = 30 + t * move[0], 20 + t * move[1]
        inside = (xs >= x0) & (xs < x0 + side) & (ys >= y0) & (ys < y0 + side)
        v = np.where(inside, 1 - tex(1.7 * (xs - x0) + 40, 1.3 * (ys - y0) + 17), v)
        return np.rint(np.clip(v, 0, 1) * 255).astype(np.uint8)

    return frame(0), frame(1)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--golden", metavar="OUT")
    p.add_argument("--compare", nargs=3, metavar=("A", "B", "FLOW"))
    p.add_argument("--preset", default="medium", choices=sorted(PRESETS))
    args = p.parse_args()
    if args.golden:
        import torch
        from goldenlib import save
        a, b = golden_frames()
        f = dis(a, b, "medium")
        save(args.golden, {"frame_a": torch.from_numpy(a.astype(np.float32)),
                           "frame_b": torch.from_numpy(b.astype(np.float32)),
                           "u": torch.from_numpy(np.ascontiguousarray(f[:, :, 0])),
                           "v": torch.from_numpy(np.ascontiguousarray(f[:, :, 1]))},
             {"generator": "tools/flow_cv2.py --golden", "opencv": cv2.__version__, "preset": "medium"})
    elif args.compare:
        a, b = luma8(args.compare[0]), luma8(args.compare[1])
        h, w = a.shape
        ours = np.fromfile(args.compare[2], dtype="<f4")
        if ours.size != 2 * w * h:
            sys.exit(f"flow_cv2.py: {args.compare[2]} holds {ours.size} floats, want 2 x {w} x {h}")
        ours = ours.reshape(2, h, w)
        dis(a, b, args.preset)  # warm up
        t0 = time.perf_counter()
        f = dis(a, b, args.preset)
        secs = time.perf_counter() - t0
        epe = np.sqrt((f[:, :, 0] - ours[0]) ** 2 + (f[:, :, 1] - ours[1]) ** 2)
        print(json.dumps({"w": w, "h": h, "preset": args.preset, "mean_epe_px": float(epe.mean()),
                          "max_epe_px": float(epe.max()), "cv2_ms": round(secs * 1000, 2)}))
    else:
        p.error("give --golden OUT or --compare A B FLOW")


if __name__ == "__main__":
    main()
