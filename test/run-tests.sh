#!/usr/bin/env bash
# make test: install what is missing, build with warnings as errors, install, then run every
# suite (pg_regress, isolation, TAP) against temporary instances the suites start themselves.
# Exits non-zero when anything fails and prints the diffs.
set -euo pipefail
cd "$(dirname "$0")/.."
. test/lib.sh

ensure_packages
build_and_install

work=$(mktemp -d /tmp/easeinv-test.XXXXXX)
chmod 755 "$work"
private_copy "$work/src"
log "running the suites as $RUN_USER in $work/src"

passed=0; failed=0; failed_names=()
run_suite() {   # run_suite NAME make-variable-overrides...
  local name=$1; shift
  log "suite: $name"
  if as_runner make -C "$work/src" -s PG_CONFIG="$PG_CONFIG" "$@" installcheck; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1)); failed_names+=("$name")
  fi
}
run_suite regression ISOLATION= TAP_TESTS=
run_suite isolation REGRESS= TAP_TESTS=
run_suite tap REGRESS= ISOLATION=

if [ $failed -ne 0 ]; then
  for f in "$work/src/regression.diffs" "$work/src/test/output_iso/regression.diffs"; do
    [ -s "$f" ] && { log "$f"; cat "$f"; }
  done
  for f in "$work"/src/tmp_check/log/regress_log_*; do
    [ -s "$f" ] && { log "$f (last 80 lines)"; tail -n 80 "$f"; }
  done
  log "FAILED: ${failed_names[*]} (work tree kept in $work)"
  echo "suites: $passed passed, $failed failed"
  exit 1
fi
rm -rf "$work"
echo "suites: $passed passed, $failed failed"
