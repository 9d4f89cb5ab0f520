/*
 * test_stun: the STUN codec against RFC 5769's test vectors (long-term
 * request, IPv6 response with short-term integrity and FINGERPRINT),
 * every truncation and a corrupted byte of them, the builder round
 * trip, unknown attributes and attributes after MESSAGE-INTEGRITY.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"

#include "stun.h"

/* RFC 5769 2.4: request with long-term authentication */
static const uint8_t lt_req[] = {
	0x00, 0x01, 0x00, 0x60, 0x21, 0x12, 0xa4, 0x42, 0x78, 0xad, 0x34, 0x33,
	0xc6, 0xad, 0x72, 0xc0, 0x29, 0xda, 0x41, 0x2e, 0x00, 0x06, 0x00, 0x12,
	0xe3, 0x83, 0x9e, 0xe3, 0x83, 0x88, 0xe3, 0x83, 0xaa, 0xe3, 0x83, 0x83,
	0xe3, 0x82, 0xaf, 0xe3, 0x82, 0xb9, 0x00, 0x00, 0x00, 0x15, 0x00, 0x1c,
	0x66, 0x2f, 0x2f, 0x34, 0x39, 0x39, 0x6b, 0x39, 0x35, 0x34, 0x64, 0x36,
	0x4f, 0x4c, 0x33, 0x34, 0x6f, 0x4c, 0x39, 0x46, 0x53, 0x54, 0x76, 0x79,
	0x36, 0x34, 0x73, 0x41, 0x00, 0x14, 0x00, 0x0b, 0x65, 0x78, 0x61, 0x6d,
	0x70, 0x6c, 0x65, 0x2e, 0x6f, 0x72, 0x67, 0x00, 0x00, 0x08, 0x00, 0x14,
	0xf6, 0x70, 0x24, 0x65, 0x6d, 0xd6, 0x4a, 0x3e, 0x02, 0xb8, 0xe0, 0x71,
	0x2e, 0x85, 0xc9, 0xa2, 0x8c, 0xa8, 0x96, 0x66,
};

/* RFC 5769 2.3: IPv6 response, short-term integrity, FINGERPRINT */
static const uint8_t v6_resp[] = {
	0x01, 0x01, 0x00, 0x48, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01,
	0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b,
	0x74, 0x65, 0x73, 0x74, 0x20, 0x76, 0x65, 0x63, 0x74, 0x6f, 0x72, 0x20,
	0x00, 0x20, 0x00, 0x14, 0x00, 0x02, 0xa1, 0x47, 0x01, 0x13, 0xa9, 0xfa,
	0xa5, 0xd3, 0xf1, 0x79, 0xbc, 0x25, 0xf4, 0xb5, 0xbe, 0xd2, 0xb9, 0xd9,
	0x00, 0x08, 0x00, 0x14, 0xa3, 0x82, 0x95, 0x4e, 0x4b, 0xe6, 0x7b, 0xf1,
	0x17, 0x84, 0xc9, 0x7c, 0x82, 0x92, 0xc2, 0x75, 0xbf, 0xe3, 0xed, 0x41,
	0x80, 0x28, 0x00, 0x04, 0xc8, 0xfb, 0x0b, 0x4c,
};

static const char lt_user[] = "\xe3\x83\x9e\xe3\x83\x88\xe3\x83\xaa"
			      "\xe3\x83\x83\xe3\x82\xaf\xe3\x82\xb9";

static void
test_rfc5769_long_term(void **state)
{
	uint8_t p[sizeof(lt_req)], key[STUN_KEY_LEN];
	const struct stun_attr *a;
	struct stun_msg m;

	(void)state;
	memcpy(p, lt_req, sizeof(p));
	assert_int(stun_parse(p, sizeof(p), &m), 0);
	assert_int(m.method, STUN_BINDING);
	assert_int(m.cls, STUN_REQUEST);
	assert_int(m.mi_off, 92);
	a = stun_find(&m, STUN_A_USERNAME);
	assert_non_null(a);
	assert_int(a->len, 18);
	assert_memory_equal(a->val, lt_user, 18);
	a = stun_find(&m, STUN_A_REALM);
	assert_non_null(a);
	assert_memory_equal(a->val, "example.org", 11);
	/* the key uses the SASLprep'd password */
	stun_long_term_key(lt_user, 18, "example.org", "TheMatrIX", key);
	assert_int(stun_check_integrity(p, &m, key, sizeof(key)), 1);
	/* the length field was restored */
	assert_memory_equal(p, lt_req, sizeof(p));
	stun_long_term_key(lt_user, 18, "example.org", "TheMatrix", key);
	assert_int(stun_check_integrity(p, &m, key, sizeof(key)), 0);
	p[30] ^= 1; /* inside USERNAME */
	assert_int(stun_parse(p, sizeof(p), &m), 0);
	stun_long_term_key(lt_user, 18, "example.org", "TheMatrIX", key);
	assert_int(stun_check_integrity(p, &m, key, sizeof(key)), 0);
}

static void
test_rfc5769_ipv6_response(void **state)
{
	static const char pw[] = "VOkJxbRl1RmTxUk/WvJxBt";
	uint8_t p[sizeof(v6_resp)];
	struct sockaddr_storage ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	socklen_t len;
	char s[INET6_ADDRSTRLEN];
	struct stun_msg m;

	(void)state;
	memcpy(p, v6_resp, sizeof(p));
	assert_int(stun_parse(p, sizeof(p), &m), 0);
	assert_int(m.cls, STUN_SUCCESS);
	assert_int(m.method, STUN_BINDING);
	assert_int(stun_xaddr_get(stun_find(&m, STUN_A_XOR_MAPPED_ADDRESS),
				  m.tid, &ss, &len),
		   0);
	assert_int(in6->sin6_family, AF_INET6);
	assert_int(ntohs(in6->sin6_port), 32853);
	assert_non_null(inet_ntop(AF_INET6, &in6->sin6_addr, s, sizeof(s)));
	assert_str(s, "2001:db8:1234:5678:11:2233:4455:6677");
	assert_int(stun_check_integrity(p, &m, (const uint8_t *)pw, strlen(pw)),
		   1);
	/* a wrong FINGERPRINT rejects the datagram */
	p[sizeof(p) - 1] ^= 0x80;
	assert_int(stun_parse(p, sizeof(p), &m), -EBADMSG);
}

/* every prefix of a valid message, and one byte too many, is refused */
static void
test_truncations(void **state)
{
	uint8_t p[sizeof(lt_req) + 4];
	struct stun_msg m;
	size_t n;

	(void)state;
	memcpy(p, v6_resp, sizeof(v6_resp));
	for (n = 0; n < sizeof(v6_resp); n++)
		assert_int(stun_parse(p, n, &m), -EBADMSG);
	memset(p + sizeof(v6_resp), 0, 4);
	assert_int(stun_parse(p, sizeof(v6_resp) + 1, &m), -EBADMSG);
	assert_int(stun_parse(p, sizeof(v6_resp) + 4, &m), -EBADMSG);
	/* a length field that points past the datagram */
	memcpy(p, lt_req, sizeof(lt_req));
	p[3] = 0x64;
	assert_int(stun_parse(p, sizeof(lt_req), &m), -EBADMSG);
	/* an attribute longer than the message */
	memcpy(p, lt_req, sizeof(lt_req));
	p[23] = 0x70;
	assert_int(stun_parse(p, sizeof(lt_req), &m), -EBADMSG);
	/* ChannelData is not STUN */
	memcpy(p, lt_req, sizeof(lt_req));
	p[0] = 0x40;
	assert_int(stun_parse(p, sizeof(lt_req), &m), -EBADMSG);
	assert_int(stun_is_channel_data(p, 4), 1);
}

static void
test_build_roundtrip(void **state)
{
	static const uint8_t tid[12] = {
		1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12
	};
	uint8_t buf[512], key[STUN_KEY_LEN];
	struct sockaddr_in in = { .sin_family = AF_INET,
				  .sin_port = htons(49170) };
	struct sockaddr_storage ss;
	socklen_t len;
	struct stun_out o;
	struct stun_msg m;
	const struct stun_attr *e;
	uint32_t life;
	size_t n;

	(void)state;
	assert_int(inet_pton(AF_INET, "192.0.2.7", &in.sin_addr), 1);
	stun_long_term_key("1700000000", 10, "relay.test", "pw", key);
	stun_out_init(&o, buf, sizeof(buf), 0x003, STUN_ERROR, tid);
	stun_out_error(&o, 486);
	stun_out_xaddr(&o, STUN_A_XOR_RELAYED_ADDRESS, (struct sockaddr *)&in);
	stun_out_u32(&o, STUN_A_LIFETIME, 600);
	stun_out_integrity(&o, key);
	stun_out_fingerprint(&o);
	assert_int(stun_out_finish(&o, &n), 0);
	assert_int(stun_parse(buf, n, &m), 0);
	assert_int(m.method, 0x003);
	assert_int(m.cls, STUN_ERROR);
	assert_memory_equal(m.tid, tid, 12);
	e = stun_find(&m, STUN_A_ERROR_CODE);
	assert_non_null(e);
	assert_int(e->val[2] * 100 + e->val[3], 486);
	assert_memory_equal(e->val + 4, "Allocation Quota Reached", 24);
	assert_int(stun_xaddr_get(stun_find(&m, STUN_A_XOR_RELAYED_ADDRESS),
				  m.tid, &ss, &len),
		   0);
	assert_memory_equal(&((struct sockaddr_in *)&ss)->sin_addr,
			    &in.sin_addr, 4);
	assert_int(ntohs(((struct sockaddr_in *)&ss)->sin_port), 49170);
	assert_int(stun_attr_u32(stun_find(&m, STUN_A_LIFETIME), &life), 0);
	assert_int(life, 600);
	assert_int(stun_check_integrity(buf, &m, key, sizeof(key)), 1);
	/* overflow: a builder too small reports it */
	stun_out_init(&o, buf, 40, 0x003, STUN_SUCCESS, tid);
	stun_out_attr(&o, STUN_A_DATA, buf + 100, 64);
	assert_int(stun_out_finish(&o, &n), -E2BIG);
}

static void
test_unknown_and_after_integrity(void **state)
{
	static const uint8_t tid[12] = { 0 };
	uint8_t buf[256], key[STUN_KEY_LEN] = { 0 };
	struct stun_out o;
	struct stun_msg m;
	size_t n;

	(void)state;
	stun_out_init(&o, buf, sizeof(buf), 0x003, STUN_REQUEST, tid);
	stun_out_attr(&o, 0x0031, "x", 1); /* required, unknown */
	stun_out_attr(&o, 0x8077, "y", 1); /* optional, unknown */
	stun_out_attr(&o, STUN_A_EVEN_PORT, "\x80", 1);
	stun_out_integrity(&o, key);
	stun_out_attr(&o, STUN_A_USERNAME, "late", 4); /* ignored */
	stun_out_fingerprint(&o);
	assert_int(stun_out_finish(&o, &n), 0);
	assert_int(stun_parse(buf, n, &m), 0);
	assert_int(m.n_unknown, 1);
	assert_int(m.unknown[0], 0x0031);
	assert_non_null(stun_find(&m, 0x8077));
	assert_non_null(stun_find(&m, STUN_A_EVEN_PORT));
	assert_null(stun_find(&m, STUN_A_USERNAME));
	assert_int(stun_check_integrity(buf, &m, key, sizeof(key)), 1);
}

static void
test_crc32(void **state)
{
	(void)state;
	/* the CRC-32 check value */
	assert_int(stun_crc32((const uint8_t *)"123456789", 9), 0xCBF43926u);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc5769_long_term),
		cmocka_unit_test(test_rfc5769_ipv6_response),
		cmocka_unit_test(test_truncations),
		cmocka_unit_test(test_build_roundtrip),
		cmocka_unit_test(test_unknown_and_after_integrity),
		cmocka_unit_test(test_crc32),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
