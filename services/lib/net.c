/*
 * net: non-blocking TCP and Unix sockets for the event loop.
 */
#define _GNU_SOURCE /* accept4 */
#include "net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "num.h"

int
net_set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

int
net_set_nodelay(int fd)
{
	int one = 1;

	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
		return -errno;
	return 0;
}

int
net_resolve(const char *host, unsigned port, struct net_addr *addr,
	    struct buf *err)
{
	struct addrinfo hints, *res = NULL;
	char portstr[16];
	int e;

	if (port > 65535) {
		buf_printf(err, "port %u out of range", port);
		return -1;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if (host == NULL || *host == '\0' || strcmp(host, "*") == 0) {
		host = NULL;
		hints.ai_flags |= AI_PASSIVE;
	}
	(void)snprintf(portstr, sizeof(portstr), "%u", port);
	e = getaddrinfo(host, portstr, &hints, &res);
	if (e != 0) {
		buf_printf(err, "cannot resolve %s: %s", host ? host : "*",
			   gai_strerror(e));
		return -1;
	}
	memcpy(&addr->ss, res->ai_addr, res->ai_addrlen);
	addr->len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

const char *
net_addr_str(const struct net_addr *addr, char *out, size_t outsize)
{
	char host[INET6_ADDRSTRLEN];
	const struct sockaddr_in *in4;
	const struct sockaddr_in6 *in6;
	const struct sockaddr_un *un;

	switch (addr->ss.ss_family) {
	case AF_INET:
		in4 = (const struct sockaddr_in *)&addr->ss;
		inet_ntop(AF_INET, &in4->sin_addr, host, sizeof(host));
		(void)snprintf(out, outsize, "%s:%u", host,
			       ntohs(in4->sin_port));
		break;
	case AF_INET6:
		in6 = (const struct sockaddr_in6 *)&addr->ss;
		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		(void)snprintf(out, outsize, "[%s]:%u", host,
			       ntohs(in6->sin6_port));
		break;
	case AF_UNIX:
		un = (const struct sockaddr_un *)&addr->ss;
		(void)snprintf(out, outsize, "unix:%s", un->sun_path);
		break;
	default:
		(void)snprintf(out, outsize, "?");
	}
	return out;
}

int
net_listen_tcp(const char *host, unsigned port, int backlog, struct buf *err)
{
	struct net_addr a;
	char name[80];
	int fd, one = 1;

	if (net_resolve(host, port, &a, err) < 0)
		return -1;
	fd = socket(a.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	if (fd < 0) {
		buf_printf(err, "socket: %s", strerror(errno));
		return -1;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a.ss, a.len) < 0 ||
	    listen(fd, backlog) < 0) {
		buf_printf(err, "listen on %s: %s",
			   net_addr_str(&a, name, sizeof(name)),
			   strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* fill_un: a sockaddr_un for path; -ENAMETOOLONG if it does not fit */
static int
fill_un(struct sockaddr_un *un, const char *path)
{
	size_t n = strlen(path);

	memset(un, 0, sizeof(*un));
	un->sun_family = AF_UNIX;
	if (n == 0 || n >= sizeof(un->sun_path))
		return -ENAMETOOLONG;
	memcpy(un->sun_path, path, n + 1);
	return 0;
}

int
net_listen_unix(const char *path, mode_t mode, uid_t uid, gid_t gid,
		int backlog, struct buf *err)
{
	struct sockaddr_un un;
	struct stat st;
	int fd;

	if (fill_un(&un, path) < 0) {
		buf_printf(err, "socket path too long: %s", path);
		return -1;
	}
	/* replace a stale socket, but never another kind of file */
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			buf_printf(err, "%s exists and is not a socket", path);
			return -1;
		}
		(void)unlink(path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		buf_printf(err, "socket: %s", strerror(errno));
		return -1;
	}
	if (bind(fd, (struct sockaddr *)&un, sizeof(un)) < 0) {
		buf_printf(err, "bind %s: %s", path, strerror(errno));
		goto fail;
	}
	if (chmod(path, mode) < 0 || ((uid != (uid_t)-1 || gid != (gid_t)-1) &&
				      chown(path, uid, gid) < 0)) {
		buf_printf(err, "chmod/chown %s: %s", path, strerror(errno));
		goto fail;
	}
	if (listen(fd, backlog) < 0) {
		buf_printf(err, "listen %s: %s", path, strerror(errno));
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return -1;
}

/* net_listen_spec: see net.h */
int
net_listen_spec(const char *spec, mode_t mode, struct buf *err)
{
	const char *colon = strrchr(spec, ':');
	char host[256];
	unsigned port;
	size_t hl;

	if (strncmp(spec, "unix:", 5) == 0)
		return net_listen_unix(spec + 5, mode, (uid_t)-1, (gid_t)-1,
				       128, err);
	if (colon == NULL || num_parse_uint(colon + 1, 1, 65535, &port) < 0) {
		(void)buf_printf(err, "bad listen address %s", spec);
		return -1;
	}
	hl = (size_t)(colon - spec);
	if (hl >= 2 && spec[0] == '[' && spec[hl - 1] == ']') {
		spec++;
		hl -= 2;
	}
	if (hl >= sizeof(host)) {
		(void)buf_printf(err, "bad listen host in %s", spec);
		return -1;
	}
	memcpy(host, spec, hl);
	host[hl] = '\0';
	return net_listen_tcp(host, port, 128, err);
}

int
net_accept(int lfd)
{
	return accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

/* connect_sa: the shared non-blocking connect */
static int
connect_sa(int family, const struct sockaddr *sa, socklen_t len, int *fd_r)
{
	int fd;

	fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, sa, len) == 0) {
		*fd_r = fd;
		return 0;
	}
	if (errno == EINPROGRESS || errno == EAGAIN) {
		*fd_r = fd;
		return 1;
	}
	{
		int e = errno;

		close(fd);
		return -e;
	}
}

int
net_connect(const struct net_addr *addr, int *fd_r)
{
	int r = connect_sa(addr->ss.ss_family,
			   (const struct sockaddr *)&addr->ss, addr->len, fd_r);

	if (r >= 0 && addr->ss.ss_family != AF_UNIX)
		(void)net_set_nodelay(*fd_r);
	return r;
}

int
net_connect_unix(const char *path, int *fd_r)
{
	struct sockaddr_un un;

	if (fill_un(&un, path) < 0)
		return -ENAMETOOLONG;
	return connect_sa(AF_UNIX, (struct sockaddr *)&un, sizeof(un), fd_r);
}

int
net_send_buf(int fd, struct buf *b)
{
	ssize_t n;

	while (b->len > 0) {
		n = send(fd, b->data, b->len, MSG_NOSIGNAL);
		if (n < 0 && errno == ENOTSOCK)
			n = write(fd, b->data, b->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EPIPE;
		buf_consume(b, (size_t)n);
	}
	return 1;
}

int
net_connect_finish(int fd)
{
	int e = 0;
	socklen_t len = sizeof(e);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) < 0)
		return -errno;
	return -e;
}

int
net_local_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	memset(&ss, 0, sizeof(ss));
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return -errno;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return -EAFNOSUPPORT;
}
