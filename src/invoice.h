/*-------------------------------------------------------------------------
 * invoice.h
 *	  What the invoice modules share: invoice.c (numbers, the guard, the line
 *	  and totals triggers), invoice_issue.c (issue, cancel) and payments.c.
 *-------------------------------------------------------------------------
 */
#ifndef EASEINV_INVOICE_H
#define EASEINV_INVOICE_H

#include "postgres.h"

/*
 * The extension's own writes of an invoice's computed columns (totals,
 * status, number, payments) run between invoice_internal_begin() and
 * invoice_internal_end(); invoice_guard lets only those through.  Used with
 * PG_TRY so that an error cannot leave the door open.
 */
extern void invoice_internal_begin(void);
extern void invoice_internal_end(void);

/* run a kept plan as one of those writes (inside SPI); SPI's result code */
#include "executor/spi.h"
extern int	invoice_internal_execute(SPIPlanPtr plan, Datum *values, const char *nulls);

/* forget what the line trigger remembers of invoices (an invoice changed) */
extern void invoice_cache_reset(void);

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

#endif							/* EASEINV_INVOICE_H */
