/*-------------------------------------------------------------------------
 * invoice.h
 *	  What the invoice modules share: invoice.c (numbers, the guard, the line
 *	  and totals triggers), invoice_issue.c (issue, cancel) and payments.c.
 *-------------------------------------------------------------------------
 */
#ifndef EASEINV_INVOICE_H
#define EASEINV_INVOICE_H

#include "postgres.h"

#include "access/htup.h"
#include "access/tupdesc.h"
#include "executor/spi.h"
#include "compat.h"

EASEINV_HIDDEN_BEGIN

/*
 * The extension's own writes of an invoice's computed columns (totals,
 * status, number, payments) run through invoice_internal_execute(), which
 * opens invoice_guard's door for the one statement (PG_TRY: an error cannot
 * leave it open); invoice_guard lets only those through.  Inside SPI; SPI's
 * result code.
 */
extern int	invoice_internal_execute(SPIPlanPtr plan, Datum *values, const char *nulls);

/* the columns of an invoice row as invoice_lock reads it (invoice_issue.c), 0-based */
typedef enum InvoiceColumn
{
	INVOICE_COL_ID,
	INVOICE_COL_KIND,
	INVOICE_COL_SERIES,
	INVOICE_COL_STATUS,
	INVOICE_COL_NUMBER,
	INVOICE_COL_FISCAL_YEAR,
	INVOICE_COL_DATE,
	INVOICE_COL_LOCATION,
	INVOICE_COL_CUSTOMER_LOCATION,
	INVOICE_COL_ORIGINAL,
	INVOICE_COL_GRAND_TOTAL,
	INVOICE_COL_BALANCE_DUE,
	INVOICE_COL_AMOUNT_PAID,
	INVOICE_COL_AMOUNT_CREDITED,
	INVOICE_COL_CUSTOMER,
	INVOICE_COL_TAXABLE,
	INVOICE_COL_CGST,
	INVOICE_COL_SGST,
	INVOICE_COL_IGST,
	INVOICE_COL_CESS,
	INVOICE_COL_ROUND_OFF,
	INVOICE_NCOLS
} InvoiceColumn;

/* an invoice row, in SPI memory */
typedef struct InvoiceRow
{
	HeapTuple	tup;
	TupleDesc	desc;
} InvoiceRow;

/* inside SPI as the owner: the tenant's invoice, locked FOR UPDATE; false when there is none */
extern bool invoice_lock(int64 tenant, int64 id, InvoiceRow *inv);

/* a column of the row; a text column as a C string (NULL when null) */
extern Datum invoice_col(const InvoiceRow *inv, InvoiceColumn c, bool *isnull);
extern char *invoice_col_text(const InvoiceRow *inv, InvoiceColumn c);

/* the invoice's number, or the id of a draft */
extern char *invoice_label(const InvoiceRow *inv);

/* inside SPI as the owner: the listed drafts' headers from their lines (ids: bigint[]) */
extern void invoice_update_totals(int64 tenant, Datum ids);

/* inside SPI: refuse an invoice with a line whose rate is no longer in force */
extern void invoice_rates_in_force(int64 tenant, int64 id);

/* the invoice number a series format gives (NULL and *why set when it cannot) */
extern char *invoice_number_make(const char *format, int fy_start, int64 n, const char **why);

/* the year the Indian financial year of a date (DateADT) starts in */
extern int	invoice_fiscal_year_start(int32 date);

/* "2025-26" */
extern char *invoice_fiscal_year_label(int fy_start);

/*
 * SQL expression of an invoice's status from its amounts, each argument an
 * SQL expression as a string literal (the new values in an UPDATE).
 */
#define INVOICE_STATUS_SQL(paid, credited, total) \
	"CASE WHEN " paid " + " credited " <= 0 THEN 'issued' " \
	"WHEN " paid " + " credited " < " total " THEN 'partially_paid' ELSE 'paid' END"

EASEINV_HIDDEN_END

#endif							/* EASEINV_INVOICE_H */
