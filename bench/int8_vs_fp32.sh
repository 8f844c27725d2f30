#!/usr/bin/env bash
# x86_64-cpu int8 vs fp32 variants on aifgen's engine, and both against the uploaded model as
# ONNX Runtime runs it (the headline: speed-up of the best x86 variant over the source on ORT).
# One run, interleaved per model and thread count, medians of ROUNDS.
#
#   bench/int8_vs_fp32.sh [ROUNDS] [ITERATIONS]     (defaults 3 rounds x 30 iterations)
#
# Variants are built with `aifgen convert` (the service's pipeline): the random-weight models'
# int8 calibrated on 32 synthetic samples (no calibration set exists for them), the PaddleOCR v4
# recognizer on ../shared/calibration/rec_x.npy with the default accuracy budget, so its int8
# variant carries the float fallbacks the budget chose. Needs build/,
# Node.js and ../shared/tools/ort-bench (see bench/compare_ort.sh), resnet50 from
# ../shared/models/make_models.py (skipped with a note without python3-torch).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
iters=${2:-30}
. bench/common.sh
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

ensure_ort_bench
ensure_resnet50


printf '%-24s %3s %12s %12s %12s %10s %12s\n' model thr "ORT source" "aifgen fp32" "aifgen int8" "int8/fp32" "ORT/int8"
# MODEL|CALIBRATION (.npy, or empty for synthetic samples)|SHAPE (bench input binding, or empty)
cases=("$models_dir/resnet50.onnx||" "$shared/models/mobilenet_v2.onnx||" "$shared/models/transformer_encoder.onnx||"
       "$shared/models/ch_PP-OCRv4_rec_infer.onnx|$shared/calibration/rec_x.npy|x=1x3x48x320")
for entry in "${cases[@]}"; do
  IFS='|' read -r path calibration shape <<<"$entry"
  [ -f "$path" ] || continue
  name=$(basename "$path" .onnx)
  calib=(); [ -n "$calibration" ] && calib=(--calibration "$calibration")
  bind=(); [ -n "$shape" ] && bind=(--shape "$shape")
  ./build/aifgen convert "$path" --targets x86_64-cpu --precisions fp32,int8 "${calib[@]}" --out "$work/$name" >/dev/null 2>&1
  for p in fp32 int8; do
    mkdir -p "$work/$name/$p" && tar xzf "$work/$name/$name-x86_64-cpu-$p.tar.gz" -C "$work/$name/$p" --strip-components=1
  done
  for threads in 1 2; do
    o=(); f=(); q=()
    for _ in $(seq "$rounds"); do
      o+=("$(node "$ort_dir/ort-bench.js" "$path" "${bind[@]}" --threads "$threads" --warmup 5 --iterations "$iters" --json | field p50_ms)")
      f+=("$(./build/aifgen bench "$work/$name/fp32/model.onnx" "${bind[@]}" --threads "$threads" --warmup 5 --iterations "$iters" --json | field p50_ms)")
      q+=("$(./build/aifgen bench "$work/$name/int8/model.onnx" "${bind[@]}" --threads "$threads" --warmup 5 --iterations "$iters" --json | field p50_ms)")
    done
    mo=$(printf '%s\n' "${o[@]}" | median); mf=$(printf '%s\n' "${f[@]}" | median); mq=$(printf '%s\n' "${q[@]}" | median)
    awk -v n="$name" -v t="$threads" -v o="$mo" -v f="$mf" -v q="$mq" \
      'BEGIN { printf "%-24s %3d %9.2f ms %9.2f ms %9.2f ms %9.2fx %11.2fx\n", n, t, o, f, q, f / q, o / q }'
  done
done
