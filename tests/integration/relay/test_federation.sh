#!/usr/bin/env bash
# test_federation: two local relays deliver to each other through
# filtermail transport (delivery mode Transport, the default: HTTPS
# /mxdeliv first, SMTP on port 25 with STARTTLS second; the channels
# themselves are tests/integration/relay/test_transport.sh) with DKIM,
# found through the test DNS server (MX, A, DKIM TXT). A message with a real Subject arrives rewritten to "[...]" under
# a valid signature; a message to a user the other relay lacks comes
# back as a DKIM-signed bounce that the sending relay accepts. Messages another MTA hands to port 25 are checked
# as upstream's filtermail incoming does: a forged sender without a
# signature, with a signature from a key not in DNS, or signed for
# another domain, is refused with 554; a correctly signed one
# (python3-dkim with e2e1's key) is delivered; cleartext to an account that enforces encryption gets
# 523. A message held in e2e1's queue (e2e2 down) shows the
# DKIM-Signature e2e1 added and is delivered once e2e2 is back. HTTPS
# delivery to /mxdeliv goes through nginx to filtermail too.
# shellcheck source=tests/integration/lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source=tests/integration/relay/lib.sh
. "$(dirname "$0")/lib.sh"

relay_prereqs
tap_init
relay_workdir relay-federation
t0=$(date +%s.%N)
relays_up "$W" 2 || { ok 1 "relays e2e1 e2e2 up"; tap_done; }
ok 0 "relays e2e1 e2e2 up ($(awk "BEGIN{printf \"%.1f\", $(date +%s.%N) - $t0}") s)"

D1=$(renv "$ENV1" DOMAIN)
D2=$(renv "$ENV2" DOMAIN)
read -r A PA < <(new_account "$ENV1")
read -r B PB < <(new_account "$ENV2")
K=$W/gnupg
rc genkey "$K" "$B" >/dev/null 2>&1
ok $? "accounts A@e2e1, B@e2e2 and B's key"

# DNS as the relays see it (from inside e2e1's namespace)
NS1=$(renv "$ENV1" NETNS)
if [ -n "$NS1" ]; then
	mx=$(ip netns exec "$NS1" "$PY" -c "
import dns.resolver
print(dns.resolver.resolve('$D2', 'MX')[0].exchange)" 2>&1)
	[ "$mx" = "$D2." ]
	ok $? "e2e1 resolves e2e2's MX through the test DNS ($mx)"
	txt=$(ip netns exec "$NS1" "$PY" -c "
import dns.resolver
print(b''.join(dns.resolver.resolve('opendkim._domainkey.$D2', 'TXT')[0].strings).decode())" 2>&1)
	[ "$txt" = "$(renv "$ENV2" DKIM_TXT)" ]
	ok $? "e2e1 resolves e2e2's DKIM key TXT (split into 255-byte strings)"
else
	skip "MX lookup between relays" "loopback fallback: no federation"
	skip "DKIM TXT lookup between relays" "loopback fallback: no federation"
	tap_done
fi

# relay to relay: submission on e2e1, Postfix hands it to e2e1's
# filtermail transport (LMTP), which posts it to https://e2e2/mxdeliv
id="fed-$RANDOM@e2e.test"
rc send "$ENV1" "$A" "$PA" "$B" --keydir "$K" --msgid "$id" >/dev/null
rc fetch "$ENV2" "$B" "$PB" "$id" >"$W/fed.eml" 2>/dev/null
ok $? "A@e2e1 -> B@e2e2 delivered"
L1=$(renv "$ENV1" LOG)/postfix.log
grep -q "postfix/lmtp-filtermail/lmtp\[[0-9]*\]: [0-9A-F]*: to=<$B>, relay=127.0.0.1\[127.0.0.1\]:10083,.*status=sent (250 OK (HTTPS))" "$L1"
ok $? "e2e1's Postfix handed it to filtermail transport, which delivered it over HTTPS"

# a real Subject: e2e1 rewrites it to "[...]" (as upstream's authclean)
# and signs what it sends, so e2e2's filtermail incoming, which refuses
# anything without a valid signature (554), lets it through
id="subject-$RANDOM@e2e.test"
rc send "$ENV1" "$A" "$PA" "$B" --keydir "$K" --msgid "$id" \
	--subject "lunch at noon?" >/dev/null
rc fetch "$ENV2" "$B" "$PB" "$id" >"$W/subject.eml" 2>/dev/null
ok $? "A@e2e1 -> B@e2e2 with Subject 'lunch at noon?': DKIM valid at e2e2, delivered"
grep -qx 'Subject: \[\.\.\.\]' "$W/subject.eml" && ! grep -q 'noon' "$W/subject.eml" &&
	! grep -qiE '^(X-Mailer|User-Agent|X-Originating-IP):' "$W/subject.eml"
ok $? "it arrives as Subject [...], without X-Mailer/User-Agent/X-Originating-IP"

# a bounce between relays: A@e2e1 writes to an address e2e2 does not
# have; e2e2's Dovecot refuses it, e2e2's Postfix bounces it, e2e2's
# filtermail milter DKIM-signs the bounce (non_smtpd_milters), and e2e1's
# filtermail incoming, which refuses unsigned mail, lets it through to A
NOBODY="nobody$RANDOM@$D2"
rc genkey "$K" "$NOBODY" >/dev/null 2>&1
id="bounce-$RANDOM@e2e.test"
rc send "$ENV1" "$A" "$PA" "$NOBODY" --keydir "$K" --msgid "$id" >/dev/null
ok $? "A@e2e1 -> $NOBODY (no such user) accepted by e2e1"
$PY - "$RC_PY" "$ENV1" "$A" "$PA" "$id" >"$W/bounce.eml" 2>&1 <<'PYEOF'
import importlib.util, sys, time
spec = importlib.util.spec_from_file_location("rc", sys.argv[1])
rc = importlib.util.module_from_spec(spec)
spec.loader.exec_module(rc)
env = rc.load_env(sys.argv[2])
user, pw, msgid = sys.argv[3:6]
deadline = time.time() + 60
while time.time() < deadline:
    m = rc.imap(env, "993")
    m.login(user, pw)
    m.select("INBOX")
    typ, dat = m.search(None, "FROM", "MAILER-DAEMON", "TEXT", msgid)
    ids = dat[0].split()
    if ids:
        typ, dat = m.fetch(ids[-1], "(RFC822)")
        sys.stdout.write(dat[0][1].decode(errors="replace"))
        sys.exit(0)
    m.logout()
    time.sleep(0.5)
sys.exit(1)
PYEOF
ok $? "e2e2's bounce reached A's INBOX on e2e1"
L2=$(renv "$ENV2" LOG)
grep -q "to=<$NOBODY>.*status=bounced" "$L2/postfix.log" &&
	grep -q 'DKIM-Signature field added (s=opendkim, d='"$D2"')' "$L2/filtermail-outgoing.log"
ok $? "e2e2 bounced it and its filtermail milter signed the bounce (d=$D2)"
grep -qi "Incoming: Filtering mailer-daemon message from mailer-daemon@$D2" \
	"$(renv "$ENV1" LOG)/filtermail-incoming.log" &&
	grep -qi "^From: .*MAILER-DAEMON@$D2" "$W/bounce.eml" &&
	grep -q "^Content-Type: multipart/report" "$W/bounce.eml"
ok $? "e2e1's filtermail incoming checked it as a mailer-daemon report (DKIM valid) and A has it"

# the DKIM-Signature is on the message before it leaves e2e1: hold it
# in e2e1's queue (e2e2's Postfix stopped) and read the queue file
"$RELAY_HARNESS" stop e2e2 postfix >/dev/null 2>&1
ok $? "e2e2's Postfix stopped"
id="held-$RANDOM@e2e.test"
rc send "$ENV1" "$A" "$PA" "$B" --keydir "$K" --msgid "$id" >/dev/null
ok $? "A submits to B while e2e2 is down (accepted by e2e1)"
for ((i = 0; i < 50; i++)); do
	qid=$(relay_postfix "$ENV1" postqueue -j 2>/dev/null | jq -r 'select(.recipients[0].address == "'"$B"'") | .queue_id' | head -n 1)
	[ -n "$qid" ] && break
	sleep 0.2
done
relay_postfix "$ENV1" postcat -hq "$qid" >"$W/held.txt" 2>&1
grep -qE "^DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/simple; d=$D1;" "$W/held.txt" &&
	grep -qE "^[[:space:]]+s=opendkim;" "$W/held.txt"
ok $? "the queued message carries e2e1's DKIM-Signature (d=$D1, s=opendkim)"
grep -qx 'Subject: \[\.\.\.\]' "$W/held.txt" && ! grep -qiE '^(X-Mailer|User-Agent|Received):' "$W/held.txt"
ok $? "and is already cleaned (Subject [...], no Received/X-Mailer/User-Agent) before it leaves"
"$RELAY_HARNESS" start e2e2 postfix >/dev/null 2>&1
relay_postfix "$ENV1" postqueue -f
rc fetch "$ENV2" "$B" "$PB" "$id" >/dev/null 2>&1
ok $? "after e2e2's Postfix is back and e2e1's queue is flushed, B has it"

# as another MTA on e2e2's port 25
KEY1=$(renv "$ENV1" ROOT)/dkim/opendkim.private
openssl genrsa -out "$W/other.key" 2048 >/dev/null 2>&1
check "forged sender without a DKIM signature is refused with 554" \
	rc send25 "$ENV2" "$A" "$B" --keydir "$K" --expect "554 5.7.1 No DKIM signature found"
check "a signature from a key not in DNS is refused with 554" \
	rc send25 "$ENV2" "$A" "$B" --keydir "$K" --sign-key "$W/other.key" \
	--expect "554 5.7.1 No valid DKIM signature found"
check "a valid signature by another domain than From's is refused (strict alignment)" \
	rc send25 "$ENV2" "someone@$D2" "$B" --keydir "$K" --sign-key "$KEY1" \
	--sign-domain "$D1" --expect "554 5.7.1 No valid DKIM signature found"
id="signed-$RANDOM@e2e.test"
check "a message signed with e2e1's key is accepted on e2e2:25" \
	rc send25 "$ENV2" "$A" "$B" --keydir "$K" --sign-key "$KEY1" --msgid "$id"
rc fetch "$ENV2" "$B" "$PB" "$id" >/dev/null 2>&1
ok $? "and delivered to B"
check "signed cleartext to an account enforcing encryption gets 523" \
	rc send25 "$ENV2" "$A" "$B" --plain --sign-key "$KEY1" --expect 523

# HTTPS delivery: POST /mxdeliv through nginx to filtermail incoming HTTP
id="mxdeliv-$RANDOM@e2e.test"
$PY - "$RC_PY" "$ENV2" "$A" "$B" "$K" "$KEY1" "$id" >"$W/mxdeliv.out" 2>&1 <<'PYEOF'
import importlib.util, socket, sys, http.client
spec = importlib.util.spec_from_file_location("rc", sys.argv[1])
rc = importlib.util.module_from_spec(spec)
spec.loader.exec_module(rc)
env = rc.load_env(sys.argv[2])
frm, to, keydir, key, msgid = sys.argv[3:8]
data = rc.dkim_sign(rc.message(frm, to, msgid, keydir), frm.split("@")[1], key)
port = int(env["HTTPS_PORT"])
conn = http.client.HTTPSConnection(env["DOMAIN"], port, timeout=30)
conn.sock = rc.tls_context(env).wrap_socket(
    socket.create_connection((env["ADDR"], port), 30),
    server_hostname=env["DOMAIN"])
conn.request("POST", "/mxdeliv", body=data,
             headers={"X-MAIL-FROM": frm, "X-MAIL-TO": to})
r = conn.getresponse()
print(r.status, r.read().decode(errors="replace"))
sys.exit(0 if r.status == 200 else 1)
PYEOF
ok $? "POST https://e2e2/mxdeliv with a signed message: 200 ($(head -c 80 "$W/mxdeliv.out"))"
rc fetch "$ENV2" "$B" "$PB" "$id" >/dev/null 2>&1
ok $? "the /mxdeliv message is delivered"

tap_done
