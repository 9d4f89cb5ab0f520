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
#include "fm_lines.h"
#include "llist.h"
#include "log.h"
#include "net_server.h"
#include "xmalloc.h"

#define OUT_MAX 8192

struct fm_session {
	struct fm_ls_session ls; /* first: the line server's part */
	int has_mail;
	char *mail_from;
	char **rcpts;
	size_t nrcpts;
	char origin_ip[64];
	struct fm_job *job;
};

struct fm_smtpd {
	const struct fm_ctx *ctx;
	struct fm_lines *lines;
};

/* srv_of: the SMTP server of a session */
static struct fm_smtpd *
srv_of(const struct fm_session *s)
{
	return fm_lines_arg(s->ls.srv);
}

/* reply: queue one reply line */
static void
reply(struct fm_session *s, const char *text)
{
	fm_ls_reply(&s->ls, text);
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
	buf_deinit(&s->ls.msg);
}

/* reset_transaction: that and the XFORWARD origin too (EHLO, RSET,
 * after DATA), as upstream resets its envelope */
static void
reset_transaction(struct fm_session *s)
{
	reset_envelope(s);
	s->origin_ip[0] = '\0';
}

/* closing: a running job is cancelled (the line server closes) */
static void
closing(struct fm_ls_session *ls)
{
	struct fm_session *s = (struct fm_session *)ls;

	fm_job_cancel(&s->job);
	reset_transaction(s);
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
cmd_ehlo(struct fm_ls_session *ls, const char *arg)
{
	struct fm_session *s = (struct fm_session *)ls;
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
cmd_helo(struct fm_ls_session *ls, const char *arg)
{
	struct fm_session *s = (struct fm_session *)ls;
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
	const struct fm_ctx *ctx = srv_of(s)->ctx;
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
	s->ls.state = FM_LS_QUIT;
	return -1;
}

/* cmd_mail: MAIL FROM:<addr> [params]; starts a new transaction */
static void
cmd_mail(struct fm_ls_session *ls, const char *arg)
{
	struct fm_session *s = (struct fm_session *)ls;
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
	if (addr[0] != '\0' && srv_of(s)->ctx->outgoing &&
	    check_sender(s, addr) < 0)
		return;
	reset_envelope(s);
	s->mail_from = xstrdup(addr);
	s->has_mail = 1;
	reply(s, "250 OK");
}

/* cmd_rcpt: RCPT TO:<addr> [params] (parameters ignored, as upstream) */
static void
cmd_rcpt(struct fm_ls_session *ls, const char *arg)
{
	struct fm_session *s = (struct fm_session *)ls;
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
cmd_data(struct fm_ls_session *ls, const char *arg)
{
	struct fm_session *s = (struct fm_session *)ls;
	(void)arg;
	if (!s->has_mail || s->nrcpts == 0) {
		reply(s, "503 Bad sequence of commands");
		return;
	}
	reply(s, "354 End data with <CR><LF>.<CR><LF>");
	fm_ls_data(&s->ls, (size_t)srv_of(s)->ctx->max_size);
}

/* cmd_xforward: keep ADDR= (lower case, "ipv6:" stripped) */
static void
cmd_xforward(struct fm_ls_session *ls, const char *arg)
{
	struct fm_session *s = (struct fm_session *)ls;
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
cmd_rset(struct fm_ls_session *ls, const char *arg)
{
	struct fm_session *s = (struct fm_session *)ls;
	(void)arg;
	reset_transaction(s);
	reply(s, "250 OK");
}

static const struct fm_ls_cmd smtp_cmds[] = {
	{ "EHLO", cmd_ehlo },	    { "HELO", cmd_helo },
	{ "MAIL", cmd_mail },	    { "RCPT", cmd_rcpt },
	{ "DATA", cmd_data },	    { "XFORWARD", cmd_xforward },
	{ "RSET", cmd_rset },	    { "NOOP", fm_ls_cmd_noop },
	{ "QUIT", fm_ls_cmd_quit },
};

/* on_job_done: the final answer for the message */
static void
on_job_done(void *arg, int code, const char *text)
{
	struct fm_session *s = arg;

	s->job = NULL;
	log_debug("Sent: %s (code %d)", text, code);
	reply(s, text);
	reset_transaction(s);
	if (s->ls.state == FM_LS_WAIT)
		s->ls.state = FM_LS_CMD;
	/* go on with what the client pipelined meanwhile */
	fm_ls_resume(&s->ls);
}

/* end_of_data: the message is complete */
static void
end_of_data(struct fm_ls_session *ls)
{
	struct fm_session *s = (struct fm_session *)ls;
	const struct fm_ctx *ctx = srv_of(s)->ctx;
	struct fm_envelope env;

	if (ls->un.total > ctx->max_size) {
		reply(s, "552 Message exceeds maximum size");
		reset_transaction(s);
		ls->state = FM_LS_CMD;
		return;
	}
	env.mail_from = s->mail_from;
	env.rcpts = (const char *const *)s->rcpts;
	env.nrcpts = s->nrcpts;
	env.origin_ip = s->origin_ip[0] != '\0' ? s->origin_ip : NULL;
	ls->state = FM_LS_WAIT;
	s->job = fm_job_start(ctx, &env,
			      ls->msg.data != NULL ? ls->msg.data : "",
			      ls->msg.len, on_job_done, s);
}

/* opened: a new session counts */
static void
opened(struct fm_ls_session *ls)
{
	struct fm_smtpd *srv = fm_lines_arg(ls->srv);

	if (srv->ctx->stats != NULL)
		srv->ctx->stats->smtp_sessions++;
}

static const struct fm_ls_ops smtp_ops = {
	.size = sizeof(struct fm_session),
	.greeting = "220 filtermail SMTP",
	.out_max = OUT_MAX,
	.opened = opened,
	.cmds = smtp_cmds,
	.ncmds = sizeof(smtp_cmds) / sizeof(smtp_cmds[0]),
	.end_of_data = end_of_data,
	.closing = closing,
};

/* fm_smtpd_new: see filtermail.h */
struct fm_smtpd *
fm_smtpd_new(const struct fm_ctx *ctx, int lfd)
{
	struct fm_smtpd *srv = xcalloc(1, sizeof(*srv));
	struct fm_lines_opts o = {
		.ops = &smtp_ops,
		.arg = srv,
		.idle_ms = ctx->t.cmd_ms,
		.max_sessions = ctx->max_sessions,
	};

	srv->ctx = ctx;
	srv->lines = fm_lines_new(ctx->loop, &o, lfd);
	if (srv->lines == NULL) {
		free(srv);
		return NULL;
	}
	return srv;
}

/* fm_smtpd_free: see filtermail.h */
void
fm_smtpd_free(struct fm_smtpd **sp)
{
	if (*sp == NULL)
		return;
	fm_lines_free(&(*sp)->lines);
	free(*sp);
	*sp = NULL;
}

/* fm_smtpd_busy: see filtermail.h */
size_t
fm_smtpd_busy(const struct fm_smtpd *srv)
{
	return fm_lines_busy(srv->lines);
}

/* fm_smtpd_close_listener: see filtermail.h */
void
fm_smtpd_close_listener(struct fm_smtpd *srv)
{
	fm_lines_close_listener(srv->lines);
}

/* fm_smtpd_sessions: see filtermail.h */
size_t
fm_smtpd_sessions(const struct fm_smtpd *srv)
{
	return fm_lines_sessions(srv->lines);
}
