/* test_ratelimit: GCRA with an injected clock: the burst, the steady
 * rate, per-sender independence, recovery, eviction bounds */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#define TESTUTIL_IMPL
#include "testutil.h"

#include "../../../../services/filtermail/filtermail.h"

/* allowed: how many of n messages at time t pass */
static int
allowed(struct fm_ratelimit *rl, const char *key, uint64_t t, int n)
{
	uint64_t wait;
	int i, ok = 0;

	for (i = 0; i < n; i++)
		ok += fm_ratelimit_check(rl, key, t, &wait);
	return ok;
}

static void
test_burst_then_rate(void **state)
{
	struct fm_ratelimit *rl = fm_ratelimit_new(60, 10, 100);
	uint64_t wait = 0;

	(void)state;
	/* upstream defaults: 10 at once, the 11th refused */
	assert_int(allowed(rl, "a@x", 1000, 10), 10);
	assert_int(fm_ratelimit_check(rl, "a@x", 1000, &wait), 0);
	assert_int(wait, 1000); /* one per second refills */
	/* just before the refill: still refused, just after: one more */
	assert_int(fm_ratelimit_check(rl, "a@x", 1999, &wait), 0);
	assert_int(wait, 1);
	assert_int(allowed(rl, "a@x", 2000, 5), 1);
	/* steady: one a second */
	assert_int(allowed(rl, "a@x", 3000, 1), 1);
	assert_int(allowed(rl, "a@x", 3500, 1), 0);
	assert_int(allowed(rl, "a@x", 4000, 1), 1);
	/* another sender has a full bucket */
	assert_int(allowed(rl, "b@x", 4000, 11), 10);
	/* after a quiet minute the whole burst is back */
	assert_int(allowed(rl, "a@x", 64000, 11), 10);
	fm_ratelimit_free(&rl);
	assert_null(rl);
}

static void
test_burst_one(void **state)
{
	struct fm_ratelimit *rl = fm_ratelimit_new(1, 1, 10);
	uint64_t wait = 0;

	(void)state;
	assert_int(allowed(rl, "a@x", 0, 1), 1);
	assert_int(fm_ratelimit_check(rl, "a@x", 0, &wait), 0);
	assert_int(wait, 60000);
	assert_int(allowed(rl, "a@x", 60000, 1), 1);
	fm_ratelimit_free(&rl);
}

static void
test_disabled(void **state)
{
	struct fm_ratelimit *rl = fm_ratelimit_new(0, 10, 10);

	(void)state;
	assert_int(allowed(rl, "a@x", 0, 1000), 1000);
	assert_int(fm_ratelimit_keys(rl), 0);
	fm_ratelimit_free(&rl);
}

static void
test_eviction(void **state)
{
	struct fm_ratelimit *rl = fm_ratelimit_new(60, 2, 64);
	char key[32];
	int i;

	(void)state;
	/* 1000 senders one second apart: the table never passes 64, and
	 * senders whose bucket refilled are the ones forgotten */
	for (i = 0; i < 1000; i++) {
		(void)snprintf(key, sizeof(key), "s%d@x", i);
		assert_int(allowed(rl, key, (uint64_t)i * 1000, 1), 1);
		assert_true(fm_ratelimit_keys(rl) <= 64);
	}
	/* all at once: nothing has refilled, the half nearest full goes */
	for (i = 0; i < 1000; i++) {
		(void)snprintf(key, sizeof(key), "t%d@x", i);
		assert_int(allowed(rl, key, 2000000, 2), 2);
		assert_true(fm_ratelimit_keys(rl) <= 64);
	}
	/* the newest sender is still tracked and limited */
	assert_int(allowed(rl, "t999@x", 2000000, 1), 0);
	fm_ratelimit_free(&rl);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_burst_then_rate),
		cmocka_unit_test(test_burst_one),
		cmocka_unit_test(test_disabled),
		cmocka_unit_test(test_eviction),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
