/*
 * acme_run: the ACME flow on cert-reloader's event loop (see acme.h):
 * requests through libcurl (services/lib/curlloop, one transfer at a
 * time, the CA bundle when one is given, a timeout per request), the
 * wake timer, and the HTTP-01 challenge server on loopback (nginx's port
 * 80 forwards /.well-known/acme-challenge/ to it).
 *
 * Untrusted input: the server's answers (bodies capped at ACME_BODY_MAX,
 * header values capped at their fields) and requests to the challenge
 * server (services/lib/http.c bounds them; only GET of a known token is
 * answered, everything else is 404).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/rand.h>

#include "acme.h"
#include "curlloop.h"
#include "evloop.h"
#include "http.h"
#include "log.h"
#include "net.h"
#include "num.h"
#include "xmalloc.h"

#define CHALLENGE_PATH "/.well-known/acme-challenge/"

struct acme_client {
	struct evloop *loop;
	struct curlloop *cl;
	struct http_server *srv;
	struct acme_flow *flow;
	struct acme_opts o;
	struct evloop_timer wake;
	CURL *easy;
	struct curl_slist *hdrs;
	struct buf body;
	char nonce[256], location[ACME_URL_MAX], retry_after[128];
	void (*installed)(void *);
	void *arg;
};

/* on_header: keep Replay-Nonce, Location and Retry-After */
static size_t
on_header(char *p, size_t size, size_t n, void *arg)
{
	struct acme_client *c = arg;
	size_t len = size * n, k, vlen;
	static const struct {
		const char *name;
		size_t off, size;
	} keep[] = {
		{ "replay-nonce:", offsetof(struct acme_client, nonce), 256 },
		{ "location:", offsetof(struct acme_client, location),
		  ACME_URL_MAX },
		{ "retry-after:", offsetof(struct acme_client, retry_after),
		  128 },
	};
	const char *v;

	for (k = 0; k < sizeof(keep) / sizeof(keep[0]); k++) {
		if (len < strlen(keep[k].name) ||
		    strncasecmp(p, keep[k].name, strlen(keep[k].name)) != 0)
			continue;
		v = p + strlen(keep[k].name);
		vlen = len - strlen(keep[k].name);
		while (vlen > 0 && (*v == ' ' || *v == '\t'))
			v++, vlen--;
		while (vlen > 0 && (v[vlen - 1] == '\r' ||
				    v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
			vlen--;
		if (vlen < keep[k].size)
			(void)snprintf((char *)c + keep[k].off, keep[k].size,
				       "%.*s", (int)vlen, v);
	}
	return len;
}

/* on_body: the answer's body, capped */
static size_t
on_body(char *p, size_t size, size_t n, void *arg)
{
	struct acme_client *c = arg;

	return buf_append(&c->body, p, size * n) < 0 ? 0 : size * n;
}

/* t_send: one request through libcurl */
static int
t_send(void *ctx, const struct acme_req *q)
{
	struct acme_client *c = ctx;
	CURL *e = curl_easy_init();

	if (e == NULL)
		return -ENOMEM;
	buf_reset(&c->body);
	c->nonce[0] = c->location[0] = c->retry_after[0] = '\0';
	(void)curl_easy_setopt(e, CURLOPT_URL, q->url);
	(void)curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https,http");
	(void)curl_easy_setopt(e, CURLOPT_USERAGENT,
			       "chatmail-cert-reloader (ACME)");
	(void)curl_easy_setopt(e, CURLOPT_TIMEOUT, (long)c->o.timeout_s);
	(void)curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, 10L);
	(void)curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	(void)curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	(void)curl_easy_setopt(e, CURLOPT_HEADERDATA, c);
	(void)curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	(void)curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
	if (c->o.ca_bundle[0] != '\0')
		(void)curl_easy_setopt(e, CURLOPT_CAINFO, c->o.ca_bundle);
	if (q->method == ACME_HEAD)
		(void)curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	if (q->method == ACME_POST) {
		(void)curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->hdrs);
		(void)curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, q->body);
	}
	if (curlloop_add(c->cl, e) < 0) {
		curl_easy_cleanup(e);
		return -EINVAL;
	}
	c->easy = e;
	return 0;
}

/* on_done: the transfer ended; hand the answer to the flow */
static void
on_done(void *arg, CURL *easy, CURLcode res)
{
	struct acme_client *c = arg;
	struct acme_resp r = { 0 };
	long status = 0;

	(void)curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(easy);
	c->easy = NULL;
	if (buf_putc(&c->body, '\0') == 0)
		buf_truncate(&c->body, c->body.len - 1);
	r.status = status;
	if (res != CURLE_OK) {
		r.neterr = 1;
		r.body = res == CURLE_WRITE_ERROR ? "answer too large"
						  : curl_easy_strerror(res);
	} else {
		r.body = c->body.data ? c->body.data : "";
		r.len = c->body.len;
	}
	r.nonce = c->nonce[0] ? c->nonce : NULL;
	r.location = c->location[0] ? c->location : NULL;
	r.retry_after = c->retry_after[0] ? c->retry_after : NULL;
	acme_flow_response(c->flow, &r);
}

static void
t_wake(void *ctx, uint64_t ms)
{
	struct acme_client *c = ctx;

	evloop_timer_start(c->loop, &c->wake, ms);
}

static time_t
t_now(void *ctx)
{
	(void)ctx;
	return time(NULL);
}

static double
t_random(void *ctx)
{
	uint32_t v = 0;

	(void)ctx;
	if (RAND_bytes((unsigned char *)&v, sizeof(v)) != 1)
		return 0.5;
	return (double)v / 4294967296.0;
}

static void
t_installed(void *ctx)
{
	struct acme_client *c = ctx;

	if (c->installed != NULL)
		c->installed(c->arg);
}

static void
on_wake(struct evloop *loop, void *arg)
{
	struct acme_client *c = arg;

	(void)loop;
	acme_flow_wake(c->flow);
}

/* on_http: GET /.well-known/acme-challenge/<token> */
static void
on_http(void *arg, struct http_request *req)
{
	struct acme_client *c = arg;
	const char *path = http_request_path(req), *ka = NULL;

	if (strncmp(path, CHALLENGE_PATH, strlen(CHALLENGE_PATH)) == 0 &&
	    (strcmp(http_request_method(req), "GET") == 0 ||
	     strcmp(http_request_method(req), "HEAD") == 0))
		ka = acme_flow_challenge(c->flow,
					 path + strlen(CHALLENGE_PATH));
	if (ka == NULL) {
		(void)http_respond_text(req, 404, "Not Found\n");
		return;
	}
	log_info("answered the HTTP-01 challenge for %s",
		 http_request_peer(req));
	(void)http_respond(req, 200, "application/octet-stream", NULL, ka,
			   strlen(ka));
}

/* listen_on: the challenge server on host:port */
static int
listen_on(struct acme_client *c, struct buf *err)
{
	struct http_server_opts ho;
	char host[64];
	const char *colon = strrchr(c->o.listen, ':');
	unsigned port;
	int fd;

	if (colon == NULL || (size_t)(colon - c->o.listen) >= sizeof(host) ||
	    num_parse_uint(colon + 1, 1, 65535, &port) < 0) {
		(void)buf_printf(err, "--acme-listen %s: want HOST:PORT",
				 c->o.listen);
		return -EINVAL;
	}
	(void)snprintf(host, sizeof(host), "%.*s", (int)(colon - c->o.listen),
		       c->o.listen);
	http_server_opts_default(&ho);
	ho.max_body = 0;
	ho.max_conns = 64;
	ho.idle_ms = 10000;
	c->srv = http_server_new(c->loop, &ho, NULL, on_http, c);
	fd = net_listen_tcp(host, port, 16, err);
	if (fd < 0 || http_server_listen(c->srv, fd) < 0)
		return -EADDRINUSE;
	return 0;
}

struct acme_client *
acme_client_new(struct evloop *loop, const struct acme_opts *o,
		void (*installed)(void *), void *arg, struct buf *err)
{
	struct acme_client *c = xcalloc(1, sizeof(*c));
	struct acme_env env = {
		t_send, t_wake, t_now, t_random, t_installed, c
	};

	c->loop = loop;
	c->o = *o;
	c->installed = installed;
	c->arg = arg;
	buf_init(&c->body, ACME_BODY_MAX);
	evloop_timer_init(&c->wake, on_wake, c);
	c->hdrs =
		curl_slist_append(NULL, "Content-Type: application/jose+json");
	c->cl = curlloop_new(loop, on_done, NULL, c);
	if (c->cl == NULL || c->hdrs == NULL) {
		(void)buf_puts(err, "libcurl does not start");
		goto fail;
	}
	if (listen_on(c, err) < 0)
		goto fail;
	c->flow = acme_flow_new(o, &env);
	if (acme_flow_start(c->flow, err) < 0)
		goto fail;
	return c;
fail:
	acme_client_free(&c);
	return NULL;
}

void
acme_client_free(struct acme_client **cp)
{
	struct acme_client *c = *cp;

	if (c == NULL)
		return;
	evloop_timer_stop(c->loop, &c->wake);
	if (c->easy != NULL) {
		curlloop_remove(c->cl, c->easy);
		curl_easy_cleanup(c->easy);
	}
	curlloop_free(&c->cl);
	http_server_free(&c->srv);
	acme_flow_free(&c->flow);
	curl_slist_free_all(c->hdrs);
	buf_deinit(&c->body);
	free(c);
	*cp = NULL;
}
