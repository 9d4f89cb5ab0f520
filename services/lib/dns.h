/*
 * dns: asynchronous DNS lookups on a program's event loop, with a
 * bounded LRU cache. filtermail asks for TXT (DKIM key records,
 * incoming), MX, A and AAAA (remote delivery, transport) through its
 * resolver; the operator's DNS check (operator/dnscheck.h) finds a
 * zone's servers (SOA, NS, A/AAAA) and asks them directly, without
 * recursion or cache (DNS_NORECURSE, DNS_NOCACHE), for every record a
 * relay publishes (also CNAME, SRV and CAA).
 *
 * Queries go over a non-blocking UDP socket (EDNS0, 4096-byte payload)
 * to one nameserver (chatmail.ini dns_server "IP[:port]" / "[IPv6]:port",
 * else the first nameserver of /etc/resolv.conf), are retransmitted with
 * backoff, retried over TCP when the answer is truncated, and given up
 * after 60 s (upstream's lookup timeout; dns_set_opts), or at once (a temporary
 * failure) when the kernel reports the nameserver's port unreachable.
 * Answers are cached by name and type, at
 * most DNS_CACHE_MAX entries, least recently used evicted, each kept
 * for its TTL (at most a day); negative answers are not cached (like
 * upstream since filtermail 0.7.1). No libresolv or c-ares: the message
 * codec is ~200 lines here, fuzzed, and the loop stays ours.
 *
 * Untrusted input: every byte of every DNS answer (matched by query ID,
 * question and source; names and lengths bounds-checked).
 */
#ifndef CM_DNS_H
#define CM_DNS_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "evloop.h"

#define DNS_CACHE_MAX 1000
#define DNS_TIMEOUT_MS 60000
#define DNS_RR_MAX 4096 /* one record as text (TXT strings joined) */
#define DNS_MAX_RR 16	/* records kept per answer */

#define DNS_A 1
#define DNS_NS 2
#define DNS_CNAME 5
#define DNS_SOA 6 /* only its owner is read: rrs->zone */
#define DNS_MX 15
#define DNS_TXT 16
#define DNS_AAAA 28
#define DNS_SRV 33
#define DNS_CAA 257

/* dns_set_opts flags */
#define DNS_NORECURSE 1 /* RD off: ask an authoritative server itself */
#define DNS_NOCACHE 2	/* every lookup goes to the server */

/* the records of one type of one name, as text: a TXT record's strings
 * joined, an MX record's exchange ("" for the null MX "."; its
 * preference in pref), an A or AAAA address as inet_ntop writes it, an
 * NS or CNAME target (no trailing dot), an SRV record as "priority
 * weight port target", a CAA record as `flags tag "value"` */
struct dns_rrs {
	size_t n;
	char rr[DNS_MAX_RR][DNS_RR_MAX]; /* NUL-terminated */
	size_t len[DNS_MAX_RR];
	uint16_t pref[DNS_MAX_RR]; /* MX only */
	uint32_t ttl;		   /* smallest TTL of the records */
	int aa;			   /* the server is authoritative */
	char zone[256];		   /* owner of an SOA in the answer or authority
			 * section (the zone the name is in), or "" */
};

/* status: 1 records found; 0 no records of that type (for TXT: or no
 * such name); -ENOENT no such name (NXDOMAIN; not for TXT); -ETIMEDOUT,
 * -EIO (server failure, refusal, bad answers): temporary. rrs is valid
 * only during the call. */
typedef void dns_fn(void *arg, int status, const struct dns_rrs *rrs);

struct dns;
struct dns_query;

/* dns_new: a resolver; server "" reads /etc/resolv.conf (resolv_conf
 * names another file, for tests; NULL = the default). NULL + err. */
struct dns *dns_new(struct evloop *loop, const char *server,
		    const char *resolv_conf, struct buf *err);
/* dns_set_opts: DNS_NORECURSE | DNS_NOCACHE flags, and the time a
 * lookup may take (0 = DNS_TIMEOUT_MS) */
void dns_set_opts(struct dns *dns, unsigned flags, unsigned timeout_ms);
/* dns_free: cancels every pending query (no callbacks) and frees */
void dns_free(struct dns **dp);

/* dns_lookup: look up name's records of qtype (DNS_*). A cache
 * hit, or a name that cannot be queried (status -EINVAL), calls fn
 * before returning and returns NULL; otherwise a handle is returned and
 * fn runs later from the loop, exactly once unless cancelled. */
struct dns_query *dns_lookup(struct dns *dns, const char *name, unsigned qtype,
			     dns_fn *fn, void *arg);
/* dns_lookup_txt: dns_lookup for TXT, where no such name is 0 */
struct dns_query *dns_lookup_txt(struct dns *dns, const char *name, dns_fn *fn,
				 void *arg);
/* dns_cancel: drop a pending query; fn will not run; *qp = NULL */
void dns_cancel(struct dns_query **qp);
/* dns_invalidate: forget name's cached TXT answer */
void dns_invalidate(struct dns *dns, const char *name);
/* dns_cache_count: names cached (tests) */
size_t dns_cache_count(const struct dns *dns);
/* dns_set_clock: seconds clock for cache expiry (tests) */
void dns_set_clock(struct dns *dns, uint64_t (*now_s)(void));

/* dns_txt_unquote: a TXT value in presentation (zone-file) form,
 * "..." "...", as the text it stands for: the quoted strings joined,
 * backslash escapes taken literally, anything outside quotes dropped;
 * truncated to outsize - 1 bytes */
void dns_txt_unquote(const char *v, char *out, size_t outsize);

/* the wire format, exposed for tests and the fuzzer */

/* dns_build_query: a recursive query for name (type qtype, class IN,
 * EDNS0) into out; length or -EINVAL (bad name) / -E2BIG */
int dns_build_query(uint16_t id, const char *name, uint16_t qtype,
		    unsigned char *out, size_t outsize);
/* dns_parse: check an answer to our query (id, name, qtype) and
 * collect its records of qtype (those a resolver's CNAMEs lead to
 * included). Returns the RCODE (0 NOERROR, 3 NXDOMAIN, ...) or -EINVAL
 * for a malformed or unrelated packet; *tc_r is set when the answer was
 * truncated. */
int dns_parse(const unsigned char *pkt, size_t len, uint16_t id,
	      const char *name, unsigned qtype, struct dns_rrs *rrs, int *tc_r);
/* dns_parse_txt: dns_parse for TXT */
int dns_parse_txt(const unsigned char *pkt, size_t len, uint16_t id,
		  const char *name, struct dns_rrs *rrs, int *tc_r);

#endif
