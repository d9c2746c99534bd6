/*-------------------------------------------------------------------------
 * restore.c
 *	  Recognising pg_restore loading the rows easeinv itself wrote.
 *
 * pg_dump keeps the rows of the extension's tables (they are configuration
 * tables); pg_restore runs CREATE EXTENSION, which creates the tables with
 * their triggers, and then loads each table with COPY.  The triggers that
 * compute an invoice's amounts, freeze issued invoices and check a draft's
 * inputs would refuse or rewrite those rows (an issued invoice's lines are
 * loaded after the invoice, with their amounts), so a restore must pass
 * them through exactly as they were dumped.
 *
 * A statement is a restore when all of these hold, and only then:
 *	  - it is a top-level COPY ... FROM STDIN or a file (not a program, no
 *		WHERE) into this table or a table whose partition this is (the portal that is running is that COPY: a COPY
 *		run inside a function, or any other statement, is not a restore);
 *	  - the role is a superuser (only a superuser can CREATE EXTENSION
 *		easeinv, so only a superuser restores it);
 *	  - row_security is off, as pg_dump and pg_restore always set it;
 *	  - there is no tenant context (a restore loads every tenant's rows);
 *	  - the table (the partition being loaded) held no row before the
 *		statement: pg_restore loads each table once, into a new database,
 *		so a COPY that adds lines to an issued invoice is judged as usual.
 * Such a statement can only insert rows: nothing that exists is changed,
 * and what the triggers refuse for updates and deletes stays refused.  The
 * tenant guard still requires every row to name its tenant, and refuses a
 * row whose tenant belongs in another partition (a dump made with another
 * easeinv.partitions; guard.c) with an error that says so.  What is loaded is
 * only as good as the dump: after a restore, easeinv.verify_stock() proves
 * that the loaded levels agree with the loaded ledger and reservations, and
 * easeinv.verify_invoices() that the invoices agree with their lines,
 * payments, credit notes and movements (post_restore() runs both).
 *
 * A plain pg_restore, serial or --single-transaction, loads the tables in
 * the order pg_dump gives them, which follows the foreign keys between the
 * extension's configuration tables.  pg_restore --jobs does not keep that
 * order: easeinv.pre_restore() and easeinv.post_restore()
 * (src/sql/0.5.0/30_parallel_restore.sql) set those keys aside around it.
 *-------------------------------------------------------------------------
 */
#include "easeinv.h"

#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "executor/tuptable.h"
#include "catalog/namespace.h"
#include "catalog/partition.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "nodes/plannodes.h"
#include "storage/proc.h"
#include "tcop/cmdtag.h"
#include "tcop/pquery.h"
#include "utils/acl.h"
#include "utils/lsyscache.h"
#include "utils/portal.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"

PG_FUNCTION_INFO_V1(restoring);

/* The answers of one statement: per transaction and command, per table loaded. */
#define RESTORE_CACHE_SIZE	64

typedef struct RestoreAnswer
{
	Oid			relid;
	bool		restoring;
} RestoreAnswer;

static LocalTransactionId cache_lxid = InvalidLocalTransactionId;
static CommandId cache_cid = InvalidCommandId;
static int	cache_used = 0;
static RestoreAnswer cache[RESTORE_CACHE_SIZE];

static bool restoring_uncached(Portal portal, Oid relid);
static bool empty_before_statement(Oid relid);

/*
 * easeinv_restoring: whether the running statement is a restore loading
 * relid (see the file header).  Asked once per row; answered once per
 * statement and table (a COPY into a partitioned table loads several).
 */
bool
restore_in_progress(Oid relid)
{
	Portal		portal = ActivePortal;
	int			i;
	bool		result;

	/* the cheap tests first: every write of an invoice line asks */
	if (portal == NULL || portal->commandTag != CMDTAG_COPY || list_length(portal->stmts) != 1)
		return false;
	if (!superuser() || row_security)
		return false;

	if (cache_lxid != COMPAT_MY_LXID || cache_cid != GetCurrentCommandId(false))
	{
		cache_lxid = COMPAT_MY_LXID;
		cache_cid = GetCurrentCommandId(false);
		cache_used = 0;
	}
	for (i = 0; i < cache_used; i++)
		if (cache[i].relid == relid)
			return cache[i].restoring;

	result = restoring_uncached(portal, relid);
	if (cache_used == RESTORE_CACHE_SIZE)
		cache_used = 0;
	cache[cache_used].relid = relid;
	cache[cache_used].restoring = result;
	cache_used++;
	return result;
}

/* restoring_uncached: the tests of the file header that need the catalog or the table */
static bool
restoring_uncached(Portal portal, Oid relid)
{
	PlannedStmt *pstmt = linitial_node(PlannedStmt, portal->stmts);
	CopyStmt   *copy;
	Oid			target;

	if (pstmt->commandType != CMD_UTILITY || pstmt->utilityStmt == NULL ||
		!IsA(pstmt->utilityStmt, CopyStmt))
		return false;
	copy = (CopyStmt *) pstmt->utilityStmt;
	/* pg_restore copies whole tables from its connection, never from a program or with WHERE */
	if (!copy->is_from || copy->relation == NULL || copy->query != NULL ||
		copy->is_program || copy->whereClause != NULL)
		return false;
	target = RangeVarGetRelid(copy->relation, NoLock, true);
	if (!OidIsValid(target) ||
		!(target == relid ||
		  (get_rel_relispartition(relid) && list_member_oid(get_partition_ancestors(relid), target))))
		return false;
	/* reads easeinv.tenants */
	if (tenant_resolve(TENANT_OPTIONAL) != 0)
		return false;
	return empty_before_statement(relid);
}

/*
 * empty_before_statement: the table held no row before this statement began.
 * pg_restore loads each table once, into a new database: a COPY into a table
 * that already holds rows (lines added to an issued invoice, say) is no
 * restore, and the triggers judge its rows.  The statement's snapshot does
 * not see the rows the statement itself has inserted.
 */
static bool
empty_before_statement(Oid relid)
{
	List	   *tables;
	ListCell   *lc;
	bool		empty = true;

	if (!ActiveSnapshotSet())
		return false;
	/* a partitioned table (its statement triggers ask) holds its rows in its partitions */
	tables = get_rel_relkind(relid) == RELKIND_PARTITIONED_TABLE
		? find_all_inheritors(relid, AccessShareLock, NULL) : list_make1_oid(relid);
	foreach(lc, tables)
	{
		Relation	rel;
		TableScanDesc scan;
		TupleTableSlot *slot;

		if (get_rel_relkind(lfirst_oid(lc)) != RELKIND_RELATION)
			continue;
		rel = table_open(lfirst_oid(lc), AccessShareLock);
		slot = table_slot_create(rel, NULL);
		scan = table_beginscan(rel, GetActiveSnapshot(), 0, NULL);
		empty = !table_scan_getnextslot(scan, ForwardScanDirection, slot);
		table_endscan(scan);
		ExecDropSingleTupleTableSlot(slot);
		table_close(rel, AccessShareLock);
		if (!empty)
			break;
	}
	return empty;
}

/*
 * restoring(rel regclass) returns boolean: easeinv_restoring for the triggers
 * written in PL/pgSQL (they pass TG_RELID).  STABLE, PARALLEL RESTRICTED
 * (it reads the leader's portal).
 */
Datum
restoring(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		PG_RETURN_BOOL(false);
	PG_RETURN_BOOL(restore_in_progress(PG_GETARG_OID(0)));
}
