#!/usr/bin/env bash
# test_concurrency.sh: many relays at once against the real API server.
# 20 ChatmailRelays created in one apply all turn Ready (the condition
# the other suites use: children applied, the Pod scheduled and ready on
# the kwok node, a DKIM key generated for each), with no more than
# --max-concurrent-reconciles (3 here) reconciles in flight at any time,
# read from the operator's own gauges (controller_runtime_active_workers
# and the peak since start); every relay gets a DKIM key of its own.
# Then all 20 are deleted at once while reconciles may still be in
# flight: every child goes, the PVCs stay, the operator keeps serving.
set -euo pipefail
# shellcheck source=tests/envtest/operator/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

COUNT=20
CAP=3

all_ready() {
	local n
	n=$(k -n "$NS" get chatmailrelays -o json |
		jq '[.items[] | select(any(.status.conditions[]?; .type == "Ready" and .status == "True"))] | length')
	[ "$n" = "$COUNT" ]
}

# peak prints a gauge of the operator's metrics.
gauge() { metric main "^$1"; }

t_many_ready() {
	local i t0=$SECONDS
	for ((i = 0; i < COUNT; i++)); do bind_pvs "$NS" "r$i"; done
	for ((i = 0; i < COUNT; i++)); do
		relay "r$i" "$NS" "r$i.example.org"
		echo ---
	done | k apply -f - >/dev/null
	poll 300 all_ready ||
		fail "not all Ready after $((SECONDS - t0)) s: $(k -n "$NS" get chatmailrelays 2>&1 | tail -n 25)"
	echo "# $COUNT relays Ready after $((SECONDS - t0)) s"
	expect_eq "the cap is exported" \
		"$(gauge 'controller_runtime_max_concurrent_reconciles[{]controller="chatmailrelay"[}]')" "$CAP"
	# 20 keys were queued at once: the cap was reached, never exceeded
	expect_eq "most reconciles in flight at once" \
		"$(gauge chatmail_operator_active_workers_peak)" "$CAP"
	[ "$(metric main '^chatmail_operator_reconcile_total[{]result="success"[}]')" -ge "$COUNT" ] ||
		fail "fewer than $COUNT successful reconciles"
}

idle() { [ "$(gauge 'controller_runtime_active_workers[{]')" = 0 ]; }

t_distinct_keys() {
	local keys
	keys=$(k -n "$NS" get secrets -o json |
		jq -r '.items[] | select(.metadata.name | test("^r[0-9]+-dkim$")) | .data["opendkim.private"]' |
		sort -u | wc -l)
	expect_eq "distinct DKIM keys" "$keys" "$COUNT"
	poll 30 idle || fail "reconciles still in flight at steady state"
	expect_eq "no DKIM key waiters left" "$(gauge chatmail_operator_keygen_waiting)" 0
}

no_sts() { [ -z "$(k -n "$NS" get sts -o name 2>/dev/null)" ]; }

t_delete_all() {
	k -n "$NS" delete chatmailrelays --all --wait=false >/dev/null
	poll 120 no_sts || fail "StatefulSets left: $(k -n "$NS" get sts 2>&1 | head)"
	expect_eq "PVCs kept" "$(k -n "$NS" get pvc -o name | wc -l)" "$((2 * COUNT))"
	poll 30 idle || fail "reconciles still in flight after the deletion"
	healthz_ok || fail "operator stopped answering"
	expect_eq "peak still within the cap" "$(gauge chatmail_operator_active_workers_peak)" "$CAP"
}

healthz_ok() { metrics_of main >/dev/null; }

main() {
	lib_init
	install_crd
	NS=$(new_ns conc)
	op_start main --namespace "$NS" --max-concurrent-reconciles "$CAP"
	check "$COUNT relays created at once all turn Ready, at most $CAP reconciles in flight" t_many_ready
	check "each relay has its own DKIM key; nothing in flight at steady state" t_distinct_keys
	check "deleting all $COUNT at once removes their children, keeps their PVCs" t_delete_all
	op_stop main
	tap_done
}

main "$@"
