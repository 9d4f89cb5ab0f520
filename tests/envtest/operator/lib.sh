#!/usr/bin/env bash
# lib.sh: shared helpers of the operator's envtest suites (source it).
# They run against the control plane of hack/control-plane.sh (its env
# file: build/control-plane/env, or CP_ENV), each suite in namespaces of
# its own, the operator binary from build/bin started on loopback ports
# and stopped by PID at exit.
#
#   tap_ok/tap_not_ok/tap_skip   one TAP line
#   check DESC FUNCTION [ARGS]   run a check in a subshell with errexit
#   fail/expect_eq/expect_match  assertions inside checks
#   poll SECONDS CMD...          retry until CMD succeeds (bounded)
#   k ARGS...                    kubectl as the admin
#   op_start NAME ARGS...        start an operator (log in $WORK/NAME.log,
#                                metrics on a free port: op_metrics NAME;
#                                the DNS check off unless ARGS turn it on:
#                                test_dns_check.sh)
#   op_stop NAME [SIG]           stop it by PID (TERM, then KILL after 20 s)
#   op_exit_code NAME            TERM it, wait, exit status in OP_RC
#   metric NAME REGEX            sum of matching samples of its /metrics
#   relay NAME NS DOMAIN [YAML]  print a ChatmailRelay (extra spec YAML)
#   bind_pvs NS RELAY            pre-bound PersistentVolumes for its PVCs
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
CP_ENV=${CP_ENV:-$ROOT/build/control-plane/env}
OP_BIN=${OP_BIN:-$ROOT/build/bin/chatmail-operator}
PY=/usr/bin/python3
N=0
FAILED=0
WORK=$(mktemp -d)
declare -A OP_PID OP_METRICS
export OP_RC=
CLEANUP_NS=()

# --- TAP and assertions ------------------------------------------------------

tap_ok() { N=$((N + 1)) && echo "ok $N - $1"; }
tap_not_ok() { N=$((N + 1)) && echo "not ok $N - $1" && FAILED=1; }
tap_skip() { N=$((N + 1)) && echo "ok $N - $1 # SKIP $2"; }

# check runs a test function in a subshell with errexit and shows its
# output (and the end of the operator logs) when it fails.
check() { # description function [args...]
	local desc=$1 rc t0=$SECONDS f
	shift
	set +e
	(
		set -e
		"$@"
	) >"$WORK/check.log" 2>&1
	rc=$?
	set -e
	if [ $rc -eq 0 ]; then
		tap_ok "$desc"
	else
		tap_not_ok "$desc"
		echo "#   (exit $rc after $((SECONDS - t0))s)"
		sed 's/^/#   /' "$WORK/check.log" | tail -n 40
		for f in "$WORK"/op-*.log; do
			[ -e "$f" ] || continue
			echo "#   --- end of $(basename "$f")"
			grep -v 'level=debug' "$f" | tail -n 8 | sed 's/^/#   /'
		done
	fi
}

fail() {
	echo "$*" >&2
	return 1
}

expect_eq() { # what got want
	[ "$2" = "$3" ] || fail "$1: got '$2', want '$3'"
}

expect_match() { # what text pattern
	grep -Eq -- "$3" <<<"$2" || fail "$1: '$3' not found in: $(head -c 600 <<<"$2")"
}

poll() { # seconds command...
	local deadline=$((SECONDS + $1))
	shift
	until "$@"; do
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep 0.5
	done
}

# --- clients -------------------------------------------------------------------

k() { "$CP_BIN_DIR/kubectl" --request-timeout=20s "$@"; }

# free_port prints a TCP port nobody listens on (loopback).
free_port() {
	$PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# --- the operator -------------------------------------------------------------

op_start() { # name args...
	local name=$1 mp pp
	shift
	mp=$(free_port)
	pp=$(free_port)
	"$OP_BIN" --metrics-bind-address "127.0.0.1:$mp" \
		--health-probe-bind-address "127.0.0.1:$pp" \
		--dns-check-interval 0 "$@" \
		>"$WORK/op-$name.log" 2>&1 &
	OP_PID[$name]=$!
	OP_METRICS[$name]=$mp
	poll 20 healthz "$pp" ||
		fail "operator $name did not start: $(tail -n 5 "$WORK/op-$name.log")"
}

healthz() { curl -fsS --max-time 2 -o /dev/null "http://127.0.0.1:$1/healthz" 2>/dev/null; }

op_stop() { # name [signal]
	local name=$1 sig=${2:-TERM} pid i
	pid=${OP_PID[$name]:-}
	[ -n "$pid" ] || return 0
	kill "-$sig" "$pid" 2>/dev/null || true
	for ((i = 0; i < 200; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	{ wait "$pid"; } 2>/dev/null || true
	OP_PID[$name]=""
}

# op_exit_code stops the operator with TERM and sets OP_RC to its exit
# status (call it in the main shell: only it can wait for the PID).
op_exit_code() { # name
	local name=$1 pid
	pid=${OP_PID[$name]}
	kill -TERM "$pid"
	OP_RC=0
	wait "$pid" || OP_RC=$?
	OP_PID[$name]=""
}

metrics_of() { # name
	curl -fsS --max-time 5 "http://127.0.0.1:${OP_METRICS[$1]}/metrics"
}

# metric sums the samples whose line matches the regex.
metric() { # name regex
	metrics_of "$1" | awk -v re="$2" '$0 !~ /^#/ && $0 ~ re { s += $NF } END { printf "%d\n", s }'
}

# writes prints the operator's write requests so far.
writes() { metric "$1" '^chatmail_operator_api_write_requests_total'; }

# --- fixtures -------------------------------------------------------------------

new_ns() { # prefix -> prints the name
	local ns
	ns=$1-$(date +%s)-$RANDOM
	k create namespace "$ns" >/dev/null
	CLEANUP_NS+=("$ns")
	echo "$ns"
}

relay() { # name ns domain [extra spec lines, indented by 2]
	cat <<EOF
apiVersion: chatmail.at/v1alpha1
kind: ChatmailRelay
metadata:
  name: $1
  namespace: $2
  labels: {app.kubernetes.io/instance: argo-app, team: mail}
spec:
  domain: $3
${4:-}
EOF
}

# bind_pvs creates PersistentVolumes pre-bound to the relay's PVCs, so
# the claims bind without a provisioner and the Pod can be scheduled.
bind_pvs() { # ns relay
	local w
	for w in mail queue; do
		k apply -f - >/dev/null <<EOF
apiVersion: v1
kind: PersistentVolume
metadata:
  name: $1-$w-$2
  labels: {chatmail-envtest: "true"}
spec:
  capacity: {storage: 100Gi}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  hostPath: {path: /nonexistent/$1/$w}
  claimRef: {namespace: $1, name: $w-$2-0}
EOF
	done
}

# install_crd applies the ChatmailRelay CRD and waits until it is served.
install_crd() {
	k apply --server-side --force-conflicts \
		-f "${CRD_FILE:-$ROOT/crds/chatmail.at_chatmailrelays.yaml}" >/dev/null
	k wait --for=condition=Established --timeout=30s crd/chatmailrelays.chatmail.at >/dev/null
	poll 30 crd_served
}

crd_served() {
	k api-resources --api-group=chatmail.at -o name 2>/dev/null | grep -qx 'chatmailrelays.chatmail.at'
}

# cond prints the status of a relay's condition.
cond() { # ns name type
	k -n "$1" get chatmailrelay "$2" -o "jsonpath={.status.conditions[?(@.type==\"$3\")].status}"
}

relay_ready() { [ "$(cond "$1" "$2" Ready)" = True ]; }

# --- setup and cleanup ------------------------------------------------------------

lib_cleanup() {
	local name ns
	for name in "${!OP_PID[@]}"; do op_stop "$name" KILL; done
	if [ -n "${CP_BIN_DIR:-}" ]; then
		for ns in "${CLEANUP_NS[@]}"; do
			k delete namespace "$ns" --wait=false --ignore-not-found >/dev/null 2>&1 || true
			k delete pv -l chatmail-envtest=true --wait=false >/dev/null 2>&1 || true
		done
	fi
	[ -n "${KEEPWORK:-}" ] || rm -rf "$WORK"
}

# lib_init loads the control plane's env and checks the tools.
lib_init() {
	local t
	trap lib_cleanup EXIT
	for t in curl jq openssl; do
		command -v "$t" >/dev/null || { echo "Bail out! $t missing (make deps)"; exit 1; }
	done
	if [ ! -f "$CP_ENV" ]; then
		echo "Bail out! no control plane: $CP_ENV missing (hack/control-plane.sh up)"
		exit 1
	fi
	[ -x "$OP_BIN" ] || { echo "Bail out! $OP_BIN missing (make)"; exit 1; }
	# shellcheck source=/dev/null
	. "$CP_ENV"
}

tap_done() {
	echo "1..$N"
	exit "$FAILED"
}
