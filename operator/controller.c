/*
 * controller: wires the operator together and runs its one event loop.
 *
 *   informers   ChatmailRelays (every object, whole) and each owned kind
 *               (label app.kubernetes.io/managed-by=chatmail-operator,
 *               compact child entries); handlers only enqueue the
 *               owning relay's key
 *   work queue  up to --max-concurrent-reconciles keys in flight at
 *               once, started by the main loop only while this replica
 *               leads (or leader election is off) and the caches are
 *               synced; failures are retried with backoff; every relay
 *               is re-queued each resync period
 *   probes      the cert containers' readiness-probe events
 *               (certprobe.h); one queues the relay of Pod "<relay>-0"
 *   served      the certificate a Ready ACME relay serves on 443, read
 *               over TLS at most every SERVED_MAX_AGE_MS (servedcert.h);
 *               a read's end queues the relay
 *   keygen      DKIM keys made in child processes (keygen.h); a relay
 *               waiting for one is re-queued when it is ready
 *   HTTP        /healthz, /readyz (caches synced), /metrics
 *   signals     SIGTERM/SIGINT: stop taking keys, let the running
 *               reconciles finish (for DRAIN_MS at most, then cancel
 *               them), release the Lease, return 0
 *   leader      losing the Lease cancels the reconciles in flight at
 *               once (like controller-runtime, which exits): a replica
 *               that no longer leads writes nothing more
 *
 * Reconciles are asynchronous (reconcile.h): the main loop starts them
 * between dispatch rounds, their API calls complete in loop callbacks,
 * so watches, Lease renewals and probes are served meanwhile, and a
 * slow request of one relay does not hold up the others. They reach
 * the client, the caches, events, the keygen, the loop's clock and the
 * queue only through the struct rec_env wired here (its hooks are in
 * controller_env.c), which tests/unit/operator/test_reconcile.c
 * replaces by a fake. The state is struct controller (controller.h).
 *
 * Untrusted input: HTTP requests to the probe/metrics ports (handled by
 * services/lib/http with its limits; only the path is looked at).
 */
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <sys/random.h>
#include <unistd.h>

#include <curl/curl.h>

#include "controller.h"
#include "events.h"
#include "http.h"
#include "keygen.h"
#include "leader.h"
#include "log.h"
#include "metrics.h"
#include "net.h"
#include "operator.h"
#include "desired.h"
#include "dnscheck.h"
#include "reconcile.h"
#include "servedcert.h"
#include "xmalloc.h"

/* how long SIGTERM waits for reconciles in flight (a Pod's default
 * grace period is 30 s) */
#define DRAIN_MS 20000u
/* how often the certificate a relay serves is read again */
#define SERVED_MAX_AGE_MS 600000u
/* malloc_trim when idle, at most this often */
#define TRIM_MS 5000u

/* controller_mono_ms: a monotonic clock for the work queue */
uint64_t
controller_mono_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* synced: every cache the reconcile needs has listed once */
static int
synced(const struct controller *ctl)
{
	int k;

	if (!informer_synced(ctl->relays))
		return 0;
	for (k = 0; k < OK_COUNT; k++)
		if (k != OK_CERTIFICATE && k != OK_DNSENDPOINT &&
		    k != OK_PODMONITOR && !informer_synced(ctl->kids[k]))
			return 0;
	return 1;
}

/* can_work: keys may be processed now */
static int
can_work(const struct controller *ctl)
{
	return !ctl->draining && !ctl->lost && synced(ctl) &&
	       (!ctl->opts->leader_elect || ctl->leading);
}

/* meta_changed: a relay update that needs a reconcile (not our own
 * status write) */
static int
meta_changed(const struct relay_entry *a, const struct relay_entry *b)
{
	if (a == NULL || b == NULL)
		return 1;
	if (strcmp(a->rv, b->rv) == 0)
		return 1; /* a re-list: treat as a resync */
	return strcmp(a->meta, b->meta) != 0;
}

/* relay_event: a ChatmailRelay changed */
static void
relay_event(void *arg, enum informer_event ev, const char *key,
	    const void *old_v, const void *new_v)
{
	struct controller *ctl = arg;

	if (ev == INF_DELETED) {
		rec_env_relay_deleted(
			&ctl->env, key,
			((const struct relay_entry *)old_v)->json);
		if (ctl->dns != NULL)
			dnscheck_forget(ctl->dns, key);
		served_certs_forget(ctl->served, key);
	} else if (ev == INF_UPDATED && !meta_changed(old_v, new_v))
		return;
	workqueue_add(&ctl->queue, key);
}

/* kid_event: an owned object changed: queue its relay */
static void
kid_event(void *arg, enum informer_event ev, const char *key, const void *old_v,
	  const void *new_v)
{
	struct kid_arg *ka = arg;
	const struct child *c = new_v ? new_v : old_v;
	const char *slash = strchr(key, '/');
	char rk[512];

	if (ev == INF_DELETED)
		rec_env_child_deleted(&ka->ctl->env, ka->kind, key);
	if (c == NULL || c->relay == NULL || slash == NULL)
		return;
	(void)snprintf(rk, sizeof(rk), "%.*s/%s", (int)(slash - key), key,
		       c->relay);
	workqueue_add(&ka->ctl->queue, rk);
}

/* probe_event: a cert container's probe event changed: queue the
 * relay of its Pod, when there is one */
static void
probe_event(void *arg, enum informer_event ev, const char *key,
	    const void *old_v, const void *new_v)
{
	struct controller *ctl = arg;
	const struct cert_probe *p = new_v ? new_v : old_v;
	char rk[512];

	(void)ev;
	(void)key;
	if (p == NULL || p->pod[0] == '\0' ||
	    cert_probe_relay(p, rk, sizeof(rk)) < 0 ||
	    informer_get(ctl->relays, rk) == NULL)
		return;
	workqueue_add(&ctl->queue, rk);
}

/* enqueue_one: resync helper */
static void
enqueue_one(void *arg, const char *key, const void *value)
{
	struct controller *ctl = arg;

	(void)value;
	workqueue_add(&ctl->queue, key);
}

/* kid_synced: an optional kind's cache listed for the first time (its
 * CRD is served now): every relay is reconciled with it */
static void
kid_synced(void *arg)
{
	struct kid_arg *ka = arg;

	log_info("%s are served: reconciling every relay",
		 child_kind(ka->kind)->plural);
	informer_each(ka->ctl->relays, enqueue_one, ka->ctl);
}

/* resync_fire: re-queue every relay (drift the watches did not show) */
static void
resync_fire(struct evloop *loop, void *arg)
{
	struct controller *ctl = arg;

	informer_each(ctl->relays, enqueue_one, ctl);
	evloop_timer_start(loop, &ctl->resync, ctl->opts->resync_ms);
}

/* http_handler: /healthz, /readyz, /metrics */
static void
http_handler(void *arg, struct http_request *req)
{
	struct controller *ctl = arg;
	const char *path = http_request_path(req);
	struct buf out = BUF_INIT(4u << 20);

	if (strcmp(path, "/healthz") == 0 || strcmp(path, "/livez") == 0) {
		(void)http_respond_text(req, ctl->lost ? 500 : 200,
					ctl->lost ? "leader lost\n" : "ok\n");
	} else if (strcmp(path, "/readyz") == 0) {
		(void)http_respond_text(req, synced(ctl) ? 200 : 503,
					synced(ctl) ? "ok\n"
						    : "caches not synced\n");
	} else if (strcmp(path, "/metrics") == 0) {
		metrics_set(ctl->metrics, MG_QUEUE_DEPTH,
			    (double)workqueue_len(&ctl->queue));
		metrics_set(ctl->metrics, MG_RELAYS,
			    (double)informer_count(ctl->relays));
		(void)metrics_render(ctl->metrics, &out);
		(void)http_respond(req, 200, "text/plain; version=0.0.4", NULL,
				   out.data ? out.data : "", out.len);
	} else {
		(void)http_respond_text(req, 404, "not found\n");
	}
	buf_deinit(&out);
}

/* listen_on: serve HTTP on "host:port" ("" or "0" = off) */
static int
listen_on(struct controller *ctl, const char *addr)
{
	struct buf err = BUF_INIT(512);
	int fd, r = -EINVAL;

	if (addr == NULL || *addr == '\0' || strcmp(addr, "0") == 0)
		return 0;
	fd = net_listen_spec(addr, 0600, &err);
	if (fd < 0) {
		log_error("cannot listen on %s: %s", addr, buf_cstr(&err));
		goto out;
	}
	r = http_server_listen(ctl->http, fd);
	if (r == 0)
		log_info("serving /healthz /readyz /metrics on %s", addr);
out:
	buf_deinit(&err);
	return r;
}

/* on_signal: SIGTERM/SIGINT: drain */
static void
on_signal(struct evloop *loop, int signo, void *arg)
{
	struct controller *ctl = arg;

	(void)loop;
	log_info("received signal %d: draining", signo);
	if (!ctl->draining)
		ctl->drain_until = evloop_now(loop) + DRAIN_MS;
	ctl->draining = 1;
	workqueue_shutdown(&ctl->queue);
}

/* leader callbacks */
static void
on_started(void *arg)
{
	struct controller *ctl = arg;

	ctl->leading = 1;
	metrics_set(ctl->metrics, MG_LEADER, 1);
	informer_each(ctl->relays, enqueue_one, ctl);
}

static void
on_lost(void *arg)
{
	struct controller *ctl = arg;

	ctl->leading = 0;
	ctl->lost = 1;
	metrics_set(ctl->metrics, MG_LEADER, 0);
}

/* start_informers: the relay informer and one per owned kind */
static void
start_informers(struct controller *ctl)
{
	struct informer_opts o;
	int k;

	memset(&o, 0, sizeof(o));
	o.kind = &KUBE_RELAY;
	o.namespace = ctl->opts->namespace;
	o.transform = relay_transform;
	o.free_value = relay_free;
	o.on_event = relay_event;
	o.arg = ctl;
	ctl->relays = informer_new(ctl->loop, ctl->client, &o, ctl->metrics);
	informer_start(ctl->relays);
	for (k = 0; k < OK_COUNT; k++) {
		memset(&o, 0, sizeof(o));
		ctl->kid_args[k].ctl = ctl;
		ctl->kid_args[k].kind = (enum op_kind)k;
		o.kind = child_kind((enum op_kind)k);
		o.namespace = ctl->opts->namespace;
		o.label_selector = k == OK_POD ? DESIRED_TURN_POD_SELECTOR
					       : DESIRED_SELECTOR;
		o.transform = child_transform;
		o.free_value = child_free;
		o.on_event = kid_event;
		o.arg = &ctl->kid_args[k];
		/* cert-manager, external-dns, the Prometheus Operator may
		 * not be installed, or installed after the operator: a
		 * kind not served is listed again within the informer's
		 * backoff cap (30 s; a 404 costs the apiserver little),
		 * and once it is, every relay is reconciled with it
		 * (kid_synced): no restart of the operator */
		if (k == OK_CERTIFICATE || k == OK_DNSENDPOINT ||
		    k == OK_PODMONITOR) {
			o.optional = 1;
			o.on_synced = kid_synced;
		}
		ctl->kids[k] =
			informer_new(ctl->loop, ctl->client, &o, ctl->metrics);
		informer_start(ctl->kids[k]);
	}
	ctl->probes =
		cert_probes_start(ctl->loop, ctl->client, ctl->opts->namespace,
				  ctl->metrics, probe_event, ctl);
}

/* served_done: a read of what a relay serves ended: reconcile it */
static void
served_done(void *arg, const char *key)
{
	struct controller *ctl = arg;

	workqueue_add(&ctl->queue, key);
}

/* start_keys: start reconciles of ready keys, up to the limit */
static void
start_keys(struct controller *ctl)
{
	const char *key;
	char *k;

	workqueue_tick(&ctl->queue, controller_mono_ms());
	while (ctl->inflight < ctl->opts->concurrency &&
	       (key = workqueue_get(&ctl->queue)) != NULL) {
		/* the queue's copy lives until workqueue_done, which the
		 * reconcile may call before reconcile_start returns */
		k = xstrdup(key);
		ctl->inflight++;
		ctl->busy = 1;
		if (ctl->inflight > ctl->peak) {
			ctl->peak = ctl->inflight;
			metrics_set(ctl->metrics, MG_PEAK_WORKERS,
				    (double)ctl->peak);
		}
		metrics_set(ctl->metrics, MG_ACTIVE_WORKERS,
			    (double)ctl->inflight);
		reconcile_start(&ctl->env, k);
		free(k);
	}
}

/* export_queue: queue figures for /metrics */
static void
export_queue(struct controller *ctl)
{
	metrics_set(ctl->metrics, MG_QUEUE_DEPTH,
		    (double)workqueue_len(&ctl->queue));
	metrics_set(ctl->metrics, MG_QUEUE_ADDS, (double)ctl->queue.adds);
	metrics_set(ctl->metrics, MG_QUEUE_RETRIES, (double)ctl->queue.retries);
	metrics_set(ctl->metrics, MG_KEYGEN_CHILDREN,
		    (double)keygen_running(ctl->keygen));
	metrics_set(ctl->metrics, MG_KEYGEN_WAITING,
		    (double)keygen_waiting(ctl->keygen));
	metrics_set(ctl->metrics, MG_KEYGEN_FAILURES,
		    (double)keygen_failures(ctl->keygen));
}

/* cancel_inflight: drop every reconcile in flight (no outcome: the
 * queue is not consulted again) */
static void
cancel_inflight(struct controller *ctl, const char *why)
{
	if (!LLIST_EMPTY(&ctl->env.live))
		log_warn("cancelling %u reconciles in flight: %s",
			 ctl->inflight, why);
	while (!LLIST_EMPTY(&ctl->env.live)) {
		reconcile_abort(LLIST_FIRST(&ctl->env.live));
		ctl->inflight--;
	}
	metrics_set(ctl->metrics, MG_ACTIVE_WORKERS, 0);
}

/* trim_when_idle: after a burst of reconciles, once nothing is in flight
 * or ready, give the freed heap back to the kernel (glibc keeps free
 * memory below the top chunk and in fragments otherwise) */
static void
trim_when_idle(struct controller *ctl)
{
	uint64_t now = evloop_now(ctl->loop);

	/* at most every TRIM_MS: a trickle of single reconciles at steady
	 * state should not walk the heap each time */
	if (!ctl->busy || ctl->inflight > 0 || workqueue_len(&ctl->queue) > 0 ||
	    now < ctl->trimmed + TRIM_MS)
		return;
	ctl->busy = 0;
	ctl->trimmed = now;
	(void)malloc_trim(0);
}

/* main_loop: dispatch I/O and start reconciles until the Lease is
 * lost, or until drained and no reconcile is in flight (or the drain
 * took too long) */
static void
main_loop(struct controller *ctl)
{
	int64_t wait;

	while (!ctl->lost && (!ctl->draining || ctl->inflight > 0)) {
		if (ctl->draining && evloop_now(ctl->loop) >= ctl->drain_until)
			break;
		if (can_work(ctl))
			start_keys(ctl);
		wait = can_work(ctl) && ctl->inflight < ctl->opts->concurrency
			       ? workqueue_next_delay(&ctl->queue,
						      controller_mono_ms())
			       : -1;
		/* wake up now and then to re-check leadership and syncs */
		if (wait < 0 || wait > 500)
			wait = 500;
		export_queue(ctl);
		trim_when_idle(ctl);
		if (evloop_run_once(ctl->loop, (int)wait) < 0)
			break;
	}
}

/* keygen_ready: a DKIM key is ready for this relay, or making it
 * failed: reconcile it (to take the key, or to report the failure) */
static void
keygen_ready(void *arg, const char *waiter)
{
	struct controller *ctl = arg;

	workqueue_add(&ctl->queue, waiter);
}

/* dns_changed: a DNS check has a new outcome: write it */
static void
dns_changed(void *arg, const char *key)
{
	struct controller *ctl = arg;

	workqueue_add(&ctl->queue, key);
}

/* setup_dns: the DNS check, unless --dns-check-interval is 0 */
static int
setup_dns(struct controller *ctl)
{
	struct dnscheck_opts d;
	struct buf err = BUF_INIT(512);

	if (ctl->opts->dns_interval_ms == 0)
		return 0;
	memset(&d, 0, sizeof(d));
	d.server = ctl->opts->dns_server;
	d.interval_ms = ctl->opts->dns_interval_ms;
	d.retry_ms = ctl->opts->dns_retry_ms;
	d.timeout_ms = 10000;
	ctl->dns = dnscheck_new(ctl->loop, &d, dns_changed, ctl, &err);
	if (ctl->dns == NULL)
		log_error("--dns-server: %s", buf_cstr(&err));
	buf_deinit(&err);
	return ctl->dns != NULL ? 0 : EX_CONFIG;
}

/* setup: config, client, events, HTTP, leader election */
static int
setup(struct controller *ctl)
{
	struct http_server_opts ho;
	struct leader_opts lo;
	struct buf err = BUF_INIT(1024);
	char host[64] = "chatmail-operator", rnd[8];
	unsigned char rb[3];

	if (kube_config_load(&ctl->kc, ctl->opts->kubeconfig,
			     ctl->opts->context, &err) < 0) {
		log_error("%s", buf_cstr(&err));
		buf_deinit(&err);
		return EX_CONFIG;
	}
	buf_deinit(&err);
	log_info("API server %s (from %s)", ctl->kc.server, ctl->kc.source);
	(void)gethostname(host, sizeof(host) - 1);
	host[sizeof(host) - 1] = '\0';
	if (getrandom(rb, sizeof(rb), 0) != (ssize_t)sizeof(rb))
		memset(rb, 0, sizeof(rb));
	(void)snprintf(rnd, sizeof(rnd), "%02x%02x%02x", rb[0], rb[1], rb[2]);
	(void)snprintf(ctl->identity, sizeof(ctl->identity), "%s_%s", host,
		       rnd);
	ctl->metrics = metrics_new();
	ctl->client = kube_client_new(ctl->loop, &ctl->kc, ctl->metrics);
	ctl->events = events_new(ctl->loop, ctl->client, ctl->identity);
	ctl->keygen = keygen_new(ctl->loop, 2048, ctl->opts->keygen_workers,
				 keygen_ready, ctl);
	ctl->served = served_certs_new(ctl->loop, SERVED_MAX_AGE_MS,
				       served_done, ctl);
	metrics_set(ctl->metrics, MG_MAX_WORKERS,
		    (double)ctl->opts->concurrency);
	http_server_opts_default(&ho);
	ctl->http = http_server_new(ctl->loop, &ho, NULL, http_handler, ctl);
	if (listen_on(ctl, ctl->opts->metrics_addr) < 0 ||
	    listen_on(ctl, ctl->opts->probe_addr) < 0)
		return EX_CONFIG;
	if (ctl->opts->leader_elect) {
		memset(&lo, 0, sizeof(lo));
		lo.namespace = *ctl->opts->leader_ns ? ctl->opts->leader_ns
			       : *ctl->kc.namespace  ? ctl->kc.namespace
						     : "default";
		lo.name = ctl->opts->lease_name;
		lo.identity = ctl->identity;
		lo.on_started = on_started;
		lo.on_lost = on_lost;
		lo.arg = ctl;
		ctl->leader = leader_new(ctl->loop, ctl->client, &lo);
		leader_start(ctl->leader);
	}
	return 0;
}

/* teardown: stop watches, give the Lease back, free everything */
static void
teardown(struct controller *ctl)
{
	int k;

	cancel_inflight(ctl, "shutting down"); /* setup failed */
	leader_release(ctl->leader);
	leader_free(&ctl->leader);
	informer_free(&ctl->relays);
	for (k = 0; k < OK_COUNT; k++)
		informer_free(&ctl->kids[k]);
	informer_free(&ctl->probes);
	served_certs_free(&ctl->served);
	http_server_free(&ctl->http);
	events_free(&ctl->events);
	kube_client_free(&ctl->client);
	keygen_free(&ctl->keygen);
	dnscheck_free(&ctl->dns);
	metrics_free(&ctl->metrics);
	rec_env_deinit(&ctl->env);
	workqueue_deinit(&ctl->queue);
	kube_config_deinit(&ctl->kc);
}

int
controller_run(struct op_opts *o)
{
	struct controller ctl;
	int rc;

	memset(&ctl, 0, sizeof(ctl));
	ctl.opts = o;
	ctl.loop = evloop_new();
	kube_config_init(&ctl.kc);
	workqueue_init(&ctl.queue);
	rec_env_init(&ctl.env, &controller_env_ops, &ctl, &o->images);
	(void)signal(SIGPIPE, SIG_IGN);
	if (evloop_signal_add(ctl.loop, SIGTERM, on_signal, &ctl) < 0 ||
	    evloop_signal_add(ctl.loop, SIGINT, on_signal, &ctl) < 0) {
		rc = EX_OSERR;
		goto out;
	}
	if ((rc = setup(&ctl)) != 0 || (rc = setup_dns(&ctl)) != 0)
		goto out;
	start_informers(&ctl);
	evloop_timer_init(&ctl.resync, resync_fire, &ctl);
	if (o->resync_ms > 0)
		evloop_timer_start(ctl.loop, &ctl.resync, o->resync_ms);
	log_info("chatmail-operator started as %s, watching %s%s", ctl.identity,
		 *o->namespace ? "namespace " : "all namespaces", o->namespace);
	main_loop(&ctl);
	cancel_inflight(&ctl,
			ctl.lost ? "leader election lost" : "drain timed out");
	evloop_timer_stop(ctl.loop, &ctl.resync);
	rc = ctl.lost ? EX_TEMPFAIL : 0;
	log_info("stopped after %llu reconciles%s",
		 (unsigned long long)ctl.reconciles,
		 ctl.lost ? " (leader election lost)" : "");
out:
	teardown(&ctl);
	evloop_free(&ctl.loop);
	return rc;
}
