/*-------------------------------------------------------------------------
 * numbers.c
 *	  numeric arithmetic on Datums for C code: the same functions SQL's
 *	  numeric operators call, so every amount is exact, and constants parsed
 *	  once per backend.
 *-------------------------------------------------------------------------
 */
#include "easeinv.h"
#include "numbers.h"

#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

/*
 * num_const: a numeric literal parsed once per backend.  The callers pass
 * string literals, so the pointer identifies it (the text is compared too);
 * past the cache's size a literal is parsed on every call.
 */
Datum
num_const(const char *literal)
{
	static struct
	{
		const char *literal;
		Datum		value;
	}			cache[32];
	static int	n = 0;
	int			i;
	MemoryContext old;
	Datum		v;

	for (i = 0; i < n; i++)
		if (cache[i].literal == literal || strcmp(cache[i].literal, literal) == 0)
			return cache[i].value;
	if (n == (int) lengthof(cache))
		return num_parse(literal);
	old = MemoryContextSwitchTo(TopMemoryContext);
	v = num_parse(literal);
	MemoryContextSwitchTo(old);
	cache[n].literal = literal;
	cache[n].value = v;
	n++;
	return v;
}

Datum
num_parse(const char *text)
{
	return DirectFunctionCall3(numeric_in, CStringGetDatum(text), ObjectIdGetDatum(InvalidOid),
							   Int32GetDatum(-1));
}

char *
num_str(Datum a)
{
	return DatumGetCString(DirectFunctionCall1(numeric_out, a));
}

/* the arithmetic, exact (numeric's own functions) */
#define NUM_BINARY(name, fn) \
	Datum name(Datum a, Datum b) { return DirectFunctionCall2(fn, a, b); }
#define NUM_UNARY(name, fn) \
	Datum name(Datum a) { return DirectFunctionCall1(fn, a); }

NUM_BINARY(num_add, numeric_add)
NUM_BINARY(num_sub, numeric_sub)
NUM_BINARY(num_mul, numeric_mul)
NUM_BINARY(num_div, numeric_div)
NUM_UNARY(num_neg, numeric_uminus)
NUM_UNARY(num_abs, numeric_abs)

Datum
num_round(Datum a, int scale)
{
	return DirectFunctionCall2(numeric_round, a, Int32GetDatum(scale));
}

int
num_scale(Datum a)
{
	return DatumGetInt32(DirectFunctionCall1(numeric_min_scale, a));
}

bool
num_is_finite(Datum a)
{
	Numeric		n = DatumGetNumeric(a);

	return !numeric_is_nan(n) && !numeric_is_inf(n);
}

int
num_cmp(Datum a, Datum b)
{
	int			c = DatumGetInt32(DirectFunctionCall2(numeric_cmp, a, b));

	return (c > 0) - (c < 0);
}
