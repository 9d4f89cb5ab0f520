/*
 * stun: parsing and building STUN messages (RFC 8489), the framing of
 * every TURN request, response and indication. See stun.h.
 *
 * Untrusted input: the datagrams given to stun_parse. Every read is
 * checked against the datagram's length before it happens; attributes
 * after MESSAGE-INTEGRITY other than FINGERPRINT are ignored (RFC 8489
 * section 14.5), a FINGERPRINT anywhere but last, or wrong, rejects the
 * datagram.
 */
#include "stun.h"

#include <errno.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>

#define FP_XOR 0x5354554Eu

static uint16_t
rd16(const uint8_t *p)
{
	return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static uint32_t
rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static void
wr16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void
wr32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

uint32_t
stun_crc32(const uint8_t *p, size_t n)
{
	static uint32_t table[256];
	static int ready;
	uint32_t c = 0xFFFFFFFFu;
	size_t i;

	if (!ready) {
		for (uint32_t k = 0; k < 256; k++) {
			uint32_t v = k;

			for (int j = 0; j < 8; j++)
				v = (v & 1) ? 0xEDB88320u ^ (v >> 1) : v >> 1;
			table[k] = v;
		}
		ready = 1;
	}
	for (i = 0; i < n; i++)
		c = table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
	return c ^ 0xFFFFFFFFu;
}

/* known: a comprehension-required attribute this server understands */
static int
known(uint16_t t)
{
	switch (t) {
	case STUN_A_MAPPED_ADDRESS:
	case STUN_A_USERNAME:
	case STUN_A_MESSAGE_INTEGRITY:
	case STUN_A_ERROR_CODE:
	case STUN_A_UNKNOWN_ATTRIBUTES:
	case STUN_A_CHANNEL_NUMBER:
	case STUN_A_LIFETIME:
	case STUN_A_XOR_PEER_ADDRESS:
	case STUN_A_DATA:
	case STUN_A_REALM:
	case STUN_A_NONCE:
	case STUN_A_XOR_RELAYED_ADDRESS:
	case STUN_A_REQUESTED_ADDRESS_FAMILY:
	case STUN_A_REQUESTED_TRANSPORT:
	case STUN_A_DONT_FRAGMENT:
	case STUN_A_EVEN_PORT:
	case STUN_A_MESSAGE_INTEGRITY_SHA256:
	case STUN_A_PASSWORD_ALGORITHM:
	case STUN_A_XOR_MAPPED_ADDRESS:
		return 1;
	default:
		return t >= 0x8000; /* comprehension-optional */
	}
}

/* parse_attr: one attribute at off; advances *off_r; 0 or -EBADMSG */
static int
parse_attr(const uint8_t *p, size_t n, size_t *off_r, struct stun_msg *m)
{
	size_t off = *off_r, alen, next;
	uint16_t t;

	if (n - off < 4)
		return -EBADMSG;
	t = rd16(p + off);
	alen = rd16(p + off + 2);
	next = off + 4 + ((alen + 3) & ~(size_t)3);
	if (next > n)
		return -EBADMSG;
	*off_r = next;
	if (t == STUN_A_FINGERPRINT) {
		if (alen != 4 || next != n ||
		    (stun_crc32(p, off) ^ FP_XOR) != rd32(p + off + 4))
			return -EBADMSG;
		return 0;
	}
	if (m->mi_off != 0)
		return 0; /* after MESSAGE-INTEGRITY: ignored */
	if (t == STUN_A_MESSAGE_INTEGRITY) {
		if (alen != STUN_HMAC_LEN)
			return -EBADMSG;
		m->mi_off = off;
		return 0;
	}
	if (!known(t) && m->n_unknown < STUN_MAX_UNKNOWN)
		m->unknown[m->n_unknown++] = t;
	if (m->n_attrs == STUN_MAX_ATTRS)
		return -EBADMSG;
	m->attrs[m->n_attrs].type = t;
	m->attrs[m->n_attrs].len = (uint16_t)alen;
	m->attrs[m->n_attrs].val = p + off + 4;
	m->n_attrs++;
	return 0;
}

int
stun_parse(const uint8_t *p, size_t n, struct stun_msg *m)
{
	size_t off = STUN_HDR_LEN, blen;
	uint16_t t;

	memset(m, 0, sizeof(*m));
	if (n < STUN_HDR_LEN || (p[0] & 0xC0) != 0 || rd32(p + 4) != STUN_MAGIC)
		return -EBADMSG;
	blen = rd16(p + 2);
	if (blen % 4 != 0 || STUN_HDR_LEN + blen != n)
		return -EBADMSG;
	t = rd16(p);
	m->method = (uint16_t)((t & 0x000F) | ((t & 0x00E0) >> 1) |
			       ((t & 0x3E00) >> 2));
	m->cls = (uint16_t)(((t >> 4) & 1) | ((t >> 7) & 2));
	m->tid = p + 8;
	m->len = n;
	while (off < n) {
		if (parse_attr(p, n, &off, m) < 0)
			return -EBADMSG;
	}
	return 0;
}

const struct stun_attr *
stun_find(const struct stun_msg *m, uint16_t type)
{
	size_t i;

	for (i = 0; i < m->n_attrs; i++)
		if (m->attrs[i].type == type)
			return &m->attrs[i];
	return NULL;
}

int
stun_attr_u32(const struct stun_attr *a, uint32_t *v_r)
{
	if (a == NULL || a->len != 4)
		return -EBADMSG;
	*v_r = rd32(a->val);
	return 0;
}

int
stun_xaddr_get(const struct stun_attr *a, const uint8_t *tid,
	       struct sockaddr_storage *ss, socklen_t *len_r)
{
	uint8_t mask[16];
	uint16_t port;
	size_t i;

	if (a == NULL || a->len < 4)
		return -EBADMSG;
	wr32(mask, STUN_MAGIC);
	memcpy(mask + 4, tid, STUN_TID_LEN);
	port = (uint16_t)(rd16(a->val + 2) ^ (STUN_MAGIC >> 16));
	memset(ss, 0, sizeof(*ss));
	if (a->val[1] == 0x01) {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;
		uint8_t *d = (uint8_t *)&in->sin_addr;

		if (a->len != 8)
			return -EBADMSG;
		in->sin_family = AF_INET;
		in->sin_port = htons(port);
		for (i = 0; i < 4; i++)
			d[i] = a->val[4 + i] ^ mask[i];
		*len_r = sizeof(*in);
		return 0;
	}
	if (a->val[1] == 0x02) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
		uint8_t *d = (uint8_t *)&in6->sin6_addr;

		if (a->len != 20)
			return -EBADMSG;
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		for (i = 0; i < 16; i++)
			d[i] = a->val[4 + i] ^ mask[i];
		*len_r = sizeof(*in6);
		return 0;
	}
	return -EAFNOSUPPORT;
}

int
stun_check_integrity(uint8_t *p, const struct stun_msg *m, const uint8_t *key,
		     size_t key_len)
{
	uint8_t mac[EVP_MAX_MD_SIZE], saved[2];
	unsigned maclen = 0;
	int ok;

	if (m->mi_off == 0)
		return 0;
	/* the length covers the message up to and including the MI */
	memcpy(saved, p + 2, 2);
	wr16(p + 2, (unsigned)(m->mi_off + 4 + STUN_HMAC_LEN - STUN_HDR_LEN));
	ok = key_len <= 1024 && HMAC(EVP_sha1(), key, (int)key_len, p,
				     m->mi_off, mac, &maclen) != NULL;
	memcpy(p + 2, saved, 2);
	return ok && maclen == STUN_HMAC_LEN &&
	       CRYPTO_memcmp(mac, p + m->mi_off + 4, STUN_HMAC_LEN) == 0;
}

void
stun_long_term_key(const char *user, size_t user_len, const char *realm,
		   const char *pass, uint8_t key[STUN_KEY_LEN])
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	unsigned len = 0;

	if (c == NULL || EVP_DigestInit_ex(c, EVP_md5(), NULL) != 1 ||
	    EVP_DigestUpdate(c, user, user_len) != 1 ||
	    EVP_DigestUpdate(c, ":", 1) != 1 ||
	    EVP_DigestUpdate(c, realm, strlen(realm)) != 1 ||
	    EVP_DigestUpdate(c, ":", 1) != 1 ||
	    EVP_DigestUpdate(c, pass, strlen(pass)) != 1 ||
	    EVP_DigestFinal_ex(c, key, &len) != 1 || len != STUN_KEY_LEN)
		memset(key, 0,
		       STUN_KEY_LEN); /* matches nothing a client sends */
	EVP_MD_CTX_free(c);
}

void
stun_out_init(struct stun_out *o, uint8_t *buf, size_t cap, uint16_t method,
	      uint16_t cls, const uint8_t *tid)
{
	unsigned t = (method & 0x000F) | ((method & 0x0070) << 1) |
		     ((method & 0x0F80) << 2) | ((cls & 1) << 4) |
		     ((cls & 2) << 7);

	o->p = buf;
	o->cap = cap;
	o->len = STUN_HDR_LEN;
	o->err = cap < STUN_HDR_LEN;
	if (o->err)
		return;
	wr16(buf, t);
	wr16(buf + 2, 0);
	wr32(buf + 4, STUN_MAGIC);
	memcpy(buf + 8, tid, STUN_TID_LEN);
}

void
stun_out_attr(struct stun_out *o, uint16_t type, const void *val, size_t len)
{
	size_t padded = (len + 3) & ~(size_t)3;

	if (o->err || len > 0xFFFF || o->cap - o->len < 4 + padded ||
	    o->len + 4 + padded - STUN_HDR_LEN > 0xFFFF) {
		o->err = 1;
		return;
	}
	wr16(o->p + o->len, type);
	wr16(o->p + o->len + 2, (unsigned)len);
	if (len > 0)
		memcpy(o->p + o->len + 4, val, len);
	memset(o->p + o->len + 4 + len, 0, padded - len);
	o->len += 4 + padded;
	wr16(o->p + 2, (unsigned)(o->len - STUN_HDR_LEN));
}

void
stun_out_u32(struct stun_out *o, uint16_t type, uint32_t v)
{
	uint8_t b[4];

	wr32(b, v);
	stun_out_attr(o, type, b, 4);
}

void
stun_out_xaddr(struct stun_out *o, uint16_t type, const struct sockaddr *sa)
{
	uint8_t v[20], mask[16];
	size_t i, alen;

	if (o->err)
		return;
	wr32(mask, STUN_MAGIC);
	memcpy(mask + 4, o->p + 8, STUN_TID_LEN);
	v[0] = 0;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		const uint8_t *a = (const uint8_t *)&in->sin_addr;

		v[1] = 0x01;
		wr16(v + 2, ntohs(in->sin_port) ^ (STUN_MAGIC >> 16));
		for (i = 0; i < 4; i++)
			v[4 + i] = a[i] ^ mask[i];
		alen = 8;
	} else {
		const struct sockaddr_in6 *in6 =
			(const struct sockaddr_in6 *)sa;
		const uint8_t *a = (const uint8_t *)&in6->sin6_addr;

		v[1] = 0x02;
		wr16(v + 2, ntohs(in6->sin6_port) ^ (STUN_MAGIC >> 16));
		for (i = 0; i < 16; i++)
			v[4 + i] = a[i] ^ mask[i];
		alen = 20;
	}
	stun_out_attr(o, type, v, alen);
}

/* reason: RFC 8489 / RFC 8656 reason phrases */
static const char *
reason(unsigned code)
{
	switch (code) {
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 420:
		return "Unknown Attribute";
	case 437:
		return "Allocation Mismatch";
	case 438:
		return "Stale Nonce";
	case 440:
		return "Address Family not Supported";
	case 441:
		return "Wrong Credentials";
	case 442:
		return "Unsupported Transport Protocol";
	case 443:
		return "Peer Address Family Mismatch";
	case 486:
		return "Allocation Quota Reached";
	case 508:
		return "Insufficient Capacity";
	default:
		return "Server Error";
	}
}

void
stun_out_error(struct stun_out *o, unsigned code)
{
	uint8_t v[4 + 64];
	const char *r = reason(code);
	size_t rl = strlen(r);

	v[0] = 0;
	v[1] = 0;
	v[2] = (uint8_t)(code / 100);
	v[3] = (uint8_t)(code % 100);
	memcpy(v + 4, r, rl);
	stun_out_attr(o, STUN_A_ERROR_CODE, v, 4 + rl);
}

void
stun_out_integrity(struct stun_out *o, const uint8_t key[STUN_KEY_LEN])
{
	uint8_t mac[EVP_MAX_MD_SIZE];
	unsigned maclen = 0;
	size_t at = o->len;

	if (o->err || o->cap - o->len < 4 + STUN_HMAC_LEN) {
		o->err = 1;
		return;
	}
	wr16(o->p + 2, (unsigned)(at + 4 + STUN_HMAC_LEN - STUN_HDR_LEN));
	if (HMAC(EVP_sha1(), key, STUN_KEY_LEN, o->p, at, mac, &maclen) ==
		    NULL ||
	    maclen != STUN_HMAC_LEN) {
		o->err = 1;
		return;
	}
	stun_out_attr(o, STUN_A_MESSAGE_INTEGRITY, mac, STUN_HMAC_LEN);
}

void
stun_out_fingerprint(struct stun_out *o)
{
	size_t at = o->len;

	if (o->err || o->cap - o->len < 8) {
		o->err = 1;
		return;
	}
	wr16(o->p + 2, (unsigned)(at + 8 - STUN_HDR_LEN));
	stun_out_u32(o, STUN_A_FINGERPRINT, stun_crc32(o->p, at) ^ FP_XOR);
}

int
stun_out_finish(const struct stun_out *o, size_t *len_r)
{
	if (o->err)
		return -E2BIG;
	*len_r = o->len;
	return 0;
}
