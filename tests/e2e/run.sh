#!/usr/bin/env bash
# run.sh: the e2e tier (make e2e, after make all and make images).
#
# The relay as the operator renders it, run in podman by
# hack/relay-pod.sh (RELAY_HARNESS): the relay end-to-end checks of
# tests/integration/relay/ (onboarding, submission, federation between
# two relay Pods, push, IDLE with our Dovecot plugin) and Delta Chat
# core (tests/interop) run unchanged against it, then this directory's
# tests: Pod restart (accounts, mail, queue kept), certificate rotation
# through the cert container, the CronJobs' containers, and the Helm
# chart on the test control plane (test_chart.sh). Counted by
# tests/run.sh into build/results/e2e.tap.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
export RELAY_HARNESS=$ROOT/hack/relay-pod.sh
# one /24 for the whole run (10.100.0 - 10.149.0): concurrent runs, the
# integration tier (10.150+), the demo (10.76.0) and developers (10.77.0)
# never share a bridge
export LOCAL_RELAY_NET=${LOCAL_RELAY_NET:-10.$((100 + $$ % 50)).0}

progs=()
for t in onboarding submission federation push idle; do
	progs+=("tests/integration/relay/test_$t.sh")
done
# Delta Chat core against the relay Pods (tests/interop)
for p in tests/interop/test_*.sh tests/e2e/test_*.sh; do
	progs+=("$p")
done
t0=$SECONDS
rc=0
tests/run.sh --tier e2e "${progs[@]}" || rc=$?
echo "e2e: done in $((SECONDS - t0)) s"
exit $rc
