/*
 * leader: Lease-based leader election on the evloop.
 *
 * One timer drives everything: every retry period the leader renews
 * (PUT of its last known Lease with a new renewTime) and a candidate
 * reads the Lease and tries to take it. Optimistic concurrency (the
 * resourceVersion in the PUT) decides races: the loser gets 409.
 *
 * Untrusted input: the Lease object (written by any candidate); only
 * holderIdentity, leaseDurationSeconds (bounded), renewTime and the
 * resourceVersion are read.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "leader.h"
#include "log.h"
#include "util.h"
#include "xmalloc.h"

struct leader {
	struct evloop *loop;
	struct kube_client *c;
	struct leader_opts o;
	char *ns, *name, *identity;
	struct evloop_timer timer;
	struct kube_call *call;
	cJSON *lease;	    /* the last Lease seen (ours after a renewal) */
	char observed[512]; /* holder + renewTime last seen */
	uint64_t observed_at, last_renew;
	int leading, stopped;
};

struct leader *
leader_new(struct evloop *loop, struct kube_client *c,
	   const struct leader_opts *o)
{
	struct leader *l = xcalloc(1, sizeof(*l));

	l->loop = loop;
	l->c = c;
	l->o = *o;
	l->ns = xstrdup(o->namespace);
	l->name = xstrdup(o->name);
	l->identity = xstrdup(o->identity);
	if (l->o.lease_ms == 0)
		l->o.lease_ms = 15000;
	if (l->o.renew_deadline_ms == 0)
		l->o.renew_deadline_ms = 10000;
	if (l->o.retry_ms == 0)
		l->o.retry_ms = 2000;
	return l;
}

void
leader_free(struct leader **lp)
{
	struct leader *l = *lp;

	if (l == NULL)
		return;
	kube_call_cancel(l->c, &l->call);
	evloop_timer_stop(l->loop, &l->timer);
	cJSON_Delete(l->lease);
	free(l->ns);
	free(l->name);
	free(l->identity);
	free(l);
	*lp = NULL;
}

int
leader_is_leader(const struct leader *l)
{
	return l != NULL && l->leading;
}

/* lease_path: the Lease's URL path */
static void
lease_path(struct leader *l, struct buf *p, int with_name)
{
	if (kube_path(p, &KUBE_LEASE, l->ns, with_name ? l->name : NULL, NULL) <
	    0)
		abort(); /* names are short */
}

/* record: a Lease held by us, renewed now (acquired now unless held) */
static cJSON *
record(struct leader *l, const cJSON *old, const char *holder)
{
	cJSON *lease = cJSON_CreateObject(), *md, *spec;
	const char *rv = util_get_str(old, "metadata.resourceVersion");
	const char *prev = util_get_str(old, "spec.holderIdentity");
	const char *acq = util_get_str(old, "spec.acquireTime");
	double trans = util_get_num(old, "spec.leaseTransitions", 0);
	char now[40];
	int same = prev != NULL && strcmp(prev, holder) == 0;

	util_now_rfc3339(now, sizeof(now), 1);
	cJSON_AddStringToObject(lease, "apiVersion", "coordination.k8s.io/v1");
	cJSON_AddStringToObject(lease, "kind", "Lease");
	md = cJSON_AddObjectToObject(lease, "metadata");
	cJSON_AddStringToObject(md, "name", l->name);
	cJSON_AddStringToObject(md, "namespace", l->ns);
	if (rv != NULL)
		cJSON_AddStringToObject(md, "resourceVersion", rv);
	spec = cJSON_AddObjectToObject(lease, "spec");
	cJSON_AddStringToObject(spec, "holderIdentity", holder);
	cJSON_AddNumberToObject(spec, "leaseDurationSeconds",
				(double)l->o.lease_ms / 1000.0);
	cJSON_AddStringToObject(spec, "acquireTime", same && acq ? acq : now);
	cJSON_AddStringToObject(spec, "renewTime", now);
	cJSON_AddNumberToObject(
		spec, "leaseTransitions",
		trans + (old != NULL && !same && prev && *prev != '\0'));
	return lease;
}

static void tick(struct evloop *loop, void *arg);

/* became: the outcome of an acquire or renew attempt */
static void
became(struct leader *l, int ok)
{
	uint64_t now = evloop_now(l->loop);

	if (ok) {
		l->last_renew = now;
		if (!l->leading) {
			l->leading = 1;
			log_info("successfully acquired lease %s/%s as %s",
				 l->ns, l->name, l->identity);
			if (l->o.on_started)
				l->o.on_started(l->o.arg);
		}
		return;
	}
	if (l->leading && now - l->last_renew >= l->o.renew_deadline_ms) {
		l->leading = 0;
		log_error("leader election lost: lease %s/%s not renewed "
			  "for %llu ms",
			  l->ns, l->name,
			  (unsigned long long)(now - l->last_renew));
		if (l->o.on_lost)
			l->o.on_lost(l->o.arg);
	}
}

/* put_done: our create or update of the Lease finished */
static void
put_done(void *arg, struct kube_result *res)
{
	struct leader *l = arg;

	l->call = NULL;
	if (res->err == 0 && cJSON_IsObject(res->body)) {
		cJSON_Delete(l->lease);
		l->lease = res->body;
		res->body = NULL; /* kept */
		became(l, 1);
	} else {
		if (res->err == -EBUSY) {
			cJSON_Delete(l->lease); /* stale: read it again */
			l->lease = NULL;
		}
		log_debug("lease update failed: %s", res->message);
		became(l, 0);
	}
}

/* try_take: PUT (or POST when missing) the Lease with us as holder */
static void
try_take(struct leader *l)
{
	struct buf p = BUF_INIT(512);
	cJSON *rec = record(l, l->lease, l->identity);

	lease_path(l, &p, l->lease != NULL);
	l->call = kube_call_start(l->c, l->lease ? KV_UPDATE : KV_CREATE,
				  buf_cstr(&p), rec, put_done, l);
	cJSON_Delete(rec);
	buf_deinit(&p);
}

/* get_done: a candidate read the Lease */
static void
get_done(void *arg, struct kube_result *res)
{
	struct leader *l = arg;
	const char *holder, *renew;
	char obs[512];
	uint64_t now = evloop_now(l->loop), dur;

	l->call = NULL;
	cJSON_Delete(l->lease);
	l->lease = NULL;
	if (res->err == -ENOENT) {
		try_take(l);
		return;
	}
	if (res->err < 0 || !cJSON_IsObject(res->body)) {
		log_debug("lease read failed: %s", res->message);
		became(l, 0);
		return;
	}
	l->lease = res->body;
	res->body = NULL; /* kept */
	holder = util_get_str(l->lease, "spec.holderIdentity");
	renew = util_get_str(l->lease, "spec.renewTime");
	dur = (uint64_t)util_get_int(l->lease, "spec.leaseDurationSeconds", 15,
				     0, 3600);
	(void)snprintf(obs, sizeof(obs), "%s|%s", holder ? holder : "",
		       renew ? renew : "");
	if (strcmp(obs, l->observed) != 0) {
		(void)snprintf(l->observed, sizeof(l->observed), "%s", obs);
		l->observed_at = now;
	}
	if (holder != NULL && *holder != '\0' &&
	    strcmp(holder, l->identity) != 0 &&
	    now - l->observed_at < dur * 1000) {
		became(l, 0); /* held by a live leader */
		return;
	}
	try_take(l);
}

/* tick: one round of renewing or campaigning */
static void
tick(struct evloop *loop, void *arg)
{
	struct leader *l = arg;
	struct buf p = BUF_INIT(512);

	(void)loop;
	if (l->stopped)
		return;
	evloop_timer_start(l->loop, &l->timer, l->o.retry_ms);
	if (l->call != NULL) {
		became(l, 0); /* the previous attempt is still hanging */
		return;
	}
	if (l->leading && l->lease != NULL) {
		try_take(l); /* renew from our own last Lease */
		return;
	}
	lease_path(l, &p, 1);
	l->call =
		kube_call_start(l->c, KV_GET, buf_cstr(&p), NULL, get_done, l);
	buf_deinit(&p);
}

void
leader_start(struct leader *l)
{
	log_info("attempting to acquire leader lease %s/%s as %s", l->ns,
		 l->name, l->identity);
	evloop_timer_init(&l->timer, tick, l);
	evloop_timer_start(l->loop, &l->timer, 0);
}

/* release_once: PUT the Lease back as released; 0 or -errno */
static int
release_once(struct leader *l, struct kube_result *res)
{
	struct buf p = BUF_INIT(512);
	cJSON *rec = record(l, l->lease, "");
	int r;

	/* a released lease: expires at once for everyone */
	cJSON_ReplaceItemInObjectCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(rec, "spec"),
		"leaseDurationSeconds", cJSON_CreateNumber(1));
	lease_path(l, &p, 1);
	r = kube_call_sync(l->c, KV_UPDATE, buf_cstr(&p), rec, res);
	cJSON_Delete(rec);
	buf_deinit(&p);
	return r;
}

/* reread: the current Lease into l->lease; 1 if we still hold it */
static int
reread(struct leader *l)
{
	struct kube_result res;
	struct buf p = BUF_INIT(512);
	const char *h;
	int ours = 0;

	lease_path(l, &p, 1);
	if (kube_call_sync(l->c, KV_GET, buf_cstr(&p), NULL, &res) == 0 &&
	    cJSON_IsObject(res.body)) {
		cJSON_Delete(l->lease);
		l->lease = res.body;
		res.body = NULL; /* kept */
		h = util_get_str(l->lease, "spec.holderIdentity");
		ours = h != NULL && strcmp(h, l->identity) == 0;
	}
	kube_result_deinit(&res);
	buf_deinit(&p);
	return ours;
}

void
leader_release(struct leader *l)
{
	struct kube_result res;
	int r;

	if (l == NULL)
		return;
	l->stopped = 1;
	evloop_timer_stop(l->loop, &l->timer);
	/* a renewal may have been in flight: our copy can be stale */
	kube_call_cancel(l->c, &l->call);
	if (!l->leading)
		return;
	l->leading = 0;
	if (l->lease == NULL && !reread(l))
		return;
	r = release_once(l, &res);
	if (r == -EBUSY && reread(l)) {
		kube_result_deinit(&res);
		r = release_once(l, &res);
	}
	if (r == 0)
		log_info("released leader lease %s/%s", l->ns, l->name);
	else
		log_warn("could not release lease %s/%s: %s", l->ns, l->name,
			 res.message);
	kube_result_deinit(&res);
}
