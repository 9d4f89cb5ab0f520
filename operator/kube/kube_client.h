/*
 * kube_client: the operator's Kubernetes API client, on the process's
 * one event loop: a libcurl multi handle whose sockets and timer are
 * driven by evloop, so watches and requests share one thread, and
 * HTTP/2 multiplexes them over one connection to the API server.
 *
 * Every request has a verb (for metrics and the HTTP method), a path
 * with query, an optional JSON body, and a completion callback that gets
 * a struct kube_result: the HTTP status, the parsed JSON body, and for
 * errors the API's Status reason and message mapped to an errno-style
 * code. Watches deliver the raw stream to a data callback instead.
 * Response bodies are bounded (KUBE_RESP_MAX). Server-side apply is
 * PATCH with Content-Type application/apply-patch+yaml (JSON is YAML)
 * and ?fieldManager=chatmail-operator&force=true.
 *
 * Ownership: the client borrows the loop and the config (both must
 * outlive it); callbacks run from the loop; a result and its body are
 * valid during the callback (take the body by setting res->body NULL).
 */
#ifndef OP_KUBE_CLIENT_H
#define OP_KUBE_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "buf.h"
#include "evloop.h"
#include "kube_config.h"

#define KUBE_FIELD_MANAGER "chatmail-operator"
#define KUBE_RESP_MAX (64u << 20)
#define KUBE_TIMEOUT_MS 30000u

enum kube_verb {
	KV_GET,
	KV_LIST,
	KV_WATCH,
	KV_CREATE,
	KV_UPDATE,
	KV_PATCH, /* JSON merge patch */
	KV_APPLY, /* server-side apply */
	KV_DELETE,
	KV_COUNT
};

/* a resource type: where it lives in the API */
struct kube_kind {
	const char *api_version; /* "apps/v1" */
	const char *kind;	 /* "StatefulSet" */
	const char *plural;	 /* "statefulsets" */
	int namespaced;
};

extern const struct kube_kind KUBE_RELAY, KUBE_STATEFULSET, KUBE_SERVICE,
	KUBE_CONFIGMAP, KUBE_SECRET, KUBE_CRONJOB, KUBE_NETPOL, KUBE_PVC,
	KUBE_POD, KUBE_CERTIFICATE, KUBE_DNSENDPOINT, KUBE_PODMONITOR,
	KUBE_LEASE, KUBE_EVENT;
/* core/v1 Events: what the kubelet writes, field-selectable by
 * involvedObject.* (events.k8s.io/v1 names those regarding.*) */
extern const struct kube_kind KUBE_CORE_EVENT;

struct kube_result {
	long code;	      /* HTTP status; 0 = no response */
	int err;	      /* 0 on 2xx, else see kube_code_err() */
	cJSON *body;	      /* parsed JSON body or NULL */
	char reason[64];      /* Status.reason, "" if none */
	char message[512];    /* Status.message or the transport error */
	unsigned retry_after; /* seconds, from Retry-After (429, 503) */
};

struct kube_client;
struct kube_call;
struct metrics;

/* kube_done_fn: a request finished (or failed); see struct kube_result */
typedef void kube_done_fn(void *arg, struct kube_result *res);
/* kube_stream_fn: the next bytes of a watch; non-zero aborts it (the
 * done callback follows with err -ECANCELED) */
typedef int kube_stream_fn(void *arg, const char *data, size_t len);

/* kube_client_new: a client for kc on loop; m may be NULL */
struct kube_client *kube_client_new(struct evloop *loop, struct kube_config *kc,
				    struct metrics *m);
/* kube_client_free: aborts every call (no callbacks) and frees */
void kube_client_free(struct kube_client **cp);
/* kube_client_inflight: calls not yet finished */
size_t kube_client_inflight(const struct kube_client *c);

/* kube_call_start: start a request; body may be NULL. The call handle
 * is valid until done runs or kube_call_cancel. */
struct kube_call *kube_call_start(struct kube_client *c, enum kube_verb v,
				  const char *path, const cJSON *body,
				  kube_done_fn *done, void *arg);
/* kube_watch_start: GET path as a stream (path must ask for watch=1) */
struct kube_call *kube_watch_start(struct kube_client *c, const char *path,
				   unsigned timeout_s, kube_stream_fn *data,
				   kube_done_fn *done, void *arg);
/* kube_call_cancel: abort a call; its done callback will not run;
 * NULLs *callp; safe from inside the call's own callbacks */
void kube_call_cancel(struct kube_client *c, struct kube_call **callp);

/* kube_call_sync: start a request and run the loop until it finishes;
 * res is filled (kube_result_deinit it); returns res->err */
int kube_call_sync(struct kube_client *c, enum kube_verb v, const char *path,
		   const cJSON *body, struct kube_result *res);
/* kube_result_deinit: free the body */
void kube_result_deinit(struct kube_result *res);

/* kube_code_err: errno-style code of an HTTP status: 0 (2xx),
 * -ENOENT 404, -EEXIST 409 AlreadyExists, -EBUSY 409 Conflict, -ESTALE
 * 410, -EINVAL 400/422, -EACCES 401/403, -EAGAIN 429/5xx/none, -EIO */
int kube_code_err(long code, const char *reason);
/* kube_verb_name: "get", "list", ... "apply" */
const char *kube_verb_name(enum kube_verb v);
/* kube_verb_is_write: create, update, patch, apply, delete */
int kube_verb_is_write(enum kube_verb v);

/* kube_path: "/apis/<gv>/namespaces/<ns>/<plural>[/<name>[/<sub>]]"
 * (ns NULL or "" for cluster-wide) into out (reset first); names are
 * percent-encoded; 0 or -E2BIG */
int kube_path(struct buf *out, const struct kube_kind *k, const char *ns,
	      const char *name, const char *sub);
/* kube_query: append "?k=v" or "&k=v" with v percent-encoded */
int kube_query(struct buf *out, const char *key, const char *value);

#endif
