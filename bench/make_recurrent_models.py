#!/usr/bin/python3
"""Writes ONNX RNN/LSTM/GRU models (random weights, opset 14) covering the attributes aifgen's
engine runs, small ones (where oneDNN's primitives time faster) and three with R large enough for
the engine's own recurrence, for bench/recurrent_vs_ort.sh to compare against ONNX Runtime.

usage: make_recurrent_models.py OUTDIR

Each model has one input X [T, N, I] and one output: Y, Y_h (and Y_c) flattened and
concatenated, so one comparison covers every output. Also writes NAME.X.npy (the input) and
NAME.rows.npy (the same with a leading dimension of 1) per model. Needs Debian
python3-onnx and python3-numpy.
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

T, N, I, H = 9, 3, 6, 5


def model(name, op, direction="forward", extra_attrs=None, init_state=False, peephole=False, seq_lens=False, seed=0,
          hidden=H, batch=N, steps=T):
    H, N, T = hidden, batch, steps  # noqa: N806 (the operator's names)
    rng = np.random.default_rng(seed)
    D = 2 if direction == "bidirectional" else 1
    G = {"RNN": 1, "GRU": 3, "LSTM": 4}[op]
    # R's scale shrinks as 1/sqrt(H), so a large hidden size still gives states between the
    # activations' flat ends rather than saturated ones.
    r_scale = 0.6 * min(1.0, (5 / H) ** 0.5)
    inits = [
        numpy_helper.from_array(rng.uniform(-0.6, 0.6, (D, G * H, I)).astype(np.float32), "W"),
        numpy_helper.from_array(rng.uniform(-r_scale, r_scale, (D, G * H, H)).astype(np.float32), "R"),
        numpy_helper.from_array(rng.uniform(-0.3, 0.3, (D, 2 * G * H)).astype(np.float32), "B"),
    ]
    inputs = ["X", "W", "R", "B", "", "", "", ""]
    if seq_lens:
        inits.append(numpy_helper.from_array(np.full((N,), T, np.int32), "lens"))
        inputs[4] = "lens"
    if init_state:
        state = (N, D, H) if (extra_attrs or {}).get("layout", 0) == 1 else (D, N, H)
        inits.append(numpy_helper.from_array(rng.uniform(-0.5, 0.5, state).astype(np.float32), "h0"))
        inputs[5] = "h0"
        if op == "LSTM":
            inits.append(numpy_helper.from_array(rng.uniform(-0.5, 0.5, state).astype(np.float32), "c0"))
            inputs[6] = "c0"
    if peephole:
        inits.append(numpy_helper.from_array(rng.uniform(-0.5, 0.5, (D, 3 * H)).astype(np.float32), "P"))
        inputs[7] = "P"
    while inputs and inputs[-1] == "":
        inputs.pop()
    outs = ["Y", "Y_h"] + (["Y_c"] if op == "LSTM" else [])
    attrs = {"direction": direction, "hidden_size": H}
    attrs.update(extra_attrs or {})
    nodes = [helper.make_node(op, inputs, outs, name="cell", **attrs)]
    inits.append(numpy_helper.from_array(np.array([-1], np.int64), "flat"))
    for o in outs:
        nodes.append(helper.make_node("Reshape", [o, "flat"], [o + "_flat"]))
    nodes.append(helper.make_node("Concat", [o + "_flat" for o in outs], ["out"], axis=0))
    batch_major = (extra_attrs or {}).get("layout", 0) == 1
    x_shape = [N, T, I] if batch_major else [T, N, I]
    g = helper.make_graph(nodes, name, [helper.make_tensor_value_info("X", TensorProto.FLOAT, x_shape)],
                          [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["n"])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 14)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m, rng.standard_normal([1] + x_shape).astype(np.float32)


CASES = {
    "rnn_tanh_forward": dict(op="RNN"),
    "rnn_relu_reverse": dict(op="RNN", direction="reverse", extra_attrs={"activations": ["Relu"]}, init_state=True),
    "rnn_bidirectional": dict(op="RNN", direction="bidirectional"),
    "lstm_forward": dict(op="LSTM"),
    "lstm_reverse_initial_state": dict(op="LSTM", direction="reverse", init_state=True, seq_lens=True),
    "lstm_bidirectional_peephole": dict(op="LSTM", direction="bidirectional", init_state=True, peephole=True),
    "gru_forward": dict(op="GRU"),
    "gru_linear_before_reset": dict(op="GRU", extra_attrs={"linear_before_reset": 1}, init_state=True),
    "gru_bidirectional_lbr": dict(op="GRU", direction="bidirectional", extra_attrs={"linear_before_reset": 1}, init_state=True),
    # R of more than 2 MiB per direction, where the engine's own recurrence timed faster than
    # oneDNN's primitives (recurrent.cpp times the two at planning; `aifgen bench` says which ran).
    "rnn_relu_bidirectional_h768": dict(op="RNN", direction="bidirectional", extra_attrs={"activations": ["Relu", "Relu"]},
                                        init_state=True, hidden=768, batch=2, steps=64),
    "lstm_bidirectional_peephole_h384": dict(op="LSTM", direction="bidirectional", init_state=True, peephole=True, hidden=384,
                                             steps=64),
    "gru_bidirectional_lbr_h448": dict(op="GRU", direction="bidirectional", extra_attrs={"linear_before_reset": 1}, init_state=True,
                                       hidden=448, batch=1, steps=64),
    # layout = 1 is left out: ONNX Runtime 1.30's CPU kernels refuse it ("Batchwise recurrent
    # operations (layout == 1) are not supported"); the ONNX conformance cases and
    # tests/unit/engine_recurrent_test.cpp cover it.
}


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for k, (name, spec) in enumerate(CASES.items()):
        m, x = model(name, seed=k, **spec)
        onnx.save(m, os.path.join(out, name + ".onnx"))
        np.save(os.path.join(out, name + ".X.npy"), x[0])  # the input itself, for `aifgen run`
        np.save(os.path.join(out, name + ".rows.npy"), x)  # one row = one whole input, for ort_outputs.js --whole-rows


if __name__ == "__main__":
    main()
