/*
 * keygen: DKIM keys made by forked children (see keygen.h for why).
 *
 * Reservation: with R ready keys and the FIFO W of waiters, the first
 * R waiters have a key reserved; a relay not in W only gets a key when
 * R exceeds |W|. A new key reserves itself for waiter R-1, which is
 * told; a waiter that takes its key or is forgotten leaves W, and the
 * next one moves up. Children run while keys are still missing for
 * waiters (running + R < |W|), at most max at once.
 *
 * A child writes the PEM to a pipe and exits; the loop reads the pipe
 * (non-blocking) and reaps the child at end of file. A failed child (a
 * crash, a kill, output that is not an RSA key) starts a backoff timer
 * (no child starts while it runs), every waiter is told so its relay
 * reports the failure, and the next key resets the backoff. If fork
 * fails the key is made in the process instead (blocking the loop for
 * one key: better than no key).
 *
 * The child closes every descriptor but its pipe (the API connections,
 * listeners, epoll and signalfd are the operator's), unblocks the
 * signals the loop's signalfd blocked and dies with the operator.
 *
 * Untrusted input: the child's output, bounded (16 KiB) and parsed by
 * OpenSSL before use.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "keygen.h"
#include "keys.h"
#include "log.h"
#include "xmalloc.h"

#define PEM_MAX 16384
#define BACKOFF_BASE_MS 1000u
#define BACKOFF_MAX_MS 300000u

struct job {
	struct keygen *k;
	pid_t pid; /* 0 = slot free */
	int fd;
	struct buf pem;
};

struct keygen {
	struct evloop *loop;
	unsigned bits, max;
	keygen_ready_fn *ready;
	void *arg;
	struct job *jobs; /* max slots */
	size_t running;
	struct buf *keys; /* ready keys */
	size_t nkeys, keys_cap;
	char **wait; /* FIFO of waiters */
	size_t nwait, wait_cap;
	unsigned failures;	   /* in a row */
	struct evloop_timer retry; /* backing off after a failure */
	uint64_t base_ms, max_ms;
	char error[256]; /* why the last attempt failed */
};

static void keygen_pump(struct keygen *k);

/* keygen_retry: the backoff after a failure is over: try again */
static void
keygen_retry(struct evloop *loop, void *arg)
{
	(void)loop;
	keygen_pump(arg);
}

struct keygen *
keygen_new(struct evloop *loop, unsigned bits, unsigned max_children,
	   keygen_ready_fn *ready, void *arg)
{
	struct keygen *k = xcalloc(1, sizeof(*k));

	k->loop = loop;
	k->bits = bits;
	k->max = max_children;
	k->ready = ready;
	k->arg = arg;
	k->base_ms = BACKOFF_BASE_MS;
	k->max_ms = BACKOFF_MAX_MS;
	evloop_timer_init(&k->retry, keygen_retry, k);
	if (max_children > 0)
		k->jobs = xcalloc(max_children, sizeof(*k->jobs));
	return k;
}

void
keygen_set_backoff(struct keygen *k, uint64_t base_ms, uint64_t max_ms)
{
	k->base_ms = base_ms;
	k->max_ms = max_ms;
}

/* job_end: close the pipe, reap the child; its exit status */
static int
job_end(struct job *j, int kill_it)
{
	int st = 0;

	evloop_io_del(j->k->loop, j->fd);
	(void)close(j->fd);
	if (kill_it)
		(void)kill(j->pid, SIGKILL);
	while (waitpid(j->pid, &st, 0) < 0 && errno == EINTR)
		;
	j->pid = 0;
	j->fd = -1;
	j->k->running--;
	return st;
}

void
keygen_free(struct keygen **kp)
{
	struct keygen *k = *kp;
	size_t i;

	if (k == NULL)
		return;
	evloop_timer_stop(k->loop, &k->retry);
	for (i = 0; i < k->max; i++) {
		if (k->jobs[i].pid != 0)
			(void)job_end(&k->jobs[i], 1);
		buf_wipe_deinit(&k->jobs[i].pem);
	}
	for (i = 0; i < k->nkeys; i++)
		buf_wipe_deinit(&k->keys[i]);
	for (i = 0; i < k->nwait; i++)
		free(k->wait[i]);
	free(k->keys);
	free(k->wait);
	free(k->jobs);
	free(k);
	*kp = NULL;
}

/* valid_key: pem holds an RSA private key */
static int
valid_key(const struct buf *pem)
{
	struct buf txt = BUF_INIT(4096);
	int ok = pem->len > 0 && keys_dkim_txt(pem->data, pem->len, &txt) == 0;

	buf_deinit(&txt);
	return ok;
}

/* add_key: a new ready key (moved from pem); tell the waiter it is
 * reserved for */
static void
add_key(struct keygen *k, struct buf *pem)
{
	if (k->nkeys == k->keys_cap) {
		k->keys_cap = k->keys_cap ? k->keys_cap * 2 : 4;
		k->keys = xreallocarray(k->keys, k->keys_cap, sizeof(*k->keys));
	}
	k->keys[k->nkeys++] = *pem;
	buf_init(pem, PEM_MAX);
	if (k->failures > 0)
		log_info("DKIM key generation works again after %u failures",
			 k->failures);
	k->failures = 0;
	k->error[0] = '\0';
	if (k->nkeys <= k->nwait && k->ready != NULL)
		k->ready(k->arg, k->wait[k->nkeys - 1]);
}

/* failed: one attempt failed (why): back off, tell every waiter */
static void
failed(struct keygen *k, const char *why)
{
	uint64_t delay = k->base_ms;
	size_t i;

	k->failures++;
	for (i = 1; i < k->failures && delay < k->max_ms; i++)
		delay *= 2;
	if (delay > k->max_ms)
		delay = k->max_ms;
	(void)snprintf(k->error, sizeof(k->error),
		       "DKIM key generation failed (%s), %u time%s in a row; "
		       "retrying in %llu s",
		       why, k->failures, k->failures == 1 ? "" : "s",
		       (unsigned long long)((delay + 999) / 1000));
	log_warn("%s", k->error);
	evloop_timer_start(k->loop, &k->retry, delay);
	for (i = 0; i < k->nwait && k->ready != NULL; i++)
		k->ready(k->arg, k->wait[i]);
}

/* inline_key: generate one key in this process (blocking) */
static int
inline_key(struct keygen *k)
{
	struct buf pem = BUF_INIT(PEM_MAX);
	int r = keys_dkim_generate(k->bits, &pem);

	if (r == 0)
		add_key(k, &pem);
	buf_wipe_deinit(&pem);
	return r;
}

/* child_setup: the child keeps only its pipe (as fd 3) and stdio,
 * takes signals normally again and dies with the operator */
static int
child_setup(int fd, pid_t parent)
{
	sigset_t all;

	(void)sigfillset(&all);
	(void)sigprocmask(SIG_UNBLOCK, &all, NULL);
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		return -1; /* the operator died before prctl */
	if (fd != 3 && dup2(fd, 3) < 0)
		return -1;
	if (syscall(SYS_close_range, 4u, ~0u, 0) < 0) {
		long max = sysconf(_SC_OPEN_MAX);

		for (fd = 4; fd < max && fd < 65536; fd++)
			(void)close(fd);
	}
	return 3;
}

/* child_main: the forked child: one key onto its pipe, then exit */
static void
child_main(int fd, unsigned bits, pid_t parent)
{
	struct buf pem = BUF_INIT(PEM_MAX);
	size_t off = 0;
	ssize_t n;
	int ok;

	fd = child_setup(fd, parent);
	ok = fd >= 0 && keys_dkim_generate(bits, &pem) == 0;
	while (ok && off < pem.len) {
		n = write(fd, pem.data + off, pem.len - off);
		if (n < 0 && errno == EINTR)
			continue;
		ok = n > 0;
		off += ok ? (size_t)n : 0;
	}
	buf_wipe_deinit(&pem);
	_exit(ok ? 0 : 1);
}

/* describe: what ended a failed child, into why */
static void
describe(int st, size_t len, char *why, size_t whysize)
{
	if (WIFSIGNALED(st))
		(void)snprintf(why, whysize, "child killed by signal %d",
			       WTERMSIG(st));
	else if (WIFEXITED(st) && WEXITSTATUS(st) != 0)
		(void)snprintf(why, whysize, "child exited with status %d",
			       WEXITSTATUS(st));
	else
		(void)snprintf(why, whysize,
			       "child wrote %zu bytes that are no RSA key",
			       len);
}

/* job_read: the child's output; at end of file, the key */
static void
job_read(struct evloop *loop, int fd, unsigned events, void *arg)
{
	struct job *j = arg;
	struct keygen *k = j->k;
	char chunk[4096], why[96];
	ssize_t n;
	int st;

	(void)loop;
	(void)events;
	n = read(fd, chunk, sizeof(chunk));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n > 0 && buf_append(&j->pem, chunk, (size_t)n) == 0) {
		explicit_bzero(chunk, sizeof(chunk));
		return;
	}
	explicit_bzero(chunk, sizeof(chunk));
	st = job_end(j, n != 0);
	if (n == 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0 &&
	    valid_key(&j->pem)) {
		add_key(k, &j->pem);
	} else {
		describe(st, j->pem.len, why, sizeof(why));
		failed(k, why);
	}
	buf_wipe_deinit(&j->pem);
	keygen_pump(k);
}

/* job_start: fork a child for one key into slot j; 0 or -errno */
static int
job_start(struct keygen *k, struct job *j)
{
	pid_t pid, parent = getpid();
	int fds[2];

	/* the parent closes the write end at once, so no later child
	 * holds it and end of file comes when this child exits */
	if (pipe(fds) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		(void)close(fds[0]);
		(void)close(fds[1]);
		return -errno;
	}
	if (pid == 0)
		child_main(fds[1], k->bits, parent);
	(void)close(fds[1]);
	(void)fcntl(fds[0], F_SETFL, O_NONBLOCK);
	(void)fcntl(fds[0], F_SETFD, FD_CLOEXEC);
	j->k = k;
	j->pid = pid;
	j->fd = fds[0];
	buf_init(&j->pem, PEM_MAX);
	if (evloop_io_add(k->loop, j->fd, EV_READ, job_read, j) < 0)
		abort(); /* epoll failing is a broken invariant */
	k->running++;
	return 0;
}

/* keygen_pump: start children while waiters lack keys, unless backing
 * off after a failure */
static void
keygen_pump(struct keygen *k)
{
	size_t i;
	int r;

	while (k->running + k->nkeys < k->nwait && k->running < k->max &&
	       !evloop_timer_active(&k->retry)) {
		for (i = 0; i < k->max && k->jobs[i].pid != 0; i++)
			;
		r = job_start(k, &k->jobs[i]);
		if (r == 0)
			continue;
		log_warn("cannot fork for DKIM key generation (%s): "
			 "generating in-process",
			 strerror(-r));
		if (inline_key(k) < 0)
			failed(k, "in-process generation failed");
	}
}

/* find_waiter: index of waiter in the FIFO, or nwait */
static size_t
find_waiter(const struct keygen *k, const char *waiter)
{
	size_t i;

	for (i = 0; i < k->nwait; i++)
		if (strcmp(k->wait[i], waiter) == 0)
			return i;
	return k->nwait;
}

/* drop_waiter: remove waiter i; tell the one a key is now reserved
 * for, if any */
static void
drop_waiter(struct keygen *k, size_t i, int took_key)
{
	free(k->wait[i]);
	memmove(&k->wait[i], &k->wait[i + 1],
		(k->nwait - i - 1) * sizeof(*k->wait));
	k->nwait--;
	/* a forgotten waiter that had a key frees it for the next */
	if (!took_key && i < k->nkeys && k->nkeys <= k->nwait &&
	    k->ready != NULL)
		k->ready(k->arg, k->wait[k->nkeys - 1]);
}

/* hand_over: give the last ready key to the caller */
static void
hand_over(struct keygen *k, struct buf *pem)
{
	struct buf *key = &k->keys[--k->nkeys];

	(void)buf_append(pem, key->data, key->len);
	buf_wipe_deinit(key);
}

int
keygen_take(struct keygen *k, const char *waiter, struct buf *pem)
{
	size_t i = find_waiter(k, waiter);

	if (k->max == 0 && k->nkeys == 0) {
		/* in-process mode: generate now */
		if (inline_key(k) < 0)
			return -EIO;
		i = find_waiter(k, waiter);
	}
	if (i < k->nkeys || (i == k->nwait && k->nkeys > k->nwait) ||
	    (k->max == 0 && k->nkeys > 0)) {
		if (i < k->nwait)
			drop_waiter(k, i, 1);
		hand_over(k, pem);
		keygen_pump(k);
		return 1;
	}
	if (i == k->nwait) {
		if (k->nwait == k->wait_cap) {
			k->wait_cap = k->wait_cap ? k->wait_cap * 2 : 16;
			k->wait = xreallocarray(k->wait, k->wait_cap,
						sizeof(*k->wait));
		}
		k->wait[k->nwait++] = xstrdup(waiter);
	}
	keygen_pump(k);
	return k->failures > 0 ? -EIO : 0;
}

void
keygen_forget(struct keygen *k, const char *waiter)
{
	size_t i = find_waiter(k, waiter);

	if (i < k->nwait)
		drop_waiter(k, i, 0);
}

size_t
keygen_waiting(const struct keygen *k)
{
	return k->nwait;
}

size_t
keygen_running(const struct keygen *k)
{
	return k->running;
}

size_t
keygen_ready_keys(const struct keygen *k)
{
	return k->nkeys;
}

unsigned
keygen_failures(const struct keygen *k)
{
	return k->failures;
}

const char *
keygen_error(const struct keygen *k)
{
	return k->error;
}

int
keygen_child_pid(const struct keygen *k, size_t i)
{
	return i < k->max ? (int)k->jobs[i].pid : 0;
}
