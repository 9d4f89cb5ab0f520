/*
 * dict_proto: the dict protocol's text rules, shared by the server core
 * (dict.c), the programs and the fuzz target: splitting a command line
 * into tab-escaped fields, tab-escaping replies, and JSON strings written
 * the way upstream's Python writes them.
 *
 * Untrusted input: command lines from the peer (dict_parse_line works
 * in place, never past len, and refuses NUL bytes so a key can never be
 * cut short silently) and values from disk (dict_json_string checks
 * UTF-8).
 */
#include <errno.h>
#include <string.h>

#include "dict.h"

/* unescape: Dovecot's tab-unescaping of s in place; -EINVAL for an
 * escaped NUL or a dangling escape */
static int
unescape(char *s)
{
	char *r = strchr(s, '\001'), *w;

	if (r == NULL)
		return 0;
	for (w = r; *r != '\0'; r++) {
		if (*r != '\001') {
			*w++ = *r;
			continue;
		}
		switch (*++r) {
		case '1':
			*w++ = '\001';
			break;
		case 't':
			*w++ = '\t';
			break;
		case 'r':
			*w++ = '\r';
			break;
		case 'n':
			*w++ = '\n';
			break;
		case '\0':
		case '0':
			return -EINVAL;
		default:
			*w++ = *r; /* unknown escapes keep the character */
			break;
		}
	}
	*w = '\0';
	return 0;
}

int
dict_parse_line(char *line, size_t len, struct dict_line *out)
{
	char *p, *tab;

	memset(out, 0, sizeof(*out));
	if (len == 0 || memchr(line, '\0', len) != NULL)
		return -EINVAL;
	out->cmd = line[0];
	p = line + 1;
	if (*p == '\0')
		return 0;
	for (;;) {
		if (out->nargs == DICT_ARGS_MAX)
			return -EINVAL;
		out->args[out->nargs++] = p;
		tab = strchr(p, '\t');
		if (tab == NULL)
			break;
		*tab = '\0';
		p = tab + 1;
	}
	for (size_t i = 0; i < out->nargs; i++) {
		if (unescape(out->args[i]) < 0)
			return -EINVAL;
	}
	return 0;
}

int
dict_tabescape(struct buf *b, const char *s)
{
	char esc[2] = { '\001', 0 };
	size_t n;
	int r;

	for (;;) {
		n = strcspn(s, "\001\t\r\n");
		if ((r = buf_append(b, s, n)) < 0 || s[n] == '\0')
			return r;
		s += n;
		esc[1] = *s == '\001' ? '1'
			 : *s == '\t' ? 't'
			 : *s == '\r' ? 'r'
				      : 'n';
		if ((r = buf_append(b, esc, 2)) < 0)
			return r;
		s++;
	}
}

/* utf8_next: decode one UTF-8 sequence at *p (advanced); -1 if bad */
static long
utf8_next(const unsigned char **p)
{
	const unsigned char *s = *p;
	long cp;
	int n, i;

	if (s[0] < 0x80) {
		*p = s + 1;
		return s[0];
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 1, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 2, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 3, cp = s[0] & 0x07;
	else
		return -1;
	for (i = 1; i <= n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return -1;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return -1;
	*p = s + n + 1;
	return cp;
}

/* json_plain: bytes that go into a JSON string as they are */
static size_t
json_plain(const unsigned char *p)
{
	const unsigned char *s = p;

	while (*s >= 0x20 && *s < 0x7f && *s != '"' && *s != '\\')
		s++;
	return (size_t)(s - p);
}

/* json_escape: append the escape of code point cp */
static int
json_escape(struct buf *b, long cp)
{
	switch (cp) {
	case '"':
		return buf_puts(b, "\\\"");
	case '\\':
		return buf_puts(b, "\\\\");
	case '\n':
		return buf_puts(b, "\\n");
	case '\r':
		return buf_puts(b, "\\r");
	case '\t':
		return buf_puts(b, "\\t");
	case '\b':
		return buf_puts(b, "\\b");
	case '\f':
		return buf_puts(b, "\\f");
	default:
		break;
	}
	if (cp < 0x10000)
		return buf_printf(b, "\\u%04lx", cp);
	return buf_printf(b, "\\u%04lx\\u%04lx",
			  0xd800 + ((cp - 0x10000) >> 10),
			  0xdc00 + ((cp - 0x10000) & 0x3ff));
}

int
dict_json_string(struct buf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n;
	long cp;
	int r = buf_putc(b, '"');

	while (r == 0 && *p != '\0') {
		n = json_plain(p);
		if (n > 0) {
			r = buf_append(b, p, n);
			p += n;
			continue;
		}
		cp = utf8_next(&p);
		if (cp < 0)
			return -EINVAL;
		r = json_escape(b, cp);
	}
	return r < 0 ? r : buf_putc(b, '"');
}
