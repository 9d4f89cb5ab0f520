/*
 * fm_pgp: the encryption rules of upstream filtermail (check_encrypted,
 * check_armored_payload, check_openpgp_payload, is_securejoin) over the
 * slices fm_mime.c finds.
 *
 * Role: decides "encrypted" and "SecureJoin request" for fm_policy.c.
 * Untrusted input: the whole message. The packet walker is a byte-at-a-
 * time state machine with 64-bit counters, so lengths up to 2^32 and
 * partial chunks up to 2^30 cannot overflow anything; the armor decoder
 * feeds it through a fixed stack buffer.
 */
#define _GNU_SOURCE /* memmem, memrchr */
#include <string.h>

#include "fm_pgp.h"

enum walk_state {
	W_HDR,	   /* a packet header byte (or the end) */
	W_NEWLEN,  /* first new-format length octet */
	W_NEW2,	   /* second octet of a two-octet length */
	W_NEW5,	   /* octets 2..5 of a five-octet length */
	W_LEGLEN,  /* legacy length octets */
	W_PARTIAL, /* skipping a partial body chunk */
	W_BODY,	   /* skipping the packet body */
};

#define TAG_PKESK 1
#define TAG_SKESK 3
#define TAG_SEIPD 18

void
fm_pgp_walk_init(struct fm_pgp_walk *w)
{
	memset(w, 0, sizeof(*w));
	w->state = W_HDR;
}

/* body_start: the packet's body length is known */
static void
body_start(struct fm_pgp_walk *w, uint64_t len)
{
	w->skip = len;
	w->state = W_BODY;
}

/* walk_header: a packet header byte; only PKESK/SKESK may come before */
static int
walk_header(struct fm_pgp_walk *w, unsigned b)
{
	if (w->pos > 0 && w->tag != TAG_PKESK && w->tag != TAG_SKESK)
		return -1; /* a packet other than a session key before this */
	if ((b & 0xC0) == 0xC0) {
		w->legacy = 0;
		w->tag = b & 0x3F;
		w->state = W_NEWLEN;
	} else if ((b & 0xC0) == 0x80) {
		w->legacy = 1;
		w->tag = (b & 0x3C) >> 2;
		if ((b & 3) == 3)
			return -1; /* indeterminate length: refused */
		w->need = (b & 3) == 0 ? 1 : (b & 3) == 1 ? 2 : 4;
		w->lenacc = 0;
		w->state = W_LEGLEN;
	} else {
		return -1;
	}
	return 0;
}

/* walk_length: one length octet in the new or legacy format */
static void
walk_length(struct fm_pgp_walk *w, unsigned b)
{
	switch (w->state) {
	case W_NEWLEN:
		if (b >= 224 && b < 255) {
			w->skip = (uint64_t)1 << (b & 0x1F);
			w->state = W_PARTIAL;
		} else if (b < 192) {
			body_start(w, b);
		} else if (b < 224) {
			w->lenacc = (b - 192) << 8;
			w->state = W_NEW2;
		} else {
			w->lenacc = 0;
			w->need = 4;
			w->state = W_NEW5;
		}
		break;
	case W_NEW2:
		body_start(w, (uint64_t)w->lenacc + b + 192);
		break;
	default: /* W_NEW5, W_LEGLEN: big-endian octets */
		w->lenacc = (w->lenacc << 8) | b;
		if (--w->need == 0)
			body_start(w, w->lenacc);
		break;
	}
}

int
fm_pgp_walk_feed(struct fm_pgp_walk *w, const unsigned char *p, size_t n)
{
	size_t i = 0, take;

	while (i < n && !w->failed) {
		if (w->state == W_BODY || w->state == W_PARTIAL) {
			take = (uint64_t)(n - i) < w->skip ? n - i
							   : (size_t)w->skip;
			w->skip -= take;
			i += take;
			if (w->skip == 0)
				w->state =
					w->state == W_BODY ? W_HDR : W_NEWLEN;
			continue;
		}
		if (w->state == W_HDR) {
			if (walk_header(w, p[i]) < 0)
				w->failed = 1;
		} else {
			walk_length(w, p[i]);
		}
		if (w->state == W_BODY && w->skip == 0)
			w->state = W_HDR; /* empty body */
		w->pos++;
		i++;
	}
	return w->failed ? -1 : 0;
}

int
fm_pgp_walk_finish(const struct fm_pgp_walk *w)
{
	/* the last packet ended exactly at the end, and was the SEIPD */
	return !w->failed && w->pos > 0 && w->state == W_HDR &&
	       w->tag == TAG_SEIPD;
}

int
fm_pgp_packets_ok(const unsigned char *p, size_t n)
{
	struct fm_pgp_walk w;

	fm_pgp_walk_init(&w);
	(void)fm_pgp_walk_feed(&w, p, n);
	return fm_pgp_walk_finish(&w);
}

#define B64_PAD 64    /* '=' */
#define B64_SKIP 0x80 /* CR, LF */
#define B64_BAD 0xff

/* b64_table: the base64 alphabet's values, B64_PAD, B64_SKIP, else
 * B64_BAD; filled on first use */
static const unsigned char *
b64_table(void)
{
	static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				    "abcdefghijklmnopqrstuvwxyz0123456789+/";
	static unsigned char t[256];
	static int ready;
	unsigned i;

	if (ready)
		return t;
	memset(t, B64_BAD, sizeof(t));
	for (i = 0; i < 64; i++)
		t[(unsigned char)alpha[i]] = (unsigned char)i;
	t['='] = B64_PAD;
	t['\r'] = B64_SKIP;
	t['\n'] = B64_SKIP;
	ready = 1;
	return t;
}

/* quad_decode: one group of four (pads as 64) into out; bytes written,
 * or -1 for bad padding or non-zero trailing bits */
static int
quad_decode(const int q[4], unsigned char *out)
{
	unsigned v;

	if (q[0] == 64 || q[1] == 64 || (q[2] == 64 && q[3] != 64))
		return -1;
	v = (unsigned)q[0] << 18 | (unsigned)q[1] << 12;
	if (q[2] == 64) {
		if (q[1] & 0x0F)
			return -1;
		out[0] = (unsigned char)(v >> 16);
		return 1;
	}
	v |= (unsigned)q[2] << 6;
	if (q[3] == 64) {
		if (q[2] & 0x03)
			return -1;
		out[0] = (unsigned char)(v >> 16);
		out[1] = (unsigned char)(v >> 8);
		return 2;
	}
	v |= (unsigned)q[3];
	out[0] = (unsigned char)(v >> 16);
	out[1] = (unsigned char)(v >> 8);
	out[2] = (unsigned char)v;
	return 3;
}

/* quad_fast: four plain alphabet characters at p (no padding, no line
 * end) decoded into out; 1, or 0 if the slow path must look */
static int
quad_fast(const unsigned char *t, const char *p, unsigned char *out)
{
	unsigned a = t[(unsigned char)p[0]], b = t[(unsigned char)p[1]],
		 c = t[(unsigned char)p[2]], d = t[(unsigned char)p[3]];
	unsigned v = a << 18 | b << 12 | c << 6 | d;

	if ((a | b | c | d) >= 64)
		return 0;
	out[0] = (unsigned char)(v >> 16);
	out[1] = (unsigned char)(v >> 8);
	out[2] = (unsigned char)v;
	return 1;
}

/* b64_walk: strict base64 of p (CR and LF ignored) streamed into the
 * packet walker; 1 if it decodes and the packets are right. Whole
 * groups of four inside a line take a table-driven fast path; group
 * boundaries across line ends and the padding take the careful one. */
static int
b64_walk(const char *p, size_t n, struct fm_pgp_walk *w)
{
	const unsigned char *t = b64_table();
	unsigned char out[4096];
	size_t i = 0, o = 0;
	int q[4], nq = 0, v, done = 0;

	while (i < n) {
		if (o + 3 > sizeof(out)) {
			if (fm_pgp_walk_feed(w, out, o) < 0)
				return 0;
			o = 0;
		}
		if (nq == 0 && !done && n - i >= 4 &&
		    quad_fast(t, p + i, out + o)) {
			o += 3;
			i += 4;
			continue;
		}
		v = t[(unsigned char)p[i++]];
		if (v == B64_SKIP)
			continue;
		if (v == B64_BAD || done)
			return 0; /* not base64, or data after the padding */
		q[nq++] = v;
		if (nq < 4)
			continue;
		nq = 0;
		if (q[3] == B64_PAD)
			done = 1;
		v = quad_decode(q, out + o);
		if (v < 0)
			return 0;
		o += (size_t)v;
	}
	if (nq != 0)
		return 0;
	(void)fm_pgp_walk_feed(w, out, o);
	return fm_pgp_walk_finish(w);
}

int
fm_pgp_armor_ok(const char *p, size_t n, int outgoing)
{
	static const char prefix[] = "-----BEGIN PGP MESSAGE-----\r\n";
	static const char suffix[] = "-----END PGP MESSAGE-----";
	static const char version[] = "Version: ";
	const size_t plen = sizeof(prefix) - 1, slen = sizeof(suffix) - 1;
	struct fm_pgp_walk w;
	const char *crlf, *eq;

	if (n < plen || memcmp(p, prefix, plen) != 0)
		return 0;
	p += plen;
	n -= plen;
	while (n >= 2 && p[n - 2] == '\r' && p[n - 1] == '\n')
		n -= 2;
	if (n < slen || memcmp(p + n - slen, suffix, slen) != 0)
		return 0;
	n -= slen;
	if (n >= sizeof(version) - 1 &&
	    memcmp(p, version, sizeof(version) - 1) == 0) {
		if (outgoing)
			return 0; /* no armor comments from our users */
		crlf = memmem(p, n, "\r\n", 2);
		if (crlf != NULL) {
			n -= (size_t)(crlf + 2 - p);
			p = crlf + 2;
		}
	}
	while (n >= 2 && p[0] == '\r' && p[1] == '\n') {
		p += 2;
		n -= 2;
	}
	eq = memrchr(p, '=', n);
	if (eq != NULL)
		n = (size_t)(eq - p); /* drop the CRC24 line */
	fm_pgp_walk_init(&w);
	return b64_walk(p, n, &w);
}
