/* test_dns: the DNS codec's record types the operator's check reads
 * (NS, CNAME, SRV, CAA), the zone from an SOA in the authority section,
 * the AA bit, a query without recursion, and a TXT value's
 * presentation form read back as its text. (TXT, MX, A and AAAA are
 * tested with filtermail: tests/unit/services/filtermail/.) */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"

#include "dns.h"

/* answer: a response to query q (n bytes) with an answer and an
 * authority section appended; flags2 the third header byte */
static size_t
answer(unsigned char *out, const unsigned char *q, int n, unsigned flags2,
       const unsigned char *an, size_t anlen, unsigned ancount,
       const unsigned char *ns, size_t nslen, unsigned nscount)
{
	size_t qlen = (size_t)n - 11; /* without the OPT record */

	memcpy(out, q, qlen);
	out[2] = (unsigned char)flags2;
	out[3] = 0x80;
	out[7] = (unsigned char)ancount;
	out[9] = (unsigned char)nscount;
	out[11] = 0;
	if (anlen > 0)
		memcpy(out + qlen, an, anlen);
	if (nslen > 0)
		memcpy(out + qlen + anlen, ns, nslen);
	return qlen + anlen + nslen;
}

/* one record per type, owner the question (pointer 0x0c) */
static const unsigned char rr_ns[] =
	"\xc0\x0c\x00\x02\x00\x01\x00\x00\x0e\x10\x00\x06"
	"\x03ns1\xc0\x0c";
static const unsigned char rr_cname[] =
	"\xc0\x0c\x00\x05\x00\x01\x00\x00\x0e\x10\x00\x02"
	"\xc0\x0c";
static const unsigned char rr_srv[] =
	"\xc0\x0c\x00\x21\x00\x01\x00\x00\x0e\x10\x00\x08"
	"\x00\x00\x00\x01\x01\xd1\xc0\x0c";
static const unsigned char rr_caa[] =
	"\xc0\x0c\x01\x01\x00\x01\x00\x00\x0e\x10\x00\x16"
	"\x00\x05issueletsencrypt.org";
/* an SOA for the question's name (rdata not read) */
static const unsigned char rr_soa[] =
	"\xc0\x0c\x00\x06\x00\x01\x00\x00\x0e\x10\x00\x16"
	"\x00\x00\x00\x00\x00\x01\x00\x00\x00\x01"
	"\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00\x00\x01";

static void
test_types(void **state)
{
	static const struct {
		unsigned qtype;
		const unsigned char *rr;
		size_t len;
		const char *want;
	} cases[] = {
		{ DNS_NS, rr_ns, sizeof(rr_ns) - 1, "ns1.example.org" },
		{ DNS_CNAME, rr_cname, sizeof(rr_cname) - 1, "example.org" },
		{ DNS_SRV, rr_srv, sizeof(rr_srv) - 1, "0 1 465 example.org" },
		{ DNS_CAA, rr_caa, sizeof(rr_caa) - 1,
		  "0 issue \"letsencrypt.org\"" },
	};
	unsigned char q[300], pkt[600];
	struct dns_rrs rrs;
	size_t i, len;
	int n, tc;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		n = dns_build_query(9, "example.org", (uint16_t)cases[i].qtype,
				    q, sizeof(q));
		assert_true(n > 0);
		len = answer(pkt, q, n, 0x85, cases[i].rr, cases[i].len, 1,
			     NULL, 0, 0);
		assert_int(dns_parse(pkt, len, 9, "example.org", cases[i].qtype,
				     &rrs, &tc),
			   0);
		assert_int(rrs.n, 1);
		assert_str(rrs.rr[0], cases[i].want);
		assert_int(rrs.aa, 1);
		assert_int(rrs.ttl, 3600);
		/* one byte short of the record: malformed */
		assert_int(dns_parse(pkt, len - 1, 9, "example.org",
				     cases[i].qtype, &rrs, &tc),
			   -EINVAL);
	}
}

/* an SOA in the authority section names the zone; no records of the
 * type asked for, not authoritative */
static void
test_zone(void **state)
{
	unsigned char q[300], pkt[600];
	struct dns_rrs rrs;
	size_t len;
	int n, tc;

	(void)state;
	n = dns_build_query(3, "chat.example.org", DNS_NS, q, sizeof(q));
	assert_true(n > 0);
	len = answer(pkt, q, n, 0x81, NULL, 0, 0, rr_soa, sizeof(rr_soa) - 1,
		     1);
	/* the SOA's owner: "chat.example.org" compressed to the question
	 * here; point it at "example.org" (offset 12 + 5) instead */
	pkt[len - (sizeof(rr_soa) - 1) + 1] = 0x11;
	assert_int(
		dns_parse(pkt, len, 3, "chat.example.org", DNS_NS, &rrs, &tc),
		0);
	assert_int(rrs.n, 0);
	assert_int(rrs.aa, 0);
	assert_str(rrs.zone, "example.org");
	/* a cut-off authority section loses the zone, not the answer */
	assert_int(dns_parse(pkt, len - 3, 3, "chat.example.org", DNS_NS, &rrs,
			     &tc),
		   0);
	assert_str(rrs.zone, "");
}

/* a CAA record with a tag that is no tag is malformed */
static void
test_caa_bad(void **state)
{
	unsigned char q[300], pkt[600], rr[sizeof(rr_caa)];
	struct dns_rrs rrs;
	size_t len;
	int n, tc;

	(void)state;
	memcpy(rr, rr_caa, sizeof(rr));
	rr[15] = ' '; /* "is ue" */
	n = dns_build_query(4, "example.org", DNS_CAA, q, sizeof(q));
	len = answer(pkt, q, n, 0x85, rr, sizeof(rr) - 1, 1, NULL, 0, 0);
	assert_int(dns_parse(pkt, len, 4, "example.org", DNS_CAA, &rrs, &tc),
		   -EINVAL);
}

/* dns_txt_unquote: strings joined, escapes literal, the rest dropped,
 * truncated to the buffer */
static void
test_txt_unquote(void **state)
{
	char out[64];

	(void)state;
	dns_txt_unquote("\"v=DKIM1; k=rsa; \" \"p=AB\"", out, sizeof(out));
	assert_str(out, "v=DKIM1; k=rsa; p=AB");
	dns_txt_unquote("\"a\\\"b\" x \"c;\"", out, sizeof(out));
	assert_str(out, "a\"bc;");
	dns_txt_unquote("no quotes", out, sizeof(out));
	assert_str(out, "");
	dns_txt_unquote("\"unterminated", out, 4);
	assert_str(out, "unt");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_types),
		cmocka_unit_test(test_zone),
		cmocka_unit_test(test_caa_bad),
		cmocka_unit_test(test_txt_unquote),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
