/*
 * fm_reinject: the non-blocking SMTP client that hands an accepted
 * message back to Postfix's reinject smtpd (10025 outgoing, 10026
 * incoming).
 *
 * Role: greeting, EHLO, then XFORWARD ADDR (when offered and known),
 * MAIL FROM (BODY=8BITMIME when offered), RCPT TO each, DATA; with
 * PIPELINING these go out in one write and the replies are matched in
 * order. Then the verdict's prepend and the message, dot-stuffed and
 * streamed from the caller's buffer in bounded chunks, and the final
 * dot. Success is only a 2xx to the final dot. Anything else hands back
 * Postfix's own reply (4xx/5xx), or a 451 for a broken connection, a
 * malformed reply or a timeout. If anything failed before the data was
 * complete, the connection is dropped without the final dot, so Postfix
 * throws the partial message away: nothing half-sent is delivered.
 *
 * Untrusted input: Postfix's replies (bounded: 16 KiB per reply).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "filtermail.h"
#include "log.h"
#include "xmalloc.h"

#define REPLY_MAX 16384
#define OUT_MAX (64 * 1024 + 4 * FM_ADDR_MAX + 4096)
#define OUT_FILL 32768 /* refill the output below this */
#define CHUNK 16384

enum rj_state {
	RJ_CONNECT,
	RJ_GREET,
	RJ_EHLO,
	RJ_PIPE, /* XFORWARD, MAIL, RCPTs, DATA */
	RJ_BODY,
	RJ_DOT,
};

struct fm_reinject {
	const struct fm_ctx *ctx;
	struct fm_reinject_msg m;
	fm_reinject_done_fn *done;
	void *arg;
	int fd;
	enum rj_state state;
	struct buf in, out;
	struct evloop_timer timer;
	int pipelining, xforward, eightbit;
	size_t ncmds;	 /* commands of the transaction */
	size_t sent;	 /* of those, queued so far */
	size_t answered; /* of those, replies read */
	int fail_code;	 /* first refusal in the transaction, or 0 */
	char fail_text[256];
	int part;	   /* body: 0 prepend, 1 message, 2 done */
	size_t off;	   /* position in the current part */
	int bol;	   /* next body byte starts a line */
	int start_err;	   /* connect failed at once: report from a timer */
	int reused;	   /* the connection came from the pool */
	uint64_t deadline; /* loop time by which it must be over */
};

static void rj_open(struct fm_reinject *rj, int pooled);

/* arm: the timer for the next step (step_ms), but never past the
 * overall deadline: Postfix waits only smtpd_proxy_timeout (100 s) for
 * our answer, so we answer first */
static void
arm(struct fm_reinject *rj, uint64_t step_ms)
{
	uint64_t now = evloop_now(rj->ctx->loop);
	uint64_t left = rj->deadline > now ? rj->deadline - now : 0;

	evloop_timer_start(rj->ctx->loop, &rj->timer,
			   step_ms < left ? step_ms : left);
}

/* fm_dot_stuff: see filtermail.h */
size_t
fm_dot_stuff(const char *src, size_t n, int *bol, char *dst, size_t dstsize,
	     size_t *out_r)
{
	size_t i = 0, o = 0, run;
	const char *lf;

	while (i < n && o < dstsize) {
		if (*bol && src[i] == '.') {
			if (dstsize - o < 2)
				break;
			dst[o++] = '.';
		}
		lf = memchr(src + i, '\n', n - i);
		run = lf != NULL ? (size_t)(lf - (src + i)) + 1 : n - i;
		if (run > dstsize - o)
			run = dstsize - o;
		memcpy(dst + o, src + i, run);
		o += run;
		i += run;
		*bol = dst[o - 1] == '\n';
	}
	*out_r = o;
	return i;
}

/* finish: close the connection and report; rj is freed */
static void
finish(struct fm_reinject *rj, int code, const char *text)
{
	fm_reinject_done_fn *done = rj->done;
	void *arg = rj->arg;
	char copy[300];

	(void)snprintf(copy, sizeof(copy), "%s", text);
	if (code / 100 != 2)
		log_warn("Failed to reinject mail: %s", copy);
	rj->done = NULL;
	fm_reinject_cancel(&rj);
	done(arg, code, copy);
}

/* fail_local: a failure of ours or of the connection: 451 */
static void
fail_local(struct fm_reinject *rj, const char *why)
{
	char text[256];

	(void)snprintf(text, sizeof(text),
		       "451 4.3.0 Reinjection failed: %.200s", why);
	finish(rj, 451, text);
}

/* lost: the connection broke; a pooled one that broke before its
 * first reply was stale: start again on a fresh connection */
static void
lost(struct fm_reinject *rj, const char *why)
{
	if (!rj->reused || rj->answered > 0 || rj->state != RJ_PIPE) {
		fail_local(rj, why);
		return;
	}
	evloop_timer_stop(rj->ctx->loop, &rj->timer);
	evloop_io_del(rj->ctx->loop, rj->fd);
	close(rj->fd);
	rj->fd = -1;
	buf_reset(&rj->in);
	buf_reset(&rj->out);
	rj->sent = rj->answered = 0;
	rj->fail_code = 0;
	rj->reused = 0;
	rj->pipelining = rj->xforward = rj->eightbit = 0;
	rj_open(rj, 0);
}

/* fail_reply: Postfix refused: hand its reply on, 4xx or 5xx as sent */
static void
fail_reply(struct fm_reinject *rj, int code, const char *text)
{
	if (code < 400 || code > 599) {
		fail_local(rj, text);
		return;
	}
	finish(rj, code, text);
}

/* update_events: always read; write while output is queued */
static void
update_events(struct fm_reinject *rj)
{
	unsigned ev = EV_READ;

	/* in RJ_BODY there is always more to send: refill when writable */
	if (rj->out.len > 0 || rj->state == RJ_CONNECT || rj->state == RJ_BODY)
		ev |= EV_WRITE;
	(void)evloop_io_mod(rj->ctx->loop, rj->fd, ev);
}

/* flush: send queued output; 0 ok (maybe partly), -1 connection broke */
static int
flush(struct fm_reinject *rj)
{
	size_t before = rj->out.len;
	int r = net_send_buf(rj->fd, &rj->out);

	if (rj->out.len < before)
		arm(rj, rj->ctx->t.reply_ms);
	return r < 0 ? -1 : 0;
}

/* queue_cmd: queue command number i of the transaction */
static void
queue_cmd(struct fm_reinject *rj, size_t i)
{
	size_t first_rcpt = rj->ncmds - 1 - rj->m.nrcpts;
	const char *ip = rj->m.origin_ip;

	if (i == 0 && first_rcpt == 2 && ip != NULL)
		(void)buf_printf(&rj->out, "XFORWARD ADDR=%s%s\r\n",
				 strchr(ip, ':') != NULL ? "IPV6:" : "", ip);
	else if (i == first_rcpt - 1)
		(void)buf_printf(&rj->out, "MAIL FROM:<%s>%s\r\n",
				 rj->m.mail_from,
				 rj->eightbit ? " BODY=8BITMIME" : "");
	else if (i < rj->ncmds - 1)
		(void)buf_printf(&rj->out, "RCPT TO:<%s>\r\n",
				 rj->m.rcpts[i - first_rcpt]);
	else
		(void)buf_puts(&rj->out, "DATA\r\n");
	rj->sent = i + 1;
}

/* start_transaction: after EHLO, queue the commands (all of them when
 * pipelining, else the first) */
static void
start_transaction(struct fm_reinject *rj)
{
	int xf = rj->xforward && rj->m.origin_ip != NULL &&
		 rj->m.origin_ip[0] != '\0';

	rj->ncmds = (size_t)xf + 1 + rj->m.nrcpts + 1;
	rj->state = RJ_PIPE;
	do
		queue_cmd(rj, rj->sent);
	while (rj->pipelining && rj->sent < rj->ncmds);
}

/* fill_body: queue dot-stuffed body bytes up to the refill mark */
static void
fill_body(struct fm_reinject *rj)
{
	const char *src;
	size_t n, used, wrote;
	char *dst;

	while (rj->part < 2 && rj->out.len < OUT_FILL) {
		src = rj->part == 0 ? rj->m.prepend : rj->m.msg;
		n = rj->part == 0 ? rj->m.prepend_len : rj->m.len;
		if (src == NULL || rj->off >= n) {
			rj->part++;
			rj->off = 0;
			continue;
		}
		dst = buf_reserve(&rj->out, CHUNK);
		if (dst == NULL)
			break;
		used = fm_dot_stuff(src + rj->off, n - rj->off, &rj->bol, dst,
				    CHUNK, &wrote);
		buf_commit(&rj->out, wrote);
		rj->off += used;
	}
	if (rj->part == 2 && rj->state == RJ_BODY) {
		/* a message not ending in CRLF still ends its last line */
		(void)buf_puts(&rj->out, rj->bol ? ".\r\n" : "\r\n.\r\n");
		rj->state = RJ_DOT;
	}
}

/* on_pipe_reply: the reply to the next transaction command; 1 when rj
 * is finished (and freed) */
static int
on_pipe_reply(struct fm_reinject *rj, int code, const char *text)
{
	int is_data = rj->answered == rj->ncmds - 1;

	rj->answered++;
	if (!is_data) {
		if (code / 100 != 2 && rj->fail_code == 0) {
			rj->fail_code = code;
			(void)snprintf(rj->fail_text, sizeof(rj->fail_text),
				       "%s", text);
		}
		if (rj->pipelining)
			return 0;
		if (rj->fail_code != 0) {
			fail_reply(rj, rj->fail_code, rj->fail_text);
			return 1;
		}
		queue_cmd(rj, rj->sent);
		return 0;
	}
	if (rj->fail_code != 0) {
		/* in DATA mode after a refused RCPT: dropping the
		 * connection is the only way not to deliver */
		fail_reply(rj, rj->fail_code, rj->fail_text);
		return 1;
	}
	if (code != 354) {
		fail_reply(rj, code, text);
		return 1;
	}
	rj->state = RJ_BODY;
	rj->part = 0;
	rj->off = 0;
	rj->bol = 1;
	fill_body(rj);
	return 0;
}

/* has_keyword: whether an EHLO line "250-KEYWORD params" names kw */
static int
has_keyword(const char *line, size_t len, const char *kw)
{
	size_t n = strlen(kw);

	if (len < 4 + n || strncasecmp(line + 4, kw, n) != 0)
		return 0;
	return len == 4 + n || line[4 + n] == ' ';
}

/* read_reply: take one complete reply from in: 1 with its code and last
 * line, 0 incomplete, -1 malformed */
static int
read_reply(struct fm_reinject *rj, int *code_r, char *text, size_t textsize)
{
	const char *p = rj->in.data, *end = p + rj->in.len, *lf;
	size_t len;

	while (p < end && (lf = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		len = (size_t)(lf - p);
		if (len > 0 && p[len - 1] == '\r')
			len--;
		if (len < 3 || p[0] < '1' || p[0] > '5' || p[1] < '0' ||
		    p[1] > '9' || p[2] < '0' || p[2] > '9' ||
		    (len > 3 && p[3] != ' ' && p[3] != '-'))
			return -1;
		if (rj->state == RJ_EHLO) {
			rj->pipelining |= has_keyword(p, len, "PIPELINING");
			rj->xforward |= has_keyword(p, len, "XFORWARD");
			rj->eightbit |= has_keyword(p, len, "8BITMIME");
		}
		if (len == 3 || p[3] == ' ') {
			*code_r = (p[0] - '0') * 100 + (p[1] - '0') * 10 +
				  (p[2] - '0');
			(void)snprintf(text, textsize, "%.*s", (int)len, p);
			buf_consume(&rj->in, (size_t)(lf + 1 - rj->in.data));
			return 1;
		}
		p = lf + 1;
	}
	return rj->in.len >= REPLY_MAX ? -1 : 0;
}

/* keep_or_quit: after a transaction, pool the connection or QUIT */
static void
keep_or_quit(struct fm_reinject *rj)
{
	unsigned caps = (rj->pipelining ? FM_CAP_PIPELINING : 0) |
			(rj->xforward ? FM_CAP_XFORWARD : 0) |
			(rj->eightbit ? FM_CAP_8BITMIME : 0);

	if (rj->ctx->pool == NULL || rj->in.len > 0) {
		(void)send(rj->fd, "QUIT\r\n", 6, MSG_NOSIGNAL | MSG_DONTWAIT);
		return;
	}
	evloop_io_del(rj->ctx->loop, rj->fd);
	fm_reinject_pool_put(rj->ctx->pool, rj->fd, caps);
	rj->fd = -1; /* transferred */
}

/* on_reply: act on one complete reply; 1 when rj is finished */
static int
on_reply(struct fm_reinject *rj, int code, const char *text)
{
	switch (rj->state) {
	case RJ_GREET:
		if (code != 220)
			break;
		(void)buf_printf(&rj->out, "EHLO %s\r\n", rj->ctx->helo);
		rj->state = RJ_EHLO;
		return 0;
	case RJ_EHLO:
		if (code != 250)
			break;
		start_transaction(rj);
		return 0;
	case RJ_PIPE:
		if (code == 421 && rj->reused && rj->answered == 0) {
			lost(rj, text); /* it timed out while pooled */
			return 1;
		}
		return on_pipe_reply(rj, code, text);
	case RJ_BODY:
		/* a reply before our final dot: Postfix gave up */
		fail_reply(rj, code / 100 == 2 ? 451 : code, text);
		return 1;
	case RJ_DOT:
		if (code / 100 != 2) {
			fail_reply(rj, code, text);
			return 1;
		}
		keep_or_quit(rj);
		finish(rj, 250, "250 OK");
		return 1;
	case RJ_CONNECT:
		return 0;
	}
	fail_local(rj, text); /* greeting or EHLO refused */
	return 1;
}

/* read_replies: read what arrived and act on complete replies; 1 when
 * rj is finished (and freed) */
static int
read_replies(struct fm_reinject *rj)
{
	char text[256], *p;
	ssize_t n;
	int code, r;

	p = buf_reserve(&rj->in, 4096);
	if (p == NULL) {
		fail_local(rj, "reply too long");
		return 1;
	}
	do
		n = recv(rj->fd, p, 4096, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	if (n <= 0) {
		lost(rj, n == 0 ? "connection closed" : strerror(errno));
		return 1;
	}
	buf_commit(&rj->in, (size_t)n);
	arm(rj, rj->ctx->t.reply_ms);
	while ((r = read_reply(rj, &code, text, sizeof(text))) == 1) {
		if (on_reply(rj, code, text))
			return 1;
	}
	if (r < 0) {
		fail_local(rj, "malformed reply");
		return 1;
	}
	return 0;
}

/* on_io: readiness of the reinject connection */
static void
on_io(struct evloop *loop, int fd, unsigned events, void *arg)
{
	struct fm_reinject *rj = arg;
	int r;

	(void)loop;
	if (rj->state == RJ_CONNECT) {
		if ((r = net_connect_finish(fd)) < 0) {
			fail_local(rj, strerror(-r));
			return;
		}
		rj->state = RJ_GREET;
		arm(rj, rj->ctx->t.reply_ms);
	} else if (events & EV_READ) {
		if (read_replies(rj))
			return;
	}
	if (rj->state == RJ_BODY)
		fill_body(rj);
	if (flush(rj) < 0) {
		lost(rj, "connection lost while sending");
		return;
	}
	if (rj->state == RJ_BODY && rj->out.len < OUT_FILL) {
		fill_body(rj);
		if (flush(rj) < 0) {
			lost(rj, "connection lost while sending");
			return;
		}
	}
	update_events(rj);
}

/* on_timer: connect timeout, reply timeout, or a start error */
static void
on_timer(struct evloop *loop, void *arg)
{
	struct fm_reinject *rj = arg;

	(void)loop;
	if (rj->start_err != 0) {
		fail_local(rj, strerror(rj->start_err));
		return;
	}
	fail_local(rj,
		   rj->state == RJ_CONNECT ? "connect timed out" : "timed out");
}

/* rj_open: take a pooled connection (if pooled and one is idle) or
 * start connecting; errors are reported from a timer */
static void
rj_open(struct fm_reinject *rj, int pooled)
{
	const struct fm_ctx *ctx = rj->ctx;
	unsigned caps;
	int r;

	if (pooled && ctx->pool != NULL &&
	    fm_reinject_pool_get(ctx->pool, &rj->fd, &caps)) {
		rj->reused = 1;
		rj->pipelining = (caps & FM_CAP_PIPELINING) != 0;
		rj->xforward = (caps & FM_CAP_XFORWARD) != 0;
		rj->eightbit = (caps & FM_CAP_8BITMIME) != 0;
		start_transaction(rj);
		r = evloop_io_add(ctx->loop, rj->fd, EV_READ | EV_WRITE, on_io,
				  rj);
		if (r < 0)
			goto fail;
		arm(rj, ctx->t.reply_ms);
		return;
	}
	r = net_connect(&ctx->reinject, &rj->fd);
	if (r < 0)
		goto fail;
	(void)net_set_nodelay(rj->fd);
	rj->state = r == 0 ? RJ_GREET : RJ_CONNECT;
	r = evloop_io_add(ctx->loop, rj->fd, r == 0 ? EV_READ : EV_WRITE, on_io,
			  rj);
	if (r < 0)
		goto fail;
	arm(rj, rj->state == RJ_CONNECT ? ctx->t.connect_ms : ctx->t.reply_ms);
	return;
fail:
	rj->start_err = -r;
	evloop_timer_start(ctx->loop, &rj->timer, 0);
}

/* fm_reinject_start: see filtermail.h */
struct fm_reinject *
fm_reinject_start(const struct fm_ctx *ctx, const struct fm_reinject_msg *m,
		  fm_reinject_done_fn *done, void *arg)
{
	struct fm_reinject *rj = xcalloc(1, sizeof(*rj));

	rj->ctx = ctx;
	rj->m = *m;
	rj->done = done;
	rj->arg = arg;
	rj->fd = -1;
	buf_init(&rj->in, REPLY_MAX);
	buf_init(&rj->out, OUT_MAX);
	evloop_timer_init(&rj->timer, on_timer, rj);
	rj->deadline = evloop_now(ctx->loop) + ctx->t.total_ms;
	rj_open(rj, 1);
	return rj;
}

/* fm_reinject_cancel: see filtermail.h */
void
fm_reinject_cancel(struct fm_reinject **rp)
{
	struct fm_reinject *rj = *rp;

	if (rj == NULL)
		return;
	evloop_timer_stop(rj->ctx->loop, &rj->timer);
	if (rj->fd >= 0) {
		evloop_io_del(rj->ctx->loop, rj->fd);
		close(rj->fd);
	}
	buf_deinit(&rj->in);
	buf_deinit(&rj->out);
	free(rj);
	*rp = NULL;
}
