/*
 * reconcile: the state of one reconcile of one relay, shared by
 * reconcile.c (the flow, status, deletion of the relay) and
 * reconcile_apply.c (writing children: server-side apply when the
 * applied content differs, created-once Secrets, deleting children the
 * spec no longer wants).
 *
 * Nothing here keeps a pointer into an informer cache across an API
 * call: a call runs the event loop, and a watch event may replace the
 * cached object meanwhile. The relay is copied at the start.
 */
#ifndef OP_RECONCILE_H
#define OP_RECONCILE_H

#include <cjson/cJSON.h>

#include "desired.h"
#include "operator.h"

struct rec {
	struct controller *ctl;
	cJSON *relay; /* a copy of the cached relay */
	const char *ns, *name, *uid;
	struct relay_spec *spec;
	struct render_set files;
	char tls_secret[256], dkim_secret[256];
	char dkim_txt[2048];		   /* of a Secret the user brought */
	char err_reason[64], err_msg[512]; /* the first failure */
	unsigned writes;
	unsigned retry_after; /* seconds the API server asked us to wait */
	/* "Kind name, ..." of this reconcile, for one event each */
	struct buf created, updated, deleted;
};

/* rec_fail: remember the first failure of this reconcile */
void rec_fail(struct rec *r, const char *reason, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* rec_apply_all: server-side apply every object of the desired list
 * (then the PVC patches of existing PVCs) whose live object does not
 * already hold exactly this content, all concurrently */
void rec_apply_all(struct rec *r, const cJSON *list,
		   const struct desired_in *in);
/* rec_secrets: create the DKIM and SelfSigned TLS Secrets once; check
 * Secrets the user names exist */
void rec_secrets(struct rec *r, const struct desired_in *in);
/* rec_prune: delete children the desired list no longer has */
void rec_prune(struct rec *r, const cJSON *list);

/* rec_kind_of: the op_kind of an object's kind, or OK_COUNT */
enum op_kind rec_kind_of(const cJSON *obj);
/* rec_child: a deep copy of the cached child of kind k named name in
 * the relay's namespace (free with rec_child_clear); 1 found, 0 not */
int rec_child(struct rec *r, enum op_kind k, const char *name,
	      struct child *copy);
void rec_child_clear(struct child *c);

#endif
