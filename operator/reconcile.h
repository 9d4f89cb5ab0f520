/*
 * reconcile: one reconcile of one relay, shared by reconcile.c (the
 * flow, status, deletion of the relay), reconcile_apply.c (writing
 * children: server-side apply when the applied content differs,
 * deleting children the spec no longer wants) and reconcile_secrets.c
 * (created-once Secrets, Secrets the user names).
 *
 * A reconcile is asynchronous: it runs in phases, each of which starts
 * its API calls at once (HTTP/2 streams on one connection) and moves on
 * when the last of them finished, so the controller keeps several
 * relays in flight on its one event loop:
 *
 *   converge  Secrets, every child that differs, deletions
 *   status    the rebuilt status, written when it changed
 *   finish    events, the outcome to the controller, freed
 *
 * Nothing here keeps a pointer into an informer cache across phases:
 * the loop runs between them, and a watch event may replace the cached
 * object meanwhile. The relay is copied at the start.
 *
 * The world a reconcile reaches (API calls, the informer caches,
 * events, DKIM key generation, the clock, where its outcome goes) is a
 * struct rec_env of function pointers, not the controller: controller.c
 * wires the real one, tests/unit/operator/test_reconcile.c a fake that
 * records every call and completes it when the test says. The env also
 * keeps what lives across reconciles: the apply memo, the last JSON of
 * deleted relays and the list of reconciles in flight.
 */
#ifndef OP_RECONCILE_H
#define OP_RECONCILE_H

#include <cjson/cJSON.h>

#include "certprobe.h"
#include "servedcert.h"
#include "desired.h"
#include "dnscheck.h"
#include "llist.h"
#include "operator.h"

struct rec;
/* which created-once Secret a call is about */
enum { SECRET_TLS = 0, SECRET_DKIM = 1, SECRET_TURN = 2 };

struct rec_call;

/* rec_each_fn: one cached child ("namespace/name", struct child) */
typedef void rec_each_fn(void *arg, const char *key, const void *value);

/* rec_ops: the hooks of an environment, each called with env->arg */
struct rec_ops {
	/* start an API request (kube_call_start's contract: body copied,
	 * done runs later from the loop, never from inside this call);
	 * returns a handle for cancel */
	void *(*call)(void *arg, enum kube_verb v, const char *path,
		      const cJSON *body, kube_done_fn *done, void *done_arg);
	/* cancel a request in flight: its done callback never runs */
	void (*cancel)(void *arg, void *handle);
	/* the cached relay "namespace/name", or NULL */
	const struct relay_entry *(*relay)(void *arg, const char *key);
	/* the cached child of kind k at "namespace/name", or NULL */
	const struct child *(*child)(void *arg, enum op_kind k,
				     const char *key);
	/* the optional kind k (a CRD) is served: its cache has listed */
	int (*served)(void *arg, enum op_kind k);
	/* every cached child of kind k (fn starts no I/O) */
	void (*children)(void *arg, enum op_kind k, rec_each_fn *fn,
			 void *fn_arg);
	/* post an event about relay (never fails the reconcile) */
	void (*event)(void *arg, const cJSON *relay, const char *type,
		      const char *reason, const char *action, const char *note);
	/* DKIM keys: keygen_take, keygen_forget, keygen_error (keygen.h);
	 * a waiter told of a key is queued again by the env's owner */
	int (*key_take)(void *arg, const char *waiter, struct buf *pem);
	void (*key_forget)(void *arg, const char *waiter);
	const char *(*key_error)(void *arg);
	/* the clock: monotonic milliseconds, wall clock as RFC 3339 */
	uint64_t (*now_ms)(void *arg);
	void (*now_rfc3339)(void *arg, char *out, size_t outsize);
	/* the live DNS check (dnscheck.h; both may be NULL): the last
	 * result for key, and the records key should publish (after
	 * every status build: the checker starts when they change) */
	const struct dnscheck_result *(*dns_result)(void *arg, const char *key);
	void (*dns_want)(void *arg, const char *key, const char *domain,
			 const cJSON *records);
	/* the newest cert-container probe event of Pod ns/pod into p
	 * (certprobe.h): 1 found, 0 none (may be NULL: none) */
	int (*cert_probe)(void *arg, const char *ns, const char *pod,
			  struct cert_probe *p);
	/* what relay key ("namespace/name") serves on 443 for domain,
	 * read over TLS (servedcert.h: a read is started when stale; its
	 * end queues the relay): 1 known, 0 not yet (may be NULL) */
	int (*served_cert)(void *arg, const char *key, const char *domain,
			   struct served_cert *out);
	/* a reconcile of key ended: rc 0 done, -EAGAIN (or another
	 * -errno) to retry with backoff, not before retry_after seconds
	 * (a 429/503 Retry-After); took_ms long */
	void (*finished)(void *arg, const char *key, int rc,
			 unsigned retry_after, uint64_t took_ms);
};

/* one entry of the apply memo: after we applied content with hash
 * desired, the object's projection hashed to live */
struct memo {
	char desired[UTIL_SHA256_HEX];
	char live[UTIL_SHA256_HEX];
};

/* rec_env: a reconcile's world, and what lives across reconciles */
struct rec_env {
	const struct rec_ops *ops;
	void *arg;
	const struct images *images;
	struct hmap memo;	/* "Kind/ns/name" -> struct memo */
	struct hmap gone;	/* deleted relays -> their last JSON text */
	LLIST_HEAD(, rec) live; /* reconciles in flight */
};

/* rec_env_init / rec_env_deinit: an env over ops and arg (deinit
 * frees the memo and the deleted relays; no reconcile may be live) */
void rec_env_init(struct rec_env *env, const struct rec_ops *ops, void *arg,
		  const struct images *images);
void rec_env_deinit(struct rec_env *env);
/* rec_env_relay_deleted: the relay key left the cache; json is its
 * last object (copied), for the reconcile that reports what was kept */
void rec_env_relay_deleted(struct rec_env *env, const char *key,
			   const char *json);
/* rec_env_child_deleted: the child of kind k at "namespace/name" left
 * the cache: drop its memo entry */
void rec_env_child_deleted(struct rec_env *env, enum op_kind k,
			   const char *key);

/* rec_call_fn: one call of a phase finished */
typedef void rec_call_fn(struct rec *r, struct rec_call *call,
			 struct kube_result *res);

/* one API call of a reconcile, in flight with the others */
struct rec_call {
	struct rec *r;
	LLIST_LINK(rec_call) link; /* in r->calls */
	rec_call_fn *fn;
	void *handle; /* the env's, while in flight */
	enum op_kind k;
	char name[256];		    /* the object's name */
	char want[UTIL_SHA256_HEX]; /* apply: desired hash */
	int found;		    /* apply: the child existed */
	int dkim; /* secret calls: SECRET_TLS, SECRET_DKIM, SECRET_TURN */
};

struct rec {
	struct rec_env *env;
	char *key;
	uint64_t t0;  /* start, for the duration metric */
	cJSON *relay; /* a copy of the cached relay */
	const char *ns, *name, *uid;
	struct relay_spec *spec;
	struct render_set files;
	char tls_secret[256], dkim_secret[256];
	char pod_name[300];		   /* "<relay>-0", for status hints */
	char turn_pod[300];		   /* "<relay>-turn-0" (hostNetwork) */
	struct cert_probe probe;	   /* its cert container's last
					    * probe line (ACME mode) */
	struct served_cert served;	   /* what it serves (ACME, Ready) */
	char dkim_txt[2048];		   /* of a Secret the user brought,
					    * or of the key created now */
	char dkim_new[2048];		   /* of the key being created */
	char err_reason[64], err_msg[512]; /* the first failure */
	int dkim_pending;		   /* waiting for a generated key */
	unsigned writes;
	unsigned retry_after; /* seconds the API server asked us to wait */
	/* "Kind name, ..." of this reconcile, for one event each */
	struct buf created, updated, deleted;
	/* the phase in flight */
	unsigned pending;	      /* calls not finished */
	void (*next)(struct rec *r);  /* runs when pending drops to 0 */
	LLIST_HEAD(, rec_call) calls; /* every call of this reconcile */
	LLIST_LINK(rec) live_link;    /* in env->live */
};

/* reconcile_start: begin reconciling the relay "namespace/name"; the
 * env's finished hook runs when it is done (possibly before this
 * returns) */
void reconcile_start(struct rec_env *env, const char *key);
/* reconcile_abort: cancel the calls of a reconcile in flight and free
 * it without an outcome (leader lost, drain timed out); the caller
 * accounts for it */
void reconcile_abort(struct rec *r);

/* rec_fail: remember the first failure of this reconcile */
void rec_fail(struct rec *r, const char *reason, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* rec_event: an event about the reconciled relay */
void rec_event(struct rec *r, const char *type, const char *reason,
	       const char *action, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
/* rec_call_start: start one call of the current phase; fn runs with
 * its result; body is copied (the caller frees it) */
void rec_call_start(struct rec *r, enum kube_verb v, const char *path,
		    const cJSON *body, rec_call_fn *fn, struct rec_call *call);
/* rec_call_new: a zeroed call record owned by the reconcile */
struct rec_call *rec_call_new(struct rec *r, enum op_kind k, const char *name);

/* rec_apply_all: start a server-side apply of every object of the
 * desired list (then the PVC patches of existing PVCs) whose live
 * object does not already hold exactly this content */
void rec_apply_all(struct rec *r, const cJSON *list,
		   const struct desired_in *in);
/* rec_secrets: start creating the DKIM (a key from the env's keygen,
 * else dkim_pending) and SelfSigned TLS Secrets once; check Secrets
 * the user names exist and read the DKIM record from one */
void rec_secrets(struct rec *r, const struct desired_in *in);
/* rec_prune: start deleting children the desired list no longer has */
void rec_prune(struct rec *r, const cJSON *list);
/* rec_note: "Kind name" added to one of the event lists */
void rec_note(struct buf *list, enum op_kind k, const char *name);

/* rec_kind_of: the op_kind of an object's kind, or OK_COUNT */
enum op_kind rec_kind_of(const cJSON *obj);
/* rec_child: a deep copy of the cached child of kind k named name in
 * the relay's namespace (free with rec_child_clear); 1 found, 0 not */
int rec_child(struct rec *r, enum op_kind k, const char *name,
	      struct child *copy);
void rec_child_clear(struct child *c);

#endif
