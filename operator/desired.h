/*
 * desired: the Kubernetes objects a ChatmailRelay should have, built as
 * cJSON from its spec and the rendered configuration. Pure: the same
 * inputs give byte-identical objects, which both the controller (server-
 * side apply) and `chatmail-operator render` (printing) use.
 *
 * Children of relay <r> in its namespace (docs/DESIGN.md, The relay
 * on Kubernetes):
 *   ConfigMap   <r>-config (chatmail.ini ...), <r>-postfix, <r>-dovecot,
 *               <r>-nginx, <r>-www: every file render_all produced
 *   Service     <r> (public ports, type/policy from the spec), <r>-headless
 *   Service     <r>-headless also names the private port "metrics"
 *   NetworkPolicy <r>: ingress to the public ports; to metrics only
 *               from spec.metrics.allowedNamespaces
 *   Certificate <r> (CertManager mode)
 *   PodMonitor  <r> (metrics.serviceMonitor.enabled, when the cluster
 *               has the Prometheus Operator's CRDs)
 *   StatefulSet <r>: one Pod with every daemon, PVCs mail and queue
 *   StatefulSet <r>-turn: chatmail-turn on the node's network
 *               (spec.turn.hostNetwork only)
 *   CronJob     <r>-expire, <r>-metrics, <r>-backup (same node as the
 *               Pod)
 * and, created once outside server-side apply: the DKIM Secret
 * <r>-dkim and the SelfSigned TLS Secret <r>-tls-selfsigned.
 *
 * Every child carries the labels below and (unless uid is NULL) an
 * owner reference to the relay; the relay's own labels are never copied
 * (Argo CD tracks apps by app.kubernetes.io/instance).
 */
#ifndef OP_DESIRED_H
#define OP_DESIRED_H

#include <cjson/cJSON.h>

#include "buf.h"
#include "images.h"
#include "render/render.h"
#include "spec.h"
#include "util.h"

#define DESIRED_LABEL_NAME "app.kubernetes.io/name"
#define DESIRED_LABEL_MANAGED "app.kubernetes.io/managed-by"
#define DESIRED_LABEL_COMPONENT "app.kubernetes.io/component"
#define DESIRED_LABEL_RELAY "chatmail.at/relay"
#define DESIRED_SELECTOR "app.kubernetes.io/managed-by=chatmail-operator"
/* the only Pods the operator watches: the hostNetwork TURN Pods */
#define DESIRED_TURN_POD_SELECTOR \
	DESIRED_SELECTOR ",app.kubernetes.io/name=chatmail-turn"
#define DESIRED_CONFIG_HASH "chatmail.at/config-hash"
#define DESIRED_VCT_MAIL "chatmail.at/volume-mail"
#define DESIRED_VCT_QUEUE "chatmail.at/volume-queue"
#define DESIRED_MAX_NAME 52 /* the CRD's limit on relay names */
#define DESIRED_PODMONITOR_API "monitoring.coreos.com/v1"

struct desired_in {
	const struct relay_spec *spec;
	const char *name, *ns; /* the relay */
	const char *uid;       /* NULL: no owner references (render) */
	const struct images *images;
	const struct render_set *files;
	const char *tls_secret;	 /* mounted at /etc/chatmail/tls */
	const char *dkim_secret; /* mounted at /etc/dkimkeys */
	/* volumeClaimTemplates are immutable: an existing StatefulSet's
	 * "size;storageClassName" (from its annotations), else NULL */
	const char *vct_mail, *vct_queue;
	/* dns.externalDNS: status.dnsRecords as they are now, or NULL */
	const cJSON *dns_records;
	/* the cluster serves the Prometheus Operator's PodMonitor (render
	 * assumes so): spec.metrics.serviceMonitor.enabled creates one */
	int monitoring;
};

/* desired_render: render_all for the Pod target (every file the Pod
 * mounts, iroh-relay.toml included); 0 or -EINVAL with err */
int desired_render(const struct relay_spec *s, struct render_set *set,
		   struct buf *err);

/* desired_build: every child applied with server-side apply, in apply
 * order, as a new array (caller frees) through list_r; 0 or -EINVAL */
int desired_build(const struct desired_in *in, cJSON **list_r, struct buf *err);

/* desired_pvc: the patch applied to an existing PVC of the relay's
 * StatefulSet (which = "mail" or "queue"): labels, the owner reference
 * unless keepOnDelete, the requested size (expansion) */
cJSON *desired_pvc(const struct desired_in *in, const char *which);
/* desired_pvc_name: "<which>-<relay>-0" into out */
void desired_pvc_name(const char *relay, const char *which, char *out,
		      size_t outsize);

/* desired_acme_pod: an ACME-mode relay's Pod spec: the certificate on
 * the mail volume instead of a Secret, the cert container's ACME flags,
 * state, probe and init container (desired_acme.c) */
void desired_acme_pod(cJSON *pod, const struct desired_in *in);

/* desired_tls_secret_name: the Secret the Pod mounts for TLS */
void desired_tls_secret_name(const struct relay_spec *s, const char *relay,
			     char *out, size_t outsize);
/* desired_turn_secret_name: "<relay>-turn", chatmail-turn's shared
 * secret (created once by the operator, mounted by the turn container) */
void desired_turn_secret_name(const char *relay, char *out, size_t outsize);
/* desired_turn_name: "<relay>-turn", the StatefulSet of the TURN
 * server on the node's network (its Pod: "<relay>-turn-0") */
void desired_turn_name(const char *relay, char *out, size_t outsize);
/* desired_turn_statefulset: that StatefulSet (spec.turn.hostNetwork;
 * desired_turn.c) */
cJSON *desired_turn_statefulset(const struct desired_in *in);
/* desired_dkim_secret_name: spec.dkim.secretName or "<relay>-dkim" */
void desired_dkim_secret_name(const struct relay_spec *s, const char *relay,
			      char *out, size_t outsize);

/* desired_secret: a Secret object (type, name, data pairs given as
 * key, value, length triples ending with NULL) for the created-once
 * Secrets; the values are base64-encoded into the object */
cJSON *desired_secret(const struct desired_in *in, const char *name,
		      const char *type, const char *component, const char *key1,
		      const char *val1, size_t len1, const char *key2,
		      const char *val2, size_t len2);

/* desired_config_hash: hash of everything the Pod reads at start that
 * is not in its template (the rendered files and the Secret names) */
void desired_config_hash(const struct desired_in *in,
			 char hex[UTIL_SHA256_HEX]);

/* desired_dnsendpoint: the external-dns DNSEndpoint <r> holding
 * in->dns_records (desired_dns.c) */
cJSON *desired_dnsendpoint(const struct desired_in *in);

/* helpers shared with desired_pod.c */
cJSON *desired_meta(cJSON *obj, const struct desired_in *in, const char *name,
		    const char *component);
cJSON *desired_labels(cJSON *parent, const char *relay, const char *component);
cJSON *desired_selector(const char *relay);
/* desired_statefulset: the relay's StatefulSet, its Pod laid out as t
 * (the Pod target) says */
cJSON *desired_statefulset(const struct desired_in *in,
			   const struct render_target *t, const char *hash);
/* desired_probes: the readiness, liveness and startup probes of the
 * container c running proc (desired_pod_run.c) */
void desired_probes(cJSON *c, enum render_proc_id proc,
		    const struct render_target *t);
/* desired_resources: spec.resources of container img, else the
 * operator's defaults, as c's "resources" */
void desired_resources(cJSON *c, const struct relay_spec *s,
		       enum spec_container img);
/* desired_cronjob: the CronJob <relay>-<name of job> running job
 * (RENDER_PROC_EXPIRE or RENDER_PROC_METRICS) on schedule */
cJSON *desired_cronjob(const struct desired_in *in,
		       const struct render_target *t, enum render_proc_id job,
		       const char *schedule);

/* desired_cronjob_of: the CronJob <relay>-<which> running pod */
cJSON *desired_cronjob_of(const struct desired_in *in, const char *which,
			  const char *schedule, cJSON *pod);
/* desired_relay_affinity: pod runs on the node of the relay's Pod (the
 * CronJobs' Jobs: the mail volume is ReadWriteOnce; TURN: its address) */
void desired_relay_affinity(cJSON *pod, const char *relay);
cJSON *desired_str_array(const char *const *v);
/* desired_mount: one volumeMount of vol at path (sub: subPath or NULL) */
void desired_mount(cJSON *mounts, const char *vol, const char *path,
		   const char *sub, int ro);
/* desired_vol: a volume: kind "emptyDir", "secret" (ref, mode) or
 * "pvc" (claim ref) */
void desired_vol(cJSON *vols, const char *vol, const char *kind,
		 const char *ref, int mode);

/* desired_backup.c (docs/DESIGN.md, Backup and restore) */
/* desired_backup_cronjob: the CronJob <relay>-backup (spec.backup) */
cJSON *desired_backup_cronjob(const struct desired_in *in,
			      const struct render_target *t);
/* desired_restore_container: the relay Pod's restore init container */
cJSON *desired_restore_container(const struct desired_in *in,
				 const struct render_target *t);
/* desired_backup_volumes: the volumes backup and restore add (the
 * repository's password, the repository's claim); with job also the
 * relay's claims, its DKIM Secret and /tmp */
void desired_backup_volumes(cJSON *vols, const struct desired_in *in, int job);

#endif
