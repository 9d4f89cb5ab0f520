#!/usr/bin/env bash
# demo.sh: make demo / make demo-down. The whole project on this machine,
# from a fresh clone, in minutes when warm:
#
#   1 deps      make deps (Debian packages; skipped when present)
#   2 build     make bins
#   3 images    hack/images.sh (podman; cached layers)
#   4 node      a real single-node cluster of its own (hack/node.sh:
#               etcd, kube-apiserver, controller-manager, scheduler,
#               kubelet, containerd, kube-proxy, CoreDNS,
#               local-path-provisioner; NODE_STATE=build/demo/node,
#               NODE_NET=10.252 and ports apart from the e2e tier's), our
#               images imported into its containerd
#   5 operator  helm upgrade --install charts/chatmail-operator: the
#               operator runs as the chart's Deployment, a real Pod with
#               its ServiceAccount (in-cluster config)
#   6 relay     kubectl apply crds/examples/test-relay.yaml (through
#               hack/relay-k8s.sh); the operator renders and applies its
#               children; kubelet runs its StatefulSet's Pod, the
#               provisioner binds its claims
#   7 ready     the relay's Ready condition, its Pod's containers
#   8 mail      one real message round trip: two accounts from /new,
#               a PGP/MIME message submitted on 465, read on 993
#
#   hack/demo.sh up      all of it (idempotent: what runs is kept)
#   hack/demo.sh down    stop and remove everything up started
#   hack/demo.sh status  what runs
#
# Everything is real: the API server, controllers, kubelet and
# containerd (the node reports its runtime, containerd://2.x), the
# chart, the operator, every relay daemon and service (their images),
# TLS, mail. Needs root. State in build/demo/.
set -euo pipefail
cd "$(dirname "$0")/.."
TOP=$PWD

STATE=$TOP/build/demo
NS=mail
RELAY=test-relay
export NODE_STATE=$STATE/node NODE_NET=10.252
export LOCAL_RELAY_BASE=$STATE/relays RELAY_K8S_NS=$NS
export CP_ETCD_PORT=25379 CP_ETCD_PEER_PORT=25380 CP_APISERVER_PORT=29443
export CP_KCM_PORT=22257 CP_SCHEDULER_PORT=22259 CP_KWOK_PORT=22247
PY=/usr/bin/python3
T0=$SECONDS
STEP=0

step() {
	STEP=$((STEP + 1))
	printf 'demo: [%d/8 %4ds] %s\n' "$STEP" $((SECONDS - T0)) "$*"
}
say() { echo "demo:            $*"; }
die() {
	echo "demo: FAILED at step $STEP: $*" >&2
	exit 1
}
k() { "$NODE_KUBECTL" --request-timeout=30s "$@"; }

node_env() {
	# shellcheck disable=SC1091
	. "$NODE_STATE/env"
}

# new_creds ENV: "email password" from POST /new; a password starting
# with "-" (upstream's alphabet has punctuation) would be taken for an
# option by relay_client.py's argument parser, so ask again (bounded)
new_creds() {
	local creds
	for _ in 1 2 3 4 5; do
		creds=$($PY tests/integration/relay/relay_client.py new "$1") || return 1
		[[ ${creds#* } == -* ]] || { echo "$creds"; return 0; }
	done
	return 1
}

round_trip() {
	local env=$LOCAL_RELAY_BASE/$RELAY/relay.env rc=tests/integration/relay/relay_client.py
	local a pa b pb id t
	read -r a pa < <(new_creds "$env") || die "POST /new failed"
	read -r b pb < <(new_creds "$env") || die "POST /new failed"
	$PY $rc capability "$env" "$b" "$pb" >/dev/null || die "IMAP login of $b failed"
	$PY $rc genkey "$STATE/gnupg" "$b" >/dev/null 2>&1
	id="demo-$RANDOM@demo.test"
	t=$SECONDS
	$PY $rc send "$env" "$a" "$pa" "$b" --via 465 --keydir "$STATE/gnupg" --msgid "$id" >/dev/null ||
		die "submission on 465 failed"
	$PY $rc fetch "$env" "$b" "$pb" "$id" --via 993 >"$STATE/message.eml" 2>/dev/null ||
		die "the message did not arrive"
	say "accounts $a and $b created through POST https://$(sed -n 's/^DOMAIN=//p' "$env")/new"
	say "PGP/MIME message $id: $a -> $b, submitted on 465, read on 993 after $((SECONDS - t)) s"
	say "as delivered: $(grep -m1 '^Subject:' "$STATE/message.eml"), $(grep -m1 '^Content-Type:' "$STATE/message.eml" | cut -c1-60)"
}

cmd_up() {
	local load spec
	mkdir -p "$STATE"
	step "deps: make deps"
	hack/deps.sh | sed 's/^/demo:            /'
	step "build: make bins"
	make -s -j2 bins >"$STATE/build.log" 2>&1 || { tail -n 20 "$STATE/build.log"; die "build failed"; }
	step "images: hack/images.sh (podman, cached layers)"
	hack/images.sh 2>&1 | sed -n 's/^images: \{0,1\}//p' | tail -n 7 | sed 's/^/demo:          /'
	step "node: hack/node.sh up (Kubernetes, containerd, CoreDNS, local-path-provisioner; built from the registries, cached)"
	hack/node.sh up >"$STATE/node.log" 2>&1 || { tail -n 20 "$STATE/node.log"; die "hack/node.sh up failed"; }
	hack/node.sh import relay >>"$STATE/node.log" 2>&1 || { tail -n 20 "$STATE/node.log"; die "image import failed"; }
	node_env
	k get node -o wide | sed 's/^/demo:            /'
	say "runtime: $(k get node "$NODE_NAME" -o jsonpath='{.status.nodeInfo.containerRuntimeVersion}'), kubelet $(k get node "$NODE_NAME" -o jsonpath='{.status.nodeInfo.kubeletVersion}')"
	step "operator: helm upgrade --install chatmail-operator (the chart's Deployment, a real Pod)"
	hack/cluster.sh operator 2>&1 | sed 's/^cluster: /demo:            /'
	step "relay: kubectl apply -n $NS -f crds/examples/$RELAY.yaml (hack/relay-k8s.sh)"
	spec=crds/examples/$RELAY.yaml
	load=$(cut -d' ' -f1 /proc/loadavg)
	if awk "BEGIN { exit !($load > 4) }"; then
		# doveauth refuses new accounts above maxLoad1m (5, upstream's
		# default), as the test relays this machine is loaded
		$PY - "$spec" >"$STATE/$RELAY.yaml" <<'PYEOF'
import sys, yaml
d = yaml.safe_load(open(sys.argv[1]))
d["spec"].setdefault("systemLimits", {})["maxLoad1m"] = 1000
print(yaml.safe_dump(d))
PYEOF
		spec=$STATE/$RELAY.yaml
		say "this machine's load ($load) is above the relay's maxLoad1m (5): raised to 1000 for the demo"
	fi
	if [ ! -e "$LOCAL_RELAY_BASE/$RELAY/relay.env" ]; then
		LOCAL_RELAY_SPEC=$spec hack/relay-k8s.sh up "$RELAY" | sed 's/^relay-k8s: /demo:            /' ||
			die "the relay did not come up"
	fi
	step "ready: the relay's Ready condition and its Pod on the node"
	k -n "$NS" get chatmailrelay "$RELAY" | sed 's/^/demo:            /'
	k -n "$NS" get pod "$RELAY-0" -o wide | sed 's/^/demo:            /'
	say "containers: $(k -n "$NS" get pod "$RELAY-0" -o json | jq -r '[.status.containerStatuses[] |
		"\(.name) \(.containerID | split("://")[0])"] | join(", ")' | cut -c1-300)"
	say "claims: $(k -n "$NS" get pvc -o jsonpath='{range .items[*]}{.metadata.name} {.status.phase} ({.spec.storageClassName}); {end}')"
	say "DNS records to publish (status.dnsRecords):"
	k -n "$NS" get chatmailrelay "$RELAY" -o json |
		jq -r '.status.dnsRecords[] | "\(.name) \(.type) \(.value)"' | cut -c1-120 | sed 's/^/demo:              /'
	step "mail: one real message round trip through the relay Pod"
	round_trip
	echo "demo: done in $((SECONDS - T0)) s. The relay: $(sed -n 's/^ADDR=//p' "$LOCAL_RELAY_BASE/$RELAY/relay.env") (env: $LOCAL_RELAY_BASE/$RELAY/relay.env)"
	echo "demo: . $NODE_STATE/env for kubectl (\$NODE_KUBECTL); make demo-down removes everything"
}

cmd_down() {
	echo "demo: removing the relay, the node and its control plane"
	if [ -f "$NODE_STATE/env" ]; then
		hack/relay-k8s.sh purge "$RELAY" 2>&1 | sed 's/^/demo:   /' || true
	fi
	hack/node.sh purge 2>&1 | tail -n 1 | sed 's/^/demo:   /' || true
	rm -rf "$STATE"
	echo "demo: down"
}

cmd_status() {
	hack/node.sh status || true
	if [ -f "$NODE_STATE/env" ]; then
		hack/relay-k8s.sh status "$RELAY" || true
	fi
}

[ "$(id -u)" -eq 0 ] || { echo "demo: needs root (the node, network namespaces)" >&2; exit 1; }
case ${1:-up} in
up) cmd_up ;;
down) cmd_down ;;
status) cmd_status ;;
*)
	echo "usage: $0 up|down|status" >&2
	exit 64
	;;
esac
