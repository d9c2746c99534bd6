/*-------------------------------------------------------------------------
 * invoice.c
 *	  Invoice numbers, the invoice guard, and the triggers that compute an
 *	  invoice's lines and keep its header equal to the sum of its lines.
 *
 * invoice_line_compute (BEFORE INSERT OR UPDATE OR DELETE FOR EACH ROW on
 * invoice_lines) locks the invoice (FOR NO KEY UPDATE, once per transaction)
 * and refuses any change to the lines of an invoice that is not a draft;
 * fills description, HSN/SAC and rate from the product when not given;
 * numbers the line when line_no is not given; refuses a rate not in force
 * on the invoice date (a credit note: on its invoice's date); and computes
 * the amounts with gst_compute (gst.c), whatever the caller wrote in them.
 *
 * invoice_totals (AFTER ... FOR EACH STATEMENT, with transition tables) sets
 * each touched draft's header to the sum of its lines in one UPDATE, with
 * the tenant's round-off of the grand total to the rupee.
 *
 * invoice_guard (BEFORE INSERT OR UPDATE OR DELETE FOR EACH ROW on invoices)
 * lets the extension's own writes through and otherwise refuses: computed
 * columns written by anyone (428C9), any change to an issued or cancelled
 * invoice (55000), deleting one (55000).
 *-------------------------------------------------------------------------
 */
#include "easeinv.h"
#include "numbers.h"
#include "owner.h"
#include "plans.h"
#include "triggers.h"
#include "gst.h"
#include "invoice.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

PG_FUNCTION_INFO_V1(invoice_number);
PG_FUNCTION_INFO_V1(invoice_guard);
PG_FUNCTION_INFO_V1(invoice_line_compute);
PG_FUNCTION_INFO_V1(invoice_totals);

/* RATE_IN_FORCE_SQL: whether rate (an SQL expression) is in force on date */
#define RATE_IN_FORCE_SQL(rate, date) \
	"EXISTS (SELECT 1 FROM easeinv.gst_rates g WHERE g.rate = " rate " AND g.valid_from <= " date \
	" AND (g.valid_to IS NULL OR g.valid_to >= " date "))"

/* what the line trigger reads of a product (the partition's plans too, product_plan) */
#define PRODUCT_COLUMNS "p.name, p.hsn_code, p.gst_rate, p.deleted_at IS NOT NULL, p.tableoid"
#define PRODUCT_WHERE " p WHERE p.tenant_id = $1 AND p.id = $2 FOR KEY SHARE OF p"

/* The statements of the invoice triggers (plans.h; the rule of owner.c). */
typedef enum InvoiceStatement
{
	ST_INVOICE,
	ST_RATE_IN_FORCE,
	ST_RATES_OF_INVOICE,
	ST_PRODUCT,
	ST_LAST_LINE_NO,
	ST_TOTALS,
	ST_COUNT
} InvoiceStatement;

static const PlanStatement statements[ST_COUNT] = {
	/* the invoice of a line, locked; the date its rates are checked on (a credit note: its invoice's) */
	[ST_INVOICE] = {"SELECT i.status, i.number, i.intra_state, "
		"coalesce((SELECT o.invoice_date FROM easeinv.invoices o "
		"          WHERE o.tenant_id = i.tenant_id AND o.id = i.original_invoice_id), i.invoice_date) "
		"FROM easeinv.invoices i WHERE i.tenant_id = $1 AND i.id = $2 FOR NO KEY UPDATE OF i",
		2, {INT8OID, INT8OID}},
	/* rate $1 in force on date $2 (no tenant: gst_rates is the country's) */
	[ST_RATE_IN_FORCE] = {"SELECT " RATE_IN_FORCE_SQL("$1", "$2"), 2, {NUMERICOID, DATEOID}},
	/* the first line of invoice $2 whose rate is not in force */
	[ST_RATES_OF_INVOICE] = {"SELECT l.line_no, l.gst_rate, d.rate_date "
		"FROM easeinv.invoice_lines l, "
		"     (SELECT coalesce(o.invoice_date, i.invoice_date) AS rate_date "
		"        FROM easeinv.invoices i LEFT JOIN easeinv.invoices o "
		"          ON o.tenant_id = i.tenant_id AND o.id = i.original_invoice_id "
		"       WHERE i.tenant_id = $1 AND i.id = $2) d "
		"WHERE l.tenant_id = $1 AND l.invoice_id = $2 "
		"  AND NOT " RATE_IN_FORCE_SQL("l.gst_rate", "d.rate_date") " "
		"ORDER BY l.line_no LIMIT 1", 2, {INT8OID, INT8OID}},
	/* a product, on the partitioned table (before the tenant's partition is known) */
	[ST_PRODUCT] = {"SELECT " PRODUCT_COLUMNS " FROM easeinv.products" PRODUCT_WHERE, 2, {INT8OID, INT8OID}},
	[ST_LAST_LINE_NO] = {"SELECT max(l.line_no) FROM easeinv.invoice_lines l "
		"WHERE l.tenant_id = $1 AND l.invoice_id = $2", 2, {INT8OID, INT8OID}},
	/* the listed drafts ($2, bigint[]) get their headers from their lines */
	[ST_TOTALS] = {"UPDATE easeinv.invoices i SET "
		"(subtotal, discount, taxable_value, cgst, sgst, igst, cess, round_off, grand_total) = "
		"(SELECT s.g, s.d, s.t, s.c, s.s, s.i, s.e, "
		"        CASE WHEN r.ro THEN pg_catalog.round(s.tot) - s.tot ELSE 0 END, "
		"        CASE WHEN r.ro THEN pg_catalog.round(s.tot) ELSE s.tot END "
		"   FROM (SELECT coalesce(sum(l.gross), 0) AS g, coalesce(sum(l.discount), 0) AS d, "
		"                coalesce(sum(l.taxable_value), 0) AS t, coalesce(sum(l.cgst), 0) AS c, "
		"                coalesce(sum(l.sgst), 0) AS s, coalesce(sum(l.igst), 0) AS i, "
		"                coalesce(sum(l.cess), 0) AS e, coalesce(sum(l.line_total), 0) AS tot "
		"           FROM easeinv.invoice_lines l "
		"          WHERE l.tenant_id = $1 AND l.invoice_id = i.id) s, "
		"        (SELECT coalesce((t.settings ->> 'round_off')::boolean, false) AS ro "
		"           FROM easeinv.tenants t WHERE t.id = $1) r) "
		"WHERE i.tenant_id = $1 AND i.id = ANY ($2) AND i.status = 'draft'",
		2, {INT8OID, INT8ARRAYOID}},
};

static SPIPlanPtr plans[ST_COUNT];

#define PLAN(which)		plan_kept(statements, plans, (which))

/* ---------------------------------------------------------------------
 * The extension's own writes
 * ---------------------------------------------------------------------
 */
static int	internal_depth = 0;

void
invoice_internal_begin(void)
{
	internal_depth++;
}

void
invoice_internal_end(void)
{
	if (internal_depth > 0)
		internal_depth--;
}

/*
 * invoice_internal_execute: run a kept plan as one of the extension's own
 * writes of invoices; returns SPI's result code.  Inside SPI.
 */
int
invoice_internal_execute(SPIPlanPtr plan, Datum *values, const char *nulls)
{
	volatile int rc = 0;

	invoice_internal_begin();
	PG_TRY();
	{
		rc = SPI_execute_plan(plan, values, nulls, false, 0);
	}
	PG_FINALLY();
	{
		invoice_internal_end();
	}
	PG_END_TRY();
	return rc;
}

/*
 * check_trigger_table: the trigger fires on the extension's table (or one of
 * its partitions), not on a table someone attached the function to.
 */
static void
check_trigger_table(TriggerData *td, const char *function, const char *table)
{
	Relation	rel = td->tg_relation;
	size_t		len = strlen(table);
	const char *name = RelationGetRelationName(rel);

	if (RelationGetNamespace(rel) != get_namespace_oid(EASEINV_SCHEMA, false) ||
		strncmp(name, table, len) != 0 || (name[len] != '\0' && name[len] != '_'))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("easeinv.%s() fires only on easeinv.%s", function, table)));
}

/* ---------------------------------------------------------------------
 * Numbers
 * ---------------------------------------------------------------------
 */

int
invoice_fiscal_year_start(int32 date)
{
	int			y,
				m,
				d;

	/* GST began on 2017-07-01; a BC or far-future date numbers nothing sensible */
	if (DATE_NOT_FINITE(date) ||
		date < date2j(2017, 7, 1) - POSTGRES_EPOCH_JDATE ||
		date > date2j(2999, 12, 31) - POSTGRES_EPOCH_JDATE)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid invoice date %s", DatumGetCString(DirectFunctionCall1(date_out, DateADTGetDatum(date)))),
				 errdetail("An invoice is dated from 2017-07-01 (the start of GST) to 2999-12-31."),
				 errhint("Pass the invoice's date.")));
	j2date(date + POSTGRES_EPOCH_JDATE, &y, &m, &d);
	return m >= 4 ? y : y - 1;
}

char *
invoice_fiscal_year_label(int fy_start)
{
	return psprintf("%04d-%02d", fy_start, (fy_start + 1) % 100);
}

static bool
number_char_ok(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '/' || c == '-';
}

/*
 * invoice_number_make: the number format gives for sequence n in the
 * financial year starting in fy_start, or NULL with *why saying what is wrong
 * (with the format, or with the number it makes).
 */
char *
invoice_number_make(const char *format, int fy_start, int64 n, const char **why)
{
	StringInfoData out;
	const char *p = format;
	int			sequences = 0;

	initStringInfo(&out);
	if (strlen(format) == 0 || strlen(format) > 64)
	{
		*why = "A format has 1 to 64 characters.";
		return NULL;
	}
	while (*p)
	{
		if (*p == '{')
		{
			const char *end = strchr(p, '}');
			int			len;

			if (end == NULL)
			{
				*why = "A { in the format is not closed by }.";
				return NULL;
			}
			len = end - p - 1;
			if (len == 2 && strncmp(p + 1, "FY", 2) == 0)
				appendStringInfo(&out, "%02d-%02d", fy_start % 100, (fy_start + 1) % 100);
			else if (len == 4 && strncmp(p + 1, "FYYY", 4) == 0)
				appendStringInfo(&out, "%04d-%02d", fy_start, (fy_start + 1) % 100);
			else if (len == 2 && strncmp(p + 1, "YY", 2) == 0)
				appendStringInfo(&out, "%02d", fy_start % 100);
			else if (len == 1 && p[1] == 'N')
			{
				appendStringInfo(&out, INT64_FORMAT, n);
				sequences++;
			}
			else if (len >= 3 && len <= 4 && strncmp(p + 1, "N:", 2) == 0 &&
					 isdigit((unsigned char) p[3]) && (len == 3 || isdigit((unsigned char) p[4])))
			{
				int			width = atoi(p + 3);

				if (width < 1 || width > 12)
				{
					*why = "The width of {N:width} is 1 to 12.";
					return NULL;
				}
				appendStringInfo(&out, "%0*lld", width, (long long) n);
				sequences++;
			}
			else
			{
				*why = "Use {FY} (25-26), {FYYY} (2025-26), {YY} (25), {N} or {N:width}; other characters are copied.";
				return NULL;
			}
			p = end + 1;
		}
		else
		{
			if (!number_char_ok(*p))
			{
				*why = "An invoice number has only letters, digits, / and - (the e-invoice portal's rule).";
				return NULL;
			}
			appendStringInfoChar(&out, *p);
			p++;
		}
	}
	if (sequences != 1)
	{
		*why = "A format has exactly one {N} or {N:width}, where the sequence goes.";
		return NULL;
	}
	if (out.len > 16)
	{
		*why = "An invoice number has at most 16 characters (the e-invoice portal's rule).";
		return NULL;
	}
	if (out.data[0] == '0' || out.data[0] == '/' || out.data[0] == '-')
	{
		*why = "An invoice number starts with a letter or a digit other than 0 (the e-invoice portal's rule).";
		return NULL;
	}
	return out.data;
}

/*
 * invoice_number(format text, invoice_date date, sequence_no bigint) returns
 * text: the number; a format or number the portal would refuse is 22023.
 * IMMUTABLE STRICT PARALLEL SAFE.
 */
Datum
invoice_number(PG_FUNCTION_ARGS)
{
	char	   *format = text_to_cstring(PG_GETARG_TEXT_PP(0));
	DateADT		date = PG_GETARG_DATEADT(1);
	int64		n = PG_GETARG_INT64(2);
	const char *why = NULL;
	char	   *number;

	if (DATE_NOT_FINITE(date))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invoice_date must be a finite date")));
	if (n < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("sequence_no must be 1 or more")));
	number = invoice_number_make(format, invoice_fiscal_year_start(date), n, &why);
	if (number == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invoice number format \"%s\" cannot number invoice %lld", format, (long long) n),
				 errdetail("%s", why),
				 errhint("For example INV/{FY}/{N:6} gives INV/25-26/000042.")));
	PG_RETURN_TEXT_P(cstring_to_text(number));
}

/* ---------------------------------------------------------------------
 * What the line trigger remembers of an invoice, for one transaction.  It
 * holds the invoice's row lock, so nobody else can change the invoice while
 * it is remembered; any change of an invoice row in this transaction (the
 * guard) and any aborted subtransaction (which may have released the lock)
 * forget it.
 * ---------------------------------------------------------------------
 */
typedef struct InvoiceInfo
{
	bool		valid;
	LocalTransactionId lxid;
	int64		tenant;
	int64		id;
	bool		found;
	bool		draft;
	char		status[16];
	char		number[20];
	bool		intra_state;
	DateADT		rate_date;
} InvoiceInfo;

static InvoiceInfo cached_invoice;

/* rates found in force, for one transaction */
#define RATE_CACHE_SIZE 16
static struct
{
	LocalTransactionId lxid;
	int			n;
	DateADT		date[RATE_CACHE_SIZE];
	Datum		rate[RATE_CACHE_SIZE];	/* numeric, in TopTransactionContext */
} rate_cache;

static bool callbacks_registered = false;

static void
invoice_subxact_callback(SubXactEvent event, SubTransactionId mySubid, SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		invoice_cache_reset();
}

void
invoice_cache_reset(void)
{
	cached_invoice.valid = false;
}

static void
register_callbacks(void)
{
	if (!callbacks_registered)
	{
		RegisterSubXactCallback(invoice_subxact_callback, NULL);
		callbacks_registered = true;
	}
}

/*
 * The line trigger opens its SPI session (as the owner, ledger_begin) only
 * when it must read something: with the invoice and the rate remembered and
 * the product unchanged, a line is computed without SPI.
 */
typedef struct LazySession
{
	OwnerScope session;
	bool		open;
} LazySession;

static void
need_spi(LazySession *l)
{
	if (!l->open)
	{
		owner_begin(&l->session);
		l->open = true;
	}
}

static void
end_spi(LazySession *l)
{
	if (l->open)
	{
		owner_end(&l->session);
		l->open = false;
	}
}

/* invoice_info: the invoice, locked (FOR NO KEY UPDATE), remembered for the transaction. */
static InvoiceInfo *
invoice_info(int64 tenant, int64 id, LazySession *l)
{
	Datum		values[2];
	bool		isnull;
	int			rc;

	if (cached_invoice.valid && cached_invoice.lxid == COMPAT_MY_LXID &&
		cached_invoice.tenant == tenant && cached_invoice.id == id)
		return &cached_invoice;

	need_spi(l);
	values[0] = Int64GetDatum(tenant);
	values[1] = Int64GetDatum(id);
	rc = SPI_execute_plan(PLAN(ST_INVOICE), values, NULL, false, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "reading invoice failed: %s", SPI_result_code_string(rc));

	memset(&cached_invoice, 0, sizeof(cached_invoice));
	cached_invoice.lxid = COMPAT_MY_LXID;
	cached_invoice.tenant = tenant;
	cached_invoice.id = id;
	cached_invoice.found = SPI_processed == 1;
	if (cached_invoice.found)
	{
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		char	   *status = SPI_getvalue(tup, desc, 1);
		char	   *number = SPI_getvalue(tup, desc, 2);

		strlcpy(cached_invoice.status, status, sizeof(cached_invoice.status));
		if (number)
			strlcpy(cached_invoice.number, number, sizeof(cached_invoice.number));
		else
			snprintf(cached_invoice.number, sizeof(cached_invoice.number), INT64_FORMAT, id);
		cached_invoice.draft = strcmp(status, "draft") == 0;
		cached_invoice.intra_state = DatumGetBool(SPI_getbinval(tup, desc, 3, &isnull));
		cached_invoice.rate_date = DatumGetDateADT(SPI_getbinval(tup, desc, 4, &isnull));
	}
	cached_invoice.valid = true;
	return &cached_invoice;
}

/* refuse_frozen: a change to the lines of an invoice that is not a draft. */
static void
refuse_frozen(InvoiceInfo *info)
{
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("invoice %s is %s: its lines cannot change", info->number, info->status),
			 errdetail("An issued invoice never changes."),
			 errhint("Cancel it with easeinv.cancel_invoice(), or issue a credit note.")));
}

/* rate_in_force: the GST rate is valid on the date (easeinv.gst_rates), remembered for the transaction. */
static bool
rate_in_force(Datum rate, DateADT date, LazySession *l)
{
	Datum		values[2];
	bool		isnull;
	int			i;
	int			rc;

	if (rate_cache.lxid != COMPAT_MY_LXID)
	{
		rate_cache.lxid = COMPAT_MY_LXID;
		rate_cache.n = 0;
	}
	/* 18 and 18.00 are one rate: compared as numbers, no text made per line */
	for (i = 0; i < rate_cache.n; i++)
		if (rate_cache.date[i] == date &&
			num_eq(rate_cache.rate[i], rate))
			return true;

	need_spi(l);
	values[0] = rate;
	values[1] = DateADTGetDatum(date);
	rc = SPI_execute_plan(PLAN(ST_RATE_IN_FORCE), values, NULL, false, 1);
	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "checking a GST rate failed: %s", SPI_result_code_string(rc));
	if (!DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)))
		return false;
	if (rate_cache.n < RATE_CACHE_SIZE)
	{
		/* the copy lives as long as the cache entry: this transaction */
		MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);

		rate_cache.rate[rate_cache.n] = datumCopy(rate, false, -1);
		MemoryContextSwitchTo(old);
		rate_cache.date[rate_cache.n] = date;
		rate_cache.n++;
	}
	return true;
}

/* invoice_rates_in_force: refuse (22023) an invoice with a line whose rate is no longer in force.  Inside SPI. */
void
invoice_rates_in_force(int64 tenant, int64 id)
{
	Datum		values[2] = {Int64GetDatum(tenant), Int64GetDatum(id)};

	if (SPI_execute_plan(PLAN(ST_RATES_OF_INVOICE), values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "checking the invoice's rates failed");
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("GST rate %s%% of line %s is not in force on %s",
						SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2),
						SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1),
						SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3)),
				 errdetail("The rates in force on a date are in easeinv.gst_rates; they changed after the line was written."),
				 errhint("Change the line to a rate in force on the invoice date.")));
}

/* attribute number of a column of the trigger's relation (partitions may differ) */
static int
attnum(TupleDesc desc, const char *name)
{
	int			n = SPI_fnumber(desc, name);

	if (n <= 0)
		elog(ERROR, "column \"%s\" not found", name);
	return n;
}

static const char *const line_amount_columns[GST_NAMOUNTS] = {
	"gross", "discount", "taxable_value", "cgst", "sgst", "igst", "cess", "line_total"
};

/* the columns of invoice_lines the trigger reads and writes, looked up once per partition */
typedef struct LineCols
{
	Oid			relid;
	TupleDesc	desc;
	int			invoice_id, product_id, line_no, description, hsn_sac, qty, unit_price,
				discount_percent, discount_amount, gst_rate, cess_rate;
	int			amounts[GST_NAMOUNTS];
} LineCols;

static LineCols *
line_cols(TriggerData *td)
{
	Relation	rel = td->tg_relation;
	static LineCols c;
	TupleDesc	desc = RelationGetDescr(rel);
	int			i;

	if (c.relid == RelationGetRelid(rel) && c.desc == desc)
		return &c;
	/* checked once per partition, not per row */
	check_trigger_table(td, "invoice_line_compute", "invoice_lines");
	c.relid = InvalidOid;
	c.invoice_id = attnum(desc, "invoice_id");
	c.product_id = attnum(desc, "product_id");
	c.line_no = attnum(desc, "line_no");
	c.description = attnum(desc, "description");
	c.hsn_sac = attnum(desc, "hsn_sac");
	c.qty = attnum(desc, "qty");
	c.unit_price = attnum(desc, "unit_price");
	c.discount_percent = attnum(desc, "discount_percent");
	c.discount_amount = attnum(desc, "discount_amount");
	c.gst_rate = attnum(desc, "gst_rate");
	c.cess_rate = attnum(desc, "cess_rate");
	for (i = 0; i < GST_NAMOUNTS; i++)
		c.amounts[i] = attnum(desc, line_amount_columns[i]);
	c.desc = desc;
	c.relid = RelationGetRelid(rel);
	return &c;
}

/*
 * product_plan: the plan that reads (and locks FOR KEY SHARE) a product of
 * the tenant.  A generic plan over the hash-partitioned products table pays
 * executor start-up for every partition on each call (bench/invoices: 41% of
 * inserting a 500-line invoice), so once the tenant's partition is known the
 * lookup goes to that partition directly, with a plan kept per partition.
 */
/* the partition of products that holds a tenant's rows, as last read (this transaction) */
static int64 known_tenant = 0;
static Oid	known_partition = InvalidOid;
static LocalTransactionId known_lxid = InvalidLocalTransactionId;

static SPIPlanPtr
product_plan(int64 tenant)
{
	static struct
	{
		Oid			partition;
		SPIPlanPtr	plan;
	}			partitions[EASEINV_MAX_PARTITIONS];
	static int	npartitions = 0;
	Oid			types[2] = {INT8OID, INT8OID};
	int			i;

	if (known_tenant == tenant && known_lxid == COMPAT_MY_LXID && OidIsValid(known_partition))
	{
		for (i = 0; i < npartitions; i++)
			if (partitions[i].partition == known_partition)
				return partitions[i].plan;
		if (npartitions < EASEINV_MAX_PARTITIONS)
		{
			char	   *sql = psprintf("SELECT " PRODUCT_COLUMNS " FROM %s" PRODUCT_WHERE,
									   quote_qualified_identifier(get_namespace_name(get_rel_namespace(known_partition)),
																  get_rel_name(known_partition)));

			partitions[npartitions].plan = plan_prepare_kept(sql, 2, types);
			partitions[npartitions].partition = known_partition;
			return partitions[npartitions++].plan;
		}
	}
	return PLAN(ST_PRODUCT);
}

/*
 * invoice_line_compute() returns trigger: BEFORE INSERT OR UPDATE OR DELETE
 * FOR EACH ROW on invoice_lines.
 */
Datum
invoice_line_compute(PG_FUNCTION_ARGS)
{
	TriggerData *td;
	TupleDesc	desc;
	LineCols   *lc;
	HeapTuple	newtup;
	HeapTuple	oldtup = NULL;
	int64		tenant;
	int64		invoice_id;
	bool		isnull;
	LazySession spi = {{0}, false};
	InvoiceInfo *info;
	GstInput	in;
	Datum		amounts[GST_NAMOUNTS];
	int			ncols = 0;
	int			cols[GST_NAMOUNTS + 4];
	Datum		vals[GST_NAMOUNTS + 4];
	bool		nulls[GST_NAMOUNTS + 4];
	Datum		product;
	bool		product_null;
	bool		product_changed;
	int			i;
	MemoryContext cxt = CurrentMemoryContext;

	td = trigger_data(fcinfo, "invoice_line_compute");
	if (!TRIGGER_FIRED_BEFORE(td->tg_event) || !TRIGGER_FIRED_FOR_ROW(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("easeinv.invoice_line_compute() must be a BEFORE ... FOR EACH ROW trigger")));
	/* pg_restore loads lines with the amounts they were issued with (restore.c) */
	if (TRIGGER_FIRED_BY_INSERT(td->tg_event) && restore_in_progress(RelationGetRelid(td->tg_relation)))
		return PointerGetDatum(td->tg_trigtuple);
	register_callbacks();
	desc = RelationGetDescr(td->tg_relation);
	lc = line_cols(td);
	tenant = tenant_resolve(TENANT_REQUIRED);

	if (TRIGGER_FIRED_BY_DELETE(td->tg_event))
	{
		invoice_id = DatumGetInt64(heap_getattr(td->tg_trigtuple, lc->invoice_id, desc, &isnull));
		info = invoice_info(tenant, invoice_id, &spi);
		/* not found: the invoice itself is being deleted (a draft: the guard saw to it) */
		if (info->found && !info->draft)
			refuse_frozen(info);
		end_spi(&spi);
		return PointerGetDatum(td->tg_trigtuple);
	}

	newtup = TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple : td->tg_trigtuple;
	if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
		oldtup = td->tg_trigtuple;

	{
		Datum		inv = heap_getattr(newtup, lc->invoice_id, desc, &isnull);

		if (isnull)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("invoice_id must not be null"),
					 errhint("A line belongs to a draft invoice of the current tenant.")));
		invoice_id = DatumGetInt64(inv);
	}
	if (oldtup != NULL)
	{
		int64		old_invoice = DatumGetInt64(heap_getattr(oldtup, lc->invoice_id, desc, &isnull));

		if (old_invoice != invoice_id)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("a line cannot move from invoice %lld to invoice %lld", (long long) old_invoice, (long long) invoice_id),
					 errhint("Delete the line and add it to the other invoice.")));
	}

	product = heap_getattr(newtup, lc->product_id, desc, &product_null);
	product_changed = !product_null;
	if (oldtup != NULL && !product_null)
	{
		bool		oldnull;
		Datum		oldproduct = heap_getattr(oldtup, lc->product_id, desc, &oldnull);

		product_changed = oldnull || DatumGetInt64(oldproduct) != DatumGetInt64(product);
	}

	info = invoice_info(tenant, invoice_id, &spi);
	if (!info->found)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invoice %lld does not exist", (long long) invoice_id),
				 errhint("A line belongs to a draft invoice of the current tenant.")));
	if (!info->draft)
		refuse_frozen(info);

	/*
	 * The product: usable (the tenant's, not deleted), locked FOR KEY SHARE so
	 * that it is not deleted meanwhile (the lines have no foreign keys: this is
	 * the check), and the source of what the line leaves out.
	 */
	if (product_changed)
	{
		Datum		pv[2];
		HeapTuple	p;
		TupleDesc	pdesc;
		const int	fill[3] = {lc->description, lc->hsn_sac, lc->gst_rate};

		need_spi(&spi);
		pv[0] = Int64GetDatum(tenant);
		pv[1] = product;
		if (SPI_execute_plan(product_plan(tenant), pv, NULL, false, 1) != SPI_OK_SELECT)
			elog(ERROR, "reading a product failed");
		if (SPI_processed == 0 ||
			DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4, &isnull)))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("product %lld does not exist", (long long) DatumGetInt64(product)),
					 errhint("Pass a product of the current tenant that is not deleted, or no product for a service.")));
		p = SPI_tuptable->vals[0];
		pdesc = SPI_tuptable->tupdesc;
		known_tenant = tenant;
		known_partition = DatumGetObjectId(SPI_getbinval(p, pdesc, 5, &isnull));
		known_lxid = COMPAT_MY_LXID;
		for (i = 0; i < 3; i++)
		{
			int			col = fill[i];
			bool		given;
			Datum		v;

			(void) heap_getattr(newtup, col, desc, &given);
			given = !given;
			/* on UPDATE, a value carried over from the old product is replaced too */
			if (given && oldtup != NULL)
			{
				bool		onull;
				Datum		ov = heap_getattr(oldtup, col, desc, &onull);
				bool		nnull;
				Datum		nv = heap_getattr(newtup, col, desc, &nnull);

				if (!onull && datumIsEqual(ov, nv, TupleDescAttr(desc, col - 1)->attbyval,
										   TupleDescAttr(desc, col - 1)->attlen))
					given = false;
			}
			if (given)
				continue;
			v = SPI_getbinval(p, pdesc, i + 1, &isnull);
			cols[ncols] = col;
			nulls[ncols] = isnull;
			vals[ncols] = isnull ? (Datum) 0 : SPI_datumTransfer(v, false, -1);
			ncols++;
		}
	}

	/* a line number when none is given: the next of the invoice */
	(void) heap_getattr(newtup, lc->line_no, desc, &isnull);
	if (isnull)
	{
		Datum		lv[2];
		int32		next = 1;

		need_spi(&spi);
		lv[0] = Int64GetDatum(tenant);
		lv[1] = Int64GetDatum(invoice_id);
		if (SPI_execute_plan(PLAN(ST_LAST_LINE_NO), lv, NULL, false, 1) != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "numbering a line failed");
		{
			Datum		m = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

			if (!isnull)
				next = DatumGetInt32(m) + 1;
		}
		cols[ncols] = lc->line_no;
		vals[ncols] = Int32GetDatum(next);
		nulls[ncols] = false;
		ncols++;
	}

	/* apply the fills, so what follows reads the row as it will be stored */
	if (ncols > 0)
	{
		MemoryContext old = MemoryContextSwitchTo(cxt);

		newtup = heap_modify_tuple_by_cols(newtup, desc, ncols, cols, vals, nulls);
		MemoryContextSwitchTo(old);
		ncols = 0;
	}

	(void) heap_getattr(newtup, lc->description, desc, &isnull);
	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("a line without a product needs a description"),
				 errhint("Give description, or product_id to take the product's name.")));

	/* HSN (goods) or SAC (services): 4, 6 or 8 digits */
	{
		Datum		h = heap_getattr(newtup, lc->hsn_sac, desc, &isnull);

		if (!isnull)
		{
			char	   *hsn = TextDatumGetCString(h);
			size_t		len = strlen(hsn);

			if ((len != 4 && len != 6 && len != 8) || strspn(hsn, "0123456789") != len)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("invalid HSN/SAC code \"%s\"", hsn),
						 errhint("An HSN or SAC code has 4, 6 or 8 digits.")));
		}
	}

	/* the inputs (heap_getattr sets isnull: call it before passing isnull on) */
	memset(&in, 0, sizeof(in));
	in.qty = heap_getattr(newtup, lc->qty, desc, &isnull);
	in.qty = gst_check_numeric(in.qty, isnull, "qty", 4, "0.0001", "99999999999999.9999");
	in.unit_price = heap_getattr(newtup, lc->unit_price, desc, &isnull);
	in.unit_price = gst_check_numeric(in.unit_price, isnull, "unit_price", 4, "0", "99999999999999.9999");
	in.gst_rate = heap_getattr(newtup, lc->gst_rate, desc, &isnull);
	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("a line without a product needs a gst_rate"),
				 errhint("Give gst_rate, or product_id to take the product's rate.")));
	in.intra_state = info->intra_state;
	in.discount_percent = heap_getattr(newtup, lc->discount_percent, desc, &isnull);
	in.has_discount_percent = !isnull;
	in.discount_amount = heap_getattr(newtup, lc->discount_amount, desc, &isnull);
	in.has_discount_amount = !isnull;
	in.cess_rate = heap_getattr(newtup, lc->cess_rate, desc, &isnull);
	in.has_cess_rate = !isnull;
	gst_check_inputs(&in);

	if (!rate_in_force(in.gst_rate, info->rate_date, &spi))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("GST rate %s%% is not in force on %s",
						num_str(in.gst_rate),
						DatumGetCString(DirectFunctionCall1(date_out, DateADTGetDatum(info->rate_date)))),
				 errdetail("The rates in force on a date are in easeinv.gst_rates."),
				 errhint("Use a rate valid on the invoice date (a credit note: on its invoice's date).")));
	end_spi(&spi);

	gst_compute(&in, amounts);
	for (i = 0; i < GST_NAMOUNTS; i++)
	{
		cols[ncols] = lc->amounts[i];
		vals[ncols] = amounts[i];
		nulls[ncols] = false;
		ncols++;
	}
	newtup = heap_modify_tuple_by_cols(newtup, desc, ncols, cols, vals, nulls);
	return PointerGetDatum(newtup);
}

/*
 * invoice_update_totals: every listed draft of the tenant (ids: bigint[])
 * gets its header from its lines, with the tenant's round-off.  Inside SPI,
 * as the owner.  A total beyond numeric(15,2) fails (22003).
 */
void
invoice_update_totals(int64 tenant, Datum ids)
{
	Datum		values[2] = {Int64GetDatum(tenant), ids};
	int			rc;

	rc = invoice_internal_execute(PLAN(ST_TOTALS), values, NULL);
	if (rc != SPI_OK_UPDATE)
		elog(ERROR, "updating invoice totals failed: %s", SPI_result_code_string(rc));
}

/*
 * invoice_totals() returns trigger: AFTER INSERT, UPDATE or DELETE FOR EACH
 * STATEMENT on invoice_lines, with the transition table new_rows (INSERT,
 * UPDATE: a line never moves to another invoice) or old_rows (DELETE).
 * Every draft the statement touched gets its header from its lines.
 */
Datum
invoice_totals(PG_FUNCTION_ARGS)
{
	TriggerData *td;
	OwnerScope session;
	SPITupleTable *touched;
	uint64		n;
	uint64		i;
	bool		isnull;

	td = trigger_data(fcinfo, "invoice_totals");
	if (!TRIGGER_FIRED_AFTER(td->tg_event) || !TRIGGER_FIRED_FOR_STATEMENT(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("easeinv.invoice_totals() must be an AFTER ... FOR EACH STATEMENT trigger")));
	if (td->tg_newtable == NULL && td->tg_oldtable == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("easeinv.invoice_totals() needs REFERENCING NEW TABLE AS new_rows or OLD TABLE AS old_rows")));
	check_trigger_table(td, "invoice_totals", "invoice_lines");
	/* pg_restore loads the headers with their totals (restore.c) */
	if (TRIGGER_FIRED_BY_INSERT(td->tg_event) && restore_in_progress(RelationGetRelid(td->tg_relation)))
		return PointerGetDatum(NULL);

	owner_begin(&session);
	if (SPI_register_trigger_data(td) != SPI_OK_TD_REGISTER)
		elog(ERROR, "SPI_register_trigger_data failed");
	/* the touched invoices per tenant (a role that bypasses RLS may write several) */
	if (SPI_execute(td->tg_newtable != NULL
					? "SELECT n.tenant_id, pg_catalog.array_agg(DISTINCT n.invoice_id) FROM new_rows n GROUP BY n.tenant_id"
					: "SELECT o.tenant_id, pg_catalog.array_agg(DISTINCT o.invoice_id) FROM old_rows o GROUP BY o.tenant_id",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "reading the transition table failed");
	touched = SPI_tuptable;
	n = SPI_processed;
	for (i = 0; i < n; i++)
		invoice_update_totals(DatumGetInt64(SPI_getbinval(touched->vals[i], touched->tupdesc, 1, &isnull)),
							  SPI_getbinval(touched->vals[i], touched->tupdesc, 2, &isnull));
	owner_end(&session);
	return PointerGetDatum(NULL);
}

/* ---------------------------------------------------------------------
 * The guard
 * ---------------------------------------------------------------------
 */

/* columns only the extension writes */
static const char *const computed_columns[] = {
	"status", "number", "fiscal_year", "sequence_no", "intra_state",
	"subtotal", "discount", "taxable_value", "cgst", "sgst", "igst", "cess", "round_off", "grand_total",
	"amount_paid", "amount_credited", "cancel_reason", "issued_at", "cancelled_at"
};

/* fixed when the invoice is made */
static const char *const fixed_columns[] = {"kind", "original_invoice_id", "tenant_id"};

static char *
guard_label(HeapTuple tup, TupleDesc desc)
{
	bool		isnull;
	Datum		number = heap_getattr(tup, attnum(desc, "number"), desc, &isnull);

	if (!isnull)
		return TextDatumGetCString(number);
	return psprintf(INT64_FORMAT, DatumGetInt64(heap_getattr(tup, attnum(desc, "id"), desc, &isnull)));
}

static bool
column_changed(HeapTuple a, HeapTuple b, TupleDesc desc, const char *name)
{
	int			col = attnum(desc, name);
	Form_pg_attribute att = TupleDescAttr(desc, col - 1);
	bool		anull,
				bnull;
	Datum		av = heap_getattr(a, col, desc, &anull);
	Datum		bv = heap_getattr(b, col, desc, &bnull);

	if (anull || bnull)
		return anull != bnull;
	return !datum_image_eq(av, bv, att->attbyval, att->attlen);
}

/*
 * invoice_guard() returns trigger: BEFORE INSERT OR UPDATE OR DELETE FOR EACH
 * ROW on invoices.
 */
Datum
invoice_guard(PG_FUNCTION_ARGS)
{
	TriggerData *td;
	TupleDesc	desc;
	bool		isnull;
	int			i;

	td = trigger_data(fcinfo, "invoice_guard");
	if (!TRIGGER_FIRED_BEFORE(td->tg_event) || !TRIGGER_FIRED_FOR_ROW(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("easeinv.invoice_guard() must be a BEFORE ... FOR EACH ROW trigger")));
	check_trigger_table(td, "invoice_guard", "invoices");
	register_callbacks();
	desc = RelationGetDescr(td->tg_relation);

	/* an invoice changes: what the line trigger remembers is out of date */
	invoice_cache_reset();

	/* pg_restore loads invoices as they were dumped (restore.c) */
	if (TRIGGER_FIRED_BY_INSERT(td->tg_event) && restore_in_progress(RelationGetRelid(td->tg_relation)))
		return PointerGetDatum(td->tg_trigtuple);

	if (internal_depth > 0)
		return PointerGetDatum(TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple : td->tg_trigtuple);

	if (TRIGGER_FIRED_BY_INSERT(td->tg_event))
	{
		HeapTuple	tup = td->tg_trigtuple;

		for (i = 0; i < (int) lengthof(computed_columns); i++)
		{
			int			col = attnum(desc, computed_columns[i]);
			Form_pg_attribute att = TupleDescAttr(desc, col - 1);
			Datum		v = heap_getattr(tup, col, desc, &isnull);
			bool		is_default;

			if (isnull)
				is_default = true;
			else if (att->atttypid == NUMERICOID)
				is_default = num_eq(v, NUM_ZERO);
			else if (strcmp(computed_columns[i], "status") == 0)
				is_default = strcmp(TextDatumGetCString(v), "draft") == 0;
			else
				is_default = false;
			if (!is_default)
				ereport(ERROR,
						(errcode(ERRCODE_GENERATED_ALWAYS),
						 errmsg("column \"%s\" of an invoice is computed by easeinv", computed_columns[i]),
						 errdetail("A new invoice is a draft; its amounts come from its lines."),
						 errhint("Leave \"%s\" out; easeinv.issue_invoice() issues the draft.", computed_columns[i])));
		}
		return PointerGetDatum(tup);
	}

	if (TRIGGER_FIRED_BY_DELETE(td->tg_event))
	{
		HeapTuple	old = td->tg_trigtuple;
		char	   *status = TextDatumGetCString(heap_getattr(old, attnum(desc, "status"), desc, &isnull));

		if (strcmp(status, "draft") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("invoice %s is %s: it cannot be deleted", guard_label(old, desc), status),
					 errdetail("Only drafts are deleted; an issued invoice keeps its number for ever."),
					 errhint("Cancel it with easeinv.cancel_invoice(), or issue a credit note.")));
		return PointerGetDatum(old);
	}

	/* UPDATE */
	{
		HeapTuple	old = td->tg_trigtuple;
		HeapTuple	new = td->tg_newtuple;
		char	   *status = TextDatumGetCString(heap_getattr(old, attnum(desc, "status"), desc, &isnull));

		if (strcmp(status, "draft") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("invoice %s is %s: it cannot change", guard_label(old, desc), status),
					 errdetail("An issued invoice never changes."),
					 errhint("Cancel it with easeinv.cancel_invoice(), or issue a credit note.")));
		for (i = 0; i < (int) lengthof(computed_columns); i++)
			if (column_changed(old, new, desc, computed_columns[i]))
				ereport(ERROR,
						(errcode(ERRCODE_GENERATED_ALWAYS),
						 errmsg("column \"%s\" of an invoice is computed by easeinv", computed_columns[i]),
						 errhint("Change the lines, or use issue_invoice, cancel_invoice, record_payment.")));
		for (i = 0; i < (int) lengthof(fixed_columns); i++)
			if (column_changed(old, new, desc, fixed_columns[i]))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("column \"%s\" of an invoice is fixed when the invoice is created", fixed_columns[i]),
						 errhint("Delete the draft and create another.")));
		return PointerGetDatum(new);
	}
}
