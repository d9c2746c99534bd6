#!/usr/bin/env bash
# make fuzz: SQLsmith against easeinv for FUZZ_MINUTES minutes (default 5) on a throwaway
# PostgreSQL instance holding two tenants' data (test/fuzz/seed.sql).  Exits 1 on a backend
# crash, a failed assertion, or an internal error (SQLSTATE class XX, or "cache lookup failed")
# raised from easeinv's own C files (src/*.c); prints the log lines and the query.  Never part of
# make test.
#
# Four streams run at the same time, each in its own connection:
#   app-none          SQLsmith as fuzz_app (member of easeinv_app only) with no tenant context:
#                     every tenant table must deny
#   superuser         SQLsmith as postgres, which bypasses RLS: the extension's functions with
#                     arbitrary arguments
#   app-tenant        SQLsmith's queries for fuzz_app (--dry-run), each run by psql as fuzz_app in
#                     a transaction whose tenant is set (set_tenant(1), or a JWT claim naming 2)
#   superuser-tenant  the same as postgres
# The tenant can only be set inside a transaction (a session-level value is refused), hence psql.
# SQLsmith runs each query in BEGIN ... ROLLBACK, and so do the tenant streams: the seed stays.
#
#   FUZZ_MINUTES=N      how long the streams run (default 5; a fraction is fine)
#   FUZZ_SEED=N         first RNG seed (default from the clock); stream k uses N + k
#   FUZZ_MODES="..."    which streams (default: all four above)
#   FUZZ_NO_INSTALL=1   no build or install: fuzz the easeinv already installed
#   FUZZ_RESULTS=DIR    where the results go (default: a new /tmp/easeinv-fuzz.XXXXXX)
#   FUZZ_SQLSMITH_ARGS  more SQLsmith options (default --exclude-catalog: queries over the
#                       extension's and the application's tables, not the system catalogs)
#   FUZZ_SCAN_LOG=FILE  only scan a server log written with the settings below (server.log.gz
#                       of an earlier run, say), and report
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh

FUZZ_MINUTES=${FUZZ_MINUTES:-5}
FUZZ_SEED=${FUZZ_SEED:-$(( $(date +%s) % 1000000 ))}
FUZZ_MODES=${FUZZ_MODES:-app-none superuser app-tenant superuser-tenant}
FUZZ_NO_INSTALL=${FUZZ_NO_INSTALL:-0}
FUZZ_SQLSMITH_ARGS=${FUZZ_SQLSMITH_ARGS---exclude-catalog}
PSQL=$PG_BINDIR/psql

# The server's logging, which the scan below reads: the SQLSTATE (%e), the user and application
# (which stream), the source location (verbose) and the statement of every error.
SERVER_CONF="lc_messages = 'C'
log_line_prefix = '%m [%p] <%e> %q<%u> <%a> '
log_error_verbosity = verbose
log_min_error_statement = error
track_activity_query_size = 16384
restart_after_crash = on
jit = off"

# scan_log LOG OUT: classify every entry of the server log; writes OUT/findings.txt,
# OUT/sqlstates.txt (count, SQLSTATE, stream, commonest message), OUT/easeinv-errors.txt (what
# easeinv's C code raised: count, SQLSTATE, function and file, message) and prints KEY=VALUE counts.
scan_log() {
  local log=$1 out=$2 ours
  ours=$(cd src && ls -- *.c | tr '\n' ' ')
  perl - "$log" "$out" $ours <<'PERL'
use strict;
use warnings;
my ($log, $out, @ours) = @ARGV;
my %ours = map { $_ => 1 } @ours;
my $prefix = qr/^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)? \S+) \[(\d+)\] <([0-9A-Z]{5})> (?:<([^>]*)> <([^>]*)> )?([A-Z0-9]+):  (.*)$/;
my (%count, %errors, %example, %findings, @order, %pidinfo, %ourerr);
my $cur;

sub stream_of {
    my ($user, $app) = @_;
    return 'other' unless defined $app;
    return "$1" if $app =~ /^fuzz-(app-tenant|superuser-tenant)$/;
    if ($app eq 'sqlsmith::dut') {
        return 'app-none' if $user eq 'fuzz_app';
        return 'superuser' if $user eq 'postgres';
    }
    return 'other';
}

sub finding {
    my ($kind, $key, $r) = @_;
    $count{$kind}++;
    my $k = "$kind\t$key";
    push @order, $k unless $findings{$k};
    $findings{$k}{n}++;
    $findings{$k}{text} //= join("\n", @{ $r->{lines} });
    $findings{$k}{stream} //= $r->{stream};
}

sub flush {
    my $r = $cur or return;
    $cur = undef;
    my ($lvl, $st, $msg) = @$r{qw(level sqlstate msg)};
    $msg =~ s/^\Q$st\E: //;
    my $loc = $r->{loc} // '';
    my ($file) = $loc =~ /, ([^,:]+):\d+$/;
    $file //= '';
    my $norm = $msg;
    $norm =~ s/\d+/N/g;
    $norm = substr($norm, 0, 100);
    if ($lvl eq 'ERROR') {
        $count{errors}++;
        $errors{$st}{ $r->{stream} }++;
        $errors{$st}{all}++;
        $example{$st}{$norm}++;
    } elsif ($lvl eq 'FATAL') {
        $count{fatals}++;
    }
    if ($ours{$file} && $lvl =~ /^(ERROR|FATAL|WARNING)$/) {
        (my $where = $loc) =~ s/:\d+$//;
        $count{'easeinv-raised'}++;
        $ourerr{"$st\t$where\t$norm"}++;
    }
    if ($lvl eq 'PANIC') {
        finding('crash', "PANIC $norm", $r);
    } elsif ($lvl eq 'LOG' && $msg =~ /\(PID (\d+)\) (was terminated by (?:signal|exception).*|exited with exit code (\d+))/
             && !(defined $3 && $3 <= 1)) {
        # a backend or a background worker died (exit code 1 is a worker that stopped normally)
        my ($pid, $how) = ($1, $2);
        my ($u, $a) = @{ $pidinfo{$pid} // [] };
        $r->{stream} = stream_of($u, $a);
        finding('crash', "$r->{stream}: $how", $r);
    }
    if ($lvl =~ /^(ERROR|FATAL|PANIC)$/ && ($st =~ /^XX/ || $msg =~ /cache lookup failed/)) {
        if ($ours{$file}) {
            finding('easeinv-internal', "$st $loc: $norm", $r);
        } else {
            # PostgreSQL's own, though maybe reached through easeinv: say so when the context does
            my $via = grep({ /> CONTEXT:  .*easeinv/ } @{ $r->{lines} }) ? ' (CONTEXT: easeinv)' : '';
            finding('core-internal', "$st $loc: $norm$via", $r);
        }
    }
    if ($lvl eq 'WARNING' && $msg =~ /leak|non-empty SPI stack|not closed|still referenced|resource owner/i) {
        finding('leak-warning', "$loc: $norm", $r);
    }
}

my $fh;
if ($log =~ /\.gz$/) {
    open $fh, '-|', 'gzip', '-dc', $log or die "cannot read $log: $!\n";
} else {
    open $fh, '<', $log or die "cannot read $log: $!\n";
}
while (my $line = <$fh>) {
    chomp $line;
    if ($line =~ $prefix) {
        my ($pid, $st, $user, $app, $lvl, $txt) = ($2, $3, $4, $5, $6, $7);
        $pidinfo{$pid} = [$user, $app] if defined $user;
        if ($cur && $pid == $cur->{pid} && $lvl =~ /^(DETAIL|HINT|CONTEXT|LOCATION|STATEMENT|QUERY)$/) {
            push @{ $cur->{lines} }, $line;
            $cur->{loc} = $txt if $lvl eq 'LOCATION';
            next;
        }
        flush();
        $cur = { pid => $pid, sqlstate => $st, level => $lvl, msg => $txt, lines => [$line],
                 stream => stream_of($user // '', $app) };
    } elsif ($line =~ /^TRAP: .*PID: (\d+)/ || $line =~ /^TRAP:/) {
        flush();
        my $pid = $1 // 0;
        my ($u, $a) = @{ $pidinfo{$pid} // [] };
        my $r = { lines => [$line], stream => stream_of($u // '', $a) };
        (my $norm = $line) =~ s/PID: \d+/PID: N/;
        finding('assertion', $norm, $r);
    } elsif ($cur) {
        push @{ $cur->{lines} }, $line;       # a statement's or a detail's further lines
    }
}
flush();
close $fh;

open my $sf, '>', "$out/sqlstates.txt" or die;
for my $st (sort { $errors{$b}{all} <=> $errors{$a}{all} || $a cmp $b } keys %errors) {
    my ($ex) = sort { $example{$st}{$b} <=> $example{$st}{$a} || $a cmp $b } keys %{ $example{$st} };
    my $by = join(' ', map { "$_=$errors{$st}{$_}" } grep { $_ ne 'all' } sort keys %{ $errors{$st} });
    print $sf "$errors{$st}{all}\t$st\t$by\t$ex\n";
}
close $sf;

open my $ef, '>', "$out/easeinv-errors.txt" or die;
print $ef "$ourerr{$_}\t$_\n" for sort { $ourerr{$b} <=> $ourerr{$a} || $a cmp $b } keys %ourerr;
close $ef;

open my $ff, '>', "$out/findings.txt" or die;
for my $k (@order) {
    my ($kind, $key) = split /\t/, $k, 2;
    my $f = $findings{$k};
    print $ff "=== $kind (x$f->{n}, stream $f->{stream}): $key\n$f->{text}\n\n";
}
close $ff;
for my $k (qw(errors fatals easeinv-raised crash assertion easeinv-internal core-internal leak-warning)) {
    (my $v = $k) =~ tr/-/_/;
    print "$v=", ($count{$k} // 0), "\n";
}
print "distinct=", scalar(@order), "\n";
PERL
}

# report OUT COUNTS...: the summary, to stdout and OUT/summary.txt; returns 1 on a finding.
report() {
  local out=$1 counts=$2 queries=${3:-} crash assertion easeinv_internal core_internal leak_warning errors fatals
  local easeinv_raised distinct
  eval "$counts"
  {
    echo "fuzz: ${queries:+queries $queries; }errors $errors (fatal $fatals); crashes $crash;" \
         "assertions $assertion; easeinv internal errors $easeinv_internal" \
         "(PostgreSQL's own internal errors $core_internal, leak warnings $leak_warning)"
    echo "top SQLSTATEs of errors (count, SQLSTATE, per stream, commonest message):"
    head -n 10 "$out/sqlstates.txt" | sed 's/^/  /'
    echo "errors raised by easeinv's C code: $easeinv_raised, $(wc -l < "$out/easeinv-errors.txt") distinct" \
         "(all in easeinv-errors.txt), the commonest:"
    head -n 10 "$out/easeinv-errors.txt" | sed 's/^/  /'
  } | tee "$out/summary.txt"
  if [ "$distinct" -gt 0 ]; then
    # crashes, assertions and easeinv's internal errors in full (log lines and query); the rest
    # (PostgreSQL's own internal errors, leak warnings) by their heading
    echo
    echo "findings ($distinct distinct, each with its first occurrence in $out/findings.txt):"
    awk '/^=== / { full = ($2 == "crash" || $2 == "assertion" || $2 == "easeinv-internal"); print; next }
         full' "$out/findings.txt" | head -n 1000
  fi
  if [ $((crash + assertion + easeinv_internal)) -gt 0 ]; then
    echo "fuzz: FAILED: $crash crashes, $assertion assertion failures, $easeinv_internal internal errors from easeinv" |
      tee -a "$out/summary.txt"
    return 1
  fi
  echo "fuzz: passed: no crash, no assertion failure, no internal error from easeinv" | tee -a "$out/summary.txt"
}

res=${FUZZ_RESULTS:-$(mktemp -d /tmp/easeinv-fuzz.XXXXXX)}
mkdir -p "$res"
chmod 755 "$res"

if [ -n "${FUZZ_SCAN_LOG:-}" ]; then
  log "scanning $FUZZ_SCAN_LOG (results in $res)"
  counts=$(scan_log "$FUZZ_SCAN_LOG" "$res")
  report "$res" "$counts"
  exit $?
fi

secs=$(awk -v m="$FUZZ_MINUTES" 'BEGIN { if (m !~ /^[0-9]+([.][0-9]+)?$/ || m * 60 < 10) exit 1; printf "%d", m * 60 }') ||
  { echo "FUZZ_MINUTES must be a number of minutes, at least 10 seconds' worth (got '$FUZZ_MINUTES')" >&2; exit 2; }

EASEINV_PACKAGES="$EASEINV_PACKAGES sqlsmith"
ensure_packages
if [ "$FUZZ_NO_INSTALL" = 1 ]; then
  log "FUZZ_NO_INSTALL=1: fuzzing the easeinv installed in $($PG_CONFIG --sharedir)/extension, not building"
else
  build_and_install
fi
so=$($PG_CONFIG --pkglibdir)/easeinv.so
so_before=$(md5sum < "$so" | cut -c1-32)

dir=$(mktemp -d /tmp/easeinv-fuzz-pg.XXXXXX)
chmod 755 "$dir"
[ "$(id -u)" -eq 0 ] && chown "$RUN_USER" "$dir"
port=$(free_port 56432)
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  pg_tmp_stop "$dir"
  rm -rf "$dir"
}
trap cleanup EXIT

log "starting a throwaway PostgreSQL $PG_MAJOR on port $port (results in $res)"
pg_tmp_start "$dir" "$port" "$SERVER_CONF"
conninfo() { echo "host=$dir port=$port dbname=fuzz user=$1${2:+ application_name=$2}"; }
"$PSQL" -X -q "$(conninfo postgres | sed 's/dbname=fuzz/dbname=postgres/')" -c 'CREATE DATABASE fuzz'
log "seeding two tenants (test/fuzz/seed.sql)"
"$PSQL" -X -v ON_ERROR_STOP=1 "$(conninfo postgres fuzz-seed)" -f - < test/fuzz/seed.sql | tee "$res/seed.txt"
version=$("$PSQL" -X -At "$(conninfo postgres)" -c "SELECT extversion FROM pg_extension WHERE extname = 'easeinv'")
read -r t1 t2 < <("$PSQL" -X -At -F ' ' "$(conninfo postgres)" -c "SELECT min(id), max(id) FROM easeinv.tenants")

# The tenant streams: SQLsmith writes queries for USER's view of the schema (--dry-run); awk wraps
# each in BEGIN, the tenant, ROLLBACK; psql runs them.  A crash ends psql: start a new segment.
wrap_awk='
BEGIN { print "SET statement_timeout = '\''1s'\'';"; print "SET client_min_messages = error;"; fflush() }
{ buf = buf $0 "\n" }
/;[ \t]*$/ {
  n++
  print "BEGIN;"
  if (n % 2) print "SELECT easeinv.set_tenant(" t1 ");"
  else print "SET LOCAL request.jwt.claims = '\''{\"sub\": \"fuzz\", \"tenant_id\": " t2 "}'\'';"
  printf "%s", buf
  print "ROLLBACK;"
  fflush()
  buf = ""
  if (n % 50 == 0) { print n > count; close(count) }
}
END { print n + 0 > count; close(count) }'
run_tenant_stream() {
  local name=$1 user=$2 seed=$3 end=$(( $(date +%s) + secs )) seg=0 left
  while left=$(( end - $(date +%s) )); [ "$left" -gt 3 ]; do
    seg=$((seg + 1))
    { timeout -s INT "$left" sqlsmith --target="$(conninfo "$user")" --dry-run --seed=$((seed + 1000 * seg)) \
        $FUZZ_SQLSMITH_ARGS 2>>"$res/$name.err" || true; } |
      awk -v t1="$t1" -v t2="$t2" -v count="$res/$name.count.$seg" "$wrap_awk" |
      timeout -k 10 $((left + 30)) "$PSQL" -X -q -v VERBOSITY=terse "$(conninfo "$user" "fuzz-$name")" \
        >/dev/null 2>>"$res/$name.psql.err" || true
    sleep 1
  done
}

log "fuzzing for $FUZZ_MINUTES min ($secs s): streams $FUZZ_MODES; seed $FUZZ_SEED; easeinv $version"
k=0
for mode in $FUZZ_MODES; do
  k=$((k + 1))
  case $mode in
    app-none|superuser)
      user=fuzz_app; [ "$mode" = superuser ] && user=postgres
      # --verbose: progress on stderr, and on SIGINT the report with the query count
      timeout -s INT -k 30 "$secs" sqlsmith --target="$(conninfo "$user")" --verbose --seed=$((FUZZ_SEED + k)) \
        $FUZZ_SQLSMITH_ARGS >"$res/$mode.out" 2>"$res/$mode.err" &
      pids+=($!) ;;
    app-tenant|superuser-tenant)
      user=fuzz_app; [ "$mode" = superuser-tenant ] && user=postgres
      run_tenant_stream "$mode" "$user" $((FUZZ_SEED + k)) &
      pids+=($!) ;;
    *) echo "unknown stream '$mode' in FUZZ_MODES" >&2; exit 2 ;;
  esac
done
wait "${pids[@]}" || true
pids=()

# how many queries each stream ran, and whether each started at all
queries=0 detail="" broken=""
for mode in $FUZZ_MODES; do
  case $mode in
    app-none|superuser) n=$(grep -o '^queries: [0-9]*' "$res/$mode.err" | tail -n 1 | cut -d' ' -f2) ;;
    *) n=$(cat "$res/$mode".count.* 2>/dev/null | awk '{ s += $1 } END { print s + 0 }') ;;
  esac
  n=${n:-0}
  grep -q 'Generating indexes...done' "$res/$mode.err" 2>/dev/null || broken="$broken $mode"
  queries=$((queries + n)); detail="$detail${detail:+, }$mode $n"
done

pg_tmp_stop "$dir"
so_after=$(md5sum < "$so" | cut -c1-32)
log "scanning the server log"
counts=$(scan_log "$dir/server.log" "$res")
gzip -c "$dir/server.log" > "$res/server.log.gz"
for f in "$res"/*.err; do [ -s "$f" ] && gzip -f "$f"; done
find "$res" -maxdepth 1 -type f -empty -delete
echo "easeinv $version, seed $FUZZ_SEED, $FUZZ_MINUTES min; results (server.log.gz, summary.txt, findings.txt, easeinv-errors.txt) in $res"
[ "$so_before" = "$so_after" ] ||
  echo "WARNING: $so was replaced during the run (a rebuild?): backends may have loaded different builds"
status=0
report "$res" "$counts" "$queries ($detail)" || status=1
if [ -n "$broken" ]; then
  echo "fuzz: FAILED: SQLsmith did not start for:$broken (see $res/<stream>.err.gz)"
  status=2
fi
exit $status
