/*-------------------------------------------------------------------------
 * plans.c
 *	  Kept SPI plans (the idiom is described in plans.h) and the rewriting of
 *	  statements for the SQL objects actually installed.
 *
 * Every plan easeinv prepares is kept (SPI_keepplan) for the life of the
 * backend: the statements are fixed text with parameters, so preparing them
 * once saves parse analysis and planning on every call.  A kept plan is
 * revalidated by the plan cache when what it depends on changes (an ALTER
 * of a table, a new partition).
 *
 * Version skew.  Between installing a new library and ALTER EXTENSION easeinv
 * UPDATE, the library runs against the previous version's SQL objects.  The
 * statements of this library that call a function of the 0.5.0 script
 * (level_add) are rewritten, while it is missing, to what 0.4.0 did; the
 * imports' text check (import_text) is left out likewise (imports.c).  So an
 * upgrade never stops movements for the time between the two steps.  Asked
 * when a statement is prepared: plans kept before the update keep their form
 * until the backend ends.
 *-------------------------------------------------------------------------
 */
#include "easeinv.h"
#include "plans.h"

#include "catalog/pg_type.h"
#include "lib/stringinfo.h"
#include "nodes/pg_list.h"
#include "nodes/value.h"
#include "parser/parse_func.h"

/* plan_kept: the table's plan `which`, prepared and kept on first use. */
SPIPlanPtr
plan_kept(const PlanStatement *table, SPIPlanPtr *plans, int which)
{
	if (plans[which] == NULL)
		plans[which] = plan_prepare_kept(table[which].sql, table[which].nargs, table[which].types);
	return plans[which];
}

/* plan_prepare_kept: an SPI plan prepared once and kept for the life of the backend. */
SPIPlanPtr
plan_prepare_kept(const char *sql, int nargs, const Oid *types)
{
	SPIPlanPtr	plan;

	Assert(nargs >= 0 && nargs <= PLAN_MAX_ARGS);
	plan = SPI_prepare(plan_sql_for_installed(sql), nargs, (Oid *) types);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed for \"%s\": %s", sql, SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "SPI_keepplan failed");
	return plan;
}

/* plan_sql_050: the installed SQL has 0.5.0's objects (easeinv.level_add). */
bool
plan_sql_050(void)
{
	static bool installed = false;
	Oid			args[5] = {NUMERICOID, NUMERICOID, NUMERICOID, INT8OID, INT8OID};

	if (!installed)
		installed = OidIsValid(LookupFuncName(list_make2(makeString(EASEINV_SCHEMA), makeString("level_add")),
											  5, args, true));
	return installed;
}

/*
 * plan_sql_for_installed: the statement as the installed SQL objects can run
 * it: without 0.5.0's script, easeinv.level_add(a, b, c, p, l) becomes (a + b).
 */
char *
plan_sql_for_installed(const char *sql)
{
	StringInfoData out;
	const char *p = sql;
	const char *call;

	if (plan_sql_050() || strstr(sql, "easeinv.level_add(") == NULL)
		return pstrdup(sql);
	initStringInfo(&out);
	while ((call = strstr(p, "easeinv.level_add(")) != NULL)
	{
		const char *a = call + strlen("easeinv.level_add(");
		const char *comma1 = strchr(a, ',');
		const char *comma2 = comma1 ? strchr(comma1 + 1, ',') : NULL;
		const char *close = comma2 ? strchr(comma2, ')') : NULL;

		if (close == NULL)
			elog(ERROR, "cannot rewrite easeinv.level_add in \"%s\"", sql);
		appendBinaryStringInfo(&out, p, call - p);
		appendStringInfoString(&out, "(");
		appendBinaryStringInfo(&out, a, comma1 - a);
		appendStringInfoString(&out, " + ");
		appendBinaryStringInfo(&out, comma1 + 1, comma2 - comma1 - 1);
		appendStringInfoString(&out, ")");
		p = close + 1;
	}
	appendStringInfoString(&out, p);
	return out.data;
}

/*
 * plan_row: run a kept plan for at most one row; SPI's result must be
 * expect_rc (what names the statement in the cannot-happen error).  Returns
 * the row, in SPI memory, or NULL when there is none; *desc, when given, is
 * its descriptor.
 */
HeapTuple
plan_row(SPIPlanPtr plan, Datum *values, const char *nulls, bool read_only, int expect_rc,
		 const char *what, TupleDesc *desc)
{
	int			rc = SPI_execute_plan(plan, values, nulls, read_only, 1);

	if (rc != expect_rc)
		elog(ERROR, "%s failed: %s", what, SPI_result_code_string(rc));
	if (SPI_processed == 0)
		return NULL;
	if (desc != NULL)
		*desc = SPI_tuptable->tupdesc;
	return SPI_tuptable->vals[0];
}
