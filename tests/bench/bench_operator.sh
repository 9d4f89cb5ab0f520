#!/usr/bin/env bash
# bench_operator.sh: chatmail-operator at scale against the real control
# plane (hack/control-plane.sh; started here when it is not up, and then
# stopped again). Prints, for BENCH_RELAYS ChatmailRelays (500):
#
#   time from an empty namespace until every relay has its children and
#   a current status and the operator has stopped writing (steady state)
#   API requests (and write requests) per relay to get there
#   write requests during one full resync at steady state (goal 0)
#   the operator's RSS idle and with every relay cached (goal: <= 10 MB
#   idle)
#   the operator's CPU time to steady state, its own and its DKIM key
#   children's
#
# BENCH_OP_BIN runs another operator binary (e.g. one built from an
# older commit in a git worktree, for a before/after comparison); the
# baseline's manifests are still rendered by build/bin's.
# BENCH_OP_ARGS adds flags to the operator (e.g.
# "--max-concurrent-reconciles 1 --keygen-workers 0" for the one-at-a-
# time, in-process behaviour of before).
#
# The relays' Services are ClusterIP: a LoadBalancer Service takes 7
# node ports, and the default node port range (30000-32767) holds them
# for fewer than 400 relays per cluster. 500 Services also need a
# service IP range larger than a /24 (hack/control-plane.sh).
#
# Baseline, measured in the same run: `kubectl apply --server-side` of
# the same manifests (chatmail-operator render of each relay) into a
# second namespace: what the API server alone needs for these objects.
# Never fails on speed; says why when it cannot run.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CP_ENV=${CP_ENV:-$ROOT/build/control-plane/env}
OP_BIN=$ROOT/build/bin/chatmail-operator
RUN_BIN=${BENCH_OP_BIN:-$OP_BIN}
N=${BENCH_RELAYS:-500}
RESYNC=${BENCH_RESYNC:-60}
SVC='service: {type: ClusterIP}'
WORK=$(mktemp -d)
STARTED_CP=0
OP_PID=""
NSS=()

say() { echo "bench_operator: $*" >&2; }

cleanup() {
	local ns
	[ -z "$OP_PID" ] || { kill "$OP_PID" 2>/dev/null; wait "$OP_PID" 2>/dev/null; }
	for ns in "${NSS[@]}"; do
		k delete namespace "$ns" --wait=false >/dev/null 2>&1
	done
	[ "$STARTED_CP" = 0 ] || "$ROOT/hack/control-plane.sh" down >/dev/null 2>&1
	rm -rf "$WORK"
}
trap cleanup EXIT

k() { "$CP_BIN_DIR/kubectl" --request-timeout=60s "$@"; }

cannot() {
	echo "bench_operator: cannot run: $*"
	exit 0
}

# cp_ready: the control plane of $CP_ENV answers /readyz
cp_ready() {
	[ -f "$CP_ENV" ] || return 1
	# shellcheck source=/dev/null
	. "$CP_ENV"
	curl -fsS --max-time 3 --cacert "$CP_CA" --cert "$CP_ADMIN_CERT" \
		--key "$CP_ADMIN_KEY" "$CP_APISERVER_URL/readyz" >/dev/null 2>&1
}

# control_plane: use the running one, or start it (and stop it at exit)
control_plane() {
	if ! cp_ready; then
		[ -x "$("$ROOT/hack/k8s-bin.sh" path 2>/dev/null)/kube-apiserver" ] ||
			cannot "Kubernetes binaries not built (make k8s-bin)"
		"$ROOT/hack/control-plane.sh" up >/dev/null 2>&1 || cannot "control plane does not start"
		STARTED_CP=1
	fi
	[ -f "$CP_ENV" ] || cannot "no $CP_ENV"
	# shellcheck source=/dev/null
	. "$CP_ENV"
}

metric() { # regex
	curl -fsS --max-time 5 "http://127.0.0.1:$MP/metrics" |
		awk -v re="$1" '$0 !~ /^#/ && $0 ~ re { s += $NF } END { printf "%d\n", s }'
}

rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$OP_PID/status"; }

# cpu_s prints the operator's CPU seconds: own (user+sys) and reaped
# children's (the DKIM key generators), "own children"
cpu_s() {
	local tck
	tck=$(getconf CLK_TCK)
	awk -v t="$tck" '{ sub(/^.*\) /, ""); printf "%.1f %.1f\n", ($12 + $13) / t, ($14 + $15) / t }' \
		"/proc/$OP_PID/stat"
}

free_port() {
	/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

relays() { # ns
	local i
	for ((i = 1; i <= N; i++)); do
		printf -- '---\napiVersion: chatmail.at/v1alpha1\nkind: ChatmailRelay\n'
		printf 'metadata: {name: r%04d, namespace: %s}\nspec: {domain: r%04d.bench.example.org, %s}\n' \
			"$i" "$1" "$i" "$SVC"
	done
}

# current prints how many relays have a status for their generation.
current() {
	k -n "$NS" get chatmailrelays -o json |
		jq '[.items[] | select(.status.observedGeneration == .metadata.generation)] | length'
}

# converge: seconds until every relay has a current status and the
# operator made no write for 10 s
converge() {
	local t0=$1 w prev=-1 quiet=0 c deadline=$((SECONDS + 1500))
	while [ $SECONDS -lt $deadline ]; do
		c=$(current)
		w=$(metric '^chatmail_operator_api_write_requests_total')
		if [ "$c" = "$N" ] && [ "$w" = "$prev" ]; then
			quiet=$((quiet + 1))
			if [ $quiet -ge 2 ]; then
				echo $((SECONDS - t0 - 10))
				return 0
			fi
		else
			quiet=0
		fi
		prev=$w
		sleep 5
	done
	return 1
}

# degraded prints "N reason" of relays whose Degraded condition is True.
degraded() {
	k -n "$NS" get chatmailrelays -o json | jq -r '[.items[].status.conditions[]? |
		select(.type == "Degraded" and .status == "True") | .message] |
		"\(length) \(.[0] // "" | .[0:120])"'
}

baseline() { # -> seconds for kubectl apply of the rendered manifests
	local ns2 i t0
	ns2=bench-base-$$
	k create namespace "$ns2" >/dev/null
	NSS+=("$ns2")
	for ((i = 1; i <= N; i++)); do
		printf 'apiVersion: chatmail.at/v1alpha1\nkind: ChatmailRelay\nmetadata: {name: r%04d, namespace: %s}\nspec: {domain: r%04d.bench.example.org, %s}\n' \
			"$i" "$ns2" "$i" "$SVC" >"$WORK/one.yaml"
		"$OP_BIN" render -f "$WORK/one.yaml" >>"$WORK/base.yaml" 2>/dev/null || return 1
	done
	t0=$(date +%s.%N)
	k apply --server-side --field-manager=bench -f "$WORK/base.yaml" \
		>/dev/null 2>"$WORK/base.err" || return 1
	echo "$(date +%s.%N) - $t0" | bc
}

main() {
	local t0 t_conv idle full req wr w0 w1 r0 r1 base deg cpu_own cpu_kids
	if ! command -v jq >/dev/null || ! command -v bc >/dev/null; then
		cannot "jq or bc missing (make deps)"
	fi
	[ -x "$OP_BIN" ] || cannot "$OP_BIN missing (make)"
	[ -x "$RUN_BIN" ] || cannot "$RUN_BIN missing"
	control_plane
	k apply --server-side --force-conflicts \
		-f "${CRD_FILE:-$ROOT/crds/chatmail.at_chatmailrelays.yaml}" >/dev/null 2>&1 ||
		cannot "the ChatmailRelay CRD does not install"
	k wait --for=condition=Established --timeout=30s crd/chatmailrelays.chatmail.at >/dev/null
	NS=bench-$$
	k create namespace "$NS" >/dev/null
	NSS+=("$NS")
	MP=$(free_port)
	# shellcheck disable=SC2086 # BENCH_OP_ARGS is a list of flags
	"$RUN_BIN" --namespace "$NS" --resync-period "$RESYNC" \
		--metrics-bind-address "127.0.0.1:$MP" --health-probe-bind-address 0 \
		${BENCH_OP_ARGS:-} >"$WORK/op.log" 2>&1 &
	OP_PID=$!
	sleep 5
	idle=$(rss_kb)
	say "creating $N relays"
	relays "$NS" >"$WORK/relays.yaml"
	t0=$SECONDS
	k apply --server-side -f "$WORK/relays.yaml" >/dev/null || cannot "relays not accepted"
	t_conv=$(converge "$t0") || cannot "no steady state within 25 minutes"
	full=$(rss_kb)
	read -r cpu_own cpu_kids < <(cpu_s)
	req=$(metric '^chatmail_operator_api_requests_total')
	wr=$(metric '^chatmail_operator_api_write_requests_total')
	say "steady after ${t_conv}s; waiting for a full resync (${RESYNC}s)"
	w0=$wr
	r0=$(metric '^chatmail_operator_reconcile_total')
	sleep $((RESYNC + 15))
	w1=$(metric '^chatmail_operator_api_write_requests_total')
	r1=$(metric '^chatmail_operator_reconcile_total')
	deg=$(degraded)
	say "baseline: kubectl apply --server-side of the rendered manifests"
	base=$(baseline) || base="n/a"
	[ "$RUN_BIN" = "$OP_BIN" ] || printf '\n(operator binary: %s)' "$RUN_BIN"
	printf '\n%-52s %14s %14s\n' "chatmail-operator, $N relays${BENCH_OP_ARGS:+ ($BENCH_OP_ARGS)}" operator "baseline"
	[[ $base =~ ^[0-9.]+$ ]] && base=$(printf '%.1f' "$base")
	printf '%-52s %14s %14s\n' "time to steady state from empty (s)" "$t_conv" "$base"
	printf '%-52s %14s\n' "API requests per relay" "$(echo "scale=1; $req / $N" | bc)"
	printf '%-52s %14s\n' "write requests per relay" "$(echo "scale=1; $wr / $N" | bc)"
	printf '%-52s %14s\n' "write requests in one resync ($((r1 - r0)) reconciles)" "$((w1 - w0))"
	printf '%-52s %14s\n' "operator CPU to steady state (s)" "$cpu_own"
	printf '%-52s %14s\n' "  its DKIM key children's CPU (s)" "$cpu_kids"
	printf '%-52s %14s\n' "RSS idle (kB)" "$idle"
	printf '%-52s %14s\n' "RSS with $N relays cached (kB)" "$full"
	printf '%-52s %14s\n' "relays Degraded at the end" "${deg%% *}"
	[ "${deg%% *}" = 0 ] || echo "  (first: ${deg#* })"
	echo "(baseline: kubectl apply --server-side of the same objects, no status, no Secrets)"
}

main "$@"
