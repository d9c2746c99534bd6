# 030_invoice_crash.pl: issuing invoices and recording payments under concurrent load, across
# crashes of the server.
#
# A tenant with a warehouse (WH), a supplier and a customer location, four stocked products
# (three with plenty of stock, one with 40 units, so that issues needing it are refused for
# insufficient stock once it runs out) and a service that is not stocked; two series (INV and
# B2B) and drafts dated in two financial years (2024-25 and 2025-26), so the tenant numbers in four
# (series, financial year) sequences at once.  1,200 drafts with 1 to 3 stocked lines each.
# (One tenant: the issues of all clients meet on its counters and stock level rows.)
#
# pgbench clients, as an application role, each transaction in its tenant's context:
#   - issue a random draft (an issued one is replayed), or the same one twice in a row (a client
#     retrying), or one of a hot set of 24 (same-invoice races); refusals for insufficient stock
#     (23514) are caught in a PL/pgSQL wrapper (a subtransaction: the number taken is given back);
#   - record a payment with key pay-<invoice>-<k> (k 1..3, amount 7.50 k; never more than an
#     invoice's total), twice in a row; or, on one of the first 48 invoices, a payment and then a
#     refund of 2.50 of the invoice's last payment with key refund-<payment>; payments on drafts
#     (55000) are caught.  Any other error aborts the client and fails the run.
# Every call is logged in the transaction of the call.  pgbench retries (--max-tries) a transaction
# that fails with a deadlock or a serialization failure, so that one does not abort a client and
# hide the crash checks, and the test asserts at the end that none did.
#
#   1. a clean run: pgbench exits 0, then the invariants hold;
#   2. three times, a run killed mid-load: the postmaster is SIGSTOPped, every child gets SIGKILL,
#      then the postmaster; the server restarts (crash recovery) and the invariants hold:
#        - numbers per (tenant, series, financial year) are exactly 1..last_number, no gap, no
#          duplicate, last_number = the number of issued invoices, and every number is the one its
#          series' format gives; drafts have no number;
#        - every issued invoice has exactly one movement per stocked line (keys
#          easeinv:invoice:<id>:line:<n>, the line's product and quantity, WH to the customer
#          location), drafts and service lines have none, and verify_stock() finds no drift;
#        - every header equals the sum of its lines; amount_paid equals payments minus refunds,
#          stays within 0..grand_total, and the status follows it;
#        - every issued invoice has exactly one first-issue log row, with its number; every stored
#          payment or refund exactly one first-store log row;
#        - no (tenant, number), movement key or payment key stored twice (sequential scans) and
#          amcheck passes on the indexes of the invoice tables;
#        - re-issuing the last invoice issued before the crash returns the same number
#          (replayed), posts nothing, and replaying the last payment returns it;
#   3. a clean run after the restarts, then the invariants again.
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
my $N = 1200;         # drafts
my $CLIENTS = 8;

my $node = EaseinvTest::Node->new('main');
$node->init;
$node->append_conf('postgresql.conf', "max_connections = 30\njit = off\n");
$node->start;

#-----------------------------------------------------------------------------------------------
# Tenants, locations, products, stock, series, drafts; the load plan, the logs, the wrappers.
#-----------------------------------------------------------------------------------------------
$node->safe_psql(
	'postgres', q{
CREATE EXTENSION easeinv;
CREATE EXTENSION amcheck;
SELECT easeinv.create_tenant('inv-one', 'Invoice One', '27');

-- as the superuser, without a context, naming the tenant
INSERT INTO easeinv.locations (tenant_id, code, name, kind)
SELECT t.id, l.code, l.code || ' of ' || t.slug, l.kind
  FROM easeinv.tenants t,
       (VALUES ('WH', 'warehouse'), ('SUP', 'supplier'), ('CUS', 'customer')) l (code, kind)
 ORDER BY t.id, l.code;
INSERT INTO easeinv.products (tenant_id, sku, name, hsn_code, gst_rate, track_stock)
SELECT t.id, p.sku, p.name, p.hsn, p.rate, p.stocked
  FROM easeinv.tenants t,
       (VALUES ('P1', 'Tea', '0902', 5, true), ('P2', 'Soap', '3401', 18, true),
               ('P3', 'Fan', '8414', 28, true), ('P4', 'Saffron', '0910', 5, true),
               ('SVC', 'Installation', '9987', 18, false)) p (sku, name, hsn, rate, stocked)
 ORDER BY t.id, p.sku;
INSERT INTO easeinv.invoice_series (tenant_id, code, kind, format, description)
SELECT t.id, s.code, 'invoice', s.format, s.code || ' series'
  FROM easeinv.tenants t, (VALUES ('INV', 'INV/{FY}/{N:6}'), ('B2B', 'B2B/{YY}/{N}')) s (code, format)
 ORDER BY t.id, s.code;

CREATE ROLE web LOGIN;
GRANT easeinv_app TO web;

CREATE FUNCTION loc(t bigint, c text) RETURNS bigint LANGUAGE sql STABLE
    AS $$ SELECT id FROM easeinv.locations WHERE tenant_id = t AND code = c $$;
CREATE FUNCTION prod(t bigint, s text) RETURNS bigint LANGUAGE sql STABLE
    AS $$ SELECT id FROM easeinv.products WHERE tenant_id = t AND sku = s $$;
});

# Opening stock and the drafts, per tenant in its context.  1 to 3 stocked lines per draft, of P1
# to P3 mostly and of P4 (scarce) in about one line in ten, in random order; one draft in seven
# also has a line of the service.
$node->safe_psql(
	'postgres', qq{
SELECT setseed(0.3030);
BEGIN;
DO \$\$
DECLARE
    t bigint;
BEGIN
    FOR t IN SELECT id FROM easeinv.tenants ORDER BY id LOOP
        PERFORM easeinv.set_tenant(t);
        PERFORM easeinv.move_stock('open-' || s, prod(t, s), loc(t, 'SUP'), loc(t, 'WH'),
                                   CASE s WHEN 'P4' THEN 40 ELSE 1000000 END, 'opening stock')
           FROM unnest(ARRAY['P1', 'P2', 'P3', 'P4']) s;
        INSERT INTO easeinv.invoices (series, invoice_date, location_id, notes)
        SELECT CASE WHEN n % 4 = 0 THEN 'B2B' ELSE 'INV' END,
               CASE WHEN n % 3 = 0 THEN DATE '2025-03-20' ELSE DATE '2025-06-15' END,
               loc(t, 'WH'), 'draft ' || n
          FROM generate_series(1, $N) n ORDER BY n;
        INSERT INTO easeinv.invoice_lines (invoice_id, line_no, product_id, qty, unit_price)
        SELECT i.id, l, prod(t, CASE WHEN l > 1 + i.id % 3 THEN 'SVC' WHEN r < 0.10 THEN 'P4'
                                     ELSE 'P' || (1 + (r * 1000)::int % 3) END),
               1 + (random() * 4)::int, round((50 + random() * 450)::numeric, 2)
          FROM easeinv.invoices i,
               LATERAL generate_series(1, 1 + (i.id % 3)::int + (i.id % 7 = 0)::int) l,
               LATERAL (SELECT random() + 0 * l AS r) x
         WHERE i.tenant_id = t
         ORDER BY i.id, l;
    END LOOP;
END \$\$;
COMMIT;
});

$node->safe_psql(
	'postgres', q{
-- the load plan: row n is an invoice of a tenant
CREATE TABLE load_invoices AS
SELECT row_number() OVER (ORDER BY tenant_id, id)::int AS n, tenant_id AS tenant, id AS invoice_id
  FROM easeinv.invoices;
ALTER TABLE load_invoices ADD PRIMARY KEY (n);
GRANT SELECT ON load_invoices TO easeinv_app;

-- one row per call, in the transaction of the call (no index: cheap concurrent inserts)
CREATE TABLE issue_log (
    invoice_id  bigint NOT NULL,
    tenant      bigint NOT NULL,
    outcome     text NOT NULL,
    number      text,
    fiscal_year text,
    replayed    boolean,
    pid         int NOT NULL DEFAULT pg_backend_pid()
);
CREATE TABLE pay_log (
    invoice_id  bigint NOT NULL,
    tenant      bigint NOT NULL,
    kind        text NOT NULL,
    key         text,
    outcome     text NOT NULL,
    payment_id  bigint,
    replayed    boolean,
    pid         int NOT NULL DEFAULT pg_backend_pid()
);
GRANT INSERT ON issue_log, pay_log TO easeinv_app;

-- try_issue(i): issue invoice i of the caller's tenant; a refusal for insufficient stock is
-- caught and logged (its subtransaction gives the number back); any other error aborts.
CREATE FUNCTION try_issue(i bigint) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    r easeinv.invoice_result;
    who text := current_user;
BEGIN
    BEGIN
        r := easeinv.issue_invoice(i);
    EXCEPTION WHEN check_violation THEN
        IF current_user <> who THEN
            RAISE EXCEPTION 'ASSERTION FAILED: after a refused issue the role is %, not %', current_user, who;
        END IF;
        INSERT INTO issue_log (invoice_id, tenant, outcome) VALUES (i, easeinv.current_tenant(), 'insufficient');
        RETURN 'insufficient';
    END;
    IF current_user <> who THEN
        RAISE EXCEPTION 'ASSERTION FAILED: after issue_invoice the role is %, not %', current_user, who;
    END IF;
    IF r.number IS NULL OR r.invoice_id <> i OR r.status = 'draft' THEN
        RAISE EXCEPTION 'ASSERTION FAILED: issue_invoice(%) returned %', i, r;
    END IF;
    INSERT INTO issue_log (invoice_id, tenant, outcome, number, fiscal_year, replayed)
    VALUES (i, easeinv.current_tenant(), 'issued', r.number, r.fiscal_year, r.replayed);
    RETURN r.number || CASE WHEN r.replayed THEN ' replayed' ELSE '' END;
END $$;

-- try_pay(i, k): payment k (1..3) of invoice i, always the same payload for the same key;
-- 7.50 + 15 + 22.50 = 45 is less than any invoice's total, so overpayment is never legitimate.
-- A payment on a draft (55000) is caught and logged.
CREATE FUNCTION try_pay(i bigint, k int) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    p easeinv.payment;
    key text := 'pay-' || i || '-' || k;
BEGIN
    BEGIN
        p := easeinv.record_payment(key, i, 7.50 * k, 'upi',
                                    timestamptz '2025-06-15 12:00+05:30' + k * interval '1 hour', 'ref ' || k);
    EXCEPTION WHEN object_not_in_prerequisite_state THEN
        INSERT INTO pay_log (invoice_id, tenant, kind, key, outcome) VALUES (i, easeinv.current_tenant(), 'payment', key, 'draft');
        RETURN 'draft';
    END;
    INSERT INTO pay_log (invoice_id, tenant, kind, key, outcome, payment_id, replayed)
    VALUES (i, easeinv.current_tenant(), 'payment', key, 'stored', p.id, p.replayed);
    RETURN 'stored ' || p.id || ' ' || p.replayed;
END $$;

-- try_refund(i): refund 2.50 of the last payment of invoice i, key refund-<payment> (one refund
-- per payment, at most 2.50 of at least 7.50: never refused).
CREATE FUNCTION try_refund(i bigint) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    p easeinv.payment;
    pid bigint;
BEGIN
    SELECT id INTO pid FROM easeinv.payments WHERE invoice_id = i AND kind = 'payment' ORDER BY id DESC LIMIT 1;
    IF pid IS NULL THEN
        INSERT INTO pay_log (invoice_id, tenant, kind, outcome) VALUES (i, easeinv.current_tenant(), 'refund', 'no payment');
        RETURN 'no payment';
    END IF;
    p := easeinv.refund_payment('refund-' || pid, pid, 2.50);
    INSERT INTO pay_log (invoice_id, tenant, kind, key, outcome, payment_id, replayed)
    VALUES (i, easeinv.current_tenant(), 'refund', 'refund-' || pid, 'stored', p.id, p.replayed);
    RETURN 'stored ' || p.id || ' ' || p.replayed;
END $$;
});

is( $node->safe_psql(
		'postgres', q{
SELECT (SELECT count(*) FROM easeinv.invoices WHERE status = 'draft')
    || '|' || (SELECT count(*) FROM easeinv.invoices i WHERE NOT EXISTS
                 (SELECT 1 FROM easeinv.invoice_lines l WHERE l.tenant_id = i.tenant_id AND l.invoice_id = i.id))
    || '|' || (SELECT min(grand_total) > 45 FROM easeinv.invoices)
    || '|' || (SELECT count(DISTINCT (tenant_id, series, CASE WHEN invoice_date < '2025-04-01' THEN 1 ELSE 2 END)) FROM easeinv.invoices)
    || '|' || (SELECT count(DISTINCT p.sku) FROM easeinv.invoice_lines l JOIN easeinv.products p ON p.tenant_id = l.tenant_id AND p.id = l.product_id)
    || '|' || (SELECT string_agg(DISTINCT n::text, ',') FROM (
                 SELECT count(*) FILTER (WHERE p.track_stock) AS n FROM easeinv.invoice_lines l
                   JOIN easeinv.products p ON p.tenant_id = l.tenant_id AND p.id = l.product_id
                  GROUP BY l.tenant_id, l.invoice_id) x)
}),
	"$N|0|true|4|5|1,2,3",
	"$N drafts, each over 45.00, in 4 (series, financial year) sequences, lines of all 5 products, 1 to 3 stocked lines each");

#-----------------------------------------------------------------------------------------------
# pgbench scripts.
#-----------------------------------------------------------------------------------------------
my $dir = PostgreSQL::Test::Utils::tempdir('pgbench');
my $pick = "SELECT tenant AS t, invoice_id AS i FROM load_invoices WHERE n = :n \\gset\n";
my $issue = "BEGIN;\nSELECT easeinv.set_tenant(:t);\nSELECT try_issue(:i);\nCOMMIT;\n";
my $pay = "\\set k random(1, 3)\nBEGIN;\nSELECT easeinv.set_tenant(:t);\nSELECT try_pay(:i, :k);\nCOMMIT;\n";
my $refund = "BEGIN;\nSELECT easeinv.set_tenant(:t);\nSELECT try_refund(:i);\nCOMMIT;\n";
my %scripts = (
	'issue.sql' => "\\set n random(1, $N)\n$pick$issue",
	'retry.sql' => "\\set n random(1, $N)\n$pick$issue$issue",
	'hot.sql' => "\\set n random(1, 24)\n$pick$issue$pay",
	'pay.sql' => "\\set n random(1, $N)\n$pick$pay$pay",
	'refund.sql' => "\\set n random(1, 48)\n$pick$pay$refund");
PostgreSQL::Test::Utils::append_to_file("$dir/$_", $scripts{$_}) foreach keys %scripts;

# transactions pgbench retried after a deadlock or a serialization failure, per run
my %retried;

sub start_pgbench
{
	my ($label, $txns) = @_;
	my @cmd = (
		'pgbench', '-n', '-M', 'prepared', '-c', $CLIENTS, '-j', 2, '-t', $txns, '--max-tries', 10,
		'-f', "$dir/issue.sql\@5", '-f', "$dir/retry.sql\@1", '-f', "$dir/hot.sql\@1",
		'-f', "$dir/pay.sql\@2", '-f', "$dir/refund.sql\@1",
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
	$run->{retried} = $run->{out} =~ /^number of transactions retried: (\d+)/m ? $1 : 0;
	$retried{ $run->{label} } = $run->{retried};
	note "$run->{label} exit code $run->{rc}, $run->{retried} transactions retried\nstdout:\n$run->{out}\nstderr:\n$run->{err}";
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

# check_invoices($label): the invariants, as the superuser (no row level security).
sub check_invoices
{
	my ($label) = @_;

	# numbering: per (tenant, series, financial year) the sequence numbers given are exactly
	# 1..last_number; every number is the one the series' format gives; drafts have none
	is( $node->safe_psql(
			'postgres', q{
SELECT (SELECT count(*) FROM (
            SELECT FROM (SELECT tenant_id, series, fiscal_year, count(*) AS given, count(DISTINCT sequence_no) AS seqs,
                                count(DISTINCT number) AS numbers, min(sequence_no) AS lo, max(sequence_no) AS hi
                           FROM easeinv.invoices WHERE status <> 'draft' GROUP BY 1, 2, 3) n
              FULL JOIN easeinv.invoice_counters c USING (tenant_id, series, fiscal_year)
             WHERE n.given IS DISTINCT FROM c.last_number OR n.seqs <> n.given OR n.numbers <> n.given
                OR n.lo <> 1 OR n.hi <> n.given) b)
    || '|' || (SELECT count(*) FROM easeinv.invoices i JOIN easeinv.invoice_series s ON s.tenant_id = i.tenant_id AND s.code = i.series
                WHERE i.status <> 'draft'
                  AND (i.number IS DISTINCT FROM easeinv.invoice_number(s.format, i.invoice_date, i.sequence_no)
                       OR i.fiscal_year IS DISTINCT FROM CASE WHEN i.invoice_date < '2025-04-01' THEN '2024-25' ELSE '2025-26' END
                       OR i.issued_at IS NULL))
    || '|' || (SELECT count(*) FROM easeinv.invoices
                WHERE status = 'draft' AND (number IS NOT NULL OR sequence_no IS NOT NULL OR fiscal_year IS NOT NULL OR issued_at IS NOT NULL))
}),
		'0|0|0',
		"$label: numbers per (tenant, series, financial year) are 1..last_number with no gap or duplicate, as the format gives; drafts have none");

	# the stock: one movement per stocked line of an issued invoice, with the line's product and
	# quantity, from WH to the customer location; none for drafts or service lines; no drift
	is( $node->safe_psql(
			'postgres', q{
WITH want AS (
    SELECT l.tenant_id, 'easeinv:invoice:' || l.invoice_id || ':line:' || l.line_no AS key, l.product_id, l.qty
      FROM easeinv.invoice_lines l
      JOIN easeinv.invoices i ON i.tenant_id = l.tenant_id AND i.id = l.invoice_id
      JOIN easeinv.products p ON p.tenant_id = l.tenant_id AND p.id = l.product_id
     WHERE i.status <> 'draft' AND p.track_stock),
got AS (
    SELECT m.tenant_id, m.idempotency_key AS key, m.product_id, m.qty,
           m.from_location_id = loc(m.tenant_id, 'WH') AND m.to_location_id = loc(m.tenant_id, 'CUS') AS route_ok
      FROM easeinv.stock_movements m WHERE m.idempotency_key LIKE 'easeinv:%')
SELECT (SELECT count(*) FROM want w FULL JOIN got g USING (tenant_id, key)
         WHERE w.key IS NULL OR g.key IS NULL OR w.product_id <> g.product_id OR w.qty <> g.qty OR NOT g.route_ok)
    || '|' || (SELECT count(*) FROM easeinv.verify_stock())
    || '|' || (SELECT count(*) FILTER (WHERE s <> 0) FROM (SELECT sum(on_hand) s FROM easeinv.stock_levels GROUP BY tenant_id, product_id) x)
    || '|' || (SELECT count(*) FROM easeinv.stock_levels s JOIN easeinv.locations l ON l.tenant_id = s.tenant_id AND l.id = s.location_id
                WHERE l.kind = 'warehouse' AND s.available < 0)
}),
		'0|0|0|0',
		"$label: exactly one movement per stocked line of every issued invoice, none for drafts; verify_stock() empty; double entry; no negative warehouse");

	# the amounts
	is( $node->safe_psql(
			'postgres', q{
SELECT (SELECT count(*) FROM easeinv.invoices i
          LEFT JOIN (SELECT tenant_id, invoice_id, sum(gross) g, sum(discount) d, sum(taxable_value) t, sum(cgst) c,
                            sum(sgst) s, sum(igst) ig, sum(cess) e, sum(line_total) tot
                       FROM easeinv.invoice_lines GROUP BY 1, 2) l ON l.tenant_id = i.tenant_id AND l.invoice_id = i.id
         WHERE (i.subtotal, i.discount, i.taxable_value, i.cgst, i.sgst, i.igst, i.cess, i.grand_total - i.round_off)
               IS DISTINCT FROM (l.g, l.d, l.t, l.c, l.s, l.ig, l.e, l.tot))
    || '|' || (SELECT count(*) FROM easeinv.invoices i
                WHERE i.amount_paid <> coalesce((SELECT sum(CASE p.kind WHEN 'payment' THEN p.amount ELSE -p.amount END)
                                                   FROM easeinv.payments p WHERE p.tenant_id = i.tenant_id AND p.invoice_id = i.id), 0)
                   OR i.amount_paid < 0 OR i.amount_paid > i.grand_total)
    || '|' || (SELECT count(*) FROM easeinv.invoices
                WHERE status <> CASE WHEN status = 'draft' THEN 'draft'
                                     WHEN amount_paid + amount_credited <= 0 THEN 'issued'
                                     WHEN amount_paid + amount_credited < grand_total THEN 'partially_paid' ELSE 'paid' END
                   OR balance_due <> CASE WHEN status = 'draft' THEN 0 ELSE grand_total - amount_paid - amount_credited END)
    || '|' || (SELECT count(*) FROM easeinv.payments p JOIN easeinv.invoices i ON i.tenant_id = p.tenant_id AND i.id = p.invoice_id
                WHERE i.status = 'draft')
    || '|' || (SELECT count(*) FROM easeinv.payments r JOIN easeinv.payments p ON p.tenant_id = r.tenant_id AND p.id = r.refunds_id
                WHERE r.kind = 'refund' AND (p.invoice_id <> r.invoice_id OR r.idempotency_key <> 'refund-' || p.id))
}),
		'0|0|0|0|0',
		"$label: every header is the sum of its lines; amount_paid = payments - refunds within 0..grand_total; status and balance follow; no payment on a draft");

	# nothing stored twice: the heap, not the unique index, says
	is( $node->safe_psql(
			'postgres', q{
SET enable_indexscan = off; SET enable_indexonlyscan = off; SET enable_bitmapscan = off;
SELECT (SELECT count(*) FROM (SELECT FROM easeinv.invoices WHERE number IS NOT NULL GROUP BY tenant_id, kind, fiscal_year, number HAVING count(*) > 1) d)
    || '|' || (SELECT count(*) FROM (SELECT FROM easeinv.invoices GROUP BY tenant_id, id HAVING count(*) > 1) d)
    || '|' || (SELECT count(*) FROM (SELECT FROM easeinv.invoice_counters GROUP BY tenant_id, series, fiscal_year HAVING count(*) > 1) d)
    || '|' || (SELECT count(*) FROM (SELECT FROM easeinv.stock_movements GROUP BY tenant_id, idempotency_key HAVING count(*) > 1) d)
    || '|' || (SELECT count(*) FROM (SELECT FROM easeinv.payments GROUP BY tenant_id, idempotency_key HAVING count(*) > 1) d)
    || '|' || (SELECT count(*) FROM (SELECT FROM easeinv.payments GROUP BY tenant_id, id HAVING count(*) > 1) d)
}),
		'0|0|0|0|0|0',
		"$label: no invoice number, invoice id, counter, movement key, payment key or payment id stored twice (sequential scans)");

	my $checked = $node->safe_psql(
		'postgres', q{
SELECT c.relname, bt_index_check(i.indexrelid, true)
  FROM pg_index i
  JOIN pg_class c ON c.oid = i.indexrelid
  JOIN pg_class r ON r.oid = i.indrelid
 WHERE r.relnamespace = 'easeinv'::regnamespace AND r.relkind = 'r' AND c.relkind = 'i'
   AND c.relam = (SELECT oid FROM pg_am WHERE amname = 'btree')
   AND r.relname ~ '^(invoices|invoice_lines|payments|stock_movements|stock_levels)_p[0-9]{3}$|^invoice_counters$'
});
	my $indexes = scalar(my @names = split /\n/, $checked);
	cmp_ok($indexes, '>=', 16 * 5,
		"$label: amcheck bt_index_check (heapallindexed) passes on every index of the invoice tables ($indexes)");

	# the logs, written in the transaction of each call: after a crash as before, every issued
	# invoice has exactly one first-issue row with its number, every logged number is the
	# invoice's; every stored payment and refund has exactly one first-store row
	my %got = split /[|\n]/, $node->safe_psql(
		'postgres', q{
SELECT 'issued', count(*) FROM easeinv.invoices WHERE status <> 'draft'
UNION ALL SELECT 'unlogged', count(*) FROM easeinv.invoices i
  LEFT JOIN (SELECT tenant, invoice_id, count(*) AS firsts, min(number) AS number FROM issue_log
              WHERE outcome = 'issued' AND NOT replayed GROUP BY 1, 2) g
         ON g.tenant = i.tenant_id AND g.invoice_id = i.id
  WHERE i.status <> 'draft' AND (g.firsts IS DISTINCT FROM 1 OR g.number IS DISTINCT FROM i.number)
UNION ALL SELECT 'mislogged', count(*) FROM issue_log g
  LEFT JOIN easeinv.invoices i ON i.tenant_id = g.tenant AND i.id = g.invoice_id
  WHERE g.outcome = 'issued' AND (i.number IS DISTINCT FROM g.number OR i.fiscal_year IS DISTINCT FROM g.fiscal_year)
UNION ALL SELECT 'payments', count(*) FROM easeinv.payments
UNION ALL SELECT 'unlogged_payments', count(*) FROM easeinv.payments p
  LEFT JOIN (SELECT tenant, payment_id, count(*) AS firsts FROM pay_log WHERE outcome = 'stored' AND NOT replayed GROUP BY 1, 2) g
         ON g.tenant = p.tenant_id AND g.payment_id = p.id
  WHERE g.firsts IS DISTINCT FROM 1
UNION ALL SELECT 'mislogged_payments', count(*) FROM pay_log g
  LEFT JOIN easeinv.payments p ON p.tenant_id = g.tenant AND p.id = g.payment_id
  WHERE g.outcome = 'stored' AND (p.id IS NULL OR p.idempotency_key <> g.key OR p.invoice_id <> g.invoice_id OR p.kind <> g.kind)
UNION ALL SELECT 'issue_calls', count(*) FROM issue_log
UNION ALL SELECT 'issue_replayed', count(*) FROM issue_log WHERE replayed
UNION ALL SELECT 'insufficient', count(*) FROM issue_log WHERE outcome = 'insufficient'
UNION ALL SELECT 'pay_calls', count(*) FROM pay_log
UNION ALL SELECT 'pay_replayed', count(*) FROM pay_log WHERE replayed
UNION ALL SELECT 'refunds', count(*) FROM easeinv.payments WHERE kind = 'refund'
UNION ALL SELECT 'paid_drafts', count(*) FROM pay_log WHERE outcome = 'draft'
});
	note "$label: " . join(', ', map { "$_ $got{$_}" } sort keys %got);
	is($got{unlogged}, 0, "$label: every issued invoice has exactly one first-issue log row, with its number");
	is($got{mislogged}, 0, "$label: every logged issue names the invoice's number and financial year");
	is($got{unlogged_payments}, 0, "$label: every stored payment and refund has exactly one first-store log row");
	is($got{mislogged_payments}, 0, "$label: every logged payment id is the one stored under its key");
	return \%got;
}

#-----------------------------------------------------------------------------------------------
# 1. A clean run.
#-----------------------------------------------------------------------------------------------
clean_run('before the crash', 100);
my $before = check_invoices('before the crash');
cmp_ok($before->{issued}, '>', 0, 'before the crash: invoices were issued');
cmp_ok($before->{issue_replayed}, '>', 0, 'before the crash: issues were replayed');
cmp_ok($before->{pay_replayed}, '>', 0, 'before the crash: payments were replayed');

#-----------------------------------------------------------------------------------------------
# 2. Killed mid-load, three times, after a different number of calls of the killed run.
#-----------------------------------------------------------------------------------------------

my $state = $before;
foreach my $round (1 .. 3)
{
	my $label = "crash $round";
	my $threshold = 100 * $round;
	my $calls_before = $state->{issue_calls} + $state->{pay_calls};
	my $load = start_pgbench("$label: killed run", 2000);
	my $deadline = time + 60;
	my $calls = $calls_before;
	while (time < $deadline)
	{
		$calls = $node->safe_psql('postgres', 'SELECT (SELECT count(*) FROM issue_log) + (SELECT count(*) FROM pay_log)');
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

	my $after = check_invoices($label);
	cmp_ok($after->{issued}, '>', $state->{issued}, "$label: invoices issued by the killed run were kept");

	# Re-issue the last invoice issued before the crash, as the application: the same number
	# back, replayed, and no movement posted.
	my ($id, $tenant, $number, $movements) = split /\|/, $node->safe_psql(
		'postgres', q{
SELECT i.id, i.tenant_id, i.number,
       (SELECT count(*) FROM easeinv.stock_movements m WHERE m.tenant_id = i.tenant_id
           AND m.idempotency_key LIKE 'easeinv:invoice:' || i.id || ':%')
  FROM easeinv.invoices i WHERE i.status <> 'draft' ORDER BY i.issued_at DESC, i.id DESC LIMIT 1
});
	my ($ret, $out, $err) = $node->psql(
		'postgres', qq{
BEGIN;
SELECT easeinv.set_tenant($tenant) \\gset
SELECT number, status, replayed FROM easeinv.issue_invoice($id);
COMMIT;
},
		extra_params => [ '-U', 'web', '-v', 'VERBOSITY=verbose' ]);
	is($err, '', "$label: re-issue of the last invoice issued before the crash: no error");
	like($out, qr/^\Q$number\E\|(issued|partially_paid)\|t$/,
		"$label: ... the same number back ($number, invoice $id), replayed");
	is( $node->safe_psql(
			'postgres', qq{
SELECT count(*) FROM easeinv.stock_movements WHERE tenant_id = $tenant AND idempotency_key LIKE 'easeinv:invoice:$id:%'}),
		$movements, "$label: ... and no movement posted again ($movements)");

	# Replay the last payment stored before the crash: the same payment back.
	my ($pay_id, $pay_tenant, $pay_invoice, $k) = split /\|/, $node->safe_psql(
		'postgres', q{
SELECT id, tenant_id, invoice_id, split_part(idempotency_key, '-', 3) FROM easeinv.payments
 WHERE kind = 'payment' ORDER BY id DESC LIMIT 1
});
	($ret, $out, $err) = $node->psql(
		'postgres', qq{
BEGIN;
SELECT easeinv.set_tenant($pay_tenant) \\gset
SELECT try_pay($pay_invoice, $k);
COMMIT;
},
		extra_params => [ '-U', 'web', '-v', 'VERBOSITY=verbose' ]);
	is($err, '', "$label: replay of the last payment stored before the crash: no error");
	is($out, "stored $pay_id true", "$label: ... the same payment back (id $pay_id), replayed");
	$state = $after;
}

#-----------------------------------------------------------------------------------------------
# 3. A clean run after the restarts.
#-----------------------------------------------------------------------------------------------
clean_run('after the restart', 100);
my $final = check_invoices('after the restart');
cmp_ok($final->{issued}, '>', $state->{issued}, 'after the restart: more invoices were issued');
cmp_ok($final->{insufficient}, '>', 0, 'issues refused for insufficient stock (P4) were given back their numbers');
cmp_ok($final->{refunds}, '>', 0, 'refunds were stored');

# pgbench retries a transaction that failed with a deadlock (40P01) or a serialization failure
# (40001), so that such a failure does not abort a client and hide the crash checks; but no
# transaction of this load should ever need it: every transaction issues one invoice or records
# one payment or refund, and nothing else is locked.
is(join(', ', map { "$_: $retried{$_}" } grep { $retried{$_} } sort keys %retried), '',
	'no transaction of the load failed with a deadlock or a serialization failure (retried by pgbench)');

$node->stop;
note sprintf('030_invoice_crash: %.1f s in all', time - $started);
done_testing();
