#!/usr/bin/env bash
# The architecture zoo: aifgen's CPU engine against ONNX Runtime on every torchvision
# architecture (classification, segmentation, video, detection), torchaudio's speech models and
# the shared models, outputs checked and p50/p99 timed at 1 and 2 threads, interleaved in one
# run. One table and a summary; see bench/zoo.py for the method.
#
#   bench/zoo.sh [--quick] [--check-only] [--rounds N] [--models a,b,c] [--families F] [--no-shared | --shared-only] [--json-out FILE]
#
# Needs build/ from the README command, Node.js (ort-bench from ../shared/tools), and Debian's
# python3-torch, python3-torchvision, python3-torchaudio and python3-numpy to export the models
# once into $AIFGEN_BENCH_MODELS/zoo (the full zoo is ~110 models and takes hours on 2 cores;
# --quick is a cross-section of 11 plus the shared models; --families picks among
# classification, segmentation, video, detection and speech).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
ensure_ort_bench
exec /usr/bin/python3 bench/zoo.py --shared "$shared" --ort-dir "$ort_dir" --cache "$models_dir/zoo" "$@"
