/*
 * num: checked number parsing for untrusted text.
 */
#include "num.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <strings.h>

int
num_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *r)
{
	uint64_t v = 0;
	const char *p = s;
	unsigned d;

	if (*p == '\0')
		return -EINVAL;
	for (; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		d = (unsigned)(*p - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	if (v < min || v > max)
		return -ERANGE;
	*r = v;
	return 0;
}

int
num_parse_i64(const char *s, int64_t min, int64_t max, int64_t *r)
{
	uint64_t u;
	int neg = 0, e;
	int64_t v;

	if (*s == '-') {
		neg = 1;
		s++;
	}
	e = num_parse_u64(s, 0, neg ? (uint64_t)INT64_MAX + 1 : INT64_MAX, &u);
	if (e < 0)
		return e;
	if (neg)
		v = u == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)u;
	else
		v = (int64_t)u;
	if (v < min || v > max)
		return -ERANGE;
	*r = v;
	return 0;
}

int
num_parse_octal(const char *s, unsigned max, unsigned *r)
{
	unsigned v = 0;

	if (*s == '\0')
		return -EINVAL;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '7')
			return -EINVAL;
		v = v * 8 + (unsigned)(*s - '0');
		if (v > max)
			return -ERANGE;
	}
	*r = v;
	return 0;
}

int
num_parse_uint(const char *s, unsigned min, unsigned max, unsigned *r)
{
	uint64_t v;
	int e = num_parse_u64(s, min, max, &v);

	if (e == 0)
		*r = (unsigned)v;
	return e;
}

int
num_parse_int(const char *s, int min, int max, int *r)
{
	int64_t v;
	int e = num_parse_i64(s, min, max, &v);

	if (e == 0)
		*r = (int)v;
	return e;
}

int
num_parse_double(const char *s, double min, double max, double *r)
{
	const char *p = s;
	char *end;
	double v;

	/* strtod alone accepts spaces, hex, inf and nan: allow digits only */
	if (*p == '-' || *p == '+')
		p++;
	if (!isdigit((unsigned char)*p))
		return -EINVAL;
	for (; *p != '\0'; p++)
		if (!isdigit((unsigned char)*p) && *p != '.')
			return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (*end != '\0' || end == s)
		return -EINVAL;
	if (errno == ERANGE || !isfinite(v) || v < min || v > max)
		return -ERANGE;
	*r = v;
	return 0;
}

int
num_parse_bool(const char *s, int *r)
{
	static const char *const yes[] = { "true", "yes", "on", "1" };
	static const char *const no[] = { "false", "no", "off", "0" };
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*r = 1;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*r = 0;
			return 0;
		}
	}
	return -EINVAL;
}
