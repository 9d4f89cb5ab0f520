/*
 * net_server: connection admission on the event loop, shared by the
 * HTTP server, the dict server and filtermail's SMTP and milter servers.
 *
 * It watches one or more listening fds, accepts every waiting connection
 * (a bounded burst per event), refuses those over the owner's cap (an
 * optional one-line busy reply, then close) and hands each admitted fd
 * to the owner's callback. When accept fails for any other reason than
 * "nothing waiting" (out of fds or memory above all), it logs once and
 * stops accepting for a while instead of spinning on a listener that
 * stays readable.
 */
#ifndef CM_NET_SERVER_H
#define CM_NET_SERVER_H

#include <stddef.h>

#include "evloop.h"
#include "log.h"

#define NET_SERVER_LISTENERS 8

/* net_server_conn_fn: fd was admitted; it is the callee's from now on */
typedef void net_server_conn_fn(void *arg, int fd);

struct net_server_opts {
	size_t max_conns;     /* refuse while *nconns >= max_conns */
	const char *busy;     /* sent to a refused connection, or NULL */
	const char *full_msg; /* NULL, or warn "<full_msg>: N conn..." */
	const char *err_msg;  /* "<err_msg>: <strerror>" when accept fails */
	enum log_level err_level; /* ... logged at this level */
	unsigned pause_ms;	  /* then no accepting for this long */
	int nodelay;		  /* TCP_NODELAY on accepted sockets */
};

/* embedded in its owner; the fields are the module's own */
struct net_server {
	struct evloop *loop;
	struct net_server_opts opts;
	const size_t *nconns; /* the owner's count of open connections */
	net_server_conn_fn *fn;
	void *arg;
	int lfds[NET_SERVER_LISTENERS];
	size_t nlfds;
	struct evloop_timer pause; /* accepting paused after a failure */
};

/* net_server_init: no listeners yet; the opts' strings and nconns must
 * outlive ns */
void net_server_init(struct net_server *ns, struct evloop *loop,
		     const struct net_server_opts *opts, const size_t *nconns,
		     net_server_conn_fn *fn, void *arg);
/* net_server_listen: accept on lfd, which ns owns afterwards (closed
 * by net_server_close); 0, or -errno and lfd stays the caller's */
int net_server_listen(struct net_server *ns, int lfd);
/* net_server_set_max: change the cap (open connections stay open) */
void net_server_set_max(struct net_server *ns, size_t max_conns);
/* net_server_close: stop accepting and close every listener; the
 * admitted connections are the owner's to keep or close */
void net_server_close(struct net_server *ns);

#endif
