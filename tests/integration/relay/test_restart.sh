#!/usr/bin/env bash
# test_restart: restarting any daemon mid-stream loses no accepted
# message. A client submits a stream of encrypted messages from A on e2e1
# to B on e2e2 and C on e2e1 (one SMTP session each, nothing retried)
# while every component of both relays is restarted in turn: nginx,
# Postfix, Dovecot, filtermail outgoing and incoming, doveauth,
# lastlogin, chatmail-metadata, newemail. Refusals during a restart are
# fine (the client would retry); every message that got 250 must end up
# in its recipient's INBOX once the queues are flushed.
# shellcheck source=tests/integration/lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source=tests/integration/relay/lib.sh
. "$(dirname "$0")/lib.sh"

relay_prereqs
tap_init
relay_workdir relay-restart
relays_up "$W" 2 || { ok 1 "relays e2e1 e2e2 up"; tap_done; }
ok 0 "relays e2e1 e2e2 up"
if [ -z "$(renv "$ENV1" NETNS)" ]; then
	skip "restart while delivering" "loopback fallback: no federation"
	tap_done
fi

read -r A PA < <(new_account "$ENV1")
read -r B PB < <(new_account "$ENV2")
read -r C PC < <(new_account "$ENV1")
K=$W/gnupg
rc genkey "$K" "$B" >/dev/null 2>&1 && rc genkey "$K" "$C" >/dev/null 2>&1
ok $? "accounts A@e2e1, B@e2e2, C@e2e1 and keys"

COUNT=${RESTART_COUNT:-60}
rc stream "$ENV1" "$A" "$PA" "$B" --keydir "$K" --count "$COUNT" \
	--pause 0.15 --prefix remote >"$W/remote.out" 2>&1 &
S1=$!
rc stream "$ENV1" "$A" "$PA" "$C" --keydir "$K" --count "$COUNT" \
	--pause 0.15 --prefix local --via 587 >"$W/local.out" 2>&1 &
S2=$!
on_exit "kill $S1 $S2 2>/dev/null"

LR=$TOP/hack/local-relay.sh
restarts=0
for step in "e2e2 dovecot" "e2e2 filtermail-incoming" "e2e1 filtermail-outgoing" \
	"e2e2 postfix" "e2e1 dovecot" "e2e1 postfix" "e2e1 nginx" \
	"e2e2 doveauth" "e2e1 doveauth" "e2e2 lastlogin" "e2e2 metadata" \
	"e2e1 metadata" "e2e1 newemail"; do
	sleep 0.5
	# shellcheck disable=SC2086 # NAME COMPONENT
	if "$LR" restart $step >>"$W/restarts.log" 2>&1; then
		restarts=$((restarts + 1))
	else
		echo "# restart $step failed:"
		tail -n 3 "$W/restarts.log" | sed 's/^/# /'
	fi
done
[ "$restarts" -eq 13 ]
ok $? "13 components restarted while the client was sending ($restarts)"
wait "$S1" "$S2"

acc_r=$(grep -c '^accepted' "$W/remote.out")
acc_l=$(grep -c '^accepted' "$W/local.out")
ref=$(cat "$W/remote.out" "$W/local.out" | grep -c '^refused')
diag "accepted $acc_r remote and $acc_l local messages, $ref refused during restarts"
[ "$acc_r" -ge $((COUNT / 2)) ] && [ "$acc_l" -ge $((COUNT / 2)) ]
ok $? "most messages were accepted ($acc_r + $acc_l of $((2 * COUNT)))"

# flush both queues until everything accepted is delivered (bounded)
missing() { # missing ENV USER PW OUTFILE: accepted ids not in the INBOX
	rc msgids "$1" "$2" "$3" >"$W/have" 2>/dev/null
	grep '^accepted' "$4" | cut -d' ' -f2 | sort | comm -23 - <(sort "$W/have")
}
for ((i = 0; i < 30; i++)); do
	postqueue -c "$(renv "$ENV1" ROOT)/postfix" -f 2>/dev/null
	postqueue -c "$(renv "$ENV2" ROOT)/postfix" -f 2>/dev/null
	mr=$(missing "$ENV2" "$B" "$PB" "$W/remote.out" | wc -l)
	ml=$(missing "$ENV1" "$C" "$PC" "$W/local.out" | wc -l)
	[ "$mr" -eq 0 ] && [ "$ml" -eq 0 ] && break
	sleep 2
done
[ "$mr" -eq 0 ]
ok $? "every accepted message to the other relay is in B's INBOX ($mr missing)"
[ "$ml" -eq 0 ]
ok $? "every accepted local message is in C's INBOX ($ml missing)"
if [ "$mr" -ne 0 ] || [ "$ml" -ne 0 ]; then
	missing "$ENV2" "$B" "$PB" "$W/remote.out" | head -n 5 | sed 's/^/# missing /'
	postqueue -c "$(renv "$ENV1" ROOT)/postfix" -p | head -n 20 | sed 's/^/# /'
fi
# (Postfix's own notices to postmaster bounce: a chatmail relay has no
# postmaster account, as upstream's has none)
bounced=$(cat "$(renv "$ENV1" LOG)/postfix.log" "$(renv "$ENV2" LOG)/postfix.log" |
	grep 'status=bounced' | grep -c -e "to=<$B>" -e "to=<$C>" -e "to=<$A>")
[ "$bounced" -eq 0 ]
ok $? "no test message bounced ($bounced)"

tap_done
