# 020_ledger_crash.pl: the stock ledger under concurrent load, across a crash of the server.
#
# Three tenants (the third allows negative stock), each with three internal locations
# (warehouse, store, bin), three virtual ones (supplier, customer, scrap), three products and
# opening stock.  pgbench clients, as an application role, post movements from a fixed plan of
# 3,000 (tenant, key, payload) rows: receipts, transfers between internal locations, sales,
# scrap, customer returns and reversals of earlier movements.  The same key texts are used by
# every tenant (a key is unique per tenant), and plan rows are picked at random, posted twice in
# a row by one client (a retry), or drawn from a hot set of 30 rows, so replays and same-key races
# are frequent.  Refusals for insufficient stock (23514) are caught by a PL/pgSQL wrapper, so that
# they do not abort the pgbench client; any other error does.  Every call is logged in the
# transaction of the movement.
#
#   1. a clean run: pgbench exits 0, then the ledger invariants hold;
#   2. three times, a run killed mid-load (after 300, 600, 900 calls): the postmaster is
#      SIGSTOPped, every child of it gets SIGKILL, then the postmaster ($node->kill9), so no
#      process finishes a statement or cleans up; the server restarts (crash recovery) and the
#      invariants hold: verify_stock() finds no drift, no (tenant, key), movement id, reversal or
#      level row is stored twice (checked with sequential scans, and every btree index with
#      amcheck heapallindexed), every product sums to 0 over its locations, no internal location
#      of a tenant without allow_negative_stock is below 0 available, every stored movement has
#      exactly one first-post log row and every log row names the movement its key stored; a
#      replay of the last movement and of the last reversal stored before the crash returns it
#      (replayed, same id);
#   3. a clean run after the restarts over the same keys (replays of keys stored before the
#      crashes, identity values that must not collide), then the invariants again.
#
# The node runs with the test default fsync = off: the processes die, the operating system does
# not, so what was written survives as it would with fsync on.
use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

use FindBin;
use lib "$FindBin::RealBin/../perl";
use EaseinvTest;

my $started = time;
my $KEYS = 3000;      # rows in the load plan (1,000 key texts in each of 3 tenants)
my $CLIENTS = 8;

my $node = EaseinvTest::Node->new('main');
$node->init;
$node->append_conf('postgresql.conf', "max_connections = 30\n");
$node->start;

#-----------------------------------------------------------------------------------------------
# Tenants, locations, products, opening stock; the load plan, its log and the wrapper.
#-----------------------------------------------------------------------------------------------
$node->safe_psql(
	'postgres', q{
CREATE EXTENSION easeinv;
CREATE EXTENSION amcheck;
SELECT easeinv.create_tenant('crash-one', 'Crash One', '27');
SELECT easeinv.create_tenant('crash-two', 'Crash Two', '29');
SELECT easeinv.create_tenant('crash-neg', 'Crash Negative', '07', settings => '{"allow_negative_stock": true}');

-- as the superuser, without a context, naming the tenant
INSERT INTO easeinv.locations (tenant_id, code, name, kind)
SELECT t.id, l.code, l.code || ' of ' || t.slug, l.kind
  FROM easeinv.tenants t,
       (VALUES ('WH', 'warehouse'), ('ST', 'store'), ('BIN', 'bin'),
               ('SUP', 'supplier'), ('CUS', 'customer'), ('SCR', 'scrap')) l (code, kind)
 ORDER BY t.id, l.code;
INSERT INTO easeinv.products (tenant_id, sku, name)
SELECT t.id, 'SKU-' || p, 'Product ' || p FROM easeinv.tenants t, generate_series(1, 3) p ORDER BY 1, 2;

CREATE ROLE web LOGIN;
GRANT easeinv_app TO web;

-- location id of a tenant by code; product id of a tenant by number
CREATE FUNCTION loc(t bigint, c text) RETURNS bigint LANGUAGE sql STABLE
    AS $$ SELECT id FROM easeinv.locations WHERE tenant_id = t AND code = c $$;
CREATE FUNCTION prod(t bigint, p int) RETURNS bigint LANGUAGE sql STABLE
    AS $$ SELECT id FROM easeinv.products WHERE tenant_id = t AND sku = 'SKU-' || p $$;
});

$node->safe_psql(
	'postgres', q{
BEGIN;
DO $$
DECLARE
    t bigint;
BEGIN
    FOR t IN SELECT id FROM easeinv.tenants ORDER BY id LOOP
        PERFORM easeinv.set_tenant(t);
        PERFORM easeinv.move_stock(format('open-%s-%s', p, l), prod(t, p), loc(t, 'SUP'), loc(t, l), 40, 'opening stock')
           FROM generate_series(1, 3) p, unnest(ARRAY['WH', 'ST', 'BIN']) l;
    END LOOP;
END $$;
COMMIT;
});

# The load plan: row n is tenant 1 + n % 3, key text number n / 3 (so each tenant has the same
# 1,000 key texts, with different payloads).  One row in ten reverses the movement stored under
# the previous key text of its tenant (if that row is a movement and it was stored); its key is
# derived from the target, so a reversal is only ever posted under one key.
$node->safe_psql(
	'postgres', qq{
SELECT setseed(0.2025);
CREATE TABLE load_keys AS
WITH base AS (
    SELECT n, 1 + n % 3 AS tenant, n / 3 AS i, random() AS r, random() AS r2, random() AS r3,
           (random() * 3)::int % 3 AS a, 1 + (random() * 2)::int % 2 AS b, 1 + (random() * 3)::int % 3 AS p,
           round((0.5 + random() * 8)::numeric, (random() * 4)::int) AS qty
      FROM generate_series(0, $KEYS - 1) n),
internal (k, code) AS (VALUES (0, 'WH'), (1, 'ST'), (2, 'BIN')),
plan AS (
    SELECT b.n, b.tenant, b.i, b.qty, prod(b.tenant, b.p) AS product_id,
           CASE WHEN b.r < 0.1 THEN 'reversal'
                WHEN b.r < 0.28 THEN 'receipt'
                WHEN b.r < 0.55 THEN 'transfer'
                WHEN b.r < 0.78 THEN 'sale'
                WHEN b.r < 0.88 THEN 'scrap'
                ELSE 'return' END AS kind,
           (SELECT code FROM internal WHERE k = b.a) AS here,
           (SELECT code FROM internal WHERE k = (b.a + b.b) % 3) AS there
      FROM base b)
SELECT n, tenant,
       CASE WHEN kind = 'reversal' THEN 'rv-mv-' || (i - 1) ELSE 'mv-' || i END AS key,
       kind,
       CASE WHEN kind = 'reversal' AND i > 0 THEN 'mv-' || (i - 1) END AS reverses_key,
       product_id,
       loc(tenant, CASE kind WHEN 'receipt' THEN 'SUP' WHEN 'return' THEN 'CUS' ELSE here END) AS from_id,
       loc(tenant, CASE kind WHEN 'transfer' THEN there WHEN 'sale' THEN 'CUS' WHEN 'scrap' THEN 'SCR'
                             WHEN 'receipt' THEN here WHEN 'return' THEN here END) AS to_id,
       qty
  FROM plan;
ALTER TABLE load_keys ADD PRIMARY KEY (n);
GRANT SELECT ON load_keys TO easeinv_app;

-- one row per call, in the transaction of the movement (no index: cheap concurrent inserts)
CREATE TABLE load_log (
    n           int NOT NULL,
    tenant      bigint NOT NULL,
    outcome     text NOT NULL,
    movement_id bigint,
    replayed    boolean,
    pid         int NOT NULL DEFAULT pg_backend_pid()
);
GRANT INSERT ON load_log TO easeinv_app;

-- try_move(n): post plan row n in the tenant context the caller set; refusals for insufficient
-- stock are caught and logged (pgbench 15 aborts a client on any other error).  Runs with the
-- caller's rights.  After a caught error the role and the context must be the caller's again.
CREATE FUNCTION try_move(n int) RETURNS text LANGUAGE plpgsql AS \$\$
DECLARE
    k load_keys;
    m easeinv.movement;
    target bigint;
    who text := current_user;
BEGIN
    SELECT * INTO STRICT k FROM load_keys WHERE load_keys.n = try_move.n;
    IF easeinv.current_tenant() <> k.tenant THEN
        RAISE EXCEPTION 'ASSERTION FAILED: context is tenant %, plan row % is tenant %',
            easeinv.current_tenant(), n, k.tenant;
    END IF;
    IF k.kind = 'reversal' THEN
        SELECT id INTO target FROM easeinv.stock_movements WHERE idempotency_key = k.reverses_key;
        IF target IS NULL THEN
            INSERT INTO load_log (n, tenant, outcome) VALUES (n, k.tenant, 'no target');
            RETURN 'no target';
        END IF;
    END IF;
    BEGIN
        IF k.kind = 'reversal' THEN
            m := easeinv.reverse_movement(k.key, target);
        ELSE
            m := easeinv.move_stock(k.key, k.product_id, k.from_id, k.to_id, k.qty, k.kind);
        END IF;
    EXCEPTION WHEN check_violation THEN
        IF current_user <> who OR easeinv.current_tenant() <> k.tenant THEN
            RAISE EXCEPTION 'ASSERTION FAILED: after a refused movement the role is % (not %), the tenant %',
                current_user, who, easeinv.current_tenant();
        END IF;
        INSERT INTO load_log (n, tenant, outcome) VALUES (n, k.tenant, 'insufficient');
        RETURN 'insufficient';
    END;
    IF current_user <> who THEN
        RAISE EXCEPTION 'ASSERTION FAILED: after move_stock the role is %, not %', current_user, who;
    END IF;
    INSERT INTO load_log (n, tenant, outcome, movement_id, replayed)
    VALUES (n, k.tenant, 'posted', m.id, m.replayed);
    RETURN CASE WHEN m.replayed THEN 'replayed' ELSE 'posted' END;
END \$\$;
});

is( $node->safe_psql(
		'postgres',
		q{SELECT count(*) || '|' || count(DISTINCT (tenant, key)) || '|' || count(*) FILTER (WHERE kind <> 'reversal' AND (from_id IS NULL OR to_id IS NULL OR product_id IS NULL OR from_id = to_id)) || '|' || count(DISTINCT kind) FROM load_keys}
	),
	"$KEYS|$KEYS|0|6",
	"load plan: $KEYS rows, one per (tenant, key), complete, all six kinds");

#-----------------------------------------------------------------------------------------------
# pgbench scripts: a random plan row; one posted twice in a row (a client retrying); a hot one.
#-----------------------------------------------------------------------------------------------
my $dir = PostgreSQL::Test::Utils::tempdir('pgbench');
my $txn = <<'EOS';
SELECT tenant AS t FROM load_keys WHERE n = :n \gset
BEGIN;
SELECT easeinv.set_tenant(:t);
SELECT try_move(:n);
COMMIT;
EOS
PostgreSQL::Test::Utils::append_to_file("$dir/random.sql", "\\set n random(0, $KEYS - 1)\n$txn");
PostgreSQL::Test::Utils::append_to_file("$dir/retry.sql", "\\set n random(0, $KEYS - 1)\n$txn$txn");
PostgreSQL::Test::Utils::append_to_file("$dir/hot.sql", "\\set n random(0, 29)\n$txn");

sub start_pgbench
{
	my ($label, $txns) = @_;
	my @cmd = (
		'pgbench', '-n', '-M', 'prepared', '-c', $CLIENTS, '-j', 2, '-t', $txns,
		'-f', "$dir/random.sql\@6", '-f', "$dir/retry.sql\@2", '-f', "$dir/hot.sql\@2",
		'-h', $node->host, '-p', $node->port, '-U', 'web', 'postgres');
	note "starting $label: @cmd";
	my $run = { label => $label, txns => $txns, out => '', err => '' };
	$run->{handle} = IPC::Run::start(\@cmd, '<', \undef, '>', \$run->{out}, '2>', \$run->{err},
		IPC::Run::timeout(120));
	return $run;
}

sub finish_pgbench
{
	my ($run) = @_;
	eval { $run->{handle}->finish; 1 } or do {
		my $e = $@;
		$run->{handle}->kill_kill;
		$run->{err} .= "\n(killed: $e)";
	};
	$run->{rc} = $? >> 8;
	note "$run->{label} exit code $run->{rc}\nstdout:\n$run->{out}\nstderr:\n$run->{err}";
	return $run;
}

sub clean_run
{
	my ($label, $txns) = @_;
	my $t0 = time;
	my $run = finish_pgbench(start_pgbench($label, $txns));
	my $want = $CLIENTS * $txns;
	is($run->{rc}, 0, "$label: pgbench exits 0");
	like($run->{out}, qr/^number of transactions actually processed: $want\/$want$/m,
		"$label: all $want transactions processed");
	unlike($run->{err}, qr/(ERROR|ASSERTION|abort)/i, "$label: no errors reported");
	note sprintf('%s: %.1f s', $label, time - $t0);
}

# check_ledger($label): the invariants, as the superuser (no row level security).
sub check_ledger
{
	my ($label) = @_;

	is($node->safe_psql('postgres', 'SELECT count(*) FROM easeinv.verify_stock()'),
		'0', "$label: verify_stock() finds no drift between stock_levels and the ledger");

	# the heap, not the unique index, says whether a key is stored twice
	is( $node->safe_psql(
			'postgres', q{
SET enable_indexscan = off; SET enable_indexonlyscan = off; SET enable_bitmapscan = off;
SELECT (SELECT count(*) FROM (SELECT FROM easeinv.stock_movements GROUP BY tenant_id, idempotency_key HAVING count(*) > 1) d)
    || '|' || (SELECT count(*) FROM (SELECT FROM easeinv.stock_movements GROUP BY tenant_id, id HAVING count(*) > 1) d)
    || '|' || (SELECT count(*) FROM (SELECT FROM easeinv.stock_movements WHERE reverses_id IS NOT NULL GROUP BY tenant_id, reverses_id HAVING count(*) > 1) d)
    || '|' || (SELECT count(*) FROM (SELECT FROM easeinv.stock_levels GROUP BY tenant_id, product_id, location_id HAVING count(*) > 1) d)
}),
		'0|0|0|0',
		"$label: no (tenant, key), movement id, reversal or level row stored twice (sequential scans)");

	# every btree index of the ledger's tables matches its heap (heapallindexed); an error fails
	my $checked = $node->safe_psql(
		'postgres', q{
SELECT c.relname, bt_index_check(i.indexrelid, true)
  FROM pg_index i
  JOIN pg_class c ON c.oid = i.indexrelid
  JOIN pg_class r ON r.oid = i.indrelid
 WHERE r.relnamespace = 'easeinv'::regnamespace AND r.relkind = 'r' AND c.relkind = 'i'
   AND c.relam = (SELECT oid FROM pg_am WHERE amname = 'btree')
   AND r.relname ~ '^(stock_movements|stock_levels|products)_p[0-9]{3}$|^locations$'
});
	my $indexes = scalar(my @names = split /\n/, $checked);
	cmp_ok($indexes, '>=', 16 * 3,
		"$label: amcheck bt_index_check (heapallindexed) passes on every index of the ledger ($indexes)");

	is( $node->safe_psql(
			'postgres', q{
SELECT count(*) || '|' || count(*) FILTER (WHERE s <> 0)
  FROM (SELECT tenant_id, product_id, sum(on_hand) s FROM easeinv.stock_levels GROUP BY 1, 2) p
}),
		'9|0',
		"$label: every product of every tenant sums to 0 over its locations (double entry)");

	my $negative = $node->safe_psql(
		'postgres', q{
SELECT count(*) FILTER (WHERE NOT COALESCE((t.settings->>'allow_negative_stock')::boolean, false))
       || '|' || count(*) FILTER (WHERE (t.settings->>'allow_negative_stock')::boolean)
  FROM easeinv.stock_levels s
  JOIN easeinv.locations l ON l.tenant_id = s.tenant_id AND l.id = s.location_id
  JOIN easeinv.tenants t ON t.id = s.tenant_id
 WHERE l.kind IN ('warehouse', 'store', 'bin') AND s.available < 0
});
	my ($neg_strict, $neg_allowed) = split /\|/, $negative;
	is($neg_strict, 0,
		"$label: no internal location of a tenant without allow_negative_stock is below 0 available");
	note "$label: $neg_allowed internal level rows below 0 in the tenant that allows negative stock";

	# the log rows are written in the movement's transaction: after the crash as before, every
	# stored movement of the load has exactly one first-post row, and every row names the
	# movement stored under its key
	my %got = split /[|\n]/, $node->safe_psql(
		'postgres', q{
SELECT 'movements', count(*) FROM easeinv.stock_movements WHERE idempotency_key ~ '^(mv|rv)-'
UNION ALL SELECT 'unlogged', count(*) FROM easeinv.stock_movements m
  LEFT JOIN (SELECT tenant, movement_id, count(*) AS firsts FROM load_log WHERE NOT replayed GROUP BY 1, 2) g
         ON g.tenant = m.tenant_id AND g.movement_id = m.id
  WHERE m.idempotency_key ~ '^(mv|rv)-' AND g.firsts IS DISTINCT FROM 1
UNION ALL SELECT 'mislogged', count(*) FROM load_log g JOIN load_keys k USING (n)
  LEFT JOIN easeinv.stock_movements m ON m.tenant_id = g.tenant AND m.id = g.movement_id
  WHERE g.outcome = 'posted' AND (m.id IS NULL OR m.idempotency_key <> k.key OR g.tenant <> k.tenant)
UNION ALL SELECT 'calls', count(*) FROM load_log
UNION ALL SELECT 'replayed', count(*) FROM load_log WHERE replayed
UNION ALL SELECT 'insufficient', count(*) FROM load_log WHERE outcome = 'insufficient'
UNION ALL SELECT 'reversals', count(*) FROM easeinv.stock_movements WHERE reverses_id IS NOT NULL
});
	note "$label: " . join(', ', map { "$_ $got{$_}" } sort keys %got);
	is($got{unlogged}, 0, "$label: every stored movement has exactly one first-post log row");
	is($got{mislogged}, 0, "$label: every logged movement id is the one stored under its key");
	return \%got;
}

#-----------------------------------------------------------------------------------------------
# 1. A clean run.
#-----------------------------------------------------------------------------------------------
clean_run('before the crash', 150);
my $before = check_ledger('before the crash');
cmp_ok($before->{replayed}, '>', 0, 'before the crash: keys were replayed');
# Refusals under the random load are rare (about 2% of calls) and not guaranteed, so the refusal
# path is exercised once deterministically: an oversized sale from a strict tenant's warehouse is
# refused with 23514 and stores nothing.
note "before the crash: $before->{insufficient} movements refused for insufficient stock under load";
{
	my ($ret, $out, $err) = $node->psql('postgres',
		q{BEGIN; SELECT easeinv.set_tenant(1);
		  SELECT easeinv.move_stock('too-much', prod(1, 1), loc(1, 'WH'), loc(1, 'CUS'), 99999999);
		  COMMIT;});
	like($err, qr/insufficient stock/, 'an oversized sale from a strict tenant is refused');
	is($node->safe_psql('postgres',
			q{SELECT count(*) FROM easeinv.stock_movements WHERE idempotency_key = 'too-much'}),
		'0', '... and stores nothing');
}
cmp_ok($before->{reversals}, '>', 0, 'before the crash: some movements were reversed');

#-----------------------------------------------------------------------------------------------
# 2. Killed mid-load, three times, after a different number of calls of the killed run.
#-----------------------------------------------------------------------------------------------

my $state = $before;
foreach my $round (1 .. 3)
{
	my $label = "crash $round";
	my $threshold = 300 * $round;
	my $calls_before = $state->{calls};
	my $load = start_pgbench("$label: killed run", 2000);
	my $deadline = time + 60;
	my $calls = $calls_before;
	while (time < $deadline)
	{
		$calls = $node->safe_psql('postgres', 'SELECT count(*) FROM load_log');
		last if $calls >= $calls_before + $threshold || !$load->{handle}->pumpable;
		usleep(20_000);
	}
	ok($load->{handle}->pumpable, "$label: pgbench is still running when the server is killed");
	cmp_ok($calls - $calls_before, '>=', $threshold, "$label: at least $threshold calls committed before the kill");
	cmp_ok(EaseinvTest::kill_cluster($node), '>=', $CLIENTS,
		"$label: the postmaster had at least $CLIENTS children (the clients' backends)");

	$load = finish_pgbench($load);
	isnt($load->{rc}, 0, "$label: pgbench of the killed run fails (its connections were cut)");
	unlike($load->{err}, qr/ASSERTION|ERROR:/, "$label: no SQL error before the kill");

	my $log_offset = -s $node->logfile;
	my $t0 = time;
	$node->start;
	note sprintf('%s: restart with crash recovery in %.1f s', $label, time - $t0);
	like(substr(PostgreSQL::Test::Utils::slurp_file($node->logfile), $log_offset),
		qr/database system was not properly shut down; automatic recovery in progress/,
		"$label: the restart ran crash recovery");

	my $after = check_ledger($label);
	cmp_ok($after->{movements}, '>', $state->{movements}, "$label: movements of the killed run were kept");

	# A replay of the last movement stored before the crash, as the application: the same id back.
	my ($last_id, $last_tenant, $last_n, $last_kind) = split /\|/, $node->safe_psql(
		'postgres', q{
SELECT m.id, m.tenant_id, k.n, k.kind FROM easeinv.stock_movements m
  JOIN load_keys k ON k.tenant = m.tenant_id AND k.key = m.idempotency_key
 WHERE k.kind <> 'reversal' ORDER BY m.id DESC LIMIT 1
});
	my ($ret, $out, $err) = $node->psql(
		'postgres', qq{
BEGIN;
SELECT easeinv.set_tenant($last_tenant) \\gset
SELECT m.id, m.replayed FROM load_keys k,
       easeinv.move_stock(k.key, k.product_id, k.from_id, k.to_id, k.qty, k.kind) m WHERE k.n = $last_n;
COMMIT;
},
		extra_params => [ '-U', 'web', '-v', 'VERBOSITY=verbose' ]);
	is($err, '', "$label: replay of the last movement stored before the crash: no error");
	is($out, "$last_id|t", "$label: ... the same movement back ($last_kind, id $last_id), replayed");

	# and the last reversal stored before the crash
	my ($rev_id, $rev_tenant, $rev_key, $rev_target) = split /\|/, $node->safe_psql(
		'postgres', q{
SELECT id, tenant_id, idempotency_key, reverses_id FROM easeinv.stock_movements
 WHERE reverses_id IS NOT NULL ORDER BY id DESC LIMIT 1
});
	($ret, $out, $err) = $node->psql(
		'postgres', qq{
BEGIN;
SELECT easeinv.set_tenant($rev_tenant) \\gset
SELECT id, replayed FROM easeinv.reverse_movement('$rev_key', $rev_target);
COMMIT;
},
		extra_params => [ '-U', 'web', '-v', 'VERBOSITY=verbose' ]);
	is($err, '', "$label: replay of the last reversal stored before the crash: no error");
	is($out, "$rev_id|t", "$label: ... the same reversal back (id $rev_id), replayed");
	$state = $after;
}

#-----------------------------------------------------------------------------------------------
# 3. A clean run after the restart, over the same keys.
#-----------------------------------------------------------------------------------------------
clean_run('after the restart', 150);
my $final = check_ledger('after the restart');
cmp_ok($final->{replayed}, '>', $state->{replayed}, 'after the restart: keys stored before were replayed');

$node->stop;
note sprintf('020_ledger_crash: %.1f s in all', time - $started);
done_testing();
