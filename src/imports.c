/*-------------------------------------------------------------------------
 * imports.c
 *	  Bulk imports: begin_import, check_import, apply_import, import_time,
 *	  import_numeric, import_text.
 *
 * An import is one transaction of one tenant:
 *	  begin_import(kind) creates the staging table pg_temp.import_<kind>, ON
 *		 COMMIT DROP, whose columns are the CSV's, all text, so that COPY never
 *		 stops at a bad value and every bad row can be reported;
 *	  COPY import_<kind> FROM STDIN (FORMAT csv, HEADER) fills it;
 *	  check_import(kind) lists every bad row (row, column, value, reason);
 *	  apply_import(kind, skip_bad) applies the batch set-based.
 *
 * Every kind goes through the same steps, each one statement over the whole
 * batch (no per-row calls), as the owner of the tables (owner_begin, owner.c):
 *	  1. resolve: pg_temp.import_rows holds every staged row with its number in
 *		 the file, its parsed values, the ids its codes name, the stored row its
 *		 key already names (and the first field that differs from it), and the
 *		 first row of the file with the same key (and whether its payload
 *		 differs); written in (key, row) order, which the insert relies on;
 *	  2. check: pg_temp.import_rejects gets one row per bad field, from one scan;
 *		 all or nothing refuses the batch (22023) naming the first 20 bad rows,
 *		 skip_bad leaves them out;
 *	  3. apply: the rows that are new (first of their key in the file, key not
 *		 stored, not bad) are inserted in key order with ON CONFLICT DO NOTHING;
 *		 for the ledger kinds the same statement upserts stock_levels once per
 *		 (product, location) from the aggregated deltas of the inserted rows, in
 *		 (product, location) order, so two imports wait for each other in one
 *		 order and never deadlock;
 *	  4. race: a key stored meanwhile by a concurrent import is not inserted; it
 *		 is compared again with what is stored now: a replay or a bad row;
 *	  5. the negative-stock rule on the batch's result (23514).
 *
 * Rows whose key is stored with the same payload, or repeated in the file with
 * the same payload, are replays; blank rows (every field empty) and opening
 * stock of zero are skipped.  rows = applied + replayed + rejected + skipped.
 *
 * The statements (the rule of owner.c: bare operators under the pinned path,
 * easeinv.x and pg_temp.x qualified; the tenant is always a parameter, $1):
 *	  statements[]		   what every kind runs alike: kept plans (plans.h);
 *	  kind_statements[]	   what each kind runs its own way (counting and
 *						   analyzing its staging table, the payload its repeated
 *						   keys must agree on, its counts, its insert, its race
 *						   check): kept plans, an entry per step and kind;
 *	  assembled			   four statements whose text C cannot write out in
 *						   advance, each built by one function beside which an
 *						   assembled example stands, and logged at DEBUG1 as
 *						   "easeinv import <step>: <sql>" (SET client_min_messages
 *						   = debug1 to see them):
 *		create_staging	 "staging": the kind's columns, each of type text;
 *		grant_to_caller	 "grant": the caller's role name (GRANT takes no parameters);
 *		create_rows		 "resolve": columns derived from the kind's checks and
 *						 columns, the stored-row join chosen by the batch's size,
 *						 and import_text only where 0.5.0's SQL is installed;
 *		create_rejects	 "rejects": one VALUES row per check of the kind.
 *	  The assembled statements run once each (SPI_execute_with_args, the
 *	  tenant as $1), so each is planned for its batch.
 *-------------------------------------------------------------------------
 */
#include "easeinv.h"
#include "events.h"
#include "ledger.h"
#include "numbers.h"
#include "owner.h"
#include "plans.h"
#include "result.h"

#include <ctype.h>

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "portability/instr_time.h"
#include "storage/lock.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"

PG_FUNCTION_INFO_V1(begin_import);
PG_FUNCTION_INFO_V1(check_import);
PG_FUNCTION_INFO_V1(apply_import);
PG_FUNCTION_INFO_V1(import_time);
PG_FUNCTION_INFO_V1(import_numeric);
PG_FUNCTION_INFO_V1(import_text);

/* the work_mem an apply uses at least: its sorts and aggregates are over the whole batch */
#define IMPORT_WORK_MEM		"128MB"
#define IMPORT_WORK_MEM_KB	(128 * 1024)

/* up to this many staged rows, each key's stored row is found by an index probe */
#define IMPORT_PROBE_ROWS	100000
/* above this many, the staged and resolved rows are analyzed for the plans that follow */
#define IMPORT_ANALYZE_ROWS	10000

#define MAX_COLUMNS	10
#define MAX_CHECKS	12

typedef struct ImportRun ImportRun;

/* ---------------------------------------------------------------- statements of every kind */

/* internal locations: the kinds that hold stock */
#define INTERNAL_KIND(k)	k ".kind = ANY ('{warehouse,store,bin}'::text[])"

typedef enum ImportStatement
{
	ST_TEMP_EXISTS,
	ST_STAGING_OWNED,
	ST_DROP_ROWS,
	ST_DROP_REJECTS,
	ST_ANALYZE_ROWS,
	ST_REPEATED_KEYS,
	ST_REJECTS_FIRST,
	ST_REJECTS_COUNT,
	ST_REJECTS_ALL,
	ST_OPENING_MAKE,
	ST_OPENING_READ,
	ST_NEGATIVE,
	ST_RULES_SEEN,
	ST_RULES_CHANGED,
	ST_COUNT
} ImportStatement;

static const PlanStatement statements[ST_COUNT] = {
	/* $1: a temporary table's name */
	[ST_TEMP_EXISTS] = {"SELECT to_regclass('pg_temp.' || $1) IS NOT NULL", 1, {TEXTOID}},
	/* $1: the staging table's name, $2: the owner (no row: there is none) */
	[ST_STAGING_OWNED] = {"SELECT c.relkind = 'r' AND c.relowner = $2 FROM pg_catalog.pg_class c"
		" WHERE c.oid = to_regclass('pg_temp.' || $1)", 2, {TEXTOID, OIDOID}},
	[ST_DROP_ROWS] = {"DROP TABLE pg_temp.import_rows"},
	[ST_DROP_REJECTS] = {"DROP TABLE pg_temp.import_rejects"},
	[ST_ANALYZE_ROWS] = {"ANALYZE pg_temp.import_rows"},
	/* a key repeated in the file (KS_REPEATS then compares the payloads) */
	[ST_REPEATED_KEYS] = {"SELECT count(*) FROM pg_temp.import_rows r WHERE r.n <> r.first_n AND r.k IS NOT NULL"},
	[ST_REJECTS_FIRST] = {"SELECT format('row %s, %s: %s (%L)', r.row_no, r.column_name, r.reason,"
		" CASE WHEN length(r.value) > 80 THEN left(r.value, 77) || '...' ELSE r.value END)"
		" FROM pg_temp.import_rejects r ORDER BY r.row_no, r.column_name LIMIT 20"},
	[ST_REJECTS_COUNT] = {"SELECT count(*) FROM pg_temp.import_rejects"},
	[ST_REJECTS_ALL] = {"SELECT row_no, column_name, value, reason FROM pg_temp.import_rejects"
		" ORDER BY row_no, column_name"},
	/* the opening-stock kind's virtual location: a concurrent first import waits, then takes it */
	[ST_OPENING_MAKE] = {"INSERT INTO easeinv.locations (tenant_id, code, name, kind)"
		" VALUES ($1, 'OPENING', 'Opening stock', 'adjustment')"
		" ON CONFLICT (tenant_id, code) WHERE deleted_at IS NULL DO NOTHING", 1, {INT8OID}},
	[ST_OPENING_READ] = {"SELECT id, kind FROM easeinv.locations"
		" WHERE tenant_id = $1 AND code = 'OPENING' AND deleted_at IS NULL", 1, {INT8OID}},
	/* an internal level the batch left below zero (written now: updated_at) */
	[ST_NEGATIVE] = {"SELECT format('product %s at location %s would have %s available', p.sku, c.code, l.available)"
		" FROM easeinv.stock_levels l"
		" JOIN easeinv.locations c ON c.tenant_id = l.tenant_id AND c.id = l.location_id"
		" JOIN easeinv.products p ON p.tenant_id = l.tenant_id AND p.id = l.product_id"
		" WHERE l.tenant_id = $1 AND l.available < 0"
		" AND c.kind IN ('warehouse', 'store', 'bin') AND l.updated_at = now()"
		" ORDER BY l.product_id, l.location_id LIMIT 1", 1, {INT8OID}},
	/* as the transaction sees them: the internal locations, all products, the tracked ones, all locations */
	[ST_RULES_SEEN] = {"SELECT (SELECT array_agg(l.id) FROM easeinv.locations l"
		" WHERE l.tenant_id = $1 AND " INTERNAL_KIND("l") "),"
		" (SELECT array_agg(p.id) FROM easeinv.products p WHERE p.tenant_id = $1),"
		" (SELECT array_agg(p.id) FROM easeinv.products p WHERE p.tenant_id = $1 AND p.track_stock),"
		" (SELECT array_agg(l.id) FROM easeinv.locations l WHERE l.tenant_id = $1)", 1, {INT8OID}},
	/* $2 to $5: ST_RULES_SEEN's arrays; run in the latest snapshot */
	[ST_RULES_CHANGED] = {"SELECT EXISTS (SELECT 1 FROM easeinv.locations l"
		" WHERE l.tenant_id = $1 AND l.id = ANY ($5)"
		" AND (" INTERNAL_KIND("l") ") <> (l.id = ANY ($2)))"
		" OR EXISTS (SELECT 1 FROM easeinv.products p"
		" WHERE p.tenant_id = $1 AND p.id = ANY ($3)"
		" AND p.track_stock <> (p.id = ANY ($4)))", 5,
		{INT8OID, INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID}},
};

static SPIPlanPtr plans[ST_COUNT];

#define PLAN(which)		plan_kept(statements, plans, (which))

/* ---------------------------------------------------------------- the kinds */

/*
 * The steps each kind runs a statement of its own for (kind_statements[],
 * below, kept: plans.h).  They take the run's args: $1 the tenant, $2 the
 * caller's name (created_by), $3 the location OPENING (opening stock).
 */
typedef enum KindStatement
{
	KS_COUNT_STAGED,			/* the staged rows */
	KS_ANALYZE_STAGED,			/* a big batch's staged rows */
	KS_REPEATS,					/* repeats of a key whose payload differs from its first row */
	KS_COUNT_ROWS,				/* rows, bad, skipped, fresh (count_rows) */
	KS_INSERT,					/* step 3 */
	KS_RACE,					/* step 4 */
	KS_COUNT
} KindStatement;

/* the fresh rows the insert takes: first of their key in the file, key not stored, not bad */
#define FRESH_ROW \
	"NOT r.blank AND NOT r.bad AND r.n = r.first_n AND r.stored_id IS NULL"

/* KS_REPEATS: payload(t) lists the columns of import_rows t two rows of one key must agree on */
#define REPEATS(payload) \
	"UPDATE pg_temp.import_rows r SET dup_differs = true, bad = true" \
	" FROM pg_temp.import_rows f" \
	" WHERE r.n <> r.first_n AND r.k IS NOT NULL AND f.n = r.first_n" \
	" AND (" payload("r") ") IS DISTINCT FROM (" payload("f") ")"

/* KS_COUNT_ROWS: skip says which good rows store nothing */
#define COUNT_ROWS(skip) \
	"SELECT count(*), count(*) FILTER (WHERE r.bad)," \
	" count(*) FILTER (WHERE r.blank OR (NOT r.bad AND r.stored_id IS NULL AND (" skip ")))," \
	" count(*) FILTER (WHERE " FRESH_ROW " AND NOT (" skip "))" \
	" FROM pg_temp.import_rows r"

/*
 * KS_INSERT of the ledger kinds: the fresh rows into the ledger (rows: key,
 * product, from, to, qty, reason, reference type and id, unit cost, time)
 * and, in the same statement, the levels once per (product, location).
 * (level_add is written as 0.4.0's SQL can run it when the plan is made:
 * plans.c, version skew.)
 */
#define INSERT_MOVEMENTS(rows, skip) \
	"WITH ins AS (" \
	" INSERT INTO easeinv.stock_movements (tenant_id, idempotency_key, product_id, from_location_id," \
	" to_location_id, qty, reason, reference_type, reference_id, unit_cost, occurred_at, created_by)" \
	" SELECT $1, " rows ", $2 FROM pg_temp.import_rows r WHERE " FRESH_ROW " AND NOT (" skip ")" \
	/* no ORDER BY: import_rows is in key order, the scan keeps it */ \
	" ON CONFLICT DO NOTHING" \
	" RETURNING product_id, from_location_id, to_location_id, qty)," \
	" lv AS (" \
	" INSERT INTO easeinv.stock_levels AS l (tenant_id, product_id, location_id, on_hand)" \
	" SELECT $1, d.product_id, d.location_id, sum(d.delta)" \
	" FROM (SELECT i.product_id, i.from_location_id AS location_id, -i.qty AS delta FROM ins i" \
	" UNION ALL SELECT i.product_id, i.to_location_id, i.qty FROM ins i) d" \
	" GROUP BY d.product_id, d.location_id ORDER BY d.product_id, d.location_id" \
	" ON CONFLICT (tenant_id, product_id, location_id)" \
	" DO UPDATE SET on_hand = easeinv.level_add(l.on_hand, excluded.on_hand, l.reserved, l.product_id," \
	" l.location_id), updated_at = now()" \
	" RETURNING 1)" \
	" SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM lv)"

/*
 * KS_RACE: every good row whose key was not stored before (the repeats of a
 * key in the file too) compared with what is stored now; one that differs
 * becomes bad and a reject of key (stored, on, differs: as in the resolve).
 */
#define RACE(stored, on, differs, key, conflict) \
	"WITH u AS (" \
	" UPDATE pg_temp.import_rows r SET stored_id = s.id, stored_differs = " differs ", bad = true" \
	" FROM " stored " WHERE " on " AND NOT r.blank AND NOT r.bad AND r.stored_id IS NULL" \
	" AND (" differs ") IS NOT NULL" \
	" RETURNING r.n, r." key " AS value, " conflict " AS reason)" \
	" INSERT INTO pg_temp.import_rejects SELECT u.n, '" key "', u.value, u.reason FROM u"

/* In a kind's resolve the staged row is i; in the checks the resolved row is r. */
#define EMPTY(col)	"coalesce(btrim(i." col "), '') = ''"

/* the reasons for a quantity, a cost, a time, a product, shared by the ledger kinds */
#define QTY_REASON(bad_cond, bad_text) \
	"CASE WHEN NULLIF(btrim(r.qty), '') IS NULL THEN 'missing' " \
	"WHEN " bad_cond " THEN '" bad_text "' " \
	"WHEN r.q >= 1e14 THEN 'too large (at most 14 digits before the point)' " \
	"WHEN min_scale(r.q) > 4 THEN 'more than 4 decimal places' END"
#define COST_REASON \
	"CASE WHEN NULLIF(btrim(r.unit_cost), '') IS NULL THEN NULL " \
	"WHEN r.cost IS NULL THEN 'not a number (0 or more)' " \
	"WHEN r.cost >= 1e14 OR min_scale(r.cost) > 4 THEN 'too large or more than 4 decimal places' END"
#define TIME_REASON \
	"CASE WHEN NULLIF(btrim(r.occurred_at), '') IS NOT NULL AND r.at IS NULL " \
	"THEN 'not a date and time between 1900 and 2999 (2025-10-01 or 2025-10-01 14:30:00+05:30)' END"
#define PRODUCT_REASON \
	"CASE WHEN r.product_id IS NULL AND NULLIF(btrim(r.sku), '') IS NULL THEN 'missing' " \
	"WHEN r.product_id IS NULL THEN 'no product with this SKU' " \
	"WHEN NOT r.track_stock THEN 'the product does not track stock' END"

/*
 * The stored row s a row r's key names (stored joined on stored_on), how s
 * differs from r (NULL when it does not), and how the key's conflict is
 * reported, per kind.
 */
#define MOVEMENTS_STORED		"easeinv.stock_movements s"
#define MOVEMENTS_STORED_ON		"s.tenant_id = $1 AND s.idempotency_key = r.k"
#define MOVEMENTS_DIFFERS \
	"CASE WHEN s.id IS NULL THEN NULL " \
	"WHEN s.reverses_id IS NOT NULL THEN 'a reversal' " \
	"WHEN s.product_id IS DISTINCT FROM r.product_id THEN 'another product' " \
	"WHEN s.from_location_id IS DISTINCT FROM r.from_id THEN 'another from_location' " \
	"WHEN s.to_location_id IS DISTINCT FROM r.to_id THEN 'another to_location' " \
	"WHEN s.qty IS DISTINCT FROM r.q THEN 'qty ' || s.qty " \
	"WHEN s.unit_cost IS DISTINCT FROM r.cost THEN 'unit_cost ' || coalesce(s.unit_cost::text, 'empty') " \
	"WHEN s.reason IS DISTINCT FROM NULLIF(r.reason, '') THEN 'another reason' " \
	"WHEN s.reference_type IS DISTINCT FROM NULLIF(r.reference_type, '') THEN 'another reference_type' " \
	"WHEN s.reference_id IS DISTINCT FROM NULLIF(r.reference_id, '') THEN 'another reference_id' " \
	"WHEN r.at IS NOT NULL AND s.occurred_at <> r.at THEN 'another occurred_at' END"
#define MOVEMENTS_CONFLICT \
	"'key already used for movement ' || r.stored_id || ' with ' || r.stored_differs"
#define MOVEMENTS_PAYLOAD(t) \
	t ".product_id, " t ".from_id, " t ".to_id, " t ".q, " t ".cost, " t ".at, " t ".reason, " \
	t ".reference_type, " t ".reference_id"

#define PRODUCTS_STORED			"easeinv.products s"
#define PRODUCTS_STORED_ON		"s.tenant_id = $1 AND s.sku = r.k AND s.deleted_at IS NULL"
#define PRODUCTS_DIFFERS \
	"CASE WHEN s.id IS NULL THEN NULL " \
	"WHEN s.name IS DISTINCT FROM r.nm THEN format('name %L', s.name) " \
	"WHEN s.hsn_code IS DISTINCT FROM r.hsn THEN format('hsn_code %L', s.hsn_code) " \
	"WHEN s.unit IS DISTINCT FROM r.u THEN format('unit %s', s.unit) " \
	"WHEN s.gst_rate IS DISTINCT FROM r.rate THEN format('gst_rate %s', s.gst_rate) " \
	"WHEN s.track_stock IS DISTINCT FROM r.ts THEN format('track_stock %s', s.track_stock) END"
#define PRODUCTS_CONFLICT \
	"'product ' || r.stored_id || ' has this SKU with ' || r.stored_differs"
#define PRODUCTS_PAYLOAD(t) \
	t ".nm, " t ".hsn, " t ".u, " t ".rate, " t ".ts"

/* opening stock is stored as movements, keyed easeinv:opening:<product>:<location> */
#define OPENING_DIFFERS \
	"CASE WHEN s.id IS NULL THEN NULL " \
	"WHEN s.qty IS DISTINCT FROM r.q THEN 'qty ' || s.qty " \
	"WHEN s.unit_cost IS DISTINCT FROM r.cost THEN 'unit_cost ' || coalesce(s.unit_cost::text, 'empty') " \
	"WHEN r.at IS NOT NULL AND s.occurred_at <> r.at THEN 'another occurred_at' END"
#define OPENING_CONFLICT \
	"'opening stock of this product here is already recorded with ' || r.stored_differs || " \
	"' (movement ' || r.stored_id || ')'"
#define OPENING_PAYLOAD(t) \
	t ".q, " t ".cost, " t ".at"

typedef enum
{
	K_MOVEMENTS,
	K_PRODUCTS,
	K_OPENING_STOCK,
	K_COUNT
} ImportKindId;

/*
 * The kinds' own statements, one table with an entry per step and kind
 * (BY_KIND), the kinds of a step side by side.
 */
#define BY_KIND(step, kind)		((step) * K_COUNT + (kind))

static const PlanStatement kind_statements[KS_COUNT * K_COUNT] = {
	[BY_KIND(KS_COUNT_STAGED, K_MOVEMENTS)] = {"SELECT count(*) FROM pg_temp.import_movements"},
	[BY_KIND(KS_COUNT_STAGED, K_PRODUCTS)] = {"SELECT count(*) FROM pg_temp.import_products"},
	[BY_KIND(KS_COUNT_STAGED, K_OPENING_STOCK)] = {"SELECT count(*) FROM pg_temp.import_opening_stock"},

	[BY_KIND(KS_ANALYZE_STAGED, K_MOVEMENTS)] = {"ANALYZE pg_temp.import_movements"},
	[BY_KIND(KS_ANALYZE_STAGED, K_PRODUCTS)] = {"ANALYZE pg_temp.import_products"},
	[BY_KIND(KS_ANALYZE_STAGED, K_OPENING_STOCK)] = {"ANALYZE pg_temp.import_opening_stock"},

	[BY_KIND(KS_REPEATS, K_MOVEMENTS)] = {REPEATS(MOVEMENTS_PAYLOAD)},
	[BY_KIND(KS_REPEATS, K_PRODUCTS)] = {REPEATS(PRODUCTS_PAYLOAD)},
	[BY_KIND(KS_REPEATS, K_OPENING_STOCK)] = {REPEATS(OPENING_PAYLOAD)},

	[BY_KIND(KS_COUNT_ROWS, K_MOVEMENTS)] = {COUNT_ROWS("false")},
	[BY_KIND(KS_COUNT_ROWS, K_PRODUCTS)] = {COUNT_ROWS("false")},
	/* opening stock of zero stores nothing */
	[BY_KIND(KS_COUNT_ROWS, K_OPENING_STOCK)] = {COUNT_ROWS("r.q = 0")},

	[BY_KIND(KS_INSERT, K_MOVEMENTS)] = {INSERT_MOVEMENTS("r.k, r.product_id, r.from_id, r.to_id, r.q,"
		" NULLIF(r.reason, ''), NULLIF(r.reference_type, ''), NULLIF(r.reference_id, ''), r.cost,"
		" coalesce(r.at, now())", "false"), 2, {INT8OID, TEXTOID}},
	/* in SKU order: import_rows is in key order */
	[BY_KIND(KS_INSERT, K_PRODUCTS)] = {"WITH ins AS ("
		" INSERT INTO easeinv.products (tenant_id, sku, name, hsn_code, unit, gst_rate, track_stock)"
		" SELECT $1, r.k, r.nm, r.hsn, r.u, r.rate, r.ts FROM pg_temp.import_rows r WHERE " FRESH_ROW
		" ON CONFLICT (tenant_id, sku) WHERE deleted_at IS NULL DO NOTHING RETURNING 1)"
		" SELECT count(*) FROM ins", 1, {INT8OID}},
	/* from the tenant's virtual location OPENING ($3) */
	[BY_KIND(KS_INSERT, K_OPENING_STOCK)] = {INSERT_MOVEMENTS("r.k, r.product_id, $3, r.location_id, r.q,"
		" 'opening stock', 'opening_stock', NULL, r.cost, coalesce(r.at, now())", "r.q = 0"), 3,
		{INT8OID, TEXTOID, INT8OID}},

	[BY_KIND(KS_RACE, K_MOVEMENTS)] = {RACE(MOVEMENTS_STORED, MOVEMENTS_STORED_ON, MOVEMENTS_DIFFERS,
		"idempotency_key", MOVEMENTS_CONFLICT), 1, {INT8OID}},
	[BY_KIND(KS_RACE, K_PRODUCTS)] = {RACE(PRODUCTS_STORED, PRODUCTS_STORED_ON, PRODUCTS_DIFFERS,
		"sku", PRODUCTS_CONFLICT), 1, {INT8OID}},
	[BY_KIND(KS_RACE, K_OPENING_STOCK)] = {RACE(MOVEMENTS_STORED, MOVEMENTS_STORED_ON, OPENING_DIFFERS,
		"location", OPENING_CONFLICT), 1, {INT8OID}},
};

static SPIPlanPtr kind_plans[KS_COUNT * K_COUNT];

/* how each kind writes its fresh rows (below) */
static void apply_fresh(ImportRun *run);
static void apply_opening_stock(ImportRun *run);

/* one column's check: the reason the value of r is bad, NULL when it is good */
typedef struct ImportCheck
{
	const char *column;
	const char *reason;
} ImportCheck;

/*
 * Where a kind's rows are stored: table is the stored rows s, on finds the
 * stored row s of a resolved row r's key (as in kind_statements[KS_RACE]);
 * rows stored as movements write the levels too.
 */
typedef struct ImportStore
{
	const char *table;
	const char *on;
	bool		ledger;			/* movements and levels (else products) */
} ImportStore;

static const ImportStore ledger_store = {MOVEMENTS_STORED, MOVEMENTS_STORED_ON, true};
static const ImportStore product_store = {PRODUCTS_STORED, PRODUCTS_STORED_ON, false};

/*
 * An import kind.  resolve yields one row per staged row i (it reads
 * pg_temp.import_<name> i, which create_rows replaces by the rows through
 * their encoding check) with at least n (row in the file), k (the row's key,
 * NULL when it has none) and blank (every field empty); differs says (as
 * text) how the stored row s of the key (store) differs from the row r; the
 * key's conflict is reported on key_column, a repeat whose payload differs
 * from its first row's (r.first_n) by duplicate; checks give each column's
 * reason.  The kind's own statements are in kind_statements[].
 */
typedef struct ImportKind
{
	const char *name;
	const char *key_column;
	const char *duplicate;
	void		(*apply) (ImportRun *run);	/* writes the fresh rows */
	const char *columns[MAX_COLUMNS];	/* the staging table's, all text, in the CSV's order */
	const char *resolve;
	const ImportStore *store;
	const char *differs;
	ImportCheck checks[MAX_CHECKS];
} ImportKind;

static const ImportKind kinds[K_COUNT] = {
	/* movements between two locations, keyed by the client's idempotency key */
	[K_MOVEMENTS] = {
		.name = "movements",
		.key_column = "idempotency_key",
		.duplicate = "'also in row ' || r.first_n || ' with another payload'",
		.apply = apply_fresh,
		.columns = {"idempotency_key", "sku", "from_location", "to_location", "qty", "unit_cost", "reason",
		"reference_type", "reference_id", "occurred_at"},
		.resolve =
		"SELECT x.*, p.id AS product_id, p.track_stock, fl.id AS from_id, tl.id AS to_id "
		"FROM (SELECT row_number() OVER () AS n, i.*, "
		"        " EMPTY("idempotency_key") " AND " EMPTY("sku") " AND " EMPTY("from_location") " AND "
		"        " EMPTY("to_location") " AND " EMPTY("qty") " AND " EMPTY("unit_cost") " AND " EMPTY("reason")
		"        AND " EMPTY("reference_type") " AND " EMPTY("reference_id") " AND " EMPTY("occurred_at") " AS blank, "
		"        NULLIF(btrim(i.idempotency_key), '') AS k, "
		"        easeinv.import_numeric(i.qty) AS q, easeinv.import_numeric(i.unit_cost) AS cost, "
		"        easeinv.import_time(i.occurred_at) AS at "
		"      FROM pg_temp.import_movements i) x "
		"LEFT JOIN easeinv.products p ON p.tenant_id = $1 AND p.sku = btrim(x.sku) AND p.deleted_at IS NULL "
		"LEFT JOIN easeinv.locations fl ON fl.tenant_id = $1 AND fl.code = btrim(x.from_location) AND fl.deleted_at IS NULL "
		"LEFT JOIN easeinv.locations tl ON tl.tenant_id = $1 AND tl.code = btrim(x.to_location) AND tl.deleted_at IS NULL",
		.store = &ledger_store,
		.differs = MOVEMENTS_DIFFERS,
		.checks = {
			{"idempotency_key",
				"CASE WHEN r.k IS NULL THEN 'missing' "
				"WHEN length(r.k) > 255 THEN 'longer than 255 characters' "
				"WHEN r.k LIKE 'easeinv:%' THEN 'keys starting with easeinv: are reserved' "
			"WHEN r.stored_differs IS NOT NULL THEN " MOVEMENTS_CONFLICT " END"},
			{"sku", PRODUCT_REASON},
			{"from_location",
				"CASE WHEN r.from_id IS NULL AND NULLIF(btrim(r.from_location), '') IS NULL THEN 'missing' "
			"WHEN r.from_id IS NULL THEN 'no location with this code' END"},
			{"to_location",
				"CASE WHEN r.to_id IS NULL AND NULLIF(btrim(r.to_location), '') IS NULL THEN 'missing' "
				"WHEN r.to_id IS NULL THEN 'no location with this code' "
			"WHEN r.to_id = r.from_id THEN 'the same as from_location' END"},
			{"qty", QTY_REASON("r.q IS NULL OR r.q = 0", "not a positive number")},
			{"unit_cost", COST_REASON},
			{"occurred_at", TIME_REASON},
			{"reason", "CASE WHEN length(r.reason) > 500 THEN 'longer than 500 characters' END"},
			{"reference_type", "CASE WHEN length(r.reference_type) > 64 THEN 'longer than 64 characters' END"},
			{"reference_id", "CASE WHEN length(r.reference_id) > 255 THEN 'longer than 255 characters' END"}
		}
	},
	/* products, keyed by SKU; the same SKU in another row must have the same attributes */
	[K_PRODUCTS] = {
		.name = "products",
		.key_column = "sku",
		.duplicate = "'also in row ' || r.first_n || ' with another name, HSN code, unit, rate or track_stock'",
		.apply = apply_fresh,
		.columns = {"sku", "name", "hsn_code", "unit", "gst_rate", "track_stock"},
		.resolve =
		"SELECT x.*, x.rate IN (SELECT g.rate FROM easeinv.gst_rates g) AS rate_known "
		"FROM (SELECT row_number() OVER () AS n, i.*, "
		"        " EMPTY("sku") " AND " EMPTY("name") " AND " EMPTY("hsn_code") " AND " EMPTY("unit") " AND "
		"        " EMPTY("gst_rate") " AND " EMPTY("track_stock") " AS blank, "
		"        NULLIF(btrim(i.sku), '') AS k, "
		"        NULLIF(btrim(i.name), '') AS nm, NULLIF(btrim(i.hsn_code), '') AS hsn, "
		"        upper(coalesce(NULLIF(btrim(i.unit), ''), 'NOS')) AS u, "
		"        easeinv.import_numeric(rtrim(btrim(i.gst_rate), '% ')) AS rate, "
		"        CASE WHEN NULLIF(btrim(i.track_stock), '') IS NULL THEN true "
		"             WHEN lower(btrim(i.track_stock)) IN ('true', 't', 'yes', 'y', '1') THEN true "
		"             WHEN lower(btrim(i.track_stock)) IN ('false', 'f', 'no', 'n', '0') THEN false END AS ts "
		"      FROM pg_temp.import_products i) x",
		.store = &product_store,
		.differs = PRODUCTS_DIFFERS,
		.checks = {
			{"sku",
				"CASE WHEN r.k IS NULL THEN 'missing' "
				"WHEN length(r.k) > 64 THEN 'longer than 64 characters' "
			"WHEN r.stored_differs IS NOT NULL THEN " PRODUCTS_CONFLICT " END"},
			{"name", "CASE WHEN r.nm IS NULL THEN 'missing' WHEN length(r.nm) > 300 THEN 'longer than 300 characters' END"},
			{"hsn_code",
			"CASE WHEN r.hsn !~ '^[0-9]{4}([0-9]{2}){0,2}$' THEN 'not an HSN or SAC code (4, 6 or 8 digits)' END"},
			{"unit", "CASE WHEN r.u !~ '^[A-Z]{3}$' THEN 'not a unit quantity code (3 letters: NOS, KGS, MTR, ...)' END"},
			{"gst_rate",
				"CASE WHEN NULLIF(btrim(r.gst_rate), '') IS NULL THEN 'missing (the GST rate in percent, e.g. 18)' "
				"WHEN r.rate IS NULL THEN 'not a number' "
			"WHEN NOT r.rate_known THEN 'not a GST rate (easeinv.gst_rates lists them)' END"},
			{"track_stock", "CASE WHEN r.ts IS NULL THEN 'not true or false (yes/no and 1/0 also do)' END"}
		}
	},
	/*
	 * opening stock: one movement from the virtual location OPENING per product
	 * and location, keyed easeinv:opening:<product>:<location>
	 */
	[K_OPENING_STOCK] = {
		.name = "opening_stock",
		.key_column = "location",
		.duplicate = "'this product and location are also in row ' || r.first_n || ' with another quantity, cost or time'",
		.apply = apply_opening_stock,
		.columns = {"sku", "location", "qty", "unit_cost", "occurred_at"},
		.resolve =
		"SELECT x.*, p.id AS product_id, p.track_stock, l.id AS location_id, "
		"       l.kind IN ('warehouse', 'store', 'bin') AS internal, "
		"       'easeinv:opening:' || p.id || ':' || l.id AS k "
		"FROM (SELECT row_number() OVER () AS n, i.*, "
		"        " EMPTY("sku") " AND " EMPTY("location") " AND " EMPTY("qty") " AND " EMPTY("unit_cost") " AND "
		"        " EMPTY("occurred_at") " AS blank, "
		"        easeinv.import_numeric(i.qty) AS q, easeinv.import_numeric(i.unit_cost) AS cost, "
		"        easeinv.import_time(i.occurred_at) AS at "
		"      FROM pg_temp.import_opening_stock i) x "
		"LEFT JOIN easeinv.products p ON p.tenant_id = $1 AND p.sku = btrim(x.sku) AND p.deleted_at IS NULL "
		"LEFT JOIN easeinv.locations l ON l.tenant_id = $1 AND l.code = btrim(x.location) AND l.deleted_at IS NULL",
		.store = &ledger_store,
		.differs = OPENING_DIFFERS,
		.checks = {
			{"sku", PRODUCT_REASON},
			{"location",
				"CASE WHEN r.location_id IS NULL AND NULLIF(btrim(r.location), '') IS NULL THEN 'missing' "
				"WHEN r.location_id IS NULL THEN 'no location with this code' "
				"WHEN NOT r.internal THEN 'not a location that holds stock (warehouse, store or bin)' "
			"WHEN r.stored_differs IS NOT NULL THEN " OPENING_CONFLICT " END"},
			{"qty", QTY_REASON("r.q IS NULL", "not a number (0 or more)")},
			{"unit_cost", COST_REASON},
			{"occurred_at", TIME_REASON}
		}
	}
};

#define KIND_NAMES	"movements, products, opening_stock"

/* An import's state and counts. */
struct ImportRun
{
	const ImportKind *kind;
	int64		tenant;
	char	   *caller;			/* the calling role's name */
	bool		skip_bad;
	Datum		args[3];		/* the statements' $1 tenant, $2 caller (text), $3 OPENING's id */
	int64		rows,
				applied,
				replayed,
				rejected,
				skipped,
				levels,
				fresh;
};

/* ---------------------------------------------------------------- running statements */

/* run statement `which` of statements[] with args; its row count */
static uint64
run_shared(ImportStatement which, Datum *args, int expected)
{
	int			rc = SPI_execute_plan(PLAN(which), args, NULL, false, 0);

	if (rc != expected)
		elog(ERROR, "import statement failed (%s): %s", SPI_result_code_string(rc), statements[which].sql);
	return SPI_processed;
}

/* run statement `which` of the run's kind (kind_statements[]) with the run's args; its row count */
static uint64
run_kind(ImportRun *run, KindStatement which, int expected)
{
	int			i = BY_KIND(which, run->kind - kinds);
	int			rc = SPI_execute_plan(plan_kept(kind_statements, kind_plans, i), run->args, NULL, false, 0);

	if (rc != expected)
		elog(ERROR, "import statement failed (%s): %s", SPI_result_code_string(rc), kind_statements[i].sql);
	return SPI_processed;
}

/*
 * run_built: run an assembled statement, the tenant as $1, once (planned for
 * this batch); the text is logged at DEBUG1 as "easeinv import <step>: ...".
 * Its row count.
 */
static uint64
run_built(ImportRun *run, const char *step, const char *sql, int expected)
{
	Oid			types[1] = {INT8OID};
	int			rc;

	elog(DEBUG1, "easeinv import %s: %s", step, sql);
	rc = SPI_execute_with_args(sql, 1, types, run->args, NULL, false, 0);
	if (rc != expected)
		elog(ERROR, "import statement %s failed (%s): %s", step, SPI_result_code_string(rc), sql);
	return SPI_processed;
}

/* column i (1-based) of the single row the last query returned, as int8 */
static int64
result_int(int i)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, i, &isnull);

	return isnull ? 0 : DatumGetInt64(d);
}

/* whether the session has the temporary table */
static bool
temp_exists(const char *name)
{
	Datum		args[1] = {CStringGetTextDatum(name)};
	bool		isnull;

	if (run_shared(ST_TEMP_EXISTS, args, SPI_OK_SELECT) != 1)
		elog(ERROR, "import query failed: %s", statements[ST_TEMP_EXISTS].sql);
	return DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/* ---------------------------------------------------------------- assembled statements */

/*
 * create_staging: begin_import's staging table, the kind's columns all text.
 * Assembled for products:
 *	  CREATE TEMPORARY TABLE import_products (sku text, name text, hsn_code text, unit text,
 *		gst_rate text, track_stock text) ON COMMIT DROP
 */
static void
create_staging(ImportRun *run)
{
	const ImportKind *kind = run->kind;
	StringInfoData sql;
	int			c;

	initStringInfo(&sql);
	appendStringInfo(&sql, "CREATE TEMPORARY TABLE import_%s (", kind->name);
	for (c = 0; c < MAX_COLUMNS && kind->columns[c]; c++)
		appendStringInfo(&sql, "%s%s text", c ? ", " : "", kind->columns[c]);
	appendStringInfoString(&sql, ") ON COMMIT DROP");
	run_built(run, "staging", sql.data, SPI_OK_UTILITY);
}

/*
 * grant_to_caller: privileges on a temporary table of the owner's to the
 * caller (a GRANT takes no parameters: the role's name is written in).
 * Assembled for the staging table of products and the role app_user:
 *	  GRANT SELECT, INSERT ON pg_temp.import_products TO app_user
 */
static void
grant_to_caller(ImportRun *run, const char *privileges, const char *table)
{
	run_built(run, "grant",
			  psprintf("GRANT %s ON pg_temp.%s TO %s", privileges, table, quote_identifier(run->caller)),
			  SPI_OK_UTILITY);
}

/*
 * verified_resolve: the kind's resolve reading the staged rows through their
 * encoding check.  COPY stores what a client sends with client_encoding
 * SQL_ASCII without checking it, so every staged column goes through
 * import_text (invalid sequences shown as U+FFFD, or ? in other encodings)
 * and bad_encoding lists the columns that held invalid text.  Nothing else
 * of the import sees the raw bytes.  (Before ALTER EXTENSION UPDATE to 0.5.0
 * there is no import_text: plans.c, version skew.)  create_rows shows the
 * result.
 */
static char *
verified_resolve(const ImportKind *kind)
{
	StringInfoData clean;
	StringInfoData bad;
	StringInfoData raw;
	char	   *from = psprintf("FROM pg_temp.import_%s i", kind->name);
	const char *at = strstr(kind->resolve, from);
	int			c;

	if (at == NULL)
		elog(ERROR, "import kind %s reads no pg_temp.import_%s i", kind->name, kind->name);
	initStringInfo(&clean);
	initStringInfo(&bad);
	initStringInfo(&raw);
	for (c = 0; c < MAX_COLUMNS && kind->columns[c]; c++)
	{
		const char *col = kind->columns[c];
		const char *sep = c ? ", " : "";

		appendStringInfo(&raw, plan_sql_050() ? "%ss.%s, easeinv.import_text(s.%s) AS %s_text" : "%ss.%s, s.%s AS %s_text",
						 sep, col, col, col);
		appendStringInfo(&clean, "%sv.%s_text AS %s", sep, col, col);
		appendStringInfo(&bad, "%sCASE WHEN v.%s_text IS DISTINCT FROM v.%s THEN '%s' END", sep, col, col, col);
	}
	return psprintf("%.*sFROM (SELECT %s, array_remove(ARRAY[%s], NULL) AS bad_encoding "
					"FROM (SELECT %s FROM pg_temp.import_%s s OFFSET 0) v) i%s",
					(int) (at - kind->resolve), kind->resolve, clean.data, bad.data, raw.data, kind->name,
					at + strlen(from));
}

/*
 * create_rows: step 1, pg_temp.import_rows.  Rows numbered in file order:
 * row_number() over the bare scan of a temporary heap that COPY filled is its
 * physical order (a scan of local buffers never starts mid-table).  The
 * window sorts by (key, row): the table is written in that order, which the
 * insert's key order relies on (byte order: the same for every import, and a
 * sort 2 to 3 times faster than the database's collation measured on a
 * million keys).  Each column's reason is computed once (why_<check>; OFFSET
 * 0 keeps the planner from computing them again for bad); text not valid in
 * the database encoding is reported before anything else about the column.
 *
 * The stored row of each key: a batch of up to IMPORT_PROBE_ROWS rows probes
 * the key index per row (LEFT JOIN LATERAL ... LIMIT 1); a larger one joins
 * the tenant's rows as a whole (LEFT JOIN ... ON), planned with the batch's
 * statistics.  (The planner cannot tell: it does not know how many distinct
 * keys the staged rows have, and would read a large ledger to find a few.)
 *
 * Assembled for opening_stock, a small batch, 0.5.0's SQL, a UTF8 database:
 *	  CREATE TEMPORARY TABLE import_rows ON COMMIT DROP AS
 *	  SELECT q.*, NOT q.blank AND num_nonnulls(q.why_0, q.why_1, q.why_2, q.why_3, q.why_4) > 0 AS bad,
 *	    false AS dup_differs
 *	  FROM (SELECT r.*
 *	    , CASE WHEN 'sku' = ANY (r.bad_encoding) THEN 'not valid UTF8 text' ELSE CASE WHEN r.product_id
 *	      IS NULL AND NULLIF(btrim(r.sku), '') IS NULL THEN 'missing' WHEN r.product_id IS NULL THEN
 *	      'no product with this SKU' WHEN NOT r.track_stock THEN 'the product does not track stock' END
 *	      END AS why_0
 *	    , CASE WHEN 'location' = ANY (r.bad_encoding) THEN 'not valid UTF8 text' ELSE CASE WHEN
 *	      r.location_id IS NULL AND NULLIF(btrim(r.location), '') IS NULL THEN 'missing' WHEN
 *	      r.location_id IS NULL THEN 'no location with this code' WHEN NOT r.internal THEN
 *	      'not a location that holds stock (warehouse, store or bin)' WHEN r.stored_differs IS NOT NULL
 *	      THEN 'opening stock of this product here is already recorded with ' || r.stored_differs
 *	      || ' (movement ' || r.stored_id || ')' END END AS why_1
 *	    , CASE WHEN 'qty' = ANY (r.bad_encoding) THEN 'not valid UTF8 text' ELSE CASE WHEN
 *	      NULLIF(btrim(r.qty), '') IS NULL THEN 'missing' WHEN r.q IS NULL THEN
 *	      'not a number (0 or more)' WHEN r.q >= 1e14 THEN 'too large (at most 14 digits before the point)'
 *	      WHEN min_scale(r.q) > 4 THEN 'more than 4 decimal places' END END AS why_2
 *	    , CASE WHEN 'unit_cost' = ANY (r.bad_encoding) THEN 'not valid UTF8 text' ELSE CASE WHEN
 *	      NULLIF(btrim(r.unit_cost), '') IS NULL THEN NULL WHEN r.cost IS NULL THEN
 *	      'not a number (0 or more)' WHEN r.cost >= 1e14 OR min_scale(r.cost) > 4 THEN
 *	      'too large or more than 4 decimal places' END END AS why_3
 *	    , CASE WHEN 'occurred_at' = ANY (r.bad_encoding) THEN 'not valid UTF8 text' ELSE CASE WHEN
 *	      NULLIF(btrim(r.occurred_at), '') IS NOT NULL AND r.at IS NULL THEN
 *	      'not a date and time between 1900 and 2999 (2025-10-01 or 2025-10-01 14:30:00+05:30)'
 *	      END END AS why_4
 *	    FROM (SELECT r.*, s.id AS stored_id,
 *	            CASE WHEN s.id IS NULL THEN NULL WHEN s.qty IS DISTINCT FROM r.q THEN 'qty ' || s.qty
 *	            WHEN s.unit_cost IS DISTINCT FROM r.cost THEN 'unit_cost ' || coalesce(s.unit_cost::text,
 *	            'empty') WHEN r.at IS NOT NULL AND s.occurred_at <> r.at THEN 'another occurred_at' END
 *	            AS stored_differs,
 *	            first_value(r.n) OVER w AS first_n
 *	          FROM (SELECT x.*, p.id AS product_id, p.track_stock, l.id AS location_id,
 *	                  l.kind IN ('warehouse', 'store', 'bin') AS internal,
 *	                  'easeinv:opening:' || p.id || ':' || l.id AS k
 *	                FROM (SELECT row_number() OVER () AS n, i.*,
 *	                        coalesce(btrim(i.sku), '') = '' AND coalesce(btrim(i.location), '') = '' AND
 *	                        coalesce(btrim(i.qty), '') = '' AND coalesce(btrim(i.unit_cost), '') = '' AND
 *	                        coalesce(btrim(i.occurred_at), '') = '' AS blank,
 *	                        easeinv.import_numeric(i.qty) AS q, easeinv.import_numeric(i.unit_cost) AS cost,
 *	                        easeinv.import_time(i.occurred_at) AS at
 *	                      FROM (SELECT v.sku_text AS sku, v.location_text AS location, v.qty_text AS qty,
 *	                              v.unit_cost_text AS unit_cost, v.occurred_at_text AS occurred_at,
 *	                              array_remove(ARRAY[
 *	                                CASE WHEN v.sku_text IS DISTINCT FROM v.sku THEN 'sku' END,
 *	                                CASE WHEN v.location_text IS DISTINCT FROM v.location THEN 'location' END,
 *	                                CASE WHEN v.qty_text IS DISTINCT FROM v.qty THEN 'qty' END,
 *	                                CASE WHEN v.unit_cost_text IS DISTINCT FROM v.unit_cost THEN 'unit_cost' END,
 *	                                CASE WHEN v.occurred_at_text IS DISTINCT FROM v.occurred_at
 *	                                  THEN 'occurred_at' END], NULL) AS bad_encoding
 *	                            FROM (SELECT s.sku, easeinv.import_text(s.sku) AS sku_text,
 *	                                    s.location, easeinv.import_text(s.location) AS location_text,
 *	                                    s.qty, easeinv.import_text(s.qty) AS qty_text,
 *	                                    s.unit_cost, easeinv.import_text(s.unit_cost) AS unit_cost_text,
 *	                                    s.occurred_at, easeinv.import_text(s.occurred_at) AS occurred_at_text
 *	                                  FROM pg_temp.import_opening_stock s OFFSET 0) v) i) x
 *	                LEFT JOIN easeinv.products p ON p.tenant_id = $1 AND p.sku = btrim(x.sku)
 *	                  AND p.deleted_at IS NULL
 *	                LEFT JOIN easeinv.locations l ON l.tenant_id = $1 AND l.code = btrim(x.location)
 *	                  AND l.deleted_at IS NULL) r
 *	          LEFT JOIN LATERAL (SELECT s.* FROM easeinv.stock_movements s
 *	                               WHERE s.tenant_id = $1 AND s.idempotency_key = r.k LIMIT 1) s ON true
 *	          WINDOW w AS (PARTITION BY r.k COLLATE "C" ORDER BY r.n)) r OFFSET 0) q
 * (line breaks added; a batch over IMPORT_PROBE_ROWS rows has
 * "LEFT JOIN easeinv.stock_movements s ON s.tenant_id = $1 AND s.idempotency_key = r.k").
 */
static void
create_rows(ImportRun *run, int64 staged)
{
	const ImportKind *kind = run->kind;
	StringInfoData why;
	StringInfoData any;
	const char *stored;
	int			c;

	initStringInfo(&why);
	initStringInfo(&any);
	for (c = 0; c < MAX_CHECKS && kind->checks[c].column; c++)
	{
		appendStringInfo(&why, ", CASE WHEN '%s' = ANY (r.bad_encoding) THEN 'not valid %s text' ELSE %s END AS why_%d",
						 kind->checks[c].column, GetDatabaseEncodingName(), kind->checks[c].reason, c);
		appendStringInfo(&any, "%sq.why_%d", c ? ", " : "", c);
	}
	if (staged <= IMPORT_PROBE_ROWS)
		stored = psprintf("LEFT JOIN LATERAL (SELECT s.* FROM %s WHERE %s LIMIT 1) s ON true",
						  kind->store->table, kind->store->on);
	else
		stored = psprintf("LEFT JOIN %s ON %s", kind->store->table, kind->store->on);
	run_built(run, "resolve",
			  psprintf("CREATE TEMPORARY TABLE import_rows ON COMMIT DROP AS "
					   "SELECT q.*, NOT q.blank AND num_nonnulls(%s) > 0 AS bad, false AS dup_differs "
					   "FROM (SELECT r.* %s "
					   "      FROM (SELECT r.*, s.id AS stored_id, %s AS stored_differs, first_value(r.n) OVER w AS first_n "
					   "              FROM (%s) r %s "
					   "            WINDOW w AS (PARTITION BY r.k COLLATE \"C\" ORDER BY r.n)) r OFFSET 0) q",
					   any.data, why.data, kind->differs, verified_resolve(kind), stored),
			  SPI_OK_UTILITY);
}

/*
 * create_rejects: step 2, pg_temp.import_rejects: one row per bad field, from
 * the bad rows only, then the key of a repeat whose payload differs; made by
 * the owner, whose statements these are, the caller reads it.
 * Assembled for opening_stock:
 *	  CREATE TEMPORARY TABLE import_rejects ON COMMIT DROP AS
 *	  SELECT r.n AS row_no, c.column_name, c.value, c.reason
 *	  FROM pg_temp.import_rows r
 *	  CROSS JOIN LATERAL (VALUES ('sku', r.sku, r.why_0), ('location', r.location, r.why_1),
 *	    ('qty', r.qty, r.why_2), ('unit_cost', r.unit_cost, r.why_3),
 *	    ('occurred_at', r.occurred_at, r.why_4),
 *	    ('location', r.location, CASE WHEN r.dup_differs
 *	      THEN 'this product and location are also in row ' || r.first_n
 *	      || ' with another quantity, cost or time' END)) c(column_name, value, reason)
 *	  WHERE r.bad AND c.reason IS NOT NULL
 * (line breaks added)
 */
static void
create_rejects(ImportRun *run)
{
	const ImportKind *kind = run->kind;
	StringInfoData vals;
	int			c;

	initStringInfo(&vals);
	for (c = 0; c < MAX_CHECKS && kind->checks[c].column; c++)
		appendStringInfo(&vals, "%s('%s', r.%s, r.why_%d)", c ? ", " : "",
						 kind->checks[c].column, kind->checks[c].column, c);
	appendStringInfo(&vals, ", ('%s', r.%s, CASE WHEN r.dup_differs THEN %s END)",
					 kind->key_column, kind->key_column, kind->duplicate);
	run_built(run, "rejects",
			  psprintf("CREATE TEMPORARY TABLE import_rejects ON COMMIT DROP AS "
					   "SELECT r.n AS row_no, c.column_name, c.value, c.reason "
					   "FROM pg_temp.import_rows r "
					   "CROSS JOIN LATERAL (VALUES %s) c(column_name, value, reason) "
					   "WHERE r.bad AND c.reason IS NOT NULL", vals.data),
			  SPI_OK_UTILITY);
	grant_to_caller(run, "SELECT", "import_rejects");
}

/* ---------------------------------------------------------------- steps 1 and 2 */

/* the kind named by argument 0 (22004 when null, 22023 when unknown) */
static const ImportKind *
kind_arg(FunctionCallInfo fcinfo)
{
	char	   *name;
	int			i;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("kind must not be null"),
				 errhint("Imports: " KIND_NAMES ".")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	for (i = 0; i < K_COUNT; i++)
		if (strcmp(name, kinds[i].name) == 0)
			return &kinds[i];
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown import kind \"%s\"", name),
			 errhint("Imports: " KIND_NAMES ".")));
	return NULL;				/* keep compiler quiet */
}

/* run_start: the kind of argument 0, the tenant of the context, the caller */
static void
run_start(ImportRun *run, FunctionCallInfo fcinfo)
{
	memset(run, 0, sizeof(*run));
	run->kind = kind_arg(fcinfo);
	run->tenant = tenant_resolve(TENANT_REQUIRED);
	run->caller = GetUserNameFromId(GetUserId(), false);
	run->args[0] = Int64GetDatum(run->tenant);
	run->args[1] = CStringGetTextDatum(run->caller);
}

/*
 * require_open: the open import of the kind, or 55000: the staging table
 * begin_import made (a table of the owner; a relation of that name made
 * otherwise is not read with the owner's rights)
 */
static void
require_open(const ImportKind *kind)
{
	Datum		args[2] = {CStringGetTextDatum(psprintf("import_%s", kind->name)), ObjectIdGetDatum(owner_role())};
	bool		isnull;

	if (run_shared(ST_STAGING_OWNED, args, SPI_OK_SELECT) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("no import of %s is open in this transaction", kind->name),
				 errhint("Call easeinv.begin_import('%s') first, in the same transaction.", kind->name)));
	if (!DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pg_temp.import_%s was not made by easeinv.begin_import", kind->name),
				 errhint("Drop it, then call easeinv.begin_import('%s') and copy the file into its table.",
						 kind->name)));
}

/*
 * count_staged: the staged rows.  A batch over IMPORT_ANALYZE_ROWS is
 * analyzed; a small one is not: that costs more than its plans gain (12 ms of
 * a 55 ms apply of 1,000 rows).
 */
static int64
count_staged(ImportRun *run)
{
	int64		staged;

	run_kind(run, KS_COUNT_STAGED, SPI_OK_SELECT);
	staged = result_int(1);
	if (staged > IMPORT_ANALYZE_ROWS)
		run_kind(run, KS_ANALYZE_STAGED, SPI_OK_UTILITY);
	return staged;
}

/* mark_repeats: a key repeated in the file: its rows must agree with the first (rarely needed, so apart) */
static void
mark_repeats(ImportRun *run)
{
	run_shared(ST_REPEATED_KEYS, NULL, SPI_OK_SELECT);
	if (result_int(1) > 0)
		run_kind(run, KS_REPEATS, SPI_OK_UPDATE);
}

/*
 * resolve_and_check: steps 1 and 2.  pg_temp.import_rows and
 * pg_temp.import_rejects are made anew (the caller may read the rejects).
 */
static void
resolve_and_check(ImportRun *run)
{
	int64		staged;

	require_open(run->kind);
	if (temp_exists("import_rows"))
		run_shared(ST_DROP_ROWS, NULL, SPI_OK_UTILITY);
	if (temp_exists("import_rejects"))
		run_shared(ST_DROP_REJECTS, NULL, SPI_OK_UTILITY);
	staged = count_staged(run);
	create_rows(run, staged);
	/* the statements below are planned with the batch's real size (a large batch's) */
	if (staged > IMPORT_ANALYZE_ROWS)
		run_shared(ST_ANALYZE_ROWS, NULL, SPI_OK_UTILITY);
	mark_repeats(run);
	create_rejects(run);
}

/*
 * count_rows: rows, bad rows, skipped rows, and the fresh rows (first of
 * their key, key not stored, not bad, not skipped) the insert will take.
 */
static void
count_rows(ImportRun *run)
{
	run_kind(run, KS_COUNT_ROWS, SPI_OK_SELECT);
	run->rows = result_int(1);
	run->rejected = result_int(2);
	run->skipped = result_int(3);
	run->fresh = result_int(4);
}

/* refuse_rejects: the batch's bad rows, all or nothing (22023). */
static void
refuse_rejects(ImportRun *run, int64 bad)
{
	StringInfoData detail;
	uint64		i;
	uint64		n;

	initStringInfo(&detail);
	n = run_shared(ST_REJECTS_FIRST, NULL, SPI_OK_SELECT);
	for (i = 0; i < n; i++)
		appendStringInfo(&detail, "%s%s", i ? "\n" : "",
						 SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
	run_shared(ST_REJECTS_COUNT, NULL, SPI_OK_SELECT);
	if (result_int(1) > (int64) n)
		appendStringInfo(&detail, "\n... and %lld more", (long long) (result_int(1) - (int64) n));
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("import refused: %lld of %lld rows are bad, nothing was applied",
					(long long) bad, (long long) run->rows),
			 errdetail("%s", detail.data),
			 errhint("easeinv.check_import('%s') lists every bad row; "
					 "easeinv.apply_import('%s', skip_bad => true) applies the good ones.",
					 run->kind->name, run->kind->name)));
}

/* ---------------------------------------------------------------- steps 3 to 5 */

/*
 * check_rules_unchanged: under REPEATABLE READ or SERIALIZABLE the batch is
 * resolved with the transaction's snapshot, which may predate a change of a
 * location's kind or a product's track_stock that the movement gate waited
 * for.  In the latest snapshot, a location of the transaction's snapshot
 * whose class differs, or a product of it whose tracking differs (row by row,
 * not a digest: two changes must not cancel out), is 40001 (the retry reads
 * the new values).  Rows added since do not count: the batch did not resolve
 * against them.  In READ COMMITTED the statements that follow the gate see
 * the change anyway.
 */
static void
check_rules_unchanged(ImportRun *run)
{
	Datum		values[5];
	bool		isnull;
	int			i;

	if (!IsolationUsesXactSnapshot())
		return;
	values[0] = run->args[0];
	if (SPI_execute_plan(PLAN(ST_RULES_SEEN), values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "reading the tenant's kinds failed");
	for (i = 0; i < 4; i++)
	{
		values[i + 1] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, i + 1, &isnull);
		if (isnull)
			values[i + 1] = PointerGetDatum(construct_empty_array(INT8OID));
	}
	if (SPI_execute_snapshot(PLAN(ST_RULES_CHANGED), values, NULL, GetLatestSnapshot(), InvalidSnapshot,
							 true, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "reading the tenant's kinds failed");
	if (DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)))
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("could not serialize access due to a concurrent change of the tenant's locations or products"),
				 errdetail("A location's kind or a product's track_stock changed after this transaction began."),
				 errhint("Retry the transaction.")));
}

/* apply_fresh: step 3, the kind's insert of the fresh rows (and the levels, for the ledger kinds) */
static void
apply_fresh(ImportRun *run)
{
	run_kind(run, KS_INSERT, SPI_OK_SELECT);
	run->applied = result_int(1);
	run->levels = run->kind->store->ledger ? result_int(2) : 0;
}

/*
 * apply_opening_stock: movements from the tenant's virtual location OPENING
 * (kind adjustment; made by the first opening-stock import that needs it).
 */
static void
apply_opening_stock(ImportRun *run)
{
	char	   *kind;

	if (run->fresh == 0)
		return;
	run_shared(ST_OPENING_MAKE, run->args, SPI_OK_INSERT);
	if (run_shared(ST_OPENING_READ, run->args, SPI_OK_SELECT) != 1)
		elog(ERROR, "location OPENING not found after it was made");
	kind = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	if (strcmp(kind, "adjustment") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("location OPENING is a %s location, opening stock comes from an adjustment location",
						kind),
				 errhint("Rename that location's code; the import then makes OPENING (kind adjustment).")));
	run->args[2] = Int64GetDatum(result_int(1));
	apply_fresh(run);
}

/*
 * check_race: step 4, fresh rows a concurrent import stored first were not
 * inserted: the same payload is a replay, another a bad row (KS_RACE; the
 * rows this apply inserted compare equal).
 */
static void
check_race(ImportRun *run)
{
	int64		conflicts;

	if (run->applied >= run->fresh)
		return;
	conflicts = (int64) run_kind(run, KS_RACE, SPI_OK_INSERT);
	if (conflicts == 0)
		return;
	count_rows(run);
	if (!run->skip_bad)
		refuse_rejects(run, conflicts);
	/* stored by the other import: nothing of this apply to undo */
}

/* check_negative: step 5, a strict tenant's internal level below zero refuses the batch */
static void
check_negative(ImportRun *run)
{
	if (ledger_allows_negative(run->tenant))
		return;
	if (run_shared(ST_NEGATIVE, run->args, SPI_OK_SELECT) > 0)
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("import refused: insufficient stock"),
				 errdetail("After the batch %s.", SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1)),
				 errhint("Import the receipts first, or allow negative stock in the tenant's settings (allow_negative_stock).")));
}

/* ---------------------------------------------------------------- entry points */

/*
 * begin_import(kind text) returns text: creates pg_temp.import_<kind> (the
 * CSV's columns, all text, ON COMMIT DROP) and returns the COPY command to
 * fill it.
 */
Datum
begin_import(PG_FUNCTION_ARGS)
{
	ImportRun	run;
	OwnerScope	session;
	LOCKTAG		tag;
	char	   *staging;

	run_start(&run, fcinfo);
	staging = psprintf("import_%s", run.kind->name);

	/*
	 * The import's tenant, where other sessions can see it: a lock of the
	 * transaction on an advisory tag of easeinv's own (objsubid
	 * EASEINV_LOCK_IMPORT, which pg_advisory_lock never uses) naming the
	 * tenant.  import_progress shows a tenant only its own running imports
	 * by it; no one waits on it (share mode).
	 */
	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, (uint32) ((uint64) run.tenant >> 32), (uint32) run.tenant,
						 EASEINV_LOCK_IMPORT);
	(void) LockAcquire(&tag, ShareLock, false, false);

	/*
	 * The staging table belongs to the owner, whose statements read it; the
	 * caller may only add rows and read them (no UPDATE or DELETE: rows keep
	 * their place, which numbers them as in the file).  A table of the
	 * caller's could be altered (a column retyped to a type whose cast is the
	 * caller's function, a policy, an index expression) to run the caller's
	 * code with the owner's rights when the apply reads it.
	 */
	owner_begin(&session);
	if (temp_exists(staging))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("an import of %s is already open in this transaction", run.kind->name),
				 errhint("Copy more rows into it, or roll back to start again.")));
	create_staging(&run);
	grant_to_caller(&run, "SELECT, INSERT", staging);
	owner_end(&session);
	PG_RETURN_TEXT_P(cstring_to_text(psprintf("COPY %s FROM STDIN (FORMAT csv, HEADER)", staging)));
}

/* return_rejects: import_rejects into the function's result, through a cursor */
static void
return_rejects(ReturnSetInfo *rsinfo)
{
	/* a file bad in every row must not be held in memory twice */
	Portal		portal = SPI_cursor_open(NULL, PLAN(ST_REJECTS_ALL), NULL, NULL, false);
	uint64		i;

	for (;;)
	{
		SPI_cursor_fetch(portal, true, 10000);
		if (SPI_processed == 0)
			break;
		for (i = 0; i < SPI_processed; i++)
		{
			Datum		values[4];
			bool		nulls[4];
			int			c;

			for (c = 0; c < 4; c++)
				values[c] = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, c + 1, &nulls[c]);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
}

/*
 * check_import(kind text) returns table (row_no, column_name, value, reason):
 * every bad field of the open import, in row order; applies nothing.
 */
Datum
check_import(PG_FUNCTION_ARGS)
{
	ImportRun	run;
	OwnerScope	session;

	run_start(&run, fcinfo);
	InitMaterializedSRF(fcinfo, 0);
	owner_begin(&session);
	resolve_and_check(&run);
	return_rejects((ReturnSetInfo *) fcinfo->resultinfo);
	run_shared(ST_DROP_ROWS, NULL, SPI_OK_UTILITY);
	owner_end(&session);
	return (Datum) 0;
}

/*
 * check_may_apply: products are written as the owner, so the caller must be
 * allowed to write them (42501); an import of movements passes the tenant's
 * movement gate like every movement (ledger.c).
 */
static void
check_may_apply(ImportRun *run)
{
	if (!run->kind->store->ledger &&
		pg_class_aclcheck(get_relname_relid("products", get_namespace_oid(EASEINV_SCHEMA, false)),
						  GetUserId(), ACL_INSERT) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to insert into easeinv.products"),
				 errhint("Import products as a role that may insert them (easeinv_app or easeinv_admin).")));
	if (run->kind->store->ledger)
		ledger_gate(run->tenant, false);
}

/*
 * pin_apply_settings: inside the owner scope (undone with it): work_mem of at
 * least IMPORT_WORK_MEM, and no JIT: each statement runs once, compiling it
 * costs more than it saves (up to a second measured).
 */
static void
pin_apply_settings(void)
{
	if (work_mem < IMPORT_WORK_MEM_KB)
		(void) set_config_option("work_mem", IMPORT_WORK_MEM, PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("jit", "off", PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
}

/* summary_row: the easeinv.import_summary of the run */
static Datum
summary_row(FunctionCallInfo fcinfo, ImportRun *run, double elapsed_ms, MemoryContext cxt)
{
	Datum		values[8];
	bool		nulls[8] = {0};

	values[0] = CStringGetTextDatum(run->kind->name);
	values[1] = Int64GetDatum(run->rows);
	values[2] = Int64GetDatum(run->applied);
	values[3] = Int64GetDatum(run->replayed);
	values[4] = Int64GetDatum(run->rejected);
	values[5] = Int64GetDatum(run->skipped);
	values[6] = Int64GetDatum(run->levels);
	values[7] = DirectFunctionCall1(float8_numeric, Float8GetDatum(elapsed_ms));
	return result_row(fcinfo, values, nulls, 8, cxt);
}

/*
 * emit_applied: one import.applied event per batch (never one per row), with
 * its summary, aggregate import:<kind>; and a tenant-wide invalidation of what
 * the batch may have changed (stock:*, or product:* for products), instead of
 * one notification per row.
 */
static void
emit_applied(ImportRun *run)
{
	EventPayload p;

	event_begin(&p);
	event_text(&p, "kind", run->kind->name);
	event_int8(&p, "rows", run->rows);
	event_int8(&p, "applied", run->applied);
	event_int8(&p, "replayed", run->replayed);
	event_int8(&p, "rejected", run->rejected);
	event_int8(&p, "skipped", run->skipped);
	event_int8(&p, "levels", run->levels);
	(void) events_emit(run->tenant, "import.applied", "import", run->kind->name, event_end(&p));
	if (run->applied > 0)
		events_invalidate_all(run->tenant, run->kind->store->ledger ? "stock" : "product");
}

/*
 * apply_import(kind text, skip_bad boolean) returns easeinv.import_summary:
 * kind, rows, applied, replayed, rejected, skipped, levels, elapsed_ms.
 */
Datum
apply_import(PG_FUNCTION_ARGS)
{
	MemoryContext cxt = CurrentMemoryContext;
	ImportRun	run;
	OwnerScope	session;
	instr_time	start,
				elapsed;

	INSTR_TIME_SET_CURRENT(start);
	run_start(&run, fcinfo);
	run.skip_bad = PG_ARGISNULL(1) ? false : PG_GETARG_BOOL(1);
	check_may_apply(&run);
	owner_begin(&session);
	pin_apply_settings();
	if (run.kind->store->ledger)
		check_rules_unchanged(&run);
	resolve_and_check(&run);
	count_rows(&run);
	if (run.rejected > 0 && !run.skip_bad)
		refuse_rejects(&run, run.rejected);
	ereport(NOTICE,
			(errmsg("import of %s: %lld rows checked, %lld bad, %lld new", run.kind->name,
					(long long) run.rows, (long long) run.rejected, (long long) run.fresh)));
	run.kind->apply(&run);
	check_race(&run);
	if (run.kind->store->ledger)
		check_negative(&run);
	run.replayed = run.rows - run.applied - run.rejected - run.skipped;
	run_shared(ST_DROP_ROWS, NULL, SPI_OK_UTILITY);
	emit_applied(&run);
	owner_end(&session);

	INSTR_TIME_SET_CURRENT(elapsed);
	INSTR_TIME_SUBTRACT(elapsed, start);
	ereport(NOTICE,
			(errmsg("import of %s: %lld applied, %lld replayed, %lld rejected, %lld skipped, %lld level rows, %.0f ms",
					run.kind->name, (long long) run.applied, (long long) run.replayed, (long long) run.rejected,
					(long long) run.skipped, (long long) run.levels, INSTR_TIME_GET_MILLISEC(elapsed))));
	MemoryContextSwitchTo(cxt);
	return summary_row(fcinfo, &run, INSTR_TIME_GET_MILLISEC(elapsed), cxt);
}

/* ---------------------------------------------------------------- import_time */

/* n digits at *p as a number, advancing p; -1 when they are not digits */
static int
digits(const char **p, int n)
{
	int			v = 0;

	while (n-- > 0)
	{
		if (!isdigit((unsigned char) **p))
			return -1;
		v = v * 10 + (**p - '0');
		(*p)++;
	}
	return v;
}

/* read_date: YYYY-MM-DD, years 1900 to 2999, a real date (no 2025-02-30) */
static bool
read_date(const char **p)
{
	static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int			y,
				m,
				d;

	return !((y = digits(p, 4)) < 1900 || y > 2999 || *(*p)++ != '-' ||
			 (m = digits(p, 2)) < 1 || m > 12 || *(*p)++ != '-' ||
			 (d = digits(p, 2)) < 1 ||
			 d > mdays[m - 1] + (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)));
}

/* read_clock: HH:MM[:SS[.ffffff]] */
static bool
read_clock(const char **p)
{
	int			hh,
				mi;

	if ((hh = digits(p, 2)) < 0 || hh > 23 || *(*p)++ != ':' || (mi = digits(p, 2)) < 0 || mi > 59)
		return false;
	if (**p == ':')
	{
		int			ss;

		(*p)++;
		if ((ss = digits(p, 2)) < 0 || ss > 59)
			return false;
		if (**p == '.')
		{
			int			n = 0;

			(*p)++;
			while (isdigit((unsigned char) **p) && n < 6)
				(*p)++, n++;
			if (n == 0 || isdigit((unsigned char) **p))
				return false;
		}
	}
	return true;
}

/* read_zone: blanks, then nothing, Z, or an offset +HH, +HHMM, +HH:MM */
static bool
read_zone(const char **p)
{
	while (**p == ' ')
		(*p)++;
	if (**p == 'Z')
		(*p)++;
	else if (**p == '+' || **p == '-')
	{
		int			oh,
					om;

		(*p)++;
		if ((oh = digits(p, 2)) < 0 || oh > 15)
			return false;
		if (**p == ':' || isdigit((unsigned char) **p))
		{
			if (**p == ':')
				(*p)++;
			if ((om = digits(p, 2)) < 0 || om > 59)
				return false;
		}
	}
	return true;
}

/*
 * import_time(text) returns timestamptz: YYYY-MM-DD, optionally followed by
 * a space or T and HH:MM[:SS[.ffffff]] and then optionally Z or an offset
 * +HH, +HHMM, +HH:MM; blanks around; years 1900 to 2999, real dates only (no 2025-02-30).
 * NULL for anything else: the import's checks report it.  A string that
 * passes is one timestamptz_in reads without error, so no row can stop the
 * batch with an error of its own.
 */
Datum
import_time(PG_FUNCTION_ARGS)
{
	char	   *s = text_to_cstring(PG_GETARG_TEXT_PP(0));
	const char *p = s;

	while (*p == ' ')
		p++;
	if (!read_date(&p))
		PG_RETURN_NULL();
	if ((*p == ' ' || *p == 'T') && isdigit((unsigned char) p[1]))
	{
		p++;
		/* a zone only after a time: 2025-10-01-05 would be read as something else */
		if (!read_clock(&p) || !read_zone(&p))
			PG_RETURN_NULL();
	}
	while (*p == ' ')
		p++;
	if (*p != '\0')
		PG_RETURN_NULL();
	return DirectFunctionCall3(timestamptz_in, CStringGetDatum(s), ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
}

/*
 * import_numeric(text) returns numeric: digits with an optional fraction
 * (12, 12.5, .5 is not one), blanks around allowed, at most 30 digits on
 * either side; NULL for anything else (signs, exponents, thousands
 * separators): the import's checks report it.  What passes, numeric_in reads
 * without error.
 */
Datum
import_numeric(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	const char *p = VARDATA_ANY(t);
	const char *end = p + VARSIZE_ANY_EXHDR(t);
	const char *start;
	int			whole = 0,
				frac = -1;
	char		buf[64];

	while (p < end && *p == ' ')
		p++;
	while (end > p && end[-1] == ' ')
		end--;
	start = p;
	while (p < end && isdigit((unsigned char) *p))
		p++, whole++;
	if (p < end && *p == '.')
	{
		p++;
		frac = 0;
		while (p < end && isdigit((unsigned char) *p))
			p++, frac++;
	}
	if (p != end || whole == 0 || whole > 30 || frac == 0 || frac > 30)
		PG_RETURN_NULL();
	memcpy(buf, start, end - start);
	buf[end - start] = '\0';
	return num_parse(buf);
}

/*
 * import_text(text) returns text: the text itself when it is valid in the
 * database encoding, else a copy with each invalid byte shown as U+FFFD (in
 * UTF8; ? in other encodings), so that an import can report the row and show
 * the value.  STABLE (the database's encoding), STRICT, PARALLEL SAFE.
 */
Datum
import_text(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	const char *p = VARDATA_ANY(t);
	int			len = VARSIZE_ANY_EXHDR(t);
	int			encoding = GetDatabaseEncoding();
	StringInfoData out;

	if (encoding == PG_SQL_ASCII || pg_verify_mbstr(encoding, p, len, true))
		PG_RETURN_TEXT_P(t);
	initStringInfo(&out);
	while (len > 0)
	{
		int			ok = pg_encoding_verifymbstr(encoding, p, len);

		appendBinaryStringInfo(&out, p, ok);
		p += ok;
		len -= ok;
		if (len > 0)
		{
			/* one invalid byte (a NUL too), shown and skipped */
			appendStringInfoString(&out, encoding == PG_UTF8 ? "\xEF\xBF\xBD" : "?");
			p++;
			len--;
		}
	}
	PG_RETURN_TEXT_P(cstring_to_text_with_len(out.data, out.len));
}
