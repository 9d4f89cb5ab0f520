/*
 * fm_milter: a Sendmail milter that only DKIM-signs. Postfix hands it
 * the mail Postfix generates itself (main.cf non_smtpd_milters with
 * internal_mail_filter_classes = bounce: bounces and delivery status
 * notifications), and it answers with a DKIM-Signature field to insert
 * at the top: the job upstream's OpenDKIM milter does for bounces
 * (docs/UPSTREAM.md, DKIM; relay 1.11.0), so that other relays, which
 * refuse unsigned mail, accept our bounces.
 *
 * The protocol (version 6 as Postfix's milter8 client speaks it; facts
 * from libmilter's documentation and Postfix's MILTER_README): every
 * packet is a 32-bit big-endian length, one command byte and length-1
 * data bytes. The MTA opens with 'O' (version, allowed actions, offered
 * protocol flags). We ask to add headers only, and for no connect,
 * HELO, MAIL, RCPT, DATA or unknown-command events, no replies to
 * headers, end of headers and body chunks, and header values with their
 * leading space, each only where the MTA offers it. Then: 'D' macros
 * (never answered), 'L' a header (name NUL value NUL), 'N' end of
 * headers, 'B' a body chunk (lines end in CRLF), 'E' end of message:
 * answered with 'i' (insert DKIM-Signature at index 0) when we signed,
 * then 'c' (continue: accept). 'A' drops the message, 'K' ends it and
 * waits for the next, 'Q' ends the connection. An event the negotiation
 * turned off that arrives anyway gets 'c'.
 *
 * The message is rebuilt as "name:value" lines and the body as sent;
 * DKIM's relaxed header canonicalization makes the spacing Postfix
 * does not show us irrelevant, and the body (simple) is what Postfix
 * stores and sends. A message we cannot sign (not from our domain, no
 * key, over the size limit) passes unsigned: a bounce is never held up.
 *
 * Role: outgoing filtermail (it holds the key); the client is Postfix's
 * cleanup. Untrusted input: the packets (Postfix's, but a bounce quotes
 * what a remote sender wrote): packet length capped (FM_MILTER_PKT_MAX),
 * header and body each capped at max_message_size, an idle timeout and
 * a session cap.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "filtermail.h"
#include "llist.h"
#include "log.h"
#include "net_server.h"
#include "xmalloc.h"

#define READ_SIZE 65536
#define OUT_MAX 65536

/* the protocol's numbers (libmilter mfdef.h) */
#define SMFIF_ADDHDRS 0x01u
#define SMFIP_NOCONNECT 0x01u
#define SMFIP_NOHELO 0x02u
#define SMFIP_NOMAIL 0x04u
#define SMFIP_NORCPT 0x08u
#define SMFIP_NR_HDR 0x80u
#define SMFIP_NOUNKNOWN 0x100u
#define SMFIP_NODATA 0x200u
#define SMFIP_NR_EOH 0x40000u
#define SMFIP_NR_BODY 0x80000u
#define SMFIP_HDR_LEADSPC 0x100000u
#define MILTER_VERSION 6u

/* what we ask for, where offered */
#define WANT_PROTO                                                      \
	(SMFIP_NOCONNECT | SMFIP_NOHELO | SMFIP_NOMAIL | SMFIP_NORCPT | \
	 SMFIP_NOUNKNOWN | SMFIP_NODATA | SMFIP_NR_HDR | SMFIP_NR_EOH | \
	 SMFIP_NR_BODY | SMFIP_HDR_LEADSPC)

struct fm_msession {
	struct fm_milter *srv;
	LLIST_LINK(fm_msession) link; /* in srv->sessions */
	int fd;
	struct buf in, out;
	struct buf hdr, body; /* the message being collected */
	int too_big;	      /* it passed a limit: not signed */
	int negotiated;	      /* 'O' seen */
	int can_add;	      /* the MTA lets us add headers */
	int quit;	      /* close once out is flushed */
	uint32_t proto;	      /* SMFIP_* agreed on */
	struct evloop_timer timer;
};

struct fm_milter {
	const struct fm_ctx *ctx;
	struct net_server ns;
	LLIST_HEAD(, fm_msession) sessions;
	char rbuf[READ_SIZE];
};

/* get32: a big-endian 32-bit number */
static uint32_t
get32(const char *p)
{
	const unsigned char *u = (const unsigned char *)p;

	return (uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 |
	       (uint32_t)u[2] << 8 | u[3];
}

/* put32: a big-endian 32-bit number into p */
static void
put32(char *p, uint32_t v)
{
	p[0] = (char)(v >> 24);
	p[1] = (char)(v >> 16);
	p[2] = (char)(v >> 8);
	p[3] = (char)v;
}

/* reply: queue one packet (cmd and n bytes of data); a peer that does
 * not read its replies is dropped */
static void
reply(struct fm_msession *s, char cmd, const char *data, size_t n)
{
	char head[5];

	put32(head, (uint32_t)n + 1);
	head[4] = cmd;
	if (buf_append(&s->out, head, 5) < 0 ||
	    buf_append(&s->out, data, n) < 0)
		s->quit = 1;
}

/* reset_message: forget the message being collected */
static void
reset_message(struct fm_msession *s)
{
	buf_deinit(&s->hdr);
	buf_deinit(&s->body);
	buf_init(&s->hdr, (size_t)s->srv->ctx->max_size);
	buf_init(&s->body, (size_t)s->srv->ctx->max_size);
	s->too_big = 0;
}

/* session_free: close and forget a session */
static void
session_free(struct fm_msession *s)
{
	struct fm_milter *srv = s->srv;

	evloop_timer_stop(srv->ctx->loop, &s->timer);
	evloop_io_del(srv->ctx->loop, s->fd);
	close(s->fd);
	LLIST_REMOVE(&srv->sessions, s, link);
	buf_deinit(&s->in);
	buf_deinit(&s->out);
	buf_deinit(&s->hdr);
	buf_deinit(&s->body);
	free(s);
}

/* on_optneg: agree on version, actions and protocol; -1 if malformed */
static int
on_optneg(struct fm_msession *s, const char *d, size_t n)
{
	uint32_t version, actions, proto;
	char r[12];

	if (n < 12)
		return -1;
	version = get32(d);
	actions = get32(d + 4);
	proto = get32(d + 8);
	if (version < 2)
		return -1;
	s->proto = proto & WANT_PROTO;
	s->can_add = (actions & SMFIF_ADDHDRS) != 0;
	s->negotiated = 1;
	put32(r, version < MILTER_VERSION ? version : MILTER_VERSION);
	put32(r + 4, actions & SMFIF_ADDHDRS);
	put32(r + 8, s->proto);
	reply(s, 'O', r, sizeof(r));
	return 0;
}

/* on_header: "name NUL value NUL" as a "name:value" line; -1 if
 * malformed */
static int
on_header(struct fm_msession *s, const char *d, size_t n)
{
	const char *nul = memchr(d, '\0', n), *v, *end;
	size_t i;
	int r = 0;

	if (nul == NULL || nul == d ||
	    (end = memchr(nul + 1, '\0', n - (size_t)(nul + 1 - d))) == NULL)
		return -1;
	v = nul + 1;
	r |= buf_append(&s->hdr, d, (size_t)(nul - d));
	/* without HDR_LEADSPC Postfix ate one space after the colon */
	r |= buf_puts(&s->hdr, s->proto & SMFIP_HDR_LEADSPC ? ":" : ": ");
	for (i = 0; v + i < end; i++) {
		/* folded lines come separated by a bare LF */
		if (v[i] == '\n' && (i == 0 || v[i - 1] != '\r'))
			r |= buf_putc(&s->hdr, '\r');
		r |= buf_putc(&s->hdr, v[i]);
	}
	r |= buf_puts(&s->hdr, "\r\n");
	if (r < 0)
		s->too_big = 1;
	if (!(s->proto & SMFIP_NR_HDR))
		reply(s, 'c', NULL, 0);
	return 0;
}

/* sig_value: the value of the "DKIM-Signature: ...\r\n" field f as a
 * milter header value (folds as bare LF, no final line end; the leading
 * space kept only when we agreed on HDR_LEADSPC) into out */
static void
sig_value(const struct fm_msession *s, const struct buf *f, struct buf *out)
{
	const char *p = memchr(f->data, ':', f->len), *end = f->data + f->len;

	if (p == NULL)
		return;
	p++;
	if (!(s->proto & SMFIP_HDR_LEADSPC) && p < end && *p == ' ')
		p++;
	while (end > p && (end[-1] == '\r' || end[-1] == '\n'))
		end--;
	for (; p < end; p++)
		if (*p != '\r')
			(void)buf_putc(out, *p);
}

/* on_eom: the message is complete: sign it if we can, then continue */
static void
on_eom(struct fm_msession *s)
{
	const struct fm_ctx *ctx = s->srv->ctx;
	struct buf sig = BUF_INIT(1 << 16), val = BUF_INIT(1 << 16);
	struct buf err = BUF_INIT(256);
	int r = 0;

	if (s->too_big)
		log_warn("milter: message too large to sign, passed unsigned");
	else if (ctx->sign != NULL)
		r = ctx->sign(ctx->policy, s->hdr.data ? s->hdr.data : "",
			      s->hdr.len, s->body.data ? s->body.data : "",
			      s->body.len, &sig, &err);
	if (r < 0)
		log_error("Can't sign message: %s", buf_cstr(&err));
	if (r == 1 && s->can_add) {
		/* index 0 (above every header, where OpenDKIM puts it),
		 * name NUL value NUL */
		(void)buf_append(&val, "\0\0\0\0", 4);
		(void)buf_puts(&val, "DKIM-Signature");
		(void)buf_putc(&val, '\0');
		sig_value(s, &sig, &val);
		(void)buf_putc(&val, '\0');
		reply(s, 'i', val.data, val.len);
	} else if (r == 1) {
		log_warn("milter: the MTA does not let us add headers");
	}
	reply(s, 'c', NULL, 0);
	reset_message(s);
	buf_deinit(&sig);
	buf_deinit(&val);
	buf_deinit(&err);
}

/* on_packet: act on one packet; -1 to drop the connection */
static int
on_packet(struct fm_msession *s, char cmd, const char *d, size_t n)
{
	if (cmd != 'O' && !s->negotiated)
		return -1;
	switch (cmd) {
	case 'O':
		return on_optneg(s, d, n);
	case 'D': /* macros: never answered */
		return 0;
	case 'L':
		return on_header(s, d, n);
	case 'N':
		if (!(s->proto & SMFIP_NR_EOH))
			reply(s, 'c', NULL, 0);
		return 0;
	case 'B':
	case 'E':
		if (n > 0 && buf_append(&s->body, d, n) < 0)
			s->too_big = 1;
		if (cmd == 'E')
			on_eom(s);
		else if (!(s->proto & SMFIP_NR_BODY))
			reply(s, 'c', NULL, 0);
		return 0;
	case 'A': /* abort this message */
	case 'K': /* this one is done, another follows */
		reset_message(s);
		return 0;
	case 'Q':
		s->quit = 1;
		return 0;
	case 'C': /* events we asked not to get */
	case 'H':
	case 'M':
	case 'R':
	case 'T':
	case 'U':
		reply(s, 'c', NULL, 0);
		return 0;
	default:
		log_warn("milter: unknown command 0x%02x, closing",
			 (unsigned)(unsigned char)cmd);
		return -1;
	}
}

/* process: every complete packet in p; bytes consumed, or -1 to drop */
static ssize_t
process(struct fm_msession *s, const char *p, size_t n)
{
	size_t i = 0;
	uint32_t len;

	while (!s->quit && n - i >= 5) {
		len = get32(p + i);
		if (len == 0 || len > FM_MILTER_PKT_MAX) {
			log_warn("milter: bad packet length %u, closing",
				 (unsigned)len);
			return -1;
		}
		if (n - i < 4 + (size_t)len)
			break;
		if (on_packet(s, p[i + 4], p + i + 5, len - 1) < 0)
			return -1;
		i += 4 + (size_t)len;
	}
	return (ssize_t)i;
}

/* take_input: process new bytes after any held ones, hold the rest of
 * an incomplete packet; -1 to drop the connection */
static int
take_input(struct fm_msession *s, const char *p, size_t n)
{
	ssize_t used;

	if (s->in.len > 0) {
		if (buf_append(&s->in, p, n) < 0)
			return -1;
		used = process(s, s->in.data, s->in.len);
		if (used < 0)
			return -1;
		buf_consume(&s->in, (size_t)used);
		return 0;
	}
	used = process(s, p, n);
	if (used < 0)
		return -1;
	if ((size_t)used < n && buf_append(&s->in, p + used, n - (size_t)used))
		return -1;
	return 0;
}

/* on_io: readiness of a session */
static void
on_io(struct evloop *loop, int fd, unsigned events, void *arg)
{
	struct fm_msession *s = arg;
	struct fm_milter *srv = s->srv;
	ssize_t n;
	int r;

	if ((events & EV_READ) && !s->quit) {
		do
			n = recv(fd, srv->rbuf, sizeof(srv->rbuf), 0);
		while (n < 0 && errno == EINTR);
		if (n == 0 ||
		    (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) ||
		    (n > 0 && take_input(s, srv->rbuf, (size_t)n) < 0)) {
			session_free(s);
			return;
		}
	}
	r = net_send_buf(s->fd, &s->out);
	if (r < 0 || (r == 1 && s->quit)) {
		session_free(s);
		return;
	}
	if (s->in.len == 0)
		buf_deinit(&s->in);
	(void)evloop_io_mod(loop, fd, r == 0 ? EV_READ | EV_WRITE : EV_READ);
	evloop_timer_start(loop, &s->timer, srv->ctx->t.cmd_ms);
}

/* on_timer: Postfix went quiet: drop the connection */
static void
on_timer(struct evloop *loop, void *arg)
{
	struct fm_msession *s = arg;

	(void)loop;
	log_debug("milter: idle timeout");
	session_free(s);
}

/* session_new: a connection from Postfix */
static void
session_new(void *arg, int fd)
{
	struct fm_milter *srv = arg;
	struct fm_msession *s = xcalloc(1, sizeof(*s));

	if (srv->ctx->stats != NULL)
		srv->ctx->stats->milter_sessions++;
	s->srv = srv;
	s->fd = fd;
	buf_init(&s->in, FM_MILTER_PKT_MAX + 4 + READ_SIZE);
	buf_init(&s->out, OUT_MAX);
	reset_message(s);
	evloop_timer_init(&s->timer, on_timer, s);
	LLIST_PREPEND(&srv->sessions, s, link);
	if (evloop_io_add(srv->ctx->loop, fd, EV_READ, on_io, s) < 0) {
		session_free(s);
		return;
	}
	evloop_timer_start(srv->ctx->loop, &s->timer, srv->ctx->t.cmd_ms);
}

/* admission: over max_sessions the connection is just closed (Postfix
 * applies milter_default_action); out of fds a pause of a second */
static const struct net_server_opts admit_opts = {
	.busy = NULL,
	.err_msg = "Error accepting connection",
	.err_level = LOG_LVL_ERROR,
	.pause_ms = 1000,
	.nodelay = 0,
};

/* fm_milter_new: see filtermail.h */
struct fm_milter *
fm_milter_new(const struct fm_ctx *ctx, int lfd)
{
	struct fm_milter *srv = xcalloc(1, sizeof(*srv));
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

/* fm_milter_adopt: see filtermail.h */
void
fm_milter_adopt(struct fm_milter *srv, int fd)
{
	session_new(srv, fd);
}

/* fm_milter_close_listener: see filtermail.h */
void
fm_milter_close_listener(struct fm_milter *srv)
{
	net_server_close(&srv->ns);
}

/* fm_milter_free: see filtermail.h */
void
fm_milter_free(struct fm_milter **mp)
{
	struct fm_milter *srv = *mp;
	struct fm_msession *s, *next;

	if (srv == NULL)
		return;
	LLIST_FOREACH_SAFE(s, &srv->sessions, link, next)
		session_free(s);
	fm_milter_close_listener(srv);
	free(srv);
	*mp = NULL;
}

/* fm_milter_sessions: see filtermail.h */
size_t
fm_milter_sessions(const struct fm_milter *srv)
{
	return LLIST_COUNT(&srv->sessions);
}
