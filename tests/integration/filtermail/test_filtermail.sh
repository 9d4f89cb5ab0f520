#!/usr/bin/env bash
# test_filtermail.sh: filtermail between Debian's real Postfix and its
# reinject services, configured like upstream's master.cf: submission
# (STARTTLS, SASL via a real Dovecot passwd-file auth) with
# smtpd_proxy_filter to filtermail outgoing, an MX-like smtpd with
# smtpd_proxy_filter to filtermail incoming, reinject smtpds for both,
# and smtp-sink as the final destination (it dumps every message).
#
# The outgoing reinject smtpd uses an "authclean" cleanup service with
# upstream's submission_header_cleanup, as the relay does.
#
# Checks: encrypted mail (gpg, PGP/MIME) passes outgoing and arrives
# intact with a DKIM-Signature; one with a real (folded) Subject, headers
# that leak the client and no Date arrives with "Subject: [...]", those
# headers gone, a Date, and a signature python3-dkim verifies (filtermail
# cleans before it signs, so Postfix's rewrite does not break it); a
# bounce Postfix generates (non_smtpd_milters to filtermail's milter)
# comes back DKIM-signed, verified by python3-dkim; cleartext gets 523; the burst+1st message
# of a sender gets 450; incoming cleartext with dot lines arrives
# byte-exact; killing filtermail mid-DATA gives the client a 4xx and the
# retried message arrives exactly once; a dead reinject port gives 4xx
# and delivers nothing; HTTP /mxdeliv with curl (200, 405, 413, 400).
# shellcheck source=tests/integration/lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source=tests/integration/lib/dovecot.sh
. "$(dirname "$0")/../lib/dovecot.sh"
# shellcheck source=tests/integration/lib/postfix.sh
. "$(dirname "$0")/../lib/postfix.sh"

tap_init
W=$(workdir filtermail)
# workdir ran in a subshell, so its own cleanup did not register here
[ "${KEEP:-0}" = 1 ] || on_exit "rm -rf '$W'"
CLIENT="$PY $(dirname "$0")/smtpclient.py"
PW=secretpassword1

for p in SUB MX MX2 ROUT RIN FMOUT FMIN FMHTTP FMBAD FMBADHTTP FMMILT REJ DEAD SINKP IMAPP; do
	printf -v "$p" '%s' "$(free_port)"
done

# --- Dovecot: SASL for the submission service -----------------------
tls_cert "$W/certs"
printf '%s@example.test:{PLAIN}%s\n' alice "$PW" rate "$PW" carol "$PW" erin "$PW" >"$W/users"
chmod 644 "$W/users"
{
	dovecot_base_conf "$W"
	cat <<EOF
protocols = imap
auth_mechanisms = plain login
mail_location = maildir:$W/vmail/%u
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $W/users
}
userdb {
  driver = static
  args = uid=vmail gid=vmail home=$W/vmail/%u
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $IMAPP
  }
  inet_listener imaps {
    port = 0
  }
}
service auth {
  unix_listener auth-postfix {
    user = postfix
    group = postfix
    mode = 0600
  }
}
EOF
} >"$W/dovecot.conf"
dovecot_start "$W/dovecot.conf" || { ok 1 "dovecot starts"; tap_done; }

# --- smtp-sink, the final destination -------------------------------
sink_start "$W/sink" "$SINKP" || { ok 1 "smtp-sink starts"; tap_done; }

# --- Postfix ----------------------------------------------------------
# shellcheck disable=SC2016 # a Postfix regexp, not shell
printf '%s\n' '/^(.*)$/ ${1}' >"$W/login_map"
{
	postfix_main_base "$W"
	cat <<EOF
relay_domains = example.test, bounce.test
default_transport = smtp:[127.0.0.1]:$SINKP
relay_transport = smtp:[127.0.0.1]:$SINKP
smtpd_sasl_type = dovecot
smtpd_sasl_path = $W/dovecot/run/auth-postfix
smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination
smtpd_sender_login_maps = regexp:$W/login_map
message_size_limit = 100000
smtpd_proxy_timeout = 30s
# keep the long test lines whole on the way to smtp-sink
smtp_line_length_limit = 0
# bounces are DKIM-signed by filtermail's milter, as the relay does
non_smtpd_milters = inet:127.0.0.1:$FMMILT
internal_mail_filter_classes = bounce
# mail for bounce.test goes to an smtpd that refuses every recipient,
# so it bounces
transport_maps = texthash:$W/transport
EOF
printf 'bounce.test smtp:[127.0.0.1]:%s\n' "$REJ" >"$W/transport"
} >"$W/main.cf"
# upstream's header cleanup (the relay's renderer writes the same map)
printf '%s\n' '/^Received:/            IGNORE' '/^X-Originating-IP:/    IGNORE' \
	'/^X-Mailer:/            IGNORE' '/^User-Agent:/          IGNORE' \
	'/^Subject:/             REPLACE Subject: [...]' >"$W/submission_header_cleanup"
reinject() { # reinject PORT NAME RELAY_RESTRICTIONS [OPTION=VALUE...]
	cat <<EOF
127.0.0.1:$1 inet n - n - 100 smtpd
  -o syslog_name=postfix/$2
  -o smtpd_proxy_filter=
  -o content_filter=
  -o smtpd_client_restrictions=
  -o smtpd_helo_restrictions=
  -o smtpd_sender_restrictions=
  -o smtpd_recipient_restrictions=
  -o smtpd_relay_restrictions=$3
  -o smtpd_authorized_xforward_hosts=127.0.0.0/8
  -o smtpd_tls_security_level=none
EOF
	shift 3
	[ $# -eq 0 ] || printf '  -o %s\n' "$@"
}
{
	cat <<EOF
127.0.0.1:$SUB inet n - n - - smtpd
  -o syslog_name=postfix/submission
  -o smtpd_tls_security_level=encrypt
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_tls_auth_only=yes
  -o smtpd_client_restrictions=permit_sasl_authenticated,reject
  -o smtpd_sender_restrictions=reject_sender_login_mismatch,permit_sasl_authenticated,reject
  -o smtpd_recipient_restrictions=
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
  -o smtpd_proxy_filter=127.0.0.1:$FMOUT
127.0.0.1:$MX inet n - n - - smtpd
  -o syslog_name=postfix/mx
  -o smtpd_relay_restrictions=reject_unauth_destination
  -o smtpd_proxy_filter=127.0.0.1:$FMIN
127.0.0.1:$REJ inet n - n - - smtpd
  -o syslog_name=postfix/refuser
  -o smtpd_client_restrictions=reject
127.0.0.1:$MX2 inet n - n - - smtpd
  -o syslog_name=postfix/mx2
  -o smtpd_relay_restrictions=reject_unauth_destination
  -o smtpd_proxy_filter=127.0.0.1:$FMBAD
EOF
	reinject "$ROUT" reinject permit_mynetworks,reject \
		cleanup_service_name=authclean local_header_rewrite_clients=
	reinject "$RIN" reinject_incoming reject_unauth_destination
	cat <<EOF
authclean unix n - n - 0 cleanup
  -o header_checks=regexp:$W/submission_header_cleanup
EOF
	postfix_master_base
} >"$W/master.cf"
postfix_write "$W" "$W/main.cf" "$W/master.cf"
postfix_start "$W" || { ok 1 "postfix starts"; tap_done; }

# --- filtermail -------------------------------------------------------
mkdir -p "$W/dkim" "$W/mail/bob@example.test"
openssl genrsa -traditional -out "$W/dkim/opendkim.private" 2048 2>/dev/null
touch "$W/mail/bob@example.test/enforceE2EEincoming"
ini() { # ini SMTP_IN HTTP_IN REINJECT_IN
	cat <<EOF
[params]
mail_domain = example.test
max_user_send_per_minute = 1
max_user_send_burst_size = 3
max_message_size = 100000
filtermail_smtp_port = $FMOUT
filtermail_smtp_port_incoming = $1
filtermail_http_port_incoming = $2
postfix_reinject_port = $ROUT
postfix_reinject_port_incoming = $3
mailboxes_dir = $W/mail
dkim_key_file = $W/dkim/opendkim.private
filtermail_milter_port = $FMMILT
EOF
}
ini "$FMIN" "$FMHTTP" "$RIN" >"$W/chatmail.ini"
ini "$FMBAD" "$FMBADHTTP" "$DEAD" >"$W/bad.ini"

start_fm() { # start_fm INI MODE PORT LOG: sets FM_PID
	FILTERMAIL_SKIP_DKIM=1 FILTERMAIL_REJECTED_DIR='' \
		"$BIN/filtermail" "$1" "$2" </dev/null >>"$4" 2>&1 &
	FM_PID=$!
	on_exit "stop_pid $FM_PID"
	wait_port 127.0.0.1 "$3" 10
}
start_fm "$W/chatmail.ini" outgoing "$FMOUT" "$W/log/fm-out.log"
FMOUT_PID=$FM_PID
start_fm "$W/chatmail.ini" incoming "$FMIN" "$W/log/fm-in.log"
FMIN_PID=$FM_PID
start_fm "$W/bad.ini" incoming "$FMBAD" "$W/log/fm-bad.log"
check "filtermail logs upstream's ready line" \
	grep -q 'msg="entering serving loop"' "$W/log/fm-out.log"

# wait_dump MSGID [SECS]: until smtp-sink has a dump holding MSGID
wait_dump() {
	local i
	for ((i = 0; i < ${2:-15} * 10; i++)); do
		grep -qlF "$1" "$W"/sink/*.* 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# --- outgoing: an encrypted message from a real gpg ------------------
export GNUPGHOME=$W/gnupg
# gpg starts an agent: stop it with the test
on_exit "gpgconf --homedir '$GNUPGHOME' --kill gpg-agent >/dev/null 2>&1"
mkdir -p "$GNUPGHOME"
chmod 700 "$GNUPGHOME"
gpg --batch --passphrase '' --quick-gen-key 'bob <bob@example.test>' \
	future-default default never >/dev/null 2>&1
printf 'secret text\n' | gpg --batch --trust-model always --armor \
	--encrypt -r bob@example.test >"$W/payload.asc" 2>/dev/null
enc_msg() { # enc_msg FROM MSGID
	printf 'From: %s\r\nTo: bob@example.test\r\nSubject: [...]\r\n' "$1"
	printf 'Message-ID: <%s>\r\nMIME-Version: 1.0\r\n' "$2"
	printf 'Date: Sat, 28 Nov 2026 12:00:00 +0000\r\n'
	printf 'Content-Type: multipart/encrypted; protocol="application/pgp-encrypted"; boundary="b1"\r\n\r\n'
	printf 'This is an OpenPGP/MIME encrypted message\r\n--b1\r\n'
	printf 'Content-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n\r\n--b1\r\n'
	printf 'Content-Type: application/octet-stream; name="encrypted.asc"\r\n\r\n'
	sed 's/$/\r/' "$W/payload.asc"
	printf '\r\n--b1--\r\n'
}
enc_msg alice@example.test enc1@example.test >"$W/enc1.eml"
out=$($CLIENT send "$SUB" alice@example.test bob@example.test "$W/enc1.eml" --auth "alice@example.test:$PW")
ok "$([ "$out" = OK ] && echo 0 || echo 1)" "outgoing: encrypted message accepted ($out)"
wait_dump enc1@example.test
out=$($CLIENT compare "$W/sink" enc1@example.test "$W/enc1.eml")
ok "$([ "$out" = "SAME 1" ] && echo 0 || echo 1)" "outgoing: arrives once, body intact ($out)"
out=$($CLIENT header "$W/sink" enc1@example.test DKIM-Signature)
ok "$([[ $out == *"d=example.test"*"s=opendkim"* ]] && echo 0 || echo 1)" \
	"outgoing: carries a DKIM-Signature d=example.test s=opendkim"
pub=$(openssl rsa -in "$W/dkim/opendkim.private" -pubout -outform DER 2>/dev/null | base64 -w0)
out=$($CLIENT dkimverify "$W/sink" enc1@example.test "$pub")
ok "$([ "$out" = VALID ] && echo 0 || echo 1)" "outgoing: python3-dkim verifies the signature ($out)"

# a real Subject (folded), headers that leak the client, no Date
enc_msg alice@example.test enc2@example.test |
	sed -e '/^Date: /d' -e 's/^Subject: \[\.\.\.\]\r$/Subject: lunch at\r\n noon?\r\nX-Mailer: leaky 1.0\r\nUser-Agent: leaky\/2\r\nX-Originating-IP: [192.0.2.7]\r/' \
		>"$W/enc2.eml"
out=$($CLIENT send "$SUB" alice@example.test bob@example.test "$W/enc2.eml" --auth "alice@example.test:$PW")
ok "$([ "$out" = OK ] && grep -q '^ noon' "$W/enc2.eml" && echo 0 || echo 1)" \
	"outgoing: a message with Subject 'lunch at noon?' and X-Mailer accepted ($out)"
wait_dump enc2@example.test
out=$($CLIENT header "$W/sink" enc2@example.test Subject)
ok "$([ "$out" = 'Subject: [...]' ] && echo 0 || echo 1)" "outgoing: delivered with Subject [...] ($out)"
out=$($CLIENT header "$W/sink" enc2@example.test X-Mailer)$($CLIENT header "$W/sink" enc2@example.test User-Agent)$($CLIENT header "$W/sink" enc2@example.test X-Originating-IP)
ok "$([ -z "$out" ] && echo 0 || echo 1)" "outgoing: X-Mailer, User-Agent, X-Originating-IP gone ($out)"
out=$($CLIENT header "$W/sink" enc2@example.test Date)
ok "$([[ $out == "Date: "*" +0000" ]] && echo 0 || echo 1)" "outgoing: a missing Date was added ($out)"
out=$($CLIENT dkimverify "$W/sink" enc2@example.test "$pub")
ok "$([ "$out" = VALID ] && echo 0 || echo 1)" \
	"outgoing: python3-dkim verifies the signature over the rewritten Subject ($out)"
out=$($CLIENT compare "$W/sink" enc2@example.test "$W/enc2.eml")
ok "$([ "$out" = "SAME 1" ] && echo 0 || echo 1)" "outgoing: its body arrives intact ($out)"

# --- the signer threads: sessions that vanish while being signed -------
out=$(awk '/^Threads:/ { print $2 }' "/proc/$FMOUT_PID/status")
ok "$([ "${out:-0}" -ge 2 ] && echo 0 || echo 1)" \
	"outgoing: filtermail signs on its signer threads ($out threads)"
# 20 clients send a whole message to filtermail and hang up right after
# the final dot: their signatures are in the pool when the sessions go
# (20 senders: each within its rate limit burst)
enc_msg gone@example.test gone@example.test >"$W/gone.eml"
nenc=$(grep -c 'Outgoing: Filtering encrypted mail' "$W/log/fm-out.log")
$PY - "$FMOUT" "$W/gone.eml" <<'PYEOF'
import socket, sys
port, msg = int(sys.argv[1]), open(sys.argv[2], "rb").read()
socks, bodies = [], []
for i in range(20):
    sender = b"gone%d@example.test" % i
    bodies.append(msg.replace(b"gone@example.test", sender, 1))
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    f = s.makefile("rb")
    f.readline()
    s.sendall(b"EHLO gone\r\n")
    while f.readline()[3:4] == b"-":
        pass
    s.sendall(b"MAIL FROM:<" + sender + b">\r\n")
    f.readline()
    s.sendall(b"RCPT TO:<bob@example.test>\r\n")
    f.readline()
    s.sendall(b"DATA\r\n")
    f.readline()
    socks.append((s, f))
for (s, f), body in zip(socks, bodies):
    s.sendall(body + b".\r\n")
for s, f in socks:
    s.close()
PYEOF
sleep 0.5
out=$(grep -c 'Outgoing: Filtering encrypted mail' "$W/log/fm-out.log")
ok "$(pid_alive "$FMOUT_PID" && [ "$out" -ge $((nenc + 20)) ] && echo 0 || echo 1)" \
	"outgoing: filtermail lives on after 20 sessions vanished mid-signature (checked $nenc -> $out)"
enc_msg erin@example.test after@example.test >"$W/after.eml"
out=$($CLIENT send "$SUB" erin@example.test bob@example.test "$W/after.eml" --auth "erin@example.test:$PW")
wait_dump after@example.test
res=$($CLIENT dkimverify "$W/sink" after@example.test "$pub")
ok "$([ "$out" = OK ] && [ "$res" = VALID ] && echo 0 || echo 1)" \
	"outgoing: the next message is accepted and its signature verifies ($out, $res)"

# --- a bounce Postfix generates is signed by filtermail's milter ------
nsig=$(grep -c 'DKIM-Signature field added' "$W/log/fm-out.log")
enc_msg carol@example.test bounce1@example.test |
	sed 's/^To: bob@example.test/To: nobody@bounce.test/' >"$W/bounce1.eml"
out=$($CLIENT send "$SUB" carol@example.test nobody@bounce.test "$W/bounce1.eml" --auth "carol@example.test:$PW")
ok "$([ "$out" = OK ] && echo 0 || echo 1)" "bounce: a message to an address that bounces is accepted ($out)"
wait_dump bounce1@example.test
out=$($CLIENT header "$W/sink" bounce1@example.test From)
ok "$([ "$out" = "From: Mail Delivery System <MAILER-DAEMON@example.test>" ] && echo 0 || echo 1)" \
	"bounce: Postfix's bounce comes back to carol ($out)"
out=$($CLIENT header "$W/sink" bounce1@example.test DKIM-Signature)
ok "$([[ $out == *"d=example.test"*"s=opendkim"* ]] && echo 0 || echo 1)" \
	"bounce: it carries a DKIM-Signature d=example.test s=opendkim"
out=$($CLIENT dkimverify "$W/sink" bounce1@example.test "$pub")
ok "$([ "$out" = VALID ] && echo 0 || echo 1)" "bounce: python3-dkim verifies it ($out)"
out=$(grep -c 'msg="DKIM-Signature field added (s=opendkim, d=example.test)"' "$W/log/fm-out.log")
ok "$([ "$out" -eq $((nsig + 2)) ] && echo 0 || echo 1)" \
	"bounce: filtermail logged two signatures, the message's and the bounce's ($nsig -> $out)"

printf 'From: alice@example.test\r\nTo: bob@example.test\r\nSubject: hi\r\nMessage-ID: <clear1@example.test>\r\n\r\ncleartext\r\n' >"$W/clear1.eml"
out=$($CLIENT send "$SUB" alice@example.test bob@example.test "$W/clear1.eml" --auth "alice@example.test:$PW")
ok "$([[ $out == "ERR 523 "*"Encryption Needed"* ]] && echo 0 || echo 1)" \
	"outgoing: cleartext gets 523 ($out)"

# --- the rate limit: burst 3, then 450 ---------------------------------
rc=0
for i in 1 2 3 4; do
	enc_msg rate@example.test "rate$i@example.test" >"$W/rate$i.eml"
	out=$($CLIENT send "$SUB" rate@example.test bob@example.test "$W/rate$i.eml" --auth "rate@example.test:$PW")
	if [ "$i" -le 3 ] && [ "$out" != OK ]; then rc=1; diag "message $i: $out"; fi
done
ok $rc "rate limit: the first 3 messages (the burst) pass"
ok "$([[ $out == "ERR 450 4.7.1: Too much mail from <rate@example.test>"* ]] && echo 0 || echo 1)" \
	"rate limit: the 4th gets 450 4.7.1 ($out)"

# --- incoming: cleartext with dot lines, byte-exact -------------------
{
	printf 'From: carol@remote.test\r\nTo: dave@example.test\r\nSubject: dots\r\n'
	printf 'Message-ID: <in1@remote.test>\r\n\r\n'
	printf '.\r\n..\r\n.leading dot\r\n...three\r\n \r\nlast line without dots\r\n'
	head -c 3000 /dev/zero | tr '\0' 'x'
	printf '\r\n'
} >"$W/in1.eml"
out=$($CLIENT send "$MX" carol@remote.test dave@example.test "$W/in1.eml")
ok "$([ "$out" = OK ] && echo 0 || echo 1)" "incoming: cleartext to a non-E2EE recipient accepted ($out)"
wait_dump in1@remote.test
out=$($CLIENT compare "$W/sink" in1@remote.test "$W/in1.eml")
ok "$([ "$out" = "SAME 1" ] && echo 0 || echo 1)" "incoming: dot lines arrive byte-exact ($out)"
sed 's/in1@remote/in2@remote/; s/dave@/bob@/' "$W/in1.eml" >"$W/in2.eml"
out=$($CLIENT send "$MX" carol@remote.test bob@example.test "$W/in2.eml")
ok "$([[ $out == "ERR 523 "* ]] && echo 0 || echo 1)" "incoming: cleartext to an E2EE recipient gets 523 ($out)"

# --- killing filtermail mid-DATA loses nothing ------------------------
sed 's/in1@remote/kill1@remote/' "$W/in1.eml" >"$W/kill1.eml"
out=$($CLIENT killmid "$MX" carol@remote.test dave@example.test "$W/kill1.eml" "$FMIN_PID")
ok "$([[ $out == "ERR 4"* ]] && echo 0 || echo 1)" "kill mid-DATA: the client gets a 4xx ($out)"
start_fm "$W/chatmail.ini" incoming "$FMIN" "$W/log/fm-in.log"
FMIN_PID=$FM_PID
out=$($CLIENT send "$MX" carol@remote.test dave@example.test "$W/kill1.eml")
ok "$([ "$out" = OK ] && echo 0 || echo 1)" "kill mid-DATA: the retry is accepted ($out)"
wait_dump kill1@remote.test
sleep 1
out=$($CLIENT compare "$W/sink" kill1@remote.test "$W/kill1.eml")
ok "$([ "$out" = "SAME 1" ] && echo 0 || echo 1)" "kill mid-DATA: the message arrives exactly once ($out)"

# --- reinject port down: 4xx, nothing delivered -----------------------
sed 's/in1@remote/down1@remote/' "$W/in1.eml" >"$W/down1.eml"
out=$($CLIENT send "$MX2" carol@remote.test dave@example.test "$W/down1.eml")
ok "$([[ $out == "ERR 451 4.3.0 Reinjection failed"* ]] && echo 0 || echo 1)" \
	"reinject down: the client gets 451 ($out)"
sleep 1
ok "$(grep -qlF down1@remote.test "$W"/sink/*.* && echo 1 || echo 0)" \
	"reinject down: nothing was delivered"

# --- HTTP /mxdeliv -------------------------------------------------------
sed 's/in1@remote/http1@remote/' "$W/in1.eml" >"$W/http1.eml"
url=http://127.0.0.1:$FMHTTP/mxdeliv
out=$(curl -s -w ' %{http_code}' -X POST -H 'X-MAIL-FROM: carol@remote.test' \
	-H 'X-MAIL-TO: dave@example.test' --data-binary "@$W/http1.eml" "$url")
ok "$([ "$out" = "250 OK 200" ] && echo 0 || echo 1)" "mxdeliv: POST delivers, 200 '250 OK' ($out)"
wait_dump http1@remote.test
out=$($CLIENT compare "$W/sink" http1@remote.test "$W/http1.eml")
ok "$([ "$out" = "SAME 1" ] && echo 0 || echo 1)" "mxdeliv: the message arrives intact ($out)"
out=$(curl -s -o /dev/null -w '%{http_code}' "$url")
ok "$([ "$out" = 405 ] && echo 0 || echo 1)" "mxdeliv: GET gets 405 ($out)"
head -c 100001 /dev/zero | tr '\0' 'y' >"$W/big.eml"
out=$(curl -s -w ' %{http_code}' -X POST -H 'X-MAIL-FROM: carol@remote.test' \
	-H 'X-MAIL-TO: dave@example.test' --data-binary "@$W/big.eml" "$url")
ok "$([ "$out" = "552 Message exceeds maximum size 413" ] && echo 0 || echo 1)" \
	"mxdeliv: a body over max_message_size gets 413 ($out)"
out=$(curl -s -w ' %{http_code}' -X POST -H 'X-MAIL-FROM: carol@remote.test' \
	--data-binary "@$W/http1.eml" "$url")
ok "$([[ $out == 5*" 400" ]] && echo 0 || echo 1)" "mxdeliv: no X-MAIL-TO gets 400 ($out)"
out=$(curl -s -w ' %{http_code}' -X POST -H 'X-MAIL-FROM: carol@remote.test' \
	-H 'X-MAIL-TO: bob@example.test' --data-binary "@$W/http1.eml" "$url")
ok "$([[ $out == "523 "*" 400" ]] && echo 0 || echo 1)" "mxdeliv: a policy refusal gets 400 with its text ($out)"

# --- the milter down: a bounce waits, then leaves signed ---------------
# (cleartext from another MTA to bounce.test through filtermail incoming;
# Postfix's bounce needs the outgoing filtermail's milter)
stop_pid "$FMOUT_PID"
{
	printf 'From: carol@remote.test\r\nTo: nobody@bounce.test\r\nSubject: x\r\n'
	printf 'Message-ID: <wait1@remote.test>\r\n\r\nwill bounce\r\n'
} >"$W/wait1.eml"
out=$($CLIENT send "$MX" carol@remote.test nobody@bounce.test "$W/wait1.eml")
ok "$([ "$out" = OK ] && echo 0 || echo 1)" "milter down: a message that will bounce is accepted ($out)"
held=1
for ((i = 0; i < 50; i++)); do
	if grep -q "milter-reject: CONNECT from .*4.7.1 Service unavailable.*from=<>" "$(postfix_log "$W")"; then
		held=0
		break
	fi
	sleep 0.1
done
sleep 1
grep -qlF wait1@remote.test "$W"/sink/*.* 2>/dev/null && held=1
ok $held "milter down: Postfix holds the bounce (milter_default_action tempfail), nothing leaves unsigned"
start_fm "$W/chatmail.ini" outgoing "$FMOUT" "$W/log/fm-out.log"
postfix_flush "$W"
wait_dump wait1@remote.test 30
out=$($CLIENT dkimverify "$W/sink" wait1@remote.test "$pub")
ok "$([ "$out" = VALID ] && echo 0 || echo 1)" \
	"milter back: the bounce leaves after a queue flush, DKIM-signed ($out)"

if [ "$_tap_failed" -ne 0 ]; then
	diag "postfix log tail:"
	tail -n 30 "$(postfix_log "$W")" | sed 's/^/#   /'
	tail -n 10 "$W"/log/fm-*.log | sed 's/^/#   /'
fi
tap_done
