/*
 * acme_jws: the ACME client's cryptography (see acme.h): ECDSA P-256
 * keys (made, stored, loaded), base64url, the JWK and its RFC 7638
 * thumbprint, flattened JWS objects signed with ES256 (the signature as
 * the raw r || s pair RFC 7518 wants, not OpenSSL's DER), the external
 * account binding (HS256) and the CSR.
 *
 * Untrusted input: the key file (parsed by OpenSSL, refused unless it is
 * a P-256 key) and the base64url EAB secret (bounded decode).
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "acme.h"
#include "fs.h"
#include "xmalloc.h"

static const char b64url_chars[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int
acme_b64url(const void *p, size_t n, struct buf *out)
{
	const uint8_t *s = p;
	uint32_t v;
	size_t i;
	int r = 0;

	for (i = 0; i + 2 < n && r == 0; i += 3) {
		v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
		r |= buf_putc(out, b64url_chars[v >> 18 & 63]);
		r |= buf_putc(out, b64url_chars[v >> 12 & 63]);
		r |= buf_putc(out, b64url_chars[v >> 6 & 63]);
		r |= buf_putc(out, b64url_chars[v & 63]);
	}
	if (r == 0 && i < n) {
		v = (uint32_t)s[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)s[i + 1] << 8;
		r |= buf_putc(out, b64url_chars[v >> 18 & 63]);
		r |= buf_putc(out, b64url_chars[v >> 12 & 63]);
		if (i + 1 < n)
			r |= buf_putc(out, b64url_chars[v >> 6 & 63]);
	}
	return r ? -E2BIG : 0;
}

int
acme_b64url_decode(const char *s, uint8_t *out, size_t outsize)
{
	uint32_t v = 0;
	size_t n = 0, bits = 0;
	const char *c;

	for (; *s != '\0' && *s != '='; s++) {
		c = strchr(b64url_chars, *s);
		if (c == NULL)
			return -EINVAL;
		v = v << 6 | (uint32_t)(c - b64url_chars);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n == outsize)
				return -EINVAL;
			out[n++] = (uint8_t)(v >> bits);
		}
	}
	return bits >= 6 ? -EINVAL : (int)n;
}

EVP_PKEY *
acme_key_new(void)
{
	return EVP_EC_gen("P-256");
}

int
acme_key_pem(EVP_PKEY *key, struct buf *out)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p;
	long n;
	int r = -EINVAL;

	if (b != NULL &&
	    PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL) == 1) {
		n = BIO_get_mem_data(b, &p);
		r = buf_append(out, p, (size_t)n);
	}
	BIO_free(b);
	return r;
}

/* is_p256: an EC key on P-256 */
static int
is_p256(EVP_PKEY *key)
{
	char group[64];

	return EVP_PKEY_get_base_id(key) == EVP_PKEY_EC &&
	       EVP_PKEY_get_group_name(key, group, sizeof(group), NULL) == 1 &&
	       strcmp(group, "prime256v1") == 0;
}

/* key_create: a new key written to path with mode 0600 */
static int
key_create(const char *path, EVP_PKEY **key_r, struct buf *err)
{
	struct buf pem = BUF_INIT(16384);
	EVP_PKEY *k = acme_key_new();
	int r;

	if (k == NULL || acme_key_pem(k, &pem) < 0) {
		(void)buf_printf(err, "cannot make a P-256 key");
		r = -EINVAL;
		goto out;
	}
	r = fs_write_atomic(path, pem.data, pem.len, 0600, 1);
	if (r < 0) {
		(void)buf_printf(err, "%s: %s", path, strerror(-r));
		goto out;
	}
	*key_r = k;
	k = NULL; /* transferred */
out:
	EVP_PKEY_free(k);
	buf_wipe_deinit(&pem);
	return r;
}

int
acme_key_load(const char *path, int create, EVP_PKEY **key_r, int *created_r,
	      struct buf *err)
{
	struct buf pem = BUF_INIT(16384);
	EVP_PKEY *k = NULL;
	BIO *b = NULL;
	int r;

	*key_r = NULL;
	if (created_r != NULL)
		*created_r = 0;
	r = fs_read_file(path, &pem);
	if (r == -ENOENT && create) {
		buf_wipe_deinit(&pem);
		r = key_create(path, key_r, err);
		if (r == 0 && created_r != NULL)
			*created_r = 1;
		return r;
	}
	if (r < 0) {
		(void)buf_printf(err, "%s: %s", path, strerror(-r));
		goto out;
	}
	b = BIO_new_mem_buf(pem.data, (int)pem.len);
	k = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
	if (k == NULL || !is_p256(k)) {
		(void)buf_printf(err, "%s: not an EC P-256 private key", path);
		r = -EINVAL;
		goto out;
	}
	*key_r = k;
	k = NULL; /* transferred */
out:
	BIO_free(b);
	EVP_PKEY_free(k);
	buf_wipe_deinit(&pem);
	return r;
}

/* coord: one public coordinate, 32 bytes big-endian, base64url */
static int
coord(EVP_PKEY *key, const char *param, struct buf *out)
{
	BIGNUM *bn = NULL;
	uint8_t raw[32];
	int r = -EINVAL;

	if (EVP_PKEY_get_bn_param(key, param, &bn) == 1 &&
	    BN_bn2binpad(bn, raw, sizeof(raw)) == (int)sizeof(raw))
		r = acme_b64url(raw, sizeof(raw), out);
	BN_free(bn);
	return r;
}

/* jwk_text: the JWK in RFC 7638's canonical form (members sorted, no
 * spaces): the thumbprint's input and the JWK itself */
static int
jwk_text(EVP_PKEY *key, struct buf *out)
{
	struct buf x = BUF_INIT(64), y = BUF_INIT(64);
	int r = -EINVAL;

	if (is_p256(key) && coord(key, OSSL_PKEY_PARAM_EC_PUB_X, &x) == 0 &&
	    coord(key, OSSL_PKEY_PARAM_EC_PUB_Y, &y) == 0)
		r = buf_printf(out,
			       "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%s\","
			       "\"y\":\"%s\"}",
			       x.data, y.data);
	buf_deinit(&x);
	buf_deinit(&y);
	return r < 0 ? -EINVAL : 0;
}

cJSON *
acme_jwk(EVP_PKEY *key)
{
	struct buf t = BUF_INIT(512);
	cJSON *j = NULL;

	if (jwk_text(key, &t) == 0)
		j = cJSON_Parse(t.data);
	buf_deinit(&t);
	return j;
}

int
acme_thumbprint(EVP_PKEY *key, struct buf *out)
{
	struct buf t = BUF_INIT(512);
	uint8_t md[32];
	unsigned mdlen = 0;
	int r = -EINVAL;

	if (jwk_text(key, &t) == 0 &&
	    EVP_Digest(t.data, t.len, md, &mdlen, EVP_sha256(), NULL) == 1)
		r = acme_b64url(md, mdlen, out);
	buf_deinit(&t);
	return r;
}

/* es256: the raw r || s signature of in */
static int
es256(EVP_PKEY *key, const char *in, size_t len, uint8_t sig[64])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	uint8_t der[80];
	size_t dlen = sizeof(der);
	const uint8_t *p = der;
	ECDSA_SIG *es = NULL;
	const BIGNUM *r, *s;
	int rc = -EINVAL;

	if (md == NULL ||
	    EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
	    EVP_DigestSign(md, der, &dlen, (const uint8_t *)in, len) != 1)
		goto out;
	es = d2i_ECDSA_SIG(NULL, &p, (long)dlen);
	if (es == NULL)
		goto out;
	ECDSA_SIG_get0(es, &r, &s);
	if (BN_bn2binpad(r, sig, 32) == 32 &&
	    BN_bn2binpad(s, sig + 32, 32) == 32)
		rc = 0;
out:
	ECDSA_SIG_free(es);
	EVP_MD_CTX_free(md);
	return rc;
}

/* flatten: {"protected","payload","signature"} from the header, the
 * payload and a signer (ES256 with key, or HS256 with hmac) */
static int
flatten(const char *hdr, const char *payload, EVP_PKEY *key,
	const uint8_t *hmac, size_t hmac_len, struct buf *out)
{
	struct buf in = BUF_INIT(ACME_BODY_MAX);
	uint8_t sig[64];
	unsigned slen = 32;
	size_t plen;
	int r;

	r = acme_b64url(hdr, strlen(hdr), &in);
	r |= buf_putc(&in, '.');
	plen = in.len;
	r |= acme_b64url(payload, strlen(payload), &in);
	if (r != 0)
		goto out;
	if (key != NULL)
		r = es256(key, in.data, in.len, sig);
	else if (HMAC(EVP_sha256(), hmac, (int)hmac_len,
		      (const uint8_t *)in.data, in.len, sig, &slen) == NULL)
		r = -EINVAL;
	if (r != 0)
		goto out;
	r = buf_printf(out,
		       "{\"protected\":\"%.*s\",\"payload\":\"%s\","
		       "\"signature\":\"",
		       (int)(plen - 1), in.data, in.data + plen);
	r |= acme_b64url(sig, key != NULL ? 64 : slen, out);
	r |= buf_puts(out, "\"}");
out:
	buf_deinit(&in);
	return r < 0 ? -EINVAL : 0;
}

int
acme_jws(EVP_PKEY *key, const char *kid, const char *nonce, const char *url,
	 const char *payload, struct buf *out)
{
	cJSON *h = cJSON_CreateObject();
	char *hdr;
	int r;

	cJSON_AddStringToObject(h, "alg", "ES256");
	if (kid != NULL)
		cJSON_AddStringToObject(h, "kid", kid);
	else
		cJSON_AddItemToObject(h, "jwk", acme_jwk(key));
	cJSON_AddStringToObject(h, "nonce", nonce);
	cJSON_AddStringToObject(h, "url", url);
	hdr = cJSON_PrintUnformatted(h);
	cJSON_Delete(h);
	if (hdr == NULL)
		return -ENOMEM;
	r = flatten(hdr, payload, key, NULL, 0, out);
	cJSON_free(hdr);
	return r;
}

cJSON *
acme_eab(EVP_PKEY *acct, const char *kid, const uint8_t *hmac, size_t hmac_len,
	 const char *url)
{
	struct buf jwk = BUF_INIT(512), out = BUF_INIT(4096);
	cJSON *h = cJSON_CreateObject(), *res = NULL;
	char *hdr = NULL;

	cJSON_AddStringToObject(h, "alg", "HS256");
	cJSON_AddStringToObject(h, "kid", kid);
	cJSON_AddStringToObject(h, "url", url);
	hdr = cJSON_PrintUnformatted(h);
	if (hdr != NULL && jwk_text(acct, &jwk) == 0 &&
	    flatten(hdr, jwk.data, NULL, hmac, hmac_len, &out) == 0)
		res = cJSON_Parse(out.data);
	cJSON_free(hdr);
	cJSON_Delete(h);
	buf_deinit(&jwk);
	buf_deinit(&out);
	return res;
}

/* csr_names: the subjectAltName extension and CN of the request */
static int
csr_names(X509_REQ *req, char names[][ACME_NAME_MAX + 1], size_t n)
{
	struct buf san = BUF_INIT(ACME_MAX_NAMES * (ACME_NAME_MAX + 8));
	STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
	X509_EXTENSION *ext = NULL;
	X509_NAME *subj = X509_REQ_get_subject_name(req);
	size_t i;
	int r = 0;

	for (i = 0; i < n; i++)
		r |= buf_printf(&san, "%sDNS:%s", i ? "," : "", names[i]);
	if (r == 0 && strlen(names[0]) <= 64)
		r = X509_NAME_add_entry_by_txt(subj, "CN", MBSTRING_ASC,
					       (const uint8_t *)names[0], -1,
					       -1, 0) == 1
			    ? 0
			    : -EINVAL;
	if (r == 0)
		ext = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name,
					  san.data);
	if (r != 0 || exts == NULL || ext == NULL ||
	    sk_X509_EXTENSION_push(exts, ext) == 0)
		r = -EINVAL;
	else
		ext = NULL; /* transferred */
	if (r == 0 && X509_REQ_add_extensions(req, exts) != 1)
		r = -EINVAL;
	X509_EXTENSION_free(ext);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	buf_deinit(&san);
	return r;
}

int
acme_csr(EVP_PKEY *key, char names[][ACME_NAME_MAX + 1], size_t n,
	 struct buf *out)
{
	X509_REQ *req = X509_REQ_new();
	uint8_t *der = NULL;
	int len, r = -EINVAL;

	if (req == NULL || n == 0 || csr_names(req, names, n) < 0 ||
	    X509_REQ_set_pubkey(req, key) != 1 ||
	    X509_REQ_sign(req, key, EVP_sha256()) <= 0)
		goto out;
	len = i2d_X509_REQ(req, &der);
	if (len > 0)
		r = acme_b64url(der, (size_t)len, out);
out:
	OPENSSL_free(der);
	X509_REQ_free(req);
	return r;
}
