#!/usr/bin/env bash
# INT8 accuracy of the PaddleOCR v4 recognizer's variants on text lines aifgen never saw, judged
# by ONNX Runtime running each variant's model.onnx (greedy CTC decoding, character accuracy),
# with the accuracy budget on (the default with a calibration set) and off, side by side; and
# each variant's speed on aifgen's engine as `aifgen convert` measured it.
#
#   bench/int8_accuracy.sh [LINES] [SEED]     (defaults: 96 new lines, seed 2027)
#
# Calibration: ../shared/calibration/rec_x.npy (32 lines; the last quarter is the budget's
# held-out split). Judged on: LINES new lines rendered by ../shared/calibration/make_ocr_data.py
# with SEED (needs Debian python3-numpy, python3-pil and fonts-dejavu-core), and on the shared
# set's own held-out quarter. Needs build/, Node.js and ../shared/tools/ort-bench.
# DNNL_MAX_CPU_ISA=AVX2 in the environment measures speed without VNNI. The x86 variants are also
# judged as aifgen's engine runs them on a CPU without VNNI (`aifgen run` under
# DNNL_MAX_CPU_ISA=AVX2: saturation-safe weights or the float graph, as the variant says), rows
# "...-as-run-without-vnni", on the new lines only.
set -euo pipefail
cd "$(dirname "$0")/.."
lines=${1:-96}
seed=${2:-2027}
. bench/common.sh
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
ensure_ort_bench

/usr/bin/python3 "$shared/calibration/make_ocr_data.py" "$work/new" --rec "$lines" --det 1 --seed "$seed" >/dev/null
mkdir -p "$work/cal" && ln -s "$(realpath "$shared/calibration/rec_x.npy")" "$work/cal/x.npy"
model=$shared/models/ch_PP-OCRv4_rec_infer.onnx
targets=x86_64-cpu,nvidia-gpu,xilinx-alveo
models=("fp32=$model")
without_vnni=()
# name, targets, --accuracy-budget value ("" = the default)
configs=("on|$targets|" "off|$targets|off" "0.02|xilinx-alveo|0.02")
for config in "${configs[@]}"; do
  IFS='|' read -r budget these flagvalue <<<"$config"
  flag=()
  [ -n "$flagvalue" ] && flag=(--accuracy-budget "$flagvalue")
  echo "== aifgen convert $these, accuracy budget $budget"
  ./build/aifgen convert "$model" --targets "$these" --precisions int8 --out "$work/$budget" \
    --calibration "$work/cal/x.npy" "${flag[@]}" 2>/dev/null | sed 's/^/   /' || true
  for t in ${these//,/ }; do
    bundle=$work/$budget/ch_PP-OCRv4_rec_infer-$t-int8.tar.gz
    [ -f "$bundle" ] || continue
    mkdir -p "$work/$budget/$t" && tar xzf "$bundle" -C "$work/$budget/$t"
    onnx=$(find "$work/$budget/$t" -name model.onnx | head -1)
    [ -n "$onnx" ] && models+=("$t-budget-$budget=$onnx")
    if [ -n "$onnx" ] && [ "$t" = x86_64-cpu ]; then
      DNNL_MAX_CPU_ISA=AVX2 ./build/aifgen run "$onnx" --threads 2 --input "x=$work/new/rec_x.npy" --output-dir "$work/$budget/avx2" >/dev/null
      without_vnni+=("$t-budget-$budget-as-run-without-vnni=$(ls "$work/$budget/avx2"/*.npy)")
    fi
  done
done
echo
echo "== $lines new lines (seed $seed), ONNX Runtime, character accuracy"
node bench/ocr_accuracy.js --ort-dir "$ort_dir" --x "$work/new/rec_x.npy" --labels "$work/new/rec_labels.txt" \
  --keys "$shared/models/ppocr_keys_v1.txt" "${models[@]}" "${without_vnni[@]}"
echo
echo "== the shared set's held-out quarter (lines 24-31, never calibrated on)"
node bench/ocr_accuracy.js --ort-dir "$ort_dir" --x "$shared/calibration/rec_x.npy" --labels "$shared/calibration/rec_labels.txt" \
  --keys "$shared/models/ppocr_keys_v1.txt" --from 24 --to 32 "${models[@]}"
