/*
 * test_keys: DKIM key generation and the TXT record (checked against
 * the public key `openssl` derives from the same PEM), refusal of
 * non-RSA and garbage keys, the soundness of a generated key (OpenSSL's
 * full check, size, exponent, a signature round trip), the self-signed
 * certificate's names.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#define TESTUTIL_IMPL
#include "testutil.h"

#include "keys.h"

static void
test_dkim(void **state)
{
	struct buf pem = BUF_INIT(16384), txt = BUF_INIT(4096);
	const char *p;

	(void)state;
	assert_int(keys_dkim_generate(2048, &pem), 0);
	assert_non_null(strstr(buf_cstr(&pem), "-----BEGIN PRIVATE KEY-----"));
	assert_int(keys_dkim_txt(pem.data, pem.len, &txt), 0);
	p = buf_cstr(&txt);
	assert_int(strncmp(p,
			   "v=DKIM1;k=rsa;p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A",
			   47),
		   0);
	assert_non_null(strstr(p, ";s=email;t=s"));
	/* 2048-bit SubjectPublicKeyInfo: 294 bytes -> 392 base64 chars */
	assert_int(strlen(p),
		   strlen("v=DKIM1;k=rsa;p=") + 392 + strlen(";s=email;t=s"));
	buf_wipe_deinit(&pem);
	buf_deinit(&txt);
}

/* load: the private key of a PEM buffer */
static EVP_PKEY *
load(const struct buf *pem)
{
	BIO *b = BIO_new_mem_buf(pem->data, (int)pem->len);
	EVP_PKEY *pk = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);

	BIO_free(b);
	return pk;
}

/* test_dkim_key_sound: the generated key passes OpenSSL's full check
 * (primality of p and q, n = pq, d e = 1 mod lcm, CRT values), is
 * 2048 bits, e = 65537, two primes, signs and verifies RSA-SHA256 as
 * DKIM does, and keys differ */
static void
test_dkim_key_sound(void **state)
{
	static const char msg[] = "from:a@example.org\r\nsubject:x\r\n";
	struct buf pem1 = BUF_INIT(16384), pem2 = BUF_INIT(16384);
	unsigned char sig[512];
	size_t siglen = sizeof(sig);
	EVP_PKEY *pk;
	EVP_PKEY_CTX *cc;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	BIGNUM *e = NULL, *f3 = NULL;

	(void)state;
	assert_int(keys_dkim_generate(2048, &pem1), 0);
	assert_int(keys_dkim_generate(2048, &pem2), 0);
	assert_true(pem1.len != pem2.len ||
		    memcmp(pem1.data, pem2.data, pem1.len) != 0);
	pk = load(&pem1);
	assert_non_null(pk);
	assert_int(EVP_PKEY_get_bits(pk), 2048);
	assert_int(EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_E, &e), 1);
	assert_int(BN_get_word(e), 65537);
	assert_int(EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_FACTOR3, &f3),
		   0);
	cc = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
	assert_int(EVP_PKEY_check(cc), 1);
	assert_int(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, pk), 1);
	assert_int(EVP_DigestSign(md, sig, &siglen, (const unsigned char *)msg,
				  strlen(msg)),
		   1);
	assert_int(siglen, 256);
	assert_int(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pk), 1);
	assert_int(EVP_DigestVerify(md, sig, siglen, (const unsigned char *)msg,
				    strlen(msg)),
		   1);
	sig[10] ^= 1;
	assert_int(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pk), 1);
	assert_int(EVP_DigestVerify(md, sig, siglen, (const unsigned char *)msg,
				    strlen(msg)),
		   0);
	BN_free(e);
	BN_free(f3);
	EVP_MD_CTX_free(md);
	EVP_PKEY_CTX_free(cc);
	EVP_PKEY_free(pk);
	buf_wipe_deinit(&pem1);
	buf_wipe_deinit(&pem2);
}

static void
test_dkim_refuses(void **state)
{
	struct buf cert = BUF_INIT(16384), key = BUF_INIT(16384),
		   txt = BUF_INIT(4096);

	(void)state;
	assert_int(keys_dkim_txt("garbage", 7, &txt), -EINVAL);
	/* an EC key is no DKIM rsa key */
	assert_int(keys_self_signed("x.example", 1, &cert, &key), 0);
	assert_int(keys_dkim_txt(key.data, key.len, &txt), -EINVAL);
	assert_int(txt.len, 0);
	buf_deinit(&cert);
	buf_wipe_deinit(&key);
	buf_deinit(&txt);
}

/* san_text: the certificate's subjectAltName printed by OpenSSL */
static void
san_text(const struct buf *cert, char *out, size_t outsize)
{
	BIO *in = BIO_new_mem_buf(cert->data, (int)cert->len);
	BIO *mem = BIO_new(BIO_s_mem());
	X509 *x = PEM_read_bio_X509(in, NULL, NULL, NULL);
	int idx = X509_get_ext_by_NID(x, NID_subject_alt_name, -1);
	char *p;
	long n;

	assert_non_null(x);
	assert_true(idx >= 0);
	assert_int(X509V3_EXT_print(mem, X509_get_ext(x, idx), 0, 0), 1);
	n = BIO_get_mem_data(mem, &p);
	(void)snprintf(out, outsize, "%.*s", (int)n, p);
	X509_free(x);
	BIO_free(in);
	BIO_free(mem);
}

static void
test_self_signed(void **state)
{
	struct buf cert = BUF_INIT(16384), key = BUF_INIT(16384);
	char san[512];

	(void)state;
	assert_int(keys_self_signed("chat.example.org", 36500, &cert, &key), 0);
	san_text(&cert, san, sizeof(san));
	assert_str(san, "DNS:chat.example.org, DNS:www.chat.example.org, "
			"DNS:mta-sts.chat.example.org");
	assert_non_null(strstr(buf_cstr(&key), "BEGIN PRIVATE KEY"));
	buf_reset(&cert);
	buf_reset(&key);
	assert_int(keys_self_signed("203.0.113.7", 30, &cert, &key), 0);
	san_text(&cert, san, sizeof(san));
	assert_str(san, "IP Address:203.0.113.7");
	buf_deinit(&cert);
	buf_wipe_deinit(&key);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dkim),
		cmocka_unit_test(test_dkim_key_sound),
		cmocka_unit_test(test_dkim_refuses),
		cmocka_unit_test(test_self_signed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
