#!/usr/bin/env bash
# test_turn: the relay Pod's TURN server (chatmail-turn in the turn
# container, its secret from the <relay>-turn Secret) with real clients,
# credentials read as Delta Chat reads them (IMAP GETMETADATA turn):
#   - turnutils_uclient: allocations, channels and Send indications
#     relayed client-to-client through the Pod's address;
#   - a wrong password and an expired credential (signed with the
#     relay's own secret) cannot allocate, and are answered 401;
#   - malformed datagrams get no answer and the server keeps serving;
#   - two real browsers, headless Chromium and Firefox ESR, call each
#     other with iceTransportPolicy "relay" and exchange a data-channel
#     message: Chromium-Chromium, Firefox-Firefox, Chromium-Firefox.
# shellcheck source=tests/integration/lib/common.sh
. "$(dirname "$0")/../integration/lib/common.sh"
# shellcheck source=tests/integration/relay/lib.sh
. "$(dirname "$0")/../integration/relay/lib.sh"
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

TURN_DIR=$TOP/tests/integration/turn
e2e_begin turn 1
ADDR=$(renv "$ENV1" ADDR)
DOMAIN=$(renv "$ENV1" DOMAIN)
OBJECTS=$(renv "$ENV1" OBJECTS)

kube "$ENV1" get pod "$(pod_of "$ENV1")" -o json |
	jq -e '.status.containerStatuses[] | select(.name == "turn" and .state.running)' >/dev/null
ok $? "the Pod runs the turn container"
secret=$(jq -r '.items[] | select(.kind == "Secret" and .metadata.name == "e2e1-turn") | .data.secret' "$OBJECTS" | base64 -d)
[ ${#secret} -eq 44 ]
ok $? "the <relay>-turn Secret holds a 32-byte random secret (base64)"

creds=$(new_account "$ENV1")
user=${creds%% *}
pw=${creds#* }
got=$(rc getmetadata "$ENV1" "$user" "$pw" /shared/vendor/deltachat/turn)
IFS=: read -r thost tport U P <<<"$got"
want=$(printf %s "$U" | openssl dgst -sha1 -hmac "$secret" -binary | base64)
[ "$thost:$tport" = "$DOMAIN:3478" ] && [ "$P" = "$want" ] &&
	[ "$U" -gt $(($(date +%s) + 432000 - 120)) ]
ok $? "GETMETADATA turn: <domain>:3478:<5-day expiry>:<HMAC under the relay's secret> (got '${got:0:40}...')"

out=$(timeout 60 turnutils_uclient -c -y -n 20 -m 2 -l 200 -u "$U" -w "$P" "$ADDR" 2>&1)
echo "$out" | grep -q 'Total lost packets 0 (0.000000%)' &&
	echo "$out" | grep -q 'start_mclient: tot_send_msgs=40, tot_recv_msgs=40$'
ok $? "turnutils_uclient with the METADATA credential: 40 messages relayed over channels, none lost"
out=$(timeout 60 turnutils_uclient -c -y -s -n 10 -m 1 -l 200 -u "$U" -w "$P" "$ADDR" 2>&1)
echo "$out" | grep -q 'start_mclient: tot_send_msgs=20, tot_recv_msgs=20$'
ok $? "turnutils_uclient: Send/Data indications relayed"
out=$(timeout 20 turnutils_uclient -c -y -n 1 -m 1 -u "$U" -w "x$P" "$ADDR" 2>&1)
echo "$out" | grep -q 'Cannot complete Allocation'
ok $? "turnutils_uclient with a wrong password cannot allocate"
got=$($PY "$TURN_DIR/turn_probe.py" "$ADDR" 3478 "$U" "x$P" allocate)
[ "$got" = "401 " ]
ok $? "a wrong password: 401 (got '$got')"
EU=$(($(date +%s) - 60))
EP=$(printf %s "$EU" | openssl dgst -sha1 -hmac "$secret" -binary | base64)
got=$($PY "$TURN_DIR/turn_probe.py" "$ADDR" 3478 "$EU" "$EP" allocate)
[ "$got" = "401 " ]
ok $? "an expired credential signed with the relay's secret: 401 (got '$got')"
got=$($PY "$TURN_DIR/turn_probe.py" "$ADDR" 3478 - - garbage)
[ "$got" = 0 ]
ok $? "malformed datagrams unanswered, the server still serves"

for pair in chromium,chromium firefox,firefox chromium,firefox; do
	line=$(rc getmetadata "$ENV1" "$user" "$pw" /shared/vendor/deltachat/turn)
	IFS=: read -r _ _ bu bp <<<"$line"
	out=$(timeout 120 "$PY" "$TURN_DIR/webrtc_pair.py" --pair "$pair" \
		--turn "turn:$ADDR:3478?transport=udp" --user "$bu" --pass "$bp" \
		--timeout 60 --log "$W/browsers-${pair/,/-}" 2>&1)
	rc=$?
	[ $rc -eq 0 ]
	ok $? "${pair/,/ <-> }: a data channel through the relay Pod's TURN, relay candidates only"
	if [ $rc -ne 0 ]; then
		while IFS= read -r l; do echo "# $l"; done <<<"$out"
	fi
done
tap_done
