/*
 * ini: chatmail.ini's INI dialect, read like Python iniconfig (ini.h).
 *
 * ini_line() is a cursor parser that classifies one physical line
 * without allocating; ini_parse() runs it over a whole text and applies
 * the file-level rules (sections, continuations, duplicates) into a
 * table of entries. The text is untrusted: every line, value and the
 * number of entries is bounded, and nothing is read past end.
 */
#include "ini.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "xmalloc.h"

/* blank: the ASCII characters Python's str.isspace() accepts */
static int
blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
	       c == '\f' || (c >= '\x1c' && c <= '\x1f');
}

/* line_break: length of the line break at p (0 if none), as
 * str.splitlines() sees them */
static size_t
line_break(const char *p, const char *end)
{
	const unsigned char *u = (const unsigned char *)p;
	size_t room = (size_t)(end - p);

	switch (*p) {
	case '\r':
		return room >= 2 && p[1] == '\n' ? 2 : 1;
	case '\n':
	case '\v':
	case '\f':
	case '\x1c':
	case '\x1d':
	case '\x1e':
		return 1;
	default:
		break;
	}
	if (room >= 2 && u[0] == 0xc2 && u[1] == 0x85)
		return 2; /* U+0085 NEL */
	if (room >= 3 && u[0] == 0xe2 && u[1] == 0x80 &&
	    (u[2] == 0xa8 || u[2] == 0xa9))
		return 3; /* U+2028, U+2029 */
	return 0;
}

/* strip: shrink [*s, *s + *n) by the blanks at both ends */
static void
strip(const char **s, size_t *n)
{
	while (*n > 0 && blank(**s)) {
		(*s)++;
		(*n)--;
	}
	while (*n > 0 && blank((*s)[*n - 1]))
		(*n)--;
}

/* find: the first of the characters in set within [s, s + n), or NULL */
static const char *
find(const char *s, size_t n, const char *set)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strchr(set, s[i]) != NULL && s[i] != '\0')
			return s + i;
	return NULL;
}

/* classify_section: a line starting with '[': a header, or (without
 * the closing bracket) iniconfig's continuation */
static void
classify_section(const char *s, size_t n, struct ini_token *tok)
{
	const char *c = find(s, n, "#;");
	size_t hn = c != NULL ? (size_t)(c - s) : n;

	while (hn > 0 && blank(s[hn - 1]))
		hn--;
	if (hn >= 2 && s[hn - 1] == ']') {
		tok->kind = INI_SECTION;
		tok->name = s + 1;
		tok->name_len = hn - 2;
		return;
	}
	tok->kind = INI_CONT;
	tok->value = s;
	tok->value_len = n;
}

/* classify_pair: "key = value" or "key: value" */
static void
classify_pair(const char *s, size_t n, struct ini_token *tok)
{
	const char *eq = find(s, n, "=");
	const char *sep = eq;

	if (eq == NULL || find(s, (size_t)(eq - s), ":") != NULL)
		sep = find(s, n, ":");
	if (sep == NULL) {
		tok->kind = INI_BAD;
		tok->value = s;
		tok->value_len = n;
		tok->why = "unexpected line";
		return;
	}
	tok->kind = INI_PAIR;
	tok->name = s;
	tok->name_len = (size_t)(sep - s);
	tok->value = sep + 1;
	tok->value_len = n - tok->name_len - 1;
	strip(&tok->name, &tok->name_len);
	strip(&tok->value, &tok->value_len);
}

/* ini_line: classify one physical line and move past it */
int
ini_line(const char **p, const char *end, struct ini_token *tok)
{
	const char *s = *p, *e = *p, *t;
	size_t n, lb = 0;

	if (s >= end)
		return 0;
	while (e < end && (lb = line_break(e, end)) == 0)
		e++;
	*p = e + lb;
	n = (size_t)(e - s);
	memset(tok, 0, sizeof(*tok));
	if (n > INI_LINE_MAX) {
		tok->kind = INI_BAD;
		tok->why = "line too long";
		return 1;
	}
	t = s;
	while (t < e && blank(*t))
		t++;
	if (t == e || *t == '#' || *t == ';') {
		tok->kind = INI_BLANK;
		return 1;
	}
	while (n > 0 && blank(s[n - 1]))
		n--;
	if (*s == '[') {
		classify_section(s, n, tok);
		if (tok->kind == INI_CONT)
			strip(&tok->value, &tok->value_len);
	} else if (!blank(*s)) {
		classify_pair(s, n, tok);
	} else {
		tok->kind = INI_CONT;
		tok->value = s;
		tok->value_len = n;
		strip(&tok->value, &tok->value_len);
	}
	return 1;
}

/* parse state shared by the helpers of ini_parse */
struct parse {
	struct ini *ini;
	const char *section; /* current section name, owned by ini */
	struct buf pending;  /* the value still open for continuations */
	size_t pending_at;   /* its entry index + 1, 0 = none */
	unsigned line;
	struct buf *err;
};

/* fail: record "line N: why" (and a capped, escaped quote of the text) */
static int
fail(struct parse *ps, const char *why, const char *text, size_t n)
{
	char raw[81], quoted[400];
	size_t k = n < 80 ? n : 80;

	if (ps->err == NULL)
		return -EINVAL;
	if (text == NULL) {
		(void)buf_printf(ps->err, "line %u: %s\n", ps->line, why);
		return -EINVAL;
	}
	/* the text is a slice, not a string: terminate a copy */
	memcpy(raw, text, k);
	raw[k] = '\0';
	(void)log_escape(quoted, sizeof(quoted), raw, k);
	(void)buf_printf(ps->err, "line %u: %s '%s%s'\n", ps->line, why, quoted,
			 n > k ? "..." : "");
	return -EINVAL;
}

/* add: append an entry (key NULL for a section header) */
static int
add(struct parse *ps, const char *key, size_t klen, const char *val,
    size_t vlen)
{
	struct ini *ini = ps->ini;
	struct ini_entry *en;

	if (ini->n >= INI_ENTRIES_MAX)
		return fail(ps, "too many entries", NULL, 0);
	if (ini->n == ini->cap) {
		ini->cap = ini->cap ? ini->cap * 2 : 16;
		ini->entries = xreallocarray(ini->entries, ini->cap,
					     sizeof(*ini->entries));
	}
	en = &ini->entries[ini->n++];
	en->line = ps->line;
	if (key == NULL) {
		en->key = NULL;
		en->value = xstrndup(val, vlen); /* the section name */
		en->section = en->value;
		ps->section = en->section;
	} else {
		en->section = ps->section;
		en->key = xstrndup(key, klen);
		en->value = xstrndup(val, vlen);
	}
	return 0;
}

/* flush: store the accumulated continuation value into its entry */
static void
flush(struct parse *ps)
{
	struct ini_entry *en;
	size_t len;

	if (ps->pending_at == 0)
		return;
	en = &ps->ini->entries[ps->pending_at - 1];
	free(en->value);
	en->value = buf_steal(&ps->pending, &len);
	ps->pending_at = 0;
}

/* on_section: a header; the name must be new and non-empty */
static int
on_section(struct parse *ps, const struct ini_token *tok)
{
	size_t i;

	flush(ps);
	if (tok->name_len == 0)
		return fail(ps, "empty section name", NULL, 0);
	for (i = 0; i < ps->ini->n; i++) {
		const struct ini_entry *en = &ps->ini->entries[i];

		if (en->key == NULL && strlen(en->section) == tok->name_len &&
		    memcmp(en->section, tok->name, tok->name_len) == 0)
			return fail(ps, "duplicate section", tok->name,
				    tok->name_len);
	}
	return add(ps, NULL, 0, tok->name, tok->name_len);
}

/* on_pair: a key; needs a section, must be new within it */
static int
on_pair(struct parse *ps, const struct ini_token *tok)
{
	size_t i;

	flush(ps);
	if (ps->section == NULL)
		return fail(ps, "no section header defined", NULL, 0);
	for (i = 0; i < ps->ini->n; i++) {
		const struct ini_entry *en = &ps->ini->entries[i];

		if (en->key != NULL && en->section == ps->section &&
		    strlen(en->key) == tok->name_len &&
		    memcmp(en->key, tok->name, tok->name_len) == 0)
			return fail(ps, "duplicate name", tok->name,
				    tok->name_len);
	}
	if (add(ps, tok->name, tok->name_len, tok->value, tok->value_len) < 0)
		return -EINVAL;
	buf_reset(&ps->pending);
	if (buf_append(&ps->pending, tok->value, tok->value_len) < 0)
		return fail(ps, "value too long", NULL, 0);
	ps->pending_at = ps->ini->n;
	return 0;
}

/* on_cont: continue the open value ("\n" + text, or replace if empty) */
static int
on_cont(struct parse *ps, const struct ini_token *tok)
{
	int e = 0;

	if (ps->pending_at == 0)
		return fail(ps, "unexpected value continuation", NULL, 0);
	if (ps->pending.len > 0)
		e = buf_putc(&ps->pending, '\n');
	if (e == 0)
		e = buf_append(&ps->pending, tok->value, tok->value_len);
	if (e < 0)
		return fail(ps, "value too long", NULL, 0);
	return 0;
}

/* skip_bom: step over a leading UTF-8 byte order mark */
static const char *
skip_bom(const char *text, size_t len)
{
	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
		return text + 3;
	return text;
}

/* ini_parse: the whole text into a new table of entries */
int
ini_parse(const char *text, size_t len, struct ini **ini_r, struct buf *err)
{
	struct parse ps = { 0 };
	struct ini_token tok;
	const char *p = skip_bom(text, len), *end = text + len;
	int e = 0;

	*ini_r = NULL;
	ps.ini = xcalloc(1, sizeof(*ps.ini));
	ps.err = err;
	buf_init(&ps.pending, INI_VALUE_MAX);
	if (memchr(text, '\0', len) != NULL) {
		if (err != NULL)
			(void)buf_puts(err, "NUL byte in text\n");
		e = -EINVAL;
		goto out;
	}
	while (e == 0 && ini_line(&p, end, &tok)) {
		ps.line++;
		switch (tok.kind) {
		case INI_BLANK:
			break;
		case INI_SECTION:
			e = on_section(&ps, &tok);
			break;
		case INI_PAIR:
			e = on_pair(&ps, &tok);
			break;
		case INI_CONT:
			e = on_cont(&ps, &tok);
			break;
		case INI_BAD:
			e = fail(&ps, tok.why, tok.value, tok.value_len);
			break;
		}
	}
	flush(&ps);
out:
	buf_deinit(&ps.pending);
	if (e < 0) {
		ini_free(&ps.ini);
		return e;
	}
	*ini_r = ps.ini;
	return 0;
}

/* ini_free: free every entry, then the table */
void
ini_free(struct ini **ini)
{
	size_t i;

	if (ini == NULL || *ini == NULL)
		return;
	for (i = 0; i < (*ini)->n; i++) {
		free((*ini)->entries[i].key);
		free((*ini)->entries[i].value);
	}
	free((*ini)->entries);
	free(*ini);
	*ini = NULL;
}

/* ini_has_section: whether a header named section exists */
int
ini_has_section(const struct ini *ini, const char *section)
{
	size_t i;

	for (i = 0; i < ini->n; i++)
		if (ini->entries[i].key == NULL &&
		    strcmp(ini->entries[i].section, section) == 0)
			return 1;
	return 0;
}

/* ini_get: the value of key in section */
int
ini_get(const struct ini *ini, const char *section, const char *key,
	const char **value_r)
{
	size_t i;

	for (i = 0; i < ini->n; i++) {
		const struct ini_entry *en = &ini->entries[i];

		if (en->key != NULL && strcmp(en->key, key) == 0 &&
		    strcmp(en->section, section) == 0) {
			*value_r = en->value;
			return 1;
		}
	}
	return 0;
}
