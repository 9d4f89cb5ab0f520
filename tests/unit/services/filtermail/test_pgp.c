/* test_pgp: the OpenPGP packet walker (formats, lengths, truncation,
 * byte-at-a-time feeding) and the armor rules (prefix, suffix, Version:
 * outgoing vs incoming, CRC line, strict base64) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#define TESTUTIL_IMPL
#include "testutil.h"

#include "../../../../services/filtermail/fm_pgp.h"

struct walk_case {
	const char *name;
	const char *hex; /* "x" stands for 192 filler bytes */
	int want;
};

static const struct walk_case walk_cases[] = {
	{ "seipd alone", "d20100", 1 },
	{ "pkesk then seipd", "c103aabbccd202ddee", 1 },
	{ "skesk then seipd", "c30100d20100", 1 },
	{ "two pkesk then seipd", "c10100c10100d20100", 1 },
	{ "literal data packet", "cb0100", 0 },
	{ "pkesk only", "c10100", 0 },
	{ "seipd then pkesk", "d20100c10100", 0 },
	{ "trailing byte", "d2010000", 0 },
	{ "truncated body", "d20500", 0 },
	{ "truncated header", "d2", 0 },
	{ "truncated two-octet length", "d2c0", 0 },
	{ "two-octet length", "d2c000x", 1 },
	{ "five-octet length", "d2ff00000003aabbcc", 1 },
	{ "five-octet truncated", "d2ff000000", 0 },
	{ "partial then final", "d2e1aabb01cc", 1 },
	{ "partial ends at end", "d2e1aabb", 0 },
	{ "partial past end", "d2e5aabb", 0 },
	{ "legacy pkesk one-octet", "840100d20100", 1 },
	{ "legacy pkesk two-octet", "85000100d20100", 1 },
	{ "legacy pkesk four-octet", "860000000100d20100", 1 },
	{ "legacy indeterminate", "8700d20100", 0 },
	{ "legacy literal", "ac0100", 0 },
	{ "not a packet", "000100", 0 },
	{ "bit 7 clear", "520100", 0 },
	{ "empty body seipd", "d200", 1 },
	{ "empty", "", 0 },
};

/* unhex: decode a case into bytes; "x" expands to 192 bytes */
static size_t
unhex(const char *h, unsigned char *out)
{
	size_t n = 0;

	while (*h != '\0') {
		if (*h == 'x') {
			memset(out + n, 0x5a, 192);
			n += 192;
			h++;
			continue;
		}
		unsigned v = 0;
		for (int k = 0; k < 2; k++) {
			char c = h[k];
			v = v * 16 +
			    (unsigned)(c <= '9' ? c - '0' : c - 'a' + 10);
		}
		out[n++] = (unsigned char)v;
		h += 2;
	}
	return n;
}

static void
test_walk_table(void **state)
{
	unsigned char b[512];
	struct fm_pgp_walk w;
	size_t i, k, n;

	(void)state;
	for (i = 0; i < sizeof(walk_cases) / sizeof(walk_cases[0]); i++) {
		n = unhex(walk_cases[i].hex, b);
		if (fm_pgp_packets_ok(b, n) != walk_cases[i].want) {
			print_error("case %s\n", walk_cases[i].name);
			fail();
		}
		/* the same fed one byte at a time */
		fm_pgp_walk_init(&w);
		for (k = 0; k < n; k++)
			(void)fm_pgp_walk_feed(&w, b + k, 1);
		if (fm_pgp_walk_finish(&w) != walk_cases[i].want) {
			print_error("bytewise case %s\n", walk_cases[i].name);
			fail();
		}
	}
}

static void
test_walk_huge_lengths(void **state)
{
	/* a five-octet length of 4 GiB - 1 never overflows */
	static const unsigned char b[] = { 0xd2, 0xff, 0xff, 0xff,
					   0xff, 0xff, 0x00 };
	/* partial chunks of 2^30 */
	static const unsigned char p[] = { 0xd2, 0xfe, 0x00 };

	(void)state;
	assert_int(fm_pgp_packets_ok(b, sizeof(b)), 0);
	assert_int(fm_pgp_packets_ok(p, sizeof(p)), 0);
}

/* armor: payload bytes as an armored message with the given header
 * lines and CRC line */
static char *
armor(const unsigned char *p, size_t n, const char *hdrs, const char *crc)
{
	char b64[4096], *out = malloc(8192);
	int len = EVP_EncodeBlock((unsigned char *)b64, p, (int)n);
	size_t o = 0, i;

	o += (size_t)snprintf(out + o, 8192 - o,
			      "-----BEGIN PGP MESSAGE-----\r\n%s\r\n", hdrs);
	for (i = 0; i < (size_t)len; i += 64)
		o += (size_t)snprintf(out + o, 8192 - o, "%.64s\r\n", b64 + i);
	(void)snprintf(out + o, 8192 - o, "%s-----END PGP MESSAGE-----\r\n\r\n",
		       crc);
	return out;
}

static void
test_armor_rules(void **state)
{
	unsigned char b[512];
	size_t n = unhex("c103aabbccd2c000x", b);
	char *a;

	(void)state;
	a = armor(b, n, "", "=agR5\r\n");
	assert_int(fm_pgp_armor_ok(a, strlen(a), 1), 1);
	assert_int(fm_pgp_armor_ok(a, strlen(a), 0), 1);
	/* no leading blank line is fine too */
	assert_int(fm_pgp_armor_ok(a, strlen(a) - 2, 1), 1);
	free(a);
	/* a Version: armor header: refused outgoing, skipped incoming */
	a = armor(b, n, "Version: GnuPG v2", "=agR5\r\n");
	assert_int(fm_pgp_armor_ok(a, strlen(a), 1), 0);
	assert_int(fm_pgp_armor_ok(a, strlen(a), 0), 1);
	free(a);
	/* another armor header is not base64 */
	a = armor(b, n, "Comment: hi", "=agR5\r\n");
	assert_int(fm_pgp_armor_ok(a, strlen(a), 0), 0);
	free(a);
	/* not OpenPGP: a literal data packet */
	n = unhex("cb03616263", b);
	a = armor(b, n, "", "=agR5\r\n");
	assert_int(fm_pgp_armor_ok(a, strlen(a), 0), 0);
	free(a);
}

static void
test_armor_broken(void **state)
{
	static const char *const bad[] = {
		"-----END PGP MESSAGE-----",
		"-----BEGIN PGP MESSAGE-----",
		"-----BEGIN PGP MESSAGE-----\r\n\r\nDefinitely not base64.\r\n"
		"-----END PGP MESSAGE-----",
		/* LF only: the prefix needs CRLF */
		"-----BEGIN PGP MESSAGE-----\n\n0gEA\n-----END PGP "
		"MESSAGE-----",
		/* padding inside, then more data */
		"-----BEGIN PGP MESSAGE-----\r\n\r\n0g==0gEA\r\n=abcd\r\n"
		"-----END PGP MESSAGE-----",
		/* non-canonical trailing bits */
		"-----BEGIN PGP MESSAGE-----\r\n\r\n0gEB\r\n-----END PGP "
		"MESSAGE-----x",
	};
	static const char good[] = "-----BEGIN PGP MESSAGE-----\r\n\r\n0gEA\r\n"
				   "=abcd\r\n-----END PGP MESSAGE-----\r\n";
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int(fm_pgp_armor_ok(bad[i], strlen(bad[i]), 0), 0);
	assert_int(fm_pgp_armor_ok(good, strlen(good), 1), 1);
	/* a truncated armor */
	assert_int(fm_pgp_armor_ok(good, strlen(good) - 10, 1), 0);
}

/* the base64 decoder: groups split across lines (the slow path), whole
 * groups (the fast path), padding, and what must fail */
static void
test_armor_base64(void **state)
{
	static const struct {
		const char *b64; /* d2 00 = a SEIPD of length 0 */
		int want;
	} t[] = {
		{ "0gA=", 1 },
		{ "0g\r\nA=", 1 },
		{ "0gA\r\n=", 1 },
		{ "wwEA0gEA", 1 },	   /* c3 01 00 d2 01 00 */
		{ "ww\r\nEA0g\r\nEA", 1 }, /* groups across line ends */
		{ "wwE\nA0gEA", 1 },
		{ "wwEA\r\n\r\n0gEA", 1 },
		{ "0gA=wwEA", 0 },  /* data after the padding */
		{ "0gB=", 0 },	    /* non-zero trailing bits */
		{ "0g==", 0 },	    /* one byte: a truncated header */
		{ "0gA", 0 },	    /* an incomplete group */
		{ "0g*A", 0 },	    /* not the alphabet */
		{ "ww EA0gEA", 0 }, /* not even a blank */
		{ "wwEA0gE\x80", 0 },
	};
	char a[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		(void)snprintf(a, sizeof(a),
			       "-----BEGIN PGP MESSAGE-----\r\n\r\n%s\r\n"
			       "=abcd\r\n-----END PGP MESSAGE-----\r\n",
			       t[i].b64);
		if (fm_pgp_armor_ok(a, strlen(a), 1) != t[i].want)
			fail_msg("%s: got %d, want %d", t[i].b64, !t[i].want,
				 t[i].want);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_walk_table),
		cmocka_unit_test(test_walk_huge_lengths),
		cmocka_unit_test(test_armor_rules),
		cmocka_unit_test(test_armor_broken),
		cmocka_unit_test(test_armor_base64),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
