/*
 * cursor: cursor-style parsers for untrusted NUL-terminated text.
 */
#include "cursor.h"

#include <string.h>
#include <strings.h>

int
cur_lit(const char **p, const char *lit)
{
	size_t n = strlen(lit);

	if (strncmp(*p, lit, n) != 0)
		return 0;
	*p += n;
	return 1;
}

int
cur_lit_ci(const char **p, const char *lit)
{
	size_t n = strlen(lit);

	if (strncasecmp(*p, lit, n) != 0)
		return 0;
	*p += n;
	return 1;
}

int
cur_char(const char **p, char c)
{
	if (**p != c || c == '\0')
		return 0;
	(*p)++;
	return 1;
}

size_t
cur_span(const char **p, const char *accept)
{
	size_t n = strspn(*p, accept);

	*p += n;
	return n;
}

size_t
cur_skip_ws(const char **p)
{
	return cur_span(p, " \t");
}

int
cur_u64(const char **p, uint64_t max, uint64_t *r)
{
	const char *s = *p;
	uint64_t v = 0;
	unsigned d;

	if (*s < '0' || *s > '9')
		return 0;
	for (; *s >= '0' && *s <= '9'; s++) {
		d = (unsigned)(*s - '0');
		if (v > (max - d) / 10 || v * 10 + d > max)
			return -1;
		v = v * 10 + d;
	}
	*r = v;
	*p = s;
	return 1;
}

size_t
cur_until(const char **p, char stop, const char **start_r)
{
	const char *s = *p;
	const char *e = strchr(s, stop);
	size_t n = e != NULL ? (size_t)(e - s) : strlen(s);

	*start_r = s;
	*p = s + n;
	return n;
}

int
cur_eol(const char *const *p)
{
	return **p == '\0';
}
