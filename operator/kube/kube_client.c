/*
 * kube_client: Kubernetes API calls over a libcurl multi handle driven
 * by the evloop (services/lib/curlloop).
 *
 * Connections: curl's multi connection cache keeps the TLS connection
 * to the API server; HTTP/2 with PIPEWAIT makes every request and watch
 * a stream on it. Credentials: the CA, client certificate and key are
 * handed to curl as blobs without copies (the config outlives the
 * client); the bearer token is re-read by kube_config_token (rotation)
 * and goes into a per-request header list that is wiped afterwards; a
 * 401 forces a re-read before the next request.
 *
 * Re-entrancy: completion callbacks may start and cancel calls. A call
 * cancelled while curl is inside one of our callbacks (write, header) is
 * only marked, and freed once curl has returned (reap_cancelled).
 *
 * Untrusted input: response headers and bodies (bounded by
 * KUBE_RESP_MAX, JSON parsed by cJSON), error texts copied into fixed
 * buffers.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "curlloop.h"
#include "kube_client.h"
#include "llist.h"
#include "log.h"
#include "metrics.h"
#include "num.h"
#include "xmalloc.h"

const struct kube_kind KUBE_RELAY = { "chatmail.at/v1alpha1", "ChatmailRelay",
				      "chatmailrelays", 1 };
const struct kube_kind KUBE_STATEFULSET = { "apps/v1", "StatefulSet",
					    "statefulsets", 1 };
const struct kube_kind KUBE_SERVICE = { "v1", "Service", "services", 1 };
const struct kube_kind KUBE_CONFIGMAP = { "v1", "ConfigMap", "configmaps", 1 };
const struct kube_kind KUBE_SECRET = { "v1", "Secret", "secrets", 1 };
const struct kube_kind KUBE_CRONJOB = { "batch/v1", "CronJob", "cronjobs", 1 };
const struct kube_kind KUBE_NETPOL = { "networking.k8s.io/v1", "NetworkPolicy",
				       "networkpolicies", 1 };
const struct kube_kind KUBE_PVC = { "v1", "PersistentVolumeClaim",
				    "persistentvolumeclaims", 1 };
const struct kube_kind KUBE_POD = { "v1", "Pod", "pods", 1 };
const struct kube_kind KUBE_CERTIFICATE = { "cert-manager.io/v1", "Certificate",
					    "certificates", 1 };
const struct kube_kind KUBE_DNSENDPOINT = { "externaldns.k8s.io/v1alpha1",
					    "DNSEndpoint", "dnsendpoints", 1 };
const struct kube_kind KUBE_PODMONITOR = { "monitoring.coreos.com/v1",
					   "PodMonitor", "podmonitors", 1 };
const struct kube_kind KUBE_LEASE = { "coordination.k8s.io/v1", "Lease",
				      "leases", 1 };
const struct kube_kind KUBE_EVENT = { "events.k8s.io/v1", "Event", "events",
				      1 };
const struct kube_kind KUBE_CORE_EVENT = { "v1", "Event", "events", 1 };

struct kube_call {
	LLIST_LINK(kube_call) link; /* in the client's calls */
	struct kube_client *c;
	CURL *easy;
	enum kube_verb verb;
	struct curl_slist *headers; /* wiped: holds the token */
	char *body;		    /* request body */
	struct buf resp;
	kube_done_fn *done;
	kube_stream_fn *stream;
	void *arg;
	unsigned retry_after;
	int cancelled, aborted_by_stream, too_big;
	char resource[64]; /* the plural the path names, for metrics */
	char errbuf[CURL_ERROR_SIZE];
};

struct kube_client {
	struct evloop *loop;
	struct kube_config *kc;
	struct metrics *metrics;
	struct curlloop *cl;
	LLIST_HEAD(, kube_call) calls; /* in flight */
	int zombies; /* cancelled calls waiting for curl to return */
};

static const char *const verb_names[KV_COUNT] = {
	[KV_GET] = "get",	[KV_LIST] = "list",	[KV_WATCH] = "watch",
	[KV_CREATE] = "create", [KV_UPDATE] = "update", [KV_PATCH] = "patch",
	[KV_APPLY] = "apply",	[KV_DELETE] = "delete",
};

const char *
kube_verb_name(enum kube_verb v)
{
	return (unsigned)v < KV_COUNT ? verb_names[v] : "?";
}

int
kube_verb_is_write(enum kube_verb v)
{
	return v == KV_CREATE || v == KV_UPDATE || v == KV_PATCH ||
	       v == KV_APPLY || v == KV_DELETE;
}

int
kube_code_err(long code, const char *reason)
{
	if (code >= 200 && code < 300)
		return 0;
	switch (code) {
	case 404:
		return -ENOENT;
	case 409:
		return reason && strcmp(reason, "AlreadyExists") == 0 ? -EEXIST
								      : -EBUSY;
	case 410:
		return -ESTALE;
	case 400:
	case 422:
		return -EINVAL;
	case 401:
	case 403:
		return -EACCES;
	case 0:
	case 429:
		return -EAGAIN;
	default:
		return code >= 500 ? -EAGAIN : -EIO;
	}
}

/* --- paths --- */

/* put_escaped: percent-encode everything but unreserved characters */
static int
put_escaped(struct buf *out, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	int r = 0;

	for (; *s != '\0' && r == 0; s++) {
		unsigned char ch = (unsigned char)*s;

		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || strchr("-._~", ch) != NULL)
			r = buf_putc(out, (char)ch);
		else
			r = buf_printf(out, "%%%c%c", hex[ch >> 4],
				       hex[ch & 15]);
	}
	return r;
}

int
kube_path(struct buf *out, const struct kube_kind *k, const char *ns,
	  const char *name, const char *sub)
{
	int r;

	buf_reset(out);
	r = strchr(k->api_version, '/')
		    ? buf_printf(out, "/apis/%s", k->api_version)
		    : buf_printf(out, "/api/%s", k->api_version);
	if (r == 0 && k->namespaced && ns != NULL && *ns != '\0') {
		r = buf_puts(out, "/namespaces/");
		if (r == 0)
			r = put_escaped(out, ns);
	}
	if (r == 0)
		r = buf_printf(out, "/%s", k->plural);
	if (r == 0 && name != NULL) {
		r = buf_putc(out, '/');
		if (r == 0)
			r = put_escaped(out, name);
	}
	if (r == 0 && sub != NULL)
		r = buf_printf(out, "/%s", sub);
	return r;
}

int
kube_query(struct buf *out, const char *key, const char *value)
{
	int r = buf_printf(out, "%c%s=", strchr(buf_cstr(out), '?') ? '&' : '?',
			   key);

	return r == 0 ? put_escaped(out, value) : r;
}

/* --- transfers --- */

static curlloop_done_fn on_done;
static curlloop_returned_fn reap_cancelled;

/* write_cb: response bytes: to the stream callback or the body buffer */
static size_t
write_cb(char *p, size_t size, size_t n, void *arg)
{
	struct kube_call *call = arg;
	size_t len = size * n;

	if (call->cancelled)
		return 0;
	if (call->stream != NULL) {
		long code = 0;

		(void)curl_easy_getinfo(call->easy, CURLINFO_RESPONSE_CODE,
					&code);
		if (code == 200) {
			if (call->stream(call->arg, p, len) != 0) {
				call->aborted_by_stream = 1;
				return 0;
			}
			return len;
		}
	}
	if (buf_append(&call->resp, p, len) < 0) {
		call->too_big = 1;
		return 0;
	}
	return len;
}

/* header_cb: remember Retry-After */
static size_t
header_cb(char *p, size_t size, size_t n, void *arg)
{
	struct kube_call *call = arg;
	size_t len = size * n;
	char val[16];
	const char *v;
	size_t vl;

	if (len > 12 && strncasecmp(p, "Retry-After:", 12) == 0) {
		v = p + 12;
		vl = len - 12;
		while (vl > 0 && (*v == ' ' || *v == '\t'))
			v++, vl--;
		while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == '\n' ||
				  v[vl - 1] == ' '))
			vl--;
		if (vl > 0 && vl < sizeof(val)) {
			memcpy(val, v, vl);
			val[vl] = '\0';
			(void)num_parse_uint(val, 0, 3600, &call->retry_after);
		}
	}
	return len;
}

struct kube_client *
kube_client_new(struct evloop *loop, struct kube_config *kc, struct metrics *m)
{
	struct kube_client *c = xcalloc(1, sizeof(*c));

	c->loop = loop;
	c->kc = kc;
	c->metrics = m;
	c->cl = curlloop_new(loop, on_done, reap_cancelled, c);
	if (c->cl == NULL)
		abort(); /* main initialised curl before: out of memory */
	(void)curl_multi_setopt(curlloop_multi(c->cl), CURLMOPT_PIPELINING,
				(long)CURLPIPE_MULTIPLEX);
	return c;
}

/* call_free: detach from curl and the list, wipe and free */
static void
call_free(struct kube_client *c, struct kube_call *call)
{
	struct curl_slist *h;

	if (call->easy != NULL) {
		curlloop_remove(c->cl, call->easy);
		curl_easy_cleanup(call->easy);
	}
	for (h = call->headers; h != NULL; h = h->next)
		explicit_bzero(h->data, strlen(h->data));
	curl_slist_free_all(call->headers);
	LLIST_REMOVE(&c->calls, call, link);
	/* bodies of Secret requests and responses hold key material */
	if (call->body != NULL)
		explicit_bzero(call->body, strlen(call->body));
	free(call->body);
	buf_wipe_deinit(&call->resp);
	free(call);
}

void
kube_client_free(struct kube_client **cp)
{
	struct kube_client *c = *cp;
	struct kube_call *call;

	if (c == NULL)
		return;
	while ((call = LLIST_FIRST(&c->calls)) != NULL)
		call_free(c, call);
	curlloop_free(&c->cl);
	free(c);
	*cp = NULL;
}

size_t
kube_client_inflight(const struct kube_client *c)
{
	return LLIST_COUNT(&c->calls);
}

/* fill_status: reason and message of an error response's Status */
static void
fill_status(struct kube_result *res)
{
	const cJSON *reason =
		cJSON_GetObjectItemCaseSensitive(res->body, "reason");
	const cJSON *msg =
		cJSON_GetObjectItemCaseSensitive(res->body, "message");

	if (cJSON_IsString(reason))
		(void)snprintf(res->reason, sizeof(res->reason), "%s",
			       reason->valuestring);
	if (cJSON_IsString(msg))
		(void)snprintf(res->message, sizeof(res->message), "%s",
			       msg->valuestring);
}

/* finish: build the result of a completed transfer and report it */
static void
finish(struct kube_client *c, struct kube_call *call, CURLcode cc)
{
	struct kube_result res;
	kube_done_fn *done = call->done;
	void *arg = call->arg;

	memset(&res, 0, sizeof(res));
	(void)curl_easy_getinfo(call->easy, CURLINFO_RESPONSE_CODE, &res.code);
	res.retry_after = call->retry_after;
	if (call->resp.len > 0)
		res.body =
			cJSON_ParseWithLength(call->resp.data, call->resp.len);
	res.err = kube_code_err(res.code, NULL);
	if (res.code >= 300 || res.code == 0) {
		fill_status(&res);
		res.err = kube_code_err(res.code, res.reason);
	}
	if (cc != CURLE_OK) {
		res.err = call->too_big		    ? -E2BIG
			  : call->aborted_by_stream ? -ECANCELED
						    : -EAGAIN;
		(void)snprintf(res.message, sizeof(res.message), "%s",
			       call->too_big	 ? "response too large"
			       : call->errbuf[0] ? call->errbuf
						 : curl_easy_strerror(cc));
	} else if (res.code < 300 && call->stream == NULL &&
		   call->resp.len > 0 && res.body == NULL) {
		res.err = -EBADMSG;
		(void)snprintf(res.message, sizeof(res.message),
			       "response is not JSON");
	}
	if (res.code == 401)
		(void)kube_config_token(c->kc, evloop_now(c->loop), 1);
	metrics_api_request(c->metrics, kube_verb_name(call->verb),
			    call->resource, res.code);
	call_free(c, call);
	if (done != NULL)
		done(arg, &res);
	kube_result_deinit(&res);
}

/* reap_cancelled: curl has returned: free the calls cancelled while it
 * was inside our callbacks */
static void
reap_cancelled(void *arg)
{
	struct kube_client *c = arg;
	struct kube_call *call, *next;

	if (!c->zombies)
		return;
	c->zombies = 0;
	LLIST_FOREACH_SAFE(call, &c->calls, link, next) {
		if (call->cancelled)
			call_free(c, call);
	}
}

/* on_done: a transfer finished: report it */
static void
on_done(void *arg, CURL *easy, CURLcode cc)
{
	struct kube_call *call = NULL;

	(void)curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&call);
	if (call != NULL)
		finish(arg, call, cc);
}

/* method_of: HTTP method and content type of a verb */
static const char *
method_of(enum kube_verb v, const char **ctype_r)
{
	*ctype_r = "application/json";
	switch (v) {
	case KV_CREATE:
		return "POST";
	case KV_UPDATE:
		return "PUT";
	case KV_PATCH:
		*ctype_r = "application/merge-patch+json";
		return "PATCH";
	case KV_APPLY:
		*ctype_r = "application/apply-patch+yaml";
		return "PATCH";
	case KV_DELETE:
		return "DELETE";
	default:
		return "GET";
	}
}

/* set_tls: CA, client certificate and key, verification */
static void
set_tls(struct kube_client *c, CURL *e)
{
	struct curl_blob blob;

	if (c->kc->ca.len > 0) {
		blob.data = c->kc->ca.data;
		blob.len = c->kc->ca.len;
		blob.flags = CURL_BLOB_NOCOPY;
		(void)curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &blob);
	}
	if (c->kc->client_cert.len > 0) {
		blob.data = c->kc->client_cert.data;
		blob.len = c->kc->client_cert.len;
		blob.flags = CURL_BLOB_NOCOPY;
		(void)curl_easy_setopt(e, CURLOPT_SSLCERT_BLOB, &blob);
		(void)curl_easy_setopt(e, CURLOPT_SSLCERTTYPE, "PEM");
		blob.data = c->kc->client_key.data;
		blob.len = c->kc->client_key.len;
		blob.flags = CURL_BLOB_NOCOPY;
		(void)curl_easy_setopt(e, CURLOPT_SSLKEY_BLOB, &blob);
		(void)curl_easy_setopt(e, CURLOPT_SSLKEYTYPE, "PEM");
	}
	if (c->kc->insecure) {
		(void)curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
		(void)curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
	}
}

/* set_headers: Accept, Content-Type and the bearer token */
static void
set_headers(struct kube_client *c, struct kube_call *call, const char *ctype)
{
	const char *tok = kube_config_token(c->kc, evloop_now(c->loop), 0);
	char *h;

	call->headers =
		curl_slist_append(call->headers, "Accept: application/json");
	if (call->body != NULL) {
		h = xasprintf("Content-Type: %s", ctype);
		call->headers = curl_slist_append(call->headers, h);
		free(h);
	}
	if (*tok != '\0') {
		h = xasprintf("Authorization: Bearer %s", tok);
		call->headers = curl_slist_append(call->headers, h);
		xfree_secret(h, 0);
	}
	if (call->headers == NULL)
		abort(); /* curl_slist_append fails only out of memory */
	(void)curl_easy_setopt(call->easy, CURLOPT_HTTPHEADER, call->headers);
}

/* path_resource: the resource (plural) a path names:
 * /api/v1/namespaces/ns/pods/x -> pods, /apis/g/v/leases -> leases */
static void
path_resource(const char *path, char *out, size_t outsize)
{
	const char *p = path, *seg[8];
	size_t len[8], n = 0, i = 0;

	while (*p == '/' && n < 8) {
		seg[n] = ++p;
		p += strcspn(p, "/?");
		len[n] = (size_t)(p - seg[n]);
		n++;
	}
	if (n > 0 && len[0] == 3 && strncmp(seg[0], "api", 3) == 0)
		i = 2;
	else
		i = 3;
	if (i + 1 < n && len[i] == 10 && strncmp(seg[i], "namespaces", 10) == 0)
		i += 2;
	if (i < n)
		(void)snprintf(out, outsize, "%.*s", (int)len[i], seg[i]);
	else
		(void)snprintf(out, outsize, "namespaces");
}

/* call_new: an easy handle for verb on path, added to the multi */
static struct kube_call *
call_new(struct kube_client *c, enum kube_verb v, const char *path,
	 const cJSON *body, unsigned timeout_ms)
{
	struct kube_call *call = xcalloc(1, sizeof(*call));
	const char *ctype, *method = method_of(v, &ctype);
	char *url = xasprintf("%s%s", c->kc->server, path);
	CURL *e = curl_easy_init();

	if (e == NULL)
		abort(); /* only fails out of memory */
	call->c = c;
	call->easy = e;
	call->verb = v;
	path_resource(path, call->resource, sizeof(call->resource));
	buf_init(&call->resp, KUBE_RESP_MAX);
	if (body != NULL) {
		call->body = cJSON_PrintUnformatted(body);
		if (call->body == NULL)
			abort();
	}
	(void)curl_easy_setopt(e, CURLOPT_URL, url);
	free(url);
	(void)curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	if (call->body != NULL)
		(void)curl_easy_setopt(e, CURLOPT_POSTFIELDS, call->body);
	(void)curl_easy_setopt(e, CURLOPT_PRIVATE, call);
	(void)curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
	(void)curl_easy_setopt(e, CURLOPT_WRITEDATA, call);
	(void)curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
	(void)curl_easy_setopt(e, CURLOPT_HEADERDATA, call);
	(void)curl_easy_setopt(e, CURLOPT_ERRORBUFFER, call->errbuf);
	(void)curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	(void)curl_easy_setopt(e, CURLOPT_HTTP_VERSION,
			       (long)CURL_HTTP_VERSION_2TLS);
	(void)curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
	(void)curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	(void)curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
	(void)curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	(void)curl_easy_setopt(e, CURLOPT_USERAGENT, "chatmail-operator");
	(void)curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https");
	set_tls(c, e);
	set_headers(c, call, ctype);
	LLIST_PREPEND(&c->calls, call, link);
	if (curlloop_add(c->cl, e) < 0)
		abort(); /* only fails out of memory or on misuse */
	return call;
}

struct kube_call *
kube_call_start(struct kube_client *c, enum kube_verb v, const char *path,
		const cJSON *body, kube_done_fn *done, void *arg)
{
	struct kube_call *call = call_new(c, v, path, body, KUBE_TIMEOUT_MS);

	call->done = done;
	call->arg = arg;
	return call;
}

struct kube_call *
kube_watch_start(struct kube_client *c, const char *path, unsigned timeout_s,
		 kube_stream_fn *data, kube_done_fn *done, void *arg)
{
	/* the server ends the watch after timeout_s; allow a margin */
	struct kube_call *call =
		call_new(c, KV_WATCH, path, NULL, (timeout_s + 30) * 1000u);

	call->stream = data;
	call->done = done;
	call->arg = arg;
	return call;
}

void
kube_call_cancel(struct kube_client *c, struct kube_call **callp)
{
	struct kube_call *call = *callp;

	if (call == NULL)
		return;
	*callp = NULL;
	call->done = NULL;
	call->stream = NULL;
	if (curlloop_in_curl(c->cl)) {
		call->cancelled = 1; /* curl is using it: reap later */
		c->zombies = 1;
		return;
	}
	call_free(c, call);
}

struct sync_state {
	struct kube_result *res;
	int finished;
};

/* sync_done: keep the result for kube_call_sync */
static void
sync_done(void *arg, struct kube_result *res)
{
	struct sync_state *st = arg;

	*st->res = *res;
	res->body = NULL; /* transferred */
	st->finished = 1;
}

int
kube_call_sync(struct kube_client *c, enum kube_verb v, const char *path,
	       const cJSON *body, struct kube_result *res)
{
	struct sync_state st = { res, 0 };
	struct kube_call *call;

	memset(res, 0, sizeof(*res));
	call = kube_call_start(c, v, path, body, sync_done, &st);
	while (!st.finished) {
		if (evloop_run_once(c->loop, -1) < 0) {
			kube_call_cancel(c, &call);
			res->err = -EIO;
			(void)snprintf(res->message, sizeof(res->message),
				       "event loop failed");
			break;
		}
	}
	return res->err;
}

void
kube_result_deinit(struct kube_result *res)
{
	cJSON_Delete(res->body);
	res->body = NULL;
}
