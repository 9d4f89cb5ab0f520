/*
 * events: Kubernetes Events (events.k8s.io/v1) about ChatmailRelays,
 * like client-go's EventRecorder: "Created", "Updated", "Deleted",
 * "DKIMKeyGenerated", "ReconcileFailed" ... shown by kubectl describe.
 *
 * Events are posted asynchronously and never block or fail a reconcile.
 * The same event (relay, type, reason, note) is not repeated within
 * EVENTS_DEDUP_MS, so a relay failing the same way on every retry does
 * not flood the API server.
 */
#ifndef OP_EVENTS_H
#define OP_EVENTS_H

#include <stdint.h>

#include <cjson/cJSON.h>

#include "evloop.h"
#include "kube_client.h"

#define EVENTS_DEDUP_MS (10u * 60u * 1000u)

struct events;

/* events_new: events reported as instance (the pod or host name) */
struct events *events_new(struct evloop *loop, struct kube_client *c,
			  const char *instance);
void events_free(struct events **evp);

/* events_emit: one event regarding the relay object (its apiVersion,
 * kind, metadata are used); type "Normal" or "Warning" */
void events_emit(struct events *ev, const cJSON *relay, const char *type,
		 const char *reason, const char *action, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));
/* events_sent: events posted so far (tests) */
uint64_t events_sent(const struct events *ev);

#endif
