/*
 * stun: STUN messages (RFC 8489) as TURN (RFC 8656) uses them: a parser
 * that checks the framing of a datagram and indexes its attributes, and
 * a builder that writes responses and indications into a caller's
 * buffer, with MESSAGE-INTEGRITY (HMAC-SHA1) and FINGERPRINT.
 *
 * Untrusted input: every datagram given to stun_parse (any length, any
 * bytes); attribute values are only read through the bounds kept here.
 */
#ifndef CM_STUN_H
#define CM_STUN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define STUN_HDR_LEN 20
#define STUN_MAGIC 0x2112A442u
#define STUN_TID_LEN 12
#define STUN_MAX_ATTRS 40
#define STUN_MAX_UNKNOWN 8
#define STUN_KEY_LEN 16	 /* MD5(username:realm:password) */
#define STUN_HMAC_LEN 20 /* SHA-1 */

/* classes (the C1/C0 bits of the type, already shifted down) */
enum stun_class {
	STUN_REQUEST = 0,
	STUN_INDICATION = 1,
	STUN_SUCCESS = 2,
	STUN_ERROR = 3,
};

/* methods */
enum stun_method {
	STUN_BINDING = 0x001,
	TURN_ALLOCATE = 0x003,
	TURN_REFRESH = 0x004,
	TURN_SEND = 0x006,
	TURN_DATA = 0x007,
	TURN_CREATE_PERMISSION = 0x008,
	TURN_CHANNEL_BIND = 0x009,
};

/* attributes */
enum stun_attr_type {
	STUN_A_MAPPED_ADDRESS = 0x0001,
	STUN_A_USERNAME = 0x0006,
	STUN_A_MESSAGE_INTEGRITY = 0x0008,
	STUN_A_ERROR_CODE = 0x0009,
	STUN_A_UNKNOWN_ATTRIBUTES = 0x000A,
	STUN_A_CHANNEL_NUMBER = 0x000C,
	STUN_A_LIFETIME = 0x000D,
	STUN_A_XOR_PEER_ADDRESS = 0x0012,
	STUN_A_DATA = 0x0013,
	STUN_A_REALM = 0x0014,
	STUN_A_NONCE = 0x0015,
	STUN_A_XOR_RELAYED_ADDRESS = 0x0016,
	STUN_A_REQUESTED_ADDRESS_FAMILY = 0x0017,
	STUN_A_EVEN_PORT = 0x0018,
	STUN_A_REQUESTED_TRANSPORT = 0x0019,
	STUN_A_DONT_FRAGMENT = 0x001A,
	STUN_A_MESSAGE_INTEGRITY_SHA256 = 0x001C,
	STUN_A_PASSWORD_ALGORITHM = 0x001D,
	STUN_A_USERHASH = 0x001E,
	STUN_A_XOR_MAPPED_ADDRESS = 0x0020,
	STUN_A_RESERVATION_TOKEN = 0x0022,
	STUN_A_ADDITIONAL_ADDRESS_FAMILY = 0x8000,
	STUN_A_SOFTWARE = 0x8022,
	STUN_A_FINGERPRINT = 0x8028,
};

struct stun_attr {
	uint16_t type;
	uint16_t len;
	const uint8_t *val; /* into the parsed datagram */
};

struct stun_msg {
	uint16_t method;
	uint16_t cls;
	const uint8_t *tid; /* 12 bytes, into the datagram */
	size_t len;	    /* whole message: 20 + header length */
	size_t mi_off;	    /* offset of MESSAGE-INTEGRITY, 0: none */
	size_t n_attrs;
	struct stun_attr attrs[STUN_MAX_ATTRS];
	size_t n_unknown; /* comprehension-required, not understood */
	uint16_t unknown[STUN_MAX_UNKNOWN];
};

/* stun_is_channel_data: first byte 0b01xxxxxx (RFC 8656 section 12) */
static inline int
stun_is_channel_data(const uint8_t *p, size_t n)
{
	return n >= 4 && (p[0] & 0xC0) == 0x40;
}

/* stun_parse: check framing (type bits, magic cookie, length a multiple
 * of 4 equal to the datagram's, attributes inside it, FINGERPRINT last
 * and correct) and index the attributes before MESSAGE-INTEGRITY;
 * 0 or -EBADMSG */
int stun_parse(const uint8_t *p, size_t n, struct stun_msg *m);

/* stun_find: the first attribute of that type, or NULL */
const struct stun_attr *stun_find(const struct stun_msg *m, uint16_t type);

/* stun_attr_u32: a 4-byte attribute's value; 0 or -EBADMSG */
int stun_attr_u32(const struct stun_attr *a, uint32_t *v_r);

/* stun_xaddr_get: decode an XOR-*-ADDRESS; 0 or -EBADMSG,
 * -EAFNOSUPPORT for a family other than IPv4/IPv6 */
int stun_xaddr_get(const struct stun_attr *a, const uint8_t *tid,
		   struct sockaddr_storage *ss, socklen_t *len_r);

/* stun_check_integrity: HMAC-SHA1 over the message up to its
 * MESSAGE-INTEGRITY (p is the parsed datagram; its length field is
 * patched for the computation and restored); the key is
 * MD5(user:realm:password) for long-term credentials, the password for
 * short-term ones; 1 valid, 0 not */
int stun_check_integrity(uint8_t *p, const struct stun_msg *m,
			 const uint8_t *key, size_t key_len);

/* stun_long_term_key: MD5(username ":" realm ":" password) */
void stun_long_term_key(const char *user, size_t user_len, const char *realm,
			const char *pass, uint8_t key[STUN_KEY_LEN]);

/* builder: writes into out[0..cap); an overflow sets err and later
 * calls do nothing (stun_out_finish reports it) */
struct stun_out {
	uint8_t *p;
	size_t cap;
	size_t len;
	int err;
};

void stun_out_init(struct stun_out *o, uint8_t *buf, size_t cap,
		   uint16_t method, uint16_t cls, const uint8_t *tid);
void stun_out_attr(struct stun_out *o, uint16_t type, const void *val,
		   size_t len);
void stun_out_u32(struct stun_out *o, uint16_t type, uint32_t v);
void stun_out_xaddr(struct stun_out *o, uint16_t type,
		    const struct sockaddr *sa);
/* stun_out_error: ERROR-CODE with the standard reason phrase */
void stun_out_error(struct stun_out *o, unsigned code);
void stun_out_integrity(struct stun_out *o, const uint8_t key[STUN_KEY_LEN]);
void stun_out_fingerprint(struct stun_out *o);
/* stun_out_finish: the message length, or -E2BIG after an overflow */
int stun_out_finish(const struct stun_out *o, size_t *len_r);

/* stun_crc32: CRC-32 (ISO 3309) as FINGERPRINT uses it */
uint32_t stun_crc32(const uint8_t *p, size_t n);

#endif
