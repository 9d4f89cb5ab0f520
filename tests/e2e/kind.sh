#!/usr/bin/env bash
# kind.sh: the e2e tests against kind's node (the GitHub workflow
# .github/workflows/e2e.yaml): the same scripts and the same harness
# (hack/relay-k8s.sh) as tests/e2e/run.sh, on a kind cluster whose
# operator was installed from the chart (helm install, by the workflow).
#
#   tests/e2e/kind.sh [PROG...]    default: every e2e test but those of
#                                  our own node (test_node*.sh) and of the
#                                  chart's own control plane (test_chart.sh)
#
# Runs as root in a container sharing the runner's network, PID and
# cgroup namespaces (docker run --privileged --network host --pid host
# --cgroupns host). It writes the env file the harness reads for a node
# (build/kind/env), describing kind's node container as this host sees
# it: its processes through /proc/<its init> (its root for kubelet's
# logs and the local-path volumes, crictl run in its mount namespace),
# the relay DNS server (hack/relay-dns.sh) on the node's loopback at
# NET.254.53 with CoreDNS forwarding the test zones to it, and a route
# from this host to the load-balancer addresses NET.129.0/24 through the
# node.
#
# KIND_NODE (default chatmail-control-plane), KUBECONFIG (default
# ~/.kube/config), KIND_NET (default 10.250).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
NODE=${KIND_NODE:-chatmail-control-plane}
NET=${KIND_NET:-10.250}
STATE=$ROOT/build/kind
RELAY_DNS=$NET.254.53
export KUBECONFIG=${KUBECONFIG:-$HOME/.kube/config}
say() { echo "kind: $*" >&2; }
die() { say "ERROR: $*"; exit 1; }

# the node container's init (systemd), by its host name
node_pid() {
	local p
	for p in /proc/[0-9]*; do
		[ "$(cat "$p/comm" 2>/dev/null)" = systemd ] || continue
		[ "$(cat "$p/root/etc/hostname" 2>/dev/null)" = "$NODE" ] || continue
		grep -qE '^NSpid:.*[[:space:]]1$' "$p/status" 2>/dev/null || continue
		echo "${p#/proc/}"
		return 0
	done
	return 1
}

[ "$(id -u)" -eq 0 ] || die "needs root"
PID=$(node_pid) || die "no kind node $NODE among this host's processes (--pid host?)"
NODE_IP=$(nsenter -t "$PID" -n ip -4 -o addr show dev eth0 | awk '{ print $4 }' | cut -d/ -f1)
[ -n "$NODE_IP" ] || die "no address of $NODE"
say "node $NODE: init $PID, address $NODE_IP"
mkdir -p "$STATE"

# crictl of the node, in its mount namespace
cat >"$STATE/crictl" <<EOF
#!/bin/sh
exec nsenter -t $PID -m -- crictl "\$@"
EOF
chmod 755 "$STATE/crictl"

# the relay DNS server's address on the node's loopback; CoreDNS sends
# the test zones there
nsenter -t "$PID" -n ip addr replace "$RELAY_DNS/32" dev lo
kubectl -n kube-system get configmap coredns -o json >"$STATE/coredns.json"
if ! jq -r '.data.Corefile' "$STATE/coredns.json" | grep -q "forward . $RELAY_DNS"; then
	jq --arg z "chat.test:53 chat.example.org:53 {
    errors
    forward . $RELAY_DNS
}
" '.data.Corefile = $z + .data.Corefile' "$STATE/coredns.json" | kubectl apply -f - >/dev/null
	kubectl -n kube-system rollout restart deployment coredns >/dev/null
	kubectl -n kube-system rollout status deployment coredns --timeout=120s >/dev/null
fi
ip route replace "$NET.129.0/24" via "$NODE_IP"

cat >"$STATE/env" <<EOF
export KUBECONFIG=$KUBECONFIG
export NODE_STATE=$STATE
export NODE_NAME=$NODE
export NODE_NET=$NET
export NODE_IP=$NODE_IP
export NODE_NETNS=/proc/$PID/ns/net
export NODE_RELAY_DNS=$RELAY_DNS
export NODE_KUBECTL=$(command -v kubectl)
export NODE_CRICTL=$STATE/crictl
export NODE_POD_LOGS=/proc/$PID/root/var/log/pods
export NODE_ROOT=/proc/$PID/root
EOF
export NODE_STATE=$STATE RELAY_HARNESS=$ROOT/hack/relay-k8s.sh

progs=("$@")
if [ ${#progs[@]} -eq 0 ]; then
	for t in onboarding submission federation idle; do
		progs+=("tests/integration/relay/test_$t.sh")
	done
	for p in tests/interop/test_*.sh tests/e2e/test_*.sh; do
		case $p in */test_node*.sh | */test_chart.sh) continue ;; esac
		progs+=("$p")
	done
fi
rc=0
tests/run.sh --tier e2e-kind "${progs[@]}" || rc=$?
ip route del "$NET.129.0/24" 2>/dev/null || true
exit $rc
