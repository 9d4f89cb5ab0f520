/*
 * exporter: the scrape (see exporter.h). GET /metrics reads every
 * source at once: Unix-socket and HTTP sources through one curl multi
 * handle on the event loop (services/lib/curlloop.h), files from disk.
 * When the last one is in (or failed: each has a timeout), the texts
 * are merged in source order with exporter_text.c, the exporter's own
 * figures (chatmail_exporter_source_up and _duration_seconds per
 * source, lines dropped) are added, and every request that arrived
 * meanwhile gets the same answer.
 *
 * Untrusted input: HTTP requests on the listener (http.c bounds them;
 * only method and path are used) and the sources' bodies (bounded by
 * EXPORTER_SOURCE_MAX: a longer one is cut off and counts as down).
 */
#include <curl/curl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "curlloop.h"
#include "exporter.h"
#include "fs.h"
#include "http.h"
#include "log.h"
#include "net.h"
#include "prom.h"
#include "xmalloc.h"

struct exporter;

struct fetch {
	struct exporter *e;
	const struct exporter_source *src;
	CURL *easy;
	struct buf body;
	int up;
	int was_down; /* the last scrape found it down (logged once) */
	double seconds;
	char errbuf[CURL_ERROR_SIZE];
};

/* the listener's connections at most: each has one request waiting */
#define MAX_CONNS 64

struct exporter {
	struct evloop *loop;
	const struct exporter_opts *o;
	struct http_server *http;
	struct curlloop *cl;
	struct fetch f[EXPORTER_SOURCES_MAX];
	size_t pending; /* transfers of this scrape not done */
	int scraping;
	struct evloop_timer finish_timer;
	struct http_request *waiting[MAX_CONNS]; /* for this scrape */
	size_t nwaiting;
	uint64_t scrapes;
};

int
exporter_source_parse(const char *spec, struct exporter_source *src)
{
	const char *eq = strchr(spec, '=');
	size_t n = eq != NULL ? (size_t)(eq - spec) : 0;

	if (n == 0 || n >= sizeof(src->name) ||
	    strspn(spec, "abcdefghijklmnopqrstuvwxyz0123456789-_") != n)
		return -EINVAL;
	memcpy(src->name, spec, n);
	src->name[n] = '\0';
	src->where = eq + 1;
	if ((strncmp(src->where, "unix:/", 6) != 0 &&
	     strncmp(src->where, "http://", 7) != 0 &&
	     strncmp(src->where, "file:/", 6) != 0))
		return -EINVAL;
	return 0;
}

/* on_body: a source's bytes; more than its maximum ends the transfer */
static size_t
on_body(char *p, size_t size, size_t n, void *arg)
{
	struct fetch *f = arg;

	return buf_append(&f->body, p, size * n) < 0 ? 0 : size * n;
}

/* fetch_start: start one curl transfer; 0 or -1 (the source is down) */
static int
fetch_start(struct fetch *f)
{
	const char *w = f->src->where;
	int unix_sock = strncmp(w, "unix:", 5) == 0;
	CURL *c = curl_easy_init();

	if (c == NULL)
		return -1;
	(void)curl_easy_setopt(c, CURLOPT_URL,
			       unix_sock ? "http://localhost/metrics" : w);
	if (unix_sock)
		(void)curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, w + 5);
	(void)curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http");
	(void)curl_easy_setopt(c, CURLOPT_TIMEOUT_MS,
			       (long)f->e->o->timeout_ms);
	(void)curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	(void)curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	(void)curl_easy_setopt(c, CURLOPT_WRITEDATA, f);
	(void)curl_easy_setopt(c, CURLOPT_ERRORBUFFER, f->errbuf);
	(void)curl_easy_setopt(c, CURLOPT_PRIVATE, f);
	(void)curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
	if (curlloop_add(f->e->cl, c) < 0) {
		curl_easy_cleanup(c);
		return -1;
	}
	f->easy = c;
	return 0;
}

/* read_file: a file source, now */
static void
read_file(struct fetch *f)
{
	int r = fs_read_file(f->src->where + 5, &f->body);

	f->up = r == 0;
	if (r < 0 && r != -ENOENT)
		log_warn("cannot read %s: %s", f->src->where + 5, strerror(-r));
}

/* render_own: the exporter's figures about this scrape */
static int
render_own(const struct exporter *e, uint64_t dropped, struct buf *out)
{
	size_t i;
	int r = buf_puts(out, "# HELP chatmail_exporter_source_up 1 if the "
			      "source answered this scrape.\n"
			      "# TYPE chatmail_exporter_source_up gauge\n");

	for (i = 0; r == 0 && i < e->o->nsources; i++)
		r = buf_printf(out,
			       "chatmail_exporter_source_up{service=\"%s\"} "
			       "%d\n",
			       e->f[i].src->name, e->f[i].up);
	r |= buf_puts(out, "# HELP chatmail_exporter_source_duration_seconds "
			   "Time the source took to answer.\n"
			   "# TYPE chatmail_exporter_source_duration_seconds "
			   "gauge\n");
	for (i = 0; r == 0 && i < e->o->nsources; i++)
		r = buf_printf(out,
			       "chatmail_exporter_source_duration_seconds{"
			       "service=\"%s\"} %.6f\n",
			       e->f[i].src->name, e->f[i].seconds);
	r |= buf_printf(out,
			"# HELP chatmail_exporter_dropped_lines Source lines "
			"dropped in this scrape (malformed, type conflicts, "
			"limits).\n"
			"# TYPE chatmail_exporter_dropped_lines gauge\n"
			"chatmail_exporter_dropped_lines %llu\n"
			"# HELP chatmail_exporter_scrapes_total Scrapes "
			"served.\n"
			"# TYPE chatmail_exporter_scrapes_total counter\n"
			"chatmail_exporter_scrapes_total %llu\n",
			(unsigned long long)dropped,
			(unsigned long long)e->scrapes);
	return r < 0 ? -E2BIG : 0;
}

/* merge: every source that is up, then our own figures, into out */
static int
merge(struct exporter *e, struct buf *out)
{
	struct exporter_merge *m = exporter_merge_new();
	size_t i;
	int r = 0;

	for (i = 0; r == 0 && i < e->o->nsources; i++)
		if (e->f[i].up)
			r = exporter_merge_add(m, e->f[i].src->name,
					       e->f[i].body.data,
					       e->f[i].body.len);
	if (r == 0)
		r = exporter_merge_render(m, out);
	if (r == 0)
		r = render_own(e, exporter_merge_dropped(m), out);
	exporter_merge_free(&m);
	return r;
}

/* finish: answer every waiting request with the merged text */
static void
finish(struct evloop *loop, void *arg)
{
	struct exporter *e = arg;
	struct buf out = BUF_INIT(EXPORTER_OUT_MAX + 65536);
	struct http_request *req;
	int r;
	size_t i;

	(void)loop;
	e->scrapes++;
	r = merge(e, &out);
	if (r < 0)
		log_error("merged metrics exceed %u bytes", EXPORTER_OUT_MAX);
	while (e->nwaiting > 0) {
		req = e->waiting[--e->nwaiting];
		http_request_set_abort(req, NULL, NULL);
		if (r < 0)
			(void)http_respond_text(req, 500,
						"metrics too large\n");
		else
			(void)http_respond(req, 200, PROM_CONTENT_TYPE, NULL,
					   out.data, out.len);
	}
	for (i = 0; i < e->o->nsources; i++)
		buf_deinit(&e->f[i].body);
	e->scraping = 0;
	buf_deinit(&out);
}

/* on_done: a transfer finished: up when the answer was a 200 */
static void
on_done(void *arg, CURL *easy, CURLcode res)
{
	struct exporter *e = arg;
	struct fetch *f = NULL;
	long status = 0;

	(void)curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&f);
	(void)curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
	(void)curl_easy_getinfo(easy, CURLINFO_TOTAL_TIME, &f->seconds);
	f->up = res == CURLE_OK && status == 200;
	if (!f->up && !f->was_down)
		log_warn("source %s (%s) is down: %s", f->src->name,
			 f->src->where,
			 res != CURLE_OK
				 ? (f->errbuf[0] ? f->errbuf
						 : curl_easy_strerror(res))
				 : "not 200");
	else if (f->up && f->was_down)
		log_info("source %s is up again", f->src->name);
	f->was_down = !f->up;
	curl_easy_cleanup(easy);
	f->easy = NULL;
	if (--e->pending == 0)
		evloop_timer_start(e->loop, &e->finish_timer, 0);
}

/* scrape: read every source; finish runs when the last is in */
static void
scrape(struct exporter *e)
{
	struct fetch *f;
	size_t i;

	e->scraping = 1;
	e->pending = 0;
	for (i = 0; i < e->o->nsources; i++) {
		f = &e->f[i];
		f->up = 0;
		f->seconds = 0;
		f->errbuf[0] = '\0';
		buf_init(&f->body, EXPORTER_SOURCE_MAX);
		if (strncmp(f->src->where, "file:", 5) == 0)
			read_file(f);
		else if (fetch_start(f) == 0)
			e->pending++;
	}
	if (e->pending == 0)
		evloop_timer_start(e->loop, &e->finish_timer, 0);
}

/* on_abort: a waiting client went away */
static void
on_abort(void *arg, struct http_request *req)
{
	struct exporter *e = arg;
	size_t i;

	for (i = 0; i < e->nwaiting; i++)
		if (e->waiting[i] == req)
			e->waiting[i] = e->waiting[--e->nwaiting];
}

/* on_request: GET /metrics waits for the scrape (one at a time) */
static void
on_request(void *arg, struct http_request *req)
{
	struct exporter *e = arg;

	if (strcmp(http_request_path(req), "/metrics") != 0) {
		(void)http_respond_text(req, 404, "Not Found\n");
		return;
	}
	if (strcmp(http_request_method(req), "GET") != 0) {
		(void)http_respond(req, 405, NULL, "Allow: GET\r\n",
				   "Method Not Allowed\n", 19);
		return;
	}
	if (e->nwaiting == MAX_CONNS)
		abort(); /* more requests than the server's connections */
	e->waiting[e->nwaiting++] = req;
	http_request_set_abort(req, on_abort, e);
	if (!e->scraping)
		scrape(e);
}

/* listen_any: "*:PORT": IPv6 and IPv4 on one socket where the kernel
 * has IPv6, else IPv4 alone; other addresses as given */
static int
listen_any(const char *spec, struct buf *err)
{
	char v6[32], v4[32];
	int fd;

	if (strncmp(spec, "*:", 2) != 0)
		return net_listen_spec(spec, 0660, err);
	(void)snprintf(v6, sizeof(v6), "[::]:%.8s", spec + 2);
	(void)snprintf(v4, sizeof(v4), "0.0.0.0:%.8s", spec + 2);
	fd = net_listen_spec(v6, 0660, err);
	if (fd >= 0)
		return fd;
	buf_reset(err);
	return net_listen_spec(v4, 0660, err);
}

struct exporter *
exporter_new(struct evloop *loop, const struct exporter_opts *o,
	     struct buf *err)
{
	struct exporter *e = xcalloc(1, sizeof(*e));
	struct http_server_opts ho;
	size_t i;
	int fd;

	e->loop = loop;
	e->o = o;
	evloop_timer_init(&e->finish_timer, finish, e);
	for (i = 0; i < o->nsources; i++) {
		e->f[i].e = e;
		e->f[i].src = &o->sources[i];
	}
	http_server_opts_default(&ho);
	ho.max_header = 8192;
	ho.max_body = 0;
	ho.max_conns = MAX_CONNS;
	ho.idle_ms = 60000;
	e->cl = curlloop_new(loop, on_done, NULL, e);
	e->http = http_server_new(loop, &ho, NULL, on_request, e);
	fd = listen_any(o->listen, err);
	if (fd >= 0 && http_server_listen(e->http, fd) < 0) {
		(void)close(fd);
		(void)buf_printf(err, "cannot serve %s", o->listen);
		fd = -1;
	}
	if (e->cl == NULL)
		(void)buf_puts(err, "curl cannot start");
	if (e->cl == NULL || fd < 0)
		exporter_free(&e);
	return e;
}

void
exporter_free(struct exporter **ep)
{
	struct exporter *e = *ep;
	size_t i;

	if (e == NULL)
		return;
	http_server_free(&e->http); /* waiters are aborted */
	for (i = 0; i < e->o->nsources; i++) {
		if (e->f[i].easy != NULL) {
			curlloop_remove(e->cl, e->f[i].easy);
			curl_easy_cleanup(e->f[i].easy);
		}
		buf_deinit(&e->f[i].body);
	}
	curlloop_free(&e->cl);
	evloop_timer_stop(e->loop, &e->finish_timer);
	free(e);
	*ep = NULL;
}
