/*
 * fm_tp_https: the transport's HTTPS channel, POST https://<mx>/mxdeliv
 * (upstream's https_delivery in src/transport/worker.rs), with libcurl
 * on the loop (services/lib/curlloop.h).
 *
 * Role: the request upstream sends: the raw message as the body, the
 * envelope in X-MAIL-FROM (left out for <>) and one X-MAIL-TO per
 * recipient, no Content-Type, 60 s for all of it; HTTP/2 where the
 * server offers it (ALPN), connections shared by every delivery through
 * the one multi handle. Addresses come from our resolver (CURLOPT_RESOLVE),
 * so HTTPS and SMTP use the same DNS. Certificates are verified except
 * where upstream relaxes it (`_` domains, address literals), against
 * the system's store plus FILTERMAIL_PEER_CA_FILE when set (added to
 * the store curl built, through its SSL_CTX callback). Redirects are
 * never followed.
 *
 * The answer (fm_https_classify; docs/UPSTREAM.md, Remote delivery):
 * HTTP 200 whose body is an SMTP 2xx reply is the one success; a 2xx
 * with anything else is in doubt (4xx, no second try now: the remote
 * may have the message); 400/413 with an SMTP 4xx/5xx reply is the
 * remote's verdict, handed on; no answer after the whole message went
 * out is in doubt; everything else (refused, TLS, 3xx, 404, ...) falls
 * back to SMTP as upstream does.
 *
 * Untrusted input: the response: curl parses the head (its own limits);
 * the body is kept up to BODY_MAX bytes, a longer one aborts the
 * transfer.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include "curlloop.h"
#include "fm_tp.h"
#include "log.h"
#include "xmalloc.h"

#define BODY_MAX 4096

struct fm_https {
	struct fm_tp *tp;
	CURL *easy;
	struct curl_slist *hdrs, *resolve;
	struct buf body;
	int truncated;
	size_t msg_len;
	char host[FM_TP_HOST_MAX];
	char err[CURL_ERROR_SIZE];
	fm_https_done_fn *done;
	void *arg;
};

/* on_body: keep the answer's body up to BODY_MAX; a longer one stops
 * the transfer (returning less than given makes curl fail it) */
static size_t
on_body(char *p, size_t size, size_t nmemb, void *arg)
{
	struct fm_https *h = arg;
	size_t n = size * nmemb;

	if (buf_append(&h->body, p, n) < 0) {
		h->truncated = 1;
		return 0;
	}
	return n;
}

/* smtp_reply: the body is one SMTP reply line (a final CRLF or LF
 * allowed); its code, or -1 */
static int
smtp_reply(const char *body, size_t len)
{
	while (len > 0 && (body[len - 1] == '\n' || body[len - 1] == '\r'))
		len--;
	if (len == 0 || memchr(body, '\n', len) != NULL ||
	    memchr(body, '\0', len) != NULL)
		return -1;
	return fm_tp_reply_code(body, len);
}

/* no_answer: curl's result means the request went out but nothing (or
 * nothing whole) came back */
static int
no_answer(int rc)
{
	return rc == CURLE_OPERATION_TIMEDOUT || rc == CURLE_RECV_ERROR ||
	       rc == CURLE_GOT_NOTHING || rc == CURLE_PARTIAL_FILE ||
	       rc == CURLE_HTTP2 || rc == CURLE_HTTP2_STREAM;
}

/* fm_https_classify: see fm_tp.h */
enum fm_tp_outcome
fm_https_classify(const struct fm_https_answer *a, int *code_r, char *text,
		  size_t textsize)
{
	int code = a->status != 0 ? smtp_reply(a->body, a->len) : -1;

	*code_r = 451;
	if (a->curl_rc != CURLE_OK && !(a->truncated && a->status != 0)) {
		if (a->sent_all && a->status == 0 && no_answer(a->curl_rc)) {
			(void)snprintf(text, textsize,
				       "451 4.4.2 No answer from %s after the "
				       "message was sent over HTTPS (%s); it "
				       "may have arrived",
				       a->host, a->curl_err);
			return FM_TP_DOUBT;
		}
		(void)snprintf(text, textsize, "HTTPS: %s", a->curl_err);
		return FM_TP_FAILED;
	}
	if (a->status >= 200 && a->status <= 299) {
		if (!a->truncated && code >= 200 && code <= 299) {
			*code_r = 250;
			(void)snprintf(text, textsize, "%s", FM_TP_OK_HTTPS);
			return FM_TP_SENT;
		}
		(void)snprintf(text, textsize,
			       "451 4.5.0 %s answered HTTP %ld without an SMTP "
			       "2xx reply (%s); the message may have arrived",
			       a->host, a->status,
			       a->truncated ? "answer too long"
					    : "not understood");
		return FM_TP_DOUBT;
	}
	if ((a->status == 400 || a->status == 413) && !a->truncated &&
	    code >= 400 && code <= 599) {
		*code_r = code;
		(void)snprintf(text, textsize, "%.*s (forwarded from %s)",
			       (int)strcspn(a->body, "\r\n"), a->body, a->host);
		return FM_TP_REFUSED;
	}
	(void)snprintf(text, textsize, "HTTPS: HTTP %ld%s", a->status,
		       a->status >= 300 && a->status <= 399
			       ? " (redirect not followed)"
			       : "");
	return FM_TP_FAILED;
}

/* https_free: the easy handle out of the multi handle, then free */
static void
https_free(struct fm_https *h)
{
	if (h->easy != NULL) {
		curlloop_remove(h->tp->curl, h->easy);
		curl_easy_cleanup(h->easy);
	}
	curl_slist_free_all(h->hdrs);
	curl_slist_free_all(h->resolve);
	buf_deinit(&h->body);
	free(h);
}

/* on_done: curlloop's done callback: the request is over */
static void
on_done(void *arg, CURL *easy, CURLcode result)
{
	struct fm_https *h = NULL;
	struct fm_https_answer a;
	curl_off_t up = 0;
	char text[FM_TP_TEXT_MAX];
	enum fm_tp_outcome outcome;
	int code;

	(void)arg;
	if (curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&h) !=
		    CURLE_OK ||
	    h == NULL)
		abort(); /* only our own handles are in this multi */
	memset(&a, 0, sizeof(a));
	a.curl_rc = (int)result;
	a.curl_err = h->err[0] != '\0' ? h->err : curl_easy_strerror(result);
	(void)curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &a.status);
	(void)curl_easy_getinfo(easy, CURLINFO_SIZE_UPLOAD_T, &up);
	a.sent_all = up >= 0 && (size_t)up >= h->msg_len;
	a.body = buf_cstr(&h->body);
	a.len = h->body.len;
	a.truncated = h->truncated;
	a.host = h->host;
	outcome = fm_https_classify(&a, &code, text, sizeof(text));
	if (outcome == FM_TP_FAILED || outcome == FM_TP_DOUBT)
		log_warn("HTTPS delivery to %s failed: %s", h->host, text);
	h->done(h->arg, outcome, code, text);
	https_free(h);
}

/* add_resolve: pin host:port to our addresses for curl */
static void
add_resolve(struct fm_https *h, unsigned port, const char *const *addrs,
	    size_t n)
{
	struct buf b = BUF_INIT(2048);
	size_t i;

	(void)buf_printf(&b, "%s:%u:", h->host, port);
	for (i = 0; i < n; i++)
		(void)buf_printf(&b, strchr(addrs[i], ':') ? "%s[%s]" : "%s%s",
				 i > 0 ? "," : "", addrs[i]);
	h->resolve = curl_slist_append(h->resolve, buf_cstr(&b));
	buf_deinit(&b);
}

/* add_headers: the envelope (upstream's header names); curl's own
 * Content-Type and Expect left out */
static void
add_headers(struct fm_https *h, const struct fm_tp_msg *msg,
	    const char *const *rcpts, size_t n)
{
	char line[FM_TP_HOST_MAX + 400];
	size_t i;

	if (msg->mail_from[0] != '\0') {
		(void)snprintf(line, sizeof(line), "X-MAIL-FROM: %s",
			       msg->mail_from);
		h->hdrs = curl_slist_append(h->hdrs, line);
	}
	for (i = 0; i < n; i++) {
		(void)snprintf(line, sizeof(line), "X-MAIL-TO: %s", rcpts[i]);
		h->hdrs = curl_slist_append(h->hdrs, line);
	}
	h->hdrs = curl_slist_append(h->hdrs, "Content-Type:");
	h->hdrs = curl_slist_append(h->hdrs, "Expect:");
}

/* add_peer_cas: curl's SSL_CTX callback: the peer CA file (the relay's
 * tls.peerCABundle) joins the system store curl loaded (its default
 * CA bundle stays: CAINFO would replace it) */
static CURLcode
add_peer_cas(CURL *curl, void *sslctx, void *arg)
{
	const struct fm_tp_opts *o = arg;
	X509_STORE *st = SSL_CTX_get_cert_store(sslctx);

	(void)curl;
	if (st == NULL || X509_STORE_load_file(st, o->peer_ca_file) != 1) {
		ERR_clear_error();
		log_warn("cannot load the peer CA file %s", o->peer_ca_file);
		return CURLE_SSL_CACERT_BADFILE;
	}
	ERR_clear_error();
	return CURLE_OK;
}

/* set_options: the request */
static int
set_options(struct fm_https *h, const char *url, int relaxed,
	    const struct fm_tp_msg *msg)
{
	CURL *e = h->easy;
	const struct fm_tp_opts *o = &h->tp->o;
	int bad = 0;

	bad |= curl_easy_setopt(e, CURLOPT_URL, url) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https") != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_PRIVATE, h) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, h->err) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_POSTFIELDS, msg->data) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
				(curl_off_t)msg->len) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_HTTPHEADER, h->hdrs) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_RESOLVE, h->resolve) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_WRITEDATA, h) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)o->timeout_ms) !=
	       CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_HTTP_VERSION,
				(long)CURL_HTTP_VERSION_2TLS) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_SSLVERSION,
				(long)CURL_SSLVERSION_TLSv1_2) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
	if (o->ca_file[0] != '\0')
		bad |= curl_easy_setopt(e, CURLOPT_CAINFO, o->ca_file) !=
		       CURLE_OK;
	if (o->peer_ca_file[0] != '\0' && !relaxed) {
		bad |= curl_easy_setopt(e, CURLOPT_SSL_CTX_FUNCTION,
					add_peer_cas) != CURLE_OK;
		bad |= curl_easy_setopt(e, CURLOPT_SSL_CTX_DATA, o) != CURLE_OK;
	}
	if (relaxed) {
		bad |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L) !=
		       CURLE_OK;
		bad |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L) !=
		       CURLE_OK;
	}
	return bad ? -1 : 0;
}

/* url_for: https://host[:port]/mxdeliv (an IPv6 address in brackets) */
static void
url_for(char *url, size_t size, const char *host, unsigned port)
{
	int v6 = strchr(host, ':') != NULL;
	char p[16] = "";

	if (port != 443)
		(void)snprintf(p, sizeof(p), ":%u", port);
	(void)snprintf(url, size, "https://%s%s%s%s/mxdeliv", v6 ? "[" : "",
		       host, v6 ? "]" : "", p);
}

/* fm_https_start: see fm_tp.h */
struct fm_https *
fm_https_start(struct fm_tp *tp, const char *host, const char *const *addrs,
	       size_t naddrs, int relaxed, const struct fm_tp_msg *msg,
	       const char *const *rcpts, size_t nrcpts, fm_https_done_fn *done,
	       void *arg)
{
	struct fm_https *h = xcalloc(1, sizeof(*h));
	char url[FM_TP_HOST_MAX + 64];

	h->tp = tp;
	h->done = done;
	h->arg = arg;
	h->msg_len = msg->len;
	buf_init(&h->body, BODY_MAX);
	(void)snprintf(h->host, sizeof(h->host), "%s", host);
	url_for(url, sizeof(url), host, tp->o.https_port);
	add_resolve(h, tp->o.https_port, addrs, naddrs);
	add_headers(h, msg, rcpts, nrcpts);
	h->easy = curl_easy_init();
	if (h->easy == NULL || h->hdrs == NULL || h->resolve == NULL ||
	    set_options(h, url, relaxed, msg) < 0 ||
	    curlloop_add(tp->curl, h->easy) < 0) {
		/* curl cannot even start: report it from the loop as a
		 * failed request (SMTP is tried next) */
		if (h->easy != NULL)
			curl_easy_cleanup(h->easy);
		h->easy = NULL;
		https_free(h);
		log_error("cannot start an HTTPS request to %s", host);
		return NULL;
	}
	log_debug("POST %s (%zu bytes, %zu recipients)", url, msg->len, nrcpts);
	return h;
}

/* fm_https_cancel: see fm_tp.h */
void
fm_https_cancel(struct fm_https **hp)
{
	if (*hp == NULL)
		return;
	https_free(*hp);
	*hp = NULL;
}

/* fm_https_loop_new: see fm_tp.h */
struct curlloop *
fm_https_loop_new(struct fm_tp *tp)
{
	struct curlloop *cl = curlloop_new(tp->loop, on_done, NULL, tp);

	if (cl != NULL) {
		/* HTTP/2: many deliveries over one connection per host */
		(void)curl_multi_setopt(curlloop_multi(cl), CURLMOPT_PIPELINING,
					(long)CURLPIPE_MULTIPLEX);
	}
	return cl;
}
