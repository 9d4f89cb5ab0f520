/*
 * dns_msg: the DNS wire format (RFC 1035) for TXT, MX, A, AAAA, NS,
 * CNAME, SRV and CAA lookups: building a query with an EDNS0 OPT
 * record, and checking and reading the answer (and the owner of an SOA
 * record in it, which names the zone).
 *
 * Role: dns.c's codec. Untrusted input: the answer packet. Every read
 * is bounds-checked against the packet length; compression pointers are
 * followed only backwards and at most 64 times, names are at most 255
 * bytes, and the answer must repeat our ID and question exactly.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "dns.h"

#define DNS_HDR 12
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
dns_build_query(uint16_t id, const char *name, uint16_t qtype,
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

/* rr_slot: the next free record of rrs, or NULL when it is full */
static char *
rr_slot(struct dns_rrs *rrs)
{
	return rrs->n < DNS_MAX_RR ? rrs->rr[rrs->n] : NULL;
}

/* rr_keep: the record just written into rr_slot counts */
static void
rr_keep(struct dns_rrs *rrs, size_t len, uint32_t ttl)
{
	rrs->len[rrs->n] = len;
	if (rrs->n == 0 || ttl < rrs->ttl)
		rrs->ttl = ttl;
	rrs->n++;
}

/* read_txt: one TXT rdata (character-strings joined) into rrs */
static void
read_txt(const unsigned char *rd, size_t rdlen, uint32_t ttl,
	 struct dns_rrs *rrs)
{
	size_t i = 0, o = 0, l;
	char *dst = rr_slot(rrs);

	if (dst == NULL)
		return;
	while (i < rdlen) {
		l = rd[i++];
		if (i + l > rdlen)
			return; /* malformed: skip the record */
		if (o + l >= DNS_RR_MAX)
			l = DNS_RR_MAX - 1 - o;
		memcpy(dst + o, rd + i, l);
		o += l;
		i += rd[i - 1];
	}
	dst[o] = '\0';
	rr_keep(rrs, o, ttl);
}

/* read_mx: one MX rdata at off (preference, exchange) into rrs; the
 * exchange may be compressed against the whole packet */
static int
read_mx(const unsigned char *pkt, size_t off, size_t rdlen, uint32_t ttl,
	struct dns_rrs *rrs)
{
	char *dst = rr_slot(rrs);
	size_t p = off + 2;

	if (rdlen < 3)
		return -1;
	if (dst == NULL)
		return 0;
	if (read_name(pkt, off + rdlen, &p, dst, 256) < 0 || p != off + rdlen)
		return -1;
	rrs->pref[rrs->n] = (uint16_t)get16(pkt + off);
	rr_keep(rrs, strlen(dst), ttl);
	return 0;
}

/* read_target: one NS or CNAME rdata (a name, possibly compressed
 * against the whole packet) into rrs */
static int
read_target(const unsigned char *pkt, size_t off, size_t rdlen, uint32_t ttl,
	    struct dns_rrs *rrs)
{
	char *dst = rr_slot(rrs);
	size_t p = off;

	if (dst == NULL)
		return 0;
	if (read_name(pkt, off + rdlen, &p, dst, 256) < 0 || p != off + rdlen)
		return -1;
	rr_keep(rrs, strlen(dst), ttl);
	return 0;
}

/* read_srv: one SRV rdata as "priority weight port target" */
static int
read_srv(const unsigned char *pkt, size_t off, size_t rdlen, uint32_t ttl,
	 struct dns_rrs *rrs)
{
	char *dst = rr_slot(rrs), target[260];
	size_t p = off + 6;

	if (rdlen < 7)
		return -1;
	if (dst == NULL)
		return 0;
	if (read_name(pkt, off + rdlen, &p, target, sizeof(target)) < 0 ||
	    p != off + rdlen)
		return -1;
	(void)snprintf(dst, DNS_RR_MAX, "%u %u %u %s", get16(pkt + off),
		       get16(pkt + off + 2), get16(pkt + off + 4), target);
	rr_keep(rrs, strlen(dst), ttl);
	return 0;
}

/* read_caa: one CAA rdata as `flags tag "value"` (RFC 8659's
 * presentation form; a '"' or '\\' in the value is escaped) */
static int
read_caa(const unsigned char *rd, size_t rdlen, uint32_t ttl,
	 struct dns_rrs *rrs)
{
	char *dst = rr_slot(rrs);
	size_t tl, i, o;
	int n;

	if (rdlen < 2 || (tl = rd[1]) == 0 || 2 + tl > rdlen)
		return -1;
	if (dst == NULL)
		return 0;
	for (i = 0; i < tl; i++)
		if (!((rd[2 + i] >= 'a' && rd[2 + i] <= 'z') ||
		      (rd[2 + i] >= 'A' && rd[2 + i] <= 'Z') ||
		      (rd[2 + i] >= '0' && rd[2 + i] <= '9')))
			return -1;
	n = snprintf(dst, DNS_RR_MAX, "%u %.*s \"", rd[0], (int)tl,
		     (const char *)rd + 2);
	o = (size_t)n;
	for (i = 2 + tl; i < rdlen && o + 4 < DNS_RR_MAX; i++) {
		if (rd[i] == '"' || rd[i] == '\\')
			dst[o++] = '\\';
		dst[o++] = rd[i] >= 0x20 && rd[i] < 0x7f ? (char)rd[i] : '?';
	}
	dst[o++] = '"';
	dst[o] = '\0';
	rr_keep(rrs, o, ttl);
	return 0;
}

/* read_addr: one A or AAAA rdata into rrs as text */
static int
read_addr(const unsigned char *rd, size_t rdlen, unsigned qtype, uint32_t ttl,
	  struct dns_rrs *rrs)
{
	char *dst = rr_slot(rrs);
	int af = qtype == DNS_A ? AF_INET : AF_INET6;

	if (rdlen != (qtype == DNS_A ? 4u : 16u))
		return -1;
	if (dst == NULL)
		return 0;
	if (inet_ntop(af, rd, dst, DNS_RR_MAX) == NULL)
		return -1;
	rr_keep(rrs, strlen(dst), ttl);
	return 0;
}

/* read_rr: one answer record of the type we asked for into rrs */
static int
read_rr(const unsigned char *pkt, size_t off, size_t rdlen, unsigned qtype,
	uint32_t ttl, struct dns_rrs *rrs)
{
	switch (qtype) {
	case DNS_TXT:
		read_txt(pkt + off, rdlen, ttl, rrs);
		return 0;
	case DNS_MX:
		return read_mx(pkt, off, rdlen, ttl, rrs);
	case DNS_A:
	case DNS_AAAA:
		return read_addr(pkt + off, rdlen, qtype, ttl, rrs);
	case DNS_NS:
	case DNS_CNAME:
		return read_target(pkt, off, rdlen, ttl, rrs);
	case DNS_SRV:
		return read_srv(pkt, off, rdlen, ttl, rrs);
	case DNS_CAA:
		return read_caa(pkt + off, rdlen, ttl, rrs);
	default:
		return 0;
	}
}

/* read_section: n records from *off; those of qtype (class IN) into
 * rrs, the owner of an SOA record into rrs->zone. 0 or -EINVAL. */
static int
read_section(const unsigned char *pkt, size_t len, size_t *off, size_t n,
	     unsigned qtype, struct dns_rrs *rrs)
{
	char owner[260];
	size_t i;
	unsigned type, cls, rdlen;
	uint32_t ttl;

	for (i = 0; i < n; i++) {
		if (read_name(pkt, len, off, owner, sizeof(owner)) < 0 ||
		    *off + 10 > len)
			return -EINVAL;
		type = get16(pkt + *off);
		cls = get16(pkt + *off + 2);
		ttl = (uint32_t)get16(pkt + *off + 4) << 16 |
		      get16(pkt + *off + 6);
		rdlen = get16(pkt + *off + 8);
		*off += 10;
		if (*off + rdlen > len)
			return -EINVAL;
		/* CNAMEs the resolver followed come first; take ours */
		if (type == qtype && cls == CLASS_IN &&
		    read_rr(pkt, *off, rdlen, qtype, ttl, rrs) < 0)
			return -EINVAL;
		if (type == DNS_SOA && cls == CLASS_IN && rrs->zone[0] == '\0')
			(void)snprintf(rrs->zone, sizeof(rrs->zone), "%.255s",
				       owner[0] != '\0' ? owner : ".");
		*off += rdlen;
	}
	return 0;
}

int
dns_parse(const unsigned char *pkt, size_t len, uint16_t id, const char *name,
	  unsigned qtype, struct dns_rrs *rrs, int *tc_r)
{
	char qname[260];
	size_t off = DNS_HDR;

	rrs->n = 0;
	rrs->ttl = 0;
	rrs->aa = 0;
	rrs->zone[0] = '\0';
	*tc_r = 0;
	if (len < DNS_HDR || get16(pkt) != id || !(pkt[2] & 0x80) ||
	    get16(pkt + 4) != 1)
		return -EINVAL; /* not an answer to our one question */
	*tc_r = (pkt[2] & 0x02) != 0;
	rrs->aa = (pkt[2] & 0x04) != 0;
	if (read_name(pkt, len, &off, qname, sizeof(qname)) < 0 ||
	    !same_name(qname, name) || off + 4 > len ||
	    get16(pkt + off) != qtype || get16(pkt + off + 2) != CLASS_IN)
		return -EINVAL;
	off += 4;
	if (read_section(pkt, len, &off, get16(pkt + 6), qtype, rrs) < 0)
		return -EINVAL;
	/* the authority section: only the SOA's owner is kept; a packet
	 * cut short there still answered the question */
	if (read_section(pkt, len, &off, get16(pkt + 8), 0, rrs) < 0)
		rrs->zone[0] = '\0';
	return pkt[3] & 0x0F;
}

int
dns_parse_txt(const unsigned char *pkt, size_t len, uint16_t id,
	      const char *name, struct dns_rrs *rrs, int *tc_r)
{
	return dns_parse(pkt, len, id, name, DNS_TXT, rrs, tc_r);
}
