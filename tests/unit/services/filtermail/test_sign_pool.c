/* test_sign_pool: the DKIM signer threads: jobs complete (with a real
 * RSA key, every signature verified), a full queue holds jobs back
 * without losing one, a cancelled job (its session gone) is never
 * reported nor touched, shutdown joins the threads and frees what is
 * queued, a failed signature is reported as such, and the thread count
 * from FILTERMAIL_SIGN_THREADS. Fake work functions wait on a gate so
 * the tests decide when the threads may finish. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#define TESTUTIL_IMPL
#include "testutil.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "../../../../services/filtermail/fm_dkim.h"
#include "../../../../services/filtermail/fm_sign_pool.h"

/* the gate the fake work waits on, and what it saw */
static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static int gate_open;
static int work_calls;
static int work_fail;

/* gate_set: open (1) or close (0) the gate */
static void
gate_set(int open)
{
	pthread_mutex_lock(&gate_mu);
	gate_open = open;
	pthread_cond_broadcast(&gate_cv);
	pthread_mutex_unlock(&gate_mu);
}

/* calls: how many jobs the fake work took so far */
static int
calls(void)
{
	int n;

	pthread_mutex_lock(&gate_mu);
	n = work_calls;
	pthread_mutex_unlock(&gate_mu);
	return n;
}

/* fake_work: wait for the gate, then sig = the digest twice */
static int
fake_work(const void *key, const unsigned char hh[32], unsigned char *sig,
	  size_t *siglen)
{
	(void)key;
	pthread_mutex_lock(&gate_mu);
	work_calls++;
	while (!gate_open)
		pthread_cond_wait(&gate_cv, &gate_mu);
	pthread_mutex_unlock(&gate_mu);
	if (work_fail)
		return -EIO;
	memcpy(sig, hh, 32);
	memcpy(sig + 32, hh, 32);
	*siglen = 64;
	return 0;
}

/* a "session": what the done callback reaches */
struct sess {
	unsigned char hh[32];
	int calls;
	int rc;
	int ok; /* the signature matched */
};

static int reported;

/* on_done: one result; checks it belongs to this session's digest */
static void
on_done(void *arg, int rc, const unsigned char *sig, size_t siglen)
{
	struct sess *s = arg;

	s->calls++;
	s->rc = rc;
	s->ok = rc == 0 && siglen == 64 && memcmp(sig, s->hh, 32) == 0 &&
		memcmp(sig + 32, s->hh, 32) == 0;
	reported++;
}

/* settle: run the loop until want results came or ~5 s passed */
static void
settle(struct evloop *loop, int want)
{
	int i;

	for (i = 0; reported < want && i < 500; i++)
		(void)evloop_run_once(loop, 10);
}

/* wait_calls: until the fake work took n jobs (threads are slow to
 * start under sanitizers) or ~5 s passed */
static void
wait_calls(int n)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	int i;

	for (i = 0; calls() < n && i < 500; i++)
		nanosleep(&ts, NULL);
}

static void
reset(int open)
{
	gate_set(open);
	pthread_mutex_lock(&gate_mu);
	work_calls = 0;
	pthread_mutex_unlock(&gate_mu);
	work_fail = 0;
	reported = 0;
}

/* test_complete: every job reported once, with its own result */
static void
test_complete(void **state)
{
	struct evloop *loop = evloop_new();
	struct buf err = BUF_INIT(256);
	struct fm_sign_pool *p;
	struct fm_sign_pool_stats st;
	struct sess s[100];
	int i;

	(void)state;
	reset(1);
	p = fm_sign_pool_new(loop, fake_work, NULL, 3, 8, &err);
	assert_non_null(p);
	memset(s, 0, sizeof(s));
	for (i = 0; i < 100; i++) {
		memset(s[i].hh, i + 1, sizeof(s[i].hh));
		assert_non_null(
			fm_sign_pool_submit(p, s[i].hh, on_done, &s[i]));
	}
	/* never reported from submit itself */
	assert_int(reported, 0);
	settle(loop, 100);
	assert_int(reported, 100);
	for (i = 0; i < 100; i++) {
		assert_int(s[i].calls, 1);
		assert_int(s[i].ok, 1);
	}
	fm_sign_pool_stats(p, &st);
	assert_int(st.threads, 3);
	assert_int(st.jobs, 0);
	assert_int(st.done, 100);
	assert_true(st.peak_queued <= 8);
	fm_sign_pool_free(&p);
	assert_null(p);
	fm_sign_pool_free(&p); /* NULL is fine */
	evloop_free(&loop);
	buf_deinit(&err);
}

/* test_backpressure: with the threads stuck, the queue stays at its
 * bound and the rest waits on the loop side; all complete later */
static void
test_backpressure(void **state)
{
	struct evloop *loop = evloop_new();
	struct buf err = BUF_INIT(256);
	struct fm_sign_pool *p;
	struct fm_sign_pool_stats st;
	struct sess s[50];
	int i;

	(void)state;
	reset(0);
	p = fm_sign_pool_new(loop, fake_work, NULL, 2, 4, &err);
	assert_non_null(p);
	memset(s, 0, sizeof(s));
	for (i = 0; i < 50; i++) {
		memset(s[i].hh, i + 1, sizeof(s[i].hh));
		fm_sign_pool_submit(p, s[i].hh, on_done, &s[i]);
	}
	wait_calls(2); /* both threads hold a job */
	(void)evloop_run_once(loop, 20);
	fm_sign_pool_stats(p, &st);
	assert_int(calls(), 2);
	assert_int(st.jobs, 50);
	/* the queue is topped up on submit and as results come back: the
	 * threads may have emptied it by half since the last submit */
	assert_true(st.queued >= 2 && st.queued <= 4);
	assert_int(st.queued + st.waiting, 48);
	assert_int(reported, 0);
	gate_set(1);
	settle(loop, 50);
	assert_int(reported, 50);
	for (i = 0; i < 50; i++)
		assert_int(s[i].ok, 1);
	fm_sign_pool_stats(p, &st);
	assert_int(st.jobs, 0);
	assert_int(st.waiting, 0);
	assert_int(st.peak_queued, 4);
	fm_sign_pool_free(&p);
	evloop_free(&loop);
	buf_deinit(&err);
}

/* test_cancel: sessions go away while their jobs are being signed,
 * queued or waiting: nothing is reported, and the freed sessions are
 * never touched (ASan would see it); the others still complete */
static void
test_cancel(void **state)
{
	struct evloop *loop = evloop_new();
	struct buf err = BUF_INIT(256);
	struct fm_sign_pool *p;
	struct fm_sign_pool_stats st;
	struct fm_sign_job *j[6];
	struct sess *gone[6], kept;
	int i;

	(void)state;
	reset(0);
	p = fm_sign_pool_new(loop, fake_work, NULL, 2, 2, &err);
	assert_non_null(p);
	/* 2 running, 2 queued, 2 waiting */
	for (i = 0; i < 6; i++) {
		gone[i] = calloc(1, sizeof(*gone[i]));
		memset(gone[i]->hh, i + 1, 32);
		j[i] = fm_sign_pool_submit(p, gone[i]->hh, on_done, gone[i]);
	}
	memset(&kept, 0, sizeof(kept));
	memset(kept.hh, 0x77, 32);
	fm_sign_pool_submit(p, kept.hh, on_done, &kept);
	wait_calls(2);
	for (i = 0; i < 6; i++) {
		fm_sign_pool_cancel(p, &j[i]);
		assert_null(j[i]);
		free(gone[i]); /* the session is gone */
	}
	fm_sign_pool_cancel(p, &j[0]); /* NULL is fine */
	fm_sign_pool_stats(p, &st);
	/* the two being signed stay until their threads let go */
	assert_int(st.jobs, 3);
	gate_set(1);
	settle(loop, 1);
	for (i = 0; i < 20; i++)
		(void)evloop_run_once(loop, 10);
	assert_int(reported, 1);
	assert_int(kept.calls, 1);
	assert_int(kept.ok, 1);
	fm_sign_pool_stats(p, &st);
	assert_int(st.jobs, 0);
	assert_int(st.done, 1);
	/* 2 cancelled while signed, the kept one; the rest never ran */
	assert_int(calls(), 3);
	fm_sign_pool_free(&p);
	evloop_free(&loop);
	buf_deinit(&err);
}

/* opener: open the gate a little later, while the pool is being freed */
static void *
opener(void *arg)
{
	struct timespec ts = { 0, 100 * 1000 * 1000 };

	(void)arg;
	nanosleep(&ts, NULL);
	gate_set(1);
	return NULL;
}

/* test_shutdown: free with jobs being signed, queued and waiting: the
 * threads finish the one in hand and stop, nothing is reported, every
 * job is freed (LSan would see a leak) */
static void
test_shutdown(void **state)
{
	struct evloop *loop = evloop_new();
	struct buf err = BUF_INIT(256);
	struct fm_sign_pool *p;
	struct sess s[20];
	pthread_t t;
	int i;

	(void)state;
	reset(0);
	p = fm_sign_pool_new(loop, fake_work, NULL, 2, 4, &err);
	assert_non_null(p);
	memset(s, 0, sizeof(s));
	for (i = 0; i < 20; i++)
		fm_sign_pool_submit(p, s[i].hh, on_done, &s[i]);
	wait_calls(2);
	assert_int(pthread_create(&t, NULL, opener, NULL), 0);
	fm_sign_pool_free(&p); /* waits for the opener */
	pthread_join(t, NULL);
	assert_null(p);
	assert_int(calls(), 2);
	assert_int(reported, 0);
	/* the eventfd is gone from the loop */
	assert_int(evloop_io_count(loop), 0);
	evloop_free(&loop);
	buf_deinit(&err);
}

/* test_failure: a failed signature is reported with its error */
static void
test_failure(void **state)
{
	struct evloop *loop = evloop_new();
	struct buf err = BUF_INIT(256);
	struct fm_sign_pool *p;
	struct sess s;

	(void)state;
	reset(1);
	work_fail = 1;
	p = fm_sign_pool_new(loop, fake_work, NULL, 1, 1, &err);
	memset(&s, 0, sizeof(s));
	fm_sign_pool_submit(p, s.hh, on_done, &s);
	settle(loop, 1);
	assert_int(s.calls, 1);
	assert_int(s.rc, -EIO);
	assert_int(s.ok, 0);
	fm_sign_pool_free(&p);
	evloop_free(&loop);
	buf_deinit(&err);
}

/* real_work: fm_dkim_sign_digest, as the policy uses it */
static int
real_work(const void *key, const unsigned char hh[32], unsigned char *sig,
	  size_t *siglen)
{
	return fm_dkim_sign_digest(key, hh, sig, siglen);
}

struct real {
	unsigned char hh[32];
	unsigned char sig[FM_SIGN_SIG_MAX];
	size_t siglen;
	int calls, rc;
};

/* on_real: keep the signature for verification */
static void
on_real(void *arg, int rc, const unsigned char *sig, size_t siglen)
{
	struct real *r = arg;

	r->calls++;
	r->rc = rc;
	memcpy(r->sig, sig, siglen);
	r->siglen = siglen;
	reported++;
}

/* verify: the RSA PKCS#1 v1.5 SHA-256 signature of hh with pk */
static int
verify(EVP_PKEY *pk, const struct real *r)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(pk, NULL);
	int ok;

	ok = EVP_PKEY_verify_init(ctx) == 1 &&
	     EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) == 1 &&
	     EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) == 1 &&
	     EVP_PKEY_verify(ctx, r->sig, r->siglen, r->hh, 32) == 1;
	EVP_PKEY_CTX_free(ctx);
	return ok;
}

/* test_real_key: one shared key, 4 threads, 64 distinct digests: every
 * signature verifies with the public key */
static void
test_real_key(void **state)
{
	struct evloop *loop = evloop_new();
	struct buf err = BUF_INIT(256);
	char *dir = test_tmpdir(), path[512];
	struct fm_dkim_signer *signer;
	struct fm_sign_pool *p;
	EVP_PKEY *pk = EVP_RSA_gen(2048);
	struct real *r = calloc(64, sizeof(*r));
	BIO *bio;
	int i;

	(void)state;
	reported = 0;
	snprintf(path, sizeof(path), "%s/k.pem", dir);
	bio = BIO_new_file(path, "w");
	PEM_write_bio_PrivateKey_traditional(bio, pk, NULL, NULL, 0, NULL,
					     NULL);
	BIO_free(bio);
	signer = fm_dkim_signer_new(path, "example.org", "s", &err);
	assert_non_null(signer);
	p = fm_sign_pool_new(loop, real_work, signer, 4, 16, &err);
	assert_non_null(p);
	for (i = 0; i < 64; i++) {
		memset(r[i].hh, i, 32);
		r[i].hh[0] = 0xa5;
		fm_sign_pool_submit(p, r[i].hh, on_real, &r[i]);
	}
	settle(loop, 64);
	assert_int(reported, 64);
	for (i = 0; i < 64; i++) {
		assert_int(r[i].calls, 1);
		assert_int(r[i].rc, 0);
		assert_int(r[i].siglen, 256);
		assert_int(verify(pk, &r[i]), 1);
	}
	fm_sign_pool_free(&p);
	fm_dkim_signer_free(&signer);
	EVP_PKEY_free(pk);
	free(r);
	test_rmtree(dir);
	free(dir);
	evloop_free(&loop);
	buf_deinit(&err);
}

/* test_threads_wanted: FILTERMAIL_SIGN_THREADS, and the default */
static void
test_threads_wanted(void **state)
{
	struct buf err = BUF_INIT(256);
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned n = 99;

	(void)state;
	unsetenv("FILTERMAIL_SIGN_THREADS");
	assert_int(fm_sign_pool_threads_wanted(&n, &err), 0);
	assert_int(n, cpus > 4 ? 4 : (cpus < 1 ? 1 : cpus));
	setenv("FILTERMAIL_SIGN_THREADS", "0", 1);
	assert_int(fm_sign_pool_threads_wanted(&n, &err), 0);
	assert_int(n, 0);
	setenv("FILTERMAIL_SIGN_THREADS", "7", 1);
	assert_int(fm_sign_pool_threads_wanted(&n, &err), 0);
	assert_int(n, 7);
	setenv("FILTERMAIL_SIGN_THREADS", "65", 1);
	assert_int(fm_sign_pool_threads_wanted(&n, &err), -EINVAL);
	setenv("FILTERMAIL_SIGN_THREADS", "two", 1);
	buf_reset(&err);
	assert_int(fm_sign_pool_threads_wanted(&n, &err), -EINVAL);
	assert_non_null(strstr(buf_cstr(&err), "FILTERMAIL_SIGN_THREADS=two"));
	unsetenv("FILTERMAIL_SIGN_THREADS");
	buf_deinit(&err);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_complete),
		cmocka_unit_test(test_backpressure),
		cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_shutdown),
		cmocka_unit_test(test_failure),
		cmocka_unit_test(test_real_key),
		cmocka_unit_test(test_threads_wanted),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
