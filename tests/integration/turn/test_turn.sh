#!/usr/bin/env bash
# test_turn: chatmail-turn with real TURN clients. The server runs as
# vmail in a network namespace of its own (a veth to the host, like a
# relay Pod), choosing its listen addresses as upstream does (every
# non-loopback interface address); the clients run on the host:
#   - the credential socket's line (upstream's "user:password" form),
#   - Debian's turnutils_uclient with those credentials: allocations,
#     channels and Send indications client-to-client, and relaying to a
#     turnutils_peer echo server, every packet back; a wrong password
#     and an expired credential cannot allocate,
#   - turn_probe.py for the exact codes: 401 for both, 403 for a
#     loopback peer, 486 once one address holds its cap, malformed
#     datagrams unanswered and the server still serving,
#   - two real browsers (Debian's chromium and firefox-esr, headless)
#     calling each other with iceTransportPolicy "relay" and exchanging a
#     data-channel message: Chromium-Chromium, Firefox-Firefox,
#     Chromium-Firefox (webrtc_pair.py).
# TURN_TEST_NET (default 10.78.0) is the /24 of the veth.
# shellcheck source=tests/integration/lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source=tests/integration/lib/dovecot.sh
. "$(dirname "$0")/../lib/dovecot.sh"

HERE=$(cd "$(dirname "$0")" && pwd)
NET=${TURN_TEST_NET:-10.78.0}
NS=cmturn$$
HV=cmth$$
NV=cmtn$$

tap_init
if [ ! -x "$BIN/chatmail-turn" ] || ! command -v turnutils_uclient >/dev/null ||
	! ip netns add "$NS" 2>/dev/null; then
	skip "chatmail-turn with real clients" \
		"needs build/bin/chatmail-turn, coturn's turnutils (make deps) and ip netns"
	tap_done
fi
on_exit "ip netns del $NS 2>/dev/null; ip link del $HV 2>/dev/null"
ip link add "$HV" type veth peer name "$NV"
ip link set "$NV" netns "$NS"
ip addr add "$NET.1/24" dev "$HV"
ip link set "$HV" up
ip -n "$NS" addr add "$NET.2/24" dev "$NV"
ip -n "$NS" link set "$NV" up
ip -n "$NS" link set lo up
# browsers bind every host interface; answers to any of them go back
# through the host
ip -n "$NS" route add default via "$NET.1"

W=$(workdir turn)
chmod 755 "$W"
head -c 32 /dev/urandom | base64 >"$W/secret"
chown root:vmail "$W/secret"
chmod 640 "$W/secret"
mkdir -p "$W/run"
chown vmail:vmail "$W/run"
SOCK=$W/run/turn.socket
ip netns exec "$NS" setpriv --reuid=vmail --regid=vmail --clear-groups -- \
	"$BIN/chatmail-turn" --realm relay.test --socket "$SOCK" \
	--secret-file "$W/secret" --relay-ports 49160-49259 \
	--max-allocations-per-ip 16 --allow-peer "$NET.1/32" \
	>"$W/turn.log" 2>&1 &
TURN_PID=$!
on_exit "stop_pid $TURN_PID"
wait_socket "$SOCK"
ok $? "chatmail-turn serves its credential socket"
grep -q "Listening on $NET.2:3478" "$W/turn.log"
ok $? "it listens on the namespace's interface address, not loopback"

cred() { $PY -c 'import socket,sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
print(s.recv(200).decode(), end="")' "$SOCK"; }
line=$(cred)
U=${line%%:*}
P=${line#*:}
now=$(date +%s)
want=$(printf %s "$U" | openssl dgst -sha1 -hmac "$(cat "$W/secret")" -binary | base64)
[ "$P" = "$want" ] && [ "$U" -ge $((now + 432000 - 60)) ] && [ "$U" -le $((now + 432000 + 60)) ]
ok $? "the socket's line is <now + 5 days>:base64(HMAC-SHA1(secret, user)) (got '$U:${P:0:6}...')"

# uclient_ok ARGS...: every message sent comes back, none lost
uclient_ok() {
	local out
	out=$(timeout 60 turnutils_uclient "$@" 2>&1)
	echo "$out" >>"$W/uclient.log"
	echo "$out" | grep -q 'Total lost packets 0 (0.000000%)' &&
		echo "$out" | grep -Eq 'start_mclient: tot_send_msgs=([1-9][0-9]*), tot_recv_msgs=\1$'
}
uclient_ok -c -y -n 20 -m 4 -l 200 -u "$U" -w "$P" "$NET.2"
ok $? "turnutils_uclient: 4 client pairs over channels, all 80 messages relayed"
uclient_ok -c -y -s -n 20 -m 2 -l 200 -u "$U" -w "$P" "$NET.2"
ok $? "turnutils_uclient: Send/Data indications, all messages relayed"
ip link set "$HV" up
turnutils_peer -L "$NET.1" -p 3480 >"$W/peer.log" 2>&1 &
PEER_PID=$!
on_exit "stop_pid $PEER_PID"
sleep 0.5
uclient_ok -c -n 20 -m 2 -l 500 -e "$NET.1" -r 3480 -u "$U" -w "$P" "$NET.2"
ok $? "turnutils_uclient: relayed to a turnutils_peer echo server and back"

out=$(timeout 20 turnutils_uclient -c -y -n 1 -m 1 -u "$U" -w "x$P" "$NET.2" 2>&1)
echo "$out" | grep -q 'Cannot complete Allocation'
ok $? "turnutils_uclient with a wrong password cannot allocate"
got=$($PY "$HERE/turn_probe.py" "$NET.2" 3478 "$U" "x$P" allocate)
[ "$got" = "401 " ]
ok $? "a wrong password is answered 401 (got '$got')"
EU=$((now - 60))
EP=$(printf %s "$EU" | openssl dgst -sha1 -hmac "$(cat "$W/secret")" -binary | base64)
out=$(timeout 20 turnutils_uclient -c -y -n 1 -m 1 -u "$EU" -w "$EP" "$NET.2" 2>&1)
echo "$out" | grep -q 'Cannot complete Allocation'
ok $? "turnutils_uclient with an expired credential cannot allocate"
got=$($PY "$HERE/turn_probe.py" "$NET.2" 3478 "$EU" "$EP" allocate)
[ "$got" = "401 " ]
ok $? "an expired credential (correctly signed) is answered 401 (got '$got')"
got=$($PY "$HERE/turn_probe.py" "$NET.2" 3478 "$U" "$P" permit 127.0.0.1 53)
[ "$got" = 403 ]
ok $? "a permission for a loopback peer is refused with 403 (got '$got')"
got=$($PY "$HERE/turn_probe.py" "$NET.2" 3478 "$U" "$P" flood 24)
n_ok=$(tr ' ' '\n' <<<"$got" | grep -c '^0$')
n_cap=$(tr ' ' '\n' <<<"$got" | grep -c '^486$')
[ "$n_ok" -ge 1 ] && [ "$n_ok" -le 16 ] && [ $((n_ok + n_cap)) -eq 24 ]
ok $? "an allocation flood from one address stops at its cap with 486 ($n_ok allocated, $n_cap refused)"
got=$($PY "$HERE/turn_probe.py" "$NET.2" 3478 - - garbage)
[ "$got" = 0 ] && kill -0 "$TURN_PID"
ok $? "malformed datagrams get no answer and the server still serves"

# browsers: one call per pair
for pair in chromium,chromium firefox,firefox chromium,firefox; do
	a=${pair%,*} b=${pair#*,}
	bin_a=$a bin_b=$b
	[ "$a" = firefox ] && bin_a=firefox-esr
	[ "$b" = firefox ] && bin_b=firefox-esr
	if ! command -v "$bin_a" >/dev/null || ! command -v "$bin_b" >/dev/null; then
		skip "browsers $pair over TURN" "$bin_a or $bin_b not installed (make deps)"
		continue
	fi
	line=$(cred)
	out=$(timeout 120 "$PY" "$HERE/webrtc_pair.py" --pair "$pair" \
		--turn "turn:$NET.2:3478?transport=udp" --user "${line%%:*}" \
		--pass "${line#*:}" --timeout 60 --log "$W/browsers-$a-$b" 2>&1)
	rc=$?
	echo "$out" >>"$W/browsers.log"
	[ $rc -eq 0 ]
	ok $? "$a <-> $b: a data channel over relay candidates only, a message each way"
	if [ $rc -ne 0 ]; then
		while IFS= read -r l; do echo "# $l"; done <<<"$out"
	fi
done
grep -c 'allocation created' "$W/turn.log" | sed 's/^/# allocations created: /'
tap_done
