/*
 * smtpbench: the SMTP load generator of the filtermail benchmark
 * (tests/bench/bench_filtermail.sh). Postfix's smtp-source sends only
 * generated text; this sends a given message file, the way Postfix's
 * smtpd_proxy_filter talks to a before-queue filter: one connection per
 * message, EHLO, MAIL, RCPT, DATA, the message, QUIT, no pipelining.
 *
 *   smtpbench -p PORT [-H HOST] [-c PARALLEL] [-n MESSAGES] -f FILE
 *             [-F FROM] [-T TO]
 *       send MESSAGES copies of FILE over PARALLEL concurrent sessions;
 *       prints "messages=… errors=… seconds=… rate=…/s p50=…ms p99=…ms"
 *   smtpbench -p PORT [-H HOST] -i SESSIONS -w SECONDS [-F FROM] [-T TO]
 *             [-f FILE]
 *       open SESSIONS sessions, take each to just before DATA (EHLO,
 *       MAIL, RCPT) or, with -f, through all of FILE but the final dot,
 *       hold them SECONDS (printing "held=N" once all are there),
 *       print "open=…", close
 *
 * Untrusted input: the server's replies (bounded per reply). A test
 * tool: it only connects where it is told (loopback in the benchmark).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "evloop.h"
#include "net.h"
#include "num.h"
#include "xmalloc.h"

enum step {
	ST_CONNECT,
	ST_GREET,
	ST_EHLO,
	ST_MAIL,
	ST_RCPT,
	ST_DATA,
	ST_DOT,
	ST_HOLD
};

struct bench;

struct conn {
	struct bench *b;
	int fd;
	enum step step;
	struct buf in, out;
	size_t sent; /* bytes of out already written */
	uint64_t start_ns;
};

struct bench {
	struct evloop *loop;
	struct net_addr addr;
	const char *from, *to;
	char *msg; /* the message, dot-stuffed, ending in ".\r\n" */
	size_t msglen;
	unsigned long total, started, done, errors, open;
	unsigned parallel;
	int hold; /* -i mode */
	double *lat_ms;
};

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void conn_start(struct bench *b);

/* conn_end: close; in send mode start the next message */
static void
conn_end(struct conn *c, int ok)
{
	struct bench *b = c->b;

	if (ok && c->step == ST_DOT)
		b->lat_ms[b->done++] = (double)(now_ns() - c->start_ns) / 1e6;
	else if (!ok)
		b->errors++;
	evloop_io_del(b->loop, c->fd);
	close(c->fd);
	buf_deinit(&c->in);
	buf_deinit(&c->out);
	free(c);
	if (b->done + b->errors >= b->total)
		evloop_stop(b->loop);
	else if (b->started < b->total)
		conn_start(b);
}

/* queue: a command or the message to send */
static void
queue(struct conn *c, const char *p, size_t n)
{
	buf_reset(&c->out);
	c->sent = 0;
	if (buf_append(&c->out, p, n) < 0)
		abort();
}

/* flush: write what is queued; -1 on error */
static int
flush(struct conn *c)
{
	ssize_t n;

	while (c->sent < c->out.len) {
		n = send(c->fd, c->out.data + c->sent, c->out.len - c->sent,
			 MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0)
			return -1;
		c->sent += (size_t)n;
	}
	(void)evloop_io_mod(c->b->loop, c->fd,
			    EV_READ | (c->sent < c->out.len ? EV_WRITE : 0));
	return 0;
}

/* held: a session reached the point where -i holds it */
static int
held(struct conn *c, int ok)
{
	struct bench *b = c->b;

	c->step = ST_HOLD;
	if (!ok)
		return -1;
	if (++b->open == b->total) {
		(void)printf("held=%lu\n", b->open);
		(void)fflush(stdout);
	}
	return 0;
}

/* next: act on a complete reply with code; 0 go on, -1 failed, 1 done */
static int
next(struct conn *c, int code)
{
	struct bench *b = c->b;
	char cmd[512];
	int n = 0;

	switch (c->step) {
	case ST_GREET:
		if (code != 220)
			return -1;
		n = snprintf(cmd, sizeof(cmd), "EHLO smtpbench\r\n");
		break;
	case ST_EHLO:
		n = snprintf(cmd, sizeof(cmd), "MAIL FROM:<%s>\r\n", b->from);
		break;
	case ST_MAIL:
		n = snprintf(cmd, sizeof(cmd), "RCPT TO:<%s>\r\n", b->to);
		break;
	case ST_RCPT:
		if (b->hold && b->msg == NULL)
			return held(c, code == 250);
		n = snprintf(cmd, sizeof(cmd), "DATA\r\n");
		break;
	case ST_DATA:
		if (code != 354)
			return -1;
		if (b->hold) {
			/* all of the message but its final dot */
			queue(c, b->msg, b->msglen - 3);
			return held(c, 1);
		}
		c->step = ST_DOT;
		queue(c, b->msg, b->msglen);
		return 0;
	case ST_DOT:
		if (code != 250)
			return -1;
		(void)send(c->fd, "QUIT\r\n", 6, MSG_NOSIGNAL | MSG_DONTWAIT);
		return 1;
	default:
		return -1;
	}
	if (code / 100 != 2)
		return -1;
	c->step++;
	queue(c, cmd, (size_t)n);
	return 0;
}

/* on_io: replies and writability of one connection */
static void
on_io(struct evloop *loop, int fd, unsigned events, void *arg)
{
	struct conn *c = arg;
	char *p, *lf, *line;
	ssize_t n;
	int r;

	(void)loop;
	if (c->step == ST_CONNECT) {
		if (net_connect_finish(fd) < 0) {
			conn_end(c, 0);
			return;
		}
		c->step = ST_GREET;
	}
	if (events & EV_READ) {
		p = buf_reserve(&c->in, 4096);
		n = p != NULL ? recv(fd, p, 4096, 0) : -1;
		if (n == 0 || (n < 0 && errno != EAGAIN)) {
			conn_end(c, 0);
			return;
		}
		if (n > 0)
			buf_commit(&c->in, (size_t)n);
		/* complete replies: the last line has a space after the code */
		while ((lf = memchr(c->in.data, '\n', c->in.len)) != NULL) {
			line = c->in.data;
			if (lf - line >= 4 && line[3] == '-') {
				buf_consume(&c->in, (size_t)(lf - line) + 1);
				continue;
			}
			r = next(c, (line[0] - '0') * 100 +
					    (line[1] - '0') * 10 +
					    (line[2] - '0'));
			buf_consume(&c->in, (size_t)(lf - line) + 1);
			if (r != 0) {
				conn_end(c, r > 0);
				return;
			}
		}
	}
	if (flush(c) < 0)
		conn_end(c, 0);
}

/* conn_start: connect for one more message (or one held session) */
static void
conn_start(struct bench *b)
{
	struct conn *c = xcalloc(1, sizeof(*c));
	int r;

	c->b = b;
	b->started++;
	buf_init(&c->in, 65536);
	buf_init(&c->out, b->msglen + 1024);
	c->start_ns = now_ns();
	r = net_connect(&b->addr, &c->fd);
	if (r < 0) {
		b->errors++;
		free(c);
		return;
	}
	(void)net_set_nodelay(c->fd);
	c->step = r == 0 ? ST_GREET : ST_CONNECT;
	(void)evloop_io_add(b->loop, c->fd, r == 0 ? EV_READ : EV_WRITE, on_io,
			    c);
}

/* load_message: the file, dot-stuffed with CRLF line ends, plus "." */
static int
load_message(struct bench *b, const char *path)
{
	struct buf m = BUF_INIT(64u << 20);
	FILE *f = fopen(path, "rb");
	int ch, bol = 1, prev = 0;

	if (f == NULL)
		return -1;
	while ((ch = getc(f)) != EOF) {
		if (bol && ch == '.')
			(void)buf_putc(&m, '.');
		if (ch == '\n' && prev != '\r')
			(void)buf_putc(&m, '\r');
		(void)buf_putc(&m, (char)ch);
		bol = ch == '\n';
		prev = ch;
	}
	(void)fclose(f);
	(void)buf_puts(&m, bol ? ".\r\n" : "\r\n.\r\n");
	b->msg = buf_steal(&m, &b->msglen);
	return 0;
}

/* cmp_double: qsort order */
static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* report: the figures of a send run */
static void
report(struct bench *b, double secs)
{
	double p50 = 0, p99 = 0;

	qsort(b->lat_ms, b->done, sizeof(double), cmp_double);
	if (b->done > 0) {
		p50 = b->lat_ms[b->done / 2];
		p99 = b->lat_ms[(b->done * 99) / 100 < b->done
					? (b->done * 99) / 100
					: b->done - 1];
	}
	(void)printf("messages=%lu errors=%lu seconds=%.2f rate=%.0f/s "
		     "p50=%.2fms p99=%.2fms\n",
		     b->done, b->errors, secs, secs > 0 ? b->done / secs : 0.0,
		     p50, p99);
}

/* on_hold_end: the hold time is over */
static void
on_hold_end(struct evloop *loop, void *arg)
{
	(void)arg;
	evloop_stop(loop);
}

struct opts {
	const char *host, *file;
	unsigned port, wait_s;
};

/* parse_opts: the command line into b and o; 0 or EX_USAGE */
static int
parse_opts(int argc, char **argv, struct bench *b, struct opts *o)
{
	unsigned v;
	int c;

	while ((c = getopt(argc, argv, "H:p:c:n:f:F:T:i:w:")) != -1) {
		v = 0;
		if (strchr("pcniw", c) != NULL &&
		    num_parse_uint(optarg, 1, 10000000, &v) < 0) {
			(void)fprintf(stderr, "bad number: %s\n", optarg);
			return EX_USAGE;
		}
		switch (c) {
		case 'H':
			o->host = optarg;
			break;
		case 'p':
			o->port = v;
			break;
		case 'c':
			b->parallel = v;
			break;
		case 'n':
			b->total = v;
			break;
		case 'f':
			o->file = optarg;
			break;
		case 'F':
			b->from = optarg;
			break;
		case 'T':
			b->to = optarg;
			break;
		case 'i':
			b->hold = 1;
			b->total = b->parallel = v;
			break;
		case 'w':
			o->wait_s = v;
			break;
		default:
			(void)fprintf(stderr,
				      "usage: see services/smtpbench/main.c\n");
			return EX_USAGE;
		}
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct bench b;
	struct buf err = BUF_INIT(256);
	struct evloop_timer t;
	struct opts o = { "127.0.0.1", NULL, 0, 10 };
	uint64_t start;
	unsigned i;

	memset(&b, 0, sizeof(b));
	b.parallel = 20;
	b.total = 1000;
	b.from = "bench@example.test";
	b.to = "rcpt@example.test";
	if (parse_opts(argc, argv, &b, &o) != 0)
		return EX_USAGE;
	if (o.port == 0 || (!b.hold && o.file == NULL) ||
	    net_resolve(o.host, o.port, &b.addr, &err) < 0) {
		(void)fprintf(stderr, "need -p PORT and -f FILE (or -i): %s\n",
			      buf_cstr(&err));
		return EX_USAGE;
	}
	if (o.file != NULL && load_message(&b, o.file) < 0) {
		(void)fprintf(stderr, "cannot read %s\n", o.file);
		return EX_NOINPUT;
	}
	b.loop = evloop_new();
	b.lat_ms = xcalloc(b.total, sizeof(double));
	start = now_ns();
	for (i = 0; i < b.parallel && b.started < b.total; i++)
		conn_start(&b);
	if (b.hold) {
		evloop_timer_init(&t, on_hold_end, NULL);
		evloop_timer_start(b.loop, &t, (uint64_t)o.wait_s * 1000);
		(void)evloop_run(b.loop);
		(void)printf("open=%lu errors=%lu\n", b.open, b.errors);
	} else {
		(void)evloop_run(b.loop);
		report(&b, (double)(now_ns() - start) / 1e9);
	}
	(void)fflush(stdout);
	free(b.lat_ms);
	free(b.msg);
	buf_deinit(&err);
	/* held connections close with the process */
	return b.errors > 0 ? 1 : 0;
}
