#!/usr/bin/env bash
# make demo: install what is missing, build and install easeinv, start a throwaway PostgreSQL
# instance, play test/demo/demo.sql against it, and stop the instance again.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh

ensure_packages
build_and_install

dir=$(mktemp -d /tmp/easeinv-demo.XXXXXX)
chmod 755 "$dir"
[ "$(id -u)" -eq 0 ] && chown "$RUN_USER" "$dir"
port=$(free_port 55432)
cleanup() { pg_tmp_stop "$dir"; rm -rf "$dir"; }
trap cleanup EXIT

log "starting a throwaway PostgreSQL $PG_MAJOR on port $port (data in $dir)"
pg_tmp_start "$dir" "$port"

log "demo transcript"
as_runner psql -X -q -v ON_ERROR_STOP=0 -h "$dir" -p "$port" -U postgres -d postgres \
  -f test/demo/demo.sql 2>&1
log "demo finished; stopping the instance"
