/*
 * util: helpers shared by the operator's modules.
 *
 * The interesting one is util_project_managed: server-side apply records
 * in metadata.managedFields which fields each manager owns (fieldsV1:
 * "f:<field>", "k:<key json>" for keyed list items, "v:<value json>" for
 * set items, "i:<index>", "." for the node itself). Projecting the live
 * object onto our own Apply entry gives back what we applied as the
 * server holds it now; hashing that and comparing it with the hash of
 * what we would apply tells whether a write is needed, without keeping
 * whole objects in memory. A field someone else changed or removed
 * leaves our set, so hand edits show up as a difference.
 *
 * Untrusted input: objects from the API server (bounded by the client).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "util.h"
#include "xmalloc.h"
#include "yamljson.h"

static const char b64chars[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int
util_b64_encode(const void *p, size_t n, struct buf *out)
{
	const unsigned char *s = p;
	char q[4];
	size_t i;
	unsigned v;
	int r = 0;

	for (i = 0; i < n && r == 0; i += 3) {
		v = (unsigned)s[i] << 16;
		if (i + 1 < n)
			v |= (unsigned)s[i + 1] << 8;
		if (i + 2 < n)
			v |= s[i + 2];
		q[0] = b64chars[(v >> 18) & 63];
		q[1] = b64chars[(v >> 12) & 63];
		q[2] = i + 1 < n ? b64chars[(v >> 6) & 63] : '=';
		q[3] = i + 2 < n ? b64chars[v & 63] : '=';
		r = buf_append(out, q, 4);
	}
	return r;
}

/* b64_val: the 6-bit value of a base64 character, or -1 */
static int
b64_val(char c)
{
	const char *q = strchr(b64chars, c);

	return (c == '\0' || q == NULL) ? -1 : (int)(q - b64chars);
}

int
util_b64_decode(const char *s, size_t n, struct buf *out)
{
	unsigned v = 0;
	size_t i;
	int bits = 0, d;
	char c;

	while (n > 0 && s[n - 1] == '=')
		n--;
	for (i = 0; i < n; i++) {
		d = b64_val(s[i]);
		if (d < 0)
			return -EINVAL;
		v = (v << 6) | (unsigned)d;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			c = (char)((v >> bits) & 0xff);
			if (buf_append(out, &c, 1) < 0)
				return -E2BIG;
		}
	}
	return bits >= 6 ? -EINVAL : 0; /* one dangling character */
}

void
util_sha256_hex(const void *p, size_t n, char *hex)
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	size_t i;

	(void)SHA256(p, n, md);
	for (i = 0; i < sizeof(md); i++)
		(void)snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

/* cmp_keys: qsort order of object members by key */
static int
cmp_keys(const void *a, const void *b)
{
	const cJSON *const *x = a, *const *y = b;

	return strcmp((*x)->string, (*y)->string);
}

/* canon_number: integers exactly, others with full precision */
static int
canon_number(double d, struct buf *out)
{
	if (d == floor(d) && fabs(d) < 9007199254740992.0)
		return buf_printf(out, "%lld", (long long)d);
	return buf_printf(out, "%.17g", d);
}

/* canon_object: members sorted by key */
static int
canon_object(const cJSON *v, struct buf *out)
{
	const cJSON *ch, **kids;
	size_t n = 0, i;
	int r;

	cJSON_ArrayForEach(ch, v) n++;
	kids = xcalloc(n ? n : 1, sizeof(const cJSON *));
	n = 0;
	cJSON_ArrayForEach(ch, v) kids[n++] = ch;
	qsort(kids, n, sizeof(const cJSON *), cmp_keys);
	r = buf_putc(out, '{');
	for (i = 0; i < n && r == 0; i++) {
		if (i > 0)
			r = buf_putc(out, ',');
		if (r == 0)
			r = yamljson_put_quoted(out, kids[i]->string);
		if (r == 0)
			r = buf_putc(out, ':');
		if (r == 0)
			r = util_canonical(kids[i], out);
	}
	free(kids);
	return r == 0 ? buf_putc(out, '}') : r;
}

int
util_canonical(const cJSON *v, struct buf *out)
{
	const cJSON *ch;
	int r = 0, first = 1;

	if (cJSON_IsObject(v))
		return canon_object(v, out);
	if (cJSON_IsArray(v)) {
		r = buf_putc(out, '[');
		cJSON_ArrayForEach(ch, v)
		{
			if (r == 0 && !first)
				r = buf_putc(out, ',');
			first = 0;
			if (r == 0)
				r = util_canonical(ch, out);
		}
		return r == 0 ? buf_putc(out, ']') : r;
	}
	if (cJSON_IsString(v))
		return yamljson_put_quoted(out, v->valuestring);
	if (cJSON_IsNumber(v))
		return canon_number(v->valuedouble, out);
	if (cJSON_IsBool(v))
		return buf_puts(out, cJSON_IsTrue(v) ? "true" : "false");
	return buf_puts(out, "null");
}

void
util_hash_json(const cJSON *v, char *hex)
{
	struct buf b = BUF_INIT(64u << 20);

	if (util_canonical(v, &b) < 0)
		abort(); /* our own objects never get near 64 MiB */
	util_sha256_hex(b.data ? b.data : "", b.len, hex);
	buf_deinit(&b);
}

const cJSON *
util_get(const cJSON *v, const char *path)
{
	char key[256];
	const char *dot;
	size_t n;

	while (v != NULL && *path != '\0') {
		dot = strchr(path, '.');
		n = dot ? (size_t)(dot - path) : strlen(path);
		if (n >= sizeof(key))
			return NULL;
		memcpy(key, path, n);
		key[n] = '\0';
		v = cJSON_GetObjectItemCaseSensitive(v, key);
		path += n + (dot != NULL);
	}
	return v;
}

const char *
util_get_str(const cJSON *v, const char *path)
{
	const cJSON *n = util_get(v, path);

	return cJSON_IsString(n) ? n->valuestring : NULL;
}

double
util_get_num(const cJSON *v, const char *path, double dflt)
{
	const cJSON *n = util_get(v, path);

	return cJSON_IsNumber(n) ? n->valuedouble : dflt;
}

int64_t
util_get_int(const cJSON *v, const char *path, int64_t dflt, int64_t min,
	     int64_t max)
{
	double d = util_get_num(v, path, (double)dflt);

	/* NaN and out-of-range values would be undefined as a cast */
	if (d != d)
		return dflt;
	if (d <= (double)min)
		return min;
	if (d >= (double)max)
		return max;
	return (int64_t)d;
}

cJSON *
util_obj(cJSON *parent, const char *key)
{
	cJSON *o = cJSON_GetObjectItemCaseSensitive(parent, key);

	if (cJSON_IsObject(o))
		return o;
	if (o != NULL)
		cJSON_DeleteItemFromObjectCaseSensitive(parent, key);
	return cJSON_AddObjectToObject(parent, key);
}

const char *
util_meta_str(const cJSON *obj, const char *map, const char *key)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(obj, "metadata"), map);
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(m, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static cJSON *project(const cJSON *live, const cJSON *fields);

/* json_equal: two JSON values equal (numbers by value) */
static int
json_equal(const cJSON *a, const cJSON *b)
{
	return cJSON_Compare(a, b, 1) != 0;
}

/* item_matches: a list item selected by one fieldsV1 list key */
static int
item_matches(const cJSON *item, size_t idx, const char *key)
{
	cJSON *want;
	const cJSON *kf;
	int ok = 1;

	if (strncmp(key, "i:", 2) == 0) {
		char tmp[32];

		(void)snprintf(tmp, sizeof(tmp), "%zu", idx);
		return strcmp(key + 2, tmp) == 0;
	}
	if (strncmp(key, "k:", 2) != 0 && strncmp(key, "v:", 2) != 0)
		return 0;
	want = cJSON_Parse(key + 2);
	if (want == NULL)
		return 0;
	if (key[0] == 'v') {
		ok = json_equal(want, item);
	} else if (!cJSON_IsObject(want) || !cJSON_IsObject(item)) {
		ok = 0;
	} else {
		cJSON_ArrayForEach(kf, want)
		{
			if (!json_equal(kf, cJSON_GetObjectItemCaseSensitive(
						    item, kf->string)))
				ok = 0;
		}
	}
	cJSON_Delete(want);
	return ok;
}

/* project_list: the items of a list that fields names, in live order */
static cJSON *
project_list(const cJSON *live, const cJSON *fields)
{
	cJSON *out = cJSON_CreateArray();
	const cJSON *item, *f;
	size_t idx = 0;

	cJSON_ArrayForEach(item, live)
	{
		cJSON_ArrayForEach(f, fields)
		{
			if (item_matches(item, idx, f->string)) {
				cJSON_AddItemToArray(out, project(item, f));
				break;
			}
		}
		idx++;
	}
	return out;
}

/* has_children: fields names sub-fields (not just "." or nothing); a
 * fieldsV1 node that is not an object (never sent by an apiserver, but
 * the object is not ours) has none: the value is kept whole */
static int
has_children(const cJSON *fields)
{
	const cJSON *f;

	if (!cJSON_IsObject(fields))
		return 0;
	cJSON_ArrayForEach(f, fields)
	{
		if (strcmp(f->string, ".") != 0)
			return 1;
	}
	return 0;
}

/* project: live restricted to fields (a fieldsV1 set) */
static cJSON *
project(const cJSON *live, const cJSON *fields)
{
	cJSON *out;
	const cJSON *f, *v;

	if (!has_children(fields))
		return cJSON_Duplicate(live, 1); /* a leaf or atomic value */
	if (cJSON_IsArray(live))
		return project_list(live, fields);
	if (!cJSON_IsObject(live))
		return cJSON_Duplicate(live, 1);
	out = cJSON_CreateObject();
	cJSON_ArrayForEach(f, fields)
	{
		if (strncmp(f->string, "f:", 2) != 0)
			continue;
		v = cJSON_GetObjectItemCaseSensitive(live, f->string + 2);
		if (v != NULL)
			cJSON_AddItemToObject(out, f->string + 2,
					      project(v, f));
	}
	return out;
}

cJSON *
util_project_managed(const cJSON *live, const char *manager)
{
	const cJSON *mf = util_get(live, "metadata.managedFields"), *e;
	const char *m, *op;

	cJSON_ArrayForEach(e, mf)
	{
		m = util_get_str(e, "manager");
		op = util_get_str(e, "operation");
		if (m == NULL || op == NULL || strcmp(m, manager) != 0 ||
		    strcmp(op, "Apply") != 0 ||
		    util_get_str(e, "subresource") != NULL)
			continue;
		return project(live,
			       cJSON_GetObjectItemCaseSensitive(e, "fieldsV1"));
	}
	return NULL;
}

void
util_now_rfc3339(char *out, size_t outsize, int micro)
{
	struct timespec ts;
	struct tm tm;
	char base[32];

	(void)clock_gettime(CLOCK_REALTIME, &ts);
	(void)gmtime_r(&ts.tv_sec, &tm);
	(void)strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	if (micro)
		(void)snprintf(out, outsize, "%s.%06ldZ", base,
			       ts.tv_nsec / 1000);
	else
		(void)snprintf(out, outsize, "%sZ", base);
}
