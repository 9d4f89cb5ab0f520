/*
 * fm_dkim: DKIM (RFC 6376) signing and verification for filtermail.
 *
 * Signing replaces upstream's OpenDKIM milter (docs/UPSTREAM.md, DKIM):
 * rsa-sha256, c=relaxed/simple, OpenDKIM's "SignHeaders
 * *,+autocrypt,+content-type" (libopendkim's RFC 6376 §5.4 list plus
 * autocrypt and content-type, every instance present, in message order)
 * and "OversignHeaders from,reply-to,
 * subject,date,to,cc,resent-*,in-reply-to,references,list-*,autocrypt"
 * (each entry appended to h= once more, verbatim, as libopendkim does).
 * Verification replaces upstream's viadkim: rsa-sha256 and
 * ed25519-sha256 (rsa-sha1 refused, RFC 8301), RSA keys of at least 1024
 * bits, simple and relaxed canonicalization, l= honoured (content past
 * it unsigned), x= expiry and t= in the future checked with 30 s of
 * clock skew, From required in h=, key records with v=, k=, h=, s=, t=s
 * and revoked keys.
 *
 * Everything here is synchronous and pure (no DNS): fm_policy.c fetches
 * key records and calls fm_dkim_verify_sig() per signature. Canonical
 * forms are streamed into SHA-256 through a fixed staging buffer, so a
 * 30 MB body is one linear pass with no allocation. Untrusted input: the
 * message, its DKIM-Signature fields, and key records from DNS.
 */
#ifndef FM_DKIM_H
#define FM_DKIM_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "buf.h"

enum fm_canon {
	FM_CANON_SIMPLE,
	FM_CANON_RELAXED,
};

enum fm_dkim_alg {
	FM_ALG_RSA_SHA256,
	FM_ALG_ED25519_SHA256,
};

#define FM_DKIM_MAX_SIGS 10   /* signatures looked at per message */
#define FM_DKIM_MAX_HNAMES 64 /* names in one h= */
#define FM_DKIM_SKEW 30	      /* seconds of clock skew tolerated */

/* a slice of the message or of a tag value */
struct fm_slice {
	const char *p;
	size_t n;
};

/* one parsed DKIM-Signature field; slices point into the message */
struct fm_dkim_sig {
	struct fm_slice field; /* the whole raw field, name to CRLF */
	enum fm_dkim_alg alg;
	enum fm_canon hcanon, bcanon;
	char d[256];		  /* signing domain, lowercased */
	char s[64];		  /* selector */
	char i_domain[256];	  /* domain of i= (d when absent), lowercased */
	struct fm_slice h, b, bh; /* raw tag values (FWS inside) */
	size_t nhnames;
	struct fm_slice hnames[FM_DKIM_MAX_HNAMES];
	int has_l;
	uint64_t l;
	int has_t, has_x;
	int64_t t, x;
};

/* fm_dkim_parse_sig: parse the value of a DKIM-Signature field strictly
 * (tag-list syntax, no duplicate tags, v=1, a, b, bh, d, h, s required,
 * from in h, i= within d, x >= t); 0 or -EINVAL with why in err */
int fm_dkim_parse_sig(const char *field, size_t flen, struct fm_dkim_sig *sig,
		      struct buf *err);

/* a parsed DKIM key record (the TXT at <s>._domainkey.<d>) */
struct fm_dkim_key {
	int ed25519;	  /* k=ed25519 (else rsa) */
	int revoked;	  /* p= empty */
	int strict;	  /* t=s: i= domain must equal d */
	int testing;	  /* t=y */
	unsigned char *p; /* decoded public key (owned) */
	size_t plen;
};

/* fm_dkim_parse_key: parse a key record; 0, or -EINVAL (not a usable
 * DKIM1 record: bad syntax, wrong v=, unknown k=, h= without sha256, s=
 * without email or *) with why in err. fm_dkim_key_clear() frees p. */
int fm_dkim_parse_key(const char *txt, size_t len, struct fm_dkim_key *key,
		      struct buf *err);
void fm_dkim_key_clear(struct fm_dkim_key *key);

/* the outcome of verifying one signature */
enum fm_dkim_result {
	FM_DKIM_PASS,
	FM_DKIM_FAIL,	   /* signature or body hash does not match */
	FM_DKIM_PERMERROR, /* unusable key, expired, policy */
};

/* fm_dkim_verify_sig: verify sig over msg (header section hdr/hlen, body
 * body/blen) with the key record txt at time now; err says why not */
enum fm_dkim_result fm_dkim_verify_sig(const struct fm_dkim_sig *sig,
				       const char *hdr, size_t hlen,
				       const char *body, size_t blen,
				       const char *txt, size_t txtlen,
				       time_t now, struct buf *err);

#define FM_DKIM_KEY_CACHE 16 /* parsed public keys kept */

/* fm_dkim_key_cache_clear: forget the parsed public keys that
 * fm_dkim_verify_sig() keeps between calls (shutdown, tests) */
void fm_dkim_key_cache_clear(void);
/* fm_dkim_key_cache_hits: verifications that found their key parsed
 * (tests) */
size_t fm_dkim_key_cache_hits(void);

/* a loaded signing key */
struct fm_dkim_signer;

/* fm_dkim_signer_new: load a PEM private key (PKCS#1 "RSA PRIVATE KEY"
 * as opendkim-genkey writes it, or PKCS#8) for domain and selector;
 * NULL with the reason in err */
struct fm_dkim_signer *fm_dkim_signer_new(const char *keyfile,
					  const char *domain,
					  const char *selector,
					  struct buf *err);
void fm_dkim_signer_free(struct fm_dkim_signer **sp);

/* fm_dkim_sign: the "DKIM-Signature: ...\r\n" field for msg at time now,
 * appended to out; 0, or -errno with the reason in err */
int fm_dkim_sign(struct fm_dkim_signer *signer, const char *msg, size_t len,
		 time_t now, struct buf *out, struct buf *err);
/* fm_dkim_sign_parts: the same for a message given as its header section
 * (hdr, without the empty line) and its body, which need not be
 * adjacent (filtermail signs a cleaned copy of the header section) */
int fm_dkim_sign_parts(struct fm_dkim_signer *signer, const char *hdr,
		       size_t hlen, const char *body, size_t blen, time_t now,
		       struct buf *out, struct buf *err);

/* The same in three steps, so the RSA operation can run off the event
 * loop (fm_sign_pool.h): fm_dkim_sign_prepare hashes the body, writes
 * the field up to "b=" into field (empty on entry) and the header hash
 * into hh; fm_dkim_sign_digest makes the RSA signature of hh (thread
 * safe: it only reads the key; sig holds 1024 bytes, *siglen its size on
 * entry); fm_dkim_sign_finish appends the signature to field and field
 * to out. Each returns 0, or -errno with the reason in err where given. */
int fm_dkim_sign_prepare(const struct fm_dkim_signer *signer, const char *hdr,
			 size_t hlen, const char *body, size_t blen, time_t now,
			 struct buf *field, unsigned char hh[32],
			 struct buf *err);
int fm_dkim_sign_digest(const struct fm_dkim_signer *signer,
			const unsigned char hh[32], unsigned char *sig,
			size_t *siglen);
int fm_dkim_sign_finish(struct buf *field, const unsigned char *sig,
			size_t siglen, struct buf *out, struct buf *err);

/* canonicalization and hashing, exposed for tests and the bench */

/* a SHA-256 sink with a staging buffer and an optional length limit */
struct fm_hash_sink {
	void *md;	/* EVP_MD_CTX */
	uint64_t limit; /* bytes to hash at most (UINT64_MAX: all) */
	uint64_t total; /* canonical bytes offered */
	size_t fill;
	unsigned char stage[16384];
};

/* fm_dkim_body_hash: SHA-256 of the canonical body (first limit bytes);
 * total canonical length through total_r; 0 or -ENOMEM */
int fm_dkim_body_hash(const char *body, size_t blen, enum fm_canon c,
		      uint64_t limit, unsigned char out[32], uint64_t *total_r);

/* fm_dkim_canon_body: the canonical body appended to out (tests) */
int fm_dkim_canon_body(const char *body, size_t blen, enum fm_canon c,
		       struct buf *out);
/* fm_dkim_canon_header: one canonical header field (raw field including
 * its CRLF) appended to out (tests, and the signature field itself) */
int fm_dkim_canon_header(const char *field, size_t flen, enum fm_canon c,
			 int crlf, struct buf *out);

/* fm_dkim_header_hash: SHA-256 over the fields named in names (selected
 * bottom-up, each instance once), then the signature field sigfield with
 * its b= value removed, all canonicalized with c */
int fm_dkim_header_hash(const char *hdr, size_t hlen,
			const struct fm_slice *names, size_t nnames,
			const char *sigfield, size_t siglen, enum fm_canon c,
			unsigned char out[32]);

/* fm_dkim_b64: strict base64 decode ignoring FWS; length or -EINVAL */
int fm_dkim_b64(const char *p, size_t n, unsigned char *out, size_t outsize);

#endif
