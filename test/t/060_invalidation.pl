# 060_invalidation.pl: cache invalidation, NOTIFY easeinv_invalidate, seen by a real listener.
#
# A listener connects to PostgreSQL directly (LISTEN needs a session of its own: through
# pgbouncer in transaction pooling mode the next transaction may run on another server
# connection, which is not listening), while the application writes through a real pgbouncer in
# transaction pooling mode.  Checked on what the listener receives:
#   - a committed movement sends tenant:stock:<product>; a rolled-back one sends nothing, nor
#     does a savepoint rolled back inside a committed transaction;
#   - one transaction moving a product three times sends its key once;
#   - the application's own writes count: a product renamed (tenant:product:<id>), a customer
#     added (tenant:customer:<id>), a draft invoice and its lines (tenant:invoice:<id>);
#   - a statement writing more than 100 products of a tenant sends tenant:product:* instead of
#     one notification per row; an import sends tenant:stock:*;
#   - a tenant's settings changed by the maintenance role: tenant:tenant:<id>;
#   - every payload is tenantId:resourceType:resourceId and far below NOTIFY's 8000 bytes, and
#     each tenant's keys carry its own id.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

use FindBin;
use lib "$FindBin::RealBin/../perl";
use EaseinvTest;

my $pgbouncer = $ENV{PGBOUNCER} || '/usr/sbin/pgbouncer';
plan skip_all => "pgbouncer not found at $pgbouncer (apt-get install pgbouncer, or set PGBOUNCER)"
  unless -x $pgbouncer;

my $node = EaseinvTest::Node->new('main');
$node->init;
$node->start;
$node->safe_psql(
	'postgres', q{
CREATE EXTENSION easeinv;
SELECT easeinv.create_tenant('notify-one', 'Notify One', '27');
SELECT easeinv.create_tenant('notify-two', 'Notify Two', '29');
CREATE ROLE web LOGIN;
GRANT easeinv_app TO web;
-- each tenant: a supplier, a warehouse, a customer location and products P1..P200
BEGIN;
SET LOCAL easeinv.tenant_id = '1';
INSERT INTO easeinv.locations (code, name, kind) VALUES ('SUP', 'Suppliers', 'supplier'),
    ('WH', 'Warehouse', 'warehouse'), ('CUST', 'Customers', 'customer');
INSERT INTO easeinv.products (sku, name, hsn_code, gst_rate)
SELECT 'P' || i, 'Product ' || i, '8471', 18 FROM generate_series(1, 200) i;
INSERT INTO easeinv.customers (name, state_code) VALUES ('Pune shop', '27');
COMMIT;
BEGIN;
SET LOCAL easeinv.tenant_id = '2';
INSERT INTO easeinv.locations (code, name, kind) VALUES ('SUP', 'Suppliers', 'supplier'),
    ('WH', 'Warehouse', 'warehouse');
INSERT INTO easeinv.products (sku, name, hsn_code, gst_rate) VALUES ('Q1', 'Other', '8471', 18);
COMMIT;
});
my %id;
for my $row (split /\n/, $node->safe_psql('postgres', q{
	SELECT tenant_id || '/' || sku || '=' || id FROM easeinv.products
	UNION ALL SELECT tenant_id || '/' || code || '=' || id FROM easeinv.locations}))
{
	my ($k, $v) = split /=/, $row;
	$id{$k} = $v;
}

my $pgb = EaseinvTest::start_pgbouncer(node => $node, databases => { app => 'pool_size=2' });

# the listener, straight to PostgreSQL
my $listener = $node->background_psql('postgres', on_error_stop => 1);
$listener->query_safe('LISTEN easeinv_invalidate');

# the application, through pgbouncer
my $app = $node->session_at($pgb->connstr('app', 'web'));
sub app
{
	my ($sql) = @_;
	my ($out, $err) = EaseinvTest::run_sql($app, $sql);
	is($err, '', "through pgbouncer: $sql") or diag $err;
	return $out;
}
my ($sup, $wh, $cust) = map { $id{"1/$_"} } qw(SUP WH CUST);

# a. a committed movement
app("BEGIN; SELECT easeinv.set_tenant(1); SELECT easeinv.move_stock('a-1', $id{'1/P1'}, $sup, $wh, 10); COMMIT;");
# b. a rolled-back movement; a rolled-back savepoint in a committed transaction
app("BEGIN; SELECT easeinv.set_tenant(1); SELECT easeinv.move_stock('b-1', $id{'1/P2'}, $sup, $wh, 10); ROLLBACK;");
app("BEGIN; SELECT easeinv.set_tenant(1); SAVEPOINT s; SELECT easeinv.move_stock('b-2', $id{'1/P3'}, $sup, $wh, 10); "
	. "ROLLBACK TO s; SELECT easeinv.move_stock('b-3', $id{'1/P4'}, $sup, $wh, 10); COMMIT;");
# c. three movements of one product in one transaction
app("BEGIN; SELECT easeinv.set_tenant(1); SELECT easeinv.move_stock('c-' || i, $id{'1/P5'}, $sup, $wh, 1) "
	. "FROM generate_series(1, 3) i; COMMIT;");
# d, e, g. the application's own writes
app("BEGIN; SELECT easeinv.set_tenant(1); UPDATE easeinv.products SET name = 'Renamed' WHERE id = $id{'1/P6'}; COMMIT;");
my $customer = app("BEGIN; SELECT easeinv.set_tenant(1) \\g /dev/null\n"
	. "INSERT INTO easeinv.customers (name, state_code) VALUES ('Mumbai shop', '27') RETURNING id; COMMIT;");
($customer) = $customer =~ /(\d+)/;
my $invoice = app("BEGIN; SELECT easeinv.set_tenant(1) \\g /dev/null\n"
	. "INSERT INTO easeinv.invoices (customer_id, location_id, invoice_date) "
	. "SELECT min(id), $wh, '2025-10-01' FROM easeinv.customers RETURNING id; COMMIT;");
($invoice) = $invoice =~ /(\d+)/;
app("BEGIN; SELECT easeinv.set_tenant(1); INSERT INTO easeinv.invoice_lines (invoice_id, description, hsn_sac, qty, unit_price, gst_rate) "
	. "VALUES ($invoice, 'Service', '998719', 1, 100, 18); COMMIT;");
# f. a statement writing 150 products
app("BEGIN; SELECT easeinv.set_tenant(1); UPDATE easeinv.products SET unit = 'PCS' WHERE sku ~ '^P[0-9]+\$' AND substr(sku, 2)::int BETWEEN 11 AND 160; COMMIT;");
# the other tenant's movement
app("BEGIN; SELECT easeinv.set_tenant(2); SELECT easeinv.move_stock('q-1', $id{'2/Q1'}, $id{'2/SUP'}, $id{'2/WH'}, 1); COMMIT;");
# an import of movements
app("BEGIN; SET LOCAL client_min_messages = warning; SELECT easeinv.set_tenant(1); SELECT easeinv.begin_import('movements') \\g /dev/null\n"
	. "INSERT INTO import_movements (idempotency_key, sku, from_location, to_location, qty) "
	. "SELECT 'imp-' || i, 'P' || (170 + i), 'SUP', 'WH', '5' FROM generate_series(1, 3) i;\n"
	. "SELECT applied FROM easeinv.apply_import('movements'); COMMIT;");
# i. the maintenance role changes a tenant's settings, directly
$node->safe_psql('postgres', q{SET ROLE easeinv_admin; UPDATE easeinv.tenants SET settings = settings || '{"round_off": true}' WHERE slug = 'notify-one'});
# a marker: every notification before it has arrived once the marker has
$node->safe_psql('postgres', q{NOTIFY easeinv_invalidate, 'marker'});

# collect what the listener received (psql prints notifications after each query)
my $received = '';
my $deadline = time + 30;
while ($received !~ /payload "marker"/ && time < $deadline)
{
	$received .= $listener->query_safe('SELECT 1') . "\n";
	usleep(100_000);
}
my @payloads = $received =~ /Asynchronous notification "easeinv_invalidate" with payload "([^"]*)"/g;
@payloads = grep { $_ ne 'marker' } @payloads;
my %count;
$count{$_}++ for @payloads;
note "received: " . join(' ', sort keys %count);

ok(scalar(@payloads) > 0, 'the listener received notifications');
is($count{"1:stock:$id{'1/P1'}"}, 1, 'a committed movement: tenant:stock:<product>');
ok(!$count{"1:stock:$id{'1/P2'}"}, 'a rolled-back movement sends nothing');
ok(!$count{"1:stock:$id{'1/P3'}"}, 'a rolled-back savepoint sends nothing');
is($count{"1:stock:$id{'1/P4'}"}, 1, 'the rest of that transaction does');
is($count{"1:stock:$id{'1/P5'}"}, 1, 'three movements of a product in one transaction: one notification');
is($count{"1:product:$id{'1/P6'}"}, 1, 'a product renamed by the application: tenant:product:<id>');
is($count{"1:customer:$customer"}, 1, 'a customer added: tenant:customer:<id>');
ok($count{"1:invoice:$invoice"}, 'a draft invoice and its lines: tenant:invoice:<id>');
is($count{'1:product:*'}, 1, 'a statement writing 150 products: tenant:product:*');
ok(!$count{"1:product:$id{'1/P20'}"}, '... and not one notification per product');
is($count{'1:stock:*'}, 1, 'an import: tenant:stock:*');
is($count{'1:tenant:1'}, 1, 'settings changed: tenant:tenant:<id>');
is($count{"2:stock:$id{'2/Q1'}"}, 1, "the other tenant's movement carries its own tenant id");
is(scalar(grep { !/^\d+:(stock|product|customer|invoice|tenant):(\d+|\*)$/ } @payloads), 0,
	'every payload is tenantId:resourceType:resourceId');
is(scalar(grep { length($_) >= 8000 } @payloads), 0, 'every payload is below 8000 bytes');

# LISTEN through pgbouncer in transaction pooling: the README says why a listener connects directly
$listener->quit;
$app->quit;
$pgb->stop;
$node->stop;
done_testing();
