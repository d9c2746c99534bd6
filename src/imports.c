/*-------------------------------------------------------------------------
 * imports.c
 *	  Bulk imports: begin_import, check_import, apply_import, import_time.
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
 * batch (no per-row calls), as the ledger's owner (ledger_begin):
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
 *-------------------------------------------------------------------------
 */
#include "easeinv.h"
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
#include "storage/lock.h"
#include "portability/instr_time.h"
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

/*
 * Shared SQL fragments.  $T is the tenant id, $U the caller as an identifier,
 * $N as a literal.  In a kind's resolve the staged row is i; in the checks the
 * resolved row is r.
 */
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

/* how a row's stored key differs from it, per kind (r.stored_id, r.stored_differs) */
#define MOVEMENT_CONFLICT \
	"'key already used for movement ' || r.stored_id || ' with ' || r.stored_differs"
#define PRODUCT_CONFLICT \
	"'product ' || r.stored_id || ' has this SKU with ' || r.stored_differs"
#define OPENING_CONFLICT \
	"'opening stock of this product here is already recorded with ' || r.stored_differs || " \
	"' (movement ' || r.stored_id || ')'"

#define MAX_CHECKS	12


typedef struct ImportRun ImportRun;

/* how each kind writes its fresh rows (below) */
static void apply_movements(ImportRun *run);
static void check_rules_unchanged(ImportRun *run);
static void apply_opening_stock(ImportRun *run);
static void apply_products(ImportRun *run);

/* one column's check: the reason the value of r is bad, NULL when it is good */
typedef struct ImportCheck
{
	const char *column;
	const char *reason;
} ImportCheck;

/*
 * An import kind.  resolve yields one row per staged row i with at least n
 * (row in the file), k (the row's key, NULL when it has none) and blank (every
 * field empty); stored_table joined ON stored_on is the stored row s of the
 * key, and differs says (as text) how s differs from the row r, NULL when it
 * does not; the key's conflict is reported on key_column by conflict; payload
 * lists the resolved columns two rows of one key must agree on, duplicate says
 * that a row does not (r.first_n is the first row of its key); checks give each
 * column's reason; skip says which good rows store nothing.  All may use $T.
 */
typedef struct ImportKind
{
	const char *name;
	const char *columns;		/* the staging table's, all text */
	const char *resolve;
	const char *stored_table;
	const char *stored_on;
	const char *differs;
	const char *key_column;
	const char *conflict;
	const char *duplicate;
	const char *payload;
	const char *skip;
	bool		ledger;			/* writes movements and levels (else products) */
	void		(*apply) (ImportRun *run);	/* writes the fresh rows */
	ImportCheck checks[MAX_CHECKS];
} ImportKind;

static const ImportKind kinds[] = {
	{
		.name = "movements",
		.columns = "idempotency_key, sku, from_location, to_location, qty, unit_cost, reason, "
		"reference_type, reference_id, occurred_at",
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
		"LEFT JOIN easeinv.products p ON p.tenant_id = $T AND p.sku = btrim(x.sku) AND p.deleted_at IS NULL "
		"LEFT JOIN easeinv.locations fl ON fl.tenant_id = $T AND fl.code = btrim(x.from_location) AND fl.deleted_at IS NULL "
		"LEFT JOIN easeinv.locations tl ON tl.tenant_id = $T AND tl.code = btrim(x.to_location) AND tl.deleted_at IS NULL",
		.stored_table = "easeinv.stock_movements s",
		.stored_on = "s.tenant_id = $T AND s.idempotency_key = r.k",
		.differs =
		"CASE WHEN s.id IS NULL THEN NULL "
		"WHEN s.reverses_id IS NOT NULL THEN 'a reversal' "
		"WHEN s.product_id IS DISTINCT FROM r.product_id THEN 'another product' "
		"WHEN s.from_location_id IS DISTINCT FROM r.from_id THEN 'another from_location' "
		"WHEN s.to_location_id IS DISTINCT FROM r.to_id THEN 'another to_location' "
		"WHEN s.qty IS DISTINCT FROM r.q THEN 'qty ' || s.qty "
		"WHEN s.unit_cost IS DISTINCT FROM r.cost THEN 'unit_cost ' || coalesce(s.unit_cost::text, 'empty') "
		"WHEN s.reason IS DISTINCT FROM NULLIF(r.reason, '') THEN 'another reason' "
		"WHEN s.reference_type IS DISTINCT FROM NULLIF(r.reference_type, '') THEN 'another reference_type' "
		"WHEN s.reference_id IS DISTINCT FROM NULLIF(r.reference_id, '') THEN 'another reference_id' "
		"WHEN r.at IS NOT NULL AND s.occurred_at <> r.at THEN 'another occurred_at' END",
		.key_column = "idempotency_key",
		.conflict = MOVEMENT_CONFLICT,
		.duplicate = "'also in row ' || r.first_n || ' with another payload'",
		.payload = "product_id, from_id, to_id, q, cost, at, reason, reference_type, reference_id",
		.skip = "false",
		.ledger = true,
		.apply = apply_movements,
		.checks = {
			{"idempotency_key",
				"CASE WHEN r.k IS NULL THEN 'missing' "
				"WHEN length(r.k) > 255 THEN 'longer than 255 characters' "
				"WHEN r.k LIKE 'easeinv:%' THEN 'keys starting with easeinv: are reserved' "
			"WHEN r.stored_differs IS NOT NULL THEN " MOVEMENT_CONFLICT " END"},
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
	{
		.name = "products",
		.columns = "sku, name, hsn_code, unit, gst_rate, track_stock",
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
		.stored_table = "easeinv.products s",
		.stored_on = "s.tenant_id = $T AND s.sku = r.k AND s.deleted_at IS NULL",
		.differs =
		"CASE WHEN s.id IS NULL THEN NULL "
		"WHEN s.name IS DISTINCT FROM r.nm THEN format('name %L', s.name) "
		"WHEN s.hsn_code IS DISTINCT FROM r.hsn THEN format('hsn_code %L', s.hsn_code) "
		"WHEN s.unit IS DISTINCT FROM r.u THEN format('unit %s', s.unit) "
		"WHEN s.gst_rate IS DISTINCT FROM r.rate THEN format('gst_rate %s', s.gst_rate) "
		"WHEN s.track_stock IS DISTINCT FROM r.ts THEN format('track_stock %s', s.track_stock) END",
		.key_column = "sku",
		.conflict = PRODUCT_CONFLICT,
		.duplicate = "'also in row ' || r.first_n || ' with another name, HSN code, unit, rate or track_stock'",
		.payload = "nm, hsn, u, rate, ts",
		.skip = "false",
		.ledger = false,
		.apply = apply_products,
		.checks = {
			{"sku",
				"CASE WHEN r.k IS NULL THEN 'missing' "
				"WHEN length(r.k) > 64 THEN 'longer than 64 characters' "
			"WHEN r.stored_differs IS NOT NULL THEN " PRODUCT_CONFLICT " END"},
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
	{
		.name = "opening_stock",
		.columns = "sku, location, qty, unit_cost, occurred_at",
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
		"LEFT JOIN easeinv.products p ON p.tenant_id = $T AND p.sku = btrim(x.sku) AND p.deleted_at IS NULL "
		"LEFT JOIN easeinv.locations l ON l.tenant_id = $T AND l.code = btrim(x.location) AND l.deleted_at IS NULL",
		.stored_table = "easeinv.stock_movements s",
		.stored_on = "s.tenant_id = $T AND s.idempotency_key = r.k",
		.differs =
		"CASE WHEN s.id IS NULL THEN NULL "
		"WHEN s.qty IS DISTINCT FROM r.q THEN 'qty ' || s.qty "
		"WHEN s.unit_cost IS DISTINCT FROM r.cost THEN 'unit_cost ' || coalesce(s.unit_cost::text, 'empty') "
		"WHEN r.at IS NOT NULL AND s.occurred_at <> r.at THEN 'another occurred_at' END",
		.key_column = "location",
		.conflict = OPENING_CONFLICT,
		.duplicate = "'this product and location are also in row ' || r.first_n || ' with another quantity, cost or time'",
		.payload = "q, cost, at",
		.skip = "r.q = 0",
		.ledger = true,
		.apply = apply_opening_stock,
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

/* An apply's state and counts. */
struct ImportRun
{
	const ImportKind *kind;
	int64		tenant;
	char	   *caller;			/* the calling role's name */
	bool		skip_bad;
	int64		rows,
				applied,
				replayed,
				rejected,
				skipped,
				levels,
				fresh;
};

/* ---------------------------------------------------------------- helpers */

/*
 * check_rules_unchanged: under REPEATABLE READ or SERIALIZABLE the batch is
 * resolved with the transaction's snapshot, which may predate a change of a
 * location's kind or a product's track_stock that the movement gate waited
 * for.  The tenant's kinds and tracking, digested, must be the same in the
 * latest snapshot; otherwise 40001 (the retry reads the new values).  In READ
 * COMMITTED the statements that follow the gate see the change anyway.
 */
static void
check_rules_unchanged(ImportRun *run)
{
	Oid			types[1] = {INT8OID};
	Oid			types2[5] = {INT8OID, INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID};
	Datum		values[5];
	bool		isnull;
	bool		changed;
	int			i;

	if (!IsolationUsesXactSnapshot())
		return;
	/* as the transaction sees them: the internal locations, all products, the tracked ones */
	values[0] = Int64GetDatum(run->tenant);
	if (SPI_execute_with_args("SELECT (SELECT pg_catalog.array_agg(l.id) FROM easeinv.locations l"
							  "         WHERE l.tenant_id OPERATOR(pg_catalog.=) $1"
							  "           AND l.kind OPERATOR(pg_catalog.=) ANY ('{warehouse,store,bin}'::pg_catalog.text[])),"
							  "       (SELECT pg_catalog.array_agg(p.id) FROM easeinv.products p"
							  "         WHERE p.tenant_id OPERATOR(pg_catalog.=) $1),"
							  "       (SELECT pg_catalog.array_agg(p.id) FROM easeinv.products p"
							  "         WHERE p.tenant_id OPERATOR(pg_catalog.=) $1 AND p.track_stock),"
							  "       (SELECT pg_catalog.array_agg(l.id) FROM easeinv.locations l"
							  "         WHERE l.tenant_id OPERATOR(pg_catalog.=) $1)",
							  1, types, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "reading the tenant's kinds failed");
	for (i = 0; i < 4; i++)
	{
		values[i + 1] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, i + 1, &isnull);
		if (isnull)
			values[i + 1] = PointerGetDatum(construct_empty_array(INT8OID));
	}
	/*
	 * In the latest snapshot: a location of the snapshot whose class differs,
	 * or a product of the snapshot whose tracking differs (row by row, not a
	 * digest: two changes must not cancel out).  Rows added since do not
	 * count: the batch did not resolve against them.
	 */
	{
		SPIPlanPtr	plan = SPI_prepare("SELECT EXISTS (SELECT 1 FROM easeinv.locations l"
									   "  WHERE l.tenant_id OPERATOR(pg_catalog.=) $1 AND l.id OPERATOR(pg_catalog.=) ANY ($5)"
									   "    AND (l.kind OPERATOR(pg_catalog.=) ANY ('{warehouse,store,bin}'::pg_catalog.text[]))"
									   "        OPERATOR(pg_catalog.<>) (l.id OPERATOR(pg_catalog.=) ANY ($2)))"
									   " OR EXISTS (SELECT 1 FROM easeinv.products p"
									   "  WHERE p.tenant_id OPERATOR(pg_catalog.=) $1 AND p.id OPERATOR(pg_catalog.=) ANY ($3)"
									   "    AND p.track_stock OPERATOR(pg_catalog.<>) (p.id OPERATOR(pg_catalog.=) ANY ($4)))",
									   5, types2);

		if (plan == NULL ||
			SPI_execute_snapshot(plan, values, NULL, GetLatestSnapshot(), InvalidSnapshot, true, false, 1) != SPI_OK_SELECT)
			elog(ERROR, "reading the tenant's kinds failed");
		changed = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		SPI_freeplan(plan);
	}
	if (changed)
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("could not serialize access due to a concurrent change of the tenant's locations or products"),
				 errdetail("A location's kind or a product's track_stock changed after this transaction began."),
				 errhint("Retry the transaction.")));
}

/*
 * verified_resolve: the kind's resolve reading the staged rows through their
 * encoding check.  COPY stores what a client sends with client_encoding
 * SQL_ASCII without checking it, so every staged column goes through
 * import_text (invalid sequences shown as U+FFFD, or ? in other encodings)
 * and bad_encoding lists the columns that held invalid text.  Nothing else
 * of the import sees the raw bytes.
 */
static char *
verified_resolve(const ImportKind *kind)
{
	StringInfoData clean;
	StringInfoData bad;
	StringInfoData raw;
	char	   *columns = pstrdup(kind->columns);
	char	   *from = psprintf("FROM pg_temp.import_%s i", kind->name);
	const char *at = strstr(kind->resolve, from);
	char	   *col;
	char	   *save;

	if (at == NULL)
		elog(ERROR, "import kind %s reads no pg_temp.import_%s i", kind->name, kind->name);
	initStringInfo(&clean);
	initStringInfo(&bad);
	initStringInfo(&raw);
	for (col = strtok_r(columns, ", ", &save); col != NULL; col = strtok_r(NULL, ", ", &save))
	{
		/* (before ALTER EXTENSION UPDATE to 0.5.0 there is no import_text: ledger.c, version skew) */
		appendStringInfo(&raw, plan_sql_050() ? "%ss.%s, easeinv.import_text(s.%s) AS %s_text" : "%ss.%s, s.%s AS %s_text",
						 raw.len ? ", " : "", col, col, col);
		appendStringInfo(&clean, "%sv.%s_text AS %s", clean.len ? ", " : "", col, col);
		appendStringInfo(&bad, "%sCASE WHEN v.%s_text IS DISTINCT FROM v.%s THEN '%s' END",
						 bad.len ? ", " : "", col, col, col);
	}
	return psprintf("%.*sFROM (SELECT %s, pg_catalog.array_remove(ARRAY[%s], NULL) AS bad_encoding "
					"FROM (SELECT %s FROM pg_temp.import_%s s OFFSET 0) v) i%s",
					(int) (at - kind->resolve), kind->resolve, clean.data, bad.data, raw.data, kind->name,
					at + strlen(from));
}

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
	for (i = 0; i < (int) lengthof(kinds); i++)
		if (strcmp(name, kinds[i].name) == 0)
			return &kinds[i];
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown import kind \"%s\"", name),
			 errhint("Imports: " KIND_NAMES ".")));
	return NULL;				/* keep compiler quiet */
}

/* sql with $T replaced by the tenant and $U by the caller */
static char *
fill(const char *sql, ImportRun *run)
{
	StringInfoData out;
	const char *p;

	initStringInfo(&out);
	for (p = sql; *p; p++)
	{
		if (p[0] == '$' && p[1] == 'T')
		{
			appendStringInfo(&out, INT64_FORMAT, run->tenant);
			p++;
		}
		else if (p[0] == '$' && (p[1] == 'U' || p[1] == 'N'))
		{
			appendStringInfoString(&out, p[1] == 'U' ? quote_identifier(run->caller)
								   : quote_literal_cstr(run->caller));
			p++;
		}
		else
			appendStringInfoChar(&out, *p);
	}
	return out.data;
}

/* run a statement; its row count */
static uint64
run_sql(ImportRun *run, const char *sql, int expected)
{
	char	   *filled = plan_sql_for_installed(fill(sql, run));
	int			rc = SPI_execute(filled, false, 0);

	if (rc != expected)
		elog(ERROR, "import statement failed (%s): %s", SPI_result_code_string(rc), filled);
	pfree(filled);
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
	char	   *sql = psprintf("SELECT pg_catalog.to_regclass('pg_temp.%s') IS NOT NULL", name);
	bool		isnull;

	if (SPI_execute(sql, false, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "import query failed: %s", sql);
	return DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * the open import of the kind, or 55000: the staging table begin_import made
 * (a table of the ledger's owner; a relation of that name made otherwise is
 * not read with the owner's rights)
 */
static void
require_open(const ImportKind *kind)
{
	char	   *sql = psprintf("SELECT c.relkind = 'r' AND c.relowner = %u FROM pg_catalog.pg_class c "
							   "WHERE c.oid = pg_catalog.to_regclass('pg_temp.import_%s')",
							   owner_role(), kind->name);
	bool		isnull;

	if (SPI_execute(sql, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "import query failed: %s", sql);
	if (SPI_processed == 0)
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
 * resolve_and_check: steps 1 and 2.  pg_temp.import_rows and
 * pg_temp.import_rejects are made anew (the caller may read the rejects).
 */
static void
resolve_and_check(ImportRun *run)
{
	const ImportKind *kind = run->kind;
	StringInfoData why,
				any,
				vals,
				same,
				first;
	char	   *sql;
	char	   *stored;
	bool		big;
	int64		staged;
	char	   *cols;
	char	   *col;
	char	   *save;
	int			c;

	require_open(kind);
	if (temp_exists("import_rows"))
		run_sql(run, "DROP TABLE pg_temp.import_rows", SPI_OK_UTILITY);
	if (temp_exists("import_rejects"))
		run_sql(run, "DROP TABLE pg_temp.import_rejects", SPI_OK_UTILITY);

	/*
	 * The stored row of each key: a batch of up to IMPORT_PROBE_ROWS rows
	 * probes the key index per row; a larger one joins the tenant's rows as a
	 * whole, planned with the batch's statistics.  (The planner cannot tell:
	 * it does not know how many distinct keys the staged rows have, and would
	 * read a large ledger to find a few.)  A small batch is not analyzed: that
	 * costs more than its plans gain (12 ms of a 55 ms apply of 1,000 rows).
	 */
	run_sql(run, psprintf("SELECT count(*) FROM pg_temp.import_%s", kind->name), SPI_OK_SELECT);
	staged = result_int(1);
	big = staged > IMPORT_ANALYZE_ROWS;
	if (big)
		run_sql(run, psprintf("ANALYZE pg_temp.import_%s", kind->name), SPI_OK_UTILITY);
	if (staged <= IMPORT_PROBE_ROWS)
		stored = psprintf("LEFT JOIN LATERAL (SELECT s.* FROM %s WHERE %s LIMIT 1) s ON true",
						  kind->stored_table, kind->stored_on);
	else
		stored = psprintf("LEFT JOIN %s ON %s", kind->stored_table, kind->stored_on);

	initStringInfo(&why);
	initStringInfo(&any);
	initStringInfo(&vals);
	/* text not valid in the database encoding is reported before anything else about the column */
	for (c = 0; c < MAX_CHECKS && kind->checks[c].column; c++)
	{
		appendStringInfo(&why, ", CASE WHEN '%s' = ANY (r.bad_encoding) THEN 'not valid %s text' ELSE %s END AS why_%d",
						 kind->checks[c].column, GetDatabaseEncodingName(), kind->checks[c].reason, c);
		appendStringInfo(&any, "%sq.why_%d", c ? ", " : "", c);
		appendStringInfo(&vals, "%s('%s', r.%s, r.why_%d)", c ? ", " : "",
						 kind->checks[c].column, kind->checks[c].column, c);
	}
	appendStringInfo(&vals, ", ('%s', r.%s, CASE WHEN r.dup_differs THEN %s END)",
					 kind->key_column, kind->key_column, kind->duplicate);

	/*
	 * 1. Rows numbered in file order: row_number() over the bare scan of a
	 * temporary heap that COPY filled is its physical order (a scan of local
	 * buffers never starts mid-table).  The window sorts by (key, row): the
	 * table is written in that order, which the insert's key order relies on
	 * (byte order: the same for every import, and a sort 2 to 3 times faster
	 * than the database's collation measured on a million keys).
	 * Each column's reason is computed once (OFFSET 0 keeps the planner from
	 * computing them again for bad).
	 */
	sql = psprintf("CREATE TEMPORARY TABLE import_rows ON COMMIT DROP AS "
				   "SELECT q.*, NOT q.blank AND num_nonnulls(%s) > 0 AS bad, false AS dup_differs "
				   "FROM (SELECT r.* %s "
				   "      FROM (SELECT r.*, s.id AS stored_id, %s AS stored_differs, first_value(r.n) OVER w AS first_n "
				   "              FROM (%s) r %s "
				   "            WINDOW w AS (PARTITION BY r.k COLLATE \"C\" ORDER BY r.n)) r OFFSET 0) q",
				   any.data, why.data, kind->differs, verified_resolve(kind), stored);
	run_sql(run, sql, SPI_OK_UTILITY);
	/* the statements below are planned with the batch's real size (a large batch's) */
	if (big)
		run_sql(run, "ANALYZE pg_temp.import_rows", SPI_OK_UTILITY);

	/* a key repeated in the file: its rows must agree with the first (rarely needed, so apart) */
	run_sql(run, "SELECT count(*) FROM pg_temp.import_rows r WHERE r.n <> r.first_n AND r.k IS NOT NULL",
			SPI_OK_SELECT);
	if (result_int(1) > 0)
	{
		initStringInfo(&same);
		initStringInfo(&first);
		cols = pstrdup(kind->payload);
		for (col = strtok_r(cols, ", ", &save), c = 0; col; col = strtok_r(NULL, ", ", &save), c++)
		{
			appendStringInfo(&same, "%sr.%s", c ? ", " : "", col);
			appendStringInfo(&first, "%sf.%s", c ? ", " : "", col);
		}
		sql = psprintf("UPDATE pg_temp.import_rows r SET dup_differs = true, bad = true "
					   "FROM pg_temp.import_rows f "
					   "WHERE r.n <> r.first_n AND r.k IS NOT NULL AND f.n = r.first_n "
					   "  AND (%s) IS DISTINCT FROM (%s)", same.data, first.data);
		run_sql(run, sql, SPI_OK_UPDATE);
	}

	/* 2. one row per bad field, from the bad rows only */
	sql = psprintf("CREATE TEMPORARY TABLE import_rejects ON COMMIT DROP AS "
				   "SELECT r.n AS row_no, c.column_name, c.value, c.reason "
				   "FROM pg_temp.import_rows r "
				   "CROSS JOIN LATERAL (VALUES %s) c(column_name, value, reason) "
				   "WHERE r.bad AND c.reason IS NOT NULL",
				   vals.data);
	run_sql(run, sql, SPI_OK_UTILITY);
	/* made by the owner, whose statements these are: the caller reads it */
	run_sql(run, "GRANT SELECT ON pg_temp.import_rejects TO $U", SPI_OK_UTILITY);
}

/*
 * count_rows: rows, bad rows, skipped rows, and the fresh rows (first of
 * their key, key not stored, not bad, not skipped) the insert will take.
 */
#define FRESH_ROW \
	"NOT r.blank AND NOT r.bad AND r.n = r.first_n AND r.stored_id IS NULL"

static void
count_rows(ImportRun *run)
{
	char	   *sql = psprintf("SELECT count(*), count(*) FILTER (WHERE r.bad), "
							   " count(*) FILTER (WHERE r.blank OR (NOT r.bad AND r.stored_id IS NULL AND (%1$s))), "
							   " count(*) FILTER (WHERE " FRESH_ROW " AND NOT (%1$s)) "
							   "FROM pg_temp.import_rows r",
							   run->kind->skip);

	run_sql(run, sql, SPI_OK_SELECT);
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

	initStringInfo(&detail);
	if (SPI_execute("SELECT format('row %s, %s: %s (%L)', r.row_no, r.column_name, r.reason, "
					"CASE WHEN length(r.value) > 80 THEN left(r.value, 77) || '...' ELSE r.value END) "
					"FROM pg_temp.import_rejects r ORDER BY r.row_no, r.column_name LIMIT 20", false, 0) != SPI_OK_SELECT)
		elog(ERROR, "reading rejects failed");
	for (i = 0; i < SPI_processed; i++)
		appendStringInfo(&detail, "%s%s", i ? "\n" : "",
						 SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
	if (SPI_execute("SELECT count(*) FROM pg_temp.import_rejects", false, 0) == SPI_OK_SELECT &&
		result_int(1) > (int64) i)
		appendStringInfo(&detail, "\n... and %lld more", (long long) (result_int(1) - (int64) i));
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("import refused: %lld of %lld rows are bad, nothing was applied",
					(long long) bad, (long long) run->rows),
			 errdetail("%s", detail.data),
			 errhint("easeinv.check_import('%s') lists every bad row; "
					 "easeinv.apply_import('%s', skip_bad => true) applies the good ones.",
					 run->kind->name, run->kind->name)));
}

/* ---------------------------------------------------------------- applying */

/*
 * insert_movements: the fresh rows into the ledger (select_list: key, product,
 * from, to, qty, reason, reference type and id, unit cost, time) and, in the
 * same statement, the levels once per (product, location).
 */
static void
insert_movements(ImportRun *run, const char *select_list)
{
	char	   *sql;

	sql = psprintf("WITH ins AS ("
				   " INSERT INTO easeinv.stock_movements (tenant_id, idempotency_key, product_id, from_location_id, "
				   "   to_location_id, qty, reason, reference_type, reference_id, unit_cost, occurred_at, created_by) "
				   " SELECT $T, %s, $N FROM pg_temp.import_rows r WHERE " FRESH_ROW " AND NOT (%s) "
				   /* no ORDER BY: import_rows is in key order, the scan keeps it */
				   " ON CONFLICT DO NOTHING "
				   " RETURNING product_id, from_location_id, to_location_id, qty), "
				   "lv AS ("
				   " INSERT INTO easeinv.stock_levels AS l (tenant_id, product_id, location_id, on_hand) "
				   " SELECT $T, d.product_id, d.location_id, sum(d.delta) "
				   " FROM (SELECT i.product_id, i.from_location_id AS location_id, -i.qty AS delta FROM ins i "
				   "       UNION ALL SELECT i.product_id, i.to_location_id, i.qty FROM ins i) d "
				   " GROUP BY d.product_id, d.location_id ORDER BY d.product_id, d.location_id "
				   " ON CONFLICT (tenant_id, product_id, location_id) "
				   " DO UPDATE SET on_hand = easeinv.level_add(l.on_hand, excluded.on_hand, l.reserved, l.product_id, l.location_id), updated_at = now() "
				   " RETURNING 1) "
				   "SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM lv)",
				   select_list, run->kind->skip);
	run_sql(run, sql, SPI_OK_SELECT);
	run->applied = result_int(1);
	run->levels = result_int(2);
}

/* apply_movements: the movements kind */
static void
apply_movements(ImportRun *run)
{
	insert_movements(run, "r.k, r.product_id, r.from_id, r.to_id, r.q, NULLIF(r.reason, ''), "
					 "NULLIF(r.reference_type, ''), NULLIF(r.reference_id, ''), r.cost, coalesce(r.at, now())");
}

/*
 * apply_opening_stock: movements from the tenant's virtual location OPENING
 * (kind adjustment; made by the first opening-stock import that needs it).
 */
static void
apply_opening_stock(ImportRun *run)
{
	int64		opening;
	char	   *list;

	if (run->fresh == 0)
		return;
	/* a concurrent first import makes it too: the second waits, then takes that one */
	run_sql(run, "INSERT INTO easeinv.locations (tenant_id, code, name, kind) "
			"VALUES ($T, 'OPENING', 'Opening stock', 'adjustment') "
			"ON CONFLICT (tenant_id, code) WHERE deleted_at IS NULL DO NOTHING", SPI_OK_INSERT);
	run_sql(run, "SELECT id, kind FROM easeinv.locations "
			"WHERE tenant_id = $T AND code = 'OPENING' AND deleted_at IS NULL", SPI_OK_SELECT);
	if (SPI_processed != 1)
		elog(ERROR, "location OPENING not found after it was made");
	if (strcmp(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2), "adjustment") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("location OPENING is a %s location, opening stock comes from an adjustment location",
						SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2)),
				 errhint("Rename that location's code; the import then makes OPENING (kind adjustment).")));
	opening = result_int(1);
	list = psprintf("r.k, r.product_id, " INT64_FORMAT ", r.location_id, r.q, 'opening stock', "
					"'opening_stock', NULL, r.cost, coalesce(r.at, now())", opening);
	insert_movements(run, list);
}

/* apply_products: the products kind, inserted in SKU order */
static void
apply_products(ImportRun *run)
{
	run_sql(run, "WITH ins AS ("
			" INSERT INTO easeinv.products (tenant_id, sku, name, hsn_code, unit, gst_rate, track_stock) "
			" SELECT $T, r.k, r.nm, r.hsn, r.u, r.rate, r.ts FROM pg_temp.import_rows r WHERE " FRESH_ROW
			" ON CONFLICT (tenant_id, sku) WHERE deleted_at IS NULL DO NOTHING RETURNING 1) "
			"SELECT count(*) FROM ins", SPI_OK_SELECT);
	run->applied = result_int(1);
	run->levels = 0;
}

/*
 * check_race: fresh rows a concurrent import stored first were not inserted.
 * Every good row whose key was not stored before (the repeats of a key in the
 * file too) is compared with what is stored now: the same payload is a
 * replay, another a bad row.  (The rows this apply inserted compare equal.)
 */
static void
check_race(ImportRun *run)
{
	char	   *sql;
	int64		conflicts;

	if (run->applied >= run->fresh)
		return;
	sql = psprintf("WITH u AS ("
				   " UPDATE pg_temp.import_rows r SET stored_id = s.id, stored_differs = %s, bad = true "
				   " FROM %s WHERE %s AND NOT r.blank AND NOT r.bad AND r.stored_id IS NULL AND (%s) IS NOT NULL "
				   " RETURNING r.n, r.%s AS value, %s AS reason) "
				   "INSERT INTO pg_temp.import_rejects SELECT u.n, '%s', u.value, u.reason FROM u",
				   run->kind->differs, run->kind->stored_table, run->kind->stored_on, run->kind->differs,
				   run->kind->key_column, run->kind->conflict, run->kind->key_column);
	conflicts = (int64) run_sql(run, sql, SPI_OK_INSERT);
	if (conflicts == 0)
		return;
	count_rows(run);
	if (!run->skip_bad)
		refuse_rejects(run, conflicts);
	/* stored by the other import: nothing of this apply to undo */
}

/* check_negative: a strict tenant's internal level below zero refuses the batch */
static void
check_negative(ImportRun *run)
{
	if (ledger_allows_negative(run->tenant))
		return;
	run_sql(run, "SELECT format('product %s at location %s would have %s available', p.sku, c.code, l.available) "
			"FROM easeinv.stock_levels l "
			"JOIN easeinv.locations c ON c.tenant_id = l.tenant_id AND c.id = l.location_id "
			"JOIN easeinv.products p ON p.tenant_id = l.tenant_id AND p.id = l.product_id "
			"WHERE l.tenant_id = $T AND l.available < 0 "
			"  AND c.kind IN ('warehouse', 'store', 'bin') AND l.updated_at = now() "
			"ORDER BY l.product_id, l.location_id LIMIT 1", SPI_OK_SELECT);
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("import refused: insufficient stock"),
				 errdetail("After the batch %s.", SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1)),
				 errhint("Import the receipts first, or allow negative stock in the tenant's settings (allow_negative_stock).")));
}

/* the caller's name */
static char *
caller_name(void)
{
	return GetUserNameFromId(GetUserId(), false);
}

/* ---------------------------------------------------------------- entry points */

/*
 * begin_import(kind text) returns text: creates pg_temp.import_<kind> (the
 * CSV's columns, all text, ON COMMIT DROP) as the caller and returns the COPY
 * command to fill it.
 */
Datum
begin_import(PG_FUNCTION_ARGS)
{
	const ImportKind *kind = kind_arg(fcinfo);
	StringInfoData sql;
	char	   *staging = psprintf("import_%s", kind->name);
	char	   *cols = pstrdup(kind->columns);
	char	   *col;
	char	   *save;
	OwnerScope session;
	char	   *caller = caller_name();

	int64		tenant = tenant_resolve(TENANT_REQUIRED);
	LOCKTAG		tag;

	/*
	 * The import's tenant, where other sessions can see it: a lock of the
	 * transaction on an advisory tag of easeinv's own (objsubid
	 * EASEINV_IMPORT_LOCK, which pg_advisory_lock never uses) naming the
	 * tenant.  import_progress shows a tenant only its own running imports
	 * by it; no one waits on it (share mode).  (objsubid EASEINV_LOCK_IMPORT)
	 */
	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, (uint32) ((uint64) tenant >> 32), (uint32) tenant,
						 EASEINV_LOCK_IMPORT);
	(void) LockAcquire(&tag, ShareLock, false, false);

	/*
	 * The staging table belongs to the ledger's owner, whose statements read
	 * it; the caller may only add rows and read them.  A table of the caller's
	 * could be altered (a column retyped to a type whose cast is the caller's
	 * function, a policy, an index expression) to run the caller's code with
	 * the owner's rights when the apply reads it.
	 */
	owner_begin(&session);
	if (temp_exists(staging))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("an import of %s is already open in this transaction", kind->name),
				 errhint("Copy more rows into it, or roll back to start again.")));
	initStringInfo(&sql);
	appendStringInfo(&sql, "CREATE TEMPORARY TABLE %s (", staging);
	for (col = strtok_r(cols, ", ", &save); col; col = strtok_r(NULL, ", ", &save))
		appendStringInfo(&sql, "%s%s pg_catalog.text", sql.data[sql.len - 1] == '(' ? "" : ", ", col);
	appendStringInfoString(&sql, ") ON COMMIT DROP");
	if (SPI_execute(sql.data, false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "creating the staging table failed: %s", sql.data);
	/* no UPDATE or DELETE: rows keep their place, which numbers them as in the file */
	if (SPI_execute(psprintf("GRANT SELECT, INSERT ON pg_temp.%s TO %s", staging, quote_identifier(caller)),
					false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "granting the staging table failed");
	owner_end(&session);
	PG_RETURN_TEXT_P(cstring_to_text(psprintf("COPY %s FROM STDIN (FORMAT csv, HEADER)", staging)));
}

/*
 * check_import(kind text) returns table (row_no, column_name, value, reason):
 * every bad field of the open import, in row order; applies nothing.
 */
Datum
check_import(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ImportRun	run = {0};
	OwnerScope session;
	uint64		i;

	run.kind = kind_arg(fcinfo);
	run.tenant = tenant_resolve(TENANT_REQUIRED);
	run.caller = caller_name();
	InitMaterializedSRF(fcinfo, 0);

	owner_begin(&session);
	resolve_and_check(&run);
	/* through a cursor: a file bad in every row must not be held in memory twice */
	{
		SPIPlanPtr	plan = SPI_prepare("SELECT row_no, column_name, value, reason FROM pg_temp.import_rejects "
									   "ORDER BY row_no, column_name", 0, NULL);
		Portal		portal;

		if (plan == NULL)
			elog(ERROR, "reading rejects failed");
		portal = SPI_cursor_open(NULL, plan, NULL, NULL, false);
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
	run_sql(&run, "DROP TABLE pg_temp.import_rows", SPI_OK_UTILITY);
	owner_end(&session);
	return (Datum) 0;
}

/*
 * apply_import(kind text, skip_bad boolean) returns easeinv.import_summary:
 * kind, rows, applied, replayed, rejected, skipped, levels, elapsed_ms.
 */
Datum
apply_import(PG_FUNCTION_ARGS)
{
	MemoryContext cxt = CurrentMemoryContext;
	ImportRun	run = {0};
	OwnerScope session;
	instr_time	start,
				elapsed;
	Datum		values[8];
	bool		nulls[8] = {0};

	INSTR_TIME_SET_CURRENT(start);
	run.kind = kind_arg(fcinfo);
	run.skip_bad = PG_ARGISNULL(1) ? false : PG_GETARG_BOOL(1);
	run.tenant = tenant_resolve(TENANT_REQUIRED);
	run.caller = caller_name();

	/* products are written as the owner: the caller must be allowed to write them */
	if (!run.kind->ledger &&
		pg_class_aclcheck(get_relname_relid("products", get_namespace_oid(EASEINV_SCHEMA, false)),
						  GetUserId(), ACL_INSERT) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to insert into easeinv.products"),
				 errhint("Import products as a role that may insert them (easeinv_app or easeinv_admin).")));

	/* an import of movements passes the tenant's movement gate like every movement (ledger.c) */
	if (run.kind->ledger)
		ledger_gate(run.tenant, false);
	owner_begin(&session);
	if (work_mem < IMPORT_WORK_MEM_KB)
		(void) set_config_option("work_mem", IMPORT_WORK_MEM, PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
	/* each statement runs once: compiling it costs more than it saves (up to a second measured) */
	(void) set_config_option("jit", "off", PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);

	if (run.kind->ledger)
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
	if (run.kind->ledger)
		check_negative(&run);
	run.replayed = run.rows - run.applied - run.rejected - run.skipped;
	run_sql(&run, "DROP TABLE pg_temp.import_rows", SPI_OK_UTILITY);
	owner_end(&session);

	INSTR_TIME_SET_CURRENT(elapsed);
	INSTR_TIME_SUBTRACT(elapsed, start);
	ereport(NOTICE,
			(errmsg("import of %s: %lld applied, %lld replayed, %lld rejected, %lld skipped, %lld level rows, %.0f ms",
					run.kind->name, (long long) run.applied, (long long) run.replayed, (long long) run.rejected,
					(long long) run.skipped, (long long) run.levels, INSTR_TIME_GET_MILLISEC(elapsed))));

	MemoryContextSwitchTo(cxt);
	values[0] = CStringGetTextDatum(run.kind->name);
	values[1] = Int64GetDatum(run.rows);
	values[2] = Int64GetDatum(run.applied);
	values[3] = Int64GetDatum(run.replayed);
	values[4] = Int64GetDatum(run.rejected);
	values[5] = Int64GetDatum(run.skipped);
	values[6] = Int64GetDatum(run.levels);
	values[7] = DirectFunctionCall1(float8_numeric, Float8GetDatum(INSTR_TIME_GET_MILLISEC(elapsed)));
	return result_row(fcinfo, values, nulls, 8, cxt);
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
