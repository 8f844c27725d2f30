#!/usr/bin/env bash
# INT8 accuracy of the PaddleOCR text-orientation classifier's variants on samples aifgen never
# saw, judged by ONNX Runtime running each variant's model.onnx (top-1 of 0/180 degrees), with
# the default accuracy budget; and how often each variant answers as fp32 does.
#
#   bench/cls_accuracy.sh [SAMPLES] [SEED]     (defaults: 96 new samples, seed 2027)
#
# The shared set has no classifier data, so both sets are rendered here (bench/make_cls_data.py
# over ../shared/calibration/make_ocr_data.py; needs Debian python3-numpy, python3-pil and
# fonts-dejavu-core): 32 calibration samples with seed 7 (their last quarter is the budget's
# held-out split), SAMPLES new ones with SEED. Needs build/, Node.js and ../shared/tools/ort-bench.
set -euo pipefail
cd "$(dirname "$0")/.."
samples=${1:-96}
seed=${2:-2027}
. bench/common.sh
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
ensure_ort_bench
export AIFGEN_SHARED_DIR=$shared

/usr/bin/python3 bench/make_cls_data.py "$work/cal" --samples 32 --seed 7
/usr/bin/python3 bench/make_cls_data.py "$work/new" --samples "$samples" --seed "$seed"
mkdir -p "$work/calx" && cp "$work/cal/cls_x.npy" "$work/calx/x.npy"
model=$shared/models/ch_ppocr_mobile_v2.0_cls_infer.onnx
targets=x86_64-cpu,nvidia-gpu,xilinx-alveo
echo "== aifgen convert $targets int8, default accuracy budget"
./build/aifgen convert "$model" --targets "$targets" --precisions int8 --out "$work/out" --calibration "$work/calx/x.npy" \
  2>/dev/null | sed 's/^/   /' || true
models=("fp32=$model")
for t in ${targets//,/ }; do
  bundle=$work/out/ch_ppocr_mobile_v2.0_cls_infer-$t-int8.tar.gz
  [ -f "$bundle" ] || continue
  mkdir -p "$work/out/$t" && tar xzf "$bundle" -C "$work/out/$t"
  onnx=$(find "$work/out/$t" -name model.onnx | head -1)
  [ -n "$onnx" ] && models+=("$t=$onnx")
done
echo
echo "== $samples new samples (seed $seed), ONNX Runtime, top-1 orientation (the 'char' columns count samples)"
node bench/ocr_accuracy.js --ort-dir "$ort_dir" --classes --x "$work/new/cls_x.npy" --labels "$work/new/cls_labels.txt" "${models[@]}"
