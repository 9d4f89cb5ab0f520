/*
 * metadata_tokens: device tokens in <mailboxes_dir>/<addr>/metadata.json
 * (upstream's Metadata class on a FileDict), byte-compatible with it:
 *
 *   {"devicetoken": {"<token>": <unix ts of the last SETMETADATA>, ...}}
 *
 * written as Python's json.dump writes it (", " and ": " separators,
 * non-ASCII as \uXXXX). The legacy form, a list of tokens, is migrated
 * on the next write with every token stamped "now". Tokens expire 90
 * days after they were last set, or when stamped more than a minute in
 * the future, and are pruned whenever the file is read or modified.
 * Other keys in the file are kept as they are.
 *
 * Concurrency as upstream: readers read without a lock; writers take
 * metadata.json.lock (flock, as Python's filelock), read, change, write
 * a temporary file and rename it over metadata.json.
 *
 * Untrusted input: the file (size-capped, parsed by cJSON, anything that
 * is not an object counts as empty, as upstream does) and the tokens
 * (opaque, never logged).
 */
#include "metadata.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs.h"
#include "log.h"
#include "xmalloc.h"

#define KEY "devicetoken"
#define LOCK_TIMEOUT_MS 5000
#define JSON_DEPTH_MAX 64

int
tokens_valid_ts(int64_t ts, int64_t now)
{
	return ts > now - META_TOKEN_TTL && ts < now + 60;
}

/* valid_entry: a token's value is a timestamp tokens_valid_ts accepts;
 * a number outside int64_t's range (or NaN) is none (its cast would be
 * undefined; upstream's float comparison rejects it too) */
static int
valid_entry(const cJSON *c, int64_t now)
{
	double d;

	if (!cJSON_IsNumber(c))
		return 0;
	d = c->valuedouble;
	if (!(d > -9.2e18 && d < 9.2e18))
		return 0;
	return tokens_valid_ts((int64_t)d, now);
}

/* print_number: integers as integers, others as Python's repr would */
static int
print_number(double d, struct buf *out)
{
	char tmp[64];

	if (!isfinite(d))
		return -EINVAL;
	if (d == floor(d) && fabs(d) < 9007199254740992.0)
		return buf_printf(out, "%lld", (long long)d);
	for (int prec = 15; prec <= 17; prec++) {
		(void)snprintf(tmp, sizeof(tmp), "%.*g", prec, d);
		if (strtod(tmp, NULL) == d)
			break;
	}
	return buf_puts(out, tmp);
}

/* print_value: one JSON value, depth-limited */
static int
print_value(const cJSON *v, int compact, int depth, struct buf *out)
{
	const char *sep = compact ? "," : ", ", *colon = compact ? ":" : ": ";
	const cJSON *c;
	int r = 0;

	if (depth > JSON_DEPTH_MAX)
		return -EINVAL;
	if (cJSON_IsString(v))
		return dict_json_string(out, v->valuestring);
	if (cJSON_IsNumber(v))
		return print_number(v->valuedouble, out);
	if (cJSON_IsTrue(v))
		return buf_puts(out, "true");
	if (cJSON_IsFalse(v))
		return buf_puts(out, "false");
	if (cJSON_IsNull(v))
		return buf_puts(out, "null");
	if (!cJSON_IsArray(v) && !cJSON_IsObject(v))
		return -EINVAL;
	r = buf_putc(out, cJSON_IsArray(v) ? '[' : '{');
	for (c = v->child; c != NULL && r == 0; c = c->next) {
		if (c != v->child)
			r = buf_puts(out, sep);
		if (r == 0 && cJSON_IsObject(v)) {
			r = dict_json_string(out, c->string);
			if (r == 0)
				r = buf_puts(out, colon);
		}
		if (r == 0)
			r = print_value(c, compact, depth + 1, out);
	}
	return r < 0 ? r : buf_putc(out, cJSON_IsArray(v) ? ']' : '}');
}

int
json_py_print(const cJSON *v, int compact, struct buf *out)
{
	return print_value(v, compact, 0, out);
}

cJSON *
tokens_parse(const char *text, const char *path)
{
	cJSON *doc = cJSON_Parse(text);

	if (cJSON_IsObject(doc))
		return doc;
	cJSON_Delete(doc);
	log_warn("corrupt serialization state at: '%s'", path);
	return NULL;
}

/* read_doc: the file as an object; missing or broken: an empty one */
static cJSON *
read_doc(const char *path)
{
	struct buf b = BUF_INIT(META_FILE_MAX);
	cJSON *doc = NULL;
	int r = fs_read_file(path, &b);

	if (r == 0)
		doc = tokens_parse(buf_cstr(&b), path);
	else if (r != -ENOENT)
		log_warn("corrupt serialization state at: '%s'", path);
	buf_deinit(&b);
	return doc != NULL ? doc : cJSON_CreateObject();
}

/* normalize: the devicetoken object of doc, the legacy list migrated
 * (stamped now) and expired or malformed entries pruned; NULL if doc's
 * devicetoken is neither (it is then left alone) */
static cJSON *
normalize(cJSON *doc, int64_t now)
{
	cJSON *t = cJSON_GetObjectItemCaseSensitive(doc, KEY), *obj, *c, *next;

	if (t == NULL) {
		t = cJSON_AddObjectToObject(doc, KEY);
	} else if (cJSON_IsArray(t)) {
		obj = cJSON_CreateObject();
		cJSON_ArrayForEach(c, t)
		{
			if (cJSON_IsString(c))
				cJSON_AddNumberToObject(obj, c->valuestring,
							(double)now);
		}
		cJSON_ReplaceItemInObjectCaseSensitive(doc, KEY, obj);
		t = obj;
	} else if (!cJSON_IsObject(t)) {
		return NULL;
	}
	for (c = t->child; c != NULL; c = next) {
		next = c->next;
		if (!valid_entry(c, now))
			cJSON_Delete(cJSON_DetachItemViaPointer(t, c));
	}
	return t;
}

/* user_path: <userdir>/<name> */
static int
user_path(const char *userdir, const char *name, char *out, size_t size)
{
	if ((size_t)snprintf(out, size, "%s/%s", userdir, name) >= size)
		return -ENAMETOOLONG;
	return 0;
}

enum op { OP_PRUNE, OP_ADD, OP_REMOVE };

/* modify: upstream's FileDict.modify() around _modify_tokens() */
static int
modify(const char *userdir, enum op op, const char *token, int64_t now)
{
	char path[4096], lock[4096];
	struct buf out = BUF_INIT(META_FILE_MAX);
	cJSON *doc = NULL, *t, *old;
	int fd = -1, r;

	if ((r = user_path(userdir, "metadata.json", path, sizeof(path))) < 0 ||
	    (r = user_path(userdir, "metadata.json.lock", lock, sizeof(lock))) <
		    0)
		return r;
	if (op == OP_ADD && (r = fs_mkdirs(userdir, 0700)) < 0)
		return r;
	if ((r = fs_lock(lock, LOCK_TIMEOUT_MS, &fd)) < 0)
		goto out;
	doc = read_doc(path);
	t = normalize(doc, now);
	if (t == NULL) {
		r = -EINVAL;
		goto out;
	}
	old = token != NULL ? cJSON_GetObjectItemCaseSensitive(t, token) : NULL;
	if (op == OP_ADD && old != NULL)
		cJSON_SetNumberValue(old, (double)now);
	else if (op == OP_ADD)
		cJSON_AddNumberToObject(t, token, (double)now);
	else if (op == OP_REMOVE && old != NULL)
		cJSON_Delete(cJSON_DetachItemViaPointer(t, old));
	r = json_py_print(doc, 0, &out);
	if (r == 0)
		r = fs_write_atomic(path, out.data, out.len, 0600, 0);
out:
	if (r < 0)
		log_error("cannot update %s: %s", path, strerror(-r));
	if (fd >= 0)
		(void)close(fd);
	cJSON_Delete(doc);
	buf_deinit(&out);
	return r;
}

int
tokens_add(const char *userdir, const char *token, int64_t now)
{
	return modify(userdir, OP_ADD, token, now);
}

int
tokens_remove(const char *userdir, const char *token, int64_t now)
{
	struct stat st;

	/* a mailbox removed meanwhile is not brought back for this */
	if (stat(userdir, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	return modify(userdir, OP_REMOVE, token, now);
}

int
tokens_list(const char *userdir, int64_t now, char ***list_r)
{
	char path[4096];
	cJSON *doc, *t, *c, *obj;
	int n = 0, total = 0, r, legacy;

	*list_r = NULL;
	if ((r = user_path(userdir, "metadata.json", path, sizeof(path))) < 0)
		return r;
	doc = read_doc(path);
	t = cJSON_GetObjectItemCaseSensitive(doc, KEY);
	legacy = cJSON_IsArray(t);
	obj = cJSON_IsObject(t) ? t : NULL;
	cJSON_ArrayForEach(c, obj)
	{
		total++;
		if (valid_entry(c, now))
			n++;
	}
	/* expired tokens (or the legacy form) are rewritten on disk */
	if (legacy || n < total) {
		(void)modify(userdir, OP_PRUNE, NULL, now);
		cJSON_Delete(doc);
		doc = read_doc(path);
		t = normalize(doc, now);
	} else if (!cJSON_IsObject(t)) {
		t = NULL;
	}
	*list_r = xcalloc((size_t)cJSON_GetArraySize(t) + 1, sizeof(char *));
	n = 0;
	cJSON_ArrayForEach(c, t)
	{
		if (valid_entry(c, now))
			(*list_r)[n++] = xstrdup(c->string);
	}
	cJSON_Delete(doc);
	return n;
}

int
tokens_get(const char *userdir, int64_t now, struct buf *out)
{
	char **list;
	int n = tokens_list(userdir, now, &list), r = 0;

	for (int i = 0; i < n; i++) {
		if (r == 0 && i > 0)
			r = buf_putc(out, ' ');
		if (r == 0)
			r = buf_puts(out, list[i]);
		free(list[i]);
	}
	free(list);
	return n < 0 ? n : r;
}
