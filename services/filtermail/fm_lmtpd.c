/*
 * fm_lmtpd: filtermail transport's LMTP server (RFC 2033), where
 * Postfix's lmtp-filtermail client hands over every message for remote
 * recipients (upstream's transport handler in src/transport.rs).
 *
 * Role: LHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT. At RCPT a slot is
 * reserved in the recipient's destination queue (once per destination
 * and transaction); DATA is refused with "421 Transport busy" when the
 * transaction got no slot at all, so Postfix keeps the message instead
 * of sending it here. After the final dot one job per destination
 * delivers the message (shared, never changed: it is already signed);
 * recipients whose destination had no slot get "421 Transport busy".
 * When every job has ended, one reply per recipient goes back in RCPT
 * order: "250 OK (HTTPS)", "250 OK (SMTP)" or the reason it was not
 * delivered, which Postfix turns into a deferral (4xx) or a bounce (5xx).
 *
 * Untrusted input: what Postfix sends (trusted peer, still bounded):
 * command lines (FM_CMD_LINE_MAX, "500 Line too long"), CRLF line ends
 * (a bare LF closes the connection, as the SMTP side), at most
 * FM_MAX_RCPTS recipients, the message up to max_message_size plus
 * the header lines Postfix may add ("552"), an idle timeout, a session
 * cap.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "filtermail.h"
#include "fm_lmtpd.h"
#include "log.h"
#include "net_server.h"
#include "xmalloc.h"

#define READ_SIZE 65536
#define OUT_MAX (64 * 1024)
#define SIZE_SLACK 65536 /* Postfix's own header lines on top */

enum lstate {
	L_CMD,	/* reading commands */
	L_DATA, /* reading the message */
	L_WAIT, /* the jobs run */
	L_QUIT, /* sending the last reply, then closing */
};

struct lsession;

/* one destination of the transaction */
struct lslot {
	struct lsession *s;
	char dest[FM_TP_HOST_MAX];
	struct fm_tp_dest *d; /* NULL: no slot was free */
	struct fm_tp_job *job;
};

struct lrcpt {
	char *addr;
	size_t slot;
};

struct lsession {
	LLIST_LINK(lsession) link;
	struct fm_lmtpd *srv;
	int fd;
	enum lstate state;
	int discarding;
	struct buf in, out, msg;
	struct fm_unstuffer un;
	int has_mail;
	char *mail_from;
	struct lrcpt *rcpts;
	size_t nrcpts;
	struct lslot *slots;
	size_t nslots;
	struct fm_tp_result *res;
	size_t waiting; /* jobs running */
	struct evloop_timer timer;
};

struct fm_lmtpd {
	struct evloop *loop;
	struct fm_tp *tp;
	struct fm_lmtpd_opts o;
	struct net_server ns;
	LLIST_HEAD(, lsession) sessions;
	char rbuf[READ_SIZE];
};

static void session_run(struct lsession *s, const char *p, size_t n);

/* reply: queue one reply line */
static void
reply(struct lsession *s, const char *text)
{
	size_t n = strcspn(text, "\r\n");

	if (buf_printf(&s->out, "%.*s\r\n", (int)n, text) < 0)
		s->state = L_QUIT; /* a client that never reads */
}

/* reset_tx: forget the transaction: slots not used go back, queued
 * jobs are dropped (Postfix will send the message again) */
static void
reset_tx(struct lsession *s)
{
	size_t i;

	for (i = 0; i < s->nslots; i++) {
		if (s->slots[i].job != NULL)
			fm_tp_job_cancel(&s->slots[i].job);
		else if (s->slots[i].d != NULL)
			fm_tp_unreserve(s->slots[i].d);
	}
	free(s->slots);
	s->slots = NULL;
	s->nslots = 0;
	for (i = 0; i < s->nrcpts; i++)
		free(s->rcpts[i].addr);
	free(s->rcpts);
	s->rcpts = NULL;
	s->nrcpts = 0;
	free(s->res);
	s->res = NULL;
	free(s->mail_from);
	s->mail_from = NULL;
	s->has_mail = 0;
	s->waiting = 0;
	buf_deinit(&s->msg);
}

/* session_free: close; jobs of this session are cancelled */
static void
session_free(struct lsession *s)
{
	struct fm_lmtpd *srv = s->srv;

	reset_tx(s);
	evloop_timer_stop(srv->loop, &s->timer);
	evloop_io_del(srv->loop, s->fd);
	(void)close(s->fd);
	LLIST_REMOVE(&srv->sessions, s, link);
	buf_deinit(&s->in);
	buf_deinit(&s->out);
	free(s);
}

/* cmd_lhlo: our capabilities (EHLO and HELO are taken too) */
static void
cmd_lhlo(struct lsession *s, const char *arg)
{
	(void)arg;
	reset_tx(s);
	reply(s, "250-filtermail");
	reply(s, "250-PIPELINING");
	reply(s, "250-8BITMIME");
	reply(s, "250 OK");
}

/* cmd_mail: MAIL FROM:<addr> [params]; a new transaction */
static void
cmd_mail(struct lsession *s, const char *arg)
{
	char addr[FM_ADDR_MAX + 1];

	if (strncasecmp(arg, "FROM:", 5) != 0) {
		reply(s, "500 Command not recognized");
		return;
	}
	if (!fm_smtp_parse_path(arg + 5, addr, sizeof(addr))) {
		log_warn("Invalid MAIL FROM command. Can't extract address. "
			 "Received: MAIL %s",
			 arg);
		reply(s, "500 Invalid address in MAIL FROM");
		return;
	}
	reset_tx(s);
	s->mail_from = xstrdup(addr);
	s->has_mail = 1;
	reply(s, "250 OK");
}

/* slot_for: the transaction's slot index for dest, reserving one the
 * first time dest is named */
static size_t
slot_for(struct lsession *s, const char *dest)
{
	struct lslot *sl;
	size_t i;

	for (i = 0; i < s->nslots; i++)
		if (strcmp(s->slots[i].dest, dest) == 0)
			return i;
	s->slots = xreallocarray(s->slots, s->nslots + 1, sizeof(*s->slots));
	sl = &s->slots[s->nslots];
	memset(sl, 0, sizeof(*sl));
	sl->s = s;
	(void)snprintf(sl->dest, sizeof(sl->dest), "%s", dest);
	if (!fm_tp_reserve(s->srv->tp, dest, &sl->d))
		sl->d = NULL;
	return s->nslots++;
}

/* cmd_rcpt: RCPT TO:<addr> [params] */
static void
cmd_rcpt(struct lsession *s, const char *arg)
{
	char addr[FM_ADDR_MAX + 1], dest[FM_TP_HOST_MAX],
		text[FM_ADDR_MAX + 64];
	struct lrcpt *r;

	if (strncasecmp(arg, "TO:", 3) != 0) {
		reply(s, "500 Command not recognized");
		return;
	}
	if (!fm_smtp_parse_path(arg + 3, addr, sizeof(addr)) ||
	    addr[0] == '\0') {
		reply(s, "500 Invalid address in RCPT TO");
		return;
	}
	if (!s->has_mail) {
		reply(s, "503 Bad sequence of commands");
		return;
	}
	if (s->nrcpts >= FM_MAX_RCPTS) {
		reply(s, "452 4.5.3 Too many recipients");
		return;
	}
	if (fm_tp_addr_dest(addr, dest, sizeof(dest)) < 0) {
		(void)snprintf(text, sizeof(text),
			       "553 Invalid email address: %s", addr);
		reply(s, text);
		return;
	}
	s->rcpts = xreallocarray(s->rcpts, s->nrcpts + 1, sizeof(*s->rcpts));
	r = &s->rcpts[s->nrcpts++];
	r->addr = xstrdup(addr);
	r->slot = slot_for(s, dest);
	reply(s, "250 OK");
}

/* any_slot: the transaction holds at least one slot */
static int
any_slot(const struct lsession *s)
{
	size_t i;

	for (i = 0; i < s->nslots; i++)
		if (s->slots[i].d != NULL)
			return 1;
	return 0;
}

/* cmd_data: start reading the message, if it can be sent anywhere */
static void
cmd_data(struct lsession *s, const char *arg)
{
	(void)arg;
	if (!s->has_mail || s->nrcpts == 0) {
		reply(s, "503 Bad sequence of commands");
		return;
	}
	if (!any_slot(s)) {
		/* no destination of this message can take it now: Postfix
		 * keeps it (and does not stream it here for nothing) */
		log_debug("No slot for any destination: %s", FM_TP_BUSY);
		reply(s, FM_TP_BUSY);
		reset_tx(s);
		return;
	}
	reply(s, "354 End data with <CR><LF>.<CR><LF>");
	buf_deinit(&s->msg);
	buf_init(&s->msg, (size_t)s->srv->o.max_size + SIZE_SLACK);
	fm_unstuff_init(&s->un);
	s->state = L_DATA;
}

/* cmd_rset, cmd_noop, cmd_quit */
static void
cmd_rset(struct lsession *s, const char *arg)
{
	(void)arg;
	reset_tx(s);
	reply(s, "250 OK");
}

static void
cmd_noop(struct lsession *s, const char *arg)
{
	(void)arg;
	reply(s, "250 OK");
}

static void
cmd_quit(struct lsession *s, const char *arg)
{
	(void)arg;
	reply(s, "221 OK");
	s->state = L_QUIT;
}

static const struct lmtp_cmd {
	const char *verb;
	void (*fn)(struct lsession *s, const char *arg);
} lmtp_cmds[] = {
	{ "LHLO", cmd_lhlo }, { "EHLO", cmd_lhlo }, { "HELO", cmd_lhlo },
	{ "MAIL", cmd_mail }, { "RCPT", cmd_rcpt }, { "DATA", cmd_data },
	{ "RSET", cmd_rset }, { "NOOP", cmd_noop }, { "QUIT", cmd_quit },
};

/* fm_lmtp_command: see fm_lmtpd.h */
static void
do_command(struct lsession *s, const char *line)
{
	size_t vlen = strcspn(line, " "), i;
	const char *arg = line + vlen;

	while (*arg == ' ')
		arg++;
	log_debug("Received: %s", line);
	for (i = 0; i < sizeof(lmtp_cmds) / sizeof(lmtp_cmds[0]); i++) {
		if (strlen(lmtp_cmds[i].verb) == vlen &&
		    strncasecmp(line, lmtp_cmds[i].verb, vlen) == 0) {
			lmtp_cmds[i].fn(s, arg);
			return;
		}
	}
	reply(s, "500 Command not recognized");
}

/* send_results: one reply per recipient, in RCPT order */
static void
send_results(struct lsession *s)
{
	size_t i;

	for (i = 0; i < s->nrcpts; i++) {
		const char *t = s->res[i].text;

		log_debug("<%s>: %s", s->rcpts[i].addr, t);
		/* one line that starts with its code, or Postfix would
		 * read it wrong: anything else is our bug, answered 451 */
		if (fm_tp_reply_code(t, strcspn(t, " ")) < 0)
			t = FM_TP_LOCAL_ERROR;
		reply(s, t);
	}
	reset_tx(s);
	if (s->state == L_WAIT)
		s->state = L_CMD;
}

/* on_job_done: one destination's job ended */
static void
on_job_done(void *arg, const struct fm_tp_result *res, size_t n)
{
	struct lslot *sl = arg;
	struct lsession *s = sl->s;
	size_t slot = (size_t)(sl - s->slots), i, k = 0;

	sl->job = NULL;
	sl->d = NULL; /* the reservation went with the job */
	for (i = 0; i < s->nrcpts && k < n; i++)
		if (s->rcpts[i].slot == slot)
			s->res[i] = res[k++];
	if (--s->waiting > 0)
		return;
	send_results(s);
	session_run(s, NULL, 0);
}

/* submit_slot: one job for the recipients of slot i */
static void
submit_slot(struct lsession *s, size_t i, struct fm_tp_msg *msg)
{
	struct lslot *sl = &s->slots[i];
	const char **rcpts = xcalloc(s->nrcpts, sizeof(char *));
	struct fm_tp_dest *d = sl->d;
	size_t j, n = 0;

	for (j = 0; j < s->nrcpts; j++)
		if (s->rcpts[j].slot == i)
			rcpts[n++] = s->rcpts[j].addr;
	if (d == NULL) {
		for (j = 0; j < s->nrcpts; j++)
			if (s->rcpts[j].slot == i)
				fm_tp_result_set(&s->res[j], 421, "%s",
						 FM_TP_BUSY);
	} else {
		s->waiting++;
		sl->job = fm_tp_submit(d, msg, rcpts, n, on_job_done, sl);
	}
	free(rcpts);
}

/* end_of_data: the message is complete: deliver it */
static void
end_of_data(struct lsession *s)
{
	struct fm_tp_msg *msg;
	size_t i, len;
	char *data;

	s->res = xcalloc(s->nrcpts, sizeof(*s->res));
	if (s->un.total > s->srv->o.max_size + SIZE_SLACK) {
		for (i = 0; i < s->nrcpts; i++)
			fm_tp_result_set(&s->res[i], 552, "%s",
					 "552 Message exceeds maximum size");
		send_results(s);
		s->state = L_CMD;
		return;
	}
	data = buf_steal(&s->msg, &len);
	/* it may wait in queues: no room to spare (the buffer grew by
	 * doubling) */
	data = xrealloc(data, len + 1);
	msg = fm_tp_msg_new(s->mail_from, data, len);
	s->state = L_WAIT;
	for (i = 0; i < s->nslots; i++)
		submit_slot(s, i, msg);
	fm_tp_msg_unref(&msg);
}

/* command_step: one command line from p; bytes used, 0 if incomplete */
static size_t
command_step(struct lsession *s, const char *p, size_t n)
{
	const char *lf = memchr(p, '\n', n);
	char line[FM_CMD_LINE_MAX + 1];
	size_t len;

	if (lf == NULL) {
		if (n <= FM_CMD_LINE_MAX + 1 && !s->discarding)
			return 0;
		if (!s->discarding)
			reply(s, "500 Line too long");
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
		s->state = L_QUIT;
		return n;
	}
	if (--len > FM_CMD_LINE_MAX) {
		reply(s, "500 Line too long");
		return (size_t)(lf - p) + 1;
	}
	memcpy(line, p, len);
	line[len] = '\0';
	if (memchr(line, '\0', len) != NULL)
		reply(s, "500 Command not recognized");
	else
		do_command(s, line);
	return (size_t)(lf - p) + 1;
}

/* process: commands and DATA over p; bytes used */
static size_t
process(struct lsession *s, const char *p, size_t n)
{
	size_t i = 0, used;
	int r;

	while (i < n && s->out.len < OUT_MAX / 2) {
		if (s->state == L_CMD) {
			used = command_step(s, p + i, n - i);
			if (used == 0)
				break;
			i += used;
		} else if (s->state == L_DATA) {
			r = fm_unstuff(&s->un, p + i, n - i, &s->msg, &used);
			i += used;
			if (r < 0) {
				log_warn("Malformed DATA line without CRLF "
					 "ending! Closing connection.");
				s->state = L_QUIT;
			} else if (r == 1) {
				end_of_data(s);
			}
		} else {
			break;
		}
	}
	return i;
}

/* take_input: process new input, holding what is left */
static void
take_input(struct lsession *s, const char *p, size_t n)
{
	size_t used;

	if (n == 0)
		return;
	if (s->in.len > 0) {
		if (buf_append(&s->in, p, n) < 0)
			abort(); /* in holds at most a partial line */
		return;
	}
	used = process(s, p, n);
	if (used < n && buf_append(&s->in, p + used, n - used) < 0)
		abort();
}

/* session_run: process input, send replies, wait for what comes next;
 * may free the session */
static void
session_run(struct lsession *s, const char *p, size_t n)
{
	struct evloop *loop = s->srv->loop;
	size_t used = 0;
	unsigned ev = 0;
	int r, reading;

	take_input(s, p, n);
	for (;;) {
		reading = s->state == L_CMD || s->state == L_DATA;
		if (s->in.len > 0 && reading) {
			used = process(s, s->in.data, s->in.len);
			buf_consume(&s->in, used);
		}
		r = net_send_buf(s->fd, &s->out);
		if (r < 0 || (r == 1 && s->state == L_QUIT)) {
			session_free(s);
			return;
		}
		if (r == 0 || used == 0 || s->in.len == 0 ||
		    !(s->state == L_CMD || s->state == L_DATA))
			break;
	}
	if (s->in.len == 0)
		buf_deinit(&s->in); /* idle sessions hold no buffers */
	if (s->out.len == 0)
		buf_deinit(&s->out);
	if (r == 0)
		ev = EV_WRITE;
	else if (s->state == L_CMD || s->state == L_DATA)
		ev = EV_READ;
	(void)evloop_io_mod(loop, s->fd, ev);
	if (s->state == L_WAIT)
		evloop_timer_stop(loop, &s->timer);
	else
		evloop_timer_start(loop, &s->timer, s->srv->o.cmd_ms);
}

/* on_io: readiness of a session */
static void
on_io(struct evloop *loop, int fd, unsigned events, void *arg)
{
	struct lsession *s = arg;
	struct fm_lmtpd *srv = s->srv;
	ssize_t n = 0;

	(void)loop;
	if ((events & EV_READ) && (s->state == L_CMD || s->state == L_DATA) &&
	    s->in.len <= FM_CMD_LINE_MAX + 1) {
		do
			n = recv(fd, srv->rbuf, sizeof(srv->rbuf), 0);
		while (n < 0 && errno == EINTR);
		if (n == 0 ||
		    (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
			session_free(s); /* Postfix keeps the message */
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
	struct lsession *s = arg;

	(void)loop;
	reply(s, "421 4.4.2 filtermail Error: timeout exceeded");
	s->state = L_QUIT;
	session_run(s, NULL, 0);
}

/* session_new: greet an accepted connection */
static void
session_new(void *arg, int fd)
{
	struct fm_lmtpd *srv = arg;
	struct lsession *s = xcalloc(1, sizeof(*s));

	s->srv = srv;
	s->fd = fd;
	s->state = L_CMD;
	buf_init(&s->in, FM_CMD_LINE_MAX + 2 + READ_SIZE);
	buf_init(&s->out, OUT_MAX);
	buf_init(&s->msg, 0);
	evloop_timer_init(&s->timer, on_timer, s);
	LLIST_PREPEND(&srv->sessions, s, link);
	if (evloop_io_add(srv->loop, fd, EV_READ, on_io, s) < 0) {
		session_free(s);
		return;
	}
	reply(s, "220 filtermail LMTP");
	session_run(s, NULL, 0);
}

static const struct net_server_opts admit_opts = {
	.busy = "421 4.3.2 Too many connections\r\n",
	.err_msg = "Error accepting connection",
	.err_level = LOG_LVL_ERROR,
	.pause_ms = 1000,
	.nodelay = 1,
};

/* fm_lmtpd_opts_default: see fm_lmtpd.h */
void
fm_lmtpd_opts_default(struct fm_lmtpd_opts *o)
{
	o->max_size = 31457280;
	o->cmd_ms = 300000; /* Postfix's lmtp timeouts are 300 s too */
	o->max_sessions = 1000;
}

/* fm_lmtpd_new: see fm_lmtpd.h */
struct fm_lmtpd *
fm_lmtpd_new(struct evloop *loop, struct fm_tp *tp,
	     const struct fm_lmtpd_opts *o, int lfd)
{
	struct fm_lmtpd *srv = xcalloc(1, sizeof(*srv));
	struct net_server_opts no = admit_opts;

	srv->loop = loop;
	srv->tp = tp;
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

/* fm_lmtpd_adopt: see fm_lmtpd.h */
void
fm_lmtpd_adopt(struct fm_lmtpd *srv, int fd)
{
	session_new(srv, fd);
}

/* fm_lmtpd_free: see fm_lmtpd.h */
void
fm_lmtpd_free(struct fm_lmtpd **sp)
{
	struct fm_lmtpd *srv = *sp;
	struct lsession *s, *next;

	if (srv == NULL)
		return;
	LLIST_FOREACH_SAFE(s, &srv->sessions, link, next)
		session_free(s);
	net_server_close(&srv->ns);
	free(srv);
	*sp = NULL;
}

/* fm_lmtpd_close_listener: see fm_lmtpd.h */
void
fm_lmtpd_close_listener(struct fm_lmtpd *srv)
{
	net_server_close(&srv->ns);
}

/* fm_lmtpd_busy: see fm_lmtpd.h */
size_t
fm_lmtpd_busy(const struct fm_lmtpd *srv)
{
	const struct lsession *s;
	size_t n = 0;

	LLIST_FOREACH(s, &srv->sessions, link)
		n += s->state == L_WAIT;
	return n;
}

/* fm_lmtpd_sessions: see fm_lmtpd.h */
size_t
fm_lmtpd_sessions(const struct fm_lmtpd *srv)
{
	return LLIST_COUNT(&srv->sessions);
}
