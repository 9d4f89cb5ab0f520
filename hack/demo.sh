#!/usr/bin/env bash
# demo.sh: make demo / make demo-down. The whole project on this machine,
# from a fresh clone, in minutes when warm:
#
#   1 deps         make deps (Debian packages; skipped when present)
#   2 build        make bins
#   3 images       hack/images.sh (podman; cached layers)
#   4 cluster      the test control plane (hack/control-plane.sh: etcd,
#                  kube-apiserver, controller-manager, scheduler, kwok),
#                  an instance of its own (CP_STATE_DIR=build/demo/cp and
#                  its own ports), so envtest runs and the demo never stop
#                  each other's
#   5 chart        helm upgrade --install charts/chatmail-operator
#   6 operator     the chart's Deployment's container, run from the
#                  operator image in podman with in-cluster config and a
#                  token of the chart's ServiceAccount (only its RBAC):
#                  hack/operator-pod.sh
#   7 relay        kubectl apply crds/examples/test-relay.yaml; the
#                  operator renders and applies its children
#   8 pod          the relay's Pod, from the StatefulSet, ConfigMaps and
#                  Secrets the operator applied, in podman
#                  (hack/relay-pod.sh) in a network namespace
#   9 ready        wait for the relay's Ready condition and its ports
#  10 mail         one real message round trip: two accounts from /new,
#                  a PGP/MIME message submitted on 465, read on 993
#
#   hack/demo.sh up      all of it (idempotent: what runs is kept)
#   hack/demo.sh down    stop and remove everything up started
#   hack/demo.sh status  what runs
#
# What is real: the API server, controllers, the chart, the operator (its
# image), every relay daemon and service (their images), TLS, mail. What
# is not: kwok stands in for kubelet on the cluster's one node, so the
# Pods Kubernetes shows are fakes; the relay's real Pod runs in podman
# next to it (and the operator's Ready comes from the fake one).
# Needs root. State in build/demo/.
set -euo pipefail
cd "$(dirname "$0")/.."
TOP=$PWD

STATE=$TOP/build/demo
NS_OP=chatmail-system
NS=mail
RELAY=test-relay
OP_CTR=chatmail-demo-operator
export LOCAL_RELAY_BASE=$STATE/relays LOCAL_RELAY_NET=10.76.0
export RELAY_POD_NAME=$RELAY-0
LOCAL=demo1 # hack/relay-pod.sh's name for the relay (network index 1)
export CP_ETCD_PORT=25379 CP_ETCD_PEER_PORT=25380 CP_APISERVER_PORT=29443
export CP_KCM_PORT=22257 CP_SCHEDULER_PORT=22259 CP_KWOK_PORT=22247
PY=/usr/bin/python3
T0=$SECONDS
STEP=0

step() {
	STEP=$((STEP + 1))
	printf 'demo: [%2d/10 %4ds] %s\n' "$STEP" $((SECONDS - T0)) "$*"
}
say() { echo "demo:            $*"; }
die() {
	echo "demo: FAILED at step $STEP: $*" >&2
	exit 1
}
k() { "$KBIN/kubectl" --request-timeout=30s "$@"; }

cluster_env() {
	KBIN=$(hack/k8s-bin.sh path)
	# shellcheck disable=SC1091
	. "$STATE/cp/env"
}

control_plane() { # control_plane up|down|status: the demo's instance
	CP_STATE_DIR=$STATE/cp CP_BIN_DIR=$(hack/k8s-bin.sh path) \
		hack/control-plane.sh "$1"
}

bind_volumes() { # PersistentVolumes for the StatefulSet's claims
	local w
	for w in mail queue; do
		k apply -f - >/dev/null <<EOF
apiVersion: v1
kind: PersistentVolume
metadata: {name: demo-$w-$RELAY, labels: {chatmail-demo: "true"}}
spec:
  capacity: {storage: 10Gi}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  hostPath: {path: $LOCAL_RELAY_BASE/$LOCAL/pvc/$w-$RELAY-0}
  claimRef: {namespace: $NS, name: $w-$RELAY-0}
EOF
	done
}

relay_objects() { # what the operator applied, as a List
	k -n "$NS" get statefulset,configmap,secret,cronjob \
		-l "chatmail.at/relay=$RELAY" -o json >"$STATE/objects.json.tmp"
	jq -e '[.items[].kind] | index("StatefulSet") != null and index("Secret") != null' \
		"$STATE/objects.json.tmp" >/dev/null || return 1
	mv "$STATE/objects.json.tmp" "$STATE/objects.json"
}

# new_creds ENV: "email password" from POST /new; a password starting
# with "-" (upstream's alphabet has punctuation) would be taken for an
# option by relay_client.py's argument parser, so ask again (bounded)
new_creds() {
	local i creds
	for i in 1 2 3 4 5; do
		creds=$($PY tests/integration/relay/relay_client.py new "$1") || return 1
		[[ ${creds#* } == -* ]] || { echo "$creds"; return 0; }
	done
	return 1
}

round_trip() {
	local env=$LOCAL_RELAY_BASE/$LOCAL/relay.env rc=tests/integration/relay/relay_client.py
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
	mkdir -p "$STATE"
	step "deps: make deps"
	hack/deps.sh | sed 's/^/demo:            /'
	step "build: make bins"
	make -s -j2 bins >"$STATE/build.log" 2>&1 || { tail -n 20 "$STATE/build.log"; die "build failed"; }
	step "images: hack/images.sh (podman, cached layers)"
	hack/images.sh 2>&1 | sed -n 's/^images: \{0,1\}//p' | tail -n 7 | sed 's/^/demo:          /'
	step "cluster: hack/control-plane.sh up (binaries from the Go module proxy, cached)"
	hack/k8s-bin.sh >"$STATE/k8s-bin.log" 2>&1 || { tail -n 20 "$STATE/k8s-bin.log"; die "k8s-bin failed"; }
	control_plane up >"$STATE/cp.log" 2>&1 || { tail -n 20 "$STATE/cp.log"; die "control plane up failed"; }
	tail -n 1 "$STATE/cp.log" | sed 's/^/demo:            /'
	cluster_env
	step "chart: helm upgrade --install chatmail-operator -n $NS_OP"
	hack/chart.sh check >/dev/null 2>&1 || hack/chart.sh sync >/dev/null 2>&1
	"$KBIN/helm" upgrade --install chatmail-operator charts/chatmail-operator \
		--namespace "$NS_OP" --create-namespace --wait --timeout 120s \
		--set metrics.port=18080 --set healthPort=18081 >"$STATE/helm.log" 2>&1 ||
		{ tail -n 20 "$STATE/helm.log"; die "helm install failed"; }
	say "release chatmail-operator: $(k -n "$NS_OP" get deploy chatmail-operator -o jsonpath='{.status.availableReplicas}') available (kwok's fake Pod)"
	step "operator: the chart's Deployment container, from its image, in podman"
	KUBECTL=$KBIN/kubectl hack/operator-pod.sh up "$NS_OP" chatmail-operator "$OP_CTR" |
		sed 's/^/demo:            /'
	step "relay: kubectl apply -n $NS -f crds/examples/$RELAY.yaml"
	k get namespace "$NS" >/dev/null 2>&1 || k create namespace "$NS" >/dev/null
	bind_volumes
	k -n "$NS" apply -f "crds/examples/$RELAY.yaml" >/dev/null
	want_ini='max_load_1m = '
	load=$(cut -d' ' -f1 /proc/loadavg)
	if awk "BEGIN { exit !($load > 4) }"; then
		# doveauth refuses new accounts above maxLoad1m (5, upstream's
		# default), as the test relays this machine is loaded
		k -n "$NS" patch chatmailrelay "$RELAY" --type merge \
			-p '{"spec":{"systemLimits":{"maxLoad1m":1000}}}' >/dev/null
		want_ini='max_load_1m = 1000'
		say "this machine's load ($load) is above the relay's maxLoad1m (5): raised to 1000 for the demo"
	fi
	for ((i = 0; i < 120; i++)); do
		relay_objects && jq -r '.items[] | select(.kind == "ConfigMap") | .data["chatmail.ini"] // empty' \
			"$STATE/objects.json" | grep -q "^$want_ini" && break
		sleep 0.5
	done
	relay_objects || die "the operator did not apply the relay's children (podman logs $OP_CTR)"
	say "the operator applied: $(jq -r '[.items[].kind] | group_by(.) | map("\(length) \(.[0])") | join(", ")' "$STATE/objects.json")"
	step "pod: the relay's Pod in podman (hack/relay-pod.sh, from the applied objects)"
	RELAY_POD_OBJECTS=$STATE/objects.json hack/relay-pod.sh apply "$LOCAL" | sed 's/^/demo:            /'
	step "ready: the relay's Ready condition"
	k -n "$NS" wait "chatmailrelay/$RELAY" --for=condition=Ready --timeout=120s >/dev/null ||
		die "the relay did not become Ready"
	k -n "$NS" get chatmailrelay "$RELAY" | sed 's/^/demo:            /'
	hack/relay-pod.sh status "$LOCAL" | sed 's/^relay-pod: //; s/^/demo:            /' || true
	say "DNS records to publish (status.dnsRecords):"
	k -n "$NS" get chatmailrelay "$RELAY" -o json |
		jq -r '.status.dnsRecords[] | "\(.name) \(.type) \(.value)"' | cut -c1-120 | sed 's/^/demo:              /'
	step "mail: one real message round trip through the relay Pod"
	round_trip
	echo "demo: done in $((SECONDS - T0)) s. The relay: $(sed -n 's/^ADDR=//p' "$LOCAL_RELAY_BASE/$LOCAL/relay.env") (env: $LOCAL_RELAY_BASE/$LOCAL/relay.env)"
	echo "demo: KUBECONFIG=$KUBECONFIG; make demo-down removes everything"
}

cmd_down() {
	echo "demo: removing the relay Pod, the operator container, the control plane"
	hack/relay-pod.sh purge "$LOCAL" 2>&1 | sed 's/^/demo:   /' || true
	hack/operator-pod.sh down "$OP_CTR" | sed 's/^/demo:   /'
	if [ -d "$STATE/cp" ]; then
		control_plane down 2>&1 | tail -n 1 | sed 's/^/demo:   /' || true
	fi
	rm -rf "$STATE"
	echo "demo: down"
}

cmd_status() {
	control_plane status || true
	podman ps -a --filter "name=$OP_CTR" --format 'operator: {{.Names}} {{.Status}}'
	hack/relay-pod.sh status "$LOCAL" || true
}

[ "$(id -u)" -eq 0 ] || { echo "demo: needs root (podman, network namespaces)" >&2; exit 1; }
case ${1:-up} in
up) cmd_up ;;
down) cmd_down ;;
status) cmd_status ;;
*)
	echo "usage: $0 up|down|status" >&2
	exit 64
	;;
esac
