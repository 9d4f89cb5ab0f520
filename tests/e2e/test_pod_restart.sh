#!/usr/bin/env bash
# test_pod_restart: the relay Pod the operator runs on the test node,
# and what must survive a restart of the whole Pod (the Pod deleted, the
# StatefulSet makes it again from its template: emptyDirs fresh, the
# mail and queue claims kept).
#
# Two relays (e2e1, e2e2). Every container of the Pod runs with the
# identity its spec asks for (services as vmail 2000 on a read-only root
# file system, one process namespace). A local and a remote message are
# delivered. With e2e2's Postfix stopped (its ports refuse: a kubelet
# would restart an exited container), a message from e2e1 to e2e2 is
# accepted and waits in e2e1's queue. Then e2e1's Pod is restarted: the
# account still logs in with its password, the delivered message is
# still in its INBOX, the queued message is still queued; once e2e2's
# Postfix is back and the queue is flushed it arrives. Before that,
# e2e1 goes down and its queue is put back at the claim's root (where
# Pods before postfix-run kept it): the next start moves it into the
# subdirectory and the message is still queued. Postfix logs no
# warning at any of these starts. e2e2's Pod is restarted too and B
# still has every message. Nothing bounced.
# shellcheck source=tests/integration/lib/common.sh
. "$(dirname "$0")/../integration/lib/common.sh"
# shellcheck source=tests/integration/relay/lib.sh
. "$(dirname "$0")/../integration/relay/lib.sh"
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

e2e_begin e2e-pod-restart 2
P1=$(pod_of "$ENV1")

# the Pod as specified
want=$(jq -r '.items[] | select(.kind == "StatefulSet") | .spec.template.spec.containers[].name' \
	"$(renv "$ENV1" OBJECTS)" | sort | tr '\n' ' ')
have=$(kube "$ENV1" get pod "$P1" -o 'jsonpath={.status.containerStatuses[*].name}' | tr ' ' '\n' | sort | tr '\n' ' ')
[ "$want" = "$have" ]
ok $? "the Pod has the StatefulSet's containers ($want)"
for c in doveauth filtermail-outgoing newemail; do
	pid=$(ctr_pid "$ENV1" "$c")
	id=$(awk '/^Uid:/ { u = $2 } /^Gid:/ { g = $2 } END { print u ":" g }' "/proc/$pid/status")
	ro=$(awk '$5 == "/" { split($6, o, ","); print o[1] }' "/proc/$pid/mountinfo")
	[ "$id" = 2000:2000 ]
	ok $? "$c runs as vmail 2000:2000 ($id)"
	[ "$ro" = ro ]
	ok $? "$c has a read-only root file system"
done
pidns=$(for c in nginx dovecot postfix; do readlink "/proc/$(ctr_pid "$ENV1" "$c")/ns/pid"; done |
	sort -u | wc -l)
[ "$pidns" -eq 1 ]
ok $? "nginx, Dovecot and Postfix share one process namespace (cert reloads signal them)"

read -r A PA < <(new_account "$ENV1")
read -r A2 PA2 < <(new_account "$ENV1")
read -r B PB < <(new_account "$ENV2")
K=$W/gnupg
rc genkey "$K" "$B" >/dev/null 2>&1 && rc genkey "$K" "$A2" >/dev/null 2>&1
ok $? "accounts A, A2 on e2e1, B on e2e2, keys"

# a crash loop before the first account (the mailboxes directory of a
# fresh volume) would show as restarts
restarts=$(kube "$ENV1" get pod "$P1" -o json |
	jq -r '.status.containerStatuses[] | select(.restartCount > 0) | "\(.name) \(.restartCount)"' | tr '\n' ' ')
[ -z "$restarts" ]
ok $? "no container restarted while the relay started (${restarts:-none})"

id1="local-$RANDOM@e2e.test"
rc send "$ENV1" "$A" "$PA" "$A2" --keydir "$K" --msgid "$id1" >/dev/null &&
	rc fetch "$ENV1" "$A2" "$PA2" "$id1" >/dev/null 2>&1
ok $? "A -> A2 delivered on e2e1"
id2="remote-$RANDOM@e2e.test"
rc send "$ENV1" "$A" "$PA" "$B" --keydir "$K" --msgid "$id2" >/dev/null &&
	rc fetch "$ENV2" "$B" "$PB" "$id2" >/dev/null 2>&1
ok $? "A@e2e1 -> B@e2e2 delivered"

# a message that has to wait: e2e2 does not answer on 25
relay_pod stop e2e2 postfix >/dev/null
id3="queued-$RANDOM@e2e.test"
check "with e2e2's Postfix stopped, e2e1 still accepts A -> B" \
	rc send "$ENV1" "$A" "$PA" "$B" --keydir "$K" --msgid "$id3"
for_b() { pf "$ENV1" postqueue -j 2>/dev/null | grep -c "\"$B\""; }
held() { [ "$(for_b)" -ge 1 ]; }
gone() { [ "$(for_b)" -eq 0 ]; }
wait_until 30 held
ok $? "the message waits in e2e1's queue ($(queued "$ENV1") queued)"
wait_until 30 grep -q "to=<$B>.*status=deferred" "$(renv "$ENV1" LOG)/postfix.log"
ok $? "e2e1 deferred it (connection refused)"

t0=$SECONDS
relay_pod restart e2e1 >"$W/restart1.log" 2>&1
ok $? "e2e1's Pod deleted and created again ($((SECONDS - t0)) s)"
[ -n "$(ctr_pid "$ENV1" postfix)" ]
ok $? "e2e1 runs again"
check "A's account logs in with its password after the restart (via 443)" \
	rc capability "$ENV1" "$A" "$PA" --via 443
rc msgids "$ENV1" "$A2" "$PA2" >"$W/a2.ids" 2>/dev/null
grep -qx "$id1" "$W/a2.ids"
ok $? "A2's message is still in its INBOX"
pf "$ENV1" postqueue -j >"$W/queue.json" 2>/dev/null
grep -q "\"$B\"" "$W/queue.json"
ok $? "the message to B is still queued after the restart"
warnings() { grep -c 'postfix.*warning:' "$(renv "$ENV1" LOG)/postfix.log"; }
n=$(warnings)
[ "$n" -eq 0 ]
ok $? "Postfix logged no warning when it started again on its claims ($n)"

# the layout of an older Pod: the queue at the claim's root
Q=$(renv "$ENV1" QUEUE)
relay_pod down e2e1 >"$W/down1.log" 2>&1
[ -d "$Q/deferred" ] && mv "$Q"/* "$(dirname "$Q")"/ && rmdir "$Q" &&
	[ -n "$(find "$(dirname "$Q")/deferred" -type f)" ]
ok $? "e2e1 down, its queue (with the message) moved to the claim's root"
relay_pod up e2e1 >"$W/up1.log" 2>&1
ok $? "e2e1 up again"
grep -q 'postfix-run: moving the queue' "$(renv "$ENV1" LOG)/postfix.log" &&
	[ -d "$Q/deferred" ] && [ ! -e "$(dirname "$Q")/deferred" ]
ok $? "postfix-run moved the queue into its subdirectory"
wait_until 30 held
ok $? "the message to B is still queued ($(queued "$ENV1") queued)"
n=$(warnings)
[ "$n" -eq 0 ]
ok $? "Postfix logged no warning at that start ($n)"

relay_pod start e2e2 postfix >/dev/null
wait_port "$(renv "$ENV2" ADDR)" 25 30
pf "$ENV1" postqueue -f >/dev/null 2>&1
rc fetch "$ENV2" "$B" "$PB" "$id3" --timeout 60 >/dev/null 2>&1
ok $? "once e2e2 is back and the queue is flushed, the queued message reaches B"
wait_until 20 gone
ok $? "e2e1's queue is empty again"

relay_pod restart e2e2 >"$W/restart2.log" 2>&1
ok $? "e2e2's Pod deleted and created again"
rc msgids "$ENV2" "$B" "$PB" >"$W/b.ids" 2>/dev/null
n=0
for id in "$id2" "$id3"; do grep -qx "$id" "$W/b.ids" && n=$((n + 1)); done
[ "$n" -eq 2 ]
ok $? "B still has both messages after e2e2's restart ($n of 2)"
bounced=$(cat "$(renv "$ENV1" LOG)/postfix.log" "$(renv "$ENV2" LOG)/postfix.log" 2>/dev/null |
	grep -c 'status=bounced')
[ "$bounced" -eq 0 ]
ok $? "nothing bounced ($bounced)"

tap_done
