/*
 * curlloop: libcurl's multi_socket interface on our evloop (curlloop.h).
 *
 * curl says which sockets to watch for what (sock_cb) and when to call
 * it back (timer_cb); the loop calls curl_multi_socket_action for ready
 * sockets (on_io) and the expired timer (on_timer). Only after such a
 * call returned, at depth 0, are finished transfers collected
 * (after_curl), so owners never free what curl is still using.
 *
 * Untrusted input: none (the bytes go to the owners' callbacks).
 */
#include "curlloop.h"

#include <errno.h>
#include <stdlib.h>

#include "log.h"
#include "xmalloc.h"

struct curlloop {
	struct evloop *loop;
	CURLM *multi;
	struct evloop_timer timer;
	curlloop_done_fn *done;
	curlloop_returned_fn *returned;
	void *arg;
	int depth; /* curl calls on the stack */
};

/* after_curl: curl returned: the owner's returned hook, then every
 * finished transfer out of the multi handle and to done */
static void
after_curl(struct curlloop *cl)
{
	CURLMsg *msg;
	CURL *easy;
	CURLcode result;
	int left;

	if (cl->depth > 0)
		return;
	if (cl->returned != NULL)
		cl->returned(cl->arg);
	while ((msg = curl_multi_info_read(cl->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		easy = msg->easy_handle;
		result = msg->data.result;
		curlloop_remove(cl, easy); /* msg is invalid from here */
		cl->done(cl->arg, easy, result);
	}
}

/* action: one curl_multi_socket_action, counted as curl on the stack */
static void
action(struct curlloop *cl, curl_socket_t s, int flags)
{
	int running;

	cl->depth++;
	(void)curl_multi_socket_action(cl->multi, s, flags, &running);
	cl->depth--;
	after_curl(cl);
}

/* on_io: a socket curl watches is ready */
static void
on_io(struct evloop *loop, int fd, unsigned events, void *arg)
{
	int flags = 0;

	(void)loop;
	if (events & EV_READ)
		flags |= CURL_CSELECT_IN;
	if (events & EV_WRITE)
		flags |= CURL_CSELECT_OUT;
	action(arg, fd, flags);
}

/* on_timer: curl's timeout expired */
static void
on_timer(struct evloop *loop, void *arg)
{
	(void)loop;
	action(arg, CURL_SOCKET_TIMEOUT, 0);
}

/* sock_cb: curl says which events it wants on a socket */
static int
sock_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct curlloop *cl = userp;
	unsigned ev = 0;

	(void)easy;
	(void)socketp;
	if (what == CURL_POLL_REMOVE) {
		evloop_io_del(cl->loop, s);
		return 0;
	}
	if (what & CURL_POLL_IN)
		ev |= EV_READ;
	if (what & CURL_POLL_OUT)
		ev |= EV_WRITE;
	if (evloop_io_mod(cl->loop, s, ev) == -ENOENT &&
	    evloop_io_add(cl->loop, s, ev, on_io, cl) < 0)
		log_error("cannot watch curl socket %d", (int)s);
	return 0;
}

/* timer_cb: curl wants to be called back in timeout_ms (-1: never) */
static int
timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct curlloop *cl = userp;

	(void)multi;
	if (timeout_ms < 0)
		evloop_timer_stop(cl->loop, &cl->timer);
	else
		evloop_timer_start(cl->loop, &cl->timer, (uint64_t)timeout_ms);
	return 0;
}

struct curlloop *
curlloop_new(struct evloop *loop, curlloop_done_fn *done,
	     curlloop_returned_fn *returned, void *arg)
{
	struct curlloop *cl;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return NULL;
	cl = xcalloc(1, sizeof(*cl));
	cl->loop = loop;
	cl->done = done;
	cl->returned = returned;
	cl->arg = arg;
	cl->multi = curl_multi_init();
	if (cl->multi == NULL)
		abort(); /* only fails out of memory */
	evloop_timer_init(&cl->timer, on_timer, cl);
	(void)curl_multi_setopt(cl->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
	(void)curl_multi_setopt(cl->multi, CURLMOPT_SOCKETDATA, cl);
	(void)curl_multi_setopt(cl->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	(void)curl_multi_setopt(cl->multi, CURLMOPT_TIMERDATA, cl);
	return cl;
}

void
curlloop_free(struct curlloop **clp)
{
	struct curlloop *cl = *clp;

	if (cl == NULL)
		return;
	/* closes the cached connections: sock_cb still runs */
	(void)curl_multi_cleanup(cl->multi);
	evloop_timer_stop(cl->loop, &cl->timer);
	free(cl);
	curl_global_cleanup();
	*clp = NULL;
}

CURLM *
curlloop_multi(struct curlloop *cl)
{
	return cl->multi;
}

int
curlloop_add(struct curlloop *cl, CURL *easy)
{
	return curl_multi_add_handle(cl->multi, easy) == CURLM_OK ? 0 : -EINVAL;
}

void
curlloop_remove(struct curlloop *cl, CURL *easy)
{
	/* curl answers OK for a handle already removed */
	(void)curl_multi_remove_handle(cl->multi, easy);
}

int
curlloop_in_curl(const struct curlloop *cl)
{
	return cl->depth > 0;
}
