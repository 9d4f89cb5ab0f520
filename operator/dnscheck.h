/*
 * dnscheck: the live DNS check of every relay's published records, as
 * upstream's `cmdeploy dns` does it (docs/UPSTREAM.md, DNS records):
 * find the zone of the relay's domain and its name servers through the
 * operator's resolver (--dns-server, else /etc/resolv.conf), then ask
 * one of those servers itself, without recursion and without any cache,
 * for each record of status.dnsRecords, and compare.
 *
 * A relay is checked when its records change (a spec change, a new
 * address or DKIM key: dnscheck_want), then every --dns-check-interval
 * while everything is published, and sooner after a check that found a
 * problem: --dns-check-retry, doubling up to the interval. Checks run on
 * the operator's event loop (services/lib/dns.h) beside the reconciles,
 * never inside one; a finished check whose outcome differs from the
 * last calls the changed hook, which queues the relay, and its next
 * reconcile writes status.dnsCheck and the DNSReady condition
 * (operator/status.c). DNSReady never touches Ready: a relay with wrong
 * DNS still serves, the condition says what others will refuse.
 *
 * The comparison (dnscheck_cmp.c) is pure and unit-tested:
 * tests/unit/operator/test_dnscheck.c.
 *
 * Untrusted input: DNS answers (bounded and checked by services/lib's
 * codec; found values are capped before they go into the status).
 */
#ifndef OP_DNSCHECK_H
#define OP_DNSCHECK_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "buf.h"
#include "evloop.h"

/* a record's state after a check */
enum dnscheck_state {
	DC_OK,	    /* published as wanted */
	DC_MISSING, /* no record of its kind */
	DC_WRONG,   /* records of its kind, none as wanted */
	DC_UNKNOWN, /* the server did not answer (or not authoritatively) */
};

/* found values kept per record, and their length in the status */
#define DNSCHECK_FOUND_MAX 4
#define DNSCHECK_VALUE_MAX 300

/* the outcome of one check of one relay */
struct dnscheck_result {
	cJSON *check; /* status.dnsCheck: {zone, server, records[]} */
	int ready;    /* DNSReady: every required record ok */
	int all_ok;   /* every record ok, the recommended ones too */
	char reason[32];
	struct buf message; /* what is wrong and what follows from it */
};

/* dnscheck_state_name: "ok", "missing", "wrong", "unknown" */
const char *dnscheck_state_name(enum dnscheck_state s);

/* dnscheck_compare: one wanted record (type and value as in
 * status.dnsRecords) against the n values found at its name, in the
 * same presentation form (TXT quoted, names with their trailing dot).
 * A, AAAA: the address; MX, CNAME: the target (MX preference not
 * compared); SRV: port and target; TXT: the records of the same kind
 * ("v=spf1", "v=DKIM1", "v=DMARC1", "v=STSv1", "dkim=") compared with
 * blanks around ';' and repeated blanks ignored; CAA: an "issue" tag
 * naming the CA. Records of other kinds at the same name are
 * ignored. */
enum dnscheck_state dnscheck_compare(const char *type, const char *want,
				     const char *const *found, size_t n);

/* dnscheck_summary: the DNSReady condition of a finished check's
 * records (status.dnsCheck.records with each record's "required" from
 * want) into res; err, when not NULL, is why the check could not run */
void dnscheck_summary(struct dnscheck_result *res, const cJSON *want,
		      const char *err);
/* dnscheck_result_clear: free what a result holds */
void dnscheck_result_clear(struct dnscheck_result *res);

struct dnscheck;

/* dnscheck_changed_fn: a check of key finished with a new outcome */
typedef void dnscheck_changed_fn(void *arg, const char *key);

struct dnscheck_opts {
	const char *server;   /* resolver "IP[:port]"; "" resolv.conf */
	uint64_t interval_ms; /* between checks while all is well */
	uint64_t retry_ms;    /* first retry after a problem */
	unsigned timeout_ms;  /* one lookup at most */
	unsigned auth_port;   /* the zone servers' port (53) */
};

/* dnscheck_new: a checker on loop; NULL + err for a bad server */
struct dnscheck *dnscheck_new(struct evloop *loop,
			      const struct dnscheck_opts *o,
			      dnscheck_changed_fn *changed, void *arg,
			      struct buf *err);
/* dnscheck_free: cancel every check and free; *dp = NULL */
void dnscheck_free(struct dnscheck **dp);
/* dnscheck_want: relay key ("namespace/name") of domain should publish
 * records (status.dnsRecords, copied); a change, or the first call,
 * starts a check at once (or after the one in flight) */
void dnscheck_want(struct dnscheck *dc, const char *key, const char *domain,
		   const cJSON *records);
/* dnscheck_get: the last finished check of key, or NULL; valid until
 * the next loop iteration */
const struct dnscheck_result *dnscheck_get(struct dnscheck *dc,
					   const char *key);
/* dnscheck_forget: key was deleted: cancel its check, drop its state */
void dnscheck_forget(struct dnscheck *dc, const char *key);

#endif
