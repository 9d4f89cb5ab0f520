/*
 * exporter_check: `chatmail-exporter --check unix:/path`, the liveness
 * probe of a service that listens only on Unix sockets (doveauth,
 * chatmail-metadata, lastlogin, newemail, filtermail). A service's
 * --metrics listener runs on the same event loop as its real work, so
 * an answer to GET /metrics within the timeout shows the loop is not
 * stuck; a hung daemon stops answering and the kubelet restarts it.
 * One request, then exit: the probe is a process of its own, so it
 * blocks on poll(2) with a deadline instead of running an event loop.
 *
 * Untrusted input: the service's answer, of which only the status
 * line is read (at most 64 bytes).
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "exporter.h"
#include "net.h"

/* now_ms: the monotonic clock */
static long long
now_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* wait_fd: poll fd for ev until the deadline; 0 ready, -ETIMEDOUT */
static int
wait_fd(int fd, short ev, long long deadline)
{
	struct pollfd p = { .fd = fd, .events = ev };
	long long left;
	int n;

	for (;;) {
		left = deadline - now_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		n = poll(&p, 1, (int)left);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return -errno;
	}
}

/* read_status: the first line of the answer into line; 0 or -errno */
static int
read_status(int fd, char *line, size_t size, long long deadline)
{
	size_t n = 0;
	ssize_t got;
	int r;

	while (n + 1 < size && memchr(line, '\n', n) == NULL) {
		if ((r = wait_fd(fd, POLLIN, deadline)) < 0)
			return r;
		got = read(fd, line + n, size - 1 - n);
		if (got == 0)
			break;
		if (got < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		if (got > 0)
			n += (size_t)got;
	}
	line[n] = '\0';
	return 0;
}

int
exporter_check(const char *addr, unsigned timeout_ms, struct buf *err)
{
	static const char req[] = "GET /metrics HTTP/1.0\r\n\r\n";
	long long deadline = now_ms() + timeout_ms;
	struct buf out = BUF_INIT(sizeof(req));
	char line[65];
	int fd = -1, r;

	if (strncmp(addr, "unix:", 5) != 0) {
		(void)buf_printf(err, "not unix:/path: %s", addr);
		r = -EINVAL;
		goto out;
	}
	r = net_connect_unix(addr + 5, &fd);
	if (r == 1 && (r = wait_fd(fd, POLLOUT, deadline)) == 0)
		r = net_connect_finish(fd);
	if (r < 0) {
		(void)buf_printf(err, "connect %s: %s", addr, strerror(-r));
		goto out;
	}
	(void)buf_append(&out, req, sizeof(req) - 1);
	while ((r = net_send_buf(fd, &out)) == 0)
		if ((r = wait_fd(fd, POLLOUT, deadline)) < 0)
			break;
	if (r >= 0)
		r = read_status(fd, line, sizeof(line), deadline);
	if (r < 0) {
		(void)buf_printf(err, "%s: %s", addr, strerror(-r));
		goto out;
	}
	if (strncmp(line, "HTTP/1.", 7) != 0 ||
	    strncmp(line + 8, " 200", 4) != 0) {
		(void)buf_printf(err, "%s answered \"%.32s\"", addr, line);
		r = -EPROTO;
	}
out:
	if (fd >= 0)
		(void)close(fd);
	buf_deinit(&out);
	return r < 0 ? r : 0;
}
