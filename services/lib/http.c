/*
 * http: connections of the HTTP/1.1 server (see http.h for the contract).
 *
 * Role: accepts connections on the caller's listening fds, reads one
 * request at a time (head into a bounded buffer, parsed in place by
 * http_parse.c; body into a buffer sized exactly to Content-Length),
 * hands it to the handler, writes the response, and then either closes
 * or serves the next (possibly pipelined) request.
 *
 * Untrusted input: all bytes from peers. Limits: max_header for the
 * head, max_headers fields, max_body, max_conns, and an idle timer that
 * runs whenever the server waits for the peer (reading or writing).
 * While the handler works, the connection is not read, so header
 * pointers stay valid and a pipelining peer cannot grow our buffers.
 */
#include "http.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "llist.h"
#include "log.h"
#include "net.h"
#include "net_server.h"
#include "xmalloc.h"

#define READ_CHUNK 4096
#define MAX_RESPONSE (16u << 20)
#define LINGER_MAX (1u << 20) /* bytes drained before giving up */
#define LINGER_MS 5000	      /* and how long, as nginx's lingering_timeout */

enum conn_state {
	ST_HEAD,    /* reading the request head */
	ST_BODY,    /* reading the body */
	ST_PENDING, /* the handler has the request */
	ST_WRITING, /* sending the response */
	ST_LINGER,  /* closing: our side shut, draining what the peer sent */
};

struct http_request {
	struct http_conn *conn;
	struct http_head head;
	const char *path;
	http_abort_fn *abort_fn;
	void *abort_arg;
};

struct http_conn {
	struct http_server *srv;
	LLIST_LINK(http_conn) link; /* in the server's conns */
	int fd;
	enum conn_state state;
	int close;	 /* close once the response is out */
	int in_cb;	 /* inside a callback: http_respond only queues */
	int pipelined;	 /* input waits behind a pending request */
	size_t hdr_len;	 /* bytes of the head in in */
	size_t pre_body; /* body bytes that arrived with the head */
	size_t drained;	 /* bytes discarded while lingering */
	struct buf in, body, out;
	struct evloop_timer timer;
	struct http_request req;
	char path[2048];
	char peer[64];
};

struct http_server {
	struct evloop *loop;
	struct http_server_opts opts;
	http_head_fn *head;
	http_handler_fn *handler;
	void *arg;
	struct net_server ns;
	LLIST_HEAD(, http_conn) conns;
};

static void conn_process(struct http_conn *c);

/* conn_free: close the connection; a pending request is aborted */
static void
conn_free(struct http_conn *c)
{
	struct http_server *srv = c->srv;

	if (c->state == ST_PENDING && c->req.abort_fn != NULL) {
		http_abort_fn *fn = c->req.abort_fn;

		c->req.abort_fn = NULL;
		fn(c->req.abort_arg, &c->req);
	}
	evloop_timer_stop(srv->loop, &c->timer);
	evloop_io_del(srv->loop, c->fd);
	close(c->fd);
	LLIST_REMOVE(&srv->conns, c, link);
	buf_deinit(&c->in);
	buf_deinit(&c->body);
	buf_deinit(&c->out);
	free(c->req.head.headers);
	free(c);
}

/* conn_events: what to wait for in the current state */
static void
conn_events(struct http_conn *c)
{
	unsigned ev = 0;

	if (c->state == ST_HEAD || c->state == ST_BODY || c->state == ST_LINGER)
		ev = EV_READ;
	else if (c->state == ST_PENDING && !c->pipelined)
		ev = EV_READ; /* to notice a peer that goes away */
	else if (c->state == ST_WRITING)
		ev = EV_WRITE;
	(void)evloop_io_mod(c->srv->loop, c->fd, ev);
	if (c->state == ST_PENDING)
		evloop_timer_stop(c->srv->loop, &c->timer);
	else if (c->state == ST_LINGER)
		evloop_timer_start(c->srv->loop, &c->timer,
				   c->srv->opts.idle_ms < LINGER_MS
					   ? c->srv->opts.idle_ms
					   : LINGER_MS);
	else
		evloop_timer_start(c->srv->loop, &c->timer,
				   c->srv->opts.idle_ms);
}

/* queue_response: format status line, headers and body into out */
static int
queue_response(struct http_conn *c, int status, const char *ctype,
	       const char *extra, const void *body, size_t len, int head_only)
{
	int r;

	buf_reset(&c->out);
	r = buf_printf(&c->out,
		       "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
		       "Content-Length: %zu\r\n%s%s\r\n",
		       status, http_reason(status),
		       ctype != NULL ? ctype : "text/plain; charset=utf-8", len,
		       extra != NULL ? extra : "",
		       c->close ? "Connection: close\r\n" : "");
	if (r == 0 && !head_only && len > 0)
		r = buf_append(&c->out, body, len);
	return r;
}

/* http_respond: see http.h */
int
http_respond(struct http_request *req, int status, const char *content_type,
	     const char *extra_headers, const void *body, size_t len)
{
	struct http_conn *c = req->conn;
	int head_only, r;

	if (c->state == ST_WRITING)
		abort(); /* a second response to one request */
	req->abort_fn = NULL;
	head_only = req->head.method != NULL &&
		    strcmp(req->head.method, "HEAD") == 0;
	/* a body we did not read leaves the stream unframed: close */
	if (c->state == ST_HEAD || c->state == ST_BODY)
		c->close = 1;
	r = queue_response(c, status, content_type, extra_headers, body, len,
			   head_only);
	if (r < 0) {
		c->close = 1;
		(void)queue_response(c, 500, NULL, NULL, "response too large",
				     18, 0);
	}
	c->state = ST_WRITING;
	if (!c->in_cb)
		conn_process(c);
	return r < 0 ? -E2BIG : 0;
}

/* http_respond_text: see http.h */
int
http_respond_text(struct http_request *req, int status, const char *text)
{
	return http_respond(req, status, NULL, NULL, text, strlen(text));
}

/* fail: answer a protocol error and close afterwards */
static void
fail(struct http_conn *c, int status)
{
	const char *text = http_reason(status);

	if (status == 413 && c->srv->opts.too_large_body != NULL)
		text = c->srv->opts.too_large_body;
	c->close = 1;
	c->req.head.method = NULL;
	(void)queue_response(c, status, NULL, NULL, text, strlen(text), 0);
	c->state = ST_WRITING;
}

/* find_head_end: length of the head including its empty line, or 0 */
static size_t
find_head_end(const char *p, size_t len)
{
	size_t i;

	for (i = 1; i < len; i++) {
		if (p[i] != '\n')
			continue;
		if (p[i - 1] == '\n')
			return i + 1;
		if (i >= 2 && p[i - 1] == '\r' && p[i - 2] == '\n')
			return i + 1;
	}
	return 0;
}

/* set_path: the target without its query, for http_request_path */
static void
set_path(struct http_conn *c)
{
	size_t n = strcspn(c->req.head.target, "?#");

	if (n >= sizeof(c->path))
		n = sizeof(c->path) - 1;
	memcpy(c->path, c->req.head.target, n);
	c->path[n] = '\0';
	c->req.path = c->path;
}

/* start_body: set up the body buffer from what came with the head */
static void
start_body(struct http_conn *c)
{
	uint64_t want = c->req.head.content_length;
	size_t avail = c->in.len - c->hdr_len;

	buf_deinit(&c->body);
	buf_init(&c->body, (size_t)want);
	c->pre_body = avail < want ? avail : (size_t)want;
	if (want > 0 && buf_reserve(&c->body, (size_t)want) == NULL)
		abort(); /* max was set to want */
	(void)buf_append(&c->body, c->in.data + c->hdr_len, c->pre_body);
	c->state = ST_BODY;
}

/* expect_continue: "Expect: 100-continue" and the body still to come:
 * tell the client to send it (curl waits a second otherwise) */
static void
expect_continue(struct http_conn *c)
{
	static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
	const char *v = http_request_header(&c->req, "Expect");

	if (v == NULL || strcasecmp(v, "100-continue") != 0 ||
	    c->req.head.minor == 0 || c->body.len >= c->req.head.content_length)
		return;
	/* nothing else is queued now: the socket takes these few bytes */
	(void)send(c->fd, cont, sizeof(cont) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* step_head: parse a buffered head; 1 progressed, 0 need more input */
static int
step_head(struct http_conn *c)
{
	struct http_server *srv = c->srv;
	size_t end;
	int r;

	if (c->in.data == NULL || c->in.len == 0)
		return 0;
	end = find_head_end(c->in.data, c->in.len);
	if (end == 0) {
		if (c->in.len > srv->opts.max_header)
			fail(c, 431);
		return c->state == ST_WRITING;
	}
	if (end > srv->opts.max_header + 2) {
		fail(c, 431);
		return 1;
	}
	c->hdr_len = end;
	if (memchr(c->in.data, '\0', end) != NULL) {
		fail(c, 400);
		return 1;
	}
	c->in.data[end - 1] = '\0';
	if ((r = http_parse_head(c->in.data, &c->req.head)) != 0) {
		fail(c, r);
		return 1;
	}
	c->close = c->req.head.close;
	c->req.abort_fn = NULL;
	set_path(c);
	if (srv->head != NULL) {
		c->in_cb = 1;
		srv->head(srv->arg, &c->req);
		c->in_cb = 0;
		if (c->state == ST_WRITING)
			return 1;
	}
	if (c->req.head.content_length > srv->opts.max_body) {
		fail(c, 413);
		return 1;
	}
	start_body(c);
	expect_continue(c);
	return 1;
}

/* dispatch: the request is complete; give it to the handler */
static void
dispatch(struct http_conn *c)
{
	struct http_server *srv = c->srv;

	c->state = ST_PENDING;
	c->in_cb = 1;
	srv->handler(srv->arg, &c->req);
	c->in_cb = 0;
}

/* finish_response: after the last byte went out, close or go on. A
 * close is lingering: shutting our side and draining the peer's unread
 * bytes keeps the kernel from answering them with a reset that would
 * destroy the response before the peer read it. */
static void
finish_response(struct http_conn *c)
{
	if (c->close) {
		(void)shutdown(c->fd, SHUT_WR);
		c->state = ST_LINGER;
		return;
	}
	buf_consume(&c->in, c->hdr_len + c->pre_body);
	buf_deinit(&c->body);
	buf_reset(&c->out);
	c->hdr_len = c->pre_body = 0;
	c->pipelined = 0;
	c->state = ST_HEAD;
}

/* flush: write queued output, progress restarting the idle timer;
 * 1 done, 0 wait, <0 connection failed */
static int
flush(struct http_conn *c)
{
	size_t before = c->out.len;
	int r = net_send_buf(c->fd, &c->out);

	if (c->out.len < before)
		evloop_timer_start(c->srv->loop, &c->timer,
				   c->srv->opts.idle_ms);
	return r;
}

/* conn_process: run the state machine as far as the input allows */
static void
conn_process(struct http_conn *c)
{
	int r;

	for (;;) {
		switch (c->state) {
		case ST_HEAD:
			if (!step_head(c))
				goto wait;
			break;
		case ST_BODY:
			if (c->body.len < c->req.head.content_length)
				goto wait;
			dispatch(c);
			break;
		case ST_PENDING:
		case ST_LINGER:
			goto wait;
		case ST_WRITING:
			r = flush(c);
			if (r < 0) {
				conn_free(c);
				return;
			}
			if (r == 0)
				goto wait;
			finish_response(c);
			break;
		}
	}
wait:
	conn_events(c);
}

/* conn_read: one read into the head or body buffer; <0 closes */
static ssize_t
conn_read(struct http_conn *c)
{
	struct buf *b = c->state == ST_BODY ? &c->body : &c->in;
	size_t want = buf_room(b);
	ssize_t n;
	char *p;

	if (c->state == ST_HEAD && want > READ_CHUNK)
		want = READ_CHUNK;
	if (want == 0)
		return -ENOBUFS;
	p = buf_reserve(b, want);
	if (p == NULL)
		return -ENOBUFS;
	do
		n = recv(c->fd, p, want, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
	if (n == 0)
		return -EPIPE;
	buf_commit(b, (size_t)n);
	return n;
}

/* linger_read: discard input until EOF; 1 when the conn is done */
static int
linger_read(struct http_conn *c)
{
	char scratch[4096];
	ssize_t n;

	for (;;) {
		n = recv(c->fd, scratch, sizeof(scratch), MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n <= 0)
			return 1;
		c->drained += (size_t)n;
		if (c->drained > LINGER_MAX)
			return 1;
	}
}

/* peer_gone: while pending, whether the peer closed or reset */
static int
peer_gone(int fd)
{
	char ch;
	ssize_t n = recv(fd, &ch, 1, MSG_PEEK | MSG_DONTWAIT);

	return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
			  errno != EINTR);
}

/* on_io: readiness on a connection */
static void
on_io(struct evloop *loop, int fd, unsigned events, void *arg)
{
	struct http_conn *c = arg;
	ssize_t n;

	(void)loop;
	(void)fd;
	if (c->state == ST_PENDING) {
		if (peer_gone(c->fd)) {
			conn_free(c);
		} else {
			/* a pipelined request: leave it in the socket */
			c->pipelined = 1;
			conn_events(c);
		}
		return;
	}
	if (c->state == ST_LINGER) {
		if (linger_read(c))
			conn_free(c);
		return;
	}
	if ((events & EV_READ) &&
	    (c->state == ST_HEAD || c->state == ST_BODY)) {
		n = conn_read(c);
		if (n < 0) {
			/* -ENOBUFS in ST_HEAD: the head is over the limit */
			if (n == -ENOBUFS && c->state == ST_HEAD) {
				fail(c, 431);
				conn_process(c);
			} else {
				conn_free(c);
			}
			return;
		}
		if (n > 0)
			evloop_timer_start(c->srv->loop, &c->timer,
					   c->srv->opts.idle_ms);
	}
	conn_process(c);
}

/* on_timer: the peer made no progress for idle_ms */
static void
on_timer(struct evloop *loop, void *arg)
{
	struct http_conn *c = arg;

	(void)loop;
	if ((c->state == ST_HEAD && c->in.len > 0) || c->state == ST_BODY) {
		fail(c, 408);
		evloop_timer_start(c->srv->loop, &c->timer,
				   c->srv->opts.idle_ms);
		conn_process(c);
		return;
	}
	conn_free(c);
}

/* conn_new: set up a connection for an accepted fd */
static void
conn_new(void *arg, int fd)
{
	struct http_server *srv = arg;
	struct http_conn *c = xcalloc(1, sizeof(*c));
	struct net_addr peer;

	c->srv = srv;
	c->fd = fd;
	c->state = ST_HEAD;
	c->req.conn = c;
	c->req.head.max_headers = srv->opts.max_headers;
	c->req.head.headers =
		xcalloc(srv->opts.max_headers, sizeof(struct http_header));
	buf_init(&c->in, srv->opts.max_header + READ_CHUNK);
	buf_init(&c->body, 0);
	buf_init(&c->out, MAX_RESPONSE);
	peer.len = sizeof(peer.ss);
	if (getpeername(fd, (struct sockaddr *)&peer.ss, &peer.len) == 0)
		(void)net_addr_str(&peer, c->peer, sizeof(c->peer));
	if (c->peer[0] == '\0' || strncmp(c->peer, "unix:", 5) == 0)
		(void)snprintf(c->peer, sizeof(c->peer), "unix");
	evloop_timer_init(&c->timer, on_timer, c);
	LLIST_PREPEND(&srv->conns, c, link);
	if (evloop_io_add(srv->loop, fd, EV_READ, on_io, c) < 0) {
		conn_free(c);
		return;
	}
	evloop_timer_start(srv->loop, &c->timer, srv->opts.idle_ms);
}

/* admission: over max_conns a 503, out of fds a pause of a second */
static const struct net_server_opts admit_opts = {
	.busy = "HTTP/1.1 503 Service Unavailable\r\n"
		"Content-Length: 0\r\n"
		"Connection: close\r\n\r\n",
	.err_msg = "accept failed",
	.err_level = LOG_LVL_WARN,
	.pause_ms = 1000,
	.nodelay = 1,
};

/* http_server_new: see http.h */
struct http_server *
http_server_new(struct evloop *loop, const struct http_server_opts *opts,
		http_head_fn *head, http_handler_fn *handler, void *arg)
{
	struct http_server *srv = xcalloc(1, sizeof(*srv));

	srv->loop = loop;
	if (opts != NULL)
		srv->opts = *opts;
	else
		http_server_opts_default(&srv->opts);
	if (srv->opts.max_headers == 0)
		srv->opts.max_headers = 1;
	srv->head = head;
	srv->handler = handler;
	srv->arg = arg;
	net_server_init(&srv->ns, loop, &admit_opts, &LLIST_COUNT(&srv->conns),
			conn_new, srv);
	net_server_set_max(&srv->ns, srv->opts.max_conns);
	return srv;
}

/* http_server_listen: see http.h */
int
http_server_listen(struct http_server *srv, int lfd)
{
	return net_server_listen(&srv->ns, lfd);
}

/* http_server_close_listeners: see http.h */
void
http_server_close_listeners(struct http_server *srv)
{
	net_server_close(&srv->ns);
}

/* http_server_conns: see http.h */
size_t
http_server_conns(const struct http_server *srv)
{
	return LLIST_COUNT(&srv->conns);
}

/* http_server_free: see http.h */
void
http_server_free(struct http_server **srvp)
{
	struct http_server *srv = *srvp;
	struct http_conn *c, *next;

	if (srv == NULL)
		return;
	LLIST_FOREACH_SAFE(c, &srv->conns, link, next)
		conn_free(c);
	http_server_close_listeners(srv);
	free(srv);
	*srvp = NULL;
}

/* http_request_method: see http.h */
const char *
http_request_method(const struct http_request *req)
{
	return req->head.method;
}

/* http_request_target: see http.h */
const char *
http_request_target(const struct http_request *req)
{
	return req->head.target;
}

/* http_request_path: see http.h */
const char *
http_request_path(const struct http_request *req)
{
	return req->path;
}

/* http_request_header: see http.h */
const char *
http_request_header(const struct http_request *req, const char *name)
{
	size_t idx = 0;
	const char *v;

	return http_request_header_next(req, name, &idx, &v) ? v : NULL;
}

/* http_request_header_next: see http.h */
int
http_request_header_next(const struct http_request *req, const char *name,
			 size_t *idx, const char **value_r)
{
	for (; *idx < req->head.nheaders; (*idx)++) {
		if (strcasecmp(req->head.headers[*idx].name, name) == 0) {
			*value_r = req->head.headers[(*idx)++].value;
			return 1;
		}
	}
	return 0;
}

/* http_request_headers: see http.h */
const struct http_header *
http_request_headers(const struct http_request *req, size_t *n_r)
{
	*n_r = req->head.nheaders;
	return req->head.headers;
}

/* http_request_body: see http.h */
const char *
http_request_body(const struct http_request *req, size_t *len_r)
{
	*len_r = req->conn->body.len;
	return buf_cstr(&req->conn->body);
}

/* http_request_peer: see http.h */
const char *
http_request_peer(const struct http_request *req)
{
	return req->conn->peer;
}

/* http_request_set_abort: see http.h */
void
http_request_set_abort(struct http_request *req, http_abort_fn *fn, void *arg)
{
	req->abort_fn = fn;
	req->abort_arg = arg;
}
