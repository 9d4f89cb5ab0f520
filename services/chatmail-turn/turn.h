/*
 * turn: the private header of chatmail-turn, a TURN server (RFC 8656,
 * UDP relaying only) for chatmail relays with time-limited credentials
 * from a shared secret (TURN REST, docs/UPSTREAM.md "TURN"), and the
 * Unix socket upstream's chatmail-turn serves them on.
 *
 * Files: turn_server.c (sockets, request dispatch), turn_alloc.c
 * (allocations, permissions, channels, relaying), turn_auth.c (nonces,
 * credentials, the credential socket), stun.c (message codec), main.c.
 */
#ifndef CM_TURN_H
#define CM_TURN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "config.h"
#include "evloop.h"
#include "llist.h"
#include "net.h"
#include "stun.h"

#define TURN_PORT CM_TURN_PORT
#define TURN_MAX_LISTENERS 16
#define TURN_MAX_PERMS 16    /* per allocation */
#define TURN_MAX_CHANNELS 16 /* per allocation */
#define TURN_MAX_PEER_RULES 16
#define TURN_USER_MAX 128
#define TURN_DGRAM_MAX 65536
#define TURN_OUT_MAX (TURN_DGRAM_MAX + 64)
#define TURN_PERM_MS (300 * 1000)    /* RFC 8656 section 9 */
#define TURN_CHANNEL_MS (600 * 1000) /* RFC 8656 section 12 */
#define TURN_LIFETIME_DEFAULT 600    /* s */
#define TURN_LIFETIME_MAX 3600	     /* s */
#define TURN_NONCE_S 3600	     /* nonce validity */
#define TURN_CRED_S (5 * 24 * 3600)  /* credential validity, as upstream */
#define TURN_SWEEP_MS 2000

/* an IP (family + address) with an optional prefix, for peer rules */
struct turn_cidr {
	int family;
	uint8_t addr[16];
	unsigned prefix;
};

struct turn_config {
	const char *realm;
	const char *socket_path; /* credential socket, NULL: none */
	const uint8_t *secret;	 /* shared secret */
	size_t secret_len;
	const char *listen[TURN_MAX_LISTENERS]; /* addresses to bind */
	size_t n_listen;
	unsigned port;
	const char *external_ip;     /* advertised relay address, or NULL */
	unsigned port_min, port_max; /* relay ports; 0,0: any free port */
	unsigned max_allocs;	     /* global cap */
	unsigned max_allocs_per_ip;
	unsigned max_allocs_per_user;
	struct turn_cidr allow_peer[TURN_MAX_PEER_RULES];
	size_t n_allow_peer;
	uid_t socket_uid;
	gid_t socket_gid;
	/* serve the credential socket only, no UDP: the TURN server with
	 * the same secret runs elsewhere (a hostNetwork Pod) */
	int credentials_only;
};

struct turn_server;
struct turn_alloc;

/* a UDP socket clients talk to (the server side of a 5-tuple) */
struct turn_listener {
	struct turn_server *srv;
	int fd;
	struct net_addr local;	  /* bound address */
	struct net_addr relay_ip; /* where relay sockets bind (port 0) */
	struct net_addr adv_ip;	  /* relay address told to clients */
};

struct turn_stats {
	uint64_t allocs_total, allocs_failed;
	uint64_t pkts_to_peer, pkts_to_client, bytes_relayed;
	uint64_t dropped;
};

struct turn_server {
	struct evloop *loop;
	const struct turn_config *cfg;
	struct turn_listener lis[TURN_MAX_LISTENERS];
	size_t n_lis;
	int cred_fd;
	uint8_t nonce_key[32];
	LLIST_HEAD(, turn_alloc) allocs; /* every allocation */
	struct turn_alloc **hash;	 /* by client 5-tuple */
	size_t hash_size;
	unsigned next_port;
	struct evloop_timer sweep;
	struct turn_stats stats;
	uint8_t rbuf[TURN_DGRAM_MAX];
	uint8_t obuf[TURN_OUT_MAX];
	time_t (*now_s)(void); /* wall clock for credentials (tests) */
};

/* turn_server.c */
int turn_server_init(struct turn_server *s, struct evloop *loop,
		     const struct turn_config *cfg, struct buf *err);
void turn_server_deinit(struct turn_server *s);
/* turn_server_handle: one datagram from a client on listener l */
void turn_server_handle(struct turn_listener *l, uint8_t *p, size_t n,
			const struct net_addr *from);
/* turn_send_client: send a datagram to a client over its listener */
void turn_send_client(struct turn_listener *l, const struct net_addr *to,
		      const uint8_t *p, size_t n);

/* turn_auth.c */
/* turn_nonce_make: a fresh nonce bound to the client's address */
void turn_nonce_make(const struct turn_server *s, const struct net_addr *c,
		     char out[41]);
/* turn_nonce_check: 1 valid, 0 stale or foreign */
int turn_nonce_check(const struct turn_server *s, const struct net_addr *c,
		     const uint8_t *nonce, size_t len);
/* turn_password: base64(HMAC-SHA1(secret, username)) into out (29+) */
void turn_password(const struct turn_server *s, const char *user,
		   size_t user_len, char out[32]);
/* turn_user_expiry: the expiry time a TURN REST username starts with
 * ("<unix time>" or "<unix time>:<id>"); 0 or -EINVAL */
int turn_user_expiry(const char *user, size_t len, uint64_t *expiry_r);
/* turn_cred_line: "<expiry>:<password>\n" valid for TURN_CRED_S */
size_t turn_cred_line(const struct turn_server *s, char *out, size_t cap);
int turn_cred_listen(struct turn_server *s, struct buf *err);
void turn_cred_close(struct turn_server *s);

/* turn_alloc.c */
struct turn_alloc *turn_alloc_find(struct turn_server *s,
				   const struct turn_listener *l,
				   const struct net_addr *client);
enum {
	TURN_F_DONT_FRAGMENT = 1,
	TURN_F_EVEN_PORT = 2,
};

/* turn_alloc_new: reserve a relay socket and insert; 0 or the STUN
 * error code to answer (486 quota, 508 no port/socket) */
int turn_alloc_new(struct turn_server *s, struct turn_listener *l,
		   const struct net_addr *client, const char *user,
		   size_t user_len, const uint8_t key[STUN_KEY_LEN],
		   const uint8_t *tid, unsigned lifetime, unsigned flags,
		   struct turn_alloc **a_r);
void turn_alloc_free(struct turn_server *s, struct turn_alloc *a,
		     const char *why);
void turn_alloc_free_all(struct turn_server *s);
void turn_alloc_refresh(struct turn_server *s, struct turn_alloc *a,
			unsigned lifetime);
/* turn_alloc_permit: install or refresh a permission; 0, or 508 when
 * the allocation has TURN_MAX_PERMS already */
int turn_alloc_permit(struct turn_server *s, struct turn_alloc *a,
		      const struct net_addr *peer);
/* turn_alloc_bind: channel bind (RFC 8656 section 11.2 rules); 0 or
 * the STUN error code (400 conflict, 508 full) */
int turn_alloc_bind(struct turn_server *s, struct turn_alloc *a, uint16_t chan,
		    const struct net_addr *peer);
/* turn_alloc_send: relay client data to peer (channel or Send); the
 * permission is checked here */
void turn_alloc_send(struct turn_server *s, struct turn_alloc *a,
		     const struct net_addr *peer, const uint8_t *p, size_t n);
/* turn_alloc_channel_peer: the peer bound to a channel, or NULL */
const struct net_addr *turn_alloc_channel_peer(struct turn_server *s,
					       struct turn_alloc *a,
					       uint16_t chan);
/* turn_peer_allowed: 1 if relaying to this address is allowed */
int turn_peer_allowed(const struct turn_server *s, const struct net_addr *p);
void turn_alloc_sweep(struct turn_server *s);

/* accessors used by turn_server.c */
const struct net_addr *turn_alloc_relay(const struct turn_alloc *a);
const char *turn_alloc_user(const struct turn_alloc *a, size_t *len_r);
const uint8_t *turn_alloc_key(const struct turn_alloc *a);
const uint8_t *turn_alloc_tid(const struct turn_alloc *a);
unsigned turn_alloc_lifetime_left(const struct turn_server *s,
				  const struct turn_alloc *a);

/* net helpers (turn_alloc.c) */
int turn_addr_equal(const struct net_addr *a, const struct net_addr *b);
int turn_ip_equal(const struct net_addr *a, const struct net_addr *b);
unsigned turn_addr_port(const struct net_addr *a);
void turn_addr_set_port(struct net_addr *a, unsigned port);
int turn_cidr_parse(const char *s, struct turn_cidr *c);

#endif
