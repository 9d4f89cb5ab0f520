/*
 * turn_alloc: allocations of chatmail-turn (RFC 8656 sections 6-12):
 * one relay UDP socket each, found by the client's 5-tuple (hash), with
 * up to TURN_MAX_PERMS permissions (by peer IP, 300 s) and
 * TURN_MAX_CHANNELS channels (peer transport address, 600 s); data from
 * a permitted peer goes to the client as ChannelData when a channel is
 * bound to it, else as a Data indication. Caps: allocations in all, per
 * client IP and per username; relay ports from a range or the kernel's.
 *
 * Peers: relaying to loopback, private, link-local, shared, multicast
 * and reserved addresses is refused (403) unless the address is one of
 * this server's own relay addresses (two clients of the same server
 * calling each other) or an --allow-peer range: a relay inside a
 * cluster must not become a way into the cluster's UDP services.
 *
 * Untrusted input: peer datagrams on relay sockets (any length up to
 * TURN_DGRAM_MAX, any source; only permitted sources are relayed).
 */
#include "turn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "xmalloc.h"

struct turn_perm {
	struct net_addr ip; /* port ignored */
	uint64_t expires;
};

struct turn_chan {
	uint16_t num;
	struct net_addr peer;
	uint64_t expires;
};

struct turn_alloc {
	LLIST_LINK(turn_alloc) link; /* in s->allocs */
	struct turn_alloc *hnext;    /* hash chain */
	struct turn_listener *lis;   /* server side of the 5-tuple */
	struct net_addr client;
	struct net_addr relay; /* advertised relayed address */
	int fd;
	uint64_t expires;
	uint8_t tid[STUN_TID_LEN]; /* of the Allocate, for retransmits */
	uint8_t key[STUN_KEY_LEN];
	size_t user_len;
	char user[TURN_USER_MAX];
	size_t n_perm, n_chan;
	struct turn_perm perm[TURN_MAX_PERMS];
	struct turn_chan chan[TURN_MAX_CHANNELS];
};

static const uint8_t *
ip_bytes(const struct net_addr *a, size_t *len_r)
{
	if (a->ss.ss_family == AF_INET) {
		*len_r = 4;
		return (const uint8_t *)&((const struct sockaddr_in *)&a->ss)
			->sin_addr;
	}
	*len_r = 16;
	return (const uint8_t *)&((const struct sockaddr_in6 *)&a->ss)
		->sin6_addr;
}

int
turn_ip_equal(const struct net_addr *a, const struct net_addr *b)
{
	const uint8_t *x, *y;
	size_t lx, ly;

	if (a->ss.ss_family != b->ss.ss_family)
		return 0;
	x = ip_bytes(a, &lx);
	y = ip_bytes(b, &ly);
	return lx == ly && memcmp(x, y, lx) == 0;
}

unsigned
turn_addr_port(const struct net_addr *a)
{
	if (a->ss.ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)&a->ss)->sin_port);
	return ntohs(((const struct sockaddr_in6 *)&a->ss)->sin6_port);
}

void
turn_addr_set_port(struct net_addr *a, unsigned port)
{
	if (a->ss.ss_family == AF_INET)
		((struct sockaddr_in *)&a->ss)->sin_port =
			htons((uint16_t)port);
	else
		((struct sockaddr_in6 *)&a->ss)->sin6_port =
			htons((uint16_t)port);
}

int
turn_addr_equal(const struct net_addr *a, const struct net_addr *b)
{
	return turn_ip_equal(a, b) && turn_addr_port(a) == turn_addr_port(b);
}

int
turn_cidr_parse(const char *s, struct turn_cidr *c)
{
	char ip[64];
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	unsigned max, v = 0;

	if (n == 0 || n >= sizeof(ip))
		return -EINVAL;
	memcpy(ip, s, n);
	ip[n] = '\0';
	memset(c, 0, sizeof(*c));
	if (inet_pton(AF_INET, ip, c->addr) == 1)
		c->family = AF_INET, max = 32;
	else if (inet_pton(AF_INET6, ip, c->addr) == 1)
		c->family = AF_INET6, max = 128;
	else
		return -EINVAL;
	c->prefix = max;
	if (slash != NULL) {
		const char *d = slash + 1;

		if (*d == '\0')
			return -EINVAL;
		for (; *d != '\0'; d++) {
			if (*d < '0' || *d > '9' || v > max)
				return -EINVAL;
			v = v * 10 + (unsigned)(*d - '0');
		}
		if (v > max)
			return -EINVAL;
		c->prefix = v;
	}
	return 0;
}

/* cidr_match: family and the first prefix bits equal */
static int
cidr_match(const struct turn_cidr *c, int family, const uint8_t *ip)
{
	unsigned full = c->prefix / 8, rest = c->prefix % 8;

	if (c->family != family || memcmp(c->addr, ip, full) != 0)
		return 0;
	return rest == 0 ||
	       ((c->addr[full] ^ ip[full]) & (0xFF << (8 - rest)) & 0xFF) == 0;
}

/* v4_denied: loopback, private, shared, link-local, multicast, reserved */
static int
v4_denied(const uint8_t *a)
{
	return a[0] == 0 || a[0] == 10 || a[0] == 127 || a[0] >= 224 ||
	       (a[0] == 100 && (a[1] & 0xC0) == 64) ||
	       (a[0] == 169 && a[1] == 254) ||
	       (a[0] == 172 && (a[1] & 0xF0) == 16) ||
	       (a[0] == 192 && a[1] == 168) ||
	       (a[0] == 192 && a[1] == 0 && a[2] == 0) ||
	       (a[0] == 198 && (a[1] & 0xFE) == 18);
}

int
turn_peer_allowed(const struct turn_server *s, const struct net_addr *p)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0,    0,
					    0, 0, 0, 0, 0xFF, 0xFF };
	const uint8_t *ip;
	size_t i, len;

	if (turn_addr_port(p) == 0)
		return 0;
	for (i = 0; i < s->n_lis; i++)
		if (turn_ip_equal(p, &s->lis[i].adv_ip) ||
		    turn_ip_equal(p, &s->lis[i].relay_ip))
			return 1;
	ip = ip_bytes(p, &len);
	for (i = 0; i < s->cfg->n_allow_peer; i++)
		if (cidr_match(&s->cfg->allow_peer[i], p->ss.ss_family, ip))
			return 1;
	if (len == 4)
		return !v4_denied(ip);
	if (memcmp(ip, mapped, 12) == 0)
		return !v4_denied(ip + 12);
	return !(IN6_IS_ADDR_UNSPECIFIED((const struct in6_addr *)ip) ||
		 IN6_IS_ADDR_LOOPBACK((const struct in6_addr *)ip) ||
		 ip[0] == 0xFF ||			     /* multicast */
		 (ip[0] & 0xFE) == 0xFC ||		     /* unique local */
		 (ip[0] == 0xFE && (ip[1] & 0xC0) == 0x80)); /* link-local */
}

/* hash_of: bucket of a client 5-tuple */
static size_t
hash_of(const struct turn_server *s, const struct turn_listener *l,
	const struct net_addr *c)
{
	const uint8_t *ip;
	size_t len, i;
	uint64_t h = 1469598103934665603ull ^ (uint64_t)(l - s->lis);

	ip = ip_bytes(c, &len);
	for (i = 0; i < len; i++)
		h = (h ^ ip[i]) * 1099511628211ull;
	h = (h ^ turn_addr_port(c)) * 1099511628211ull;
	return (size_t)(h % s->hash_size);
}

struct turn_alloc *
turn_alloc_find(struct turn_server *s, const struct turn_listener *l,
		const struct net_addr *client)
{
	struct turn_alloc *a;

	for (a = s->hash[hash_of(s, l, client)]; a != NULL; a = a->hnext)
		if (a->lis == l && turn_addr_equal(&a->client, client))
			return a;
	return NULL;
}

/* own_local: a peer that is one of our advertised relay addresses, as
 * the address its relay socket is bound to */
static void
own_local(const struct turn_server *s, struct net_addr *peer)
{
	size_t i;
	unsigned port = turn_addr_port(peer);

	for (i = 0; i < s->n_lis; i++)
		if (turn_ip_equal(peer, &s->lis[i].adv_ip)) {
			*peer = s->lis[i].relay_ip;
			turn_addr_set_port(peer, port);
			return;
		}
}

/* own_adv: the reverse of own_local, for sources seen on relay sockets */
static void
own_adv(const struct turn_server *s, struct net_addr *src)
{
	size_t i;
	unsigned port = turn_addr_port(src);

	for (i = 0; i < s->n_lis; i++)
		if (turn_ip_equal(src, &s->lis[i].relay_ip)) {
			*src = s->lis[i].adv_ip;
			turn_addr_set_port(src, port);
			return;
		}
}

static int
permitted(struct turn_server *s, const struct turn_alloc *a,
	  const struct net_addr *peer)
{
	uint64_t now = evloop_now(s->loop);
	size_t i;

	for (i = 0; i < a->n_perm; i++)
		if (a->perm[i].expires > now &&
		    turn_ip_equal(&a->perm[i].ip, peer))
			return 1;
	return 0;
}

/* to_client: a datagram from peer, as ChannelData or a Data indication */
static void
to_client(struct turn_server *s, struct turn_alloc *a,
	  const struct net_addr *peer, const uint8_t *p, size_t n)
{
	uint64_t now = evloop_now(s->loop);
	struct stun_out o;
	size_t i, len;
	uint8_t tid[STUN_TID_LEN];

	for (i = 0; i < a->n_chan; i++) {
		if (a->chan[i].expires <= now ||
		    !turn_addr_equal(&a->chan[i].peer, peer))
			continue;
		if (n > sizeof(s->obuf) - 4)
			return;
		s->obuf[0] = (uint8_t)(a->chan[i].num >> 8);
		s->obuf[1] = (uint8_t)a->chan[i].num;
		s->obuf[2] = (uint8_t)(n >> 8);
		s->obuf[3] = (uint8_t)n;
		memcpy(s->obuf + 4, p, n);
		turn_send_client(a->lis, &a->client, s->obuf, n + 4);
		return;
	}
	/* indications need no unpredictable id; make it unique enough */
	memset(tid, 0, sizeof(tid));
	memcpy(tid, &s->stats.pkts_to_client, sizeof(s->stats.pkts_to_client));
	stun_out_init(&o, s->obuf, sizeof(s->obuf), TURN_DATA, STUN_INDICATION,
		      tid);
	stun_out_xaddr(&o, STUN_A_XOR_PEER_ADDRESS,
		       (const struct sockaddr *)&peer->ss);
	stun_out_attr(&o, STUN_A_DATA, p, n);
	if (stun_out_finish(&o, &len) == 0)
		turn_send_client(a->lis, &a->client, s->obuf, len);
}

/* on_relay: datagrams from peers on an allocation's relay socket */
static void
on_relay(struct evloop *loop, int fd, unsigned events, void *arg)
{
	struct turn_alloc *a = arg;
	struct turn_server *s = a->lis->srv;
	struct net_addr from;
	ssize_t n;
	int i;

	(void)loop;
	(void)events;
	for (i = 0; i < 64; i++) {
		from.len = sizeof(from.ss);
		n = recvfrom(fd, s->rbuf, sizeof(s->rbuf), 0,
			     (struct sockaddr *)&from.ss, &from.len);
		if (n < 0)
			return; /* EAGAIN, or an ICMP error: nothing to do */
		own_adv(s, &from);
		if (!permitted(s, a, &from)) {
			s->stats.dropped++;
			continue;
		}
		s->stats.pkts_to_client++;
		s->stats.bytes_relayed += (uint64_t)n;
		to_client(s, a, &from, s->rbuf, (size_t)n);
	}
}

void
turn_alloc_send(struct turn_server *s, struct turn_alloc *a,
		const struct net_addr *peer, const uint8_t *p, size_t n)
{
	struct net_addr to = *peer;

	if (!permitted(s, a, peer)) {
		s->stats.dropped++;
		return;
	}
	own_local(s, &to);
	if (sendto(a->fd, p, n, 0, (const struct sockaddr *)&to.ss, to.len) <
	    0) {
		s->stats.dropped++;
		return;
	}
	s->stats.pkts_to_peer++;
	s->stats.bytes_relayed += n;
}

/* relay_socket: a UDP socket on the listener's relay address, on a port
 * of the configured range (or any), an even one if asked (EVEN-PORT);
 * the fd, or -1 */
static int
relay_socket(struct turn_server *s, struct turn_listener *l, int dont_fragment,
	     int even, struct net_addr *bound)
{
	const struct turn_config *c = s->cfg;
	unsigned span = c->port_max ? c->port_max - c->port_min + 1 : 1, i;
	int fd;

	fd = socket(l->relay_ip.ss.ss_family,
		    SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (dont_fragment) {
		int v = l->relay_ip.ss.ss_family == AF_INET ? IP_PMTUDISC_DO
							    : 1;

		if (l->relay_ip.ss.ss_family == AF_INET)
			(void)setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &v,
					 sizeof(v));
		else
			(void)setsockopt(fd, IPPROTO_IPV6, IPV6_DONTFRAG, &v,
					 sizeof(v));
	}
	*bound = l->relay_ip;
	if (!c->port_max && even) {
		/* no range: even ports of the IANA dynamic range */
		span = (65535 - 49152) / 2;
	}
	for (i = 0; i < span; i++) {
		unsigned port = 0;

		if (c->port_max)
			port = c->port_min + (s->next_port + i) % span;
		else if (even)
			port = 49152 + 2 * ((s->next_port + i) % span);
		if (even && port % 2 != 0)
			continue;
		turn_addr_set_port(bound, port);
		if (bind(fd, (struct sockaddr *)&bound->ss, bound->len) == 0) {
			s->next_port = (s->next_port + i + 1) % span;
			bound->len = sizeof(bound->ss);
			if (getsockname(fd, (struct sockaddr *)&bound->ss,
					&bound->len) == 0)
				return fd;
			break;
		}
	}
	(void)close(fd);
	return -1;
}

/* over_quota: the per-IP or per-user cap reached */
static int
over_quota(const struct turn_server *s, const struct net_addr *client,
	   const char *user, size_t user_len)
{
	const struct turn_alloc *a;
	unsigned by_ip = 0, by_user = 0;

	LLIST_FOREACH(a, &s->allocs, link) {
		by_ip += turn_ip_equal(&a->client, client);
		by_user += a->user_len == user_len &&
			   memcmp(a->user, user, user_len) == 0;
	}
	return by_ip >= s->cfg->max_allocs_per_ip ||
	       by_user >= s->cfg->max_allocs_per_user;
}

/* log_alloc: one line per allocation event */
static void
log_alloc(const struct turn_alloc *a, const char *what, const char *why)
{
	char c[INET6_ADDRSTRLEN + 8], r[INET6_ADDRSTRLEN + 8], u[80];

	(void)log_escape(u, sizeof(u), a->user, a->user_len);
	log_info("allocation %s: client=%s relay=%s user=%s%s%s", what,
		 net_addr_str(&a->client, c, sizeof(c)),
		 net_addr_str(&a->relay, r, sizeof(r)), u,
		 why ? " reason=" : "", why ? why : "");
}

int
turn_alloc_new(struct turn_server *s, struct turn_listener *l,
	       const struct net_addr *client, const char *user, size_t user_len,
	       const uint8_t key[STUN_KEY_LEN], const uint8_t *tid,
	       unsigned lifetime, unsigned flags, struct turn_alloc **a_r)
{
	struct turn_alloc *a;
	struct net_addr bound;
	size_t h;
	int fd;

	if (LLIST_COUNT(&s->allocs) >= s->cfg->max_allocs)
		return 508;
	if (user_len > TURN_USER_MAX || over_quota(s, client, user, user_len))
		return 486;
	fd = relay_socket(s, l, flags & TURN_F_DONT_FRAGMENT,
			  flags & TURN_F_EVEN_PORT, &bound);
	if (fd < 0)
		return 508;
	a = xcalloc(1, sizeof(*a));
	a->lis = l;
	a->client = *client;
	a->relay = l->adv_ip;
	turn_addr_set_port(&a->relay, turn_addr_port(&bound));
	a->fd = fd;
	memcpy(a->tid, tid, STUN_TID_LEN);
	memcpy(a->key, key, STUN_KEY_LEN);
	memcpy(a->user, user, user_len);
	a->user_len = user_len;
	if (evloop_io_add(s->loop, fd, EV_READ, on_relay, a) < 0) {
		(void)close(fd);
		free(a);
		return 508;
	}
	a->expires = evloop_now(s->loop) + (uint64_t)lifetime * 1000;
	h = hash_of(s, l, client);
	a->hnext = s->hash[h];
	s->hash[h] = a;
	LLIST_PREPEND(&s->allocs, a, link);
	s->stats.allocs_total++;
	log_alloc(a, "created", NULL);
	*a_r = a;
	return 0;
}

void
turn_alloc_free(struct turn_server *s, struct turn_alloc *a, const char *why)
{
	struct turn_alloc **pp;

	log_alloc(a, "deleted", why);
	for (pp = &s->hash[hash_of(s, a->lis, &a->client)]; *pp != NULL;
	     pp = &(*pp)->hnext)
		if (*pp == a) {
			*pp = a->hnext;
			break;
		}
	LLIST_REMOVE(&s->allocs, a, link);
	evloop_io_del(s->loop, a->fd);
	(void)close(a->fd);
	explicit_bzero(a->key, sizeof(a->key));
	free(a);
}

void
turn_alloc_free_all(struct turn_server *s)
{
	struct turn_alloc *a;

	while ((a = LLIST_FIRST(&s->allocs)) != NULL)
		turn_alloc_free(s, a, "shutdown");
}

void
turn_alloc_refresh(struct turn_server *s, struct turn_alloc *a,
		   unsigned lifetime)
{
	a->expires = evloop_now(s->loop) + (uint64_t)lifetime * 1000;
}

int
turn_alloc_permit(struct turn_server *s, struct turn_alloc *a,
		  const struct net_addr *peer)
{
	uint64_t now = evloop_now(s->loop);
	struct turn_perm *free_slot = NULL;
	size_t i;

	for (i = 0; i < a->n_perm; i++) {
		if (turn_ip_equal(&a->perm[i].ip, peer)) {
			a->perm[i].expires = now + TURN_PERM_MS;
			return 0;
		}
		if (a->perm[i].expires <= now && free_slot == NULL)
			free_slot = &a->perm[i];
	}
	if (free_slot == NULL) {
		if (a->n_perm == TURN_MAX_PERMS)
			return 508;
		free_slot = &a->perm[a->n_perm++];
	}
	free_slot->ip = *peer;
	free_slot->expires = now + TURN_PERM_MS;
	return 0;
}

int
turn_alloc_bind(struct turn_server *s, struct turn_alloc *a, uint16_t chan,
		const struct net_addr *peer)
{
	uint64_t now = evloop_now(s->loop);
	struct turn_chan *slot = NULL;
	size_t i;

	/* RFC 8656 narrowed the range to 0x4FFF; RFC 5766 clients
	 * (turnutils among them) still use up to 0x7FFF */
	if (chan < 0x4000 || chan > 0x7FFF)
		return 400;
	for (i = 0; i < a->n_chan; i++) {
		struct turn_chan *c = &a->chan[i];
		int live = c->expires > now;

		if (live && c->num == chan && !turn_addr_equal(&c->peer, peer))
			return 400;
		if (live && c->num != chan && turn_addr_equal(&c->peer, peer))
			return 400;
		if ((live && c->num == chan) || (!live && slot == NULL))
			slot = c;
	}
	if (slot == NULL) {
		if (a->n_chan == TURN_MAX_CHANNELS)
			return 508;
		slot = &a->chan[a->n_chan++];
	}
	if (turn_alloc_permit(s, a, peer) != 0)
		return 508;
	slot->num = chan;
	slot->peer = *peer;
	slot->expires = now + TURN_CHANNEL_MS;
	return 0;
}

const struct net_addr *
turn_alloc_channel_peer(struct turn_server *s, struct turn_alloc *a,
			uint16_t chan)
{
	uint64_t now = evloop_now(s->loop);
	size_t i;

	for (i = 0; i < a->n_chan; i++)
		if (a->chan[i].num == chan && a->chan[i].expires > now)
			return &a->chan[i].peer;
	return NULL;
}

void
turn_alloc_sweep(struct turn_server *s)
{
	uint64_t now = evloop_now(s->loop);
	struct turn_alloc *a, *next;

	LLIST_FOREACH_SAFE(a, &s->allocs, link, next) {
		if (a->expires <= now)
			turn_alloc_free(s, a, "expired");
	}
}

const struct net_addr *
turn_alloc_relay(const struct turn_alloc *a)
{
	return &a->relay;
}

const char *
turn_alloc_user(const struct turn_alloc *a, size_t *len_r)
{
	*len_r = a->user_len;
	return a->user;
}

const uint8_t *
turn_alloc_key(const struct turn_alloc *a)
{
	return a->key;
}

const uint8_t *
turn_alloc_tid(const struct turn_alloc *a)
{
	return a->tid;
}

unsigned
turn_alloc_lifetime_left(const struct turn_server *s,
			 const struct turn_alloc *a)
{
	uint64_t now = evloop_now(s->loop);

	return a->expires > now ? (unsigned)((a->expires - now + 999) / 1000)
				: 0;
}
