#!/usr/bin/env bash
# test_rbac_leader.sh: the operator with nothing but its own RBAC
# (crds/rbac/role.yaml bound to a ServiceAccount; a token from
# `kubectl create token` in a tokenFile, not the admin certificate)
# reconciles a relay fully and keeps working when its token is rotated
# and the old one revoked; two replicas with leader election never both
# act, and the survivor takes over when the leader stops.
# TAP on stdout; waits bounded.
# shellcheck source=tests/envtest/operator/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NS=""

# sa_kubeconfig writes a kubeconfig using a token file.
sa_kubeconfig() { # path tokenfile
	cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: envtest
  cluster: {server: "$CP_APISERVER_URL", certificate-authority: "$CP_CA"}
users:
- name: operator
  user: {tokenFile: "$2"}
contexts:
- name: operator
  context: {cluster: envtest, user: operator, namespace: $NS}
current-context: operator
EOF
}

# token prints a token of the operator's ServiceAccount bound to Secret $1.
token() {
	k -n "$NS" create secret generic "$1" --from-literal=x=y >/dev/null 2>&1 || true
	k -n "$NS" create token chatmail-operator --duration=30m \
		--bound-object-kind=Secret --bound-object-name="$1"
}

t_rbac_setup() {
	k -n "$NS" apply -f "$ROOT/crds/rbac/role.yaml" >/dev/null
	k -n "$NS" create serviceaccount chatmail-operator >/dev/null
	# namespace-scoped grants of the ClusterRole: nothing leaks out
	k -n "$NS" create rolebinding chatmail-operator --clusterrole=chatmail-operator \
		--serviceaccount="$NS:chatmail-operator" >/dev/null
	k -n "$NS" create rolebinding chatmail-operator-leader-election \
		--role=chatmail-operator-leader-election \
		--serviceaccount="$NS:chatmail-operator" >/dev/null
	token tok-a >"$WORK/token"
	sa_kubeconfig "$WORK/sa.kubeconfig" "$WORK/token"
	local code
	code=$(curl -sS -o /dev/null -w '%{http_code}' --cacert "$CP_CA" \
		-H "Authorization: Bearer $(cat "$WORK/token")" \
		"$CP_APISERVER_URL/api/v1/namespaces/kube-system/configmaps")
	expect_eq "the token is not admin (kube-system configmaps)" "$code" 403
}

children_exist() {
	k -n "$NS" get cm/chat-config svc/chat sts/chat cronjob/chat-expire \
		networkpolicy/chat secret/chat-dkim -o name >/dev/null 2>&1
}

t_rbac_reconcile() {
	bind_pvs "$NS" chat
	relay chat "$NS" chat.example.org | k apply -f - >/dev/null
	poll 60 children_exist || fail "children missing: $(grep -v level=debug "$WORK/op-a.log" | tail -n 5)"
	poll 90 relay_ready "$NS" chat || fail "not Ready: $(k -n "$NS" get chatmailrelay chat -o json | jq -c .status.conditions)"
	if grep -q 'forbidden' "$WORK/op-a.log"; then
		fail "RBAC denials: $(grep forbidden "$WORK/op-a.log" | head -n 3)"
	fi
	# the cert probe events informer (core/v1 events: list, watch)
	grep -q 'msg="events cache synced' "$WORK/op-a.log" ||
		fail "the events cache did not sync: $(grep -i event "$WORK/op-a.log" | tail -n 3)"
}

postfix_restored() {
	k -n "$NS" get cm chat-postfix -o 'jsonpath={.data.main\.cf}' | grep -q '^myorigin = chat.example.org$'
}

t_token_rotation() {
	# kubelet rewrites the projected token file; here: a new token,
	# then the old one is revoked by deleting the object it is bound to
	token tok-b >"$WORK/token.new"
	mv "$WORK/token.new" "$WORK/token"
	k -n "$NS" delete secret tok-a --wait=true >/dev/null
	k -n "$NS" patch cm chat-postfix --type=merge -p '{"data":{"main.cf":"after rotation\n"}}' >/dev/null
	poll 120 postfix_restored || fail "not repaired after the token rotation"
}

lease_holder() {
	k -n "$NS" get lease chatmail-operator-leader -o 'jsonpath={.spec.holderIdentity}' 2>/dev/null
}

# identity prints the identity an operator logged at start.
identity() { sed -n 's/.*started as \([^,]*\),.*/\1/p' "$WORK/op-$1.log" | head -n 1; }

has_holder() { [ -n "$(lease_holder)" ]; }

t_leader_one() {
	poll 30 has_holder || fail "no leader"
	local h ia ib
	h=$(lease_holder)
	ia=$(identity a)
	ib=$(identity b)
	[ "$h" = "$ia" ] || [ "$h" = "$ib" ] || fail "holder $h is neither $ia nor $ib"
	echo "$h" >"$WORK/leader"
	if [ "$h" = "$ia" ]; then echo b >"$WORK/follower"; else echo a >"$WORK/follower"; fi
	if [ "$h" = "$ia" ]; then echo a >"$WORK/leader-name"; else echo b >"$WORK/leader-name"; fi
	expect_eq "acquired logs" \
		"$(cat "$WORK/op-a.log" "$WORK/op-b.log" | grep -c 'successfully acquired lease')" 1
}

t_follower_idle() {
	local f l
	f=$(cat "$WORK/follower")
	l=$(cat "$WORK/leader-name")
	k -n "$NS" patch cm chat-postfix --type=merge -p '{"data":{"main.cf":"leader test\n"}}' >/dev/null
	poll 60 postfix_restored || fail "the leader did not repair"
	sleep 3
	expect_eq "follower reconciles" "$(metric "$f" '^chatmail_operator_reconcile_total')" 0
	expect_eq "follower writes" "$(writes "$f")" 0
	[ "$(metric "$l" '^chatmail_operator_reconcile_total')" -gt 0 ] || fail "leader did not reconcile"
	expect_eq "leader gauge of follower" "$(metric "$f" '^chatmail_operator_leader ')" 0
	expect_eq "leader gauge of leader" "$(metric "$l" '^chatmail_operator_leader ')" 1
}

t_takeover() {
	local f fid t0
	f=$(cat "$WORK/follower")
	fid=$(identity "$f")
	expect_eq "leader exit status" "$OP_RC" 0
	expect_match "lease released" "$(cat "$WORK/op-$(cat "$WORK/leader-name").log")" 'released leader lease'
	t0=$SECONDS
	poll 10 holder_is "$fid" || fail "follower did not take over: holder $(lease_holder)"
	echo "# takeover after $((SECONDS - t0)) s"
	k -n "$NS" patch cm chat-postfix --type=merge -p '{"data":{"main.cf":"takeover\n"}}' >/dev/null
	poll 60 postfix_restored || fail "the new leader did not repair"
}

holder_is() { [ "$(lease_holder)" = "$1" ]; }

main() {
	lib_init
	install_crd
	NS=$(new_ns rbac)
	check "RBAC of crds/rbac/role.yaml bound to a ServiceAccount; its token is not admin" t_rbac_setup
	op_start a --kubeconfig "$WORK/sa.kubeconfig" --namespace "$NS" \
		--leader-elect --leader-election-namespace "$NS" --resync-period 600
	check "with only its RBAC the operator makes a relay Ready, without denials" t_rbac_reconcile
	check "token rotated and the old one revoked: the operator re-reads it and goes on" t_token_rotation
	op_start b --kubeconfig "$WORK/sa.kubeconfig" --namespace "$NS" \
		--leader-elect --leader-election-namespace "$NS" --resync-period 600
	check "two replicas: exactly one holds the Lease" t_leader_one
	check "the follower never reconciles or writes; the leader repairs" t_follower_idle
	op_exit_code "$(cat "$WORK/leader-name")"
	check "the leader stops (SIGTERM): Lease released, the follower takes over and acts" t_takeover
	tap_done
}

main "$@"
