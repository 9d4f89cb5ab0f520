/*
 * test_keygen: DKIM keys from forked children on a real event loop:
 * a waiter is told when its key is ready and gets a valid RSA key; the
 * FIFO reserves keys for the waiters in order (a later relay does not
 * take an earlier one's key); a forgotten waiter passes its key on; no
 * more keys are made than relays wait for; in-process mode (0
 * children) answers at once; a child that is killed or fails is
 * reported (-EIO, keygen_error, the waiter told) and retried after a
 * backoff, and no child starts once nobody waits; a child keeps no
 * descriptor of the operator but its pipe; keygen_free leaves no child
 * and no descriptor behind.
 *
 * Keys are 1024 bits here (the operator uses 2048) to keep the test
 * quick; the code path is the same.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <dirent.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

#define TESTUTIL_IMPL
#include "testutil.h"

#include "evloop.h"
#include "keygen.h"
#include "keys.h"

struct told {
	char names[8][32];
	size_t n;
};

/* on_ready: record which waiter was told */
static void
on_ready(void *arg, const char *waiter)
{
	struct told *t = arg;

	if (t->n < 8)
		(void)snprintf(t->names[t->n++], sizeof(t->names[0]), "%s",
			       waiter);
}

/* run_until_told: run the loop until n waiters were told (10 s max) */
static void
run_until_told(struct evloop *loop, const struct told *t, size_t n)
{
	int i;

	for (i = 0; i < 1000 && t->n < n; i++)
		(void)evloop_run_once(loop, 10);
	assert_int(t->n, n);
}

/* assert_rsa: pem holds an RSA key */
static void
assert_rsa(struct buf *pem)
{
	struct buf txt = BUF_INIT(4096);

	assert_int(keys_dkim_txt(pem->data, pem->len, &txt), 0);
	assert_int(strncmp(buf_cstr(&txt), "v=DKIM1;k=rsa;p=", 16), 0);
	buf_deinit(&txt);
	buf_wipe_deinit(pem);
	buf_init(pem, 16384);
}

static void
test_fifo(void **state)
{
	struct evloop *loop = evloop_new();
	struct told t = { .n = 0 };
	struct keygen *k = keygen_new(loop, 1024, 1, on_ready, &t);
	struct buf pem = BUF_INIT(16384);

	(void)state;
	assert_int(keygen_take(k, "ns/a", &pem), 0);
	assert_int(keygen_take(k, "ns/b", &pem), 0);
	assert_int(keygen_take(k, "ns/a", &pem), 0); /* queued once */
	assert_int(keygen_waiting(k), 2);
	assert_int(keygen_running(k), 1); /* at most one child */
	run_until_told(loop, &t, 1);
	assert_str(t.names[0], "ns/a");
	assert_int(keygen_ready_keys(k), 1);
	/* the key is a's: b and a newcomer wait */
	assert_int(keygen_take(k, "ns/b", &pem), 0);
	assert_int(keygen_take(k, "ns/c", &pem), 0);
	assert_int(keygen_take(k, "ns/a", &pem), 1);
	assert_rsa(&pem);
	assert_int(keygen_waiting(k), 2);
	run_until_told(loop, &t, 2);
	assert_str(t.names[1], "ns/b");
	/* b goes away: its key passes to c */
	keygen_forget(k, "ns/b");
	assert_int(t.n, 3);
	assert_str(t.names[2], "ns/c");
	assert_int(keygen_take(k, "ns/c", &pem), 1);
	assert_rsa(&pem);
	assert_int(keygen_waiting(k), 0);
	/* the child started for c while b still waited finishes: a spare
	 * key, told to nobody, for the next relay at once */
	for (int i = 0; i < 1000 && keygen_running(k) > 0; i++)
		(void)evloop_run_once(loop, 10);
	assert_int(keygen_running(k), 0);
	assert_int(t.n, 3);
	if (keygen_ready_keys(k) == 1) {
		assert_int(keygen_take(k, "ns/d", &pem), 1);
		assert_rsa(&pem);
	}
	/* nobody waits: no key is made */
	assert_int(keygen_running(k), 0);
	assert_int(keygen_ready_keys(k), 0);
	keygen_free(&k);
	assert_null(k);
	buf_deinit(&pem);
	evloop_free(&loop);
}

/* count_fds: open descriptors of pid (0 = this process); *only3 set
 * when they are exactly 0, 1, 2 and 3 */
static int
count_fds(int pid, int *only3)
{
	char path[64];
	struct dirent *de;
	DIR *d;
	int n = 0, other = 0;

	if (pid == 0)
		(void)snprintf(path, sizeof(path), "/proc/self/fd");
	else
		(void)snprintf(path, sizeof(path), "/proc/%d/fd", pid);
	d = opendir(path);
	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		n++;
		if (strcmp(de->d_name, "0") && strcmp(de->d_name, "1") &&
		    strcmp(de->d_name, "2") && strcmp(de->d_name, "3"))
			other++;
	}
	(void)closedir(d);
	if (only3 != NULL)
		*only3 = other == 0;
	return pid == 0 ? n - 1 : n; /* not the DIR's own descriptor */
}

/* assert_no_children: every child of this process was reaped */
static void
assert_no_children(void)
{
	errno = 0;
	assert_int(waitpid(-1, NULL, WNOHANG), -1);
	assert_int(errno, ECHILD);
}

static void
test_free_while_running(void **state)
{
	struct evloop *loop = evloop_new();
	struct told t = { .n = 0 };
	int fds = count_fds(0, NULL);
	struct keygen *k = keygen_new(loop, 2048, 2, on_ready, &t);
	struct buf pem = BUF_INIT(16384);

	(void)state;
	assert_int(keygen_take(k, "ns/a", &pem), 0);
	assert_int(keygen_take(k, "ns/b", &pem), 0);
	assert_int(keygen_running(k), 2);
	assert_true(count_fds(0, NULL) == fds + 2); /* the two pipes */
	keygen_free(&k); /* kills and reaps both children */
	assert_int(t.n, 0);
	assert_no_children();
	assert_int(count_fds(0, NULL), fds);
	buf_deinit(&pem);
	evloop_free(&loop);
}

static void
test_child_dies(void **state)
{
	struct evloop *loop = evloop_new();
	struct told t = { .n = 0 };
	struct keygen *k = keygen_new(loop, 1024, 1, on_ready, &t);
	struct buf pem = BUF_INIT(16384);
	int pid, i;

	(void)state;
	keygen_set_backoff(k, 100, 1000);
	assert_int(keygen_take(k, "ns/a", &pem), 0);
	pid = keygen_child_pid(k, 0);
	assert_true(pid > 0);
	assert_int(kill(pid, SIGKILL), 0);
	/* the failure is told to the waiter, no child runs meanwhile */
	run_until_told(loop, &t, 1);
	assert_str(t.names[0], "ns/a");
	assert_int(keygen_failures(k), 1);
	assert_int(keygen_running(k), 0);
	assert_int(keygen_take(k, "ns/a", &pem), -EIO);
	assert_non_null(strstr(keygen_error(k), "killed by signal 9"));
	assert_non_null(strstr(keygen_error(k), "retrying in 1 s"));
	assert_int(keygen_waiting(k), 1); /* still queued, once */
	/* after the backoff a new child makes the key */
	for (i = 0; i < 100 && keygen_running(k) == 0; i++)
		(void)evloop_run_once(loop, 10);
	assert_int(keygen_running(k), 1);
	assert_true(keygen_child_pid(k, 0) != pid);
	run_until_told(loop, &t, 2);
	assert_str(t.names[1], "ns/a");
	assert_int(keygen_take(k, "ns/a", &pem), 1);
	assert_rsa(&pem);
	assert_int(keygen_failures(k), 0);
	assert_str(keygen_error(k), "");
	keygen_free(&k);
	assert_no_children();
	buf_deinit(&pem);
	evloop_free(&loop);
}

static void
test_keeps_failing(void **state)
{
	struct evloop *loop = evloop_new();
	struct told t = { .n = 0 };
	/* 16 bits: OpenSSL refuses, the child exits 1 */
	struct keygen *k = keygen_new(loop, 16, 2, on_ready, &t);
	struct buf pem = BUF_INIT(16384);
	unsigned f;
	int i;

	(void)state;
	keygen_set_backoff(k, 20, 80);
	assert_int(keygen_take(k, "ns/a", &pem), 0);
	for (i = 0; i < 500 && keygen_failures(k) < 4; i++) {
		(void)evloop_run_once(loop, 10);
		/* one waiter: never more than one child */
		assert_true(keygen_running(k) <= 1);
	}
	assert_true(keygen_failures(k) >= 4);
	assert_true(t.n >= 4); /* told after each failure */
	assert_str(t.names[0], "ns/a");
	assert_int(keygen_take(k, "ns/a", &pem), -EIO);
	assert_non_null(strstr(keygen_error(k), "exited with status 1"));
	assert_int(pem.len, 0);
	/* nobody waits any more: no child is started again */
	keygen_forget(k, "ns/a");
	for (i = 0; i < 30; i++)
		(void)evloop_run_once(loop, 10);
	for (i = 0; i < 100 && keygen_running(k) > 0; i++)
		(void)evloop_run_once(loop, 10);
	f = keygen_failures(k);
	for (i = 0; i < 30; i++)
		(void)evloop_run_once(loop, 10);
	assert_int(keygen_running(k), 0);
	assert_int(keygen_failures(k), f);
	keygen_free(&k);
	assert_no_children();
	buf_deinit(&pem);
	evloop_free(&loop);
}

static void
test_forgotten_waiter(void **state)
{
	struct evloop *loop = evloop_new();
	struct told t = { .n = 0 };
	struct keygen *k = keygen_new(loop, 1024, 1, on_ready, &t);
	struct buf pem = BUF_INIT(16384);
	int i;

	(void)state;
	assert_int(keygen_take(k, "ns/a", &pem), 0);
	keygen_forget(k, "ns/a"); /* the relay was deleted */
	keygen_forget(k, "ns/a"); /* twice is harmless */
	assert_int(keygen_waiting(k), 0);
	for (i = 0; i < 1000 && keygen_running(k) > 0; i++)
		(void)evloop_run_once(loop, 10);
	/* the key is made anyway, told to nobody, and taken at once */
	assert_int(t.n, 0);
	assert_int(keygen_ready_keys(k), 1);
	assert_int(keygen_take(k, "ns/b", &pem), 1);
	assert_rsa(&pem);
	assert_int(keygen_running(k), 0);
	keygen_free(&k);
	buf_deinit(&pem);
	evloop_free(&loop);
}

static void
test_child_fds(void **state)
{
	struct evloop *loop = evloop_new();
	struct told t = { .n = 0 };
	/* 4096 bits: the child lives long enough to be looked at */
	struct keygen *k = keygen_new(loop, 4096, 1, on_ready, &t);
	struct buf pem = BUF_INIT(16384);
	int pid, only3 = 0, i, n = -1, extra = dup(0);

	(void)state;
	assert_true(extra > 3); /* a descriptor the child must not keep */
	assert_int(keygen_take(k, "ns/a", &pem), 0);
	pid = keygen_child_pid(k, 0);
	assert_true(pid > 0);
	/* right after fork the child still has every descriptor; it
	 * must get down to 0-3 while it makes the key (a finished child
	 * shows none: that does not count) */
	for (i = 0; i < 200; i++) {
		n = count_fds(pid, &only3);
		if (n <= 0 || (n == 4 && only3))
			break;
		(void)usleep(5000);
	}
	assert_int(n, 4);
	assert_true(only3);
	(void)close(extra);
	keygen_free(&k);
	assert_no_children();
	buf_deinit(&pem);
	evloop_free(&loop);
}

static void
test_in_process(void **state)
{
	struct evloop *loop = evloop_new();
	struct told t = { .n = 0 };
	struct keygen *k = keygen_new(loop, 1024, 0, on_ready, &t);
	struct buf pem = BUF_INIT(16384);

	(void)state;
	assert_int(keygen_take(k, "ns/a", &pem), 1);
	assert_rsa(&pem);
	assert_int(keygen_waiting(k), 0);
	keygen_free(&k);
	buf_deinit(&pem);
	evloop_free(&loop);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fifo),
		cmocka_unit_test(test_free_while_running),
		cmocka_unit_test(test_child_dies),
		cmocka_unit_test(test_keeps_failing),
		cmocka_unit_test(test_forgotten_waiter),
		cmocka_unit_test(test_child_fds),
		cmocka_unit_test(test_in_process),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
