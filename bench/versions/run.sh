#!/usr/bin/env bash
# Two revisions of easeinv side by side on one throwaway server in one run: the ledger
# benchmark's easeinv workloads (bench/ledger: single, hot, replay) against a database of each
# revision, alternately, so that drift on the machine falls on both.  Prints tps per revision,
# the ratio NEW / OLD per round and on average, and the backends' CPU time per transaction.
#
#   bench/versions/run.sh [OLD [NEW]]          defaults: e5d7469 (0.4.0) and HEAD
#
# Each revision is built in a scratch worktree and installed under a scratch name,
# easeinv<version digits> (easeinv040: easeinv040.control, easeinv040.so, easeinv040--0.4.0.sql;
# "new" appended to NEW's when both have the version), so the run measures exactly the two
# commits, whatever the checkout holds, and neither reads nor replaces the easeinv.so that
# others install from the checkout.  CHECKOUT=1 instead builds NEW (which must be HEAD) in the
# checkout and installs it there (make install: extension easeinv); it refuses to run when the
# checkout's build inputs (src/, Makefile, the control file) differ from HEAD, and fails when the
# installed easeinv.so is replaced during the run.  The two extensions cannot share a database
# (same schema, same GUCs), so each gets its own: v<major><minor> (v04, v05).  The worktrees and
# the scratch install files are removed at the end, also on failure.
#
# Environment (defaults in brackets; see README.md):
#   CASES ["single:8 hot:8 replay:8 single:1 hot:1 replay:1 hot:16"]  workload:clients
#   ROUNDS [3] DURATION [15] JOBS [= the case's clients] PROTOCOL [prepared] SYNC [off]
#   TENANTS [100] PRODUCTS [1000] REPLAY_KEYS [1000] SHARED_BUFFERS [1GB] BENCH_TMPDIR [/tmp]
#   CHECKOUT [0; 1: NEW built and installed from the checkout, see above]
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh
OLD=${1:-e5d7469}
NEW=${2:-HEAD}
CASES=${CASES:-"single:8 hot:8 replay:8 single:1 hot:1 replay:1 hot:16"}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-15}
PROTOCOL=${PROTOCOL:-prepared}
SYNC=${SYNC:-off}
TENANTS=${TENANTS:-100}
PRODUCTS=${PRODUCTS:-1000}
REPLAY_KEYS=${REPLAY_KEYS:-1000}
SHARED_BUFFERS=${SHARED_BUFFERS:-1GB}
CHECKOUT=${CHECKOUT:-0}
B=bench/ledger
PKGLIBDIR=$($PG_CONFIG --pkglibdir)
EXTDIR=$($PG_CONFIG --sharedir)/extension
secs() { date +%s; }
t0=$(secs)

ensure_packages
old_commit=$(git rev-parse --verify "$OLD^{commit}")
new_commit=$(git rev-parse --verify "$NEW^{commit}")
head_commit=$(git rev-parse HEAD)
# what make reads: a change or an untracked file here would be in the checkout's build
dirty() { git status --porcelain --untracked-files=all -- src Makefile '*.control'; }
if [ "$CHECKOUT" = 1 ] && [ "$new_commit" != "$head_commit" ]; then
  echo "CHECKOUT=1 builds the checkout: NEW must be HEAD ($head_commit)" >&2; exit 1
fi
if [ "$CHECKOUT" = 1 ] && [ -n "$(dirty)" ]; then
  printf 'the checkout differs from HEAD in what make builds; commit or stash first:\n%s\n' "$(dirty)" >&2
  exit 1
fi

dir=$(mktemp -d "${BENCH_TMPDIR:-/tmp}/easeinv-versions.XXXXXX"); chmod 755 "$dir"
[ "$(id -u)" -eq 0 ] && chown "$RUN_USER" "$dir"
worktrees=()        # scratch worktrees to remove
installed=()        # scratch install files to remove
started=0
cleanup() {
  local f w
  [ "$started" = 1 ] && pg_tmp_stop "$dir"
  for f in "${installed[@]}"; do rm -f "$f"; done
  for w in "${worktrees[@]}"; do git worktree remove --force "$w" 2>/dev/null || rm -rf "$w"; done
  git worktree prune
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

version_of() { sed -n "s/^default_version = '\(.*\)'/\1/p" "$1/easeinv.control"; }
put() {   # put SRC DEST MODE: install a scratch file, remembered for the cleanup
  [ -e "$2" ] && { echo "$2 exists: another run of $0 in progress, or a leftover (remove it)" >&2; exit 1; }
  installed+=("$2")
  install -m "$3" "$1" "$2"
}

# scratch_build COMMIT [TAKEN]: build COMMIT in a worktree and install it as a renamed extension
# (not named TAKEN); sets EXT (its name) and VER (its version)
scratch_build() {
  local wt=$dir/src-$(git rev-parse --short "$1")${2:+-new}
  git worktree add -q --detach "$wt" "$1"
  worktrees+=("$wt")
  log "building $(git rev-parse --short "$1") in $wt"
  make -s -C "$wt" PG_CONFIG="$PG_CONFIG" all >/dev/null
  VER=$(version_of "$wt")
  EXT=easeinv$(echo "$VER" | tr -d .)
  [ "$EXT" = "${2:-}" ] && EXT=${EXT}new
  grep -q "^module_pathname = '\$libdir/easeinv'$" "$wt/easeinv.control" ||
    { echo "$wt/easeinv.control: no module_pathname '\$libdir/easeinv' to rename" >&2; exit 1; }
  put "$wt/easeinv.so" "$PKGLIBDIR/$EXT.so" 755
  sed "s|^module_pathname = .*|module_pathname = '\$libdir/$EXT'|" "$wt/easeinv.control" > "$dir/$EXT.control"
  put "$dir/$EXT.control" "$EXTDIR/$EXT.control" 644
  put "$wt/easeinv--$VER.sql" "$EXTDIR/$EXT--$VER.sql" 644
}

scratch_build "$old_commit"
old_ext=$EXT; old_ver=$VER
new_so=""
if [ "$CHECKOUT" = 1 ]; then
  build_and_install
  [ -z "$(dirty)" ] && [ "$(git rev-parse HEAD)" = "$head_commit" ] ||
    { echo "the checkout changed during the build" >&2; exit 1; }
  new_ext=easeinv; new_ver=$(version_of .)
  new_so=$PKGLIBDIR/easeinv.so
  cmp -s easeinv.so "$new_so" || { echo "$new_so is not the build of HEAD" >&2; exit 1; }
  new_sum=$(sha256sum < "$new_so")
else
  scratch_build "$new_commit" "$old_ext"
  new_ext=$EXT; new_ver=$VER
fi
# others may run make install from the same checkout: with CHECKOUT=1 every run checks that the
# library is the one built here
check_new_so() {
  [ -z "$new_so" ] || [ "$(sha256sum < "$new_so")" = "$new_sum" ] ||
    { echo "$new_so was replaced during the run (someone ran make install): numbers void" >&2; exit 1; }
}
db_of() { echo "v$(echo "$1" | cut -d. -f1,2 | tr -d .)"; }
old_db=$(db_of "$old_ver"); new_db=$(db_of "$new_ver")
[ "$old_db" = "$new_db" ] && old_db=${old_db}_old
declare -A EXT_OF=([$old_db]=$old_ext [$new_db]=$new_ext)
declare -A LABEL=([$old_db]="$old_ver ($(git rev-parse --short "$old_commit"))"
                  [$new_db]="$new_ver ($(git rev-parse --short "$new_commit"))")

port=$(free_port 56632)
started=1
pg_tmp_start "$dir" "$port" "shared_buffers = $SHARED_BUFFERS
fsync = on
synchronous_commit = off
max_wal_size = 8GB
checkpoint_timeout = 30min
max_connections = 50"
sql() { local db=$1; shift; as_runner psql -X -q -h "$dir" -p "$port" -U postgres -d "$db" -v ON_ERROR_STOP=1 "$@"; }

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB; PostgreSQL $(as_runner postgres --version | awk '{print $3}'); load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "old: $old_db = $old_ext ${LABEL[$old_db]}, commit $old_commit"
echo "new: $new_db = $new_ext ${LABEL[$new_db]}, commit $new_commit"
echo "server: shared_buffers=$SHARED_BUFFERS, fsync=on, synchronous_commit=$SYNC"
echo "data per database: $TENANTS tenants x $PRODUCTS products, 16 hash partitions; $REPLAY_KEYS replay keys per tenant"
echo "runs: cases (workload:clients) $CASES; threads = clients; ${DURATION}s each, -M $PROTOCOL, $ROUNDS round(s)"

# setup.sql for either extension: its CREATE EXTENSION names the database's, and the login role
# (cluster-wide) is created once, after the first extension has created easeinv_app
sed -e 's/^CREATE EXTENSION easeinv;$/CREATE EXTENSION :"ext";/' \
    -e '/^CREATE ROLE bench_app LOGIN;$/d' -e '/^GRANT easeinv_app TO bench_app;$/d' \
    $B/setup.sql > "$dir/setup.sql"
grep -q '^CREATE EXTENSION :"ext";$' "$dir/setup.sql" && ! grep -q '^CREATE ROLE\|^GRANT' "$dir/setup.sql" ||
  { echo "$B/setup.sql changed shape: adapt the sed above" >&2; exit 1; }
for db in "$old_db" "$new_db"; do
  sql postgres -c "CREATE DATABASE $db" >/dev/null
  sql "$db" -v ext="${EXT_OF[$db]}" -v tenants="$TENANTS" -v products="$PRODUCTS" \
      -v replay_keys="$REPLAY_KEYS" -f "$dir/setup.sql" >/dev/null
  [ "$db" = "$old_db" ] && sql postgres -c "CREATE ROLE bench_app LOGIN; GRANT easeinv_app TO bench_app" >/dev/null
  sql "$db" -c "VACUUM ANALYZE" >/dev/null
  v=$(sql "$db" -Atc "SELECT extversion FROM pg_extension WHERE extname = '${EXT_OF[$db]}'")
  [ "$v" = "$( [ "$db" = "$old_db" ] && echo "$old_ver" || echo "$new_ver")" ] ||
    { echo "$db: extension version $v" >&2; exit 1; }
  # the database's functions name its library, and a backend of it maps that library only
  probin=$(sql "$db" -Atc "SELECT string_agg(DISTINCT probin, ' ') FROM pg_proc WHERE probin IS NOT NULL AND pronamespace = 'easeinv'::regnamespace")
  maps=$(sql "$db" -At -c "SELECT easeinv.gstin_is_valid('x')" -c "SELECT string_agg(DISTINCT substring(l from '[^/]*\.so$'), ' ') FROM regexp_split_to_table(pg_read_file('/proc/self/maps'), E'\n') l WHERE l ~ '/easeinv[^/]*\.so$'" | tail -n 1)
  [ "$probin" = "\$libdir/${EXT_OF[$db]}" ] && [ "$maps" = "${EXT_OF[$db]}.so" ] ||
    { echo "$db: functions use $probin, a backend maps $maps; expected ${EXT_OF[$db]}" >&2; exit 1; }
done
echo "loaded in $(( $(secs) - t0 ))s (with the builds)"

# The backends' CPU time: what the postmaster's reaped children used (cutime + cstime of
# /proc/PID/stat, in clock ticks), read when only its long-lived processes are left, so a run's
# pgbench backends count once they have exited (and any autovacuum worker that ended meanwhile).
# Less sensitive to other load on the machine than throughput is: waiting for a CPU costs no CPU
# time (in a virtual machine, time the host takes away from a running backend may still count).
postmaster=$(head -n 1 "$dir/data/postmaster.pid")
aux=$(ps --ppid "$postmaster" --no-headers | wc -l)
tick=$(getconf CLK_TCK)
children_cpu() {
  local k
  for k in $(seq 100); do
    [ "$(ps --ppid "$postmaster" --no-headers | wc -l)" -le "$aux" ] && break
    sleep 0.05
  done
  sed 's/.*) //' "/proc/$postmaster/stat" | awk '{ print $14 + $15 }'
}

# tps DB WORKLOAD CLIENTS: one pgbench run right after a checkpoint (see bench/ledger/README.md);
# prints its tps and the backends' CPU microseconds per transaction; fails on any failed or
# aborted transaction
tps() {
  local out rc=0 c0 c1 n
  check_new_so
  sql postgres -c CHECKPOINT >/dev/null
  c0=$(children_cpu)
  out=$(as_runner env PGOPTIONS="-c synchronous_commit=$SYNC" pgbench -n -h "$dir" -p "$port" \
          -U bench_app -M "$PROTOCOL" -c "$3" -j "${JOBS:-$3}" -T "$DURATION" \
          -D tenants="$TENANTS" -D products="$PRODUCTS" -D replay_keys="$REPLAY_KEYS" \
          -f "$B/easeinv_$2.sql" "$1" 2>&1) || rc=$?
  if [ "$rc" -ne 0 ] || ! echo "$out" | grep -q '^number of failed transactions: 0 ' \
     || ! echo "$out" | grep -q '^tps = '; then
    printf 'pgbench %s on %s, %s clients, failed (exit %s):\n%s\n' "$2" "$1" "$3" "$rc" "$out" >&2
    tail -n 20 "$dir/server.log" >&2
    return 1
  fi
  c1=$(children_cpu)
  n=$(echo "$out" | sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p')
  echo "$(echo "$out" | sed -n 's/^tps = \([0-9.]*\) .*/\1/p') $(awk -v c="$((c1 - c0))" -v t="$tick" -v n="$n" 'BEGIN { printf "%.0f", c / t / n * 1e6 }')"
}
rows() { sql "$1" -Atc "SELECT count(*) FROM easeinv.stock_movements"; }
declare -A TPS=()   # case/db -> tps of each round
declare -A CPU=()   # case/db -> backend CPU microseconds per transaction of each round
declare -A RATIO=() # case -> NEW/OLD of each round

for round in $(seq "$ROUNDS"); do
  i=0
  for c in $CASES; do
    w=${c%%:*}; n=${c##*:}
    # the order alternates per case and per round: each revision runs first equally often
    if [ $(( (round + i) % 2 )) -eq 1 ]; then order="$old_db $new_db"; else order="$new_db $old_db"; fi
    i=$((i + 1))
    declare -A R=()
    for db in $order; do
      [ "$w" = replay ] && before=$(rows "$db")
      res=$(tps "$db" "$w" "$n")
      read -r v u <<< "$res"
      if [ "$w" = replay ] && [ "$(rows "$db")" != "$before" ]; then
        echo "replay workload wrote to $db: not every call was a replay" >&2; exit 1
      fi
      R[$db]=$(printf '%.0f' "$v")
      TPS[$c/$db]="${TPS[$c/$db]:-} ${R[$db]}"
      CPU[$c/$db]="${CPU[$c/$db]:-} $u"
      printf '  round %s  %-7s %2s clients  %-18s %7s tps %6s us CPU/txn\n' "$round" "$w" "$n" "${LABEL[$db]}" "${R[$db]}" "$u"
    done
    RATIO[$c]="${RATIO[$c]:-} $(awk -v a="${R[$new_db]}" -v b="${R[$old_db]}" 'BEGIN { printf "%.2f", a / b }')"
  done
done

check_new_so
for db in "$old_db" "$new_db"; do
  drift=$(sql "$db" -Atc "SELECT count(*) FROM easeinv.verify_stock()")
  [ "$drift" = 0 ] || { echo "$db: easeinv.verify_stock() reports $drift drifting rows" >&2; exit 1; }
done

mean() { printf '%s\n' "$@" | awk '{ s += $1; n++ } END { printf "%.'"${P:-0}"'f", s / n }'; }
echo
echo "new = ${LABEL[$new_db]}, old = ${LABEL[$old_db]}; tps: mean of $ROUNDS round(s), each round's"
echo "after it; new / old: each round's ratio (the two runs back to back) and their mean; CPU: the"
echo "backends' CPU microseconds per transaction, mean of the rounds, and new minus old"
printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' workload clients "old tps" "new tps" \
  "new / old per round" "new / old" "old CPU us/txn" "new CPU us/txn" "CPU new - old"
printf '| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |\n'
for c in $CASES; do
  w=${c%%:*}; n=${c##*:}
  uo=$(mean ${CPU[$c/$old_db]}); un=$(mean ${CPU[$c/$new_db]})
  printf '| %s | %s | %s (%s) | %s (%s) | %s | %s | %s | %s | %+d |\n' "$w" "$n" \
    "$(mean ${TPS[$c/$old_db]})" "$(echo ${TPS[$c/$old_db]})" \
    "$(mean ${TPS[$c/$new_db]})" "$(echo ${TPS[$c/$new_db]})" \
    "$(echo ${RATIO[$c]})" "$(P=2 mean ${RATIO[$c]})" "$uo" "$un" "$((un - uo))"
done
echo "load average $(cut -d' ' -f1-3 /proc/loadavg); total $(( $(secs) - t0 ))s"
