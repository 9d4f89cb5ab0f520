/*
 * fm_tp_main: `filtermail <ini> transport`: the options from chatmail.ini
 * and the environment, the resolver, the transport, the LMTP listener on
 * filtermail_lmtp_port_transport (10083), the counters on --metrics
 * (fm_tp_stats.c) when asked, then the loop until SIGTERM or SIGINT.
 *
 * Role: what main.c runs for transport mode. Environment (ours,
 * docs/UPSTREAM.md, filtermail): FILTERMAIL_SMTP_PREFER_SECONDS (how
 * long HTTPS is skipped for an MX host after an SMTP success, default
 * 1800 as upstream's 30 minutes), FILTERMAIL_TRANSPORT_TIMEOUT (seconds
 * for an HTTPS request and each SMTP step, default 60 as upstream),
 * SSL_CERT_FILE (OpenSSL's variable: more trust anchors, for libcurl
 * too), FILTERMAIL_PEER_CA_FILE (CAs added to the system's store for
 * SMTP and HTTPS: the relay's tls.peerCABundle). Untrusted input: none here (the config is validated by
 * config_load; the variables by num.h).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "fm_lmtpd.h"
#include "log.h"
#include "num.h"
#include "prom.h"

#define DRAIN_MS 10000

/* env_u64: variable name as a number in [min, max], or dflt when
 * unset; -1 + err when it is not one */
static int
env_u64(const char *name, uint64_t min, uint64_t max, uint64_t dflt,
	uint64_t *r, struct buf *err)
{
	const char *v = getenv(name);

	*r = dflt;
	if (v == NULL || v[0] == '\0')
		return 0;
	if (num_parse_u64(v, min, max, r) < 0) {
		(void)buf_printf(
			err, "%s=%.32s: not a number from %llu to %llu", name,
			v, (unsigned long long)min, (unsigned long long)max);
		return -1;
	}
	return 0;
}

/* fm_tp_opts_from_config: see fm_lmtpd.h */
int
fm_tp_opts_from_config(struct fm_tp_opts *o, const struct chatmail_config *cfg,
		       struct buf *err)
{
	const char *ca = getenv("SSL_CERT_FILE");
	const char *peer = getenv("FILTERMAIL_PEER_CA_FILE");
	uint64_t v;

	fm_tp_opts_default(o);
	/* upstream greets with mail_domain ("[1.2.3.4]" for an IPv4 relay) */
	(void)snprintf(o->helo, sizeof(o->helo), "%s", cfg->mail_domain);
	o->max_size = cfg->max_message_size;
	o->ipv6 = !cfg->disable_ipv6;
	if (ca != NULL)
		(void)snprintf(o->ca_file, sizeof(o->ca_file), "%s", ca);
	if (peer != NULL && strlen(peer) >= sizeof(o->peer_ca_file)) {
		(void)buf_printf(err, "FILTERMAIL_PEER_CA_FILE: too long");
		return -1;
	}
	if (peer != NULL)
		(void)snprintf(o->peer_ca_file, sizeof(o->peer_ca_file), "%s",
			       peer);
	if (env_u64("FILTERMAIL_SMTP_PREFER_SECONDS", 0, 7 * 86400, 1800, &v,
		    err) < 0)
		return -1;
	o->prefer_smtp_ms = v * 1000;
	if (env_u64("FILTERMAIL_TRANSPORT_TIMEOUT", 1, 3600, 60, &v, err) < 0)
		return -1;
	o->timeout_ms = v * 1000;
	return 0;
}

/* a graceful stop: no new connections; deliveries that have sent
 * nothing yet end with 421 at once (fm_tp_drain); transfers under way
 * get DRAIN_MS, then the process goes (Postfix sees the connection
 * close and keeps the mail: nothing is lost) */
struct drain {
	struct fm_lmtpd *srv;
	struct fm_tp *tp;
	struct evloop_timer timer;
	uint64_t until;
	int stopping;
};

/* drain_check: stop once nothing waits, or at the end of the grace */
static void
drain_check(struct evloop *loop, void *arg)
{
	struct drain *d = arg;

	if (fm_lmtpd_busy(d->srv) == 0 || evloop_now(loop) >= d->until) {
		evloop_stop(loop);
		return;
	}
	evloop_timer_start(loop, &d->timer, 50);
}

/* on_signal: SIGTERM/SIGINT: drain; a second one stops at once */
static void
on_signal(struct evloop *loop, int signo, void *arg)
{
	struct drain *d = arg;

	if (d->stopping) {
		evloop_stop(loop);
		return;
	}
	log_info("signal %d, finishing the deliveries in flight", signo);
	d->stopping = 1;
	d->until = evloop_now(loop) + DRAIN_MS;
	fm_lmtpd_close_listener(d->srv);
	fm_tp_drain(d->tp);
	drain_check(loop, d);
}

/* metrics_start: the --metrics listener over view (NULL when not
 * asked); -1 when it cannot listen (logged) */
static int
metrics_start(struct evloop *loop, const char *addr,
	      struct fm_tp_stats_view *view, struct prom_server **pp)
{
	struct buf err = BUF_INIT(256);

	*pp = NULL;
	if (addr == NULL)
		return 0;
	*pp = prom_server_new(loop, addr, fm_tp_stats_render, view, &err);
	if (*pp == NULL)
		log_error("cannot serve metrics on %s: %s", addr,
			  buf_cstr(&err));
	buf_deinit(&err);
	return *pp == NULL ? -1 : 0;
}

/* serve: listen and run; the exit code */
static int
serve(struct evloop *loop, struct fm_tp *tp, const struct chatmail_config *cfg,
      const char *metrics)
{
	struct buf err = BUF_INIT(512);
	struct fm_lmtpd_opts lo;
	struct fm_lmtpd *srv = NULL;
	struct fm_tp_stats_view view = { tp, NULL };
	struct prom_server *prom = NULL;
	struct drain d;
	int fd, r = EX_OK;

	fd = net_listen_tcp(cfg->filtermail_smtp_host,
			    cfg->filtermail_lmtp_port_transport, 1024, &err);
	fm_lmtpd_opts_default(&lo);
	lo.max_size = cfg->max_message_size;
	if (fd < 0 || (srv = fm_lmtpd_new(loop, tp, &lo, fd)) == NULL) {
		log_error("cannot listen on %s:%u: %s",
			  cfg->filtermail_smtp_host,
			  cfg->filtermail_lmtp_port_transport, buf_cstr(&err));
		buf_deinit(&err);
		return EX_TEMPFAIL;
	}
	view.lmtpd = srv;
	if (metrics_start(loop, metrics, &view, &prom) < 0) {
		fm_lmtpd_free(&srv);
		buf_deinit(&err);
		return EX_TEMPFAIL;
	}
	log_debug("Transport LMTP server listening on %s:%u",
		  cfg->filtermail_smtp_host,
		  cfg->filtermail_lmtp_port_transport);
	memset(&d, 0, sizeof(d));
	d.srv = srv;
	d.tp = tp;
	evloop_timer_init(&d.timer, drain_check, &d);
	(void)evloop_signal_add(loop, SIGTERM, on_signal, &d);
	(void)evloop_signal_add(loop, SIGINT, on_signal, &d);
	log_info("entering serving loop");
	if (evloop_run(loop) < 0)
		r = EX_SOFTWARE;
	evloop_timer_stop(loop, &d.timer);
	prom_server_free(&prom);
	fm_lmtpd_free(&srv);
	buf_deinit(&err);
	return r;
}

/* fm_transport_run: see fm_lmtpd.h */
int
fm_transport_run(struct evloop *loop, const struct chatmail_config *cfg,
		 const char *metrics)
{
	struct buf err = BUF_INIT(512);
	struct fm_tp_opts o;
	struct dns *dns = NULL;
	struct fm_tp *tp = NULL;
	int r;

	if (fm_tp_opts_from_config(&o, cfg, &err) < 0) {
		log_error("%s", buf_cstr(&err));
		r = EX_CONFIG;
		goto out;
	}
	dns = dns_new(loop, cfg->dns_server, NULL, &err);
	if (dns == NULL || (tp = fm_tp_new(loop, dns, &o, &err)) == NULL) {
		log_error("cannot set up the transport: %s", buf_cstr(&err));
		r = EX_CONFIG;
		goto out;
	}
	r = serve(loop, tp, cfg, metrics);
out:
	fm_tp_free(&tp);
	dns_free(&dns);
	buf_deinit(&err);
	return r;
}
