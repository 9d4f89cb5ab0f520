#!/usr/bin/env bash
# cluster.sh: the cluster make e2e and make demo run on: the test node of
# hack/node.sh (control plane and one real node), our images in its
# containerd, and the operator installed from charts/chatmail-operator as
# a user installs it (a real Pod with its ServiceAccount, in-cluster
# config through the `kubernetes` Service).
#
#   hack/cluster.sh up        node up, images imported, operator installed
#                             and Available (idempotent)
#   hack/cluster.sh operator  helm upgrade --install the operator only
#   hack/cluster.sh check     exit 0 when the node runs and the operator is
#                             Available
#   hack/cluster.sh down      hack/node.sh down (state kept)
#   hack/cluster.sh purge     hack/node.sh purge
#   hack/cluster.sh env       the node's env file (source it)
#
# NODE_STATE, NODE_NET and CP_*_PORT choose the node (hack/node.sh);
# CLUSTER_RELEASE (default chatmail-operator) and CLUSTER_NAMESPACE
# (default chatmail-system) the release. The podman images must exist
# (make images).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE=${NODE_STATE:-$ROOT/build/node}
export NODE_STATE=$STATE
RELEASE=${CLUSTER_RELEASE:-chatmail-operator}
RNS=${CLUSTER_NAMESPACE:-chatmail-system}

say() { echo "cluster: $*" >&2; }
die() { say "ERROR: $*"; exit 1; }

load_env() {
	[ -f "$STATE/env" ] || return 1
	# shellcheck disable=SC1091
	. "$STATE/env"
	KBIN=$(dirname "$NODE_KUBECTL")
}
k() { "$KBIN/kubectl" --request-timeout=30s "$@"; }

operator_available() {
	[ "$(k -n "$RNS" get deploy "$RELEASE" -o 'jsonpath={.status.availableReplicas}' 2>/dev/null)" = 1 ]
}

operator() {
	local t0=$SECONDS id
	load_env || die "the node is not up (hack/node.sh up)"
	"$ROOT/hack/chart.sh" check >/dev/null 2>&1 || "$ROOT/hack/chart.sh" sync >/dev/null
	# the image's ID as a Pod annotation: a rebuilt image (same tag,
	# imported again) rolls the operator's Pod; a Pod that only restarts
	# on a node that comes back keeps what its container was created from
	id=$(podman image inspect --format '{{.Id}}' \
		"$(sed -n 's/^OPERATOR=//p' "$ROOT/images/images.env")" 2>/dev/null | cut -c1-12) || id=""
	"$KBIN/helm" upgrade --install "$RELEASE" "$ROOT/charts/chatmail-operator" \
		--namespace "$RNS" --create-namespace --wait --timeout 180s \
		${id:+--set-string "podAnnotations.chatmail\.at/image-id=$id"} \
		>"$STATE/log/helm.log" 2>&1 || {
		tail -n 20 "$STATE/log/helm.log" >&2
		k -n "$RNS" describe pods 2>/dev/null | tail -n 30 >&2 || true
		die "helm upgrade --install $RELEASE failed"
	}
	operator_available || die "$RELEASE is not Available"
	say "operator $RELEASE Available in $RNS ($((SECONDS - t0)) s): $(k -n "$RNS" get pod \
		-l app.kubernetes.io/name=chatmail-operator -o \
		'jsonpath={.items[0].metadata.name} on {.items[0].spec.nodeName}, {.items[0].status.containerStatuses[0].containerID}' |
		cut -c1-100)"
}

up() {
	local t0=$SECONDS
	"$ROOT/hack/node.sh" up
	"$ROOT/hack/node.sh" import relay
	operator
	say "up in $((SECONDS - t0)) s; . $STATE/env"
}

check() {
	load_env || { say "no node env in $STATE"; return 1; }
	k get --raw /readyz >/dev/null 2>&1 || { say "the API server does not answer"; return 1; }
	operator_available || { say "$RNS/$RELEASE is not Available"; return 1; }
}

case ${1:-} in
up) up ;;
operator) operator ;;
check) check ;;
down) "$ROOT/hack/node.sh" down ;;
purge) "$ROOT/hack/node.sh" purge ;;
env)
	load_env || die "not up"
	cat "$STATE/env"
	;;
*)
	sed -n '8,16p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 64
	;;
esac
