/* test_evloop: timers with an injected clock, io dispatch, deletion
 * during dispatch, signals (and stopping on TERM/INT); net listen/connect
 * over the loop */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#define TESTUTIL_IMPL
#include "testutil.h"

#include "evloop.h"
#include "net.h"

static uint64_t fake_now;

static uint64_t
fake_clock(void)
{
	return fake_now;
}

static char order[64];
static size_t norder;

static void
mark(struct evloop *loop, void *arg)
{
	(void)loop;
	order[norder++] = *(const char *)arg;
	order[norder] = '\0';
}

static void
test_timer_order(void **state)
{
	struct evloop *loop = evloop_new();
	struct evloop_timer t[5];
	static char names[] = "abcde";
	static const uint64_t delays[] = { 50, 10, 30, 10, 70 };
	int i;

	(void)state;
	fake_now = 1000;
	norder = 0;
	evloop_set_clock(loop, fake_clock);
	for (i = 0; i < 5; i++) {
		evloop_timer_init(&t[i], mark, (void *)&names[i]);
		evloop_timer_start(loop, &t[i], delays[i]);
	}
	evloop_timer_stop(loop, &t[2]); /* c never fires */
	assert_false(evloop_timer_active(&t[2]));
	evloop_timer_start(loop, &t[4], 5); /* e re-armed earlier */
	fake_now = 1009;
	assert_int(evloop_run_once(loop, 0), 1);
	assert_str(order, "e");
	fake_now = 1010;
	assert_int(evloop_run_once(loop, 0), 2);
	fake_now = 2000;
	assert_int(evloop_run_once(loop, 0), 1);
	assert_true(strcmp(order, "ebda") == 0 || strcmp(order, "edba") == 0);
	assert_int(evloop_run_once(loop, 0), 0);
	evloop_free(&loop);
	assert_null(loop);
}

/* heap stress: many timers in random order fire sorted */
static uint64_t last_fired;
static int fired_sorted = 1, fired_count;

static void
check_sorted(struct evloop *loop, void *arg)
{
	struct evloop_timer *t = arg;

	(void)loop;
	if (t->when < last_fired)
		fired_sorted = 0;
	last_fired = t->when;
	fired_count++;
}

static void
test_timer_heap_stress(void **state)
{
	struct evloop *loop = evloop_new();
	static struct evloop_timer t[2000];
	int i;

	(void)state;
	fake_now = 0;
	evloop_set_clock(loop, fake_clock);
	srand(42);
	for (i = 0; i < 2000; i++) {
		evloop_timer_init(&t[i], check_sorted, &t[i]);
		evloop_timer_start(loop, &t[i], (uint64_t)(rand() % 100000));
	}
	for (i = 0; i < 2000; i += 3)
		evloop_timer_stop(loop, &t[i]);
	fake_now = 200000;
	evloop_run_once(loop, 0);
	assert_int(fired_sorted, 1);
	assert_int(fired_count, 2000 - 667);
	evloop_free(&loop);
}

struct io_ctx {
	int fds[2];
	int calls;
	struct evloop *loop;
};

static void
on_read_close_other(struct evloop *loop, int fd, unsigned ev, void *arg)
{
	struct io_ctx *c = arg;
	char b[8];

	(void)ev;
	c->calls++;
	assert_true(read(fd, b, sizeof(b)) > 0);
	/* delete the other fd, which also has an event pending */
	evloop_io_del(loop, c->fds[fd == c->fds[0] ? 1 : 0]);
}

static void
test_delete_during_dispatch(void **state)
{
	struct evloop *loop = evloop_new();
	struct io_ctx c = { { -1, -1 }, 0, loop };
	int p1[2], p2[2];

	(void)state;
	assert_int(pipe(p1), 0);
	assert_int(pipe(p2), 0);
	c.fds[0] = p1[0];
	c.fds[1] = p2[0];
	assert_int(evloop_io_add(loop, p1[0], EV_READ, on_read_close_other, &c),
		   0);
	assert_int(evloop_io_add(loop, p2[0], EV_READ, on_read_close_other, &c),
		   0);
	assert_int(evloop_io_add(loop, p2[0], EV_READ, on_read_close_other, &c),
		   -EEXIST);
	assert_int(write(p1[1], "x", 1), 1);
	assert_int(write(p2[1], "y", 1), 1);
	evloop_run_once(loop, 100);
	assert_int(c.calls, 1);
	assert_int(evloop_io_count(loop), 1);
	assert_int(evloop_io_mod(loop, 999, EV_READ), -ENOENT);
	close(p1[0]);
	close(p1[1]);
	close(p2[0]);
	close(p2[1]);
	evloop_free(&loop);
}

static int got_signal;

static void
on_signal(struct evloop *loop, int signo, void *arg)
{
	(void)arg;
	got_signal = signo;
	evloop_stop(loop);
}

static void
test_signal(void **state)
{
	struct evloop *loop = evloop_new();

	(void)state;
	assert_int(evloop_signal_add(loop, SIGUSR1, on_signal, NULL), 0);
	assert_int(kill(getpid(), SIGUSR1), 0);
	assert_int(evloop_run(loop), 0);
	assert_int(got_signal, SIGUSR1);
	evloop_free(&loop);
}

/* too_late: the bound of test_stop_on_signals */
static void
too_late(struct evloop *loop, void *arg)
{
	*(int *)arg = 1;
	evloop_stop(loop);
}

/* evloop_stop_on_signals: SIGTERM and SIGINT each end evloop_run (a 2 s
 * timer bounds the wait; without the handler the signal would kill the
 * test) */
static void
test_stop_on_signals(void **state)
{
	static const int sigs[] = { SIGTERM, SIGINT };
	struct evloop_timer bound;
	struct evloop *loop;
	int timed_out = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		loop = evloop_new();
		assert_int(evloop_stop_on_signals(loop), 0);
		evloop_timer_init(&bound, too_late, &timed_out);
		evloop_timer_start(loop, &bound, 2000);
		assert_int(kill(getpid(), sigs[i]), 0);
		assert_int(evloop_run(loop), 0);
		assert_int(timed_out, 0);
		evloop_timer_stop(loop, &bound);
		evloop_free(&loop);
	}
}

struct conn_ctx {
	int lfd, accepted, connected, cfd;
};

static void
on_accept(struct evloop *loop, int fd, unsigned ev, void *arg)
{
	struct conn_ctx *c = arg;
	int a;

	(void)loop;
	(void)ev;
	while ((a = net_accept(fd)) >= 0) {
		c->accepted++;
		close(a);
	}
	assert_int(errno, EAGAIN);
}

static void
on_connected(struct evloop *loop, int fd, unsigned ev, void *arg)
{
	struct conn_ctx *c = arg;

	assert_true(ev & EV_WRITE);
	assert_int(net_connect_finish(fd), 0);
	c->connected++;
	evloop_io_del(loop, fd);
}

static void
test_net_tcp(void **state)
{
	struct evloop *loop = evloop_new();
	struct conn_ctx c = { 0 };
	struct buf err = BUF_INIT(256);
	struct net_addr a;
	char name[64];
	int port, r, i;

	(void)state;
	c.lfd = net_listen_tcp("127.0.0.1", 0, 16, &err);
	assert_true(c.lfd >= 0);
	port = net_local_port(c.lfd);
	assert_true(port > 0);
	assert_int(net_resolve("127.0.0.1", (unsigned)port, &a, &err), 0);
	snprintf(name, sizeof(name), "127.0.0.1:%d", port);
	assert_str(net_addr_str(&a, (char[64]){ 0 }, 64), name);
	evloop_io_add(loop, c.lfd, EV_READ, on_accept, &c);
	r = net_connect(&a, &c.cfd);
	assert_true(r == 0 || r == 1);
	evloop_io_add(loop, c.cfd, EV_WRITE, on_connected, &c);
	for (i = 0; i < 50 && (c.accepted == 0 || c.connected == 0); i++)
		evloop_run_once(loop, 100);
	assert_int(c.accepted, 1);
	assert_int(c.connected, 1);
	close(c.cfd);
	/* a refused connection reports its error */
	evloop_io_del(loop, c.lfd);
	close(c.lfd);
	r = net_connect(&a, &c.cfd);
	if (r == 1) {
		/* SO_ERROR is reported once, then cleared */
		for (i = 0; i < 50 && (r = net_connect_finish(c.cfd)) == 0; i++)
			usleep(10000);
		assert_int(r, -ECONNREFUSED);
		close(c.cfd);
	} else {
		assert_int(r, -ECONNREFUSED);
	}
	assert_int(net_resolve("no.such.host.invalid", 25, &a, &err), -1);
	assert_true(strstr(buf_cstr(&err), "cannot resolve") != NULL);
	buf_deinit(&err);
	evloop_free(&loop);
}

static void
test_net_unix(void **state)
{
	struct buf err = BUF_INIT(256);
	char *dir = test_tmpdir(), path[256];
	struct stat st;
	int fd, fd2, cfd;

	(void)state;
	snprintf(path, sizeof(path), "%s/s.sock", dir);
	fd = net_listen_unix(path, 0660, (uid_t)-1, (gid_t)-1, 8, &err);
	assert_true(fd >= 0);
	assert_int(stat(path, &st), 0);
	assert_int(st.st_mode & 0777, 0660);
	assert_true(net_connect_unix(path, &cfd) >= 0);
	close(cfd);
	/* a stale socket is replaced */
	close(fd);
	fd2 = net_listen_unix(path, 0600, (uid_t)-1, (gid_t)-1, 8, &err);
	assert_true(fd2 >= 0);
	close(fd2);
	/* a regular file is never removed */
	unlink(path);
	close(open(path, O_CREAT | O_WRONLY, 0600));
	assert_int(net_listen_unix(path, 0600, (uid_t)-1, (gid_t)-1, 8, &err),
		   -1);
	assert_true(strstr(buf_cstr(&err), "not a socket") != NULL);
	assert_int(stat(path, &st), 0);
	buf_deinit(&err);
	test_rmtree(dir);
	free(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_timer_order),
		cmocka_unit_test(test_timer_heap_stress),
		cmocka_unit_test(test_delete_during_dispatch),
		cmocka_unit_test(test_signal),
		cmocka_unit_test(test_stop_on_signals),
		cmocka_unit_test(test_net_tcp),
		cmocka_unit_test(test_net_unix),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
