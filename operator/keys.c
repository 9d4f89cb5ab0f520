/*
 * keys: DKIM key generation and its DNS record, and the self-signed
 * certificate of a SelfSigned relay, with OpenSSL 3's EVP API.
 *
 * Untrusted input: keys_dkim_txt parses a PEM key read from a Secret
 * (anyone allowed to edit Secrets in the relay's namespace may have
 * written it); a key OpenSSL cannot read is reported, not trusted.
 */
#include <errno.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
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

int
keys_dkim_generate(unsigned bits, struct buf *pem)
{
	EVP_PKEY *pk = EVP_RSA_gen(bits);
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
