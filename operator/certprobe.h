/*
 * certprobe: what the relay Pod's cert container last said about its
 * ACME certificate, read from the kubelet's Unhealthy events
 * (docs/DESIGN.md, Certificates in ACME mode).
 *
 * The cert container's readiness probe (`cert-reloader --acme-status`)
 * prints one line, `ready=false names=... notAfter=... nextAttempt=...
 * failures=N lastError="..."`, and fails until a certificate from the
 * ACME server is served. The kubelet records each failure as a core/v1
 * Event of the Pod (reason Unhealthy, involvedObject.fieldPath
 * spec.containers{cert}, message "Readiness probe failed: <line>"), so
 * the operator learns the client's state from the API server alone:
 * no API credentials in the Pod, no exec into it. The controller keeps
 * an informer of these events (field-selected), reduced to struct
 * cert_probe by cert_probe_transform.
 */
#ifndef OP_CERTPROBE_H
#define OP_CERTPROBE_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "informer.h"

/* the field selector of the events informer */
#define CERT_PROBE_SELECTOR                         \
	"reason=Unhealthy,involvedObject.kind=Pod," \
	"involvedObject.fieldPath=spec.containers{cert}"

struct cert_probe {
	char ns[64];	 /* the Pod's namespace */
	char pod[256];	 /* the Pod's name; "" when the event is not a
			  * cert probe's */
	char time[24];	 /* its last occurrence, YYYY-MM-DDTHH:MM:SSZ */
	char first[24];	 /* its first (what the status shows: stable
			  * while the probe repeats the same line) */
	char rv[32];	 /* the event's resourceVersion (a tie-break) */
	int parsed;	 /* the message held the status line */
	char names[512]; /* comma-separated, "" none yet */
	char not_after[32], next_attempt[32]; /* "-" none */
	unsigned failures;
	char last_error[600]; /* lastError; the raw probe output when the
			       * line was not there */
};

/* cert_probe_transform / cert_probe_free: informer hooks (a struct
 * cert_probe, pod "" for events of other containers or reasons) */
void *cert_probe_transform(void *arg, cJSON **obj_r);
void cert_probe_free(void *v);

/* cert_probe_from_event: fill p from a core/v1 Event; 1 when it is a
 * cert container's Unhealthy event, else 0 (p->pod "") */
int cert_probe_from_event(const cJSON *ev, struct cert_probe *p);
/* cert_probe_parse: the status line in a probe's message ("Readiness
 * probe failed: ready=false ...", perhaps after the kubelet's
 * "(combined from similar events): "); 0 parsed, -EINVAL when the line
 * is not there (then last_error holds the message, trimmed) */
int cert_probe_parse(const char *message, struct cert_probe *p);
/* cert_probe_newer: a happened after b (b may be NULL) */
int cert_probe_newer(const struct cert_probe *a, const struct cert_probe *b);
/* cert_probe_relay: "namespace/relay" of the relay whose Pod p is about
 * ("<relay>-0", the StatefulSet's one replica); 0, or -EINVAL */
int cert_probe_relay(const struct cert_probe *p, char *out, size_t outsize);

/* cert_probes_start: the started informer of the cert containers'
 * probe events in namespace ns (NULL or "" every one), values struct
 * cert_probe, on_event(arg, ...) on each change */
struct informer *cert_probes_start(struct evloop *loop, struct kube_client *c,
				   const char *ns, struct metrics *m,
				   informer_event_fn *on_event, void *arg);
/* cert_probes_newest: the newest probe event of Pod ns/pod in the
 * informer's cache into out: 1, or 0 when none (or inf NULL) */
int cert_probes_newest(const struct informer *inf, const char *ns,
		       const char *pod, struct cert_probe *out);

#endif
