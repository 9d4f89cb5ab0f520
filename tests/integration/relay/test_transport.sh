#!/usr/bin/env bash
# test_transport: filtermail transport, the remote delivery of a relay
# in delivery mode Transport (the default), between two local relays and
# against misbehaving servers, with real Postfix, nginx and filtermail on
# both sides.
#
# e2e1 -> e2e2 over HTTPS /mxdeliv when e2e1 cannot reach e2e2's port 25
# (an iptables rule in e2e1's namespace), the copy e2e2 queued verifies
# DKIM with e2e1's key; over SMTP (verified STARTTLS not required: "_"
# domains are self-signed) when 443 is blocked; after an SMTP success
# HTTPS is skipped for that MX host for FILTERMAIL_SMTP_PREFER_SECONDS
# (6 here instead of 1800), then tried again; MX failover past a host
# that refuses; NXDOMAIN and a null MX bounce to the sender with
# upstream's texts, SERVFAIL defers; a remote 5xx over HTTPS (e2e2
# cannot verify e2e1's DKIM key) bounces to the sender, a remote 4xx
# (e2e2's Postfix down behind /mxdeliv) defers and is delivered on the
# retry; the transport killed while it holds a message loses nothing;
# SIGTERM while a message waits for its MX lookup: 421 4.3.2 at once,
# then sent once by the next transport.
# Bad answers (mx_fake.py in a namespace of its own, trusted through
# SSL_CERT_FILE): HTTP 200 with garbage, a redirect (not followed), a
# huge answer, no answer, a certificate for another name: each a 4xx
# with a reason in Postfix's log and a log line of the transport.
# Last, e2e1 in delivery mode PostfixSMTP: Postfix's own smtp client
# delivers on port 25.
# shellcheck source=tests/integration/lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source=tests/integration/relay/lib.sh
. "$(dirname "$0")/lib.sh"

relay_prereqs
command -v iptables >/dev/null || { echo "1..0 # SKIP iptables missing"; exit 0; }
tap_init
relay_workdir relay-transport
t0=$(date +%s.%N)
relays_up "$W" 2 || { ok 1 "relays e2e1 e2e2 up"; tap_done; }
ok 0 "relays e2e1 e2e2 up ($(awk "BEGIN{printf \"%.1f\", $(date +%s.%N) - $t0}") s)"
if [ "$(renv "$ENV1" MODE)" != netns ]; then
	skip "transport between relays" "loopback fallback: no federation"
	tap_done
fi

D1=$(renv "$ENV1" DOMAIN)
D2=$(renv "$ENV2" DOMAIN)
A2=$(renv "$ENV2" ADDR)
NS1=$(renv "$ENV1" NETNS)
L1=$(renv "$ENV1" LOG)
L2=$(renv "$ENV2" LOG)
TP1=$L1/filtermail-transport.log
# start_transport: start e2e1's transport, and wait until it listens
# (start returns once the process runs; a flush before it listens gets
# "connection refused" and the message waits for Postfix's next retry)
# (start_transport restart: the same after a restart)
start_transport() {
	local i
	"$RELAY_HARNESS" "${1:-start}" e2e1 filtermail-transport >/dev/null 2>&1 || return 1
	for ((i = 0; i < 100; i++)); do
		ip netns exec "$NS1" bash -c ': >/dev/tcp/127.0.0.1/10083' 2>/dev/null && return 0
		sleep 0.1
	done
	echo "# e2e1's transport does not listen on 10083 after 10 s"
	return 1
}
K=$W/gnupg
read -r A PA < <(new_account "$ENV1")
read -r B PB < <(new_account "$ENV2")
rc genkey "$K" "$B" >/dev/null 2>&1
ok $? "accounts A@e2e1, B@e2e2 and B's key"

# the namespace network of the relays (TAG, NET, net_veth, ...)
# shellcheck source=hack/local-relay-net.sh
. "$TOP/hack/local-relay-net.sh"
DEAD=$DNS_ADDR # the DNS namespace: nothing listens on 25 or 443 there
FAKE_NS=cm$TAG-fake
FAKE=$NET.3

# the transport as tests want it: a short SMTP preference and timeout,
# the test CA trusted (the fake servers' certificates)
C=$W/certs
mkdir -p "$C"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -noenc \
	-days 2 -subj /CN=transport-test-ca -keyout "$C/ca.key" -out "$C/ca.pem" \
	>/dev/null 2>&1
leaf() { # leaf NAME SAN
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -noenc \
		-subj "/CN=$1" -keyout "$C/$1.key" -out "$C/$1.csr" >/dev/null 2>&1 &&
		openssl x509 -req -in "$C/$1.csr" -CA "$C/ca.pem" -CAkey "$C/ca.key" \
			-days 2 -extfile <(echo "subjectAltName=$2") -out "$C/$1.pem" \
			>/dev/null 2>&1
}
leaf fake "DNS:garbage.test,DNS:redirect.test,DNS:huge.test,DNS:slow.test" &&
	leaf wrong "DNS:other.test"
ok $? "a test CA and the fake servers' certificates"
SSL_CERT_FILE=$C/ca.pem FILTERMAIL_SMTP_PREFER_SECONDS=6 \
	FILTERMAIL_TRANSPORT_TIMEOUT=4 \
	start_transport restart
ok $? "e2e1's transport restarted (preference 6 s, timeout 4 s, test CA)"

# the fake servers in a namespace of their own, DNS names for them
ip netns add "$FAKE_NS" && net_veth "$FAKE_NS" "cm${TAG}hf" "$FAKE"
on_exit "ip netns del '$FAKE_NS' 2>/dev/null"
ip netns exec "$FAKE_NS" "$PY" "$RELAY_DIR/mx_fake.py" "$FAKE" "$C" \
	"$W/fake.log" >"$W/fake.out" 2>&1 &
FAKE_PID=$!
on_exit "stop_pid $FAKE_PID"
cat >"$LOCAL_RELAY_BASE/dns-extra.conf" <<EOF
mx-host=$D2,dead.$D2,5
host-record=dead.$D2,$DEAD
local=/test/
mx-host=null.test,.,0
server=/servfail.test/$FAKE#5353
host-record=garbage.test,$FAKE
host-record=redirect.test,$FAKE
host-record=huge.test,$FAKE
host-record=slow.test,$FAKE
host-record=wrongname.test,$FAKE
EOF
"$TOP/hack/relay-dns.sh" reload >/dev/null && wait_port "$FAKE" 443 10
ok $? "fake servers at $FAKE, DNS: a dead MX (pref 5) before $D2, the fakes"

# iptables in e2e1's namespace: refuse e2e2's port $1
block() { ip netns exec "$NS1" iptables -A OUTPUT -d "$A2" -p tcp --dport "$1" -j REJECT --reject-with tcp-reset; }
unblock() { ip netns exec "$NS1" iptables -F OUTPUT; }
on_exit "ip netns exec '$NS1' iptables -F OUTPUT 2>/dev/null"

# send_to RCPT MSGID: A@e2e1 submits an encrypted message to RCPT
send_to() {
	rc genkey "$K" "$1" >/dev/null 2>&1
	rc send "$ENV1" "$A" "$PA" "$1" --keydir "$K" --msgid "$2" >/dev/null
}
# status MSGID: e2e1's last lmtp-filtermail result for it ("status=...")
status() {
	local qid
	qid=$(sed -n "s/.*cleanup\[[0-9]*\]: \([0-9A-F]*\): message-id=<$1>.*/\1/p" "$L1/postfix.log" | tail -n 1)
	[ -n "$qid" ] || return 1
	grep "lmtp-filtermail.*: $qid: to=" "$L1/postfix.log" | tail -n 1 | sed 's/.*\(status=.*\)/\1/'
}
# wait_status MSGID REGEX: until its status matches (30 s)
wait_status() {
	local i s
	for ((i = 0; i < 150; i++)); do
		s=$(status "$1") && [[ $s =~ $2 ]] && return 0
		sleep 0.2
	done
	echo "# $1: ${s:-no status} (want $2)"
	return 1
}
flush1() { relay_postfix "$ENV1" postqueue -f; }

# 1. HTTPS when port 25 is blocked; the queued copy verifies DKIM
block 25
"$RELAY_HARNESS" stop e2e2 dovecot >/dev/null 2>&1
id="https-$RANDOM@e2e.test"
send_to "$B" "$id"
wait_status "$id" 'status=sent \(250 OK \(HTTPS\)\)'
ok $? "port 25 blocked: e2e1 -> e2e2 over HTTPS (250 OK (HTTPS))"
grep -q "Delivered to $D2 over HTTPS" "$TP1" &&
	grep -q '"POST /mxdeliv HTTP/[0-9.]*" 200 ' "$L2/nginx-access.log"
ok $? "the transport logged it, e2e2's nginx answered POST /mxdeliv with 200"
for ((i = 0; i < 50; i++)); do
	qid=$(relay_postfix "$ENV2" postqueue -j 2>/dev/null | jq -r 'select(.recipients[0].address == "'"$B"'") | .queue_id' | head -n 1)
	[ -n "$qid" ] && break
	sleep 0.2
done
relay_postfix "$ENV2" postcat -bhq "$qid" >"$W/queued.eml" 2>/dev/null
$PY - "$W/queued.eml" "opendkim._domainkey.$D1" "$(renv "$ENV1" DKIM_TXT)" <<'PYEOF'
import dkim, sys
data = open(sys.argv[1], "rb").read().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
name, txt = sys.argv[2], sys.argv[3].encode()
ok = dkim.verify(data, dnsfunc=lambda n, timeout=5: txt if n.decode().rstrip(".") == name else None)
sys.exit(0 if ok and b"d=_e2e1" in data else 1)
PYEOF
ok $? "the copy e2e2 queued after HTTPS carries e2e1's DKIM signature and it verifies"
"$RELAY_HARNESS" start e2e2 dovecot >/dev/null 2>&1
relay_postfix "$ENV2" postqueue -f
rc fetch "$ENV2" "$B" "$PB" "$id" >/dev/null 2>&1
ok $? "and B has it once e2e2's Dovecot is back"
unblock

# 2. SMTP when 443 is blocked; then the SMTP preference and its end
block 443
id="smtp-$RANDOM@e2e.test"
send_to "$B" "$id"
wait_status "$id" 'status=sent \(250 OK \(SMTP\)\)'
ok $? "port 443 blocked: over SMTP (250 OK (SMTP))"
grep -q "HTTPS delivery to $D2 failed" "$TP1" &&
	grep -qE "STARTTLS with $D2 \($A2:25\): TLSv1\.[23]" "$TP1"
ok $? "HTTPS failed first (logged), the SMTP session to e2e2:25 used STARTTLS"
unblock
t_smtp=$(date +%s)
id="prefer-$RANDOM@e2e.test"
send_to "$B" "$id"
wait_status "$id" 'status=sent \(250 OK \(SMTP\)\)'
ok $? "443 open again, within the preference period: still SMTP"
left=$((t_smtp + 7 - $(date +%s)))
[ "$left" -gt 0 ] && sleep "$left"
id="prefer2-$RANDOM@e2e.test"
send_to "$B" "$id"
wait_status "$id" 'status=sent \(250 OK \(HTTPS\)\)'
ok $? "after the preference period (6 s): HTTPS again"
rc fetch "$ENV2" "$B" "$PB" "$id" >/dev/null 2>&1
ok $? "B has the messages"

# 3. MX failover: dead.$D2 (preference 5) refuses both channels
grep -q "Connection error relaying to mail server dead.$D2: connect to $DEAD:25" "$TP1"
ok $? "every delivery tried the dead MX host first (HTTPS and SMTP refused)"

# 4. DNS: NXDOMAIN and the null MX bounce, SERVFAIL defers
id="nx-$RANDOM@e2e.test"
send_to "user@nosuch.$D2" "$id"
wait_status "$id" "status=bounced .*512 Domain nosuch.$D2 does not exist"
ok $? "NXDOMAIN: 512 Domain ... does not exist, bounced"
id="null-$RANDOM@e2e.test"
send_to "user@null.test" "$id"
wait_status "$id" 'status=bounced .*556 5.1.10 Permanent failure: Recipient address has null MX'
ok $? "null MX: 556 5.1.10, bounced"
id="sf-$RANDOM@e2e.test"
send_to "user@servfail.test" "$id"
wait_status "$id" 'status=deferred .*421 DNS resolution failed for servfail.test'
ok $? "SERVFAIL: 421 DNS resolution failed, deferred"
$PY - "$RC_PY" "$ENV1" "$A" "$PA" <<'PYEOF'
import importlib.util, sys, time
spec = importlib.util.spec_from_file_location("rc", sys.argv[1])
rc = importlib.util.module_from_spec(spec)
spec.loader.exec_module(rc)
env = rc.load_env(sys.argv[2])
deadline = time.time() + 30
while time.time() < deadline:
    m = rc.imap(env, "993")
    m.login(sys.argv[3], sys.argv[4])
    m.select("INBOX")
    a = m.search(None, "FROM", "MAILER-DAEMON", "TEXT", '"does not exist"')[1][0].split()
    b = m.search(None, "FROM", "MAILER-DAEMON", "TEXT", '"null MX"')[1][0].split()
    m.logout()
    if a and b:
        sys.exit(0)
    time.sleep(0.5)
sys.exit(1)
PYEOF
ok $? "both bounces reached A's INBOX"

# 5. a remote 5xx over HTTPS: e2e2 cannot verify e2e1's signatures
# (another key in DNS), refuses with 554; Postfix bounces to A
cp "$ENV1" "$W/env1.saved"
openssl genrsa 2048 2>/dev/null | openssl rsa -pubout -outform DER 2>/dev/null | base64 -w 0 >"$W/otherkey"
sed -i "s|^DKIM_TXT=.*|DKIM_TXT=\"v=DKIM1;k=rsa;p=$(cat "$W/otherkey");s=email;t=s\"|" "$ENV1"
"$TOP/hack/relay-dns.sh" reload >/dev/null
id="dkimfail-$RANDOM@e2e.test"
send_to "$B" "$id"
wait_status "$id" "status=bounced .*554 5.7.1 No valid DKIM signature found \(forwarded from $D2\)"
ok $? "e2e2 refused over HTTPS with 554 (forwarded): bounced"
cp "$W/env1.saved" "$ENV1"
"$TOP/hack/relay-dns.sh" reload >/dev/null

# 6. a remote 4xx: e2e2's Postfix is down behind /mxdeliv (and 25)
"$RELAY_HARNESS" stop e2e2 postfix >/dev/null 2>&1
id="retry-$RANDOM@e2e.test"
send_to "$B" "$id"
wait_status "$id" "status=deferred .*451 4.3.0 Reinjection failed.* \(forwarded from $D2\)"
ok $? "e2e2's reinjection down: 451 forwarded over HTTPS, deferred"
"$RELAY_HARNESS" start e2e2 postfix >/dev/null 2>&1
flush1
wait_status "$id" 'status=sent \(250 OK \(HTTPS\)\)'
ok $? "retried after e2e2's Postfix is back: sent"
rc fetch "$ENV2" "$B" "$PB" "$id" >/dev/null 2>&1
ok $? "B has it"

# hold_and_signal SIG SECS PREFIX RULE...: with RULE in e2e1's OUTPUT
# chain, A submits a message to B (id PREFIX-N) that the transport then
# holds; SECS later the transport gets SIG (sets id and pid)
hold_and_signal() {
	local sig=$1 secs=$2
	ip netns exec "$NS1" iptables -A OUTPUT "${@:4}"
	id="$3-$RANDOM@e2e.test"
	send_to "$B" "$id"
	sleep "$secs"
	pid=$(cat "$(renv "$ENV1" ROOT)/pids/filtermail-transport.pid")
	kill "-$sig" "$pid"
}
# sent_again: the rule gone, a new transport and a flush deliver id to B
sent_again() {
	unblock
	start_transport
	flush1
	wait_status "$id" 'status=sent \(250 OK' &&
		rc fetch "$ENV2" "$B" "$PB" "$id" >/dev/null 2>&1
}

# 7. the transport killed while it holds a message: Postfix keeps it;
# the dead MX is refused at once, e2e2's HTTPS then waits for its
# timeout (4 s): after 2 s the transport holds the message
hold_and_signal KILL 2 kill -d "$A2" -p tcp -j DROP
wait_status "$id" 'status=deferred .*(lost connection|Connection reset|connect to)'
ok $? "SIGKILL mid-delivery: Postfix defers the message"
sent_again
ok $? "restarted and flushed: B has it (nothing lost)"

# 7b. SIGTERM while a message waits for its MX lookup (the transport's
# DNS queries dropped; a fresh transport has no cache): the drain
# answers 421 at once instead of delivering it later, when a Pod's
# Postfix may be gone (a duplicate); Postfix keeps it, the next
# transport sends it once
start_transport restart
hold_and_signal TERM 1 term -p udp --dport 53 -m owner --uid-owner vmail -j DROP
wait_status "$id" 'status=deferred \(.*421 4.3.2 Transport shutting down; nothing sent yet'
ok $? "SIGTERM during the MX lookup: 421 4.3.2 at once, Postfix defers"
for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
! kill -0 "$pid" 2>/dev/null && grep -q 'shutting down: 1 deliveries not started' "$TP1"
ok $? "the transport logged it and exited without waiting for DNS"
sent_again
ok $? "restarted and flushed: B has it"
[ "$(grep -c "message-id=<$id>" "$L2/postfix.log")" -eq 1 ]
ok $? "e2e2 got it once"

# 8. bad answers: each a 4xx with its reason, and a log line
bad() { # bad DOMAIN REGEX NAME
	local id="bad-$RANDOM@e2e.test"
	send_to "user@$1" "$id"
	wait_status "$id" "status=deferred .*$2"
	ok $? "$3"
}
SSL_CERT_FILE=$C/ca.pem FILTERMAIL_SMTP_PREFER_SECONDS=6 \
	FILTERMAIL_TRANSPORT_TIMEOUT=4 \
	start_transport restart
bad garbage.test '451 4.5.0 garbage.test answered HTTP 200 without an SMTP 2xx reply \(not understood\)' \
	"HTTP 200 with garbage: 451, no second try"
bad redirect.test '421 Failed to connect to any mail server; last attempt to redirect.test: .*HTTPS: HTTP 302 \(redirect not followed\)' \
	"302: not followed, SMTP refused: 421 naming both"
! grep -q ' /followed ' "$W/fake.log"
ok $? "the redirect target was never requested"
bad huge.test '451 4.5.0 huge.test answered HTTP 200 without an SMTP 2xx reply \(answer too long\)' \
	"an 8 MiB answer: stopped at 4 KiB, 451"
bad slow.test '451 4.4.2 No answer from slow.test after the message was sent over HTTPS' \
	"no answer within the timeout: 451 (may have arrived)"
bad wrongname.test 'last attempt to wrongname.test: .*HTTPS: .*(subject name|certificate)' \
	"a certificate for another name: refused, 421 naming it"
grep -qE 'HTTPS delivery to garbage.test failed: 451' "$TP1" &&
	grep -qE 'HTTPS delivery to wrongname.test failed: HTTPS: ' "$TP1"
ok $? "each logged by the transport"
! grep -q 'wrongname.test POST' "$W/fake.log"
ok $? "no request went to the server with the wrong certificate"

# 9. delivery mode PostfixSMTP: Postfix's own smtp client on port 25
"$RELAY_HARNESS" down e2e1 >/dev/null 2>&1
R1=$LOCAL_RELAY_BASE/e2e1
printf '  delivery: {mode: PostfixSMTP}\n' >>"$R1/relay.yaml"
"$RELAY_HARNESS" up e2e1 >"$W/up1b.log" 2>&1
ok $? "e2e1 up again in delivery mode PostfixSMTP"
! grep -q 'lmtp-filtermail' "$R1/postfix/master.cf" &&
	! [ -e "$R1/pids/filtermail-transport.pid" ]
ok $? "no lmtp-filtermail service, no transport running"
id="postfix-$RANDOM@e2e.test"
send_to "$B" "$id"
rc fetch "$ENV2" "$B" "$PB" "$id" >/dev/null 2>&1
ok $? "A@e2e1 -> B@e2e2 delivered"
grep -q "to=<$B>, relay=$D2\[$A2\]:25,.*status=sent" "$L1/postfix.log" &&
	grep -qE "TLS connection established to $D2\[$A2\]:25" "$L1/postfix.log"
ok $? "by Postfix's smtp client with STARTTLS to e2e2:25"

tap_done
