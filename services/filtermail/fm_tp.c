/*
 * fm_tp: the transport's destinations, upstream's per-destination
 * workers (src/transport/worker.rs) on our loop.
 *
 * Role: a destination (a recipient domain or address literal) has a
 * queue of at most queue_size (30) jobs; a slot in it is reserved while
 * Postfix names a recipient (RCPT) and used when the message has come
 * (DATA), so a destination that cannot take more mail makes the LMTP
 * server refuse DATA with 421 before Postfix sends the message. At most
 * max_dests (500) destinations exist at once; one delivers one job at a
 * time, keeps its last SMTP connection for the next, and goes away
 * after idle_ms (60 s) without work. Also here: the MX hosts that had
 * an SMTP success recently (HTTPS is skipped for them for
 * prefer_smtp_ms, 30 minutes, as upstream), the shared message, and the
 * small helpers for reply texts and recipient domains.
 *
 * Untrusted input: recipient addresses (from Postfix, which took them
 * from a client): fm_tp_addr_dest checks the domain's characters and
 * length before it becomes a key, a DNS name or an address.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "curlloop.h"
#include "fm_tp.h"
#include "log.h"
#include "xmalloc.h"

struct fm_tp_dest {
	LLIST_LINK(fm_tp_dest) link;
	struct fm_tp *tp;
	char name[FM_TP_HOST_MAX];
	size_t reserved; /* slots held by LMTP transactions */
	LLIST_HEAD(, fm_tp_job) queue;
	struct fm_tp_job *active;
	struct evloop_timer idle;
	struct fm_conn *conn; /* the last SMTP connection, kept */
};

/* fm_tp_opts_default: see fm_tp.h */
void
fm_tp_opts_default(struct fm_tp_opts *o)
{
	memset(o, 0, sizeof(*o));
	(void)snprintf(o->helo, sizeof(o->helo), "localhost");
	o->max_size = 31457280;
	o->ipv6 = 1;
	o->smtp_port = 25;
	o->https_port = 443;
	o->timeout_ms = 60000;
	o->prefer_smtp_ms = 30 * 60000;
	o->queue_size = 30;
	o->max_dests = 500;
	o->idle_ms = 60000;
	o->conn_idle_ms = 100000;
}

/* fm_tp_msg_new: see fm_tp.h */
struct fm_tp_msg *
fm_tp_msg_new(const char *mail_from, char *data, size_t len)
{
	struct fm_tp_msg *m = xcalloc(1, sizeof(*m));

	m->refs = 1;
	m->mail_from = xstrdup(mail_from);
	m->data = data;
	m->len = len;
	return m;
}

/* fm_tp_msg_unref: see fm_tp.h */
void
fm_tp_msg_unref(struct fm_tp_msg **mp)
{
	struct fm_tp_msg *m = *mp;

	*mp = NULL;
	if (m == NULL || --m->refs > 0)
		return;
	free(m->mail_from);
	free(m->data);
	free(m);
}

/* fm_tp_result_set: see fm_tp.h */
void
fm_tp_result_set(struct fm_tp_result *r, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(r->text, sizeof(r->text), fmt, ap);
	va_end(ap);
	r->text[strcspn(r->text, "\r\n")] = '\0';
	r->code = code;
}

/* fm_tp_reply_code: see fm_tp.h */
int
fm_tp_reply_code(const char *s, size_t n)
{
	if (n < 3 || s[0] < '2' || s[0] > '5' || s[1] < '0' || s[1] > '9' ||
	    s[2] < '0' || s[2] > '9' || (n > 3 && s[3] != ' '))
		return -1;
	return (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
}

/* literal_dest: "[1.2.3.4]" / "[IPv6:2001:db8::1]" as our key */
static int
literal_dest(const char *d, size_t n, char *out, size_t outsize)
{
	char ip[64];
	unsigned char bin[16];
	int af = AF_INET;

	if (n < 3 || d[n - 1] != ']' || n - 2 >= sizeof(ip))
		return -EINVAL;
	memcpy(ip, d + 1, n - 2);
	ip[n - 2] = '\0';
	if (strncasecmp(ip, "IPv6:", 5) == 0) {
		memmove(ip, ip + 5, strlen(ip + 5) + 1);
		af = AF_INET6;
	}
	if (inet_pton(af, ip, bin) != 1 ||
	    inet_ntop(af, bin, ip, sizeof(ip)) == NULL)
		return -EINVAL;
	(void)snprintf(out, outsize, "[%s]", ip);
	return 0;
}

/* fm_tp_addr_dest: see fm_tp.h */
int
fm_tp_addr_dest(const char *addr, char *out, size_t outsize)
{
	const char *at = strrchr(addr, '@'), *d;
	size_t n, i;

	if (at == NULL || at == addr || outsize < FM_TP_HOST_MAX)
		return -EINVAL;
	d = at + 1;
	n = strlen(d);
	if (n > 0 && d[0] == '[')
		return literal_dest(d, n, out, outsize);
	if (n > 0 && d[n - 1] == '.')
		n--;
	if (n == 0 || n > 253 || d[0] == '.' || d[0] == '-')
		return -EINVAL;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)d[i];

		if (!isalnum(c) && c != '-' && c != '.' && c != '_')
			return -EINVAL;
		if (c == '.' && i + 1 < n && d[i + 1] == '.')
			return -EINVAL;
		out[i] = (char)tolower(c);
	}
	out[n] = '\0';
	return 0;
}

/* fm_tp_new: see fm_tp.h */
struct fm_tp *
fm_tp_new(struct evloop *loop, struct dns *dns, const struct fm_tp_opts *o,
	  struct buf *err)
{
	struct fm_tp *tp = xcalloc(1, sizeof(*tp));

	tp->loop = loop;
	tp->dns = dns;
	tp->o = *o;
	LLIST_INIT(&tp->dests);
	tp->tls = fm_tls_ctx_new(o->ca_file, o->peer_ca_file, err);
	if (tp->tls == NULL)
		goto fail;
	tp->curl = fm_https_loop_new(tp);
	if (tp->curl == NULL) {
		(void)buf_puts(err, "libcurl cannot start");
		goto fail;
	}
	tp->prefer = xcalloc(FM_TP_PREFER_MAX, sizeof(*tp->prefer));
	return tp;
fail:
	fm_tp_free(&tp);
	return NULL;
}

/* job_free: a job that is in no queue and has no run */
static void
job_free(struct fm_tp_job *job)
{
	size_t i;

	for (i = 0; i < job->nrcpts; i++)
		free(job->rcpts[i]);
	free(job->rcpts);
	free(job->res);
	fm_tp_msg_unref(&job->msg);
	free(job);
}

/* dest_free: stop everything of d and free it */
static void
dest_free(struct fm_tp_dest *d)
{
	struct fm_tp *tp = d->tp;
	struct fm_tp_job *job, *next;

	if (d->active != NULL) {
		fm_tp_run_cancel(&d->active->run);
		job_free(d->active);
		tp->running--;
	}
	LLIST_FOREACH_SAFE(job, &d->queue, link, next) {
		LLIST_REMOVE(&d->queue, job, link);
		job_free(job);
	}
	fm_conn_close(tp->loop, &d->conn, 1);
	evloop_timer_stop(tp->loop, &d->idle);
	LLIST_REMOVE(&tp->dests, d, link);
	free(d);
}

/* fm_tp_free: see fm_tp.h */
void
fm_tp_free(struct fm_tp **tpp)
{
	struct fm_tp *tp = *tpp;
	struct fm_tp_dest *d, *next;
	size_t i;

	if (tp == NULL)
		return;
	LLIST_FOREACH_SAFE(d, &tp->dests, link, next)
		dest_free(d);
	curlloop_free(&tp->curl);
	SSL_CTX_free(tp->tls);
	for (i = 0; i < tp->nprefer; i++)
		free(tp->prefer[i].host);
	free(tp->prefer);
	free(tp);
	*tpp = NULL;
}

/* fm_tp_dest_count, fm_tp_running: see fm_tp.h */
size_t
fm_tp_dest_count(const struct fm_tp *tp)
{
	return LLIST_COUNT(&tp->dests);
}

size_t
fm_tp_running(const struct fm_tp *tp)
{
	return tp->running;
}

/* fm_tp_queued: see fm_tp.h */
size_t
fm_tp_queued(const struct fm_tp *tp)
{
	const struct fm_tp_dest *d;
	size_t n = 0;

	LLIST_FOREACH(d, &tp->dests, link)
		n += LLIST_COUNT(&d->queue);
	return n;
}

/* fm_tp_dest_name: see fm_tp.h */
const char *
fm_tp_dest_name(const struct fm_tp_dest *d)
{
	return d->name;
}

/* on_idle: a destination without work for idle_ms goes */
static void
on_idle(struct evloop *loop, void *arg)
{
	struct fm_tp_dest *d = arg;

	(void)loop;
	log_info("Worker for domain %s shutting down...", d->name);
	dest_free(d);
}

/* maybe_idle: start d's idle clock when it has nothing to do */
static void
maybe_idle(struct fm_tp_dest *d)
{
	if (d->reserved == 0 && LLIST_EMPTY(&d->queue) && d->active == NULL)
		evloop_timer_start(d->tp->loop, &d->idle, d->tp->o.idle_ms);
}

/* kick: start d's next job if it is free */
static void
kick(struct fm_tp_dest *d)
{
	struct fm_tp_job *job;

	if (d->active != NULL || LLIST_EMPTY(&d->queue))
		return;
	LLIST_POP(&d->queue, job, link);
	d->active = job;
	d->tp->running++;
	job->started = evloop_now(d->tp->loop);
	fm_tp_run_start(d->tp, job);
}

/* find_dest: the destination called name, or NULL */
static struct fm_tp_dest *
find_dest(struct fm_tp *tp, const char *name)
{
	struct fm_tp_dest *d;

	LLIST_FOREACH(d, &tp->dests, link)
		if (strcmp(d->name, name) == 0)
			return d;
	return NULL;
}

/* fm_tp_reserve: see fm_tp.h */
int
fm_tp_reserve(struct fm_tp *tp, const char *dest, struct fm_tp_dest **d_r)
{
	struct fm_tp_dest *d = find_dest(tp, dest);

	if (d == NULL) {
		if (LLIST_COUNT(&tp->dests) >= tp->o.max_dests) {
			log_warn("Worker pool operating at maximum capacity! "
				 "Messages to new destinations will be "
				 "deferred.");
			return 0;
		}
		d = xcalloc(1, sizeof(*d));
		d->tp = tp;
		(void)snprintf(d->name, sizeof(d->name), "%s", dest);
		LLIST_INIT(&d->queue);
		evloop_timer_init(&d->idle, on_idle, d);
		LLIST_APPEND(&tp->dests, d, link);
		log_info("Starting worker for destination %s", d->name);
	}
	if (d->reserved + LLIST_COUNT(&d->queue) >= tp->o.queue_size) {
		log_debug("Queue to %s is full", d->name);
		maybe_idle(d);
		return 0;
	}
	d->reserved++;
	evloop_timer_stop(tp->loop, &d->idle);
	*d_r = d;
	return 1;
}

/* fm_tp_unreserve: see fm_tp.h */
void
fm_tp_unreserve(struct fm_tp_dest *d)
{
	if (d->reserved == 0)
		abort(); /* a reservation given back twice */
	d->reserved--;
	maybe_idle(d);
}

/* fm_tp_submit: see fm_tp.h */
struct fm_tp_job *
fm_tp_submit(struct fm_tp_dest *d, struct fm_tp_msg *msg,
	     const char *const *rcpts, size_t n, fm_tp_done_fn *done, void *arg)
{
	struct fm_tp_job *job = xcalloc(1, sizeof(*job));
	size_t i;

	if (d->reserved == 0)
		abort(); /* a job without a reservation */
	d->reserved--;
	job->dest = d;
	job->msg = msg;
	msg->refs++;
	job->rcpts = xcalloc(n, sizeof(char *));
	for (i = 0; i < n; i++)
		job->rcpts[i] = xstrdup(rcpts[i]);
	job->nrcpts = n;
	job->res = xcalloc(n, sizeof(*job->res));
	job->done = done;
	job->arg = arg;
	LLIST_APPEND(&d->queue, job, link);
	kick(d);
	return job;
}

/* fm_tp_job_cancel: see fm_tp.h */
void
fm_tp_job_cancel(struct fm_tp_job **jp)
{
	struct fm_tp_job *job = *jp;
	struct fm_tp_dest *d;

	if (job == NULL)
		return;
	*jp = NULL;
	d = job->dest;
	if (d->active == job) {
		job->done = NULL; /* let it finish; nobody hears of it */
		return;
	}
	LLIST_REMOVE(&d->queue, job, link);
	job_free(job);
	maybe_idle(d);
}

/* fm_tp_drain: see fm_tp.h; the queued jobs follow from kick, each
 * ending at its start */
void
fm_tp_drain(struct fm_tp *tp)
{
	struct fm_tp_dest *d;
	size_t n = 0;

	tp->draining = 1;
	LLIST_FOREACH(d, &tp->dests, link)
		if (d->active != NULL && d->active->run != NULL)
			n += (size_t)fm_tp_run_drain(d->active->run);
	if (n > 0 || fm_tp_queued(tp) > 0)
		log_info("shutting down: %zu deliveries not started and %zu "
			 "queued deferred (%s)",
			 n, fm_tp_queued(tp), FM_TP_DRAINING);
}

/* fm_tp_job_finished: see fm_tp.h */
void
fm_tp_job_finished(struct fm_tp_job *job)
{
	struct fm_tp_dest *d = job->dest;

	if (d->active != job)
		abort(); /* a report for a job that is not running */
	d->active = NULL;
	d->tp->running--;
	prom_hist_observe(&d->tp->stats.delivery, prom_latency_le,
			  sizeof(prom_latency_le) / sizeof(prom_latency_le[0]),
			  (double)(evloop_now(d->tp->loop) - job->started) /
				  1000.0);
	job->run = NULL;
	kick(d);
	if (job->done != NULL)
		job->done(job->arg, job->res, job->nrcpts);
	job_free(job);
	maybe_idle(d);
}

/* on_conn_idle: a kept connection unused for conn_idle_ms */
static void
on_conn_idle(struct evloop *loop, void *arg)
{
	struct fm_conn *c = arg;
	struct fm_tp_dest *d = c->kept;

	d->conn = NULL;
	fm_conn_close(loop, &c, 1);
}

/* fm_tp_keep_conn: see fm_tp.h */
void
fm_tp_keep_conn(struct fm_tp_dest *d, struct fm_conn *c)
{
	struct evloop *loop = d->tp->loop;

	evloop_io_del(loop, c->fd);
	fm_conn_close(loop, &d->conn, 1);
	d->conn = c;
	c->kept = d;
	evloop_timer_init(&c->idle, on_conn_idle, c);
	evloop_timer_start(loop, &c->idle, d->tp->o.conn_idle_ms);
}

/* fm_tp_take_conn: see fm_tp.h */
struct fm_conn *
fm_tp_take_conn(struct fm_tp_dest *d, const char *host)
{
	struct fm_conn *c = d->conn;

	if (c == NULL || strcasecmp(c->host, host) != 0)
		return NULL;
	evloop_timer_stop(d->tp->loop, &c->idle);
	c->kept = NULL;
	d->conn = NULL;
	return c;
}

/* prefer_find: index of host in the SMTP-preference table, or -1 */
static long
prefer_find(const struct fm_tp *tp, const char *host)
{
	size_t i;

	for (i = 0; i < tp->nprefer; i++)
		if (strcasecmp(tp->prefer[i].host, host) == 0)
			return (long)i;
	return -1;
}

/* prefer_drop: remove entry i */
static void
prefer_drop(struct fm_tp *tp, size_t i)
{
	free(tp->prefer[i].host);
	tp->prefer[i] = tp->prefer[--tp->nprefer];
}

/* fm_tp_prefers_smtp: see fm_tp.h */
int
fm_tp_prefers_smtp(struct fm_tp *tp, const char *host)
{
	long i = prefer_find(tp, host);

	if (i < 0)
		return 0;
	if (tp->prefer[i].until > evloop_now(tp->loop))
		return 1;
	prefer_drop(tp, (size_t)i);
	return 0;
}

/* fm_tp_prefer_smtp: see fm_tp.h */
void
fm_tp_prefer_smtp(struct fm_tp *tp, const char *host, int on)
{
	long i = prefer_find(tp, host);
	uint64_t now = evloop_now(tp->loop);
	size_t j, oldest = 0;

	if (!on) {
		if (i >= 0)
			prefer_drop(tp, (size_t)i);
		return;
	}
	if (i < 0 && tp->nprefer == FM_TP_PREFER_MAX) {
		/* full: the entry that ends first goes */
		for (j = 1; j < tp->nprefer; j++)
			if (tp->prefer[j].until < tp->prefer[oldest].until)
				oldest = j;
		prefer_drop(tp, oldest);
	}
	if (i < 0) {
		i = (long)tp->nprefer++;
		tp->prefer[i].host = xstrdup(host);
	}
	tp->prefer[i].until = now + tp->o.prefer_smtp_ms;
}
