/*
 * fm_httpd: incoming filtermail's HTTP endpoint (upstream
 * src/http_server.rs), where other relays' filtermail-transport delivers
 * with POST /mxdeliv (behind nginx, which terminates TLS).
 *
 * Role: the envelope comes in headers, X-MAIL-FROM (one) and X-MAIL-TO
 * (repeated), the body is the raw RFC 5322 message. Then the same path
 * as SMTP: policy check and reinjection (fm_job_start). Answers, as
 * upstream: 405 for any method but POST; 413 "552 Message exceeds
 * maximum size" for a body over max_message_size; 200 with the
 * SMTP-style reply ("250 OK") when Postfix took the message; 400 with
 * the SMTP error text otherwise (bad envelope, policy refusal,
 * reinjection failure).
 *
 * Untrusted input: the request (bounded by services/lib/http: head,
 * header count, body = max_message_size, idle timeout of 60 s).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "filtermail.h"
#include "http.h"
#include "log.h"
#include "xmalloc.h"

struct fm_httpd {
	const struct fm_ctx *ctx;
	struct http_server *srv;
	size_t busy; /* requests being checked or reinjected */
};

/* one request being checked and reinjected */
struct mx_req {
	struct fm_httpd *h;
	struct http_request *req;
	char from[FM_ADDR_MAX + 1];
	char **rcpts;
	size_t nrcpts;
	char *crlf; /* the body with bare LFs made CRLF, if it had any */
	struct fm_job *job;
	int started; /* counted in busy */
};

/* mx_free: free a request's state */
static void
mx_free(struct mx_req *mx)
{
	size_t i;

	fm_job_cancel(&mx->job);
	if (mx->started)
		mx->h->busy--;
	for (i = 0; i < mx->nrcpts; i++)
		free(mx->rcpts[i]);
	free(mx->rcpts);
	free(mx->crlf);
	free(mx);
}

/* header_addr: a header value that is one address, bare or in <> */
static int
header_addr(const char *v, char *out, size_t outsize)
{
	return strpbrk(v, " \t") == NULL && fm_smtp_parse_path(v, out, outsize);
}

/* envelope: read and check X-MAIL-FROM / X-MAIL-TO; NULL if fine, else
 * the SMTP error text. With mx, the addresses are stored there. */
static const char *
envelope(struct http_request *req, struct mx_req *mx)
{
	char addr[FM_ADDR_MAX + 1];
	const char *v;
	size_t idx = 0, n = 0;

	if (http_request_header_next(req, "X-MAIL-FROM", &idx, &v)) {
		if (http_request_header_next(req, "X-MAIL-FROM", &idx, &v))
			return "500 Only one X-MAIL-FROM header allowed";
		if (!header_addr(v, addr, sizeof(addr)))
			return "500 Invalid address in MAIL FROM";
		if (mx != NULL)
			(void)snprintf(mx->from, sizeof(mx->from), "%s", addr);
	}
	idx = 0;
	while (http_request_header_next(req, "X-MAIL-TO", &idx, &v)) {
		if (!header_addr(v, addr, sizeof(addr)) || addr[0] == '\0')
			return "500 Invalid address in RCPT TO";
		if (++n > FM_MAX_RCPTS)
			return "452 4.5.3 Too many recipients";
		if (mx != NULL) {
			mx->rcpts = xreallocarray(mx->rcpts, n, sizeof(char *));
			mx->rcpts[mx->nrcpts++] = xstrdup(addr);
		}
	}
	if (n == 0)
		return "503 Bad sequence of commands";
	return NULL;
}

/* on_head: refuse early what needs no body: wrong method, bad envelope */
static void
on_head(void *arg, struct http_request *req)
{
	const char *err;

	(void)arg;
	if (strcmp(http_request_method(req), "POST") != 0) {
		(void)http_respond_text(req, 405, "Method Not Allowed");
		return;
	}
	if ((err = envelope(req, NULL)) != NULL)
		(void)http_respond_text(req, 400, err);
}

/* on_done: the final answer, as the SMTP side would give it */
static void
on_done(void *arg, int code, const char *text)
{
	struct mx_req *mx = arg;
	struct http_request *req = mx->req;

	mx->job = NULL;
	http_request_set_abort(req, NULL, NULL);
	log_debug("(HTTP) Sent: %s", text);
	(void)http_respond_text(req, code / 100 == 2 ? 200 : 400, text);
	mx_free(mx);
}

/* on_abort: the client went away; drop the check or reinjection */
static void
on_abort(void *arg, struct http_request *req)
{
	(void)req;
	mx_free(arg);
}

/* to_crlf: a copy of the body with every bare LF made CRLF, or NULL if
 * it has none (SMTP would have sent CRLF; checks and DKIM expect it) */
static char *
to_crlf(const char *p, size_t n, size_t *len_r)
{
	size_t i, bare = 0, o = 0;
	char *out;

	for (i = 0; i < n; i++)
		bare += p[i] == '\n' && (i == 0 || p[i - 1] != '\r');
	if (bare == 0)
		return NULL;
	out = xmalloc(n + bare + 1);
	for (i = 0; i < n; i++) {
		if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r'))
			out[o++] = '\r';
		out[o++] = p[i];
	}
	out[o] = '\0';
	*len_r = o;
	return out;
}

/* on_request: a complete POST: check and reinject its message */
static void
on_request(void *arg, struct http_request *req)
{
	struct fm_httpd *h = arg;
	struct mx_req *mx = xcalloc(1, sizeof(*mx));
	struct fm_envelope env;
	const char *body, *err;
	size_t len;

	mx->h = h;
	mx->req = req;
	if (h->ctx->stats != NULL)
		h->ctx->stats->http_requests++;
	if ((err = envelope(req, mx)) != NULL) {
		(void)http_respond_text(req, 400, err);
		mx_free(mx);
		return;
	}
	body = http_request_body(req, &len);
	mx->crlf = to_crlf(body, len, &len);
	if (mx->crlf != NULL)
		body = mx->crlf;
	log_debug("(HTTP) MAIL FROM:<%s>", mx->from);
	env.mail_from = mx->from;
	env.rcpts = (const char *const *)mx->rcpts;
	env.nrcpts = mx->nrcpts;
	env.origin_ip = NULL;
	http_request_set_abort(req, on_abort, mx);
	mx->started = 1;
	h->busy++;
	mx->job = fm_job_start(h->ctx, &env, body, len, on_done, mx);
}

/* fm_httpd_new: see filtermail.h */
struct fm_httpd *
fm_httpd_new(const struct fm_ctx *ctx, int lfd)
{
	struct fm_httpd *h = xcalloc(1, sizeof(*h));
	struct http_server_opts o;

	http_server_opts_default(&o);
	o.max_header = 128 * 1024; /* up to FM_MAX_RCPTS X-MAIL-TO */
	o.max_headers = FM_MAX_RCPTS + 64;
	o.max_body = ctx->max_size;
	o.max_conns = ctx->max_sessions;
	o.idle_ms = 60000; /* upstream's read/write timeouts */
	o.too_large_body = "552 Message exceeds maximum size";
	h->ctx = ctx;
	h->srv = http_server_new(ctx->loop, &o, on_head, on_request, h);
	if (http_server_listen(h->srv, lfd) < 0) {
		close(lfd);
		http_server_free(&h->srv);
		free(h);
		return NULL;
	}
	return h;
}

/* fm_httpd_close_listener: see filtermail.h */
void
fm_httpd_close_listener(struct fm_httpd *h)
{
	http_server_close_listeners(h->srv);
}

/* fm_httpd_busy: see filtermail.h */
size_t
fm_httpd_busy(const struct fm_httpd *h)
{
	return h->busy;
}

/* fm_httpd_free: see filtermail.h */
void
fm_httpd_free(struct fm_httpd **hp)
{
	struct fm_httpd *h = *hp;

	if (h == NULL)
		return;
	http_server_free(&h->srv);
	free(h);
	*hp = NULL;
}
