/*-------------------------------------------------------------------------
 * ledger.h
 *	  What ledger.c shares with the other writers of the ledger (reservations.c).
 *-------------------------------------------------------------------------
 */
#ifndef EASEINV_LEDGER_H
#define EASEINV_LEDGER_H

#include "fmgr.h"
#include "executor/spi.h"
#include "access/htup.h"
#include "access/tupdesc.h"
#include "datatype/timestamp.h"

/* A movement request, as checked arguments. */
typedef struct MoveRequest
{
	text	   *key;
	int64		product;
	int64		from;
	int64		to;
	Datum		qty;			/* numeric */
	text	   *reason;			/* NULL when absent, likewise below */
	text	   *ref_type;
	text	   *ref_id;
	Datum		unit_cost;		/* numeric */
	bool		unit_cost_null;
	int64		reverses;		/* 0 when not a reversal */
	TimestampTz occurred_at;
	bool		occurred_given;
} MoveRequest;

/* argument checks (22004, 22023, 22003) */
extern text *check_key(FunctionCallInfo fcinfo, int argno);
extern int64 check_id(FunctionCallInfo fcinfo, int argno, const char *what);
extern text *optional_text(FunctionCallInfo fcinfo, int argno, const char *what, int maxlen);
extern Datum check_quantity(Datum qty, const char *what, bool allow_zero);

/* inside SPI, as the ledger owner: the tenant's product and location must be usable */
extern void check_product(int64 tenant, int64 product);
extern bool check_location(int64 tenant, int64 location, const char *role);

/* inside SPI: the tenant's ledger has a movement with this key (and its quantity) */
extern bool movement_by_key(int64 tenant, text *key, Datum *qty);

/* the installed SQL has 0.5.0's objects; a statement rewritten for what is installed (ledger.c) */
extern bool easeinv_sql_050(void);
extern char *sql_for_installed(const char *sql);

/* an SPI plan prepared once and kept for the life of the backend */
extern SPIPlanPtr prepare_kept(const char *sql, int nargs, Oid *types);

/* the plan in *slot, prepared and kept on first use */
extern SPIPlanPtr kept_plan(SPIPlanPtr *slot, const char *sql, int nargs, Oid *types);

/* the role the ledger's statements run as */
extern Oid	ledger_owner(void);

/*
 * A stretch of SPI work run as the ledger's owner with generic plans:
 * ledger_begin() switches to the owner, sets plan_cache_mode and connects SPI;
 * ledger_end() undoes all three.  (On error, transaction abort does.)
 */
typedef struct LedgerSession
{
	Oid			save_user;
	int			save_sec;
	int			guc_nest;
} LedgerSession;

extern void ledger_begin(LedgerSession *session);
extern void ledger_end(LedgerSession *session);

/* inside SPI: whether the tenant's settings allow negative stock */
extern bool tenant_allows_negative(int64 tenant);

/* an optional text argument equals a stored optional text, byte for byte */
extern bool same_text(text *a, Datum b, bool bnull);

/* inside SPI: create and lock both level rows, lower location id first */
extern void lock_levels(int64 tenant, int64 product, int64 a, int64 b);

/* the function's composite result: a stored row's first ncols columns, then replayed */
extern Datum result_with_replayed(FunctionCallInfo fcinfo, HeapTuple stored, TupleDesc desc, int ncols,
								  bool replayed, MemoryContext cxt);

/* post a checked movement (replay check, insert, levels); returns easeinv.movement */
extern Datum post_movement(FunctionCallInfo fcinfo, MoveRequest *req);

/*
 * post the reversal of a movement (fcinfo NULL: no result wanted); by_document:
 * the caller is the document that posted it (cancel_invoice), the only one
 * that may reverse a movement a document posted
 */
extern Datum post_reversal(FunctionCallInfo fcinfo, text *key, int64 original, text *reason, bool by_document);

/*
 * the tenant's movement gate: every writer of movements and reservations
 * passes it shared before it reads what decides its checks; the guards that
 * change what decides them take it exclusive (ledger.c)
 */
extern void movement_gate(int64 tenant, bool exclusive);

/* an append-only trigger's refusal (42501) */
extern void refuse_change(FunctionCallInfo fcinfo, const char *function, const char *what, const char *hint);

#endif							/* EASEINV_LEDGER_H */
