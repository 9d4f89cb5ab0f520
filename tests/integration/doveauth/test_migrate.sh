#!/usr/bin/env bash
# test_migrate.sh: the real doveauth imports a legacy SQLite password
# database at start, as upstream's does (docs/UPSTREAM.md, doveauth). The
# test makes the database with Python's sqlite3 the way upstream's
# doveauth before July 2024 kept it (table users: addr, password,
# last_login), starts doveauth with passdb_path pointing at it, then asks
# through the dict socket as Dovecot does: a migrated account answers
# with its stored hash and keeps it under a wrong password, a CI account
# is not there, the last login became the password file's mtime, and the
# database is now passdb.sqlite.old. A second start changes nothing.
# shellcheck source=tests/integration/lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

tap_init
W=$(workdir doveauth-migrate)
[ "${KEEP:-0}" = 1 ] || on_exit "rm -rf '$W'"
MBOX=$W/vmail/mail/chat.example.test
mkdir -p "$MBOX"
cat >"$W/chatmail.ini" <<INI
[params]
mail_domain = chat.example.test
mailboxes_dir = $MBOX
passdb_path = $W/vmail/passdb.sqlite
nocreate_file = $W/nocreate
max_load_1m = 99999
min_available_memory = 0
min_free_disk_space = 0
INI
HASH=$(openssl passwd -6 -salt abcdefghijklmnop q9mr3faue)
"$PY" - "$W/vmail/passdb.sqlite" "{SHA512-CRYPT}$HASH" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.execute("CREATE TABLE users (addr TEXT PRIMARY KEY, password TEXT, last_login INTEGER)")
c.execute("INSERT INTO users VALUES (?, ?, ?)", ("oldtimer1@chat.example.test", sys.argv[2], 20000 * 86400 + 999))
c.execute("INSERT INTO users VALUES (?, ?, ?)", ("ci-abcdefg@chat.example.test", sys.argv[2], 86400))
for i in range(200):
    c.execute("INSERT INTO users VALUES (?, ?, ?)", ("user%05d@chat.example.test" % i, sys.argv[2], ""))
c.commit()
PY

# ask SOCKET KEY: one dict lookup as Dovecot makes it; the reply line
ask() {
	"$PY" - "$1" "$2" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect(sys.argv[1])
s.sendall(b'H3\t2\t0\t\tauth\nL%s\n' % sys.argv[2].encode())
print(s.makefile().readline().strip())
PY
}

start() { # start LOG: doveauth on $W/auth.sock
	"$BIN/doveauth" "$W/auth.sock" "$W/chatmail.ini" </dev/null >"$1" 2>&1 &
	PID=$!
	on_exit "stop_pid $PID"
	wait_file "$W/auth.sock" 20
}

start "$W/first.log"
check "upstream's log lines" grep -q 'migrating 201 sqlite database passwords to user dirs' "$W/first.log"
check "the database is moved" test -e "$W/vmail/passdb.sqlite.old" -a ! -e "$W/vmail/passdb.sqlite"
out=$(ask "$W/auth.sock" 'shared/userdb/oldtimer1@chat.example.test')
ok "$([[ $out == O* && $out == *"$HASH"* ]] && echo 0 || echo 1)" "a migrated account answers with its hash"
out=$(ask "$W/auth.sock" 'shared/passdb/wrongpass9"oldtimer1@chat.example.test')
ok "$([[ $out == O* && $out == *"$HASH"* ]] && echo 0 || echo 1)" \
	"a wrong password gets the stored hash (Dovecot refuses), not a new one"
out=$(ask "$W/auth.sock" 'shared/userdb/ci-abcdefg@chat.example.test')
ok "$([ "$out" = N ] && echo 0 || echo 1)" "a CI account is not migrated ($out)"
out=$(ask "$W/auth.sock" 'shared/userdb/user00199@chat.example.test')
ok "$([[ $out == O* ]] && echo 0 || echo 1)" "the last of 200 more accounts is there"
ok "$([ "$(stat -c %Y "$MBOX/oldtimer1@chat.example.test/password")" = $((20000 * 86400)) ] && echo 0 || echo 1)" \
	"the last login became the mtime, rounded down to the day"
stop_pid "$PID"
cp "$MBOX/oldtimer1@chat.example.test/password" "$W/pw"
start "$W/second.log"
check "a second start finds nothing to migrate" bash -c "! grep -q migrating '$W/second.log'"
check "and leaves the password alone" cmp -s "$W/pw" "$MBOX/oldtimer1@chat.example.test/password"
tap_done
