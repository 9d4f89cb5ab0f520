/*
 * fm_sign_pool: a small fixed pool of threads that make the RSA
 * signatures of outgoing mail (the DKIM private-key operation) off the
 * event loop, and hand the results back to it through an eventfd the
 * loop watches.
 *
 * Why threads (docs/STYLE.md, Program shape, asks for a measured
 * reason): with DKIM on, perf shows about 60% of filtermail's CPU in
 * libcrypto's RSA bignum code (~420 us per RSA-2048 signature here,
 * `openssl speed rsa2048`), 2-3% in SHA-256, the rest in the kernel's
 * socket work and our own parsing. One thread thus tops out near
 * 1/420 us = 2400 signatures a second while the other cores idle. Only
 * the private-key operation moves: the hashes stay on the loop (they
 * need the message, which the session owns; the job carries only the
 * 32-byte digest and its result, so a thread never touches a session or
 * a message).
 *
 * Contract: submit, cancel and the done callbacks all run on the loop
 * thread. The shared queue holds at most max_queue jobs; jobs beyond it
 * wait on a loop-side list and enter the queue as results come back
 * (back-pressure: sessions wait, nothing is dropped, and the list is
 * bounded by the sessions). A cancelled job is never reported: a job
 * the threads have not taken is freed at once, one being signed is
 * freed when its thread is done with it. fm_sign_pool_free() stops and
 * joins the threads, then frees every job left without reporting it.
 * Threads block every signal (the loop's signalfd gets them) and run
 * on FM_SIGN_STACK bytes of stack.
 *
 * Untrusted input: none (digests of checked messages).
 */
#ifndef FM_SIGN_POOL_H
#define FM_SIGN_POOL_H

#include <stddef.h>

#include "buf.h"
#include "evloop.h"

#define FM_SIGN_MAX_THREADS 4	   /* the default's cap: online CPUs, <= 4 */
#define FM_SIGN_LIMIT_THREADS 64   /* FILTERMAIL_SIGN_THREADS at most */
#define FM_SIGN_STACK (256 * 1024) /* each signer thread's stack */
#define FM_SIGN_SIG_MAX 1024	   /* longest signature (8192-bit RSA) */

/* fm_sign_work_fn: sign the 32-byte digest hh with key into sig (*siglen
 * its size on entry, the length on return); 0 or -errno. Called from the
 * signer threads, concurrently: it may only read key. */
typedef int fm_sign_work_fn(const void *key, const unsigned char hh[32],
			    unsigned char *sig, size_t *siglen);
/* fm_sign_done_fn: the result of one job, on the loop thread: rc 0 and
 * the signature, or the work function's -errno. The job is gone once
 * this returns: do not cancel it. */
typedef void fm_sign_done_fn(void *arg, int rc, const unsigned char *sig,
			     size_t siglen);

struct fm_sign_pool;
struct fm_sign_job;

/* fm_sign_pool_new: nthreads (>= 1) threads signing with work(key, ...);
 * key is borrowed and must outlive the pool. NULL with the reason in
 * err when the eventfd or a thread cannot be made. */
struct fm_sign_pool *fm_sign_pool_new(struct evloop *loop,
				      fm_sign_work_fn *work, const void *key,
				      unsigned nthreads, size_t max_queue,
				      struct buf *err);
/* fm_sign_pool_free: stop and join the threads, free every pending job
 * (none is reported), close the eventfd; NULLs *pp; accepts NULL */
void fm_sign_pool_free(struct fm_sign_pool **pp);

/* fm_sign_pool_submit: sign hh; done(arg, ...) runs later from the loop,
 * never from here. Returns the job's handle, valid until done runs or
 * fm_sign_pool_cancel. */
struct fm_sign_job *fm_sign_pool_submit(struct fm_sign_pool *p,
					const unsigned char hh[32],
					fm_sign_done_fn *done, void *arg);
/* fm_sign_pool_cancel: done will not run for *jp; *jp = NULL. Harmless
 * on NULL. */
void fm_sign_pool_cancel(struct fm_sign_pool *p, struct fm_sign_job **jp);

/* what the pool holds now (tests, the bench) */
struct fm_sign_pool_stats {
	unsigned threads;
	size_t jobs;	/* not yet reported nor freed (cancelled included) */
	size_t waiting; /* loop-side, beyond the queue's bound */
	size_t queued;	/* in the shared queue */
	size_t peak_queued; /* the most ever in the shared queue */
	size_t done;	    /* reported since the start */
};
void fm_sign_pool_stats(struct fm_sign_pool *p, struct fm_sign_pool_stats *st);

/* fm_sign_pool_threads_wanted: the signer threads to start: the
 * environment variable FILTERMAIL_SIGN_THREADS (0 = sign on the loop, no
 * pool; at most FM_SIGN_LIMIT_THREADS), else the online CPUs capped at
 * FM_SIGN_MAX_THREADS. 0 or -EINVAL (a bad value, said in err). */
int fm_sign_pool_threads_wanted(unsigned *n_r, struct buf *err);

#endif
