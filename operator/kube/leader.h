/*
 * leader: leader election through a coordination.k8s.io/v1 Lease, with
 * client-go's algorithm and defaults (lease 15 s, renew deadline 10 s,
 * retry 2 s):
 *
 *  - a candidate reads the Lease every retry period; it takes the Lease
 *    (PUT with the read resourceVersion, so two candidates cannot both
 *    win) when it is free, released, or its holder has not renewed it
 *    for a lease duration as measured by the candidate's own clock
 *    (the record must stay unchanged that long: no clock skew issues);
 *  - the leader renews every retry period; when no renewal succeeded
 *    for the renew deadline it has lost the lease and must stop acting
 *    (on_lost), before another candidate can take it over;
 *  - leader_release hands the Lease back at shutdown (holderIdentity
 *    cleared), so a successor need not wait for it to expire.
 */
#ifndef OP_LEADER_H
#define OP_LEADER_H

#include <stdint.h>

#include "evloop.h"
#include "kube_client.h"

struct leader;

struct leader_opts {
	const char *namespace, *name, *identity;
	uint64_t lease_ms, renew_deadline_ms, retry_ms;
	void (*on_started)(void *arg);
	void (*on_lost)(void *arg);
	void *arg;
};

struct leader *leader_new(struct evloop *loop, struct kube_client *c,
			  const struct leader_opts *o);
void leader_free(struct leader **lp);
/* leader_start: begin campaigning */
void leader_start(struct leader *l);
/* leader_is_leader: this process holds the Lease */
int leader_is_leader(const struct leader *l);
/* leader_release: stop, and give the Lease back if held (synchronous,
 * bounded by the client's timeout) */
void leader_release(struct leader *l);

#endif
