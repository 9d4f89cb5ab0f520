/*
 * certprobe: the cert container's readiness-probe line, from the
 * kubelet's Unhealthy events of a relay Pod (certprobe.h).
 *
 * Untrusted input: Event objects from the API server, whose message is
 * the probe's output, which a process in the Pod prints. Every field
 * kept is length-capped (truncated, never grown); a message without the
 * status line is kept as the last error, trimmed; numbers go through
 * the cursor parser with a bound.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certprobe.h"
#include "cursor.h"
#include "util.h"
#include "xmalloc.h"

/* copy_capped: at most n bytes of s into out (always terminated) */
static void
copy_capped(char *out, size_t outsize, const char *s, size_t n)
{
	if (n >= outsize)
		n = outsize - 1;
	memcpy(out, s, n);
	out[n] = '\0';
}

/* token: the value of "key=" up to the next space */
static int
token(const char **p, const char *key, char *out, size_t outsize)
{
	const char *start;
	size_t n;

	cur_skip_ws(p);
	if (!cur_lit(p, key))
		return 0;
	n = cur_until(p, ' ', &start);
	copy_capped(out, outsize, start, n);
	return 1;
}

/* trimmed: s without trailing white space, into out */
static void
trimmed(char *out, size_t outsize, const char *s)
{
	size_t n = strlen(s);

	while (n > 0 && strchr(" \t\r\n", s[n - 1]) != NULL)
		n--;
	copy_capped(out, outsize, s, n);
}

int
cert_probe_parse(const char *message, struct cert_probe *p)
{
	const char *s = message ? strstr(message, "ready=") : NULL;
	const char *q, *end;
	char ready[8], num[16];
	uint64_t n = 0;

	p->parsed = 0;
	p->names[0] = p->last_error[0] = '\0';
	(void)snprintf(p->not_after, sizeof(p->not_after), "-");
	(void)snprintf(p->next_attempt, sizeof(p->next_attempt), "-");
	p->failures = 0;
	if (s == NULL || !token(&s, "ready=", ready, sizeof(ready)) ||
	    !token(&s, "names=", p->names, sizeof(p->names)) ||
	    !token(&s, "notAfter=", p->not_after, sizeof(p->not_after)) ||
	    !token(&s, "nextAttempt=", p->next_attempt,
		   sizeof(p->next_attempt)) ||
	    !token(&s, "failures=", num, sizeof(num)))
		goto bad;
	q = num;
	if (cur_u64(&q, 1000000000u, &n) != 1 || !cur_eol(&q))
		goto bad;
	p->failures = (unsigned)n;
	cur_skip_ws(&s);
	/* lastError="...": to the last quote, so quotes inside survive */
	end = strrchr(s, '"');
	if (!cur_lit(&s, "lastError=\"") || end == NULL || end < s)
		goto bad;
	copy_capped(p->last_error, sizeof(p->last_error), s, (size_t)(end - s));
	p->parsed = 1;
	return 0;
bad:
	p->names[0] = '\0';
	p->failures = 0;
	trimmed(p->last_error, sizeof(p->last_error), message ? message : "");
	return -EINVAL;
}

/* event_time: the first of paths set in the event, as
 * YYYY-MM-DDTHH:MM:SSZ ("" none) */
static void
event_time(const cJSON *ev, const char *const *paths, size_t npaths, char *out,
	   size_t outsize)
{
	const char *t;
	size_t i;

	out[0] = '\0';
	for (i = 0; i < npaths; i++) {
		t = util_get_str(ev, paths[i]);
		if (t != NULL && strlen(t) >= 19) {
			(void)snprintf(out, outsize, "%.19sZ", t);
			return;
		}
	}
}

int
cert_probe_from_event(const cJSON *ev, struct cert_probe *p)
{
	static const char *const last[] = {
		"series.lastObservedTime",
		"lastTimestamp",
		"eventTime",
		"firstTimestamp",
		"metadata.creationTimestamp",
	};
	static const char *const first[] = {
		"firstTimestamp",
		"eventTime",
		"metadata.creationTimestamp",
	};
	const char *ns = util_get_str(ev, "involvedObject.namespace");
	const char *pod = util_get_str(ev, "involvedObject.name");
	const char *kind = util_get_str(ev, "involvedObject.kind");
	const char *fp = util_get_str(ev, "involvedObject.fieldPath");
	const char *reason = util_get_str(ev, "reason");
	const char *rv = util_get_str(ev, "metadata.resourceVersion");

	memset(p, 0, sizeof(*p));
	if (ns == NULL || pod == NULL || kind == NULL || fp == NULL ||
	    reason == NULL || strcmp(kind, "Pod") != 0 ||
	    strcmp(fp, "spec.containers{cert}") != 0 ||
	    strcmp(reason, "Unhealthy") != 0 || strlen(ns) >= sizeof(p->ns) ||
	    strlen(pod) >= sizeof(p->pod))
		return 0;
	(void)snprintf(p->ns, sizeof(p->ns), "%s", ns);
	(void)snprintf(p->pod, sizeof(p->pod), "%s", pod);
	if (rv != NULL)
		copy_capped(p->rv, sizeof(p->rv), rv, strlen(rv));
	event_time(ev, last, sizeof(last) / sizeof(last[0]), p->time,
		   sizeof(p->time));
	event_time(ev, first, sizeof(first) / sizeof(first[0]), p->first,
		   sizeof(p->first));
	(void)cert_probe_parse(util_get_str(ev, "message"), p);
	return 1;
}

void *
cert_probe_transform(void *arg, cJSON **obj_r)
{
	struct cert_probe *p = xmalloc(sizeof(*p));

	(void)arg;
	(void)cert_probe_from_event(*obj_r, p);
	return p;
}

void
cert_probe_free(void *v)
{
	free(v);
}

/* rv_cmp: resourceVersions as numbers (etcd's are), longer is larger */
static int
rv_cmp(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	if (la != lb)
		return la < lb ? -1 : 1;
	return strcmp(a, b);
}

int
cert_probe_newer(const struct cert_probe *a, const struct cert_probe *b)
{
	int c;

	if (b == NULL)
		return 1;
	c = strcmp(a->time, b->time);
	return c > 0 || (c == 0 && rv_cmp(a->rv, b->rv) > 0);
}

int
cert_probe_relay(const struct cert_probe *p, char *out, size_t outsize)
{
	size_t n = strlen(p->pod);
	int r;

	if (n < 3 || strcmp(p->pod + n - 2, "-0") != 0 || p->ns[0] == '\0')
		return -EINVAL;
	r = snprintf(out, outsize, "%s/%.*s", p->ns, (int)(n - 2), p->pod);
	return r < 0 || (size_t)r >= outsize ? -EINVAL : 0;
}

struct informer *
cert_probes_start(struct evloop *loop, struct kube_client *c, const char *ns,
		  struct metrics *m, informer_event_fn *on_event, void *arg)
{
	struct informer_opts o;
	struct informer *inf;

	memset(&o, 0, sizeof(o));
	o.kind = &KUBE_CORE_EVENT;
	o.namespace = ns;
	o.field_selector = CERT_PROBE_SELECTOR;
	o.transform = cert_probe_transform;
	o.free_value = cert_probe_free;
	o.on_event = on_event;
	o.arg = arg;
	inf = informer_new(loop, c, &o, m);
	informer_start(inf);
	return inf;
}

/* the newest probe event of one Pod, while walking the cache */
struct probe_find {
	const char *ns, *pod;
	const struct cert_probe *best;
};

static void
probe_each(void *arg, const char *key, const void *value)
{
	struct probe_find *pf = arg;
	const struct cert_probe *p = value;

	(void)key;
	if (strcmp(p->pod, pf->pod) == 0 && strcmp(p->ns, pf->ns) == 0 &&
	    cert_probe_newer(p, pf->best))
		pf->best = p;
}

int
cert_probes_newest(const struct informer *inf, const char *ns, const char *pod,
		   struct cert_probe *out)
{
	struct probe_find pf = { ns, pod, NULL };

	if (inf == NULL || *pod == '\0')
		return 0;
	informer_each(inf, probe_each, &pf);
	if (pf.best == NULL)
		return 0;
	*out = *pf.best;
	return 1;
}
