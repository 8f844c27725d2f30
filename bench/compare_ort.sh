#!/usr/bin/env bash
# aifgen's CPU engine vs ONNX Runtime (CPU) on the same models and threads, interleaved in one
# run so both see the same machine state. Prints p50 latency per side and the ratio
# (aifgen / ORT: below 1.0 means aifgen is faster), plus aifgen's plan time.
#
#   bench/compare_ort.sh [ROUNDS] [ITERATIONS]     (defaults 3 rounds x 30 iterations)
#
# Needs build/ from the README command, Node.js, and ../shared/tools/ort-bench (installed into
# $ORT_BENCH_DIR on first use). resnet50 is generated once with ../shared/models/make_models.py
# (Debian python3-torch + python3-torchvision) into $AIFGEN_BENCH_MODELS; without torch it is
# skipped with a note.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
iters=${2:-30}
. bench/common.sh

ensure_ort_bench
ensure_resnet50

# name | model path | --shape arguments
cases=(
  "resnet50|$models_dir/resnet50.onnx|"
  "mobilenet_v2|$shared/models/mobilenet_v2.onnx|"
  "transformer_encoder|$shared/models/transformer_encoder.onnx|"
  "ppocr_det_640|$shared/models/ch_PP-OCRv4_det_infer.onnx|--shape x=1x3x640x640"
  "ppocr_rec_48x320|$shared/models/ch_PP-OCRv4_rec_infer.onnx|--shape x=1x3x48x320"
)


printf '%-22s %7s %12s %12s %8s %10s\n' model threads "aifgen p50" "ORT p50" ratio "plan ms"
for c in "${cases[@]}"; do
  IFS='|' read -r name path shape <<<"$c"
  [ -f "$path" ] || continue
  for threads in 1 2; do
    a=(); o=(); plan=()
    for _ in $(seq "$rounds"); do
      # shellcheck disable=SC2086
      ja=$(./build/aifgen bench "$path" --threads "$threads" --warmup 5 --iterations "$iters" --json $shape)
      # shellcheck disable=SC2086
      jo=$(node "$ort_dir/ort-bench.js" "$path" --threads "$threads" --warmup 5 --iterations "$iters" --json $shape)
      a+=("$(field p50_ms <<<"$ja")"); plan+=("$(field plan_ms <<<"$ja")"); o+=("$(field p50_ms <<<"$jo")")
    done
    pa=$(printf '%s\n' "${a[@]}" | median); po=$(printf '%s\n' "${o[@]}" | median); pp=$(printf '%s\n' "${plan[@]}" | median)
    awk -v n="$name" -v t="$threads" -v a="$pa" -v o="$po" -v p="$pp" \
      'BEGIN { printf "%-22s %7d %9.2f ms %9.2f ms %8.2f %10.1f\n", n, t, a, o, a / o, p }'
  done
done
