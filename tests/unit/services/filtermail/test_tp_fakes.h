/*
 * test_tp_fakes.h: the remote side of filtermail transport for its unit
 * tests, on loopback, in threads of their own (blocking I/O, one thread
 * per connection), so the transport's event loop runs undisturbed in
 * the test's thread:
 *   - a DNS server answering from a table (MX, A, null MX, NXDOMAIN,
 *     SERVFAIL), the wire format written here independently of dns;
 *   - an SMTP server with STARTTLS (a self-signed P-256 certificate made
 *     at start, naming verify.test; its PEM in fk.cert_pem, for a test
 *     that trusts it), PIPELINING as told, a recipient containing "refuse"
 *     refused with 550, the final dot answered as told; it records the
 *     command lines and the messages;
 *   - an HTTPS server (HTTP/1.1, keep-alive) answering every request
 *     with the status and body it is told; it records each request.
 * Everything a thread shares with the test is under fk.mu. Included by
 * test_transport.c only (statics).
 */
#ifndef TEST_TP_FAKES_H
#define TEST_TP_FAKES_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#define FK_LOG 65536

struct fk_rr {
	const char *name;
	unsigned qtype;	  /* 1 A, 15 MX */
	int rcode;	  /* 0, 2 SERVFAIL, 3 NXDOMAIN, -1 no answer */
	unsigned pref;	  /* MX */
	const char *data; /* MX target ("" = null MX) or IPv4 */
};

static struct fake {
	pthread_mutex_t mu;
	int dns_fd, smtp_lfd, https_lfd;
	unsigned dns_port, smtp_port, https_port;
	pthread_t th_dns, th_smtp, th_https;
	SSL_CTX *ssl;
	char cert_pem[4096]; /* the servers' certificate */
	int conns;	     /* connection threads alive */
	/* behaviour, set by the test */
	const struct fk_rr *rrs;
	size_t nrrs;
	int starttls, pipelining;
	char dot_reply[128];
	int status;
	char body[256];
	/* records */
	char smtp_log[FK_LOG]; /* command lines, "\n" after each */
	int smtp_msgs, smtp_tls, https_reqs;
	char req[FK_LOG]; /* the last HTTP request, head and body */
	size_t req_len;
	char msg[FK_LOG]; /* the last SMTP message as received */
} fk;

/* fk_put16: big-endian */
static size_t
fk_put16(unsigned char *p, unsigned v)
{
	p[0] = (unsigned char)(v >> 8);
	p[1] = (unsigned char)v;
	return 2;
}

/* fk_name: labels of a dotted name at p ("" is the root) */
static size_t
fk_name(unsigned char *p, const char *name)
{
	size_t o = 0, n;

	while (*name != '\0') {
		n = strcspn(name, ".");
		p[o++] = (unsigned char)n;
		memcpy(p + o, name, n);
		o += n;
		name += n;
		if (*name == '.')
			name++;
	}
	p[o++] = 0;
	return o;
}

/* fk_qname: the question's name and type from a query */
static int
fk_question(const unsigned char *q, size_t n, char *name, unsigned *qtype,
	    size_t *end)
{
	size_t o = 12, k = 0;

	while (o < n && q[o] != 0) {
		if (k > 0)
			name[k++] = '.';
		if (o + 1 + q[o] > n || k + q[o] > 250)
			return -1;
		memcpy(name + k, q + o + 1, q[o]);
		k += q[o];
		o += 1 + q[o];
	}
	name[k] = '\0';
	if (o + 5 > n)
		return -1;
	*qtype = (unsigned)q[o + 1] << 8 | q[o + 2];
	*end = o + 5;
	return 0;
}

/* fk_answer: the table's answer to query q into r; its length */
static size_t
fk_answer(const unsigned char *q, size_t n, unsigned char *r)
{
	char name[256];
	unsigned qtype, an = 0;
	size_t end, o, i, rd;
	int rcode = 3;

	if (n < 12 || fk_question(q, n, name, &qtype, &end) < 0)
		return 0;
	memcpy(r, q, end);
	r[2] = 0x81;
	o = end;
	for (i = 0; i < fk.nrrs; i++) {
		if (strcasecmp(fk.rrs[i].name, name) != 0)
			continue;
		if (fk.rrs[i].rcode < 0)
			return 0;
		if (fk.rrs[i].rcode != 0) {
			rcode = fk.rrs[i].rcode;
			break;
		}
		rcode = 0; /* the name exists */
		if (fk.rrs[i].qtype != qtype)
			continue;
		o += fk_put16(r + o, 0xc00c);
		o += fk_put16(r + o, qtype);
		o += fk_put16(r + o, 1);
		o += fk_put16(r + o, 0);
		o += fk_put16(r + o, 60);
		rd = o;
		o += 2;
		if (qtype == 15) {
			o += fk_put16(r + o, fk.rrs[i].pref);
			o += fk_name(r + o, fk.rrs[i].data);
		} else {
			(void)inet_pton(AF_INET, fk.rrs[i].data, r + o);
			o += 4;
		}
		(void)fk_put16(r + rd, (unsigned)(o - rd - 2));
		an++;
	}
	r[3] = (unsigned char)(0x80 | rcode);
	(void)fk_put16(r + 6, an);
	memset(r + 8, 0, 4);
	return o;
}

/* fk_dns: the DNS thread */
static void *
fk_dns(void *arg)
{
	unsigned char q[1024], r[4096];
	struct sockaddr_storage peer;
	socklen_t pl;
	ssize_t n;
	size_t rl;

	(void)arg;
	for (;;) {
		pl = sizeof(peer);
		n = recvfrom(fk.dns_fd, q, sizeof(q), 0,
			     (struct sockaddr *)&peer, &pl);
		if (n <= 0)
			return NULL;
		pthread_mutex_lock(&fk.mu);
		rl = fk_answer(q, (size_t)n, r);
		pthread_mutex_unlock(&fk.mu);
		if (rl > 0)
			(void)sendto(fk.dns_fd, r, rl, 0,
				     (struct sockaddr *)&peer, pl);
	}
}

/* one connection of the SMTP or HTTPS server */
struct fk_conn {
	int fd;
	SSL *ssl;
	char buf[8192];
	size_t len;
};

/* fk_read: more bytes into c->buf; 0 at EOF or on an error */
static int
fk_read(struct fk_conn *c)
{
	int n;

	if (c->len >= sizeof(c->buf))
		return 0;
	if (c->ssl != NULL)
		n = SSL_read(c->ssl, c->buf + c->len,
			     (int)(sizeof(c->buf) - c->len));
	else
		n = (int)recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len,
			      0);
	if (n <= 0)
		return 0;
	c->len += (size_t)n;
	return 1;
}

/* fk_line: one line (CRLF cut off) into out; 0 at EOF */
static int
fk_line(struct fk_conn *c, char *out, size_t outsize)
{
	char *lf;
	size_t n;

	while ((lf = memchr(c->buf, '\n', c->len)) == NULL)
		if (!fk_read(c))
			return 0;
	n = (size_t)(lf - c->buf);
	(void)snprintf(out, outsize, "%.*s",
		       (int)(n > 0 && lf[-1] == '\r' ? n - 1 : n), c->buf);
	memmove(c->buf, lf + 1, c->len - n - 1);
	c->len -= n + 1;
	return 1;
}

/* fk_send: write all of s */
static void
fk_send(struct fk_conn *c, const char *s, size_t n)
{
	if (c->ssl != NULL)
		(void)SSL_write(c->ssl, s, (int)n);
	else
		(void)send(c->fd, s, n, MSG_NOSIGNAL);
}

#define FK_SAY(c, s) fk_send((c), (s), strlen(s))

/* fk_log: append a command line to the SMTP log */
static void
fk_log(const char *line)
{
	size_t have = strlen(fk.smtp_log);

	if (have + strlen(line) + 2 < sizeof(fk.smtp_log))
		(void)snprintf(fk.smtp_log + have, sizeof(fk.smtp_log) - have,
			       "%s\n", line);
}

/* fk_smtp_data: read the message up to the final dot, answer it */
static void
fk_smtp_data(struct fk_conn *c)
{
	char line[8192], reply[160];
	size_t have = 0;

	while (fk_line(c, line, sizeof(line)) && strcmp(line, ".") != 0) {
		const char *l = line[0] == '.' ? line + 1 : line;

		if (have + strlen(l) + 3 < sizeof(fk.msg))
			have += (size_t)snprintf(fk.msg + have,
						 sizeof(fk.msg) - have,
						 "%s\r\n", l);
	}
	pthread_mutex_lock(&fk.mu);
	(void)snprintf(reply, sizeof(reply), "%s\r\n", fk.dot_reply);
	if (fk.dot_reply[0] == '2')
		fk.smtp_msgs++;
	pthread_mutex_unlock(&fk.mu);
	FK_SAY(c, reply);
}

/* fk_smtp_ehlo: the capabilities as told */
static void
fk_smtp_ehlo(struct fk_conn *c)
{
	char caps[256];

	pthread_mutex_lock(&fk.mu);
	(void)snprintf(caps, sizeof(caps), "250-fake\r\n%s%s250 8BITMIME\r\n",
		       fk.starttls && c->ssl == NULL ? "250-STARTTLS\r\n" : "",
		       fk.pipelining ? "250-PIPELINING\r\n" : "");
	pthread_mutex_unlock(&fk.mu);
	FK_SAY(c, caps);
}

/* fk_smtp_cmd: one command; 0 to close */
static int
fk_smtp_cmd(struct fk_conn *c, const char *line, int *rcpts)
{
	if (strncasecmp(line, "EHLO", 4) == 0 ||
	    strncasecmp(line, "HELO", 4) == 0) {
		fk_smtp_ehlo(c);
	} else if (strcasecmp(line, "STARTTLS") == 0 && c->ssl == NULL) {
		FK_SAY(c, "220 go ahead\r\n");
		c->ssl = SSL_new(fk.ssl);
		(void)SSL_set_fd(c->ssl, c->fd);
		if (SSL_accept(c->ssl) != 1)
			return 0;
		pthread_mutex_lock(&fk.mu);
		fk.smtp_tls++;
		pthread_mutex_unlock(&fk.mu);
	} else if (strncasecmp(line, "RCPT", 4) == 0) {
		if (strstr(line, "refuse") != NULL) {
			FK_SAY(c, "550 5.1.1 no such user\r\n");
		} else {
			(*rcpts)++;
			FK_SAY(c, "250 2.1.5 ok\r\n");
		}
	} else if (strcasecmp(line, "DATA") == 0) {
		if (*rcpts == 0) {
			FK_SAY(c, "554 5.5.1 no valid recipients\r\n");
		} else {
			FK_SAY(c, "354 go ahead\r\n");
			fk_smtp_data(c);
		}
	} else if (strcasecmp(line, "QUIT") == 0) {
		FK_SAY(c, "221 bye\r\n");
		return 0;
	} else {
		if (strncasecmp(line, "MAIL", 4) == 0 ||
		    strcasecmp(line, "RSET") == 0)
			*rcpts = 0;
		FK_SAY(c, "250 ok\r\n");
	}
	return 1;
}

/* fk_smtp_conn: one SMTP session */
static void *
fk_smtp_conn(void *arg)
{
	struct fk_conn *c = arg;
	char line[1024];
	int rcpts = 0;

	FK_SAY(c, "220 fake ESMTP\r\n");
	while (fk_line(c, line, sizeof(line))) {
		pthread_mutex_lock(&fk.mu);
		fk_log(line);
		pthread_mutex_unlock(&fk.mu);
		if (!fk_smtp_cmd(c, line, &rcpts))
			break;
	}
	if (c->ssl != NULL)
		SSL_free(c->ssl);
	close(c->fd);
	free(c);
	pthread_mutex_lock(&fk.mu);
	fk.conns--;
	pthread_mutex_unlock(&fk.mu);
	return NULL;
}

/* fk_http_request: one request on c: record it, answer as told; 0 at
 * EOF */
static int
fk_http_request(struct fk_conn *c)
{
	char *end, *cl, reply[512];
	size_t head, body = 0;

	while ((end = memmem(c->buf, c->len, "\r\n\r\n", 4)) == NULL)
		if (!fk_read(c))
			return 0;
	head = (size_t)(end - c->buf) + 4;
	c->buf[head - 1] = '\0';
	cl = strcasestr(c->buf, "\ncontent-length:");
	if (cl != NULL)
		body = strtoul(cl + 16, NULL, 10);
	c->buf[head - 1] = '\n';
	while (c->len < head + body)
		if (!fk_read(c))
			return 0;
	pthread_mutex_lock(&fk.mu);
	fk.https_reqs++;
	fk.req_len = head + body < sizeof(fk.req) ? head + body : 0;
	memcpy(fk.req, c->buf, fk.req_len);
	(void)snprintf(reply, sizeof(reply),
		       "HTTP/1.1 %d X\r\nContent-Length: %zu\r\n\r\n%s",
		       fk.status, strlen(fk.body), fk.body);
	pthread_mutex_unlock(&fk.mu);
	memmove(c->buf, c->buf + head + body, c->len - head - body);
	c->len -= head + body;
	FK_SAY(c, reply);
	return 1;
}

/* fk_https_conn: one HTTPS connection, any number of requests */
static void *
fk_https_conn(void *arg)
{
	struct fk_conn *c = arg;

	c->ssl = SSL_new(fk.ssl);
	(void)SSL_set_fd(c->ssl, c->fd);
	if (SSL_accept(c->ssl) == 1)
		while (fk_http_request(c))
			;
	SSL_free(c->ssl);
	close(c->fd);
	free(c);
	pthread_mutex_lock(&fk.mu);
	fk.conns--;
	pthread_mutex_unlock(&fk.mu);
	return NULL;
}

/* fk_accept: accept loop of lfd, one thread per connection */
static void
fk_accept(int lfd, void *(*fn)(void *))
{
	pthread_t t;
	struct fk_conn *c;
	int fd;

	while ((fd = accept(lfd, NULL, NULL)) >= 0) {
		c = calloc(1, sizeof(*c));
		c->fd = fd;
		pthread_mutex_lock(&fk.mu);
		fk.conns++;
		pthread_mutex_unlock(&fk.mu);
		if (pthread_create(&t, NULL, fn, c) != 0)
			abort();
		(void)pthread_detach(t);
	}
}

static void *
fk_smtp(void *arg)
{
	(void)arg;
	fk_accept(fk.smtp_lfd, fk_smtp_conn);
	return NULL;
}

static void *
fk_https(void *arg)
{
	(void)arg;
	fk_accept(fk.https_lfd, fk_https_conn);
	return NULL;
}

/* fk_socket: a socket of type bound to 127.0.0.1 (any port); its port */
static int
fk_socket(int type, unsigned *port)
{
	struct sockaddr_in a;
	socklen_t l = sizeof(a);
	int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &l) < 0 ||
	    (type == SOCK_STREAM && listen(fd, 64) < 0))
		abort();
	*port = ntohs(a.sin_port);
	return fd;
}

/* fk_tls: a server context with a fresh self-signed P-256 certificate */
static SSL_CTX *
fk_tls(void)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_EXTENSION *san;
	X509V3_CTX v3;
	BIO *b = BIO_new(BIO_s_mem());
	char *pem;
	long n;

	if (ctx == NULL || k == NULL || x == NULL || b == NULL)
		abort();
	(void)X509_set_version(x, 2);
	(void)ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	(void)X509_gmtime_adj(X509_getm_notBefore(x), -60);
	(void)X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	(void)X509_set_pubkey(x, k);
	(void)X509_NAME_add_entry_by_txt(
		X509_get_subject_name(x), "CN", MBSTRING_ASC,
		(const unsigned char *)"fake.test", -1, -1, 0);
	(void)X509_set_issuer_name(x, X509_get_subject_name(x));
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	san = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name,
				  "DNS:verify.test");
	if (san == NULL || X509_add_ext(x, san, -1) != 1)
		abort();
	X509_EXTENSION_free(san);
	if (X509_sign(x, k, EVP_sha256()) == 0 ||
	    SSL_CTX_use_certificate(ctx, x) != 1 ||
	    SSL_CTX_use_PrivateKey(ctx, k) != 1 ||
	    PEM_write_bio_X509(b, x) != 1)
		abort();
	n = BIO_get_mem_data(b, &pem);
	if (n <= 0 || (size_t)n >= sizeof(fk.cert_pem))
		abort();
	memcpy(fk.cert_pem, pem, (size_t)n);
	fk.cert_pem[n] = '\0';
	BIO_free(b);
	X509_free(x);
	EVP_PKEY_free(k);
	return ctx;
}

/* fk_start: the three servers, default behaviour */
static void
fk_start(const struct fk_rr *rrs, size_t nrrs)
{
	memset(&fk, 0, sizeof(fk));
	pthread_mutex_init(&fk.mu, NULL);
	fk.rrs = rrs;
	fk.nrrs = nrrs;
	fk.starttls = fk.pipelining = 1;
	(void)snprintf(fk.dot_reply, sizeof(fk.dot_reply), "250 2.0.0 queued");
	fk.status = 200;
	(void)snprintf(fk.body, sizeof(fk.body), "250 OK");
	fk.ssl = fk_tls();
	fk.dns_fd = fk_socket(SOCK_DGRAM, &fk.dns_port);
	fk.smtp_lfd = fk_socket(SOCK_STREAM, &fk.smtp_port);
	fk.https_lfd = fk_socket(SOCK_STREAM, &fk.https_port);
	if (pthread_create(&fk.th_dns, NULL, fk_dns, NULL) != 0 ||
	    pthread_create(&fk.th_smtp, NULL, fk_smtp, NULL) != 0 ||
	    pthread_create(&fk.th_https, NULL, fk_https, NULL) != 0)
		abort();
}

/* fk_wake_dns: an empty datagram to the DNS thread's socket */
static void
fk_wake_dns(void)
{
	struct sockaddr_in sin;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)fk.dns_port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	(void)sendto(fd, "", 0, 0, (struct sockaddr *)&sin, sizeof(sin));
	close(fd);
}

/* fk_stop: stop accepting, wait (bounded) for the connections to end */
static void
fk_stop(void)
{
	int i, left = 1;

	(void)shutdown(fk.dns_fd, SHUT_RDWR);
	(void)shutdown(fk.smtp_lfd, SHUT_RDWR);
	(void)shutdown(fk.https_lfd, SHUT_RDWR);
	(void)pthread_join(fk.th_smtp, NULL);
	(void)pthread_join(fk.th_https, NULL);
	/* a recvfrom on UDP does not return on shutdown everywhere: an
	 * empty datagram wakes it (n == 0 ends the thread). No
	 * pthread_cancel: unwinding skips the epilogues that clear
	 * AddressSanitizer's stack redzones, and the thread's exit then
	 * trips over them. */
	fk_wake_dns();
	(void)pthread_join(fk.th_dns, NULL);
	(void)close(fk.dns_fd);
	for (i = 0; i < 500 && left; i++) {
		pthread_mutex_lock(&fk.mu);
		left = fk.conns;
		pthread_mutex_unlock(&fk.mu);
		if (left)
			usleep(10000);
	}
	close(fk.smtp_lfd);
	close(fk.https_lfd);
	SSL_CTX_free(fk.ssl);
}

#endif
