#!/usr/bin/env bash
# test_dropin.sh: filtermail as a drop-in on an upstream host
# (docs/UPSTREAM.md, DKIM). Started with upstream's chatmail.ini, where
# OpenDKIM signs and nothing listens on 10084, filtermail outgoing must
# sign nothing and open no milter: the ini below has every option of
# upstream's template at what `cmdeploy init` writes, only the two ports
# moved to free ones so the test runs beside anything else. Then the
# control (dkim_key_file and filtermail_milter_port given: a signature
# and a second listener) and the error (signing asked for, key missing:
# exit 78 naming the file).
#
# Real peers: our filtermail, Postfix's smtp-sink as the reinject
# service (it dumps what arrives), Python's smtplib as the client.
# shellcheck source=tests/integration/lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source=tests/integration/lib/postfix.sh
. "$(dirname "$0")/../lib/postfix.sh"

if [ "$(id -u)" -ne 0 ] || ! command -v smtp-sink >/dev/null; then
	echo "1..0 # SKIP needs root and smtp-sink (postfix)"
	exit 0
fi
tap_init
W=$(workdir filtermail-dropin)
[ "${KEEP:-0}" = 1 ] || on_exit "rm -rf '$W'"
CLIENT="$PY $(dirname "$0")/smtpclient.py"
for p in FMOUT ROUT MILT; do
	printf -v "$p" '%s' "$(free_port)"
done
mkdir -p "$W/log" "$W/dkim"
openssl genrsa -traditional -out "$W/dkim/opendkim.private" 2048 2>/dev/null

# upstream_ini: chatmail.ini as upstream's `cmdeploy init` writes it
# (chatmaild's ini template), no option of ours
upstream_ini() {
	cat <<EOF
[params]
mail_domain = chat.example.test
max_user_send_per_minute = 60
max_user_send_burst_size = 10
max_mailbox_size = 500M
max_message_size = 31457280
delete_mails_after = 20
delete_large_after = 7
delete_inactive_users_after = 90
username_min_length = 9
username_max_length = 9
password_min_length = 9
max_load_1m = 5
min_available_memory = 200M
min_free_disk_space = 1G
max_imap_connections = 10000
max_smtp_connections = 1000
disable_ipv6 = False
acme_email =
imap_rawlog = false
imap_compress = false
privacy_postal =
privacy_mail =
privacy_pdo =
privacy_supervisor =
filtermail_smtp_port = $FMOUT
postfix_reinject_port = $ROUT
EOF
}
upstream_ini >"$W/upstream.ini"
{
	upstream_ini
	printf 'dkim_key_file = %s\nfiltermail_milter_port = %s\n' \
		"$W/dkim/opendkim.private" "$MILT"
} >"$W/signing.ini"
{
	upstream_ini
	printf 'dkim_key_file = %s\n' "$W/dkim/missing.private"
} >"$W/nokey.ini"

# a SecureJoin request: passes outgoing without encryption
sj_msg() { # sj_msg MSGID
	printf 'From: alice@chat.example.test\r\nTo: bob@example.org\r\n'
	printf 'Message-ID: <%s>\r\nSubject: [...]\r\n' "$1"
	printf 'Date: Sat, 28 Nov 2026 12:00:00 +0000\r\nSecure-Join: vc-request\r\n'
	printf 'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
	printf -- '--b\r\nContent-Type: text/plain\r\n\r\nSecure-Join: vc-request\r\n--b--\r\n'
}

# listeners PID: the TCP ports PID listens on, sorted, one line
listeners() {
	ss -ltnpH 2>/dev/null | grep "pid=$1," | awk '{print $4}' |
		sed 's/.*://' | sort -n | tr '\n' ' '
}

# wait_dump MSGID: until smtp-sink has a dump holding MSGID (bounded)
wait_dump() {
	local i
	for ((i = 0; i < 150; i++)); do
		grep -qlF "$1" "$W"/sink/*.* 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# run INI MSGID: filtermail outgoing on INI, one message through it;
# sets PORTS (its listeners) and SIG (the DKIM-Signature that arrived)
run() {
	local ini=$1 id=$2 log=$W/log/$2.log pid out
	"$BIN/filtermail" "$ini" outgoing </dev/null >"$log" 2>&1 &
	pid=$!
	wait_port 127.0.0.1 "$FMOUT" 10
	sj_msg "$id" >"$W/$id.eml"
	out=$($CLIENT send "$FMOUT" alice@chat.example.test bob@example.org "$W/$id.eml")
	ok "$([ "$out" = OK ] && echo 0 || echo 1)" "$id: the message passes ($out)"
	# after a message: every listener is open by now
	PORTS=$(listeners "$pid")
	SIG="no message arrived"
	if wait_dump "$id"; then
		SIG=$($CLIENT header "$W/sink" "$id" DKIM-Signature)
	fi
	stop_pid "$pid"
}

sink_start "$W/sink" "$ROUT" || {
	ok 1 "smtp-sink starts"
	tap_done
}

# --- upstream's ini: no signing, no milter ---------------------------
run "$W/upstream.ini" upstream
ok "$([ "$PORTS" = "$FMOUT " ] && echo 0 || echo 1)" \
	"upstream's ini: filtermail listens on $FMOUT only (got: $PORTS)"
ok "$([ -z "$SIG" ] && echo 0 || echo 1)" \
	"upstream's ini: the message leaves unsigned (OpenDKIM's job there)"
check "upstream's ini: filtermail says why it does not sign" \
	grep -q 'DKIM signing off: no dkim_key_file' "$W/log/upstream.log"
out=$("$BIN/filtermail" -n "$W/upstream.ini" outgoing 2>&1)
ok "$([[ $out == *"dkim_key_file ="$'\n'* && $out == *"# filtermail_milter_port is unset"* ]] && echo 0 || echo 1)" \
	"upstream's ini: -n shows dkim_key_file empty, the milter port unset"

# --- the operator's way: both asked for ------------------------------
run "$W/signing.ini" signing
want="$(printf '%s\n' "$FMOUT" "$MILT" | sort -n | tr '\n' ' ')"
ok "$([ "$PORTS" = "$want" ] && echo 0 || echo 1)" \
	"dkim_key_file and filtermail_milter_port: the milter listens too (got: $PORTS)"
ok "$([[ $SIG == *"d=chat.example.test"*"s=opendkim"* ]] && echo 0 || echo 1)" \
	"dkim_key_file: the message leaves signed d=chat.example.test s=opendkim"

# --- signing asked for, no key: a clear configuration error ----------
"$BIN/filtermail" "$W/nokey.ini" outgoing </dev/null >"$W/log/nokey.log" 2>&1
rc=$?
ok "$([ $rc -eq 78 ] && echo 0 || echo 1)" "a missing key with signing asked for: exit 78 (got $rc)"
check "the error names the key file" grep -q 'missing.private' "$W/log/nokey.log"

tap_done
