#!/usr/bin/env bash
# Generates the accelerator bundles (nvidia-gpu, nvidia-jetson, xilinx-zynq, xilinx-alveo) for
# any ONNX models, as `aifgen convert` (the service's own pipeline) makes them, and holds each
# against the vendors' schemas: every Kubernetes manifest with the Kubernetes API schemas
# (tests/tools/validate-k8s.mjs), config.pbtxt through protoc with Triton's model-config fields
# (unknown fields and bad enum values fail), every script with bash -n, the DPU rule check of
# the Vitis AI int8 model (variant.json), and the probes against what the entrypoint serves.
# Prints one line per bundle and exits 1 if any check failed.
#
#   scripts/check-bundles.sh [MODEL.onnx ...]   (default: every model in ../shared/models)
set -uo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
aifgen="$here/build/aifgen"
shared="${AIFGEN_SHARED_DIR:-$here/../shared}"
[ -x "$aifgen" ] || { echo "check-bundles: build aifgen first (README quick start)" >&2; exit 2; }
[ -d "$here/tests/tools/node_modules/kubernetes-models" ] || { echo "check-bundles: run scripts/setup.sh --with-test-tools" >&2; exit 2; }
models=("$@")
[ ${#models[@]} -gt 0 ] || models=("$shared"/models/*.onnx)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0
printf '%-36s %-14s %-6s %-10s %s\n' model target prec result notes
for model in "${models[@]}"; do
  name=$(basename "$model" .onnx)
  calibration=()
  case "$name" in
    ch_PP-OCRv4_rec_infer) calibration=(--calibration "$shared/calibration/rec_x.npy") ;;
    ch_PP-OCRv4_det_infer) calibration=(--calibration "$shared/calibration/det_x.npy") ;;
  esac
  out="$work/$name"
  "$aifgen" convert "$model" --targets nvidia-gpu nvidia-jetson xilinx-zynq xilinx-alveo "${calibration[@]}" --out "$out" >"$work/$name.log" 2>&1
  for bundle in "$out"/*.tar.gz; do
    [ -e "$bundle" ] || continue
    variant=$(basename "$bundle" .tar.gz)
    target_prec=${variant#"$name"-}
    target=${target_prec%-*}
    prec=${target_prec##*-}
    dir="$work/unpacked/$variant"
    mkdir -p "$dir" && tar -xzf "$bundle" -C "$dir" && dir=$(ls -d "$dir"/aifgen-var_*)
    notes=()
    ok=1
    (cd "$dir" && sha256sum -c --quiet SHA256SUMS) >/dev/null 2>&1 || { ok=0; notes+=("checksums"); }
    node "$here/tests/tools/validate-k8s.mjs" "$dir"/k8s/*.yaml >"$work/k8s.txt" 2>&1 || { ok=0; notes+=("k8s: $(head -1 "$work/k8s.txt")"); }
    for s in "$dir"/*.sh "$dir"/client/*.sh; do bash -n "$s" 2>/dev/null || { ok=0; notes+=("bash -n $(basename "$s")"); }; done
    grep -q 'path: /v2/health/ready' "$dir/k8s/deployment.yaml" && grep -q 'containerPort: 8000' "$dir/k8s/deployment.yaml" || { ok=0; notes+=("probes"); }
    case "$target" in
      nvidia-*)
        config=$(ls "$dir"/model_repository/*/config.pbtxt)
        protoc --proto_path="$here/tests/support" --encode=inference.ModelConfig triton_model_config.proto <"$config" >/dev/null 2>"$work/protoc.txt" ||
          { ok=0; notes+=("config.pbtxt: $(head -1 "$work/protoc.txt")"); }
        grep -q -- '--http-port=8000' "$dir/entrypoint.sh" || { ok=0; notes+=("entrypoint port"); }
        notes+=("$(grep -o "max_batch_size: [0-9]*" "$config"), dims $(grep -o 'dims: \[[^]]*\]' "$config" | head -1 | cut -d' ' -f2- | tr -d ' ')")
        shapes=$(grep -o "'--maxShapes=[^']*'" "$dir/build_engine.sh" || true)
        notes+=("${shapes:-no shape flags (fixed shapes)}")
        ;;
      xilinx-*)
        grep -q '${PORT:-8000}' "$dir/entrypoint.sh" || { ok=0; notes+=("entrypoint port"); }
        violations=$(python3 -c "import json,sys; v=json.load(open('$dir/variant.json')); print([p for p in v['passes'] if p['name']=='quantize_int8'][0]['details']['dpu_rules']['violations'])")
        [ "$violations" = 0 ] || { ok=0; notes+=("DPU rule violations: $violations"); }
        notes+=("$(python3 -c "import json; print(json.load(open('$dir/partition.json'))['summary'])")")
        ;;
    esac
    validation=$(python3 -c "import json; print(json.load(open('$dir/variant.json'))['validation']['status'])")
    [ $ok = 1 ] && result=ok || { result=FAILED; failures=$((failures + 1)); }
    printf '%-36s %-14s %-6s %-10s %s\n' "$name" "$target" "$prec" "$result" "validation $validation; $(IFS=';'; echo "${notes[*]}")"
  done
  # Variants that did not build (validation failure, unsupported op): say so, they are not bundles.
  grep -E "^(nvidia|xilinx)-[a-z]+ +[a-z0-9]+ +failed" "$work/$name.log" | while read -r t p _ rest; do
    printf '%-36s %-14s %-6s %-10s %s\n' "$name" "$t" "$p" "not built" "$rest"
  done
done
exit $((failures > 0))
