/*
 * test_acme: the ACME client's cryptography and parsers. base64url
 * against RFC 4648's vectors; JWS objects checked with OpenSSL's own
 * verification (the raw r || s signature turned back into DER, the
 * JWK's coordinates imported as a public key), the RFC 7638 thumbprint
 * recomputed, the EAB's HMAC recomputed, the CSR verified and its names
 * read back; the account key file made once and loaded again. The
 * server's JSON is test_acme_msg.c.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/core_names.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#define TESTUTIL_IMPL
#include "testutil.h"

#include "../../../../services/cert-reloader/acme.h"
#include "jws_check.h"

/* b64: acme_b64url of a string */
static const char *
b64(const char *s, struct buf *b)
{
	buf_reset(b);
	assert_int(acme_b64url(s, strlen(s), b), 0);
	return buf_cstr(b);
}

static void
test_b64url(void **state)
{
	struct buf b = BUF_INIT(256);
	uint8_t out[16];
	uint8_t bin[] = { 0xfb, 0xff, 0xfe };

	(void)state;
	assert_str(b64("", &b), "");
	assert_str(b64("f", &b), "Zg");
	assert_str(b64("fo", &b), "Zm8");
	assert_str(b64("foo", &b), "Zm9v");
	assert_str(b64("foob", &b), "Zm9vYg");
	assert_str(b64("fooba", &b), "Zm9vYmE");
	assert_str(b64("foobar", &b), "Zm9vYmFy");
	buf_reset(&b);
	assert_int(acme_b64url(bin, sizeof(bin), &b), 0);
	assert_str(buf_cstr(&b), "-__-"); /* the URL alphabet */
	assert_int(acme_b64url_decode("Zm9vYmFy", out, sizeof(out)), 6);
	assert_memory_equal(out, "foobar", 6);
	assert_int(acme_b64url_decode("-__-", out, sizeof(out)), 3);
	assert_memory_equal(out, bin, 3);
	assert_int(acme_b64url_decode("Zm9v+g", out, sizeof(out)), -EINVAL);
	assert_int(acme_b64url_decode("Z", out, sizeof(out)), -EINVAL);
	assert_int(acme_b64url_decode("Zm9vYmFy", out, 5), -EINVAL);
	buf_deinit(&b);
}

/* member: a string member of a JSON object text */
static char *
member(const char *json, const char *name)
{
	cJSON *j = cJSON_Parse(json), *v;
	char *s = NULL;

	v = cJSON_GetObjectItemCaseSensitive(j, name);
	if (cJSON_IsString(v))
		s = strdup(v->valuestring);
	cJSON_Delete(j);
	return s;
}

/* verify_es256: OpenSSL verifies the flattened JWS text with pub */
static int
verify_es256(const char *jws, EVP_PKEY *pub)
{
	cJSON *j = cJSON_Parse(jws);
	int ok;

	assert_non_null(j);
	ok = jws_verifies(j, pub);
	cJSON_Delete(j);
	return ok;
}

/* check_thumbprint: RFC 7638: SHA-256 of the JWK's members in order,
 * no whitespace, recomputed here */
static void
check_thumbprint(EVP_PKEY *key, const cJSON *jwk)
{
	struct buf tp = BUF_INIT(128), canon = BUF_INIT(512);
	uint8_t md[32];
	unsigned mdlen;

	assert_int(buf_printf(&canon,
			      "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%s\","
			      "\"y\":\"%s\"}",
			      cJSON_GetObjectItem(jwk, "x")->valuestring,
			      cJSON_GetObjectItem(jwk, "y")->valuestring),
		   0);
	assert_int(EVP_Digest(canon.data, canon.len, md, &mdlen, EVP_sha256(),
			      NULL),
		   1);
	buf_reset(&canon);
	assert_int(acme_b64url(md, mdlen, &canon), 0);
	assert_int(acme_thumbprint(key, &tp), 0);
	assert_str(tp.data, canon.data);
	buf_deinit(&tp);
	buf_deinit(&canon);
}

/* test_jws: a newAccount request: jwk in the header, verified */
static void
test_jws(void **state)
{
	struct buf jws = BUF_INIT(8192);
	EVP_PKEY *key = acme_key_new(), *pub;
	char *prot, *hdr_text, *pay;
	cJSON *hdr, *jwk;

	(void)state;
	assert_non_null(key);
	assert_int(acme_jws(key, NULL, "n0nce", "https://a.test/new-acct",
			    "{\"x\":1}", &jws),
		   0);
	prot = member(jws.data, "protected");
	hdr_text = dec(prot, NULL);
	hdr = cJSON_Parse(hdr_text);
	assert_str(cJSON_GetObjectItem(hdr, "alg")->valuestring, "ES256");
	assert_str(cJSON_GetObjectItem(hdr, "nonce")->valuestring, "n0nce");
	assert_str(cJSON_GetObjectItem(hdr, "url")->valuestring,
		   "https://a.test/new-acct");
	assert_null(cJSON_GetObjectItem(hdr, "kid"));
	jwk = cJSON_GetObjectItem(hdr, "jwk");
	assert_str(cJSON_GetObjectItem(jwk, "kty")->valuestring, "EC");
	assert_str(cJSON_GetObjectItem(jwk, "crv")->valuestring, "P-256");
	pub = jwk_key(jwk);
	assert_true(verify_es256(jws.data, pub));
	pay = member(jws.data, "payload");
	assert_str(pay, "eyJ4IjoxfQ"); /* {"x":1} */
	check_thumbprint(key, jwk);
	EVP_PKEY_free(pub);
	cJSON_Delete(hdr);
	free(hdr_text);
	free(prot);
	free(pay);
	EVP_PKEY_free(key);
	buf_deinit(&jws);
}

/* test_jws_kid: a POST-as-GET with the account URL: empty payload,
 * verifies with the key, not with another */
static void
test_jws_kid(void **state)
{
	struct buf jws = BUF_INIT(8192);
	EVP_PKEY *key = acme_key_new(), *other = acme_key_new(), *pub;
	cJSON *jwk = acme_jwk(key);
	char *pay, *prot, *hdr;

	(void)state;
	assert_int(acme_jws(key, "https://a.test/acct/1", "n2",
			    "https://a.test/order/1", "", &jws),
		   0);
	pay = member(jws.data, "payload");
	assert_str(pay, "");
	prot = member(jws.data, "protected");
	hdr = dec(prot, NULL);
	assert_non_null(strstr(hdr, "\"kid\":\"https://a.test/acct/1\""));
	assert_null(strstr(hdr, "\"jwk\""));
	pub = jwk_key(jwk);
	assert_true(verify_es256(jws.data, pub));
	assert_false(verify_es256(jws.data, other));
	EVP_PKEY_free(pub);
	EVP_PKEY_free(other);
	EVP_PKEY_free(key);
	cJSON_Delete(jwk);
	free(pay);
	free(prot);
	free(hdr);
	buf_deinit(&jws);
}

static void
test_eab(void **state)
{
	static const uint8_t hmac[] = "0123456789abcdef0123456789abcdef";
	EVP_PKEY *key = acme_key_new();
	cJSON *eab = acme_eab(key, "kid-7", hmac, 32, "https://a.test/na");
	char *prot, *pay, *hdr, *payload, input[2048];
	struct buf sig = BUF_INIT(128), jwk = BUF_INIT(512);
	uint8_t md[32];
	unsigned mdlen = 0;
	cJSON *h, *pj;

	(void)state;
	assert_non_null(eab);
	prot = cJSON_GetObjectItem(eab, "protected")->valuestring;
	pay = cJSON_GetObjectItem(eab, "payload")->valuestring;
	hdr = dec(prot, NULL);
	h = cJSON_Parse(hdr);
	assert_str(cJSON_GetObjectItem(h, "alg")->valuestring, "HS256");
	assert_str(cJSON_GetObjectItem(h, "kid")->valuestring, "kid-7");
	assert_str(cJSON_GetObjectItem(h, "url")->valuestring,
		   "https://a.test/na");
	/* the payload is the account's JWK */
	payload = dec(pay, NULL);
	pj = cJSON_Parse(payload);
	assert_str(cJSON_GetObjectItem(pj, "crv")->valuestring, "P-256");
	(void)snprintf(input, sizeof(input), "%s.%s", prot, pay);
	assert_non_null(HMAC(EVP_sha256(), hmac, 32, (uint8_t *)input,
			     strlen(input), md, &mdlen));
	assert_int(acme_b64url(md, mdlen, &sig), 0);
	assert_str(cJSON_GetObjectItem(eab, "signature")->valuestring,
		   sig.data);
	cJSON_Delete(pj);
	cJSON_Delete(h);
	cJSON_Delete(eab);
	free(payload);
	free(hdr);
	EVP_PKEY_free(key);
	buf_deinit(&sig);
	buf_deinit(&jwk);
}

static void
test_csr(void **state)
{
	char names[3][ACME_NAME_MAX + 1] = { "c.test", "www.c.test",
					     "mta-sts.c.test" };
	struct buf b = BUF_INIT(8192);
	EVP_PKEY *key = acme_key_new();
	size_t len;
	char *der = NULL;
	const uint8_t *p;
	X509_REQ *req;
	STACK_OF(X509_EXTENSION) * exts;
	GENERAL_NAMES *gens;
	int i;

	(void)state;
	assert_int(acme_csr(key, names, 3, &b), 0);
	der = dec(b.data, &len);
	p = (const uint8_t *)der;
	req = d2i_X509_REQ(NULL, &p, (long)len);
	assert_non_null(req);
	assert_int(X509_REQ_verify(req, key), 1);
	exts = X509_REQ_get_extensions(req);
	gens = X509V3_get_d2i(exts, NID_subject_alt_name, NULL, NULL);
	assert_int(sk_GENERAL_NAME_num(gens), 3);
	for (i = 0; i < 3; i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);

		assert_int(g->type, GEN_DNS);
		assert_str((const char *)ASN1_STRING_get0_data(g->d.dNSName),
			   names[i]);
	}
	GENERAL_NAMES_free(gens);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_REQ_free(req);
	free(der);
	EVP_PKEY_free(key);
	buf_deinit(&b);
}

static void
test_key_file(void **state)
{
	char *dir = test_tmpdir(), path[512];
	struct buf err = BUF_INIT(512), t1 = BUF_INIT(64), t2 = BUF_INIT(64);
	EVP_PKEY *k1 = NULL, *k2 = NULL;
	struct stat st;
	int created = 0;
	FILE *f;

	(void)state;
	(void)snprintf(path, sizeof(path), "%s/account.key", dir);
	assert_int(acme_key_load(path, 0, &k1, &created, &err), -ENOENT);
	assert_int(acme_key_load(path, 1, &k1, &created, &err), 0);
	assert_int(created, 1);
	assert_int(stat(path, &st), 0);
	assert_int(st.st_mode & 0777, 0600);
	/* loaded again: the same key, not a new one */
	assert_int(acme_key_load(path, 1, &k2, &created, &err), 0);
	assert_int(created, 0);
	assert_int(acme_thumbprint(k1, &t1), 0);
	assert_int(acme_thumbprint(k2, &t2), 0);
	assert_str(t1.data, t2.data);
	EVP_PKEY_free(k2);
	k2 = NULL;
	f = fopen(path, "w");
	assert_non_null(f);
	(void)fputs("not a key\n", f);
	(void)fclose(f);
	assert_int(acme_key_load(path, 1, &k2, &created, &err), -EINVAL);
	assert_non_null(strstr(buf_cstr(&err), "not an EC P-256"));
	EVP_PKEY_free(k1);
	buf_deinit(&err);
	buf_deinit(&t1);
	buf_deinit(&t2);
	test_rmtree(dir);
	free(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_b64url),	 cmocka_unit_test(test_jws),
		cmocka_unit_test(test_eab),	 cmocka_unit_test(test_csr),
		cmocka_unit_test(test_key_file), cmocka_unit_test(test_jws_kid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
