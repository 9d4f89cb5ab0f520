/*
 * metrics: the operator's Prometheus metrics, rendered in the text
 * exposition format for GET /metrics:
 *
 *   chatmail_operator_api_requests_total{verb,resource,code}  API calls
 *   chatmail_operator_api_write_requests_total         create/update/
 *                                                      patch/apply/delete
 *                                                      (Lease renewals of
 *                                                      leader election not
 *                                                      counted)
 *   chatmail_operator_reconcile_total{result}          success|error|requeue
 *   chatmail_operator_reconcile_duration_seconds       histogram
 *   chatmail_operator_workqueue_depth                  keys ready
 *   chatmail_operator_workqueue_adds_total, _retries_total
 *   chatmail_operator_watch_events_total{kind}, _watch_restarts_total{kind}
 *   chatmail_operator_relays                           ChatmailRelays cached
 *   chatmail_operator_leader                           1 while leading
 *   controller_runtime_active_workers{controller}      reconciles in flight
 *   controller_runtime_max_concurrent_reconciles{controller}  the cap
 *   chatmail_operator_active_workers_peak              most in flight at once
 *   chatmail_operator_keygen_children, _keygen_waiting, _keygen_failures
 *                                                      DKIM key children
 *                                                      running, relays
 *                                                      waiting, failures
 *                                                      in a row
 *   process_resident_memory_bytes
 *
 * Every update function accepts m == NULL (metrics off, unit tests).
 */
#ifndef OP_METRICS_H
#define OP_METRICS_H

#include <stdint.h>

#include "buf.h"

struct metrics;

enum metrics_gauge {
	MG_QUEUE_DEPTH,
	MG_QUEUE_ADDS,
	MG_QUEUE_RETRIES,
	MG_RELAYS,
	MG_LEADER,
	MG_ACTIVE_WORKERS,
	MG_MAX_WORKERS,
	MG_PEAK_WORKERS,
	MG_KEYGEN_CHILDREN,
	MG_KEYGEN_WAITING,
	MG_KEYGEN_FAILURES,
	MG_COUNT
};

struct metrics *metrics_new(void);
void metrics_free(struct metrics **mp);

/* metrics_api_request: one finished API call on a resource (the
 * plural, "leases"); code 0: no response */
void metrics_api_request(struct metrics *m, const char *verb,
			 const char *resource, long code);
/* metrics_reconcile: one reconcile with its result and duration */
void metrics_reconcile(struct metrics *m, const char *result, double seconds);
/* metrics_watch: a watch event (restart = 0) or a re-list (restart = 1)
 * of kind */
void metrics_watch(struct metrics *m, const char *kind, int restart);
void metrics_set(struct metrics *m, enum metrics_gauge g, double v);

/* metrics_api_writes: write requests so far */
uint64_t metrics_api_writes(const struct metrics *m);
/* metrics_api_total: all requests so far */
uint64_t metrics_api_total(const struct metrics *m);

/* metrics_render: the exposition text appended to out */
int metrics_render(const struct metrics *m, struct buf *out);

#endif
