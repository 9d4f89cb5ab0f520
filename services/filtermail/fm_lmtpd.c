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
#include "fm_lines.h"
#include "fm_lmtpd.h"
#include "log.h"
#include "net_server.h"
#include "xmalloc.h"

#define OUT_MAX (64 * 1024)
#define SIZE_SLACK 65536 /* Postfix's own header lines on top */

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
	struct fm_ls_session ls; /* first: the line server's part */
	int has_mail;
	char *mail_from;
	struct lrcpt *rcpts;
	size_t nrcpts;
	struct lslot *slots;
	size_t nslots;
	struct fm_tp_result *res;
	size_t waiting; /* jobs running */
};

struct fm_lmtpd {
	struct fm_tp *tp;
	struct fm_lmtpd_opts o;
	struct fm_lines *lines;
};

/* srv_of: the LMTP server of a session */
static struct fm_lmtpd *
srv_of(const struct lsession *s)
{
	return fm_lines_arg(s->ls.srv);
}

/* reply: queue one reply line */
static void
reply(struct lsession *s, const char *text)
{
	fm_ls_reply(&s->ls, text);
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
	buf_deinit(&s->ls.msg);
}

/* closing: jobs of this session are cancelled (the line server
 * closes) */
static void
closing(struct fm_ls_session *ls)
{
	reset_tx((struct lsession *)ls);
}

/* cmd_lhlo: our capabilities (EHLO and HELO are taken too) */
static void
cmd_lhlo(struct fm_ls_session *ls, const char *arg)
{
	struct lsession *s = (struct lsession *)ls;
	(void)arg;
	reset_tx(s);
	reply(s, "250-filtermail");
	reply(s, "250-PIPELINING");
	reply(s, "250-8BITMIME");
	reply(s, "250 OK");
}

/* cmd_mail: MAIL FROM:<addr> [params]; a new transaction */
static void
cmd_mail(struct fm_ls_session *ls, const char *arg)
{
	struct lsession *s = (struct lsession *)ls;
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
	if (!fm_tp_reserve(srv_of(s)->tp, dest, &sl->d))
		sl->d = NULL;
	return s->nslots++;
}

/* cmd_rcpt: RCPT TO:<addr> [params] */
static void
cmd_rcpt(struct fm_ls_session *ls, const char *arg)
{
	struct lsession *s = (struct lsession *)ls;
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
cmd_data(struct fm_ls_session *ls, const char *arg)
{
	struct lsession *s = (struct lsession *)ls;
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
	fm_ls_data(&s->ls, (size_t)srv_of(s)->o.max_size + SIZE_SLACK);
}

/* cmd_rset: drop the transaction */
static void
cmd_rset(struct fm_ls_session *ls, const char *arg)
{
	struct lsession *s = (struct lsession *)ls;
	(void)arg;
	reset_tx(s);
	reply(s, "250 OK");
}

static const struct fm_ls_cmd lmtp_cmds[] = {
	{ "LHLO", cmd_lhlo },	    { "EHLO", cmd_lhlo },
	{ "HELO", cmd_lhlo },	    { "MAIL", cmd_mail },
	{ "RCPT", cmd_rcpt },	    { "DATA", cmd_data },
	{ "RSET", cmd_rset },	    { "NOOP", fm_ls_cmd_noop },
	{ "QUIT", fm_ls_cmd_quit },
};

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
		fm_tp_stats_count_reply(&srv_of(s)->tp->stats,
					fm_tp_reply_code(t, 3));
		reply(s, t);
	}
	reset_tx(s);
	if (s->ls.state == FM_LS_WAIT)
		s->ls.state = FM_LS_CMD;
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
	fm_ls_resume(&s->ls);
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
end_of_data(struct fm_ls_session *ls)
{
	struct lsession *s = (struct lsession *)ls;
	struct fm_tp_msg *msg;
	size_t i, len;
	char *data;

	s->res = xcalloc(s->nrcpts, sizeof(*s->res));
	if (ls->un.total > srv_of(s)->o.max_size + SIZE_SLACK) {
		for (i = 0; i < s->nrcpts; i++)
			fm_tp_result_set(&s->res[i], 552, "%s",
					 "552 Message exceeds maximum size");
		send_results(s);
		ls->state = FM_LS_CMD;
		return;
	}
	data = buf_steal(&ls->msg, &len);
	/* it may wait in queues: no room to spare (the buffer grew by
	 * doubling) */
	data = xrealloc(data, len + 1);
	msg = fm_tp_msg_new(s->mail_from, data, len);
	ls->state = FM_LS_WAIT;
	for (i = 0; i < s->nslots; i++)
		submit_slot(s, i, msg);
	fm_tp_msg_unref(&msg);
}

/* opened: a new session counts */
static void
opened(struct fm_ls_session *ls)
{
	srv_of((struct lsession *)ls)->tp->stats.lmtp_sessions++;
}

static const struct fm_ls_ops lmtp_ops = {
	.size = sizeof(struct lsession),
	.greeting = "220 filtermail LMTP",
	.out_max = OUT_MAX,
	.opened = opened,
	.cmds = lmtp_cmds,
	.ncmds = sizeof(lmtp_cmds) / sizeof(lmtp_cmds[0]),
	.end_of_data = end_of_data,
	.closing = closing,
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
	struct fm_lines_opts lo = {
		.ops = &lmtp_ops,
		.arg = srv,
		.idle_ms = o->cmd_ms,
		.max_sessions = o->max_sessions,
	};

	srv->tp = tp;
	srv->o = *o;
	srv->lines = fm_lines_new(loop, &lo, lfd);
	if (srv->lines == NULL) {
		free(srv);
		return NULL;
	}
	return srv;
}

/* fm_lmtpd_adopt: see fm_lmtpd.h */
void
fm_lmtpd_adopt(struct fm_lmtpd *srv, int fd)
{
	fm_lines_adopt(srv->lines, fd);
}

/* fm_lmtpd_free: see fm_lmtpd.h */
void
fm_lmtpd_free(struct fm_lmtpd **sp)
{
	if (*sp == NULL)
		return;
	fm_lines_free(&(*sp)->lines);
	free(*sp);
	*sp = NULL;
}

/* fm_lmtpd_close_listener: see fm_lmtpd.h */
void
fm_lmtpd_close_listener(struct fm_lmtpd *srv)
{
	fm_lines_close_listener(srv->lines);
}

/* fm_lmtpd_busy: see fm_lmtpd.h */
size_t
fm_lmtpd_busy(const struct fm_lmtpd *srv)
{
	return fm_lines_busy(srv->lines);
}

/* fm_lmtpd_sessions: see fm_lmtpd.h */
size_t
fm_lmtpd_sessions(const struct fm_lmtpd *srv)
{
	return fm_lines_sessions(srv->lines);
}
