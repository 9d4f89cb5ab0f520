/*
 * test_acme_msg: the ACME server's JSON as the client parses it
 * (acme_msg.c), in the shapes Pebble and Let's Encrypt send and in
 * broken ones (wrong types, missing members, URLs that are not URLs,
 * too many authorizations, non-base64url tokens), each refused with its
 * reason; problem documents of every error type the flow acts on;
 * Retry-After (seconds and HTTP-date) and RFC 3339 times; the renewal
 * time and the certificate store's layout (acme_cert.c).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define TESTUTIL_IMPL
#include "testutil.h"

#include "../../../../services/cert-reloader/acme.h"

#define DIR_OK                                                              \
	"{\"keyChange\":\"https://a.test/rollover-account-key\","           \
	"\"meta\":{\"externalAccountRequired\":false,\"termsOfService\":"   \
	"\"data:text/plain,Do%20what%20thou%20wilt\"},"                     \
	"\"newAccount\":\"https://a.test/sign-me-up\",\"newNonce\":"        \
	"\"https://a.test/nonce-plz\",\"newOrder\":\"https://a.test/order-" \
	"plz\",\"renewalInfo\":\"https://a.test/draft-ietf-acme-ari-03/"    \
	"renewalInfo\",\"revokeCert\":\"https://a.test/revoke-cert\"}"

static void
test_directory(void **state)
{
	static const struct {
		const char *body, *err;
	} bad[] = {
		{ "[]", "directory: not a JSON object" },
		{ "{\"newNonce\":\"https://a/n\",\"newAccount\":\"https://a/"
		  "a\"}",
		  "directory: newOrder missing or not a URL" },
		{ "{\"newNonce\":5,\"newAccount\":\"https://a/a\","
		  "\"newOrder\":\"https://a/o\"}",
		  "directory: newNonce missing or not a URL" },
		{ "{\"newNonce\":\"ftp://a/n\",\"newAccount\":\"https://a/a\","
		  "\"newOrder\":\"https://a/o\"}",
		  "directory: newNonce missing or not a URL" },
		{ "{\"newNonce\":\"https://a/n\",\"newAccount\":\"https://a/"
		  "a\",\"newOrder\":\"https://a/o\",\"renewalInfo\":\"x y\"}",
		  "directory: renewalInfo not a URL" },
		{ "{\"newNonce\":\"https://a/n x\",\"newAccount\":\"https://a/"
		  "a\",\"newOrder\":\"https://a/o\"}",
		  "directory: newNonce missing or not a URL" },
	};
	struct acme_directory d;
	struct buf err = BUF_INIT(512);
	size_t i;

	(void)state;
	assert_int(acme_parse_directory(DIR_OK, strlen(DIR_OK), &d, &err), 0);
	assert_str(d.new_nonce, "https://a.test/nonce-plz");
	assert_str(d.new_account, "https://a.test/sign-me-up");
	assert_str(d.new_order, "https://a.test/order-plz");
	assert_str(d.renewal_info,
		   "https://a.test/draft-ietf-acme-ari-03/renewalInfo");
	assert_str(d.tos, "data:text/plain,Do%20what%20thou%20wilt");
	assert_int(d.eab_required, 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		buf_reset(&err);
		assert_int(acme_parse_directory(bad[i].body,
						strlen(bad[i].body), &d, &err),
			   -EINVAL);
		assert_str(buf_cstr(&err), bad[i].err);
	}
	buf_deinit(&err);
}

static void
test_problem(void **state)
{
	static const char *const types[] = {
		"badNonce",
		"rateLimited",
		"accountDoesNotExist",
		"unauthorized",
		"connection",
		"dns",
		"incorrectResponse",
		"malformed",
		"serverInternal",
		"badCSR",
		"rejectedIdentifier",
		"userActionRequired",
		"externalAccountRequired",
		"orderNotReady",
	};
	struct acme_problem p;
	char body[512];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		(void)snprintf(body, sizeof(body),
			       "{\"type\":\"urn:ietf:params:acme:error:%s\","
			       "\"detail\":\"why %zu\",\"status\":400}",
			       types[i], i);
		assert_int(acme_parse_problem(body, strlen(body), &p), 1);
		assert_str(p.type, types[i]);
		assert_int(strncmp(p.detail, "why ", 4), 0);
	}
	/* another namespace is kept whole; not a problem: 0 */
	assert_int(acme_parse_problem("{\"type\":\"about:blank\"}", 22, &p), 1);
	assert_str(p.type, "about:blank");
	assert_int(acme_parse_problem("<html>", 6, &p), 0);
	assert_int(acme_parse_problem("{\"detail\":\"x\"}", 14, &p), 0);
}

static void
test_order(void **state)
{
	static const char ok[] =
		"{\"status\":\"pending\",\"expires\":\"2026-12-08T04:31:38Z\","
		"\"identifiers\":[{\"type\":\"dns\",\"value\":\"a.test\"}],"
		"\"finalize\":\"https://a.test/finalize-order/X\","
		"\"authorizations\":[\"https://a.test/authZ/1\","
		"\"https://a.test/authZ/2\"]}";
	static const char valid[] =
		"{\"status\":\"valid\",\"finalize\":\"https://a.test/f\","
		"\"authorizations\":[\"https://a.test/z\"],"
		"\"certificate\":\"https://a.test/certZ/1\"}";
	static const struct {
		const char *body, *err;
	} bad[] = {
		{ "{\"status\":\"valid\",\"finalize\":\"https://a/f\","
		  "\"authorizations\":[\"https://a/z\"]}",
		  "order: valid without a certificate" },
		{ "{\"status\":\"weird\",\"finalize\":\"https://a/f\","
		  "\"authorizations\":[\"https://a/z\"]}",
		  "order: no known status" },
		{ "{\"status\":\"pending\",\"finalize\":\"https://a/f\","
		  "\"authorizations\":[]}",
		  "order: authorizations missing or more than 4" },
		{ "{\"status\":\"pending\",\"finalize\":\"https://a/f\","
		  "\"authorizations\":[\"https://1\",\"https://2\","
		  "\"https://3\",\"https://4\",\"https://5\"]}",
		  "order: authorizations missing or more than 4" },
		{ "{\"status\":\"pending\",\"finalize\":\"https://a/f\","
		  "\"authorizations\":[7]}",
		  "order: an authorization is not a URL" },
		/* found by fuzz_acme_json: a space inside the URL */
		{ "{\"status\":\"pending\",\"finalize\":\"https://a/f\","
		  "\"authorizations\":[\"https://a.te7 Dec 20\"]}",
		  "order: an authorization is not a URL" },
		{ "{\"status\":\"pending\",\"authorizations\":[\"https://a\"]}",
		  "order: finalize missing or not a URL" },
	};
	struct acme_order o;
	struct buf err = BUF_INIT(512);
	size_t i;

	(void)state;
	assert_int(acme_parse_order(ok, strlen(ok), &o, &err), 0);
	assert_int(o.status, ACME_ST_PENDING);
	assert_int(o.nauthz, 2);
	assert_str(o.authz[1], "https://a.test/authZ/2");
	assert_str(o.finalize, "https://a.test/finalize-order/X");
	assert_str(o.certificate, "");
	assert_int(acme_parse_order(valid, strlen(valid), &o, &err), 0);
	assert_int(o.status, ACME_ST_VALID);
	assert_str(o.certificate, "https://a.test/certZ/1");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		buf_reset(&err);
		assert_int(acme_parse_order(bad[i].body, strlen(bad[i].body),
					    &o, &err),
			   -EINVAL);
		assert_str(buf_cstr(&err), bad[i].err);
	}
	buf_deinit(&err);
}

static void
test_authz(void **state)
{
	static const char pending[] =
		"{\"status\":\"pending\",\"identifier\":{\"type\":\"dns\","
		"\"value\":\"www.a.test\"},\"challenges\":[{\"type\":"
		"\"tls-alpn-01\",\"url\":\"https://a.test/chalZ/t\",\"token\":"
		"\"T\",\"status\":\"pending\"},{\"type\":\"http-01\",\"url\":"
		"\"https://a.test/chalZ/h\",\"token\":\"tok_en-1\",\"status\":"
		"\"pending\"}],\"expires\":\"2026-12-08T04:31:38Z\"}";
	static const char invalid[] =
		"{\"status\":\"invalid\",\"identifier\":{\"type\":\"dns\","
		"\"value\":\"a.test\"},\"challenges\":[{\"type\":\"http-01\","
		"\"url\":\"https://a.test/c\",\"token\":\"t\",\"status\":"
		"\"invalid\",\"error\":{\"type\":\"urn:ietf:params:acme:error:"
		"connection\",\"detail\":\"127.0.0.1: Connection refused\"}}]}";
	static const struct {
		const char *body, *err;
	} bad[] = {
		{ "{\"status\":\"pending\",\"identifier\":{\"type\":\"dns\","
		  "\"value\":\"a\"},\"challenges\":[{\"type\":\"dns-01\","
		  "\"url\":\"https://a/c\",\"token\":\"t\"}]}",
		  "authorization for a: no http-01 challenge" },
		{ "{\"status\":\"pending\",\"identifier\":{\"type\":\"dns\","
		  "\"value\":\"a\"},\"challenges\":[{\"type\":\"http-01\","
		  "\"url\":\"https://a/c\",\"token\":\"../etc\"}]}",
		  "challenge: token missing or not base64url" },
		{ "{\"status\":\"pending\",\"challenges\":[]}",
		  "authorization: no status or identifier" },
	};
	struct acme_authz a;
	struct buf err = BUF_INIT(512);
	size_t i;

	(void)state;
	assert_int(acme_parse_authz(pending, strlen(pending), &a, &err), 0);
	assert_int(a.status, ACME_ST_PENDING);
	assert_str(a.name, "www.a.test");
	assert_str(a.chall_url, "https://a.test/chalZ/h");
	assert_str(a.token, "tok_en-1");
	assert_int(a.chall_status, ACME_ST_PENDING);
	assert_int(acme_parse_authz(invalid, strlen(invalid), &a, &err), 0);
	assert_int(a.status, ACME_ST_INVALID);
	assert_str(a.error.type, "connection");
	assert_str(a.error.detail, "127.0.0.1: Connection refused");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		buf_reset(&err);
		assert_int(acme_parse_authz(bad[i].body, strlen(bad[i].body),
					    &a, &err),
			   -EINVAL);
		assert_str(buf_cstr(&err), bad[i].err);
	}
	buf_deinit(&err);
}

static void
test_times(void **state)
{
	static const char ari[] =
		"{\"suggestedWindow\":{\"start\":\"2026-12-07T04:35:00Z\","
		"\"end\":\"2026-12-07T04:37:30.5Z\"}}";
	struct buf err = BUF_INIT(256);
	time_t t, s, e, now = 1796618000; /* 2026-12-07T04:33:20Z */
	char out[32];

	(void)state;
	assert_int(acme_parse_time("2026-12-07T04:33:20Z", &t), 0);
	assert_int(t, now);
	acme_format_time(t, out);
	assert_str(out, "2026-12-07T04:33:20Z");
	assert_int(acme_parse_time("2026-12-07T04:33:20.123456+00:00", &t), 0);
	assert_int(t, now);
	assert_int(acme_parse_time("2026-12-07 04:33:20Z", &t), -EINVAL);
	assert_int(acme_parse_time("2026-13-07T04:33:20Z", &t), -EINVAL);
	assert_int(acme_parse_time("2026-12-07T04:33:20+02:00", &t), -EINVAL);
	assert_int(acme_parse_renewal_info(ari, strlen(ari), &s, &e, &err), 0);
	assert_int(s, now + 100);
	assert_int(e, now + 250);
	assert_int(acme_parse_renewal_info("{\"suggestedWindow\":{\"start\":"
					   "\"2026-12-07T04:40:00Z\",\"end\":"
					   "\"2026-12-07T04:35:00Z\"}}",
					   82, &s, &e, &err),
		   -EINVAL);
	assert_int(acme_parse_retry_after("120", now), 120);
	assert_int(acme_parse_retry_after(" 7", now), 7);
	assert_int(acme_parse_retry_after("999999999", now), 86400);
	assert_int(acme_parse_retry_after("Mon, 07 Dec 2026 04:35:20 GMT", now),
		   120);
	assert_int(acme_parse_retry_after("Mon, 07 Dec 2026 04:00:00 GMT", now),
		   0);
	assert_int(acme_parse_retry_after("soon", now), -EINVAL);
	assert_int(acme_parse_retry_after("-5", now), -EINVAL);
	assert_int(acme_parse_retry_after(NULL, now), -EINVAL);
	buf_deinit(&err);
}

static void
test_renew_at(void **state)
{
	(void)state;
	/* 90 days: due after 60, up to 3 days earlier by jitter */
	assert_int(acme_renew_at(0, 90 * 86400, 0), 60 * 86400);
	assert_int(acme_renew_at(0, 90 * 86400, 0.999999),
		   60 * 86400 - 3 * 86400 + 1);
	assert_int(acme_renew_at(1000, 1600, 0.5), 1000 + 400 - 10);
	assert_int(acme_renew_at(1000, 1000, 0.5), 1000);
	assert_int(acme_renew_at(0, 900, 7.0), 600); /* bad jitter: none */
}

static void
test_store(void **state)
{
	char names[1][ACME_NAME_MAX + 1] = { "s.test" };
	char *dir = test_tmpdir(), path[512], link[256], again[256];
	struct buf err = BUF_INIT(512);
	struct acme_cert_info ci;
	ssize_t n;

	(void)state;
	assert_int(acme_cert_read(dir, names, 1, &ci, &err), -ENOENT);
	assert_int(acme_cert_placeholder(dir, names, 1, -1, &err), 0);
	assert_int(acme_cert_read(dir, names, 1, &ci, &err), 0);
	assert_true(ci.self_signed);
	assert_true(ci.key_ok);
	assert_true(ci.names_ok);
	assert_true(ci.not_after - ci.not_before >= 364 * 86400);
	(void)snprintf(path, sizeof(path), "%s/tls.crt", dir);
	n = readlink(path, link, sizeof(link) - 1);
	assert_true(n > 0);
	link[n] = '\0';
	assert_str(link, "..data/tls.crt");
	/* a second placeholder leaves the first alone */
	(void)snprintf(path, sizeof(path), "%s/..data", dir);
	n = readlink(path, link, sizeof(link) - 1);
	assert_true(n > 0);
	link[n] = '\0';
	assert_int(acme_cert_placeholder(dir, names, 1, -1, &err), 0);
	n = readlink(path, again, sizeof(again) - 1);
	assert_true(n > 0);
	again[n] = '\0';
	assert_str(again, link);
	/* other names: not this relay's certificate */
	(void)snprintf(names[0], sizeof(names[0]), "other.test");
	buf_reset(&err);
	assert_int(acme_cert_read(dir, names, 1, &ci, &err), -EINVAL);
	assert_str(buf_cstr(&err), "certificate does not name every domain");
	buf_deinit(&err);
	test_rmtree(dir);
	free(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_directory),
		cmocka_unit_test(test_problem),
		cmocka_unit_test(test_order),
		cmocka_unit_test(test_authz),
		cmocka_unit_test(test_times),
		cmocka_unit_test(test_renew_at),
		cmocka_unit_test(test_store),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
