#!/usr/bin/env bash
# The whole matrix through the service: upload resnet50, one job for all six targets at every
# precision each supports (12 variants; int8 calibrated on 32 synthetic samples, every variant
# validated, x86 ones benchmarked), from POST /v1/jobs to the last bundle stored. Prints the
# wall time and the time per stage summed over the variants (from their variant.json).
#
#   bench/matrix.sh [MODEL.onnx]      (default: resnet50 from ../shared/models/make_models.py)
set -euo pipefail
cd "$(dirname "$0")/.."
shared=${AIFGEN_SHARED_DIR:-../shared}
models_dir=${AIFGEN_BENCH_MODELS:-/tmp/aifgen-bench-models}
model=${1:-$models_dir/resnet50.onnx}
if [ ! -f "$model" ]; then
  mkdir -p "$models_dir"
  /usr/bin/python3 "$shared/models/make_models.py" "$models_dir" resnet50 >/dev/null 2>&1 ||
    { echo "resnet50 needs Debian python3-torch and python3-torchvision (or pass a model)" >&2; exit 2; }
fi
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
./build/aifgen serve --listen "127.0.0.1:$port" --data-dir "$work/data" --workers "${WORKERS:-1}" > "$work/aifgen.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do curl -fs "127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
base="http://127.0.0.1:$port"
id=$(curl -s -X POST --data-binary @"$model" -H 'Content-Type: application/octet-stream' "$base/v1/models?name=$(basename "$model" .onnx)" |
     python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
start=$(date +%s.%N)
job=$(curl -s -X POST "$base/v1/jobs" -H 'Content-Type: application/json' \
      -d "{\"model_id\": \"$id\", \"targets\": [\"x86_64-cpu\", \"arm64-cpu\", \"nvidia-gpu\", \"nvidia-jetson\", \"xilinx-alveo\", \"xilinx-zynq\"]}" |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
etag=""
while :; do
  state=$(curl -s "$base/v1/jobs/$job?wait=30" -H "If-None-Match: $etag" -D "$work/h" -o "$work/job.json" -w '%{http_code}')
  etag=$(sed -n 's/^[Ee][Tt][Aa][Gg]: *\(.*\)\r$/\1/p' "$work/h")
  s=$(python3 -c 'import json; print(json.load(open("'"$work/job.json"'"))["state"])')
  case "$s" in succeeded|failed|cancelled) break ;; esac
done
end=$(date +%s.%N)
python3 - "$work/job.json" "$base" "$start" "$end" <<'PY'
import json, sys, urllib.request
job = json.load(open(sys.argv[1])); base = sys.argv[2]; wall = float(sys.argv[4]) - float(sys.argv[3])
stages = {"optimize": 0.0, "validate": 0.0, "benchmark": 0.0}
print(f"{'variant':<26} {'validation':<10} {'optimize':>9} {'validate':>9} {'benchmark':>9}")
for v in job["variants"]:
    rep = json.load(urllib.request.urlopen(f"{base}/v1/variants/{v['id']}"))["report"] or {}
    t = rep.get("timings_ms", {})
    for k in stages: stages[k] += t.get(k, 0) / 1000
    print(f"{v['target'] + '/' + v['precision']:<26} {str(v['validation']):<10} {t.get('optimize',0)/1000:8.2f}s {t.get('validate',0)/1000:8.2f}s {t.get('benchmark',0)/1000:8.2f}s")
done = sum(1 for v in job["variants"] if v["state"] == "succeeded")
rest = wall - sum(stages.values())
print(f"\njob {job['state']}: {done}/{len(job['variants'])} variants in {wall:.1f} s from POST to the last bundle stored")
print("per stage (summed): " + ", ".join(f"{k} {s:.1f} s" for k, s in stages.items()) + f", loading/packaging/storing {rest:.1f} s")
PY
