#!/usr/bin/env bash
# Builds the libFuzzer targets with clang under AddressSanitizer + UndefinedBehaviorSanitizer
# and runs each for SECONDS (default 60) from its seed corpus in fuzz/corpus/<target>/.
# Crashes are written to fuzz/findings/; keep each one as a regression input in the corpus
# once fixed. Exit status is non-zero when any target finds a crash.
#   fuzz/run.sh [SECONDS] [TARGET ...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(npy multipart job_request onnx_model calibration kserve_request einsum control_flow accept_encoding sql_placeholders)
CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAIFGEN_BUILD_TESTS=OFF -DAIFGEN_FUZZ=ON >/dev/null
if ! cmake --build build-fuzz -j"$(nproc)" --target $(printf 'fuzz_%s ' "${targets[@]}") >build-fuzz/build.log 2>&1; then
  tail -n 30 build-fuzz/build.log
  exit 2
fi
mkdir -p fuzz/findings
status=0
for t in "${targets[@]}"; do
  work=$(mktemp -d)  # new inputs found this run; the committed corpus stays as it is
  echo "== fuzz_$t for ${seconds}s"
  if ! UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1 \
      ./build-fuzz/fuzz/fuzz_"$t" -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=4096 \
      -artifact_prefix=fuzz/findings/"$t"- -print_final_stats=1 "$work" fuzz/corpus/"$t" 2>&1 |
      grep -E "^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::peak_rss_mb|.*ERROR|SUMMARY)|cov:" | tail -n 4; then
    :
  fi
  if ls fuzz/findings/"$t"-* >/dev/null 2>&1; then
    echo "!! fuzz_$t found crashes: $(ls fuzz/findings/"$t"-*)"
    status=1
  fi
  rm -rf "$work"
done
exit $status
