/*
 * test_transport: filtermail transport end to end in one process: an
 * LMTP client (the test) -> fm_lmtpd -> the transport -> fake DNS,
 * HTTPS and SMTP servers on loopback (test_tp_fakes.h), with real
 * libcurl and OpenSSL on both sides.
 *
 * HTTPS first with upstream's request (X-MAIL-FROM, one X-MAIL-TO per
 * recipient, the message unchanged as the body, no Content-Type);
 * per-recipient LMTP replies in RCPT order; SMTP when HTTPS fails, with
 * STARTTLS and pipelining, a refused RCPT answered for that recipient
 * only; the SMTP preference for 30 minutes on an injected clock, then
 * HTTPS again; a kept connection reused with RSET; MX order and
 * failover past a refusing host; null MX, NXDOMAIN, SERVFAIL; every MX
 * failing; STARTTLS missing; a verified name with a self-signed
 * certificate; the remote's 4xx and 5xx over both channels; 421
 * Transport busy when a destination's queue is full; the counters
 * --metrics serves (fm_tp_stats.c) moving with all that.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

#include "../../../../services/filtermail/fm_lmtpd.h"
#include "log.h"
#include "test_tp_fakes.h"

static const struct fk_rr rrs[] = {
	{ "_a.test", 15, 0, 10, "mx._a.test" },
	{ "mx._a.test", 1, 0, 0, "127.0.0.1" },
	/* two MX hosts: the preferred one refuses (nothing on 127.0.0.2) */
	{ "_two.test", 15, 0, 20, "good._two.test" },
	{ "_two.test", 15, 0, 5, "dead._two.test" },
	{ "good._two.test", 1, 0, 0, "127.0.0.1" },
	{ "dead._two.test", 1, 0, 0, "127.0.0.2" },
	/* no MX: the domain itself */
	{ "_implicit.test", 1, 0, 0, "127.0.0.1" },
	{ "null.test", 15, 0, 0, "" },
	{ "servfail.test", 15, 2, 0, "" },
	{ "_dead.test", 1, 0, 0, "127.0.0.2" },
	/* verified: the fake's self-signed certificate fails */
	{ "verify.test", 1, 0, 0, "127.0.0.1" },
	{ "_b.test", 1, 0, 0, "127.0.0.1" },
	/* a DNS outage: the server never answers */
	{ "_mute.test", 15, -1, 0, "" },
};

static struct evloop *loop;
static struct dns *dns;
static struct fm_tp *tp;
static struct fm_lmtpd *srv;
static uint64_t clock_skew;

/* now_ms: the real monotonic clock plus what the test skipped */
static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000 +
	       clock_skew;
}

/* the peer CA file of start_peer */
static char peer_path[64];

/* write_peer_ca: the fakes' certificate into a new temporary file */
static void
write_peer_ca(char *path, size_t pathsize)
{
	int fd;

	(void)snprintf(path, pathsize, "/tmp/test_transport_ca.XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int(write(fd, fk.cert_pem, strlen(fk.cert_pem)),
		   (long)strlen(fk.cert_pem));
	assert_int(close(fd), 0);
}

/* start_peer: the fakes, then the transport with the fakes' ports;
 * peer_ca: write the fakes' certificate to a file the transport trusts
 * as FILTERMAIL_PEER_CA_FILE (tls.peerCABundle) */
static void
start_peer(size_t queue_size, int peer_ca)
{
	struct buf err = BUF_INIT(512);
	struct fm_tp_opts o;
	struct fm_lmtpd_opts lo;
	char server[64];

	fk_start(rrs, sizeof(rrs) / sizeof(rrs[0]));
	clock_skew = 0;
	loop = evloop_new();
	evloop_set_clock(loop, now_ms);
	(void)snprintf(server, sizeof(server), "127.0.0.1:%u", fk.dns_port);
	dns = dns_new(loop, server, NULL, &err);
	assert_non_null(dns);
	fm_tp_opts_default(&o);
	(void)snprintf(o.helo, sizeof(o.helo), "relay.test");
	o.ipv6 = 0;
	o.smtp_port = fk.smtp_port;
	o.https_port = fk.https_port;
	o.timeout_ms = 5000;
	o.queue_size = queue_size;
	if (peer_ca) {
		write_peer_ca(peer_path, sizeof(peer_path));
		(void)snprintf(o.peer_ca_file, sizeof(o.peer_ca_file), "%s",
			       peer_path);
	}
	tp = fm_tp_new(loop, dns, &o, &err);
	assert_non_null(tp);
	fm_lmtpd_opts_default(&lo);
	lo.max_size = 1 << 20;
	srv = fm_lmtpd_new(loop, tp, &lo,
			   net_listen_tcp("127.0.0.1", 0, 8, &err));
	assert_non_null(srv);
	buf_deinit(&err);
}

/* start: the transport trusting the system's store only */
static void
start(size_t queue_size)
{
	start_peer(queue_size, 0);
}

static void
stop(void)
{
	fm_lmtpd_free(&srv);
	fm_tp_free(&tp);
	dns_free(&dns);
	evloop_free(&loop);
	fk_stop();
}

/* an LMTP client on a socketpair */
struct lmtp {
	int fd;
	char in[16384];
	size_t len;
};

static void
lmtp_open(struct lmtp *l)
{
	int sv[2];

	memset(l, 0, sizeof(*l));
	assert_int(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
	assert_int(fcntl(sv[1], F_SETFL, O_NONBLOCK), 0);
	fm_lmtpd_adopt(srv, sv[0]);
	l->fd = sv[1];
}

/* lines: complete lines in l->in */
static size_t
lines(const struct lmtp *l)
{
	size_t i, n = 0;

	for (i = 0; i < l->len; i++)
		n += l->in[i] == '\n';
	return n;
}

/* lmtp_pump: what l has been sent so far, without waiting */
static void
lmtp_pump(struct lmtp *l)
{
	ssize_t n = recv(l->fd, l->in + l->len, sizeof(l->in) - 1 - l->len, 0);

	if (n > 0)
		l->len += (size_t)n;
	l->in[l->len] = '\0';
}

/* lmtp_until: run the loop until l has want lines (15 s at most) */
static void
lmtp_until(struct lmtp *l, size_t want)
{
	ssize_t n;
	int i;

	for (i = 0; i < 1500 && lines(l) < want; i++) {
		(void)evloop_run_once(loop, 10);
		n = recv(l->fd, l->in + l->len, sizeof(l->in) - 1 - l->len, 0);
		if (n > 0)
			l->len += (size_t)n;
		l->in[l->len] = '\0';
	}
	if (lines(l) < want)
		fail_msg("got %zu lines, want %zu:\n%s", lines(l), want, l->in);
}

/* lmtp_say: send text, then wait for the total line count want */
static void
lmtp_say(struct lmtp *l, const char *text, size_t want)
{
	assert_int(send(l->fd, text, strlen(text), 0), (long)strlen(text));
	lmtp_until(l, want);
}

/* line: the i-th line (0-based) of what l got */
static const char *
line(const struct lmtp *l, size_t i, char *out, size_t outsize)
{
	const char *p = l->in, *lf;

	while (i-- > 0 && (lf = strchr(p, '\n')) != NULL)
		p = lf + 1;
	(void)snprintf(out, outsize, "%.*s", (int)strcspn(p, "\r\n"), p);
	return out;
}

#define MSG "From: <s@relay.test>\r\nSubject: [...]\r\n\r\n.hi\r\n"
#define MSG_WIRE "From: <s@relay.test>\r\nSubject: [...]\r\n\r\n..hi\r\n.\r\n"

/* deliver: one transaction (greeting and LHLO first when fresh) with
 * the recipients (space separated); the replies to the final dot into
 * res[] (n of them) */
static void
deliver(struct lmtp *l, const char *rcpts, char res[][FM_TP_TEXT_MAX], size_t n)
{
	char cmd[2048], one[FM_TP_HOST_MAX];
	const char *p = rcpts;
	size_t base, i, k = 0;

	if (l->len == 0)
		lmtp_say(l, "LHLO postfix\r\n", 5);
	base = lines(l);
	k = (size_t)snprintf(cmd, sizeof(cmd), "MAIL FROM:<s@relay.test>\r\n");
	while (*p != '\0') {
		i = strcspn(p, " ");
		(void)snprintf(one, sizeof(one), "%.*s", (int)i, p);
		k += (size_t)snprintf(cmd + k, sizeof(cmd) - k,
				      "RCPT TO:<%s>\r\n", one);
		p += i + (p[i] == ' ');
	}
	(void)snprintf(cmd + k, sizeof(cmd) - k, "DATA\r\n");
	lmtp_say(l, cmd, base + 2 + n);
	assert_str(line(l, base + 1 + n, one, sizeof(one)),
		   "354 End data with <CR><LF>.<CR><LF>");
	lmtp_say(l, MSG_WIRE, base + 2 + 2 * n);
	for (i = 0; i < n; i++)
		(void)line(l, base + 2 + n + i, res[i], FM_TP_TEXT_MAX);
}

/* test_https: HTTPS first, upstream's request, one reply per recipient */
static void
test_https(void **state)
{
	char res[2][FM_TP_TEXT_MAX];
	struct lmtp l;
	const char *body;

	(void)state;
	start(30);
	lmtp_open(&l);
	deliver(&l, "x@_a.test Y@_A.TEST", res, 2);
	assert_str(res[0], "250 OK (HTTPS)");
	assert_str(res[1], "250 OK (HTTPS)");
	assert_int(fk.https_reqs, 1);
	assert_int(fk.smtp_msgs, 0);
	fk.req[fk.req_len] = '\0';
	assert_non_null(strstr(fk.req, "POST /mxdeliv HTTP/1.1\r\n"));
	assert_non_null(strstr(fk.req, "\r\nHost: mx._a.test:"));
	assert_non_null(strstr(fk.req, "\r\nX-MAIL-FROM: s@relay.test\r\n"
				       "X-MAIL-TO: x@_a.test\r\n"
				       "X-MAIL-TO: Y@_A.TEST\r\n"));
	assert_null(strcasestr(fk.req, "\ncontent-type:"));
	assert_null(strcasestr(fk.req, "\nexpect:"));
	body = strstr(fk.req, "\r\n\r\n") + 4;
	assert_str(body, MSG); /* unstuffed, byte for byte */
	close(l.fd);
	stop();
}

/* test_smtp: HTTPS refused (404) -> SMTP with STARTTLS, pipelined, a
 * refused recipient answered alone, in RCPT order */
static void
test_smtp(void **state)
{
	char res[3][FM_TP_TEXT_MAX];
	struct lmtp l;

	(void)state;
	start(30);
	fk.status = 404;
	(void)snprintf(fk.body, sizeof(fk.body), "not here");
	lmtp_open(&l);
	deliver(&l, "a@_a.test refuse@_a.test c@_a.test", res, 3);
	assert_str(res[0], "250 OK (SMTP)");
	assert_str(res[1],
		   "550 5.1.1 no such user (forwarded from mx._a.test)");
	assert_str(res[2], "250 OK (SMTP)");
	assert_int(fk.https_reqs, 1);
	assert_int(fk.smtp_msgs, 1);
	assert_int(fk.smtp_tls, 1);
	assert_non_null(strstr(fk.smtp_log,
			       "EHLO relay.test\nSTARTTLS\nEHLO relay.test\n"
			       "MAIL FROM:<s@relay.test> BODY=8BITMIME\n"
			       "RCPT TO:<a@_a.test>\nRCPT TO:<refuse@_a.test>\n"
			       "RCPT TO:<c@_a.test>\nDATA\n"));
	assert_str(fk.msg, MSG);
	close(l.fd);
	stop();
}

/* test_prefer: after an SMTP success HTTPS is skipped for 30 minutes
 * (injected clock); the kept connection is reused with RSET */
static void
test_prefer(void **state)
{
	char res[1][FM_TP_TEXT_MAX];
	struct lmtp l;

	(void)state;
	start(30);
	fk.status = 500;
	lmtp_open(&l);
	deliver(&l, "a@_a.test", res, 1);
	assert_str(res[0], "250 OK (SMTP)");
	fk.status = 200;
	deliver(&l, "a@_a.test", res, 1);
	assert_str(res[0], "250 OK (SMTP)");
	assert_int(fk.https_reqs, 1); /* skipped the second time */
	assert_non_null(strstr(fk.smtp_log, "DATA\nRSET\nMAIL FROM:"));
	assert_int(fk.smtp_tls, 1); /* one connection, reused */
	/* 29 minutes later still SMTP, and that success counts anew */
	clock_skew += 29 * 60000;
	deliver(&l, "a@_a.test", res, 1);
	assert_str(res[0], "250 OK (SMTP)");
	assert_int(fk.https_reqs, 1);
	clock_skew += 30 * 60000 + 1000;
	deliver(&l, "a@_a.test", res, 1);
	assert_str(res[0], "250 OK (HTTPS)");
	assert_int(fk.https_reqs, 2);
	close(l.fd);
	stop();
}

/* test_mx: preference order, failover past a refusing host, implicit
 * MX, an address literal */
static void
test_mx(void **state)
{
	char res[3][FM_TP_TEXT_MAX];
	struct lmtp l;

	(void)state;
	start(30);
	lmtp_open(&l);
	deliver(&l, "a@_two.test b@_implicit.test c@[127.0.0.1]", res, 3);
	assert_str(res[0], "250 OK (HTTPS)");
	assert_str(res[1], "250 OK (HTTPS)");
	assert_str(res[2], "250 OK (HTTPS)");
	assert_int(fk.https_reqs, 3);
	close(l.fd);
	stop();
}

/* submit: one transaction to rcpt up to the message's final dot,
 * without waiting for its reply (8 lines before it on a fresh client) */
static void
submit(struct lmtp *l, const char *rcpt)
{
	char cmd[512];

	lmtp_say(l, "LHLO postfix\r\n", 5);
	(void)snprintf(cmd, sizeof(cmd),
		       "MAIL FROM:<s@relay.test>\r\nRCPT TO:<%s>\r\nDATA\r\n",
		       rcpt);
	lmtp_say(l, cmd, 8);
	assert_int(send(l->fd, MSG_WIRE, strlen(MSG_WIRE), 0),
		   (long)strlen(MSG_WIRE));
}

/* test_drain: a delivery waiting on DNS, one queued behind it and one
 * submitted after fm_tp_drain end with 421 at once and nothing is sent;
 * before the drain they wait */
static void
test_drain(void **state)
{
	char got[FM_TP_TEXT_MAX];
	struct lmtp a, b, c;
	int i;

	(void)state;
	start(30);
	lmtp_open(&a);
	lmtp_open(&b);
	submit(&a, "x@_mute.test");
	submit(&b, "y@_mute.test");
	for (i = 0; i < 30; i++) {
		(void)evloop_run_once(loop, 10);
		lmtp_pump(&a);
		lmtp_pump(&b);
	}
	assert_int(lines(&a), 8);
	assert_int(lines(&b), 8);
	assert_int(fm_tp_queued(tp), 1);
	fm_tp_drain(tp);
	lmtp_until(&a, 9);
	lmtp_until(&b, 9);
	assert_str(line(&a, 8, got, sizeof(got)), FM_TP_DRAINING);
	assert_str(line(&b, 8, got, sizeof(got)), FM_TP_DRAINING);
	lmtp_open(&c);
	submit(&c, "z@_a.test");
	lmtp_until(&c, 9);
	assert_str(line(&c, 8, got, sizeof(got)), FM_TP_DRAINING);
	assert_int(fk.https_reqs, 0);
	assert_int(fk.smtp_msgs, 0);
	close(a.fd);
	close(b.fd);
	close(c.fd);
	stop();
}

/* test_dns: upstream's answers for a null MX, NXDOMAIN, SERVFAIL */
static void
test_dns(void **state)
{
	char res[3][FM_TP_TEXT_MAX];
	struct lmtp l;

	(void)state;
	start(30);
	lmtp_open(&l);
	deliver(&l, "a@null.test b@nx.test c@servfail.test", res, 3);
	assert_str(
		res[0],
		"556 5.1.10 Permanent failure: Recipient address has null MX");
	assert_str(res[1], "512 Domain nx.test does not exist");
	assert_str(res[2], "421 DNS resolution failed for servfail.test");
	close(l.fd);
	stop();
}

/* test_failures: every MX failing, STARTTLS missing, a certificate that
 * does not verify: 421 with the last reason and HTTPS's */
static void
test_failures(void **state)
{
	char res[2][FM_TP_TEXT_MAX];
	struct lmtp l;

	(void)state;
	start(30);
	lmtp_open(&l);
	deliver(&l, "a@_dead.test b@verify.test", res, 2);
	assert_non_null(strstr(res[0], "421 Failed to connect to any mail "
				       "server; last attempt to _dead.test: "
				       "connect to 127.0.0.2:"));
	assert_non_null(strstr(res[0], "(before that HTTPS: "));
	assert_non_null(strstr(res[1], "421 Failed to connect to any mail "
				       "server; last attempt to verify.test: "
				       "TLS: certificate of verify.test: "));
	assert_int(fk.https_reqs, 0);
	fk.starttls = 0;
	fk.status = 503;
	deliver(&l, "a@_a.test", res, 1);
	assert_str(res[0], "421 Failed to connect to any mail server; last "
			   "attempt to mx._a.test: the server does not offer "
			   "STARTTLS (before that HTTPS: HTTP 503)");
	assert_int(fk.smtp_msgs, 0);
	close(l.fd);
	stop();
}

/* test_peer_ca: with the fake's certificate as the peer CA file,
 * verify.test is verified over HTTPS, then (HTTPS refused) over SMTP
 * with STARTTLS; an unreadable peer CA file stops the transport */
static void
test_peer_ca(void **state)
{
	char res[1][FM_TP_TEXT_MAX];
	struct lmtp l;
	struct buf err = BUF_INIT(512);
	struct fm_tp_opts o;
	(void)state;
	start_peer(30, 1);
	lmtp_open(&l);
	deliver(&l, "b@verify.test", res, 1);
	assert_str(res[0], "250 OK (HTTPS)");
	assert_int(fk.https_reqs, 1);
	/* again: curl's cached store already holds the peer CA */
	deliver(&l, "d@verify.test", res, 1);
	assert_str(res[0], "250 OK (HTTPS)");
	assert_int(fk.https_reqs, 2);
	fk.status = 404;
	deliver(&l, "c@verify.test", res, 1);
	assert_str(res[0], "250 OK (SMTP)");
	assert_int(fk.smtp_tls, 1);
	assert_int(fk.smtp_msgs, 1);
	close(l.fd);
	assert_int(unlink(peer_path), 0);
	/* the file gone: a clear error at start */
	fm_tp_opts_default(&o);
	(void)snprintf(o.peer_ca_file, sizeof(o.peer_ca_file),
		       "/nonexistent/peer-ca.pem");
	assert_null(fm_tp_new(loop, dns, &o, &err));
	assert_str(buf_cstr(&err),
		   "cannot load the peer CA file /nonexistent/peer-ca.pem");
	buf_deinit(&err);
	stop();
}

/* test_remote: the remote's 4xx and 5xx: over HTTPS (400 with an SMTP
 * reply), over SMTP (the final dot) */
static void
test_remote(void **state)
{
	char res[1][FM_TP_TEXT_MAX];
	struct lmtp l;

	(void)state;
	start(30);
	lmtp_open(&l);
	fk.status = 400;
	(void)snprintf(fk.body, sizeof(fk.body),
		       "523 Encryption Needed: Invalid Unencrypted Mail");
	deliver(&l, "a@_a.test", res, 1);
	assert_str(res[0], "523 Encryption Needed: Invalid Unencrypted Mail "
			   "(forwarded from mx._a.test)");
	(void)snprintf(fk.body, sizeof(fk.body), "451 4.3.0 try later");
	deliver(&l, "a@_a.test", res, 1);
	assert_str(res[0], "451 4.3.0 try later (forwarded from mx._a.test)");
	assert_int(fk.smtp_msgs, 0);
	fk.status = 404;
	(void)snprintf(fk.dot_reply, sizeof(fk.dot_reply),
		       "554 5.7.1 rejected");
	deliver(&l, "a@_a.test", res, 1);
	assert_str(res[0], "554 5.7.1 rejected (forwarded from mx._a.test)");
	(void)snprintf(fk.dot_reply, sizeof(fk.dot_reply), "452 4.2.2 full");
	deliver(&l, "a@_a.test", res, 1);
	assert_str(res[0], "452 4.2.2 full (forwarded from mx._a.test)");
	close(l.fd);
	stop();
}

/* test_busy: a destination whose queue is full: 421 Transport busy at
 * DATA when it is the only one, for its recipients when others can
 * take the message */
static void
test_busy(void **state)
{
	char res[2][FM_TP_TEXT_MAX], got[FM_TP_TEXT_MAX];
	struct lmtp a, b;
	size_t base;

	(void)state;
	start(1);
	lmtp_open(&a);
	lmtp_open(&b);
	lmtp_say(&a,
		 "LHLO p\r\nMAIL FROM:<s@relay.test>\r\n"
		 "RCPT TO:<x@_a.test>\r\n",
		 7);
	lmtp_say(&b,
		 "LHLO p\r\nMAIL FROM:<s@relay.test>\r\n"
		 "RCPT TO:<x@_a.test>\r\nDATA\r\n",
		 8);
	assert_str(line(&b, 7, got, sizeof(got)), "421 Transport busy");
	base = lines(&b);
	lmtp_say(&b, "RSET\r\n", base + 1);
	deliver(&b, "y@_a.test z@_b.test", res, 2);
	assert_str(res[0], "421 Transport busy");
	assert_str(res[1], "250 OK (HTTPS)");
	/* a's slot is given back by RSET: the queue takes mail again */
	lmtp_say(&a, "RSET\r\n", 8);
	deliver(&b, "y@_a.test", res, 1);
	assert_str(res[0], "250 OK (HTTPS)");
	close(a.fd);
	close(b.fd);
	stop();
}

/* metric: the value of the sample line that starts with name in text,
 * or -1 when there is none */
static double
metric(const char *text, const char *name)
{
	size_t n = strlen(name);
	const char *p = text;

	while ((p = strstr(p, name)) != NULL) {
		if ((p == text || p[-1] == '\n') && p[n] == ' ')
			return strtod(p + n + 1, NULL);
		p += n;
	}
	return -1;
}

/* scrape: the transport's metrics text now, as --metrics serves it */
static void
scrape(struct buf *out)
{
	struct fm_tp_stats_view v = { tp, srv };

	buf_reset(out);
	assert_int(fm_tp_stats_render(&v, out), 0);
}

#define TPM "chatmail_filtermail_transport_"

/* test_metrics: the counters move with what Postfix is answered: HTTPS
 * and SMTP deliveries, a dead MX host passed over, a deferral and a
 * rejection per recipient; the LMTP connection and the delivery
 * latency; no recipient or domain in any label */
static void
test_metrics(void **state)
{
	char res[3][FM_TP_TEXT_MAX];
	struct buf m = BUF_INIT(4096);
	struct lmtp l;

	(void)state;
	start(30);
	scrape(&m);
	assert_true(metric(buf_cstr(&m), "chatmail_filtermail_connections_total"
					 "{listener=\"lmtp\"}") == 0);
	assert_true(metric(buf_cstr(&m), TPM "recipients_total"
					     "{result=\"delivered\"}") == 0);
	assert_true(metric(buf_cstr(&m),
			   TPM "delivery_duration_seconds_count") == 0);
	lmtp_open(&l);
	/* HTTPS for _two.test past its dead preferred host; null MX 5xx;
	 * SERVFAIL 4xx */
	deliver(&l, "a@_two.test b@null.test c@servfail.test", res, 3);
	assert_str(res[0], "250 OK (HTTPS)");
	fk.status = 404;
	deliver(&l, "d@_a.test", res, 1);
	assert_str(res[0], "250 OK (SMTP)");
	scrape(&m);
	assert_true(metric(buf_cstr(&m), "chatmail_filtermail_connections_total"
					 "{listener=\"lmtp\"}") == 1);
	assert_true(metric(buf_cstr(&m), "chatmail_filtermail_connections"
					 "{listener=\"lmtp\"}") == 1);
	assert_true(metric(buf_cstr(&m), TPM "recipients_total"
					     "{result=\"delivered\"}") == 2);
	assert_true(metric(buf_cstr(&m), TPM "recipients_total"
					     "{result=\"deferred\"}") == 1);
	assert_true(metric(buf_cstr(&m), TPM "recipients_total"
					     "{result=\"rejected\"}") == 1);
	assert_true(metric(buf_cstr(&m), TPM "messages_sent_total"
					     "{channel=\"https\"}") == 1);
	assert_true(metric(buf_cstr(&m), TPM "messages_sent_total"
					     "{channel=\"smtp\"}") == 1);
	assert_true(metric(buf_cstr(&m), TPM "mx_failures_total") == 1);
	/* one delivery per destination: _two, null, servfail, _a */
	assert_true(metric(buf_cstr(&m),
			   TPM "delivery_duration_seconds_count") == 4);
	assert_true(metric(buf_cstr(&m), TPM "running") == 0);
	assert_true(metric(buf_cstr(&m), TPM "queued") == 0);
	assert_true(metric(buf_cstr(&m), TPM "waiting_sessions") == 0);
	assert_true(metric(buf_cstr(&m), TPM "destinations") >= 1);
	assert_null(strstr(buf_cstr(&m), "_two.test"));
	assert_null(strstr(buf_cstr(&m), "@"));
	close(l.fd);
	buf_deinit(&m);
	stop();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_https),	cmocka_unit_test(test_smtp),
		cmocka_unit_test(test_prefer),	cmocka_unit_test(test_mx),
		cmocka_unit_test(test_dns),	cmocka_unit_test(test_failures),
		cmocka_unit_test(test_remote),	cmocka_unit_test(test_busy),
		cmocka_unit_test(test_metrics), cmocka_unit_test(test_peer_ca),
		cmocka_unit_test(test_drain),
	};

	log_init("test_transport", 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
