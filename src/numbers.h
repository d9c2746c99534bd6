/*-------------------------------------------------------------------------
 * numbers.h
 *	  numeric arithmetic on Datums, exactly, for C code (numbers.c).
 *-------------------------------------------------------------------------
 */
#ifndef EASEINV_NUMBERS_H
#define EASEINV_NUMBERS_H

#include "postgres.h"
#include "compat.h"

EASEINV_HIDDEN_BEGIN

/* a numeric literal, parsed once per backend and kept ("0", "100"); pass string literals */
extern Datum num_const(const char *literal);

/* a numeric parsed from text in the current memory context (22P02 when it is not one) */
extern Datum num_parse(const char *text);

/* a numeric as text, for messages */
extern char *num_str(Datum a);

extern Datum num_add(Datum a, Datum b);
extern Datum num_sub(Datum a, Datum b);
extern Datum num_mul(Datum a, Datum b);
extern Datum num_div(Datum a, Datum b);
extern Datum num_neg(Datum a);
extern Datum num_abs(Datum a);
/* a rounded to scale decimals, half away from zero */
extern Datum num_round(Datum a, int scale);
/* significant decimal places of a finite numeric (1.500 has 1) */
extern int	num_scale(Datum a);
extern bool num_is_finite(Datum a);

/* -1, 0 or 1, as numeric's btree order has them */
extern int	num_cmp(Datum a, Datum b);

#define num_eq(a, b)	(num_cmp((a), (b)) == 0)
#define num_lt(a, b)	(num_cmp((a), (b)) < 0)
#define num_le(a, b)	(num_cmp((a), (b)) <= 0)
#define num_gt(a, b)	(num_cmp((a), (b)) > 0)
#define num_ge(a, b)	(num_cmp((a), (b)) >= 0)
#define NUM_ZERO		num_const("0")

EASEINV_HIDDEN_END

#endif							/* EASEINV_NUMBERS_H */
