/*
 * test_turn: chatmail-turn's server on loopback UDP, driven one event
 * round at a time with a fake clock: Binding, the 401/nonce dance,
 * wrong, expired and stale credentials, Allocate errors (400, 420, 437,
 * 440, 442, 508), relaying through Send/Data indications and channels
 * both ways, permissions (none, denied peers), caps (486, 508), Refresh,
 * expiry, and the credential socket's line.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#define TESTUTIL_IMPL
#include "testutil.h"

#include "log.h"
#include "turn.h"

#define T0 1700000000 /* fake wall clock, s */

static struct turn_server srv;
static struct turn_config cfg;
static struct evloop *loop;
static uint64_t fake_ms = 1000000;
static time_t fake_s = T0;
static uint8_t tid_seq = 1;

static uint64_t
clock_ms(void)
{
	return fake_ms;
}

static time_t
clock_s(void)
{
	return fake_s;
}

static void
srv_start(unsigned max_allocs, unsigned per_ip, int allow_loopback)
{
	static const char secret[] = "north";

	memset(&cfg, 0, sizeof(cfg));
	cfg.realm = "relay.test";
	cfg.secret = (const uint8_t *)secret;
	cfg.secret_len = strlen(secret);
	cfg.listen[0] = "127.0.0.1";
	cfg.n_listen = 1;
	cfg.max_allocs = max_allocs;
	cfg.max_allocs_per_ip = per_ip;
	cfg.max_allocs_per_user = 100;
	cfg.socket_uid = (uid_t)-1;
	cfg.socket_gid = (gid_t)-1;
	if (allow_loopback) {
		assert_int(turn_cidr_parse("127.0.0.0/8", &cfg.allow_peer[0]),
			   0);
		cfg.n_allow_peer = 1;
	}
	fake_s = T0;
	loop = evloop_new();
	evloop_set_clock(loop, clock_ms);
	memset(&srv, 0, sizeof(srv));
	srv.now_s = clock_s;
	struct buf err = BUF_INIT(256);
	assert_int(turn_server_init(&srv, loop, &cfg, &err), 0);
	buf_deinit(&err);
}

static void
srv_stop(void)
{
	turn_server_deinit(&srv);
	evloop_free(&loop);
}

/* udp_on: a UDP socket bound to ip:0 */
static int
udp_on(const char *ip, struct net_addr *a)
{
	struct sockaddr_in in = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	assert_true(fd >= 0);
	assert_int(inet_pton(AF_INET, ip, &in.sin_addr), 1);
	assert_int(bind(fd, (struct sockaddr *)&in, sizeof(in)), 0);
	if (a != NULL) {
		a->len = sizeof(a->ss);
		assert_int(getsockname(fd, (struct sockaddr *)&a->ss, &a->len),
			   0);
	}
	return fd;
}

/* pump_recv: run the server until fd has a datagram; its length or -1 */
static ssize_t
pump_recv(int fd, uint8_t *buf, size_t cap)
{
	int i;

	for (i = 0; i < 20; i++) {
		ssize_t n = recv(fd, buf, cap, MSG_DONTWAIT);

		if (n >= 0)
			return n;
		(void)evloop_run_once(loop, 5);
	}
	return recv(fd, buf, cap, MSG_DONTWAIT);
}

struct client {
	int fd;
	struct net_addr addr;
	char user[32], pass[32], nonce[64];
	uint8_t key[STUN_KEY_LEN];
	uint8_t resp[2048];
	struct stun_msg m;
};

static void
client_new(struct client *c, const char *ip, long expiry_off)
{
	memset(c, 0, sizeof(*c));
	c->fd = udp_on(ip, &c->addr);
	(void)snprintf(c->user, sizeof(c->user), "%ld", (long)T0 + expiry_off);
	turn_password(&srv, c->user, strlen(c->user), c->pass);
	stun_long_term_key(c->user, strlen(c->user), "relay.test", c->pass,
			   c->key);
}

static void
begin(struct stun_out *o, uint8_t *buf, size_t cap, uint16_t method,
      uint16_t cls)
{
	uint8_t tid[12] = { 0xAA, tid_seq++ };

	stun_out_init(o, buf, cap, method, cls, tid);
}

/* sign: USERNAME, REALM, NONCE, MESSAGE-INTEGRITY, FINGERPRINT */
static void
sign(struct client *c, struct stun_out *o)
{
	stun_out_attr(o, STUN_A_USERNAME, c->user, strlen(c->user));
	stun_out_attr(o, STUN_A_REALM, "relay.test", 10);
	stun_out_attr(o, STUN_A_NONCE, c->nonce, strlen(c->nonce));
	stun_out_integrity(o, c->key);
	stun_out_fingerprint(o);
}

/* transact: send o to the server, parse the answer; its code (0: success) */
static int
transact(struct client *c, struct stun_out *o)
{
	const struct stun_attr *e, *nonce;
	size_t len;
	ssize_t n;

	assert_int(stun_out_finish(o, &len), 0);
	assert_true(sendto(c->fd, o->p, len, 0,
			   (struct sockaddr *)&srv.lis[0].local.ss,
			   srv.lis[0].local.len) == (ssize_t)len);
	n = pump_recv(c->fd, c->resp, sizeof(c->resp));
	if (n < 0)
		return -1;
	assert_int(stun_parse(c->resp, (size_t)n, &c->m), 0);
	nonce = stun_find(&c->m, STUN_A_NONCE);
	if (nonce != NULL && nonce->len < sizeof(c->nonce)) {
		memcpy(c->nonce, nonce->val, nonce->len);
		c->nonce[nonce->len] = '\0';
	}
	if (c->m.cls == STUN_SUCCESS)
		return 0;
	e = stun_find(&c->m, STUN_A_ERROR_CODE);
	assert_non_null(e);
	return e->val[2] * 100 + e->val[3];
}

/* allocate: a signed Allocate (after a 401 to learn the nonce) */
static int
allocate(struct client *c, const void *extra_attr, uint16_t extra_type,
	 size_t extra_len)
{
	uint8_t buf[512];
	struct stun_out o;

	if (c->nonce[0] == '\0') {
		begin(&o, buf, sizeof(buf), TURN_ALLOCATE, STUN_REQUEST);
		stun_out_u32(&o, STUN_A_REQUESTED_TRANSPORT, 17u << 24);
		assert_int(transact(c, &o), 401);
	}
	begin(&o, buf, sizeof(buf), TURN_ALLOCATE, STUN_REQUEST);
	if (extra_type != STUN_A_REQUESTED_TRANSPORT)
		stun_out_u32(&o, STUN_A_REQUESTED_TRANSPORT, 17u << 24);
	if (extra_attr != NULL)
		stun_out_attr(&o, extra_type, extra_attr, extra_len);
	sign(c, &o);
	return transact(c, &o);
}

static void
test_binding(void **state)
{
	struct client c;
	struct stun_out o;
	struct sockaddr_storage ss;
	socklen_t len;
	uint8_t buf[64];

	(void)state;
	srv_start(8, 8, 1);
	client_new(&c, "127.0.0.1", 3600);
	begin(&o, buf, sizeof(buf), STUN_BINDING, STUN_REQUEST);
	assert_int(transact(&c, &o), 0);
	assert_int(stun_xaddr_get(stun_find(&c.m, STUN_A_XOR_MAPPED_ADDRESS),
				  c.m.tid, &ss, &len),
		   0);
	assert_int(ntohs(((struct sockaddr_in *)&ss)->sin_port),
		   turn_addr_port(&c.addr));
	close(c.fd);
	srv_stop();
}

static void
test_auth(void **state)
{
	struct client c, bad;
	uint32_t life;

	(void)state;
	srv_start(8, 8, 1);
	client_new(&c, "127.0.0.1", 3600);
	assert_int(allocate(&c, NULL, 0, 0), 0);
	assert_non_null(stun_find(&c.m, STUN_A_XOR_RELAYED_ADDRESS));
	assert_int(stun_attr_u32(stun_find(&c.m, STUN_A_LIFETIME), &life), 0);
	assert_int(life, 600);
	assert_int(stun_check_integrity(c.resp, &c.m, c.key, STUN_KEY_LEN), 1);
	assert_int(LLIST_COUNT(&srv.allocs), 1);

	/* wrong password */
	client_new(&bad, "127.0.0.1", 3600);
	bad.key[0] ^= 1;
	assert_int(allocate(&bad, NULL, 0, 0), 401);
	close(bad.fd);
	/* an expired credential */
	client_new(&bad, "127.0.0.1", -1);
	assert_int(allocate(&bad, NULL, 0, 0), 401);
	/* a forged nonce, then a stale one */
	memcpy(bad.nonce, "00000000", 8);
	client_new(&bad, "127.0.0.1", 3600);
	(void)snprintf(bad.nonce, sizeof(bad.nonce), "%s",
		       "65536000aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	assert_int(allocate(&bad, NULL, 0, 0), 438);
	close(bad.fd);
	/* a nonce older than TURN_NONCE_S is stale, with a fresh one */
	client_new(&bad, "127.0.0.1", 3 * TURN_NONCE_S);
	bad.nonce[0] = '\0';
	{
		uint8_t buf[64];
		struct stun_out o;

		begin(&o, buf, sizeof(buf), TURN_ALLOCATE, STUN_REQUEST);
		assert_int(transact(&bad, &o), 401);
	}
	fake_s += TURN_NONCE_S + 1;
	assert_int(allocate(&bad, NULL, 0, 0), 438);
	assert_int(allocate(&bad, NULL, 0, 0), 0); /* with the new nonce */
	close(bad.fd);
	close(c.fd);
	srv_stop();
}

static void
test_allocate_errors(void **state)
{
	static const uint8_t tcp[4] = { 6, 0, 0, 0 }, v6[4] = { 2, 0, 0, 0 };
	struct client c;
	uint8_t buf[256];
	struct stun_out o;
	const struct stun_attr *u;

	(void)state;
	srv_start(8, 8, 1);
	client_new(&c, "127.0.0.1", 3600);
	assert_int(allocate(&c, tcp, STUN_A_REQUESTED_TRANSPORT, 4), 442);
	assert_int(allocate(&c, "\x80", STUN_A_EVEN_PORT, 1), 508);
	assert_int(allocate(&c, v6, STUN_A_REQUESTED_ADDRESS_FAMILY, 4), 440);
	assert_int(allocate(&c, "z", 0x0031, 1), 420);
	u = stun_find(&c.m, STUN_A_UNKNOWN_ATTRIBUTES);
	assert_non_null(u);
	assert_int(u->val[0] << 8 | u->val[1], 0x0031);
	/* no REQUESTED-TRANSPORT */
	begin(&o, buf, sizeof(buf), TURN_ALLOCATE, STUN_REQUEST);
	sign(&c, &o);
	assert_int(transact(&c, &o), 400);
	assert_int(LLIST_COUNT(&srv.allocs), 0);
	/* an even port is given when asked without R */
	assert_int(allocate(&c, "\x00", STUN_A_EVEN_PORT, 1), 0);
	{
		struct sockaddr_storage ss;
		socklen_t len;

		assert_int(stun_xaddr_get(
				   stun_find(&c.m, STUN_A_XOR_RELAYED_ADDRESS),
				   c.m.tid, &ss, &len),
			   0);
		assert_int(ntohs(((struct sockaddr_in *)&ss)->sin_port) % 2, 0);
	}
	/* 437 for a new Allocate on the same 5-tuple */
	assert_int(allocate(&c, NULL, 0, 0), 437);
	close(c.fd);
	srv_stop();
}

/* permit: CreatePermission (or ChannelBind when chan != 0) for peer */
static int
permit(struct client *c, const struct net_addr *peer, uint16_t chan)
{
	uint8_t buf[256];
	struct stun_out o;

	begin(&o, buf, sizeof(buf),
	      chan ? TURN_CHANNEL_BIND : TURN_CREATE_PERMISSION, STUN_REQUEST);
	if (chan)
		stun_out_u32(&o, STUN_A_CHANNEL_NUMBER, (uint32_t)chan << 16);
	stun_out_xaddr(&o, STUN_A_XOR_PEER_ADDRESS,
		       (const struct sockaddr *)&peer->ss);
	sign(c, &o);
	return transact(c, &o);
}

/* relayed: the relayed transport address of c's allocation */
static void
relayed(struct client *c, struct net_addr *r)
{
	r->len = sizeof(r->ss);
	assert_int(stun_xaddr_get(stun_find(&c->m, STUN_A_XOR_RELAYED_ADDRESS),
				  c->m.tid, &r->ss, &r->len),
		   0);
}

static void
send_ind(struct client *c, const struct net_addr *peer, const char *data)
{
	uint8_t buf[256];
	struct stun_out o;
	size_t len;

	begin(&o, buf, sizeof(buf), TURN_SEND, STUN_INDICATION);
	stun_out_xaddr(&o, STUN_A_XOR_PEER_ADDRESS,
		       (const struct sockaddr *)&peer->ss);
	stun_out_attr(&o, STUN_A_DATA, data, strlen(data));
	assert_int(stun_out_finish(&o, &len), 0);
	assert_true(sendto(c->fd, buf, len, 0,
			   (struct sockaddr *)&srv.lis[0].local.ss,
			   srv.lis[0].local.len) == (ssize_t)len);
}

/* check_channels: ChannelBind with bad and good numbers on the
 * allocation of c, then ChannelData both ways between c and the peer
 * on pfd (whose permission exists), and a truncated ChannelData */
static void
check_channels(struct client *c, int pfd, const struct net_addr *peer,
	       const struct net_addr *relay)
{
	uint8_t buf[256];
	ssize_t n;

	/* channels: bad numbers, then 0x4000 both ways */
	assert_int(permit(c, peer, 0x3FFF), 400);
	assert_int(permit(c, peer, 0x4000), 0);
	assert_int(permit(c, peer, 0x4001), 400); /* peer already bound */
	memcpy(buf,
	       "\x40\x00\x00\x05"
	       "abcde",
	       9);
	assert_true(sendto(c->fd, buf, 9, 0,
			   (struct sockaddr *)&srv.lis[0].local.ss,
			   srv.lis[0].local.len) == 9);
	n = pump_recv(pfd, buf, sizeof(buf));
	assert_int(n, 5);
	assert_memory_equal(buf, "abcde", 5);
	assert_true(sendto(pfd, "xyz", 3, 0,
			   (const struct sockaddr *)&relay->ss,
			   relay->len) == 3);
	n = pump_recv(c->fd, buf, sizeof(buf));
	assert_int(n, 7);
	assert_memory_equal(buf, "\x40\x00\x00\x03xyz", 7);
	/* ChannelData longer than the datagram is dropped */
	memcpy(buf,
	       "\x40\x00\x00\x09"
	       "abcde",
	       9);
	assert_true(sendto(c->fd, buf, 9, 0,
			   (struct sockaddr *)&srv.lis[0].local.ss,
			   srv.lis[0].local.len) == 9);
	assert_int(pump_recv(pfd, buf, sizeof(buf)), -1);
}

static void
test_relay(void **state)
{
	struct client c;
	struct net_addr peer, peer2, relay;
	uint8_t buf[256];
	int pfd, pfd2;
	ssize_t n;

	(void)state;
	srv_start(8, 8, 1);
	client_new(&c, "127.0.0.1", 3600);
	pfd = udp_on("127.0.0.1", &peer);
	pfd2 = udp_on("127.0.0.2", &peer2);
	assert_int(allocate(&c, NULL, 0, 0), 0);
	relayed(&c, &relay);
	/* no permission yet: dropped */
	send_ind(&c, &peer, "early");
	assert_int(pump_recv(pfd, buf, sizeof(buf)), -1);
	assert_int(permit(&c, &peer, 0), 0);
	send_ind(&c, &peer, "hello peer");
	n = pump_recv(pfd, buf, sizeof(buf));
	assert_int(n, 10);
	assert_memory_equal(buf, "hello peer", 10);
	/* the peer answers: a Data indication from the peer's address */
	assert_true(sendto(pfd, "hi client", 9, 0, (struct sockaddr *)&relay.ss,
			   relay.len) == 9);
	n = pump_recv(c.fd, c.resp, sizeof(c.resp));
	assert_true(n > 0);
	assert_int(stun_parse(c.resp, (size_t)n, &c.m), 0);
	assert_int(c.m.method, TURN_DATA);
	assert_int(c.m.cls, STUN_INDICATION);
	assert_memory_equal(stun_find(&c.m, STUN_A_DATA)->val, "hi client", 9);
	/* a peer without permission is not relayed */
	assert_true(sendto(pfd2, "intruder", 8, 0, (struct sockaddr *)&relay.ss,
			   relay.len) == 8);
	assert_int(pump_recv(c.fd, c.resp, sizeof(c.resp)), -1);

	check_channels(&c, pfd, &peer, &relay);
	assert_true(srv.stats.pkts_to_peer >= 2);
	close(pfd);
	close(pfd2);
	close(c.fd);
	srv_stop();
}

static void
test_denied_peers(void **state)
{
	static const char *const denied[] = {
		"127.0.0.2",   "10.1.2.3",	  "172.16.0.1",
		"192.168.1.1", "169.254.169.254", "100.64.0.1",
		"224.0.0.1",   "0.0.0.0",	  "255.255.255.255",
	};
	struct client c;
	struct net_addr p;
	size_t i;

	(void)state;
	srv_start(8, 8, 0);
	client_new(&c, "127.0.0.1", 3600);
	assert_int(allocate(&c, NULL, 0, 0), 0);
	for (i = 0; i < sizeof(denied) / sizeof(denied[0]); i++) {
		struct buf err = BUF_INIT(128);

		assert_int(net_resolve(denied[i], 5000, &p, &err), 0);
		assert_int(permit(&c, &p, 0), 403);
		buf_deinit(&err);
	}
	/* a public address, and the server's own relay address, are fine
	 * (no datagram is sent by a permission) */
	{
		struct buf err = BUF_INIT(128);

		assert_int(net_resolve("198.51.100.1", 5000, &p, &err), 0);
		buf_deinit(&err);
	}
	assert_int(permit(&c, &p, 0), 0);
	close(c.fd);
	srv_stop();
}

static void
test_caps(void **state)
{
	struct client a[3], b[2];
	int i;

	(void)state;
	srv_start(3, 2, 1);
	for (i = 0; i < 3; i++)
		client_new(&a[i], "127.0.0.1", 3600);
	for (i = 0; i < 2; i++)
		client_new(&b[i], "127.0.0.2", 3600);
	assert_int(allocate(&a[0], NULL, 0, 0), 0);
	assert_int(allocate(&a[1], NULL, 0, 0), 0);
	assert_int(allocate(&a[2], NULL, 0, 0), 486); /* per IP */
	assert_int(allocate(&b[0], NULL, 0, 0), 0);
	assert_int(allocate(&b[1], NULL, 0, 0), 508); /* in all */
	assert_int(LLIST_COUNT(&srv.allocs), 3);
	assert_int(srv.stats.allocs_failed, 2);
	for (i = 0; i < 3; i++)
		close(a[i].fd);
	for (i = 0; i < 2; i++)
		close(b[i].fd);
	srv_stop();
}

static void
test_refresh_expiry(void **state)
{
	struct client c;
	uint8_t buf[256];
	struct stun_out o;
	uint32_t life;
	int i;

	(void)state;
	srv_start(8, 8, 1);
	client_new(&c, "127.0.0.1", 3600);
	assert_int(allocate(&c, NULL, 0, 0), 0);
	begin(&o, buf, sizeof(buf), TURN_REFRESH, STUN_REQUEST);
	stun_out_u32(&o, STUN_A_LIFETIME, 0);
	sign(&c, &o);
	assert_int(transact(&c, &o), 0);
	assert_int(stun_attr_u32(stun_find(&c.m, STUN_A_LIFETIME), &life), 0);
	assert_int(life, 0);
	assert_int(LLIST_COUNT(&srv.allocs), 0);
	begin(&o, buf, sizeof(buf), TURN_REFRESH, STUN_REQUEST);
	sign(&c, &o);
	assert_int(transact(&c, &o), 437);
	close(c.fd);
	/* an allocation nobody refreshes is gone after its lifetime */
	client_new(&c, "127.0.0.1", 3600);
	assert_int(allocate(&c, NULL, 0, 0), 0);
	assert_int(LLIST_COUNT(&srv.allocs), 1);
	fake_ms += 601 * 1000;
	for (i = 0; i < 5 && LLIST_COUNT(&srv.allocs) > 0; i++)
		(void)evloop_run_once(loop, 0);
	assert_int(LLIST_COUNT(&srv.allocs), 0);
	close(c.fd);
	srv_stop();
}

static void
test_credentials(void **state)
{
	char line[80], *dir, path[100];
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	ssize_t n;
	int fd, i;

	(void)state;
	dir = test_tmpdir();
	(void)snprintf(path, sizeof(path), "%s/turn.socket", dir);
	srv_start(8, 8, 1);
	/* upstream's form: expiry in five days, base64 HMAC-SHA1 of it
	 * under the secret (value from openssl dgst -sha1 -hmac north) */
	fake_s = T0 - TURN_CRED_S;
	assert_int(turn_cred_line(&srv, line, sizeof(line)), 40);
	assert_str(line, "1700000000:CWyHi3zCeWqXBir9thl4m+iZPRY=\n");
	srv_stop();

	/* the same line over the socket */
	srv.now_s = clock_s;
	memset(&cfg, 0, sizeof(cfg));
	srv_start(8, 8, 1);
	turn_server_deinit(&srv);
	cfg.socket_path = path;
	srv.now_s = clock_s;
	{
		struct buf err = BUF_INIT(256);

		assert_int(turn_server_init(&srv, loop, &cfg, &err), 0);
		buf_deinit(&err);
	}
	fake_s = T0 - TURN_CRED_S;
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	(void)snprintf(un.sun_path, sizeof(un.sun_path), "%s", path);
	assert_int(connect(fd, (struct sockaddr *)&un, sizeof(un)), 0);
	for (i = 0; i < 10; i++)
		(void)evloop_run_once(loop, 5);
	n = read(fd, line, sizeof(line) - 1);
	assert_int(n, 40);
	line[n] = '\0';
	assert_str(line, "1700000000:CWyHi3zCeWqXBir9thl4m+iZPRY=\n");
	assert_int(read(fd, line, sizeof(line)), 0); /* then closed */
	close(fd);
	srv_stop();
	test_rmtree(dir);
	free(dir);
}

/* test_credentials_only: --credentials-only opens no UDP socket (not
 * even a --listen one) and answers the credential socket; without it
 * no address is an error */
static void
test_credentials_only(void **state)
{
	char line[80], *dir, path[100];
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	struct buf err = BUF_INIT(256);
	ssize_t n;
	int fd, i;

	(void)state;
	dir = test_tmpdir();
	(void)snprintf(path, sizeof(path), "%s/turn.socket", dir);
	srv_start(8, 8, 1);
	turn_server_deinit(&srv);
	cfg.n_listen = 0;
	srv.now_s = clock_s;
	assert_int(turn_server_init(&srv, loop, &cfg, &err), -EINVAL);
	assert_non_null(strstr(buf_cstr(&err), "no address to listen on"));
	cfg.n_listen = 1;
	cfg.credentials_only = 1;
	cfg.socket_path = path;
	srv.now_s = clock_s;
	assert_int(turn_server_init(&srv, loop, &cfg, &err), 0);
	assert_int(srv.n_lis, 0);
	fake_s = T0 - TURN_CRED_S;
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	(void)snprintf(un.sun_path, sizeof(un.sun_path), "%s", path);
	assert_int(connect(fd, (struct sockaddr *)&un, sizeof(un)), 0);
	for (i = 0; i < 10; i++)
		(void)evloop_run_once(loop, 5);
	n = read(fd, line, sizeof(line) - 1);
	assert_int(n, 40);
	line[n] = '\0';
	assert_str(line, "1700000000:CWyHi3zCeWqXBir9thl4m+iZPRY=\n");
	close(fd);
	srv_stop();
	buf_deinit(&err);
	test_rmtree(dir);
	free(dir);
}

static void
test_user_expiry(void **state)
{
	uint64_t e;

	(void)state;
	assert_int(turn_user_expiry("1700000000", 10, &e), 0);
	assert_int(e, 1700000000);
	assert_int(turn_user_expiry("1700000000:alice", 16, &e), 0);
	assert_int(e, 1700000000);
	assert_int(turn_user_expiry(":alice", 6, &e), -EINVAL);
	assert_int(turn_user_expiry("17x", 3, &e), -EINVAL);
	assert_int(turn_user_expiry("", 0, &e), -EINVAL);
	assert_int(turn_user_expiry("99999999999999999999", 20, &e), -EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_binding),
		cmocka_unit_test(test_auth),
		cmocka_unit_test(test_allocate_errors),
		cmocka_unit_test(test_relay),
		cmocka_unit_test(test_denied_peers),
		cmocka_unit_test(test_caps),
		cmocka_unit_test(test_refresh_expiry),
		cmocka_unit_test(test_credentials),
		cmocka_unit_test(test_credentials_only),
		cmocka_unit_test(test_user_expiry),
	};

	log_init("test_turn", -2);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
