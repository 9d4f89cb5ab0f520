/*
 * test_keygen: DKIM keys from forked children on a real event loop:
 * a waiter is told when its key is ready and gets a valid RSA key; the
 * FIFO reserves keys for the waiters in order (a later relay does not
 * take an earlier one's key); a forgotten waiter passes its key on; no
 * more keys are made than relays wait for; in-process mode (0
 * children) answers at once.
 *
 * Keys are 1024 bits here (the operator uses 2048) to keep the test
 * quick; the code path is the same.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

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

static void
test_free_while_running(void **state)
{
	struct evloop *loop = evloop_new();
	struct told t = { .n = 0 };
	struct keygen *k = keygen_new(loop, 2048, 2, on_ready, &t);
	struct buf pem = BUF_INIT(16384);

	(void)state;
	assert_int(keygen_take(k, "ns/a", &pem), 0);
	assert_int(keygen_take(k, "ns/b", &pem), 0);
	assert_int(keygen_running(k), 2);
	keygen_free(&k); /* kills and reaps both children */
	assert_int(t.n, 0);
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
		cmocka_unit_test(test_in_process),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
