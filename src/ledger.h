/*-------------------------------------------------------------------------
 * ledger.h
 *	  What ledger.c offers the other writers of stock (reservations.c,
 *	  invoice_issue.c, imports.c): posting movements, the movement gate, the
 *	  checks of products and locations, the level rows.
 *-------------------------------------------------------------------------
 */
#ifndef EASEINV_LEDGER_H
#define EASEINV_LEDGER_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "fmgr.h"
#include "compat.h"

EASEINV_HIDDEN_BEGIN

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
	const char *event;			/* the outbox event; NULL: stock.moved, or stock.reversed */
	int64		reservation;	/* a consumption's reservation, 0 otherwise */
} MoveRequest;

/* post a checked movement (replay check, insert, levels); returns easeinv.movement */
extern Datum ledger_post_movement(FunctionCallInfo fcinfo, MoveRequest *req);

/*
 * post the reversal of a movement (fcinfo NULL: no result wanted); by_document:
 * the caller is the document that posted it (cancel_invoice), the only one
 * that may reverse a movement a document posted
 */
extern Datum ledger_post_reversal(FunctionCallInfo fcinfo, text *key, int64 original, text *reason,
								  bool by_document);

/*
 * the tenant's movement gate: every writer of movements and reservations
 * passes it shared before it reads what decides its checks; the guards that
 * change what decides them take it exclusive
 */
extern void ledger_gate(int64 tenant, bool exclusive);

/* inside an owner scope: the tenant's product and location must be usable */
extern char *ledger_check_product(int64 tenant, int64 product);	/* returns its SKU */
extern bool ledger_check_location(int64 tenant, int64 location, const char *role);

/* inside an owner scope: the tenant's ledger has a movement with this key (and its quantity) */
extern bool ledger_movement_by_key(int64 tenant, text *key, Datum *qty);

/* inside an owner scope: whether the tenant's settings allow negative stock */
extern bool ledger_allows_negative(int64 tenant);

/* inside an owner scope: create and lock both level rows, lower location id first */
extern void ledger_lock_levels(int64 tenant, int64 product, int64 a, int64 b);

EASEINV_HIDDEN_END

#endif							/* EASEINV_LEDGER_H */
