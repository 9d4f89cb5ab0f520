/*
 * turnload: load for bench_turn.sh. N clients, each with its own UDP
 * socket, allocate on a TURN server (the 401 dance, TURN REST
 * credentials), bind a channel to one echo peer in this process, then
 * keep W ChannelData datagrams each in flight for T seconds; the peer
 * (a child process) echoes every datagram it gets through the relay
 * back to where it came from. With -d the same loop runs without TURN: the clients send
 * straight to the peer (the direct UDP loopback baseline).
 *
 *   turnload -s IP:PORT -u USER -w PASS [-n 50] [-W 4] [-t 5] [-l 100] [-d]
 *   turnload -s IP:PORT -u USER -w PASS -A N [-t T]   only allocate N,
 *                             print "ok", hold them T seconds (RSS)
 *
 * Prints "ok clients=N rtts=.. pkts_per_s=.. rtt_us p50=.. p99=.." where
 * pkts_per_s counts relayed datagrams (two per round trip).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "stun.h"

#define MAXC 2000
#define CHAN 0x4000

static struct sockaddr_in srv, peer;
static const char *user, *pass;
static int pfd;
static uint8_t tidc;

static uint64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int
udp(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		perror("socket");
		exit(1);
	}
	return fd;
}

/* ask: one request and its answer (retrying thrice); the error code or 0 */
static int
ask(int fd, struct stun_out *o, uint8_t *resp, size_t cap, struct stun_msg *m)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	size_t len;
	int i;

	if (stun_out_finish(o, &len) < 0)
		return -1;
	for (i = 0; i < 3; i++) {
		ssize_t n;
		const struct stun_attr *e;

		(void)sendto(fd, o->p, len, 0, (struct sockaddr *)&srv,
			     sizeof(srv));
		if (poll(&p, 1, 1000) <= 0)
			continue;
		n = recv(fd, resp, cap, 0);
		if (n <= 0 || stun_parse(resp, (size_t)n, m) < 0)
			return -1;
		if (m->cls == STUN_SUCCESS)
			return 0;
		e = stun_find(m, STUN_A_ERROR_CODE);
		return e ? e->val[2] * 100 + e->val[3] : -1;
	}
	return -1;
}

/* setup: Allocate (after a 401) and bind CHAN to the peer; 0, -1, or
 * -EADDRINUSE when the 5-tuple is taken */
static int
setup(int fd, int bind_channel)
{
	uint8_t buf[512], resp[1024], key[STUN_KEY_LEN], tid[12] = { 0 };
	char realm[128] = "", nonce[128] = "";
	const struct stun_attr *a;
	struct stun_out o;
	struct stun_msg m;
	int step, code;

	for (step = 0; step < 3; step++) {
		uint16_t method = step < 2 ? TURN_ALLOCATE : TURN_CHANNEL_BIND;

		memcpy(tid, &fd, sizeof(fd));
		tid[8] = tidc++;
		tid[9] = (uint8_t)step;
		stun_out_init(&o, buf, sizeof(buf), method, STUN_REQUEST, tid);
		if (method == TURN_ALLOCATE)
			stun_out_u32(&o, STUN_A_REQUESTED_TRANSPORT, 17u << 24);
		else {
			stun_out_u32(&o, STUN_A_CHANNEL_NUMBER,
				     (uint32_t)CHAN << 16);
			stun_out_xaddr(&o, STUN_A_XOR_PEER_ADDRESS,
				       (struct sockaddr *)&peer);
		}
		if (step > 0) {
			stun_out_attr(&o, STUN_A_USERNAME, user, strlen(user));
			stun_out_attr(&o, STUN_A_REALM, realm, strlen(realm));
			stun_out_attr(&o, STUN_A_NONCE, nonce, strlen(nonce));
			stun_out_integrity(&o, key);
		}
		stun_out_fingerprint(&o);
		code = ask(fd, &o, resp, sizeof(resp), &m);
		if (step == 0) {
			/* 437: this port's 5-tuple still has an allocation of
			 * an earlier run (ports are reused); take another */
			if (code != 401)
				return code == 437 ? -EADDRINUSE : -1;
			a = stun_find(&m, STUN_A_REALM);
			if (a == NULL || a->len >= sizeof(realm))
				return -1;
			memcpy(realm, a->val, a->len);
			a = stun_find(&m, STUN_A_NONCE);
			if (a == NULL || a->len >= sizeof(nonce))
				return -1;
			memcpy(nonce, a->val, a->len);
			stun_long_term_key(user, strlen(user), realm, pass,
					   key);
		} else if (code != 0) {
			fprintf(stderr, "turnload: %s: %d\n",
				step == 1 ? "allocate" : "channel bind", code);
			return -1;
		}
		if (step == 1 && !bind_channel)
			return 0;
	}
	return 0;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* send_one: a datagram carrying its send time, via TURN or direct */
static void
send_one(int fd, int direct, size_t len)
{
	uint8_t b[2048];
	uint64_t t = now_us();

	memset(b, 0xAB, sizeof(b));
	if (direct) {
		memcpy(b, &t, 8);
		(void)sendto(fd, b, len, 0, (struct sockaddr *)&peer,
			     sizeof(peer));
		return;
	}
	b[0] = CHAN >> 8;
	b[1] = CHAN & 0xFF;
	b[2] = (uint8_t)(len >> 8);
	b[3] = (uint8_t)len;
	memcpy(b + 4, &t, 8);
	(void)sendto(fd, b, len + 4, 0, (struct sockaddr *)&srv, sizeof(srv));
}

static int
parse_addr(const char *s, struct sockaddr_in *a)
{
	char ip[64];
	const char *c = strrchr(s, ':');

	if (c == NULL || (size_t)(c - s) >= sizeof(ip))
		return -1;
	memcpy(ip, s, (size_t)(c - s));
	ip[c - s] = '\0';
	a->sin_family = AF_INET;
	a->sin_port = htons((uint16_t)strtoul(c + 1, NULL, 10));
	return inet_pton(AF_INET, ip, &a->sin_addr) == 1 ? 0 : -1;
}

struct opts {
	int n, win, secs, direct, only_alloc;
	size_t len;
};

static int fds[MAXC];
static uint64_t rtts[4000000];
static size_t nrtt;

/* num: a decimal option value in [lo, hi], or -1 */
static long
num(const char *s, long lo, long hi)
{
	char *end;
	long v = strtol(s, &end, 10);

	return *s == '\0' || *end != '\0' || v < lo || v > hi ? -1 : v;
}

static int
parse_args(int argc, char **argv, struct opts *o)
{
	int c;

	while ((c = getopt(argc, argv, "s:u:w:n:W:t:l:dA:")) != -1) {
		switch (c) {
		case 's':
			if (parse_addr(optarg, &srv) < 0)
				return -1;
			break;
		case 'u':
			user = optarg;
			break;
		case 'w':
			pass = optarg;
			break;
		case 'n':
			o->n = (int)num(optarg, 1, MAXC);
			break;
		case 'W':
			o->win = (int)num(optarg, 1, 1000);
			break;
		case 't':
			o->secs = (int)num(optarg, 1, 3600);
			break;
		case 'l':
			o->len = (size_t)num(optarg, 12, 1400);
			break;
		case 'd':
			o->direct = 1;
			break;
		case 'A':
			o->only_alloc = (int)num(optarg, 1, MAXC);
			break;
		default:
			return -1;
		}
	}
	if (o->only_alloc > 0)
		o->n = o->only_alloc;
	return o->n < 1 || o->win < 1 || o->secs < 1 || o->len == (size_t)-1 ||
			       o->only_alloc < 0 || user == NULL || pass == NULL
		       ? -1
		       : 0;
}

/* clients: a socket (and an allocation with a channel) per client */
static int
clients(const struct opts *o)
{
	int i;

	for (i = 0; i < o->n; i++) {
		int r = 0, tries = 0;

		do {
			if (r == -EADDRINUSE)
				close(fds[i]);
			fds[i] = udp();
			r = o->direct ? 0 : setup(fds[i], !o->only_alloc);
		} while (r == -EADDRINUSE && ++tries < 5);
		if (r < 0) {
			fprintf(stderr, "turnload: client %d: setup failed\n",
				i);
			return -1;
		}
	}
	return 0;
}

/* echo_peer: the peer, a process of its own; never returns */
static void
echo_peer(void)
{
	for (;;) {
		uint8_t b[2048];
		struct sockaddr_in from;
		socklen_t fl = sizeof(from);
		ssize_t r = recvfrom(pfd, b, sizeof(b), 0,
				     (struct sockaddr *)&from, &fl);

		if (r > 0)
			(void)sendto(pfd, b, (size_t)r, 0,
				     (struct sockaddr *)&from, fl);
	}
}

/* drain: every answer waiting on one client socket, each sent again */
static void
drain(const struct opts *o, int fd)
{
	uint8_t b[2048];
	uint64_t sent;
	ssize_t r;

	while ((r = recv(fd, b, sizeof(b), MSG_DONTWAIT)) > 0) {
		if (r < (o->direct ? 8 : 12))
			continue;
		memcpy(&sent, b + (o->direct ? 0 : 4), 8);
		if (nrtt < sizeof(rtts) / sizeof(rtts[0]))
			rtts[nrtt++] = now_us() - sent;
		send_one(fd, o->direct, o->len);
	}
}

/* run: the closed loop for o->secs; its duration in us */
static uint64_t
run(const struct opts *o)
{
	static struct pollfd pfds[MAXC];
	uint64_t t0, t_end;
	int i, w;

	for (i = 0; i < o->n; i++) {
		pfds[i].fd = fds[i];
		pfds[i].events = POLLIN;
		for (w = 0; w < o->win; w++)
			send_one(fds[i], o->direct, o->len);
	}
	t0 = now_us();
	t_end = t0 + (uint64_t)o->secs * 1000000u;
	while (now_us() < t_end) {
		if (poll(pfds, (nfds_t)o->n, 100) <= 0)
			continue;
		for (i = 0; i < o->n; i++)
			if (pfds[i].revents & POLLIN)
				drain(o, fds[i]);
	}
	return now_us() - t0;
}

int
main(int argc, char **argv)
{
	struct opts o = { .n = 50, .win = 4, .secs = 5, .len = 100 };
	socklen_t pl = sizeof(peer);
	uint64_t took;
	pid_t peer_pid;

	if (parse_args(argc, argv, &o) < 0)
		return 64;
	pfd = udp();
	(void)getsockname(pfd, (struct sockaddr *)&peer, &pl);
	if (clients(&o) < 0)
		return 1;
	if (o.only_alloc) {
		printf("ok allocations=%d\n", o.n);
		fflush(stdout);
		sleep((unsigned)o.secs); /* hold them while RSS is read */
		return 0;
	}
	peer_pid = fork();
	if (peer_pid == 0)
		echo_peer();
	took = run(&o);
	kill(peer_pid, SIGKILL);
	(void)waitpid(peer_pid, NULL, 0);
	if (nrtt == 0) {
		printf("fail no round trip\n");
		return 1;
	}
	qsort(rtts, nrtt, sizeof(rtts[0]), cmp_u64);
	printf("ok clients=%d rtts=%zu pkts_per_s=%.0f rtt_us p50=%llu "
	       "p99=%llu\n",
	       o.n, nrtt, 2.0 * (double)nrtt * 1e6 / (double)took,
	       (unsigned long long)rtts[nrtt / 2],
	       (unsigned long long)rtts[nrtt * 99 / 100]);
	return 0;
}
