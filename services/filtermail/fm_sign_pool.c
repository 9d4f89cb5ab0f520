/*
 * fm_sign_pool: the DKIM signer threads (see fm_sign_pool.h for the
 * contract and the measured reason for threads at all).
 *
 * Every job is in exactly one place, told by its state: the loop-side
 * waiting list (loop thread only), the shared queue, a thread's hands,
 * or the done list (both under the mutex). The threads touch only the
 * job's digest, signature and state; the callback and its argument are
 * used by the loop thread alone, so a session that went away (its job
 * cancelled) is never reached from a thread.
 *
 * Role: outgoing filtermail with a DKIM key. Untrusted input: none.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "fm_sign_pool.h"
#include "llist.h"
#include "num.h"
#include "xmalloc.h"

enum job_state { J_WAITING, J_QUEUED, J_RUNNING, J_DONE };

struct fm_sign_job {
	LLIST_LINK(fm_sign_job) link; /* in the one list it is in */
	enum job_state state;
	int cancelled; /* running when cancelled: freed, not reported */
	int rc;
	fm_sign_done_fn *done;
	void *arg;
	size_t siglen;
	unsigned char hh[32];
	unsigned char sig[FM_SIGN_SIG_MAX];
};

LLIST_HEAD(jlist, fm_sign_job);

struct fm_sign_pool {
	struct evloop *loop;
	fm_sign_work_fn *work;
	const void *key;
	pthread_t *threads;
	unsigned nthreads;    /* started */
	pthread_mutex_t mu;   /* guards queue, done, states, stopping */
	pthread_cond_t cv;    /* the queue got a job, or stopping */
	struct jlist waiting; /* loop thread only */
	struct jlist queue;
	struct jlist done;
	size_t max_queue, peak_queued, reported, jobs;
	int stopping;
	int efd;
};

/* jl_pop: the first job of l, taken out, or NULL */
static struct fm_sign_job *
jl_pop(struct jlist *l)
{
	struct fm_sign_job *j;

	LLIST_POP(l, j, link);
	return j;
}

/* jl_free: free every job of l */
static void
jl_free(struct jlist *l, size_t *jobs)
{
	struct fm_sign_job *j, *next;

	LLIST_FOREACH_SAFE(j, l, link, next) {
		explicit_bzero(j, sizeof(*j));
		free(j);
		(*jobs)--;
	}
	LLIST_INIT(l);
}

/* worker: a signer thread: take a queued job, sign, hand it back */
static void *
worker(void *arg)
{
	struct fm_sign_pool *p = arg;
	struct fm_sign_job *j;
	uint64_t one = 1;

	(void)pthread_mutex_lock(&p->mu);
	for (;;) {
		while (LLIST_EMPTY(&p->queue) && !p->stopping)
			(void)pthread_cond_wait(&p->cv, &p->mu);
		if (p->stopping)
			break;
		j = jl_pop(&p->queue);
		j->state = J_RUNNING;
		(void)pthread_mutex_unlock(&p->mu);
		j->siglen = sizeof(j->sig);
		j->rc = p->work(p->key, j->hh, j->sig, &j->siglen);
		(void)pthread_mutex_lock(&p->mu);
		j->state = J_DONE;
		LLIST_APPEND(&p->done, j, link);
		/* the counter only wakes the loop, which empties the done
		 * list before it waits again: one wake-up per non-empty
		 * list is enough */
		if (LLIST_COUNT(&p->done) == 1 &&
		    write(p->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			abort(); /* a broken eventfd would hang sessions */
	}
	(void)pthread_mutex_unlock(&p->mu);
	return NULL;
}

/* refill: move waiting jobs into the queue while it has room (mu held) */
static void
refill(struct fm_sign_pool *p)
{
	struct fm_sign_job *j;

	while (LLIST_COUNT(&p->queue) < p->max_queue &&
	       (j = jl_pop(&p->waiting)) != NULL) {
		j->state = J_QUEUED;
		LLIST_APPEND(&p->queue, j, link);
		/* one job, one thread woken (no herd) */
		(void)pthread_cond_signal(&p->cv);
	}
	if (LLIST_COUNT(&p->queue) > p->peak_queued)
		p->peak_queued = LLIST_COUNT(&p->queue);
}

/* on_event: results are in: report them one at a time (a callback may
 * cancel another job, which must then not be in a private list) */
static void
on_event(struct evloop *loop, int fd, unsigned events, void *arg)
{
	struct fm_sign_pool *p = arg;
	struct fm_sign_job *j;
	uint64_t n;

	(void)loop;
	(void)events;
	if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		return;
	for (;;) {
		(void)pthread_mutex_lock(&p->mu);
		j = jl_pop(&p->done);
		refill(p);
		(void)pthread_mutex_unlock(&p->mu);
		if (j == NULL)
			break;
		p->jobs--;
		if (!j->cancelled) {
			p->reported++;
			j->done(j->arg, j->rc, j->sig, j->siglen);
		}
		explicit_bzero(j, sizeof(*j));
		free(j);
	}
}

/* start_threads: nthreads signers with small stacks and every signal
 * blocked; 0 or -errno (those started are kept in p->nthreads) */
static int
start_threads(struct fm_sign_pool *p, unsigned nthreads)
{
	pthread_attr_t attr;
	sigset_t all, old;
	int rc = 0;

	if (pthread_attr_init(&attr) != 0)
		return -ENOMEM;
	(void)pthread_attr_setstacksize(&attr, FM_SIGN_STACK);
	(void)sigfillset(&all);
	(void)pthread_sigmask(SIG_BLOCK, &all, &old);
	p->threads = xcalloc(nthreads, sizeof(*p->threads));
	while (p->nthreads < nthreads) {
		rc = -pthread_create(&p->threads[p->nthreads], &attr, worker,
				     p);
		if (rc < 0)
			break;
		p->nthreads++;
	}
	(void)pthread_sigmask(SIG_SETMASK, &old, NULL);
	(void)pthread_attr_destroy(&attr);
	return rc;
}

struct fm_sign_pool *
fm_sign_pool_new(struct evloop *loop, fm_sign_work_fn *work, const void *key,
		 unsigned nthreads, size_t max_queue, struct buf *err)
{
	struct fm_sign_pool *p = xcalloc(1, sizeof(*p));
	int rc;

	p->loop = loop;
	p->work = work;
	p->key = key;
	p->max_queue = max_queue > 0 ? max_queue : 1;
	(void)pthread_mutex_init(&p->mu, NULL);
	(void)pthread_cond_init(&p->cv, NULL);
	p->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (p->efd < 0 ||
	    evloop_io_add(loop, p->efd, EV_READ, on_event, p) < 0) {
		(void)buf_printf(err, "signer pool: eventfd: %s",
				 strerror(errno));
		goto fail;
	}
	rc = start_threads(p, nthreads > 0 ? nthreads : 1);
	if (rc < 0) {
		(void)buf_printf(err, "signer pool: thread: %s", strerror(-rc));
		goto fail;
	}
	return p;
fail:
	fm_sign_pool_free(&p);
	return NULL;
}

void
fm_sign_pool_free(struct fm_sign_pool **pp)
{
	struct fm_sign_pool *p = *pp;
	unsigned i;

	if (p == NULL)
		return;
	(void)pthread_mutex_lock(&p->mu);
	p->stopping = 1;
	(void)pthread_cond_broadcast(&p->cv);
	(void)pthread_mutex_unlock(&p->mu);
	for (i = 0; i < p->nthreads; i++)
		(void)pthread_join(p->threads[i], NULL);
	/* no thread is left: every job is in one of the lists */
	jl_free(&p->waiting, &p->jobs);
	jl_free(&p->queue, &p->jobs);
	jl_free(&p->done, &p->jobs);
	if (p->efd >= 0) {
		evloop_io_del(p->loop, p->efd);
		(void)close(p->efd);
	}
	(void)pthread_cond_destroy(&p->cv);
	(void)pthread_mutex_destroy(&p->mu);
	free(p->threads);
	free(p);
	*pp = NULL;
}

struct fm_sign_job *
fm_sign_pool_submit(struct fm_sign_pool *p, const unsigned char hh[32],
		    fm_sign_done_fn *done, void *arg)
{
	struct fm_sign_job *j = xcalloc(1, sizeof(*j));

	memcpy(j->hh, hh, sizeof(j->hh));
	j->done = done;
	j->arg = arg;
	j->state = J_WAITING;
	p->jobs++;
	LLIST_APPEND(&p->waiting, j, link);
	(void)pthread_mutex_lock(&p->mu);
	refill(p);
	(void)pthread_mutex_unlock(&p->mu);
	return j;
}

void
fm_sign_pool_cancel(struct fm_sign_pool *p, struct fm_sign_job **jp)
{
	struct fm_sign_job *j = *jp;
	int keep = 0;

	if (j == NULL)
		return;
	*jp = NULL;
	(void)pthread_mutex_lock(&p->mu);
	switch (j->state) {
	case J_WAITING:
		LLIST_REMOVE(&p->waiting, j, link);
		break;
	case J_QUEUED:
		LLIST_REMOVE(&p->queue, j, link);
		refill(p);
		break;
	case J_RUNNING:
		/* its thread still writes the signature: freed when the
		 * loop takes it off the done list */
		j->cancelled = 1;
		keep = 1;
		break;
	case J_DONE:
		LLIST_REMOVE(&p->done, j, link);
		break;
	}
	(void)pthread_mutex_unlock(&p->mu);
	if (keep)
		return;
	p->jobs--;
	explicit_bzero(j, sizeof(*j));
	free(j);
}

void
fm_sign_pool_stats(struct fm_sign_pool *p, struct fm_sign_pool_stats *st)
{
	(void)pthread_mutex_lock(&p->mu);
	st->threads = p->nthreads;
	st->jobs = p->jobs;
	st->waiting = LLIST_COUNT(&p->waiting);
	st->queued = LLIST_COUNT(&p->queue);
	st->peak_queued = p->peak_queued;
	st->done = p->reported;
	(void)pthread_mutex_unlock(&p->mu);
}

int
fm_sign_pool_threads_wanted(unsigned *n_r, struct buf *err)
{
	const char *v = getenv("FILTERMAIL_SIGN_THREADS");
	long cpus;

	if (v != NULL && v[0] != '\0') {
		if (num_parse_uint(v, 0, FM_SIGN_LIMIT_THREADS, n_r) < 0) {
			(void)buf_printf(err,
					 "FILTERMAIL_SIGN_THREADS=%.32s: not "
					 "a number from 0 to %d",
					 v, FM_SIGN_LIMIT_THREADS);
			return -EINVAL;
		}
		return 0;
	}
	cpus = sysconf(_SC_NPROCESSORS_ONLN);
	if (cpus < 1)
		cpus = 1;
	*n_r = cpus > FM_SIGN_MAX_THREADS ? FM_SIGN_MAX_THREADS
					  : (unsigned)cpus;
	return 0;
}
