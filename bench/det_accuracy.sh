#!/usr/bin/env bash
# INT8 accuracy of the PaddleOCR v4 text detector's variants on images aifgen never saw, judged
# by ONNX Runtime running each variant's model.onnx and by DB-style box extraction against the
# true text-line boxes (bench/det_accuracy.py: precision, recall, F1 at IoU 0.5), with the
# default accuracy budget; the x86 variant also as aifgen's engine runs it without VNNI
# (`aifgen run` under DNNL_MAX_CPU_ISA=AVX2).
#
#   bench/det_accuracy.sh [IMAGES] [SEED]     (defaults: 64 new images, seed 2027)
#
# Calibration: ../shared/calibration/det_x.npy (8 images; the last quarter, 2, is the budget's
# held-out split). New images: ../shared/calibration/make_ocr_data.py with SEED (needs Debian
# python3-numpy, python3-pil and fonts-dejavu-core). Needs build/, Node.js and
# ../shared/tools/ort-bench.
set -euo pipefail
cd "$(dirname "$0")/.."
images=${1:-64}
seed=${2:-2027}
. bench/common.sh
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
ensure_ort_bench

/usr/bin/python3 "$shared/calibration/make_ocr_data.py" "$work/new" --rec 1 --det "$images" --seed "$seed" >/dev/null
mkdir -p "$work/cal" && ln -s "$(realpath "$shared/calibration/det_x.npy")" "$work/cal/x.npy"
model=$shared/models/ch_PP-OCRv4_det_infer.onnx
targets=x86_64-cpu,nvidia-gpu,xilinx-alveo
echo "== aifgen convert $targets int8, default accuracy budget"
./build/aifgen convert "$model" --targets "$targets" --precisions int8 --out "$work/out" --calibration "$work/cal/x.npy" \
  2>/dev/null | sed 's/^/   /' || true
node bench/ort_outputs.js --ort-dir "$ort_dir" --x "$work/new/det_x.npy" --out "$work/fp32.npy" "$model"
scores=("fp32=$work/fp32.npy")
for t in ${targets//,/ }; do
  bundle=$work/out/ch_PP-OCRv4_det_infer-$t-int8.tar.gz
  [ -f "$bundle" ] || continue
  mkdir -p "$work/out/$t" && tar xzf "$bundle" -C "$work/out/$t"
  onnx=$(find "$work/out/$t" -name model.onnx | head -1)
  [ -n "$onnx" ] || continue
  node bench/ort_outputs.js --ort-dir "$ort_dir" --x "$work/new/det_x.npy" --out "$work/$t.npy" "$onnx"
  scores+=("$t=$work/$t.npy")
  if [ "$t" = x86_64-cpu ]; then
    DNNL_MAX_CPU_ISA=AVX2 ./build/aifgen run "$onnx" --threads 2 --input "x=$work/new/det_x.npy" --output-dir "$work/avx2" >/dev/null
    scores+=("$t-as-run-without-vnni=$(ls "$work/avx2"/*.npy)")
  fi
done
echo
echo "== $images new images (seed $seed), text-line boxes at IoU 0.5"
/usr/bin/python3 bench/det_accuracy.py "$work/new/det_boxes.json" "${scores[@]}"
