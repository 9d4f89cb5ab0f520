/*
 * test_acme_flow: the ACME flow (acme_flow.c, acme_order.c) against the
 * scripted server of acme_fake.h: the whole life of a certificate
 * (issuance, a restart, renewal), badNonce retried, an account the
 * server forgot registered again.
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

/* test_issue_restart_renew: the whole life: issuance (every JWS
 * verified), a restart that neither registers nor orders, renewal when
 * the renewal window says, with the same account */
static void
test_issue_restart_renew(void **state)
{
	struct t t;
	struct acme_cert_info ci, first;
	const struct acme_status_rec *st;
	unsigned reqs;

	(void)state;
	setup(&t);
	start(&t);
	assert_int(t.installed, 1);
	assert_true(served(&t, &ci));
	assert_int(ci.not_after - ci.not_before, 90 * 86400);
	first = ci;
	assert_int(t.s.n_account, 1);
	assert_int(t.s.n_order, 1);
	assert_int(t.s.n_ari, 1); /* read at once for the new certificate */
	assert_null(acme_flow_challenge(t.f, "tok-0")); /* nothing served */
	st = acme_flow_status(t.f);
	assert_true(st->ready);
	assert_str(st->last_error, "");
	assert_str(st->account, U "acct/1");
	/* directory (its answer carries a nonce here: no HEAD newNonce),
	 * account, order, 3 authz, 3 challenges, 3 polls, order, finalize,
	 * order poll, certificate */
	assert_int(st->requests_last, 16);
	/* the window (45 days less 60 s .. 45 days) beats 2/3 of 90 days */
	assert_int(st->renew_at, t.now + 45 * 86400 - 30);
	/* the next look is the window again, as its Retry-After says */
	assert_int(t.wake_ms, 21600 * 1000);
	/* restart: the renewal information only */
	reqs = t.s.n_req;
	start(&t);
	assert_int(t.s.n_account, 1);
	assert_int(t.s.n_order, 1);
	assert_int(t.s.n_ari, 2);
	assert_int(t.s.n_req - reqs, 2); /* directory, renewalInfo */
	assert_int(t.installed, 1);
	/* renewal when due: same account, a new order, a new key */
	t.now += 45 * 86400;
	acme_flow_wake(t.f);
	pump(&t);
	assert_int(t.installed, 2);
	assert_int(t.s.n_account, 1);
	assert_int(t.s.n_order, 2);
	assert_true(served(&t, &ci));
	assert_true(ci.not_before >= first.not_before + 45 * 86400);
	teardown(&t);
}

/* test_badnonce: retried with the fresh nonce, at most 5 times */
static void
test_badnonce(void **state)
{
	struct t t;
	struct acme_cert_info ci;
	const struct acme_status_rec *st;

	(void)state;
	setup(&t);
	t.s.badnonce = 5;
	start(&t);
	assert_int(t.installed, 1);
	assert_true(served(&t, &ci));
	assert_int(acme_flow_status(t.f)->requests_last, 16 + 5);
	teardown(&t);

	setup(&t);
	t.s.badnonce = 6;
	start(&t);
	assert_int(t.installed, 0);
	st = acme_flow_status(t.f);
	assert_false(st->ready);
	assert_non_null(strstr(st->last_error, "badNonce: scripted badNonce"));
	assert_int(st->failures, 1);
	/* first backoff: half of 60 s fixed, half random (0.5) */
	assert_int(t.wake_ms, 45000);
	assert_int(st->next_attempt, t.now + 45);
	t.now += 45;
	acme_flow_wake(t.f);
	pump(&t);
	assert_int(t.installed, 1);
	assert_int(acme_flow_status(t.f)->failures, 0);
	teardown(&t);
}

/* test_account_gone: the server forgot the stored account: registered
 * again, once */
static void
test_account_gone(void **state)
{
	struct t t;

	(void)state;
	setup(&t);
	start(&t);
	assert_int(t.s.n_account, 1);
	t.s.forget = 1;
	t.now += 45 * 86400;
	acme_flow_wake(t.f);
	pump(&t);
	assert_int(t.s.n_account, 2);
	assert_int(t.installed, 2);
	teardown(&t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_issue_restart_renew),
		cmocka_unit_test(test_badnonce),
		cmocka_unit_test(test_account_gone),
	};

	log_init("test", 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
