#!/usr/bin/python3
"""Text-detection accuracy of PaddleOCR DB detector outputs against true boxes.

usage: det_accuracy.py BOXES.json NAME=PROB.npy [NAME=PROB.npy ...]

PROB.npy holds each image's probability map [N, 1, H, W] (bench/ort_outputs.js or `aifgen run`);
BOXES.json the true [x0, y0, x1, y1] boxes per image (shared/calibration/make_ocr_data.py). Boxes
come from the map as DB's own post-processing makes them, simplified to axis-aligned text
lines: pixels above 0.3, 4-connected regions, kept when their mean probability is at least 0.6,
each bounding box grown by area * 1.5 / perimeter on every side (DB's unclip of its shrunk
kernels). A true box is found when a box overlaps it with IoU >= 0.5 (one match each). The first
entry is the reference (fp32): the others also report how many of its boxes they reproduce
(IoU >= 0.8). Needs Debian python3-numpy only.
"""
import json
import sys
from collections import deque

import numpy as np

THRESH, BOX_THRESH, UNCLIP = 0.3, 0.6, 1.5


def regions(mask):
    """4-connected regions of a boolean map, as lists of (y, x)."""
    seen = np.zeros_like(mask, dtype=bool)
    out = []
    h, w = mask.shape
    for y0, x0 in zip(*np.nonzero(mask)):
        if seen[y0, x0]:
            continue
        seen[y0, x0] = True
        q, pts = deque([(y0, x0)]), []
        while q:
            y, x = q.popleft()
            pts.append((y, x))
            for ny, nx in ((y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)):
                if 0 <= ny < h and 0 <= nx < w and mask[ny, nx] and not seen[ny, nx]:
                    seen[ny, nx] = True
                    q.append((ny, nx))
        out.append(pts)
    return out


def boxes_of(prob):
    out = []
    for pts in regions(prob > THRESH):
        ys = np.array([p[0] for p in pts])
        xs = np.array([p[1] for p in pts])
        if len(pts) < 4 or prob[ys, xs].mean() < BOX_THRESH:
            continue
        x0, y0, x1, y1 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
        w, h = x1 - x0, y1 - y0
        d = w * h * UNCLIP / (2 * (w + h))
        out.append((x0 - d, y0 - d, x1 + d, y1 + d))
    return out


def iou(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def matches(found, truth, at):
    """Greedy one-to-one matching by IoU: how many of `truth` a box of `found` covers."""
    pairs = sorted(((iou(f, t), i, j) for i, f in enumerate(found) for j, t in enumerate(truth)), reverse=True)
    used_f, used_t, n = set(), set(), 0
    for v, i, j in pairs:
        if v < at:
            break
        if i in used_f or j in used_t:
            continue
        used_f.add(i)
        used_t.add(j)
        n += 1
    return n


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    truth = json.load(open(sys.argv[1]))
    rows, reference = [], None
    for spec in sys.argv[2:]:
        name, path = spec.split("=", 1)
        prob = np.load(path)
        if prob.ndim != 4 or prob.shape[0] != len(truth):
            sys.exit(f"{path}: want [{len(truth)}, 1, H, W], got {list(prob.shape)}")
        found = [boxes_of(prob[i, 0]) for i in range(prob.shape[0])]
        hit = sum(matches(f, t, 0.5) for f, t in zip(found, truth))
        n_found, n_true = sum(map(len, found)), sum(map(len, truth))
        precision = hit / n_found if n_found else 0.0
        recall = hit / n_true if n_true else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        same = None
        if reference is not None:
            ref_total = sum(map(len, reference["found"]))
            same = sum(matches(f, r, 0.8) for f, r in zip(found, reference["found"])) / max(1, ref_total)
        row = {"name": name, "images": len(truth), "boxes": n_found, "precision": precision, "recall": recall, "f1": f1,
               "f1_drop_points": 0.0 if reference is None else 100 * (reference["f1"] - f1), "same_boxes_as_reference": same}
        rows.append(row)
        if reference is None:
            reference = {"f1": f1, "found": found}
    print(f"{'model':34}{'images':>7}{'boxes':>7}{'precision %':>13}{'recall %':>10}{'F1 %':>8}{'F1 drop (points)':>18}{'same boxes as ref %':>21}")
    for r in rows:
        same = "" if r["same_boxes_as_reference"] is None else f"{100 * r['same_boxes_as_reference']:21.1f}"
        print(f"{r['name']:34}{r['images']:7d}{r['boxes']:7d}{100 * r['precision']:13.2f}{100 * r['recall']:10.2f}{100 * r['f1']:8.2f}"
              f"{r['f1_drop_points']:18.2f}{same}")


if __name__ == "__main__":
    main()
