#!/usr/bin/env bash
# RNN, LSTM and GRU on aifgen's engine against ONNX Runtime: small random-weight models covering
# directions, initial states, peepholes, linear_before_reset and activations, and three with
# large recurrent weights (bench/make_recurrent_models.py), each run by ONNX Runtime and by aifgen
# with each recurrent kernel (--recurrence engine: the engine's own recurrence where it can run
# the layer; --recurrence onednn: oneDNN's primitives), largest difference printed.
#
#   bench/recurrent_vs_ort.sh
#
# Needs build/, Debian python3-onnx and python3-numpy, Node.js and ../shared/tools/ort-bench.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
ensure_ort_bench
/usr/bin/python3 bench/make_recurrent_models.py "$work"
printf '%-40s %14s %14s  %s\n' "model (aifgen's kernel)" "max |ORT|" "max |diff|" verdict
worst=0
for onnx in "$work"/*.onnx; do
  name=$(basename "$onnx" .onnx)
  node bench/ort_outputs.js --ort-dir "$ort_dir" --x "$work/$name.rows.npy" --out "$work/$name.ort.npy" --whole-rows "$onnx"
  for kernel in engine onednn; do
    mkdir -p "$work/$name.$kernel"
    ./build/aifgen run "$onnx" --recurrence "$kernel" --input "X=$work/$name.X.npy" --output-dir "$work/$name.$kernel" >/dev/null
    /usr/bin/python3 - "$name ($kernel)" "$work/$name.ort.npy" "$work/$name.$kernel/out.npy" <<'PY'
import sys
import numpy as np
name, ort, ours = sys.argv[1], np.load(sys.argv[2]).reshape(-1), np.load(sys.argv[3]).reshape(-1)
scale, diff = float(np.abs(ort).max()), float(np.abs(ort - ours).max()) if ort.shape == ours.shape else float("inf")
print(f"{name:40} {scale:14.6f} {diff:14.3e}  {'ok' if diff <= 1e-4 * max(1.0, scale) else 'DIFFERS'}")
PY
  done
done
