/*-------------------------------------------------------------------------
 * events.c
 *	  The outbox (events appended in the transaction of the write) and cache
 *	  invalidation (NOTIFY easeinv_invalidate at commit).
 *
 * 1. The domain writers (ledger.c, reservations.c, invoice_issue.c,
 *	  payments.c, imports.c) build a payload with event_begin() ... event_end()
 *	  and append it with events_emit(), inside their owner scope, after the
 *	  write itself: a replay returns before it and appends nothing, an error
 *	  or a rollback takes the event with it.  Each takes the lock of its
 *	  aggregate (a stock level, an invoice row) before its event, so one
 *	  aggregate's events get ids in commit order.  emit() is the application's
 *	  way in: the current tenant's outbox, types of its own.
 * 2. events_invalidate() queues NOTIFY easeinv_invalidate with the payload
 *	  tenantId:resourceType:resourceId; PostgreSQL sends it at commit only,
 *	  once per distinct payload per transaction.  The writers of stock call it
 *	  for stock:<product_id> (imports: stock:*); invalidate_cache(), a
 *	  statement trigger, does it for the tables the application writes
 *	  directly (products, customers, invoices and their lines), with the
 *	  tenant-wide key resource:* past INVALIDATE_MAX rows in one statement.
 *	  easeinv.notify = off (superuser, e.g. per database) sends none.
 * 3. The consumers (claims, acks, cursors) are SQL: 0.6.0's 10_outbox.sql.
 *
 * Version skew: until ALTER EXTENSION easeinv UPDATE to 0.6.0 there is no
 * outbox; events_emit() then appends nothing (events_installed()).
 *-------------------------------------------------------------------------
 */
#include "easeinv.h"
#include "args.h"
#include "events.h"
#include "numbers.h"
#include "owner.h"
#include "plans.h"
#include "triggers.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/tuplestore.h"

PG_FUNCTION_INFO_V1(emit);
PG_FUNCTION_INFO_V1(invalidate_cache);

#define INVALIDATE_CHANNEL	"easeinv_invalidate"
#define INVALIDATE_MAX		100		/* distinct ids of a tenant in one statement; past it, resource:* */
#define EMIT_MAX_PAYLOAD	(1024 * 1024)

typedef enum EventStatement
{
	ST_INSERT,					/* append one event */
	ST_COUNT
} EventStatement;

static const PlanStatement statements[ST_COUNT] = {
	[ST_INSERT] = {"INSERT INTO easeinv.outbox (tenant_id, type, aggregate_type, aggregate_id, payload)"
		" VALUES ($1, $2, $3, $4, $5::jsonb) RETURNING id", 5, {INT8OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID}},
};

static SPIPlanPtr plans[ST_COUNT];

#define PLAN(which)		plan_kept(statements, plans, (which))

/* the event types of the extension's own writes: emit() refuses them */
static const char *const reserved_types[] = {
	"stock.", "invoice.", "credit_note.", "payment.", "import.", "tenant.", NULL
};

static void member(EventPayload *p, const char *key);
static bool name_ok(const char *s, bool dotted);
static void check_emit_arguments(const char *type, const char *aggregate_type, const char *aggregate_id,
								 Jsonb *payload);
static void invalidate_rows(Tuplestorestate *rows, TupleDesc desc, int tenant_col, int id_col,
							const char *resource, TupleTableSlot *slot);

/* ---- 1. payloads ---- */

void
event_begin(EventPayload *p)
{
	initStringInfo(&p->buf);
	appendStringInfoChar(&p->buf, '{');
	p->depth = 0;
	p->first = true;
}

/* member: the separator and, in an object, the key */
static void
member(EventPayload *p, const char *key)
{
	if (!p->first)
		appendStringInfoString(&p->buf, ", ");
	p->first = false;
	if (key != NULL)
	{
		escape_json(&p->buf, key);
		appendStringInfoString(&p->buf, ": ");
	}
}

void
event_int8(EventPayload *p, const char *key, int64 value)
{
	member(p, key);
	appendStringInfo(&p->buf, INT64_FORMAT, value);
}

void
event_id(EventPayload *p, const char *key, int64 value)
{
	if (value == 0)
		event_json(p, key, "null");
	else
		event_int8(p, key, value);
}

void
event_text(EventPayload *p, const char *key, const char *value)
{
	member(p, key);
	if (value == NULL)
		appendStringInfoString(&p->buf, "null");
	else
		escape_json(&p->buf, value);
}

/* event_numeric: as a JSON number (exact: the digits numeric prints) */
void
event_numeric(EventPayload *p, const char *key, Datum value, bool isnull)
{
	event_json(p, key, isnull ? "null" : num_str(value));
}

/* event_time: ISO 8601 with the offset, as to_json() writes it */
void
event_time(EventPayload *p, const char *key, TimestampTz value)
{
	char		buf[MAXDATELEN + 1];

	member(p, key);
	appendStringInfoChar(&p->buf, '"');
	appendStringInfoString(&p->buf, JsonEncodeDateTime(buf, TimestampTzGetDatum(value), TIMESTAMPTZOID, NULL));
	appendStringInfoChar(&p->buf, '"');
}

/* event_date: ISO 8601, whatever DateStyle says */
void
event_date(EventPayload *p, const char *key, Datum value)
{
	char		buf[MAXDATELEN + 1];

	member(p, key);
	appendStringInfoChar(&p->buf, '"');
	appendStringInfoString(&p->buf, JsonEncodeDateTime(buf, value, DATEOID, NULL));
	appendStringInfoChar(&p->buf, '"');
}

void
event_json(EventPayload *p, const char *key, const char *json)
{
	member(p, key);
	appendStringInfoString(&p->buf, json);
}

void
event_open(EventPayload *p, const char *key, bool array)
{
	member(p, key);
	appendStringInfoChar(&p->buf, array ? '[' : '{');
	p->depth++;
	p->first = true;
}

void
event_close(EventPayload *p, bool array)
{
	Assert(p->depth > 0);
	appendStringInfoChar(&p->buf, array ? ']' : '}');
	p->depth--;
	p->first = false;
}

char *
event_end(EventPayload *p)
{
	Assert(p->depth == 0);
	appendStringInfoChar(&p->buf, '}');
	return p->buf.data;
}

/* ---- appending ---- */

/* events_installed: the installed SQL has the outbox (0.6.0). */
bool
events_installed(void)
{
	static bool installed = false;

	if (!installed)
	{
		Oid			nsp = get_namespace_oid(EASEINV_SCHEMA, true);

		installed = OidIsValid(nsp) && OidIsValid(get_relname_relid("outbox", nsp));
	}
	return installed;
}

/*
 * events_emit: append an event to the tenant's outbox; inside an owner scope
 * (SPI connected, pinned path).  Returns its id, or 0 when the outbox is not
 * installed yet.
 */
int64
events_emit(int64 tenant, const char *type, const char *aggregate_type, const char *aggregate_id,
			const char *payload)
{
	Datum		values[5];
	HeapTuple	row;
	TupleDesc	desc;
	bool		isnull;

	if (!events_installed())
		return 0;
	values[0] = Int64GetDatum(tenant);
	values[1] = CStringGetTextDatum(type);
	values[2] = CStringGetTextDatum(aggregate_type);
	values[3] = CStringGetTextDatum(aggregate_id);
	values[4] = CStringGetTextDatum(payload);
	row = plan_row(PLAN(ST_INSERT), values, NULL, false, SPI_OK_INSERT_RETURNING, "appending an event", &desc);
	if (row == NULL)
		elog(ERROR, "appending an event returned no row");
	return DatumGetInt64(heap_getattr(row, 1, desc, &isnull));
}

/* ---- 2. cache invalidation ---- */

static void
notify(int64 tenant, const char *resource, const char *id)
{
	char		payload[256];

	if (!easeinv_notify)
		return;
	snprintf(payload, sizeof(payload), INT64_FORMAT ":%s:%s", tenant, resource, id);
	Async_Notify(INVALIDATE_CHANNEL, payload);
}

/* events_invalidate: NOTIFY tenant:resource:id at commit */
void
events_invalidate(int64 tenant, const char *resource, int64 id)
{
	char		buf[32];

	snprintf(buf, sizeof(buf), INT64_FORMAT, id);
	notify(tenant, resource, buf);
}

/* events_invalidate_all: NOTIFY tenant:resource:* at commit (a bulk change) */
void
events_invalidate_all(int64 tenant, const char *resource)
{
	notify(tenant, resource, "*");
}

/*
 * invalidate_cache(resource, id_column) returns trigger: AFTER INSERT, UPDATE
 * or DELETE ... FOR EACH STATEMENT, with the transition tables: one NOTIFY per
 * distinct (tenant_id, id_column) of the rows the statement wrote, or
 * tenant:resource:* for a tenant past INVALIDATE_MAX rows.
 */
Datum
invalidate_cache(PG_FUNCTION_ARGS)
{
	TriggerData *td = trigger_fired(fcinfo, "invalidate_cache", false, false, NULL);
	Trigger    *tg = td->tg_trigger;
	TupleDesc	desc = RelationGetDescr(td->tg_relation);
	int			tenant_col;
	int			id_col;
	TupleTableSlot *slot;

	if (tg->tgnargs != 2)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("easeinv.invalidate_cache() takes a resource name and an id column")));
	if (!easeinv_notify)
		return PointerGetDatum(NULL);
	tenant_col = SPI_fnumber(desc, "tenant_id");
	id_col = SPI_fnumber(desc, tg->tgargs[1]);
	if (tenant_col <= 0 || id_col <= 0 || TupleDescAttr(desc, id_col - 1)->atttypid != INT8OID)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("easeinv.invalidate_cache() needs bigint columns tenant_id and %s", tg->tgargs[1])));
	slot = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
	if (td->tg_newtable != NULL)
		invalidate_rows(td->tg_newtable, desc, tenant_col, id_col, tg->tgargs[0], slot);
	if (td->tg_oldtable != NULL)
		invalidate_rows(td->tg_oldtable, desc, tenant_col, id_col, tg->tgargs[0], slot);
	ExecDropSingleTupleTableSlot(slot);
	return PointerGetDatum(NULL);
}

/* invalidate_rows: the keys of one transition table */
static void
invalidate_rows(Tuplestorestate *rows, TupleDesc desc, int tenant_col, int id_col,
				const char *resource, TupleTableSlot *slot)
{
	typedef struct TenantKeys
	{
		int64		tenant;
		int			n;			/* INVALIDATE_MAX + 1: too many, resource:* */
		int64		ids[INVALIDATE_MAX];
	} TenantKeys;
	List	   *tenants = NIL;
	ListCell   *lc;
	TenantKeys *cur = NULL;
	int			i;

	/* first the keys of each tenant, so that one past the limit sends only resource:* */
	tuplestore_rescan(rows);
	while (tuplestore_gettupleslot(rows, true, false, slot))
	{
		bool		tnull;
		bool		inull;
		int64		t = DatumGetInt64(slot_getattr(slot, tenant_col, &tnull));
		int64		id = DatumGetInt64(slot_getattr(slot, id_col, &inull));

		if (tnull || inull)
			continue;
		if (cur == NULL || cur->tenant != t)
		{
			cur = NULL;
			foreach(lc, tenants)
				if (((TenantKeys *) lfirst(lc))->tenant == t)
					cur = lfirst(lc);
			if (cur == NULL)
			{
				cur = palloc0(sizeof(TenantKeys));
				cur->tenant = t;
				tenants = lappend(tenants, cur);
			}
		}
		if (cur->n > INVALIDATE_MAX)
			continue;
		for (i = 0; i < cur->n && cur->ids[i] != id; i++)
			;
		if (i < cur->n)
			continue;			/* seen: one key per distinct id */
		if (cur->n < INVALIDATE_MAX)
			cur->ids[cur->n++] = id;
		else
			cur->n = INVALIDATE_MAX + 1;
	}
	foreach(lc, tenants)
	{
		cur = lfirst(lc);
		if (cur->n > INVALIDATE_MAX)
			events_invalidate_all(cur->tenant, resource);
		else
			for (i = 0; i < cur->n; i++)
				events_invalidate(cur->tenant, resource, cur->ids[i]);
	}
	list_free_deep(tenants);
}


/* ---- the application's events ---- */

/* name_ok: lower-case words of [a-z0-9_] starting with a letter, dot-separated when dotted */
static bool
name_ok(const char *s, bool dotted)
{
	int			words = 0;

	while (*s)
	{
		if (!(*s >= 'a' && *s <= 'z'))
			return false;
		while ((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_')
			s++;
		words++;
		if (*s == '.' && dotted)
			s++;
		else if (*s != '\0')
			return false;
		if (*s == '\0' && s[-1] == '.')
			return false;
	}
	return dotted ? words >= 2 : words == 1;
}

static void
check_emit_arguments(const char *type, const char *aggregate_type, const char *aggregate_id, Jsonb *payload)
{
	int			i;

	if (strlen(type) > 64 || !name_ok(type, true))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid event type \"%s\"", type),
				 errhint("An event type is two or more dot-separated lower-case words, such as \"order.shipped\" (at most 64 characters).")));
	for (i = 0; reserved_types[i] != NULL; i++)
		if (strncmp(type, reserved_types[i], strlen(reserved_types[i])) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("event types starting with \"%s\" are the extension's own", reserved_types[i]),
					 errdetail("The extension appends them itself when it writes stock, invoices, payments, imports and tenant settings."),
					 errhint("Name the application's events under another prefix, such as \"app.\" or \"order.\".")));
	if (strlen(aggregate_type) > 64 || !name_ok(aggregate_type, false))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid aggregate type \"%s\"", aggregate_type),
				 errhint("An aggregate type is one lower-case word of letters, digits and \"_\", such as \"order\".")));
	if (aggregate_id[0] == '\0' || strlen(aggregate_id) > 255)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("an aggregate id has 1 to 255 characters")));
	if (!JB_ROOT_IS_OBJECT(payload) || JB_ROOT_IS_SCALAR(payload))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("an event payload must be a JSON object"),
				 errhint("Wrap the value in an object, such as jsonb_build_object('value', ...).")));
	if (VARSIZE(payload) > EMIT_MAX_PAYLOAD)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("an event payload is at most 1 MB"),
				 errhint("Put the ids in the event and let the consumer read the rest.")));
}

/*
 * emit(type text, aggregate_type text, aggregate_id text, payload jsonb)
 * returns bigint: appends an event of the application's to the current
 * tenant's outbox in the caller's transaction.  VOLATILE, PARALLEL UNSAFE.
 */
Datum
emit(PG_FUNCTION_ARGS)
{
	char	   *type;
	char	   *aggregate_type;
	char	   *aggregate_id;
	Jsonb	   *payload;
	int64		tenant;
	int64		id;
	OwnerScope	scope;

	type = arg_cstring(fcinfo, 0, "type");
	aggregate_type = arg_cstring(fcinfo, 1, "aggregate_type");
	aggregate_id = arg_cstring(fcinfo, 2, "aggregate_id");
	payload = PG_ARGISNULL(3) ? NULL : PG_GETARG_JSONB_P(3);
	if (payload == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("payload must not be null"),
				 errhint("Pass '{}' for an event without a payload.")));
	check_emit_arguments(type, aggregate_type, aggregate_id, payload);
	tenant = tenant_resolve(TENANT_REQUIRED);
	if (!events_installed())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the outbox is not installed"),
				 errhint("ALTER EXTENSION easeinv UPDATE to version 0.6.0 or later.")));
	owner_begin(&scope);
	id = events_emit(tenant, type, aggregate_type, aggregate_id,
					 DatumGetCString(DirectFunctionCall1(jsonb_out, JsonbPGetDatum(payload))));
	owner_end(&scope);
	PG_RETURN_INT64(id);
}
