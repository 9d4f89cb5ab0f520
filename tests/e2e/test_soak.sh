#!/usr/bin/env bash
# test_soak: the short run of the soak (tests/soak/soak.sh; make soak
# runs the long one, every fault at least twice) on the test node: two
# relays the operator runs, 200 messages under the seeded fault plan,
# every kind once, one at a time (daemons killed, the Pod deleted, the
# mail volume full, the peer down, a DNS outage, kube-apiserver and
# etcd restarted during a spec change): no accepted message lost, every
# queue empty after recovery. SOAK_SHORT_ROUNDS=2 adds a round of
# overlapping faults (minutes more). The seed is random and printed;
# SOAK_SEED=N replays a run.
SOAK_MESSAGES=${SOAK_SHORT_MESSAGES:-200} SOAK_ROUNDS=${SOAK_SHORT_ROUNDS:-1} \
	SOAK_WORKDIR=soak-short exec "$(dirname "$0")/../soak/soak.sh"
