#!/usr/bin/env bash
# A dynamic tail whose batch changes from run to run (bench/make_tail_model.py: four 3x3
# convolutions of 256 channels on the rows a NonZero keeps, a detector's mask head on its
# detections): p50 at 1 thread when every run keeps the same rows (1 input set) and when the
# number changes between runs (8 input sets in turn), for each binary given, interleaved,
# medians of ROUNDS. Compare a build with a baseline binary to see what planning the tail for
# new shapes costs.
#
#   bench/tail_replan.sh [ROUNDS] [BINARY...]      (defaults: 3 rounds, build/aifgen)
#
# Needs build/ and Debian's python3-onnx and python3-numpy.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
shift || true
binaries=("$@")
[ ${#binaries[@]} -gt 0 ] || binaries=(build/aifgen)
. bench/common.sh
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
/usr/bin/python3 bench/make_tail_model.py "$work/tail.onnx"

p50() { "$1" bench "$work/tail.onnx" --threads 1 --iterations 60 --input-sets "$2" --json | field p50_ms; }
for b in "${binaries[@]}"; do : >"$work/$(basename "$b").1"; : >"$work/$(basename "$b").8"; done
for _ in $(seq "$rounds"); do
  for b in "${binaries[@]}"; do
    for sets in 1 8; do p50 "$b" "$sets" >>"$work/$(basename "$b").$sets"; done
  done
done
printf '%-32s %22s %22s\n' binary "same rows (ms, p50)" "new count (ms, p50)"
for b in "${binaries[@]}"; do
  printf '%-32s %22.2f %22.2f\n' "$b" "$(median <"$work/$(basename "$b").1")" "$(median <"$work/$(basename "$b").8")"
done
