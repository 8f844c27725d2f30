#!/usr/bin/env bash
# A throwaway PostgreSQL server for the test run (Debian's postgresql package).
#
#   postgres-server.sh start STATE_DIR   initdb in a temp dir, start on a free loopback port, write
#                                        STATE_DIR/url (a postgresql:// URL for the superuser
#                                        "aifgen", trust auth, loopback only)
#   postgres-server.sh stop STATE_DIR    stop it (immediately: the data is throwaway) and delete it
#
# The server runs as an unprivileged user: the invoking one, or "nobody" when the tests run as
# root (initdb refuses root). When the server binaries are missing, start writes the reason to
# STATE_DIR/skip-reason and exits 0, so the tests that need it skip saying why.
# Durability is off (fsync, synchronous_commit, full_page_writes): the data lives for one run.
set -euo pipefail

cmd=${1:-}
state=${2:-}
if [ -z "$cmd" ] || [ -z "$state" ]; then
  echo "usage: $0 start|stop STATE_DIR" >&2
  exit 2
fi

as_server_user() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u nobody -- "$@"
  else
    "$@"
  fi
}

stop_server() {
  [ -f "$state/data-dir" ] || return 0
  local data
  data=$(cat "$state/data-dir")
  if [ -f "$data/pgdata/postmaster.pid" ]; then
    as_server_user "$(cat "$state/bin-dir")/pg_ctl" -D "$data/pgdata" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$data"
  rm -f "$state/data-dir" "$state/url"
}

case "$cmd" in
  start)
    mkdir -p "$state"
    stop_server  # a run that was interrupted may have left one behind
    rm -f "$state/skip-reason" "$state/url"
    bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [ -z "$bin" ] || [ ! -x "$bin/initdb" ] || [ ! -x "$bin/pg_ctl" ]; then
      echo "no PostgreSQL server binaries under /usr/lib/postgresql/*/bin (install Debian's postgresql: scripts/setup.sh --with-test-tools)" \
        > "$state/skip-reason"
      echo "postgres-server: $(cat "$state/skip-reason"); PostgreSQL tests will skip"
      exit 0
    fi
    echo "$bin" > "$state/bin-dir"
    data=$(mktemp -d /tmp/aifgen-test-pg.XXXXXX)
    echo "$data" > "$state/data-dir"
    if [ "$(id -u)" = 0 ]; then chown nobody "$data"; fi
    chmod 700 "$data"
    as_server_user "$bin/initdb" -D "$data/pgdata" -U aifgen --auth=trust --no-locale -E UTF8 >"$data/initdb.log" 2>&1 || {
      cat "$data/initdb.log" >&2
      echo "initdb failed (log above)" > "$state/skip-reason"
      exit 1
    }
    for attempt in 1 2 3 4 5; do
      port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
      if as_server_user "$bin/pg_ctl" -D "$data/pgdata" -l "$data/server.log" -w -t 60 \
           -o "-p $port -k $data -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
           start >/dev/null; then
        echo "postgresql://aifgen@127.0.0.1:$port/postgres" > "$state/url"
        echo "postgres-server: PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port (data in $data)"
        exit 0
      fi
      echo "postgres-server: start on port $port failed (attempt $attempt)" >&2
      tail -n 5 "$data/server.log" >&2 || true
    done
    echo "the test PostgreSQL server would not start (see $data/server.log)" > "$state/skip-reason"
    exit 1
    ;;
  stop)
    stop_server
    ;;
  *)
    echo "usage: $0 start|stop STATE_DIR" >&2
    exit 2
    ;;
esac
