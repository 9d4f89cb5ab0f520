#!/usr/bin/env bash
# test_soak: the short run of the soak (tests/soak/soak.sh; make soak
# runs the long one): two local relays, 200 messages under the seeded
# fault plan (every fault twice: once alone, once overlapping others),
# no accepted message lost, every queue empty after recovery. The seed
# is random and printed; SOAK_SEED=N replays a run.
SOAK_MESSAGES=${SOAK_SHORT_MESSAGES:-200} SOAK_ROUNDS=2 SOAK_WORKDIR=soak-short \
	exec "$(dirname "$0")/../../soak/soak.sh"
