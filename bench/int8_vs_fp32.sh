#!/usr/bin/env bash
# x86_64-cpu int8 vs fp32 variants on aifgen's engine, and both against the uploaded model as
# ONNX Runtime runs it (the headline: speed-up of the best x86 variant over the source on ORT).
# One run, interleaved per model and thread count, medians of ROUNDS.
#
#   bench/int8_vs_fp32.sh [ROUNDS] [ITERATIONS]     (defaults 3 rounds x 30 iterations)
#
# Variants are built with `aifgen convert` (the service's pipeline; int8 calibrated on 32
# synthetic samples, as no calibration set exists for these random-weight models). Needs build/,
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


printf '%-20s %3s %12s %12s %12s %10s %12s\n' model thr "ORT source" "aifgen fp32" "aifgen int8" "int8/fp32" "ORT/int8"
for path in "$models_dir/resnet50.onnx" "$shared/models/mobilenet_v2.onnx" "$shared/models/transformer_encoder.onnx"; do
  [ -f "$path" ] || continue
  name=$(basename "$path" .onnx)
  ./build/aifgen convert "$path" --targets x86_64-cpu --precisions fp32,int8 --out "$work/$name" >/dev/null 2>&1
  for p in fp32 int8; do
    mkdir -p "$work/$name/$p" && tar xzf "$work/$name/$name-x86_64-cpu-$p.tar.gz" -C "$work/$name/$p" --strip-components=1
  done
  for threads in 1 2; do
    o=(); f=(); q=()
    for _ in $(seq "$rounds"); do
      o+=("$(node "$ort_dir/ort-bench.js" "$path" --threads "$threads" --warmup 5 --iterations "$iters" --json | field p50_ms)")
      f+=("$(./build/aifgen bench "$work/$name/fp32/model.onnx" --threads "$threads" --warmup 5 --iterations "$iters" --json | field p50_ms)")
      q+=("$(./build/aifgen bench "$work/$name/int8/model.onnx" --threads "$threads" --warmup 5 --iterations "$iters" --json | field p50_ms)")
    done
    mo=$(printf '%s\n' "${o[@]}" | median); mf=$(printf '%s\n' "${f[@]}" | median); mq=$(printf '%s\n' "${q[@]}" | median)
    awk -v n="$name" -v t="$threads" -v o="$mo" -v f="$mf" -v q="$mq" \
      'BEGIN { printf "%-20s %3d %9.2f ms %9.2f ms %9.2f ms %9.2fx %11.2fx\n", n, t, o, f, q, f / q, o / q }'
  done
done
