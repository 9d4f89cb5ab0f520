/*
 * fm_tp_run: one job's delivery to its destination, upstream's
 * handle_single_domain (src/transport/worker.rs) on our loop.
 *
 * Role: the MX hosts: an address literal is its own host (any
 * certificate accepted); a domain's MX records sorted by preference,
 * the domain itself when it has none (implicit MX, RFC 5321 5.1), with
 * upstream's answers for the rest: null MX "556 5.1.10", NXDOMAIN
 * "512", any other DNS failure "421". Then for each MX host in turn:
 * its addresses (A, and AAAA unless disable_ipv6), HTTPS POST /mxdeliv
 * unless the host had an SMTP success in the last 30 minutes, then SMTP
 * on port 25. A connection-level failure goes on to the next host; a
 * remote's answer about the message ends the delivery. If every host
 * failed: "421 Failed to connect to any mail server; last attempt to
 * <host>: <error>".
 *
 * Every step after a callback goes through one zero timer, so no
 * callback ever runs inside the call that started it and a job ends
 * (fm_tp_job_finished) from the loop only.
 *
 * Untrusted input: DNS answers (parsed by dns_msg.c; MX names are
 * used only as DNS names and TLS server names).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fm_tp.h"
#include "log.h"
#include "xmalloc.h"

enum run_phase {
	PH_MX,	  /* the MX answer is in: pick the first host */
	PH_ADDRS, /* the host's addresses are in: HTTPS, then SMTP */
	PH_NEXT,  /* this host failed: the next one */
	PH_SMTP,  /* HTTPS failed or is skipped: SMTP */
	PH_END,	  /* every recipient has its answer */
};

struct mx_host {
	char host[FM_TP_HOST_MAX];
	unsigned pref;
};

struct fm_tp_run {
	struct fm_tp *tp;
	struct fm_tp_job *job;
	const char *dest;
	int relaxed;
	enum fm_smtp_tls tls;
	enum run_phase phase;
	struct evloop_timer step;
	struct dns_query *q_mx, *q_a, *q_aaaa;
	int pending;	    /* address lookups outstanding */
	int sending;	    /* a transfer (HTTPS or SMTP) has started */
	struct mx_host *mx; /* nmx of them, allocated when known */
	size_t nmx, cur;
	char addr_txt[FM_TP_MAX_ADDRS][64];
	const char *addr_ptr[FM_TP_MAX_ADDRS];
	struct net_addr addrs[FM_TP_MAX_ADDRS];
	size_t naddrs;
	struct fm_https *https;
	struct fm_smtp *smtp;
	char dns_err[128];
	char https_why[256];
	char last_err[FM_TP_TEXT_MAX];
};

/* go: continue with phase from the loop */
static void
go(struct fm_tp_run *r, enum run_phase phase)
{
	r->phase = phase;
	evloop_timer_start(r->tp->loop, &r->step, 0);
}

/* end_all: the same answer for every recipient, then the end */
static void end_all(struct fm_tp_run *r, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void
end_all(struct fm_tp_run *r, int code, const char *fmt, ...)
{
	struct fm_tp_job *job = r->job;
	char text[FM_TP_TEXT_MAX];
	va_list ap;
	size_t i;

	va_start(ap, fmt);
	(void)vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	for (i = 0; i < job->nrcpts; i++)
		fm_tp_result_set(&job->res[i], code, "%s", text);
	go(r, PH_END);
}

/* mx_cmp: by preference, then by name (upstream sorts the pairs) */
static int
mx_cmp(const void *a, const void *b)
{
	const struct mx_host *x = a, *y = b;

	if (x->pref != y->pref)
		return x->pref < y->pref ? -1 : 1;
	return strcasecmp(x->host, y->host);
}

/* take_mx: the MX records as hosts; 0, or -1 for a null MX */
static int
take_mx(struct fm_tp_run *r, const struct dns_rrs *rrs)
{
	size_t i;

	r->nmx = 0;
	r->mx = xcalloc(rrs->n < FM_TP_MAX_MX ? rrs->n : FM_TP_MAX_MX,
			sizeof(*r->mx));
	for (i = 0; i < rrs->n && r->nmx < FM_TP_MAX_MX; i++) {
		/* RFC 7505: a null MX is the only record */
		if (rrs->rr[i][0] == '\0')
			return -1;
		(void)snprintf(r->mx[r->nmx].host, FM_TP_HOST_MAX, "%s",
			       rrs->rr[i]);
		r->mx[r->nmx++].pref = rrs->pref[i];
	}
	qsort(r->mx, r->nmx, sizeof(r->mx[0]), mx_cmp);
	return 0;
}

/* on_mx: the MX answer */
static void
on_mx(void *arg, int status, const struct dns_rrs *rrs)
{
	struct fm_tp_run *r = arg;

	r->q_mx = NULL;
	if (status == 1 && take_mx(r, rrs) < 0) {
		end_all(r, 556,
			"556 5.1.10 Permanent failure: Recipient address has "
			"null MX");
	} else if (status == 1 && r->nmx > 0) {
		go(r, PH_MX);
	} else if (status == 0 || status == 1) {
		log_debug("No MX record found, using implicit MX: %s", r->dest);
		free(r->mx);
		r->mx = xcalloc(1, sizeof(*r->mx));
		(void)snprintf(r->mx[0].host, FM_TP_HOST_MAX, "%s", r->dest);
		r->nmx = 1;
		go(r, PH_MX);
	} else if (status == -ENOENT) {
		end_all(r, 512, "512 Domain %s does not exist", r->dest);
	} else {
		log_warn("MX lookup for %s failed: %s", r->dest,
			 strerror(-status));
		end_all(r, 421, "421 DNS resolution failed for %s", r->dest);
	}
}

/* add_addr: one address of the current host */
static void
add_addr(struct fm_tp_run *r, const char *ip)
{
	struct buf err = BUF_INIT(128);
	size_t i = r->naddrs;

	if (i < FM_TP_MAX_ADDRS &&
	    net_resolve(ip, r->tp->o.smtp_port, &r->addrs[i], &err) == 0) {
		(void)snprintf(r->addr_txt[i], sizeof(r->addr_txt[i]), "%s",
			       ip);
		r->addr_ptr[i] = r->addr_txt[i];
		r->naddrs++;
	}
	buf_deinit(&err);
}

/* on_addr: an A or AAAA answer for the current host */
static void
on_addr(struct fm_tp_run *r, int status, const struct dns_rrs *rrs)
{
	size_t i;

	if (status == 1) {
		for (i = 0; i < rrs->n; i++)
			add_addr(r, rrs->rr[i]);
	} else if (status < 0 && status != -ENOENT) {
		(void)snprintf(r->dns_err, sizeof(r->dns_err), "%s",
			       strerror(-status));
	}
	if (--r->pending == 0)
		go(r, PH_ADDRS);
}

/* on_a, on_aaaa: the two lookups' callbacks */
static void
on_a(void *arg, int status, const struct dns_rrs *rrs)
{
	struct fm_tp_run *r = arg;

	r->q_a = NULL;
	on_addr(r, status, rrs);
}

static void
on_aaaa(void *arg, int status, const struct dns_rrs *rrs)
{
	struct fm_tp_run *r = arg;

	r->q_aaaa = NULL;
	on_addr(r, status, rrs);
}

/* is_ip: text is an IP address */
static int
is_ip(const char *s)
{
	unsigned char b[16];

	return inet_pton(AF_INET, s, b) == 1 || inet_pton(AF_INET6, s, b) == 1;
}

/* host_start: look up the current host's addresses (or take the one
 * an address literal names) */
static void
host_start(struct fm_tp_run *r)
{
	const char *host;
	struct fm_tp *tp = r->tp;

	if (r->cur >= r->nmx) {
		end_all(r, 421,
			"421 Failed to connect to any mail server; last "
			"attempt to %s: %s",
			r->mx[r->nmx - 1].host, r->last_err);
		return;
	}
	host = r->mx[r->cur].host;
	r->naddrs = 0;
	r->dns_err[0] = '\0';
	r->https_why[0] = '\0';
	if (is_ip(host)) {
		add_addr(r, host);
		go(r, PH_ADDRS);
		return;
	}
	/* set before asking: an answer from the cache comes at once */
	r->pending = tp->o.ipv6 ? 2 : 1;
	r->q_a = dns_lookup(tp->dns, host, DNS_A, on_a, r);
	if (tp->o.ipv6)
		r->q_aaaa = dns_lookup(tp->dns, host, DNS_AAAA, on_aaaa, r);
}

/* host_failed: this host is out (why); on to the next */
static void
host_failed(struct fm_tp_run *r, const char *why)
{
	if (r->https_why[0] != '\0')
		(void)snprintf(r->last_err, sizeof(r->last_err),
			       "%s (before that %s)", why, r->https_why);
	else
		(void)snprintf(r->last_err, sizeof(r->last_err), "%s", why);
	r->tp->stats.mx_failures++;
	r->cur++;
	go(r, PH_NEXT);
}

/* on_https: the HTTPS channel's outcome */
static void
on_https(void *arg, enum fm_tp_outcome outcome, int code, const char *text)
{
	struct fm_tp_run *r = arg;
	struct fm_tp_job *job = r->job;

	r->https = NULL;
	switch (outcome) {
	case FM_TP_SENT:
		log_info("Delivered to %s over HTTPS (%zu recipients)",
			 r->mx[r->cur].host, job->nrcpts);
		r->tp->stats.sent_https++;
		end_all(r, 250, "%s", FM_TP_OK_HTTPS);
		break;
	case FM_TP_REFUSED:
		log_warn("Message rejected by mail server %s over HTTPS: %s",
			 r->mx[r->cur].host, text);
		end_all(r, code, "%s", text);
		break;
	case FM_TP_DOUBT:
		end_all(r, code, "%s", text);
		break;
	case FM_TP_FAILED:
		(void)snprintf(r->https_why, sizeof(r->https_why), "%s", text);
		go(r, PH_SMTP);
		break;
	}
}

/* on_smtp: the SMTP channel's outcome (job->res is filled unless it
 * FAILED) */
static void
on_smtp(void *arg, enum fm_tp_outcome outcome, const char *text)
{
	struct fm_tp_run *r = arg;
	const char *host = r->mx[r->cur].host;

	r->smtp = NULL;
	if (outcome == FM_TP_FAILED) {
		/* upstream: a failed connection lets HTTPS be tried first
		 * again next time */
		fm_tp_prefer_smtp(r->tp, host, 0);
		host_failed(r, text);
		return;
	}
	if (outcome == FM_TP_SENT) {
		/* HTTPS is skipped for this host for a while: only after
		 * an SMTP success, or an HTTP failure would lock a relay
		 * behind a blocked port 25 out (as upstream) */
		fm_tp_prefer_smtp(r->tp, host, 1);
		r->tp->stats.sent_smtp++;
	}
	go(r, PH_END);
}

/* channel_smtp: SMTP on port 25 to the current host */
static void
channel_smtp(struct fm_tp_run *r)
{
	struct fm_tp_job *job = r->job;
	const char *host = r->mx[r->cur].host;
	struct fm_conn *c = fm_tp_take_conn(job->dest, host);

	memset(job->res, 0, job->nrcpts * sizeof(*job->res));
	r->sending = 1;
	r->smtp =
		fm_smtp_start(r->tp, job->dest, c, host, r->addrs, r->naddrs,
			      r->tls, job->msg, (const char *const *)job->rcpts,
			      job->nrcpts, job->res, on_smtp, r);
}

/* channel_https: POST /mxdeliv to the current host, unless it had an
 * SMTP success recently */
static void
channel_https(struct fm_tp_run *r)
{
	struct fm_tp_job *job = r->job;
	const char *host = r->mx[r->cur].host;

	if (r->naddrs == 0) {
		char why[FM_TP_HOST_MAX + 160];

		(void)snprintf(why, sizeof(why), "no address for %s%s%s", host,
			       r->dns_err[0] != '\0' ? ": " : "", r->dns_err);
		host_failed(r, why);
		return;
	}
	if (fm_tp_prefers_smtp(r->tp, host)) {
		log_debug("Skipping HTTP delivery to host that failed "
			  "recently: %s",
			  host);
		channel_smtp(r);
		return;
	}
	r->sending = 1;
	r->https = fm_https_start(
		r->tp, host, r->addr_ptr, r->naddrs, r->relaxed, job->msg,
		(const char *const *)job->rcpts, job->nrcpts, on_https, r);
	if (r->https == NULL) {
		(void)snprintf(r->https_why, sizeof(r->https_why),
			       "HTTPS: cannot start a request");
		channel_smtp(r);
	}
}

/* run_end: hand the answers over; r is freed */
static void
run_end(struct fm_tp_run *r)
{
	struct fm_tp_job *job = r->job;

	fm_tp_run_cancel(&job->run);
	fm_tp_job_finished(job);
}

/* on_step: the next phase */
static void
on_step(struct evloop *loop, void *arg)
{
	struct fm_tp_run *r = arg;

	(void)loop;
	switch (r->phase) {
	case PH_MX:
		r->cur = 0;
		host_start(r);
		break;
	case PH_NEXT:
		host_start(r);
		break;
	case PH_ADDRS:
		channel_https(r);
		break;
	case PH_SMTP:
		channel_smtp(r);
		break;
	case PH_END:
		run_end(r);
		break;
	}
}

/* fm_tp_run_start: see fm_tp.h */
void
fm_tp_run_start(struct fm_tp *tp, struct fm_tp_job *job)
{
	struct fm_tp_run *r = xcalloc(1, sizeof(*r));
	const char *d = fm_tp_dest_name(job->dest);
	size_t n = strlen(d);

	r->tp = tp;
	r->job = job;
	r->dest = d;
	job->run = r;
	evloop_timer_init(&r->step, on_step, r);
	(void)snprintf(r->last_err, sizeof(r->last_err), "?");
	if (tp->draining) {
		end_all(r, 421, "%s", FM_TP_DRAINING);
		return;
	}
	if (d[0] == '[') {
		/* no DNS: the address is the destination; relays on bare
		 * addresses have self-signed certificates (as upstream) */
		r->relaxed = 1;
		r->tls = FM_SMTP_RELAXED;
		r->mx = xcalloc(1, sizeof(*r->mx));
		(void)snprintf(r->mx[0].host, FM_TP_HOST_MAX, "%.*s",
			       (int)(n - 2), d + 1);
		r->nmx = 1;
		go(r, PH_MX);
		return;
	}
	/* nauta.cu has no STARTTLS at all; `_` domains are test relays
	 * whose certificates cannot be real (both as upstream) */
	r->tls = strcasecmp(d, "nauta.cu") == 0 ? FM_SMTP_PLAIN
		 : d[0] == '_'			? FM_SMTP_RELAXED
						: FM_SMTP_VERIFY;
	r->relaxed = r->tls != FM_SMTP_VERIFY;
	r->q_mx = dns_lookup(tp->dns, d, DNS_MX, on_mx, r);
}

/* fm_tp_run_drain: see fm_tp.h */
int
fm_tp_run_drain(struct fm_tp_run *r)
{
	if (r->sending || r->phase == PH_END)
		return 0;
	/* no lookup may call back into a run that is ending */
	dns_cancel(&r->q_mx);
	dns_cancel(&r->q_a);
	dns_cancel(&r->q_aaaa);
	r->pending = 0;
	end_all(r, 421, "%s", FM_TP_DRAINING);
	return 1;
}

/* fm_tp_run_cancel: see fm_tp.h */
void
fm_tp_run_cancel(struct fm_tp_run **rp)
{
	struct fm_tp_run *r = *rp;

	if (r == NULL)
		return;
	dns_cancel(&r->q_mx);
	dns_cancel(&r->q_a);
	dns_cancel(&r->q_aaaa);
	fm_https_cancel(&r->https);
	fm_smtp_cancel(&r->smtp);
	evloop_timer_stop(r->tp->loop, &r->step);
	free(r->mx);
	free(r);
	*rp = NULL;
}
