/*
 * prom: rendering a service's stats struct as Prometheus text through
 * its table, and the private GET /metrics listener (see prom.h).
 *
 * Untrusted input: requests on the metrics listener, bounded by http.c
 * (small head, no body); the answer depends only on method and path.
 */
#include "prom.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fs.h"
#include "http.h"
#include "log.h"
#include "net.h"
#include "xmalloc.h"

#define PROM_OUT_MAX (4u << 20) /* one exposition at most */

const double prom_latency_le[14] = { 0.001, 0.0025, 0.005, 0.01, 0.025,
				     0.05,  0.1,    0.25,  0.5,	 1,
				     2.5,   5,	    10,	   60 };

/* prom_hist_observe: see prom.h */
void
prom_hist_observe(struct prom_hist *h, const double *le, size_t nle, double v)
{
	size_t i;

	if (nle > PROM_HIST_MAX)
		abort(); /* a table that contradicts prom.h */
	for (i = 0; i < nle && v > le[i]; i++)
		;
	h->bucket[i]++;
	h->count++;
	h->sum += v;
}

/* field: the address of a table entry's field in base */
static const void *
field(const void *base, const struct prom_metric *m)
{
	return (const char *)base + m->off;
}

/* render_hist: the _bucket series (cumulative), _sum and _count */
static int
render_hist(struct buf *out, const struct prom_metric *m,
	    const struct prom_hist *h)
{
	const char *l = m->labels != NULL ? m->labels : "";
	const char *sep = l[0] != '\0' ? "," : "";
	uint64_t cum = 0;
	size_t i;
	int r = 0;

	if (m->nle > PROM_HIST_MAX)
		abort();
	for (i = 0; r == 0 && i < m->nle; i++) {
		cum += h->bucket[i];
		r = buf_printf(out, "%s_bucket{%s%sle=\"%g\"} %llu\n", m->name,
			       l, sep, m->le[i], (unsigned long long)cum);
	}
	if (r == 0)
		r = buf_printf(out,
			       "%s_bucket{%s%sle=\"+Inf\"} %llu\n"
			       "%s_sum%s%s%s %.17g\n%s_count%s%s%s %llu\n",
			       m->name, l, sep, (unsigned long long)h->count,
			       m->name, l[0] ? "{" : "", l, l[0] ? "}" : "",
			       h->sum, m->name, l[0] ? "{" : "", l,
			       l[0] ? "}" : "", (unsigned long long)h->count);
	return r;
}

/* type_name: the TYPE line's word */
static const char *
type_name(enum prom_type t)
{
	return t == PROM_COUNTER ? "counter"
	       : t == PROM_GAUGE ? "gauge"
				 : "histogram";
}

/* prom_render: see prom.h */
int
prom_render(struct buf *out, const struct prom_metric *table, size_t n,
	    const void *base)
{
	const struct prom_metric *m;
	const char *prev = NULL;
	size_t i;
	int r = 0;

	for (i = 0; r == 0 && i < n; i++) {
		m = &table[i];
		if (prev == NULL || strcmp(prev, m->name) != 0)
			r = buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n",
				       m->name, m->help, m->name,
				       type_name(m->type));
		prev = m->name;
		if (r < 0)
			break;
		if (m->type == PROM_HISTOGRAM)
			r = render_hist(out, m, field(base, m));
		else
			r = buf_printf(out, "%s%s%s%s %llu\n", m->name,
				       m->labels ? "{" : "",
				       m->labels ? m->labels : "",
				       m->labels ? "}" : "",
				       (unsigned long long)*(
					       const uint64_t *)field(base, m));
	}
	return r < 0 ? -E2BIG : 0;
}

/* rss_bytes: resident set size from /proc/self/statm, 0 if unknown */
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

struct prom_server {
	struct http_server *http;
	prom_render_fn *fn;
	void *arg;
	time_t start;
};

/* render_process: the process series the server adds to every answer */
static int
render_process(const struct prom_server *s, struct buf *out)
{
	return buf_printf(out,
			  "# HELP process_resident_memory_bytes Resident "
			  "memory size in bytes.\n"
			  "# TYPE process_resident_memory_bytes gauge\n"
			  "process_resident_memory_bytes %.17g\n"
			  "# HELP process_start_time_seconds Start time of "
			  "the process since the epoch in seconds.\n"
			  "# TYPE process_start_time_seconds gauge\n"
			  "process_start_time_seconds %lld\n",
			  rss_bytes(), (long long)s->start);
}

/* on_request: GET /metrics renders; anything else is refused */
static void
on_request(void *arg, struct http_request *req)
{
	struct prom_server *s = arg;
	struct buf out = BUF_INIT(PROM_OUT_MAX);

	if (strcmp(http_request_path(req), "/metrics") != 0) {
		(void)http_respond_text(req, 404, "Not Found\n");
	} else if (strcmp(http_request_method(req), "GET") != 0) {
		(void)http_respond(req, 405, NULL, "Allow: GET\r\n",
				   "Method Not Allowed\n", 19);
	} else if (s->fn(s->arg, &out) < 0 || render_process(s, &out) < 0) {
		log_error("metrics exceed %u bytes", PROM_OUT_MAX);
		(void)http_respond_text(req, 500, "metrics too large\n");
	} else {
		(void)http_respond(req, 200, PROM_CONTENT_TYPE, NULL, out.data,
				   out.len);
	}
	buf_deinit(&out);
}

/* prom_server_new: see prom.h */
struct prom_server *
prom_server_new(struct evloop *loop, const char *listen, prom_render_fn *fn,
		void *arg, struct buf *err)
{
	struct prom_server *s = xcalloc(1, sizeof(*s));
	struct http_server_opts o;
	int fd;

	http_server_opts_default(&o);
	o.max_header = 4096;
	o.max_body = 0;
	o.max_conns = 16;
	o.idle_ms = 30000;
	s->fn = fn;
	s->arg = arg;
	s->start = time(NULL);
	s->http = http_server_new(loop, &o, NULL, on_request, s);
	fd = net_listen_spec(listen, 0660, err);
	if (fd >= 0 && http_server_listen(s->http, fd) < 0) {
		(void)close(fd);
		(void)buf_printf(err, "cannot serve %s", listen);
		fd = -1;
	}
	if (fd < 0)
		prom_server_free(&s);
	return s;
}

/* prom_server_free: see prom.h */
void
prom_server_free(struct prom_server **sp)
{
	struct prom_server *s = *sp;

	if (s == NULL)
		return;
	http_server_free(&s->http);
	free(s);
	*sp = NULL;
}
