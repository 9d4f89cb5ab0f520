/*
 * exporter_text: the merge of the relay's metric sources into one
 * Prometheus text (exposition format 0.0.4), see exporter.h.
 *
 * Each source is read line by line. "# HELP" and "# TYPE" declare the
 * family the following samples belong to; "# UNIT", "# EOF" and other
 * comments are skipped. A sample's family in the output:
 *   - histogram, summary: the declared name; its _bucket, _sum and
 *     _count samples stay under it (_created is dropped: 0.0.4 has no
 *     such sample);
 *   - counter: the sample's own name (OpenMetrics declares "x" and
 *     writes "x_total"; Dovecot also writes "x_count" and "x_sum"), so
 *     every 0.0.4 family is named as its samples;
 *   - info, stateset: a gauge named as the sample ("x_info");
 *   - gauge, untyped, or no declaration: the sample's name.
 * Timestamps and exemplars are dropped (the scrape's time is the
 * sample's). Every sample gets service="<source>" as its first label.
 *
 * Untrusted input: the sources' text. Names and labels are checked
 * character by character, values must be numbers, and each limit of
 * exporter.h drops what is over it rather than growing.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "exporter.h"
#include "xmalloc.h"

#define NAME_MAX_LEN 200 /* a metric or label name */

struct family {
	char *name;
	enum exporter_type type;
	char *help; /* NULL until a source gives one */
	struct buf samples;
};

struct exporter_merge {
	struct family *f;
	size_t n, cap;
	size_t total; /* bytes in every family */
	uint64_t dropped;
};

/* the declared family while one source is read */
enum decl_type {
	D_NONE,
	D_COUNTER,
	D_GAUGE,
	D_HISTOGRAM,
	D_SUMMARY,
	D_INFO,
	D_STATESET,
	D_GAUGEHISTOGRAM,
	D_UNTYPED,
};

struct decl {
	char name[NAME_MAX_LEN + 1];
	enum decl_type type;
	char help_name[NAME_MAX_LEN + 1];
	char help[1024];
};

struct exporter_merge *
exporter_merge_new(void)
{
	return xcalloc(1, sizeof(struct exporter_merge));
}

void
exporter_merge_free(struct exporter_merge **mp)
{
	struct exporter_merge *m = *mp;
	size_t i;

	if (m == NULL)
		return;
	for (i = 0; i < m->n; i++) {
		free(m->f[i].name);
		free(m->f[i].help);
		buf_deinit(&m->f[i].samples);
	}
	free(m->f);
	free(m);
	*mp = NULL;
}

uint64_t
exporter_merge_dropped(const struct exporter_merge *m)
{
	return m->dropped;
}

/* name_len: the length of a metric (colon = 1) or label name at p */
static size_t
name_len(const char *p, const char *end, int colon)
{
	size_t n = 0;

	for (; p + n < end; n++) {
		char c = p[n];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      c == '_' || (colon && c == ':') ||
		      (n > 0 && c >= '0' && c <= '9')))
			break;
	}
	return n <= NAME_MAX_LEN ? n : 0;
}

/* copy_name: the name of n bytes at p into out (NAME_MAX_LEN + 1) */
static void
copy_name(char *out, const char *p, size_t n)
{
	memcpy(out, p, n);
	out[n] = '\0';
}

/* decl_type_of: the word of a TYPE line */
static enum decl_type
decl_type_of(const char *p, size_t n)
{
	static const struct {
		const char *w;
		enum decl_type t;
	} words[] = {
		{ "counter", D_COUNTER },
		{ "gauge", D_GAUGE },
		{ "histogram", D_HISTOGRAM },
		{ "summary", D_SUMMARY },
		{ "info", D_INFO },
		{ "stateset", D_STATESET },
		{ "gaugehistogram", D_GAUGEHISTOGRAM },
	};
	size_t i;

	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strlen(words[i].w) == n && memcmp(words[i].w, p, n) == 0)
			return words[i].t;
	return D_UNTYPED;
}

/* comment: a "#" line: HELP and TYPE change d; 0, or -1 if malformed */
static int
comment(struct decl *d, const char *p, const char *end)
{
	int help = end - p > 7 && memcmp(p, "# HELP ", 7) == 0;
	int type = end - p > 7 && memcmp(p, "# TYPE ", 7) == 0;
	size_t n;

	if (!help && !type)
		return 0; /* # EOF, # UNIT, free text */
	p += 7;
	n = name_len(p, end, 1);
	if (n == 0 || (p + n < end && p[n] != ' '))
		return -1;
	if (type) {
		copy_name(d->name, p, n);
		d->type = p + n < end ? decl_type_of(p + n + 1,
						     (size_t)(end - p - n - 1))
				      : D_UNTYPED;
		return 0;
	}
	copy_name(d->help_name, p, n);
	n = p + n < end ? (size_t)(end - p - n - 1) : 0;
	if (n >= sizeof(d->help))
		n = sizeof(d->help) - 1;
	memcpy(d->help, end - n, n);
	d->help[n] = '\0';
	return 0;
}

/* has_suffix: name is base followed by suffix */
static int
has_suffix(const char *name, const char *base, const char *suffix)
{
	size_t b = strlen(base);

	return strncmp(name, base, b) == 0 && strcmp(name + b, suffix) == 0;
}

/* resolve: the output family of sample name under d: 1 with name_r and
 * type_r, 0 to drop the sample silently (_created) */
static int
resolve(const struct decl *d, const char *name, const char **name_r,
	enum exporter_type *type_r)
{
	int ours = d->type != D_NONE &&
		   strncmp(name, d->name, strlen(d->name)) == 0;

	*name_r = name;
	*type_r = EXPORTER_UNTYPED;
	if (!ours)
		return 1;
	if (has_suffix(name, d->name, "_created"))
		return 0;
	switch (d->type) {
	case D_HISTOGRAM:
	case D_SUMMARY:
		if (has_suffix(name, d->name, "_bucket") ||
		    has_suffix(name, d->name, "_sum") ||
		    has_suffix(name, d->name, "_count") ||
		    strcmp(name, d->name) == 0) {
			*name_r = d->name;
			*type_r = d->type == D_HISTOGRAM ? EXPORTER_HISTOGRAM
							 : EXPORTER_SUMMARY;
		}
		return 1;
	case D_COUNTER:
		*type_r = EXPORTER_COUNTER;
		return 1;
	case D_GAUGE:
	case D_INFO:
	case D_STATESET:
		*type_r = EXPORTER_GAUGE;
		return 1;
	default:
		return 1;
	}
}

/* help_for: the HELP text that goes with output family name, or NULL */
static const char *
help_for(const struct decl *d, const char *name)
{
	if (d->help_name[0] == '\0')
		return NULL;
	if (strcmp(d->help_name, name) == 0 ||
	    (strcmp(d->help_name, d->name) == 0 &&
	     strncmp(name, d->name, strlen(d->name)) == 0))
		return d->help;
	return NULL;
}

/* labels: copy the label set at *pp ("{...}", already past the name)
 * into out after service="<service>", renaming a "service" label of the
 * source to exported_service; 0, or -1 if malformed */
static int
labels(const char **pp, const char *end, const char *service, struct buf *out)
{
	const char *p = *pp, *v;
	size_t n;
	int r = buf_printf(out, "{service=\"%s\"", service);

	if (p < end && *p == '{') {
		for (p++; r == 0 && p < end && *p != '}';) {
			n = name_len(p, end, 0);
			if (n == 0 || p + n + 1 >= end || p[n] != '=' ||
			    p[n + 1] != '"')
				return -1;
			r = buf_printf(out, ",%s%.*s=\"",
				       n == 7 && memcmp(p, "service", 7) == 0
					       ? "exported_"
					       : "",
				       (int)n, p);
			for (v = p + n + 2; v < end && *v != '"'; v++)
				if (*v == '\\' && ++v == end)
					return -1;
			if (v >= end || r < 0)
				return -1;
			r = buf_append(out, p + n + 2, (size_t)(v - p - n - 2));
			r |= buf_putc(out, '"');
			p = v + 1;
			if (p < end && *p == ',')
				p++;
		}
		if (p >= end)
			return -1;
		p++; /* the '}' */
	}
	r |= buf_putc(out, '}');
	*pp = p;
	return r < 0 ? -1 : 0;
}

/* value: the value token at *pp (after one or more spaces): a number,
 * +Inf, -Inf or NaN; its length, or 0 if it is none */
static size_t
value(const char **pp, const char *end)
{
	const char *p = *pp;
	char tok[64], *e;
	size_t n;

	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	if (p == *pp)
		return 0;
	for (n = 0; p + n < end && p[n] != ' ' && p[n] != '\t'; n++)
		;
	if (n == 0 || n >= sizeof(tok))
		return 0;
	memcpy(tok, p, n);
	tok[n] = '\0';
	if (strcmp(tok, "+Inf") != 0 && strcmp(tok, "-Inf") != 0 &&
	    strcmp(tok, "NaN") != 0) {
		if (strspn(tok, "0123456789.eE+-") != n)
			return 0;
		(void)strtod(tok, &e);
		if (*e != '\0')
			return 0;
	}
	*pp = p;
	return n;
}

/* family_of: the output family name with type, found or made; NULL when
 * another source gave it another type or there are too many */
static struct family *
family_of(struct exporter_merge *m, const char *name, enum exporter_type type,
	  const char *help)
{
	struct family *f;
	size_t i;

	for (i = 0; i < m->n; i++)
		if (strcmp(m->f[i].name, name) == 0)
			break;
	if (i < m->n) {
		f = &m->f[i];
		if (f->type != type)
			return NULL;
	} else {
		if (m->n >= EXPORTER_FAMILIES_MAX)
			return NULL;
		if (m->n == m->cap) {
			m->cap = m->cap ? 2 * m->cap : 64;
			m->f = xreallocarray(m->f, m->cap, sizeof(*m->f));
		}
		f = &m->f[m->n++];
		memset(f, 0, sizeof(*f));
		f->name = xstrdup(name);
		f->type = type;
		buf_init(&f->samples, EXPORTER_OUT_MAX);
	}
	if (f->help == NULL && help != NULL)
		f->help = xstrdup(help);
	return f;
}

/* sample: one sample line; 0 added or dropped on purpose, -1 malformed
 * or refused (counted by the caller), -E2BIG over the output limit */
static int
sample(struct exporter_merge *m, const struct decl *d, const char *service,
       const char *p, const char *end)
{
	char name[NAME_MAX_LEN + 1];
	struct buf line = BUF_INIT(EXPORTER_LINE_MAX);
	const char *fname, *v;
	enum exporter_type type;
	struct family *f;
	size_t n = name_len(p, end, 1);
	int r = -1;

	if (n == 0)
		goto out;
	copy_name(name, p, n);
	p += n;
	if (resolve(d, name, &fname, &type) == 0) {
		r = 0;
		goto out;
	}
	if (buf_puts(&line, name) < 0 || labels(&p, end, service, &line) < 0)
		goto out;
	v = p;
	if ((n = value(&v, end)) == 0)
		goto out;
	if (buf_printf(&line, " %.*s\n", (int)n, v) < 0)
		goto out;
	f = family_of(m, fname, type, help_for(d, fname));
	if (f == NULL)
		goto out;
	r = -E2BIG;
	if (m->total + line.len > EXPORTER_OUT_MAX ||
	    buf_append(&f->samples, line.data, line.len) < 0)
		goto out;
	m->total += line.len;
	r = 0;
out:
	buf_deinit(&line);
	return r;
}

int
exporter_merge_add(struct exporter_merge *m, const char *service,
		   const char *text, size_t len)
{
	/* text may be NULL when len is 0: no pointer math on it */
	const char *p = text, *end = len > 0 ? text + len : text, *eol;
	struct decl d;
	int r;

	memset(&d, 0, sizeof(d));
	for (; p < end; p = eol + 1) {
		eol = memchr(p, '\n', (size_t)(end - p));
		if (eol == NULL)
			eol = end;
		r = 0;
		if ((size_t)(eol - p) > EXPORTER_LINE_MAX)
			r = -1;
		else if (eol > p && *p == '#')
			r = comment(&d, p,
				    eol > p && eol[-1] == '\r' ? eol - 1 : eol);
		else if (eol > p)
			r = sample(m, &d, service, p,
				   eol[-1] == '\r' ? eol - 1 : eol);
		if (r == -E2BIG)
			return r;
		if (r < 0)
			m->dropped++;
	}
	return 0;
}

/* type_word: the TYPE line's word in 0.0.4 */
static const char *
type_word(enum exporter_type t)
{
	static const char *const w[] = { "untyped", "counter", "gauge",
					 "histogram", "summary" };

	return w[t];
}

int
exporter_merge_render(const struct exporter_merge *m, struct buf *out)
{
	const struct family *f;
	size_t i;
	int r = 0;

	for (i = 0; r == 0 && i < m->n; i++) {
		f = &m->f[i];
		if (f->help != NULL)
			r = buf_printf(out, "# HELP %s %s\n", f->name, f->help);
		if (r == 0)
			r = buf_printf(out, "# TYPE %s %s\n", f->name,
				       type_word(f->type));
		if (r == 0)
			r = buf_append(out, f->samples.data, f->samples.len);
	}
	return r < 0 ? -E2BIG : 0;
}
