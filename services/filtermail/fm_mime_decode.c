/*
 * fm_mime_decode: Content-Transfer-Encoding decoding (base64 and
 * quoted-printable, both lenient like mail readers) and the first
 * address of an address-list header.
 *
 * Also RFC 2047 encoded words in unstructured header values (the
 * Subject the Autocrypt Setup Message rule compares), decoded to bytes
 * whatever the charset: the rule compares with ASCII text.
 *
 * Role: bodies the classifier must compare (the "Version: 1" part, the
 * SecureJoin text, an armored payload sent with a transfer encoding) and
 * the From address that every rule keys on. Untrusted input: header
 * values and bodies; output never exceeds the caller's buffer maximum.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "fm_mime.h"

/* fm_mime_b64val: see fm_mime.h */
int
fm_mime_b64val(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* hexval: the value of a hex digit, or -1 */
static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* decode_b64: lenient base64 (skips anything outside the alphabet,
 * stops at padding) into out */
static int
decode_b64(const char *p, size_t n, struct buf *out)
{
	unsigned acc = 0;
	int bits = 0, v;
	size_t i;
	char c;

	for (i = 0; i < n; i++) {
		if (p[i] == '=')
			break;
		v = fm_mime_b64val((unsigned char)p[i]);
		if (v < 0)
			continue;
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			c = (char)((acc >> bits) & 0xff);
			if (buf_putc(out, c) < 0)
				return -E2BIG;
		}
	}
	return 0;
}

/* decode_qp: quoted-printable with soft line breaks into out */
static int
decode_qp(const char *p, size_t n, struct buf *out)
{
	size_t i = 0;
	int hi, lo;

	while (i < n) {
		if (p[i] == '=' && i + 1 < n && p[i + 1] == '\n') {
			i += 2;
			continue;
		}
		if (p[i] == '=' && i + 2 < n && p[i + 1] == '\r' &&
		    p[i + 2] == '\n') {
			i += 3;
			continue;
		}
		if (p[i] == '=' && i + 2 < n &&
		    (hi = hexval((unsigned char)p[i + 1])) >= 0 &&
		    (lo = hexval((unsigned char)p[i + 2])) >= 0) {
			if (buf_putc(out, (char)(hi << 4 | lo)) < 0)
				return -E2BIG;
			i += 3;
			continue;
		}
		if (buf_putc(out, p[i]) < 0)
			return -E2BIG;
		i++;
	}
	return 0;
}

int
fm_mime_decoded_body(const struct fm_entity *e, struct buf *scratch,
		     const char **body_r, size_t *blen_r)
{
	char cte[64];
	int rc = 0;

	*body_r = e->body;
	*blen_r = e->blen;
	if (!fm_mime_header_get(e, "Content-Transfer-Encoding", cte,
				sizeof(cte)))
		return 0;
	if (strcasecmp(cte, "base64") != 0 &&
	    strcasecmp(cte, "quoted-printable") != 0)
		return 0;
	buf_reset(scratch);
	if (strcasecmp(cte, "base64") == 0)
		rc = decode_b64(e->body, e->blen, scratch);
	else
		rc = decode_qp(e->body, e->blen, scratch);
	if (rc < 0)
		return rc;
	*body_r = buf_cstr(scratch);
	*blen_r = scratch->len;
	return 0;
}

/* decode_q: the "Q" encoding of RFC 2047 ('_' is a space) into out */
static int
decode_q(const char *p, size_t n, struct buf *out)
{
	size_t i;
	int hi, lo;

	for (i = 0; i < n; i++) {
		char c = p[i] == '_' ? ' ' : p[i];

		if (p[i] == '=' && i + 2 < n &&
		    (hi = hexval((unsigned char)p[i + 1])) >= 0 &&
		    (lo = hexval((unsigned char)p[i + 2])) >= 0) {
			c = (char)(hi << 4 | lo);
			i += 2;
		}
		if (buf_putc(out, c) < 0)
			return -E2BIG;
	}
	return 0;
}

/* encoded_word: the length of the RFC 2047 encoded word "=?charset?B?
 * text?=" (or ?Q?) starting at v, or 0 if none starts there; its
 * encoding and text through enc_r, txt_r and tlen_r */
static size_t
encoded_word(const char *v, char *enc_r, const char **txt_r, size_t *tlen_r)
{
	const char *cs, *end;
	size_t i;

	if (v[0] != '=' || v[1] != '?')
		return 0;
	cs = strchr(v + 2, '?');
	if (cs == NULL || cs == v + 2 || cs[1] == '\0' || cs[2] != '?' ||
	    strchr("BbQq", cs[1]) == NULL)
		return 0;
	end = strstr(cs + 3, "?=");
	if (end == NULL)
		return 0;
	for (i = 0; v + i < end; i++)
		if (v[i] == ' ' || v[i] == '\t')
			return 0; /* an encoded word holds no whitespace */
	*enc_r = (char)(cs[1] | 0x20);
	*txt_r = cs + 3;
	*tlen_r = (size_t)(end - cs - 3);
	return (size_t)(end + 2 - v);
}

int
fm_mime_decode_words(const char *v, struct buf *out)
{
	const char *txt;
	size_t i = 0, n, tlen, ws;
	int after_word = 0, rc;
	char enc;

	while (v[i] != '\0') {
		n = encoded_word(v + i, &enc, &txt, &tlen);
		if (n > 0) {
			rc = enc == 'b' ? decode_b64(txt, tlen, out)
					: decode_q(txt, tlen, out);
			if (rc < 0)
				return rc;
			i += n;
			after_word = 1;
			continue;
		}
		ws = strspn(v + i, " \t");
		/* whitespace between two encoded words is dropped */
		if (ws > 0 && after_word &&
		    encoded_word(v + i + ws, &enc, &txt, &tlen) > 0) {
			i += ws;
			continue;
		}
		if (ws == 0)
			ws = 1;
		if (buf_append(out, v + i, ws) < 0)
			return -E2BIG;
		i += ws;
		after_word = 0;
	}
	return 0;
}

/* skip_comment: past a (possibly nested) comment starting at *i */
static void
skip_comment(const char *v, size_t *i)
{
	int depth = 0;

	for (; v[*i] != '\0'; (*i)++) {
		if (v[*i] == '\\' && v[*i + 1] != '\0') {
			(*i)++;
			continue;
		}
		if (v[*i] == '(')
			depth++;
		else if (v[*i] == ')' && --depth == 0) {
			(*i)++;
			return;
		}
	}
}

/* copy_addr: the address from [s, s+n) lowercased and without
 * surrounding whitespace into out; 1 if non-empty */
static int
copy_addr(const char *s, size_t n, char *out, size_t outsize)
{
	size_t o = 0;

	fm_mime_trim(&s, &n);
	while (n > 0 && o + 1 < outsize) {
		char c = *s++;

		n--;
		out[o++] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
	}
	out[o] = '\0';
	return o > 0;
}

int
fm_mime_first_address(const char *v, char *out, size_t outsize)
{
	size_t i = 0, start = SIZE_MAX, end = 0;

	if (outsize == 0)
		return 0;
	out[0] = '\0';
	/* an angle address wins; else the first bare word with an '@' or
	 * the first bare word; quoted display names and comments skipped */
	while (v[i] != '\0') {
		if (v[i] == '"') {
			for (i++; v[i] != '\0' && v[i] != '"'; i++)
				if (v[i] == '\\' && v[i + 1] != '\0')
					i++;
			if (v[i] == '"')
				i++;
			continue;
		}
		if (v[i] == '(') {
			skip_comment(v, &i);
			continue;
		}
		if (v[i] == '<') {
			const char *gt = strchr(v + i, '>');

			if (gt == NULL)
				return 0;
			return copy_addr(v + i + 1, (size_t)(gt - v) - i - 1,
					 out, outsize);
		}
		if (v[i] == ',' || v[i] == ';')
			break;
		if (v[i] == ':') { /* a group: its members follow */
			start = SIZE_MAX;
			i++;
			continue;
		}
		if (v[i] != ' ' && v[i] != '\t' && start == SIZE_MAX)
			start = i;
		if (start != SIZE_MAX && v[i] != ' ' && v[i] != '\t')
			end = i + 1;
		i++;
	}
	if (start == SIZE_MAX)
		return 0;
	/* the bare address is the last word before the separator */
	while (start < end && strchr(v + start, ' ') != NULL &&
	       (size_t)(strchr(v + start, ' ') - v) < end)
		start = (size_t)(strchr(v + start, ' ') - v) + 1;
	return copy_addr(v + start, end - start, out, outsize);
}
