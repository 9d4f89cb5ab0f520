/*
 * dns: the asynchronous resolver and its LRU cache (see dns.h).
 *
 * Role: lookups without blocking the event loop (filtermail's DKIM
 * keys and MX hosts, the operator's DNS check). Each query owns one
 * connected UDP socket (the kernel drops
 * datagrams from anyone but the server; the 16-bit ID and the question
 * are checked too), retransmits after 1, 2, 4, 8 ... s, fails at once
 * (temporarily) when the kernel reports the server's port unreachable,
 * switches to TCP on truncation, and ends after DNS_TIMEOUT_MS. Untrusted input: the
 * answers (parsed by dns_msg.c into a fixed scratch structure).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "dns.h"
#include "llist.h"
#include "log.h"
#include "net.h"
#include "num.h"
#include "xmalloc.h"

struct cache_ent {
	char *name;
	unsigned qtype;
	char *data; /* the records, each NUL-terminated, back to back */
	uint16_t *pref;
	size_t ndata, nrec;
	uint64_t expires; /* seconds on the dns clock */
	uint64_t used;	  /* LRU stamp */
};

struct dns {
	struct evloop *loop;
	struct net_addr server;
	LLIST_HEAD(, dns_query) queries; /* pending */
	struct cache_ent cache[DNS_CACHE_MAX];
	size_t ncache;
	uint64_t stamp;
	uint64_t (*now_s)(void);
	unsigned flags, timeout_ms;
	struct dns_rrs scratch; /* what callbacks see */
};

struct dns_query {
	struct dns *dns;
	LLIST_LINK(dns_query) link; /* in dns->queries */
	char name[256];
	unsigned qtype;
	int nx_empty; /* NXDOMAIN is status 0 (TXT), not -ENOENT */
	uint16_t id;
	int fd, tcp, connected;
	unsigned attempt;
	struct evloop_timer retry, deadline;
	unsigned char q[300];
	size_t qlen;
	unsigned char *tbuf; /* TCP: 2-byte length + message */
	size_t tlen, tdone;
	dns_fn *fn;
	void *arg;
};

/* mono_s: the default seconds clock */
static uint64_t
mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec;
}

/* parse_server: "IP", "IP:port", "[IPv6]:port" into addr */
static int
parse_server(const char *s, struct net_addr *addr)
{
	char host[64];
	const char *port = NULL, *colon = strrchr(s, ':');
	unsigned p = 53;
	size_t n = strlen(s);
	struct buf err = BUF_INIT(256);
	int rc;

	if (s[0] == '[') {
		const char *rb = strchr(s, ']');

		if (rb == NULL || (size_t)(rb - s - 1) >= sizeof(host))
			return -1;
		n = (size_t)(rb - s - 1);
		memcpy(host, s + 1, n);
		if (rb[1] == ':')
			port = rb + 2;
	} else if (colon != NULL && strchr(s, ':') == colon) {
		n = (size_t)(colon - s);
		if (n >= sizeof(host))
			return -1;
		memcpy(host, s, n);
		port = colon + 1;
	} else {
		if (n >= sizeof(host))
			return -1;
		memcpy(host, s, n);
	}
	host[n] = '\0';
	if (port != NULL && num_parse_uint(port, 1, 65535, &p) < 0)
		return -1;
	rc = net_resolve(host, p, addr, &err) == 0 ? 0 : -1;
	buf_deinit(&err);
	return rc;
}

/* resolv_conf_server: the first nameserver of a resolv.conf */
static int
resolv_conf_server(const char *path, struct net_addr *addr)
{
	char line[256], *p, *e;
	FILE *f = fopen(path, "r");
	int rc = -1;

	if (f == NULL)
		return parse_server("127.0.0.1", addr);
	while (rc < 0 && fgets(line, sizeof(line), f) != NULL) {
		p = line + strspn(line, " \t");
		if (strncmp(p, "nameserver", 10) != 0)
			continue;
		p += 10;
		p += strspn(p, " \t");
		e = p + strcspn(p, " \t\r\n#;%");
		*e = '\0';
		if (*p == '\0')
			continue;
		if (strchr(p, ':') != NULL) { /* IPv6: bracket it */
			char b[80];

			(void)snprintf(b, sizeof(b), "[%s]", p);
			rc = parse_server(b, addr);
		} else {
			rc = parse_server(p, addr);
		}
	}
	(void)fclose(f);
	return rc < 0 ? parse_server("127.0.0.1", addr) : 0;
}

struct dns *
dns_new(struct evloop *loop, const char *server, const char *resolv_conf,
	struct buf *err)
{
	struct dns *dns = xcalloc(1, sizeof(*dns));
	int rc;

	dns->loop = loop;
	dns->now_s = mono_s;
	dns->timeout_ms = DNS_TIMEOUT_MS;
	if (server != NULL && server[0] != '\0')
		rc = parse_server(server, &dns->server);
	else
		rc = resolv_conf_server(resolv_conf ? resolv_conf
						    : "/etc/resolv.conf",
					&dns->server);
	if (rc < 0) {
		(void)buf_printf(err, "bad dns_server %s", server);
		free(dns);
		return NULL;
	}
	return dns;
}

/* cache_drop: free one entry and close the gap */
static void
cache_drop(struct dns *dns, size_t i)
{
	free(dns->cache[i].name);
	free(dns->cache[i].data);
	free(dns->cache[i].pref);
	dns->cache[i] = dns->cache[--dns->ncache];
}

/* cache_find: the live entry for name and qtype, or -1 (expired ones
 * dropped) */
static long
cache_find(struct dns *dns, const char *name, unsigned qtype)
{
	size_t i;

	for (i = 0; i < dns->ncache; i++) {
		if (dns->cache[i].qtype != qtype ||
		    strcasecmp(dns->cache[i].name, name) != 0)
			continue;
		if (dns->cache[i].expires <= dns->now_s()) {
			cache_drop(dns, i);
			return -1;
		}
		return (long)i;
	}
	return -1;
}

/* cache_put: remember rrs for name and qtype, evicting the least
 * recently used */
static void
cache_put(struct dns *dns, const char *name, unsigned qtype,
	  const struct dns_rrs *rrs)
{
	struct cache_ent *e;
	size_t i, lru = 0, n = 0;
	long old = cache_find(dns, name, qtype);

	if (old >= 0)
		cache_drop(dns, (size_t)old);
	if (dns->ncache == DNS_CACHE_MAX) {
		for (i = 1; i < dns->ncache; i++)
			if (dns->cache[i].used < dns->cache[lru].used)
				lru = i;
		cache_drop(dns, lru);
	}
	e = &dns->cache[dns->ncache++];
	e->name = xstrdup(name);
	e->qtype = qtype;
	for (i = 0; i < rrs->n; i++)
		n += rrs->len[i] + 1;
	e->data = xmalloc(n + 1);
	e->pref = xcalloc(rrs->n + 1, sizeof(*e->pref));
	e->ndata = n;
	e->nrec = rrs->n;
	for (i = 0, n = 0; i < rrs->n; i++) {
		memcpy(e->data + n, rrs->rr[i], rrs->len[i] + 1);
		e->pref[i] = rrs->pref[i];
		n += rrs->len[i] + 1;
	}
	e->expires = dns->now_s() + (rrs->ttl > 86400 ? 86400 : rrs->ttl);
	e->used = ++dns->stamp;
}

/* cache_load: an entry back into the scratch structure */
static void
cache_load(struct dns *dns, struct cache_ent *e)
{
	size_t i, off = 0;

	dns->scratch.n = e->nrec;
	dns->scratch.ttl = 0;
	for (i = 0; i < e->nrec; i++) {
		size_t l = strlen(e->data + off);

		memcpy(dns->scratch.rr[i], e->data + off, l + 1);
		dns->scratch.len[i] = l;
		dns->scratch.pref[i] = e->pref[i];
		off += l + 1;
	}
	e->used = ++dns->stamp;
}

void
dns_invalidate(struct dns *dns, const char *name)
{
	long i = cache_find(dns, name, DNS_TXT);

	if (i >= 0) {
		cache_drop(dns, (size_t)i);
		log_debug("Cache invalidated for %s", name);
	}
}

size_t
dns_cache_count(const struct dns *dns)
{
	return dns->ncache;
}

void
dns_set_opts(struct dns *dns, unsigned flags, unsigned timeout_ms)
{
	dns->flags = flags;
	dns->timeout_ms = timeout_ms > 0 ? timeout_ms : DNS_TIMEOUT_MS;
}

void
dns_set_clock(struct dns *dns, uint64_t (*now_s)(void))
{
	dns->now_s = now_s;
}

/* query_close: stop watching and close the socket */
static void
query_close(struct dns_query *q)
{
	if (q->fd >= 0) {
		evloop_io_del(q->dns->loop, q->fd);
		(void)close(q->fd);
		q->fd = -1;
	}
}

/* query_free: unlink and free without calling back */
static void
query_free(struct dns_query *q)
{
	struct dns *dns = q->dns;

	query_close(q);
	evloop_timer_stop(dns->loop, &q->retry);
	evloop_timer_stop(dns->loop, &q->deadline);
	LLIST_REMOVE(&dns->queries, q, link);
	free(q->tbuf);
	free(q);
}

/* query_done: finish with status; the scratch holds the records */
static void
query_done(struct dns_query *q, int status)
{
	dns_fn *fn = q->fn;
	void *arg = q->arg;
	struct dns *dns = q->dns;

	if (status == 1 && !(dns->flags & DNS_NOCACHE))
		cache_put(dns, q->name, q->qtype, &dns->scratch);
	query_free(q);
	fn(arg, status, &dns->scratch);
}

static int tcp_start(struct dns_query *q);

/* query_answer: handle one answer; 0 keep waiting, 1 finished (q is
 * freed), 2 switched to TCP */
static int
query_answer(struct dns_query *q, const unsigned char *pkt, size_t len)
{
	int tc, rcode;

	rcode = dns_parse(pkt, len, q->id, q->name, q->qtype, &q->dns->scratch,
			  &tc);
	if (rcode < 0)
		return 0; /* not ours or garbage: keep waiting */
	if (tc && !q->tcp)
		return tcp_start(q) ? 1 : 2;
	if (rcode == 0)
		query_done(q, q->dns->scratch.n > 0 ? 1 : 0);
	else if (rcode == 3)
		query_done(q, q->nx_empty ? 0 : -ENOENT);
	else
		query_done(q, -EIO);
	return 1;
}

/* on_udp: a datagram from the server */
static void
on_udp(struct evloop *loop, int fd, unsigned events, void *arg)
{
	struct dns_query *q = arg;
	unsigned char pkt[4096 + 512];
	ssize_t n;
	int i;

	(void)loop;
	(void)events;
	for (i = 0; i < 16; i++) { /* bounded: garbage cannot spin us */
		n = recv(fd, pkt, sizeof(pkt), 0);
		if (n < 0 && errno == ECONNREFUSED) {
			/* nothing listens there (ICMP port unreachable on
			 * our connected socket): a temporary failure now,
			 * not 60 s of retransmissions to a dead port */
			query_done(q, -EIO);
			return;
		}
		if (n < 0)
			return; /* EAGAIN: wait, the retry timer runs */
		if (query_answer(q, pkt, (size_t)n) != 0)
			return;
	}
}

/* on_tcp: connect, send the query, read the length-prefixed answer */
static void
on_tcp(struct evloop *loop, int fd, unsigned events, void *arg)
{
	struct dns_query *q = arg;
	ssize_t n;
	size_t want;

	if (!q->connected) {
		if (net_connect_finish(fd) < 0) {
			query_done(q, -EIO);
			return;
		}
		q->connected = 1;
	}
	if (q->tdone < q->qlen + 2) {
		n = send(fd, q->tbuf + q->tdone, q->qlen + 2 - q->tdone,
			 MSG_NOSIGNAL);
		if (n < 0) {
			if (errno != EAGAIN)
				query_done(q, -EIO);
			return;
		}
		q->tdone += (size_t)n;
		if (q->tdone == q->qlen + 2) {
			q->tlen = 0;
			(void)evloop_io_mod(loop, fd, EV_READ);
		}
		return;
	}
	(void)events;
	want = q->tlen < 2 ? 2 : 2 + ((size_t)q->tbuf[0] << 8 | q->tbuf[1]);
	n = recv(fd, q->tbuf + q->tlen, want - q->tlen, 0);
	if (n == 0 || (n < 0 && errno != EAGAIN)) {
		query_done(q, -EIO);
		return;
	}
	if (n < 0)
		return;
	q->tlen += (size_t)n;
	if (q->tlen >= 2 &&
	    q->tlen == 2 + ((size_t)q->tbuf[0] << 8 | q->tbuf[1]) &&
	    query_answer(q, q->tbuf + 2, q->tlen - 2) == 0)
		query_done(q, -EIO); /* a bad TCP answer is final */
}

/* tcp_start: retry the query over TCP (the UDP answer was truncated);
 * 1 if that failed at once and the query is finished (freed) */
static int
tcp_start(struct dns_query *q)
{
	int fd, rc;

	query_close(q);
	evloop_timer_stop(q->dns->loop, &q->retry);
	q->tcp = 1;
	q->tbuf = xmalloc(65536 + 2);
	q->tbuf[0] = (unsigned char)(q->qlen >> 8);
	q->tbuf[1] = (unsigned char)q->qlen;
	memcpy(q->tbuf + 2, q->q, q->qlen);
	q->tdone = 0;
	rc = net_connect(&q->dns->server, &fd);
	if (rc < 0) {
		query_done(q, -EIO);
		return 1;
	}
	q->fd = fd;
	q->connected = rc == 0;
	if (evloop_io_add(q->dns->loop, fd, EV_WRITE, on_tcp, q) < 0) {
		query_done(q, -EIO);
		return 1;
	}
	return 0;
}

/* udp_send: (re)send the query; arm the next retransmission */
static void
udp_send(struct dns_query *q)
{
	uint64_t delay = 1000ull << (q->attempt < 5 ? q->attempt : 5);

	(void)send(q->fd, q->q, q->qlen, MSG_NOSIGNAL);
	q->attempt++;
	evloop_timer_start(q->dns->loop, &q->retry, delay);
}

/* on_retry: no answer yet over UDP */
static void
on_retry(struct evloop *loop, void *arg)
{
	struct dns_query *q = arg;

	(void)loop;
	if (!q->tcp)
		udp_send(q);
}

/* on_deadline: the lookup took too long */
static void
on_deadline(struct evloop *loop, void *arg)
{
	(void)loop;
	query_done(arg, -ETIMEDOUT);
}

/* udp_open: a connected non-blocking UDP socket to the server */
static int
udp_open(const struct dns *dns)
{
	int fd = socket(dns->server.ss.ss_family,
			SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if (connect(fd, (const struct sockaddr *)&dns->server.ss,
		    dns->server.len) < 0) {
		(void)close(fd);
		return -1;
	}
	return fd;
}

/* lookup: dns_lookup with the TXT flavour of NXDOMAIN or not */
static struct dns_query *
lookup(struct dns *dns, const char *name, unsigned qtype, int nx_empty,
       dns_fn *fn, void *arg)
{
	struct dns_query *q;
	long hit = dns->flags & DNS_NOCACHE ? -1 : cache_find(dns, name, qtype);
	int len;

	if (hit >= 0) {
		log_debug("Using cached RDATA for %s", name);
		cache_load(dns, &dns->cache[hit]);
		fn(arg, 1, &dns->scratch);
		return NULL;
	}
	q = xcalloc(1, sizeof(*q));
	q->dns = dns;
	q->fd = -1;
	q->fn = fn;
	q->arg = arg;
	q->qtype = qtype;
	q->nx_empty = nx_empty;
	(void)snprintf(q->name, sizeof(q->name), "%s", name);
	if (getrandom(&q->id, sizeof(q->id), 0) != sizeof(q->id))
		q->id = (uint16_t)(dns->stamp * 40503u + 1);
	evloop_timer_init(&q->retry, on_retry, q);
	evloop_timer_init(&q->deadline, on_deadline, q);
	LLIST_PREPEND(&dns->queries, q, link);
	len = dns_build_query(q->id, name, (uint16_t)qtype, q->q, sizeof(q->q));
	q->fd = len > 0 ? udp_open(dns) : -1;
	if (q->fd < 0 ||
	    evloop_io_add(dns->loop, q->fd, EV_READ, on_udp, q) < 0) {
		dns->scratch.n = 0;
		dns->scratch.zone[0] = '\0';
		query_done(q, len > 0 ? -EIO : nx_empty ? 0 : -EINVAL);
		return NULL;
	}
	q->qlen = (size_t)len;
	if (dns->flags & DNS_NORECURSE)
		q->q[2] &= (unsigned char)~0x01; /* RD */
	evloop_timer_start(dns->loop, &q->deadline, dns->timeout_ms);
	udp_send(q);
	return q;
}

struct dns_query *
dns_lookup(struct dns *dns, const char *name, unsigned qtype, dns_fn *fn,
	   void *arg)
{
	return lookup(dns, name, qtype, 0, fn, arg);
}

struct dns_query *
dns_lookup_txt(struct dns *dns, const char *name, dns_fn *fn, void *arg)
{
	return lookup(dns, name, DNS_TXT, 1, fn, arg);
}

void
dns_cancel(struct dns_query **qp)
{
	if (*qp == NULL)
		return;
	query_free(*qp);
	*qp = NULL;
}

void
dns_free(struct dns **dp)
{
	struct dns *dns = *dp;
	struct dns_query *q, *next;

	if (dns == NULL)
		return;
	LLIST_FOREACH_SAFE(q, &dns->queries, link, next)
		query_free(q);
	while (dns->ncache > 0)
		cache_drop(dns, 0);
	free(dns);
	*dp = NULL;
}

void
dns_txt_unquote(const char *v, char *out, size_t outsize)
{
	size_t o = 0;
	int inq = 0;

	if (outsize == 0)
		return;
	for (; *v != '\0' && o + 1 < outsize; v++) {
		if (*v == '"') {
			inq = !inq;
			continue;
		}
		if (!inq)
			continue;
		if (*v == '\\' && v[1] != '\0')
			v++;
		out[o++] = *v;
	}
	out[o] = '\0';
}
