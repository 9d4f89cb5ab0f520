/*
 * fm_dns: asynchronous DNS lookups on filtermail's event loop: TXT for
 * DKIM key records (incoming), MX, A and AAAA for remote delivery
 * (transport), with a bounded LRU cache.
 *
 * Queries go over a non-blocking UDP socket (EDNS0, 4096-byte payload)
 * to one nameserver (chatmail.ini dns_server "IP[:port]" / "[IPv6]:port",
 * else the first nameserver of /etc/resolv.conf), are retransmitted with
 * backoff, retried over TCP when the answer is truncated, and given up
 * after 60 s (upstream's lookup timeout), or at once (a temporary
 * failure) when the kernel reports the nameserver's port unreachable.
 * Answers are cached by name and type, at
 * most FM_DNS_CACHE_MAX entries, least recently used evicted, each kept
 * for its TTL (at most a day); negative answers are not cached (like
 * upstream since filtermail 0.7.1). No libresolv or c-ares: the message
 * codec is ~200 lines here, fuzzed, and the loop stays ours.
 *
 * Untrusted input: every byte of every DNS answer (matched by query ID,
 * question and source; names and lengths bounds-checked).
 */
#ifndef FM_DNS_H
#define FM_DNS_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "evloop.h"

#define FM_DNS_CACHE_MAX 1000
#define FM_DNS_TIMEOUT_MS 60000
#define FM_DNS_RR_MAX 4096 /* one record as text (TXT strings joined) */
#define FM_DNS_MAX_RR 16   /* records kept per answer */

#define FM_DNS_A 1
#define FM_DNS_MX 15
#define FM_DNS_TXT 16
#define FM_DNS_AAAA 28

/* the records of one type of one name, as text: a TXT record's strings
 * joined, an MX record's exchange ("" for the null MX "."; its
 * preference in pref), an A or AAAA address as inet_ntop writes it */
struct fm_dns_rrs {
	size_t n;
	char rr[FM_DNS_MAX_RR][FM_DNS_RR_MAX]; /* NUL-terminated */
	size_t len[FM_DNS_MAX_RR];
	uint16_t pref[FM_DNS_MAX_RR]; /* MX only */
	uint32_t ttl;		      /* smallest TTL of the records */
};

/* status: 1 records found; 0 no records of that type (for TXT: or no
 * such name); -ENOENT no such name (NXDOMAIN; not for TXT); -ETIMEDOUT,
 * -EIO (server failure, refusal, bad answers): temporary. rrs is valid
 * only during the call. */
typedef void fm_dns_fn(void *arg, int status, const struct fm_dns_rrs *rrs);

struct fm_dns;
struct fm_dns_query;

/* fm_dns_new: a resolver; server "" reads /etc/resolv.conf (resolv_conf
 * names another file, for tests; NULL = the default). NULL + err. */
struct fm_dns *fm_dns_new(struct evloop *loop, const char *server,
			  const char *resolv_conf, struct buf *err);
/* fm_dns_free: cancels every pending query (no callbacks) and frees */
void fm_dns_free(struct fm_dns **dp);

/* fm_dns_lookup: look up name's records of qtype (FM_DNS_*). A cache
 * hit, or a name that cannot be queried (status -EINVAL), calls fn
 * before returning and returns NULL; otherwise a handle is returned and
 * fn runs later from the loop, exactly once unless cancelled. */
struct fm_dns_query *fm_dns_lookup(struct fm_dns *dns, const char *name,
				   unsigned qtype, fm_dns_fn *fn, void *arg);
/* fm_dns_lookup_txt: fm_dns_lookup for TXT, where no such name is 0 */
struct fm_dns_query *fm_dns_lookup_txt(struct fm_dns *dns, const char *name,
				       fm_dns_fn *fn, void *arg);
/* fm_dns_cancel: drop a pending query; fn will not run; *qp = NULL */
void fm_dns_cancel(struct fm_dns_query **qp);
/* fm_dns_invalidate: forget name's cached TXT answer */
void fm_dns_invalidate(struct fm_dns *dns, const char *name);
/* fm_dns_cache_count: names cached (tests) */
size_t fm_dns_cache_count(const struct fm_dns *dns);
/* fm_dns_set_clock: seconds clock for cache expiry (tests) */
void fm_dns_set_clock(struct fm_dns *dns, uint64_t (*now_s)(void));

/* the wire format, exposed for tests and the fuzzer */

/* fm_dns_build_query: a recursive query for name (type qtype, class IN,
 * EDNS0) into out; length or -EINVAL (bad name) / -E2BIG */
int fm_dns_build_query(uint16_t id, const char *name, uint16_t qtype,
		       unsigned char *out, size_t outsize);
/* fm_dns_parse: check an answer to our query (id, name, qtype) and
 * collect its records of qtype (those a resolver's CNAMEs lead to
 * included). Returns the RCODE (0 NOERROR, 3 NXDOMAIN, ...) or -EINVAL
 * for a malformed or unrelated packet; *tc_r is set when the answer was
 * truncated. */
int fm_dns_parse(const unsigned char *pkt, size_t len, uint16_t id,
		 const char *name, unsigned qtype, struct fm_dns_rrs *rrs,
		 int *tc_r);
/* fm_dns_parse_txt: fm_dns_parse for TXT */
int fm_dns_parse_txt(const unsigned char *pkt, size_t len, uint16_t id,
		     const char *name, struct fm_dns_rrs *rrs, int *tc_r);

#endif
