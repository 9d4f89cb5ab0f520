/*
 * net_server: connection admission on the event loop (see net_server.h).
 *
 * Role: the accept loop every server of ours runs: a burst of accepts
 * per readiness event, the owner's connection cap, and a pause after a
 * failed accept so an exhausted fd table does not spin the loop.
 * Untrusted input: none read here; peers only decide how many
 * connections arrive and when, which the cap and the burst bound.
 */
#include "net_server.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net.h"

/* connections accepted per readiness event, so one busy listener does
 * not starve the rest of the loop */
#define ACCEPT_BURST 64

/* watch_all: events (EV_READ or 0) on every listener */
static void
watch_all(struct net_server *ns, unsigned events)
{
	size_t i;

	for (i = 0; i < ns->nlfds; i++)
		(void)evloop_io_mod(ns->loop, ns->lfds[i], events);
}

/* refuse: a connection over the cap gets the busy reply, best effort */
static void
refuse(struct net_server *ns, int fd)
{
	const char *busy = ns->opts.busy;

	if (ns->opts.full_msg != NULL)
		log_warn("%s: %zu connections, refusing more",
			 ns->opts.full_msg, *ns->nconns);
	if (busy != NULL)
		(void)send(fd, busy, strlen(busy), MSG_NOSIGNAL | MSG_DONTWAIT);
	(void)close(fd);
}

/* on_accept: take the waiting connections of listener lfd */
static void
on_accept(struct evloop *loop, int lfd, unsigned events, void *arg)
{
	struct net_server *ns = arg;
	int fd, e, i;

	(void)events;
	if (evloop_timer_active(&ns->pause))
		return; /* a stale event from before another listener paused */
	for (i = 0; i < ACCEPT_BURST; i++) {
		fd = net_accept(lfd);
		if (fd < 0) {
			e = errno;
			if (e == EAGAIN || e == EWOULDBLOCK)
				return;
			if (e == EINTR || e == ECONNABORTED)
				continue; /* that one is gone, not the rest */
			/* out of fds or memory: the listener stays readable
			 * and would spin the loop; pause it */
			log_write(ns->opts.err_level, __func__, "%s: %s",
				  ns->opts.err_msg, strerror(e));
			watch_all(ns, 0);
			evloop_timer_start(loop, &ns->pause, ns->opts.pause_ms);
			return;
		}
		if (ns->opts.nodelay)
			(void)net_set_nodelay(fd);
		if (*ns->nconns >= ns->opts.max_conns) {
			refuse(ns, fd);
			continue;
		}
		ns->fn(ns->arg, fd);
	}
}

/* on_pause_end: accept again after a pause */
static void
on_pause_end(struct evloop *loop, void *arg)
{
	(void)loop;
	watch_all(arg, EV_READ);
}

/* net_server_init: see net_server.h */
void
net_server_init(struct net_server *ns, struct evloop *loop,
		const struct net_server_opts *opts, const size_t *nconns,
		net_server_conn_fn *fn, void *arg)
{
	memset(ns, 0, sizeof(*ns));
	ns->loop = loop;
	ns->opts = *opts;
	if (ns->opts.err_msg == NULL)
		ns->opts.err_msg = "accept failed";
	ns->nconns = nconns;
	ns->fn = fn;
	ns->arg = arg;
	evloop_timer_init(&ns->pause, on_pause_end, ns);
}

/* net_server_listen: see net_server.h */
int
net_server_listen(struct net_server *ns, int lfd)
{
	int r;

	if (ns->nlfds >= NET_SERVER_LISTENERS)
		return -ENOSPC;
	r = evloop_io_add(ns->loop, lfd, EV_READ, on_accept, ns);
	if (r < 0)
		return r;
	ns->lfds[ns->nlfds++] = lfd;
	return 0;
}

/* net_server_set_max: see net_server.h */
void
net_server_set_max(struct net_server *ns, size_t max_conns)
{
	ns->opts.max_conns = max_conns;
}

/* net_server_close: see net_server.h */
void
net_server_close(struct net_server *ns)
{
	size_t i;

	evloop_timer_stop(ns->loop, &ns->pause);
	for (i = 0; i < ns->nlfds; i++) {
		evloop_io_del(ns->loop, ns->lfds[i]);
		(void)close(ns->lfds[i]);
	}
	ns->nlfds = 0;
}
