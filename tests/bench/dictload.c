/*
 * dictload: a load client for Dovecot dict servers (make bench).
 *
 *   dictload -s SOCKET -m pipe|conn|create [-c CONNS] [-n LOOKUPS]
 *            [-w WINDOW] [-u USERS] [-d DOMAIN] [-t SECONDS]
 *
 *   pipe    CONNS connections, each keeping WINDOW lookups in flight
 *   conn    CONNS at once, a new connection per lookup, closed after the
 *           reply (as Dovecot's auth worker does)
 *   create  like conn, but every lookup is the first login of a new
 *           address (account creation)
 *   crypt   no server: LOOKUPS SHA512-CRYPT hashes with crypt_r(3), the
 *           ceiling of account creation on this machine
 *
 * Lookups are passdb keys of USERS addresses u<i>@DOMAIN (pipe and
 * conn; the first lookup of each creates it) with password
 * "benchpass1". Prints one line:
 *   mode=... lookups=N ok=N other=N seconds=S rate=R
 * where ok counts "O" replies. Stops after LOOKUPS or SECONDS. Only
 * loopback Unix sockets are used.
 */
#define _GNU_SOURCE
#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "num.h"

#define MAXCONN 256
#define HELLO "H3\t2\t0\t\tauth\n"

struct slot {
	int fd;
	unsigned sent, answered; /* in this connection */
	size_t rlen;
	char rbuf[65536];
};

static const char *sock_path, *mode = "pipe", *domain = "example.org";
static unsigned conns = 4, window = 64, users = 100;
static unsigned long total = 100000, sent_total, ok_total, other_total,
		     answered_total;
static double max_secs = 30;

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* connect_unix: a blocking connect, then non-blocking */
static int
connect_unix(void)
{
	struct sockaddr_un un;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	memset(&un, 0, sizeof(un));
	un.sun_family = AF_UNIX;
	(void)snprintf(un.sun_path, sizeof(un.sun_path), "%s", sock_path);
	if (connect(fd, (struct sockaddr *)&un, sizeof(un)) < 0) {
		close(fd);
		return -1;
	}
	(void)fcntl(fd, F_SETFL, O_NONBLOCK);
	return fd;
}

/* request: the n-th lookup line: existing users u<i>@DOMAIN (pipe,
 * conn) or a new address c<n>x<pid>@DOMAIN each time (create) */
static int
request(char *out, size_t size, unsigned long n)
{
	char user[128];

	if (strcmp(mode, "create") == 0)
		(void)snprintf(user, sizeof(user), "c%lux%d@%s", n,
			       (int)getpid() % 100000, domain);
	else
		(void)snprintf(user, sizeof(user), "u%lu@%s", n % users,
			       domain);
	return snprintf(out, size, "Lshared/passdb/benchpass1\"%s\t%s\n", user,
			user);
}

/* send_all: write the whole buffer (the socket buffer is large) */
static int
send_all(int fd, const char *p, size_t n)
{
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };
	ssize_t w;

	while (n > 0) {
		w = write(fd, p, n);
		if (w < 0 && errno == EAGAIN) {
			(void)poll(&pfd, 1, 1000);
			continue;
		}
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* fill: queue up to the window of lookups on s */
static int
fill(struct slot *s, unsigned want)
{
	char batch[65536];
	size_t len = 0;

	while (s->sent - s->answered < want && sent_total < total &&
	       len + 512 < sizeof(batch)) {
		len += (size_t)request(batch + len, sizeof(batch) - len,
				       sent_total++);
		s->sent++;
	}
	return len > 0 ? send_all(s->fd, batch, len) : 0;
}

/* drain: count complete reply lines read from s */
static int
drain(struct slot *s)
{
	ssize_t n = read(s->fd, s->rbuf + s->rlen, sizeof(s->rbuf) - s->rlen);
	char *p, *lf;

	if (n == 0)
		return -1;
	if (n < 0)
		return errno == EAGAIN ? 0 : -1;
	s->rlen += (size_t)n;
	p = s->rbuf;
	while ((lf = memchr(p, '\n', s->rlen - (size_t)(p - s->rbuf)))) {
		if (*p == 'O')
			ok_total++;
		else
			other_total++;
		s->answered++;
		answered_total++;
		p = lf + 1;
	}
	s->rlen -= (size_t)(p - s->rbuf);
	memmove(s->rbuf, p, s->rlen);
	return 0;
}

/* open_slot: a new connection with the hello (and, per lookup, one
 * request) */
static int
open_slot(struct slot *s, int per_lookup)
{
	s->fd = connect_unix();
	s->sent = s->answered = 0;
	s->rlen = 0;
	if (s->fd < 0 || send_all(s->fd, HELLO, strlen(HELLO)) < 0)
		return -1;
	return fill(s, per_lookup ? 1 : window);
}

static void
usage(void)
{
	(void)fprintf(stderr, "usage: dictload -s socket [-m pipe|conn|create]"
			      " [-c conns] [-n lookups] [-w window]"
			      " [-u users] [-d domain] [-t seconds]\n");
	exit(64);
}

/* run: the event loop over every slot until done or out of time */
static int
run(int per_lookup)
{
	static struct slot slots[MAXCONN];
	struct pollfd pfd[MAXCONN];
	double t0 = now_s();
	unsigned i;

	for (i = 0; i < conns; i++) {
		if (open_slot(&slots[i], per_lookup) < 0)
			return -1;
	}
	while (answered_total < total && now_s() - t0 < max_secs) {
		for (i = 0; i < conns; i++) {
			pfd[i].fd = slots[i].fd;
			pfd[i].events = POLLIN;
		}
		if (poll(pfd, conns, 1000) < 0 && errno != EINTR)
			return -1;
		for (i = 0; i < conns; i++) {
			struct slot *s = &slots[i];

			if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			if (drain(s) < 0 && s->answered < s->sent)
				return -1;
			if (per_lookup && s->answered == s->sent) {
				close(s->fd);
				s->fd = -1;
				if (sent_total < total && open_slot(s, 1) < 0)
					return -1;
			} else if (!per_lookup && fill(s, window) < 0) {
				return -1;
			}
		}
	}
	return 0;
}

/* hash_only: crypt_r as doveauth calls it, one salt per hash */
static int
hash_only(void)
{
	static struct crypt_data cd;
	char setting[32];

	for (unsigned long i = 0; i < total; i++) {
		(void)snprintf(setting, sizeof(setting), "$6$%016lu", i);
		if (crypt_r("benchpass1", setting, &cd) == NULL)
			return -1;
		ok_total++;
		answered_total++;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	double t0, secs;
	int opt, r;

	while ((opt = getopt(argc, argv, "s:m:c:n:w:u:d:t:")) != -1) {
		uint64_t v = 0;

		if (strchr("cnwut", opt) != NULL && opt != '?' &&
		    num_parse_u64(optarg, 1, 100000000, &v) < 0)
			usage();
		if (opt == 's')
			sock_path = optarg;
		else if (opt == 'm')
			mode = optarg;
		else if (opt == 'c')
			conns = (unsigned)v;
		else if (opt == 'n')
			total = v;
		else if (opt == 'w')
			window = (unsigned)v;
		else if (opt == 'u')
			users = (unsigned)v;
		else if (opt == 'd')
			domain = optarg;
		else if (opt == 't')
			max_secs = (double)v;
		else
			usage();
	}
	if ((sock_path == NULL && strcmp(mode, "crypt") != 0) || conns == 0 ||
	    conns > MAXCONN || users == 0)
		usage();
	t0 = now_s();
	if (strcmp(mode, "crypt") == 0)
		r = hash_only();
	else
		r = run(strcmp(mode, "pipe") != 0);
	secs = now_s() - t0;
	printf("mode=%s lookups=%lu ok=%lu other=%lu seconds=%.2f rate=%.0f\n",
	       mode, answered_total, ok_total, other_total, secs,
	       (double)answered_total / secs);
	return r < 0 ? 1 : 0;
}
