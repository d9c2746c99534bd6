/*-------------------------------------------------------------------------
 * owner.h
 *	  Running SQL from C: as the extension's owner, with the path pinned
 *	  (owner.c; the rule is in its banner).
 *-------------------------------------------------------------------------
 */
#ifndef EASEINV_OWNER_H
#define EASEINV_OWNER_H

#include "postgres.h"
#include "compat.h"

EASEINV_HIDDEN_BEGIN

/* what owner_begin changed, for owner_end to undo */
typedef struct OwnerScope
{
	Oid			save_user;
	int			save_sec;
	int			guc_nest;
} OwnerScope;

/* the role that owns the extension's tables (easeinv.stock_movements), once per transaction */
extern Oid	owner_role(void);

/*
 * owner_begin: connect SPI and run what follows as owner_role(), with
 * search_path = pg_catalog, pg_temp and plan_cache_mode = force_generic_plan;
 * owner_end undoes all of it (an error does, through transaction abort).
 * owner_begin_as_caller: the same, keeping the caller's identity (the DDL of
 * enable_tenancy, which must be the caller's).
 */
extern void owner_begin(OwnerScope *scope);
extern void owner_begin_as_caller(OwnerScope *scope);
extern void owner_end(OwnerScope *scope);

EASEINV_HIDDEN_END

#endif							/* EASEINV_OWNER_H */
