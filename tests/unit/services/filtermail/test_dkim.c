/* test_dkim: canonicalization (RFC 6376 §3.4.5 example), body hashes,
 * the DKIM-Signature tag parser, the key record parser, and sign/verify
 * round trips with generated RSA and Ed25519 keys (tampering fails). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#define TESTUTIL_IMPL
#include "testutil.h"

#include "../../../../services/filtermail/fm_dkim.h"
#include "../../../../services/filtermail/fm_mime.h"

static void
test_rfc_example(void **state)
{
	struct buf b = BUF_INIT(1024);
	static const char body[] = " C \r\nD \t E\r\n\r\n\r\n";

	(void)state;
	assert_int(fm_dkim_canon_header("A: X\r\n", 6, FM_CANON_RELAXED, 1, &b),
		   0);
	assert_int(fm_dkim_canon_header("B : Y\t\r\n\tZ  \r\n", 14,
					FM_CANON_RELAXED, 1, &b),
		   0);
	assert_str(buf_cstr(&b), "a:X\r\nb:Y Z\r\n");
	buf_reset(&b);
	assert_int(fm_dkim_canon_body(body, sizeof(body) - 1, FM_CANON_RELAXED,
				      &b),
		   0);
	assert_str(buf_cstr(&b), " C\r\nD E\r\n");
	buf_reset(&b);
	assert_int(
		fm_dkim_canon_body(body, sizeof(body) - 1, FM_CANON_SIMPLE, &b),
		0);
	assert_str(buf_cstr(&b), " C \r\nD \t E\r\n");
	buf_reset(&b);
	/* simple header canonicalization keeps everything */
	assert_int(fm_dkim_canon_header("B : Y\t\r\n\tZ  \r\n", 14,
					FM_CANON_SIMPLE, 1, &b),
		   0);
	assert_str(buf_cstr(&b), "B : Y\t\r\n\tZ  \r\n");
	buf_deinit(&b);
}

static void
test_body_edges(void **state)
{
	struct buf b = BUF_INIT(1024);
	unsigned char h[32];
	char b64[64];
	uint64_t total;

	(void)state;
	/* the empty body: CRLF in simple, nothing in relaxed (RFC 6376) */
	assert_int(fm_dkim_body_hash("", 0, FM_CANON_SIMPLE, UINT64_MAX, h,
				     &total),
		   0);
	EVP_EncodeBlock((unsigned char *)b64, h, 32);
	assert_str(b64, "frcCV1k9oG9oKj3dpUqdJg1PxRT2RSN/XKdLCPjaYaY=");
	assert_int(fm_dkim_body_hash("\r\n\r\n", 4, FM_CANON_RELAXED,
				     UINT64_MAX, h, &total),
		   0);
	EVP_EncodeBlock((unsigned char *)b64, h, 32);
	assert_str(b64, "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
	assert_int(total, 0);
	/* a missing final CRLF is added; bare LF lines become CRLF */
	assert_int(fm_dkim_canon_body("a\nb", 3, FM_CANON_SIMPLE, &b), 0);
	assert_str(buf_cstr(&b), "a\r\nb\r\n");
	buf_reset(&b);
	/* whitespace-only lines are empty in relaxed */
	assert_int(fm_dkim_canon_body("a\r\n \t\r\nb\r\n  \r\n", 14,
				      FM_CANON_RELAXED, &b),
		   0);
	assert_str(buf_cstr(&b), "a\r\n\r\nb\r\n");
	buf_deinit(&b);
	/* l= limits what is hashed but the total is counted */
	assert_int(
		fm_dkim_body_hash("abc\r\n", 5, FM_CANON_SIMPLE, 2, h, &total),
		0);
	assert_int(total, 5);
}

#define SIG(tags) "DKIM-Signature: " tags "\r\n"
#define GOOD \
	"v=1; a=rsa-sha256; d=Example.org; s=sel; h=From:To; bh=AAAA; b=AAAA"

static void
test_sig_parser(void **state)
{
	static const struct {
		const char *f;
		int ok;
	} t[] = {
		{ SIG(GOOD), 0 },
		{ SIG(GOOD ";"), 0 },
		{ SIG(GOOD "; c=relaxed; l=10; t=5; x=6; q=dns/txt; zz=1"), 0 },
		{ SIG(GOOD "; i=@mail.example.org"), 0 },
		{ SIG(GOOD "; i=u@other.org"), -1 },
		{ SIG(GOOD "; d=x.org"), -1 },
		{ SIG(GOOD "; t=10; x=5"), -1 },
		{ SIG(GOOD "; c=loose/simple"), -1 },
		{ SIG("v=1; a=rsa-sha1; d=e.org; s=s; h=From; bh=AA==; b=AA=="),
		  -1 },
		{ SIG("v=1; a=rsa-sha256; d=e.org; s=s; h=To; bh=AA==; b=AA=="),
		  -1 },
		{ SIG("v=2; a=rsa-sha256; d=e.org; s=s; h=From; bh=A; b=A"),
		  -1 },
		{ SIG("a=rsa-sha256; d=e.org; s=s; h=From; bh=A; b=A"), -1 },
		{ SIG(GOOD ";; x=1"), -1 },
		{ SIG(GOOD "; 1x=1"), -1 },
		{ SIG(GOOD "; noequals"), -1 },
		{ SIG(GOOD "; l=99999999999999999999999"), -1 },
	};
	struct buf err = BUF_INIT(256);
	struct fm_dkim_sig sig;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int rc = fm_dkim_parse_sig(t[i].f, strlen(t[i].f), &sig, &err);

		if ((rc == 0) != (t[i].ok == 0)) {
			print_error("case %zu (%s): rc %d %s\n", i, t[i].f, rc,
				    buf_cstr(&err));
			fail();
		}
	}
	assert_int(fm_dkim_parse_sig(SIG(GOOD "; c=relaxed; l=10"),
				     strlen(SIG(GOOD "; c=relaxed; l=10")),
				     &sig, &err),
		   0);
	assert_str(sig.d, "example.org");
	assert_str(sig.i_domain, "example.org");
	assert_int(sig.hcanon, FM_CANON_RELAXED);
	assert_int(sig.bcanon, FM_CANON_SIMPLE);
	assert_int(sig.nhnames, 2);
	assert_int(sig.l, 10);
	buf_deinit(&err);
}

static void
test_key_parser(void **state)
{
	struct buf err = BUF_INIT(256);
	struct fm_dkim_key k;

	(void)state;
	assert_int(fm_dkim_parse_key("v=DKIM1; k=rsa; p=AQID; t=s:y; s=email",
				     38, &k, &err),
		   0);
	assert_int(k.plen, 3);
	assert_int(k.strict, 1);
	assert_int(k.testing, 1);
	fm_dkim_key_clear(&k);
	assert_int(fm_dkim_parse_key("p=", 2, &k, &err), 0);
	assert_int(k.revoked, 1);
	fm_dkim_key_clear(&k);
	assert_int(fm_dkim_parse_key("k=ed25519; p=AQID", 17, &k, &err), 0);
	assert_int(k.ed25519, 1);
	fm_dkim_key_clear(&k);
	assert_int(fm_dkim_parse_key("k=rsa; v=DKIM1; p=AQID", 22, &k, &err),
		   -EINVAL);
	assert_int(fm_dkim_parse_key("v=DKIM2; p=AQID", 15, &k, &err), -EINVAL);
	assert_int(fm_dkim_parse_key("k=dsa; p=AQID", 13, &k, &err), -EINVAL);
	assert_int(fm_dkim_parse_key("h=sha1; p=AQID", 14, &k, &err), -EINVAL);
	assert_int(fm_dkim_parse_key("s=tlsrpt; p=AQID", 16, &k, &err),
		   -EINVAL);
	assert_int(fm_dkim_parse_key("v=DKIM1; k=rsa", 14, &k, &err), -EINVAL);
	assert_int(fm_dkim_parse_key("p=A!B=", 6, &k, &err), -EINVAL);
	buf_deinit(&err);
}

/* pub_txt: the key record of a key pair */
static char *
pub_txt(EVP_PKEY *pk, int ed)
{
	unsigned char der[4096], *p = der;
	size_t n = sizeof(der);
	char *txt = malloc(8192);
	int len;

	if (ed) {
		EVP_PKEY_get_raw_public_key(pk, der, &n);
		len = (int)n;
	} else {
		len = i2d_PUBKEY(pk, &p);
	}
	snprintf(txt, 8192, "%s",
		 ed ? "v=DKIM1; k=ed25519; p=" : "v=DKIM1; k=rsa; p=");
	EVP_EncodeBlock((unsigned char *)txt + strlen(txt), der, len);
	return txt;
}

/* verify_msg: verify the first DKIM-Signature of m with txt at now */
static int
verify_msg(const char *m, const char *txt, time_t now)
{
	struct buf err = BUF_INIT(256);
	struct fm_dkim_sig sig;
	struct fm_entity e;
	const char *v, *f;
	size_t vl;
	int rc;

	fm_mime_split(m, strlen(m), &e);
	assert_int(fm_mime_header_find(&e, "DKIM-Signature", 0, &v, &vl), 1);
	for (f = v; f > m && f[-1] != '\n'; f--)
		;
	assert_int(fm_dkim_parse_sig(f, (size_t)(v + vl - f), &sig, &err), 0);
	rc = fm_dkim_verify_sig(&sig, e.hdr, e.hlen, e.body, e.blen, txt,
				strlen(txt), now, &err);
	buf_deinit(&err);
	return rc;
}

static const char msg[] =
	"From: Alice <alice@example.org>\r\n"
	"To: bob@example.net\r\nSubject: hi\r\n"
	"Content-Type: text/plain\r\n"
	"Message-ID: <1@example.org>\r\n\r\nHello  world \r\n";

/* with: text with one replacement, in a static buffer */
static const char *
with(const char *text, const char *from, const char *to)
{
	static char out[8192];
	const char *at = strstr(text, from);

	(void)snprintf(out, sizeof(out), "%.*s%s%s", (int)(at - text), text, to,
		       at + strlen(from));
	return out;
}

/* write_key: pk as a traditional PEM file at path */
static void
write_key(EVP_PKEY *pk, const char *path)
{
	BIO *bio = BIO_new_file(path, "w");

	assert_non_null(bio);
	PEM_write_bio_PrivateKey_traditional(bio, pk, NULL, NULL, 0, NULL,
					     NULL);
	BIO_free(bio);
}

/* check_changes: which changes to the signed message sm still verify
 * against the key record txt */
static void
check_changes(const char *sm, const char *txt)
{
	/* relaxed header canonicalization tolerates refolding */
	assert_int(verify_msg(with(sm, "Subject: hi", "Subject:   hi"), txt,
			      1700000000),
		   FM_DKIM_PASS);
	assert_int(verify_msg(with(sm, "Subject: hi", "Subject: ho"), txt,
			      1700000000),
		   FM_DKIM_FAIL);
	assert_int(verify_msg(with(sm, "Hello", "Hallo"), txt, 1700000000),
		   FM_DKIM_FAIL);
	/* an added Reply-To breaks the over-signed null instance */
	assert_int(verify_msg(with(sm, "To: bob", "Reply-To: x@y\r\nTo: bob"),
			      txt, 1700000000),
		   FM_DKIM_FAIL);
	/* a header not signed may be added */
	assert_int(verify_msg(with(sm, "To: bob", "X-New: 1\r\nTo: bob"), txt,
			      1700000000),
		   FM_DKIM_PASS);
	/* the wrong key */
	assert_int(verify_msg(sm, "v=DKIM1; p=", 1700000000),
		   FM_DKIM_PERMERROR);
	/* t= far in the future */
	assert_int(verify_msg(sm, txt, 1600000000), FM_DKIM_PERMERROR);
}

static void
test_rsa_round_trip(void **state)
{
	char *dir = test_tmpdir(), path[512], *txt;
	struct buf out = BUF_INIT(1 << 20), err = BUF_INIT(256);
	struct fm_dkim_signer *s;
	EVP_PKEY *pk = EVP_RSA_gen(2048);

	(void)state;
	snprintf(path, sizeof(path), "%s/k.pem", dir);
	write_key(pk, path);
	s = fm_dkim_signer_new(path, "example.org", "opendkim", &err);
	assert_non_null(s);
	assert_int(
		fm_dkim_sign(s, msg, sizeof(msg) - 1, 1700000000, &out, &err),
		0);
	assert_non_null(
		strstr(buf_cstr(&out),
		       "h=From:To:Subject:Content-Type:from:reply-to:"));
	assert_non_null(strstr(buf_cstr(&out), "resent-*:in-reply-to:"
					       "references:list-*:autocrypt;"));
	assert_int(buf_puts(&out, msg), 0);
	txt = pub_txt(pk, 0);
	assert_int(verify_msg(out.data, txt, 1700000000), FM_DKIM_PASS);
	check_changes(out.data, txt);
	free(txt);
	fm_dkim_signer_free(&s);
	assert_null(s);
	/* a missing key file is a clean error */
	assert_null(fm_dkim_signer_new("/nonexistent", "e.org", "s", &err));
	EVP_PKEY_free(pk);
	buf_deinit(&out);
	buf_deinit(&err);
	test_rmtree(dir);
	free(dir);
}

static void
test_ed25519_verify(void **state)
{
	EVP_PKEY *pk = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	static const char hdr[] = "DKIM-Signature: v=1; a=ed25519-sha256; "
				  "c=relaxed/relaxed; d=example.org; s=ed; "
				  "x=1700000100; h=From:To:Subject; bh=";
	struct fm_slice names[3] = { { "From", 4 },
				     { "To", 2 },
				     { "Subject", 7 } };
	unsigned char bh[32], hh[32], sig[64];
	char field[2048], bh64[64], sig64[128], m[4096], *txt;
	size_t siglen = sizeof(sig);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	struct fm_entity e;
	uint64_t total;

	(void)state;
	fm_mime_split(msg, sizeof(msg) - 1, &e);
	fm_dkim_body_hash(e.body, e.blen, FM_CANON_RELAXED, UINT64_MAX, bh,
			  &total);
	EVP_EncodeBlock((unsigned char *)bh64, bh, 32);
	snprintf(field, sizeof(field), "%s%s; b=\r\n", hdr, bh64);
	assert_int(fm_dkim_header_hash(e.hdr, e.hlen, names, 3, field,
				       strlen(field), FM_CANON_RELAXED, hh),
		   0);
	assert_int(EVP_DigestSignInit(ctx, NULL, NULL, NULL, pk), 1);
	assert_int(EVP_DigestSign(ctx, sig, &siglen, hh, 32), 1);
	EVP_EncodeBlock((unsigned char *)sig64, sig, (int)siglen);
	snprintf(m, sizeof(m), "%s%s; b=%s\r\n%s", hdr, bh64, sig64, msg);
	txt = pub_txt(pk, 1);
	assert_int(verify_msg(m, txt, 1700000000), FM_DKIM_PASS);
	/* expired (x= plus the skew is past) */
	assert_int(verify_msg(m, txt, 1700000200), FM_DKIM_PERMERROR);
	/* an RSA key record for an ed25519 signature */
	assert_int(verify_msg(m, "k=rsa; p=AQID", 1700000000),
		   FM_DKIM_PERMERROR);
	free(txt);
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pk);
}

/* parsed public keys are reused, only for identical bytes, least
 * recently used out */
static void
test_key_cache(void **state)
{
	char *dir = test_tmpdir(), path[512], *txt, *other;
	struct buf out = BUF_INIT(1 << 20), err = BUF_INIT(256);
	struct fm_dkim_signer *s;
	EVP_PKEY *pk = EVP_RSA_gen(1024), *k;
	BIO *bio;
	int i;

	(void)state;
	snprintf(path, sizeof(path), "%s/k.pem", dir);
	bio = BIO_new_file(path, "w");
	PEM_write_bio_PrivateKey_traditional(bio, pk, NULL, NULL, 0, NULL,
					     NULL);
	BIO_free(bio);
	s = fm_dkim_signer_new(path, "example.org", "opendkim", &err);
	assert_non_null(s);
	assert_int(
		fm_dkim_sign(s, msg, sizeof(msg) - 1, 1700000000, &out, &err),
		0);
	assert_int(buf_puts(&out, msg), 0);
	txt = pub_txt(pk, 0);
	fm_dkim_key_cache_clear();
	assert_int(verify_msg(out.data, txt, 1700000000), FM_DKIM_PASS);
	assert_int(fm_dkim_key_cache_hits(), 0);
	assert_int(verify_msg(out.data, txt, 1700000000), FM_DKIM_PASS);
	assert_int(fm_dkim_key_cache_hits(), 1);
	/* as many other keys as the cache holds push ours out; none of
	 * them verifies our signature */
	for (i = 0; i < FM_DKIM_KEY_CACHE; i++) {
		k = EVP_RSA_gen(1024);
		other = pub_txt(k, 0);
		assert_int(verify_msg(out.data, other, 1700000000),
			   FM_DKIM_FAIL);
		free(other);
		EVP_PKEY_free(k);
	}
	assert_int(fm_dkim_key_cache_hits(), 1);
	assert_int(verify_msg(out.data, txt, 1700000000), FM_DKIM_PASS);
	assert_int(fm_dkim_key_cache_hits(), 1);
	assert_int(verify_msg(out.data, txt, 1700000000), FM_DKIM_PASS);
	assert_int(fm_dkim_key_cache_hits(), 2);
	fm_dkim_key_cache_clear();
	assert_int(fm_dkim_key_cache_hits(), 0);
	free(txt);
	fm_dkim_signer_free(&s);
	EVP_PKEY_free(pk);
	buf_deinit(&out);
	buf_deinit(&err);
	test_rmtree(dir);
	free(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc_example),
		cmocka_unit_test(test_body_edges),
		cmocka_unit_test(test_sig_parser),
		cmocka_unit_test(test_key_parser),
		cmocka_unit_test(test_rsa_round_trip),
		cmocka_unit_test(test_ed25519_verify),
		cmocka_unit_test(test_key_cache),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
