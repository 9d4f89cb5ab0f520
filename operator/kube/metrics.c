/*
 * metrics: counters, gauges and one histogram, rendered as Prometheus
 * text. Label sets are few (verbs x status codes, kinds), so each
 * labelled family is a small array searched linearly.
 *
 * Untrusted input: none (labels are our own verb and kind names and
 * numeric status codes).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs.h"
#include "metrics.h"
#include "xmalloc.h"

struct series {
	char *labels; /* 'verb="get",code="200"' */
	double value;
};

struct family {
	struct series *s;
	size_t n;
};

static const double buckets[] = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
				  1,	 2.5,  5,     10,   30,	 60 };
#define NBUCKETS (sizeof(buckets) / sizeof(buckets[0]))
/* controller-runtime labels its worker gauges with the controller name */
#define CONTROLLER_LABEL "{controller=\"chatmailrelay\"}"

struct metrics {
	struct family api, reconcile, watch_events, watch_restarts;
	uint64_t api_total, api_writes;
	uint64_t hist[NBUCKETS]; /* cumulative counts per bucket */
	uint64_t hist_count;
	double hist_sum;
	double gauges[MG_COUNT];
};

struct metrics *
metrics_new(void)
{
	return xcalloc(1, sizeof(struct metrics));
}

/* family_free: free the series of a family */
static void
family_free(struct family *f)
{
	size_t i;

	for (i = 0; i < f->n; i++)
		free(f->s[i].labels);
	free(f->s);
}

void
metrics_free(struct metrics **mp)
{
	struct metrics *m = *mp;

	if (m == NULL)
		return;
	family_free(&m->api);
	family_free(&m->reconcile);
	family_free(&m->watch_events);
	family_free(&m->watch_restarts);
	free(m);
	*mp = NULL;
}

/* family_add: add v to the series with these labels */
static void
family_add(struct family *f, const char *labels, double v)
{
	size_t i;

	for (i = 0; i < f->n; i++) {
		if (strcmp(f->s[i].labels, labels) == 0) {
			f->s[i].value += v;
			return;
		}
	}
	f->s = xreallocarray(f->s, f->n + 1, sizeof(*f->s));
	f->s[f->n].labels = xstrdup(labels);
	f->s[f->n].value = v;
	f->n++;
}

void
metrics_api_request(struct metrics *m, const char *verb, const char *resource,
		    long code)
{
	char labels[192], c[24];

	if (m == NULL)
		return;
	if (code > 0)
		(void)snprintf(c, sizeof(c), "%ld", code);
	else
		(void)snprintf(c, sizeof(c), "error");
	(void)snprintf(labels, sizeof(labels),
		       "verb=\"%s\",resource=\"%s\",code=\"%s\"", verb,
		       resource, c);
	family_add(&m->api, labels, 1);
	m->api_total++;
	if (strcmp(resource, "leases") != 0 &&
	    (strcmp(verb, "create") == 0 || strcmp(verb, "update") == 0 ||
	     strcmp(verb, "patch") == 0 || strcmp(verb, "apply") == 0 ||
	     strcmp(verb, "delete") == 0))
		m->api_writes++;
}

void
metrics_reconcile(struct metrics *m, const char *result, double seconds)
{
	char labels[64];
	size_t i;

	if (m == NULL)
		return;
	(void)snprintf(labels, sizeof(labels), "result=\"%s\"", result);
	family_add(&m->reconcile, labels, 1);
	for (i = 0; i < NBUCKETS; i++)
		if (seconds <= buckets[i])
			m->hist[i]++;
	m->hist_count++;
	m->hist_sum += seconds;
}

void
metrics_watch(struct metrics *m, const char *kind, int restart)
{
	char labels[96];

	if (m == NULL)
		return;
	(void)snprintf(labels, sizeof(labels), "kind=\"%s\"", kind);
	family_add(restart ? &m->watch_restarts : &m->watch_events, labels, 1);
}

void
metrics_set(struct metrics *m, enum metrics_gauge g, double v)
{
	if (m != NULL && (unsigned)g < MG_COUNT)
		m->gauges[g] = v;
}

uint64_t
metrics_api_writes(const struct metrics *m)
{
	return m ? m->api_writes : 0;
}

uint64_t
metrics_api_total(const struct metrics *m)
{
	return m ? m->api_total : 0;
}

/* render_family: HELP, TYPE and every series */
static int
render_family(struct buf *out, const char *name, const char *type,
	      const char *help, const struct family *f)
{
	size_t i;
	int r = buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help,
			   name, type);

	for (i = 0; i < f->n && r == 0; i++)
		r = buf_printf(out, "%s{%s} %.17g\n", name, f->s[i].labels,
			       f->s[i].value);
	return r;
}

/* render_labelled: a metric with a fixed label set ("" = none) */
static int
render_labelled(struct buf *out, const char *name, const char *labels,
		const char *type, const char *help, double v)
{
	return buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n%s%s %.17g\n", name,
			  help, name, type, name, labels, v);
}

/* render_one: a metric without labels */
static int
render_one(struct buf *out, const char *name, const char *type,
	   const char *help, double v)
{
	return render_labelled(out, name, "", type, help, v);
}

/* render_hist: the reconcile duration histogram */
static int
render_hist(const struct metrics *m, struct buf *out)
{
	const char *n = "chatmail_operator_reconcile_duration_seconds";
	size_t i;
	int r = buf_printf(out,
			   "# HELP %s Time one reconcile took.\n"
			   "# TYPE %s histogram\n",
			   n, n);

	for (i = 0; i < NBUCKETS && r == 0; i++)
		r = buf_printf(out, "%s_bucket{le=\"%g\"} %llu\n", n,
			       buckets[i], (unsigned long long)m->hist[i]);
	if (r == 0)
		r = buf_printf(out,
			       "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.17g\n"
			       "%s_count %llu\n",
			       n, (unsigned long long)m->hist_count, n,
			       m->hist_sum, n,
			       (unsigned long long)m->hist_count);
	return r;
}

/* rss_bytes: resident set size from /proc/self/statm */
static double
rss_bytes(void)
{
	struct buf b = BUF_INIT(256);
	const char *sp;
	double pages = 0;

	if (fs_read_file("/proc/self/statm", &b) == 0 &&
	    (sp = strchr(buf_cstr(&b), ' ')) != NULL) {
		for (sp++; *sp >= '0' && *sp <= '9'; sp++)
			pages = pages * 10 + (*sp - '0');
	}
	buf_deinit(&b);
	return pages * (double)sysconf(_SC_PAGESIZE);
}

/* gauge_meta: name, labels, type and help of each gauge (enum mg) */
static const struct {
	const char *name, *labels, *type, *help;
} gauge_meta[MG_COUNT] = {
	{ "chatmail_operator_workqueue_depth", "", "gauge",
	  "Keys ready in the work queue." },
	{ "chatmail_operator_workqueue_adds_total", "", "counter",
	  "Keys added to the work queue." },
	{ "chatmail_operator_workqueue_retries_total", "", "counter",
	  "Rate-limited re-adds after failures." },
	{ "chatmail_operator_relays", "", "gauge",
	  "ChatmailRelays in the cache." },
	{ "chatmail_operator_leader", "", "gauge",
	  "1 while this replica holds the leader Lease." },
	{ "controller_runtime_active_workers", CONTROLLER_LABEL, "gauge",
	  "Reconciles in flight." },
	{ "controller_runtime_max_concurrent_reconciles", CONTROLLER_LABEL,
	  "gauge",
	  "Reconciles in flight at most (--max-concurrent-"
	  "reconciles)." },
	{ "chatmail_operator_active_workers_peak", "", "gauge",
	  "Most reconciles in flight at once since the start." },
	{ "chatmail_operator_keygen_children", "", "gauge",
	  "DKIM key generation children running." },
	{ "chatmail_operator_keygen_waiting", "", "gauge",
	  "Relays waiting for a DKIM key." },
	{ "chatmail_operator_keygen_failures", "", "gauge",
	  "DKIM key generation failures in a row." },
};

int
metrics_render(const struct metrics *m, struct buf *out)
{
	size_t i;
	int r;

	r = render_family(out, "chatmail_operator_api_requests_total",
			  "counter",
			  "Kubernetes API requests by verb and code.", &m->api);
	if (r == 0)
		r = render_one(out,
			       "chatmail_operator_api_write_requests_total",
			       "counter",
			       "API requests that write (create, update, "
			       "patch, apply, delete).",
			       (double)m->api_writes);
	if (r == 0)
		r = render_family(out, "chatmail_operator_reconcile_total",
				  "counter", "Reconciles by result.",
				  &m->reconcile);
	if (r == 0)
		r = render_hist(m, out);
	for (i = 0; i < MG_COUNT && r == 0; i++)
		r = render_labelled(out, gauge_meta[i].name,
				    gauge_meta[i].labels, gauge_meta[i].type,
				    gauge_meta[i].help, m->gauges[i]);
	if (r == 0)
		r = render_family(out, "chatmail_operator_watch_events_total",
				  "counter", "Watch events by kind.",
				  &m->watch_events);
	if (r == 0)
		r = render_family(out, "chatmail_operator_watch_restarts_total",
				  "counter", "Re-lists by kind.",
				  &m->watch_restarts);
	if (r == 0)
		r = render_one(out, "process_resident_memory_bytes", "gauge",
			       "Resident memory size in bytes.", rss_bytes());
	return r;
}
