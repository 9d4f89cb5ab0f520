/*
 * turn_server: the UDP side of chatmail-turn. Listener sockets (one per
 * address, port 3478), the dispatch of STUN requests and indications and
 * of ChannelData (RFC 8656), long-term authentication of every request
 * but Binding (RFC 8489 section 9.2), and the periodic sweep of expired
 * allocations.
 *
 * Untrusted input: every datagram on a listener. Framing is checked by
 * stun_parse; requests without valid MESSAGE-INTEGRITY get 401 with a
 * nonce and cost no state; unauthenticated indications and ChannelData
 * are only relayed for an existing allocation and permission.
 */
#include "turn.h"

#include <errno.h>
#include <netinet/in.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "xmalloc.h"

struct req {
	struct turn_server *s;
	struct turn_listener *l;
	const struct net_addr *from;
	uint8_t *p;
	struct stun_msg m;
	struct turn_alloc *a;
	int authed;
	uint8_t key[STUN_KEY_LEN];
	const char *user;
	size_t user_len;
};

void
turn_send_client(struct turn_listener *l, const struct net_addr *to,
		 const uint8_t *p, size_t n)
{
	if (sendto(l->fd, p, n, 0, (const struct sockaddr *)&to->ss, to->len) <
	    0)
		l->srv->stats.dropped++;
}

/* send_out: finish o (integrity when authenticated, fingerprint) and
 * send it back to the requester */
static void
send_out(struct req *r, struct stun_out *o)
{
	size_t len;

	if (r->authed)
		stun_out_integrity(o, r->key);
	stun_out_fingerprint(o);
	if (stun_out_finish(o, &len) == 0)
		turn_send_client(r->l, r->from, o->p, len);
}

/* reply_error: an error response; 401 and 438 carry REALM and NONCE,
 * 420 the attributes not understood */
static void
reply_error(struct req *r, unsigned code)
{
	struct turn_server *s = r->s;
	struct stun_out o;

	stun_out_init(&o, s->obuf, sizeof(s->obuf), r->m.method, STUN_ERROR,
		      r->m.tid);
	stun_out_error(&o, code);
	if (code == 401 || code == 438) {
		char nonce[41];

		turn_nonce_make(s, r->from, nonce);
		stun_out_attr(&o, STUN_A_REALM, s->cfg->realm,
			      strlen(s->cfg->realm));
		stun_out_attr(&o, STUN_A_NONCE, nonce, 40);
		r->authed = 0; /* RFC 8489 9.2.4: no integrity on these */
	}
	if (code == 420) {
		uint8_t v[2 * STUN_MAX_UNKNOWN];
		size_t i;

		for (i = 0; i < r->m.n_unknown; i++) {
			v[2 * i] = (uint8_t)(r->m.unknown[i] >> 8);
			v[2 * i + 1] = (uint8_t)r->m.unknown[i];
		}
		log_debug("method 0x%03x: unknown attribute 0x%04x",
			  r->m.method, r->m.unknown[0]);
		stun_out_attr(&o, STUN_A_UNKNOWN_ATTRIBUTES, v, 2 * i);
	}
	send_out(r, &o);
}

/* authenticate: long-term credentials; 0, or the error code to answer */
static unsigned
authenticate(struct req *r)
{
	struct turn_server *s = r->s;
	const struct stun_attr *u, *realm, *nonce;
	uint64_t expiry;
	char pass[32];
	int ok;

	if (r->m.mi_off == 0)
		return 401;
	u = stun_find(&r->m, STUN_A_USERNAME);
	realm = stun_find(&r->m, STUN_A_REALM);
	nonce = stun_find(&r->m, STUN_A_NONCE);
	if (u == NULL || realm == NULL || nonce == NULL ||
	    u->len > TURN_USER_MAX)
		return 400;
#ifndef FUZZING
	/* fuzz builds skip the nonce and integrity checks, so the fuzzer
	 * reaches what comes after authentication */
	if (!turn_nonce_check(s, r->from, nonce->val, nonce->len))
		return 438;
#endif
	/* an expired or malformed credential is not a credential */
	if (turn_user_expiry((const char *)u->val, u->len, &expiry) < 0 ||
	    expiry < (uint64_t)s->now_s())
		return 401;
	turn_password(s, (const char *)u->val, u->len, pass);
	stun_long_term_key((const char *)u->val, u->len, s->cfg->realm, pass,
			   r->key);
	explicit_bzero(pass, sizeof(pass));
	ok = stun_check_integrity(r->p, &r->m, r->key, STUN_KEY_LEN);
#ifdef FUZZING
	ok = 1;
#endif
	if (!ok)
		return 401;
	r->authed = 1;
	r->user = (const char *)u->val;
	r->user_len = u->len;
	if (r->a != NULL) {
		size_t al;
		const char *au = turn_alloc_user(r->a, &al);

		if (al != r->user_len || memcmp(au, r->user, al) != 0)
			return 441;
	}
	return 0;
}

/* lifetime_of: the LIFETIME asked for, clamped (RFC 8656 7.2, 7.3) */
static unsigned
lifetime_of(const struct req *r, unsigned dflt, int is_refresh)
{
	uint32_t v;

	if (stun_attr_u32(stun_find(&r->m, STUN_A_LIFETIME), &v) < 0)
		return dflt;
	if (is_refresh && v == 0)
		return 0;
	if (v > TURN_LIFETIME_MAX)
		v = TURN_LIFETIME_MAX;
	return v < TURN_LIFETIME_DEFAULT ? TURN_LIFETIME_DEFAULT : v;
}

/* allocate_ok: the success response of an Allocate (also a retransmit) */
static void
allocate_ok(struct req *r)
{
	struct stun_out o;

	stun_out_init(&o, r->s->obuf, sizeof(r->s->obuf), TURN_ALLOCATE,
		      STUN_SUCCESS, r->m.tid);
	stun_out_xaddr(&o, STUN_A_XOR_RELAYED_ADDRESS,
		       (const struct sockaddr *)&turn_alloc_relay(r->a)->ss);
	stun_out_u32(&o, STUN_A_LIFETIME, turn_alloc_lifetime_left(r->s, r->a));
	stun_out_xaddr(&o, STUN_A_XOR_MAPPED_ADDRESS,
		       (const struct sockaddr *)&r->from->ss);
	send_out(r, &o);
}

/* allocate_check: the Allocate attributes; 0 or an error code */
static unsigned
allocate_check(struct req *r, unsigned *flags_r)
{
	const struct stun_attr *t, *fam, *ev;

	t = stun_find(&r->m, STUN_A_REQUESTED_TRANSPORT);
	if (t == NULL || t->len != 4)
		return 400;
	if (t->val[0] != IPPROTO_UDP)
		return 442;
	fam = stun_find(&r->m, STUN_A_REQUESTED_ADDRESS_FAMILY);
	if (fam != NULL) {
		int want = fam->len == 4 && fam->val[0] == 1   ? AF_INET
			   : fam->len == 4 && fam->val[0] == 2 ? AF_INET6
							       : -1;

		if (want < 0)
			return 400;
		if (want != r->l->relay_ip.ss.ss_family)
			return 440;
	}
	ev = stun_find(&r->m, STUN_A_EVEN_PORT);
	if (ev != NULL && ev->len != 1)
		return 400;
	/* the R bit asks to reserve port + 1 too: no reservations here */
	if (ev != NULL && (ev->val[0] & 0x80))
		return 508;
	*flags_r =
		(stun_find(&r->m, STUN_A_DONT_FRAGMENT) ? TURN_F_DONT_FRAGMENT
							: 0) |
		(ev ? TURN_F_EVEN_PORT : 0);
	return 0;
}

static void
handle_allocate(struct req *r)
{
	unsigned code, flags = 0;

	if (r->a != NULL &&
	    memcmp(turn_alloc_tid(r->a), r->m.tid, STUN_TID_LEN) != 0) {
		reply_error(r, 437);
		return;
	}
	code = authenticate(r);
	if (code == 0 && r->a != NULL) {
		allocate_ok(r); /* retransmitted Allocate */
		return;
	}
	if (code == 0 && r->m.n_unknown > 0)
		code = 420;
	if (code == 0)
		code = allocate_check(r, &flags);
	if (code == 0)
		code = (unsigned)turn_alloc_new(
			r->s, r->l, r->from, r->user, r->user_len, r->key,
			r->m.tid, lifetime_of(r, TURN_LIFETIME_DEFAULT, 0),
			flags, &r->a);
	if (code != 0) {
		if (code == 486 || code == 508)
			r->s->stats.allocs_failed++;
		reply_error(r, code);
		return;
	}
	allocate_ok(r);
}

static void
handle_refresh(struct req *r)
{
	struct stun_out o;
	unsigned code = r->a == NULL ? 437 : authenticate(r), life;

	if (code == 0 && r->m.n_unknown > 0)
		code = 420;
	if (code != 0) {
		reply_error(r, code);
		return;
	}
	life = lifetime_of(r, TURN_LIFETIME_DEFAULT, 1);
	if (life == 0)
		turn_alloc_free(r->s, r->a, "refreshed with lifetime 0");
	else
		turn_alloc_refresh(r->s, r->a, life);
	stun_out_init(&o, r->s->obuf, sizeof(r->s->obuf), TURN_REFRESH,
		      STUN_SUCCESS, r->m.tid);
	stun_out_u32(&o, STUN_A_LIFETIME, life);
	send_out(r, &o);
}

/* peer_of: decode and vet an XOR-PEER-ADDRESS; 0 or an error code */
static unsigned
peer_of(struct req *r, const struct stun_attr *at, struct net_addr *peer)
{
	int e = stun_xaddr_get(at, r->m.tid, &peer->ss, &peer->len);

	if (e == -EAFNOSUPPORT)
		return 443;
	if (e < 0)
		return 400;
	if (peer->ss.ss_family != turn_alloc_relay(r->a)->ss.ss_family)
		return 443;
	if (!turn_peer_allowed(r->s, peer))
		return 403;
	return 0;
}

/* auth_for_alloc: the shared start of CreatePermission and ChannelBind */
static unsigned
auth_for_alloc(struct req *r)
{
	unsigned code = r->a == NULL ? 437 : authenticate(r);

	if (code == 0 && r->m.n_unknown > 0)
		code = 420;
	return code;
}

static void
handle_permission(struct req *r)
{
	struct net_addr peers[TURN_MAX_PERMS];
	struct stun_out o;
	size_t i, n = 0;
	unsigned code = auth_for_alloc(r);

	for (i = 0; code == 0 && i < r->m.n_attrs; i++) {
		if (r->m.attrs[i].type != STUN_A_XOR_PEER_ADDRESS)
			continue;
		if (n == TURN_MAX_PERMS)
			code = 508;
		else
			code = peer_of(r, &r->m.attrs[i], &peers[n++]);
	}
	if (code == 0 && n == 0)
		code = 400;
	for (i = 0; code == 0 && i < n; i++)
		code = (unsigned)turn_alloc_permit(r->s, r->a, &peers[i]);
	if (code != 0) {
		reply_error(r, code);
		return;
	}
	stun_out_init(&o, r->s->obuf, sizeof(r->s->obuf),
		      TURN_CREATE_PERMISSION, STUN_SUCCESS, r->m.tid);
	send_out(r, &o);
}

static void
handle_channel_bind(struct req *r)
{
	const struct stun_attr *ch, *pa;
	struct net_addr peer;
	struct stun_out o;
	unsigned code = auth_for_alloc(r);

	if (code == 0) {
		ch = stun_find(&r->m, STUN_A_CHANNEL_NUMBER);
		pa = stun_find(&r->m, STUN_A_XOR_PEER_ADDRESS);
		if (ch == NULL || ch->len != 4 || pa == NULL)
			code = 400;
		else
			code = peer_of(r, pa, &peer);
		if (code == 0)
			code = (unsigned)turn_alloc_bind(
				r->s, r->a,
				(uint16_t)((unsigned)ch->val[0] << 8 |
					   ch->val[1]),
				&peer);
	}
	if (code != 0) {
		reply_error(r, code);
		return;
	}
	stun_out_init(&o, r->s->obuf, sizeof(r->s->obuf), TURN_CHANNEL_BIND,
		      STUN_SUCCESS, r->m.tid);
	send_out(r, &o);
}

static void
handle_binding(struct req *r)
{
	struct stun_out o;

	stun_out_init(&o, r->s->obuf, sizeof(r->s->obuf), STUN_BINDING,
		      STUN_SUCCESS, r->m.tid);
	stun_out_xaddr(&o, STUN_A_XOR_MAPPED_ADDRESS,
		       (const struct sockaddr *)&r->from->ss);
	send_out(r, &o);
}

/* handle_send: a Send indication; anything wrong is dropped silently */
static void
handle_send(struct req *r)
{
	const struct stun_attr *pa = stun_find(&r->m, STUN_A_XOR_PEER_ADDRESS);
	const struct stun_attr *d = stun_find(&r->m, STUN_A_DATA);
	struct net_addr peer;

	if (r->a == NULL || pa == NULL || d == NULL ||
	    stun_xaddr_get(pa, r->m.tid, &peer.ss, &peer.len) < 0) {
		r->s->stats.dropped++;
		return;
	}
	turn_alloc_send(r->s, r->a, &peer, d->val, d->len);
}

/* handle_channel_data: ChannelData from a client (RFC 8656 12.4) */
static void
handle_channel_data(struct turn_listener *l, const uint8_t *p, size_t n,
		    const struct net_addr *from)
{
	struct turn_server *s = l->srv;
	struct turn_alloc *a = turn_alloc_find(s, l, from);
	uint16_t chan = (uint16_t)((unsigned)p[0] << 8 | p[1]);
	size_t len = (size_t)p[2] << 8 | p[3];
	const struct net_addr *peer;

	if (a == NULL || len > n - 4 ||
	    (peer = turn_alloc_channel_peer(s, a, chan)) == NULL) {
		s->stats.dropped++;
		return;
	}
	turn_alloc_send(s, a, peer, p + 4, len);
}

void
turn_server_handle(struct turn_listener *l, uint8_t *p, size_t n,
		   const struct net_addr *from)
{
	struct req r;

	if (stun_is_channel_data(p, n)) {
		handle_channel_data(l, p, n, from);
		return;
	}
	memset(&r, 0, sizeof(r));
	if (stun_parse(p, n, &r.m) < 0) {
		l->srv->stats.dropped++;
		return;
	}
	r.s = l->srv;
	r.l = l;
	r.from = from;
	r.p = p;
	r.a = turn_alloc_find(r.s, l, from);
	if (r.m.cls == STUN_INDICATION && r.m.method == TURN_SEND) {
		handle_send(&r);
		return;
	}
	if (r.m.cls != STUN_REQUEST)
		return;
	switch (r.m.method) {
	case STUN_BINDING:
		handle_binding(&r);
		break;
	case TURN_ALLOCATE:
		handle_allocate(&r);
		break;
	case TURN_REFRESH:
		handle_refresh(&r);
		break;
	case TURN_CREATE_PERMISSION:
		handle_permission(&r);
		break;
	case TURN_CHANNEL_BIND:
		handle_channel_bind(&r);
		break;
	default:
		reply_error(&r, 400);
		break;
	}
	explicit_bzero(r.key, sizeof(r.key));
}

/* on_client: datagrams on a listener */
static void
on_client(struct evloop *loop, int fd, unsigned events, void *arg)
{
	struct turn_listener *l = arg;
	struct net_addr from;
	ssize_t n;
	int i;

	(void)loop;
	(void)events;
	for (i = 0; i < 64; i++) {
		from.len = sizeof(from.ss);
		n = recvfrom(fd, l->srv->rbuf, sizeof(l->srv->rbuf), 0,
			     (struct sockaddr *)&from.ss, &from.len);
		if (n < 0)
			return;
		turn_server_handle(l, l->srv->rbuf, (size_t)n, &from);
	}
}

static void
on_sweep(struct evloop *loop, void *arg)
{
	struct turn_server *s = arg;

	turn_alloc_sweep(s);
	evloop_timer_start(loop, &s->sweep, TURN_SWEEP_MS);
}

/* listener_open: bind one listener; 0 or -errno (err says why) */
static int
listener_open(struct turn_server *s, const char *host,
	      const struct net_addr *ext, struct buf *err)
{
	struct turn_listener *l = &s->lis[s->n_lis];
	int r;

	if (net_resolve(host, s->cfg->port, &l->local, err) < 0)
		return -EINVAL;
	l->srv = s;
	l->relay_ip = l->local;
	turn_addr_set_port(&l->relay_ip, 0);
	l->adv_ip = l->relay_ip;
	if (ext != NULL && ext->ss.ss_family == l->local.ss.ss_family)
		l->adv_ip = *ext;
	l->fd = socket(l->local.ss.ss_family,
		       SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (l->fd < 0 ||
	    bind(l->fd, (struct sockaddr *)&l->local.ss, l->local.len) < 0) {
		r = -errno;
		buf_printf(err, "bind udp %s:%u: %s", host, s->cfg->port,
			   strerror(errno));
		if (l->fd >= 0)
			(void)close(l->fd);
		return r;
	}
	l->local.len = sizeof(l->local.ss);
	(void)getsockname(l->fd, (struct sockaddr *)&l->local.ss,
			  &l->local.len);
	r = evloop_io_add(s->loop, l->fd, EV_READ, on_client, l);
	if (r < 0) {
		(void)close(l->fd);
		buf_printf(err, "evloop: %s", strerror(-r));
		return r;
	}
	s->n_lis++;
	return 0;
}

static time_t
wall_now(void)
{
	return time(NULL);
}

int
turn_server_init(struct turn_server *s, struct evloop *loop,
		 const struct turn_config *cfg, struct buf *err)
{
	struct net_addr ext;
	size_t i;
	int r = 0;
	time_t (*now_s)(void) = s->now_s; /* a test's clock survives */

	memset(s, 0, sizeof(*s));
	s->loop = loop;
	s->cfg = cfg;
	s->cred_fd = -1;
	s->now_s = now_s != NULL ? now_s : wall_now;
	evloop_timer_init(&s->sweep, on_sweep, s);
	if (RAND_bytes(s->nonce_key, sizeof(s->nonce_key)) != 1) {
		buf_puts(err, "no random bytes for the nonce key");
		return -EIO;
	}
	if (cfg->external_ip != NULL &&
	    net_resolve(cfg->external_ip, 0, &ext, err) < 0)
		return -EINVAL;
	s->hash_size = cfg->max_allocs < 64 ? 64 : cfg->max_allocs;
	s->hash = xcalloc(s->hash_size, sizeof(struct turn_alloc *));
	for (i = 0; r == 0 && !cfg->credentials_only && i < cfg->n_listen; i++)
		r = listener_open(s, cfg->listen[i],
				  cfg->external_ip ? &ext : NULL, err);
	if (r == 0 && s->n_lis == 0 && !cfg->credentials_only) {
		buf_puts(err, "no address to listen on");
		r = -EINVAL;
	}
	if (r == 0)
		r = turn_cred_listen(s, err);
	if (r < 0) {
		turn_server_deinit(s);
		return r;
	}
	evloop_timer_start(loop, &s->sweep, TURN_SWEEP_MS);
	return 0;
}

void
turn_server_deinit(struct turn_server *s)
{
	size_t i;

	if (s->loop == NULL)
		return;
	turn_alloc_free_all(s);
	evloop_timer_stop(s->loop, &s->sweep);
	turn_cred_close(s);
	for (i = 0; i < s->n_lis; i++) {
		evloop_io_del(s->loop, s->lis[i].fd);
		(void)close(s->lis[i].fd);
	}
	s->n_lis = 0;
	free(s->hash);
	s->hash = NULL;
	explicit_bzero(s->nonce_key, sizeof(s->nonce_key));
}
