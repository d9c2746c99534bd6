# 010_pgbouncer.pl: tenant isolation through a real pgbouncer in transaction pooling mode.
#
# Many pgbench clients share a handful of server connections and switch tenants on every
# transaction, with every way the extension offers to set the context (set_tenant(),
# SET LOCAL, set_config(..., true), a JWT in request.jwt.claims).  The checks run inside SQL,
# so a violation fails the pgbench transaction and pgbench exits non-zero:
#   - every transaction starts with no context (nothing left over from the previous client);
#   - a tenant sees exactly its own rows, writes only its own rows, and rows it inserts
#     without tenant_id are stamped with its id.
# Then, through pools of one server connection, that a context set in one transaction is
# gone in the next transaction of another client, and that a session-level SET, whose value
# pgbouncer does carry to the next client, is ignored by the extension instead of obeyed (and
# does not get in the way of a context set for the transaction).  Then a poisoned pool: two
# server connections carrying a careless client's session-level tenant and JWT, shared by 200
# clients that set their tenant for the transaction only, all served, none seeing another tenant.
use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

# test/perl, also when PROVE_FLAGS does not carry -I test/perl (Makefile.global resets it).
use FindBin;
use lib "$FindBin::RealBin/../perl";
use EaseinvTest;

my $pgbouncer = $ENV{PGBOUNCER} || '/usr/sbin/pgbouncer';
plan skip_all => "pgbouncer not found at $pgbouncer (apt-get install pgbouncer, or set PGBOUNCER)"
  unless -x $pgbouncer;

my $started = time;
my $TENANTS = 8;
my $TXNS = 50;    # transactions per pgbench client

#-----------------------------------------------------------------------------------------------
# The node: extension, tenants, a protected table with seed rows, the login role web.
#-----------------------------------------------------------------------------------------------
my $node = EaseinvTest::Node->new('main');
$node->init;
$node->append_conf('postgresql.conf', "log_statement = 'ddl'\nmax_connections = 30\n");
$node->start;

$node->safe_psql(
	'postgres', qq{
CREATE EXTENSION easeinv;
SELECT easeinv.create_tenant('tenant-' || i, 'Tenant ' || i, '27') FROM generate_series(1, $TENANTS) i;
SELECT easeinv.create_tenant('dormant', 'Dormant Traders', '29');
SELECT easeinv.set_tenant_status(id, 'suspended') FROM easeinv.tenants WHERE slug = 'dormant';

CREATE SEQUENCE notes_id_seq;
CREATE TABLE notes (
    tenant_id bigint NOT NULL,
    id        bigint NOT NULL DEFAULT nextval('notes_id_seq'),
    body      text,
    hits      integer NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, id)
) PARTITION BY HASH (tenant_id);
SELECT easeinv.create_tenant_partitions('notes');
SELECT * FROM easeinv.enable_tenancy('notes');

-- seed rows, ids 0, -1, -2 of every tenant, written by the superuser with explicit tenant_id
INSERT INTO notes (tenant_id, id, body)
SELECT t, -k, 'seed/' || t FROM generate_series(1, $TENANTS) t, generate_series(0, 2) k;

CREATE ROLE web LOGIN;
GRANT easeinv_app TO web;
GRANT SELECT, INSERT, UPDATE, DELETE ON notes TO easeinv_app;
GRANT USAGE ON SEQUENCE notes_id_seq TO easeinv_app;

-- Assertions used by the pgbench scripts; they run with the caller's rights (as web).
CREATE FUNCTION assert_true(ok boolean, what text) RETURNS void
LANGUAGE plpgsql AS \$\$
BEGIN
    IF ok IS NOT TRUE THEN
        RAISE EXCEPTION 'ASSERTION FAILED: % (backend %)', what, pg_backend_pid();
    END IF;
END \$\$;

-- At the start of a transaction: no tenant GUC, no JWT claims, and current_tenant() refuses.
CREATE FUNCTION assert_blank_context() RETURNS void
LANGUAGE plpgsql AS \$\$
DECLARE
    g text := current_setting('easeinv.tenant_id', true);
    c text := current_setting('request.jwt.claims', true);
    t bigint;
BEGIN
    IF coalesce(g, '') <> '' OR coalesce(c, '') <> '' THEN
        RAISE EXCEPTION 'LEAK: transaction starts with easeinv.tenant_id = "%", request.jwt.claims = "%" (backend %)',
            g, c, pg_backend_pid();
    END IF;
    BEGIN
        t := easeinv.current_tenant();
    EXCEPTION WHEN insufficient_privilege THEN
        RETURN;
    END;
    RAISE EXCEPTION 'LEAK: current_tenant() is % at the start of a transaction (backend %)', t, pg_backend_pid();
END \$\$;
});

is( $node->safe_psql(
		'postgres',
		"SELECT string_agg(id::text, ',' ORDER BY id) FROM easeinv.tenants WHERE status = 'active'"),
	join(',', 1 .. $TENANTS),
	"tenants 1..$TENANTS are active");
my $dormant = $node->safe_psql('postgres', "SELECT id FROM easeinv.tenants WHERE slug = 'dormant'");
is($node->safe_psql('postgres', 'SELECT count(*) FROM easeinv.audit_tenancy()'),
	'0', 'audit_tenancy finds notes protected');

#-----------------------------------------------------------------------------------------------
# pgbouncer: transaction pooling; app has 3 server connections, app1 and leak one each, poison
# two (the poisoned pool, below: 200 clients at once).
#-----------------------------------------------------------------------------------------------
my $pgb = EaseinvTest::start_pgbouncer(
	node => $node,
	binary => $pgbouncer,
	databases => { app => '', app1 => 'pool_size=1', leak => 'pool_size=1', poison => 'pool_size=2' },
	default_pool_size => 3,
	max_client_conn => 300);
my $app = $pgb->connstr('app', 'web');
my $app1 = $pgb->connstr('app1', 'web');

# through_bouncer($connstr, $sql): one psql client through pgbouncer; (exit code, out, err).
sub through_bouncer
{
	my ($connstr, $sql) = @_;
	my ($ret, $out, $err) = $node->psql(
		'postgres', $sql,
		connstr => $connstr,
		extra_params => [ '-v', 'VERBOSITY=verbose' ],
		timeout => 60);
	return ($ret, $out, $err);
}

#-----------------------------------------------------------------------------------------------
# No context, through pgbouncer: 42501.
#-----------------------------------------------------------------------------------------------
{
	my ($ret, $out, $err) = through_bouncer($app, 'SELECT count(*) FROM notes');
	isnt($ret, 0, 'read with no tenant context fails through pgbouncer');
	like($err, qr/ERROR:  42501: no tenant context/, '... with SQLSTATE 42501 "no tenant context"');

	($ret, $out, $err) =
	  through_bouncer($app, "BEGIN;\nINSERT INTO notes (body) VALUES ('orphan');\nCOMMIT;");
	like($err, qr/ERROR:  42501: no tenant context/,
		'insert with no tenant context fails with 42501');

	($ret, $out, $err) = through_bouncer($app,
		"BEGIN;\nINSERT INTO notes (tenant_id, id, body) VALUES (1, 999999, 'orphan');\nCOMMIT;");
	like($err, qr/ERROR:  42501: no tenant context/,
		'insert naming a tenant_id with no tenant context fails with 42501');

	($ret, $out, $err) =
	  through_bouncer($app, "BEGIN;\nSELECT easeinv.set_tenant($dormant);\nCOMMIT;");
	like($err, qr/ERROR:  42501: tenant $dormant is suspended/,
		'set_tenant() of a suspended tenant fails with 42501');

	($ret, $out, $err) = through_bouncer($app,
		"BEGIN;\nSELECT easeinv.set_tenant(3);\nSELECT count(*), min(tenant_id), max(tenant_id) FROM notes;\nCOMMIT;"
	);
	is($ret, 0, 'a transaction with set_tenant(3) works through pgbouncer');
	is($out, "3\n3|3|3", '... and sees the 3 rows of tenant 3 only');
}

#-----------------------------------------------------------------------------------------------
# One server connection (app1), two clients: a context never outlives its transaction.
#-----------------------------------------------------------------------------------------------
my $sa = $node->session_at($app1);
my $sb = $node->session_at($app1);

sub context_of
{
	my ($s) = @_;
	my ($out, $err) = EaseinvTest::run_sql($s,
		"SELECT coalesce(current_setting('easeinv.tenant_id', true), '') || '|' || "
		  . "coalesce(current_setting('request.jwt.claims', true), '') || '|' || pg_backend_pid()");
	die "context_of: $err" if $err ne '';
	my ($tenant, $claims, $pid) = split /\|/, $out, -1;
	return ("$tenant|$claims", $pid);
}

my ($ctx, $pid_b, $out, $err);
($out, $err) = EaseinvTest::run_sql($sa,
	"SELECT current_setting('easeinv.partitions', true) IS NULL, pg_backend_pid()");
my ($unloaded, $pid) = split /\|/, $out;
is($unloaded, 't', 'app1 starts on a fresh server connection (easeinv library not loaded yet)');
($ctx, $pid_b) = context_of($sb);
is($pid_b, $pid, 'both clients of app1 share one server connection');

my @methods = (
	[ 'SET LOCAL' => "SET LOCAL easeinv.tenant_id = '5';" ],
	[ 'set_tenant()' => "SELECT easeinv.set_tenant(5);" ],
	[ 'set_config(..., true)' => "SELECT set_config('easeinv.tenant_id', '5', true);" ],
	[ 'SET LOCAL request.jwt.claims' => qq{SET LOCAL request.jwt.claims = '{"tenant_id": 5}';} ],
	[
		'set_config(request.jwt.claims, ..., true)' =>
		  qq{SELECT set_config('request.jwt.claims', '{"role": "web", "tenant_id": "5"}', true);}
	]);
foreach my $m (@methods)
{
	my ($label, $set) = @$m;
	($out, $err) = EaseinvTest::run_sql($sa,
		"BEGIN;\n$set\nSELECT easeinv.current_tenant(), count(*), min(tenant_id), max(tenant_id) FROM notes;\nCOMMIT;"
	);
	like($out, qr/^5\|3\|5\|5$/m, "$label: client A sees tenant 5 inside its transaction");
	is($err, '', "$label: no error");
	($ctx, $pid_b) = context_of($sb);
	is($ctx, '|', "$label: the next transaction on the same server connection (client B) has no context");
	is($pid_b, $pid, "$label: ... and it really is the same server connection");
	($out, $err) = EaseinvTest::run_sql($sb, 'SELECT count(*) FROM notes');
	like($err, qr/42501: no tenant context/, "$label: ... where reading notes fails with 42501");
}

# A transaction that fails after setting the context.
($out, $err) = EaseinvTest::run_sql($sa, "BEGIN;\nSELECT easeinv.set_tenant(6);\nSELECT 1/0;\nROLLBACK;");
like($err, qr/division by zero/, 'client A: a transaction with a context fails');
($ctx, $pid_b) = context_of($sb);
is($ctx, '|', '... the next transaction (client B) has no context');

# set_tenant() outside a transaction block lasts for that statement only.
($out, $err) = EaseinvTest::run_sql($sa, 'SELECT easeinv.set_tenant(6)');
like($err, qr/WARNING:  25P01: easeinv.set_tenant\(\) outside a transaction block/,
	'set_tenant() outside a transaction block warns');
($ctx, $pid_b) = context_of($sb);
is($ctx, '|', '... and leaves no context for the next client');

# A client that disconnects in the middle of a transaction with a context.
{
	my $c = $node->session_at($app1);
	($out, $err) = EaseinvTest::run_sql($c, "BEGIN;\nSELECT easeinv.set_tenant(7);");
	is($out, '7', 'client C sets tenant 7 and disconnects inside the transaction');
	$c->quit;
	($ctx, $pid_b) = context_of($sb);
	is($ctx, '|', '... the next client has no context');
	note "server connection after the disconnect: backend $pid_b (before: $pid)";
	$pid = $pid_b;
}

# One simple-protocol Query message holding several statements is one implicit transaction:
# set_tenant() holds for all its statements (no warning) and ends with it.
{
	my ($stdout, $stderr) = ('', '');
	IPC::Run::run(
		[
			'psql', '-XAtq', '-v', 'VERBOSITY=verbose', '-d', $app1, '-c',
			'SELECT easeinv.set_tenant(2); SELECT count(*), min(tenant_id), max(tenant_id) FROM notes'
		],
		'<', \undef, '>', \$stdout, '2>', \$stderr,
		IPC::Run::timeout(60));
	chomp $stdout;
	is($stdout, "2\n3|2|2", 'one Query message "SELECT set_tenant(2); SELECT ... FROM notes" reads tenant 2');
	is($stderr, '', '... without a warning (it is an implicit transaction block)');
	($ctx, $pid_b) = context_of($sb);
	is($ctx, '|', '... and the next client has no context');
}

# A session-level SET, without LOCAL, stays on the pooled server connection: the *value* reaches
# the next client, whoever it is (that is how transaction pooling works, not a bug).  The
# extension ignores a value that outlives its transaction: with nothing else set, the next client
# (and the client that set it) gets 42501 naming the ignored value instead of tenant 4's rows;
# with a context set for its transaction, that context is used and the leftover does not get in
# the way.
my $ignored = qr/DETAIL:  A session-level value of easeinv\.tenant_id was present and ignored/;
my $claims_ignored = qr/DETAIL:  A session-level value of request\.jwt\.claims was present and ignored/;
($out, $err) = EaseinvTest::run_sql($sa, "SET easeinv.tenant_id = '4'");
is($err, '', 'client A runs a session-level SET easeinv.tenant_id = 4');
($out, $err) = EaseinvTest::run_sql($sa, 'SELECT count(*) FROM notes');
like($err, qr/ERROR:  42501: no tenant context/, '... which the extension ignores, for client A (42501)');
like($err, $ignored, '... saying the session-level value was ignored');
($ctx, $pid_b) = context_of($sb);
is($ctx, '4|', 'the session-level value is still on the pooled connection when client B comes');
is($pid_b, $pid, '... (the same server connection)');
($out, $err) = EaseinvTest::run_sql($sb, 'SELECT count(*), min(tenant_id), max(tenant_id) FROM notes');
is($out, '', 'client B reads no rows of tenant 4 ...');
like($err, qr/ERROR:  42501: no tenant context/, '... the leftover value is ignored: 42501 no tenant context');
like($err, $ignored, '... whose detail says a session-level easeinv.tenant_id was ignored');
($out, $err) = EaseinvTest::run_sql($sb,
	"BEGIN;\nSELECT set_config('easeinv.tenant_id', '2', true);\n"
	  . "SELECT easeinv.current_tenant(), count(*), min(tenant_id), max(tenant_id) FROM notes;\nCOMMIT;");
like($out, qr/^2\|3\|2\|2$/m, 'client B with set_config(easeinv.tenant_id, 2, true) over it: tenant 2, its 3 rows');
is($err, '', '... no error');
($out, $err) = EaseinvTest::run_sql($sb,
	"BEGIN;\nSELECT set_config('request.jwt.claims', '{\"tenant_id\": 3}', true);\n"
	  . "SELECT easeinv.current_tenant(), count(*), min(tenant_id), max(tenant_id) FROM notes;\nCOMMIT;");
like($out, qr/^3\|3\|3\|3$/m,
	'client B with a JWT of tenant 3 for its transaction: tenant 3 (no conflict with the ignored 4)');
is($err, '', '... no error');
($out, $err) = EaseinvTest::run_sql($sb,
	q{SELECT set_config('request.jwt.claims', '{"tenant_id": 4}', false)});
($out, $err) = EaseinvTest::run_sql($sa, 'RESET easeinv.tenant_id');
($out, $err) = EaseinvTest::run_sql($sa, 'SELECT count(*) FROM notes');
like($err, qr/ERROR:  42501: no tenant context/, 'a session-level request.jwt.claims is ignored the same way');
like($err, $claims_ignored, '... and named in the detail');
($out, $err) = EaseinvTest::run_sql($sa,
	"BEGIN;\nSELECT easeinv.set_tenant(5);\nSELECT easeinv.current_tenant(), count(*), min(tenant_id), max(tenant_id) FROM notes;\nCOMMIT;");
like($out, qr/^5\|3\|5\|5$/m, '... and set_tenant(5) over it is tenant 5 (no conflict with the ignored JWT of 4)');
is($err, '', '... no error');
($out, $err) = EaseinvTest::run_sql($sa, 'RESET request.jwt.claims');
($out, $err) = EaseinvTest::run_sql($sa, 'RESET easeinv.tenant_id');
($ctx, $pid_b) = context_of($sb);
is($ctx, '|', 'after RESET the shared server connection has no context again');
$sa->quit;
$sb->quit;

#-----------------------------------------------------------------------------------------------
# The load: 40 clients through a pool of 3 server connections, every transaction a random
# tenant, five ways of setting it, simple and extended protocol at once.
#-----------------------------------------------------------------------------------------------
my $dir = PostgreSQL::Test::Utils::tempdir('pgbench');

# Statements every script runs once its context is set for tenant :t (:o is another tenant).
# Extended protocol sends :t as a parameter, so nothing here may need it to be a literal.
my $checks = <<'EOS';
SELECT assert_true(easeinv.current_tenant() = :t::bigint, 'current_tenant() is ' || easeinv.current_tenant() || ', not ' || :t::text);
SELECT assert_true(count(*) FILTER (WHERE tenant_id <> :t::bigint) = 0 AND count(*) FILTER (WHERE id <= 0) = 3, 'tenant ' || :t::text || ' sees rows of tenants ' || string_agg(DISTINCT tenant_id::text, ',')) FROM notes;
SELECT assert_true(array_agg(id) = ARRAY[:t::bigint], 'tenant ' || :t::text || ' sees tenants ' || array_agg(id)::text) FROM easeinv.tenants;
WITH u AS (UPDATE notes SET body = 'stolen' WHERE tenant_id = :o::bigint RETURNING 1) SELECT assert_true(count(*) = 0, 'tenant ' || :t::text || ' updated rows of tenant ' || :o::text) FROM u;
WITH d AS (DELETE FROM notes WHERE tenant_id = :o::bigint RETURNING 1) SELECT assert_true(count(*) = 0, 'tenant ' || :t::text || ' deleted rows of tenant ' || :o::text) FROM d;
EOS

# The permanent row of the transaction: no tenant_id given, the intended tenant in the body.
sub write_row
{
	my ($v, $label) = @_;
	return <<"EOS";
WITH i AS (INSERT INTO notes (body) VALUES ('w/' || :${v}::text || '/${label}/' || pg_backend_pid()) RETURNING tenant_id) SELECT assert_true((SELECT tenant_id FROM i) = :${v}::bigint, 'row inserted for tenant ' || :${v}::text || ' was stamped ' || (SELECT tenant_id FROM i));
WITH u AS (UPDATE notes SET hits = hits + 1 WHERE id = 0 RETURNING tenant_id) SELECT assert_true(array_agg(tenant_id) = ARRAY[:${v}::bigint], 'hit on seed row of tenant ' || :${v}::text || ' updated ' || coalesce(array_agg(tenant_id)::text, 'nothing')) FROM u;
EOS
}

my $begin = <<"EOS";
\\set t random(1, $TENANTS)
\\set o 1 + :t % $TENANTS
BEGIN;
SELECT assert_blank_context();
EOS

my %scripts = (
	settenant => "SELECT easeinv.set_tenant(:t);\n",
	setlocal => "SET LOCAL easeinv.tenant_id = ':t';\n",
	setconfig => "SELECT set_config('easeinv.tenant_id', :t::text, true);\n",
	jwtlocal => qq{SET LOCAL request.jwt.claims = '{"sub": "web", "tenant_id": :t}';\n},
	jwtconfig =>
	  "SELECT set_config('request.jwt.claims', json_build_object('role', 'web', 'tenant_id', :t::text)::text, true);\n",
);
foreach my $name (keys %scripts)
{
	PostgreSQL::Test::Utils::append_to_file("$dir/$name.sql",
		$begin . $scripts{$name} . $checks . write_row('t', $name) . "COMMIT;\n");
}

# switch: two tenants in one transaction (the per-transaction cache must follow the change):
# a scratch row for :t, switch to :o, which can neither see nor delete it, write :o's row,
# switch back to :t and delete the scratch row.
my $checks_o = $checks;
$checks_o =~ s/:t\b/:T/g;
$checks_o =~ s/:o\b/:t/g;
$checks_o =~ s/:T\b/:o/g;
PostgreSQL::Test::Utils::append_to_file(
	"$dir/switch.sql", $begin . <<'EOS' . $checks_o . write_row('o', 'switch') . <<'EOS2');
SELECT easeinv.set_tenant(:t);
WITH i AS (INSERT INTO notes (body) VALUES ('tmp/' || :t::text) RETURNING tenant_id) SELECT assert_true((SELECT tenant_id FROM i) = :t::bigint, 'scratch row of tenant ' || :t::text || ' was stamped ' || (SELECT tenant_id FROM i));
SELECT easeinv.set_tenant(:o);
WITH d AS (DELETE FROM notes WHERE body = 'tmp/' || :t::text RETURNING 1) SELECT assert_true(count(*) = 0, 'tenant ' || :o::text || ' deleted the scratch row of tenant ' || :t::text) FROM d;
EOS
SELECT easeinv.set_tenant(:t);
WITH d AS (DELETE FROM notes WHERE body = 'tmp/' || :t::text RETURNING tenant_id) SELECT assert_true(count(*) = 1 AND min(tenant_id) = :t::bigint, 'tenant ' || :t::text || ' deleted ' || count(*) || ' scratch rows') FROM d;
COMMIT;
EOS2

# start_pgbench($label, $protocol, $clients, $dbalias, @scripts): pgbench through pgbouncer.
sub start_pgbench
{
	my ($label, $protocol, $clients, $alias, $txns, @scripts) = @_;
	my @cmd = (
		'pgbench', '-n', '-M', $protocol,
		'-c', $clients, '-j', 2, '-t', $txns,
		(map { ('-f', "$dir/$_.sql") } @scripts),
		'-h', '127.0.0.1', '-p', $pgb->port, '-U', 'web', $alias);
	note "starting $label: @cmd";
	my $run = { label => $label, clients => $clients, txns => $txns, out => '', err => '' };
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

my $load_started = time;
my @runs = (
	start_pgbench('simple protocol', 'simple', 24, 'app', $TXNS,
		qw(settenant setlocal setconfig jwtlocal)),
	start_pgbench('extended protocol', 'extended', 16, 'app', $TXNS,
		qw(settenant setconfig jwtconfig switch)));
finish_pgbench($_) foreach @runs;
my $load_secs = time - $load_started;

my $total = 0;
foreach my $run (@runs)
{
	my $want = $run->{clients} * $run->{txns};
	is($run->{rc}, 0, "pgbench ($run->{label}, $run->{clients} clients) exits 0");
	like($run->{out}, qr/^number of transactions actually processed: $want\/$want$/m,
		"... all $want transactions processed");
	like($run->{out}, qr/^number of failed transactions: 0 \(/m, '... none failed');
	unlike($run->{err}, qr/(ERROR|LEAK|ASSERTION|abort)/i, '... no errors reported');
	$total += $want;
}
note sprintf('load: %d transactions in %.1f s', $total, $load_secs);

# What the clients wrote, checked as superuser (no row level security).
my %got = split /[|\n]/, $node->safe_psql(
	'postgres', q{
SELECT 'written', count(*) FROM notes WHERE body LIKE 'w/%'
UNION ALL SELECT 'mismatched', count(*) FROM notes WHERE body LIKE 'w/%' AND split_part(body, '/', 2)::bigint <> tenant_id
UNION ALL SELECT 'scratch', count(*) FROM notes WHERE body LIKE 'tmp/%'
UNION ALL SELECT 'seed', count(*) FROM notes WHERE id <= 0 AND body = 'seed/' || tenant_id
UNION ALL SELECT 'other', count(*) FROM notes WHERE body NOT LIKE 'w/%' AND NOT (id <= 0 AND body = 'seed/' || tenant_id)
UNION ALL SELECT 'hits', sum(hits) FROM notes
UNION ALL SELECT 'methods', count(DISTINCT split_part(body, '/', 3)) FROM notes WHERE body LIKE 'w/%'
UNION ALL SELECT 'tenants', count(DISTINCT tenant_id) FROM notes WHERE body LIKE 'w/%'
UNION ALL SELECT 'backends', count(DISTINCT split_part(body, '/', 4)) FROM notes WHERE body LIKE 'w/%'
UNION ALL SELECT 'busiest', max(n) FROM (SELECT count(DISTINCT tenant_id) n FROM notes WHERE body LIKE 'w/%' GROUP BY split_part(body, '/', 4)) s
});
note explain \%got;
is($got{written}, $total, 'one row written per transaction');
is($got{mismatched}, 0, 'every row written without tenant_id belongs to the tenant the client intended');
is($got{scratch}, 0, 'every scratch row was deleted by its own tenant');
is($got{seed}, 3 * $TENANTS, 'seed rows untouched (no cross-tenant update or delete got through)');
is($got{other}, 0, 'no other rows');
is($got{hits}, $total, 'one hit on its own seed row per transaction');
is($got{methods}, 6, 'all five ways of setting the context were used (plus the switch script)');
is($got{tenants}, $TENANTS, 'every tenant was used');
cmp_ok($got{backends}, '<=', 3, "40 clients shared at most 3 server connections ($got{backends})");
is($got{busiest}, $TENANTS, 'a single server connection served every tenant in turn');

#-----------------------------------------------------------------------------------------------
# The poisoned pool: a careless client leaves session-level values on every server connection of
# a pool of two, SET easeinv.tenant_id = '1' and SET request.jwt.claims = '{"tenant_id": 1}' (no
# LOCAL), and nobody resets them.  Then 100 clients that send only a JWT for their transaction
# and 100 that only set_config('easeinv.tenant_id', N, true) share those two connections, every
# transaction another tenant: the leftovers are ignored, so every transaction is served (no
# 42501, no conflict with the leftover tenant 1) and sees its own tenant only.  Every transaction
# first asserts that its connection really carries both leftovers.
#-----------------------------------------------------------------------------------------------
my $poison = $pgb->connstr('poison', 'web');
my $POISON_CLIENTS = 100;
my $POISON_TXNS = 4;
my %poisoned;
{
	# Two sessions, each inside a transaction at the same time, so that they hold (and poison)
	# both server connections of the pool; a plain SET in a transaction block outlives it.
	my @p = map { $node->session_at($poison) } 1 .. 2;
	foreach my $s (@p)
	{
		($out, $err) = EaseinvTest::run_sql($s,
			"BEGIN;\nSET easeinv.tenant_id = '1';\nSET request.jwt.claims = '{\"tenant_id\": 1}';\nSELECT pg_backend_pid();");
		is($err, '', 'poisoning client: session-level SETs of tenant 1 inside an open transaction');
		$poisoned{$out} = 1;
	}
	EaseinvTest::run_sql($_, 'COMMIT') foreach @p;
	$_->quit foreach @p;
}
is(scalar(keys %poisoned), 2, 'the poisoning client poisoned both server connections of the pool ('
	  . join(', ', sort keys %poisoned) . ')');

# A client with no transaction-level source on a poisoned connection: 42501 naming both leftovers.
# It goes on to end its transaction: pgbouncer closes a server connection whose client leaves
# in the middle of a transaction (or before the server is ready again), which would take the
# leftovers with it.
foreach my $i (1 .. 4)
{
	my ($ret, $o, $e) = $node->psql(
		'postgres',
		"BEGIN;\nSELECT current_setting('easeinv.tenant_id') || '|' || current_setting('request.jwt.claims') || '|' || pg_backend_pid();\n"
		  . "SELECT count(*) FROM notes;\nROLLBACK;\nSELECT 1;",
		connstr => $poison,
		extra_params => [ '-v', 'VERBOSITY=verbose' ],
		on_error_stop => 0,
		timeout => 60);
	$o =~ s/\n1$//;
	my ($g, $c, $p) = split /\|/, $o;
	ok($g eq '1' && $c eq '{"tenant_id": 1}' && $poisoned{ $p // '' },
		"client $i without a context is on a poisoned connection ($o)");
	like($e, qr/ERROR:  42501: no tenant context/, "... and gets 42501 no tenant context");
	like($e,
		qr/DETAIL:  Session-level values of easeinv\.tenant_id and request\.jwt\.claims were present and ignored/,
		'... whose detail says the session-level values were present and ignored');
}

my $poison_begin = <<"EOS";
\\set t random(1, $TENANTS)
\\set o 1 + :t % $TENANTS
BEGIN;
SELECT assert_true(current_setting('easeinv.tenant_id', true) = '1' AND current_setting('request.jwt.claims', true) = '{"tenant_id": 1}', 'connection not poisoned: easeinv.tenant_id "' || coalesce(current_setting('easeinv.tenant_id', true), '') || '", claims "' || coalesce(current_setting('request.jwt.claims', true), '') || '" (backend ' || pg_backend_pid() || ')');
EOS
sub poison_end
{
	my ($kind) = @_;
	return <<"EOS";
SELECT assert_true(count(*) FILTER (WHERE tenant_id <> easeinv.current_tenant()) = 0 AND count(*) FILTER (WHERE tenant_id <> :t::bigint) = 0, 'tenant ' || :t::text || ' on a poisoned connection sees ' || count(*) FILTER (WHERE tenant_id <> :t::bigint) || ' rows of other tenants') FROM notes;
WITH i AS (INSERT INTO notes (body) VALUES ('p/' || :t::text || '/$kind/' || pg_backend_pid()) RETURNING tenant_id) SELECT assert_true((SELECT tenant_id FROM i) = :t::bigint, 'row inserted for tenant ' || :t::text || ' was stamped ' || (SELECT tenant_id FROM i));
COMMIT;
EOS
}
# JWT-only (extended protocol, so :t is a parameter) and set_config-only (simple protocol).
PostgreSQL::Test::Utils::append_to_file("$dir/poison_jwt.sql",
	$poison_begin
	  . "SELECT set_config('request.jwt.claims', '{\"tenant_id\": ' || :t::text || '}', true);\n"
	  . $checks . poison_end('jwt'));
PostgreSQL::Test::Utils::append_to_file("$dir/poison_setconfig.sql",
	$poison_begin
	  . "SELECT set_config('easeinv.tenant_id', :t::text, true);\n"
	  . $checks . poison_end('setconfig'));

my $poison_started = time;
my @poison_runs = (
	start_pgbench('poisoned pool, JWT only', 'extended', $POISON_CLIENTS, 'poison', $POISON_TXNS,
		'poison_jwt'),
	start_pgbench('poisoned pool, set_config only', 'simple', $POISON_CLIENTS, 'poison', $POISON_TXNS,
		'poison_setconfig'));
finish_pgbench($_) foreach @poison_runs;
my $poison_secs = time - $poison_started;
my $poison_total = 0;
foreach my $run (@poison_runs)
{
	my $want = $run->{clients} * $run->{txns};
	is($run->{rc}, 0, "pgbench ($run->{label}, $run->{clients} clients) exits 0");
	like($run->{out}, qr/^number of transactions actually processed: $want\/$want$/m,
		"... all $want transactions served");
	like($run->{out}, qr/^number of failed transactions: 0 \(/m, '... none failed');
	unlike($run->{err}, qr/(ERROR|LEAK|ASSERTION|abort|42501)/i, '... no errors reported (no 42501)');
	$poison_total += $want;
}
note sprintf('poisoned pool: %d transactions of %d clients in %.1f s',
	$poison_total, 2 * $POISON_CLIENTS, $poison_secs);

my %pg = split /[|\n]/, $node->safe_psql(
	'postgres', q{
SELECT 'written', count(*)::text FROM notes WHERE body LIKE 'p/%'
UNION ALL SELECT 'mismatched', count(*)::text FROM notes WHERE body LIKE 'p/%' AND split_part(body, '/', 2)::bigint <> tenant_id
UNION ALL SELECT 'jwt', count(*)::text FROM notes WHERE body LIKE 'p/%/jwt/%'
UNION ALL SELECT 'setconfig', count(*)::text FROM notes WHERE body LIKE 'p/%/setconfig/%'
UNION ALL SELECT 'tenants', count(DISTINCT tenant_id)::text FROM notes WHERE body LIKE 'p/%'
UNION ALL SELECT 'backends', string_agg(DISTINCT split_part(body, '/', 4), ',') FROM notes WHERE body LIKE 'p/%'
UNION ALL SELECT 'seed', count(*)::text FROM notes WHERE id <= 0 AND body = 'seed/' || tenant_id
});
note explain \%pg;
is($pg{written}, $poison_total, 'one row written per transaction on the poisoned pool');
is($pg{mismatched}, 0, 'every row belongs to the tenant its client intended (none to the leftover tenant 1 by mistake)');
is($pg{jwt}, $POISON_CLIENTS * $POISON_TXNS, "JWT-only clients: $pg{jwt} rows");
is($pg{setconfig}, $POISON_CLIENTS * $POISON_TXNS, "set_config-only clients: $pg{setconfig} rows");
is($pg{tenants}, $TENANTS, 'every tenant was served on the poisoned pool');
ok(!grep({ !$poisoned{$_} } split(/,/, $pg{backends})),
	"every transaction ran on one of the two poisoned server connections ($pg{backends})");
is($pg{seed}, 3 * $TENANTS, 'seed rows untouched');
{
	my ($ret, $o, $e) = through_bouncer($poison,
		"SELECT current_setting('easeinv.tenant_id') || '|' || current_setting('request.jwt.claims')");
	is($o, '1|{"tenant_id": 1}', 'the leftovers are still on the pool after the load (nobody reset them)');
}

#-----------------------------------------------------------------------------------------------
# Negative control: the same blank-context check catches a leak when there is one.  The leak
# alias has one server connection and the script sets the tenant with a session-level SET (whose
# value pgbouncer carries over; the extension ignores it, as shown above).
#-----------------------------------------------------------------------------------------------
PostgreSQL::Test::Utils::append_to_file("$dir/leaky.sql", $begin . <<'EOS');
SET easeinv.tenant_id = ':t';
COMMIT;
EOS
my $leaky = finish_pgbench(start_pgbench('negative control', 'simple', 2, 'leak', 5, 'leaky'));
isnt($leaky->{rc}, 0, 'negative control: pgbench with a session-level SET through a pool of one fails');
like($leaky->{err}, qr/LEAK: transaction starts with easeinv.tenant_id = "\d+"/,
	'negative control: ... because the next transaction starts with the previous client\'s value');

$pgb->stop;
note sprintf('010_pgbouncer: %.1f s in all', time - $started);
done_testing();
