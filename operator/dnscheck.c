/*
 * dnscheck: the checks themselves, one state machine per relay on the
 * operator's loop (see dnscheck.h):
 *
 *   NS of the domain (resolver)  -> the domain is a zone apex, or
 *     the SOA in the answer names the zone -> NS of the zone
 *   A of each name server in turn (resolver) -> the first address
 *   every wanted record at that server (RD off, no cache, all at once)
 *   -> compare (dnscheck_cmp.c) -> result -> the changed hook
 *
 * Each check owns two resolvers (services/lib/dns.h): one for the
 * operator's resolver, one for the zone's server. They are freed from
 * a timer after the check (never inside their own callbacks), so an
 * idle relay holds no sockets and no resolver memory.
 *
 * Untrusted input: DNS answers, through services/lib/dns.h; the values
 * copied into the status are capped (DNSCHECK_FOUND_MAX values of
 * DNSCHECK_VALUE_MAX bytes).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dns.h"
#include "dnscheck.h"
#include "hmap.h"
#include "log.h"
#include "util.h"
#include "xmalloc.h"

#define NS_MAX 4

struct dc_relay;

/* one record's lookup at the zone's server */
struct dc_q {
	struct dc_relay *rel;
	const cJSON *want; /* an element of rel->want */
	cJSON *out;	   /* its element of rel->out */
};

struct dc_relay {
	struct dnscheck *dc;
	char *key, *domain;
	cJSON *want; /* status.dnsRecords; the lookups in flight point
		      * into it: replaced only with no check running */
	char want_hash[UTIL_SHA256_HEX];
	struct evloop_timer next, reap;
	uint64_t backoff;
	int running, have_res;
	struct dnscheck_result res;
	/* the check in flight */
	struct dns *resolver, *auth;
	char zone[256], server[300];
	char ns[NS_MAX][256];
	size_t nns, ins, pending, nq;
	struct dc_q *qs;
	cJSON *out; /* records checked so far */
};

struct dnscheck {
	struct evloop *loop;
	struct dnscheck_opts o;
	char server[128];
	struct hmap relays; /* key -> struct dc_relay */
	dnscheck_changed_fn *changed;
	void *arg;
};

static void start_check(struct evloop *loop, void *arg);

/* reap: free the resolvers of a finished check */
static void
reap(struct evloop *loop, void *arg)
{
	struct dc_relay *rel = arg;

	(void)loop;
	dns_free(&rel->resolver);
	dns_free(&rel->auth);
	free(rel->qs);
	rel->qs = NULL;
	rel->nq = 0;
	cJSON_Delete(rel->out);
	rel->out = NULL;
}

/* publish: a finished check's outcome, if it differs from the last */
static void
publish(struct dc_relay *rel, const char *err)
{
	struct dnscheck_result res;
	cJSON *check = cJSON_CreateObject();
	char a[UTIL_SHA256_HEX], b[UTIL_SHA256_HEX];

	if (rel->zone[0] != '\0')
		cJSON_AddStringToObject(check, "zone", rel->zone);
	if (rel->server[0] != '\0')
		cJSON_AddStringToObject(check, "server", rel->server);
	if (rel->out != NULL && err == NULL)
		cJSON_AddItemToObject(check, "records",
				      cJSON_Duplicate(rel->out, 1));
	memset(&res, 0, sizeof(res));
	res.check = check;
	buf_init(&res.message, 8192);
	dnscheck_summary(&res, rel->want, err);
	util_hash_json(check, a);
	if (rel->have_res)
		util_hash_json(rel->res.check, b);
	if (rel->have_res && strcmp(a, b) == 0 &&
	    strcmp(res.reason, rel->res.reason) == 0 &&
	    strcmp(buf_cstr(&res.message), buf_cstr(&rel->res.message)) == 0) {
		dnscheck_result_clear(&res);
		return;
	}
	dnscheck_result_clear(&rel->res);
	rel->res = res;
	rel->have_res = 1;
	log_info("DNS check of %s: %s: %s", rel->key, res.reason,
		 buf_cstr(&res.message));
	rel->dc->changed(rel->dc->arg, rel->key);
}

/* finish: the check is over (err: why it could not run); schedule the
 * next: the interval when all is well, else the backoff */
static void
finish(struct dc_relay *rel, const char *err)
{
	struct dnscheck *dc = rel->dc;
	uint64_t delay;

	rel->running = 0;
	publish(rel, err);
	if (rel->res.all_ok) {
		delay = dc->o.interval_ms;
		rel->backoff = dc->o.retry_ms;
	} else {
		delay = rel->backoff;
		rel->backoff *= 2;
		if (rel->backoff > dc->o.interval_ms)
			rel->backoff = dc->o.interval_ms;
	}
	evloop_timer_start(dc->loop, &rel->reap, 0);
	evloop_timer_start(dc->loop, &rel->next, delay);
}

/* fail: finish with a formatted reason */
static void
fail(struct dc_relay *rel, const char *what, int status)
{
	char msg[512];

	(void)snprintf(msg, sizeof(msg), "%s: %s", what,
		       status == 0 || status == -ENOENT ? "no such records"
		       : status == -ETIMEDOUT		? "timed out"
							: "server failure");
	finish(rel, msg);
}

/* presentation: a found record as status.dnsRecords writes values */
static void
presentation(unsigned qtype, const struct dns_rrs *rrs, size_t i, char *out,
	     size_t outsize)
{
	const char *v = rrs->rr[i];
	size_t o = 0;

	switch (qtype) {
	case DNS_MX:
		(void)snprintf(out, outsize, "%u %s.", rrs->pref[i], v);
		return;
	case DNS_CNAME:
	case DNS_SRV:
		(void)snprintf(out, outsize, "%s.", v);
		return;
	case DNS_TXT:
		out[o++] = '"';
		for (; *v != '\0' && o + 3 < outsize; v++) {
			if (*v == '"' || *v == '\\')
				out[o++] = '\\';
			out[o++] = *v;
		}
		out[o++] = '"';
		out[o] = '\0';
		return;
	default:
		(void)snprintf(out, outsize, "%s", v);
	}
}

/* qtype_of: the DNS type of a record type name, or 0 */
static unsigned
qtype_of(const char *t)
{
	static const struct {
		const char *name;
		unsigned type;
	} types[] = {
		{ "A", DNS_A },	    { "AAAA", DNS_AAAA },   { "MX", DNS_MX },
		{ "TXT", DNS_TXT }, { "CNAME", DNS_CNAME }, { "SRV", DNS_SRV },
		{ "CAA", DNS_CAA },
	};
	size_t i;

	for (i = 0; t != NULL && i < sizeof(types) / sizeof(types[0]); i++)
		if (strcmp(t, types[i].name) == 0)
			return types[i].type;
	return 0;
}

/* record_state: the state of one record from its lookup; the values
 * found go into found (a JSON array) */
static enum dnscheck_state
record_state(const cJSON *want, int status, const struct dns_rrs *rrs,
	     cJSON *found)
{
	const char *type = util_get_str(want, "type");
	const char *val = util_get_str(want, "value");
	char *vals[DNS_MAX_RR], buf[DNS_MAX_RR][DNS_RR_MAX + 8];
	char cap[DNSCHECK_VALUE_MAX + 4];
	size_t i, n = status == 1 ? rrs->n : 0;
	enum dnscheck_state st;

	if (status < 0 && status != -ENOENT)
		return DC_UNKNOWN;
	if (!rrs->aa)
		return DC_UNKNOWN; /* a referral, or not its zone at all */
	for (i = 0; i < n; i++) {
		presentation(qtype_of(type), rrs, i, buf[i], sizeof(buf[i]));
		vals[i] = buf[i];
	}
	st = dnscheck_compare(type, val ? val : "", (const char *const *)vals,
			      n);
	for (i = 0; st == DC_WRONG && i < n && i < DNSCHECK_FOUND_MAX; i++) {
		(void)snprintf(
			cap, sizeof(cap), "%.*s%s", DNSCHECK_VALUE_MAX, vals[i],
			strlen(vals[i]) > DNSCHECK_VALUE_MAX ? "..." : "");
		cJSON_AddItemToArray(found, cJSON_CreateString(cap));
	}
	return st;
}

/* on_record: one record's answer from the zone's server */
static void
on_record(void *arg, int status, const struct dns_rrs *rrs)
{
	struct dc_q *q = arg;
	struct dc_relay *rel = q->rel;
	cJSON *found = cJSON_CreateArray();
	enum dnscheck_state st = record_state(q->want, status, rrs, found);

	cJSON_AddStringToObject(q->out, "state", dnscheck_state_name(st));
	if (cJSON_GetArraySize(found) > 0)
		cJSON_AddItemToObject(q->out, "found", found);
	else
		cJSON_Delete(found);
	if (st == DC_UNKNOWN)
		cJSON_AddStringToObject(
			q->out, "error",
			status == -ETIMEDOUT ? "timed out"
			: status < 0 && status != -ENOENT
				? "server failure"
				: "the server is not authoritative for it");
	if (--rel->pending == 0)
		finish(rel, NULL);
}

/* ask_server: every wanted record at the zone's server at addr */
static void
ask_server(struct dc_relay *rel, const char *addr)
{
	struct dnscheck *dc = rel->dc;
	struct buf err = BUF_INIT(256);
	char srv[128];
	const cJSON *w;
	size_t i = 0;

	if (strchr(addr, ':') != NULL)
		(void)snprintf(srv, sizeof(srv), "[%.64s]:%u", addr,
			       dc->o.auth_port);
	else
		(void)snprintf(srv, sizeof(srv), "%.64s:%u", addr,
			       dc->o.auth_port);
	(void)snprintf(rel->server, sizeof(rel->server), "%.250s (%.46s)",
		       rel->ns[rel->ins], addr);
	rel->auth = dns_new(dc->loop, srv, NULL, &err);
	buf_deinit(&err);
	if (rel->auth == NULL) {
		finish(rel, "bad name server address");
		return;
	}
	dns_set_opts(rel->auth, DNS_NORECURSE | DNS_NOCACHE, dc->o.timeout_ms);
	rel->out = cJSON_CreateArray();
	rel->nq = (size_t)cJSON_GetArraySize(rel->want);
	rel->qs = xcalloc(rel->nq + 1, sizeof(*rel->qs));
	cJSON_ArrayForEach(w, rel->want)
	{
		struct dc_q *q = &rel->qs[i++];

		q->rel = rel;
		q->want = w;
		q->out = cJSON_CreateObject();
		cJSON_AddStringToObject(q->out, "name",
					util_get_str(w, "name"));
		cJSON_AddStringToObject(q->out, "type",
					util_get_str(w, "type"));
		cJSON_AddItemToArray(rel->out, q->out);
	}
	/* one more than the lookups, dropped below: an answer that comes
	 * at once (a name that cannot be asked) cannot finish early */
	rel->pending = rel->nq + 1;
	for (i = 0; i < rel->nq; i++)
		(void)dns_lookup(
			rel->auth, util_get_str(rel->qs[i].want, "name"),
			qtype_of(util_get_str(rel->qs[i].want, "type")),
			on_record, &rel->qs[i]);
	if (--rel->pending == 0)
		finish(rel, NULL);
}

static void next_ns(struct dc_relay *rel);

/* on_ns_addr: the address of name server ins */
static void
on_ns_addr(void *arg, int status, const struct dns_rrs *rrs)
{
	struct dc_relay *rel = arg;

	if (status == 1 && rrs->n > 0) {
		ask_server(rel, rrs->rr[0]);
		return;
	}
	rel->ins++;
	next_ns(rel);
}

/* next_ns: look up the address of the next name server */
static void
next_ns(struct dc_relay *rel)
{
	char msg[512];

	if (rel->ins >= rel->nns) {
		(void)snprintf(msg, sizeof(msg),
			       "no address for the name servers of %s",
			       rel->zone);
		finish(rel, msg);
		return;
	}
	(void)dns_lookup(rel->resolver, rel->ns[rel->ins], DNS_A, on_ns_addr,
			 rel);
}

/* take_ns: the NS records of the zone, then their addresses */
static void
take_ns(struct dc_relay *rel, const struct dns_rrs *rrs)
{
	size_t i;

	rel->nns = 0;
	for (i = 0; i < rrs->n && rel->nns < NS_MAX; i++)
		if (rrs->rr[i][0] != '\0')
			(void)snprintf(rel->ns[rel->nns++], sizeof(rel->ns[0]),
				       "%s", rrs->rr[i]);
	rel->ins = 0;
	next_ns(rel);
}

/* on_zone_ns: the NS records of the zone the SOA named */
static void
on_zone_ns(void *arg, int status, const struct dns_rrs *rrs)
{
	struct dc_relay *rel = arg;
	char what[400];

	if (status == 1) {
		take_ns(rel, rrs);
		return;
	}
	(void)snprintf(what, sizeof(what), "NS of zone %s", rel->zone);
	fail(rel, what, status);
}

/* on_domain_ns: the NS records of the domain itself: a zone apex, or
 * the zone it is in from the SOA */
static void
on_domain_ns(void *arg, int status, const struct dns_rrs *rrs)
{
	struct dc_relay *rel = arg;
	char what[400];

	if (status == 1) {
		(void)snprintf(rel->zone, sizeof(rel->zone), "%s", rel->domain);
		take_ns(rel, rrs);
		return;
	}
	if ((status == 0 || status == -ENOENT) && rrs->zone[0] != '\0' &&
	    strcasecmp(rrs->zone, rel->domain) != 0) {
		(void)snprintf(rel->zone, sizeof(rel->zone), "%s", rrs->zone);
		(void)dns_lookup(rel->resolver, rel->zone, DNS_NS, on_zone_ns,
				 rel);
		return;
	}
	(void)snprintf(what, sizeof(what), "finding the zone of %s",
		       rel->domain);
	fail(rel, what, status);
}

/* start_check: the next-check timer fired */
static void
start_check(struct evloop *loop, void *arg)
{
	struct dc_relay *rel = arg;
	struct buf err = BUF_INIT(256);

	reap(loop, rel);
	evloop_timer_stop(loop, &rel->reap);
	rel->running = 1;
	rel->zone[0] = rel->server[0] = '\0';
	rel->resolver = dns_new(loop, rel->dc->server, NULL, &err);
	if (rel->resolver == NULL) { /* checked in dnscheck_new */
		finish(rel, buf_cstr(&err));
		buf_deinit(&err);
		return;
	}
	buf_deinit(&err);
	dns_set_opts(rel->resolver, DNS_NOCACHE, rel->dc->o.timeout_ms);
	log_debug("DNS check of %s (%s)", rel->key, rel->domain);
	(void)dns_lookup(rel->resolver, rel->domain, DNS_NS, on_domain_ns, rel);
}

struct dnscheck *
dnscheck_new(struct evloop *loop, const struct dnscheck_opts *o,
	     dnscheck_changed_fn *changed, void *arg, struct buf *err)
{
	struct dnscheck *dc = xcalloc(1, sizeof(*dc));
	struct dns *probe;

	dc->loop = loop;
	dc->o = *o;
	(void)snprintf(dc->server, sizeof(dc->server), "%s",
		       o->server ? o->server : "");
	if (dc->o.retry_ms == 0 || dc->o.retry_ms > dc->o.interval_ms)
		dc->o.retry_ms = dc->o.interval_ms;
	if (dc->o.auth_port == 0)
		dc->o.auth_port = 53;
	dc->changed = changed;
	dc->arg = arg;
	hmap_init(&dc->relays);
	probe = dns_new(loop, dc->server, NULL, err);
	if (probe == NULL) {
		dnscheck_free(&dc);
		return NULL;
	}
	dns_free(&probe);
	return dc;
}

/* relay_free: stop and free one relay's state */
static void
relay_free(struct dc_relay *rel)
{
	struct evloop *loop = rel->dc->loop;

	evloop_timer_stop(loop, &rel->next);
	evloop_timer_stop(loop, &rel->reap);
	reap(loop, rel);
	dnscheck_result_clear(&rel->res);
	cJSON_Delete(rel->want);
	free(rel->key);
	free(rel->domain);
	free(rel);
}

void
dnscheck_free(struct dnscheck **dp)
{
	struct dnscheck *dc = *dp;
	struct hmap_entry *e;
	size_t i;

	if (dc == NULL)
		return;
	for (e = hmap_first(&dc->relays, &i); e != NULL;
	     e = hmap_next(&dc->relays, &i, e))
		relay_free(e->value);
	hmap_deinit(&dc->relays);
	free(dc);
	*dp = NULL;
}

void
dnscheck_want(struct dnscheck *dc, const char *key, const char *domain,
	      const cJSON *records)
{
	struct dc_relay *rel = hmap_get(&dc->relays, key);
	char hash[UTIL_SHA256_HEX];

	if (cJSON_GetArraySize(records) == 0) { /* an IP-only relay */
		dnscheck_forget(dc, key);
		return;
	}
	util_hash_json(records, hash);
	if (rel != NULL && strcmp(hash, rel->want_hash) == 0 &&
	    strcmp(domain, rel->domain) == 0)
		return;
	if (rel == NULL) {
		rel = xcalloc(1, sizeof(*rel));
		rel->dc = dc;
		rel->key = xstrdup(key);
		evloop_timer_init(&rel->next, start_check, rel);
		evloop_timer_init(&rel->reap, reap, rel);
		(void)hmap_put(&dc->relays, key, rel);
	}
	free(rel->domain);
	rel->domain = xstrdup(domain);
	cJSON_Delete(rel->want);
	rel->want = cJSON_Duplicate(records, 1);
	memcpy(rel->want_hash, hash, sizeof(hash));
	rel->backoff = dc->o.retry_ms;
	/* a check in flight asks for the old list: start over (we are not
	 * inside one of its callbacks: the reconcile calls this) */
	evloop_timer_stop(dc->loop, &rel->reap);
	reap(dc->loop, rel);
	rel->running = 0;
	evloop_timer_start(dc->loop, &rel->next, 0);
}

const struct dnscheck_result *
dnscheck_get(struct dnscheck *dc, const char *key)
{
	struct dc_relay *rel = hmap_get(&dc->relays, key);

	return rel != NULL && rel->have_res ? &rel->res : NULL;
}

void
dnscheck_forget(struct dnscheck *dc, const char *key)
{
	struct dc_relay *rel = hmap_del(&dc->relays, key);

	if (rel != NULL)
		relay_free(rel);
}
