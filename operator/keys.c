/*
 * keys: DKIM key generation and its DNS record, and the self-signed
 * certificate of a SelfSigned relay, with OpenSSL 3's EVP API.
 *
 * RSA keys: OpenSSL 3.0 (Debian 12) generates 2-prime keys of 2048 bits
 * and up with e = 65537 by SP 800-56B, whose prime derivation spends
 * most of its time in constant-time gcds: 326 ms of CPU per key here,
 * against 105 ms for the two primes of the classic method (what
 * OpenSSL 1.1.1 used for every key and 3.0 still uses for other
 * sizes), measured over 20 keys each. With one key per new relay that
 * was most of the operator's work at scale, so the key is assembled
 * here from two BN_generate_prime_ex primes, with the checks of FIPS
 * 186-4 B.3.1 that matter (gcd(e, p-1) = gcd(e, q-1) = 1, n of exactly
 * the size asked, |p - q| > 2^(bits/2 - 100), d > 2^(bits/2)), then
 * verified by OpenSSL's pairwise check before it is written.
 *
 * Untrusted input: keys_dkim_txt parses a PEM key read from a Secret
 * (anyone allowed to edit Secrets in the relay's namespace may have
 * written it); a key OpenSSL cannot read is reported, not trusted.
 */
#include <errno.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "keys.h"
#include "util.h"
#include "xmalloc.h"

/* bio_to_buf: append a memory BIO's contents */
static int
bio_to_buf(BIO *bio, struct buf *out)
{
	char *p;
	long n = BIO_get_mem_data(bio, &p);

	if (n < 0)
		return -EIO;
	return buf_append(out, p, (size_t)n);
}

/* good_prime: p (of bits bits) with gcd(e, p - 1) = 1 */
static int
good_prime(BIGNUM *p, int bits, const BIGNUM *e, BIGNUM *t, BN_CTX *ctx)
{
	int i;

	for (i = 0; i < 100; i++) {
		if (!BN_generate_prime_ex2(p, bits, 0, NULL, NULL, NULL, ctx) ||
		    !BN_sub(t, p, BN_value_one()) || !BN_gcd(t, t, e, ctx))
			return 0;
		if (BN_is_one(t))
			return 1;
	}
	return 0;
}

/* rsa_factors: p, q, n, d for a key of bits bits and exponent e, as
 * FIPS 186-4 B.3.1 wants them (see the top); 1, or 0 on failure */
static int
rsa_factors(BIGNUM *f[8], int bits, BN_CTX *ctx)
{
	BIGNUM *n = f[0], *e = f[1], *d = f[2], *p = f[3], *q = f[4];
	BIGNUM *t = f[5], *u = f[6], *l = f[7];
	int i, half = bits / 2;

	if (!BN_set_word(e, RSA_F4))
		return 0;
	for (i = 0; i < 10; i++) {
		if (!good_prime(p, half, e, t, ctx) ||
		    !good_prime(q, bits - half, e, t, ctx) ||
		    !BN_mul(n, p, q, ctx) || !BN_sub(t, p, q))
			return 0;
		if (BN_num_bits(n) != bits || BN_num_bits(t) <= half - 100)
			continue;
		/* d = e^-1 mod lcm(p - 1, q - 1) */
		BN_set_flags(t, BN_FLG_CONSTTIME);
		BN_set_flags(u, BN_FLG_CONSTTIME);
		BN_set_flags(l, BN_FLG_CONSTTIME);
		if (!BN_sub(t, p, BN_value_one()) ||
		    !BN_sub(u, q, BN_value_one()) || !BN_mul(l, t, u, ctx) ||
		    !BN_gcd(t, t, u, ctx) || !BN_div(l, NULL, l, t, ctx) ||
		    BN_mod_inverse(d, e, l, ctx) == NULL)
			return 0;
		if (BN_num_bits(d) > half)
			return 1;
	}
	return 0;
}

/* rsa_params: the key's parameters (n e d p q dp dq qinv) */
static OSSL_PARAM *
rsa_params(BIGNUM *f[8], BN_CTX *ctx)
{
	BIGNUM *dp = BN_CTX_get(ctx), *dq = BN_CTX_get(ctx),
	       *qi = BN_CTX_get(ctx), *t = f[5];
	OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;

	if (b == NULL || qi == NULL || !BN_sub(t, f[3], BN_value_one()) ||
	    !BN_mod(dp, f[2], t, ctx) || !BN_sub(t, f[4], BN_value_one()) ||
	    !BN_mod(dq, f[2], t, ctx) ||
	    BN_mod_inverse(qi, f[4], f[3], ctx) == NULL)
		goto out;
	if (OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_N, f[0]) &&
	    OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_E, f[1]) &&
	    OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_D, f[2]) &&
	    OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_FACTOR1, f[3]) &&
	    OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_FACTOR2, f[4]) &&
	    OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_EXPONENT1, dp) &&
	    OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_EXPONENT2, dq) &&
	    OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_COEFFICIENT1, qi))
		params = OSSL_PARAM_BLD_to_param(b);
out:
	OSSL_PARAM_BLD_free(b);
	return params;
}

/* rsa_generate: a new RSA key (see the top), checked; NULL on failure */
static EVP_PKEY *
rsa_generate(int bits)
{
	BN_CTX *ctx = BN_CTX_secure_new();
	EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	EVP_PKEY_CTX *cc = NULL;
	EVP_PKEY *pk = NULL;
	OSSL_PARAM *params = NULL;
	BIGNUM *f[8];
	int i, ok = 0;

	if (ctx == NULL || pc == NULL)
		goto out;
	BN_CTX_start(ctx);
	for (i = 0; i < 8; i++)
		f[i] = BN_CTX_get(ctx);
	if (f[7] == NULL || !rsa_factors(f, bits, ctx) ||
	    (params = rsa_params(f, ctx)) == NULL ||
	    EVP_PKEY_fromdata_init(pc) != 1 ||
	    EVP_PKEY_fromdata(pc, &pk, EVP_PKEY_KEYPAIR, params) != 1)
		goto out;
	cc = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
	ok = cc != NULL && EVP_PKEY_pairwise_check(cc) == 1 &&
	     EVP_PKEY_get_bits(pk) == bits;
out:
	OSSL_PARAM_free(params); /* the secure part is cleared */
	EVP_PKEY_CTX_free(cc);
	EVP_PKEY_CTX_free(pc);
	if (ctx != NULL)
		BN_CTX_end(ctx); /* a secure context clears its numbers */
	BN_CTX_free(ctx);
	if (!ok) {
		EVP_PKEY_free(pk);
		pk = NULL;
	}
	return pk;
}

int
keys_dkim_generate(unsigned bits, struct buf *pem)
{
	EVP_PKEY *pk = bits >= 2048 && bits <= 16384 && bits % 2 == 0
			       ? rsa_generate((int)bits)
			       : EVP_RSA_gen(bits);
	BIO *bio = NULL;
	int r = -EIO;

	if (pk == NULL)
		goto out;
	bio = BIO_new(BIO_s_mem());
	if (bio == NULL ||
	    !PEM_write_bio_PrivateKey(bio, pk, NULL, NULL, 0, NULL, NULL))
		goto out;
	r = bio_to_buf(bio, pem);
out:
	BIO_free_all(bio); /* clears the key material it held */
	EVP_PKEY_free(pk);
	return r;
}

int
keys_dkim_txt(const char *pem, size_t len, struct buf *out)
{
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	EVP_PKEY *pk = NULL;
	unsigned char *der = NULL;
	int n, r = -EINVAL;

	if (bio == NULL || len > 65536)
		goto out;
	pk = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	if (pk == NULL || EVP_PKEY_get_base_id(pk) != EVP_PKEY_RSA)
		goto out;
	n = i2d_PUBKEY(pk, &der);
	if (n <= 0)
		goto out;
	r = buf_puts(out, "v=DKIM1;k=rsa;p=");
	if (r == 0)
		r = util_b64_encode(der, (size_t)n, out);
	if (r == 0)
		r = buf_puts(out, ";s=email;t=s");
out:
	OPENSSL_free(der);
	EVP_PKEY_free(pk);
	BIO_free(bio);
	return r;
}

/* is_ipv4: a dotted quad (an IP relay's "domain") */
static int
is_ipv4(const char *s)
{
	return strspn(s, "0123456789.") == strlen(s) && strchr(s, '.');
}

/* add_ext: one X.509v3 extension from its config string */
static int
add_ext(X509 *x, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ex;
	int ok;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	ex = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (ex == NULL)
		return 0;
	ok = X509_add_ext(x, ex, -1);
	X509_EXTENSION_free(ex);
	return ok;
}

/* fill_cert: subject, validity, SANs and serial of a new certificate */
static int
fill_cert(X509 *x, EVP_PKEY *pk, const char *domain, unsigned days)
{
	unsigned char serial[16];
	BIGNUM *bn = NULL;
	char *san;
	int ok;

	if (RAND_bytes(serial, sizeof(serial)) != 1)
		return 0;
	serial[0] &= 0x7f; /* positive */
	bn = BN_bin2bn(serial, sizeof(serial), NULL);
	ok = bn != NULL && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
	BN_free(bn);
	ok = ok && X509_set_version(x, 2) &&
	     X509_gmtime_adj(X509_getm_notBefore(x), 0) &&
	     X509_gmtime_adj(X509_getm_notAfter(x), (long)days * 86400) &&
	     X509_set_pubkey(x, pk) &&
	     X509_NAME_add_entry_by_txt(
		     X509_get_subject_name(x), "CN", MBSTRING_ASC,
		     (const unsigned char *)domain, -1, -1, 0) &&
	     X509_set_issuer_name(x, X509_get_subject_name(x));
	if (!ok)
		return 0;
	san = is_ipv4(domain) ? xasprintf("IP:%s", domain)
			      : xasprintf("DNS:%s,DNS:www.%s,DNS:mta-sts.%s",
					  domain, domain, domain);
	ok = add_ext(x, NID_subject_alt_name, san) &&
	     add_ext(x, NID_basic_constraints, "critical,CA:FALSE") &&
	     add_ext(x, NID_ext_key_usage, "serverAuth");
	free(san);
	return ok;
}

int
keys_self_signed(const char *domain, unsigned days, struct buf *cert,
		 struct buf *key)
{
	EVP_PKEY *pk = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	BIO *cb = BIO_new(BIO_s_mem()), *kb = BIO_new(BIO_s_mem());
	int r = -EIO;

	if (pk == NULL || x == NULL || cb == NULL || kb == NULL ||
	    !fill_cert(x, pk, domain, days) || !X509_sign(x, pk, EVP_sha256()))
		goto out;
	if (!PEM_write_bio_X509(cb, x) ||
	    !PEM_write_bio_PrivateKey(kb, pk, NULL, NULL, 0, NULL, NULL))
		goto out;
	r = bio_to_buf(cb, cert);
	if (r == 0)
		r = bio_to_buf(kb, key);
out:
	BIO_free_all(cb);
	BIO_free_all(kb);
	X509_free(x);
	EVP_PKEY_free(pk);
	return r;
}

int
keys_turn_secret(struct buf *out)
{
	unsigned char raw[32], b64[48];
	int n, r = -EIO;

	if (RAND_bytes(raw, sizeof(raw)) == 1) {
		n = EVP_EncodeBlock(b64, raw, sizeof(raw));
		if (n == 44 && buf_append(out, b64, (size_t)n) == 0)
			r = 0;
	}
	OPENSSL_cleanse(raw, sizeof(raw));
	OPENSSL_cleanse(b64, sizeof(b64));
	return r;
}
