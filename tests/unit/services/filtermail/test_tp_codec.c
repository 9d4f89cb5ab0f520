/*
 * test_tp_codec: the parts of filtermail transport that read what
 * others send, as tables: the recipient's destination, what an HTTPS
 * answer to POST /mxdeliv means (the answers our fm_httpd and upstream's
 * http_server.rs give, recorded, and bad ones), SMTP replies fed whole
 * and one byte at a time, and MX/A/AAAA answers from the DNS codec.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "testutil.h"

#include "../../../../services/filtermail/fm_tp.h"

static void
test_addr_dest(void **state)
{
	static const struct {
		const char *addr, *want; /* NULL: refused */
	} cases[] = {
		{ "a@Example.ORG", "example.org" },
		{ "a@b@example.org", "example.org" },
		{ "a@_relay.chat.test", "_relay.chat.test" },
		{ "a@example.org.", "example.org" },
		{ "a@[192.0.2.1]", "[192.0.2.1]" },
		{ "a@[IPv6:2001:DB8::1]", "[2001:db8::1]" },
		{ "a@[ipv6:2001:db8:0::1]", "[2001:db8::1]" },
		{ "a@[192.0.2.256]", NULL },
		{ "a@[2001:db8::1]", NULL }, /* v6 needs its tag */
		{ "a@[192.0.2.1", NULL },
		{ "a@", NULL },
		{ "@example.org", NULL },
		{ "noat", NULL },
		{ "a@exa mple.org", NULL },
		{ "a@example..org", NULL },
		{ "a@.example.org", NULL },
		{ "a@-example.org", NULL },
		{ "a@ex/ample.org", NULL },
	};
	char out[FM_TP_HOST_MAX], longd[300];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r = fm_tp_addr_dest(cases[i].addr, out, sizeof(out));

		if (cases[i].want == NULL) {
			assert_int(r, -EINVAL);
		} else {
			assert_int(r, 0);
			assert_str(out, cases[i].want);
		}
	}
	memset(longd, 'a', sizeof(longd));
	memcpy(longd, "x@", 2);
	longd[2 + 254] = '\0';
	assert_int(fm_tp_addr_dest(longd, out, sizeof(out)), -EINVAL);
	longd[2 + 253] = '\0';
	assert_int(fm_tp_addr_dest(longd, out, sizeof(out)), 0);
}

/* one answer and what it must mean */
struct answer_case {
	int curl_rc;
	long status;
	const char *body;
	int truncated, sent_all;
	enum fm_tp_outcome want;
	int code;
	const char *text; /* a substring of the text */
};

static const struct answer_case answers[] = {
	/* our fm_httpd and upstream's server, as recorded */
	{ 0, 200, "250 OK", 0, 1, FM_TP_SENT, 250, "250 OK (HTTPS)" },
	{ 0, 200, "250 OK\r\n", 0, 1, FM_TP_SENT, 250, "(HTTPS)" },
	{ 0, 400, "523 Encryption Needed: Invalid Unencrypted Mail", 0, 1,
	  FM_TP_REFUSED, 523,
	  "523 Encryption Needed: Invalid Unencrypted Mail "
	  "(forwarded from mx.example)" },
	{ 0, 400, "554 5.7.1 No valid DKIM signature found", 0, 1,
	  FM_TP_REFUSED, 554, "554 5.7.1 No valid DKIM" },
	{ 0, 400, "451 4.3.0 Reinjection failed: timed out", 0, 1,
	  FM_TP_REFUSED, 451, "451 4.3.0 Reinjection" },
	{ 0, 413, "552 Message exceeds maximum size", 0, 1, FM_TP_REFUSED, 552,
	  "552 Message exceeds" },
	{ 0, 405, "Method Not Allowed", 0, 1, FM_TP_FAILED, 451,
	  "HTTPS: HTTP 405" },
	/* a 2xx that is no SMTP success: in doubt, never a 250 */
	{ 0, 200, "<html>hello</html>", 0, 1, FM_TP_DOUBT, 451,
	  "(not understood)" },
	{ 0, 200, "", 0, 1, FM_TP_DOUBT, 451, "not understood" },
	{ 0, 200, "550 no", 0, 1, FM_TP_DOUBT, 451, "without an SMTP" },
	{ 0, 200, "250 OK\r\n250 OK", 0, 1, FM_TP_DOUBT, 451, "" },
	{ 0, 204, "250", 0, 1, FM_TP_SENT, 250, "" },
	{ CURLE_WRITE_ERROR, 200, "250 OK xxxx", 1, 1, FM_TP_DOUBT, 451,
	  "(answer too long)" },
	/* redirects and other statuses: on to SMTP */
	{ 0, 302, "", 0, 1, FM_TP_FAILED, 451,
	  "HTTP 302 (redirect not followed)" },
	{ 0, 404, "Not Found", 0, 1, FM_TP_FAILED, 451, "HTTP 404" },
	{ 0, 502, "<html>Bad Gateway</html>", 0, 1, FM_TP_FAILED, 451,
	  "HTTP 502" },
	{ 0, 400, "<html>Bad Request</html>", 0, 1, FM_TP_FAILED, 451,
	  "HTTP 400" },
	{ 0, 400, "250 OK", 0, 1, FM_TP_FAILED, 451, "HTTP 400" },
	{ CURLE_WRITE_ERROR, 400, "554 x", 1, 1, FM_TP_FAILED, 451,
	  "HTTP 400" },
	/* no answer: before the message was out, on to SMTP; after,
	 * in doubt */
	{ CURLE_COULDNT_CONNECT, 0, "", 0, 0, FM_TP_FAILED, 451, "HTTPS: " },
	{ CURLE_PEER_FAILED_VERIFICATION, 0, "", 0, 0, FM_TP_FAILED, 451,
	  "HTTPS: " },
	{ CURLE_OPERATION_TIMEDOUT, 0, "", 0, 0, FM_TP_FAILED, 451, "HTTPS: " },
	{ CURLE_OPERATION_TIMEDOUT, 0, "", 0, 1, FM_TP_DOUBT, 451,
	  "451 4.4.2 No answer from mx.example" },
	{ CURLE_GOT_NOTHING, 0, "", 0, 1, FM_TP_DOUBT, 451, "may have" },
};

static void
test_classify(void **state)
{
	struct fm_https_answer a;
	char text[FM_TP_TEXT_MAX];
	size_t i;
	int code;

	(void)state;
	for (i = 0; i < sizeof(answers) / sizeof(answers[0]); i++) {
		const struct answer_case *c = &answers[i];

		memset(&a, 0, sizeof(a));
		a.curl_rc = c->curl_rc;
		a.curl_err = "some curl error";
		a.status = c->status;
		a.body = c->body;
		a.len = strlen(c->body);
		a.truncated = c->truncated;
		a.sent_all = c->sent_all;
		a.host = "mx.example";
		if (fm_https_classify(&a, &code, text, sizeof(text)) !=
			    c->want ||
		    code != c->code || strstr(text, c->text) == NULL)
			fail_msg("case %zu (%ld \"%s\"): got %d %d \"%s\"", i,
				 c->status, c->body,
				 (int)fm_https_classify(&a, &code, text,
							sizeof(text)),
				 code, text);
	}
}

/* reply_all: feed s to the reply parser whole (step 0) or in steps; the
 * replies' codes and texts joined by "|" */
static int
reply_all(const char *s, size_t step, char *out, size_t outsize,
	  unsigned *caps_r)
{
	struct buf in = BUF_INIT(16384);
	char text[FM_TP_TEXT_MAX];
	size_t off = 0, n = strlen(s), k;
	int code, r = 0;

	out[0] = '\0';
	*caps_r = 0;
	while (off < n || in.len > 0) {
		k = step == 0 || n - off < step ? n - off : step;
		if (buf_append(&in, s + off, k) < 0)
			return -1;
		off += k;
		while ((r = fm_smtp_reply_step(&in, &code, text, sizeof(text),
					       caps_r)) == 1)
			(void)snprintf(out + strlen(out), outsize - strlen(out),
				       "%d %s|", code, text);
		if (r < 0 || (k == 0 && r == 0))
			break;
	}
	buf_deinit(&in);
	return r;
}

static void
test_smtp_replies(void **state)
{
	static const char ehlo[] = "250-mx.example\r\n250-PIPELINING\r\n"
				   "250-SIZE 1000\r\n250-STARTTLS\r\n"
				   "250 8BITMIME\r\n";
	char out[2048];
	unsigned caps;
	size_t step;

	(void)state;
	for (step = 0; step < 4; step++) {
		assert_int(reply_all(ehlo, step, out, sizeof(out), &caps), 0);
		assert_str(out, "250 250 mx.example PIPELINING SIZE 1000 "
				"STARTTLS 8BITMIME|");
		assert_int(caps, FM_SMTP_CAP_PIPELINING | FM_SMTP_CAP_STARTTLS |
					 FM_SMTP_CAP_8BITMIME);
		assert_int(reply_all("250 2.1.0 Ok\r\n550 5.1.1 <x>: no\n354 "
				     "go\r\n",
				     step, out, sizeof(out), &caps),
			   0);
		assert_str(out, "250 250 2.1.0 Ok|550 550 5.1.1 <x>: no|"
				"354 354 go|");
	}
	/* a keyword only counts as a whole word */
	assert_int(reply_all("250-x\r\n250 STARTTLSX\r\n", 0, out, sizeof(out),
			     &caps),
		   0);
	assert_int(caps, 0);
	/* malformed: no code, mixed codes, a code out of range */
	assert_int(reply_all("hello\r\n", 0, out, sizeof(out), &caps), -1);
	assert_int(reply_all("250-a\r\n251 b\r\n", 0, out, sizeof(out), &caps),
		   -1);
	assert_int(reply_all("650 x\r\n", 0, out, sizeof(out), &caps), -1);
	assert_int(reply_all("25\r\n", 0, out, sizeof(out), &caps), -1);
}

/* test_reply_too_long: a reply that never ends is an error at 16 KiB */
static void
test_reply_too_long(void **state)
{
	struct buf in = BUF_INIT(32768);
	char text[64];
	int code, r = 0, i;

	(void)state;
	for (i = 0; i < 2000 && r == 0; i++) {
		assert_int(buf_puts(&in, "250-more of the same reply\r\n"), 0);
		r = fm_smtp_reply_step(&in, &code, text, sizeof(text), NULL);
	}
	assert_int(r, -1);
	assert_true(in.len >= 16384 && in.len < 16384 + 64);
	buf_deinit(&in);
}

/* dns_answer: a response to our query q (n bytes) with the answer
 * records rr (an bytes, count records) appended */
static size_t
dns_answer(unsigned char *out, const unsigned char *q, int n,
	   const unsigned char *rr, size_t an, unsigned count, unsigned rcode)
{
	size_t qlen = (size_t)n - 11; /* without the OPT record */

	memcpy(out, q, qlen);
	out[2] = 0x81;
	out[3] = (unsigned char)(0x80 | rcode);
	out[7] = (unsigned char)count;
	out[11] = 0;
	memcpy(out + qlen, rr, an);
	return qlen + an;
}

/* MX 10 mx1.<q> (compressed), MX 5 "mx0.example.net", a null MX
 * would be alone: checked separately */
static const unsigned char rr_mx[] =
	"\xc0\x0c\x00\x0f\x00\x01\x00\x00\x01\x00\x00\x08\x00\x0a"
	"\x03mx1\xc0\x0c"
	"\xc0\x0c\x00\x0f\x00\x01\x00\x00\x00\x20\x00\x13\x00\x05"
	"\x03mx0\x07"
	"example\x03net\x00";
static const unsigned char rr_null_mx[] =
	"\xc0\x0c\x00\x0f\x00\x01\x00\x00\x01\x00\x00\x03\x00\x00"
	"\x00";
static const unsigned char rr_a[] =
	"\xc0\x0c\x00\x01\x00\x01\x00\x00\x01\x00\x00\x04\xc0\x00"
	"\x02\x01";
static const unsigned char rr_aaaa[] =
	"\xc0\x0c\x00\x1c\x00\x01\x00\x00\x01\x00\x00\x10\x20\x01"
	"\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
	"\x00\x01";

static void test_dns_mx_bad(const unsigned char *q, int n);

static void
test_dns_mx(void **state)
{
	unsigned char q[300], pkt[600];
	struct dns_rrs rrs;
	size_t len;
	int n, tc;

	(void)state;
	n = dns_build_query(7, "example.org", DNS_MX, q, sizeof(q));
	assert_true(n > 0);
	len = dns_answer(pkt, q, n, rr_mx, sizeof(rr_mx) - 1, 2, 0);
	assert_int(dns_parse(pkt, len, 7, "example.org.", DNS_MX, &rrs, &tc),
		   0);
	assert_int(rrs.n, 2);
	assert_str(rrs.rr[0], "mx1.example.org");
	assert_int(rrs.pref[0], 10);
	assert_str(rrs.rr[1], "mx0.example.net");
	assert_int(rrs.pref[1], 5);
	assert_int(rrs.ttl, 32);
	test_dns_mx_bad(q, n);
}

/* test_dns_mx_bad: the MX answers that are no list of hosts */
static void
test_dns_mx_bad(const unsigned char *q, int n)
{
	unsigned char pkt[600];
	struct dns_rrs rrs;
	size_t len;
	int tc;

	/* an MX whose name runs past its rdata is malformed */
	len = dns_answer(pkt, q, n, rr_mx, sizeof(rr_mx) - 1, 2, 0);
	pkt[len - 17] = 0x12; /* "mx0" label 18 long */
	assert_int(dns_parse(pkt, len, 7, "example.org", DNS_MX, &rrs, &tc),
		   -EINVAL);
	len = dns_answer(pkt, q, n, rr_null_mx, sizeof(rr_null_mx) - 1, 1, 0);
	assert_int(dns_parse(pkt, len, 7, "example.org", DNS_MX, &rrs, &tc), 0);
	assert_int(rrs.n, 1);
	assert_str(rrs.rr[0], "");
	/* NXDOMAIN comes back as its RCODE */
	len = dns_answer(pkt, q, n, (const unsigned char *)"", 0, 0, 3);
	assert_int(dns_parse(pkt, len, 7, "example.org", DNS_MX, &rrs, &tc), 3);
	/* the wrong type in the question is not our answer */
	assert_int(dns_parse(pkt, len, 7, "example.org", DNS_A, &rrs, &tc),
		   -EINVAL);
}

/* test_dns_addr: A and AAAA answers as text */
static void
test_dns_addr(void **state)
{
	unsigned char q[300], pkt[600];
	struct dns_rrs rrs;
	size_t len;
	int n, tc;

	(void)state;
	n = dns_build_query(8, "mx1.example.org", DNS_A, q, sizeof(q));
	len = dns_answer(pkt, q, n, rr_a, sizeof(rr_a) - 1, 1, 0);
	assert_int(dns_parse(pkt, len, 8, "mx1.example.org", DNS_A, &rrs, &tc),
		   0);
	assert_str(rrs.rr[0], "192.0.2.1");
	pkt[len - 5] = 5; /* rdlength 5: not an IPv4 address */
	assert_int(
		dns_parse(pkt, len + 1, 8, "mx1.example.org", DNS_A, &rrs, &tc),
		-EINVAL);
	n = dns_build_query(9, "mx1.example.org", DNS_AAAA, q, sizeof(q));
	len = dns_answer(pkt, q, n, rr_aaaa, sizeof(rr_aaaa) - 1, 1, 0);
	assert_int(
		dns_parse(pkt, len, 9, "mx1.example.org", DNS_AAAA, &rrs, &tc),
		0);
	assert_str(rrs.rr[0], "2001:db8::1");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_addr_dest),
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_smtp_replies),
		cmocka_unit_test(test_reply_too_long),
		cmocka_unit_test(test_dns_mx),
		cmocka_unit_test(test_dns_addr),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
