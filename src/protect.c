/*-------------------------------------------------------------------------
 * protect.c
 *	  enable_tenancy(): protect a table, telling the partition event trigger
 *	  that the DDL it runs needs no help.
 *
 * enable_tenancy's steps (the PL/pgSQL function enable_tenancy_steps) run
 * ALTER TABLE and CREATE POLICY on the table; the event trigger
 * easeinv_protect_new_partitions fires at the end of each ALTER TABLE and
 * would protect the tree again, recursively, while the steps are half done.
 * It skips while enable_tenancy runs.  That state is a counter in this
 * backend's memory, raised only around the steps and lowered however they
 * end: no GUC, no function a user can call to raise it (a user-settable
 * switch would let any session create an unprotected partition).
 *
 * adds_partition() tells the event trigger which commands add a partition
 * to a tree (CREATE TABLE ... PARTITION OF, ALTER TABLE ... ATTACH
 * PARTITION): it acts on those alone.  Any other DDL on a protected tree is
 * left to whoever runs it; pg_restore, above all, re-creates the dump's
 * policies and guards on each partition itself, and in a parallel restore
 * one worker's ALTER TABLE on a partition can run between another's CREATE
 * POLICY on the root and on that partition (040_restore).  Which statement
 * a command was is in its parse tree, which only C can read.
 *-------------------------------------------------------------------------
 */
#include "easeinv.h"
#include "owner.h"

#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/execnodes.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "nodes/parsenodes.h"
#include "tcop/deparse_utility.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/tuplestore.h"

PG_FUNCTION_INFO_V1(enable_tenancy);
PG_FUNCTION_INFO_V1(protecting);
PG_FUNCTION_INFO_V1(adds_partition);

static void materialize_text_srf(FunctionCallInfo fcinfo);

/* how many enable_tenancy calls of this backend are running (nested through DDL) */
static int	protecting_depth = 0;

/*
 * materialize_text_srf: set up a set-returning function of one text column in
 * materialize mode (InitMaterializedSRF wants a row type; this returns setof
 * text, and is also called in a target list, as by PERFORM).
 */
static void
materialize_text_srf(FunctionCallInfo fcinfo)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext old;
	TupleDesc	desc;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) || !(rsinfo->allowedModes & SFRM_Materialize))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("set-valued function called in context that cannot accept a set")));
	old = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	desc = CreateTemplateTupleDesc(1);
	TupleDescInitEntry(desc, (AttrNumber) 1, "enable_tenancy", TEXTOID, -1, 0);
	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setResult = tuplestore_begin_heap(true, false, work_mem);
	rsinfo->setDesc = desc;
	MemoryContextSwitchTo(old);
}

/*
 * enable_tenancy(tbl regclass) returns setof text: enable_tenancy_steps(tbl)
 * with the partition event trigger told to stand aside.  Runs as the caller.
 */
Datum
enable_tenancy(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			argtypes[1] = {REGCLASSOID};
	Datum		values[1];
	uint64		i;
	OwnerScope	scope;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("table must not be null"),
				 errhint("Pass the table to protect, such as 'public.notes'.")));
	values[0] = PG_GETARG_DATUM(0);
	materialize_text_srf(fcinfo);

	/* the rule of owner.c, as the caller: enable_tenancy_steps checks the caller's rights */
	owner_begin_as_caller(&scope);
	protecting_depth++;
	PG_TRY();
	{
		if (SPI_execute_with_args("SELECT step FROM easeinv.enable_tenancy_steps($1) AS step",
								  1, argtypes, values, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "easeinv.enable_tenancy_steps failed");
	}
	PG_FINALLY();
	{
		protecting_depth--;
	}
	PG_END_TRY();

	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		Datum		step = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);
		Datum		out[1];
		bool		nulls[1] = {isnull};

		out[0] = step;			/* tuplestore_putvalues copies it out of SPI memory */
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, out, nulls);
	}
	owner_end(&scope);
	return (Datum) 0;
}

/*
 * protecting() returns boolean: whether an enable_tenancy of this backend is
 * running.  Read by the partition event trigger; VOLATILE.
 */
Datum
protecting(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(protecting_depth > 0);
}

/*
 * adds_partition(cmd pg_ddl_command) returns boolean: whether a command that
 * pg_event_trigger_ddl_commands() reports adds a partition to a tree: a
 * CREATE TABLE ... PARTITION OF (the command's object is the new partition),
 * or an ALTER TABLE of a partitioned table with an ATTACH PARTITION (its
 * object is the parent; PostgreSQL 15 does not record the table attached,
 * and the tree is the parent's).  A pg_ddl_command is a pointer to what
 * PostgreSQL collected in this backend, valid during the ddl_command_end
 * trigger; no value of the type can be written or cast, so only
 * pg_event_trigger_ddl_commands() supplies one.  STRICT, PARALLEL RESTRICTED.
 */
Datum
adds_partition(PG_FUNCTION_ARGS)
{
	CollectedCommand *cmd = (CollectedCommand *) PG_GETARG_POINTER(0);
	ListCell   *lc;

	if (cmd->type == SCT_Simple)
		/* CREATE TABLE: the statement as transformed, one per table created */
		PG_RETURN_BOOL(cmd->parsetree != NULL && IsA(cmd->parsetree, CreateStmt) &&
					   ((CreateStmt *) cmd->parsetree)->partbound != NULL);

	if (cmd->type != SCT_AlterTable || cmd->d.alterTable.classId != RelationRelationId ||
		get_rel_relkind(cmd->d.alterTable.objectId) != RELKIND_PARTITIONED_TABLE)
		PG_RETURN_BOOL(false);
	foreach(lc, cmd->d.alterTable.subcmds)
	{
		CollectedATSubcmd *sub = (CollectedATSubcmd *) lfirst(lc);

		if (sub->parsetree != NULL && IsA(sub->parsetree, AlterTableCmd) &&
			((AlterTableCmd *) sub->parsetree)->subtype == AT_AttachPartition)
			PG_RETURN_BOOL(true);
	}
	PG_RETURN_BOOL(false);
}
