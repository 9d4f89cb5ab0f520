#!/usr/bin/env bash
# test_faults: faults only a real kubelet shows, on the relay the
# operator runs on the test node (hack/relay-k8s.sh).
#
# Two relays (e2e1, e2e2).
#   - One container's process killed (SIGKILL to dovecot's first process
#     from the host, while a client submits a stream of messages):
#     kubelet restarts that container alone (its restartCount 1, last
#     state terminated with 137, the others 0), the Pod is Ready again,
#     and every message that got 250 reaches the INBOX.
#   - The Pod deleted with kubectl (e2e1, while a message to e2e2 waits
#     in its queue because e2e2 refuses connections): the StatefulSet
#     makes a new Pod (new UID) on the same claims (same volumes), the
#     accounts log in, delivered mail is still there, the queued message
#     is still queued and arrives once e2e2 answers again.
#   - The spec changed (limits.maxUserSendPerMinute): the operator
#     changes the Pod template (its config hash), the StatefulSet rolls
#     the Pod, the new one becomes Ready and its containers read the new
#     chatmail.ini.
# shellcheck source=tests/integration/lib/common.sh
. "$(dirname "$0")/../integration/lib/common.sh"
# shellcheck source=tests/integration/relay/lib.sh
. "$(dirname "$0")/../integration/relay/lib.sh"
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

e2e_begin e2e-faults 2
E=$ENV1
P=$(pod_of "$E")

read -r A PA < <(new_account "$E")
read -r B PB < <(new_account "$E")
read -r C PC < <(new_account "$ENV2")
K=$W/gnupg
rc genkey "$K" "$B" >/dev/null 2>&1 && rc genkey "$K" "$C" >/dev/null 2>&1
ok $? "accounts A, B on e2e1, C on e2e2, keys"
id0="before-$RANDOM@e2e.test"
rc send "$E" "$A" "$PA" "$B" --keydir "$K" --msgid "$id0" >/dev/null &&
	rc fetch "$E" "$B" "$PB" "$id0" >/dev/null 2>&1
ok $? "A -> B delivered"

# 1. a container's process killed
declare -A before
for c in $(kube "$E" get pod "$P" -o 'jsonpath={.spec.containers[*].name}'); do
	before[$c]=$(ctr_restarts "$E" "$c")
done
rc stream "$E" "$A" "$PA" "$B" --keydir "$K" --count 30 --pause 0.2 \
	--prefix kill >"$W/stream.out" 2>&1 &
S=$!
on_exit "kill $S 2>/dev/null"
sleep 2
pid=$(ctr_pid "$E" dovecot)
[ -n "$pid" ] && kill -KILL "$pid"
ok $? "SIGKILL to dovecot's first process (host PID ${pid:-none})"
restarted() { [ "$(ctr_restarts "$E" dovecot)" -gt "${before[dovecot]}" ]; }
ready() { [ "$(kube "$E" get pod "$P" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}')" = True ]; }
wait_until 120 restarted && wait_until 120 ready
ok $? "kubelet restarted dovecot and the Pod is Ready again (restarts $(ctr_restarts "$E" dovecot))"
code=$(kube "$E" get pod "$P" -o json | jq -r '.status.containerStatuses[] | select(.name == "dovecot") | .lastState.terminated.exitCode')
[ "$code" = 137 ]
ok $? "dovecot's last state: terminated by SIGKILL ($code)"
others=""
for c in "${!before[@]}"; do
	[ "$c" = dovecot ] && continue
	[ "$(ctr_restarts "$E" "$c")" = "${before[$c]}" ] || others="$others $c"
done
[ -z "$others" ]
ok $? "no other container restarted (${others:-none})"
wait "$S"
acc=$(grep -c '^accepted' "$W/stream.out")
missing() {
	rc msgids "$E" "$B" "$PB" >"$W/have" 2>/dev/null
	grep '^accepted' "$W/stream.out" | cut -d' ' -f2 | sort | comm -23 - <(sort "$W/have")
}
for ((i = 0; i < 30; i++)); do
	pf "$E" postqueue -f >/dev/null 2>&1
	m=$(missing | wc -l)
	[ "$m" -eq 0 ] && break
	sleep 2
done
[ "$acc" -gt 0 ] && [ "$m" -eq 0 ]
ok $? "every message accepted during the kill is delivered ($acc accepted, $m missing)"

# 2. the Pod deleted
relay_pod stop e2e2 postfix >/dev/null
id1="held-$RANDOM@e2e.test"
check "with e2e2 refusing connections, e2e1 accepts A -> C" \
	rc send "$E" "$A" "$PA" "$C" --keydir "$K" --msgid "$id1"
held() { pf "$E" postqueue -j 2>/dev/null | grep -q "\"$C\""; }
wait_until 30 held
ok $? "the message waits in e2e1's queue"
uid=$(pod_uid "$E")
pv=$(kube "$E" get pvc "mail-$P" "queue-$P" -o 'jsonpath={.items[*].spec.volumeName}')
kube "$E" delete pod "$P" --wait=true --timeout=120s >/dev/null
ok $? "kubectl delete pod $P"
relay_pod refresh e2e1 >"$W/refresh.log" 2>&1
ok $? "a new Pod is Ready ($(tail -n 1 "$W/refresh.log"))"
[ "$(pod_uid "$E")" != "$uid" ]
ok $? "it is a new Pod (UID $(pod_uid "$E"))"
[ "$(kube "$E" get pvc "mail-$P" "queue-$P" -o 'jsonpath={.items[*].spec.volumeName}')" = "$pv" ]
ok $? "on the same volumes ($pv)"
check "A logs in after the Pod was deleted" rc capability "$E" "$A" "$PA"
rc msgids "$E" "$B" "$PB" >"$W/b.ids" 2>/dev/null
grep -qx "$id0" "$W/b.ids"
ok $? "B's mail is still there"
held
ok $? "the message to C is still queued"
relay_pod start e2e2 postfix >/dev/null
# flushed until it arrives (bounded): one flush can meet the new Pod's
# transport before it listens, and Postfix's own retry is minutes away
reached() {
	pf "$E" postqueue -f >/dev/null 2>&1
	rc fetch "$ENV2" "$C" "$PC" "$id1" --timeout 10 >/dev/null 2>&1
}
wait_until 12 reached
rc=$?
[ $rc -eq 0 ] || pf "$E" postqueue -j 2>/dev/null | grep -o '"delay_reason": *"[^"]*"' | head -n 3 | sed 's/^/# /'
ok $rc "once e2e2 answers again it reaches C"

# 3. the spec changed
uid=$(pod_uid "$E")
hash=$(kube "$E" get sts e2e1 -o 'jsonpath={.spec.template.metadata.annotations.chatmail\.at/config-hash}')
kube "$E" patch chatmailrelay e2e1 --type=merge -p '{"spec":{"limits":{"maxUserSendPerMinute":599}}}' >/dev/null
ok $? "limits.maxUserSendPerMinute changed to 599"
rolled() { [ "$(pod_uid "$E")" != "$uid" ] && ready; }
t0=$SECONDS
wait_until 240 rolled
ok $? "the operator rolled the Pod: a new one is Ready ($((SECONDS - t0)) s)"
[ "$(kube "$E" get sts e2e1 -o 'jsonpath={.spec.template.metadata.annotations.chatmail\.at/config-hash}')" != "$hash" ]
ok $? "its template has a new config hash"
relay_pod refresh e2e1 >/dev/null 2>&1
# what the container reads, through its root seen from the host
pid=$(ctr_pid "$E" doveauth)
grep -q '^max_user_send_per_minute = 599' "/proc/${pid:-0}/root/etc/chatmail/chatmail.ini"
ok $? "the new Pod's chatmail.ini says max_user_send_per_minute = 599"
check "A still logs in on the new Pod" rc capability "$E" "$A" "$PA"

tap_done
