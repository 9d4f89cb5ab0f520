/*
 * test_servedcert: names and notAfter of a served certificate from its
 * PEM (as curl's certinfo gives it): a certificate made here with three
 * DNS names and an IP address (left out), one without names, garbage;
 * and the CertificateReady Issued message built from each outcome.
 * The handshake itself is proven against a real relay in
 * tests/e2e/test_acme.sh.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#define TESTUTIL_IMPL
#include "testutil.h"

#include "buf.h"
#include "servedcert.h"
#include "status.h"
#include "util.h"

/* make_cert: a self-signed P-256 certificate as PEM, with subjectAltName
 * san (NULL: none), valid until not_after (ASN.1 GeneralizedTime) */
static void
make_cert(const char *san, const char *not_after, struct buf *pem)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_EXTENSION *ext;
	X509V3_CTX ctx;
	BIO *b = BIO_new(BIO_s_mem());
	char *p;
	long n;

	assert_non_null(k);
	assert_int(X509_set_version(x, 2), 1);
	assert_int(ASN1_INTEGER_set(X509_get_serialNumber(x), 7), 1);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), 0));
	assert_int(ASN1_TIME_set_string(X509_getm_notAfter(x), not_after), 1);
	assert_int(X509_set_pubkey(x, k), 1);
	assert_int(X509_set_issuer_name(x, X509_get_subject_name(x)), 1);
	if (san != NULL) {
		X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
		ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name,
					  san);
		assert_non_null(ext);
		assert_int(X509_add_ext(x, ext, -1), 1);
		X509_EXTENSION_free(ext);
	}
	assert_true(X509_sign(x, k, EVP_sha256()) > 0);
	assert_int(PEM_write_bio_X509(b, x), 1);
	n = BIO_get_mem_data(b, &p);
	assert_int(buf_append(pem, p, (size_t)n), 0);
	BIO_free(b);
	X509_free(x);
	EVP_PKEY_free(k);
}

static void
test_parse_pem(void **state)
{
	struct buf pem = BUF_INIT(1u << 16);
	struct served_cert c;

	(void)state;
	make_cert("DNS:chat.example.org,DNS:www.chat.example.org,"
		  "IP:192.0.2.1,DNS:mta-sts.chat.example.org",
		  "20261208093000Z", &pem);
	assert_int(served_cert_parse_pem(pem.data, pem.len, &c), 0);
	assert_str(c.names, "chat.example.org,www.chat.example.org,"
			    "mta-sts.chat.example.org");
	assert_str(c.not_after, "2026-12-08T09:30:00Z");
	assert_str(c.error, "");
	buf_reset(&pem);
	make_cert(NULL, "20270101000000Z", &pem);
	assert_int(served_cert_parse_pem(pem.data, pem.len, &c), 0);
	assert_str(c.names, "");
	assert_str(c.not_after, "2027-01-01T00:00:00Z");
	/* cut short, or no certificate at all */
	assert_int(served_cert_parse_pem(pem.data, pem.len / 2, &c), -EINVAL);
	assert_str(c.error, "the served certificate does not parse");
	assert_int(served_cert_parse_pem("hello", 5, &c), -EINVAL);
	assert_str(c.names, "");
	buf_deinit(&pem);
}

/* issued: the CertificateReady message of a Ready ACME relay */
static void
issued(const struct served_cert *c, struct buf *out)
{
	struct status_in in;
	cJSON *st;
	const cJSON *cond;

	memset(&in, 0, sizeof(in));
	in.generation = 1;
	in.now = "2026-12-07T08:00:00Z";
	in.sts_found = 1;
	in.replicas = in.ready_replicas = in.updated_replicas = 1;
	in.cert_ready = -1;
	in.domain = "chat.example.org";
	in.address = "";
	in.dkim_selector = "opendkim";
	in.sts_id = "1";
	in.acme_directory = "https://acme.test/dir";
	in.acme_tos_agreed = 1;
	in.acme_served = c;
	st = status_build(&in);
	cond = status_condition(st, "CertificateReady");
	assert_str(util_get_str(cond, "status"), "True");
	assert_str(util_get_str(cond, "reason"), "Issued");
	buf_reset(out);
	assert_int(buf_printf(out, "%s", util_get_str(cond, "message")), 0);
	cJSON_Delete(st);
}

static void
test_issued_message(void **state)
{
	struct buf m = BUF_INIT(4096);
	struct served_cert c;

	(void)state;
	memset(&c, 0, sizeof(c));
	(void)snprintf(c.names, sizeof(c.names), "chat.example.org,www.x");
	(void)snprintf(c.not_after, sizeof(c.not_after),
		       "2026-12-08T09:30:00Z");
	issued(&c, &m);
	assert_str(buf_cstr(&m),
		   "a certificate from https://acme.test/dir for "
		   "chat.example.org,www.x, notAfter 2026-12-08T09:30:00Z, is "
		   "served on 443 (read over TLS from the Service); renewed "
		   "at two thirds of its lifetime");
	(void)snprintf(c.error, sizeof(c.error), "no certificate read");
	issued(&c, &m);
	assert_non_null(strstr(buf_cstr(&m), "reading it over TLS from the "
					     "Service failed: no certificate "
					     "read"));
	issued(NULL, &m);
	assert_non_null(strstr(buf_cstr(&m), "are being read over TLS"));
	buf_deinit(&m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_pem),
		cmocka_unit_test(test_issued_message),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
