/*
 * legacy.h: TRANSITIONAL, removed before issue 12 closes.  The two helpers of
 * the old ledger.h that invoice*.c and payments.c still call while they move
 * to statement tables (plans.h) and replay.h.
 */
#ifndef EASEINV_LEGACY_H
#define EASEINV_LEGACY_H

#include "postgres.h"
#include "executor/spi.h"

extern SPIPlanPtr kept_plan(SPIPlanPtr *slot, const char *sql, int nargs, Oid *types);
extern bool same_text(text *a, Datum b, bool bnull);

#endif
