/*
 * operator: the operator's shared header: command-line options, the
 * owned kinds, and child.c's compact cache forms of relays and owned
 * objects. The controller (controller.c, its struct private there)
 * owns the event loop, the API client, one informer per kind, the work
 * queue, leader election, events, metrics and the probe and metrics
 * HTTP servers; reconcile.c turns one queued relay key into writes.
 *
 * Flow: informers (LIST+WATCH) -> handlers enqueue "namespace/name" of
 * the owning relay -> the main loop starts reconciles of up to
 * opts->concurrency keys at once (only while leading, once the caches
 * are synced; the queue never hands out a key that is in flight) ->
 * reconcile_start() ... the env's finished hook -> done / forget /
 * rate-limited retry. Reconcile sees the controller only through the
 * struct rec_env it wires (reconcile.h). SIGTERM stops taking keys,
 * lets the running reconciles finish (20 s at most), releases the
 * Lease and returns; losing the Lease cancels the reconciles in flight
 * at once.
 */
#ifndef OP_OPERATOR_H
#define OP_OPERATOR_H

#include <stdint.h>

#include <cjson/cJSON.h>

#include "evloop.h"
#include "hmap.h"
#include "images.h"
#include "informer.h"
#include "kube_client.h"
#include "kube_config.h"
#include "util.h"
#include "workqueue.h"

struct metrics;
struct events;
struct leader;
struct http_server;
struct keygen;
struct controller;

/* command-line options of the controller (main.c fills them) */
struct op_opts {
	const char *kubeconfig; /* NULL: KUBECONFIG, in-cluster, ~/.kube */
	const char *context;
	const char *namespace; /* "" = every namespace */
	int leader_elect;
	const char *leader_ns; /* "" = the operator's own namespace */
	const char *lease_name;
	const char *metrics_addr; /* "host:port", "0" = off */
	const char *probe_addr;
	uint64_t resync_ms;
	unsigned concurrency;	  /* reconciles in flight at most */
	unsigned keygen_workers;  /* DKIM key children at most */
	uint64_t dns_interval_ms; /* the DNS check: 0 = off */
	uint64_t dns_retry_ms;
	const char *dns_server; /* "" = resolv.conf */
	struct images images;
};

/* the kinds the operator owns and caches (label-selected) */
enum op_kind {
	OK_STATEFULSET,
	OK_SERVICE,
	OK_CONFIGMAP,
	OK_SECRET,
	OK_CRONJOB,
	OK_NETPOL,
	OK_PVC,
	OK_CERTIFICATE,
	OK_DNSENDPOINT, /* dns.externalDNS: optional like Certificate */
	OK_PODMONITOR,	/* optional: the Prometheus Operator's CRD */
	OK_POD,		/* read only: the hostNetwork TURN Pods (their node) */
	OK_COUNT
};

/* relay_entry: the cached form of a ChatmailRelay (child.c): the object
 * as compact JSON text, without managedFields, the last-applied
 * annotation and with status.dnsRecords reduced to a hash (parsed again
 * for each reconcile: a few KiB instead of a cJSON tree of tens) */
struct relay_entry {
	char *json;
	char rv[32];
	char meta[UTIL_SHA256_HEX]; /* generation, labels, annotations,
				     * deletionTimestamp */
};

/* relay_transform / relay_free: informer hooks of the relay cache */
void *relay_transform(void *arg, cJSON **obj_r);
void relay_free(void *v);
/* relay_parse: the cached relay as a new cJSON object (caller frees) */
cJSON *relay_parse(const struct relay_entry *e);

/* child: the cached form of an owned object (child.c) */
struct child {
	char *relay; /* the chatmail.at/relay label */
	char uid[48];
	char rv[32];
	char hash[UTIL_SHA256_HEX]; /* our applied fields, projected */
	int deleting;		    /* deletionTimestamp set */
	int owner_is_relay;	    /* an ownerReference to a relay */
	/* StatefulSet */
	int64_t generation, observed_generation;
	int replicas, ready_replicas, updated_replicas;
	char *current_revision, *update_revision;
	char *vct_mail, *vct_queue;
	/* Service: the load balancer's address */
	char *address;
	/* Secret: the DKIM record of an opendkim.private key */
	char *dkim_txt;
	/* Certificate: 1 Ready, 0 not (yet); Pod: its Ready condition */
	int cert_ready;
	/* Pod: spec.nodeName and status.hostIP (NULL until known) */
	char *node, *host_ip;
};

/* the informer argument of an owned kind */
struct kid_arg {
	struct controller *ctl;
	enum op_kind kind;
};

/* op_kind_info: the API kind of an owned kind */
const struct kube_kind *child_kind(enum op_kind k);
/* child_transform / child_free: informer hooks of the owned kinds
 * (arg: the kind's struct kid_arg) */
void *child_transform(void *arg, cJSON **obj_r);
void child_free(void *v);
/* child_projection_hash: hash of what our field manager applied */
void child_projection_hash(const cJSON *live, char hex[UTIL_SHA256_HEX]);
/* child_desired_hash: hash of a desired object as the projection of
 * the live object would show it (no apiVersion, kind, name,
 * namespace) */
void child_desired_hash(const cJSON *desired, char hex[UTIL_SHA256_HEX]);

/* controller_run: run the controller until SIGTERM/SIGINT; returns a
 * sysexits code */
int controller_run(struct op_opts *o);

#endif
