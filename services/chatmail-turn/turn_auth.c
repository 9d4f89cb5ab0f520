/*
 * turn_auth: credentials of chatmail-turn. Long-term credentials in the
 * TURN REST form upstream uses (docs/UPSTREAM.md "TURN"): the username
 * is the Unix time the credential expires ("<expiry>" or
 * "<expiry>:<id>"), the password base64(HMAC-SHA1(shared secret,
 * username)); the MESSAGE-INTEGRITY key is MD5(username:realm:password)
 * (RFC 8489 section 9.2). Nonces are stateless: the time they were made
 * and an HMAC of it and the client's transport address under a key
 * drawn at start, so an unauthenticated client costs no memory.
 *
 * The credential socket answers every connection with one line
 * "<username>:<password>\n" valid for five days and closes it, as
 * upstream's chatmail-turn does; chatmail-metadata reads it for the
 * IMAP METADATA key /shared/vendor/deltachat/turn.
 *
 * Untrusted input: usernames and nonces from requests (length-checked,
 * compared in constant time).
 */
#include "turn.h"

#include <errno.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

#define NONCE_MAC_HEX 32 /* 16 bytes of HMAC-SHA256 */
#define NONCE_LEN (8 + NONCE_MAC_HEX)

/* nonce_mac: hex HMAC of the nonce's time and the client's address */
static void
nonce_mac(const struct turn_server *s, const struct net_addr *c,
	  const char time_hex[8], char out[NONCE_MAC_HEX + 1])
{
	static const char hex[] = "0123456789abcdef";
	uint8_t msg[8 + sizeof(struct sockaddr_storage)], mac[EVP_MAX_MD_SIZE];
	unsigned maclen = 0;
	size_t i;

	memcpy(msg, time_hex, 8);
	memcpy(msg + 8, &c->ss, c->len);
	if (HMAC(EVP_sha256(), s->nonce_key, sizeof(s->nonce_key), msg,
		 8 + (size_t)c->len, mac, &maclen) == NULL ||
	    maclen < NONCE_MAC_HEX / 2)
		memset(mac, 0, sizeof(mac));
	for (i = 0; i < NONCE_MAC_HEX / 2; i++) {
		out[2 * i] = hex[mac[i] >> 4];
		out[2 * i + 1] = hex[mac[i] & 15];
	}
	out[NONCE_MAC_HEX] = '\0';
}

void
turn_nonce_make(const struct turn_server *s, const struct net_addr *c,
		char out[41])
{
	char t[9];

	(void)snprintf(t, sizeof(t), "%08" PRIx32, (uint32_t)s->now_s());
	memcpy(out, t, 8);
	nonce_mac(s, c, t, out + 8);
}

int
turn_nonce_check(const struct turn_server *s, const struct net_addr *c,
		 const uint8_t *nonce, size_t len)
{
	char mac[NONCE_MAC_HEX + 1], t[8];
	uint32_t made = 0, now = (uint32_t)s->now_s();
	size_t i;

	if (len != NONCE_LEN)
		return 0;
	for (i = 0; i < 8; i++) {
		unsigned d;

		if (nonce[i] >= '0' && nonce[i] <= '9')
			d = nonce[i] - '0';
		else if (nonce[i] >= 'a' && nonce[i] <= 'f')
			d = nonce[i] - 'a' + 10u;
		else
			return 0;
		made = made << 4 | d;
		t[i] = (char)nonce[i];
	}
	nonce_mac(s, c, t, mac);
	if (CRYPTO_memcmp(mac, nonce + 8, NONCE_MAC_HEX) != 0)
		return 0;
	/* uint32 arithmetic: a nonce from the future is stale too */
	return now - made <= TURN_NONCE_S;
}

void
turn_password(const struct turn_server *s, const char *user, size_t user_len,
	      char out[32])
{
	uint8_t mac[EVP_MAX_MD_SIZE];
	unsigned maclen = 0;

	out[0] = '\0';
	if (HMAC(EVP_sha1(), s->cfg->secret, (int)s->cfg->secret_len,
		 (const uint8_t *)user, user_len, mac, &maclen) == NULL ||
	    maclen != 20)
		return;
	(void)EVP_EncodeBlock((unsigned char *)out, mac, 20); /* 28 + NUL */
	OPENSSL_cleanse(mac, sizeof(mac));
}

int
turn_user_expiry(const char *user, size_t len, uint64_t *expiry_r)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; i < len && user[i] != ':'; i++) {
		if (user[i] < '0' || user[i] > '9' || i >= 19)
			return -EINVAL;
		v = v * 10 + (uint64_t)(user[i] - '0');
	}
	if (i == 0)
		return -EINVAL;
	*expiry_r = v;
	return 0;
}

size_t
turn_cred_line(const struct turn_server *s, char *out, size_t cap)
{
	char user[24], pass[32];
	int n;

	(void)snprintf(user, sizeof(user), "%" PRIu64,
		       (uint64_t)s->now_s() + TURN_CRED_S);
	turn_password(s, user, strlen(user), pass);
	n = snprintf(out, cap, "%s:%s\n", user, pass);
	explicit_bzero(pass, sizeof(pass));
	return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

/* on_cred_conn: answer every waiting connection with one credential */
static void
on_cred_conn(struct evloop *loop, int fd, unsigned events, void *arg)
{
	struct turn_server *s = arg;
	char line[80];
	int c, i;

	(void)loop;
	(void)events;
	for (i = 0; i < 64; i++) {
		size_t n;

		c = net_accept(fd);
		if (c < 0)
			break;
		n = turn_cred_line(s, line, sizeof(line));
		/* a fresh socket's buffer takes 60 bytes at once */
		if (n == 0 || write(c, line, n) != (ssize_t)n)
			log_warn("credential socket: write failed: %s",
				 n == 0 ? "no credential" : strerror(errno));
		explicit_bzero(line, sizeof(line));
		(void)close(c);
	}
}

int
turn_cred_listen(struct turn_server *s, struct buf *err)
{
	int r;

	s->cred_fd = -1;
	if (s->cfg->socket_path == NULL)
		return 0;
	s->cred_fd =
		net_listen_unix(s->cfg->socket_path, 0660, s->cfg->socket_uid,
				s->cfg->socket_gid, 64, err);
	if (s->cred_fd < 0)
		return -EIO;
	r = evloop_io_add(s->loop, s->cred_fd, EV_READ, on_cred_conn, s);
	if (r < 0) {
		buf_printf(err, "credential socket: %s", strerror(-r));
		turn_cred_close(s);
		return r;
	}
	return 0;
}

void
turn_cred_close(struct turn_server *s)
{
	if (s->cred_fd < 0)
		return;
	evloop_io_del(s->loop, s->cred_fd);
	(void)close(s->cred_fd);
	s->cred_fd = -1;
	(void)unlink(s->cfg->socket_path);
}
