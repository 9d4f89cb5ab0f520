/*
 * dnscheck_cmp: the pure half of the DNS check: a wanted record against
 * what the zone's server returned, and the DNSReady condition of a
 * whole check (see dnscheck.h).
 *
 * Untrusted input: the found values (DNS answers in presentation form,
 * NUL-terminated and bounded by services/lib/dns.h); parsed here with
 * bounded copies only.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "dns.h"
#include "dnscheck.h"
#include "util.h"

const char *
dnscheck_state_name(enum dnscheck_state s)
{
	static const char *const names[] = { "ok", "missing", "wrong",
					     "unknown" };

	return (unsigned)s < 4 ? names[s] : "unknown";
}

/* same_host: DNS names equal ignoring case and one trailing dot */
static int
same_host(const char *a, size_t la, const char *b, size_t lb)
{
	if (la > 0 && a[la - 1] == '.')
		la--;
	if (lb > 0 && b[lb - 1] == '.')
		lb--;
	return la == lb && strncasecmp(a, b, la) == 0;
}

/* last_word: the last blank-separated word of s (its length in *len) */
static const char *
last_word(const char *s, size_t *len)
{
	size_t n = strlen(s);
	const char *w;

	while (n > 0 && s[n - 1] == ' ')
		n--;
	w = s + n;
	while (w > s && w[-1] != ' ')
		w--;
	*len = (size_t)(s + n - w);
	return w;
}

/* word_at: the i-th blank-separated word of s (0-based) into out */
static int
word_at(const char *s, unsigned i, char *out, size_t outsize)
{
	size_t n;

	for (;;) {
		s += strspn(s, " ");
		n = strcspn(s, " ");
		if (n == 0)
			return -1;
		if (i-- == 0)
			break;
		s += n;
	}
	(void)snprintf(out, outsize, "%.*s", (int)n, s);
	return 0;
}

/* same_addr: two addresses of one family equal */
static int
same_addr(const char *type, const char *a, const char *b)
{
	unsigned char x[16], y[16];
	int af = strcmp(type, "A") == 0 ? AF_INET : AF_INET6;

	return inet_pton(af, a, x) == 1 && inet_pton(af, b, y) == 1 &&
	       memcmp(x, y, af == AF_INET ? 4 : 16) == 0;
}

/* txt_norm: a TXT value in presentation form ("..." "...") joined
 * (dns_txt_unquote) and normalised: blanks around ';' and at the ends
 * dropped, runs of blanks one, a trailing ';' dropped */
static void
txt_norm(const char *v, char *out, size_t outsize)
{
	char text[4096];
	const char *t;
	size_t o = 0;
	int blank = 0;

	dns_txt_unquote(v, text, sizeof(text));
	for (t = text; *t != '\0' && o + 2 < outsize; t++) {
		if (*t == ' ' || *t == '\t') {
			blank = 1;
			continue;
		}
		if (blank && o > 0 && out[o - 1] != ';' && *t != ';')
			out[o++] = ' ';
		blank = 0;
		out[o++] = *t;
	}
	if (o > 0 && out[o - 1] == ';')
		o--;
	out[o] = '\0';
}

/* txt_kind: what a TXT record is ("v=spf1", "v=dkim1", "dkim"),
 * lower case, into out */
static void
txt_kind(const char *norm, char *out, size_t outsize)
{
	size_t n, i;

	if (strncasecmp(norm, "v=", 2) == 0)
		n = strcspn(norm, " ;");
	else
		n = strcspn(norm, "=");
	if (n >= outsize)
		n = outsize - 1;
	for (i = 0; i < n; i++)
		out[i] = (char)tolower((unsigned char)norm[i]);
	out[n] = '\0';
}

/* cmp_txt: TXT records of the wanted kind */
static enum dnscheck_state
cmp_txt(const char *want, const char *const *found, size_t n)
{
	/* zeroed: the analyser cannot follow txt_norm's terminator */
	char w[4096] = { 0 }, f[4096] = { 0 }, wk[32], fk[32];
	enum dnscheck_state st = DC_MISSING;
	size_t i;

	txt_norm(want, w, sizeof(w));
	txt_kind(w, wk, sizeof(wk));
	for (i = 0; i < n; i++) {
		txt_norm(found[i], f, sizeof(f));
		txt_kind(f, fk, sizeof(fk));
		if (strcmp(wk, fk) != 0)
			continue;
		if (strcmp(w, f) == 0)
			return DC_OK;
		st = DC_WRONG;
	}
	return st;
}

/* caa_issuer: the CA of an `issue` CAA record ("0 issue \"ca; x\"" ->
 * "ca") into out; 0, or -1 when it is no issue record */
static int
caa_issuer(const char *v, char *out, size_t outsize)
{
	char tag[16], val[DNSCHECK_VALUE_MAX];
	const char *q = strchr(v, '"');
	size_t n;

	if (word_at(v, 1, tag, sizeof(tag)) < 0 ||
	    strcasecmp(tag, "issue") != 0 || q == NULL)
		return -1;
	(void)snprintf(val, sizeof(val), "%s", q + 1);
	n = strcspn(val, ";\"");
	while (n > 0 && val[n - 1] == ' ')
		n--;
	(void)snprintf(out, outsize, "%.*s", (int)n, val + strspn(val, " "));
	return 0;
}

/* cmp_caa: an issue record naming the wanted CA */
static enum dnscheck_state
cmp_caa(const char *want, const char *const *found, size_t n)
{
	char w[256], f[256];
	enum dnscheck_state st = DC_MISSING;
	size_t i;

	if (caa_issuer(want, w, sizeof(w)) < 0)
		return DC_WRONG;
	for (i = 0; i < n; i++) {
		if (caa_issuer(found[i], f, sizeof(f)) < 0)
			continue;
		if (strcasecmp(w, f) == 0)
			return DC_OK;
		st = DC_WRONG;
	}
	return st;
}

/* cmp_one: one found value of a non-TXT, non-CAA type is the wanted */
static int
cmp_one(const char *type, const char *want, const char *found)
{
	char wp[16], fp[16];
	const char *wt, *ft;
	size_t wl, fl;

	if (strcmp(type, "A") == 0 || strcmp(type, "AAAA") == 0)
		return same_addr(type, want, found);
	wt = last_word(want, &wl);
	ft = last_word(found, &fl);
	if (!same_host(wt, wl, ft, fl))
		return 0;
	if (strcmp(type, "SRV") != 0)
		return 1;
	return word_at(want, 2, wp, sizeof(wp)) == 0 &&
	       word_at(found, 2, fp, sizeof(fp)) == 0 && strcmp(wp, fp) == 0;
}

enum dnscheck_state
dnscheck_compare(const char *type, const char *want, const char *const *found,
		 size_t n)
{
	size_t i;

	if (n == 0)
		return DC_MISSING;
	if (strcmp(type, "TXT") == 0)
		return cmp_txt(want, found, n);
	if (strcmp(type, "CAA") == 0)
		return cmp_caa(want, found, n);
	for (i = 0; i < n; i++)
		if (cmp_one(type, want, found[i]))
			return DC_OK;
	return DC_WRONG;
}

/* consequence: what a record that is not published breaks */
static const char *
consequence(const char *name, const char *type)
{
	if (strcmp(type, "A") == 0 || strcmp(type, "AAAA") == 0)
		return "clients and other relays cannot reach the relay";
	if (strcmp(type, "MX") == 0)
		return "other relays cannot deliver mail to it";
	if (strstr(name, "._domainkey.") != NULL &&
	    strncmp(name, "_adsp.", 6) != 0)
		return "other relays reject its mail (DKIM signatures "
		       "cannot be verified)";
	if (strncmp(name, "_mta-sts.", 9) == 0 ||
	    strncmp(name, "mta-sts.", 8) == 0)
		return "senders cannot find its MTA-STS policy";
	if (strncmp(name, "www.", 4) == 0)
		return "www. does not reach the relay's web page";
	if (strncmp(name, "_dmarc.", 7) == 0 || strcmp(type, "TXT") == 0)
		return "receivers checking SPF or DMARC may refuse its mail";
	if (strcmp(type, "SRV") == 0)
		return "clients do not discover its ports";
	if (strcmp(type, "CAA") == 0)
		return "the ACME CA may refuse to issue its certificate";
	return "";
}

/* note_problem: one record that is not ok into the message */
static void
note_problem(struct buf *msg, const cJSON *r, int required)
{
	const char *name = util_get_str(r, "name");
	const char *type = util_get_str(r, "type");
	const char *st = util_get_str(r, "state");

	if (name == NULL || type == NULL || st == NULL)
		return;
	(void)buf_printf(msg, "%s%s %s %s%s: %s", msg->len ? "; " : "", name,
			 type, st, required ? "" : " (recommended)",
			 consequence(name, type));
}

/* required_of: the "required" flag of the wanted record name/type */
static int
required_of(const cJSON *want, const char *name, const char *type)
{
	const cJSON *w;

	cJSON_ArrayForEach(w, want)
	{
		const char *n = util_get_str(w, "name");
		const char *t = util_get_str(w, "type");

		if (n && t && strcmp(n, name) == 0 && strcmp(t, type) == 0)
			return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
				w, "required"));
	}
	return 0;
}

void
dnscheck_summary(struct dnscheck_result *res, const cJSON *want,
		 const char *err)
{
	const cJSON *r,
		*recs = cJSON_GetObjectItemCaseSensitive(res->check, "records");
	unsigned bad_req = 0, unknown = 0, bad = 0, wrong = 0;

	buf_reset(&res->message);
	res->all_ok = 0;
	if (err != NULL) {
		res->ready = 0;
		(void)snprintf(res->reason, sizeof(res->reason),
			       "LookupFailed");
		(void)buf_printf(&res->message, "%s", err);
		return;
	}
	cJSON_ArrayForEach(r, recs)
	{
		const char *st = util_get_str(r, "state");
		int req = required_of(want, util_get_str(r, "name"),
				      util_get_str(r, "type"));

		if (st == NULL || strcmp(st, "ok") == 0)
			continue;
		bad++;
		bad_req += req;
		unknown += strcmp(st, "unknown") == 0;
		wrong += strcmp(st, "wrong") == 0;
		note_problem(&res->message, r, req);
	}
	res->ready = bad_req == 0 && unknown == 0;
	res->all_ok = bad == 0;
	(void)snprintf(res->reason, sizeof(res->reason), "%s",
		       res->ready  ? "RecordsPublished"
		       : unknown   ? "LookupFailed"
		       : wrong > 0 ? "RecordsWrong"
				   : "RecordsMissing");
	if (bad == 0)
		(void)buf_printf(&res->message,
				 "every record of status.dnsRecords is "
				 "published");
}

void
dnscheck_result_clear(struct dnscheck_result *res)
{
	cJSON_Delete(res->check);
	res->check = NULL;
	buf_deinit(&res->message);
}
