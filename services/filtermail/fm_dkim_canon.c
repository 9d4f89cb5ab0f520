/*
 * fm_dkim_canon: DKIM canonicalization (RFC 6376 §3.4) and the hashes
 * built on it: the body hash (bh=) and the header hash that is signed.
 *
 * Role: shared by signing and verification. Untrusted input: the
 * message. Canonical bytes go through a 16 KB staging buffer into
 * SHA-256 (one EVP update per 16 KB, no allocation per line); the body is
 * walked line by line with memchr, so the cost is linear in its size.
 * Lines end at LF (a CR before it is dropped) and come out as CRLF.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "fm_dkim.h"
#include "xmalloc.h"

/* sink state beyond struct fm_hash_sink: a copy target for tests */
struct sink {
	struct fm_hash_sink h;
	struct buf *copy; /* when set, bytes go here instead of the hash */
	int failed;
};

/* sink_flush: hash what is staged */
static void
sink_flush(struct sink *s)
{
	if (s->h.fill > 0 && s->copy == NULL &&
	    EVP_DigestUpdate(s->h.md, s->h.stage, s->h.fill) != 1)
		s->failed = 1;
	s->h.fill = 0;
}

/* sink_put: offer n canonical bytes; only the first limit are kept */
static void
sink_put(struct sink *s, const char *p, size_t n)
{
	uint64_t room = s->h.limit > s->h.total ? s->h.limit - s->h.total : 0;
	size_t take = (uint64_t)n < room ? n : (size_t)room, k;

	s->h.total += n;
	if (s->copy != NULL) {
		if (take > 0 && buf_append(s->copy, p, take) < 0)
			s->failed = 1;
		return;
	}
	while (take > 0) {
		k = sizeof(s->h.stage) - s->h.fill;
		if (k > take)
			k = take;
		memcpy(s->h.stage + s->h.fill, p, k);
		s->h.fill += k;
		p += k;
		take -= k;
		if (s->h.fill == sizeof(s->h.stage))
			sink_flush(s);
	}
}

/* sink_open: a SHA-256 sink (or a copy sink when copy is set) */
static int
sink_open(struct sink *s, uint64_t limit, struct buf *copy)
{
	s->h.limit = limit;
	s->h.total = 0;
	s->h.fill = 0;
	s->copy = copy;
	s->failed = 0;
	s->h.md = NULL;
	if (copy != NULL)
		return 0;
	s->h.md = EVP_MD_CTX_new();
	if (s->h.md == NULL ||
	    EVP_DigestInit_ex(s->h.md, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(s->h.md);
		return -ENOMEM;
	}
	return 0;
}

/* sink_close: finish the hash into out (32 bytes) and free */
static int
sink_close(struct sink *s, unsigned char *out)
{
	unsigned int n = 0;
	int rc = 0;

	if (s->copy == NULL) {
		sink_flush(s);
		if (out != NULL && EVP_DigestFinal_ex(s->h.md, out, &n) != 1)
			rc = -EIO;
		EVP_MD_CTX_free(s->h.md);
		s->h.md = NULL;
	}
	return s->failed ? -EIO : rc;
}

/* is_wsp: SP or HT */
static int
is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* relaxed_line: a body line with WSP runs as one SP and none at the end;
 * returns whether anything is left */
static int
relaxed_line(struct sink *s, const char *p, size_t n, size_t *pending)
{
	size_t i = 0, run;

	while (n > 0 && is_wsp(p[n - 1]))
		n--;
	if (n == 0)
		return 0;
	for (; *pending > 0; (*pending)--)
		sink_put(s, "\r\n", 2);
	while (i < n) {
		run = i;
		while (i < n && !is_wsp(p[i]))
			i++;
		sink_put(s, p + run, i - run);
		if (i < n) {
			sink_put(s, " ", 1);
			while (i < n && is_wsp(p[i]))
				i++;
		}
	}
	return 1;
}

/* canon_body: stream the canonical body into s */
static void
canon_body(struct sink *s, const char *body, size_t blen, enum fm_canon c)
{
	size_t i = 0, end, n, pending = 0;
	const char *nl;
	int any = 0;

	while (i < blen) {
		nl = memchr(body + i, '\n', blen - i);
		end = nl != NULL ? (size_t)(nl - body) : blen;
		n = end - i;
		if (nl != NULL && n > 0 && body[end - 1] == '\r')
			n--;
		if (c == FM_CANON_RELAXED) {
			if (relaxed_line(s, body + i, n, &pending)) {
				any = 1;
				pending = 1;
			} else {
				pending++;
			}
		} else if (n == 0) {
			pending++; /* empty lines wait: trailing ones drop */
		} else {
			for (; pending > 0; pending--)
				sink_put(s, "\r\n", 2);
			sink_put(s, body + i, n);
			any = 1;
			pending = 1;
		}
		i = nl != NULL ? end + 1 : blen;
	}
	/* the last non-empty line keeps its CRLF; an empty body is CRLF in
	 * simple and nothing in relaxed */
	if (any || c == FM_CANON_SIMPLE)
		sink_put(s, "\r\n", 2);
}

int
fm_dkim_body_hash(const char *body, size_t blen, enum fm_canon c,
		  uint64_t limit, unsigned char out[32], uint64_t *total_r)
{
	struct sink s;
	int rc;

	if (sink_open(&s, limit, NULL) < 0)
		return -ENOMEM;
	canon_body(&s, body, blen, c);
	*total_r = s.h.total;
	rc = sink_close(&s, out);
	return rc;
}

int
fm_dkim_canon_body(const char *body, size_t blen, enum fm_canon c,
		   struct buf *out)
{
	struct sink s;

	(void)sink_open(&s, UINT64_MAX, out);
	canon_body(&s, body, blen, c);
	return sink_close(&s, NULL);
}

/* canon_header: one field into s; crlf: keep the line end */
static void
canon_header(struct sink *s, const char *f, size_t n, enum fm_canon c, int crlf)
{
	size_t i = 0, j, colon;
	int ws = 0, started = 0;
	char ch;

	while (n >= 2 && !crlf && f[n - 2] == '\r' && f[n - 1] == '\n')
		n -= 2;
	if (n >= 1 && !crlf && f[n - 1] == '\n')
		n--;
	if (c == FM_CANON_SIMPLE) {
		sink_put(s, f, n);
		return;
	}
	colon = (size_t)((const char *)memchr(f, ':', n) - f);
	for (j = colon; j > 0 && is_wsp(f[j - 1]); j--)
		;
	for (i = 0; i < j; i++) {
		ch = f[i] >= 'A' && f[i] <= 'Z' ? (char)(f[i] + 32) : f[i];
		sink_put(s, &ch, 1);
	}
	sink_put(s, ":", 1);
	for (i = colon + 1; i < n; i++) {
		if (f[i] == '\r' || f[i] == '\n')
			continue; /* unfold */
		if (is_wsp(f[i])) {
			ws = 1;
			continue;
		}
		if (ws && started)
			sink_put(s, " ", 1);
		ws = 0;
		started = 1;
		j = i;
		while (i + 1 < n && !is_wsp(f[i + 1]) && f[i + 1] != '\r' &&
		       f[i + 1] != '\n')
			i++;
		sink_put(s, f + j, i + 1 - j);
	}
	if (crlf)
		sink_put(s, "\r\n", 2);
}

int
fm_dkim_canon_header(const char *field, size_t flen, enum fm_canon c, int crlf,
		     struct buf *out)
{
	struct sink s;

	if (memchr(field, ':', flen) == NULL)
		return -EINVAL;
	(void)sink_open(&s, UINT64_MAX, out);
	canon_header(&s, field, flen, c, crlf);
	return sink_close(&s, NULL);
}

/* a header field of the message */
struct field {
	const char *p;
	size_t n; /* including its line end */
	size_t namelen;
	int used;
};

/* split_fields: the header fields of hdr (continuations joined); the
 * array is allocated, count through n_r */
static struct field *
split_fields(const char *hdr, size_t hlen, size_t *n_r)
{
	struct field *f = NULL;
	size_t n = 0, cap = 0, i = 0, end;
	const char *nl, *colon;

	while (i < hlen) {
		nl = memchr(hdr + i, '\n', hlen - i);
		end = nl != NULL ? (size_t)(nl - hdr) + 1 : hlen;
		if ((hdr[i] == ' ' || hdr[i] == '\t') && n > 0) {
			f[n - 1].n = end - (size_t)(f[n - 1].p - hdr);
		} else if ((colon = memchr(hdr + i, ':', end - i)) != NULL) {
			if (n == cap) {
				cap = cap ? cap * 2 : 32;
				f = xreallocarray(f, cap, sizeof(*f));
			}
			f[n].p = hdr + i;
			f[n].n = end - i;
			f[n].namelen = (size_t)(colon - (hdr + i));
			while (f[n].namelen > 0 &&
			       is_wsp(f[n].p[f[n].namelen - 1]))
				f[n].namelen--;
			f[n].used = 0;
			n++;
		}
		i = end;
	}
	*n_r = n;
	return f;
}

/* strip_b: copy the signature field with the b= value removed */
static void
strip_b(const char *f, size_t n, struct buf *out)
{
	size_t i, start, tag, tagend;

	i = (size_t)((const char *)memchr(f, ':', n) - f) + 1;
	(void)buf_append(out, f, i);
	while (i < n) {
		start = i;
		while (i < n && (is_wsp(f[i]) || f[i] == '\r' || f[i] == '\n'))
			i++;
		tag = i;
		while (i < n && f[i] != '=' && f[i] != ';' && !is_wsp(f[i]) &&
		       f[i] != '\r' && f[i] != '\n')
			i++;
		tagend = i;
		while (i < n && f[i] != '=' && f[i] != ';')
			i++;
		if (i < n && f[i] == '=' && tagend - tag == 1 &&
		    f[tag] == 'b') {
			(void)buf_append(out, f + start, i + 1 - start);
			while (i < n && f[i] != ';')
				i++;
		} else {
			while (i < n && f[i] != ';')
				i++;
			(void)buf_append(out, f + start, i - start);
		}
		if (i < n) {
			(void)buf_putc(out, ';');
			i++;
		}
	}
}

int
fm_dkim_header_hash(const char *hdr, size_t hlen, const struct fm_slice *names,
		    size_t nnames, const char *sigfield, size_t siglen,
		    enum fm_canon c, unsigned char out[32])
{
	struct buf nob = BUF_INIT(siglen + 1);
	struct field *f;
	struct sink s;
	size_t nf, k, j;
	int rc;

	f = split_fields(hdr, hlen, &nf);
	rc = sink_open(&s, UINT64_MAX, NULL);
	if (rc < 0)
		goto out;
	for (k = 0; k < nnames; k++) {
		for (j = nf; j > 0; j--) {
			struct field *x = &f[j - 1];

			if (!x->used && x->namelen == names[k].n &&
			    strncasecmp(x->p, names[k].p, x->namelen) == 0) {
				x->used = 1;
				canon_header(&s, x->p, x->n, c, 1);
				break;
			}
		}
	}
	strip_b(sigfield, siglen, &nob);
	canon_header(&s, nob.data, nob.len, c, 0);
	rc = sink_close(&s, out);
out:
	buf_deinit(&nob);
	free(f);
	return rc;
}
