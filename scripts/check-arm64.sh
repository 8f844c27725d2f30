#!/usr/bin/env bash
# Builds aifgen for arm64 and runs it under qemu-user, so the arm64-cpu target is executed, not
# assumed: the engine's ONNX conformance cases and the shared models against their ONNX Runtime
# references, and the unit tests of the engine's own vector loops (fast_math: erf, softmax,
# LayerNorm and squeeze-excitation rows, written with GCC's portable vector extension) and of the
# fused attention (the unit-test binary, built for arm64), then an arm64-cpu bundle made by the
# service's pipeline, served by the arm64 aifgen (infer-server) and answering KServe v2
# requests that are checked against the x86-64 engine.
#
#   scripts/check-arm64.sh [WORK_DIR]     (default: build-arm64; about 30-60 min on 2 cores)
#
# Needs: the native build in build/ (the README's build command), and from Debian
# crossbuild-essential-arm64, qemu-user, debootstrap (installed here when missing). The arm64
# libraries come from Debian's arm64 packages unpacked into WORK_DIR/sysroot, not installed on
# this machine: several -dev packages (libdnnl-dev, libonnx-dev) cannot be co-installed for two
# architectures.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
work="$(realpath -m "${1:-$here/build-arm64}")"
shared="${AIFGEN_SHARED_DIR:-$here/../shared}"
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
log() { printf '\n== %s\n' "$*"; }

missing=()
for p in crossbuild-essential-arm64 qemu-user debootstrap; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
[ -x "$here/build/aifgen" ] || { echo "check-arm64: build the native aifgen first (README quick start)" >&2; exit 2; }

sysroot="$work/sysroot"
# The arm64 -dev packages the build links against (the README's setup list, less the tools).
# The list is kept in the sysroot's stamp, so a sysroot made from an older list is made again.
packages=libstdc++-12-dev,libcpprest-dev,nlohmann-json3-dev,libonnx-dev,libprotobuf-dev,libsqlite3-dev,libpqxx-dev,libspdlog-dev,libfmt-dev,libssl-dev,libdnnl-dev,libarchive-dev,libdeflate-dev,libcli11-dev,libyaml-cpp-dev,libgtest-dev,libgmock-dev
if [ "$(cat "$sysroot/.complete" 2>/dev/null)" != "$packages" ]; then
  log "arm64 sysroot from Debian bookworm packages -> $sysroot"
  rm -rf "$sysroot"
  mkdir -p "$work"
  mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  $SUDO debootstrap --foreign --arch=arm64 --variant=minbase \
    --include="$packages" \
    bookworm "$sysroot" "${mirror:-http://deb.debian.org/debian}" >"$work/debootstrap.log"
  # The first stage unpacks only the base; every downloaded package is unpacked as files here
  # (nothing runs inside the sysroot).
  for deb in "$sysroot"/var/cache/apt/archives/*.deb; do $SUDO dpkg-deb -x "$deb" "$sysroot"; done
  $SUDO chown -R "$(id -u):$(id -g)" "$sysroot"
  echo "$packages" >"$sysroot/.complete"
fi

log "cross-building aifgen and its unit tests for arm64 -> $work/build"
export AIFGEN_ARM64_SYSROOT="$sysroot"
cmake -S "$here" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_TOOLCHAIN_FILE="$here/cmake/aarch64-linux-gnu.cmake" \
  -DAIFGEN_E2E_TESTS=OFF -DAIFGEN_SHARED_DIR="$shared" >"$work/cmake.log"
cmake --build "$work/build" -j"$(nproc)" --target aifgen aifgen_unit_tests >"$work/build.log" 2>&1 || { tail -30 "$work/build.log"; exit 1; }
file "$work/build/aifgen" | grep -q "ARM aarch64" || { echo "check-arm64: $work/build/aifgen is not an arm64 binary" >&2; exit 1; }
run_arm64() { qemu-aarch64 -L "$sysroot" "$@"; }

log "ONNX node conformance cases, the shared models, the vector loops, attention, session, squeeze-excitation and infer-server model tests, on the arm64 engine (qemu-user)"
run_arm64 "$work/build/tests/aifgen_unit_tests" --gtest_brief=1 \
  --gtest_filter='OnnxConformance.*:Shared/EngineModels.*:EngineFastMath.*:EngineAttention.*:EngineSession.*:EngineSqueezeExcite.*:InferModel.*' 2>&1 | tee "$work/engine-tests.log" | tail -15
grep -q "PASSED" "$work/engine-tests.log" && ! grep -q "FAILED" "$work/engine-tests.log"

log "an arm64-cpu bundle (native pipeline), served by the arm64 aifgen infer-server"
tmp="$work/bundle-check"
rm -rf "$tmp" && mkdir -p "$tmp"
"$here/build/aifgen" convert "$shared/models/ch_ppocr_mobile_v2.0_cls_infer.onnx" --targets arm64-cpu --precisions fp32 --out "$tmp/out" >"$tmp/convert.log" 2>&1
tar -xzf "$tmp"/out/*.tar.gz -C "$tmp"
bundle=$(ls -d "$tmp"/aifgen-var_*)
(cd "$bundle" && sha256sum -c --quiet SHA256SUMS)
port=$((20000 + RANDOM % 20000))
printf '#!/usr/bin/env bash\nexec qemu-aarch64 -L %q %q "$@"\n' "$sysroot" "$work/build/aifgen" >"$tmp/aifgen-arm64"
chmod +x "$tmp/aifgen-arm64"
(cd "$bundle" && AIFGEN="$tmp/aifgen-arm64" AIFGEN_LISTEN="127.0.0.1:$port" exec ./entrypoint.sh) >"$tmp/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 1 240); do
  curl -sf "http://127.0.0.1:$port/v2/health/ready" >/dev/null && break
  sleep 0.5
done
curl -sf "http://127.0.0.1:$port/v2/health/ready" >/dev/null || { cat "$tmp/server.log"; exit 1; }
model=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['serving']['model_name'])" "$bundle/variant.json")
curl -sf "http://127.0.0.1:$port/v2/models/$model" >"$tmp/metadata.json"
# One request with the shared reference input; the answer must match the x86-64 engine's.
python3 - "$shared/models/refs/ch_ppocr_mobile_v2.0_cls_infer" "$tmp" <<'PY'
import json, struct, sys, ast
refs, tmp = sys.argv[1], sys.argv[2]
def load_npy(path):
    data = open(path, "rb").read()
    hlen = struct.unpack("<H", data[8:10])[0]
    header = ast.literal_eval(data[10:10 + hlen].decode("latin1"))
    assert header["descr"] == "<f4", header
    n = 1
    for d in header["shape"]:
        n *= d
    return list(header["shape"]), list(struct.unpack("<%df" % n, data[10 + hlen:10 + hlen + 4 * n]))
shape, x = load_npy(refs + "/input_x.npy")
json.dump({"inputs": [{"name": "x", "datatype": "FP32", "shape": shape, "data": x}]}, open(tmp + "/request.json", "w"))
PY
curl -sf -X POST -H 'Content-Type: application/json' --data-binary @"$tmp/request.json" \
  "http://127.0.0.1:$port/v2/models/$model/infer" >"$tmp/response.json"
python3 - "$shared/models/refs/ch_ppocr_mobile_v2.0_cls_infer" "$tmp" <<'PY'
import json, struct, sys, ast
refs, tmp = sys.argv[1], sys.argv[2]
data = open(refs + "/output_softmax_0.tmp_0.npy", "rb").read()
hlen = struct.unpack("<H", data[8:10])[0]
header = ast.literal_eval(data[10:10 + hlen].decode("latin1"))
n = 1
for d in header["shape"]:
    n *= d
ref = struct.unpack("<%df" % n, data[10 + hlen:10 + hlen + 4 * n])
got = json.load(open(tmp + "/response.json"))["outputs"][0]["data"]
scale = max(abs(v) for v in ref)
err = max(abs(a - b) for a, b in zip(got, ref))
print("arm64 infer-server vs ONNX Runtime reference: max abs error %.3g (output scale %.3g), %d values" % (err, scale, len(ref)))
sys.exit(0 if len(got) == len(ref) and err <= 1e-4 * max(scale, 1.0) else 1)
PY
log "the bundle's client (aifgen loadgen, native) against the arm64 server, 3 s"
(cd "$bundle" && AIFGEN="$here/build/aifgen" URL="http://127.0.0.1:$port" DURATION=3 CONCURRENCY=2 client/run_loadgen.sh) | tee "$tmp/loadgen.log"
grep -q " 0 errors" "$tmp/loadgen.log"
log "arm64 check passed (binary: $(file -b "$work/build/aifgen" | cut -d, -f1-2))"
