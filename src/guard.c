/*-------------------------------------------------------------------------
 * guard.c
 *	  tenant_guard(): the BEFORE row (and TRUNCATE) trigger on every tenant table.
 *
 * Row level security decides which rows a statement can see; the guard keeps
 * the writes honest whatever the policies say:
 *	  - INSERT: a NULL tenant_id is stamped from the tenant context; a tenant_id
 *		that differs from the context is refused;
 *	  - UPDATE: tenant_id never changes;
 *	  - INSERT/UPDATE/DELETE with no tenant context are refused, except for
 *		roles that bypass RLS (superusers, BYPASSRLS such as easeinv_admin),
 *		which must then name the tenant explicitly;
 *	  - TRUNCATE (statement level) is refused except for roles that bypass RLS;
 *	  - INSERT/UPDATE: every text column holds text valid in the database
 *		encoding.  PostgreSQL checks text on input, except where a client
 *		declares client_encoding SQL_ASCII (COPY then stores the bytes as
 *		sent): such a row would make the database's dump unrestorable.
 *
 * While pg_restore loads a partition (restore.c), an INSERT also checks that
 * the row's tenant belongs in this partition of a table hash partitioned by
 * tenant_id: pg_restore loads each partition's rows into the partition of the
 * same name, so a dump made with another easeinv.partitions than the
 * database's would otherwise stop at PostgreSQL's bare "violates partition
 * constraint".  The check runs in restore mode only, with the bound cached
 * per partition.
 *-------------------------------------------------------------------------
 */
#include "easeinv.h"
#include "triggers.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/partition.h"
#include "catalog/pg_class.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "tcop/pquery.h"
#include "utils/portal.h"
#include "catalog/pg_type.h"
#include "mb/pg_wchar.h"
#include "nodes/parsenodes.h"
#include "partitioning/partbounds.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/partcache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

PG_FUNCTION_INFO_V1(tenant_guard);

/* Per-trigger cache of the tenant_id column position, kept in fn_extra. */
typedef struct GuardCache
{
	Oid			relid;
	int			attno;
	/* restore mode only (guard_check_restored_partition): the partition's bound */
	bool		bound_known;	/* the fields below are set */
	bool		tenant_hash;	/* a partition of a table hash partitioned by tenant_id */
	int			modulus;
	int			remainder;
	Oid			collation;
	FmgrInfo	hashfn;			/* the partition key's hash support function */
	/* guard_check_encoding: how each column's text is checked (NULL: not worked out yet) */
	int			enc_natts;
	char	   *enc_mode;
} GuardCache;

/* how guard_check_encoding checks a column */
#define ENC_SKIP	's'			/* its text form is ASCII by construction (numbers, times, bytea, ...) */
#define ENC_BYTES	'b'			/* text, varchar, char (or a domain over one): the stored bytes */
#define ENC_OUTPUT	'o'			/* anything else that may hold text: its output function's text */

static int	guard_tenant_attno(FunctionCallInfo fcinfo, Relation rel);
static int64 guard_get_tenant(HeapTuple tuple, Relation rel, int attno, bool *isnull);
static void guard_refuse_other_tenant(Relation rel, int64 row_tenant, int64 context);
static const char *guard_table_name(Relation rel);
static void guard_check_restored_partition(FunctionCallInfo fcinfo, Relation rel, int64 tenant);
static void guard_check_encoding(FunctionCallInfo fcinfo, Relation rel, HeapTuple tuple);
static char guard_encoding_mode(Oid type);
static char *encoding_modes(TupleDesc desc, Oid relid, MemoryContext cxt);

/*
 * guard_encoding_mode: how a column of this type is checked (ENC_*).  Text
 * types and domains over them are checked byte for byte; types whose text
 * form is ASCII by construction are skipped; everything else that can carry
 * text (arrays, json and jsonb, composite, ranges, name, "char", extension
 * types such as citext) is checked through its output function.
 */
static char
guard_encoding_mode(Oid type)
{
	Oid			base = getBaseType(type);
	char		category;
	bool		preferred;

	if (base == TEXTOID || base == VARCHAROID || base == BPCHAROID)
		return ENC_BYTES;
	if (base == BYTEAOID || base == UUIDOID || get_typtype(base) == TYPTYPE_ENUM)
		return ENC_SKIP;		/* hex, digits, or one of the enum's labels */
	get_type_category_preferred(base, &category, &preferred);
	switch (category)
	{
		case TYPCATEGORY_NUMERIC:
		case TYPCATEGORY_BOOLEAN:
		case TYPCATEGORY_DATETIME:
		case TYPCATEGORY_TIMESPAN:
		case TYPCATEGORY_GEOMETRIC:
		case TYPCATEGORY_NETWORK:
		case TYPCATEGORY_BITSTRING:
			return ENC_SKIP;
		default:
			return ENC_OUTPUT;
	}
}

/*
 * encoding_modes: each column's ENC_* mode, copied into cxt.  Working them out
 * costs catalog lookups (about a microsecond a row when done per statement,
 * measured): they are kept for the backend, per relation, and used again while
 * every column's type is the one they were worked out for (ALTER TABLE changes
 * a type or adds a column: worked out again).
 */
#define ENCODING_CACHE_SIZE 64

typedef struct EncodingModes
{
	Oid			relid;
	int			natts;
	Oid		   *types;			/* atttypid per column, InvalidOid when dropped */
	char	   *modes;
} EncodingModes;

static EncodingModes encoding_cache[ENCODING_CACHE_SIZE];
static int	encoding_cache_next = 0;

static char *
encoding_modes(TupleDesc desc, Oid relid, MemoryContext cxt)
{
	EncodingModes *e = NULL;
	char	   *out;
	int			i;
	int			k;

	for (k = 0; k < ENCODING_CACHE_SIZE && e == NULL; k++)
	{
		EncodingModes *c = &encoding_cache[k];

		if (c->relid != relid || c->natts != desc->natts)
			continue;
		for (i = 0; i < desc->natts; i++)
		{
			Form_pg_attribute att = TupleDescAttr(desc, i);

			if (c->types[i] != (att->attisdropped ? InvalidOid : att->atttypid))
				break;
		}
		if (i == desc->natts)
			e = c;
	}
	if (e == NULL)
	{
		e = &encoding_cache[encoding_cache_next];
		encoding_cache_next = (encoding_cache_next + 1) % ENCODING_CACHE_SIZE;
		if (e->types)
			pfree(e->types);
		if (e->modes)
			pfree(e->modes);
		e->relid = InvalidOid;
		e->types = MemoryContextAlloc(TopMemoryContext, sizeof(Oid) * Max(desc->natts, 1));
		e->modes = MemoryContextAlloc(TopMemoryContext, Max(desc->natts, 1));
		for (i = 0; i < desc->natts; i++)
		{
			Form_pg_attribute att = TupleDescAttr(desc, i);

			e->types[i] = att->attisdropped ? InvalidOid : att->atttypid;
			e->modes[i] = att->attisdropped ? ENC_SKIP : guard_encoding_mode(att->atttypid);
		}
		e->natts = desc->natts;
		e->relid = relid;
	}
	out = MemoryContextAlloc(cxt, Max(desc->natts, 1));
	memcpy(out, e->modes, desc->natts);
	return out;
}

/*
 * guard_check_encoding: every column of the row that can hold text holds text
 * valid in the database encoding (22021 otherwise); see guard_encoding_mode.
 * SQL_ASCII databases have no encoding to check against.  How each column is
 * checked is worked out once per relation and kept in the trigger's cache.
 */
static void
guard_check_encoding(FunctionCallInfo fcinfo, Relation rel, HeapTuple tuple)
{
	GuardCache *gc = (GuardCache *) fcinfo->flinfo->fn_extra;
	TupleDesc	desc = RelationGetDescr(rel);
	int			encoding = GetDatabaseEncoding();
	int			i;
	bool		unchecked_input;

	if (encoding == PG_SQL_ASCII)
		return;
	Assert(gc != NULL && gc->relid == RelationGetRelid(rel));

	/*
	 * Output functions cost (a third of a text-heavy insert, measured): the
	 * other types are checked that way only where unchecked bytes can come
	 * in, a client that declares SQL_ASCII or a COPY (whose ENCODING option
	 * may say so).  Text columns are checked always: a byte scan, cheap.
	 */
	unchecked_input = pg_get_client_encoding() == PG_SQL_ASCII ||
		(ActivePortal != NULL && ActivePortal->commandTag == CMDTAG_COPY);
	if (gc->enc_mode == NULL || gc->enc_natts != desc->natts)
	{
		gc->enc_mode = encoding_modes(desc, RelationGetRelid(rel), fcinfo->flinfo->fn_mcxt);
		gc->enc_natts = desc->natts;
	}
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		bool		isnull;
		bool		valid;
		Datum		d;

		if (gc->enc_mode[i] == ENC_SKIP)
			continue;
		if (gc->enc_mode[i] == ENC_OUTPUT && !unchecked_input)
			continue;
		d = heap_getattr(tuple, i + 1, desc, &isnull);
		if (isnull)
			continue;
		if (gc->enc_mode[i] == ENC_BYTES)
		{
			text	   *t = DatumGetTextPP(d);

			valid = pg_verify_mbstr(encoding, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), true);
			if ((Pointer) t != DatumGetPointer(d))
				pfree(t);
		}
		else
		{
			Oid			output;
			bool		varlena;
			char	   *out;

			getTypeOutputInfo(att->atttypid, &output, &varlena);
			out = OidOutputFunctionCall(output, d);
			valid = pg_verify_mbstr(encoding, out, strlen(out), true);
			pfree(out);
		}
		if (!valid)
			ereport(ERROR,
					(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
					 errmsg("invalid byte sequence for encoding \"%s\" in column \"%s\" of \"%s\"",
							GetDatabaseEncodingName(), NameStr(att->attname), guard_table_name(rel)),
					 errdetail("The text is not valid %s; stored, it would make a dump of the database unrestorable.",
							   GetDatabaseEncodingName()),
					 errhint("Send text in the encoding the connection declares (client_encoding); "
							 "SQL_ASCII declares none, so its bytes reach the database unchecked.")));
	}
}

/*
 * guard_table_name: the table the user wrote to, for messages.  Triggers fire on the leaf
 * partition; the user knows the partitioned table, so name the root of the tree.
 */
static const char *
guard_table_name(Relation rel)
{
	if (rel->rd_rel->relispartition)
	{
		List	   *ancestors = get_partition_ancestors(RelationGetRelid(rel));
		char	   *name = ancestors != NIL ? get_rel_name(llast_oid(ancestors)) : NULL;

		if (name != NULL)
			return name;
	}
	return RelationGetRelationName(rel);
}

/* guard_tenant_attno: where tenant_id is in this relation (cached per trigger). */
static int
guard_tenant_attno(FunctionCallInfo fcinfo, Relation rel)
{
	GuardCache *gc = (GuardCache *) fcinfo->flinfo->fn_extra;
	int			attno;

	if (gc != NULL && gc->relid == RelationGetRelid(rel))
		return gc->attno;

	attno = SPI_fnumber(RelationGetDescr(rel), "tenant_id");
	if (attno <= 0 || TupleDescAttr(RelationGetDescr(rel), attno - 1)->atttypid != INT8OID)
		ereport(ERROR,
				(errcode(attno <= 0 ? ERRCODE_UNDEFINED_COLUMN : ERRCODE_DATATYPE_MISMATCH),
				 errmsg("table \"%s\" has no bigint column \"tenant_id\"",
						RelationGetRelationName(rel)),
				 errhint("easeinv.tenant_guard() protects tables with a tenant_id bigint NOT NULL column; "
						 "attach it with easeinv.enable_tenancy().")));

	if (gc == NULL)
		gc = MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, sizeof(GuardCache));
	gc->relid = RelationGetRelid(rel);
	gc->attno = attno;
	gc->bound_known = false;
	gc->enc_mode = NULL;
	gc->enc_natts = 0;
	fcinfo->flinfo->fn_extra = gc;
	return attno;
}

/* guard_get_tenant: the tenant_id of a row. */
static int64
guard_get_tenant(HeapTuple tuple, Relation rel, int attno, bool *isnull)
{
	Datum		d = heap_getattr(tuple, attno, RelationGetDescr(rel), isnull);

	return *isnull ? 0 : DatumGetInt64(d);
}

/* guard_refuse_other_tenant: the row is not the current tenant's. */
static void
guard_refuse_other_tenant(Relation rel, int64 row_tenant, int64 context)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("row of tenant %lld cannot be written in the context of tenant %lld",
					(long long) row_tenant, (long long) context),
			 errdetail("Table \"%s\" is a tenant table.", guard_table_name(rel)),
			 errhint("Omit tenant_id to take it from the tenant context, or switch context with easeinv.set_tenant().")));
}

/*
 * guard_check_restored_partition: pg_restore is loading this partition; refuse, clearly, a row
 * whose tenant belongs in another partition (see the file header).  Only for a partition of a
 * table hash partitioned by tenant_id alone (the extension's scheme); others are left to
 * PostgreSQL's partition check.
 */
static void
guard_check_restored_partition(FunctionCallInfo fcinfo, Relation rel, int64 tenant)
{
	GuardCache *gc = (GuardCache *) fcinfo->flinfo->fn_extra;
	Datum		value = Int64GetDatum(tenant);
	bool		isnull = false;
	uint64		hash;

	Assert(gc != NULL && gc->relid == RelationGetRelid(rel));
	if (!gc->bound_known)
	{
		Oid			relid = RelationGetRelid(rel);
		Oid			parent = get_partition_parent(relid, true);
		Relation	prel = table_open(parent, AccessShareLock);
		PartitionKey key = RelationGetPartitionKey(prel);
		HeapTuple	tup;

		gc->tenant_hash = false;
		if (key != NULL && key->strategy == PARTITION_STRATEGY_HASH && key->partnatts == 1 &&
			key->partattrs[0] != InvalidAttrNumber &&
			key->partattrs[0] == get_attnum(parent, "tenant_id") &&
			(tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid))) != NULL)
		{
			Datum		bound = SysCacheGetAttr(RELOID, tup, Anum_pg_class_relpartbound, &isnull);

			if (!isnull)
			{
				PartitionBoundSpec *spec = castNode(PartitionBoundSpec,
													stringToNode(TextDatumGetCString(bound)));

				if (spec->strategy == PARTITION_STRATEGY_HASH && spec->modulus > 0)
				{
					gc->modulus = spec->modulus;
					gc->remainder = spec->remainder;
					gc->collation = key->partcollation[0];
					fmgr_info_copy(&gc->hashfn, &key->partsupfunc[0], fcinfo->flinfo->fn_mcxt);
					gc->tenant_hash = true;
				}
			}
			ReleaseSysCache(tup);
		}
		table_close(prel, AccessShareLock);
		gc->bound_known = true;
	}
	if (!gc->tenant_hash)
		return;

	/* as satisfies_hash_partition() computes the partition constraint */
	isnull = false;
	hash = compute_partition_hash_value(1, &gc->hashfn, &gc->collation, &value, &isnull);
	if (hash % (uint64) gc->modulus == (uint64) gc->remainder)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("row of tenant %lld does not belong in partition \"%s\"",
					(long long) tenant, RelationGetRelationName(rel)),
			 errdetail("Table \"%s\" has %d hash partitions in this database (easeinv.partition_count()), "
					   "and pg_restore loads the rows of each partition into the partition of the same name: "
					   "the dump was made with another easeinv.partitions.",
					   guard_table_name(rel), gc->modulus),
			 errhint("Create the database again and restore with PGOPTIONS='-c easeinv.partitions=<the dump's count>' "
					 "(pg_restore -l <dump> | grep -c 'TABLE DATA easeinv products_p' prints it), "
					 "or restore a dump made with pg_dump --load-via-partition-root.")));
}

/*
 * tenant_guard() returns trigger: see the file header for what it enforces.
 */
Datum
tenant_guard(PG_FUNCTION_ARGS)
{
	TriggerData *td;
	Relation	rel;
	int			attno;
	int64		context;
	bool		isnull;
	int64		row_tenant;

	td = trigger_data(fcinfo, "tenant_guard");
	rel = td->tg_relation;

	if (TRIGGER_FIRED_BY_TRUNCATE(td->tg_event))
	{
		if (!tenant_role_bypasses_rls())
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("cannot truncate tenant table \"%s\"", RelationGetRelationName(rel)),
					 errdetail("TRUNCATE would remove the rows of every tenant."),
					 errhint("Delete the current tenant's rows with DELETE, or truncate as a maintenance role (easeinv_admin).")));
		return PointerGetDatum(NULL);
	}

	(void) trigger_fired(fcinfo, "tenant_guard", true, true, "Attach it with easeinv.enable_tenancy().");

	attno = guard_tenant_attno(fcinfo, rel);
	context = tenant_resolve(TENANT_OPTIONAL);

	/* Without a context only roles that bypass RLS may write, and explicitly. */
	if (context == 0 && !tenant_role_bypasses_rls())
		(void) tenant_resolve(TENANT_REQUIRED); /* raises 42501 */

	if (TRIGGER_FIRED_BY_INSERT(td->tg_event))
	{
		HeapTuple	newtup = td->tg_trigtuple;

		row_tenant = guard_get_tenant(newtup, rel, attno, &isnull);
		if (isnull)
		{
			if (context == 0)
				ereport(ERROR,
						(errcode(ERRCODE_NOT_NULL_VIOLATION),
						 errmsg("tenant_id of a new row in \"%s\" is null and there is no tenant context",
								guard_table_name(rel)),
						 errhint("Name the tenant in tenant_id, or set a tenant context first.")));
			if (rel->rd_rel->relispartition)
				ereport(ERROR,
						(errcode(ERRCODE_NOT_NULL_VIOLATION),
						 errmsg("explicit null tenant_id for partitioned table \"%s\"",
								guard_table_name(rel)),
						 errdetail("A row is routed to its partition by tenant_id before triggers run."),
						 errhint("Omit the tenant_id column: its default takes the tenant context.")));
			{
				Datum		value = Int64GetDatum(context);
				bool		nulls = false;

				newtup = heap_modify_tuple_by_cols(newtup, RelationGetDescr(rel),
												   1, &attno, &value, &nulls);
			}
		}
		else if (context != 0 && row_tenant != context)
			guard_refuse_other_tenant(rel, row_tenant, context);
		else if (context == 0 && rel->rd_rel->relispartition && restore_in_progress(RelationGetRelid(rel)))
			guard_check_restored_partition(fcinfo, rel, row_tenant);
		guard_check_encoding(fcinfo, rel, newtup);
		return PointerGetDatum(newtup);
	}

	if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
	{
		bool		newnull;
		int64		old_tenant = guard_get_tenant(td->tg_trigtuple, rel, attno, &isnull);
		int64		new_tenant = guard_get_tenant(td->tg_newtuple, rel, attno, &newnull);

		if (newnull || isnull || new_tenant != old_tenant)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("tenant_id of a row in \"%s\" cannot be changed",
							guard_table_name(rel)),
					 errdetail("The row belongs to tenant %lld.", (long long) old_tenant),
					 errhint("Copy the data into the other tenant's context instead.")));
		if (context != 0 && old_tenant != context)
			guard_refuse_other_tenant(rel, old_tenant, context);
		guard_check_encoding(fcinfo, rel, td->tg_newtuple);
		return PointerGetDatum(td->tg_newtuple);
	}

	/* DELETE */
	row_tenant = guard_get_tenant(td->tg_trigtuple, rel, attno, &isnull);
	if (context != 0 && row_tenant != context)
		guard_refuse_other_tenant(rel, row_tenant, context);
	return PointerGetDatum(td->tg_trigtuple);
}
