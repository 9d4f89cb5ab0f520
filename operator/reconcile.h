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
 */
#ifndef OP_RECONCILE_H
#define OP_RECONCILE_H

#include <cjson/cJSON.h>

#include "desired.h"
#include "operator.h"

struct rec;
struct rec_call;

/* rec_call_fn: one call of a phase finished */
typedef void rec_call_fn(struct rec *r, struct rec_call *call,
			 struct kube_result *res);

/* one API call of a reconcile, in flight with the others */
struct rec_call {
	struct rec *r;
	struct rec_call *next;
	rec_call_fn *fn;
	struct kube_call *kc; /* while in flight */
	enum op_kind k;
	char name[256];		    /* the object's name */
	char want[UTIL_SHA256_HEX]; /* apply: desired hash */
	int found;		    /* apply: the child existed */
	int dkim;		    /* secret calls: the DKIM Secret */
};

struct rec {
	struct controller *ctl;
	char *key;
	uint64_t t0;  /* start, for the duration metric */
	cJSON *relay; /* a copy of the cached relay */
	const char *ns, *name, *uid;
	struct relay_spec *spec;
	struct render_set files;
	char tls_secret[256], dkim_secret[256];
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
	unsigned pending;		   /* calls not finished */
	void (*next)(struct rec *r);	   /* runs when pending drops to 0 */
	struct rec_call *calls;		   /* every call of this reconcile */
	struct rec *prev_live, *next_live; /* the controller's list */
};

/* reconcile_start: begin reconciling the relay "namespace/name"; the
 * controller's reconcile_finished runs when it is done (possibly
 * before this returns) */
void reconcile_start(struct controller *ctl, const char *key);
/* reconcile_abort: cancel the calls of a reconcile in flight and free
 * it without an outcome (leader lost, drain timed out); the controller
 * accounts for it */
void reconcile_abort(struct rec *r);
/* reconcile_gone: a relay was deleted (tell what was kept) */
void reconcile_gone(struct controller *ctl, const char *key, const cJSON *last);

/* rec_fail: remember the first failure of this reconcile */
void rec_fail(struct rec *r, const char *reason, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
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
/* rec_secrets: start creating the DKIM (a key from the controller's
 * keygen, else dkim_pending) and SelfSigned TLS Secrets once; check
 * Secrets the user names exist and read the DKIM record from one */
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
