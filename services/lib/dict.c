/*
 * dict: Dovecot dict protocol server core (see dict.h for the protocol).
 *
 * Role: the listener, the connections and the ordered reply queue shared
 * by doveauth, chatmail-metadata and lastlogin (the commands are in
 * dict_cmd.c, the text rules in dict_proto.c); the programs only see
 * their ops table. Untrusted input: every byte a connected peer sends
 * (bounded lines, bounded pipelining, bounded replies, bounded
 * transactions).
 */
#include "dict.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lineio.h"
#include "log.h"
#include "net.h"
#include "num.h"
#include "xmalloc.h"

#include "dict_int.h"

#define ACCEPT_PAUSE_MS 100

static void conn_free(struct dict_conn *c);
static void conn_update(struct dict_conn *c);
static void conn_io(struct evloop *loop, int fd, unsigned events, void *arg);

/* --- requests ------------------------------------------------------- */

/* dict_req_new: a reply slot at the tail of c's queue */
struct dict_req *
dict_req_new(struct dict_conn *c, char cmd)
{
	struct dict_req *req = xcalloc(1, sizeof(*req));

	req->conn = c;
	req->cmd = cmd;
	buf_init(&req->reply, DICT_REPLY_MAX);
	LLIST_APPEND(&c->reqs, req, link);
	return req;
}

/* req_free: release a request no longer queued */
static void
req_free(struct dict_req *req)
{
	buf_deinit(&req->reply);
	free(req);
}

/* conn_move_replies: queue the answered requests at the head, in
 * order, for output */
static void
conn_move_replies(struct dict_conn *c)
{
	struct dict_req *req;

	/* past the high-water mark the rest waits for the peer to read */
	while ((req = LLIST_FIRST(&c->reqs)) != NULL && req->done &&
	       lineio_pending(&c->io) <= OUT_HIGH) {
		if (lineio_write(&c->io, req->reply.data, req->reply.len) < 0) {
			log_warn("dict %s#%lu: output queue full, closing",
				 c->srv->name, c->num);
			c->dead = 1;
			return;
		}
		LLIST_REMOVE(&c->reqs, req, link);
		req_free(req);
	}
}

/* dict_req_done: the reply in req->reply is complete */
void
dict_req_done(struct dict_req *req)
{
	struct dict_conn *c = req->conn;

	if (c == NULL) {
		req_free(req);
		return;
	}
	req->done = 1;
	if (LLIST_FIRST(&c->reqs) != req)
		return; /* an earlier request still owes its answer */
	conn_move_replies(c);
	if (!c->in_dispatch)
		conn_update(c); /* answered from another event */
}

/* req_line: append "<status><escaped value>\n"; a reply that does not
 * fit becomes a failure instead */
static void
req_line(struct dict_req *req, char status, const char *value)
{
	/* one allocation of the right size instead of doubling from 64 */
	(void)buf_reserve(&req->reply, (value ? strlen(value) : 0) + 8);
	if (buf_putc(&req->reply, status) < 0 ||
	    (value != NULL && dict_tabescape(&req->reply, value) < 0) ||
	    buf_putc(&req->reply, '\n') < 0) {
		buf_reset(&req->reply);
		(void)buf_puts(&req->reply, "Freply too long\n");
	}
}

void
dict_reply_value(struct dict_req *req, const char *value)
{
	req_line(req, 'O', value);
	dict_req_done(req);
}

void
dict_reply_notfound(struct dict_req *req)
{
	req_line(req, 'N', NULL);
	dict_req_done(req);
}

void
dict_reply_fail(struct dict_req *req, const char *error)
{
	if (req->cmd == DICT_CMD_COMMIT || req->cmd == DICT_CMD_COMMIT_ASYNC) {
		if (req->cmd == DICT_CMD_COMMIT_ASYNC)
			(void)buf_putc(&req->reply, 'A');
		(void)buf_printf(&req->reply, "F%u\t", req->txn_id);
		(void)dict_tabescape(&req->reply, error);
		(void)buf_putc(&req->reply, '\n');
	} else {
		req_line(req, 'F', error);
	}
	dict_req_done(req);
}

int
dict_iter_row(struct dict_req *req, const char *key, const char *value)
{
	size_t mark = req->reply.len;

	if (req->max_rows > 0 && req->rows >= req->max_rows)
		return 0;
	if (req->iter_flags & DICT_ITER_NO_VALUE || value == NULL)
		value = "";
	if (buf_putc(&req->reply, 'O') < 0 ||
	    dict_tabescape(&req->reply, key) < 0 ||
	    buf_putc(&req->reply, '\t') < 0 ||
	    dict_tabescape(&req->reply, value) < 0 ||
	    buf_putc(&req->reply, '\n') < 0 || buf_room(&req->reply) < 1) {
		/* keep room for the empty line that ends the iteration */
		buf_truncate(&req->reply, mark);
		return -E2BIG;
	}
	req->rows++;
	return 0;
}

void
dict_iter_end(struct dict_req *req)
{
	(void)buf_putc(&req->reply, '\n'); /* dict_iter_row kept room */
	dict_req_done(req);
}

int
dict_req_orphaned(const struct dict_req *req)
{
	return req->conn == NULL;
}

/* --- connections ---------------------------------------------------- */

/* conn_paused: too much unanswered or unsent to take more requests */
static int
conn_paused(const struct dict_conn *c)
{
	return LLIST_COUNT(&c->reqs) >= DICT_PENDING_MAX ||
	       lineio_pending(&c->io) > OUT_HIGH;
}

/* conn_last_line: upstream serves a final line that lacks its LF at
 * EOF; so do we */
static void
conn_last_line(struct dict_conn *c)
{
	char *p;
	size_t n = lineio_peek(&c->io, &p);

	if (n == 0 || n > DICT_LINE_MAX || c->dead)
		return;
	lineio_skip(&c->io, n);
	if (p[n - 1] == '\r')
		n--;
	p[n] = '\0';
	dict_cmd_dispatch(c, p, n);
}

/* conn_read: run the buffered lines, then read more, until the socket
 * is drained, the peer is done, or we pause */
static void
conn_read(struct dict_conn *c)
{
	char *line;
	size_t len;
	ssize_t n;
	int crlf, r, rounds = 0;

	while (!c->dead && !c->eof && !conn_paused(c)) {
		r = lineio_getline(&c->io, &line, &len, &crlf);
		if (r == -E2BIG) {
			log_warn("dict %s#%lu: line too long, closing",
				 c->srv->name, c->num);
			c->srv->stats.bad_input++;
			c->dead = 1;
		} else if (r == 1) {
			dict_cmd_dispatch(c, line, len);
		} else if (++rounds > 64) {
			break; /* let other connections run too */
		} else if ((n = lineio_fill(&c->io)) == 0) {
			c->eof = 1;
			conn_last_line(c);
		} else if (n == -EAGAIN) {
			break;
		} else if (n < 0) {
			c->dead = 1;
		}
	}
	if (conn_paused(c))
		c->stalled = 1;
}

/* conn_watch: register the events we want (none: not registered) */
static void
conn_watch(struct dict_conn *c, unsigned want)
{
	struct evloop *loop = c->srv->loop;
	int r = 0;

	if (want == c->watched)
		return;
	if (want == 0)
		evloop_io_del(loop, c->fd);
	else if (c->watched == 0)
		r = evloop_io_add(loop, c->fd, want, conn_io, c);
	else
		r = evloop_io_mod(loop, c->fd, want);
	if (r < 0) {
		log_error("dict %s#%lu: epoll: %s", c->srv->name, c->num,
			  strerror(-r));
		c->dead = 1;
	}
	c->watched = want;
}

/* conn_update: send what is answered, close when finished or broken,
 * and watch for what comes next */
static void
conn_update(struct dict_conn *c)
{
	unsigned want = 0;
	int r;

	for (;;) {
		conn_move_replies(c);
		r = lineio_flush(&c->io);
		if (r < 0)
			c->dead = 1;
		if (r <= 0 || LLIST_EMPTY(&c->reqs) ||
		    !LLIST_FIRST(&c->reqs)->done)
			break;
	}
	if (c->eof && LLIST_EMPTY(&c->reqs) && lineio_pending(&c->io) == 0)
		c->dead = 1;
	if (c->dead) {
		conn_free(c);
		return;
	}
	if (!c->eof && !conn_paused(c)) {
		want |= EV_READ;
		/* lines buffered while we paused raise no event: run them */
		if (c->stalled) {
			c->stalled = 0;
			evloop_timer_start(c->srv->loop, &c->resume, 0);
		}
	}
	if (lineio_pending(&c->io) > 0)
		want |= EV_WRITE;
	conn_watch(c, want);
	if (c->dead)
		conn_free(c);
}

/* conn_io: the connection's fd is readable or writable */
static void
conn_io(struct evloop *loop, int fd, unsigned events, void *arg)
{
	struct dict_conn *c = arg;

	(void)loop;
	(void)fd;
	if (events & EV_READ) {
		c->in_dispatch = 1;
		conn_read(c);
		c->in_dispatch = 0;
	}
	conn_update(c);
}

/* conn_resume: run input buffered while the connection was paused */
static void
conn_resume(struct evloop *loop, void *arg)
{
	conn_io(loop, -1, EV_READ, arg);
}

/* conn_new: serve fd; NULL (fd closed) if the loop refuses it */
static struct dict_conn *
conn_new(struct dict_server *srv, int fd)
{
	struct dict_conn *c = xcalloc(1, sizeof(*c));

	c->srv = srv;
	c->fd = fd;
	c->num = ++srv->next_num;
	lineio_init(&c->io, fd, DICT_LINE_MAX, OUT_HIGH + DICT_REPLY_MAX);
	evloop_timer_init(&c->resume, conn_resume, c);
	LLIST_PREPEND(&srv->conns, c, link);
	srv->stats.conns++;
	conn_watch(c, EV_READ);
	if (c->dead) {
		conn_free(c);
		return NULL;
	}
	return c;
}

/* conn_free: close c; its unanswered requests become orphans */
static void
conn_free(struct dict_conn *c)
{
	struct dict_server *srv = c->srv;
	struct dict_req *req, *next;

	evloop_timer_stop(srv->loop, &c->resume);
	if (c->watched != 0)
		evloop_io_del(srv->loop, c->fd);
	(void)close(c->fd);
	LLIST_FOREACH_SAFE(req, &c->reqs, link, next) {
		LLIST_REMOVE(&c->reqs, req, link);
		if (req->done)
			req_free(req);
		else
			req->conn = NULL;
	}
	for (size_t i = 0; i < c->ntxns; i++) {
		free(c->txns[i].user);
		free(c->txns[i].error);
	}
	free(c->txns);
	lineio_deinit(&c->io);
	LLIST_REMOVE(&srv->conns, c, link);
	free(c);
}

/* --- the server ----------------------------------------------------- */

/* srv_admit: a connection admitted by the listener */
static void
srv_admit(void *arg, int fd)
{
	(void)conn_new(arg, fd);
}

struct dict_server *
dict_server_new(struct evloop *loop, const char *name,
		const struct dict_ops *ops, void *ctx)
{
	struct dict_server *srv = xcalloc(1, sizeof(*srv));
	struct net_server_opts opts = {
		.max_conns = DICT_CONNS_MAX,
		.err_level = LOG_LVL_WARN,
		.pause_ms = ACCEPT_PAUSE_MS,
	};

	srv->loop = loop;
	srv->name = xstrdup(name);
	srv->ops = ops;
	srv->ctx = ctx;
	(void)snprintf(srv->log_name, sizeof(srv->log_name), "dict %s", name);
	(void)snprintf(srv->accept_msg, sizeof(srv->accept_msg),
		       "dict %s: accept", name);
	opts.full_msg = srv->log_name;
	opts.err_msg = srv->accept_msg;
	net_server_init(&srv->ns, loop, &opts, &LLIST_COUNT(&srv->conns),
			srv_admit, srv);
	return srv;
}

void
dict_server_free(struct dict_server **srvp)
{
	struct dict_server *srv = *srvp;
	struct dict_conn *c;

	if (srv == NULL)
		return;
	while ((c = LLIST_FIRST(&srv->conns)) != NULL)
		conn_free(c);
	net_server_close(&srv->ns);
	free(srv->name);
	free(srv);
	*srvp = NULL;
}

int
dict_server_listen(struct dict_server *srv, const char *path, mode_t mode,
		   struct buf *err)
{
	int fd, r;

	fd = net_listen_unix(path, mode, (uid_t)-1, (gid_t)-1, 1024, err);
	if (fd < 0)
		return -1;
	r = net_server_listen(&srv->ns, fd);
	if (r < 0) {
		(void)buf_printf(err, "epoll: %s", strerror(-r));
		(void)close(fd);
		return -1;
	}
	return 0;
}

int
dict_server_adopt(struct dict_server *srv, int fd)
{
	int r = net_set_nonblock(fd);

	if (r < 0) {
		(void)close(fd);
		return r;
	}
	return conn_new(srv, fd) != NULL ? 0 : -EIO;
}

void
dict_server_set_max_conns(struct dict_server *srv, size_t max)
{
	net_server_set_max(&srv->ns, max);
}

size_t
dict_server_conns(const struct dict_server *srv)
{
	return LLIST_COUNT(&srv->conns);
}

void
dict_server_stats(const struct dict_server *srv, struct dict_stats *st)
{
	*st = srv->stats;
}
