/*
 * fm_dkim_tags: the RFC 6376 §3.2 tag-list syntax and the two records
 * written in it: the DKIM-Signature field (§3.5) and the key record
 * published in DNS (§3.6.1), plus strict base64 for b=, bh= and p=.
 *
 * Role: the parsers in front of verification. Untrusted input: header
 * fields of any sender and TXT records of any domain. Parsing is strict
 * (a malformed signature is simply not a valid one): duplicate tags,
 * bad tag names and missing '=' are errors; unknown tags are ignored as
 * the RFC requires. Nothing is allocated except the decoded key.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fm_dkim.h"
#include "fm_mime.h"
#include "num.h"
#include "xmalloc.h"

/* is_fws: folding whitespace characters */
static int
is_fws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* is_alpha: ASCII letter */
static int
is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* tag_next: the next tag-spec of [*p, end); 1 got one, 0 at the end,
 * -1 malformed. The value is trimmed of surrounding FWS. */
static int
tag_next(const char **p, const char *end, struct fm_slice *name,
	 struct fm_slice *val)
{
	const char *s = *p;

	while (s < end && is_fws(*s))
		s++;
	if (s == end)
		return 0;
	if (!is_alpha(*s))
		return -1;
	name->p = s;
	while (s < end &&
	       (is_alpha(*s) || (*s >= '0' && *s <= '9') || *s == '_'))
		s++;
	name->n = (size_t)(s - name->p);
	while (s < end && is_fws(*s))
		s++;
	if (s == end || *s != '=')
		return -1;
	s++;
	while (s < end && is_fws(*s))
		s++;
	val->p = s;
	while (s < end && *s != ';') {
		if ((unsigned char)*s < 0x20 && !is_fws(*s))
			return -1;
		s++;
	}
	val->n = (size_t)(s - val->p);
	while (val->n > 0 && is_fws(val->p[val->n - 1]))
		val->n--;
	if (s < end)
		s++; /* the ';' */
	*p = s;
	return 1;
}

/* is: whether the slice equals lit exactly */
static int
is(const struct fm_slice *v, const char *lit)
{
	return v->n == strlen(lit) && memcmp(v->p, lit, v->n) == 0;
}

/* copy_lower: slice into out lowercased; -1 if empty or too long */
static int
copy_lower(const struct fm_slice *v, char *out, size_t outsize)
{
	size_t i;

	if (v->n == 0 || v->n >= outsize)
		return -1;
	for (i = 0; i < v->n; i++)
		out[i] = (v->p[i] >= 'A' && v->p[i] <= 'Z')
				 ? (char)(v->p[i] + 32)
				 : v->p[i];
	out[v->n] = '\0';
	return 0;
}

/* parse_num: a decimal tag value */
static int
parse_num(const struct fm_slice *v, uint64_t max, uint64_t *r)
{
	char tmp[24];

	if (v->n == 0 || v->n >= sizeof(tmp))
		return -1;
	memcpy(tmp, v->p, v->n);
	tmp[v->n] = '\0';
	return num_parse_u64(tmp, 0, max, r) < 0 ? -1 : 0;
}

/* list_next: the next colon-separated element of v, FWS-trimmed */
static int
list_next(struct fm_slice *v, struct fm_slice *el)
{
	const char *c;

	if (v->n == 0)
		return 0;
	c = memchr(v->p, ':', v->n);
	el->p = v->p;
	el->n = c != NULL ? (size_t)(c - v->p) : v->n;
	v->n -= c != NULL ? el->n + 1 : el->n;
	v->p += c != NULL ? el->n + 1 : el->n;
	while (el->n > 0 && is_fws(el->p[0])) {
		el->p++;
		el->n--;
	}
	while (el->n > 0 && is_fws(el->p[el->n - 1]))
		el->n--;
	return 1;
}

/* list_has: whether a colon list contains want (case-insensitive) */
static int
list_has(struct fm_slice v, const char *want)
{
	struct fm_slice el;

	while (list_next(&v, &el))
		if (el.n == strlen(want) && strncasecmp(el.p, want, el.n) == 0)
			return 1;
	return 0;
}

/* parse_canon: c= "header[/body]" */
static int
parse_canon(const struct fm_slice *v, struct fm_dkim_sig *sig)
{
	const char *slash = memchr(v->p, '/', v->n);
	struct fm_slice h = { v->p, slash ? (size_t)(slash - v->p) : v->n };
	struct fm_slice b = { slash ? slash + 1 : "simple",
			      slash ? v->n - h.n - 1 : 6 };

	if (is(&h, "simple"))
		sig->hcanon = FM_CANON_SIMPLE;
	else if (is(&h, "relaxed"))
		sig->hcanon = FM_CANON_RELAXED;
	else
		return -1;
	if (is(&b, "simple"))
		sig->bcanon = FM_CANON_SIMPLE;
	else if (is(&b, "relaxed"))
		sig->bcanon = FM_CANON_RELAXED;
	else
		return -1;
	return 0;
}

/* parse_h: h= into the names array; From must be among them */
static int
parse_h(struct fm_dkim_sig *sig)
{
	struct fm_slice v = sig->h, el;
	int from = 0;

	sig->nhnames = 0;
	while (list_next(&v, &el)) {
		if (el.n == 0 || sig->nhnames == FM_DKIM_MAX_HNAMES)
			return -1;
		if (el.n == 4 && strncasecmp(el.p, "from", 4) == 0)
			from = 1;
		sig->hnames[sig->nhnames++] = el;
	}
	return from ? 0 : -1;
}

/* within: whether domain sub equals d or is a subdomain of it */
static int
within(const char *sub, const char *d)
{
	size_t ls = strlen(sub), ld = strlen(d);

	if (ls == ld)
		return strcmp(sub, d) == 0;
	return ls > ld && sub[ls - ld - 1] == '.' &&
	       strcmp(sub + ls - ld, d) == 0;
}

/* sig_tag: one tag of a signature; seen is a bitmask of tags met */
static int
sig_tag(struct fm_dkim_sig *sig, const struct fm_slice *n,
	const struct fm_slice *v, unsigned *seen, struct buf *err)
{
	static const char *const known[] = { "v", "a", "b", "bh", "c", "d", "h",
					     "i", "l", "q", "s",  "t", "x" };
	unsigned bit = 0, k;
	uint64_t num;

	for (k = 0; k < sizeof(known) / sizeof(known[0]); k++)
		if (is(n, known[k]))
			bit = 1u << k;
	if (bit == 0)
		return 0; /* unknown tags are ignored */
	if (*seen & bit)
		return buf_printf(err, "duplicate tag %.*s", (int)n->n, n->p),
		       -1;
	*seen |= bit;
	if (is(n, "v") && !is(v, "1"))
		return buf_puts(err, "unsupported version"), -1;
	if (is(n, "a")) {
		if (is(v, "rsa-sha256"))
			sig->alg = FM_ALG_RSA_SHA256;
		else if (is(v, "ed25519-sha256"))
			sig->alg = FM_ALG_ED25519_SHA256;
		else
			return buf_puts(err, "unsupported algorithm"), -1;
	}
	if ((is(n, "b") && (sig->b = *v, v->n == 0)) ||
	    (is(n, "bh") && (sig->bh = *v, v->n == 0)))
		return buf_puts(err, "empty b= or bh="), -1;
	if (is(n, "c") && parse_canon(v, sig) < 0)
		return buf_puts(err, "bad canonicalization"), -1;
	if (is(n, "d") && copy_lower(v, sig->d, sizeof(sig->d)) < 0)
		return buf_puts(err, "bad d="), -1;
	if (is(n, "s") && (v->n == 0 || v->n >= sizeof(sig->s)))
		return buf_puts(err, "bad s="), -1;
	if (is(n, "s")) {
		memcpy(sig->s, v->p, v->n);
		sig->s[v->n] = '\0';
	}
	if (is(n, "h"))
		sig->h = *v;
	if (is(n, "i")) {
		const char *at = memchr(v->p, '@', v->n);
		struct fm_slice dom = { at ? at + 1 : "", 0 };

		dom.n = at ? v->n - (size_t)(at + 1 - v->p) : 0;
		if (copy_lower(&dom, sig->i_domain, sizeof(sig->i_domain)) < 0)
			return buf_puts(err, "bad i="), -1;
	}
	if (is(n, "l") && (sig->has_l = 1, parse_num(v, UINT64_MAX, &sig->l)))
		return buf_puts(err, "bad l="), -1;
	if (is(n, "q") && !list_has(*v, "dns/txt"))
		return buf_puts(err, "unsupported q="), -1;
	if (is(n, "t") || is(n, "x")) {
		if (parse_num(v, INT64_MAX, &num) < 0)
			return buf_puts(err, "bad t= or x="), -1;
		if (is(n, "t"))
			sig->has_t = 1, sig->t = (int64_t)num;
		else
			sig->has_x = 1, sig->x = (int64_t)num;
	}
	return 0;
}

int
fm_dkim_parse_sig(const char *field, size_t flen, struct fm_dkim_sig *sig,
		  struct buf *err)
{
	const char *colon = memchr(field, ':', flen), *p, *end = field + flen;
	/* bits of v a b bh d h s: the required tags */
	const unsigned required = 1u << 0 | 1u << 1 | 1u << 2 | 1u << 3 |
				  1u << 5 | 1u << 6 | 1u << 10;
	struct fm_slice n, v;
	unsigned seen = 0;
	int r;

	memset(sig, 0, sizeof(*sig));
	sig->field.p = field;
	sig->field.n = flen;
	if (colon == NULL)
		return buf_puts(err, "not a header field"), -EINVAL;
	p = colon + 1;
	while ((r = tag_next(&p, end, &n, &v)) == 1)
		if (sig_tag(sig, &n, &v, &seen, err) < 0)
			return -EINVAL;
	if (r < 0)
		return buf_puts(err, "tag-list syntax"), -EINVAL;
	if ((seen & required) != required)
		return buf_puts(err, "required tag missing"), -EINVAL;
	if (parse_h(sig) < 0)
		return buf_puts(err, "bad h= (From not signed)"), -EINVAL;
	if (sig->i_domain[0] == '\0')
		memcpy(sig->i_domain, sig->d, sizeof(sig->d));
	else if (!within(sig->i_domain, sig->d))
		return buf_puts(err, "i= not within d="), -EINVAL;
	if (sig->has_t && sig->has_x && sig->x < sig->t)
		return buf_puts(err, "x= before t="), -EINVAL;
	return 0;
}

/* key_tag: one tag of a key record */
static int
key_tag(struct fm_dkim_key *key, const struct fm_slice *n,
	const struct fm_slice *v, int first, int *have_p, struct buf *err)
{
	struct fm_slice el, list = *v;
	int len;

	if (is(n, "v") && (!first || !is(v, "DKIM1")))
		return buf_puts(err, "bad v= in key record"), -1;
	if (is(n, "h") && !list_has(*v, "sha256"))
		return buf_puts(err, "key not for sha256"), -1;
	if (is(n, "k")) {
		if (is(v, "ed25519"))
			key->ed25519 = 1;
		else if (!is(v, "rsa"))
			return buf_puts(err, "unknown key type"), -1;
	}
	if (is(n, "s") && !list_has(*v, "*") && !list_has(*v, "email"))
		return buf_puts(err, "key not for email"), -1;
	if (is(n, "t"))
		while (list_next(&list, &el)) {
			key->testing |= el.n == 1 && el.p[0] == 'y';
			key->strict |= el.n == 1 && el.p[0] == 's';
		}
	if (is(n, "p")) {
		if (*have_p)
			return buf_puts(err, "duplicate p="), -1;
		*have_p = 1;
		free(key->p);
		key->p = xmalloc(v->n + 1);
		len = fm_dkim_b64(v->p, v->n, key->p, v->n + 1);
		if (len < 0)
			return buf_puts(err, "bad base64 in p="), -1;
		key->plen = (size_t)len;
		key->revoked = len == 0;
	}
	return 0;
}

int
fm_dkim_parse_key(const char *txt, size_t len, struct fm_dkim_key *key,
		  struct buf *err)
{
	const char *p = txt, *end = txt + len;
	struct fm_slice n, v;
	int r, first = 1, have_p = 0;

	memset(key, 0, sizeof(*key));
	while ((r = tag_next(&p, end, &n, &v)) == 1) {
		if (key_tag(key, &n, &v, first, &have_p, err) < 0) {
			fm_dkim_key_clear(key);
			return -EINVAL;
		}
		first = 0;
	}
	if (r < 0 || !have_p) {
		buf_puts(err, r < 0 ? "key record syntax" : "no p= in key");
		fm_dkim_key_clear(key);
		return -EINVAL;
	}
	return 0;
}

void
fm_dkim_key_clear(struct fm_dkim_key *key)
{
	free(key->p);
	memset(key, 0, sizeof(*key));
}

int
fm_dkim_b64(const char *p, size_t n, unsigned char *out, size_t outsize)
{
	unsigned acc = 0, bits = 0;
	size_t i, o = 0, chars = 0, pads = 0;
	int v;

	for (i = 0; i < n; i++) {
		if (is_fws(p[i]))
			continue;
		chars++;
		if (p[i] == '=') {
			pads++;
			continue;
		}
		v = fm_mime_b64val(p[i]);
		if (v < 0 || pads > 0)
			return -EINVAL; /* junk, or data after padding */
		acc = ((acc << 6) | (unsigned)v) & 0xFFFF;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o >= outsize)
				return -EINVAL;
			out[o++] = (unsigned char)(acc >> bits);
		}
	}
	if (chars % 4 != 0 || pads > 2)
		return -EINVAL;
	return (int)o;
}
