/*-------------------------------------------------------------------------
 * invoice.c
 *	  Invoice numbers, the invoice guard, and the triggers that compute an
 *	  invoice's lines and keep its header equal to the sum of its lines.
 *
 * invoice_line_compute (BEFORE INSERT OR UPDATE OR DELETE FOR EACH ROW on
 * invoice_lines), for each line:
 *	  1. locks the invoice (FOR NO KEY UPDATE, once per transaction) and
 *		 refuses any change to the lines of an invoice that is not a draft;
 *	  2. fills description, HSN/SAC and rate from the product when not given;
 *	  3. numbers the line when line_no is not given;
 *	  4. checks the inputs and refuses a rate not in force on the invoice date
 *		 (a credit note: on its invoice's date);
 *	  5. computes the amounts with gst_compute (gst.c), whatever the caller
 *		 wrote in them.
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
		"        CASE WHEN r.ro THEN round(s.tot) - s.tot ELSE 0 END, "
		"        CASE WHEN r.ro THEN round(s.tot) ELSE s.tot END "
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

static void
invoice_internal_begin(void)
{
	internal_depth++;
}

static void
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

/* attribute number of a column of the trigger's relation (partitions may differ) */
static int
attnum(TupleDesc desc, const char *name)
{
	int			n = SPI_fnumber(desc, name);

	if (n <= 0)
		elog(ERROR, "column \"%s\" not found", name);
	return n;
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
 * number_placeholder: append what the placeholder spec (the len characters
 * between { and }) gives, counting the sequences; false with *why set when
 * it is none of them.
 */
static bool
number_placeholder(StringInfo out, const char *spec, int len, int fy_start, int64 n, int *sequences,
				   const char **why)
{
	if (len == 2 && strncmp(spec, "FY", 2) == 0)
		appendStringInfo(out, "%02d-%02d", fy_start % 100, (fy_start + 1) % 100);
	else if (len == 4 && strncmp(spec, "FYYY", 4) == 0)
		appendStringInfo(out, "%04d-%02d", fy_start, (fy_start + 1) % 100);
	else if (len == 2 && strncmp(spec, "YY", 2) == 0)
		appendStringInfo(out, "%02d", fy_start % 100);
	else if (len == 1 && spec[0] == 'N')
	{
		appendStringInfo(out, INT64_FORMAT, n);
		(*sequences)++;
	}
	else if (len >= 3 && len <= 4 && strncmp(spec, "N:", 2) == 0 &&
			 isdigit((unsigned char) spec[2]) && (len == 3 || isdigit((unsigned char) spec[3])))
	{
		int			width = atoi(spec + 2);

		if (width < 1 || width > 12)
		{
			*why = "The width of {N:width} is 1 to 12.";
			return false;
		}
		appendStringInfo(out, "%0*lld", width, (long long) n);
		(*sequences)++;
	}
	else
	{
		*why = "Use {FY} (25-26), {FYYY} (2025-26), {YY} (25), {N} or {N:width}; other characters are copied.";
		return false;
	}
	return true;
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

			if (end == NULL)
			{
				*why = "A { in the format is not closed by }.";
				return NULL;
			}
			if (!number_placeholder(&out, p + 1, end - p - 1, fy_start, n, &sequences, why))
				return NULL;
			p = end + 1;
			continue;
		}
		if (!number_char_ok(*p))
		{
			*why = "An invoice number has only letters, digits, / and - (the e-invoice portal's rule).";
			return NULL;
		}
		appendStringInfoChar(&out, *p);
		p++;
	}
	if (sequences != 1)
		*why = "A format has exactly one {N} or {N:width}, where the sequence goes.";
	else if (out.len > 16)
		*why = "An invoice number has at most 16 characters (the e-invoice portal's rule).";
	else if (out.data[0] == '0' || out.data[0] == '/' || out.data[0] == '-')
		*why = "An invoice number starts with a letter or a digit other than 0 (the e-invoice portal's rule).";
	else
		return out.data;
	return NULL;
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
 * What the line trigger remembers
 *
 * invoice_line_compute runs once per line, often for hundreds of lines of
 * one invoice in one statement.  So that a line whose invoice, rate and
 * product are known is computed without SPI, it remembers, in `remembered`
 * below (this section owns it; nothing else reads or writes it):
 *
 *	  invoice	The last invoice a line named, as read and locked FOR NO KEY
 *				UPDATE (ST_INVOICE): status, number, intra_state and the date
 *				its rates are checked on.  Valid only for the transaction that
 *				read it (its local transaction id) and for that tenant and id.
 *				While the lock is held no other session can change the
 *				invoice; what this backend does to it is seen by invoice_guard,
 *				which forgets it on every INSERT, UPDATE or DELETE of an
 *				invoice row (the extension's own writes too: totals, issue,
 *				payments).  An aborted subtransaction forgets it too (the
 *				subtransaction callback): the rollback may have released the
 *				lock the memory relies on.
 *	  rates		Up to RATE_CACHE_SIZE pairs (rate, date) found in force in
 *				easeinv.gst_rates, the rates copied into TopTransactionContext.
 *				Valid for the transaction (local transaction id), whose memory
 *				the copies go with; neither the guard nor the callback forgets
 *				them, so a change of gst_rates later in the same transaction is
 *				not seen by its lines (issue_invoice checks every line's rate
 *				again without this memory: invoice_rates_in_force).
 *	  products	The partition of easeinv.products that holds the tenant's
 *				rows, as the last product read said (its tableoid): valid for
 *				the transaction (local transaction id) and that tenant.  It
 *				picks the plan of product_plan: a generic plan over the hash
 *				partitions pays executor start-up for every partition on each
 *				call (bench/invoices: 41% of inserting a 500-line invoice), so
 *				once the partition is known a product is read from it directly.
 *				Those plans (text made at run time, so outside the statement
 *				table) are kept for the life of the backend, like every kept
 *				plan (the plan cache revalidates them), one per partition up to
 *				EASEINV_MAX_PARTITIONS; past that, and before the partition is
 *				known, ST_PRODUCT on the parent serves.
 *	  columns	The attribute numbers of invoice_lines the trigger reads and
 *				writes, for one partition (its relid and tuple descriptor):
 *				looked up again when another partition fires or the relcache
 *				gives it another descriptor.
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

static const char *const line_amount_columns[GST_NAMOUNTS] = {
	"gross", "discount", "taxable_value", "cgst", "sgst", "igst", "cess", "line_total"
};

/* the columns of invoice_lines the trigger reads and writes */
typedef struct LineCols
{
	Oid			relid;
	TupleDesc	desc;
	int			invoice_id, product_id, line_no, description, hsn_sac, qty, unit_price,
				discount_percent, discount_amount, gst_rate, cess_rate;
	int			amounts[GST_NAMOUNTS];
} LineCols;

#define RATE_CACHE_SIZE 16

static struct
{
	InvoiceInfo invoice;
	struct
	{
		LocalTransactionId lxid;
		int			n;
		DateADT		date[RATE_CACHE_SIZE];
		Datum		rate[RATE_CACHE_SIZE];	/* numeric, in TopTransactionContext */
	}			rates;
	struct
	{
		LocalTransactionId lxid;
		int64		tenant;
		Oid			partition;
		int			nplans;
		struct
		{
			Oid			partition;
			SPIPlanPtr	plan;
		}			plans[EASEINV_MAX_PARTITIONS];
	}			products;
	LineCols	columns;
	bool		callback_registered;
} remembered;

/* forget_invoice: the remembered invoice is out of date (the guard, an aborted subtransaction). */
static void
forget_invoice(void)
{
	remembered.invoice.valid = false;
}

static void
invoice_subxact_callback(SubXactEvent event, SubTransactionId mySubid, SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		forget_invoice();
}

/* remember_begin: the subtransaction callback, registered once per backend. */
static void
remember_begin(void)
{
	if (!remembered.callback_registered)
	{
		RegisterSubXactCallback(invoice_subxact_callback, NULL);
		remembered.callback_registered = true;
	}
}

/*
 * The line trigger opens its SPI session (as the owner, owner_begin) only
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

/* remembered_invoice: the invoice, locked (FOR NO KEY UPDATE), remembered for the transaction. */
static InvoiceInfo *
remembered_invoice(int64 tenant, int64 id, LazySession *l)
{
	InvoiceInfo *info = &remembered.invoice;
	Datum		values[2] = {Int64GetDatum(tenant), Int64GetDatum(id)};
	bool		isnull;
	int			rc;

	if (info->valid && info->lxid == COMPAT_MY_LXID && info->tenant == tenant && info->id == id)
		return info;

	need_spi(l);
	rc = SPI_execute_plan(PLAN(ST_INVOICE), values, NULL, false, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "reading invoice failed: %s", SPI_result_code_string(rc));

	memset(info, 0, sizeof(*info));
	info->lxid = COMPAT_MY_LXID;
	info->tenant = tenant;
	info->id = id;
	info->found = SPI_processed == 1;
	if (info->found)
	{
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		char	   *status = SPI_getvalue(tup, desc, 1);
		char	   *number = SPI_getvalue(tup, desc, 2);

		strlcpy(info->status, status, sizeof(info->status));
		if (number)
			strlcpy(info->number, number, sizeof(info->number));
		else
			snprintf(info->number, sizeof(info->number), INT64_FORMAT, id);
		info->draft = strcmp(status, "draft") == 0;
		info->intra_state = DatumGetBool(SPI_getbinval(tup, desc, 3, &isnull));
		info->rate_date = DatumGetDateADT(SPI_getbinval(tup, desc, 4, &isnull));
	}
	info->valid = true;
	return info;
}

/* remember_rate: a rate found in force on the date, while there is room. */
static void
remember_rate(Datum rate, DateADT date)
{
	MemoryContext old;

	if (remembered.rates.n >= RATE_CACHE_SIZE)
		return;
	/* the copy lives as long as the entry: this transaction */
	old = MemoryContextSwitchTo(TopTransactionContext);
	remembered.rates.rate[remembered.rates.n] = datumCopy(rate, false, -1);
	MemoryContextSwitchTo(old);
	remembered.rates.date[remembered.rates.n] = date;
	remembered.rates.n++;
}

/* rate_in_force: the GST rate is valid on the date (easeinv.gst_rates), remembered for the transaction. */
static bool
rate_in_force(Datum rate, DateADT date, LazySession *l)
{
	Datum		values[2] = {rate, DateADTGetDatum(date)};
	bool		isnull;
	int			i;
	int			rc;

	if (remembered.rates.lxid != COMPAT_MY_LXID)
	{
		remembered.rates.lxid = COMPAT_MY_LXID;
		remembered.rates.n = 0;
	}
	/* 18 and 18.00 are one rate: compared as numbers, no text made per line */
	for (i = 0; i < remembered.rates.n; i++)
		if (remembered.rates.date[i] == date && num_eq(remembered.rates.rate[i], rate))
			return true;

	need_spi(l);
	rc = SPI_execute_plan(PLAN(ST_RATE_IN_FORCE), values, NULL, false, 1);
	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "checking a GST rate failed: %s", SPI_result_code_string(rc));
	if (!DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)))
		return false;
	remember_rate(rate, date);
	return true;
}

/* remember_product_partition: the partition the tenant's product was just read from. */
static void
remember_product_partition(int64 tenant, Oid partition)
{
	remembered.products.tenant = tenant;
	remembered.products.partition = partition;
	remembered.products.lxid = COMPAT_MY_LXID;
}

/*
 * product_plan: the plan that reads (and locks FOR KEY SHARE) a product of
 * the tenant: on the tenant's partition when it is known, else on the parent.
 */
static SPIPlanPtr
product_plan(int64 tenant)
{
	Oid			types[2] = {INT8OID, INT8OID};
	Oid			partition = remembered.products.partition;
	int			n = remembered.products.nplans;
	int			i;

	if (remembered.products.tenant != tenant || remembered.products.lxid != COMPAT_MY_LXID ||
		!OidIsValid(partition))
		return PLAN(ST_PRODUCT);
	for (i = 0; i < n; i++)
		if (remembered.products.plans[i].partition == partition)
			return remembered.products.plans[i].plan;
	if (n == EASEINV_MAX_PARTITIONS)
		return PLAN(ST_PRODUCT);
	remembered.products.plans[n].plan =
		plan_prepare_kept(psprintf("SELECT " PRODUCT_COLUMNS " FROM %s" PRODUCT_WHERE,
								   quote_qualified_identifier(get_namespace_name(get_rel_namespace(partition)),
															  get_rel_name(partition))),
						  2, types);
	remembered.products.plans[n].partition = partition;
	remembered.products.nplans++;
	return remembered.products.plans[n].plan;
}

/* line_cols: the columns of the trigger's partition of invoice_lines, looked up once per partition. */
static LineCols *
line_cols(TriggerData *td)
{
	Relation	rel = td->tg_relation;
	LineCols   *c = &remembered.columns;
	TupleDesc	desc = RelationGetDescr(rel);
	int			i;

	if (c->relid == RelationGetRelid(rel) && c->desc == desc)
		return c;
	/* checked once per partition, not per row */
	check_trigger_table(td, "invoice_line_compute", "invoice_lines");
	c->relid = InvalidOid;
	c->invoice_id = attnum(desc, "invoice_id");
	c->product_id = attnum(desc, "product_id");
	c->line_no = attnum(desc, "line_no");
	c->description = attnum(desc, "description");
	c->hsn_sac = attnum(desc, "hsn_sac");
	c->qty = attnum(desc, "qty");
	c->unit_price = attnum(desc, "unit_price");
	c->discount_percent = attnum(desc, "discount_percent");
	c->discount_amount = attnum(desc, "discount_amount");
	c->gst_rate = attnum(desc, "gst_rate");
	c->cess_rate = attnum(desc, "cess_rate");
	for (i = 0; i < GST_NAMOUNTS; i++)
		c->amounts[i] = attnum(desc, line_amount_columns[i]);
	c->desc = desc;
	c->relid = RelationGetRelid(rel);
	return c;
}

/* ---------------------------------------------------------------------
 * The line trigger: the steps of the file header, one function each
 * ---------------------------------------------------------------------
 */

#define LINE_MAX_FILLS	(GST_NAMOUNTS + 4)

/* One row of invoice_line_compute, as its steps pass it on. */
typedef struct LineRow
{
	MemoryContext cxt;			/* the trigger's: the row it returns */
	TupleDesc	desc;
	LineCols   *lc;
	HeapTuple	newtup;			/* the row as it will be stored */
	HeapTuple	oldtup;			/* UPDATE: the row before; else NULL */
	int64		tenant;
	int64		invoice_id;
	InvoiceInfo *info;
	LazySession spi;
	Datum		product;		/* product_id (int8) unless product_null */
	bool		product_null;
	bool		product_changed;	/* a product to read: new, or another than before */
	/* the columns filled in, applied by line_apply */
	int			ncols;
	int			cols[LINE_MAX_FILLS];
	Datum		vals[LINE_MAX_FILLS];
	bool		nulls[LINE_MAX_FILLS];
} LineRow;

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

/* line_fill: set a column of the row (applied by line_apply) */
static void
line_fill(LineRow *row, int col, Datum value, bool isnull)
{
	Assert(row->ncols < LINE_MAX_FILLS);
	row->cols[row->ncols] = col;
	row->vals[row->ncols] = value;
	row->nulls[row->ncols] = isnull;
	row->ncols++;
}

/* line_apply: the filled columns into the row, made in the trigger's context. */
static void
line_apply(LineRow *row)
{
	MemoryContext old;

	if (row->ncols == 0)
		return;
	old = MemoryContextSwitchTo(row->cxt);
	row->newtup = heap_modify_tuple_by_cols(row->newtup, row->desc, row->ncols, row->cols, row->vals, row->nulls);
	MemoryContextSwitchTo(old);
	row->ncols = 0;
}

/* the invoice_id of the new row: given, and (an UPDATE) the old row's */
static void
line_read_invoice_id(LineRow *row)
{
	bool		isnull;
	Datum		inv = heap_getattr(row->newtup, row->lc->invoice_id, row->desc, &isnull);
	int64		old_invoice;

	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("invoice_id must not be null"),
				 errhint("A line belongs to a draft invoice of the current tenant.")));
	row->invoice_id = DatumGetInt64(inv);
	if (row->oldtup == NULL)
		return;
	old_invoice = DatumGetInt64(heap_getattr(row->oldtup, row->lc->invoice_id, row->desc, &isnull));
	if (old_invoice != row->invoice_id)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a line cannot move from invoice %lld to invoice %lld",
						(long long) old_invoice, (long long) row->invoice_id),
				 errhint("Delete the line and add it to the other invoice.")));
}

/* the product_id of the new row, and whether the product is to be read (new, or another) */
static void
line_read_product_id(LineRow *row)
{
	bool		oldnull;
	Datum		oldproduct;

	row->product = heap_getattr(row->newtup, row->lc->product_id, row->desc, &row->product_null);
	row->product_changed = !row->product_null;
	if (row->oldtup == NULL || row->product_null)
		return;
	oldproduct = heap_getattr(row->oldtup, row->lc->product_id, row->desc, &oldnull);
	row->product_changed = oldnull || DatumGetInt64(oldproduct) != DatumGetInt64(row->product);
}

/* 1. the line's invoice, locked: it exists and is a draft. */
static void
line_require_draft(LineRow *row)
{
	row->info = remembered_invoice(row->tenant, row->invoice_id, &row->spi);
	if (!row->info->found)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invoice %lld does not exist", (long long) row->invoice_id),
				 errhint("A line belongs to a draft invoice of the current tenant.")));
	if (!row->info->draft)
		refuse_frozen(row->info);
}

/*
 * line_given: whether the row gives the column itself; on UPDATE, a value
 * carried over unchanged from the old row (so from the old product) is not.
 */
static bool
line_given(LineRow *row, int col)
{
	bool		nnull;
	Datum		nv = heap_getattr(row->newtup, col, row->desc, &nnull);
	bool		onull;
	Datum		ov;
	Form_pg_attribute att = TupleDescAttr(row->desc, col - 1);

	if (nnull)
		return false;
	if (row->oldtup == NULL)
		return true;
	ov = heap_getattr(row->oldtup, col, row->desc, &onull);
	return onull || !datumIsEqual(ov, nv, att->attbyval, att->attlen);
}

/*
 * 2. the product: usable (the tenant's, not deleted), locked FOR KEY SHARE so
 * that it is not deleted meanwhile (the lines have no foreign keys: this is
 * the check), and the source of what the line leaves out.
 */
static void
line_fill_from_product(LineRow *row)
{
	const int	fill[3] = {row->lc->description, row->lc->hsn_sac, row->lc->gst_rate};
	Datum		pv[2] = {Int64GetDatum(row->tenant), row->product};
	HeapTuple	p;
	TupleDesc	pdesc;
	bool		isnull;
	int			i;

	need_spi(&row->spi);
	if (SPI_execute_plan(product_plan(row->tenant), pv, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "reading a product failed");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("product %lld does not exist", (long long) DatumGetInt64(row->product)),
				 errhint("Pass a product of the current tenant that is not deleted, or no product for a service.")));
	if (DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4, &isnull)))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("product %lld is deleted", (long long) DatumGetInt64(row->product)),
				 errhint("Restore the product (deleted_at = NULL), or pass another product or none for a service.")));
	p = SPI_tuptable->vals[0];
	pdesc = SPI_tuptable->tupdesc;
	remember_product_partition(row->tenant, DatumGetObjectId(SPI_getbinval(p, pdesc, 5, &isnull)));
	for (i = 0; i < 3; i++)
	{
		Datum		v;

		if (line_given(row, fill[i]))
			continue;
		v = SPI_getbinval(p, pdesc, i + 1, &isnull);
		line_fill(row, fill[i], isnull ? (Datum) 0 : SPI_datumTransfer(v, false, -1), isnull);
	}
}

/* 3. a line number when none is given: the next of the invoice */
static void
line_fill_number(LineRow *row)
{
	Datum		lv[2] = {Int64GetDatum(row->tenant), Int64GetDatum(row->invoice_id)};
	int32		next = 1;
	bool		isnull;
	Datum		last;

	(void) heap_getattr(row->newtup, row->lc->line_no, row->desc, &isnull);
	if (!isnull)
		return;
	need_spi(&row->spi);
	if (SPI_execute_plan(PLAN(ST_LAST_LINE_NO), lv, NULL, false, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "numbering a line failed");
	last = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (!isnull)
		next = DatumGetInt32(last) + 1;
	line_fill(row, row->lc->line_no, Int32GetDatum(next), false);
}

/* 4. the texts of the row as it will be stored: a description, a well-formed HSN/SAC code */
static void
line_check_texts(LineRow *row)
{
	bool		isnull;
	Datum		h;

	(void) heap_getattr(row->newtup, row->lc->description, row->desc, &isnull);
	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("a line without a product needs a description"),
				 errhint("Give description, or product_id to take the product's name.")));

	/* HSN (goods) or SAC (services): 4, 6 or 8 digits */
	h = heap_getattr(row->newtup, row->lc->hsn_sac, row->desc, &isnull);
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

/* 4. the inputs of gst_compute, checked (heap_getattr sets isnull: call it before passing isnull on) */
static void
line_inputs(LineRow *row, GstInput *in)
{
	HeapTuple	tup = row->newtup;
	TupleDesc	desc = row->desc;
	LineCols   *lc = row->lc;
	bool		isnull;

	memset(in, 0, sizeof(*in));
	in->qty = heap_getattr(tup, lc->qty, desc, &isnull);
	in->qty = gst_check_numeric(in->qty, isnull, "qty", 4, "0.0001", "99999999999999.9999");
	in->unit_price = heap_getattr(tup, lc->unit_price, desc, &isnull);
	in->unit_price = gst_check_numeric(in->unit_price, isnull, "unit_price", 4, "0", "99999999999999.9999");
	in->gst_rate = heap_getattr(tup, lc->gst_rate, desc, &isnull);
	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("a line without a product needs a gst_rate"),
				 errhint("Give gst_rate, or product_id to take the product's rate.")));
	in->intra_state = row->info->intra_state;
	in->discount_percent = heap_getattr(tup, lc->discount_percent, desc, &isnull);
	in->has_discount_percent = !isnull;
	in->discount_amount = heap_getattr(tup, lc->discount_amount, desc, &isnull);
	in->has_discount_amount = !isnull;
	in->cess_rate = heap_getattr(tup, lc->cess_rate, desc, &isnull);
	in->has_cess_rate = !isnull;
	gst_check_inputs(in);
}

/* 4. the rate is in force on the invoice date (a credit note: on its invoice's) */
static void
line_check_rate(LineRow *row, GstInput *in)
{
	if (!rate_in_force(in->gst_rate, row->info->rate_date, &row->spi))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("GST rate %s%% is not in force on %s", num_str(in->gst_rate),
						DatumGetCString(DirectFunctionCall1(date_out, DateADTGetDatum(row->info->rate_date)))),
				 errdetail("The rates in force on a date are in easeinv.gst_rates."),
				 errhint("Use a rate valid on the invoice date (a credit note: on its invoice's date).")));
}

/* 5. the amounts, whatever the caller wrote in them; returns the row to store */
static Datum
line_amounts(LineRow *row, GstInput *in)
{
	Datum		amounts[GST_NAMOUNTS];
	int			i;

	gst_compute(in, amounts);
	for (i = 0; i < GST_NAMOUNTS; i++)
		line_fill(row, row->lc->amounts[i], amounts[i], false);
	line_apply(row);
	return PointerGetDatum(row->newtup);
}

/* a deleted line: its invoice must be a draft, unless the invoice itself is being deleted */
static Datum
line_delete(LineRow *row)
{
	bool		isnull;
	HeapTuple	old = row->oldtup;

	row->invoice_id = DatumGetInt64(heap_getattr(old, row->lc->invoice_id, row->desc, &isnull));
	row->info = remembered_invoice(row->tenant, row->invoice_id, &row->spi);
	/* not found: the invoice itself is being deleted (a draft: the guard saw to it) */
	if (row->info->found && !row->info->draft)
		refuse_frozen(row->info);
	end_spi(&row->spi);
	return PointerGetDatum(old);
}

/*
 * invoice_line_compute() returns trigger: BEFORE INSERT OR UPDATE OR DELETE
 * FOR EACH ROW on invoice_lines; steps 1 to 5 of the file header.
 */
Datum
invoice_line_compute(PG_FUNCTION_ARGS)
{
	TriggerData *td = trigger_fired(fcinfo, "invoice_line_compute", true, true, NULL);
	LineRow		row;
	GstInput	in;

	/* pg_restore loads lines with the amounts they were issued with (restore.c) */
	if (TRIGGER_FIRED_BY_INSERT(td->tg_event) && restore_in_progress(RelationGetRelid(td->tg_relation)))
		return PointerGetDatum(td->tg_trigtuple);
	remember_begin();
	memset(&row, 0, sizeof(row));
	row.cxt = CurrentMemoryContext;
	row.desc = RelationGetDescr(td->tg_relation);
	row.lc = line_cols(td);
	row.tenant = tenant_resolve(TENANT_REQUIRED);
	if (TRIGGER_FIRED_BY_DELETE(td->tg_event))
	{
		row.oldtup = td->tg_trigtuple;
		return line_delete(&row);
	}
	row.newtup = TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple : td->tg_trigtuple;
	row.oldtup = TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_trigtuple : NULL;
	line_read_invoice_id(&row);
	line_read_product_id(&row);
	/* 1 */
	line_require_draft(&row);
	/* 2, 3: what the line leaves out, applied so that what follows reads the row as it will be stored */
	if (row.product_changed)
		line_fill_from_product(&row);
	line_fill_number(&row);
	line_apply(&row);
	/* 4 */
	line_check_texts(&row);
	line_inputs(&row, &in);
	line_check_rate(&row, &in);
	end_spi(&row.spi);
	/* 5 */
	return line_amounts(&row, &in);
}

/* ---------------------------------------------------------------------
 * Totals and rates of a whole invoice
 * ---------------------------------------------------------------------
 */

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

/*
 * invoice_update_totals: every listed draft of the tenant (ids: bigint[])
 * gets its header from its lines, with the tenant's round-off.  Inside SPI,
 * as the owner.  A total beyond numeric(15,2) fails (22003).
 */
void
invoice_update_totals(int64 tenant, Datum ids)
{
	Datum		values[2] = {Int64GetDatum(tenant), ids};
	int			rc = invoice_internal_execute(PLAN(ST_TOTALS), values, NULL);

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
	TriggerData *td = trigger_fired(fcinfo, "invoice_totals", false, false, NULL);
	OwnerScope	session;
	SPITupleTable *touched;
	uint64		n;
	uint64		i;
	bool		isnull;

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
					? "SELECT n.tenant_id, array_agg(DISTINCT n.invoice_id) FROM new_rows n GROUP BY n.tenant_id"
					: "SELECT o.tenant_id, array_agg(DISTINCT o.invoice_id) FROM old_rows o GROUP BY o.tenant_id",
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

/* guard_label: the invoice's number, or its id */
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

/* refuse_not_draft: an invoice that is not a draft can be neither changed nor deleted (55000) */
static void
refuse_not_draft(HeapTuple old, TupleDesc desc, const char *what, const char *detail)
{
	bool		isnull;
	char	   *status = TextDatumGetCString(heap_getattr(old, attnum(desc, "status"), desc, &isnull));

	if (strcmp(status, "draft") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("invoice %s is %s: %s", guard_label(old, desc), status, what),
				 errdetail("%s", detail),
				 errhint("Cancel it with easeinv.cancel_invoice(), or issue a credit note.")));
}

/* a new invoice is a draft: its computed columns have their defaults (428C9 otherwise) */
static void
guard_insert(HeapTuple tup, TupleDesc desc)
{
	bool		isnull;
	int			i;

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
}

/* first_changed: the first of the columns whose value differs between the rows, or NULL */
static const char *
first_changed(HeapTuple old, HeapTuple new, TupleDesc desc, const char *const *columns, int ncolumns)
{
	int			i;

	for (i = 0; i < ncolumns; i++)
		if (column_changed(old, new, desc, columns[i]))
			return columns[i];
	return NULL;
}

/* a draft changes, but neither its computed columns (428C9) nor its fixed ones (22023) */
static void
guard_update(HeapTuple old, HeapTuple new, TupleDesc desc)
{
	const char *col;

	refuse_not_draft(old, desc, "it cannot change", "An issued invoice never changes.");
	col = first_changed(old, new, desc, computed_columns, lengthof(computed_columns));
	if (col != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_GENERATED_ALWAYS),
				 errmsg("column \"%s\" of an invoice is computed by easeinv", col),
				 errhint("Change the lines, or use issue_invoice, cancel_invoice, record_payment.")));
	col = first_changed(old, new, desc, fixed_columns, lengthof(fixed_columns));
	if (col != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("column \"%s\" of an invoice is fixed when the invoice is created", col),
				 errhint("Delete the draft and create another.")));
}

/*
 * invoice_guard() returns trigger: BEFORE INSERT OR UPDATE OR DELETE FOR EACH
 * ROW on invoices.
 */
Datum
invoice_guard(PG_FUNCTION_ARGS)
{
	TriggerData *td = trigger_fired(fcinfo, "invoice_guard", true, true, NULL);
	TupleDesc	desc;

	check_trigger_table(td, "invoice_guard", "invoices");
	remember_begin();
	desc = RelationGetDescr(td->tg_relation);

	/* an invoice changes: what the line trigger remembers of it is out of date */
	forget_invoice();

	/* pg_restore loads invoices as they were dumped (restore.c) */
	if (TRIGGER_FIRED_BY_INSERT(td->tg_event) && restore_in_progress(RelationGetRelid(td->tg_relation)))
		return PointerGetDatum(td->tg_trigtuple);

	if (internal_depth > 0)
		return PointerGetDatum(TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple : td->tg_trigtuple);

	if (TRIGGER_FIRED_BY_INSERT(td->tg_event))
		guard_insert(td->tg_trigtuple, desc);
	else if (TRIGGER_FIRED_BY_DELETE(td->tg_event))
		refuse_not_draft(td->tg_trigtuple, desc, "it cannot be deleted",
						 "Only drafts are deleted; an issued invoice keeps its number for ever.");
	else
	{
		guard_update(td->tg_trigtuple, td->tg_newtuple, desc);
		return PointerGetDatum(td->tg_newtuple);
	}
	return PointerGetDatum(td->tg_trigtuple);
}
