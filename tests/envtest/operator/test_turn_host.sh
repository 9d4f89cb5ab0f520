#!/usr/bin/env bash
# test_turn_host.sh: spec.turn.hostNetwork against the real control plane
# (kube-apiserver, controller-manager, scheduler; kwok's node runs the
# Pods). The operator creates the StatefulSet <relay>-turn whose Pod runs
# chatmail-turn on the node's network with UDP 3478 and the relay ports
# as host ports, on the relay Pod's node, with the relay's TURN Secret;
# the relay Pod's turn container answers credentials only and the
# Service carries no UDP. TURNReady names the node and the address the
# node reports; resyncs write nothing. A second relay whose TURN server needs the same host
# ports on that node cannot be scheduled: NodeAddressUnknown. Turning
# hostNetwork off deletes the StatefulSet. TAP on stdout; bounded.
# shellcheck source=tests/envtest/operator/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NS=""

reason_of() { # relay type
	k -n "$NS" get chatmailrelay "$1" -o "jsonpath={.status.conditions[?(@.type==\"$2\")].reason}"
}
reason_is() { [ "$(reason_of "$1" "$2")" = "$3" ]; }
turn_sts() { k -n "$NS" get sts "$1-turn" -o name >/dev/null 2>&1; }
turn_sts_gone() { ! turn_sts "$1"; }
conds_of() { k -n "$NS" get chatmailrelay "$1" -o json | jq -c '[.status.conditions[] | {type, reason, message}]'; }

pods_exist() { k -n "$NS" get pod th-0 th-turn-0 -o name >/dev/null 2>&1; }

t_objects() {
	bind_pvs "$NS" th
	relay th "$NS" th.example.org '  tls: {mode: SelfSigned}
  turn: {hostNetwork: true, portRange: "49160-49163"}' | k apply -f - >/dev/null
	poll 60 turn_sts th || fail "no StatefulSet th-turn"
	local s pod c
	s=$(k -n "$NS" get sts th-turn -o json)
	pod=$(jq .spec.template.spec <<<"$s")
	c=$(jq '.containers[] | select(.name == "turn")' <<<"$pod")
	expect_eq "owner" "$(jq -r '.metadata.ownerReferences[0].kind' <<<"$s")" ChatmailRelay
	expect_eq "hostNetwork" "$(jq -r .hostNetwork <<<"$pod")" true
	expect_eq "host ports" "$(jq -r '[.ports[] | "\(.hostPort)/\(.protocol)"] | join(",")' <<<"$c")" \
		3478/UDP,49160/UDP,49161/UDP,49162/UDP,49163/UDP
	expect_match "command" "$(jq -r '.command | join(" ")' <<<"$c")" \
		'^chatmail-turn --realm th.example.org .* --secret-file /etc/chatmail-turn/secret --relay-ports 49160-49163$'
	expect_eq "Secret" "$(jq -r '.volumes[] | select(.name == "turn-secret") | .secret.secretName' <<<"$pod")" th-turn
	k -n "$NS" get secret th-turn -o name >/dev/null || fail "no Secret th-turn"
	expect_eq "next to the relay Pod" \
		"$(jq -c '.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].labelSelector.matchLabels' <<<"$pod")" \
		"$(k -n "$NS" get svc th -o json | jq -c .spec.selector)"
	c=$(k -n "$NS" get sts th -o json | jq '.spec.template.spec.containers[] | select(.name == "turn")')
	expect_match "relay Pod: credentials only" "$(jq -r '.command | join(" ")' <<<"$c")" '--credentials-only$'
	expect_eq "relay Pod: no UDP port" "$(jq -r '.ports // [] | length' <<<"$c")" 0
	expect_eq "Service: no UDP" "$(k -n "$NS" get svc th -o json | jq '[.spec.ports[] | select(.protocol == "UDP")] | length')" 0
	poll 60 pods_exist || fail "no Pods th-0 and th-turn-0"
	expect_eq "the Service selects the relay Pod, not the TURN Pod" \
		"$(k -n "$NS" get pods -l "$(k -n "$NS" get svc th -o json | jq -r '.spec.selector | to_entries | map("\(.key)=\(.value)") | join(",")')" -o name | sort | tr '\n' ' ')" \
		"pod/th-0 "
}

t_running() {
	poll 120 reason_is th TURNReady Running || fail "TURNReady: $(conds_of th)"
	local node ip relay_node msg
	node=$(k -n "$NS" get pod th-turn-0 -o jsonpath='{.spec.nodeName}')
	ip=$(k -n "$NS" get pod th-turn-0 -o jsonpath='{.status.hostIP}')
	relay_node=$(k -n "$NS" get pod th-0 -o jsonpath='{.spec.nodeName}')
	expect_eq "on the relay Pod's node" "$node" "$relay_node"
	[ -n "$ip" ] || fail "the TURN Pod has no hostIP"
	msg=$(k -n "$NS" get chatmailrelay th -o "jsonpath={.status.conditions[?(@.type==\"TURNReady\")].message}")
	expect_match "TURNReady names node and address" "$msg" "on node $node \\($ip, host network"
	expect_match "clients are told the domain" "$msg" 'told th\.example\.org:3478'
}

quiet() {
	local a b
	a=$(writes turnhost)
	sleep 3
	b=$(writes turnhost)
	[ "$a" = "$b" ]
}

t_steady() {
	poll 60 quiet || fail "the operator keeps writing"
	local w0 r0 w1 r1
	w0=$(writes turnhost)
	r0=$(metric turnhost '^chatmail_operator_reconcile_total')
	sleep 12 # two resync periods
	w1=$(writes turnhost)
	r1=$(metric turnhost '^chatmail_operator_reconcile_total')
	[ "$r1" -ge $((r0 + 2)) ] || fail "no resync reconciles ($r0 -> $r1)"
	expect_eq "write requests during $((r1 - r0)) reconciles (the hostNetwork StatefulSet as stored)" "$((w1 - w0))" 0
}

t_conflict() {
	bind_pvs "$NS" tc
	relay tc "$NS" tc.example.org '  tls: {mode: SelfSigned}
  turn: {hostNetwork: true, portRange: "49162-49165", externalIP: 198.51.100.7}' | k apply -f - >/dev/null
	poll 60 turn_sts tc || fail "no StatefulSet tc-turn"
	local msg
	msg=$(k -n "$NS" get sts tc-turn -o json | jq -r '.spec.template.spec.containers[0].command | join(" ")')
	expect_match "externalIP is the relayed address" "$msg" '--external-ip 198\.51\.100\.7$'
	poll 120 reason_is tc TURNReady NodeAddressUnknown || fail "TURNReady: $(conds_of tc)"
	msg=$(k -n "$NS" get chatmailrelay tc -o "jsonpath={.status.conditions[?(@.type==\"TURNReady\")].message}")
	expect_match "says the Pod is not scheduled" "$msg" 'tc-turn-0 cannot be found: it is not scheduled'
	poll 120 relay_ready "$NS" tc || fail "TURN made the relay not Ready: $(conds_of tc)"
}

t_off() {
	k -n "$NS" patch chatmailrelay th --type=merge -p '{"spec":{"turn":{"hostNetwork":false}}}' >/dev/null
	poll 60 turn_sts_gone th || fail "StatefulSet th-turn not deleted"
	poll 60 reason_is th TURNReady NoExternalAddress || fail "TURNReady: $(conds_of th)"
	k -n "$NS" patch chatmailrelay tc --type=merge -p '{"spec":{"turn":{"hostNetwork":false}}}' >/dev/null
	poll 60 turn_sts_gone tc || fail "StatefulSet tc-turn not deleted"
	poll 60 reason_is tc TURNReady Running || fail "TURNReady: $(conds_of tc)"
	expect_eq "Service: UDP behind the Service again" \
		"$(k -n "$NS" get svc tc -o json | jq '[.spec.ports[] | select(.protocol == "UDP")] | length')" 5
}

main() {
	lib_init
	install_crd
	NS=$(new_ns turnhost)
	op_start turnhost --namespace "$NS" --resync-period 5
	check "hostNetwork: the <relay>-turn StatefulSet on the node's network; the relay Pod answers credentials only" t_objects
	check "TURNReady Running names the TURN Pod's node (the relay Pod's) and its address" t_running
	check "steady state: resyncs write nothing (host ports as the apiserver stores them)" t_steady
	check "a second relay needing the same host ports on that node: NodeAddressUnknown" t_conflict
	check "hostNetwork off: the StatefulSet is deleted, TURN behind the Service again" t_off
	tap_done
}

main "$@"
