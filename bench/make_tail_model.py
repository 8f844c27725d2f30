#!/usr/bin/env python3
"""A detector-head stand-in whose batch changes from run to run, for bench/tail_replan.sh.

feats [64, 256, 14, 14] and scores [64] in; the rows whose score is above 0 (NonZero, Gather)
go through four 3x3 convolutions of 256 channels with ReLUs, Mask R-CNN's mask head on its
detections. With the bench's random inputs (uniform in [-1, 1]) each input set keeps a
different number of rows, so the dynamic tail plans its convolutions for a new batch on most
runs, as a detector's heads do on real images.

    make_tail_model.py OUT.onnx
"""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROWS, CHANNELS, SIZE, CONVS = 64, 256, 14, 4


def main():
    rng = np.random.default_rng(0)
    nodes = [helper.make_node("Greater", ["scores", "zero"], ["keep"]),
             helper.make_node("NonZero", ["keep"], ["where"]),
             helper.make_node("Squeeze", ["where", "axis0"], ["index"]),
             helper.make_node("Gather", ["feats", "index"], ["x0"], axis=0)]
    inits = [numpy_helper.from_array(np.array(0.0, np.float32), "zero"),
             numpy_helper.from_array(np.array([0], np.int64), "axis0")]
    x = "x0"
    for i in range(CONVS):
        w = (rng.standard_normal((CHANNELS, CHANNELS, 3, 3)) * 0.02).astype(np.float32)
        inits += [numpy_helper.from_array(w, f"w{i}"), numpy_helper.from_array(np.zeros(CHANNELS, np.float32), f"b{i}")]
        nodes += [helper.make_node("Conv", [x, f"w{i}", f"b{i}"], [f"c{i}"], pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
                  helper.make_node("Relu", [f"c{i}"], [f"r{i}"])]
        x = f"r{i}"
    graph = helper.make_graph(
        nodes, "tail_replan",
        [helper.make_tensor_value_info("feats", TensorProto.FLOAT, [ROWS, CHANNELS, SIZE, SIZE]),
         helper.make_tensor_value_info("scores", TensorProto.FLOAT, [ROWS])],
        [helper.make_tensor_value_info(x, TensorProto.FLOAT, ["n", CHANNELS, SIZE, SIZE])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model)
    onnx.save(model, sys.argv[1])


if __name__ == "__main__":
    main()
