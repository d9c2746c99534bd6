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

Datum
num_add(Datum a, Datum b)
{
	return DirectFunctionCall2(numeric_add, a, b);
}

Datum
num_sub(Datum a, Datum b)
{
	return DirectFunctionCall2(numeric_sub, a, b);
}

Datum
num_mul(Datum a, Datum b)
{
	return DirectFunctionCall2(numeric_mul, a, b);
}

Datum
num_div(Datum a, Datum b)
{
	return DirectFunctionCall2(numeric_div, a, b);
}

Datum
num_neg(Datum a)
{
	return DirectFunctionCall1(numeric_uminus, a);
}

Datum
num_abs(Datum a)
{
	return DirectFunctionCall1(numeric_abs, a);
}

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
