#!/usr/bin/env bash
# test_auth: doveauth and lastlogin behind Debian's real Dovecot 2.3,
# driven by real clients (curl imaps://, python3 imaplib, doveadm):
# create on first login, second login, wrong and short passwords, bad
# usernames, the nocreate file, passwords with " \ ', 20 parallel first
# logins leaving one password, userdb lookup and iteration through
# doveadm, and the last-login mtime.
# shellcheck source=tests/integration/lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source=tests/integration/lib/dovecot.sh
. "$(dirname "$0")/../lib/dovecot.sh"
# shellcheck source=tests/integration/dovecot/stack.sh
. "$(dirname "$0")/stack.sh"

tap_init
command -v dovecot >/dev/null || {
	skip "dovecot auth" "dovecot not installed (make deps)"
	tap_done
}
W=$(stack_workdir dovecot-auth)
if ! stack_up "$W"; then
	ok 1 "stack starts"
	tap_done
fi
CA=$W/certs/cert.pem

login() { # login USER PASS: one IMAPS login (curl lists the mailboxes)
	curl -s --max-time 10 --cacert "$CA" \
		"imaps://127.0.0.1:$IMAPS_PORT/" -u "$1:$2" >/dev/null
}

pwfile() { echo "$MBOX/$1/password"; }

login abcdefghi@example.test q9mr3faue
ok $? "first login creates the account"
# shellcheck disable=SC2016 # a regex, not an expansion
check "password file is SHA512-CRYPT without newline" \
	grep -qxE '\{SHA512-CRYPT\}\$6\$[./0-9A-Za-z]{16}\$[./0-9A-Za-z]{86}' \
	"$(pwfile abcdefghi@example.test)"
check "enforceE2EEincoming created" \
	test -e "$MBOX/abcdefghi@example.test/enforceE2EEincoming"
check "log says Created address" \
	grep -q 'msg="Created address: abcdefghi@example.test"' "$SVCLOG"
cp "$(pwfile abcdefghi@example.test)" "$W/pw1"

login abcdefghi@example.test q9mr3faue
ok $? "second login works"
login abcdefghi@example.test wrongpass1
[ $? -eq 67 ]
ok $? "wrong password is refused (curl 67)"
check "wrong password leaves the hash alone" \
	cmp -s "$W/pw1" "$(pwfile abcdefghi@example.test)"

login shortpwd1@example.test short
[ $? -eq 67 ] && [ ! -e "$MBOX/shortpwd1@example.test/password" ]
ok $? "too-short password creates nothing"
check "log says why" grep -q 'Password needs to be at least 9 characters long' "$SVCLOG"
# Dovecot lowercases names (auth_username_format %Lu) and refuses
# characters outside auth_username_chars; [ and ] pass it, not ours
for u in "[abcdefg]@example.test" abc@example.test abcdefghij@example.test \
	abcdefghi@other.test; do
	login "$u" q9mr3faue
	[ $? -eq 67 ] && [ ! -e "$MBOX/$u" ]
	ok $? "bad username $u is refused"
done

touch "$W/nocreate"
login nocreate1@example.test q9mr3faue
[ $? -eq 67 ] && [ ! -e "$MBOX/nocreate1@example.test/password" ]
ok $? "nocreate file blocks new accounts"
login abcdefghi@example.test q9mr3faue
ok $? "nocreate file keeps existing accounts working"
rm -f "$W/nocreate"

# passwords with the characters %Ew escapes, through python's imaplib
PW_SPECIAL='pa"ss\wo'"'"'rd/12'
$PY - "$IMAP_PORT" "$PW_SPECIAL" <<'PYEOF'
import imaplib, sys
port, pw = int(sys.argv[1]), sys.argv[2]
for attempt in range(2):
    m = imaplib.IMAP4("127.0.0.1", port)
    quoted = '"' + pw.replace("\\", "\\\\").replace('"', '\\"') + '"'
    typ, _ = m._simple_command("LOGIN", "spec.ch_1@example.test", quoted)
    assert typ == "OK", typ
    m.logout()
PYEOF
ok $? "password with \" \\ ' / creates and logs in (imaplib)"

# 20 parallel first logins of one new address: one password, all in
pids=()
for _ in $(seq 1 20); do
	login race00001@example.test zequ0Aimuchoodaechik &
	pids+=($!)
done
fails=0
for p in "${pids[@]}"; do wait "$p" || fails=$((fails + 1)); done
[ "$fails" -eq 0 ]
ok $? "20 parallel first logins all succeed"
n=$(grep -c 'Created address: race00001@example.test' "$SVCLOG")
[ "$n" -eq 1 ]
ok $? "20 parallel first logins created exactly once (got $n)"
tmps=("$MBOX"/race00001@example.test/password.tmp*)
[ ! -e "${tmps[0]}" ]
ok $? "no temporary password files left"

check "doveadm user finds the account" \
	bash -c "doveadm -c '$CONF' user abcdefghi@example.test | grep -q 'home.*$MBOX/abcdefghi@example.test'"
out=$(doveadm_c "$CONF" user '*' 2>&1 | sort)
echo "$out" | grep -qx abcdefghi@example.test &&
	echo "$out" | grep -qx race00001@example.test
ok $? "doveadm user '*' iterates the accounts"
doveadm_c "$CONF" user nobody123@example.test >/dev/null 2>&1
[ $? -eq 67 ]
ok $? "doveadm user of an unknown account: unknown (67)"

# lastlogin: a login sets the password's mtime to today (day-rounded)
pw=$(pwfile abcdefghi@example.test)
touch -d @1000000 "$pw"
login abcdefghi@example.test q9mr3faue
want=$(($(date +%s) / 86400 * 86400))
for _ in $(seq 1 100); do
	[ "$(stat -c %Y "$pw")" -eq "$want" ] && break
	sleep 0.05
done
[ "$(stat -c %Y "$pw")" -eq "$want" ]
ok $? "login sets the password mtime to the day (lastlogin)"

check "no service errors logged" bash -c "! grep -E 'level=error' '$SVCLOG'"
tap_done
