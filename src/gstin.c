/*-------------------------------------------------------------------------
 * gstin.c
 *	  GSTIN (Goods and Services Tax Identification Number) validation.
 *
 * A GSTIN is 15 characters: a two-digit state code (01-38, 97 other
 * territory, 99 centre jurisdiction), the holder's PAN (5 letters, 4 digits,
 * 1 letter), an entity number (1-9 or A-Z), one more letter or digit
 * (normally 'Z'), and a check character: the base-36 Luhn mod N checksum of
 * the first 14 characters.
 *-------------------------------------------------------------------------
 */
#include "easeinv.h"

#include "fmgr.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(gstin_is_valid);
PG_FUNCTION_INFO_V1(gstin_error);

static const char gstin_alphabet[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

static int	gstin_value(char c);

/* gstin_value: position of c in the base-36 alphabet, or -1. */
static int
gstin_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'Z')
		return c - 'A' + 10;
	return -1;
}

/*
 * easeinv_gstin_is_valid: true when gstin[0..len) is a valid GSTIN; otherwise
 * false with *why set to a sentence saying what is wrong.
 */
static bool
gstin_check(const char *g, int len, const char **why)
{
	int			state;
	int			sum = 0;
	int			i;

	if (len != 15)
	{
		*why = "A GSTIN has exactly 15 characters.";
		return false;
	}
	for (i = 0; i < 15; i++)
		if (gstin_value(g[i]) < 0)
		{
			*why = "A GSTIN has only digits and upper-case letters.";
			return false;
		}
	if (g[0] < '0' || g[0] > '9' || g[1] < '0' || g[1] > '9')
	{
		*why = "A GSTIN starts with a two-digit state code.";
		return false;
	}
	state = (g[0] - '0') * 10 + (g[1] - '0');
	if (!((state >= 1 && state <= 38) || state == 97 || state == 99))
	{
		*why = "The state code (first two digits) is not a GST state code (01-38, 97, 99).";
		return false;
	}
	for (i = 2; i < 12; i++)
	{
		bool		letter = (i < 7 || i == 11);
		bool		ok = letter ? (g[i] >= 'A' && g[i] <= 'Z') : (g[i] >= '0' && g[i] <= '9');

		if (!ok)
		{
			*why = "Characters 3 to 12 must be a PAN: five letters, four digits, one letter.";
			return false;
		}
	}
	if (g[12] == '0')
	{
		*why = "The entity number (13th character) must be 1-9 or A-Z.";
		return false;
	}
	for (i = 0; i < 14; i++)
	{
		int			product = gstin_value(g[i]) * ((i % 2) ? 2 : 1);

		sum += product / 36 + product % 36;
	}
	if (gstin_alphabet[(36 - sum % 36) % 36] != g[14])
	{
		*why = "The check character (15th) does not match: the GSTIN is mistyped.";
		return false;
	}
	*why = NULL;
	return true;
}

/* gstin_is_valid(text) returns boolean: IMMUTABLE STRICT PARALLEL SAFE. */
Datum
gstin_is_valid(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	const char *why;

	PG_RETURN_BOOL(gstin_check(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), &why));
}

/* gstin_error(text) returns text: why the GSTIN is invalid, or NULL when valid. */
Datum
gstin_error(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	const char *why;

	if (gstin_check(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), &why))
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(why));
}
