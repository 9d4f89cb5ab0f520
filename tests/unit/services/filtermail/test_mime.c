/* test_mime: header lookup and unfolding, Content-Type, multipart
 * splitting, transfer decoding, From addresses, and the classification
 * table (PGP/MIME, SecureJoin, ASM and mailer-daemon facts), RFC 2047
 * encoded words. The classifier as a command line for files is
 * test_policy_cli classify. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define TESTUTIL_IMPL
#include "testutil.h"

#include "../../../../services/filtermail/fm_pgp.h"

#define ARMOR                                                     \
	"-----BEGIN PGP MESSAGE-----\r\n\r\nwQOqu8zSBVpaWlpa\r\n" \
	"=abcd\r\n-----END PGP MESSAGE-----\r\n"

/* a PGP/MIME message with the given parts between the boundaries */
#define PGPMIME(parts)                                                     \
	"From: a@example.org\r\nTo: b@example.net\r\nSubject: ...\r\n"     \
	"Content-Type: multipart/encrypted;\r\n"                           \
	" protocol=\"application/pgp-encrypted\"; boundary=\"B0\"\r\n\r\n" \
	"preamble\r\n" parts "--B0--\r\nepilogue\r\n"

#define P1                                                                 \
	"--B0\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: " \
	"1\r\n"
#define P2(body)                                                         \
	"--B0\r\nContent-Type: application/octet-stream; name=x.asc\r\n" \
	"\r\n" body

struct cls_case {
	const char *name;
	const char *msg;
	int encrypted, securejoin, mixed, report;
};

static const struct cls_case cases[] = {
	{ "pgp/mime", PGPMIME(P1 P2(ARMOR)), 1, 0, 0, 0 },
	{ "three parts", PGPMIME(P1 P2(ARMOR) P2(ARMOR)), 0, 0, 0, 0 },
	{ "version part only", PGPMIME(P1), 0, 0, 0, 0 },
	{ "Version: 2",
	  PGPMIME("--B0\r\nContent-Type: application/pgp-"
		  "encrypted\r\n\r\nVersion: 2\r\n" P2(ARMOR)),
	  0, 0, 0, 0 },
	{ "second part text/plain",
	  PGPMIME(P1 "--B0\r\nContent-Type: text/plain\r\n\r\n" ARMOR), 0, 0, 0,
	  0 },
	{ "base64 transfer encoding",
	  PGPMIME(P1 "--B0\r\nContent-Type: application/octet-stream\r\n"
		     "Content-Transfer-Encoding: base64\r\n\r\n"
		     "LS0tLS1CRUdJTiBQR1AgTUVTU0FHRS0tLS0tDQoNCjBnRUENCj1hYmNk"
		     "DQotLS0tLUVORCBQR1AgTUVTU0FHRS0tLS0tDQo=\r\n"),
	  1, 0, 0, 0 },
	{ "fake encrypted (armor in text/plain)",
	  "From: a@example.org\r\nContent-Type: text/plain\r\n\r\n" ARMOR, 0, 0,
	  0, 0 },
	{ "literal packet",
	  PGPMIME(P1 P2("-----BEGIN PGP MESSAGE-----\r\n\r\nywNhYmM=\r\n"
			"=abcd\r\n-----END PGP MESSAGE-----\r\n")),
	  0, 0, 0, 0 },
	{ "securejoin vc",
	  "From: a@example.org\r\nSecure-Join: vc-request\r\n"
	  "Content-Type: multipart/mixed; boundary=\"x\"\r\n\r\n--x\r\n"
	  "Content-Type: text/plain; charset=utf-8\r\n\r\n"
	  "Secure-Join: vc-request\r\n--x--\r\n",
	  0, 1, 1, 0 },
	{ "securejoin vg folded header",
	  "From: a@example.org\r\nSecure-Join:\r\n vg-request\r\n"
	  "Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n\r\n"
	  "  secure-join: VG-REQUEST  \r\n--x--\r\n",
	  0, 1, 1, 0 },
	{ "securejoin fake body",
	  "From: a@example.org\r\nSecure-Join: vc-request\r\n"
	  "Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n\r\n"
	  "Buy viagra!\r\n--x--\r\n",
	  0, 0, 1, 0 },
	{ "securejoin other request",
	  "From: a@example.org\r\nSecure-Join: vc-auth-required\r\n"
	  "Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n\r\n"
	  "Secure-Join: vc-request\r\n--x--\r\n",
	  0, 0, 1, 0 },
	{ "securejoin not multipart",
	  "From: a@example.org\r\nSecure-Join: vc-request\r\n\r\n"
	  "Secure-Join: vc-request\r\n",
	  0, 0, 0, 0 },
	{ "mailer-daemon report",
	  "From: MAILER-DAEMON@example.org\r\nAuto-Submitted: auto-replied\r\n"
	  "Content-Type: multipart/report; report-type=delivery-status;\r\n"
	  "\tboundary=\"r\"\r\n\r\n--r\r\n\r\nfailed\r\n--r--\r\n",
	  0, 0, 0, 1 },
	{ "report without Auto-Submitted",
	  "From: x@example.org\r\nContent-Type: multipart/report; "
	  "boundary=r\r\n\r\n--r\r\n\r\nx\r\n--r--\r\n",
	  0, 0, 0, 0 },
	{ "plain", "From: a@example.org\r\n\r\nhello\r\n", 0, 0, 0, 0 },
	{ "no body", "From: a@example.org\r\n", 0, 0, 0, 0 },
	{ "empty", "", 0, 0, 0, 0 },
};

static void
test_classify_table(void **state)
{
	struct buf scratch = BUF_INIT(1 << 20);
	struct fm_class c;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct cls_case *t = &cases[i];

		fm_pgp_classify(t->msg, strlen(t->msg), 1, &scratch, &c);
		if (c.encrypted != t->encrypted ||
		    c.securejoin != t->securejoin ||
		    c.multipart_mixed != t->mixed ||
		    c.mailer_daemon_report != t->report) {
			print_error("%s: got enc=%d sj=%d mixed=%d report=%d\n",
				    t->name, c.encrypted, c.securejoin,
				    c.multipart_mixed, c.mailer_daemon_report);
			fail();
		}
	}
	buf_deinit(&scratch);
}

static void
test_headers(void **state)
{
	static const char m[] = "Subject: a\r\n  b\r\n\tc  \r\n"
				"X-Y : z\r\nsubject: second\r\n\r\nbody";
	struct fm_entity e;
	char out[64];
	const char *v;
	size_t vl;

	(void)state;
	fm_mime_split(m, sizeof(m) - 1, &e);
	assert_int(e.blen, 4);
	assert_int(fm_mime_header_get(&e, "SUBJECT", out, sizeof(out)), 1);
	assert_str(out, "a  b\tc");
	assert_int(fm_mime_header_get(&e, "x-y", out, sizeof(out)), 1);
	assert_str(out, "z");
	assert_int(fm_mime_header_find(&e, "subject", 1, &v, &vl), 1);
	assert_int(fm_mime_header_find(&e, "subject", 2, &v, &vl), 0);
	assert_int(fm_mime_header_get(&e, "Subj", out, sizeof(out)), 0);
	/* cut at the buffer size */
	assert_int(fm_mime_header_get(&e, "Subject", out, 3), 1);
	assert_str(out, "a ");
	/* the longest field: "Subject: a\r\n  b\r\n\tc  \r\n", folding
	 * included; the last field counts too, with or without a body */
	assert_int(fm_mime_longest_field(&e), 23);
	fm_mime_split("A: 1\r\nB: 22222222222222222222", 28, &e);
	assert_int(fm_mime_longest_field(&e), 22);
	fm_mime_split("\r\nbody", 6, &e);
	assert_int(fm_mime_longest_field(&e), 0);
}

static void
test_addresses(void **state)
{
	static const char *const t[][2] = {
		{ "Alice <Alice@Example.ORG>", "alice@example.org" },
		{ "bob@example.org", "bob@example.org" },
		{ "\"Doe, <John>\" <j@x.org>", "j@x.org" },
		{ "j@x.org (John Doe)", "j@x.org" },
		{ "friends: a@x.org, b@x.org;", "a@x.org" },
		{ "a@x.org, b@y.org", "a@x.org" },
		{ "<user@[1.2.3.4]>", "user@[1.2.3.4]" },
	};
	char out[128];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		assert_int(fm_mime_first_address(t[i][0], out, sizeof(out)), 1);
		assert_str(out, t[i][1]);
	}
	assert_int(fm_mime_first_address("", out, sizeof(out)), 0);
	assert_int(fm_mime_first_address("Name <broken", out, sizeof(out)), 0);
}

/* RFC 2047 encoded words in unstructured values */
static void
test_encoded_words(void **state)
{
	static const char *const t[][2] = {
		{ "plain text", "plain text" },
		{ "=?utf-8?B?QXV0b2NyeXB0?=", "Autocrypt" },
		{ "=?UTF-8?Q?a_b=3Dc?=", "a b=c" },
		/* whitespace between two encoded words goes */
		{ "=?x?q?a?=  \t =?x?b?Yg==?= c", "ab c" },
		/* but not between a word and text */
		{ "x =?x?q?a?= y", "x a y" },
		/* malformed words stay as they are */
		{ "=?utf-8?X?abc?=", "=?utf-8?X?abc?=" },
		{ "=?utf-8?Q?a b?=", "=?utf-8?Q?a b?=" },
		{ "=?utf-8?Q?open", "=?utf-8?Q?open" },
		{ "=??Q?a?=", "=??Q?a?=" },
		{ "=?", "=?" },
		{ "", "" },
	};
	struct buf out = BUF_INIT(64), tiny = BUF_INIT(3);
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		buf_reset(&out);
		assert_int(fm_mime_decode_words(t[i][0], &out), 0);
		assert_str(buf_cstr(&out), t[i][1]);
	}
	assert_int(fm_mime_decode_words("=?a?q?abcd?=", &tiny), -E2BIG);
	buf_deinit(&out);
	buf_deinit(&tiny);
}

static void
test_parts_and_decoding(void **state)
{
	static const char body[] = "--b\r\nA: 1\r\n\r\none\r\n--b  \r\n\r\n"
				   "two\r\n--bb\r\n--b--\r\nafter";
	static const char qp[] = "Content-Transfer-Encoding: Quoted-Printable"
				 "\r\n\r\nVersion=3A 1=\r\n!";
	struct buf scratch = BUF_INIT(64);
	struct fm_entity p[4], e;
	const char *b;
	size_t n;

	(void)state;
	assert_int(fm_mime_parts(body, sizeof(body) - 1, "b", p, 4), 2);
	assert_int(p[0].blen, 3);
	assert_int(memcmp(p[0].body, "one", 3), 0);
	/* "--bb" is not our delimiter: it stays in the second part */
	assert_int(p[1].blen, strlen("two\r\n--bb"));
	fm_mime_split(qp, sizeof(qp) - 1, &e);
	assert_int(fm_mime_decoded_body(&e, &scratch, &b, &n), 0);
	assert_int(n, 11);
	assert_int(memcmp(b, "Version: 1!", 11), 0);
	buf_deinit(&scratch);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classify_table),
		cmocka_unit_test(test_headers),
		cmocka_unit_test(test_addresses),
		cmocka_unit_test(test_encoded_words),
		cmocka_unit_test(test_parts_and_decoding),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
