# Shared by the bench scripts (sourced): locations, ONNX Runtime's timing tool and the
# generated resnet50.
shared=${AIFGEN_SHARED_DIR:-../shared}
ort_dir=${ORT_BENCH_DIR:-/tmp/aifgen-ort-bench}
models_dir=${AIFGEN_BENCH_MODELS:-/tmp/aifgen-bench-models}

# Installs ../shared/tools/ort-bench into $ort_dir once.
ensure_ort_bench() {
  if [ ! -d "$ort_dir/node_modules" ]; then
    rm -rf "$ort_dir" && cp -r "$shared/tools/ort-bench" "$ort_dir"
    (cd "$ort_dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) >/dev/null
  fi
}

# Generates $models_dir/resnet50.onnx once (Debian python3-torch + python3-torchvision); a note
# on stderr without them.
ensure_resnet50() {
  mkdir -p "$models_dir"
  if [ ! -f "$models_dir/resnet50.onnx" ]; then
    /usr/bin/python3 "$shared/models/make_models.py" "$models_dir" resnet50 >/dev/null 2>&1 ||
      echo "note: resnet50 not generated (needs Debian python3-torch and python3-torchvision)" >&2
  fi
}

median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
field() { sed -n "s/.*\"$1\":\([0-9.eE+-]*\).*/\1/p"; }
