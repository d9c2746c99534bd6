/*-------------------------------------------------------------------------
 * plans.h
 *	  Kept SPI plans: one statement table per file (plans.c).
 *
 * A file that runs SQL lists its statements once, in a table indexed by an
 * enum of its own, and gets each plan through plan_kept():
 *
 *	  enum { ST_BY_KEY, ST_INSERT, ST_COUNT };
 *	  static const PlanStatement statements[ST_COUNT] = {
 *		  [ST_BY_KEY] = {"SELECT ... WHERE tenant_id = $1 AND key = $2", 2, {INT8OID, TEXTOID}},
 *		  ...
 *	  };
 *	  static SPIPlanPtr plans[ST_COUNT];
 *	  ... SPI_execute_plan(plan_kept(statements, plans, ST_BY_KEY), values, NULL, false, 1);
 *
 * The statements follow the rule of owner.c (bare operators, easeinv.
 * objects qualified) and are prepared and run only between owner_begin()
 * and owner_end().
 *-------------------------------------------------------------------------
 */
#ifndef EASEINV_PLANS_H
#define EASEINV_PLANS_H

#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "compat.h"

EASEINV_HIDDEN_BEGIN

/*
 * The lookups every idempotent write has: its row by key (replays) and by id,
 * of the tenant $1.  tail follows the WHERE clause (" FOR UPDATE", or "").
 */
#define PLAN_SELECT_BY_KEY(columns, table) \
	{"SELECT " columns " FROM " table " WHERE tenant_id = $1 AND idempotency_key = $2", 2, {INT8OID, TEXTOID}}
#define PLAN_SELECT_BY_ID(columns, table, tail) \
	{"SELECT " columns " FROM " table " WHERE tenant_id = $1 AND id = $2" tail, 2, {INT8OID, INT8OID}}

#define PLAN_MAX_ARGS	16

/* one statement of a file's table: its text, and its parameters' types */
typedef struct PlanStatement
{
	const char *sql;
	int			nargs;
	Oid			types[PLAN_MAX_ARGS];
} PlanStatement;

/* the plan of statement `which` of a table, prepared and kept on first use */
extern SPIPlanPtr plan_kept(const PlanStatement *table, SPIPlanPtr *plans, int which);

/* a statement prepared and kept for the life of the backend (for text assembled at run time) */
extern SPIPlanPtr plan_prepare_kept(const char *sql, int nargs, const Oid *types);

/* run a kept plan for at most one row (expect_rc is SPI's result); the row, or NULL */
extern HeapTuple plan_row(SPIPlanPtr plan, Datum *values, const char *nulls, bool read_only, int expect_rc,
						  const char *what, TupleDesc *desc);

/*
 * Version skew (plans.c): whether the installed SQL objects are 0.5.0's or
 * later, and a statement as the installed objects can run it.
 */
extern bool plan_sql_050(void);
extern char *plan_sql_for_installed(const char *sql);

EASEINV_HIDDEN_END

#endif							/* EASEINV_PLANS_H */
