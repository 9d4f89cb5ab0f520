/*
 * test_smtpd_sink.h: a scripted fake Postfix reinject server for the
 * filtermail unit tests, on the test's event loop. It records every
 * command line it gets and the message (unstuffed by its own simple
 * line rule, independent of filtermail's code), and answers as told:
 * with or without PIPELINING, a refused RCPT, a refused final dot, a
 * greeting that never comes. Included by one test file each (statics).
 */
#ifndef TEST_SMTPD_SINK_H
#define TEST_SMTPD_SINK_H

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "evloop.h"
#include "net.h"

struct sink {
	struct evloop *loop;
	int lfd, fd, port;
	int pipelining;	      /* offer PIPELINING */
	int silent;	      /* never greet */
	char rcpt_reply[128]; /* "" = 250 */
	char dot_reply[128];  /* "" = 250 2.0.0 Ok: queued */
	int in_data;
	int messages;	 /* messages accepted */
	struct buf line; /* partial input line */
	struct buf cmds; /* every command line, "\n"-separated */
	struct buf msg;	 /* the last message, unstuffed */
};

/* sink_send: best effort reply */
static void
sink_send(struct sink *k, const char *s)
{
	(void)send(k->fd, s, strlen(s), MSG_NOSIGNAL);
}

/* sink_line: one complete line (CRLF included) from filtermail */
static void
sink_line(struct sink *k, const char *l, size_t n)
{
	char reply[160];

	if (k->in_data) {
		if (n == 3 && memcmp(l, ".\r\n", 3) == 0) {
			k->in_data = 0;
			if (k->dot_reply[0] != '\0') {
				buf_reset(&k->msg); /* refused: not kept */
				(void)snprintf(reply, sizeof(reply), "%s\r\n",
					       k->dot_reply);
				sink_send(k, reply);
			} else {
				k->messages++;
				sink_send(k, "250 2.0.0 Ok: queued as X\r\n");
			}
			return;
		}
		if (l[0] == '.') {
			l++;
			n--;
		}
		(void)buf_append(&k->msg, l, n);
		return;
	}
	(void)buf_append(&k->cmds, l, n - 2);
	(void)buf_puts(&k->cmds, "\n");
	if (strncmp(l, "EHLO", 4) == 0) {
		sink_send(k, k->pipelining
				     ? "250-sink\r\n250-PIPELINING\r\n"
				       "250-XFORWARD NAME ADDR\r\n"
				       "250 8BITMIME\r\n"
				     : "250-sink\r\n250 XFORWARD ADDR\r\n");
	} else if (strncmp(l, "RCPT", 4) == 0 && k->rcpt_reply[0] != '\0') {
		(void)snprintf(reply, sizeof(reply), "%s\r\n", k->rcpt_reply);
		sink_send(k, reply);
	} else if (strncmp(l, "DATA", 4) == 0) {
		buf_reset(&k->msg);
		k->in_data = 1;
		sink_send(k, "354 go ahead\r\n");
	} else if (strncmp(l, "QUIT", 4) == 0) {
		sink_send(k, "221 bye\r\n");
	} else {
		sink_send(k, "250 2.0.0 Ok\r\n");
	}
}

/* sink_io: input on the sink's connection */
static void
sink_io(struct evloop *loop, int fd, unsigned events, void *arg)
{
	struct sink *k = arg;
	char b[8192];
	const char *p, *lf;
	ssize_t n;
	size_t i;

	(void)events;
	n = recv(fd, b, sizeof(b), 0);
	if (n <= 0) {
		if (n < 0 && errno == EAGAIN)
			return;
		evloop_io_del(loop, fd);
		close(fd);
		k->fd = -1;
		buf_reset(&k->line);
		k->in_data = 0;
		return;
	}
	for (i = 0; i < (size_t)n; i++) {
		(void)buf_putc(&k->line, b[i]);
		if (b[i] != '\n')
			continue;
		p = k->line.data;
		lf = p + k->line.len;
		sink_line(k, p, (size_t)(lf - p));
		buf_reset(&k->line);
	}
}

/* sink_accept: one connection at a time is all filtermail needs here */
static void
sink_accept(struct evloop *loop, int lfd, unsigned events, void *arg)
{
	struct sink *k = arg;
	int fd = net_accept(lfd);

	(void)events;
	if (fd < 0)
		return;
	if (k->fd >= 0) {
		evloop_io_del(loop, k->fd);
		close(k->fd);
	}
	k->fd = fd;
	if (!k->silent)
		sink_send(k, "220 sink ESMTP\r\n");
	(void)evloop_io_add(loop, fd, EV_READ, sink_io, k);
}

/* sink_start: listen on a free loopback port */
static void
sink_start(struct sink *k, struct evloop *loop)
{
	struct buf err = BUF_INIT(256);

	memset(k, 0, sizeof(*k));
	k->loop = loop;
	k->fd = -1;
	k->pipelining = 1;
	buf_init(&k->line, 1 << 20);
	buf_init(&k->cmds, 1 << 20);
	buf_init(&k->msg, 1 << 24);
	k->lfd = net_listen_tcp("127.0.0.1", 0, 16, &err);
	if (k->lfd < 0)
		abort();
	k->port = net_local_port(k->lfd);
	(void)evloop_io_add(loop, k->lfd, EV_READ, sink_accept, k);
	buf_deinit(&err);
}

/* sink_stop: close everything */
static void
sink_stop(struct sink *k)
{
	if (k->fd >= 0) {
		evloop_io_del(k->loop, k->fd);
		close(k->fd);
	}
	if (k->lfd >= 0) {
		evloop_io_del(k->loop, k->lfd);
		close(k->lfd);
	}
	buf_deinit(&k->line);
	buf_deinit(&k->cmds);
	buf_deinit(&k->msg);
}

#endif
