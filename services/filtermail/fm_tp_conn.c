/*
 * fm_tp_conn: the transport's connections to remote MTAs: TCP to every
 * address of an MX host at once (IPv4 and IPv6 in parallel, as
 * upstream; the first to connect wins), and TLS on a non-blocking
 * socket for STARTTLS (OpenSSL, TLS 1.2 and up, SNI, the chain and the
 * host name verified unless the destination is one whose self-signed
 * certificates relays accept).
 *
 * Role: fm_tp_smtp.c's transport layer. Untrusted input: the TLS
 * handshake (OpenSSL checks it; we only read the verification result).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "fm_tp.h"
#include "log.h"
#include "xmalloc.h"

#define SYSTEM_CA_FILE "/etc/ssl/certs/ca-certificates.crt"

struct attempt {
	struct fm_connect *owner;
	int fd; /* -1 once failed */
	char peer[64];
};

struct fm_connect {
	struct evloop *loop;
	char host[FM_TP_HOST_MAX];
	struct attempt a[FM_TP_MAX_ADDRS];
	size_t n, left;
	struct evloop_timer timer;
	fm_conn_connect_fn *fn;
	void *arg;
	char err[200]; /* the last failure */
};

/* attempt_close: stop one attempt */
static void
attempt_close(struct evloop *loop, struct attempt *a)
{
	if (a->fd < 0)
		return;
	evloop_io_del(loop, a->fd);
	(void)close(a->fd);
	a->fd = -1;
}

/* connect_free: close what is open and free */
static void
connect_free(struct fm_connect *cn)
{
	size_t i;

	for (i = 0; i < cn->n; i++)
		attempt_close(cn->loop, &cn->a[i]);
	evloop_timer_stop(cn->loop, &cn->timer);
	free(cn);
}

/* connect_report: hand over the winner (or NULL and the last error) */
static void
connect_report(struct fm_connect *cn, struct attempt *won)
{
	fm_conn_connect_fn *fn = cn->fn;
	void *arg = cn->arg;
	struct fm_conn *c = NULL;
	char err[sizeof(cn->err)];

	if (won != NULL) {
		c = xcalloc(1, sizeof(*c));
		c->fd = won->fd;
		won->fd = -1; /* transferred */
		(void)snprintf(c->host, sizeof(c->host), "%s", cn->host);
		(void)snprintf(c->peer, sizeof(c->peer), "%s", won->peer);
		evloop_timer_init(&c->idle, NULL, NULL);
		evloop_io_del(cn->loop, c->fd);
	}
	(void)snprintf(err, sizeof(err), "%s", cn->err);
	connect_free(cn);
	fn(arg, c, err);
}

/* on_attempt: one socket became writable: connected or refused */
static void
on_attempt(struct evloop *loop, int fd, unsigned events, void *arg)
{
	struct attempt *a = arg;
	struct fm_connect *cn = a->owner;
	int r = net_connect_finish(fd);

	(void)events;
	if (r == 0) {
		connect_report(cn, a);
		return;
	}
	(void)snprintf(cn->err, sizeof(cn->err), "connect to %s: %s", a->peer,
		       strerror(-r));
	log_debug("%s", cn->err);
	attempt_close(loop, a);
	if (--cn->left == 0)
		connect_report(cn, NULL);
}

/* on_connect_timer: the time is up (or every start failed at once) */
static void
on_connect_timer(struct evloop *loop, void *arg)
{
	struct fm_connect *cn = arg;

	(void)loop;
	if (cn->left > 0)
		(void)snprintf(cn->err, sizeof(cn->err),
			       "connect to %.150s timed out", cn->host);
	connect_report(cn, NULL);
}

/* attempt_start: start connecting to addr; 0 or -1 (cn->err set) */
static int
attempt_start(struct fm_connect *cn, struct attempt *a,
	      const struct net_addr *addr)
{
	int r;

	a->owner = cn;
	(void)net_addr_str(addr, a->peer, sizeof(a->peer));
	r = net_connect(addr, &a->fd);
	if (r < 0) {
		a->fd = -1;
		(void)snprintf(cn->err, sizeof(cn->err), "connect to %s: %s",
			       a->peer, strerror(-r));
		return -1;
	}
	/* even a connection that completed at once is reported from the
	 * loop: wait for writability like the others */
	if (evloop_io_add(cn->loop, a->fd, EV_WRITE, on_attempt, a) < 0) {
		(void)close(a->fd);
		a->fd = -1;
		(void)snprintf(cn->err, sizeof(cn->err), "connect to %s: %s",
			       a->peer, "cannot watch the socket");
		return -1;
	}
	return 0;
}

/* fm_conn_connect: see fm_tp.h */
struct fm_connect *
fm_conn_connect(struct evloop *loop, const char *host,
		const struct net_addr *addrs, size_t n, uint64_t timeout_ms,
		fm_conn_connect_fn *fn, void *arg)
{
	struct fm_connect *cn = xcalloc(1, sizeof(*cn));
	size_t i;

	cn->loop = loop;
	cn->fn = fn;
	cn->arg = arg;
	(void)snprintf(cn->host, sizeof(cn->host), "%s", host);
	(void)snprintf(cn->err, sizeof(cn->err), "no address for %s", host);
	evloop_timer_init(&cn->timer, on_connect_timer, cn);
	for (i = 0; i < n && i < FM_TP_MAX_ADDRS; i++) {
		if (attempt_start(cn, &cn->a[cn->n], &addrs[i]) == 0)
			cn->left++;
		cn->n++;
	}
	evloop_timer_start(loop, &cn->timer, cn->left > 0 ? timeout_ms : 0);
	return cn;
}

/* fm_conn_connect_cancel: see fm_tp.h */
void
fm_conn_connect_cancel(struct fm_connect **cp)
{
	if (*cp == NULL)
		return;
	connect_free(*cp);
	*cp = NULL;
}

/* fm_conn_close: see fm_tp.h */
void
fm_conn_close(struct evloop *loop, struct fm_conn **cp, int quit)
{
	struct fm_conn *c = *cp;
	unsigned want;

	if (c == NULL)
		return;
	evloop_timer_stop(loop, &c->idle);
	evloop_io_del(loop, c->fd);
	if (quit)
		(void)fm_conn_write(c, "QUIT\r\n", 6, &want);
	if (c->ssl != NULL) {
		if (quit)
			(void)SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
	}
	(void)close(c->fd);
	free(c);
	*cp = NULL;
}

/* is_ip: host is an IP address (no SNI for those) */
static int
is_ip(const char *host)
{
	unsigned char b[16];

	return inet_pton(AF_INET, host, b) == 1 ||
	       inet_pton(AF_INET6, host, b) == 1;
}

/* fm_conn_tls_begin: see fm_tp.h */
int
fm_conn_tls_begin(struct fm_conn *c, SSL_CTX *ctx, int verify, struct buf *err)
{
	c->ssl = SSL_new(ctx);
	if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1) {
		(void)buf_puts(err, "TLS setup failed");
		return -1;
	}
	SSL_set_connect_state(c->ssl);
	if (!is_ip(c->host) && SSL_set_tlsext_host_name(c->ssl, c->host) != 1) {
		(void)buf_printf(err, "bad TLS server name %s", c->host);
		return -1;
	}
	if (!verify) {
		SSL_set_verify(c->ssl, SSL_VERIFY_NONE, NULL);
		return 0;
	}
	SSL_set_verify(c->ssl, SSL_VERIFY_PEER, NULL);
	SSL_set_hostflags(c->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if ((is_ip(c->host) ? X509_VERIFY_PARAM_set1_ip_asc(
				      SSL_get0_param(c->ssl), c->host)
			    : SSL_set1_host(c->ssl, c->host)) != 1) {
		(void)buf_printf(err, "bad TLS host name %s", c->host);
		return -1;
	}
	return 0;
}

/* tls_error: why the handshake failed, as a person reads it */
static void
tls_error(struct fm_conn *c, int ret, struct buf *err)
{
	long vr = SSL_get_verify_result(c->ssl);
	unsigned long e = ERR_peek_last_error();
	char ebuf[256];

	if (vr != X509_V_OK) {
		(void)buf_printf(err, "TLS: certificate of %s: %s", c->host,
				 X509_verify_cert_error_string(vr));
	} else if (e != 0) {
		ERR_error_string_n(e, ebuf, sizeof(ebuf));
		(void)buf_printf(err, "TLS handshake with %s: %s", c->peer,
				 ebuf);
	} else {
		(void)buf_printf(err, "TLS handshake with %s: %s", c->peer,
				 ret == 0 ? "connection closed"
					  : strerror(errno));
	}
	ERR_clear_error();
}

/* fm_conn_tls_step: see fm_tp.h */
int
fm_conn_tls_step(struct fm_conn *c, unsigned *want_r, struct buf *err)
{
	int r, e;

	ERR_clear_error();
	r = SSL_do_handshake(c->ssl);
	if (r == 1)
		return 1;
	e = SSL_get_error(c->ssl, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		*want_r = e == SSL_ERROR_WANT_READ ? EV_READ : EV_WRITE;
		return 0;
	}
	tls_error(c, r, err);
	return -1;
}

/* ssl_io_result: SSL_read/SSL_write's r as our return convention */
static long
ssl_io_result(struct fm_conn *c, int r, unsigned *want_r)
{
	int e = SSL_get_error(c->ssl, r);

	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		*want_r = e == SSL_ERROR_WANT_READ ? EV_READ : EV_WRITE;
		return -EAGAIN;
	}
	ERR_clear_error();
	return e == SSL_ERROR_ZERO_RETURN ? 0 : -EIO;
}

/* fm_conn_read: see fm_tp.h */
long
fm_conn_read(struct fm_conn *c, void *p, size_t n, unsigned *want_r)
{
	ssize_t r;
	int sr;

	*want_r = EV_READ;
	if (c->ssl != NULL) {
		ERR_clear_error();
		sr = SSL_read(c->ssl, p, n > INT32_MAX ? INT32_MAX : (int)n);
		return sr > 0 ? sr : ssl_io_result(c, sr, want_r);
	}
	do
		r = recv(c->fd, p, n, 0);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? -EAGAIN : -EIO;
	return r;
}

/* fm_conn_write: see fm_tp.h */
long
fm_conn_write(struct fm_conn *c, const void *p, size_t n, unsigned *want_r)
{
	ssize_t r;
	int sr;

	*want_r = EV_WRITE;
	if (n == 0)
		return 0;
	if (c->ssl != NULL) {
		ERR_clear_error();
		sr = SSL_write(c->ssl, p, n > INT32_MAX ? INT32_MAX : (int)n);
		return sr > 0 ? sr : ssl_io_result(c, sr, want_r);
	}
	do
		r = send(c->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? -EAGAIN : -EIO;
	return r;
}

/* fm_tls_ctx_new: see fm_tp.h */
SSL_CTX *
fm_tls_ctx_new(const char *ca_file, const char *peer_ca_file, struct buf *err)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	int paths, bundle;

	if (ctx == NULL) {
		(void)buf_puts(err, "cannot make a TLS context");
		return NULL;
	}
	(void)SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	/* partial writes and a moving buffer: we resend from a struct buf
	 * whose data may move between calls */
	(void)SSL_CTX_set_mode(ctx,
			       SSL_MODE_ENABLE_PARTIAL_WRITE |
				       SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/* OpenSSL's default paths (under /usr/lib/ssl on Debian) are
	 * missing in the distroless image; Debian's bundle is the file
	 * libcurl reads too */
	paths = SSL_CTX_set_default_verify_paths(ctx);
	bundle = SSL_CTX_load_verify_locations(ctx, SYSTEM_CA_FILE, NULL);
	if (paths != 1 && bundle != 1)
		log_warn("no trust store at OpenSSL's paths or %s",
			 SYSTEM_CA_FILE);
	if (ca_file[0] != '\0' &&
	    SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
		(void)buf_printf(err, "cannot load CA file %s", ca_file);
		SSL_CTX_free(ctx);
		ERR_clear_error();
		return NULL;
	}
	if (peer_ca_file[0] != '\0' &&
	    SSL_CTX_load_verify_locations(ctx, peer_ca_file, NULL) != 1) {
		(void)buf_printf(err, "cannot load the peer CA file %s",
				 peer_ca_file);
		SSL_CTX_free(ctx);
		ERR_clear_error();
		return NULL;
	}
	ERR_clear_error();
	return ctx;
}
