#!/usr/bin/env bash
# The dashboard's load figures (issue 16's goals) in headless Chromium against a live service:
# bytes of a first load with an empty cache (goal: under 300 KB), the jobs page rendering 500
# jobs (goal: under 1 s on 2 cores), and the requests an idle open job view makes in 60 s (goal:
# one per long-poll period). Needs build/aifgen and the test tools (scripts/setup.sh
# --with-test-tools: chromium, puppeteer-core).
#
#   bench/dashboard_load.sh [JOBS]     (default 500)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
exec node bench/dashboard_load.mjs ./build/aifgen "$shared/models/ch_ppocr_mobile_v2.0_cls_infer.onnx" \
  "$shared/models/ch_PP-OCRv4_det_infer.onnx" "${1:-500}"
