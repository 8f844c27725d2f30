#!/usr/bin/env bash
# Load on loopback: aifgen answering job-status polls and model listings (SQLite behind both)
# beside nginx serving a static file of the same size, in the same run, with wrk.
# Prints req/s and p99 per case. Needs Debian wrk and nginx-light (not installed by setup.sh:
# this is a benchmark, not a test) and build/ from the README command.
#   bench/load_test.sh [SECONDS] [CONNECTIONS]     (defaults 10 s, 64 connections)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
conns=${2:-64}
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
nport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cleanup() { kill "$apid" 2>/dev/null || true; [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

./build/aifgen serve --listen "127.0.0.1:$port" --data-dir "$work/data" --workers 1 > "$work/aifgen.log" 2>&1 &
apid=$!
for _ in $(seq 100); do curl -fs "127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
model=$(curl -s -X POST --data-binary @"$work/data/examples/demo_conv_bn_relu.onnx" -H 'Content-Type: application/octet-stream' \
        "127.0.0.1:$port/v1/models?name=demo" | sed -n 's/.*"id":"\([0-9a-f]*\)".*/\1/p')
job=$(curl -s -X POST "127.0.0.1:$port/v1/jobs" -H 'Content-Type: application/json' \
      -d "{\"model_id\":\"$model\",\"targets\":[\"x86_64-cpu\"]}" | sed -n 's/.*"id":"\(job_[0-9a-f]*\)".*/\1/p')
sleep 1
curl -s "127.0.0.1:$port/v1/jobs/$job" > "$work/job.json"
etag=$(curl -s -D - -o /dev/null "127.0.0.1:$port/v1/jobs/$job" | sed -n 's/^ETag: *\(.*\)\r$/\1/ip')
curl -s "127.0.0.1:$port/v1/models" > "$work/models.json"

mkdir -p "$work/www"
cp "$work/job.json" "$work/www/job.json"
cp "$work/models.json" "$work/www/models.json"
cat > "$work/nginx.conf" <<CONF
worker_processes 1;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log off;
  server { listen 127.0.0.1:$nport; root $work/www; }
}
CONF
nginx -c "$work/nginx.conf"
sleep 0.3

run() {  # name url [header]; sets $rps and prints req/s, p99 and, for aifgen, the ratio to $base
  local out p99 ratio=""
  out=$(wrk -t2 -c"$conns" -d"${seconds}s" --latency ${3:+-H "$3"} "$2")
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  [[ $1 == aifgen* ]] && ratio=$(awk -v a="$rps" -v b="$base" 'BEGIN {printf "%.2fx nginx", a / b}')
  printf '%-40s %10s req/s   p99 %-8s %s\n' "$1" "$rps" "$p99" "$ratio"
}
echo "wrk -t2 -c$conns -d${seconds}s on $(nproc) cores; aifgen 1 worker, local-only mode (no keys)"
echo "goal: aifgen at least 0.50x nginx's req/s with p99 under 10 ms"
run "nginx job.json ($(stat -c %s "$work/job.json") B)" "http://127.0.0.1:$nport/job.json"; base=$rps
run "aifgen GET /v1/jobs/{id}" "http://127.0.0.1:$port/v1/jobs/$job"
run "aifgen same, If-None-Match -> 304" "http://127.0.0.1:$port/v1/jobs/$job" "If-None-Match: $etag"
# No storage and a 15-byte body: what the HTTP layer (cpprest) alone costs, the ceiling for the rest.
run "aifgen GET /healthz (HTTP layer only)" "http://127.0.0.1:$port/healthz"
run "nginx models.json ($(stat -c %s "$work/models.json") B)" "http://127.0.0.1:$nport/models.json"; base=$rps
run "aifgen GET /v1/models" "http://127.0.0.1:$port/v1/models"
