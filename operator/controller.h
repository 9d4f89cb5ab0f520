/*
 * controller.h: the controller's state, private to controller.c (the
 * event loop, informers, work queue, leader election, HTTP) and
 * controller_env.c (struct rec_ops: reconcile's world, the real one).
 */
#ifndef OP_CONTROLLER_H
#define OP_CONTROLLER_H

#include <stdint.h>

#include "certprobe.h"
#include "operator.h"
#include "reconcile.h"
#include "servedcert.h"

/* the controller: everything controller_run owns */
struct controller {
	struct op_opts *opts;
	struct evloop *loop;
	struct kube_config kc;
	struct kube_client *client;
	struct metrics *metrics;
	struct events *events;
	struct leader *leader;
	struct http_server *http;
	struct informer *relays;
	struct informer *kids[OK_COUNT];
	struct informer *probes; /* cert probe events (certprobe.h) */
	struct served_certs *served;
	struct kid_arg kid_args[OK_COUNT];
	struct workqueue queue;
	struct keygen *keygen;
	struct dnscheck *dns; /* NULL: --dns-check-interval 0 */
	struct rec_env env;   /* reconcile's world, wired here */
	unsigned inflight, peak;
	uint64_t drain_until; /* SIGTERM: loop time to give up waiting */
	struct evloop_timer resync;
	char identity[128];
	int leading, draining, lost;
	int busy;	  /* reconciles ran since the last malloc_trim */
	uint64_t trimmed; /* loop time of the last malloc_trim */
	uint64_t reconciles;
};
/* controller_mono_ms: a monotonic clock for the work queue */
uint64_t controller_mono_ms(void);

/* controller_env_ops: the env's hooks (arg: the struct controller);
 * finished updates the queue and the reconcile metrics */
extern const struct rec_ops controller_env_ops;

#endif
