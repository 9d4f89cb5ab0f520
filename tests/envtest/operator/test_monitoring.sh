#!/usr/bin/env bash
# test_monitoring.sh: the relay's private metrics objects against the
# real control plane, and the PodMonitor with the Prometheus Operator's
# own CRD (hack/prom-crds.sh: monitoring.coreos.com_podmonitors.yaml of
# its Go module). Without the CRD a relay that asks for a PodMonitor
# gets every other child and stays healthy; the headless Service names
# the metrics port, the public one does not; the NetworkPolicy opens it
# to spec.metrics.allowedNamespaces only. Once the CRD is installed the
# operator notices by itself and creates the PodMonitor (owned by the
# relay, scraping port "metrics" of the relay's Pod); a relay that does
# not ask gets none; turning the field off deletes it. TAP on stdout;
# bounded.
# shellcheck source=tests/envtest/operator/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NS=""
PM_CRD=podmonitors.monitoring.coreos.com

pm() { k -n "$NS" get "$PM_CRD" "$1" -o json 2>/dev/null; }
pm_exists() { pm "$1" >/dev/null; }
pm_gone() { ! pm_exists "$1"; }
sts_exists() { k -n "$NS" get sts "$1" -o name >/dev/null 2>&1; }
# the status is written after the children: wait for its conditions
has_status() { [ -n "$(cond "$NS" "$1" Degraded 2>/dev/null)" ]; }

t_without_crd() {
	k delete crd "$PM_CRD" --ignore-not-found >/dev/null
	bind_pvs "$NS" mon
	relay mon "$NS" mon.example.org \
		'  metrics: {allowedNamespaces: [monitoring, ops], serviceMonitor: {enabled: true}}' |
		k apply -f - >/dev/null
	bind_pvs "$NS" plain
	relay plain "$NS" plain.example.org | k apply -f - >/dev/null
	poll 60 sts_exists mon || fail "no StatefulSet"
	poll 60 sts_exists plain || fail "no StatefulSet for plain"
	poll 60 has_status mon || fail "no status"
	expect_eq "not Degraded" "$(cond "$NS" mon Degraded)" False
	expect_eq "headless Service: port metrics" \
		"$(k -n "$NS" get svc mon-headless -o json |
			jq -r '.spec.ports[] | select(.name == "metrics") | .targetPort')" 9464
	expect_eq "public Service: no metrics port" \
		"$(k -n "$NS" get svc mon -o json | jq -r '[.spec.ports[] | select(.port == 9464)] | length')" 0
	expect_eq "NetworkPolicy: 9464 from the named namespaces" \
		"$(k -n "$NS" get networkpolicy mon -o json |
			jq -c '[.spec.ingress[] | select(.ports[0].port == 9464) | .from[0].namespaceSelector.matchExpressions[0].values]')" \
		'[["monitoring","ops"]]'
	expect_eq "NetworkPolicy of plain: 9464 closed" \
		"$(k -n "$NS" get networkpolicy plain -o json |
			jq '[.spec.ingress[].ports[] | select(.port == 9464)] | length')" 0
	expect_eq "the exporter container" \
		"$(k -n "$NS" get sts mon -o json |
			jq -r '.spec.template.spec.containers[] | select(.name == "exporter") | .ports[0].name')" metrics
}

t_with_crd() {
	local dir p
	dir=$("$ROOT/hack/prom-crds.sh")
	k apply --server-side -f "$dir/monitoring.coreos.com_podmonitors.yaml" >/dev/null
	k wait --for=condition=Established --timeout=30s "crd/$PM_CRD" >/dev/null
	# the operator's cache retries a missing kind within 30 s
	poll 120 pm_exists mon || fail "no PodMonitor"
	p=$(pm mon)
	expect_eq "endpoint" "$(jq -c '.spec.podMetricsEndpoints' <<<"$p")" \
		'[{"path":"/metrics","port":"metrics"}]'
	expect_eq "selector" "$(jq -c '.spec.selector.matchLabels' <<<"$p")" \
		'{"app.kubernetes.io/name":"chatmail-relay","chatmail.at/relay":"mon"}'
	expect_eq "owner" "$(jq -r '.metadata.ownerReferences[0].name' <<<"$p")" mon
	expect_eq "still not Degraded" "$(cond "$NS" mon Degraded)" False
	sleep 3
	pm_gone plain || fail "a PodMonitor for a relay that did not ask"
}

t_turned_off() {
	k -n "$NS" patch chatmailrelay mon --type=merge \
		-p '{"spec":{"metrics":{"serviceMonitor":{"enabled":false}}}}' >/dev/null
	poll 60 pm_gone mon || fail "PodMonitor not deleted"
}

main() {
	lib_init
	install_crd
	NS=$(new_ns mon)
	op_start mon --namespace "$NS" --resync-period 600
	check "without the PodMonitor CRD: every other child, healthy; metrics port private" t_without_crd
	check "with the Prometheus Operator's CRD: the PodMonitor appears, for the relay that asked" t_with_crd
	check "serviceMonitor.enabled false deletes the PodMonitor" t_turned_off
	k delete crd "$PM_CRD" --ignore-not-found --wait=false >/dev/null 2>&1 || true
	tap_done
}

main "$@"
