/*
 * metadata_turn: TURN credentials for IMAP METADATA
 * /shared/vendor/deltachat/turn (upstream's turn_credentials()).
 *
 * chatmail-turn writes one line "username:password\n" to every
 * connection on its Unix socket. We connect without blocking, read that
 * line with a 5 s deadline (upstream's socket timeout) and answer the
 * lookup "<mail_domain>:3478:<line, stripped>"; any error or the
 * deadline answers N (logged), as upstream does. The dict loop never
 * waits: the lookup is answered from this module's own events, and the
 * dict core keeps later replies of the connection behind it in order.
 *
 * Untrusted input: the line from the TURN socket (bounded, stripped of
 * surrounding whitespace; an empty line is treated as an error instead
 * of advertising an empty credential).
 */
#include "metadata.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "llist.h"
#include "net.h"
#include "xmalloc.h"

#define TURN_LINE_MAX 512

struct turn_req {
	struct turn *t;
	LLIST_LINK(turn_req) link; /* in turn->pending */
	struct dict_req *req;
	struct evloop_timer deadline;
	int fd;
	size_t len;
	char line[TURN_LINE_MAX + 1];
};

struct turn {
	struct evloop *loop;
	char *path;
	char *hostname;
	LLIST_HEAD(, turn_req) pending;
};

/* finish: answer with the line read so far (ok) or N, and free tr */
static void
finish(struct turn_req *tr, int ok, const char *why)
{
	struct turn *t = tr->t;
	char *s = tr->line, *e;

	evloop_timer_stop(t->loop, &tr->deadline);
	if (tr->fd >= 0) {
		evloop_io_del(t->loop, tr->fd);
		(void)close(tr->fd);
	}
	tr->line[tr->len] = '\0';
	while (isspace((unsigned char)*s))
		s++;
	for (e = s + strlen(s); e > s && isspace((unsigned char)e[-1]); e--)
		*(e - 1) = '\0';
	if (ok && *s != '\0') {
		struct buf v = BUF_INIT(TURN_LINE_MAX + 512);

		(void)buf_printf(&v, "%s:%d:%s", t->hostname, CM_TURN_PORT, s);
		dict_reply_value(tr->req, buf_cstr(&v));
		buf_wipe_deinit(&v);
	} else {
		log_warn("failed to get TURN credentials: %s",
			 ok ? "empty answer" : why);
		dict_reply_notfound(tr->req);
	}
	LLIST_REMOVE(&t->pending, tr, link);
	explicit_bzero(tr->line, sizeof(tr->line));
	free(tr);
}

/* on_deadline: no line within TURN_TIMEOUT_MS */
static void
on_deadline(struct evloop *loop, void *arg)
{
	(void)loop;
	finish(arg, 0, "timed out");
}

/* on_read: collect the line until LF or EOF */
static void
on_read(struct evloop *loop, int fd, unsigned events, void *arg)
{
	struct turn_req *tr = arg;
	ssize_t n;

	(void)loop;
	(void)events;
	for (;;) {
		if (tr->len == TURN_LINE_MAX) {
			finish(tr, 0, "line too long");
			return;
		}
		n = read(fd, tr->line + tr->len, TURN_LINE_MAX - tr->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n < 0) {
			finish(tr, 0, strerror(errno));
			return;
		}
		if (n == 0 || memchr(tr->line + tr->len, '\n', (size_t)n)) {
			char *lf;

			tr->len += (size_t)n;
			/* only the first line counts */
			lf = memchr(tr->line, '\n', tr->len);
			if (lf != NULL)
				tr->len = (size_t)(lf - tr->line);
			finish(tr, 1, NULL);
			return;
		}
		tr->len += (size_t)n;
		tr->line[tr->len] = '\0';
	}
}

void
turn_lookup(struct turn *t, struct dict_req *req)
{
	struct turn_req *tr = xcalloc(1, sizeof(*tr));
	int r;

	tr->t = t;
	tr->req = req;
	tr->fd = -1;
	evloop_timer_init(&tr->deadline, on_deadline, tr);
	LLIST_PREPEND(&t->pending, tr, link);
	r = net_connect_unix(t->path, &tr->fd);
	if (r < 0) {
		tr->fd = -1;
		finish(tr, 0, strerror(-r));
		return;
	}
	/* connected or still connecting: either way the line comes as
	 * readable data, a failed connect as a read error */
	r = evloop_io_add(t->loop, tr->fd, EV_READ, on_read, tr);
	if (r < 0) {
		finish(tr, 0, strerror(-r));
		return;
	}
	evloop_timer_start(t->loop, &tr->deadline, TURN_TIMEOUT_MS);
}

struct turn *
turn_new(struct evloop *loop, const char *socket_path, const char *hostname)
{
	struct turn *t = xcalloc(1, sizeof(*t));

	t->loop = loop;
	t->path = xstrdup(socket_path);
	t->hostname = xstrdup(hostname);
	return t;
}

void
turn_free(struct turn **tp)
{
	struct turn *t = *tp;
	struct turn_req *tr, *next;

	if (t == NULL)
		return;
	LLIST_FOREACH_SAFE(tr, &t->pending, link, next)
		finish(tr, 0, "shutting down");
	free(t->path);
	free(t->hostname);
	free(t);
	*tp = NULL;
}
