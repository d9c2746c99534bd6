/*-------------------------------------------------------------------------
 * compat.h
 *	  Every difference between the PostgreSQL majors easeinv is built for, in
 *	  one place: no other file tests PG_VERSION_NUM.
 *
 * Compiled and tested against PostgreSQL 15 only (the only major on the
 * machines this was written on).  The branches for 16, 17 and 18 follow
 * those releases' headers as published, but have not been compiled here.
 * Included by easeinv.h, so by every file.
 *-------------------------------------------------------------------------
 */
#ifndef EASEINV_COMPAT_H
#define EASEINV_COMPAT_H

#include "postgres.h"

#include "common/jsonapi.h"
#include "storage/proc.h"
#include "utils/guc_tables.h"
#include "utils/rel.h"
#include "utils/relcache.h"

#if PG_VERSION_NUM < 150000
#error "easeinv requires PostgreSQL 15 or later"
#endif

/*
 * The extension's internal functions are hidden symbols of easeinv.so: PostgreSQL loads
 * libraries with RTLD_GLOBAL, so a global num_add or plan_row could bind to another library's
 * function of the same name.  Every header of src/ wraps its own declarations (never an
 * #include) in these; the SQL-callable functions, declared by PG_FUNCTION_INFO_V1, stay visible.
 */
#if defined(__GNUC__)
#define EASEINV_HIDDEN_BEGIN	_Pragma("GCC visibility push(hidden)")
#define EASEINV_HIDDEN_END		_Pragma("GCC visibility pop")
#else
#define EASEINV_HIDDEN_BEGIN
#define EASEINV_HIDDEN_END
#endif

/* the backend's local transaction id (PGPROC's vxid from 17 on) */
#if PG_VERSION_NUM >= 170000
#define COMPAT_MY_LXID		(MyProc->vxid.lxid)
#else
#define COMPAT_MY_LXID		(MyProc->lxid)
#endif

/* JSON parser callbacks return an error code from 16 on */
#if PG_VERSION_NUM >= 160000
#define COMPAT_JSON_CB_TYPE	JsonParseErrorType
#define COMPAT_JSON_CB_OK	return JSON_SUCCESS
#else
#define COMPAT_JSON_CB_TYPE	void
#define COMPAT_JSON_CB_OK	return
#endif

/* a lexer over a C string (17 allocates it when the first argument is NULL) */
#if PG_VERSION_NUM >= 170000
#define compat_json_lexer(json, len, need_escapes) \
	makeJsonLexContextCstringLen(NULL, (json), (len), GetDatabaseEncoding(), (need_escapes))
#else
#define compat_json_lexer(json, len, need_escapes) \
	makeJsonLexContextCstringLen((json), (len), GetDatabaseEncoding(), (need_escapes))
#endif

/* ExecutorRun_hook's parameters (18 dropped execute_once) and the call passing them on */
#if PG_VERSION_NUM >= 180000
#define COMPAT_EXECUTOR_RUN_PARAMS	QueryDesc *queryDesc, ScanDirection direction, uint64 count
#define COMPAT_EXECUTOR_RUN_ARGS	queryDesc, direction, count
#else
#define COMPAT_EXECUTOR_RUN_PARAMS	QueryDesc *queryDesc, ScanDirection direction, uint64 count, \
									bool execute_once
#define COMPAT_EXECUTOR_RUN_ARGS	queryDesc, direction, count, execute_once
#endif

/* a relation's primary key index (18 added deferrable_ok) */
#if PG_VERSION_NUM >= 180000
#define compat_primary_key_index(rel)	RelationGetPrimaryKeyIndex((rel), false)
#else
#define compat_primary_key_index(rel)	RelationGetPrimaryKeyIndex(rel)
#endif

/*
 * compat_find_guc: a GUC's record, or NULL when it does not exist.  16 exports
 * find_option; before it, a binary search of guc.c's array, which guc.c keeps
 * sorted by name with this comparison (ASCII case folded).
 */
static inline struct config_generic *
compat_find_guc(const char *name)
{
#if PG_VERSION_NUM >= 160000
	return find_option(name, false, true, ERROR);
#else
	struct config_generic **vars = get_guc_variables();
	int			lo = 0;
	int			hi = GetNumConfigOptions() - 1;

	while (lo <= hi)
	{
		int			mid = lo + (hi - lo) / 2;
		const char *a = vars[mid]->name;
		const char *b = name;
		int			c = 0;

		for (; *a && *b && c == 0; a++, b++)
			c = ((*a >= 'A' && *a <= 'Z') ? *a + 'a' - 'A' : *a) -
				((*b >= 'A' && *b <= 'Z') ? *b + 'a' - 'A' : *b);
		if (c == 0)
			c = (*a != 0) - (*b != 0);
		if (c == 0)
			return vars[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return NULL;
#endif
}

#endif							/* EASEINV_COMPAT_H */
