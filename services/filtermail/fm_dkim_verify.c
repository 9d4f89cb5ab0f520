/*
 * fm_dkim_verify: verify one DKIM-Signature against its key record.
 *
 * Role: the cryptographic half of filtermail's origin check (fm_policy.c
 * finds the signatures, fetches the keys and applies strict alignment).
 * Untrusted input: the message, the signature field and the key record.
 * Policy as upstream's viadkim defaults: rsa-sha256 with keys of at
 * least 1024 bits and ed25519-sha256 (RFC 8463: the key signs the SHA-256
 * of the canonical headers); expired (x=) signatures and timestamps (t=)
 * in the future fail, with FM_DKIM_SKEW seconds of tolerance; t=s keys
 * need i= in exactly d=; l= limits the hashed body and must not exceed it.
 * Parsed public keys are kept in a small cache (see key_cache below).
 */
#include <errno.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "fm_dkim.h"

/*
 * Parsed public keys, by their bytes. Decoding an RSA SubjectPublicKeyInfo
 * through OpenSSL 3's decoders costs ~0.6 ms, several times the RSA
 * verification itself, and incoming mail comes from few domains: keep
 * the last FM_DKIM_KEY_CACHE keys. A hit needs the identical bytes, so
 * it can only return the key the record names. Process-wide (filtermail
 * is single-threaded); least recently used out.
 */
#define KEY_CACHE_DER_MAX 1100 /* an RSA-8192 SubjectPublicKeyInfo */

static struct key_slot {
	EVP_PKEY *pk;
	uint64_t used;
	size_t len;
	int ed25519;
	unsigned char der[KEY_CACHE_DER_MAX];
} key_cache[FM_DKIM_KEY_CACHE];
static uint64_t key_clock;
static size_t key_hits;

/* parse_pubkey: the key record's p= as an EVP_PKEY, or NULL */
static EVP_PKEY *
parse_pubkey(const struct fm_dkim_key *key)
{
	const unsigned char *p = key->p;
	EVP_PKEY *pk;

	if (key->ed25519)
		return key->plen == 32
			       ? EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519,
							     NULL, key->p,
							     key->plen)
			       : NULL;
	/* SubjectPublicKeyInfo as RFC 6376 says, or a bare RSAPublicKey */
	pk = d2i_PUBKEY(NULL, &p, (long)key->plen);
	if (pk == NULL) {
		p = key->p;
		pk = d2i_PublicKey(EVP_PKEY_RSA, NULL, &p, (long)key->plen);
	}
	if (pk != NULL && EVP_PKEY_get_base_id(pk) != EVP_PKEY_RSA) {
		EVP_PKEY_free(pk);
		pk = NULL;
	}
	return pk;
}

/* load_pubkey: the parsed key from the cache or freshly parsed (and
 * then cached); a reference the caller frees, or NULL */
static EVP_PKEY *
load_pubkey(const struct fm_dkim_key *key)
{
	struct key_slot *s, *old = &key_cache[0];
	EVP_PKEY *pk;
	size_t i;

	for (i = 0; i < FM_DKIM_KEY_CACHE; i++) {
		s = &key_cache[i];
		if (s->pk != NULL && s->ed25519 == key->ed25519 &&
		    s->len == key->plen &&
		    memcmp(s->der, key->p, s->len) == 0 &&
		    EVP_PKEY_up_ref(s->pk) == 1) {
			s->used = ++key_clock;
			key_hits++;
			return s->pk;
		}
		if (s->used < old->used)
			old = s;
	}
	pk = parse_pubkey(key);
	if (pk == NULL || key->plen > sizeof(old->der) ||
	    EVP_PKEY_up_ref(pk) != 1)
		return pk;
	EVP_PKEY_free(old->pk);
	old->pk = pk;
	old->ed25519 = key->ed25519;
	old->len = key->plen;
	old->used = ++key_clock;
	memcpy(old->der, key->p, key->plen);
	return pk;
}

void
fm_dkim_key_cache_clear(void)
{
	size_t i;

	for (i = 0; i < FM_DKIM_KEY_CACHE; i++)
		EVP_PKEY_free(key_cache[i].pk);
	memset(key_cache, 0, sizeof(key_cache));
	key_clock = 0;
	key_hits = 0;
}

size_t
fm_dkim_key_cache_hits(void)
{
	return key_hits;
}

/* check_crypto: the signature over the header hash hh; 1 good, 0 bad,
 * -1 unusable key */
static int
check_crypto(const struct fm_dkim_key *key, const unsigned char *sig,
	     size_t siglen, const unsigned char hh[32], struct buf *err)
{
	EVP_PKEY *pk = load_pubkey(key);
	EVP_PKEY_CTX *pctx = NULL;
	EVP_MD_CTX *mctx = NULL;
	int rc = -1;

	if (pk == NULL) {
		(void)buf_puts(err, "unusable public key");
		goto out;
	}
	if (key->ed25519) {
		mctx = EVP_MD_CTX_new();
		if (mctx == NULL ||
		    EVP_DigestVerifyInit(mctx, NULL, NULL, NULL, pk) != 1)
			goto out;
		rc = EVP_DigestVerify(mctx, sig, siglen, hh, 32) == 1;
		goto out;
	}
	if (EVP_PKEY_get_bits(pk) < 1024) {
		(void)buf_puts(err, "RSA key shorter than 1024 bits");
		goto out;
	}
	pctx = EVP_PKEY_CTX_new(pk, NULL);
	if (pctx == NULL || EVP_PKEY_verify_init(pctx) != 1 ||
	    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1 ||
	    EVP_PKEY_CTX_set_signature_md(pctx, EVP_sha256()) != 1)
		goto out;
	rc = EVP_PKEY_verify(pctx, sig, siglen, hh, 32) == 1;
out:
	EVP_PKEY_CTX_free(pctx);
	EVP_MD_CTX_free(mctx);
	EVP_PKEY_free(pk);
	return rc;
}

/* check_policy: key and time rules before any hashing; 0 or -1 */
static int
check_policy(const struct fm_dkim_sig *sig, const struct fm_dkim_key *key,
	     time_t now, struct buf *err)
{
	if (key->revoked)
		return buf_puts(err, "key revoked"), -1;
	if (key->ed25519 != (sig->alg == FM_ALG_ED25519_SHA256))
		return buf_puts(err, "key type does not match a="), -1;
	if (key->strict && strcmp(sig->i_domain, sig->d) != 0)
		return buf_puts(err, "t=s key but i= is a subdomain"), -1;
	if (sig->has_x && (int64_t)now > sig->x + FM_DKIM_SKEW)
		return buf_puts(err, "signature expired"), -1;
	if (sig->has_t && sig->t > (int64_t)now + FM_DKIM_SKEW)
		return buf_puts(err, "signature timestamp in the future"), -1;
	return 0;
}

enum fm_dkim_result
fm_dkim_verify_sig(const struct fm_dkim_sig *sig, const char *hdr, size_t hlen,
		   const char *body, size_t blen, const char *txt,
		   size_t txtlen, time_t now, struct buf *err)
{
	unsigned char bh[32], want[64], hh[32], sigbytes[1024];
	enum fm_dkim_result res = FM_DKIM_PERMERROR;
	struct fm_dkim_key key;
	uint64_t total = 0;
	int n, siglen;

	if (fm_dkim_parse_key(txt, txtlen, &key, err) < 0)
		return FM_DKIM_PERMERROR;
	if (check_policy(sig, &key, now, err) < 0)
		goto out;
	n = fm_dkim_b64(sig->bh.p, sig->bh.n, want, sizeof(want));
	siglen = fm_dkim_b64(sig->b.p, sig->b.n, sigbytes, sizeof(sigbytes));
	if (n != 32 || siglen <= 0) {
		(void)buf_puts(err, "bad base64 in b= or bh=");
		goto out;
	}
	res = FM_DKIM_FAIL;
	if (fm_dkim_body_hash(body, blen, sig->bcanon,
			      sig->has_l ? sig->l : UINT64_MAX, bh,
			      &total) < 0 ||
	    (sig->has_l && total < sig->l)) {
		(void)buf_puts(err, "body shorter than l=");
		goto out;
	}
	if (memcmp(bh, want, 32) != 0) {
		(void)buf_puts(err, "body hash did not verify");
		goto out;
	}
	if (fm_dkim_header_hash(hdr, hlen, sig->hnames, sig->nhnames,
				sig->field.p, sig->field.n, sig->hcanon,
				hh) < 0)
		goto out;
	switch (check_crypto(&key, sigbytes, (size_t)siglen, hh, err)) {
	case 1:
		res = FM_DKIM_PASS;
		break;
	case 0:
		(void)buf_puts(err, "signature did not verify");
		break;
	default:
		res = FM_DKIM_PERMERROR;
		break;
	}
out:
	fm_dkim_key_clear(&key);
	return res;
}
