/*
 * test_acme_backoff: the ACME flow (acme_flow.c, acme_order.c) when the
 * server fails, against the scripted server of acme_fake.h: rateLimited
 * with Retry-After, no answer (exponential backoff to its cap), a failed
 * renewal retried within the certificate's life, an invalid challenge,
 * terms of service not agreed.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define TESTUTIL_IMPL
#include "testutil.h"

#include "acme_fake.h"

/* test_rate_limited: 429 with Retry-After: the next attempt waits */
static void
test_rate_limited(void **state)
{
	struct t t;
	const struct acme_status_rec *st;

	(void)state;
	setup(&t);
	t.s.ratelimit = 1;
	start(&t);
	st = acme_flow_status(t.f);
	assert_int(t.installed, 0);
	assert_non_null(strstr(st->last_error, "rateLimited"));
	assert_non_null(strstr(st->last_error, "HTTP 429"));
	assert_int(t.wake_ms, 3600 * 1000);
	assert_int(t.s.n_order, 0);
	t.now += 3600;
	acme_flow_wake(t.f);
	pump(&t);
	assert_int(t.installed, 1);
	teardown(&t);
}

/* test_unreachable: no answer: exponential backoff up to the cap, the
 * reason in the status, recovery when the server is back */
static void
test_unreachable(void **state)
{
	static const uint64_t want_ms[] = { 45000,  90000,  180000,
					    360000, 450000, 450000 };
	struct t t;
	size_t i;

	(void)state;
	setup(&t);
	t.s.neterr = 6;
	start(&t);
	for (i = 0; i < 6; i++) {
		assert_int(t.wake_ms, want_ms[i]);
		assert_int(acme_flow_status(t.f)->failures, i + 1);
		assert_str(acme_flow_status(t.f)->last_error,
			   "cannot reach the ACME server at " U
			   "dir: Couldn't connect to server");
		t.now += (time_t)(t.wake_ms / 1000);
		acme_flow_wake(t.f);
		pump(&t);
	}
	assert_int(t.installed, 1);
	assert_int(acme_flow_status(t.f)->failures, 0);
	teardown(&t);
}

/* test_renew_backoff: a failed renewal waits at most a quarter of the
 * served certificate's remaining life, so a backoff longer than that
 * life still renews in time; a first issuance keeps the whole backoff */
static void
test_renew_backoff(void **state)
{
	struct t t;
	struct acme_cert_info ci;
	int i;

	(void)state;
	setup(&t);
	/* uncapped, the first failure alone (60 days) outlives the
	 * certificate */
	t.o.backoff_min_s = t.o.backoff_max_s = 80 * 86400;
	start(&t);
	assert_int(t.installed, 1);
	assert_true(served(&t, &ci));
	/* due at the window (45 days less 30 s); three answers lost; the
	 * renewal information is read every 6 h meanwhile */
	t.now = ci.not_before + 45 * 86400;
	t.s.neterr = 3;
	acme_flow_wake(t.f);
	pump(&t);
	assert_int(acme_flow_status(t.f)->failures, 1);
	for (i = 0; i < 300 && t.installed < 2; i++) {
		assert_true(t.wake_ms <=
			    (uint64_t)(ci.not_after - t.now) / 4 * 1000);
		t.now += (time_t)(t.wake_ms / 1000);
		acme_flow_wake(t.f);
		pump(&t);
	}
	assert_int(t.installed, 2);
	assert_true(t.now < ci.not_after);
	teardown(&t);

	/* no certificate yet: the backoff as configured (half fixed) */
	setup(&t);
	t.o.backoff_min_s = t.o.backoff_max_s = 80 * 86400;
	t.s.neterr = 1;
	start(&t);
	assert_int(t.installed, 0);
	assert_int(t.wake_ms, (uint64_t)60 * 86400 * 1000);
	teardown(&t);
}

/* test_invalid_challenge: the validation fails: the reason, backoff,
 * the placeholder keeps serving */
static void
test_invalid_challenge(void **state)
{
	struct t t;
	struct acme_cert_info ci;
	struct buf err = BUF_INIT(512);
	const struct acme_status_rec *st;

	(void)state;
	setup(&t);
	assert_int(
		acme_cert_placeholder(t.o.tls_dir, t.o.names, NAMES, -1, &err),
		0);
	t.s.chall_invalid = 1;
	start(&t);
	st = acme_flow_status(t.f);
	assert_int(t.installed, 0);
	assert_false(st->ready);
	assert_str(st->last_error,
		   "validation of f.test failed: incorrectResponse: scripted");
	assert_int(acme_cert_read(t.o.tls_dir, t.o.names, NAMES, &ci, &err), 0);
	assert_true(ci.self_signed);
	buf_deinit(&err);
	teardown(&t);
}

/* test_terms: terms of service not agreed: no account, a clear reason */
static void
test_terms(void **state)
{
	struct t t;

	(void)state;
	setup(&t);
	t.s.tos = 1;
	t.o.agree_tos = 0;
	start(&t);
	assert_int(t.s.n_account, 0);
	assert_str(acme_flow_status(t.f)->last_error,
		   "the ACME server's terms of service (" U "tos.pdf) are "
		   "not agreed (spec.tls.acmeTermsOfServiceAgreed)");
	teardown(&t);
	setup(&t);
	t.s.tos = 1;
	start(&t);
	assert_int(t.installed, 1);
	teardown(&t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rate_limited),
		cmocka_unit_test(test_unreachable),
		cmocka_unit_test(test_renew_backoff),
		cmocka_unit_test(test_invalid_challenge),
		cmocka_unit_test(test_terms),
	};

	log_init("test", 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
