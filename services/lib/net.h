/*
 * net: sockets for the event loop. Every fd returned is non-blocking and
 * close-on-exec. Listening: TCP (IPv4/IPv6 literal or name, resolved
 * once at start) and Unix stream sockets with a mode and owner, a stale
 * socket file replaced. Connecting: non-blocking, finished with
 * net_connect_finish() when the fd turns writable.
 */
#ifndef CM_NET_H
#define CM_NET_H

#include <sys/socket.h>
#include <sys/types.h>

#include "buf.h"

struct net_addr {
	struct sockaddr_storage ss;
	socklen_t len;
};

/* net_resolve: host (literal or name, "" or "*" = any) and port into
 * addr; blocking (use at start-up); 0 or -1 with the reason in err */
int net_resolve(const char *host, unsigned port, struct net_addr *addr,
		struct buf *err);
/* net_addr_str: "1.2.3.4:25" / "[::1]:25" / "unix:/path" */
const char *net_addr_str(const struct net_addr *addr, char *out,
			 size_t outsize);

/* net_listen_tcp: bound, listening fd (SO_REUSEADDR) or -1 + err */
int net_listen_tcp(const char *host, unsigned port, int backlog,
		   struct buf *err);
/* net_listen_unix: replaces a stale socket at path; chmod to mode;
 * chown to uid/gid unless they are -1; -1 + err on failure */
int net_listen_unix(const char *path, mode_t mode, uid_t uid, gid_t gid,
		    int backlog, struct buf *err);
/* net_listen_spec: "unix:/path" (a Unix socket with mode) or "host:port"
 * ("[v6]:port"; host "" or "*" = any) as given on a command line
 * (newemail --listen, the services' --metrics); -1 + err on failure */
int net_listen_spec(const char *spec, mode_t mode, struct buf *err);
/* net_accept: a connection fd, or -1 with errno (EAGAIN: none left) */
int net_accept(int lfd);

/* net_connect: start connecting to addr; 0 connected, 1 in progress
 * (wait for EV_WRITE, then net_connect_finish), -errno */
int net_connect(const struct net_addr *addr, int *fd_r);
/* net_connect_unix: likewise for a Unix stream socket path */
int net_connect_unix(const char *path, int *fd_r);
/* net_connect_finish: 0 if the connection is up, else -errno */
int net_connect_finish(int fd);

/* net_send_buf: send what b holds on the non-blocking fd, consuming
 * what went out (write(2) where fd is no socket, e.g. a pipe in tests);
 * 1 all sent, 0 the rest waits for EV_WRITE, -errno (-EPIPE if nothing
 * could be written) */
int net_send_buf(int fd, struct buf *b);

int net_set_nonblock(int fd);
int net_set_nodelay(int fd);
/* net_local_port: the bound port of a TCP socket (tests use port 0) */
int net_local_port(int fd);

#endif
