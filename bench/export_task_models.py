#!/usr/bin/python3
"""Export torchvision's segmentation and video architectures to ONNX for bench/zoo.py.

Opset 13, batch 1, random weights (BatchNorm statistics settled on random data by
../shared/models/make_models.py's settle_batchnorm, as the classifiers are). Segmentation
models return their "out" map at 1x3x224x224; video models take a 16-frame clip at 112x112
(s3d and the MViTs at 224x224, the smallest their strides and window sizes accept).
Downloads nothing.

usage: /usr/bin/python3 export_task_models.py SHARED_DIR OUTDIR NAME [NAME ...]
"""
import os
import sys

import torch
import torchvision


def families():
    """Family name -> torchvision architectures, for the families this script exports."""
    return {"segmentation": sorted(torchvision.models.list_models(module=torchvision.models.segmentation)),
            "video": sorted(torchvision.models.list_models(module=torchvision.models.video))}


class OutMap(torch.nn.Module):
    """A segmentation model's "out" tensor (torchvision returns a dict, which ONNX cannot)."""
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x)["out"]


def build(name):
    seg = torchvision.models.segmentation
    if name in torchvision.models.list_models(module=seg):
        return OutMap(getattr(seg, name)(weights=None, weights_backbone=None)), torch.randn(1, 3, 224, 224)
    video = torchvision.models.video
    if name in torchvision.models.list_models(module=video):
        side = 224 if name in ("s3d", "mvit_v1_b", "mvit_v2_s") else 112
        return getattr(video, name)(weights=None), torch.randn(1, 3, 16, side, side)
    raise SystemExit(f"{name}: not a torchvision segmentation or video architecture")


def main(shared, out, names):
    sys.path.insert(0, os.path.join(shared, "models"))
    from make_models import settle_batchnorm
    torch.manual_seed(0)
    os.makedirs(out, exist_ok=True)
    for name in names:
        model, x = build(name)
        settle_batchnorm(model, (x,))
        model.eval()
        torch.onnx.export(model, (x,), os.path.join(out, name + ".onnx"), opset_version=13, input_names=["input"],
                          do_constant_folding=True)
        print(name, "exported")


if __name__ == "__main__":
    if len(sys.argv) < 4:
        raise SystemExit(__doc__)
    main(sys.argv[1], sys.argv[2], sys.argv[3:])
