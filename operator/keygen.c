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
 * (non-blocking) and reaps the child at end of file. Three failures in a
 * row (a child that crashed, or output that is not an RSA key) switch
 * to generating in the process until one succeeds.
 *
 * Untrusted input: the child's output, bounded (16 KiB) and parsed by
 * OpenSSL before use.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "keygen.h"
#include "keys.h"
#include "log.h"
#include "xmalloc.h"

#define PEM_MAX 16384
#define MAX_FAILURES 3

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
	unsigned failures;
};

static void keygen_pump(struct keygen *k);

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
	if (max_children > 0)
		k->jobs = xcalloc(max_children, sizeof(*k->jobs));
	return k;
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
	k->failures = 0;
	if (k->nkeys <= k->nwait && k->ready != NULL)
		k->ready(k->arg, k->wait[k->nkeys - 1]);
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

/* child_main: the forked child: one key onto fd, then exit */
static void
child_main(int fd, unsigned bits)
{
	struct buf pem = BUF_INIT(PEM_MAX);
	size_t off = 0;
	ssize_t n;
	int ok;

	/* the operator gone, the key has no reader */
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
	ok = keys_dkim_generate(bits, &pem) == 0;
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

/* job_read: the child's output; at end of file, the key */
static void
job_read(struct evloop *loop, int fd, unsigned events, void *arg)
{
	struct job *j = arg;
	struct keygen *k = j->k;
	char chunk[4096];
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
		k->failures++;
		log_warn("DKIM key generation in a child failed (status %d, "
			 "%zu bytes)",
			 st, j->pem.len);
	}
	buf_wipe_deinit(&j->pem);
	keygen_pump(k);
}

/* job_start: fork a child for one key into slot j; 0 or -errno */
static int
job_start(struct keygen *k, struct job *j)
{
	int fds[2];
	pid_t pid;

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
	if (pid == 0) {
		(void)close(fds[0]);
		child_main(fds[1], k->bits);
	}
	(void)close(fds[1]);
	(void)fcntl(fds[0], F_SETFL, O_NONBLOCK);
	j->k = k;
	j->pid = pid;
	j->fd = fds[0];
	buf_init(&j->pem, PEM_MAX);
	if (evloop_io_add(k->loop, j->fd, EV_READ, job_read, j) < 0)
		abort(); /* epoll failing is a broken invariant */
	k->running++;
	return 0;
}

/* keygen_pump: start children while waiters lack keys */
static void
keygen_pump(struct keygen *k)
{
	size_t i;

	while (k->running + k->nkeys < k->nwait && k->running < k->max &&
	       k->failures < MAX_FAILURES) {
		for (i = 0; i < k->max && k->jobs[i].pid != 0; i++)
			;
		if (job_start(k, &k->jobs[i]) < 0) {
			log_warn("cannot fork for DKIM key generation (%s): "
				 "generating in-process",
				 strerror(errno));
			k->failures = MAX_FAILURES;
		}
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

	if (k->max == 0 || k->failures >= MAX_FAILURES) {
		/* in-process: generate now unless a key is ready anyway */
		if (k->nkeys == 0 && inline_key(k) < 0)
			return -EIO;
		if (i < k->nwait)
			drop_waiter(k, i, 1);
		hand_over(k, pem);
		return 1;
	}
	if (i < k->nkeys || (i == k->nwait && k->nkeys > k->nwait)) {
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
	return 0;
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
