/*
 * events.h
 *	  The outbox and cache invalidation (events.c).
 */
#ifndef EASEINV_EVENTS_H
#define EASEINV_EVENTS_H

#include "postgres.h"
#include "lib/stringinfo.h"
#include "compat.h"

EASEINV_HIDDEN_BEGIN

/* An event's JSON payload, built field by field (keys are literals). */
typedef struct EventPayload
{
	StringInfoData buf;
	int			depth;			/* nested objects and arrays open */
	bool		first;			/* no member written yet at this depth */
} EventPayload;

extern void event_begin(EventPayload *p);
extern void event_int8(EventPayload *p, const char *key, int64 value);
extern void event_id(EventPayload *p, const char *key, int64 value);	/* 0 is null */
extern void event_text(EventPayload *p, const char *key, const char *value);	/* NULL is null */
extern void event_numeric(EventPayload *p, const char *key, Datum value, bool isnull);
extern void event_time(EventPayload *p, const char *key, TimestampTz value);
extern void event_date(EventPayload *p, const char *key, Datum value);
extern void event_json(EventPayload *p, const char *key, const char *json);	/* a JSON value */
extern void event_open(EventPayload *p, const char *key, bool array);	/* key NULL in an array */
extern void event_close(EventPayload *p, bool array);
extern char *event_end(EventPayload *p);

extern bool events_installed(void);
extern int64 events_emit(int64 tenant, const char *type, const char *aggregate_type, const char *aggregate_id,
						 const char *payload);
extern void events_invalidate(int64 tenant, const char *resource, int64 id);
extern void events_invalidate_all(int64 tenant, const char *resource);

EASEINV_HIDDEN_END

#endif							/* EASEINV_EVENTS_H */
