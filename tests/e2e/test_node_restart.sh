#!/usr/bin/env bash
# test_node_restart: the whole node stopped and started again with the
# same state directory (hack/node.sh down, up): the control plane keeps
# its etcd, kubelet finds the Pods bound to it and runs them again, so
# the operator and the relay come back by themselves, on the same
# claims. Before: an account and a delivered message on e2e1. After
# down: nothing of the node outside its state directory (hack/node.sh
# leftovers). After up: the node Ready, the operator Available, the
# relay's Pod Ready (the same Pod object: the StatefulSet did not
# replace it), the account logs in, its mail is there, and new mail is
# delivered.
# shellcheck source=tests/integration/lib/common.sh
. "$(dirname "$0")/../integration/lib/common.sh"
# shellcheck source=tests/integration/relay/lib.sh
. "$(dirname "$0")/../integration/relay/lib.sh"
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

e2e_begin e2e-node-restart 1
E=$ENV1
read -r A PA < <(new_account "$E")
read -r B PB < <(new_account "$E")
K=$W/gnupg
rc genkey "$K" "$B" >/dev/null 2>&1
id1="before-$RANDOM@e2e.test"
rc send "$E" "$A" "$PA" "$B" --keydir "$K" --msgid "$id1" >/dev/null &&
	rc fetch "$E" "$B" "$PB" "$id1" >/dev/null 2>&1
ok $? "accounts A, B; A -> B delivered"
uid=$(pod_uid "$E")
pv=$(kube "$E" get pvc "mail-$(pod_of "$E")" -o 'jsonpath={.spec.volumeName}')

t0=$SECONDS
"$TOP/hack/node.sh" down >"$W/down.log" 2>&1
ok $? "hack/node.sh down ($((SECONDS - t0)) s)"
"$TOP/hack/node.sh" leftovers >"$W/leftovers.txt" 2>&1
ok $? "nothing of the node outside its state directory: $(head -n 3 "$W/leftovers.txt" | tr '\n' ' ')"
[ ! -e "$NODE_STATE/env" ]
ok $? "no env file while it is down"

t0=$SECONDS
"$TOP/hack/node.sh" up >"$W/up.log" 2>&1
ok $? "hack/node.sh up with the same state directory ($((SECONDS - t0)) s)"
sed 's/^/# /' "$W/up.log" | tail -n 3
# shellcheck disable=SC1091
. "$NODE_STATE/env"
wait_until 180 "$TOP/hack/cluster.sh" check 2>/dev/null
ok $? "the operator is Available again ($((SECONDS - t0)) s)"
relay_pod refresh e2e1 >"$W/refresh.log" 2>&1
ok $? "the relay's Pod is Ready again ($((SECONDS - t0)) s after up began)"
[ "$(pod_uid "$E")" = "$uid" ]
ok $? "the same Pod object, run again by kubelet (UID $uid)"
[ "$(kube "$E" get pvc "mail-$(pod_of "$E")" -o 'jsonpath={.spec.volumeName}')" = "$pv" ]
ok $? "on the same mail volume ($pv)"
check "A logs in" rc capability "$E" "$A" "$PA"
rc msgids "$E" "$B" "$PB" >"$W/b.ids" 2>/dev/null
grep -qx "$id1" "$W/b.ids"
ok $? "B's message from before is there"
id2="after-$RANDOM@e2e.test"
rc send "$E" "$A" "$PA" "$B" --keydir "$K" --msgid "$id2" >/dev/null &&
	rc fetch "$E" "$B" "$PB" "$id2" >/dev/null 2>&1
ok $? "A -> B delivered after the node came back"

tap_done
