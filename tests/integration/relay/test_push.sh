#!/usr/bin/env bash
# test_push: push notifications end to end. A relay whose
# push.notificationUrl points at an HTTPS endpoint inside its own network
# namespace (a Python server with a certificate chatmail-metadata trusts
# through -c); B stores a device token with IMAP SETMETADATA; a message
# from A to B makes Dovecot's LMTP Lua hook write /private/messagenew,
# chatmail-metadata queue a notification and POST B's token to the
# endpoint. A message B sends to itself notifies nobody (upstream's Lua:
# only when the sender is not the user).
# shellcheck source=tests/integration/lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source=tests/integration/relay/lib.sh
. "$(dirname "$0")/lib.sh"

relay_prereqs
[ -x "$BIN/chatmail-metadata" ] || { echo "1..0 # SKIP chatmail-metadata not built"; exit 0; }
tap_init
relay_workdir relay-push

PUSH_PORT=9443
# the endpoint's certificate (for 127.0.0.1, inside the relay's namespace)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -noenc -days 2 \
	-keyout "$W/push.key" -out "$W/push.crt" -subj /CN=push.test \
	-addext "subjectAltName=IP:127.0.0.1" >/dev/null 2>&1
chmod 644 "$W/push.crt" "$W/push.key"
cat >"$W/relay.yaml" <<EOF
apiVersion: chatmail.at/v1alpha1
kind: ChatmailRelay
metadata: {name: e2e1}
spec:
  domain: _e2e1.chat.test
  network: {disableIPv6: true}
  iroh: {enabled: false}
  systemLimits: {maxLoad1m: 1000, minAvailableMemory: 1M, minFreeDiskSpace: 1M}
  push: {notificationUrl: "https://127.0.0.1:$PUSH_PORT/notify"}
EOF
export LOCAL_RELAY_PUSH_CA=$W/push.crt
relays_up "$W" 1 "$W/relay.yaml" || { ok 1 "relay e2e1 up"; tap_done; }
ok 0 "relay e2e1 up with notificationUrl https://127.0.0.1:$PUSH_PORT/notify"

NS=$(renv "$ENV1" NETNS)
if [ -z "$NS" ]; then
	skip "push endpoint" "loopback fallback: the endpoint would listen on the host"
	tap_done
fi
cat >"$W/push.py" <<'PYEOF'
import http.server, ssl, sys
log = open(sys.argv[1], "a", buffering=1)
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        log.write(f"{self.path} {body.decode(errors='replace')}\n")
        self.send_response(200)
        self.end_headers()
    def log_message(self, *a):
        pass
srv = http.server.HTTPServer(("127.0.0.1", int(sys.argv[2])), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[3], sys.argv[4])
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
srv.serve_forever()
PYEOF
: >"$W/push.log"
ip netns exec "$NS" "$PY" "$W/push.py" "$W/push.log" $PUSH_PORT "$W/push.crt" "$W/push.key" \
	</dev/null >"$W/push.out" 2>&1 &
PUSH_PID=$!
on_exit "stop_pid $PUSH_PID"
for ((i = 0; i < 100; i++)); do
	ip netns exec "$NS" bash -c "exec 3<>/dev/tcp/127.0.0.1/$PUSH_PORT" 2>/dev/null && break
	sleep 0.1
done
ok $? "HTTPS push endpoint listens in the relay's namespace"

read -r A PA < <(new_account "$ENV1")
read -r B PB < <(new_account "$ENV1")
K=$W/gnupg
rc genkey "$K" "$B" >/dev/null 2>&1 && rc genkey "$K" "$A" >/dev/null 2>&1
ok $? "accounts A and B with keys"

TOKB="openpgp:tokB-$RANDOM$RANDOM"
TOKA="openpgp:tokA-$RANDOM$RANDOM"
check "B stores a device token (SETMETADATA /private/devicetoken)" \
	rc setmetadata "$ENV1" "$B" "$PB" "$TOKB"
check "A stores a device token" rc setmetadata "$ENV1" "$A" "$PA" "$TOKA"
MB=$(renv "$ENV1" MAILBOXES)
grep -q "tokB" "$MB/$B/metadata.json" 2>/dev/null
ok $? "the token is in B's metadata.json (upstream's format)"

# A -> B: B's token is POSTed
id="push-$RANDOM@e2e.test"
t0=$(date +%s.%N)
rc send "$ENV1" "$A" "$PA" "$B" --keydir "$K" --msgid "$id" >/dev/null
for ((i = 0; i < 200; i++)); do
	grep -q "$TOKB" "$W/push.log" && break
	sleep 0.1
done
grep -qx "/notify $TOKB" "$W/push.log"
ok $? "a message to B POSTs B's token to the endpoint ($(awk "BEGIN{printf \"%.2f\", $(date +%s.%N) - $t0}") s after submission)"
rc fetch "$ENV1" "$B" "$PB" "$id" >/dev/null 2>&1
ok $? "and the message is in B's INBOX"

# A -> A: self-sent, no notification for A
id="self-$RANDOM@e2e.test"
rc send "$ENV1" "$A" "$PA" "$A" --keydir "$K" --msgid "$id" >/dev/null
rc fetch "$ENV1" "$A" "$PA" "$id" >/dev/null 2>&1
sleep 2
! grep -q "$TOKA" "$W/push.log"
ok $? "a message A sends to itself notifies nobody"
[ "$(grep -c . "$W/push.log")" -eq 1 ]
ok $? "exactly one notification was sent ($(grep -c . "$W/push.log"))"

tap_done
