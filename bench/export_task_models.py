#!/usr/bin/python3
"""Export torchvision's segmentation, video and detection architectures to ONNX for bench/zoo.py.

Opset 13, batch 1, random weights (BatchNorm statistics settled on random data by
../shared/models/make_models.py's settle_batchnorm, as the classifiers are). Segmentation
models return their "out" map at 1x3x224x224; video models take a 16-frame clip at 112x112
(s3d and the MViTs at 224x224, the smallest their strides and window sizes accept).
Detection models take one 1x3x320x320 image and return their result dict's tensors as outputs
named by its keys (boxes, labels, scores, and masks or keypoints), with their score thresholds
at 0: with random weights the default thresholds leave nothing to compare. Their BatchNorm is
not settled (their training-mode forward needs targets). Downloads nothing.

usage: /usr/bin/python3 export_task_models.py SHARED_DIR OUTDIR NAME [NAME ...]
"""
import os
import sys

import torch
import torchvision


def families():
    """Family name -> torchvision architectures, for the families this script exports."""
    return {"segmentation": sorted(torchvision.models.list_models(module=torchvision.models.segmentation)),
            "video": sorted(torchvision.models.list_models(module=torchvision.models.video)),
            "detection": sorted(torchvision.models.list_models(module=torchvision.models.detection))}


class OutMap(torch.nn.Module):
    """A segmentation model's "out" tensor (torchvision returns a dict, which ONNX cannot)."""
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x)["out"]


class Detections(torch.nn.Module):
    """A detector's results for one image as a tuple (ONNX outputs cannot be a list of dicts)."""
    def __init__(self, model, keys):
        super().__init__()
        self.model = model
        self.keys = keys

    def forward(self, x):
        result = self.model(x)[0]
        return tuple(result[k] for k in self.keys)


def detection_keys(name):
    extra = ["masks"] if name.startswith("maskrcnn") else ["keypoints", "keypoints_scores"] if name.startswith("keypointrcnn") else []
    return ["boxes", "labels", "scores"] + extra


def build(name):
    seg = torchvision.models.segmentation
    if name in torchvision.models.list_models(module=seg):
        return OutMap(getattr(seg, name)(weights=None, weights_backbone=None)), torch.randn(1, 3, 224, 224)
    video = torchvision.models.video
    if name in torchvision.models.list_models(module=video):
        side = 224 if name in ("s3d", "mvit_v1_b", "mvit_v2_s") else 112
        return getattr(video, name)(weights=None), torch.randn(1, 3, 16, side, side)
    detection = torchvision.models.detection
    if name in torchvision.models.list_models(module=detection):
        rcnn = name.startswith(("fasterrcnn", "maskrcnn", "keypointrcnn"))
        thresholds = {"box_score_thresh": 0.0} if rcnn else {"score_thresh": 0.0}
        model = getattr(detection, name)(weights=None, weights_backbone=None, **thresholds)
        return Detections(model, detection_keys(name)), torch.randn(1, 3, 320, 320)
    raise SystemExit(f"{name}: not a torchvision segmentation, video or detection architecture")


def main(shared, out, names):
    sys.path.insert(0, os.path.join(shared, "models"))
    from make_models import settle_batchnorm
    torch.manual_seed(0)
    os.makedirs(out, exist_ok=True)
    for name in names:
        model, x = build(name)
        outputs = None
        if isinstance(model, Detections):
            outputs = model.keys
        else:
            settle_batchnorm(model, (x,))
        model.eval()
        torch.onnx.export(model, (x,), os.path.join(out, name + ".onnx"), opset_version=13, input_names=["input"],
                          output_names=outputs, do_constant_folding=True)
        print(name, "exported")


if __name__ == "__main__":
    if len(sys.argv) < 4:
        raise SystemExit(__doc__)
    main(sys.argv[1], sys.argv[2], sys.argv[3:])
