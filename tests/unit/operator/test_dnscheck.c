/* test_dnscheck: the DNS check's comparison of a wanted record with
 * what a zone's server returned, and the DNSReady condition it makes
 * (the lookups themselves run against NSD in
 * tests/envtest/operator/test_dns_check.sh) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"

#include "dnscheck.h"

#define DKIM "\"v=DKIM1;k=rsa;p=MIIBIjAN\" \"BgkqhkiG;s=email;t=s\""

/* wanted record, values found, the state they make */
static const struct {
	const char *type, *want;
	const char *found[3];
	enum dnscheck_state st;
} cases[] = {
	{ "A", "192.0.2.1", { NULL }, DC_MISSING },
	{ "A", "192.0.2.1", { "192.0.2.1" }, DC_OK },
	{ "A", "192.0.2.1", { "192.0.2.9", "192.0.2.1" }, DC_OK },
	{ "A", "192.0.2.1", { "192.0.2.9" }, DC_WRONG },
	{ "AAAA", "2001:db8::1", { "2001:db8:0::1" }, DC_OK },
	{ "AAAA", "2001:db8::1", { "2001:db8::2" }, DC_WRONG },
	{ "MX", "10 c.example.", { "10 C.Example." }, DC_OK },
	{ "MX", "10 c.example.", { "20 c.example" }, DC_OK },
	{ "MX", "10 c.example.", { "10 mx.other." }, DC_WRONG },
	{ "CNAME", "c.example.", { "c.example." }, DC_OK },
	{ "CNAME", "c.example.", { "elsewhere.example." }, DC_WRONG },
	{ "SRV", "0 1 465 c.example.", { "5 0 465 c.example." }, DC_OK },
	{ "SRV", "0 1 465 c.example.", { "0 1 587 c.example." }, DC_WRONG },
	{ "TXT", "\"v=spf1 a ~all\"", { "\"v=spf1  a ~all\"" }, DC_OK },
	{ "TXT",
	  "\"v=spf1 a ~all\"",
	  { "\"google-site-verification=x\"", "\"v=spf1 mx -all\"" },
	  DC_WRONG },
	{ "TXT",
	  "\"v=spf1 a ~all\"",
	  { "\"google-site-verification=x\"" },
	  DC_MISSING },
	{ "TXT",
	  "\"v=DMARC1;p=reject;adkim=s;aspf=s\"",
	  { "\"v=DMARC1; p=reject; adkim=s; aspf=s;\"" },
	  DC_OK },
	{ "TXT",
	  "\"v=DMARC1;p=reject;adkim=s;aspf=s\"",
	  { "\"v=DMARC1; p=none\"" },
	  DC_WRONG },
	{ "TXT",
	  DKIM,
	  { "\"v=DKIM1;k=rsa;p=MIIBIjANBgkqhkiG;s=email;t=s\"" },
	  DC_OK },
	/* a key differing in case is another key */
	{ "TXT",
	  DKIM,
	  { "\"v=DKIM1;k=rsa;p=MIIBIJANBgkqhkiG;s=email;t=s\"" },
	  DC_WRONG },
	{ "TXT", "\"dkim=discardable\"", { "\"dkim=all\"" }, DC_WRONG },
	{ "CAA",
	  "0 issue \"letsencrypt.org\"",
	  { "0 iodef \"mailto:a@b\"", "0 issue \"letsencrypt.org; "
				      "accounturi=x\"" },
	  DC_OK },
	{ "CAA",
	  "0 issue \"letsencrypt.org\"",
	  { "0 issue \"pki.goog\"" },
	  DC_WRONG },
	{ "CAA",
	  "0 issue \"letsencrypt.org\"",
	  { "0 iodef \"mailto:a@b\"" },
	  DC_MISSING },
};

static void
test_compare(void **state)
{
	size_t i, n;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (n = 0; n < 3 && cases[i].found[n] != NULL; n++)
			;
		if (dnscheck_compare(cases[i].type, cases[i].want,
				     cases[i].found, n) != cases[i].st)
			fail_msg("case %zu (%s %s): got %s, want %s", i,
				 cases[i].type, cases[i].want,
				 dnscheck_state_name(dnscheck_compare(
					 cases[i].type, cases[i].want,
					 cases[i].found, n)),
				 dnscheck_state_name(cases[i].st));
	}
}

/* summary: DNSReady of a check's records (JSON text) against the
 * wanted list */
static void
summary(const char *want, const char *records, const char *err, int ready,
	int all_ok, const char *reason, const char *msg_part)
{
	struct dnscheck_result res;
	cJSON *w = cJSON_Parse(want);

	memset(&res, 0, sizeof(res));
	buf_init(&res.message, 4096);
	res.check = cJSON_CreateObject();
	cJSON_AddItemToObject(res.check, "records", cJSON_Parse(records));
	dnscheck_summary(&res, w, err);
	assert_int(res.ready, ready);
	assert_int(res.all_ok, all_ok);
	assert_str(res.reason, reason);
	if (strstr(buf_cstr(&res.message), msg_part) == NULL)
		fail_msg("message %s lacks %s", buf_cstr(&res.message),
			 msg_part);
	dnscheck_result_clear(&res);
	cJSON_Delete(w);
}

static void
test_summary(void **state)
{
	const char *want =
		"[{\"name\":\"c.example.\",\"type\":\"MX\",\"required\":true},"
		"{\"name\":\"s._domainkey.c.example.\",\"type\":\"TXT\","
		"\"required\":true},"
		"{\"name\":\"c.example.\",\"type\":\"TXT\",\"required\":false}"
		"]";

	(void)state;
	summary(want,
		"[{\"name\":\"c.example.\",\"type\":\"MX\",\"state\":\"ok\"},"
		"{\"name\":\"s._domainkey.c.example.\",\"type\":\"TXT\","
		"\"state\":\"ok\"},"
		"{\"name\":\"c.example.\",\"type\":\"TXT\",\"state\":\"ok\"}]",
		NULL, 1, 1, "RecordsPublished", "every record");
	/* a recommended record missing: still ready, says so */
	summary(want,
		"[{\"name\":\"c.example.\",\"type\":\"MX\",\"state\":\"ok\"},"
		"{\"name\":\"s._domainkey.c.example.\",\"type\":\"TXT\","
		"\"state\":\"ok\"},"
		"{\"name\":\"c.example.\",\"type\":\"TXT\","
		"\"state\":\"missing\"}]",
		NULL, 1, 0, "RecordsPublished",
		"c.example. TXT missing (recommended)");
	/* a wrong DKIM key: not ready, and why other relays refuse */
	summary(want,
		"[{\"name\":\"c.example.\",\"type\":\"MX\",\"state\":"
		"\"missing\"},"
		"{\"name\":\"s._domainkey.c.example.\",\"type\":\"TXT\","
		"\"state\":\"wrong\"},"
		"{\"name\":\"c.example.\",\"type\":\"TXT\",\"state\":\"ok\"}]",
		NULL, 0, 0, "RecordsWrong", "other relays reject its mail");
	summary(want, "[]", "finding the zone of c.example: timed out", 0, 0,
		"LookupFailed", "timed out");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_compare),
		cmocka_unit_test(test_summary),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
