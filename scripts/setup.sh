#!/usr/bin/env bash
# Installs every Debian package aifgen needs to build, test and run, plus the npm OpenAPI
# validator used by the test run. Idempotent: packages already present are not reinstalled,
# and apt's index is refreshed only when something is missing.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config git ca-certificates
  libcpprest-dev nlohmann-json3-dev
  libonnx-dev libprotobuf-dev protobuf-compiler
  libsqlite3-dev libpqxx-dev libspdlog-dev libfmt-dev libssl-dev
  libdnnl-dev libarchive-dev libcli11-dev libyaml-cpp-dev
  libgtest-dev libgmock-dev zlib1g-dev libdeflate-dev
  libjs-chart.js
  python3 curl openssl
)
# libpqxx-dev: the PostgreSQL backend (--database postgresql://...); SQLite stays the default.
# libjs-chart.js: Debian's Chart.js (3.9.1 on Debian 12), embedded into the binary with the
# dashboard's own files at build time; the page loads nothing from any other host.
# Node.js/npm only for the OpenAPI validator, and only when the machine has no npm of its own
# (Debian's nodejs package conflicts with a separately installed npm).
command -v npm >/dev/null 2>&1 || PACKAGES+=(nodejs npm)
# Fuzzing (fuzz/run.sh) needs clang's libFuzzer and sanitizer runtimes; only with test tools.
# The Vitis AI bundles' KServe server is Python with numpy; the tests run it (against a stand-in
# for ONNX Runtime's Vitis AI provider) with Debian's python3 and python3-numpy.
# bench/int8_accuracy.sh renders held-out OCR lines with python3-pil and the DejaVu fonts.
# The dashboard's browser tests drive Debian's chromium and firefox-esr with puppeteer-core
# (npm; it downloads no browser).
# The storage and e2e tests also run against a real PostgreSQL server (Debian's postgresql), which
# the test run starts as an unprivileged user on a private port and stops afterwards.
test_tools=false
bench_tools=false
for arg in "$@"; do
  case "$arg" in
    --with-test-tools) test_tools=true ;;
    --with-bench-tools) bench_tools=true ;;
    *) echo "setup: unknown option $arg (known: --with-test-tools, --with-bench-tools)" >&2; exit 2 ;;
  esac
done
$test_tools && PACKAGES+=(clang libclang-rt-14-dev python3-numpy python3-pil fonts-dejavu-core chromium firefox-esr postgresql)
# bench/zoo.sh and bench/compare_ort.sh export torchvision (and torchaudio's speech)
# architectures with Debian's PyTorch (large: only when asked for).
$bench_tools && PACKAGES+=(python3-torch python3-torchvision python3-torchaudio python3-numpy python3-onnx)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup: all Debian packages present"
fi

# OpenAPI validator for tests (only when tests are wanted; the service itself needs no npm).
if $test_tools; then
  here="$(cd "$(dirname "$0")/.." && pwd)"
  if [ ! -x "$here/tests/tools/node_modules/.bin/validate-api" ] || [ ! -x "$here/tests/tools/node_modules/.bin/dockerfilelint" ] ||
     [ ! -d "$here/tests/tools/node_modules/kubernetes-models" ] || [ ! -d "$here/tests/tools/node_modules/@kubernetes/client-node" ] ||
     [ ! -d "$here/tests/tools/node_modules/puppeteer-core" ]; then
    echo "setup: installing the test tools: OpenAPI validator, Dockerfile linter, Kubernetes schemas, browser driver (npm)"
    (cd "$here/tests/tools" && npm ci --no-audit --no-fund --loglevel=error)
  fi
fi
