/*-------------------------------------------------------------------------
 * owner.c
 *	  How easeinv's C code runs SQL: inside SPI, as the owner of the
 *	  extension's tables, with search_path pinned and generic plans.
 *
 * The functions that write the ledger, reservations, invoices, payments and
 * imports run their statements as the owner of the tables (as PostgreSQL's
 * own foreign-key checks run as the table's owner), so the application role
 * needs no write privilege on them; every statement names the tenant of the
 * context explicitly ($1).
 *
 * The rule for SQL run from C (one rule, everywhere):
 *	  Every statement the C code runs is executed between owner_begin() (or
 *	  owner_begin_as_caller()) and owner_end(), which pin search_path to
 *	  "pg_catalog, pg_temp".  A bare operator, function or type name in a
 *	  statement therefore resolves in pg_catalog and nowhere else, whatever
 *	  the caller's search_path holds: an operator or function planted in a
 *	  schema of the caller's path never runs with the owner's rights
 *	  (pg_temp, listed last, is never searched for functions or operators).
 *	  So the statements are written with bare operators and built-in
 *	  functions; the extension's own objects are written schema-qualified
 *	  (easeinv.stock_movements, easeinv.level_add(...)), the session's
 *	  temporary tables as pg_temp.name.  Kept plans are prepared and executed
 *	  only inside such a scope: a plan is revalidated against the path it was
 *	  made under, which is always this one.  sql/20_planted_operators.sql
 *	  plants operators and functions shaped like pg_catalog's in a schema
 *	  first in the caller's path and runs every C entry point (it fails when
 *	  a C function is added without being run there).
 *
 * plan_cache_mode = force_generic_plan: the statements all filter on
 * tenant_id = $1 over hash partitions.  Costed over every partition, a
 * generic plan never looks cheaper than a custom one, so without this every
 * call would plan its statements (and the foreign-key checks they fire)
 * again; the generic plan still prunes to the tenant's partition at executor
 * start.  Both settings are scoped like a function's SET clause: owner_end()
 * or an error undoes them.
 *-------------------------------------------------------------------------
 */
#include "easeinv.h"
#include "owner.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

static Oid	owner_lookup(void);
static void pin_settings(OwnerScope *scope);

/* owner_role: the role that owns easeinv.stock_movements. */
Oid
owner_role(void)
{
	static LocalTransactionId cached_lxid = InvalidLocalTransactionId;
	static Oid	cached_owner = InvalidOid;

	/* looked up once per transaction: the calls of one transaction see one owner */
	if (cached_lxid != COMPAT_MY_LXID || !OidIsValid(cached_owner))
	{
		cached_owner = owner_lookup();
		cached_lxid = COMPAT_MY_LXID;
	}
	return cached_owner;
}

/* owner_lookup: the owner, from the catalog. */
static Oid
owner_lookup(void)
{
	Oid			nsp = get_namespace_oid(EASEINV_SCHEMA, false);
	Oid			relid = get_relname_relid("stock_movements", nsp);
	HeapTuple	tup;
	Oid			owner;

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("easeinv.stock_movements does not exist"),
				 errhint("ALTER EXTENSION easeinv UPDATE to version 0.2.0 or later.")));
	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	return owner;
}

/* pin_settings: plan_cache_mode and search_path, saved in a new GUC nest level. */
static void
pin_settings(OwnerScope *scope)
{
	scope->guc_nest = NewGUCNestLevel();
	(void) set_config_option("plan_cache_mode", "force_generic_plan", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	GetUserIdAndSecContext(&scope->save_user, &scope->save_sec);
}

/* owner_begin: the settings, the owner's identity, SPI. */
void
owner_begin(OwnerScope *scope)
{
	pin_settings(scope);
	SetUserIdAndSecContext(owner_role(), scope->save_sec | SECURITY_LOCAL_USERID_CHANGE);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
}

/* owner_begin_as_caller: the settings and SPI; the caller stays who runs the statements. */
void
owner_begin_as_caller(OwnerScope *scope)
{
	pin_settings(scope);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
}

/* owner_end: leave SPI, the identity and the settings. */
void
owner_end(OwnerScope *scope)
{
	SPI_finish();
	SetUserIdAndSecContext(scope->save_user, scope->save_sec);
	AtEOXact_GUC(true, scope->guc_nest);
}
