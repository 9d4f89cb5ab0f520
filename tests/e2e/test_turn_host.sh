#!/usr/bin/env bash
# test_turn_host: spec.turn.hostNetwork on the real test node (kubelet,
# containerd; hack/relay-k8s.sh). The relay's TURN server runs in the Pod
# <relay>-turn-0 on the node's network: kubelet starts it in the node's
# own network namespace, where chatmail-turn listens on UDP 3478 with
# the node's address, and the relay Pod (its own network) has no UDP
# listener, only the credential socket. With turn.externalIP the node's
# address, a client on this host reads the METADATA turn credential
# (the node's address is the host it is told) and turnutils_uclient
# allocates through the node's address and relays data client to
# client, the relayed address being the node's and a port of
# turn.portRange; a wrong password is answered 401. TURNReady names the
# node and its address. Then without turn.externalIP (the bare-metal
# example): the TURN Pod is made again, clients are told the domain and
# an allocation at the node's address is relayed on that address.
# shellcheck source=tests/integration/lib/common.sh
. "$(dirname "$0")/../integration/lib/common.sh"
# shellcheck source=tests/integration/relay/lib.sh
. "$(dirname "$0")/../integration/relay/lib.sh"
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

TURN_DIR=$TOP/tests/integration/turn
e2e_prereqs
relay_prereqs
tap_init
relay_workdir turn-host
cat >"$W/relay.yaml" <<EOF
apiVersion: chatmail.at/v1alpha1
kind: ChatmailRelay
metadata: {name: e2e1}
spec:
  domain: _e2e1.chat.test
  network: {disableIPv6: true}
  service: {type: LoadBalancer}
  turn: {hostNetwork: true, externalIP: "$NODE_IP", portRange: "49180-49199"}
  limits: {maxUserSendPerMinute: 600, maxUserSendBurstSize: 100}
  systemLimits: {maxLoad1m: 1000, minAvailableMemory: 1M, minFreeDiskSpace: 1M}
EOF
relays_up "$W" 1 "$W/relay.yaml" || { ok 1 "relay e2e1 up with turn.hostNetwork"; tap_done; }
ok 0 "relay e2e1 up with turn.hostNetwork on node $NODE_NAME"
NETNS=$(renv "$ENV1" NETNS)
OBJECTS=$(renv "$ENV1" OBJECTS)

turn_running() {
	kube "$ENV1" get pod e2e1-turn-0 -o json 2>/dev/null |
		jq -e '.status.containerStatuses[]? | select(.name == "turn" and .state.running)' >/dev/null
}
wait_until 180 turn_running
ok $? "kubelet runs the TURN Pod e2e1-turn-0"
pod=$(kube "$ENV1" get pod e2e1-turn-0 -o json)
[ "$(jq -r .spec.hostNetwork <<<"$pod")" = true ] &&
	[ "$(jq -r .status.podIP <<<"$pod")" = "$NODE_IP" ] &&
	[ "$(jq -r .spec.nodeName <<<"$pod")" = "$(kube "$ENV1" get pod e2e1-0 -o 'jsonpath={.spec.nodeName}')" ]
ok $? "on the node's network (Pod IP = node IP $NODE_IP), on the relay Pod's node"

# the node's own network namespace holds the listener, the relay Pod's not
listeners=$(nsenter --net="$NODE_NETNS" ss -Hulpn 'sport = :3478' 2>&1)
grep -q chatmail-turn <<<"$listeners" && grep -q "$NODE_IP:3478\|\*:3478\|0.0.0.0:3478" <<<"$listeners"
ok $? "chatmail-turn listens on UDP 3478 in the node's network namespace ($(tr '\n' ' ' <<<"$listeners" | cut -c1-120))"
[ -z "$(ip netns exec "$NETNS" ss -Huln 'sport = :3478' 2>&1)" ]
ok $? "the relay Pod's network namespace has no UDP 3478"
kube "$ENV1" get sts e2e1 -o json |
	jq -e '.spec.template.spec.containers[] | select(.name == "turn") | .command[-1] == "--credentials-only"' >/dev/null
ok $? "the relay Pod's turn container serves credentials only"
[ "$(kube "$ENV1" get svc e2e1 -o json | jq '[.spec.ports[] | select(.protocol == "UDP")] | length')" = 0 ]
ok $? "the relay's Service carries no UDP"

turn_reason() {
	kube "$ENV1" get chatmailrelay e2e1 -o 'jsonpath={.status.conditions[?(@.type=="TURNReady")].reason}'
}
running() { [ "$(turn_reason)" = Running ]; }
wait_until 60 running
msg=$(kube "$ENV1" get chatmailrelay e2e1 -o 'jsonpath={.status.conditions[?(@.type=="TURNReady")].message}')
running && [[ $msg == *"on node $NODE_NAME ($NODE_IP, host network"* ]]
ok $? "TURNReady Running names the node and its address ($msg)"

secret=$(jq -r '.items[] | select(.kind == "Secret" and .metadata.name == "e2e1-turn") | .data.secret' "$OBJECTS" | base64 -d)
creds=$(new_account "$ENV1")
user=${creds%% *}
pw=${creds#* }
got=$(rc getmetadata "$ENV1" "$user" "$pw" /shared/vendor/deltachat/turn)
IFS=: read -r thost tport U P <<<"$got"
want=$(printf %s "$U" | openssl dgst -sha1 -hmac "$secret" -binary | base64)
[ "$thost:$tport" = "$NODE_IP:3478" ] && [ -n "$secret" ] && [ "$P" = "$want" ]
ok $? "GETMETADATA turn: <node address>:3478 with a credential under the relay's secret (got '${got:0:40}...')"

out=$(timeout 60 turnutils_uclient -c -y -n 20 -m 2 -l 200 -u "$U" -w "$P" "$thost" 2>&1)
echo "$out" | grep -q 'Total lost packets 0 (0.000000%)' &&
	echo "$out" | grep -q 'start_mclient: tot_send_msgs=40, tot_recv_msgs=40$'
rc=$?
ok $rc "turnutils_uclient through the node's address: 40 messages relayed over channels, none lost"
[ $rc -eq 0 ] || echo "$out" | tail -n 5 | sed 's/^/# /'
got=$($PY "$TURN_DIR/turn_probe.py" "$thost" 3478 "$U" "$P" allocate)
rport=${got##*:}
[[ $got == "0 $NODE_IP:"* ]] && [ "$rport" -ge 49180 ] 2>/dev/null && [ "$rport" -le 49199 ]
ok $? "an allocation's relayed address: the node address, a port of turn.portRange (got '$got')"
got=$($PY "$TURN_DIR/turn_probe.py" "$thost" 3478 "$U" "x$P" allocate)
[ "$got" = "401 " ]
ok $? "a wrong password: 401 from the hostNetwork server (got '$got')"

# without turn.externalIP (crds/examples/bare-metal-turn.yaml): the
# server relays on the node address a request came in on, clients are
# told the domain (whose A record an admin points at the node)
DOMAIN=$(renv "$ENV1" DOMAIN)
kube "$ENV1" patch chatmailrelay e2e1 --type=json \
	-p '[{"op": "remove", "path": "/spec/turn/externalIP"}]' >/dev/null
ok $? "turn.externalIP removed from the spec"
turn_plain() {
	kube "$ENV1" get pod e2e1-turn-0 -o json 2>/dev/null | jq -e '
		([.spec.containers[] | select(.name == "turn") | .command[] |
		  select(. == "--external-ip")] | length == 0) and
		any(.status.containerStatuses[]?; .name == "turn" and .ready)' >/dev/null
}
wait_until 180 turn_plain
ok $? "the TURN Pod made again without --external-ip, Ready"
told_domain() {
	[ "$(turn_reason)" = Running ] &&
		[[ $(kube "$ENV1" get chatmailrelay e2e1 -o 'jsonpath={.status.conditions[?(@.type=="TURNReady")].message}') == *"clients are told $DOMAIN:3478, relayed addresses the node's own addresses" ]]
}
wait_until 60 told_domain
ok $? "TURNReady Running: clients are told the domain, relayed on the node's own addresses"
meta_domain() {
	got=$(rc getmetadata "$ENV1" "$user" "$pw" /shared/vendor/deltachat/turn 2>/dev/null)
	[[ $got == "$DOMAIN:3478:"* ]]
}
wait_until 240 meta_domain
IFS=: read -r thost tport U P <<<"$got"
want=$(printf %s "$U" | openssl dgst -sha1 -hmac "$secret" -binary | base64)
[ "$thost:$tport" = "$DOMAIN:3478" ] && [ "$P" = "$want" ]
ok $? "GETMETADATA turn after the change: <domain>:3478, the same secret (got '${got:0:40}...')"
got=$($PY "$TURN_DIR/turn_probe.py" "$NODE_IP" 3478 "$U" "$P" allocate)
rport=${got##*:}
[[ $got == "0 $NODE_IP:"* ]] && [ "$rport" -ge 49180 ] 2>/dev/null && [ "$rport" -le 49199 ]
ok $? "an allocation at the node address is relayed on it (got '$got')"
out=$(timeout 60 turnutils_uclient -c -y -n 20 -m 2 -l 200 -u "$U" -w "$P" "$NODE_IP" 2>&1)
echo "$out" | grep -q 'Total lost packets 0 (0.000000%)' &&
	echo "$out" | grep -q 'start_mclient: tot_send_msgs=40, tot_recv_msgs=40$'
rc=$?
ok $rc "turnutils_uclient through the node's address without externalIP: 40 messages relayed"
[ $rc -eq 0 ] || echo "$out" | tail -n 5 | sed 's/^/# /'
tap_done
