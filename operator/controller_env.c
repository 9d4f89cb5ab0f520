/*
 * controller_env: the hooks of struct rec_ops that give a reconcile its
 * world (reconcile.h): the API client, the informers' caches, events,
 * the keygen, the loop's clock, the DNS checks, the cert probes and the
 * served certificates of the controller (controller.h), and the end of
 * a reconcile, which feeds the work queue's backoff and the metrics.
 * tests/unit/operator/reconcile_fake.h is the fake of the same hooks.
 *
 * Untrusted input: none here (what the hooks hand over was parsed by
 * the informers and the client).
 */
#include <stdint.h>
#include <stdio.h>

#include "controller.h"
#include "dnscheck.h"
#include "events.h"
#include "keygen.h"
#include "log.h"
#include "metrics.h"
#include "util.h"

/* env_finished: a reconcile of key ended (the env's finished hook) */
static void
env_finished(void *arg, const char *key, int rc, unsigned retry_after,
	     uint64_t took_ms)
{
	struct controller *ctl = arg;
	double secs = (double)took_ms / 1000.0;
	uint64_t d;

	ctl->reconciles++;
	ctl->inflight--;
	metrics_set(ctl->metrics, MG_ACTIVE_WORKERS, (double)ctl->inflight);
	if (rc == 0) {
		workqueue_forget(&ctl->queue, key);
		metrics_reconcile(ctl->metrics, "success", secs);
	} else {
		/* a 429/503 Retry-After is a floor for the backoff */
		d = workqueue_add_rate_limited(&ctl->queue, key,
					       controller_mono_ms(),
					       retry_after * 1000ull);
		metrics_reconcile(ctl->metrics, "error", secs);
		log_info("reconcile of %s failed; retry in %llu ms", key,
			 (unsigned long long)d);
	}
	workqueue_done(&ctl->queue, key);
}

/* the env's hooks (struct rec_ops): reconcile's world, the real one */
static void *
env_call(void *arg, enum kube_verb v, const char *path, const cJSON *body,
	 kube_done_fn *done, void *done_arg)
{
	struct controller *ctl = arg;

	return kube_call_start(ctl->client, v, path, body, done, done_arg);
}

static void
env_cancel(void *arg, void *handle)
{
	struct controller *ctl = arg;
	struct kube_call *kc = handle;

	kube_call_cancel(ctl->client, &kc);
}

static const struct relay_entry *
env_relay(void *arg, const char *key)
{
	struct controller *ctl = arg;

	return informer_get(ctl->relays, key);
}

static const struct child *
env_child(void *arg, enum op_kind k, const char *key)
{
	struct controller *ctl = arg;

	return ctl->kids[k] ? informer_get(ctl->kids[k], key) : NULL;
}

static void
env_children(void *arg, enum op_kind k, rec_each_fn *fn, void *fn_arg)
{
	struct controller *ctl = arg;

	if (ctl->kids[k] != NULL)
		informer_each(ctl->kids[k], fn, fn_arg);
}

static int
env_served(void *arg, enum op_kind k)
{
	struct controller *ctl = arg;

	return ctl->kids[k] != NULL && informer_synced(ctl->kids[k]);
}

static void
env_event(void *arg, const cJSON *relay, const char *type, const char *reason,
	  const char *action, const char *note)
{
	struct controller *ctl = arg;

	events_emit(ctl->events, relay, type, reason, action, "%s", note);
}

static int
env_key_take(void *arg, const char *waiter, struct buf *pem)
{
	struct controller *ctl = arg;

	return keygen_take(ctl->keygen, waiter, pem);
}

static void
env_key_forget(void *arg, const char *waiter)
{
	struct controller *ctl = arg;

	keygen_forget(ctl->keygen, waiter);
}

static const char *
env_key_error(void *arg)
{
	struct controller *ctl = arg;

	return keygen_error(ctl->keygen);
}

static uint64_t
env_now_ms(void *arg)
{
	struct controller *ctl = arg;

	return evloop_now(ctl->loop);
}

static void
env_now_rfc3339(void *arg, char *out, size_t outsize)
{
	(void)arg;
	util_now_rfc3339(out, outsize, 0);
}

static const struct dnscheck_result *
env_dns_result(void *arg, const char *key)
{
	struct controller *ctl = arg;

	return ctl->dns ? dnscheck_get(ctl->dns, key) : NULL;
}

static void
env_dns_want(void *arg, const char *key, const char *domain,
	     const cJSON *records)
{
	struct controller *ctl = arg;

	/* a reconcile that ran while its relay was deleted must not bring
	 * back the check relay_event forgot */
	if (ctl->dns != NULL && informer_get(ctl->relays, key) != NULL)
		dnscheck_want(ctl->dns, key, domain, records);
}

static int
env_cert_probe(void *arg, const char *ns, const char *pod,
	       struct cert_probe *out)
{
	struct controller *ctl = arg;

	return cert_probes_newest(ctl->probes, ns, pod, out);
}

static int
env_served_cert(void *arg, const char *key, const char *domain,
		struct served_cert *out)
{
	struct controller *ctl = arg;

	return served_certs_get(ctl->served, key, domain, out);
}

const struct rec_ops controller_env_ops = {
	.call = env_call,
	.cancel = env_cancel,
	.relay = env_relay,
	.child = env_child,
	.children = env_children,
	.served = env_served,
	.event = env_event,
	.key_take = env_key_take,
	.key_forget = env_key_forget,
	.key_error = env_key_error,
	.now_ms = env_now_ms,
	.now_rfc3339 = env_now_rfc3339,
	.dns_result = env_dns_result,
	.dns_want = env_dns_want,
	.cert_probe = env_cert_probe,
	.served_cert = env_served_cert,
	.finished = env_finished,
};
