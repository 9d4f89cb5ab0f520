#!/usr/bin/env bash
# test_metadata: chatmail-metadata behind Debian's real Dovecot 2.3,
# driven by python3 imaplib and LMTP: device tokens through SETMETADATA/
# GETMETADATA, the irohrelay/maxsmtprecipients/appversions server
# attributes, a delivered message making the notifier POST the tokens to
# a local HTTPS server, a 410 removing the token, self-sent mail not
# notifying, the queue surviving a restart, and a mail store in
# upstream's layout (tests/data/vmail-fixture) served unchanged.
# shellcheck source=tests/integration/lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source=tests/integration/lib/dovecot.sh
. "$(dirname "$0")/../lib/dovecot.sh"
# shellcheck source=tests/integration/dovecot/stack.sh
. "$(dirname "$0")/stack.sh"

tap_init
command -v dovecot >/dev/null || {
	skip "dovecot metadata" "dovecot not installed (make deps)"
	tap_done
}
HERE=$(cd "$(dirname "$0")" && pwd)
W=$(stack_workdir dovecot-metadata)
tls_cert "$W/certs"
CA=$W/certs/cert.pem

# the fixture, with @NOW@ filled in and .in dropped
NOW=$(date +%s)
FIXTURE=$W/fixture
cp -a "$TOP/tests/data/vmail-fixture" "$FIXTURE"
rm -f "$FIXTURE/README"
find "$FIXTURE" -name .keep -delete
while IFS= read -r f; do
	sed "s/@NOW@/$NOW/g" "$f" >"${f%.in}"
	rm -f "$f"
done < <(find "$FIXTURE" -name '*.in')
export FIXTURE
cp -a "$FIXTURE" "$W/fixture.orig"

# the push receiver
HPORT=$(free_port)
PUSHLOG=$W/push.log
: >"$PUSHLOG"
$PY "$HERE/pushserver.py" "$HPORT" "$CA" "$W/certs/key.pem" "$PUSHLOG" \
	</dev/null >>"$W/pushserver.out" 2>&1 &
on_exit "stop_pid $!"
wait_port 127.0.0.1 "$HPORT"

METADATA_FLAGS=(-c "$CA")
if ! stack_up "$W" "notification_url = https://127.0.0.1:$HPORT/notify
privacy_mail = privacy@example.test"; then
	ok 1 "stack starts"
	tap_done
fi

meta() { # meta USER PASS CMD ARGS...
	$PY "$HERE/imapmeta.py" "$IMAP_PORT" "$@"
}
deliver() { # deliver FROM TO: one message over LMTP
	$PY - "$LMTP_SOCK" "$1" "$2" <<'PYEOF'
import smtplib, sys
sock, frm, to = sys.argv[1:4]
msg = ("From: %s\r\nTo: %s\r\nSubject: [...]\r\n\r\nhello\r\n" % (frm, to))
with smtplib.LMTP(sock) as l:
    l.sendmail(frm, [to], msg)
PYEOF
}
wait_push() { # wait_push TEXT: until the receiver logged TEXT
	wait_log "$PUSHLOG" "$1" 15
}

A=metauser1@example.test
B=metauser2@example.test
C=metauser3@example.test
for u in $A $B $C; do
	meta "$u" q9mr3faue caps >/dev/null || true
done

meta $A q9mr3faue set INBOX /private/devicetoken tok-111 >/dev/null
ok $? "SETMETADATA INBOX /private/devicetoken"
meta $A q9mr3faue set INBOX /private/devicetoken tok-222 >/dev/null
got=$(meta $A q9mr3faue get INBOX /private/devicetoken)
[ "$got" = "tok-111 tok-222" ]
ok $? "GETMETADATA returns both tokens (got '$got')"
check "metadata.json in upstream's format" \
	grep -qE '^\{"devicetoken": \{"tok-111": [0-9]+, "tok-222": [0-9]+\}\}$' \
	"$MBOX/$A/metadata.json"

got=$(meta $A q9mr3faue get "" /shared/vendor/deltachat/irohrelay)
[ "$got" = "https://example.test" ]
ok $? "GETMETADATA irohrelay (got '$got')"
got=$(meta $A q9mr3faue get "" /shared/vendor/deltachat/maxsmtprecipients)
[ "$got" = "1000" ]
ok $? "GETMETADATA maxsmtprecipients (got '$got')"
got=$(meta $A q9mr3faue get "" /shared/vendor/deltachat/appversions)
echo "$got" | $PY -c 'import json,sys; assert json.load(sys.stdin)["clients"]'
ok $? "GETMETADATA appversions is the JSON index"
got=$(meta $A q9mr3faue get "" /shared/vendor/deltachat/turn)
[ -z "$got" ]
ok $? "GETMETADATA turn without a TURN server: none"

# our chatmail-turn on the configured socket (upstream's arrangement, as
# vmail), serving UDP on loopback: the turn key carries its credential,
# and turnutils_uclient relays with what GETMETADATA returned
if [ -x "$BIN/chatmail-turn" ] && command -v turnutils_uclient >/dev/null; then
	head -c 32 /dev/urandom | base64 >"$W/turn-secret"
	chown vmail "$W/turn-secret"
	chmod 600 "$W/turn-secret"
	TPORT=$($PY -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	cp "$BIN/chatmail-turn" "$RUNBIN/"
	service_start turn "$SVCLOG" "$RUNBIN/chatmail-turn" --realm example.test \
		--socket "$RUN/turn.socket" --secret-file "$W/turn-secret" \
		--listen 127.0.0.1 --port "$TPORT"
	wait_socket "$RUN/turn.socket"
	got=$(meta $A q9mr3faue get "" /shared/vendor/deltachat/turn)
	IFS=: read -r thost tport tuser tpass <<<"$got"
	want=$(printf %s "$tuser" | openssl dgst -sha1 -hmac "$(cat "$W/turn-secret")" -binary | base64)
	now=$(date +%s)
	[ "$thost:$tport" = example.test:3478 ] && [ "$tpass" = "$want" ] &&
		[ "$tuser" -gt $((now + 432000 - 60)) ] && [ "$tuser" -lt $((now + 432000 + 60)) ]
	ok $? "GETMETADATA turn: example.test:3478:<5-day expiry>:<HMAC of it> from chatmail-turn (got '${got:0:30}...')"
	out=$(timeout 30 turnutils_uclient -c -y -n 10 -m 1 -p "$TPORT" -u "$tuser" -w "$tpass" 127.0.0.1 2>&1)
	echo "$out" | grep -q 'Total lost packets 0 (0.000000%)' &&
		echo "$out" | grep -q 'start_mclient: tot_send_msgs=20, tot_recv_msgs=20$'
	ok $? "turnutils_uclient relays with the credential read over IMAP METADATA"
else
	skip "GETMETADATA turn from chatmail-turn" "chatmail-turn or turnutils_uclient missing"
	skip "turnutils_uclient with the METADATA credential" "chatmail-turn or turnutils_uclient missing"
fi

deliver $B $A
ok $? "LMTP delivery to a user with tokens"
wait_push "/notify - tok-111$" && wait_push "/notify - tok-222$"
ok $? "the notifier POSTed both tokens to the HTTPS server"
check "queue is empty after 200" \
	bash -c "[ -z \"\$(ls -A '$MBOX/pending_notifications')\" ]"

deliver $A $A
sleep 1
n=$(grep -c 'tok-111' "$PUSHLOG")
[ "$n" -eq 1 ]
ok $? "self-sent mail does not notify (POSTs of tok-111: $n)"

meta $C q9mr3faue set INBOX /private/devicetoken gone-333 >/dev/null
meta $C q9mr3faue set INBOX /private/devicetoken keep-444 >/dev/null
deliver $A $C
wait_push "gone-333$" && wait_push "keep-444$"
ok $? "both tokens of the third user POSTed"
for _ in $(seq 1 100); do
	grep -q gone-333 "$MBOX/$C/metadata.json" || break
	sleep 0.05
done
got=$(meta $C q9mr3faue get INBOX /private/devicetoken)
[ "$got" = "keep-444" ]
ok $? "410 removed the dead token (left: '$got')"

# a queued item survives a restart (written while the service is down)
stop_pid "$METADATA_PID"
printf '%s\n%s\n%s' "$A" "$(date +%s)" "restart-555" \
	>"$MBOX/pending_notifications/0123456789abcdef0123456789abcdef"
chown vmail:vmail "$MBOX/pending_notifications/"*
metadata_start
wait_push "restart-555$"
ok $? "a queued notification is sent after a restart"

# the fixture: upstream's layout, served unchanged
check "fixture: the queued item found at start was POSTed" \
	grep -q 'queued-tok-1$' "$PUSHLOG"
meta fixture01@example.test fixturepw1 caps >/dev/null
ok $? "fixture: login with the stored SHA512-CRYPT hash"
! meta fixture01@example.test wrongpass1 caps >/dev/null 2>&1
ok $? "fixture: a wrong password is refused"
check "fixture: password file unchanged" \
	cmp "$W/fixture.orig/fixture01@example.test/password" \
	"$MBOX/fixture01@example.test/password"
check "fixture: no account was created for it" \
	bash -c "! grep -q 'Created address: fixture' '$SVCLOG'"
got=$(meta fixture01@example.test fixturepw1 get INBOX /private/devicetoken)
[ "$got" = "legacy-tok-1 legacy-tok-2" ]
ok $? "fixture: legacy token list served (got '$got')"
check "fixture: legacy list migrated to the dict form" \
	grep -qE '^\{"devicetoken": \{"legacy-tok-1": [0-9]+, "legacy-tok-2": [0-9]+\}\}$' \
	"$MBOX/fixture01@example.test/metadata.json"
got=$(meta fixture02@example.test fixturepw2 get INBOX /private/devicetoken)
[ "$got" = "new-tok-1" ]
ok $? "fixture: current token form served (got '$got')"
check "fixture: current form left byte for byte" \
	cmp "$W/fixture.orig/fixture02@example.test/metadata.json" \
	"$MBOX/fixture02@example.test/metadata.json"
n=$(curl -s --max-time 10 --cacert "$CA" \
	"imaps://127.0.0.1:$IMAPS_PORT/INBOX" -u fixture02@example.test:fixturepw2 \
	-X 'SEARCH ALL')
echo "$n" | grep -q '^\* SEARCH 1'
ok $? "fixture: the stored message is there (curl imaps SEARCH)"

check "no service errors logged" bash -c "! grep -E 'level=error' '$SVCLOG'"
check "the push server's answer bodies are not printed" \
	bash -c "! grep -q pushserver-answer-body '$SVCLOG'"
tap_done
