/*
 * fm_mime: header lookup, Content-Type, multipart splitting, transfer
 * decoding and From address extraction for filtermail's classifier.
 *
 * Role: the parsing half of upstream's check_encrypted()/is_securejoin()
 * (which rely on the mailparse crate); fm_pgp.c holds the rules.
 * Untrusted input: the whole message. Every loop is bounded by the
 * slice it walks, nothing is NUL-terminated on input, and outputs are
 * cut at their buffer size.
 */
#define _GNU_SOURCE /* memmem, memrchr */
#include <errno.h>
#include <string.h>

#include "fm_mime.h"

/* lower: ASCII lowercase */
static int
lower(int c)
{
	return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

/* is_ws: whitespace inside header values and bodies */
static int
is_ws(int c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* line_end: offset just past the line starting at i (its LF included) */
static size_t
line_end(const char *p, size_t len, size_t i)
{
	const char *nl = memchr(p + i, '\n', len - i);

	return nl != NULL ? (size_t)(nl - p) + 1 : len;
}

/* is_blank_line: whether [i, end) is "\r\n", "\n" (or empty at the end) */
static int
is_blank_line(const char *p, size_t i, size_t end)
{
	size_t n = end - i;

	return (n == 1 && p[i] == '\n') ||
	       (n == 2 && p[i] == '\r' && p[i + 1] == '\n');
}

void
fm_mime_trim(const char **p, size_t *n)
{
	while (*n > 0 && is_ws((unsigned char)(*p)[0])) {
		(*p)++;
		(*n)--;
	}
	while (*n > 0 && is_ws((unsigned char)(*p)[*n - 1]))
		(*n)--;
}

void
fm_mime_split(const char *msg, size_t len, struct fm_entity *e)
{
	size_t i = 0, end;

	e->hdr = msg;
	while (i < len) {
		end = line_end(msg, len, i);
		if (is_blank_line(msg, i, end)) {
			e->hlen = i;
			e->body = msg + end;
			e->blen = len - end;
			return;
		}
		i = end;
	}
	/* no empty line: all header, no body */
	e->hlen = len;
	e->body = msg + len;
	e->blen = 0;
}

/* fm_mime_longest_field: see fm_mime.h */
size_t
fm_mime_longest_field(const struct fm_entity *e)
{
	size_t i = 0, end, start = 0, longest = 0;

	while (i < e->hlen) {
		end = line_end(e->hdr, e->hlen, i);
		/* a line not starting with SP or HT starts a new field */
		if (i > 0 && e->hdr[i] != ' ' && e->hdr[i] != '\t') {
			if (i - start > longest)
				longest = i - start;
			start = i;
		}
		i = end;
	}
	return e->hlen - start > longest ? e->hlen - start : longest;
}

/* field_name_is: whether the field at [i, end) is named name; on a match
 * *val_r is the offset just past the colon */
static int
field_name_is(const char *p, size_t i, size_t end, const char *name,
	      size_t *val_r)
{
	size_t k = 0, nlen = strlen(name);

	while (k < nlen && i + k < end &&
	       lower((unsigned char)p[i + k]) == lower((unsigned char)name[k]))
		k++;
	if (k != nlen)
		return 0;
	i += k;
	while (i < end && (p[i] == ' ' || p[i] == '\t'))
		i++;
	if (i >= end || p[i] != ':')
		return 0;
	*val_r = i + 1;
	return 1;
}

int
fm_mime_header_find(const struct fm_entity *e, const char *name, size_t n,
		    const char **val_r, size_t *vlen_r)
{
	const char *p = e->hdr;
	size_t len = e->hlen, i = 0, end, val, seen = 0;

	while (i < len) {
		end = line_end(p, len, i);
		if (p[i] != ' ' && p[i] != '\t' &&
		    field_name_is(p, i, end, name, &val) && seen++ == n) {
			/* the value runs over continuation lines */
			while (end < len && (p[end] == ' ' || p[end] == '\t'))
				end = line_end(p, len, end);
			*val_r = p + val;
			*vlen_r = end - val;
			return 1;
		}
		i = end;
	}
	return 0;
}

int
fm_mime_header_get(const struct fm_entity *e, const char *name, char *out,
		   size_t outsize)
{
	const char *v;
	size_t vlen, i, o = 0;
	int ws = 0;

	if (outsize == 0 || !fm_mime_header_find(e, name, 0, &v, &vlen))
		return 0;
	fm_mime_trim(&v, &vlen);
	/* unfold: CRLF followed by WSP becomes that WSP */
	for (i = 0; i < vlen && o + 1 < outsize; i++) {
		if (v[i] == '\r' || v[i] == '\n') {
			ws = 1;
			continue;
		}
		if (ws && v[i] != ' ' && v[i] != '\t')
			out[o++] = ' ';
		ws = 0;
		if (o + 1 < outsize)
			out[o++] = v[i];
	}
	out[o] = '\0';
	return 1;
}

/* param_value: copy a parameter value (token or quoted-string) from
 * v[*i..vlen) into out, advancing *i */
static void
param_value(const char *v, size_t vlen, size_t *i, char *out, size_t outsize)
{
	size_t o = 0;

	if (*i < vlen && v[*i] == '"') {
		for ((*i)++; *i < vlen && v[*i] != '"'; (*i)++) {
			if (v[*i] == '\\' && *i + 1 < vlen)
				(*i)++;
			if (o + 1 < outsize)
				out[o++] = v[*i];
		}
		if (*i < vlen)
			(*i)++;
	} else {
		for (;
		     *i < vlen && v[*i] != ';' && !is_ws((unsigned char)v[*i]);
		     (*i)++)
			if (o + 1 < outsize)
				out[o++] = v[*i];
	}
	out[o] = '\0';
}

/* ctype_params: find boundary= among the parameters after the type */
static void
ctype_params(const char *v, size_t vlen, size_t i, struct fm_ctype *ct)
{
	char name[32], val[FM_BOUNDARY_MAX];
	size_t n;

	while (i < vlen) {
		if (v[i] != ';') {
			i++;
			continue;
		}
		i++;
		while (i < vlen && is_ws((unsigned char)v[i]))
			i++;
		for (n = 0; i < vlen && v[i] != '=' && v[i] != ';' &&
			    !is_ws((unsigned char)v[i]);
		     i++)
			if (n + 1 < sizeof(name))
				name[n++] = (char)lower((unsigned char)v[i]);
		name[n] = '\0';
		while (i < vlen && is_ws((unsigned char)v[i]))
			i++;
		if (i >= vlen || v[i] != '=')
			continue;
		i++;
		while (i < vlen && is_ws((unsigned char)v[i]))
			i++;
		param_value(v, vlen, &i, val, sizeof(val));
		if (strcmp(name, "boundary") == 0 && ct->boundary[0] == '\0')
			memcpy(ct->boundary, val, strlen(val) + 1);
	}
}

void
fm_mime_ctype(const struct fm_entity *e, struct fm_ctype *ct)
{
	const char *v;
	size_t vlen, i = 0, o = 0;

	memset(ct, 0, sizeof(*ct));
	if (!fm_mime_header_find(e, "Content-Type", 0, &v, &vlen)) {
		memcpy(ct->mimetype, "text/plain", sizeof("text/plain"));
		return;
	}
	while (i < vlen && is_ws((unsigned char)v[i]))
		i++;
	for (; i < vlen && v[i] != ';' && !is_ws((unsigned char)v[i]); i++)
		if (o + 1 < sizeof(ct->mimetype))
			ct->mimetype[o++] = (char)lower((unsigned char)v[i]);
	ct->mimetype[o] = '\0';
	if (o == 0)
		memcpy(ct->mimetype, "text/plain", sizeof("text/plain"));
	ctype_params(v, vlen, i, ct);
	ct->multipart = strncmp(ct->mimetype, "multipart/", 10) == 0 &&
			ct->boundary[0] != '\0';
}

/* delimiter_at: whether the line at i is "--boundary" or "--boundary--"
 * (transport padding allowed); *close_r tells which */
static int
delimiter_at(const char *p, size_t len, size_t i, const char *b, size_t blen,
	     int *close_r)
{
	size_t end = line_end(p, len, i), j;

	if (end - i < 2 + blen || p[i] != '-' || p[i + 1] != '-' ||
	    memcmp(p + i + 2, b, blen) != 0)
		return 0;
	j = i + 2 + blen;
	*close_r = 0;
	if (j + 1 < end && p[j] == '-' && p[j + 1] == '-') {
		*close_r = 1;
		j += 2;
	}
	while (j < end && is_ws((unsigned char)p[j]))
		j++;
	return j == end;
}

/* next_delimiter: the start of the next delimiter line at or after i,
 * or len; linear: one memmem over "\n--boundary" (a needle that long
 * skips through base64 fast) and a check of the line at i itself */
static size_t
next_delimiter(const char *p, size_t len, size_t i, const char *b, size_t blen,
	       int *close_r)
{
	char needle[3 + FM_BOUNDARY_MAX];
	const char *hit;
	size_t j;

	if (blen + 3 > sizeof(needle))
		return len;
	if (i < len && (i == 0 || p[i - 1] == '\n') &&
	    delimiter_at(p, len, i, b, blen, close_r))
		return i;
	needle[0] = '\n';
	needle[1] = '-';
	needle[2] = '-';
	memcpy(needle + 3, b, blen);
	while (i < len) {
		hit = memmem(p + i, len - i, needle, 3 + blen);
		if (hit == NULL)
			return len;
		j = (size_t)(hit - p) + 1;
		if (delimiter_at(p, len, j, b, blen, close_r))
			return j;
		i = j;
	}
	return len;
}

size_t
fm_mime_parts(const char *body, size_t blen, const char *boundary,
	      struct fm_entity *parts, size_t max)
{
	size_t bl = strlen(boundary), i, start, end, n = 0;
	int close = 0;

	if (bl == 0)
		return 0;
	i = next_delimiter(body, blen, 0, boundary, bl, &close);
	while (i < blen && !close) {
		start = line_end(body, blen, i);
		i = next_delimiter(body, blen, start, boundary, bl, &close);
		/* the line break before a delimiter belongs to it */
		end = i;
		if (i < blen && end > start && body[end - 1] == '\n') {
			end--;
			if (end > start && body[end - 1] == '\r')
				end--;
		}
		if (n < max)
			fm_mime_split(body + start, end - start, &parts[n]);
		n++;
	}
	return n;
}
