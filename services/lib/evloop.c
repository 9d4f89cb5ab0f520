/*
 * evloop: epoll event loop with embedded heap timers and signalfd.
 */
#include "evloop.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "xmalloc.h"

#define MAX_EVENTS 256
#define MAX_SIGNALS 8

struct io_slot {
	evloop_io_fn *fn;
	void *arg;
	unsigned events;
	uint32_t gen; /* bumped on every add and del: stale events skipped */
	int used;
};

struct sig_slot {
	int signo;
	evloop_signal_fn *fn;
	void *arg;
};

struct evloop {
	int epfd;
	int sigfd;
	sigset_t sigmask;
	struct sig_slot sigs[MAX_SIGNALS];
	size_t nsigs;
	struct io_slot *io;
	size_t io_cap;
	size_t io_count;
	struct evloop_timer **heap;
	size_t heap_len, heap_cap;
	evloop_clock_fn *clock;
	uint64_t now;
	int stop;
};

/* mono_ms: CLOCK_MONOTONIC in milliseconds */
static uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct evloop *
evloop_new(void)
{
	struct evloop *loop = xcalloc(1, sizeof(*loop));

	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0) {
		free(loop);
		return NULL;
	}
	loop->sigfd = -1;
	sigemptyset(&loop->sigmask);
	loop->clock = mono_ms;
	loop->now = loop->clock();
	return loop;
}

void
evloop_free(struct evloop **loopp)
{
	struct evloop *loop = *loopp;

	if (loop == NULL)
		return;
	if (loop->sigfd >= 0)
		close(loop->sigfd);
	close(loop->epfd);
	free(loop->io);
	free(loop->heap);
	free(loop);
	*loopp = NULL;
}

/* to_epoll: our event bits as epoll's */
static uint32_t
to_epoll(unsigned events)
{
	uint32_t e = 0;

	if (events & EV_READ)
		e |= EPOLLIN | EPOLLRDHUP;
	if (events & EV_WRITE)
		e |= EPOLLOUT;
	return e;
}

int
evloop_io_add(struct evloop *loop, int fd, unsigned events, evloop_io_fn *fn,
	      void *arg)
{
	struct epoll_event ev;
	struct io_slot *s;
	size_t ncap;

	if (fd < 0)
		return -EBADF;
	if ((size_t)fd >= loop->io_cap) {
		ncap = loop->io_cap ? loop->io_cap : 64;
		while (ncap <= (size_t)fd)
			ncap *= 2;
		loop->io = xreallocarray(loop->io, ncap, sizeof(*loop->io));
		memset(loop->io + loop->io_cap, 0,
		       (ncap - loop->io_cap) * sizeof(*loop->io));
		loop->io_cap = ncap;
	}
	s = &loop->io[fd];
	if (s->used)
		return -EEXIST;
	s->gen++;
	memset(&ev, 0, sizeof(ev));
	ev.events = to_epoll(events);
	ev.data.u64 = (uint64_t)(uint32_t)fd | (uint64_t)s->gen << 32;
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	s->fn = fn;
	s->arg = arg;
	s->events = events;
	s->used = 1;
	loop->io_count++;
	return 0;
}

int
evloop_io_mod(struct evloop *loop, int fd, unsigned events)
{
	struct epoll_event ev;
	struct io_slot *s;

	if (fd < 0 || (size_t)fd >= loop->io_cap || !loop->io[fd].used)
		return -ENOENT;
	s = &loop->io[fd];
	if (s->events == events)
		return 0;
	memset(&ev, 0, sizeof(ev));
	ev.events = to_epoll(events);
	ev.data.u64 = (uint64_t)(uint32_t)fd | (uint64_t)s->gen << 32;
	if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
		return -errno;
	s->events = events;
	return 0;
}

void
evloop_io_del(struct evloop *loop, int fd)
{
	struct io_slot *s;

	if (fd < 0 || (size_t)fd >= loop->io_cap || !loop->io[fd].used)
		return;
	s = &loop->io[fd];
	(void)epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
	s->used = 0;
	s->gen++;
	s->fn = NULL;
	s->arg = NULL;
	loop->io_count--;
}

size_t
evloop_io_count(const struct evloop *loop)
{
	return loop->io_count;
}

/* timers: a binary min-heap of pointers ordered by when */

static void
heap_swap(struct evloop *loop, size_t a, size_t b)
{
	struct evloop_timer *t = loop->heap[a];

	loop->heap[a] = loop->heap[b];
	loop->heap[b] = t;
	loop->heap[a]->heap_idx = a;
	loop->heap[b]->heap_idx = b;
}

static void
heap_up(struct evloop *loop, size_t i)
{
	while (i > 0 && loop->heap[(i - 1) / 2]->when > loop->heap[i]->when) {
		heap_swap(loop, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void
heap_down(struct evloop *loop, size_t i)
{
	size_t l, r, m;

	for (;;) {
		l = 2 * i + 1;
		r = l + 1;
		m = i;
		if (l < loop->heap_len &&
		    loop->heap[l]->when < loop->heap[m]->when)
			m = l;
		if (r < loop->heap_len &&
		    loop->heap[r]->when < loop->heap[m]->when)
			m = r;
		if (m == i)
			return;
		heap_swap(loop, i, m);
		i = m;
	}
}

void
evloop_timer_init(struct evloop_timer *t, evloop_timer_fn *fn, void *arg)
{
	t->when = 0;
	t->heap_idx = SIZE_MAX;
	t->fn = fn;
	t->arg = arg;
}

int
evloop_timer_active(const struct evloop_timer *t)
{
	return t->heap_idx != SIZE_MAX;
}

void
evloop_timer_stop(struct evloop *loop, struct evloop_timer *t)
{
	size_t i = t->heap_idx;

	if (i == SIZE_MAX)
		return;
	loop->heap_len--;
	if (i != loop->heap_len) {
		heap_swap(loop, i, loop->heap_len);
		heap_down(loop, i);
		heap_up(loop, i);
	}
	t->heap_idx = SIZE_MAX;
}

void
evloop_timer_start(struct evloop *loop, struct evloop_timer *t,
		   uint64_t delay_ms)
{
	evloop_timer_stop(loop, t);
	/* the cached time may be a whole slow start-up old: refresh it, or
	 * a timer armed outside the loop would fire early */
	loop->now = loop->clock();
	if (loop->heap_len == loop->heap_cap) {
		loop->heap_cap = loop->heap_cap ? loop->heap_cap * 2 : 64;
		loop->heap = xreallocarray(loop->heap, loop->heap_cap,
					   sizeof(struct evloop_timer *));
	}
	t->when = evloop_now(loop) + delay_ms;
	t->heap_idx = loop->heap_len;
	loop->heap[loop->heap_len++] = t;
	heap_up(loop, t->heap_idx);
}

uint64_t
evloop_now(struct evloop *loop)
{
	return loop->now;
}

void
evloop_set_clock(struct evloop *loop, evloop_clock_fn *fn)
{
	loop->clock = fn != NULL ? fn : mono_ms;
	loop->now = loop->clock();
}

int
evloop_signal_add(struct evloop *loop, int signo, evloop_signal_fn *fn,
		  void *arg)
{
	struct epoll_event ev;
	int fd;

	if (loop->nsigs == MAX_SIGNALS)
		return -ENOSPC;
	sigaddset(&loop->sigmask, signo);
	if (sigprocmask(SIG_BLOCK, &loop->sigmask, NULL) < 0)
		return -errno;
	fd = signalfd(loop->sigfd, &loop->sigmask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (loop->sigfd < 0) {
		memset(&ev, 0, sizeof(ev));
		ev.events = EPOLLIN;
		ev.data.u64 = UINT64_MAX; /* marks the signalfd */
		if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			close(fd);
			return -errno;
		}
		loop->sigfd = fd;
	}
	loop->sigs[loop->nsigs].signo = signo;
	loop->sigs[loop->nsigs].fn = fn;
	loop->sigs[loop->nsigs].arg = arg;
	loop->nsigs++;
	return 0;
}

/* stop_on_signal: log the signal and end evloop_run */
static void
stop_on_signal(struct evloop *loop, int signo, void *arg)
{
	(void)arg;
	log_info("signal %d, stopping", signo);
	evloop_stop(loop);
}

int
evloop_stop_on_signals(struct evloop *loop)
{
	int r = evloop_signal_add(loop, SIGTERM, stop_on_signal, NULL);

	return r < 0 ? r
		     : evloop_signal_add(loop, SIGINT, stop_on_signal, NULL);
}

/* dispatch_signals: read the signalfd dry and call the handlers */
static int
dispatch_signals(struct evloop *loop)
{
	struct signalfd_siginfo si;
	int n = 0;
	size_t i;

	while (read(loop->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		for (i = 0; i < loop->nsigs; i++) {
			if (loop->sigs[i].signo == (int)si.ssi_signo) {
				loop->sigs[i].fn(loop, (int)si.ssi_signo,
						 loop->sigs[i].arg);
				n++;
			}
		}
	}
	return n;
}

/* run_timers: fire every timer due now; a timer re-armed by its own
 * callback for "now" waits for the next round */
static int
run_timers(struct evloop *loop)
{
	struct evloop_timer *t;
	uint64_t now = loop->now;
	int n = 0;

	while (loop->heap_len > 0 && loop->heap[0]->when <= now && n < 10000) {
		t = loop->heap[0];
		evloop_timer_stop(loop, t);
		t->fn(loop, t->arg);
		n++;
	}
	return n;
}

/* next_timeout: ms until the first timer, capped by max_wait_ms */
static int
next_timeout(struct evloop *loop, int max_wait_ms)
{
	uint64_t d;

	if (loop->heap_len == 0)
		return max_wait_ms;
	if (loop->heap[0]->when <= loop->now)
		return 0;
	d = loop->heap[0]->when - loop->now;
	if (d > INT32_MAX)
		d = INT32_MAX;
	if (max_wait_ms >= 0 && (uint64_t)max_wait_ms < d)
		return max_wait_ms;
	return (int)d;
}

int
evloop_run_once(struct evloop *loop, int max_wait_ms)
{
	struct epoll_event evs[MAX_EVENTS];
	struct io_slot *s;
	unsigned got;
	uint32_t fd, gen;
	int i, n, handled = 0;

	loop->now = loop->clock();
	n = epoll_wait(loop->epfd, evs, MAX_EVENTS,
		       next_timeout(loop, max_wait_ms));
	if (n < 0 && errno != EINTR)
		return -errno;
	loop->now = loop->clock();
	for (i = 0; i < n; i++) {
		if (evs[i].data.u64 == UINT64_MAX) {
			handled += dispatch_signals(loop);
			continue;
		}
		fd = (uint32_t)evs[i].data.u64;
		gen = (uint32_t)(evs[i].data.u64 >> 32);
		if (fd >= loop->io_cap)
			continue;
		s = &loop->io[fd];
		if (!s->used || s->gen != gen)
			continue; /* deleted during this round */
		got = 0;
		if (evs[i].events &
		    (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
			got |= EV_READ;
		if (evs[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
			got |= EV_WRITE;
		got &= s->events | EV_READ;
		if (got == 0)
			continue;
		s->fn(loop, (int)fd, got, s->arg);
		handled++;
	}
	handled += run_timers(loop);
	return handled;
}

int
evloop_run(struct evloop *loop)
{
	int r;

	loop->stop = 0;
	while (!loop->stop) {
		r = evloop_run_once(loop, -1);
		if (r < 0)
			return r;
	}
	return 0;
}

void
evloop_stop(struct evloop *loop)
{
	loop->stop = 1;
}
