/*-------------------------------------------------------------------------
 * invoice_issue.c
 *	  issue_invoice() and cancel_invoice().
 *
 * issue_invoice(invoice_id), in one transaction:
 *	  1. locks the invoice (FOR UPDATE): a second session issuing it waits,
 *		 then sees it issued and returns the same number (replayed = true);
 *	  2. refuses a cancelled invoice, one with no lines, stocked lines with no
 *		 location, and a credit note for more than its invoice's uncredited
 *		 total;
 *	  3. takes the next number of the series for the Indian financial year
 *		 (April to March) of the invoice date: an upsert of the counter row,
 *		 whose row lock orders concurrent issuers; the counter commits or
 *		 rolls back with the invoice, so numbers have no gaps;
 *	  4. writes number, status and issued_at (the invoice is frozen from then
 *		 on: invoice_guard), and for a credit note adds its total to the
 *		 invoice's amount_credited;
 *	  5. posts one stock movement per line of a stock-tracked product, from
 *		 the invoice's location to the customer location (a credit note: the
 *		 other way), with the key easeinv:invoice:<id>:line:<line_no>, through
 *		 the ledger's own path (ledger_post_movement), so the ledger's rules apply:
 *		 insufficient stock refuses the issue and nothing is numbered.
 *
 * cancel_invoice(invoice_id, reason) keeps the number, reverses the stock the
 * issue posted (keys easeinv:cancel:<id>:line:<line_no>) and refuses while
 * payments stand or issued credit notes exist.  Cancelling a credit note
 * gives its amount back to its invoice.
 *-------------------------------------------------------------------------
 */
#include "easeinv.h"
#include "args.h"
#include "numbers.h"
#include "owner.h"
#include "plans.h"
#include "result.h"
#include "invoice.h"
#include "events.h"
#include "ledger.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/snapmgr.h"
#include "utils/date.h"
#include "utils/datum.h"
#include "utils/array.h"

PG_FUNCTION_INFO_V1(issue_invoice);
PG_FUNCTION_INFO_V1(cancel_invoice);

#define INVOICE_COLUMNS \
	"i.id, i.kind, i.series, i.status, i.number, i.fiscal_year, i.invoice_date, i.location_id, " \
	"i.customer_location_id, i.original_invoice_id, i.grand_total, i.balance_due, i.amount_paid, i.amount_credited, " \
	"i.customer_id, i.taxable_value, i.cgst, i.sgst, i.igst, i.cess, i.round_off"

/* The statements of issue and cancel (plans.h; the rule of owner.c).  Each takes the tenant as $1. */
typedef enum IssueStatement
{
	ST_LOCK,					/* the invoice, locked */
	ST_LINES_FOR_STOCK,			/* its lines and whether their products track stock */
	ST_DEFAULT_CUSTOMER,		/* the tenant's first customer location */
	ST_CREDITED_QTY,			/* a product a credit note returns too much of */
	ST_CREDIT,					/* a credit note's invoice: credited grows */
	ST_LOCATION_KINDS,			/* the kinds of the two locations of the stock */
	ST_COUNTER,					/* the series' next number in the financial year */
	ST_SERIES_FORMAT,			/* the series' number format */
	ST_NUMBER_TAKEN,			/* another series gave the number already */
	ST_ISSUE,					/* number, status, issued_at */
	ST_CREDIT_NOTES,			/* an issued credit note of the invoice */
	ST_UNCREDIT,				/* a cancelled credit note's invoice: credited shrinks */
	ST_CANCEL,					/* status cancelled, the reason */
	ST_MOVEMENTS,				/* the movements the issue posted, and their reversals */
	ST_COUNT
} IssueStatement;

static const PlanStatement statements[ST_COUNT] = {
	[ST_LOCK] = {"SELECT " INVOICE_COLUMNS " FROM easeinv.invoices i "
		"WHERE i.tenant_id = $1 AND i.id = $2 FOR UPDATE OF i", 2, {INT8OID, INT8OID}},
	[ST_LINES_FOR_STOCK] = {"SELECT l.line_no, l.product_id, l.qty, coalesce(p.track_stock, false) "
		"FROM easeinv.invoice_lines l "
		"LEFT JOIN easeinv.products p ON p.tenant_id = l.tenant_id AND p.id = l.product_id "
		"WHERE l.tenant_id = $1 AND l.invoice_id = $2 ORDER BY l.product_id, l.line_no", 2, {INT8OID, INT8OID}},
	[ST_DEFAULT_CUSTOMER] = {"SELECT l.id FROM easeinv.locations l WHERE l.tenant_id = $1 AND l.kind = 'customer' "
		"AND l.deleted_at IS NULL ORDER BY l.id LIMIT 1", 1, {INT8OID}},
	/* a product the credit note ($2) returns more of than its invoice ($3) sold, with earlier credit notes */
	[ST_CREDITED_QTY] = {"SELECT c.product_id, c.qty, coalesce(prev.qty, 0), coalesce(sold.qty, 0) "
		"FROM (SELECT l.product_id, sum(l.qty) AS qty FROM easeinv.invoice_lines l "
		"       WHERE l.tenant_id = $1 AND l.invoice_id = $2 AND l.product_id IS NOT NULL GROUP BY 1) c "
		"LEFT JOIN (SELECT l.product_id, sum(l.qty) AS qty FROM easeinv.invoice_lines l "
		"       WHERE l.tenant_id = $1 AND l.invoice_id = $3 AND l.product_id IS NOT NULL GROUP BY 1) sold "
		"  ON sold.product_id = c.product_id "
		"LEFT JOIN (SELECT l.product_id, sum(l.qty) AS qty FROM easeinv.invoices i "
		"       JOIN easeinv.invoice_lines l ON l.tenant_id = i.tenant_id AND l.invoice_id = i.id "
		"       WHERE i.tenant_id = $1 AND i.original_invoice_id = $3 AND i.id <> $2 "
		"         AND i.status <> 'draft' AND i.status <> 'cancelled' AND l.product_id IS NOT NULL GROUP BY 1) prev "
		"  ON prev.product_id = c.product_id "
		"WHERE c.qty + coalesce(prev.qty, 0) > coalesce(sold.qty, 0) ORDER BY c.product_id LIMIT 1",
		3, {INT8OID, INT8OID, INT8OID}},
	[ST_CREDIT] = {"UPDATE easeinv.invoices i SET amount_credited = i.amount_credited + $3, "
		"status = " INVOICE_STATUS_SQL("i.amount_paid", "(i.amount_credited + $3)", "i.grand_total") " "
		"WHERE i.tenant_id = $1 AND i.id = $2", 3, {INT8OID, INT8OID, NUMERICOID}},
	[ST_LOCATION_KINDS] = {"SELECT (SELECT l.kind FROM easeinv.locations l WHERE l.tenant_id = $1 AND l.id = $2), "
		"       (SELECT l.kind FROM easeinv.locations l WHERE l.tenant_id = $1 AND l.id = $3)",
		3, {INT8OID, INT8OID, INT8OID}},
	[ST_COUNTER] = {"INSERT INTO easeinv.invoice_counters AS c (tenant_id, series, fiscal_year, last_number) "
		"VALUES ($1, $2, $3, 1) ON CONFLICT (tenant_id, series, fiscal_year) "
		"DO UPDATE SET last_number = c.last_number + 1 RETURNING c.last_number", 3, {INT8OID, TEXTOID, TEXTOID}},
	[ST_SERIES_FORMAT] = {"SELECT s.format FROM easeinv.invoice_series s WHERE s.tenant_id = $1 AND s.code = $2",
		2, {INT8OID, TEXTOID}},
	[ST_NUMBER_TAKEN] = {"SELECT 1 FROM easeinv.invoices i WHERE i.tenant_id = $1 AND i.kind = $2 "
		"AND i.fiscal_year = $3 AND i.number = $4", 4, {INT8OID, TEXTOID, TEXTOID, TEXTOID}},
	[ST_ISSUE] = {"UPDATE easeinv.invoices i SET status = 'issued', number = $3, fiscal_year = $4, sequence_no = $5, "
		"issued_at = now() WHERE i.tenant_id = $1 AND i.id = $2 RETURNING " INVOICE_COLUMNS,
		5, {INT8OID, INT8OID, TEXTOID, TEXTOID, INT8OID}},
	[ST_CREDIT_NOTES] = {"SELECT i.number FROM easeinv.invoices i WHERE i.tenant_id = $1 "
		"AND i.original_invoice_id = $2 AND i.status <> 'draft' AND i.status <> 'cancelled' "
		"ORDER BY i.id LIMIT 1", 2, {INT8OID, INT8OID}},
	[ST_UNCREDIT] = {"UPDATE easeinv.invoices i SET amount_credited = i.amount_credited - $3, "
		"status = " INVOICE_STATUS_SQL("i.amount_paid", "(i.amount_credited - $3)", "i.grand_total") " "
		"WHERE i.tenant_id = $1 AND i.id = $2", 3, {INT8OID, INT8OID, NUMERICOID}},
	[ST_CANCEL] = {"UPDATE easeinv.invoices i SET status = 'cancelled', cancel_reason = $3, cancelled_at = now() "
		"WHERE i.tenant_id = $1 AND i.id = $2 RETURNING " INVOICE_COLUMNS, 3, {INT8OID, INT8OID, TEXTOID}},
	[ST_MOVEMENTS] = {"SELECT m.id, l.line_no, r.id FROM easeinv.invoice_lines l "
		"JOIN easeinv.stock_movements m ON m.tenant_id = l.tenant_id "
		" AND m.idempotency_key = 'easeinv:invoice:' || l.invoice_id::text || ':line:' || l.line_no::text "
		/* one reversed by hand (possible before 0.5.0) is not reversed again */
		"LEFT JOIN easeinv.stock_movements r ON r.tenant_id = m.tenant_id AND r.reverses_id = m.id "
		"WHERE l.tenant_id = $1 AND l.invoice_id = $2 "
		"ORDER BY m.product_id, l.line_no", 2, {INT8OID, INT8OID}},
};

static SPIPlanPtr plans[ST_COUNT];

#define PLAN(which)		plan_kept(statements, plans, (which))

/* the columns of easeinv.invoice_result, taken from an invoice row */
static const InvoiceColumn result_columns[] = {
	INVOICE_COL_ID, INVOICE_COL_KIND, INVOICE_COL_NUMBER, INVOICE_COL_FISCAL_YEAR, INVOICE_COL_DATE,
	INVOICE_COL_STATUS, INVOICE_COL_GRAND_TOTAL, INVOICE_COL_BALANCE_DUE
};

Datum
invoice_col(const InvoiceRow *inv, InvoiceColumn c, bool *isnull)
{
	return heap_getattr(inv->tup, c + 1, inv->desc, isnull);
}

char *
invoice_col_text(const InvoiceRow *inv, InvoiceColumn c)
{
	bool		isnull;
	Datum		v = invoice_col(inv, c, &isnull);

	return isnull ? NULL : TextDatumGetCString(v);
}

static int64
col_int8(const InvoiceRow *inv, InvoiceColumn c, bool *isnull)
{
	Datum		v = invoice_col(inv, c, isnull);

	return *isnull ? 0 : DatumGetInt64(v);
}

/* invoice_lock: the tenant's invoice, locked FOR UPDATE; false when there is none.  Inside SPI. */
bool
invoice_lock(int64 tenant, int64 id, InvoiceRow *inv)
{
	Datum		v[2] = {Int64GetDatum(tenant), Int64GetDatum(id)};

	if (SPI_execute_plan(PLAN(ST_LOCK), v, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "locking invoice failed");
	if (SPI_processed == 0)
		return false;
	inv->tup = SPI_tuptable->vals[0];
	inv->desc = SPI_tuptable->tupdesc;
	return true;
}

static void
no_such_invoice(int64 id)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invoice %lld does not exist", (long long) id),
			 errhint("Pass the id of an invoice or credit note of the current tenant.")));
}

static const char *
kind_word(const InvoiceRow *inv)
{
	char	   *kind = invoice_col_text(inv, INVOICE_COL_KIND);

	return strcmp(kind, "credit_note") == 0 ? "credit note" : "invoice";
}

/* invoice_label: the number, or the id of a draft */
char *
invoice_label(const InvoiceRow *inv)
{
	char	   *number = invoice_col_text(inv, INVOICE_COL_NUMBER);
	bool		isnull;

	return number ? number : psprintf(INT64_FORMAT, col_int8(inv, INVOICE_COL_ID, &isnull));
}

/* make_result: easeinv.invoice_result from an invoice row, in cxt. */
static Datum
make_result(FunctionCallInfo fcinfo, const InvoiceRow *inv, bool replayed, MemoryContext cxt)
{
	Datum		values[lengthof(result_columns) + 1];
	bool		nulls[lengthof(result_columns) + 1];
	int			i;

	for (i = 0; i < (int) lengthof(result_columns); i++)
		values[i] = invoice_col(inv, result_columns[i], &nulls[i]);
	values[i] = BoolGetDatum(replayed);
	nulls[i] = false;
	return result_row(fcinfo, values, nulls, lengthof(values), cxt);
}

/*
 * write_invoice: one of the extension's own writes of the invoice, an UPDATE
 * ... RETURNING its row (ST_ISSUE, ST_CANCEL), which becomes *inv; returns
 * the result from it.
 */
static Datum
write_invoice(FunctionCallInfo fcinfo, IssueStatement which, Datum *v, const char *doing, InvoiceRow *inv,
			  MemoryContext cxt)
{
	if (invoice_internal_execute(PLAN(which), v, NULL) != SPI_OK_UPDATE_RETURNING || SPI_processed != 1)
		elog(ERROR, "%s invoice failed", doing);
	inv->tup = SPI_tuptable->vals[0];
	inv->desc = SPI_tuptable->tupdesc;
	return make_result(fcinfo, inv, false, cxt);
}

/*
 * move_credit: the amount_credited of a credit note's invoice moves by the
 * credit note's total (ST_CREDIT adds it, ST_UNCREDIT takes it back), and the
 * invoice's status follows.
 */
static void
move_credit(IssueStatement which, int64 tenant, int64 original, const InvoiceRow *credit_note, const char *doing)
{
	bool		isnull;
	Datum		v[3] = {Int64GetDatum(tenant), Int64GetDatum(original),
	invoice_col(credit_note, INVOICE_COL_GRAND_TOTAL, &isnull)};

	if (invoice_internal_execute(PLAN(which), v, NULL) != SPI_OK_UPDATE)
		elog(ERROR, "%s failed", doing);
}

/* a stock-tracked line, as the movements need it */
typedef struct StockLine
{
	int32		line_no;
	int64		product;
	Datum		qty;
} StockLine;

/*
 * invoice_lines_for_stock: how many lines the invoice has; its stock-tracked
 * lines in *lines (allocated in cxt), in product order: every issue and
 * cancellation locks the level rows of its products in one global order, so
 * two of them sharing products cannot deadlock (each movement then locks its
 * two level rows lower location first).  Inside SPI.
 */
static int
invoice_lines_for_stock(int64 tenant, int64 id, StockLine **lines, int *nstock, MemoryContext cxt)
{
	Datum		v[2] = {Int64GetDatum(tenant), Int64GetDatum(id)};
	MemoryContext old;
	uint64		i;
	int			n = 0;
	bool		isnull;

	if (SPI_execute_plan(PLAN(ST_LINES_FOR_STOCK), v, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "reading invoice lines failed");
	/*
	 * Under REPEATABLE READ or SERIALIZABLE the snapshot may predate a change
	 * of track_stock the movement gate waited for: the lines' products must
	 * say the same in the latest snapshot (40001 otherwise).
	 */
	if (IsolationUsesXactSnapshot())
	{
		SPITupleTable *first = SPI_tuptable;
		uint64		nfirst = SPI_processed;
		bool		same;

		if (SPI_execute_snapshot(PLAN(ST_LINES_FOR_STOCK), v, NULL, GetLatestSnapshot(), InvalidSnapshot, true, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "reading invoice lines failed");
		same = SPI_processed == nfirst;
		for (i = 0; same && i < nfirst; i++)
			same = DatumGetBool(SPI_getbinval(first->vals[i], first->tupdesc, 4, &isnull)) ==
				DatumGetBool(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 4, &isnull));
		if (!same)
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("could not serialize access due to a concurrent change of a product's track_stock"),
					 errhint("Retry the transaction.")));
		SPI_tuptable = first;
		SPI_processed = nfirst;
	}
	old = MemoryContextSwitchTo(cxt);
	*lines = palloc(sizeof(StockLine) * (SPI_processed + 1));
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	t = SPI_tuptable->vals[i];
		TupleDesc	d = SPI_tuptable->tupdesc;

		if (!DatumGetBool(SPI_getbinval(t, d, 4, &isnull)))
			continue;
		(*lines)[n].line_no = DatumGetInt32(SPI_getbinval(t, d, 1, &isnull));
		(*lines)[n].product = DatumGetInt64(SPI_getbinval(t, d, 2, &isnull));
		(*lines)[n].qty = datumCopy(SPI_getbinval(t, d, 3, &isnull), false, -1);
		n++;
	}
	MemoryContextSwitchTo(old);
	*nstock = n;
	return (int) SPI_processed;
}

/* default_customer_location: the tenant's first customer location, or 0.  Inside SPI. */
static int64
default_customer_location(int64 tenant)
{
	Datum		v[1] = {Int64GetDatum(tenant)};
	bool		isnull;

	if (SPI_execute_plan(PLAN(ST_DEFAULT_CUSTOMER), v, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "reading locations failed");
	if (SPI_processed == 0)
		return 0;
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/* ---------------------------------------------------------------------
 * issue_invoice: the steps of the file header, one function each
 * ---------------------------------------------------------------------
 */

/*
 * What the steps of an issue pass on.  inv, series and fy_label are in SPI
 * memory (valid until owner_end); lines and number are in cxt, for the
 * movements posted after it.
 */
typedef struct Issue
{
	MemoryContext cxt;			/* the caller's: the result, and what outlives SPI */
	int64		tenant;
	int64		id;
	InvoiceRow	inv;
	bool		credit_note;
	int64		original;		/* a credit note's invoice */
	StockLine  *lines;			/* the stock-tracked lines, in product order */
	int			nstock;
	int64		location;		/* where the goods leave from (a credit note: come back to) */
	int64		customer_location;
	char	   *series;			/* the number: series, financial year, sequence, the number itself */
	char	   *fy_label;
	int64		seq;
	char	   *number;
} Issue;

/* lock_action_invoice: the invoice an issue or cancel acts on, locked (its status returned). */
static char *
lock_action_invoice(int64 tenant, int64 id, InvoiceRow *inv)
{
	if (!invoice_lock(tenant, id, inv))
		no_such_invoice(id);
	return invoice_col_text(inv, INVOICE_COL_STATUS);
}

/* 1. lock the invoice and refuse a cancelled one; false when it is issued already (a replay). */
static bool
issue_lock(Issue *is)
{
	char	   *status = lock_action_invoice(is->tenant, is->id, &is->inv);

	if (strcmp(status, "cancelled") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s %s is cancelled", kind_word(&is->inv), invoice_label(&is->inv)),
				 errhint("A cancelled invoice keeps its number and is never issued again; make a new draft.")));
	return strcmp(status, "draft") == 0;
}

/*
 * issue_refresh: as it is frozen, the draft's rates must still be in force
 * (gst_rates may have changed since the lines were written), and its header
 * follows today's round-off setting.  (The lines' amounts depend on nothing
 * else that can change without computing them again.)  Reads it again.
 */
static void
issue_refresh(Issue *is)
{
	Datum		d = Int64GetDatum(is->id);
	bool		isnull;

	invoice_rates_in_force(is->tenant, is->id);
	invoice_update_totals(is->tenant, PointerGetDatum(construct_array(&d, 1, INT8OID, 8, FLOAT8PASSBYVAL,
																	  TYPALIGN_DOUBLE)));
	(void) lock_action_invoice(is->tenant, is->id, &is->inv);
	is->credit_note = strcmp(invoice_col_text(&is->inv, INVOICE_COL_KIND), "credit_note") == 0;
	is->original = col_int8(&is->inv, INVOICE_COL_ORIGINAL, &isnull);
}

/* 2. the lines: at least one; the stock-tracked ones are kept for step 5. */
static void
issue_check_lines(Issue *is)
{
	bool		isnull;

	if (invoice_lines_for_stock(is->tenant, is->id, &is->lines, &is->nstock, is->cxt) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s %lld has no lines", kind_word(&is->inv), (long long) is->id),
				 errhint("Add at least one line before issuing it.")));
	is->location = col_int8(&is->inv, INVOICE_COL_LOCATION, &isnull);
	is->customer_location = col_int8(&is->inv, INVOICE_COL_CUSTOMER_LOCATION, &isnull);
}

/* credit_check_quantities: no product comes back more than the invoice sold, with earlier credit notes. */
static void
credit_check_quantities(Issue *is, const InvoiceRow *orig)
{
	Datum		v[3] = {Int64GetDatum(is->tenant), Int64GetDatum(is->id), Int64GetDatum(is->original)};
	HeapTuple	t;
	TupleDesc	d;

	if (SPI_execute_plan(PLAN(ST_CREDITED_QTY), v, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "checking credited quantities failed");
	if (SPI_processed == 0)
		return;
	t = SPI_tuptable->vals[0];
	d = SPI_tuptable->tupdesc;
	ereport(ERROR,
			(errcode(ERRCODE_CHECK_VIOLATION),
			 errmsg("credit note returns %s of product %s, but invoice %s sold %s",
					SPI_getvalue(t, d, 2), SPI_getvalue(t, d, 1), invoice_label(orig), SPI_getvalue(t, d, 4)),
			 errdetail("Earlier credit notes of the invoice returned %s.", SPI_getvalue(t, d, 3)),
			 errhint("A credit note returns at most what its invoice sold; a price adjustment has no product.")));
}

/*
 * 2, a credit note: its invoice is issued (locked too), and the credit note
 * asks for no more than the invoice's uncredited total and returns no more
 * than it sold.  Its locations default to the invoice's.
 */
static void
issue_check_credit(Issue *is)
{
	InvoiceRow	orig;
	bool		isnull;
	Datum		total = invoice_col(&is->inv, INVOICE_COL_GRAND_TOTAL, &isnull);
	char	   *ostatus = lock_action_invoice(is->tenant, is->original, &orig);
	Datum		open;

	if (strcmp(ostatus, "draft") == 0 || strcmp(ostatus, "cancelled") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("invoice %s is %s: it cannot have a credit note", invoice_label(&orig), ostatus),
				 errhint("A credit note reduces an issued invoice.")));
	open = num_sub(invoice_col(&orig, INVOICE_COL_GRAND_TOTAL, &isnull),
				   invoice_col(&orig, INVOICE_COL_AMOUNT_CREDITED, &isnull));
	if (num_gt(total, open))
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("credit note of %s is more than the %s of invoice %s not yet credited",
						num_str(total), num_str(open), invoice_label(&orig)),
				 errhint("A credit note reduces what its invoice asked for, and no further.")));
	credit_check_quantities(is, &orig);
	/* returns go back where the sale came from, unless the credit note says otherwise */
	if (is->location == 0)
		is->location = col_int8(&orig, INVOICE_COL_LOCATION, &isnull);
	if (is->customer_location == 0)
		is->customer_location = col_int8(&orig, INVOICE_COL_CUSTOMER_LOCATION, &isnull);
}

/* check_location_kinds: goods leave (or come back to) stock, and go to (or come from) a customer. */
static void
check_location_kinds(Issue *is)
{
	Datum		v[3] = {Int64GetDatum(is->tenant), Int64GetDatum(is->location), Int64GetDatum(is->customer_location)};
	char	   *stock_kind;
	char	   *customer_kind;

	if (SPI_execute_plan(PLAN(ST_LOCATION_KINDS), v, NULL, false, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "reading locations failed");
	stock_kind = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	customer_kind = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	if (stock_kind == NULL || customer_kind == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("location %lld does not exist",
						(long long) (stock_kind == NULL ? is->location : is->customer_location)),
				 errhint("Pass locations of the current tenant.")));
	if (strcmp(stock_kind, "warehouse") != 0 && strcmp(stock_kind, "store") != 0 && strcmp(stock_kind, "bin") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("location %lld is a %s location: goods %s a warehouse, store or bin", (long long) is->location,
						stock_kind, is->credit_note ? "come back to" : "ship from"),
				 errhint("Set the invoice's location_id to a location that holds stock.")));
	if (strcmp(customer_kind, "customer") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("location %lld is a %s location, not a customer location",
						(long long) is->customer_location, customer_kind),
				 errhint("Set customer_location_id to a location of kind 'customer', or leave it empty.")));
}

/* 2, stocked lines: a location holding stock, and a customer location (the tenant's first by default). */
static void
issue_check_locations(Issue *is)
{
	if (is->location == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s %lld has stocked lines but no location_id", kind_word(&is->inv), (long long) is->id),
				 errhint("Set the invoice's location_id to the location the goods %s.",
						 is->credit_note ? "return to" : "ship from")));
	if (is->customer_location == 0)
		is->customer_location = default_customer_location(is->tenant);
	if (is->customer_location == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s %lld has stocked lines but the tenant has no customer location",
						kind_word(&is->inv), (long long) is->id),
				 errhint("Create a location of kind 'customer', or set the invoice's customer_location_id.")));
	check_location_kinds(is);
}

/* 3. the next number of the series for the financial year of the invoice date. */
static void
issue_take_number(Issue *is)
{
	bool		isnull;
	int			fy = invoice_fiscal_year_start(DatumGetDateADT(invoice_col(&is->inv, INVOICE_COL_DATE, &isnull)));
	Datum		v[3];
	char	   *format;
	char	   *number;
	const char *why = NULL;

	is->series = invoice_col_text(&is->inv, INVOICE_COL_SERIES);
	is->fy_label = invoice_fiscal_year_label(fy);
	v[0] = Int64GetDatum(is->tenant);
	v[1] = CStringGetTextDatum(is->series);
	v[2] = CStringGetTextDatum(is->fy_label);
	if (SPI_execute_plan(PLAN(ST_COUNTER), v, NULL, false, 0) != SPI_OK_INSERT_RETURNING || SPI_processed != 1)
		elog(ERROR, "taking an invoice number failed");
	is->seq = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));

	if (SPI_execute_plan(PLAN(ST_SERIES_FORMAT), v, NULL, false, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "reading the series failed");
	format = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	number = invoice_number_make(format, fy, is->seq, &why);
	if (number == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("series \"%s\" cannot number its %s %lld of %s with format \"%s\"",
						is->series, is->credit_note ? "credit note" : "invoice", (long long) is->seq,
						is->fy_label, format),
				 errdetail("%s", why),
				 errhint("Widen or shorten the series format (easeinv.invoice_series), or start a new series.")));
	is->number = MemoryContextStrdup(is->cxt, number);	/* outlives SPI: the movements' reference */
}

/* 3. another series may give the same number (the portal wants it unique per year). */
static void
issue_refuse_taken_number(Issue *is)
{
	Datum		v[4] = {Int64GetDatum(is->tenant), CStringGetTextDatum(is->credit_note ? "credit_note" : "invoice"),
	CStringGetTextDatum(is->fy_label), CStringGetTextDatum(is->number)};

	if (SPI_execute_plan(PLAN(ST_NUMBER_TAKEN), v, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "checking the number failed");
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNIQUE_VIOLATION),
				 errmsg("number %s of series \"%s\" is already taken in %s", is->number, is->series, is->fy_label),
				 errhint("Two series give the same numbers: give each series a format of its own.")));
}

/* 4. number, status and issued_at: the invoice is frozen from here on.  Returns the result. */
static Datum
issue_write(FunctionCallInfo fcinfo, Issue *is)
{
	Datum		v[5] = {Int64GetDatum(is->tenant), Int64GetDatum(is->id), CStringGetTextDatum(is->number),
	CStringGetTextDatum(is->fy_label), Int64GetDatum(is->seq)};

	return write_invoice(fcinfo, ST_ISSUE, v, "issuing", &is->inv, is->cxt);
}

/* 5. the stock, through the ledger's own path, as the caller (after owner_end). */
static void
issue_post_stock(Issue *is)
{
	int			i;

	for (i = 0; i < is->nstock; i++)
	{
		MoveRequest req;

		memset(&req, 0, sizeof(req));
		req.key = cstring_to_text(psprintf("easeinv:invoice:%lld:line:%d", (long long) is->id, is->lines[i].line_no));
		req.product = is->lines[i].product;
		req.from = is->credit_note ? is->customer_location : is->location;
		req.to = is->credit_note ? is->location : is->customer_location;
		req.qty = is->lines[i].qty;
		req.reason = cstring_to_text(is->credit_note ? "sales return" : "sale");
		req.ref_type = cstring_to_text(is->credit_note ? "credit_note" : "invoice");
		req.ref_id = cstring_to_text(is->number);
		req.unit_cost_null = true;
		req.occurred_at = GetCurrentTransactionStartTimestamp();
		(void) ledger_post_movement(NULL, &req);
	}
}

/*
 * emit_invoice: the outbox event of an invoice or credit note that was issued
 * or cancelled (inv its new row): <kind>.<what>, aggregate invoice:<id>, its
 * number and totals; and the invalidation of the invoice (and of a credit
 * note's invoice, whose credited amount changed).
 */
static void
emit_invoice(int64 tenant, const InvoiceRow *inv, const char *what)
{
	static const struct
	{
		const char *key;
		InvoiceColumn col;
	}			amounts[] = {
		{"taxable_value", INVOICE_COL_TAXABLE}, {"cgst", INVOICE_COL_CGST}, {"sgst", INVOICE_COL_SGST},
		{"igst", INVOICE_COL_IGST}, {"cess", INVOICE_COL_CESS}, {"round_off", INVOICE_COL_ROUND_OFF},
		{"grand_total", INVOICE_COL_GRAND_TOTAL}, {"amount_paid", INVOICE_COL_AMOUNT_PAID},
		{"amount_credited", INVOICE_COL_AMOUNT_CREDITED}, {"balance_due", INVOICE_COL_BALANCE_DUE},
	};
	EventPayload p;
	bool		isnull;
	int64		id = DatumGetInt64(invoice_col(inv, INVOICE_COL_ID, &isnull));
	char	   *kind = invoice_col_text(inv, INVOICE_COL_KIND);
	Datum		d;
	int			i;

	event_begin(&p);
	event_int8(&p, "invoice_id", id);
	event_text(&p, "kind", kind);
	event_text(&p, "number", invoice_col_text(inv, INVOICE_COL_NUMBER));
	event_text(&p, "series", invoice_col_text(inv, INVOICE_COL_SERIES));
	event_text(&p, "fiscal_year", invoice_col_text(inv, INVOICE_COL_FISCAL_YEAR));
	event_date(&p, "invoice_date", invoice_col(inv, INVOICE_COL_DATE, &isnull));
	event_text(&p, "status", invoice_col_text(inv, INVOICE_COL_STATUS));
	d = invoice_col(inv, INVOICE_COL_CUSTOMER, &isnull);
	event_id(&p, "customer_id", isnull ? 0 : DatumGetInt64(d));
	d = invoice_col(inv, INVOICE_COL_ORIGINAL, &isnull);
	event_id(&p, "original_invoice_id", isnull ? 0 : DatumGetInt64(d));
	for (i = 0; i < (int) lengthof(amounts); i++)
	{
		d = invoice_col(inv, amounts[i].col, &isnull);
		event_numeric(&p, amounts[i].key, d, isnull);
	}
	(void) events_emit(tenant, psprintf("%s.%s", kind, what), "invoice", psprintf(INT64_FORMAT, id), event_end(&p));
	events_invalidate(tenant, "invoice", id);
	d = invoice_col(inv, INVOICE_COL_ORIGINAL, &isnull);
	if (!isnull)
		events_invalidate(tenant, "invoice", DatumGetInt64(d));
}

/* issue_draft: steps 2 to 4 for a draft locked by step 1; returns the result. */
static Datum
issue_draft(FunctionCallInfo fcinfo, Issue *is)
{
	Datum		result;

	issue_refresh(is);
	/* 2 (and 4 for a credit note's invoice, as soon as the credit note passed its checks) */
	issue_check_lines(is);
	if (is->credit_note)
	{
		issue_check_credit(is);
		move_credit(ST_CREDIT, is->tenant, is->original, &is->inv, "crediting invoice");
	}
	if (is->nstock > 0)
		issue_check_locations(is);
	/* 3 */
	issue_take_number(is);
	issue_refuse_taken_number(is);
	/* 4, and its event */
	result = issue_write(fcinfo, is);
	emit_invoice(is->tenant, &is->inv, "issued");
	return result;
}

/*
 * issue_invoice(invoice_id bigint) returns easeinv.invoice_result: steps 1
 * to 5 of the file header.
 */
Datum
issue_invoice(PG_FUNCTION_ARGS)
{
	Issue		is;
	OwnerScope	session;
	Datum		result;

	memset(&is, 0, sizeof(is));
	is.cxt = CurrentMemoryContext;
	is.id = arg_id(fcinfo, 0, "invoice_id");
	is.tenant = tenant_resolve(TENANT_REQUIRED);

	/*
	 * Which lines post stock depends on their products' track_stock: pass the
	 * tenant's movement gate before reading it, even when no line turns out
	 * to post anything (ledger.c, ledger_gate).
	 */
	ledger_gate(is.tenant, false);
	owner_begin(&session);
	/* 1 */
	if (issue_lock(&is))
		result = issue_draft(fcinfo, &is);
	else
		result = make_result(fcinfo, &is.inv, true, is.cxt);	/* issued already: a retry gets the same number */
	owner_end(&session);
	/* 5 (a retry has nothing to post) */
	issue_post_stock(&is);
	return result;
}

/* ---------------------------------------------------------------------
 * cancel_invoice
 * ---------------------------------------------------------------------
 */

/* What the steps of a cancellation pass on (inv in SPI memory, the rest in cxt). */
typedef struct Cancel
{
	MemoryContext cxt;
	int64		tenant;
	int64		id;
	InvoiceRow	inv;
	char	   *number;			/* its label, for messages and the reversals' reason */
	int64	   *movements;		/* the movements its issue posted, not yet reversed */
	int32	   *line_nos;
	int			nmov;
} Cancel;

/* lock the invoice and refuse a draft; false when it is cancelled already (a replay). */
static bool
cancel_lock(Cancel *c)
{
	char	   *status = lock_action_invoice(c->tenant, c->id, &c->inv);

	if (strcmp(status, "draft") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s %lld is a draft: it cannot be cancelled", kind_word(&c->inv), (long long) c->id),
				 errhint("Delete a draft instead; it has no number yet.")));
	if (strcmp(status, "cancelled") == 0)
		return false;
	c->number = MemoryContextStrdup(c->cxt, invoice_label(&c->inv));
	return true;
}

/* refuse while payments stand */
static void
cancel_refuse_payments(Cancel *c)
{
	bool		isnull;
	Datum		paid = invoice_col(&c->inv, INVOICE_COL_AMOUNT_PAID, &isnull);

	if (num_gt(paid, NUM_ZERO))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("invoice %s has payments of %s standing", c->number, num_str(paid)),
				 errhint("Refund them with easeinv.refund_payment() first, or issue a credit note instead.")));
}

/* an invoice: refuse while issued credit notes of it exist */
static void
cancel_refuse_credit_notes(Cancel *c)
{
	Datum		v[2] = {Int64GetDatum(c->tenant), Int64GetDatum(c->id)};

	if (SPI_execute_plan(PLAN(ST_CREDIT_NOTES), v, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "reading credit notes failed");
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("invoice %s has credit note %s", c->number,
						SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1)),
				 errhint("Cancel its credit notes first.")));
}

/* a credit note gives its amount back to its invoice */
static void
cancel_give_back_credit(Cancel *c)
{
	InvoiceRow	orig;
	bool		isnull;
	int64		original = col_int8(&c->inv, INVOICE_COL_ORIGINAL, &isnull);

	(void) lock_action_invoice(c->tenant, original, &orig);
	move_credit(ST_UNCREDIT, c->tenant, original, &c->inv, "giving back a credit");
}

/* status, reason and cancelled_at; returns the result */
static Datum
cancel_write(FunctionCallInfo fcinfo, Cancel *c, text *reason)
{
	Datum		v[3] = {Int64GetDatum(c->tenant), Int64GetDatum(c->id), PointerGetDatum(reason)};

	return write_invoice(fcinfo, ST_CANCEL, v, "cancelling", &c->inv, c->cxt);
}

/* the movements its issue posted, in product order (in cxt); one reversed already is reported and left */
static void
cancel_read_movements(Cancel *c)
{
	Datum		v[2] = {Int64GetDatum(c->tenant), Int64GetDatum(c->id)};
	MemoryContext old;
	uint64		r;
	bool		isnull;

	if (SPI_execute_plan(PLAN(ST_MOVEMENTS), v, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "reading the invoice's movements failed");
	old = MemoryContextSwitchTo(c->cxt);
	c->movements = palloc(sizeof(int64) * (SPI_processed + 1));
	c->line_nos = palloc(sizeof(int32) * (SPI_processed + 1));
	for (r = 0; r < SPI_processed; r++)
	{
		HeapTuple	t = SPI_tuptable->vals[r];
		TupleDesc	d = SPI_tuptable->tupdesc;
		bool		reversed_null;
		Datum		reversed = SPI_getbinval(t, d, 3, &reversed_null);

		c->movements[c->nmov] = DatumGetInt64(SPI_getbinval(t, d, 1, &isnull));
		c->line_nos[c->nmov] = DatumGetInt32(SPI_getbinval(t, d, 2, &isnull));
		if (!reversed_null)
		{
			ereport(NOTICE,
					(errmsg("stock movement %lld of line %d was already reversed by movement %lld",
							(long long) c->movements[c->nmov], c->line_nos[c->nmov],
							(long long) DatumGetInt64(reversed)),
					 errdetail("It is not reversed again.  Since 0.5.0 only the invoice's cancel or credit note reverses its movements.")));
			continue;
		}
		c->nmov++;
	}
	MemoryContextSwitchTo(old);
}

/* the reversals, through the ledger's own path, as the caller (after owner_end) */
static void
cancel_post_reversals(Cancel *c)
{
	int			i;

	for (i = 0; i < c->nmov; i++)
		(void) ledger_post_reversal(NULL,
									cstring_to_text(psprintf("easeinv:cancel:%lld:line:%d", (long long) c->id,
															 c->line_nos[i])),
									c->movements[i],
									cstring_to_text(psprintf("%s cancelled", c->number)), true);
}

/* cancel_issued: the checks and writes of cancelling an issued invoice locked by cancel_lock; the result. */
static Datum
cancel_issued(FunctionCallInfo fcinfo, Cancel *c, text *reason)
{
	Datum		result;

	cancel_refuse_payments(c);
	if (strcmp(invoice_col_text(&c->inv, INVOICE_COL_KIND), "invoice") == 0)
		cancel_refuse_credit_notes(c);
	else
		cancel_give_back_credit(c);
	result = cancel_write(fcinfo, c, reason);
	emit_invoice(c->tenant, &c->inv, "cancelled");
	cancel_read_movements(c);
	return result;
}

/*
 * cancel_invoice(invoice_id bigint, reason text) returns
 * easeinv.invoice_result: keeps the number, refuses while payments or issued
 * credit notes stand, gives a credit note's amount back to its invoice, and
 * reverses the stock the issue posted.
 */
Datum
cancel_invoice(PG_FUNCTION_ARGS)
{
	Cancel		c;
	text	   *reason;
	OwnerScope	session;
	Datum		result;

	memset(&c, 0, sizeof(c));
	c.cxt = CurrentMemoryContext;
	c.id = arg_id(fcinfo, 0, "invoice_id");
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("reason must not be null"),
				 errhint("Say why the invoice is cancelled; the reason is kept with it.")));
	reason = arg_text(fcinfo, 1, "reason", 500);
	c.tenant = tenant_resolve(TENANT_REQUIRED);

	owner_begin(&session);
	if (cancel_lock(&c))
		result = cancel_issued(fcinfo, &c, reason);
	else
		result = make_result(fcinfo, &c.inv, true, c.cxt);	/* cancelled already: a retry gets it back */
	owner_end(&session);
	/* a retry has nothing to reverse */
	cancel_post_reversals(&c);
	return result;
}
