/*-------------------------------------------------------------------------
 * imports.c
 *	  apply_import(): applies the open import of the transaction, set-based.
 *
 * For kind 'movements' (the staging table pg_temp.import_movements, filled by
 * COPY after easeinv.begin_import), in one call:
 *	  1. every bad row is found at once (easeinv.check_import): all or nothing
 *		 refuses the batch (22023) naming the first bad rows and how many there
 *		 are; with skip_bad the bad rows are left out and listed in
 *		 pg_temp.import_rejects;
 *	  2. the good rows are resolved (SKU and location codes to ids) into
 *		 pg_temp.import_good, a key repeated in the file with the same payload
 *		 counting once;
 *	  3. keys already in the ledger are replays when their payload is the same,
 *		 refused rows otherwise (as move_stock refuses them);
 *	  4. the new movements are inserted in one INSERT ... SELECT in key order
 *		 (ON CONFLICT DO NOTHING: a concurrent import that stored a key first
 *		 makes the row a replay or a conflict, found the same way), and in the
 *		 same statement the levels are upserted once per (product, location)
 *		 from the aggregated deltas of the inserted rows, in (product, location)
 *		 order, so that two imports cannot deadlock;
 *	  5. a strict tenant's internal level left below zero refuses the batch
 *		 (23514): the rule is checked on the batch's result, not row by row.
 * Statements run as the ledger's owner (ledger_begin), like move_stock.
 *-------------------------------------------------------------------------
 */
#include "easeinv.h"
#include "ledger.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "portability/instr_time.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(apply_import);

/* run a statement; its row count */
static uint64
run(const char *sql, int expected)
{
	int			rc = SPI_execute(sql, false, 0);

	if (rc != expected)
		elog(ERROR, "import statement failed (%s): %s", SPI_result_code_string(rc), sql);
	return SPI_processed;
}

/* drop_temp: drop the session's temporary table if there is one (quietly) */
static void
drop_temp(const char *name)
{
	char	   *sql = psprintf("SELECT pg_catalog.to_regclass('pg_temp.%s') IS NOT NULL", name);
	bool		isnull;

	if (SPI_execute(sql, false, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "import query failed: %s", sql);
	if (DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)))
		run(psprintf("DROP TABLE pg_temp.%s", name), SPI_OK_UTILITY);
}

/* a single bigint from a query */
static int64
scalar(const char *sql)
{
	bool		isnull;
	Datum		d;

	if (SPI_execute(sql, false, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "import query failed: %s", sql);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return isnull ? 0 : DatumGetInt64(d);
}

/* refuse_rejects: the batch's bad rows, all or nothing (22023). */
static void
refuse_rejects(int64 rejected, int64 rows)
{
	StringInfoData detail;
	uint64		i;

	initStringInfo(&detail);
	if (SPI_execute("SELECT format('row %s, %s: %s (%L)', r.row_no, r.column_name, r.reason, r.value) "
					"FROM pg_temp.import_rejects r ORDER BY r.row_no, r.column_name LIMIT 20", false, 0) != SPI_OK_SELECT)
		elog(ERROR, "reading rejects failed");
	for (i = 0; i < SPI_processed; i++)
		appendStringInfo(&detail, "%s%s", i ? "\n" : "",
						 SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
	if ((int64) SPI_processed < rejected)
		appendStringInfo(&detail, "\n... and %lld more", (long long) (rejected - (int64) SPI_processed));
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("import refused: %lld of %lld rows are bad, nothing was applied",
					(long long) rejected, (long long) rows),
			 errdetail("%s", detail.data),
			 errhint("easeinv.check_import('movements') lists every bad row; "
					 "easeinv.apply_import('movements', skip_bad => true) applies the good ones.")));
}

/*
 * apply_import(kind text, skip_bad boolean) returns easeinv.import_summary:
 * kind, rows, applied, replayed, rejected, levels, elapsed_ms.
 */
Datum
apply_import(PG_FUNCTION_ARGS)
{
	MemoryContext cxt = CurrentMemoryContext;
	char	   *kind;
	bool		skip_bad;
	int64		tenant;
	char	   *created_by;
	LedgerSession session;
	instr_time	start,
				elapsed;
	int64		rows,
				rejected,
				applied,
				replayed,
				levels;
	char	   *sql;
	TupleDesc	desc;
	Datum		values[7];
	bool		nulls[7] = {false, false, false, false, false, false, false};

	INSTR_TIME_SET_CURRENT(start);
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("kind must not be null"),
				 errhint("Imports so far: movements.")));
	kind = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (strcmp(kind, "movements") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown import kind \"%s\"", kind),
				 errhint("Imports so far: movements.")));
	skip_bad = PG_ARGISNULL(1) ? false : PG_GETARG_BOOL(1);
	tenant = easeinv_resolve_tenant(TENANT_REQUIRED);
	created_by = GetUserNameFromId(GetUserId(), false);

	ledger_begin(&session);

	/* 1. every bad row (check_import refuses when no import is open) */
	drop_temp("import_rejects");
	run("CREATE TEMPORARY TABLE import_rejects ON COMMIT DROP AS "
		"SELECT * FROM easeinv.check_import('movements')", SPI_OK_UTILITY);
	/* the caller reads it (made by the owner, whose statements these are) */
	run(psprintf("ALTER TABLE pg_temp.import_rejects OWNER TO %s", quote_identifier(created_by)), SPI_OK_UTILITY);
	rows = scalar("SELECT count(*) FROM pg_temp.import_movements");
	rejected = scalar("SELECT count(DISTINCT row_no) FROM pg_temp.import_rejects");
	if (rejected > 0 && !skip_bad)
		refuse_rejects(rejected, rows);
	ereport(NOTICE, (errmsg("import: %lld rows checked, %lld bad", (long long) rows, (long long) rejected)));

	/* 2. the good rows, resolved; a key repeated with the same payload counts once */
	drop_temp("import_good");
	sql = psprintf("CREATE TEMPORARY TABLE import_good ON COMMIT DROP AS "
				   "SELECT DISTINCT ON (k) n AS row_no, k AS idempotency_key, p.id AS product_id, "
				   "       fl.id AS from_id, fl.kind AS from_kind, tl.id AS to_id, tl.kind AS to_kind, "
				   "       btrim(m.qty)::numeric(18,4) AS qty, NULLIF(btrim(m.unit_cost), '')::numeric(18,4) AS unit_cost, "
				   "       NULLIF(m.reason, '') AS reason, NULLIF(m.reference_type, '') AS reference_type, "
				   "       NULLIF(m.reference_id, '') AS reference_id, "
				   "       NULLIF(btrim(m.occurred_at), '')::timestamptz AS occurred_at "
				   "FROM (SELECT row_number() OVER (ORDER BY s.ctid) AS n, btrim(s.idempotency_key) AS k, s.* "
				   "        FROM pg_temp.import_movements s) m "
				   "JOIN easeinv.products p ON p.tenant_id = " INT64_FORMAT " AND p.sku = btrim(m.sku) AND p.deleted_at IS NULL "
				   "JOIN easeinv.locations fl ON fl.tenant_id = " INT64_FORMAT " AND fl.code = btrim(m.from_location) AND fl.deleted_at IS NULL "
				   "JOIN easeinv.locations tl ON tl.tenant_id = " INT64_FORMAT " AND tl.code = btrim(m.to_location) AND tl.deleted_at IS NULL "
				   "WHERE m.n NOT IN (SELECT r.row_no FROM pg_temp.import_rejects r) "
				   "ORDER BY k, n", tenant, tenant, tenant);
	run(sql, SPI_OK_UTILITY);

	/*
	 * 3 and 4. Insert what is new, in key order (two imports with overlapping
	 * keys wait for each other in one order, never in a cycle), and in the same
	 * statement upsert the levels once per (product, location) from the
	 * inserted rows alone, in (product, location) order.  What the ledger had,
	 * or got meanwhile from a concurrent import, is not inserted: a replay or a
	 * conflict, found below.
	 */
	sql = psprintf("WITH ins AS ("
				   " INSERT INTO easeinv.stock_movements (tenant_id, idempotency_key, product_id, from_location_id, "
				   "   to_location_id, qty, reason, reference_type, reference_id, unit_cost, occurred_at, created_by) "
				   " SELECT " INT64_FORMAT ", g.idempotency_key, g.product_id, g.from_id, g.to_id, g.qty, g.reason, "
				   "   g.reference_type, g.reference_id, g.unit_cost, coalesce(g.occurred_at, pg_catalog.now()), %s "
				   " FROM pg_temp.import_good g ORDER BY g.idempotency_key "
				   " ON CONFLICT DO NOTHING "
				   " RETURNING product_id, from_location_id, to_location_id, qty), "
				   "lv AS ("
				   " INSERT INTO easeinv.stock_levels AS l (tenant_id, product_id, location_id, on_hand) "
				   " SELECT " INT64_FORMAT ", d.product_id, d.location_id, sum(d.delta) "
				   " FROM (SELECT i.product_id, i.from_location_id AS location_id, -i.qty AS delta FROM ins i "
				   "       UNION ALL SELECT i.product_id, i.to_location_id, i.qty FROM ins i) d "
				   " GROUP BY d.product_id, d.location_id ORDER BY d.product_id, d.location_id "
				   " ON CONFLICT (tenant_id, product_id, location_id) "
				   " DO UPDATE SET on_hand = l.on_hand + excluded.on_hand, updated_at = pg_catalog.now() "
				   " RETURNING 1) "
				   "SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM lv)",
				   tenant, quote_literal_cstr(created_by), tenant);
	if (SPI_execute(sql, false, 0) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "inserting the import failed");
	{
		bool		isnull;

		applied = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		levels = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	}

	/* keys not inserted: stored with the same payload (replay) or another (conflict) */
	drop_temp("import_conflicts");
	sql = psprintf("CREATE TEMPORARY TABLE import_conflicts ON COMMIT DROP AS "
				   "SELECT g.row_no, g.idempotency_key, s.id AS stored_id "
				   "FROM pg_temp.import_good g JOIN easeinv.stock_movements s "
				   "  ON s.tenant_id = " INT64_FORMAT " AND s.idempotency_key = g.idempotency_key "
				   "WHERE NOT (s.product_id = g.product_id AND s.from_location_id = g.from_id "
				   "       AND s.to_location_id = g.to_id AND s.qty = g.qty "
				   "       AND s.reason IS NOT DISTINCT FROM g.reason AND s.reference_type IS NOT DISTINCT FROM g.reference_type "
				   "       AND s.reference_id IS NOT DISTINCT FROM g.reference_id AND s.unit_cost IS NOT DISTINCT FROM g.unit_cost "
				   "       AND (g.occurred_at IS NULL OR s.occurred_at = g.occurred_at))",
				   tenant);
	run(sql, SPI_OK_UTILITY);
	{
		int64		conflicts = scalar("SELECT count(*) FROM pg_temp.import_conflicts");

		if (conflicts > 0)
		{
			run("INSERT INTO pg_temp.import_rejects (row_no, column_name, value, reason) "
				"SELECT c.row_no, 'idempotency_key', c.idempotency_key, "
				"       'key already used for a different movement (id ' || c.stored_id || ')' "
				"FROM pg_temp.import_conflicts c", SPI_OK_INSERT);
			if (!skip_bad)
				refuse_rejects(conflicts, rows);
			/* the rows were stored by others: nothing of ours to undo, they are left out */
			rejected += conflicts;
		}
		replayed = rows - rejected - applied;
	}

	/* a strict tenant's internal level below zero refuses the batch */
	if (!tenant_allows_negative(tenant))
	{
		sql = psprintf("SELECT format('product %%s at location %%s would have %%s available', l.product_id, l.location_id, l.available) "
					   "FROM easeinv.stock_levels l JOIN easeinv.locations c ON c.tenant_id = l.tenant_id AND c.id = l.location_id "
					   "WHERE l.tenant_id = " INT64_FORMAT " AND l.available < 0 "
					   "  AND c.kind IN ('warehouse', 'store', 'bin') AND l.updated_at = pg_catalog.now() "
					   "ORDER BY l.product_id, l.location_id LIMIT 1", tenant);
		if (SPI_execute(sql, false, 1) != SPI_OK_SELECT)
			elog(ERROR, "checking levels failed");
		if (SPI_processed > 0)
			ereport(ERROR,
					(errcode(ERRCODE_CHECK_VIOLATION),
					 errmsg("import refused: insufficient stock"),
					 errdetail("After the batch %s.", SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1)),
					 errhint("Import the receipts first, or allow negative stock in the tenant's settings (allow_negative_stock).")));
	}
	ledger_end(&session);

	INSTR_TIME_SET_CURRENT(elapsed);
	INSTR_TIME_SUBTRACT(elapsed, start);
	ereport(NOTICE, (errmsg("import: %lld applied, %lld replayed, %lld rejected, %lld level rows, %.0f ms",
							(long long) applied, (long long) replayed, (long long) rejected, (long long) levels,
							INSTR_TIME_GET_MILLISEC(elapsed))));

	MemoryContextSwitchTo(cxt);
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "easeinv.import_summary is not a composite type");
	desc = BlessTupleDesc(desc);
	values[0] = CStringGetTextDatum(kind);
	values[1] = Int64GetDatum(rows);
	values[2] = Int64GetDatum(applied);
	values[3] = Int64GetDatum(replayed);
	values[4] = Int64GetDatum(rejected);
	values[5] = Int64GetDatum(levels);
	values[6] = DirectFunctionCall1(float8_numeric, Float8GetDatum(INSTR_TIME_GET_MILLISEC(elapsed)));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}
