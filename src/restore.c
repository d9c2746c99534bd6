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
 *	  - it is a top-level COPY ... FROM into this table or a table whose
 *		partition this is (the portal that is running is that COPY: a COPY
 *		run inside a function, or any other statement, is not a restore);
 *	  - the role is a superuser (only a superuser can CREATE EXTENSION
 *		easeinv, so only a superuser restores it);
 *	  - row_security is off, as pg_dump and pg_restore always set it;
 *	  - there is no tenant context (a restore loads every tenant's rows).
 * Such a statement can only insert rows: nothing that exists is changed,
 * and what the triggers refuse for updates and deletes stays refused.  The
 * tenant guard still requires every row to name its tenant, and refuses a
 * row whose tenant belongs in another partition (a dump made with another
 * easeinv.partitions; guard.c) with an error that says so.  After a restore,
 * easeinv.verify_stock() proves that the loaded levels agree with the loaded
 * ledger and reservations.
 *
 * A plain pg_restore, serial or --single-transaction, loads the tables in
 * the order pg_dump gives them, which follows the foreign keys between the
 * extension's configuration tables.  pg_restore --jobs does not keep that
 * order: easeinv.pre_restore() and easeinv.post_restore()
 * (src/sql/0.5.0/30_parallel_restore.sql) set those keys aside around it.
 *-------------------------------------------------------------------------
 */
#include "easeinv.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/partition.h"
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

PG_FUNCTION_INFO_V1(restoring);

/*
 * easeinv_restoring: whether the running statement is a restore loading
 * relid (see the file header).
 */
bool
easeinv_restoring(Oid relid)
{
	Portal		portal = ActivePortal;
	PlannedStmt *pstmt;
	CopyStmt   *copy;
	Oid			target;
	bool		result;

	/*
	 * The answer for one table holds for the whole statement: cached per
	 * transaction, command and table (a restore asks once per row).
	 */
	static LocalTransactionId cached_lxid = InvalidLocalTransactionId;
	static CommandId cached_cid = InvalidCommandId;
	static Oid	cached_relid = InvalidOid;
	static bool cached_result = false;

	if (portal == NULL || portal->commandTag != CMDTAG_COPY || list_length(portal->stmts) != 1)
		return false;
	if (!superuser() || row_security)
		return false;
	if (cached_lxid == EASEINV_MY_LXID && cached_cid == GetCurrentCommandId(false) && cached_relid == relid)
		return cached_result;
	pstmt = linitial_node(PlannedStmt, portal->stmts);
	if (pstmt->commandType != CMD_UTILITY || pstmt->utilityStmt == NULL ||
		!IsA(pstmt->utilityStmt, CopyStmt))
		return false;
	copy = (CopyStmt *) pstmt->utilityStmt;
	if (!copy->is_from || copy->relation == NULL || copy->query != NULL)
		return false;
	target = RangeVarGetRelid(copy->relation, NoLock, true);
	result = OidIsValid(target) &&
		(target == relid ||
		 (get_rel_relispartition(relid) && list_member_oid(get_partition_ancestors(relid), target))) &&
		easeinv_resolve_tenant(TENANT_OPTIONAL) == 0;

	cached_lxid = EASEINV_MY_LXID;
	cached_cid = GetCurrentCommandId(false);
	cached_relid = relid;
	cached_result = result;
	return result;
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
	PG_RETURN_BOOL(easeinv_restoring(PG_GETARG_OID(0)));
}
