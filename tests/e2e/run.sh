#!/usr/bin/env bash
# run.sh: the e2e tier (make e2e, after make all and make images), on the
# real test node.
#
#   tests/e2e/run.sh            every e2e test
#   tests/e2e/run.sh PROG...    only these (e.g. tests/e2e/test_faults.sh)
#
# hack/cluster.sh brings up the node of hack/node.sh (control plane,
# kubelet, containerd, kube-proxy, CoreDNS, local-path-provisioner),
# imports our images into its containerd and installs the operator from
# charts/chatmail-operator. Every relay is then a ChatmailRelay the
# operator runs there (RELAY_HARNESS=hack/relay-k8s.sh): the relay
# end-to-end checks of tests/integration/relay/ (onboarding, submission,
# federation between two relays through CoreDNS, IDLE with our Dovecot
# plugin), Delta Chat core (tests/interop) and this directory's tests.
# At the end the node goes down and `hack/node.sh leftovers` must find
# nothing of it outside its state directory (a failing TAP line if it
# does); the state directory is removed unless E2E_KEEP_NODE=1.
# Counted by tests/run.sh into build/results/e2e.tap.
#
# The node: NODE_STATE (default build/e2e/node), NODE_NET (default
# 10.251) and the control plane's ports (CP_*_PORT, hack/node.sh's
# defaults), apart from the demo's.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
export RELAY_HARNESS=$ROOT/hack/relay-k8s.sh
export NODE_STATE=${NODE_STATE:-$ROOT/build/e2e/node} NODE_NET=${NODE_NET:-10.251}
# the relays' namespaces (and so their `ip netns` names) start with it:
# a run beside this one, on another NODE_NET, takes another prefix
export RELAY_K8S_NS_PREFIX=${RELAY_K8S_NS_PREFIX:-e2e}
RESULTS=${RESULTS:-build/results}
mkdir -p "$(dirname "$NODE_STATE")" "$RESULTS"
LOG=$(dirname "$NODE_STATE")/cluster.log

progs=("$@")
if [ ${#progs[@]} -eq 0 ]; then
	# the relay checks of the integration tier first (tests/e2e/shared.list)
	mapfile -t progs < <(grep -v -e '^#' -e '^$' tests/e2e/shared.list)
	for p in tests/e2e/test_*.sh; do
		progs+=("$p")
	done
fi

# teardown: the node down, nothing left outside its state directory
teardown() {
	local left n
	# network namespace names hack/relay-k8s.sh attached and a test left
	for n in $(ip netns list | awk -v p="^$RELAY_K8S_NS_PREFIX-[0-9a-f]{8}-" '$1 ~ p { print $1 }'); do
		echo "e2e: a relay's network namespace name left attached: $n" >&2
		ip netns delete "$n" 2>/dev/null || true
	done
	for n in /etc/netns/"$RELAY_K8S_NS_PREFIX"-*; do
		[ -d "$n" ] || continue
		echo "e2e: a relay's resolv.conf for ip netns exec left: $n" >&2
		rm -rf "$n"
	done
	hack/node.sh down >>"$LOG" 2>&1 || true
	if ! left=$(hack/node.sh leftovers 2>&1); then
		echo "not ok 0 - e2e: the node left things behind after down: $left" >>"$RESULTS/e2e.tap"
		echo "e2e: $left" >&2
		rc=1
	else
		echo "ok 0 - e2e: $left" >>"$RESULTS/e2e.tap"
	fi
	if [ "${E2E_KEEP_NODE:-0}" != 1 ]; then
		hack/node.sh purge >>"$LOG" 2>&1 || true
	fi
}

t0=$SECONDS
rc=0
: >"$LOG"
# a fresh node: a state directory an earlier run kept (E2E_KEEP_NODE=1,
# or a run that was killed) holds its control plane's objects, and its
# operator Pod would go on running the image it was created from
if [ -d "$NODE_STATE" ] && [ "${E2E_KEEP_NODE:-0}" != 1 ]; then
	echo "e2e: purging the node state an earlier run left ($NODE_STATE)"
	hack/node.sh purge >>"$LOG" 2>&1 || true
fi
echo "e2e: node up, images, operator (hack/cluster.sh up; log $LOG)"
if ! hack/cluster.sh up >>"$LOG" 2>&1; then
	tail -n 30 "$LOG" >&2
	echo "not ok 0 - e2e: hack/cluster.sh up failed (see $LOG)" >"$RESULTS/e2e.tap"
	hack/node.sh down >>"$LOG" 2>&1 || true
	echo "e2e: 0 passed, 1 failed"
	exit 1
fi
grep -E '^(node|cluster): up' "$LOG" || true
tests/run.sh --tier e2e "${progs[@]}" || rc=$?
teardown
echo "e2e: done in $((SECONDS - t0)) s"
exit $rc
