/*
 * test_net_server: connection admission over real loopback sockets:
 * admitted connections reach the callback, those over the cap get the
 * busy reply (and a warning), every listener is served, an accept that
 * fails for want of fds pauses all listeners for pause_ms and logs once,
 * and close stops accepting.
 */
#define _GNU_SOURCE /* pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#define TESTUTIL_IMPL
#include "testutil.h"

#include "buf.h"
#include "evloop.h"
#include "log.h"
#include "net.h"
#include "net_server.h"

#define MAXFDS 8

struct fixture {
	struct evloop *loop;
	struct net_server ns;
	size_t nconns;	 /* what the owner counts */
	int fds[MAXFDS]; /* admitted connections */
	int ports[2];	 /* of the listeners */
	int logfd[2];	 /* the log, through a pipe */
	char log[4096];
};

static uint64_t fake_now;

/* fake_clock: the test's clock */
static uint64_t
fake_clock(void)
{
	return fake_now;
}

/* admit: the owner's callback: keep the fd, count it */
static void
admit(void *arg, int fd)
{
	struct fixture *f = arg;

	assert_true(f->nconns < MAXFDS);
	f->fds[f->nconns++] = fd;
}

/* setup: a server on nlisten loopback listeners with a cap of max */
static void
setup(struct fixture *f, size_t nlisten, size_t max)
{
	struct net_server_opts o = {
		.max_conns = max,
		.busy = "BUSY\r\n",
		.full_msg = "test",
		.err_msg = "accept failed",
		.err_level = LOG_LVL_ERROR,
		.pause_ms = 500,
		.nodelay = 1,
	};
	struct buf err = BUF_INIT(256);
	size_t i;
	int lfd;

	memset(f, 0, sizeof(*f));
	assert_int(pipe2(f->logfd, O_NONBLOCK | O_CLOEXEC), 0);
	log_init("test_net_server", 0);
	(void)log_set_fd(f->logfd[1]);
	fake_now = 1000;
	f->loop = evloop_new();
	evloop_set_clock(f->loop, fake_clock);
	net_server_init(&f->ns, f->loop, &o, &f->nconns, admit, f);
	for (i = 0; i < nlisten; i++) {
		lfd = net_listen_tcp("127.0.0.1", 0, 16, &err);
		assert_true(lfd >= 0);
		f->ports[i] = net_local_port(lfd);
		assert_int(net_server_listen(&f->ns, lfd), 0);
	}
	buf_deinit(&err);
}

/* teardown: close everything, the log back to stderr */
static void
teardown(struct fixture *f)
{
	size_t i;

	net_server_close(&f->ns);
	for (i = 0; i < f->nconns; i++)
		(void)close(f->fds[i]);
	evloop_free(&f->loop);
	(void)log_set_fd(2);
	(void)close(f->logfd[0]);
	(void)close(f->logfd[1]);
}

/* read_log: what was logged so far, appended to f->log */
static const char *
read_log(struct fixture *f)
{
	size_t n = strlen(f->log);
	ssize_t r;

	r = read(f->logfd[0], f->log + n, sizeof(f->log) - n - 1);
	if (r > 0)
		f->log[n + (size_t)r] = '\0';
	return f->log;
}

/* connect_to: a client connection to port */
static int
connect_to(int port)
{
	struct buf err = BUF_INIT(256);
	struct net_addr a;
	int fd, r;

	assert_int(net_resolve("127.0.0.1", (unsigned)port, &a, &err), 0);
	r = net_connect(&a, &fd);
	assert_true(r == 0 || r == 1);
	buf_deinit(&err);
	return fd;
}

/* run: a few rounds of the loop */
static void
run(struct fixture *f, int rounds)
{
	int i;

	for (i = 0; i < rounds; i++)
		(void)evloop_run_once(f->loop, 5);
}

/* drain: what fd sent until EOF (bounded wait); 1 when EOF was seen */
static int
drain(int fd, char *out, size_t outsize)
{
	size_t len = strlen(out);
	ssize_t n;
	int i;

	for (i = 0; i < 200; i++) {
		n = recv(fd, out + len, outsize - len - 1, MSG_DONTWAIT);
		if (n == 0)
			return 1;
		if (n > 0) {
			len += (size_t)n;
			out[len] = '\0';
		} else if (errno != EAGAIN) {
			return 1; /* reset: closed too */
		} else {
			(void)usleep(5000);
		}
	}
	return 0;
}

/* test_cap: the first max connections are admitted, the next one gets
 * the busy reply and is closed, with one warning */
static void
test_cap(void **state)
{
	struct fixture f;
	char got[64] = "";
	int a, b, c;

	(void)state;
	setup(&f, 1, 2);
	a = connect_to(f.ports[0]);
	b = connect_to(f.ports[0]);
	run(&f, 10);
	assert_int(f.nconns, 2);
	c = connect_to(f.ports[0]);
	run(&f, 10);
	assert_int(f.nconns, 2);
	assert_int(drain(c, got, sizeof(got)), 1);
	assert_str(got, "BUSY\r\n");
	assert_non_null(
		strstr(read_log(&f), "test: 2 connections, refusing more"));
	/* one gone: the owner's count falls, the next is admitted */
	(void)close(f.fds[--f.nconns]);
	(void)close(c);
	c = connect_to(f.ports[0]);
	run(&f, 10);
	assert_int(f.nconns, 2);
	(void)close(a);
	(void)close(b);
	(void)close(c);
	teardown(&f);
}

/* test_listeners: every listener admits; after close none does */
static void
test_listeners(void **state)
{
	struct fixture f;
	char got[64] = "";
	int a, b, c;

	(void)state;
	setup(&f, 2, 10);
	a = connect_to(f.ports[0]);
	b = connect_to(f.ports[1]);
	run(&f, 10);
	assert_int(f.nconns, 2);
	net_server_close(&f.ns);
	assert_int(evloop_io_count(f.loop), 0);
	/* the port is closed: refused, or reset at once */
	c = connect_to(f.ports[1]);
	run(&f, 5);
	assert_int(f.nconns, 2);
	assert_int(drain(c, got, sizeof(got)), 1);
	assert_str(got, "");
	(void)close(a);
	(void)close(b);
	(void)close(c);
	teardown(&f);
}

/* lowest_free_fd: the fd the next open would get */
static int
lowest_free_fd(void)
{
	int fd = dup(0);

	assert_true(fd >= 0);
	(void)close(fd);
	return fd;
}

/* test_pause: out of fds, accepting stops for pause_ms on every
 * listener (logged once), then resumes and admits the waiting client */
static void
test_pause(void **state)
{
	struct fixture f;
	struct rlimit old, low;
	int a, b;

	(void)state;
	setup(&f, 2, 10);
	a = connect_to(f.ports[0]);
	b = connect_to(f.ports[1]);
	assert_int(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = (rlim_t)lowest_free_fd();
	assert_int(setrlimit(RLIMIT_NOFILE, &low), 0);
	run(&f, 5);
	assert_int(setrlimit(RLIMIT_NOFILE, &old), 0);
	assert_int(f.nconns, 0);
	assert_non_null(strstr(read_log(&f), "accept failed: Too many open"));
	assert_null(
		strstr(strstr(f.log, "accept failed") + 1, "accept failed"));
	assert_true(evloop_timer_active(&f.ns.pause));
	/* fds are back, but the pause holds until pause_ms passed */
	run(&f, 5);
	assert_int(f.nconns, 0);
	fake_now += 499;
	run(&f, 5);
	assert_int(f.nconns, 0);
	fake_now += 1;
	run(&f, 10);
	assert_int(f.nconns, 2);
	(void)close(a);
	(void)close(b);
	teardown(&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cap),
		cmocka_unit_test(test_listeners),
		cmocka_unit_test(test_pause),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
