/*
 * keygen: DKIM keys (RSA) generated in child processes, off the
 * operator's event loop.
 *
 * Why a child process (docs/STYLE.md, Program shape: a measured reason):
 * one RSA 2048 key costs OpenSSL 3.0 (its SP 800-56B key generation)
 * about 0.3 s of CPU here, often much more on a loaded machine;
 * profiling the operator while 150 new relays converged (perf record)
 * showed 86 % of its CPU in that key generation, during which the loop
 * served no watch, no probe and started no request. A forked child per
 * key keeps the loop free and lets the key use the other core; the loop
 * reads the PEM from a pipe like any other fd. No thread: the child
 * shares nothing with the loop and a crash in it costs one key, not the
 * operator.
 *
 * A reconcile that needs a key calls keygen_take: a ready key is handed
 * over at once; otherwise the relay joins a FIFO of waiters, the
 * reconcile carries on without the key (the Pod waits for its Secret),
 * and when a key is ready the first waiter is told (its relay is
 * re-queued) and takes it on its next reconcile. Keys are not bound to
 * relays; at most max_children are generated at once, and no more are
 * made than relays wait for. Ready keys are wiped when handed over or
 * freed.
 *
 * A child that fails (crashes, is killed, writes no RSA key) is retried
 * after a backoff (1 s doubling to 5 min, reset by the next key); the
 * waiters are told at once, and keygen_take answers -EIO with
 * keygen_error() while the last attempt failed, so the relay reports
 * the failure in its status and an event instead of waiting silently.
 * When fork itself fails, the key is made in the process (blocking).
 * Children hold no descriptor of the operator but their pipe, die with
 * it (PR_SET_PDEATHSIG) and are killed and reaped by keygen_free.
 *
 * Untrusted input: the child's output (its PEM is checked to hold an
 * RSA key before it is handed out).
 */
#ifndef OP_KEYGEN_H
#define OP_KEYGEN_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "evloop.h"

struct keygen;

/* keygen_ready_fn: waiter (a relay key) should call keygen_take
 * again: a key is ready for it, or generation failed (to report it) */
typedef void keygen_ready_fn(void *arg, const char *waiter);

/* keygen_new: keys of bits bits, at most max_children made at once
 * (0 = generate in-process, blocking: tests, and the fallback when fork
 * fails) */
struct keygen *keygen_new(struct evloop *loop, unsigned bits,
			  unsigned max_children, keygen_ready_fn *ready,
			  void *arg);
/* keygen_free: kills running children, wipes ready keys */
void keygen_free(struct keygen **kp);

/* keygen_take: 1 with a ready key appended to pem (the caller wipes
 * it), 0 when none is ready (waiter is queued, once, and told through
 * the ready callback), -EIO when none is ready and the last attempt
 * failed (waiter stays queued; keygen_error says why) */
int keygen_take(struct keygen *k, const char *waiter, struct buf *pem);
/* keygen_forget: waiter no longer needs a key (relay gone, or it
 * brings its own Secret now) */
void keygen_forget(struct keygen *k, const char *waiter);

/* keygen_error: why the last attempt failed and when the next one
 * starts; "" after a success (owned by k, valid until the next call) */
const char *keygen_error(const struct keygen *k);
/* keygen_set_backoff: retry delays after failures (tests) */
void keygen_set_backoff(struct keygen *k, uint64_t base_ms, uint64_t max_ms);

/* counters for metrics and tests */
size_t keygen_waiting(const struct keygen *k);
size_t keygen_running(const struct keygen *k);
size_t keygen_ready_keys(const struct keygen *k);
unsigned keygen_failures(const struct keygen *k);
/* keygen_child_pid: the pid of running child i (< max_children), or 0 */
int keygen_child_pid(const struct keygen *k, size_t i);

#endif
