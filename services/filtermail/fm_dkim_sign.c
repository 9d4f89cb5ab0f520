/*
 * fm_dkim_sign: DKIM-sign outgoing mail as upstream's OpenDKIM did
 * (docs/UPSTREAM.md, DKIM): rsa-sha256, c=relaxed/simple, selector and
 * key from chatmail.ini, SignHeaders "*,+autocrypt,+content-type" and
 * OversignHeaders "from,reply-to,subject,date,to,cc,resent-*,
 * in-reply-to,references,list-*,autocrypt".
 *
 * OpenDKIM's meaning of those settings (opendkim.conf(5), libopendkim
 * dkim.c): "*" is libopendkim's default list (RFC 6376 §5.4 "SHOULD
 * sign"), "+name" adds to it; every instance of a listed field in the
 * message is signed, h= naming them in message order as written; then
 * each OversignHeaders entry is appended to h= once more, verbatim (so
 * "resent-*" and "list-*" appear literally and sign nothing), which makes
 * a field added later break the signature.
 *
 * Role: outgoing filtermail, after the encryption checks passed.
 * Untrusted input: the message (from an authenticated local user). The
 * private key is read once at start; OpenSSL keeps it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "fm_dkim.h"
#include "fm_mime.h"
#include "xmalloc.h"

struct fm_dkim_signer {
	EVP_PKEY *key;
	char *domain;
	char *selector;
};

/* libopendkim's dkim_should_signhdrs plus "+autocrypt,+content-type" */
static const char *const sign_names[] = {
	"from",
	"reply-to",
	"subject",
	"date",
	"to",
	"cc",
	"resent-date",
	"resent-from",
	"resent-sender",
	"resent-to",
	"resent-cc",
	"in-reply-to",
	"references",
	"list-id",
	"list-help",
	"list-unsubscribe",
	"list-subscribe",
	"list-post",
	"list-owner",
	"list-archive",
	"autocrypt",
	"content-type",
};

static const char oversign[] = "from:reply-to:subject:date:to:cc:resent-*:"
			       "in-reply-to:references:list-*:autocrypt";

struct fm_dkim_signer *
fm_dkim_signer_new(const char *keyfile, const char *domain,
		   const char *selector, struct buf *err)
{
	struct fm_dkim_signer *s;
	EVP_PKEY *key = NULL;
	BIO *bio;

	bio = BIO_new_file(keyfile, "r");
	if (bio != NULL) {
		key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
		BIO_free(bio);
	}
	if (key == NULL) {
		(void)buf_printf(err, "cannot read DKIM key %s", keyfile);
		return NULL;
	}
	if (EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA) {
		(void)buf_printf(err, "DKIM key %s is not RSA", keyfile);
		EVP_PKEY_free(key);
		return NULL;
	}
	s = xcalloc(1, sizeof(*s));
	s->key = key;
	s->domain = xstrdup(domain);
	s->selector = xstrdup(selector);
	return s;
}

void
fm_dkim_signer_free(struct fm_dkim_signer **sp)
{
	struct fm_dkim_signer *s = *sp;

	if (s == NULL)
		return;
	EVP_PKEY_free(s->key);
	free(s->domain);
	free(s->selector);
	free(s);
	*sp = NULL;
}

/* is_signed_name: whether a field name is in the sign list */
static int
is_signed_name(const char *p, size_t n)
{
	size_t k;

	for (k = 0; k < sizeof(sign_names) / sizeof(sign_names[0]); k++)
		if (strlen(sign_names[k]) == n &&
		    strncasecmp(sign_names[k], p, n) == 0)
			return 1;
	return 0;
}

/* signed_names: "Name:Name:...:oversign" for the fields of hdr */
static void
signed_names(const char *hdr, size_t hlen, struct buf *out)
{
	size_t i = 0, end, n;
	const char *nl, *colon;

	while (i < hlen) {
		nl = memchr(hdr + i, '\n', hlen - i);
		end = nl != NULL ? (size_t)(nl - hdr) + 1 : hlen;
		colon = memchr(hdr + i, ':', end - i);
		if (hdr[i] != ' ' && hdr[i] != '\t' && colon != NULL) {
			n = (size_t)(colon - (hdr + i));
			while (n > 0 && (hdr[i + n - 1] == ' ' ||
					 hdr[i + n - 1] == '\t'))
				n--;
			if (is_signed_name(hdr + i, n)) {
				(void)buf_append(out, hdr + i, n);
				(void)buf_putc(out, ':');
			}
		}
		i = end;
	}
	(void)buf_puts(out, oversign);
}

/* split_names: slices of a colon list (in place) */
static size_t
split_names(const char *list, struct fm_slice *names, size_t max)
{
	size_t n = 0;
	const char *p = list, *c;

	while (*p != '\0' && n < max) {
		c = strchr(p, ':');
		names[n].p = p;
		names[n].n = c != NULL ? (size_t)(c - p) : strlen(p);
		n++;
		if (c == NULL)
			break;
		p = c + 1;
	}
	return n;
}

/* append_folded: text with "\r\n\t" inserted after a break character
 * whenever the line would pass 76 columns; *col tracks the column */
static void
append_folded(struct buf *out, const char *text, char brk, size_t *col)
{
	size_t i, n = strlen(text), run;

	for (i = 0; i < n; i += run) {
		if (brk != '\0') {
			const char *c = memchr(text + i, brk, n - i);

			run = c != NULL ? (size_t)(c - (text + i)) + 1 : n - i;
		} else {
			run = n - i < 64 ? n - i : 64;
		}
		if (*col + run > 76 && *col > 8) {
			(void)buf_puts(out, "\r\n\t");
			*col = 8;
		}
		(void)buf_append(out, text + i, run);
		*col += run;
	}
}

/* fm_dkim_sign_digest: see fm_dkim.h; only reads the key, and each call
 * has its own EVP_PKEY_CTX, so signer threads may call it at once */
int
fm_dkim_sign_digest(const struct fm_dkim_signer *s, const unsigned char hh[32],
		    unsigned char *sig, size_t *siglen)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(s->key, NULL);
	int rc = -EIO;

	if (ctx != NULL && EVP_PKEY_sign_init(ctx) == 1 &&
	    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) == 1 &&
	    EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) == 1 &&
	    EVP_PKEY_sign(ctx, sig, siglen, hh, 32) == 1)
		rc = 0;
	EVP_PKEY_CTX_free(ctx);
	return rc;
}

int
fm_dkim_sign(struct fm_dkim_signer *s, const char *msg, size_t len, time_t now,
	     struct buf *out, struct buf *err)
{
	struct fm_entity e;

	fm_mime_split(msg, len, &e);
	return fm_dkim_sign_parts(s, e.hdr, e.hlen, e.body, e.blen, now, out,
				  err);
}

/* fm_dkim_sign_prepare: see fm_dkim.h */
int
fm_dkim_sign_prepare(const struct fm_dkim_signer *s, const char *hdr,
		     size_t hlen, const char *body, size_t blen, time_t now,
		     struct buf *field, unsigned char hh[32], struct buf *err)
{
	unsigned char bh[32];
	char bh64[48];
	struct buf names = BUF_INIT(1 << 20);
	struct fm_slice *hn = NULL;
	size_t col, nn;
	uint64_t total;
	int rc = -EIO;

	if (fm_dkim_body_hash(body, blen, FM_CANON_SIMPLE, UINT64_MAX, bh,
			      &total) < 0)
		goto fail;
	(void)EVP_EncodeBlock((unsigned char *)bh64, bh, 32);
	signed_names(hdr, hlen, &names);
	(void)buf_printf(field,
			 "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/simple;"
			 " d=%s;\r\n\ts=%s; t=%lld;\r\n\tbh=%s;\r\n\th=",
			 s->domain, s->selector, (long long)now, bh64);
	col = 10;
	append_folded(field, buf_cstr(&names), ':', &col);
	(void)buf_puts(field, ";\r\n\tb=");
	nn = 1;
	for (col = 0; col < names.len; col++)
		nn += names.data[col] == ':';
	hn = xreallocarray(NULL, nn, sizeof(*hn));
	nn = split_names(buf_cstr(&names), hn, nn);
	if (fm_dkim_header_hash(hdr, hlen, hn, nn, field->data, field->len,
				FM_CANON_RELAXED, hh) < 0)
		goto fail;
	rc = 0;
	goto out;
fail:
	(void)buf_puts(err, "DKIM signing failed");
out:
	free(hn);
	buf_deinit(&names);
	return rc;
}

/* fm_dkim_sign_finish: see fm_dkim.h */
int
fm_dkim_sign_finish(struct buf *field, const unsigned char *sig, size_t siglen,
		    struct buf *out, struct buf *err)
{
	char b64[1400];
	size_t col = 10;
	int rc = -E2BIG;

	if (siglen > 1024)
		goto out;
	(void)EVP_EncodeBlock((unsigned char *)b64, sig, (int)siglen);
	append_folded(field, b64, '\0', &col);
	(void)buf_puts(field, "\r\n");
	rc = buf_append(out, field->data, field->len);
out:
	if (rc < 0)
		(void)buf_puts(err, "DKIM-Signature does not fit");
	return rc;
}

int
fm_dkim_sign_parts(struct fm_dkim_signer *s, const char *hdr, size_t hlen,
		   const char *body, size_t blen, time_t now, struct buf *out,
		   struct buf *err)
{
	unsigned char hh[32], sig[1024];
	struct buf field = BUF_INIT(1 << 21);
	size_t siglen = sizeof(sig);
	int rc;

	rc = fm_dkim_sign_prepare(s, hdr, hlen, body, blen, now, &field, hh,
				  err);
	if (rc < 0)
		goto out;
	rc = fm_dkim_sign_digest(s, hh, sig, &siglen);
	if (rc < 0) {
		(void)buf_puts(err, "DKIM signing failed");
		goto out;
	}
	rc = fm_dkim_sign_finish(&field, sig, siglen, out, err);
out:
	buf_deinit(&field);
	return rc;
}
