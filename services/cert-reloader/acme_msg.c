/*
 * acme_msg: the ACME server's JSON, checked field by field (see acme.h):
 * the directory, problem documents, orders, authorizations, accounts,
 * renewal information (RFC 9773), RFC 3339 times and Retry-After.
 *
 * Untrusted input: every body here comes from the server. Bodies are
 * bounded by the transport (ACME_BODY_MAX) and parsed by cJSON; a field
 * of the wrong type, a URL too long for its field or not https/http,
 * too many authorizations: each is an error with the reason, never a
 * truncated value used.
 */
/* strptime (an HTTP-date in Retry-After) */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "acme.h"
#include "num.h"

#define ERR_PREFIX "urn:ietf:params:acme:error:"

/* parse: the body as a JSON object */
static cJSON *
parse(const char *body, size_t len, const char *what, struct buf *err)
{
	cJSON *j = cJSON_ParseWithLength(body, len);

	if (j == NULL || !cJSON_IsObject(j)) {
		(void)buf_printf(err, "%s: not a JSON object", what);
		cJSON_Delete(j);
		return NULL;
	}
	return j;
}

/* str_field: member name into out; 1 copied, 0 absent, -EINVAL wrong
 * type or too long */
static int
str_field(const cJSON *o, const char *name, char *out, size_t outsize)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	if (v == NULL || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsString(v) || strlen(v->valuestring) >= outsize)
		return -EINVAL;
	(void)snprintf(out, outsize, "%s", v->valuestring);
	return 1;
}

/* is_url: http or https, no whitespace or quotes */
static int
is_url(const char *u)
{
	return (strncmp(u, "https://", 8) == 0 ||
		strncmp(u, "http://", 7) == 0) &&
	       strpbrk(u, " \t\r\n\"") == NULL;
}

/* url_field: like str_field for a URL (is_url) */
static int
url_field(const cJSON *o, const char *name, char *out, size_t outsize)
{
	int r = str_field(o, name, out, outsize);

	if (r == 1 && !is_url(out)) {
		out[0] = '\0';
		return -EINVAL;
	}
	return r;
}

/* need_url: a required URL member, with the reason when it is bad */
static int
need_url(const cJSON *o, const char *what, const char *name, char *out,
	 size_t outsize, struct buf *err)
{
	if (url_field(o, name, out, outsize) == 1)
		return 0;
	(void)buf_printf(err, "%s: %s missing or not a URL", what, name);
	return -EINVAL;
}

static enum acme_status
status_of(const cJSON *o)
{
	static const struct {
		const char *name;
		enum acme_status st;
	} tab[] = {
		{ "pending", ACME_ST_PENDING },
		{ "ready", ACME_ST_READY },
		{ "processing", ACME_ST_PROCESSING },
		{ "valid", ACME_ST_VALID },
		{ "invalid", ACME_ST_INVALID },
		{ "deactivated", ACME_ST_OTHER },
		{ "expired", ACME_ST_OTHER },
		{ "revoked", ACME_ST_OTHER },
	};
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "status");
	size_t i;

	if (!cJSON_IsString(v))
		return ACME_ST_UNKNOWN;
	for (i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
		if (strcmp(v->valuestring, tab[i].name) == 0)
			return tab[i].st;
	return ACME_ST_UNKNOWN;
}

int
acme_parse_directory(const char *body, size_t len, struct acme_directory *d,
		     struct buf *err)
{
	cJSON *j = parse(body, len, "directory", err);
	const cJSON *meta;
	int r = -EINVAL;

	memset(d, 0, sizeof(*d));
	if (j == NULL)
		return -EINVAL;
	if (need_url(j, "directory", "newNonce", d->new_nonce,
		     sizeof(d->new_nonce), err) < 0 ||
	    need_url(j, "directory", "newAccount", d->new_account,
		     sizeof(d->new_account), err) < 0 ||
	    need_url(j, "directory", "newOrder", d->new_order,
		     sizeof(d->new_order), err) < 0)
		goto out;
	if (url_field(j, "renewalInfo", d->renewal_info,
		      sizeof(d->renewal_info)) < 0) {
		(void)buf_printf(err, "directory: renewalInfo not a URL");
		goto out;
	}
	meta = cJSON_GetObjectItemCaseSensitive(j, "meta");
	if (cJSON_IsObject(meta)) {
		if (str_field(meta, "termsOfService", d->tos, sizeof(d->tos)) <
		    0) {
			(void)buf_printf(err, "directory: termsOfService bad");
			goto out;
		}
		d->eab_required = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
			meta, "externalAccountRequired"));
	}
	r = 0;
out:
	cJSON_Delete(j);
	return r;
}

/* problem_of: a problem object (type, detail) into p */
static int
problem_of(const cJSON *o, struct acme_problem *p)
{
	char type[256];

	memset(p, 0, sizeof(*p));
	if (!cJSON_IsObject(o) || str_field(o, "type", type, sizeof(type)) != 1)
		return 0;
	if (strncmp(type, ERR_PREFIX, strlen(ERR_PREFIX)) == 0)
		(void)snprintf(p->type, sizeof(p->type), "%.127s",
			       type + strlen(ERR_PREFIX));
	else
		(void)snprintf(p->type, sizeof(p->type), "%.127s", type);
	if (str_field(o, "detail", p->detail, sizeof(p->detail)) < 0) {
		const cJSON *d = cJSON_GetObjectItemCaseSensitive(o, "detail");

		if (cJSON_IsString(d))
			(void)snprintf(p->detail, sizeof(p->detail),
				       "%.500s...", d->valuestring);
	}
	return 1;
}

int
acme_parse_problem(const char *body, size_t len, struct acme_problem *p)
{
	cJSON *j = cJSON_ParseWithLength(body, len);
	int r = problem_of(j, p);

	cJSON_Delete(j);
	return r;
}

/* order_urls: authorizations, finalize and certificate of an order */
static int
order_urls(const cJSON *j, struct acme_order *o, struct buf *err)
{
	const cJSON *az = cJSON_GetObjectItemCaseSensitive(j, "authorizations");
	const cJSON *it;

	if (!cJSON_IsArray(az) || cJSON_GetArraySize(az) < 1 ||
	    cJSON_GetArraySize(az) > ACME_MAX_AUTHZ) {
		(void)buf_printf(err,
				 "order: authorizations missing or more "
				 "than %d",
				 ACME_MAX_AUTHZ);
		return -EINVAL;
	}
	cJSON_ArrayForEach(it, az)
	{
		if (!cJSON_IsString(it) ||
		    strlen(it->valuestring) >= sizeof(o->authz[0]) ||
		    !is_url(it->valuestring)) {
			(void)buf_printf(err, "order: an authorization is not "
					      "a URL");
			return -EINVAL;
		}
		(void)snprintf(o->authz[o->nauthz], sizeof(o->authz[0]), "%s",
			       it->valuestring);
		o->nauthz++;
	}
	if (need_url(j, "order", "finalize", o->finalize, sizeof(o->finalize),
		     err) < 0 ||
	    url_field(j, "certificate", o->certificate,
		      sizeof(o->certificate)) < 0) {
		if (err->len == 0)
			(void)buf_printf(err, "order: certificate not a URL");
		return -EINVAL;
	}
	return 0;
}

int
acme_parse_order(const char *body, size_t len, struct acme_order *o,
		 struct buf *err)
{
	cJSON *j = parse(body, len, "order", err);
	int r = -EINVAL;

	memset(o, 0, sizeof(*o));
	if (j == NULL)
		return -EINVAL;
	o->status = status_of(j);
	if (o->status == ACME_ST_UNKNOWN) {
		(void)buf_printf(err, "order: no known status");
		goto out;
	}
	(void)problem_of(cJSON_GetObjectItemCaseSensitive(j, "error"),
			 &o->error);
	r = order_urls(j, o, err);
	if (r == 0 && o->status == ACME_ST_VALID && o->certificate[0] == '\0') {
		(void)buf_printf(err, "order: valid without a certificate");
		r = -EINVAL;
	}
out:
	cJSON_Delete(j);
	return r;
}

/* authz_challenge: the http-01 challenge of an authorization */
static int
authz_challenge(const cJSON *j, struct acme_authz *a, struct buf *err)
{
	const cJSON *cs = cJSON_GetObjectItemCaseSensitive(j, "challenges");
	const cJSON *c;
	char type[32];

	if (!cJSON_IsArray(cs))
		cs = NULL;
	cJSON_ArrayForEach(c, cs)
	{
		if (!cJSON_IsObject(c) ||
		    str_field(c, "type", type, sizeof(type)) != 1 ||
		    strcmp(type, "http-01") != 0)
			continue;
		if (need_url(c, "challenge", "url", a->chall_url,
			     sizeof(a->chall_url), err) < 0)
			return -EINVAL;
		if (str_field(c, "token", a->token, sizeof(a->token)) != 1 ||
		    a->token[0] == '\0' ||
		    strspn(a->token,
			   "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklm"
			   "nopqrstuvwxyz0123456789-_") != strlen(a->token)) {
			(void)buf_printf(err, "challenge: token missing or "
					      "not base64url");
			return -EINVAL;
		}
		a->chall_status = status_of(c);
		(void)problem_of(cJSON_GetObjectItemCaseSensitive(c, "error"),
				 &a->error);
		return 0;
	}
	if (a->status == ACME_ST_VALID)
		return 0; /* nothing to answer */
	(void)buf_printf(err, "authorization for %s: no http-01 challenge",
			 a->name);
	return -EINVAL;
}

int
acme_parse_authz(const char *body, size_t len, struct acme_authz *a,
		 struct buf *err)
{
	cJSON *j = parse(body, len, "authorization", err);
	const cJSON *id;
	int r = -EINVAL;

	memset(a, 0, sizeof(*a));
	if (j == NULL)
		return -EINVAL;
	a->status = status_of(j);
	id = cJSON_GetObjectItemCaseSensitive(j, "identifier");
	if (a->status == ACME_ST_UNKNOWN || !cJSON_IsObject(id) ||
	    str_field(id, "value", a->name, sizeof(a->name)) != 1) {
		(void)buf_printf(err, "authorization: no status or identifier");
		goto out;
	}
	r = authz_challenge(j, a, err);
out:
	cJSON_Delete(j);
	return r;
}

int
acme_parse_account(const char *body, size_t len, struct buf *err)
{
	cJSON *j = parse(body, len, "account", err);
	enum acme_status st;

	if (j == NULL)
		return -EINVAL;
	st = status_of(j);
	cJSON_Delete(j);
	if (st == ACME_ST_VALID)
		return 0;
	(void)buf_printf(err, "account: status is not valid");
	return -EINVAL;
}

int
acme_parse_time(const char *s, time_t *t_r)
{
	struct tm tm;
	int64_t v[6];
	const char *p = s;
	static const char seps[] = "--T::";
	static const int64_t lim[6][2] = {
		{ 1970, 9999 }, { 1, 12 }, { 1, 31 },
		{ 0, 23 },	{ 0, 59 }, { 0, 60 }
	};
	size_t i, n;
	char num[8];

	for (i = 0; i < 6; i++) {
		n = strspn(p, "0123456789");
		if (n == 0 || n >= sizeof(num))
			return -EINVAL;
		memcpy(num, p, n);
		num[n] = '\0';
		if (num_parse_i64(num, lim[i][0], lim[i][1], &v[i]) < 0)
			return -EINVAL;
		p += n;
		if (i < 5 && *p++ != (seps[i] == 'T' ? 'T' : seps[i]))
			return -EINVAL;
	}
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++)
			;
	if (strcmp(p, "Z") != 0 && strcmp(p, "+00:00") != 0)
		return -EINVAL;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = (int)v[0] - 1900;
	tm.tm_mon = (int)v[1] - 1;
	tm.tm_mday = (int)v[2];
	tm.tm_hour = (int)v[3];
	tm.tm_min = (int)v[4];
	tm.tm_sec = (int)v[5];
	*t_r = timegm(&tm);
	return *t_r == (time_t)-1 ? -EINVAL : 0;
}

void
acme_format_time(time_t t, char out[32])
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		(void)snprintf(out, 32, "1970-01-01T00:00:00Z");
}

int
acme_parse_renewal_info(const char *body, size_t len, time_t *start_r,
			time_t *end_r, struct buf *err)
{
	cJSON *j = parse(body, len, "renewalInfo", err);
	const cJSON *w;
	char s[64], e[64];
	int r = -EINVAL;

	if (j == NULL)
		return -EINVAL;
	w = cJSON_GetObjectItemCaseSensitive(j, "suggestedWindow");
	if (!cJSON_IsObject(w) || str_field(w, "start", s, sizeof(s)) != 1 ||
	    str_field(w, "end", e, sizeof(e)) != 1 ||
	    acme_parse_time(s, start_r) < 0 || acme_parse_time(e, end_r) < 0 ||
	    *end_r < *start_r)
		(void)buf_printf(err, "renewalInfo: no valid suggestedWindow");
	else
		r = 0;
	cJSON_Delete(j);
	return r;
}

long
acme_parse_retry_after(const char *v, time_t now)
{
	struct tm tm;
	uint64_t secs;
	const char *end;
	time_t t;

	if (v == NULL)
		return -EINVAL;
	while (*v == ' ')
		v++;
	if (num_parse_u64(v, 0, UINT64_MAX, &secs) == 0)
		return secs > 86400 ? 86400 : (long)secs;
	memset(&tm, 0, sizeof(tm));
	/* IMF-fixdate, "Sun, 06 Nov 1994 08:49:37 GMT" */
	end = strptime(v, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	if (end == NULL || *end != '\0')
		return -EINVAL;
	t = timegm(&tm);
	if (t <= now)
		return 0;
	return t - now > 86400 ? 86400 : (long)(t - now);
}
