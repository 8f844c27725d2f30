#!/usr/bin/env bash
# Peak resident memory (VmHWM) of `aifgen serve` while it receives a large model upload.
# Prints one line per case: streaming only (the whole body is received and hashed, then refused
# for its invalid name before any parsing) and a full ingest of a valid model (stream + parse +
# checker + shape inference + census).
#   bench/upload_rss.sh [SIZE_MB]      (default 300; needs build/ from the README command)
set -euo pipefail
cd "$(dirname "$0")/.."
size_mb=${1:-300}
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
./build/bench/aifgen_make_large_model "$work/large.onnx" "$size_mb"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

run_case() {  # name file query
  rm -rf "$work/data"
  ./build/aifgen serve --listen "127.0.0.1:$port" --data-dir "$work/data" --max-upload-mb 2000 > "$work/log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do curl -fs "127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
  local idle start end status
  idle=$(awk '/VmHWM/ {print $2}' /proc/$pid/status)
  start=$(date +%s.%N)
  status=$(curl -s -o /dev/null -w '%{http_code}' -X POST --data-binary "@$2" \
           -H 'Content-Type: application/octet-stream' "127.0.0.1:$port/v1/models$3")
  end=$(date +%s.%N)
  local peak
  peak=$(awk '/VmHWM/ {print $2}' /proc/$pid/status)
  awk -v name="$1" -v mb="$(( $(stat -c %s "$2") / 1000000 ))" -v st="$status" -v s="$start" -v e="$end" \
      -v peak="$peak" -v idle="$idle" \
      'BEGIN { printf "%-28s %6d MB  HTTP %s  %6.2f s  peak RSS %6.1f MiB (idle %5.1f MiB)\n", name, mb, st, e - s, peak / 1024, idle / 1024 }'
  kill $pid; wait $pid 2>/dev/null || true
}

run_case "streaming only (HTTP 400)" "$work/large.onnx" "?name=invalid%2Fname"
run_case "full ingest (valid model)" "$work/large.onnx" ""
