#!/usr/bin/env bash
# Scale-out figures (README "Scaling out on PostgreSQL"): jobs/s and claim latency with 1, 2 and
# 4 workers on SQLite and on PostgreSQL, and job-status polls/s over 1 and 2 API replicas. Starts
# its own throwaway PostgreSQL (tests/tools/postgres-server.sh; Debian's postgresql, installed by
# scripts/setup.sh --with-test-tools) and needs build/ from the README command.
#   bench/scale_out.sh [JOBS] [POLL_SECONDS]     (defaults 40 jobs, 8 s)
set -euo pipefail
cd "$(dirname "$0")/.."
state=$(mktemp -d)
trap 'tests/tools/postgres-server.sh stop "$state" >/dev/null; rm -rf "$state"' EXIT
tests/tools/postgres-server.sh start "$state" >/dev/null
[ -f "$state/url" ] || { echo "no PostgreSQL: $(cat "$state/skip-reason")" >&2; exit 1; }
python3 bench/scale_out.py "$(pwd)/build/aifgen" "$(cat "$state/url")" "${1:-40}" "${2:-8}"
