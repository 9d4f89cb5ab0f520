/*
 * fm_smtpd: filtermail's SMTP server, the peer of Postfix's
 * smtpd_proxy_filter (upstream src/smtp_server.rs): greeting
 * "220 filtermail SMTP", EHLO/HELO, XFORWARD ADDR, MAIL, RCPT, DATA,
 * RSET, NOOP, QUIT, "500 Command not recognized" for the rest.
 *
 * Role: one session per connection, all on the event loop. Input is
 * read into one buffer shared by all sessions and processed at once; a
 * session keeps only what it cannot process yet (a partial command
 * line, or pipelined input while its message is being checked and
 * reinjected). After DATA the message goes to fm_job_start() and the
 * session answers only when that finished (250 after Postfix accepted
 * it). Outgoing mode checks the envelope sender at MAIL: exactly one
 * '@', and the per-sender rate limit.
 *
 * Untrusted input: everything the client sends. Command lines are
 * capped (FM_CMD_LINE_MAX, "500 Line too long"), every line must end in
 * CRLF (a bare LF closes the connection, as upstream), the message is
 * capped at max_message_size ("552 Message exceeds maximum size"), at
 * most FM_MAX_RCPTS recipients, an idle timeout, a session cap.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "filtermail.h"
#include "llist.h"
#include "log.h"
#include "net_server.h"
#include "xmalloc.h"

#define READ_SIZE 65536
#define OUT_MAX 8192

enum sess_state {
	S_CMD,	/* reading commands */
	S_DATA, /* reading the message */
	S_JOB,	/* the message is being checked and reinjected */
	S_QUIT, /* sending the last reply, then closing */
};

struct fm_session {
	struct fm_smtpd *srv;
	LLIST_LINK(fm_session) link; /* in srv->sessions */
	int fd;
	enum sess_state state;
	int discarding; /* skipping the rest of an over-long line */
	struct buf in, out, msg;
	struct fm_unstuffer un;
	int has_mail;
	char *mail_from;
	char **rcpts;
	size_t nrcpts;
	char origin_ip[64];
	struct fm_job *job;
	struct evloop_timer timer;
};

struct fm_smtpd {
	const struct fm_ctx *ctx;
	struct net_server ns;
	LLIST_HEAD(, fm_session) sessions;
	char rbuf[READ_SIZE];
};

static void session_run(struct fm_session *s, const char *p, size_t n);

/* reply: queue one reply line */
static void
reply(struct fm_session *s, const char *text)
{
	size_t n = strcspn(text, "\r\n"); /* one line, whatever we got */

	if (buf_printf(&s->out, "%.*s\r\n", (int)n, text) < 0)
		s->state = S_QUIT; /* a client that never reads */
}

/* reset_envelope: forget sender, recipients and message (MAIL) */
static void
reset_envelope(struct fm_session *s)
{
	size_t i;

	for (i = 0; i < s->nrcpts; i++)
		free(s->rcpts[i]);
	free(s->rcpts);
	s->rcpts = NULL;
	s->nrcpts = 0;
	free(s->mail_from);
	s->mail_from = NULL;
	s->has_mail = 0;
	buf_deinit(&s->msg);
}

/* reset_transaction: that and the XFORWARD origin too (EHLO, RSET,
 * after DATA), as upstream resets its envelope */
static void
reset_transaction(struct fm_session *s)
{
	reset_envelope(s);
	s->origin_ip[0] = '\0';
}

/* session_free: close the connection; a running job is cancelled */
static void
session_free(struct fm_session *s)
{
	struct fm_smtpd *srv = s->srv;

	fm_job_cancel(&s->job);
	reset_transaction(s);
	evloop_timer_stop(srv->ctx->loop, &s->timer);
	evloop_io_del(srv->ctx->loop, s->fd);
	close(s->fd);
	LLIST_REMOVE(&srv->sessions, s, link);
	buf_deinit(&s->in);
	buf_deinit(&s->out);
	free(s);
}

/* fm_smtp_parse_path: see filtermail.h */
int
fm_smtp_parse_path(const char *arg, char *out, size_t outsize)
{
	const char *p = arg, *end;
	size_t n, i;

	while (*p == ' ')
		p++;
	if (*p == '<') {
		p++;
		end = strchr(p, '>');
		if (end == NULL)
			return 0;
	} else {
		end = p + strcspn(p, " ");
	}
	n = (size_t)(end - p);
	if (n > FM_ADDR_MAX || n + 1 > outsize)
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c <= ' ' || c == 0x7f || c == '<' || c == '>')
			return 0;
	}
	memcpy(out, p, n);
	out[n] = '\0';
	return 1;
}

/* count_at: how many '@' an address has */
static size_t
count_at(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		n += *s == '@';
	return n;
}

/* cmd_ehlo: our capabilities (upstream's lines plus PIPELINING) */
static void
cmd_ehlo(struct fm_session *s, const char *arg)
{
	(void)arg;
	reset_transaction(s);
	reply(s, "250-filtermail");
	reply(s, "250-XFORWARD ADDR");
	reply(s, "250-8BITMIME");
	reply(s, "250-PIPELINING");
	reply(s, "250 OK");
}

/* cmd_helo: plain SMTP greeting */
static void
cmd_helo(struct fm_session *s, const char *arg)
{
	(void)arg;
	reset_transaction(s);
	reply(s, "250-filtermail");
	reply(s, "250 OK");
}

/* check_sender: outgoing MAIL FROM rules; 0 ok, else the reply sent and
 * the session closing (as upstream) */
static int
check_sender(struct fm_session *s, const char *addr)
{
	const struct fm_ctx *ctx = s->srv->ctx;
	uint64_t wait_ms;
	char text[FM_ADDR_MAX + 128];

	if (count_at(addr) != 1) {
		(void)snprintf(text, sizeof(text),
			       "500 Invalid from address <%s>", addr);
	} else if (ctx->rl != NULL &&
		   !fm_ratelimit_check(ctx->rl, addr, evloop_now(ctx->loop),
				       &wait_ms)) {
		log_debug("<%s> rate limited for %llu ms", addr,
			  (unsigned long long)wait_ms);
		if (ctx->stats != NULL)
			ctx->stats->rate_limited++;
		(void)snprintf(text, sizeof(text),
			       "450 4.7.1: Too much mail from <%s>, rate "
			       "limited, try again in %llu s",
			       addr,
			       (unsigned long long)(wait_ms + 999) / 1000);
	} else {
		return 0;
	}
	reply(s, text);
	s->state = S_QUIT;
	return -1;
}

/* cmd_mail: MAIL FROM:<addr> [params]; starts a new transaction */
static void
cmd_mail(struct fm_session *s, const char *arg)
{
	char addr[FM_ADDR_MAX + 1];
	const char *p = arg;

	if (strncasecmp(p, "FROM:", 5) != 0) {
		reply(s, "500 Command not recognized");
		return;
	}
	if (!fm_smtp_parse_path(p + 5, addr, sizeof(addr))) {
		log_warn("Invalid MAIL FROM command. Can't extract address. "
			 "Received: MAIL %s",
			 arg);
		reply(s, "500 Invalid address in MAIL FROM");
		return;
	}
	if (addr[0] != '\0' && s->srv->ctx->outgoing &&
	    check_sender(s, addr) < 0)
		return;
	reset_envelope(s);
	s->mail_from = xstrdup(addr);
	s->has_mail = 1;
	reply(s, "250 OK");
}

/* cmd_rcpt: RCPT TO:<addr> [params] (parameters ignored, as upstream) */
static void
cmd_rcpt(struct fm_session *s, const char *arg)
{
	char addr[FM_ADDR_MAX + 1];

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
	s->rcpts = xreallocarray(s->rcpts, s->nrcpts + 1, sizeof(char *));
	s->rcpts[s->nrcpts++] = xstrdup(addr);
	reply(s, "250 OK");
}

/* cmd_data: start reading the message */
static void
cmd_data(struct fm_session *s, const char *arg)
{
	(void)arg;
	if (!s->has_mail || s->nrcpts == 0) {
		reply(s, "503 Bad sequence of commands");
		return;
	}
	reply(s, "354 End data with <CR><LF>.<CR><LF>");
	buf_deinit(&s->msg);
	buf_init(&s->msg, (size_t)s->srv->ctx->max_size);
	fm_unstuff_init(&s->un);
	s->state = S_DATA;
}

/* cmd_xforward: keep ADDR= (lower case, "ipv6:" stripped) */
static void
cmd_xforward(struct fm_session *s, const char *arg)
{
	const char *p = arg, *v;
	size_t n, i;

	while (*p != '\0') {
		while (*p == ' ')
			p++;
		n = strcspn(p, " ");
		if (n > 5 && strncasecmp(p, "ADDR=", 5) == 0) {
			v = p + 5;
			n -= 5;
			if (n > 5 && strncasecmp(v, "ipv6:", 5) == 0) {
				v += 5;
				n -= 5;
			}
			/* [UNAVAILABLE] and the like are no address */
			if (n < sizeof(s->origin_ip) &&
			    strspn(v, "0123456789abcdefABCDEF.:") >= n) {
				for (i = 0; i < n; i++)
					s->origin_ip[i] = (char)(v[i] | 0x20);
				s->origin_ip[n] = '\0';
			}
		}
		p += n;
	}
	reply(s, "250 OK");
}

/* cmd_rset: drop the transaction */
static void
cmd_rset(struct fm_session *s, const char *arg)
{
	(void)arg;
	reset_transaction(s);
	reply(s, "250 OK");
}

/* cmd_noop: nothing */
static void
cmd_noop(struct fm_session *s, const char *arg)
{
	(void)arg;
	reply(s, "250 OK");
}

/* cmd_quit: say goodbye, then close */
static void
cmd_quit(struct fm_session *s, const char *arg)
{
	(void)arg;
	reply(s, "221 OK");
	s->state = S_QUIT;
}

static const struct smtp_cmd {
	const char *verb;
	void (*fn)(struct fm_session *s, const char *arg);
} smtp_cmds[] = {
	{ "EHLO", cmd_ehlo }, { "HELO", cmd_helo },
	{ "MAIL", cmd_mail }, { "RCPT", cmd_rcpt },
	{ "DATA", cmd_data }, { "XFORWARD", cmd_xforward },
	{ "RSET", cmd_rset }, { "NOOP", cmd_noop },
	{ "QUIT", cmd_quit },
};

/* do_command: dispatch one command line (CRLF removed) */
static void
do_command(struct fm_session *s, const char *line)
{
	size_t vlen = strcspn(line, " "), i;
	const char *arg = line + vlen;

	while (*arg == ' ')
		arg++;
	log_debug("Received: %s", line);
	for (i = 0; i < sizeof(smtp_cmds) / sizeof(smtp_cmds[0]); i++) {
		if (strlen(smtp_cmds[i].verb) == vlen &&
		    strncasecmp(line, smtp_cmds[i].verb, vlen) == 0) {
			smtp_cmds[i].fn(s, arg);
			return;
		}
	}
	reply(s, "500 Command not recognized");
}

/* on_job_done: the final answer for the message */
static void
on_job_done(void *arg, int code, const char *text)
{
	struct fm_session *s = arg;

	s->job = NULL;
	log_debug("Sent: %s (code %d)", text, code);
	reply(s, text);
	reset_transaction(s);
	if (s->state == S_JOB)
		s->state = S_CMD;
	/* go on with what the client pipelined meanwhile */
	session_run(s, NULL, 0);
}

/* end_of_data: the message is complete */
static void
end_of_data(struct fm_session *s)
{
	struct fm_smtpd *srv = s->srv;
	struct fm_envelope env;

	if (s->un.total > srv->ctx->max_size) {
		reply(s, "552 Message exceeds maximum size");
		reset_transaction(s);
		s->state = S_CMD;
		return;
	}
	env.mail_from = s->mail_from;
	env.rcpts = (const char *const *)s->rcpts;
	env.nrcpts = s->nrcpts;
	env.origin_ip = s->origin_ip[0] != '\0' ? s->origin_ip : NULL;
	s->state = S_JOB;
	s->job = fm_job_start(srv->ctx, &env,
			      s->msg.data != NULL ? s->msg.data : "",
			      s->msg.len, on_job_done, s);
}

/* command_step: one command line from p; bytes consumed, 0 if the
 * line is incomplete */
static size_t
command_step(struct fm_session *s, const char *p, size_t n)
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
		s->state = S_QUIT;
		return n;
	}
	len--;
	if (len > FM_CMD_LINE_MAX) {
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

/* process: run commands and DATA over p; returns bytes consumed (less
 * than n when a line is incomplete or the session stopped reading) */
static size_t
process(struct fm_session *s, const char *p, size_t n)
{
	size_t i = 0, used;
	int r;

	while (i < n && s->out.len < OUT_MAX / 2) {
		if (s->state == S_CMD) {
			used = command_step(s, p + i, n - i);
			if (used == 0)
				break;
			i += used;
		} else if (s->state == S_DATA) {
			r = fm_unstuff(&s->un, p + i, n - i, &s->msg, &used);
			i += used;
			if (r < 0) {
				log_warn("Malformed DATA line without CRLF "
					 "ending! Closing connection.");
				s->state = S_QUIT;
			} else if (r == 1) {
				end_of_data(s);
			}
		} else {
			break;
		}
	}
	return i;
}

/* take_input: process new input (p, n), holding what is left */
static void
take_input(struct fm_session *s, const char *p, size_t n)
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

/* session_run: process new input (p, n) after any held input, send the
 * replies, and wait for what comes next; may free the session */
static void
session_run(struct fm_session *s, const char *p, size_t n)
{
	struct evloop *loop = s->srv->ctx->loop;
	size_t used = 0;
	unsigned ev = 0;
	int r, reading;

	take_input(s, p, n);
	for (;;) {
		reading = s->state == S_CMD || s->state == S_DATA;
		if (s->in.len > 0 && reading) {
			used = process(s, s->in.data, s->in.len);
			buf_consume(&s->in, used);
		}
		r = net_send_buf(s->fd, &s->out);
		if (r < 0 || (r == 1 && s->state == S_QUIT)) {
			session_free(s);
			return;
		}
		/* go on while held input shrinks and replies get out */
		if (r == 0 || used == 0 || s->in.len == 0 ||
		    !(s->state == S_CMD || s->state == S_DATA))
			break;
	}
	if (s->in.len == 0)
		buf_deinit(&s->in); /* idle sessions hold no buffers */
	if (s->out.len == 0)
		buf_deinit(&s->out);
	if (r == 0)
		ev = EV_WRITE; /* no more input until the replies are out */
	else if (s->state == S_CMD || s->state == S_DATA)
		ev = EV_READ;
	(void)evloop_io_mod(loop, s->fd, ev);
	if (s->state == S_JOB)
		evloop_timer_stop(loop, &s->timer);
	else
		evloop_timer_start(loop, &s->timer, s->srv->ctx->t.cmd_ms);
}

/* on_io: readiness of a session */
static void
on_io(struct evloop *loop, int fd, unsigned events, void *arg)
{
	struct fm_session *s = arg;
	struct fm_smtpd *srv = s->srv;
	ssize_t n = 0;

	(void)loop;
	if ((events & EV_READ) && (s->state == S_CMD || s->state == S_DATA) &&
	    s->in.len <= FM_CMD_LINE_MAX + 1) {
		do
			n = recv(fd, srv->rbuf, sizeof(srv->rbuf), 0);
		while (n < 0 && errno == EINTR);
		if (n == 0 ||
		    (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
			session_free(s); /* mid-DATA: the message is dropped */
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
	struct fm_session *s = arg;

	(void)loop;
	reply(s, "421 4.4.2 filtermail Error: timeout exceeded");
	s->state = S_QUIT;
	session_run(s, NULL, 0);
}

/* session_new: greet an accepted connection */
static void
session_new(void *arg, int fd)
{
	struct fm_smtpd *srv = arg;
	struct fm_session *s = xcalloc(1, sizeof(*s));

	s->srv = srv;
	s->fd = fd;
	s->state = S_CMD;
	if (srv->ctx->stats != NULL)
		srv->ctx->stats->smtp_sessions++;
	buf_init(&s->in, FM_CMD_LINE_MAX + 2 + READ_SIZE);
	buf_init(&s->out, OUT_MAX);
	buf_init(&s->msg, 0);
	evloop_timer_init(&s->timer, on_timer, s);
	LLIST_PREPEND(&srv->sessions, s, link);
	if (evloop_io_add(srv->ctx->loop, fd, EV_READ, on_io, s) < 0) {
		session_free(s);
		return;
	}
	reply(s, "220 filtermail SMTP");
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

/* fm_smtpd_new: see filtermail.h */
struct fm_smtpd *
fm_smtpd_new(const struct fm_ctx *ctx, int lfd)
{
	struct fm_smtpd *srv = xcalloc(1, sizeof(*srv));
	struct net_server_opts o = admit_opts;

	srv->ctx = ctx;
	o.max_conns = ctx->max_sessions;
	net_server_init(&srv->ns, ctx->loop, &o, &LLIST_COUNT(&srv->sessions),
			session_new, srv);
	if (net_server_listen(&srv->ns, lfd) < 0) {
		close(lfd);
		free(srv);
		return NULL;
	}
	return srv;
}

/* fm_smtpd_free: see filtermail.h */
void
fm_smtpd_free(struct fm_smtpd **sp)
{
	struct fm_smtpd *srv = *sp;
	struct fm_session *s, *next;

	if (srv == NULL)
		return;
	LLIST_FOREACH_SAFE(s, &srv->sessions, link, next)
		session_free(s);
	fm_smtpd_close_listener(srv);
	free(srv);
	*sp = NULL;
}

/* fm_smtpd_busy: see filtermail.h */
size_t
fm_smtpd_busy(const struct fm_smtpd *srv)
{
	const struct fm_session *s;
	size_t n = 0;

	LLIST_FOREACH(s, &srv->sessions, link)
		n += s->state == S_JOB;
	return n;
}

/* fm_smtpd_close_listener: see filtermail.h */
void
fm_smtpd_close_listener(struct fm_smtpd *srv)
{
	net_server_close(&srv->ns);
}

/* fm_smtpd_sessions: see filtermail.h */
size_t
fm_smtpd_sessions(const struct fm_smtpd *srv)
{
	return LLIST_COUNT(&srv->sessions);
}
