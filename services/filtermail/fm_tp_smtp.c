/*
 * fm_tp_smtp: the transport's SMTP channel: one transaction with an MX
 * host on port 25 (upstream's src/smtp_client.rs, in C on the loop).
 *
 * Role: greeting, EHLO, STARTTLS (mandatory, with the certificate
 * verified, except where upstream relaxes it: `_` domains and address
 * literals accept any certificate, nauta.cu gets no TLS and HELO), EHLO
 * again, then MAIL FROM (BODY=8BITMIME when offered), one RCPT TO per
 * recipient and DATA, all in one write when PIPELINING is offered, the
 * message dot-stuffed, the final dot. A kept connection starts with
 * RSET; if it turns out dead before answering, a fresh one is opened.
 *
 * Per recipient: a refused RCPT gets the remote's reply for that
 * recipient only (upstream fails every recipient of the domain; see
 * docs/UPSTREAM.md, Remote delivery); the others get "250 OK (SMTP)"
 * after a 2xx to the final dot, or the remote's refusal of the data.
 * Connection, TLS and protocol failures before the final dot tell the
 * caller to try the next MX host (nothing was delivered: the remote
 * drops a message without its final dot); a failure after it is a 4xx
 * in doubt (the remote may have it; Postfix retries, a duplicate at
 * worst).
 *
 * Untrusted input: the remote's replies, each at most REPLY_MAX bytes,
 * every step within opts.timeout_ms.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "filtermail.h"
#include "fm_tp.h"
#include "log.h"
#include "xmalloc.h"

#define REPLY_MAX 16384
#define OUT_MAX (64 * 1024 + 4096)
#define OUT_FILL 32768
#define CHUNK 16384

enum sm_state {
	SM_CONNECT,
	SM_GREET,
	SM_EHLO,
	SM_STARTTLS,
	SM_HANDSHAKE,
	SM_EHLO2,
	SM_RSET,
	SM_TX,	 /* MAIL, RCPTs, DATA */
	SM_BODY, /* sending the message */
	SM_DOT,	 /* the final dot is out: waiting for the verdict */
};

struct fm_smtp {
	struct fm_tp *tp;
	struct fm_tp_dest *dest;
	struct fm_conn *c;
	struct fm_connect *connecting;
	char host[FM_TP_HOST_MAX];
	const struct net_addr *addrs;
	size_t naddrs;
	enum fm_smtp_tls tls;
	const struct fm_tp_msg *msg;
	const char *const *rcpts;
	size_t nrcpts;
	struct fm_tp_result *res;
	fm_smtp_done_fn *done;
	void *arg;
	enum sm_state state;
	int reused;
	struct buf in, out;
	struct evloop_timer timer;
	size_t sent, answered; /* of the transaction's commands */
	size_t accepted;       /* RCPTs the remote took */
	int mail_refused;      /* the code MAIL got, if it was refused */
	char mail_text[FM_TP_TEXT_MAX];
	size_t off; /* body: bytes of the message queued */
	int bol;
	int dot_queued;
};

static void sm_open(struct fm_smtp *s);
static void sm_flush_and_watch(struct fm_smtp *s);

/* reply_line: one reply line's code, or -1 */
static int
reply_line_code(const char *p, size_t len)
{
	if (len < 3 || p[0] < '1' || p[0] > '5' || p[1] < '0' || p[1] > '9' ||
	    p[2] < '0' || p[2] > '9' || (len > 3 && p[3] != ' ' && p[3] != '-'))
		return -1;
	return (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
}

/* ehlo_caps: the keyword of one EHLO line as FM_SMTP_CAP_* bits */
static unsigned
ehlo_caps(const char *p, size_t len)
{
	static const struct {
		const char *kw;
		unsigned cap;
	} kws[] = { { "PIPELINING", FM_SMTP_CAP_PIPELINING },
		    { "STARTTLS", FM_SMTP_CAP_STARTTLS },
		    { "8BITMIME", FM_SMTP_CAP_8BITMIME } };
	size_t i, n;

	for (i = 0; i < sizeof(kws) / sizeof(kws[0]); i++) {
		n = strlen(kws[i].kw);
		if (len >= 4 + n && strncasecmp(p + 4, kws[i].kw, n) == 0 &&
		    (len == 4 + n || p[4 + n] == ' '))
			return kws[i].cap;
	}
	return 0;
}

/* add_text: a reply line's text to the joined text: "ddd text text
 * ..." (never "ddd-", which would read as a continuation where the text
 * is handed on as one line) */
static void
add_text(char *text, size_t textsize, const char *p, size_t len)
{
	size_t have = strlen(text);

	if (have == 0) {
		(void)snprintf(text, textsize, "%.3s%s%.*s", p,
			       len > 4 ? " " : "", (int)(len > 4 ? len - 4 : 0),
			       p + 4);
		return;
	}
	if (len > 4 && have + 1 < textsize)
		(void)snprintf(text + have, textsize - have, " %.*s",
			       (int)(len - 4), p + 4);
}

/* fm_smtp_reply_step: see fm_tp.h */
int
fm_smtp_reply_step(struct buf *in, int *code_r, char *text, size_t textsize,
		   unsigned *caps_r)
{
	const char *p = in->data, *end = p + in->len, *lf;
	size_t len;
	unsigned caps = 0;
	int code, first = -1;

	if (textsize > 0)
		text[0] = '\0';
	while (p < end && (lf = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		len = (size_t)(lf - p);
		if (len > 0 && p[len - 1] == '\r')
			len--;
		code = reply_line_code(p, len);
		if (code < 0 || (first >= 0 && code != first))
			return -1;
		first = code;
		caps |= ehlo_caps(p, len);
		add_text(text, textsize, p, len);
		if (len == 3 || p[3] == ' ') {
			*code_r = code;
			if (caps_r != NULL)
				*caps_r = caps;
			buf_consume(in, (size_t)(lf + 1 - in->data));
			return 1;
		}
		p = lf + 1;
	}
	return in->len >= REPLY_MAX ? -1 : 0;
}

/* finish: report and free s (the connection is closed unless it was
 * handed to the destination) */
static void
finish(struct fm_smtp *s, enum fm_tp_outcome outcome, const char *text)
{
	fm_smtp_done_fn *done = s->done;
	void *arg = s->arg;
	char copy[FM_TP_TEXT_MAX];

	(void)snprintf(copy, sizeof(copy), "%s", text);
	s->done = NULL;
	fm_smtp_cancel(&s);
	done(arg, outcome, copy);
}

/* fail: a failure before anything could be delivered: next MX */
static void
fail(struct fm_smtp *s, const char *why)
{
	char text[FM_TP_TEXT_MAX];

	(void)snprintf(text, sizeof(text), "%s", why);
	log_warn("Connection error relaying to mail server %s: %s", s->host,
		 text);
	finish(s, FM_TP_FAILED, text);
}

/* lost: the connection broke (or timed out) while in state; a kept
 * connection that broke before its first answer was stale: reconnect */
static void
lost(struct fm_smtp *s, const char *why)
{
	size_t i;

	if (s->reused && s->state == SM_RSET) {
		fm_conn_close(s->tp->loop, &s->c, 0);
		s->reused = 0;
		buf_reset(&s->in);
		buf_reset(&s->out);
		sm_open(s);
		return;
	}
	if (s->state != SM_DOT) {
		fail(s, why);
		return;
	}
	for (i = 0; i < s->nrcpts; i++)
		if (s->res[i].code == 250)
			fm_tp_result_set(&s->res[i], 451,
					 "451 4.4.2 Lost the connection to %s "
					 "after the final dot: %s (the message "
					 "may have arrived)",
					 s->host, why);
	log_warn("Delivery to %s in doubt: %s", s->host, why);
	finish(s, FM_TP_DOUBT, why);
}

/* refuse_all: the remote refused the message (MAIL or DATA or the final
 * dot): its reply for every recipient still without an answer */
static void
refuse_all(struct fm_smtp *s, int code, const char *text)
{
	size_t i;

	if (code < 400 || code > 599)
		code = 451; /* a reply we do not understand: retry */
	for (i = 0; i < s->nrcpts; i++)
		if (s->res[i].code == 0 || s->res[i].code == 250)
			fm_tp_result_set(&s->res[i], code,
					 "%s (forwarded from %s)", text,
					 s->host);
	log_warn("Message rejected by mail server %s: %s", s->host, text);
	finish(s, FM_TP_REFUSED, text);
}

/* arm: the timer for the next step */
static void
arm(struct fm_smtp *s)
{
	evloop_timer_start(s->tp->loop, &s->timer, s->tp->o.timeout_ms);
}

/* send_ehlo: EHLO (HELO without TLS, as upstream) */
static void
send_ehlo(struct fm_smtp *s)
{
	(void)buf_printf(&s->out, "%s %s\r\n",
			 s->tls == FM_SMTP_PLAIN ? "HELO" : "EHLO",
			 s->tp->o.helo);
}

/* queue_cmd: command number i of the transaction (MAIL, RCPTs, DATA) */
static void
queue_cmd(struct fm_smtp *s, size_t i)
{
	if (i == 0)
		(void)buf_printf(
			&s->out, "MAIL FROM:<%s>%s\r\n", s->msg->mail_from,
			(s->c->caps & FM_SMTP_CAP_8BITMIME) ? " BODY=8BITMIME"
							    : "");
	else if (i <= s->nrcpts)
		(void)buf_printf(&s->out, "RCPT TO:<%s>\r\n", s->rcpts[i - 1]);
	else
		(void)buf_puts(&s->out, "DATA\r\n");
	s->sent = i + 1;
}

/* start_tx: queue the transaction, all at once when pipelining */
static void
start_tx(struct fm_smtp *s)
{
	s->state = SM_TX;
	s->sent = s->answered = s->accepted = 0;
	do
		queue_cmd(s, s->sent);
	while ((s->c->caps & FM_SMTP_CAP_PIPELINING) &&
	       s->sent < s->nrcpts + 2);
}

/* fill_body: queue dot-stuffed message bytes, then the final dot */
static void
fill_body(struct fm_smtp *s)
{
	size_t used, wrote;
	char *dst;

	while (s->off < s->msg->len && s->out.len < OUT_FILL) {
		dst = buf_reserve(&s->out, CHUNK);
		if (dst == NULL)
			break;
		used = fm_dot_stuff(s->msg->data + s->off, s->msg->len - s->off,
				    &s->bol, dst, CHUNK, &wrote);
		buf_commit(&s->out, wrote);
		s->off += used;
	}
	if (s->off == s->msg->len && !s->dot_queued && s->out.len < OUT_FILL) {
		(void)buf_puts(&s->out, s->bol ? ".\r\n" : "\r\n.\r\n");
		s->dot_queued = 1;
	}
}

/* tx_done: every recipient answered (RCPTs all refused, or the final
 * dot answered): report; after a success the connection is kept */
static void
tx_done(struct fm_smtp *s, int sent)
{
	if (sent) {
		fm_tp_keep_conn(s->dest, s->c);
		s->c = NULL; /* transferred */
		log_info("Delivered to %s over SMTP (%zu of %zu recipients)",
			 s->host, s->accepted, s->nrcpts);
	}
	finish(s, sent ? FM_TP_SENT : FM_TP_REFUSED,
	       sent ? FM_TP_OK_SMTP : "every recipient refused");
}

/* on_data_reply: the reply to DATA; 1 when s is finished */
static int
on_data_reply(struct fm_smtp *s, int code, const char *text)
{
	if (s->mail_refused != 0) {
		refuse_all(s, s->mail_refused, s->mail_text);
		return 1;
	}
	if (s->accepted == 0) {
		/* a 354 here would make the remote wait for data: the
		 * connection is closed without any, so nothing arrives */
		tx_done(s, 0);
		return 1;
	}
	if (code != 354) {
		refuse_all(s, code, text);
		return 1;
	}
	s->state = SM_BODY;
	s->off = 0;
	s->bol = 1;
	s->dot_queued = 0;
	fill_body(s);
	return 0;
}

/* on_rcpt_reply: the reply to the RCPT of recipient i */
static void
on_rcpt_reply(struct fm_smtp *s, size_t i, int code, const char *text)
{
	if (s->mail_refused != 0)
		return;
	if (code / 100 == 2) {
		s->accepted++;
		s->res[i].code = 250; /* for now: the final dot decides */
		return;
	}
	fm_tp_result_set(&s->res[i], code >= 400 && code <= 599 ? code : 451,
			 "%s (forwarded from %s)", text, s->host);
	log_warn("Recipient <%s> rejected by mail server %s: %s", s->rcpts[i],
		 s->host, text);
}

/* on_tx_reply: the reply to the transaction's next command; 1 when s
 * is finished (freed) */
static int
on_tx_reply(struct fm_smtp *s, int code, const char *text)
{
	size_t i = s->answered++;
	int piped = (s->c->caps & FM_SMTP_CAP_PIPELINING) != 0;

	if (i > s->nrcpts)
		return on_data_reply(s, code, text);
	if (i == 0 && code / 100 != 2) {
		s->mail_refused = code;
		(void)snprintf(s->mail_text, sizeof(s->mail_text), "%s", text);
		if (!piped) {
			refuse_all(s, code, text);
			return 1;
		}
	} else if (i > 0) {
		on_rcpt_reply(s, i - 1, code, text);
		if (!piped && i == s->nrcpts && s->accepted == 0) {
			tx_done(s, 0);
			return 1;
		}
	}
	if (!piped)
		queue_cmd(s, s->sent);
	return 0;
}

/* on_dot_reply: the verdict on the message; s is finished */
static void
on_dot_reply(struct fm_smtp *s, int code, const char *text)
{
	size_t i;

	if (code / 100 != 2) {
		refuse_all(s, code, text);
		return;
	}
	for (i = 0; i < s->nrcpts; i++)
		if (s->res[i].code == 250)
			fm_tp_result_set(&s->res[i], 250, "%s", FM_TP_OK_SMTP);
	tx_done(s, 1);
}

/* begin_tls: STARTTLS was accepted: start the handshake */
static int
begin_tls(struct fm_smtp *s)
{
	struct buf err = BUF_INIT(512);
	int r = -1;

	/* bytes after the 220 were sent in the clear before TLS: taking
	 * them as the first replies inside TLS would let anyone on the
	 * path inject them */
	if (s->in.len > 0)
		(void)buf_puts(&err, "data after the STARTTLS reply");
	else
		r = fm_conn_tls_begin(s->c, s->tp->tls,
				      s->tls == FM_SMTP_VERIFY, &err);
	if (r < 0)
		fail(s, buf_cstr(&err));
	else
		s->state = SM_HANDSHAKE;
	buf_deinit(&err);
	return r < 0;
}

/* on_ehlo: EHLO answered; 1 when s is finished */
static int
on_ehlo(struct fm_smtp *s, int code, const char *text, unsigned caps)
{
	char why[FM_TP_TEXT_MAX];

	if (code != 250) {
		(void)snprintf(why, sizeof(why), "EHLO refused: %.480s", text);
		fail(s, why);
		return 1;
	}
	s->c->caps = caps;
	if (s->state == SM_EHLO && s->tls != FM_SMTP_PLAIN) {
		if (!(caps & FM_SMTP_CAP_STARTTLS)) {
			fail(s, "the server does not offer STARTTLS");
			return 1;
		}
		(void)buf_puts(&s->out, "STARTTLS\r\n");
		s->state = SM_STARTTLS;
		return 0;
	}
	start_tx(s);
	return 0;
}

/* on_reply: one complete reply in the current state; 1 when finished */
static int
on_reply(struct fm_smtp *s, int code, const char *text, unsigned caps)
{
	char why[FM_TP_TEXT_MAX];

	switch (s->state) {
	case SM_GREET:
		if (code != 220)
			break;
		send_ehlo(s);
		s->state = SM_EHLO;
		return 0;
	case SM_EHLO:
	case SM_EHLO2:
		return on_ehlo(s, code, text, caps);
	case SM_STARTTLS:
		if (code != 220)
			break;
		return begin_tls(s);
	case SM_RSET:
		if (code != 250)
			break;
		start_tx(s);
		return 0;
	case SM_TX:
		return on_tx_reply(s, code, text);
	case SM_BODY:
		/* an answer before our final dot: it gave up on the data */
		refuse_all(s, code / 100 == 2 ? 451 : code, text);
		return 1;
	case SM_DOT:
		on_dot_reply(s, code, text);
		return 1;
	case SM_CONNECT:
	case SM_HANDSHAKE:
		break;
	}
	(void)snprintf(why, sizeof(why), "unexpected answer: %.480s", text);
	lost(s, why);
	return 1;
}

/* read_replies: read what arrived and act on it; 1 when finished */
static int
read_replies(struct fm_smtp *s)
{
	char text[FM_TP_TEXT_MAX], *p;
	unsigned want, caps = 0;
	long n;
	int code, r, rounds;

	for (rounds = 0; rounds < 64; rounds++) {
		p = buf_reserve(&s->in, 4096);
		if (p == NULL) {
			lost(s, "reply too long");
			return 1;
		}
		n = fm_conn_read(s->c, p, 4096, &want);
		if (n == -EAGAIN)
			return 0;
		if (n <= 0) {
			lost(s, n == 0 ? "connection closed by the server"
				       : "connection lost");
			return 1;
		}
		buf_commit(&s->in, (size_t)n);
		arm(s);
		while ((r = fm_smtp_reply_step(&s->in, &code, text,
					       sizeof(text), &caps)) == 1) {
			if (on_reply(s, code, text, caps))
				return 1;
			if (s->state == SM_HANDSHAKE)
				return 0; /* the rest is TLS */
		}
		if (r < 0) {
			lost(s, "malformed reply");
			return 1;
		}
	}
	return 0;
}

/* write_out: send queued output; 0 or -1 (connection broke) */
static int
write_out(struct fm_smtp *s, unsigned *want_r)
{
	long n;

	*want_r = 0;
	while (s->out.len > 0) {
		n = fm_conn_write(s->c, s->out.data, s->out.len, want_r);
		if (n == -EAGAIN)
			return 0;
		if (n <= 0)
			return -1;
		buf_consume(&s->out, (size_t)n);
		arm(s);
		if (s->state == SM_BODY)
			fill_body(s);
	}
	*want_r = 0;
	if (s->state == SM_BODY && s->dot_queued)
		s->state = SM_DOT;
	return 0;
}

/* handshake: drive STARTTLS's handshake; 1 when s is finished */
static int
handshake(struct fm_smtp *s)
{
	struct buf err = BUF_INIT(512);
	unsigned want = EV_READ;
	int r = fm_conn_tls_step(s->c, &want, &err);

	if (r < 0) {
		fail(s, buf_cstr(&err));
		buf_deinit(&err);
		return 1;
	}
	buf_deinit(&err);
	if (r == 0) {
		(void)evloop_io_mod(s->tp->loop, s->c->fd, want);
		return 0;
	}
	log_info("STARTTLS with %s (%s): %s, %s, certificate %s", s->host,
		 s->c->peer, SSL_get_version(s->c->ssl),
		 SSL_get_cipher_name(s->c->ssl),
		 s->tls == FM_SMTP_VERIFY ? "verified" : "not checked");
	arm(s);
	send_ehlo(s);
	s->state = SM_EHLO2;
	return 0;
}

/* on_io: readiness of the connection */
static void
on_io(struct evloop *loop, int fd, unsigned events, void *arg)
{
	struct fm_smtp *s = arg;

	(void)loop;
	(void)fd;
	if (s->state != SM_HANDSHAKE && (events & EV_READ) && read_replies(s))
		return;
	/* STARTTLS's 220 may just have arrived: the handshake starts now */
	if (s->state == SM_HANDSHAKE &&
	    (handshake(s) || s->state == SM_HANDSHAKE))
		return;
	sm_flush_and_watch(s);
}

/* sm_flush_and_watch: write what is queued, then watch for what comes */
static void
sm_flush_and_watch(struct fm_smtp *s)
{
	unsigned want, ev = EV_READ;

	if (write_out(s, &want) < 0) {
		lost(s, "connection lost while sending");
		return;
	}
	if (s->out.len > 0 || want == EV_WRITE)
		ev |= EV_WRITE;
	(void)evloop_io_mod(s->tp->loop, s->c->fd, ev);
}

/* on_timer: a step took too long */
static void
on_timer(struct evloop *loop, void *arg)
{
	struct fm_smtp *s = arg;

	(void)loop;
	lost(s, "timed out");
}

/* on_connected: TCP is up (or every address failed) */
static void
on_connected(void *arg, struct fm_conn *c, const char *err)
{
	struct fm_smtp *s = arg;

	s->connecting = NULL;
	if (c == NULL) {
		fail(s, err);
		return;
	}
	log_debug("Successfully connected to %s (%s)", c->peer, s->host);
	s->c = c;
	s->state = SM_GREET;
	if (evloop_io_add(s->tp->loop, c->fd, EV_READ, on_io, s) < 0) {
		fail(s, "cannot watch the connection");
		return;
	}
	arm(s);
}

/* sm_open: go on on a kept connection (RSET first) or connect */
static void
sm_open(struct fm_smtp *s)
{
	if (s->c != NULL) {
		log_debug("Reusing existing connection to %s", s->host);
		s->reused = 1;
		s->state = SM_RSET;
		(void)buf_puts(&s->out, "RSET\r\n");
		if (evloop_io_add(s->tp->loop, s->c->fd, EV_READ | EV_WRITE,
				  on_io, s) < 0) {
			fm_conn_close(s->tp->loop, &s->c, 0);
			s->reused = 0;
		} else {
			arm(s);
			return;
		}
	}
	s->state = SM_CONNECT;
	s->connecting =
		fm_conn_connect(s->tp->loop, s->host, s->addrs, s->naddrs,
				s->tp->o.timeout_ms, on_connected, s);
}

/* fm_smtp_start: see fm_tp.h */
struct fm_smtp *
fm_smtp_start(struct fm_tp *tp, struct fm_tp_dest *d, struct fm_conn *c,
	      const char *host, const struct net_addr *addrs, size_t naddrs,
	      enum fm_smtp_tls tls, const struct fm_tp_msg *msg,
	      const char *const *rcpts, size_t nrcpts, struct fm_tp_result *res,
	      fm_smtp_done_fn *done, void *arg)
{
	struct fm_smtp *s = xcalloc(1, sizeof(*s));

	s->tp = tp;
	s->dest = d;
	s->c = c;
	(void)snprintf(s->host, sizeof(s->host), "%s", host);
	s->addrs = addrs;
	s->naddrs = naddrs;
	s->tls = tls;
	s->msg = msg;
	s->rcpts = rcpts;
	s->nrcpts = nrcpts;
	s->res = res;
	s->done = done;
	s->arg = arg;
	buf_init(&s->in, REPLY_MAX);
	buf_init(&s->out, OUT_MAX);
	evloop_timer_init(&s->timer, on_timer, s);
	sm_open(s);
	return s;
}

/* fm_smtp_cancel: see fm_tp.h */
void
fm_smtp_cancel(struct fm_smtp **sp)
{
	struct fm_smtp *s = *sp;

	if (s == NULL)
		return;
	fm_conn_connect_cancel(&s->connecting);
	fm_conn_close(s->tp->loop, &s->c, 0);
	evloop_timer_stop(s->tp->loop, &s->timer);
	buf_deinit(&s->in);
	buf_deinit(&s->out);
	free(s);
	*sp = NULL;
}
