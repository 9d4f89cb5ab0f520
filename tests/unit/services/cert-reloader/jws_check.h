/*
 * jws_check: OpenSSL's side of the ACME unit tests: base64url decoding
 * into heap strings, a JWK's P-256 point imported as a public key, and
 * the ES256 signature of a flattened JWS verified with
 * EVP_DigestVerify (the raw r || s turned back into DER), independent
 * of the client's signing code. Included by test_acme.c and
 * acme_fake.h.
 */
#ifndef TEST_JWS_CHECK_H
#define TEST_JWS_CHECK_H

static char *
dec(const char *s, size_t *len_r)
{
	uint8_t *out = calloc(1, strlen(s) + 1);
	int n = acme_b64url_decode(s, out, strlen(s));

	assert_true(n >= 0);
	if (len_r != NULL)
		*len_r = (size_t)n;
	return (char *)out;
}

/* jwk_key: the public key of a JWK (OpenSSL imports the point) */
static EVP_PKEY *
jwk_key(const cJSON *jwk)
{
	uint8_t pt[65] = { 4 };
	char *x = dec(cJSON_GetObjectItem(jwk, "x")->valuestring, NULL);
	char *y = dec(cJSON_GetObjectItem(jwk, "y")->valuestring, NULL);
	OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
	OSSL_PARAM *p;
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	EVP_PKEY *k = NULL;

	memcpy(pt + 1, x, 32);
	memcpy(pt + 33, y, 32);
	OSSL_PARAM_BLD_push_utf8_string(b, OSSL_PKEY_PARAM_GROUP_NAME,
					"prime256v1", 0);
	OSSL_PARAM_BLD_push_octet_string(b, OSSL_PKEY_PARAM_PUB_KEY, pt, 65);
	p = OSSL_PARAM_BLD_to_param(b);
	assert_int(EVP_PKEY_fromdata_init(c), 1);
	assert_int(EVP_PKEY_fromdata(c, &k, EVP_PKEY_PUBLIC_KEY, p), 1);
	OSSL_PARAM_free(p);
	OSSL_PARAM_BLD_free(b);
	EVP_PKEY_CTX_free(c);
	free(x);
	free(y);
	return k;
}

/* jws_verifies: whether OpenSSL accepts the ES256 signature of the
 * flattened JWS under k */
static int
jws_verifies(const cJSON *jws, EVP_PKEY *k)
{
	const char *prot = cJSON_GetObjectItem(jws, "protected")->valuestring;
	const char *pay = cJSON_GetObjectItem(jws, "payload")->valuestring;
	size_t n, inlen = strlen(prot) + strlen(pay) + 2;
	char *raw = dec(cJSON_GetObjectItem(jws, "signature")->valuestring, &n);
	char *in = calloc(1, inlen);
	ECDSA_SIG *es = ECDSA_SIG_new();
	uint8_t *der = NULL;
	int dl, ok;
	EVP_MD_CTX *md = EVP_MD_CTX_new();

	assert_int(n, 64);
	ECDSA_SIG_set0(es, BN_bin2bn((uint8_t *)raw, 32, NULL),
		       BN_bin2bn((uint8_t *)raw + 32, 32, NULL));
	dl = i2d_ECDSA_SIG(es, &der);
	(void)snprintf(in, inlen, "%s.%s", prot, pay);
	ok = EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, k) == 1 &&
	     EVP_DigestVerify(md, der, (size_t)dl, (uint8_t *)in, strlen(in)) ==
		     1;
	EVP_MD_CTX_free(md);
	OPENSSL_free(der);
	ECDSA_SIG_free(es);
	free(in);
	free(raw);
	return ok;
}

/* verify: OpenSSL must accept the ES256 signature of the flattened JWS
 * (inline: not every includer uses it) */
static inline void
verify(const cJSON *jws, EVP_PKEY *k)
{
	assert_true(jws_verifies(jws, k));
}

#endif
