/*
 * fm_lines: the line-protocol server shared by filtermail's SMTP server
 * and the transport's LMTP server (fm_lines.h says what it does and
 * which input it bounds).
 *
 * Role: input is read into one buffer shared by all sessions and
 * processed at once; a session keeps only what it cannot process yet (a
 * partial command line, or pipelined input while the protocol works on
 * a message). Idle sessions hold no buffers.
 *
 * Untrusted input: every byte the client sends (fm_lines.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fm_lines.h"
#include "log.h"
#include "net_server.h"
#include "xmalloc.h"

#define READ_SIZE 65536

struct fm_lines {
	struct evloop *loop;
	struct fm_lines_opts o;
	struct net_server ns;
	LLIST_HEAD(, fm_ls_session) sessions;
	char rbuf[READ_SIZE];
};

static void session_run(struct fm_ls_session *s, const char *p, size_t n);

/* reading: the session takes input now */
static int
reading(const struct fm_ls_session *s)
{
	return s->state == FM_LS_CMD || s->state == FM_LS_DATA;
}

/* fm_ls_reply: see fm_lines.h */
void
fm_ls_reply(struct fm_ls_session *s, const char *text)
{
	size_t n = strcspn(text, "\r\n"); /* one line, whatever we got */

	if (buf_printf(&s->out, "%.*s\r\n", (int)n, text) < 0)
		s->state = FM_LS_QUIT; /* a client that never reads */
}

/* fm_ls_data: see fm_lines.h */
void
fm_ls_data(struct fm_ls_session *s, size_t max)
{
	buf_deinit(&s->msg);
	buf_init(&s->msg, max);
	fm_unstuff_init(&s->un);
	s->state = FM_LS_DATA;
}

/* fm_ls_cmd_noop: see fm_lines.h */
void
fm_ls_cmd_noop(struct fm_ls_session *s, const char *arg)
{
	(void)arg;
	fm_ls_reply(s, "250 OK");
}

/* fm_ls_cmd_quit: see fm_lines.h */
void
fm_ls_cmd_quit(struct fm_ls_session *s, const char *arg)
{
	(void)arg;
	fm_ls_reply(s, "221 OK");
	s->state = FM_LS_QUIT;
}

/* dispatch: one command line (CRLF removed, no NUL) to its verb's
 * function */
static void
dispatch(struct fm_ls_session *s, const char *line)
{
	const struct fm_ls_ops *ops = s->srv->o.ops;
	size_t vlen = strcspn(line, " "), i;
	const char *arg = line + vlen;

	while (*arg == ' ')
		arg++;
	log_debug("Received: %s", line);
	for (i = 0; i < ops->ncmds; i++) {
		if (strlen(ops->cmds[i].verb) == vlen &&
		    strncasecmp(line, ops->cmds[i].verb, vlen) == 0) {
			ops->cmds[i].fn(s, arg);
			return;
		}
	}
	fm_ls_reply(s, "500 Command not recognized");
}

/* session_free: the protocol's state, then the connection */
static void
session_free(struct fm_ls_session *s)
{
	struct fm_lines *srv = s->srv;

	srv->o.ops->closing(s);
	buf_deinit(&s->msg);
	evloop_timer_stop(srv->loop, &s->timer);
	evloop_io_del(srv->loop, s->fd);
	(void)close(s->fd);
	LLIST_REMOVE(&srv->sessions, s, link);
	buf_deinit(&s->in);
	buf_deinit(&s->out);
	free(s);
}

/* command_step: one command line from p; bytes consumed, 0 if the
 * line is incomplete */
static size_t
command_step(struct fm_ls_session *s, const char *p, size_t n)
{
	const char *lf = memchr(p, '\n', n);
	char line[FM_CMD_LINE_MAX + 1];
	size_t len;

	if (lf == NULL) {
		if (n <= FM_CMD_LINE_MAX + 1 && !s->discarding)
			return 0;
		if (!s->discarding)
			fm_ls_reply(s, "500 Line too long");
		s->discarding = 1;
		return n;
	}
	len = (size_t)(lf - p);
	if (s->discarding) {
		s->discarding = 0;
		return len + 1;
	}
	if (len == 0 || p[len - 1] != '\r') {
		log_warn("Malformed command without CRLF ending! "
			 "Closing connection.");
		s->state = FM_LS_QUIT;
		return n;
	}
	if (--len > FM_CMD_LINE_MAX) {
		fm_ls_reply(s, "500 Line too long");
		return (size_t)(lf - p) + 1;
	}
	memcpy(line, p, len);
	line[len] = '\0';
	if (memchr(line, '\0', len) != NULL)
		fm_ls_reply(s, "500 Command not recognized");
	else
		dispatch(s, line);
	return (size_t)(lf - p) + 1;
}

/* process: run commands and DATA over p; returns bytes consumed (less
 * than n when a line is incomplete or the session stopped reading) */
static size_t
process(struct fm_ls_session *s, const char *p, size_t n)
{
	size_t i = 0, used, half = s->srv->o.ops->out_max / 2;
	int r;

	while (i < n && s->out.len < half) {
		if (s->state == FM_LS_CMD) {
			used = command_step(s, p + i, n - i);
			if (used == 0)
				break;
			i += used;
		} else if (s->state == FM_LS_DATA) {
			r = fm_unstuff(&s->un, p + i, n - i, &s->msg, &used);
			i += used;
			if (r < 0) {
				log_warn("Malformed DATA line without CRLF "
					 "ending! Closing connection.");
				s->state = FM_LS_QUIT;
			} else if (r == 1) {
				s->srv->o.ops->end_of_data(s);
			}
		} else {
			break;
		}
	}
	return i;
}

/* take_input: process new input (p, n), holding what is left */
static void
take_input(struct fm_ls_session *s, const char *p, size_t n)
{
	size_t used;

	if (n == 0)
		return;
	if (s->in.len > 0) {
		/* in holds at most a partial line: a read fits */
		if (buf_append(&s->in, p, n) < 0)
			abort();
		return;
	}
	used = process(s, p, n);
	if (used < n && buf_append(&s->in, p + used, n - used) < 0)
		abort();
}

/* wait_next: buffers of an idle session go; watch for what comes next */
static void
wait_next(struct fm_ls_session *s, int sent)
{
	struct evloop *loop = s->srv->loop;
	unsigned ev = 0;

	if (s->in.len == 0)
		buf_deinit(&s->in); /* idle sessions hold no buffers */
	if (s->out.len == 0)
		buf_deinit(&s->out);
	if (sent == 0)
		ev = EV_WRITE; /* no more input until the replies are out */
	else if (reading(s))
		ev = EV_READ;
	(void)evloop_io_mod(loop, s->fd, ev);
	if (s->state == FM_LS_WAIT)
		evloop_timer_stop(loop, &s->timer);
	else
		evloop_timer_start(loop, &s->timer, s->srv->o.idle_ms);
}

/* session_run: process new input (p, n) after any held input, send the
 * replies, and wait for what comes next; may free the session */
static void
session_run(struct fm_ls_session *s, const char *p, size_t n)
{
	size_t used = 0;
	int r;

	take_input(s, p, n);
	for (;;) {
		if (s->in.len > 0 && reading(s)) {
			used = process(s, s->in.data, s->in.len);
			buf_consume(&s->in, used);
		}
		r = net_send_buf(s->fd, &s->out);
		if (r < 0 || (r == 1 && s->state == FM_LS_QUIT)) {
			session_free(s);
			return;
		}
		/* go on while held input shrinks and replies get out */
		if (r == 0 || used == 0 || s->in.len == 0 || !reading(s))
			break;
	}
	wait_next(s, r);
}

/* fm_ls_resume: see fm_lines.h */
void
fm_ls_resume(struct fm_ls_session *s)
{
	session_run(s, NULL, 0);
}

/* on_io: readiness of a session */
static void
on_io(struct evloop *loop, int fd, unsigned events, void *arg)
{
	struct fm_ls_session *s = arg;
	struct fm_lines *srv = s->srv;
	ssize_t n = 0;

	(void)loop;
	if ((events & EV_READ) && reading(s) &&
	    s->in.len <= FM_CMD_LINE_MAX + 1) {
		do
			n = recv(fd, srv->rbuf, sizeof(srv->rbuf), 0);
		while (n < 0 && errno == EINTR);
		if (n == 0 ||
		    (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
			/* mid-DATA the message is dropped: the client
			 * never got a 250 for it */
			session_free(s);
			return;
		}
		if (n < 0)
			n = 0;
	}
	session_run(s, srv->rbuf, (size_t)n);
}

/* on_timer: the client was idle too long */
static void
on_timer(struct evloop *loop, void *arg)
{
	struct fm_ls_session *s = arg;

	(void)loop;
	fm_ls_reply(s, "421 4.4.2 filtermail Error: timeout exceeded");
	s->state = FM_LS_QUIT;
	session_run(s, NULL, 0);
}

/* session_new: greet an accepted connection */
static void
session_new(void *arg, int fd)
{
	struct fm_lines *srv = arg;
	const struct fm_ls_ops *ops = srv->o.ops;
	struct fm_ls_session *s = xcalloc(1, ops->size);

	s->srv = srv;
	s->fd = fd;
	s->state = FM_LS_CMD;
	buf_init(&s->in, FM_CMD_LINE_MAX + 2 + READ_SIZE);
	buf_init(&s->out, ops->out_max);
	buf_init(&s->msg, 0);
	evloop_timer_init(&s->timer, on_timer, s);
	LLIST_PREPEND(&srv->sessions, s, link);
	if (ops->opened != NULL)
		ops->opened(s);
	if (evloop_io_add(srv->loop, fd, EV_READ, on_io, s) < 0) {
		session_free(s);
		return;
	}
	fm_ls_reply(s, ops->greeting);
	session_run(s, NULL, 0);
}

/* admission: over max_sessions a 421; out of fds a pause of a second,
 * as upstream sleeps after a failed accept */
static const struct net_server_opts admit_opts = {
	.busy = "421 4.3.2 Too many connections\r\n",
	.err_msg = "Error accepting connection",
	.err_level = LOG_LVL_ERROR,
	.pause_ms = 1000,
	.nodelay = 1,
};

/* fm_lines_new: see fm_lines.h */
struct fm_lines *
fm_lines_new(struct evloop *loop, const struct fm_lines_opts *o, int lfd)
{
	struct fm_lines *srv = xcalloc(1, sizeof(*srv));
	struct net_server_opts no = admit_opts;

	srv->loop = loop;
	srv->o = *o;
	LLIST_INIT(&srv->sessions);
	no.max_conns = o->max_sessions;
	net_server_init(&srv->ns, loop, &no, &LLIST_COUNT(&srv->sessions),
			session_new, srv);
	if (net_server_listen(&srv->ns, lfd) < 0) {
		(void)close(lfd);
		free(srv);
		return NULL;
	}
	return srv;
}

/* fm_lines_adopt: see fm_lines.h */
void
fm_lines_adopt(struct fm_lines *srv, int fd)
{
	session_new(srv, fd);
}

/* fm_lines_free: see fm_lines.h */
void
fm_lines_free(struct fm_lines **sp)
{
	struct fm_lines *srv = *sp;
	struct fm_ls_session *s, *next;

	if (srv == NULL)
		return;
	LLIST_FOREACH_SAFE(s, &srv->sessions, link, next)
		session_free(s);
	net_server_close(&srv->ns);
	free(srv);
	*sp = NULL;
}

/* fm_lines_close_listener: see fm_lines.h */
void
fm_lines_close_listener(struct fm_lines *srv)
{
	net_server_close(&srv->ns);
}

/* fm_lines_sessions: see fm_lines.h */
size_t
fm_lines_sessions(const struct fm_lines *srv)
{
	return LLIST_COUNT(&srv->sessions);
}

/* fm_lines_busy: see fm_lines.h */
size_t
fm_lines_busy(const struct fm_lines *srv)
{
	const struct fm_ls_session *s;
	size_t n = 0;

	LLIST_FOREACH(s, &srv->sessions, link)
		n += s->state == FM_LS_WAIT;
	return n;
}

/* fm_lines_arg: see fm_lines.h */
void *
fm_lines_arg(const struct fm_lines *srv)
{
	return srv->o.arg;
}
