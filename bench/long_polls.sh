#!/usr/bin/env bash
# Issue 13's long-poll check: 2,000 parked GET /v1/jobs/{id}?wait= requests while jobs run, and
# the p99 of other routes meanwhile. Starts its own service (2 workers, a stage delay so jobs run
# and change throughout), submits jobs, then runs bench/long_polls.py. Needs build/ only.
#   bench/long_polls.sh [SECONDS] [POLLS] [JOBS]   (defaults 30 s, 2000 polls, SECONDS/2+4 jobs)
# The dashboards are spread evenly over the jobs: with few jobs each change wakes many of them
# at once (the worst case: every change answers POLLS/JOBS requests that re-park at once).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
polls=${2:-2000}
njobs=${3:-$(( seconds / 2 + 4 ))}
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cleanup() { kill "$apid" 2>/dev/null || true; wait "$apid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
./build/aifgen serve --listen "127.0.0.1:$port" --data-dir "$work/data" --workers 2 --debug-stage-delay-ms 150 \
  > "$work/aifgen.log" 2>&1 &
apid=$!
for _ in $(seq 100); do curl -fs "127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
model=$(curl -s -X POST --data-binary @"$work/data/examples/demo_conv_bn_relu.onnx" -H 'Content-Type: application/octet-stream' \
        "127.0.0.1:$port/v1/models?name=demo" | sed -n 's/.*"id":"\([0-9a-f]*\)".*/\1/p')
jobs=()
# Enough jobs to keep both workers busy for the whole run (each has 2 variants x ~8 stages).
for _ in $(seq "$njobs"); do
  jobs+=("$(curl -s -X POST "127.0.0.1:$port/v1/jobs" -H 'Content-Type: application/json' \
      -d "{\"model_id\":\"$model\",\"targets\":[\"x86_64-cpu\"]}" | sed -n 's/.*"id":"\(job_[0-9a-f]*\)".*/\1/p')")
done
echo "service on :$port, ${#jobs[@]} jobs queued; parking $polls long polls for $seconds s"
[ -n "${PERF_OUT:-}" ] && (sleep 8; perf record -F 999 -g -o "$PERF_OUT" -p "$apid" -- sleep 5 >/dev/null 2>&1) &
python3 bench/long_polls.py 127.0.0.1 "$port" "$seconds" "$polls" "${jobs[@]}"
states=$(curl -s "127.0.0.1:$port/metrics" | grep -E '^aifgen_jobs_total|^aifgen_jobs\{' | tr '\n' ' ' || true)
echo "jobs meanwhile: $states"
echo "service RSS: $(ps -o rss= -p "$apid") KiB"
