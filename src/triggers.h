/*-------------------------------------------------------------------------
 * triggers.h
 *	  What every trigger function of easeinv does first, and the refusal of
 *	  the append-only tables (triggers.c).
 *-------------------------------------------------------------------------
 */
#ifndef EASEINV_TRIGGERS_H
#define EASEINV_TRIGGERS_H

#include "postgres.h"

#include "commands/trigger.h"
#include "fmgr.h"
#include "compat.h"

EASEINV_HIDDEN_BEGIN

/* the call's TriggerData; 39P01 when easeinv.<function>() is called other than as a trigger */
extern TriggerData *trigger_data(FunctionCallInfo fcinfo, const char *function);

/* trigger_data, and the trigger fires BEFORE (or AFTER) ... FOR EACH ROW (or STATEMENT); 39P01 otherwise */
extern TriggerData *trigger_fired(FunctionCallInfo fcinfo, const char *function, bool before, bool row,
								 const char *hint);

/* an append-only table's trigger: refuse the UPDATE, DELETE or TRUNCATE (42501) */
extern void trigger_refuse_change(FunctionCallInfo fcinfo, const char *function, const char *what,
								  const char *hint) pg_attribute_noreturn();

EASEINV_HIDDEN_END

#endif							/* EASEINV_TRIGGERS_H */
