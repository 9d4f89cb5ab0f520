/*
 * fm_reinject_pool: idle connections to Postfix's reinject smtpd, kept
 * after a successful transaction and reused for the next message (as
 * upstream's client keeps one per destination, and Postfix's own smtp
 * client caches connections).
 *
 * Role: saves connect, greeting, EHLO and QUIT per message: half the
 * round trips of a reinjection. A kept connection has finished its
 * transaction (the server is back in its initial state), is watched
 * while idle (any byte or EOF from the server, e.g. its "421 timeout",
 * drops it), and is closed with QUIT after idle_ms. fm_reinject retries
 * on a fresh connection when a kept one turns out dead before any reply,
 * so reuse never costs a message.
 *
 * Untrusted input: none is read (anything the server says while idle
 * just ends the connection).
 */
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "filtermail.h"
#include "xmalloc.h"

struct idle_conn {
	struct fm_reinject_pool *pool;
	int fd; /* -1: free slot */
	unsigned caps;
	struct evloop_timer timer;
};

struct fm_reinject_pool {
	struct evloop *loop;
	struct idle_conn *slots;
	size_t max, n;
	uint64_t idle_ms;
};

/* drop: close an idle connection and free its slot */
static void
drop(struct idle_conn *ic, int say_quit)
{
	struct fm_reinject_pool *p = ic->pool;

	if (say_quit)
		(void)send(ic->fd, "QUIT\r\n", 6, MSG_NOSIGNAL | MSG_DONTWAIT);
	evloop_timer_stop(p->loop, &ic->timer);
	evloop_io_del(p->loop, ic->fd);
	close(ic->fd);
	ic->fd = -1;
	p->n--;
}

/* on_idle_io: the server spoke or closed while idle: drop it */
static void
on_idle_io(struct evloop *loop, int fd, unsigned events, void *arg)
{
	(void)loop;
	(void)fd;
	(void)events;
	drop(arg, 0);
}

/* on_idle_timer: idle too long */
static void
on_idle_timer(struct evloop *loop, void *arg)
{
	(void)loop;
	drop(arg, 1);
}

/* fm_reinject_pool_new: see filtermail.h */
struct fm_reinject_pool *
fm_reinject_pool_new(struct evloop *loop, size_t max_idle, uint64_t idle_ms)
{
	struct fm_reinject_pool *p = xcalloc(1, sizeof(*p));
	size_t i;

	p->loop = loop;
	p->max = max_idle;
	p->idle_ms = idle_ms;
	p->slots = xcalloc(max_idle + 1, sizeof(*p->slots));
	for (i = 0; i < max_idle; i++) {
		p->slots[i].pool = p;
		p->slots[i].fd = -1;
		evloop_timer_init(&p->slots[i].timer, on_idle_timer,
				  &p->slots[i]);
	}
	return p;
}

/* fm_reinject_pool_free: see filtermail.h */
void
fm_reinject_pool_free(struct fm_reinject_pool **pp)
{
	struct fm_reinject_pool *p = *pp;
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < p->max; i++)
		if (p->slots[i].fd >= 0)
			drop(&p->slots[i], 1);
	free(p->slots);
	free(p);
	*pp = NULL;
}

/* fm_reinject_pool_get: see filtermail.h */
int
fm_reinject_pool_get(struct fm_reinject_pool *p, int *fd_r, unsigned *caps_r)
{
	size_t i;

	for (i = 0; i < p->max && p->n > 0; i++) {
		struct idle_conn *ic = &p->slots[i];

		if (ic->fd < 0)
			continue;
		evloop_timer_stop(p->loop, &ic->timer);
		evloop_io_del(p->loop, ic->fd);
		*fd_r = ic->fd;
		*caps_r = ic->caps;
		ic->fd = -1;
		p->n--;
		return 1;
	}
	return 0;
}

/* fm_reinject_pool_put: see filtermail.h */
void
fm_reinject_pool_put(struct fm_reinject_pool *p, int fd, unsigned caps)
{
	size_t i;

	for (i = 0; i < p->max; i++) {
		struct idle_conn *ic = &p->slots[i];

		if (ic->fd >= 0)
			continue;
		if (evloop_io_add(p->loop, fd, EV_READ, on_idle_io, ic) < 0)
			break;
		ic->fd = fd;
		ic->caps = caps;
		p->n++;
		evloop_timer_start(p->loop, &ic->timer, p->idle_ms);
		return;
	}
	(void)send(fd, "QUIT\r\n", 6, MSG_NOSIGNAL | MSG_DONTWAIT);
	close(fd);
}

/* fm_reinject_pool_idle: see filtermail.h */
size_t
fm_reinject_pool_idle(const struct fm_reinject_pool *p)
{
	return p->n;
}
