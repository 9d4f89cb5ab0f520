/*
 * fm_dns_msg: the DNS wire format (RFC 1035) for TXT lookups: building a
 * query with an EDNS0 OPT record, and checking and reading the answer.
 *
 * Role: fm_dns.c's codec. Untrusted input: the answer packet. Every read
 * is bounds-checked against the packet length; compression pointers are
 * followed only backwards and at most 64 times, names are at most 255
 * bytes, and the answer must repeat our ID and question exactly.
 */
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "fm_dns.h"

#define DNS_HDR 12
#define TYPE_TXT 16
#define CLASS_IN 1

/* put16: big-endian 16 bits */
static void
put16(unsigned char *p, unsigned v)
{
	p[0] = (unsigned char)(v >> 8);
	p[1] = (unsigned char)v;
}

/* get16: big-endian 16 bits */
static unsigned
get16(const unsigned char *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

int
fm_dns_build_query(uint16_t id, const char *name, uint16_t qtype,
		   unsigned char *out, size_t outsize)
{
	size_t o = DNS_HDR, nlen = strlen(name), i, lab;

	if (nlen > 0 && name[nlen - 1] == '.')
		nlen--;
	if (nlen == 0 || nlen > 253)
		return -EINVAL;
	if (outsize < DNS_HDR + nlen + 2 + 4 + 11)
		return -E2BIG;
	memset(out, 0, DNS_HDR);
	put16(out, id);
	out[2] = 0x01;	    /* RD */
	put16(out + 4, 1);  /* QDCOUNT */
	put16(out + 10, 1); /* ARCOUNT: the OPT record */
	for (i = 0; i < nlen; i = lab + 1) {
		const char *dot = memchr(name + i, '.', nlen - i);

		lab = dot != NULL ? (size_t)(dot - name) : nlen;
		if (lab == i || lab - i > 63)
			return -EINVAL;
		out[o++] = (unsigned char)(lab - i);
		memcpy(out + o, name + i, lab - i);
		o += lab - i;
	}
	out[o++] = 0;
	put16(out + o, qtype);
	put16(out + o + 2, CLASS_IN);
	o += 4;
	/* OPT: root name, type 41, payload 4096, no flags, no data */
	out[o++] = 0;
	put16(out + o, 41);
	put16(out + o + 2, 4096);
	memset(out + o + 4, 0, 6);
	o += 10;
	return (int)o;
}

/* read_name: the (possibly compressed) name at *off into out as dotted
 * text; advances *off past it in place. 0 or -1. */
static int
read_name(const unsigned char *pkt, size_t len, size_t *off, char *out,
	  size_t outsize)
{
	size_t p = *off, o = 0, hops = 0, end = 0;
	unsigned l;

	for (;;) {
		if (p >= len)
			return -1;
		l = pkt[p];
		if ((l & 0xC0) == 0xC0) {
			size_t to;

			if (p + 1 >= len || ++hops > 64)
				return -1;
			to = (l & 0x3F) << 8 | pkt[p + 1];
			if (end == 0)
				end = p + 2;
			if (to >= p)
				return -1; /* only backwards: no loops */
			p = to;
			continue;
		}
		if (l & 0xC0)
			return -1;
		if (l == 0)
			break;
		if (p + 1 + l > len || o + l + 2 > outsize || o + l > 255)
			return -1;
		if (o > 0)
			out[o++] = '.';
		memcpy(out + o, pkt + p + 1, l);
		o += l;
		p += 1 + l;
	}
	out[o] = '\0';
	*off = end != 0 ? end : p + 1;
	return 0;
}

/* same_name: DNS names equal ignoring case and a trailing dot */
static int
same_name(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	if (la > 0 && a[la - 1] == '.')
		la--;
	if (lb > 0 && b[lb - 1] == '.')
		lb--;
	return la == lb && strncasecmp(a, b, la) == 0;
}

/* read_txt: one TXT rdata (character-strings joined) into txt */
static void
read_txt(const unsigned char *rd, size_t rdlen, uint32_t ttl,
	 struct fm_dns_txt *txt)
{
	size_t i = 0, o = 0, l;
	char *dst;

	if (txt->n == FM_DNS_MAX_TXT)
		return;
	dst = txt->txt[txt->n];
	while (i < rdlen) {
		l = rd[i++];
		if (i + l > rdlen)
			return; /* malformed: skip the record */
		if (o + l >= FM_DNS_TXT_MAX)
			l = FM_DNS_TXT_MAX - 1 - o;
		memcpy(dst + o, rd + i, l);
		o += l;
		i += rd[i - 1];
	}
	dst[o] = '\0';
	txt->len[txt->n] = o;
	if (txt->n == 0 || ttl < txt->ttl)
		txt->ttl = ttl;
	txt->n++;
}

int
fm_dns_parse_txt(const unsigned char *pkt, size_t len, uint16_t id,
		 const char *name, struct fm_dns_txt *txt, int *tc_r)
{
	char qname[260];
	size_t off = DNS_HDR, i, an;
	unsigned type, cls, rdlen;
	uint32_t ttl;

	txt->n = 0;
	txt->ttl = 0;
	*tc_r = 0;
	if (len < DNS_HDR || get16(pkt) != id || !(pkt[2] & 0x80) ||
	    get16(pkt + 4) != 1)
		return -EINVAL; /* not an answer to our one question */
	*tc_r = (pkt[2] & 0x02) != 0;
	if (read_name(pkt, len, &off, qname, sizeof(qname)) < 0 ||
	    !same_name(qname, name) || off + 4 > len ||
	    get16(pkt + off) != TYPE_TXT || get16(pkt + off + 2) != CLASS_IN)
		return -EINVAL;
	off += 4;
	an = get16(pkt + 6);
	for (i = 0; i < an; i++) {
		if (read_name(pkt, len, &off, qname, sizeof(qname)) < 0 ||
		    off + 10 > len)
			return -EINVAL;
		type = get16(pkt + off);
		cls = get16(pkt + off + 2);
		ttl = (uint32_t)get16(pkt + off + 4) << 16 |
		      get16(pkt + off + 6);
		rdlen = get16(pkt + off + 8);
		off += 10;
		if (off + rdlen > len)
			return -EINVAL;
		/* CNAMEs the resolver followed come first; take the TXTs */
		if (type == TYPE_TXT && cls == CLASS_IN)
			read_txt(pkt + off, rdlen, ttl, txt);
		off += rdlen;
	}
	return pkt[3] & 0x0F;
}
