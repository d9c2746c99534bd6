#!/usr/bin/env bash
# make bench: every benchmark in bench/, each on its own throwaway server.  Never part of make test.
set -euo pipefail
cd "$(dirname "$0")/.."
. test/lib.sh
ensure_packages
build_and_install
for b in bench/*/run.sh; do
  log "$b"
  "$b"
done
