#!/usr/bin/env bash
# operator-pod.sh: run the operator the way its Deployment says, from its
# image, in podman: what kubelet would start for the chart's Deployment
# on a cluster whose node (kwok) runs no containers.
#
#   hack/operator-pod.sh up NAMESPACE [DEPLOYMENT] [CONTAINER]
#       reads the Deployment (default chatmail-operator) with kubectl: its
#       image, args and ServiceAccount; projects what kubelet projects (a
#       token of that ServiceAccount, the API server's CA, the namespace)
#       into /var/run/secrets/kubernetes.io/serviceaccount; runs the
#       container as the Deployment's securityContext has it (user 65532,
#       read-only root, no capabilities) with KUBERNETES_SERVICE_HOST/PORT
#       naming the API server; waits for the readiness probe's port to
#       answer /healthz. The operator then uses its in-cluster config.
#   hack/operator-pod.sh down [CONTAINER]
#
# CONTAINER defaults to chatmail-operator-pod. Environment: KUBECTL
# (default kubectl), CP_CA and CP_APISERVER_URL (the API server; from
# hack/control-plane.sh's env file). The container uses the host's
# network, since the test API server listens on the host's loopback.
set -euo pipefail

KUBECTL=${KUBECTL:-kubectl}
STATE_DIR=${OPERATOR_POD_STATE:-$(cd "$(dirname "$0")/.." && pwd)/build/operator-pod}

say() { echo "operator-pod: $*"; }
die() { echo "operator-pod: $*" >&2; exit 1; }

cmd_up() {
	local ns=$1 deploy=${2:-chatmail-operator} name=${3:-chatmail-operator-pod}
	local json sa dir img port i
	local -a args
	if [ -z "${CP_CA:-}" ] || [ -z "${CP_APISERVER_URL:-}" ]; then
		die "CP_CA and CP_APISERVER_URL must be set"
	fi
	if [ "$(podman inspect --format '{{.State.Status}}' "$name" 2>/dev/null)" = running ]; then
		say "$name already runs"
		return 0
	fi
	podman rm -f "$name" >/dev/null 2>&1 || true
	json=$("$KUBECTL" -n "$ns" get deploy "$deploy" -o json)
	sa=$(jq -r '.spec.template.spec.serviceAccountName // "default"' <<<"$json")
	img=$(jq -r '.spec.template.spec.containers[0].image' <<<"$json")
	mapfile -t args < <(jq -r '.spec.template.spec.containers[0].args[]?' <<<"$json")
	port=$(jq -r '.spec.template.spec.containers[0] as $c | $c.readinessProbe.httpGet.port as $p
		| if ($p | type) == "number" then $p else ($c.ports[] | select(.name == $p) | .containerPort) end' <<<"$json")
	dir=$STATE_DIR/$name
	mkdir -p "$dir"
	"$KUBECTL" -n "$ns" create token "$sa" --duration=24h >"$dir/token"
	cp "$CP_CA" "$dir/ca.crt"
	echo "$ns" >"$dir/namespace"
	chmod 755 "$dir"
	chmod 644 "$dir"/*
	podman run -d --name "$name" --network host --pull=never \
		--read-only --cap-drop ALL --security-opt no-new-privileges \
		--user 65532:65532 \
		-e KUBERNETES_SERVICE_HOST=127.0.0.1 \
		-e "KUBERNETES_SERVICE_PORT=${CP_APISERVER_URL##*:}" \
		-v "$dir:/var/run/secrets/kubernetes.io/serviceaccount:ro" \
		"$img" "${args[@]}" >/dev/null
	for ((i = 0; i < 60; i++)); do
		curl -fsS --max-time 2 -o /dev/null "http://127.0.0.1:$port/healthz" 2>/dev/null && break
		sleep 0.5
	done
	curl -fsS --max-time 2 -o /dev/null "http://127.0.0.1:$port/healthz" || {
		podman logs "$name" 2>&1 | tail -n 20 >&2
		die "$name does not answer /healthz on $port"
	}
	say "$img runs as $name (ServiceAccount $ns/$sa, args: ${args[*]})"
}

cmd_down() {
	local name=${1:-chatmail-operator-pod}
	podman rm -f -t 10 "$name" >/dev/null 2>&1 || true
	rm -rf "${STATE_DIR:?}/$name"
	say "$name removed"
}

case ${1:-} in
up) shift; [ $# -ge 1 ] || die "usage: $0 up NAMESPACE [DEPLOYMENT] [CONTAINER]"; cmd_up "$@" ;;
down) shift; cmd_down "$@" ;;
*)
	echo "usage: $0 up NAMESPACE [DEPLOYMENT] [CONTAINER] | down [CONTAINER]" >&2
	exit 64
	;;
esac
