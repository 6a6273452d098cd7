#!/usr/bin/python3
"""video_lab.py: the temporal blend of `atelier video` re-made in numpy + cv2 (Debian's
python3-opencv, the same DIS flow), to try variants fast and to measure the warping error's
floor. The style distance is left to Atelier: write a variant's frames to a folder and run
  atelier video DIR -o junk/ --strength 0 --no-temporal --report --report-style PAINTING
whose "per-frame" row is then the folder's own frames.

  tools/video_lab.py check INPUT_DIR PAINTED_DIR     the errors of the input, the per-frame
                                                     frames and the default blend (they agree
                                                     with `atelier video --report`)
  tools/video_lab.py floor INPUT_DIR PAINTED_DIR     one-step carries and a glued painting
  tools/video_lab.py write INPUT_DIR PAINTED_DIR OUT_DIR VARIANT
      VARIANT: blend:W (bilinear), cubic:W, half (each painted frame moved half a pixel),
               shift:DX:DY (moved by whole pixels, no resampling)

INPUT_DIR and PAINTED_DIR hold the same number of PNG frames of one size, e.g. from
  atelier video CLIP -o INPUT_DIR/ --strength 0 --no-temporal
  atelier video CLIP -o PAINTED_DIR/ -s STYLE --no-temporal
Measured this way on Sintel at 640 px (README, video section): the input 9.85e-5 (from PNG
frames), vangogh_starry_night's floor 10.5x that, a glued painting 4.5x.
"""
import glob
import os
import sys

import cv2
import numpy as np


def load(d):
    fs = sorted(glob.glob(os.path.join(d, '*.png')))
    if len(fs) < 2:
        sys.exit(f'video_lab: {d}: fewer than 2 PNG frames')
    return [cv2.imread(f)[:, :, ::-1].astype(np.float32) / 255 for f in fs]


def luma8(im):
    y = 0.299 * im[:, :, 0] + 0.587 * im[:, :, 1] + 0.114 * im[:, :, 2]
    return np.clip(np.round(y * 255), 0, 255).astype(np.uint8)


DIS = cv2.DISOpticalFlow_create(2)  # MEDIUM, as flow.h


def flow(a, b):
    return DIS.calc(luma8(a), luma8(b), None)


def grid(h, w):
    return np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))


def warp(img, f, interp=cv2.INTER_LINEAR):
    """out(x) = img(x + f(x)), the point clamped into the frame (flow_warp)."""
    h, w = f.shape[:2]
    gx, gy = grid(h, w)
    return cv2.remap(img, np.clip(gx + f[:, :, 0], 0, w - 1), np.clip(gy + f[:, :, 1], 0, h - 1),
                     interp, borderMode=cv2.BORDER_REPLICATE)


def occlusion(fw, bw):
    """Ruder et al.'s check (flow_occlusion): 1 reliable, 0 not."""
    h, w = fw.shape[:2]
    gx, gy = grid(h, w)
    tx, ty = gx + fw[:, :, 0], gy + fw[:, :, 1]
    inside = (tx >= 0) & (tx <= w - 1) & (ty >= 0) & (ty <= h - 1)
    b = warp(bw, fw)
    ww, bb = (fw ** 2).sum(2), (b ** 2).sum(2)
    occluded = ((fw + b) ** 2).sum(2) > 0.01 * (ww + bb) + 0.5
    g = sum(np.gradient(fw[:, :, k], axis=a) ** 2 for k in (0, 1) for a in (0, 1))
    return (inside & ~occluded & ~(g > 0.01 * ww + 0.002)).astype(np.float32)


def flows(inp):
    """Per pair t-1, t: cur->prev and prev->cur flows, the blend's mask (on cur) and the
    measure's (on prev)."""
    out = []
    for t in range(1, len(inp)):
        fw, bw = flow(inp[t], inp[t - 1]), flow(inp[t - 1], inp[t])
        out.append((fw, bw, occlusion(fw, bw), occlusion(bw, fw)))
    return out


def werr(V, fl):
    """Lai et al.'s warping error with the input's flows and masks (flow_warping_error)."""
    e = []
    for t in range(1, len(V)):
        _, bw, _, m = fl[t - 1]
        d2 = ((V[t - 1] - warp(V[t], bw)) ** 2).sum(2)
        e.append((m * d2).sum() / m.sum())
    return float(np.mean(e))


def box(a, r):
    return cv2.blur(a, (2 * r + 1, 2 * r + 1), borderType=cv2.BORDER_REPLICATE)


def detail(s, o, r=2, gmax=3.0):
    """restore_detail of cmd_video.c: one gain per plane."""
    o = o.copy()
    for c in range(3):
        ls, lo = box(s[:, :, c], r), box(o[:, :, c], r)
        es, eo = ((s[:, :, c] - ls) ** 2).sum(), ((o[:, :, c] - lo) ** 2).sum()
        g = min(max(np.sqrt(es / eo) if eo > 0 else 1, 1), gmax)
        o[:, :, c] = np.clip(lo + g * (o[:, :, c] - lo), 0, 1)
    return o


def blend(pf, fl, weight=0.7, interp=cv2.INTER_LINEAR):
    out = [pf[0]]
    for t in range(1, len(pf)):
        fw, _, m, _ = fl[t - 1]
        p = np.clip(warp(out[-1], fw, interp), 0, 1)
        out.append(detail(pf[t], pf[t] + weight * m[:, :, None] * (p - pf[t])))
    return out


def main(argv):
    if len(argv) < 4 or argv[1] not in ('check', 'floor', 'write'):
        sys.exit(__doc__)
    inp, pf = load(argv[2]), load(argv[3])
    if len(inp) != len(pf) or inp[0].shape != pf[0].shape:
        sys.exit('video_lab: the two folders differ in frame count or size')
    fl = flows(inp)
    e_in = werr(inp, fl)
    if argv[1] == 'check':
        print(f'input {e_in:.6g}  per-frame {werr(pf, fl):.6g}  blend 0.7 bilinear {werr(blend(pf, fl), fl):.6g}  '
              f'bicubic {werr(blend(pf, fl, interp=cv2.INTER_CUBIC), fl):.6g}')
    elif argv[1] == 'floor':
        for name, V in (('input', inp), ('painting', pf)):
            e = []
            for t in range(1, len(V)):
                fw, bw, _, m = fl[t - 1]
                d2 = ((V[t - 1] - warp(warp(V[t - 1], fw), bw)) ** 2).sum(2)
                e.append((m * d2).sum() / m.sum())
            print(f'{name} carried one step: {np.mean(e) / e_in:.2f}x the input\'s own error')
        h, w = pf[0].shape[:2]
        gx, gy = grid(h, w)
        px, py, glued = gx.copy(), gy.copy(), [pf[0]]
        for t in range(1, len(pf)):
            f = fl[t - 1][0]
            px, py = warp(px, f), warp(py, f)
            glued.append(np.clip(cv2.remap(pf[0], np.clip(px, 0, w - 1), np.clip(py, 0, h - 1), cv2.INTER_LINEAR,
                                           borderMode=cv2.BORDER_REPLICATE), 0, 1))
        hf = lambda V: np.mean([((x - box(x, 2)) ** 2).mean() for x in V])
        print(f'painting glued to the scene (frame 0 through composed flows): {werr(glued, fl) / e_in:.2f}x, '
              f'fine detail {hf(glued) / hf(pf):.2f} of per-frame\'s; painting / input fine detail {hf(pf) / hf(inp):.2f}')
    else:
        if len(argv) != 6:
            sys.exit(__doc__)
        kind = argv[5].split(':')
        if kind[0] in ('blend', 'cubic'):
            V = blend(pf, fl, float(kind[1]), cv2.INTER_CUBIC if kind[0] == 'cubic' else cv2.INTER_LINEAR)
        elif kind[0] == 'half':
            V = [warp(x, np.full(x.shape[:2] + (2,), 0.5, np.float32)) for x in pf]
        elif kind[0] == 'shift':
            dx, dy = int(kind[1]), int(kind[2])
            V = [np.pad(x, ((dy, 0), (dx, 0), (0, 0)), mode='edge')[:x.shape[0], :x.shape[1]] for x in pf]
        else:
            sys.exit(f'video_lab: unknown variant {argv[5]}')
        os.makedirs(argv[4], exist_ok=True)
        for i, x in enumerate(V):
            cv2.imwrite(os.path.join(argv[4], f'frame_{i + 1:06d}.png'), (x[:, :, ::-1] * 255 + 0.5).clip(0, 255).astype(np.uint8))
        print(f'{len(V)} frames in {argv[4]}: warping error {werr(V, fl) / e_in:.2f}x the input\'s')


if __name__ == '__main__':
    main(sys.argv)
