/*
 * yamljson: YAML <-> cJSON for kubeconfig files, manifests read by
 * `render -f` and the manifests render prints.
 *
 * Parsing walks libyaml's event stream with an explicit depth bound;
 * anchors are remembered and aliases copied, with the total number of
 * nodes capped so a "billion laughs" document cannot exhaust memory.
 * Emitting writes block style: mappings and sequences one entry a line,
 * strings plain when that reads back as the same string, block literals
 * for multi-line text, double quotes (JSON escapes) otherwise.
 *
 * Untrusted input: the YAML text (from files the user names).
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <yaml.h>

#include "num.h"
#include "xmalloc.h"
#include "yamljson.h"

struct anchor {
	char *name;
	cJSON *node; /* owned by the document tree or by shadowed */
};

struct yparse {
	yaml_parser_t parser;
	struct buf *err;
	struct anchor *anchors;
	size_t nanchors;
	size_t nodes;
	/* values a repeated key replaced: an anchor in one stays valid for
	 * the aliases after it, until the document ends */
	cJSON *shadowed;
};

static int parse_node(struct yparse *p, yaml_event_t *ev, int depth,
		      cJSON **node_r);

/* set_err: record a problem with the parser's position */
static int
set_err(struct yparse *p, const yaml_event_t *ev, const char *what)
{
	size_t line = ev ? ev->start_mark.line : p->parser.problem_mark.line;
	size_t col = ev ? ev->start_mark.column : p->parser.problem_mark.column;

	if (p->err != NULL)
		(void)buf_printf(p->err, "yaml: line %zu column %zu: %s",
				 line + 1, col + 1, what);
	return -EINVAL;
}

/* next_event: the next libyaml event; -EINVAL on a syntax error */
static int
next_event(struct yparse *p, yaml_event_t *ev)
{
	if (!yaml_parser_parse(&p->parser, ev))
		return set_err(p, NULL,
			       p->parser.problem ? p->parser.problem
						 : "syntax error");
	return 0;
}

/* is_bool_word: kubectl's (YAML 1.1) spellings of true and false */
static int
is_bool_word(const char *s, int *val_r)
{
	static const char *const yes[] = { "y",	  "Y",	  "yes",  "Yes",
					   "YES", "true", "True", "TRUE",
					   "on",  "On",	  "ON",	  NULL };
	static const char *const no[] = { "n",	 "N",	  "no",	   "No",
					  "NO",	 "false", "False", "FALSE",
					  "off", "Off",	  "OFF",   NULL };
	size_t i;

	for (i = 0; yes[i] != NULL; i++)
		if (strcmp(s, yes[i]) == 0)
			return *val_r = 1, 1;
	for (i = 0; no[i] != NULL; i++)
		if (strcmp(s, no[i]) == 0)
			return *val_r = 0, 1;
	return 0;
}

/* looks_numeric: decimal integer or float syntax (no hex, octal, inf) */
static int
looks_numeric(const char *s)
{
	const char *q = s;
	int digits = 0, dot = 0;

	if (*q == '-' || *q == '+')
		q++;
	if (q[0] == '0' && q[1] >= '0' && q[1] <= '9')
		return 0; /* leading zero: YAML 1.1 octal, keep as text */
	for (; *q != '\0'; q++) {
		if (*q >= '0' && *q <= '9')
			digits++;
		else if (*q == '.' && !dot)
			dot = 1;
		else
			break;
	}
	if (digits == 0)
		return 0;
	if (*q == 'e' || *q == 'E') {
		q++;
		if (*q == '-' || *q == '+')
			q++;
		if (*q < '0' || *q > '9')
			return 0;
		while (*q >= '0' && *q <= '9')
			q++;
	}
	return *q == '\0';
}

/* parse_number: a numeric plain scalar (looks_numeric said so) */
static int
parse_number(const char *v, double *d_r)
{
	char mant[64];
	const char *e = strpbrk(v, "eE");
	size_t n = e ? (size_t)(e - v) : strlen(v);
	cJSON *j = cJSON_Parse(v);
	int exp = 0;

	/* a JSON number: the C library's exact conversion (cJSON uses
	 * strtod); only YAML-only forms ("+1", "1.", ".5") are built by
	 * hand below */
	if (cJSON_IsNumber(j)) {
		*d_r = j->valuedouble;
		cJSON_Delete(j);
		return isfinite(*d_r) ? 0 : -ERANGE;
	}
	cJSON_Delete(j);

	if (*v == '+') {
		v++;
		n--;
	}
	if (n >= sizeof(mant))
		return -ERANGE;
	memcpy(mant, v, n);
	mant[n] = '\0';
	if (num_parse_double(mant, -HUGE_VAL, HUGE_VAL, d_r) < 0)
		return -EINVAL;
	if (e != NULL &&
	    num_parse_int(e[1] == '+' ? e + 2 : e + 1, -300, 300, &exp) < 0)
		return -ERANGE;
	*d_r *= pow(10.0, exp);
	return isfinite(*d_r) ? 0 : -ERANGE;
}

/* scalar_node: the typed cJSON value of a scalar event */
static cJSON *
scalar_node(const yaml_event_t *ev)
{
	const char *v = (const char *)ev->data.scalar.value;
	const char *tag = (const char *)ev->data.scalar.tag;
	double d;
	int b;

	if (tag != NULL && strcmp(tag, YAML_STR_TAG) == 0)
		return cJSON_CreateString(v);
	if (!ev->data.scalar.plain_implicit && tag == NULL)
		return cJSON_CreateString(v); /* quoted or block */
	if (*v == '\0' || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
	    strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0)
		return cJSON_CreateNull();
	if (is_bool_word(v, &b))
		return cJSON_CreateBool(b);
	if (looks_numeric(v) && parse_number(v, &d) == 0)
		return cJSON_CreateNumber(d);
	return cJSON_CreateString(v);
}

/* remember_anchor: record node under the event's anchor name, if any */
static void
remember_anchor(struct yparse *p, const yaml_char_t *anchor, cJSON *node)
{
	if (anchor == NULL)
		return;
	p->anchors =
		xreallocarray(p->anchors, p->nanchors + 1, sizeof(*p->anchors));
	p->anchors[p->nanchors].name = xstrdup((const char *)anchor);
	p->anchors[p->nanchors].node = node;
	p->nanchors++;
}

/* shadow: keep a replaced value until the document's anchors go */
static void
shadow(struct yparse *p, cJSON *old)
{
	if (p->shadowed == NULL)
		p->shadowed = cJSON_CreateArray();
	cJSON_AddItemToArray(p->shadowed, old);
}

/* count_nodes: nodes in a tree, to charge aliases against the cap */
static size_t
count_nodes(const cJSON *n)
{
	size_t c = 1;
	const cJSON *ch;

	cJSON_ArrayForEach(ch, n)
	{
		c += count_nodes(ch);
	}
	return c;
}

/* alias_node: a copy of the anchored node an alias names */
static int
alias_node(struct yparse *p, yaml_event_t *ev, cJSON **node_r)
{
	const char *name = (const char *)ev->data.alias.anchor;
	size_t i;

	for (i = p->nanchors; i-- > 0;) {
		if (strcmp(p->anchors[i].name, name) != 0)
			continue;
		p->nodes += count_nodes(p->anchors[i].node);
		if (p->nodes > YAMLJSON_MAX_NODES)
			return set_err(p, ev, "too many nodes (aliases)");
		*node_r = cJSON_Duplicate(p->anchors[i].node, 1);
		return 0;
	}
	return set_err(p, ev, "unknown alias");
}

/* parse_mapping: the entries up to MAPPING-END into a new object */
static int
parse_mapping(struct yparse *p, int depth, cJSON **node_r)
{
	yaml_event_t kev, vev;
	cJSON *obj = cJSON_CreateObject(), *val = NULL;
	char *key = NULL;
	int r;

	for (;;) {
		if ((r = next_event(p, &kev)) < 0)
			goto out;
		if (kev.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&kev);
			break;
		}
		if (kev.type != YAML_SCALAR_EVENT) {
			r = set_err(p, &kev, "mapping key is not a scalar");
			yaml_event_delete(&kev);
			goto out;
		}
		key = xstrdup((const char *)kev.data.scalar.value);
		yaml_event_delete(&kev);
		if ((r = next_event(p, &vev)) < 0)
			goto out;
		r = parse_node(p, &vev, depth + 1, &val);
		yaml_event_delete(&vev);
		if (r < 0)
			goto out;
		/* a repeated key: the last one wins, as in kubectl; the
		 * value it replaces may hold an anchor, so it is kept */
		if (cJSON_GetObjectItemCaseSensitive(obj, key) != NULL)
			shadow(p, cJSON_DetachItemFromObjectCaseSensitive(obj,
									  key));
		cJSON_AddItemToObject(obj, key, val);
		val = NULL; /* transferred */
		free(key);
		key = NULL;
	}
	*node_r = obj;
	obj = NULL; /* transferred */
	r = 0;
out:
	free(key);
	cJSON_Delete(obj);
	return r;
}

/* parse_sequence: the items up to SEQUENCE-END into a new array */
static int
parse_sequence(struct yparse *p, int depth, cJSON **node_r)
{
	yaml_event_t ev;
	cJSON *arr = cJSON_CreateArray(), *val = NULL;
	int r;

	for (;;) {
		if ((r = next_event(p, &ev)) < 0)
			goto out;
		if (ev.type == YAML_SEQUENCE_END_EVENT) {
			yaml_event_delete(&ev);
			break;
		}
		r = parse_node(p, &ev, depth + 1, &val);
		yaml_event_delete(&ev);
		if (r < 0)
			goto out;
		cJSON_AddItemToArray(arr, val);
		val = NULL; /* transferred */
	}
	*node_r = arr;
	arr = NULL; /* transferred */
	r = 0;
out:
	cJSON_Delete(arr);
	return r;
}

/* parse_node: the node starting with ev (already read) */
static int
parse_node(struct yparse *p, yaml_event_t *ev, int depth, cJSON **node_r)
{
	cJSON *node = NULL;
	int r;

	if (depth > YAMLJSON_MAX_DEPTH)
		return set_err(p, ev, "nesting too deep");
	if (++p->nodes > YAMLJSON_MAX_NODES)
		return set_err(p, ev, "too many nodes");
	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		node = scalar_node(ev);
		remember_anchor(p, ev->data.scalar.anchor, node);
		break;
	case YAML_ALIAS_EVENT:
		return alias_node(p, ev, node_r);
	case YAML_MAPPING_START_EVENT:
		if ((r = parse_mapping(p, depth, &node)) < 0)
			return r;
		remember_anchor(p, ev->data.mapping_start.anchor, node);
		break;
	case YAML_SEQUENCE_START_EVENT:
		if ((r = parse_sequence(p, depth, &node)) < 0)
			return r;
		remember_anchor(p, ev->data.sequence_start.anchor, node);
		break;
	default:
		return set_err(p, ev, "unexpected event");
	}
	*node_r = node;
	return 0;
}

/* parse_document: after DOCUMENT-START, the root (NULL when empty) */
static int
parse_document(struct yparse *p, cJSON **root_r)
{
	yaml_event_t ev;
	cJSON *root = NULL;
	int r;

	*root_r = NULL;
	if ((r = next_event(p, &ev)) < 0)
		return r;
	r = parse_node(p, &ev, 0, &root);
	yaml_event_delete(&ev);
	if (r < 0)
		return r;
	if ((r = next_event(p, &ev)) < 0) {
		cJSON_Delete(root);
		return r;
	}
	yaml_event_delete(&ev); /* DOCUMENT-END */
	if (cJSON_IsNull(root)) {
		cJSON_Delete(root);
		root = NULL;
	}
	*root_r = root;
	return 0;
}

/* free_anchors: forget the anchors of one document */
static void
free_anchors(struct yparse *p)
{
	size_t i;

	for (i = 0; i < p->nanchors; i++)
		free(p->anchors[i].name);
	free(p->anchors);
	p->anchors = NULL;
	p->nanchors = 0;
	cJSON_Delete(p->shadowed);
	p->shadowed = NULL;
}

int
yamljson_parse(const char *text, size_t len, cJSON **docs_r, struct buf *err)
{
	struct yparse p;
	yaml_event_t ev;
	cJSON *docs = cJSON_CreateArray(), *root;
	int r, done = 0;

	memset(&p, 0, sizeof(p));
	p.err = err;
	*docs_r = NULL;
	if (len > YAMLJSON_MAX_INPUT) {
		if (err != NULL)
			(void)buf_printf(err, "yaml: input over %u bytes",
					 YAMLJSON_MAX_INPUT);
		cJSON_Delete(docs);
		return -E2BIG;
	}
	yaml_parser_initialize(&p.parser);
	yaml_parser_set_input_string(&p.parser, (const unsigned char *)text,
				     len);
	while (!done) {
		if ((r = next_event(&p, &ev)) < 0)
			goto out;
		if (ev.type == YAML_STREAM_END_EVENT)
			done = 1;
		else if (ev.type == YAML_DOCUMENT_START_EVENT) {
			r = parse_document(&p, &root);
			free_anchors(&p);
			if (r < 0) {
				yaml_event_delete(&ev);
				goto out;
			}
			if (root != NULL)
				cJSON_AddItemToArray(docs, root);
		}
		yaml_event_delete(&ev);
	}
	*docs_r = docs;
	docs = NULL; /* transferred */
	r = 0;
out:
	free_anchors(&p);
	yaml_parser_delete(&p.parser);
	cJSON_Delete(docs);
	return r;
}

int
yamljson_parse_one(const char *text, size_t len, cJSON **doc_r, struct buf *err)
{
	cJSON *docs;
	int r, n;

	*doc_r = NULL;
	if ((r = yamljson_parse(text, len, &docs, err)) < 0)
		return r;
	n = cJSON_GetArraySize(docs);
	if (n != 1) {
		if (err != NULL)
			(void)buf_printf(err, "yaml: %d documents, want 1", n);
		cJSON_Delete(docs);
		return -EINVAL;
	}
	*doc_r = cJSON_DetachItemFromArray(docs, 0);
	cJSON_Delete(docs);
	return 0;
}

/* --- emitting --- */

/* plain_ok: s can be written unquoted and reads back as this string */
static int
plain_ok(const char *s)
{
	const char *q;
	int b;

	if (*s == '\0' || strchr("-?:,[]{}#&*!|>'\"%@` ", *s) != NULL)
		return 0;
	if (strcmp(s, "~") == 0 || strcasecmp(s, "null") == 0 ||
	    is_bool_word(s, &b) || looks_numeric(s))
		return 0;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'o' || s[1] == 'b'))
		return 0;
	if (s[0] >= '0' && s[0] <= '9' &&
	    strspn(s, "0123456789_:.") == strlen(s))
		return 0; /* YAML 1.1 sexagesimal and friends */
	for (q = s; *q != '\0'; q++) {
		if ((unsigned char)*q < 0x20 || *q == 0x7f)
			return 0;
		if (*q == ':' && (q[1] == ' ' || q[1] == '\0'))
			return 0;
		if (*q == '#' && q[-1] == ' ')
			return 0;
	}
	return q[-1] != ' ';
}

/* literal_ok: s reads back unchanged from a block literal */
static int
literal_ok(const char *s)
{
	const char *q;

	/* only line breaks: a literal of empty lines reads back as ""
	 * (clip drops trailing empty lines), so quote it */
	if (strchr(s, '\n') == NULL || s[strspn(s, "\n")] == '\0')
		return 0;
	for (q = s; *q != '\0'; q++) {
		if (((unsigned char)*q < 0x20 && *q != '\n') || *q == 0x7f)
			return 0;
		/* trailing spaces on a line survive, but keep it simple */
		if (*q == ' ' && (q[1] == '\n' || q[1] == '\0'))
			return 0;
	}
	return 1;
}

/* put_indent: n spaces */
static int
put_indent(struct buf *out, int n)
{
	int r = 0;

	while (n-- > 0 && r == 0)
		r = buf_putc(out, ' ');
	return r;
}

int
yamljson_put_quoted(struct buf *out, const char *s)
{
	/* cJSON's escaping (a reference: s is not copied) */
	cJSON *tmp = cJSON_CreateStringReference(s);
	char *txt = cJSON_PrintUnformatted(tmp);
	int r;

	if (txt == NULL)
		abort(); /* only fails out of memory */
	r = buf_puts(out, txt);

	cJSON_free(txt);
	cJSON_Delete(tmp);
	return r;
}

/* put_literal: a block literal with chomping matching the trailing
 * newlines; lines indented by ind */
static int
put_literal(struct buf *out, const char *s, int ind)
{
	size_t len = strlen(s), nl = 0;
	const char *line, *end, *first = s;
	int r;

	while (nl < len && s[len - 1 - nl] == '\n')
		nl++;
	/* the indentation is read from the first line that is not empty:
	 * when it starts with a space, say it ("2": ind is its parent's
	 * plus 2; a top-level one counts from -1, so indent it by 2) */
	while (*first == '\n')
		first++;
	if (ind < 2)
		ind = 2;
	r = buf_printf(out, "|%s%s\n", *first == ' ' ? "2" : "",
		       nl == 0 ? "-" : (nl == 1 ? "" : "+"));
	for (line = s; r == 0 && *line != '\0'; line = end + 1) {
		end = strchr(line, '\n');
		if (end == NULL)
			end = line + strlen(line);
		if (end > line)
			r = put_indent(out, ind);
		if (r == 0)
			r = buf_append(out, line, (size_t)(end - line));
		if (r == 0)
			r = buf_putc(out, '\n');
		if (*end == '\0')
			break;
	}
	return r;
}

/* put_scalar: a scalar value (after "key: " or "- "), newline included */
static int
put_scalar(struct buf *out, const cJSON *v, int ind)
{
	double d;

	if (cJSON_IsString(v)) {
		if (plain_ok(v->valuestring))
			return buf_printf(out, "%s\n", v->valuestring);
		if (literal_ok(v->valuestring))
			return put_literal(out, v->valuestring, ind);
		if (yamljson_put_quoted(out, v->valuestring) < 0)
			return -E2BIG;
		return buf_putc(out, '\n');
	}
	if (cJSON_IsBool(v))
		return buf_puts(out, cJSON_IsTrue(v) ? "true\n" : "false\n");
	if (cJSON_IsNumber(v)) {
		d = v->valuedouble;
		if (fabs(d) < 9007199254740992.0 && d == floor(d) &&
		    !(d == 0 && signbit(d)))
			return buf_printf(out, "%lld\n", (long long)d);
		return buf_printf(out, "%.17g\n", d);
	}
	if (cJSON_IsArray(v))
		return buf_puts(out, "[]\n");
	if (cJSON_IsObject(v))
		return buf_puts(out, "{}\n");
	return buf_puts(out, "null\n");
}

static int emit_node(const cJSON *v, struct buf *out, int ind,
		     int inline_first);

/* is_block: a non-empty mapping or sequence */
static int
is_block(const cJSON *v)
{
	return (cJSON_IsObject(v) || cJSON_IsArray(v)) && v->child != NULL;
}

/* emit_key: a mapping key, quoted when plain would change it */
static int
emit_key(struct buf *out, const char *k)
{
	if (plain_ok(k))
		return buf_puts(out, k);
	return yamljson_put_quoted(out, k);
}

/* emit_entry: one "key: value" of a mapping (indentation written) */
static int
emit_entry(const cJSON *ch, struct buf *out, int ind)
{
	int r = emit_key(out, ch->string);

	if (r == 0)
		r = buf_puts(out, is_block(ch) ? ":\n" : ": ");
	if (r == 0)
		r = emit_node(ch, out, ind + (cJSON_IsArray(ch) ? 0 : 2), 0);
	return r;
}

/* emit_item: one "- value" of a sequence (indentation written) */
static int
emit_item(const cJSON *ch, struct buf *out, int ind)
{
	int r = buf_puts(out, "- ");

	if (r < 0)
		return r;
	if (cJSON_IsObject(ch) && ch->child != NULL)
		return emit_node(ch, out, ind + 2, 1); /* "- key: v" */
	if (is_block(ch)) {
		r = buf_putc(out, '\n');
		return r < 0 ? r : emit_node(ch, out, ind + 2, 0);
	}
	return put_scalar(out, ch, ind + 2);
}

/* emit_node: a mapping or sequence body at indentation ind (the first
 * line's indentation already written when inline_first), or a scalar */
static int
emit_node(const cJSON *v, struct buf *out, int ind, int inline_first)
{
	const cJSON *ch;
	int r = 0, first = 1;

	if (!is_block(v))
		return put_scalar(out, v, ind);
	cJSON_ArrayForEach(ch, v)
	{
		if (r == 0 && !(first && inline_first))
			r = put_indent(out, ind);
		first = 0;
		if (r == 0)
			r = cJSON_IsObject(v) ? emit_entry(ch, out, ind)
					      : emit_item(ch, out, ind);
	}
	return r;
}

int
yamljson_emit(const cJSON *obj, struct buf *out)
{
	return emit_node(obj, out, 0, 0);
}
