#!/usr/bin/env python3
"""Text-orientation samples for the PaddleOCR classifier (ch_ppocr_mobile_v2.0_cls): text lines
rendered by ../shared/calibration/make_ocr_data.py, resized to the classifier's 3x48x192 input,
every second one turned 180 degrees. Writes OUT/cls_x.npy (normalized like the recognizer's
input) and OUT/cls_labels.txt (0 = upright, 1 = turned).

    bench/make_cls_data.py OUT [--samples N] [--seed S]
"""
import argparse
import os
import random
import sys

import numpy as np
from PIL import Image

SHARED = os.environ.get("AIFGEN_SHARED_DIR", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared"))
sys.path.insert(0, os.path.join(SHARED, "calibration"))
import make_ocr_data  # noqa: E402  (the shared renderer: fonts, words, layout)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--samples", type=int, default=96)
    ap.add_argument("--seed", type=int, default=2027)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    os.makedirs(a.out, exist_ok=True)
    xs, labels = [], []
    for i in range(a.samples):
        line, _ = make_ocr_data.rec_sample(rng)  # [3, 48, 320] in [-1, 1]
        pixels = ((line.transpose(1, 2, 0) * 0.5 + 0.5) * 255).clip(0, 255).astype(np.uint8)
        image = Image.fromarray(pixels).resize((192, 48), Image.BILINEAR)
        turned = i % 2 == 1
        if turned:
            image = image.rotate(180)
        x = np.asarray(image, np.float32).transpose(2, 0, 1) / 255.0
        xs.append((x - 0.5) / 0.5)
        labels.append("1" if turned else "0")
    np.save(os.path.join(a.out, "cls_x.npy"), np.stack(xs).astype(np.float32))
    with open(os.path.join(a.out, "cls_labels.txt"), "w") as f:
        f.write("\n".join(labels) + "\n")


if __name__ == "__main__":
    main()
