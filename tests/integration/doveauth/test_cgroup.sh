#!/usr/bin/env bash
# test_cgroup.sh: doveauth's registration limits against a real cgroup
# (docs/UPSTREAM.md, doveauth). The test makes a cgroup v1 memory cgroup
# with a 300 MiB limit and starts the real doveauth inside it, with
# min_available_memory 400M: a first login is refused with upstream's
# "registration rejected: available memory ..." line, though the node
# has gigabytes left; raising the cgroup's limit to 2 GiB lets the next
# login create the account (the figures are read at every attempt); the
# same doveauth configuration outside any limit creates at once.
# Needs root and a writable cgroup v1 memory hierarchy (else skipped;
# the cgroup v2 shapes are tests/unit/services/doveauth/test_limits.c).
# shellcheck source=tests/integration/lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

CG=/sys/fs/cgroup/memory/cm-doveauth-$$
if [ "$(id -u)" -ne 0 ] || ! grep -q ':memory:' /proc/self/cgroup ||
	! mkdir "$CG" 2>/dev/null; then
	echo "1..0 # SKIP needs root and a writable cgroup v1 memory hierarchy"
	exit 0
fi
on_exit "rmdir '$CG'"
tap_init
W=$(workdir doveauth-cgroup)
[ "${KEEP:-0}" = 1 ] || on_exit "rm -rf '$W'"
mkdir -p "$W/mail"
cat >"$W/chatmail.ini" <<INI
[params]
mail_domain = chat.example.test
mailboxes_dir = $W/mail
nocreate_file = $W/nocreate
max_load_1m = 99999
min_available_memory = 400M
min_free_disk_space = 0
INI
echo $((300 * 1024 * 1024)) >"$CG/memory.limit_in_bytes"

# login SOCKET USER: one passdb lookup as Dovecot makes it; the reply
login() {
	"$PY" - "$1" "$2" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect(sys.argv[1])
s.sendall(b'H3\t2\t0\t\tauth\nLshared/passdb/q9mr3faue"%s\n' % sys.argv[2].encode())
print(s.makefile().readline().strip()[:1])
PY
}

# start SOCKET LOG [CGROUP]: doveauth, in CGROUP when given
start() {
	local cg=${3:-}
	# shellcheck disable=SC2016 # $$ of the inner shell, on purpose
	sh -c '[ -z "$1" ] || echo $$ >"$1/cgroup.procs"; shift; exec "$@"' \
		sh "$cg" "$BIN/doveauth" "$1" "$W/chatmail.ini" \
		</dev/null >"$2" 2>&1 &
	PID=$!
	on_exit "stop_pid $PID"
	wait_file "$1" 10
}

start "$W/in.sock" "$W/in.log" "$CG"
check "doveauth runs in the test's cgroup" grep -qx "$PID" "$CG/cgroup.procs"
check "doveauth names the cgroup it reads" \
	grep -q "memory of cgroup v1 $CG" "$W/in.log"
out=$(login "$W/in.sock" abcdefghi@chat.example.test)
ok "$([ "$out" = N ] && echo 0 || echo 1)" "300 MiB cgroup, 400M wanted: no account ($out)"
check "upstream's line, with the cgroup's figure" \
	grep -Eq 'registration rejected: available memory (2[0-9][0-9]|[0-9]{1,2})MB < 400MB' "$W/in.log"
ok "$([ ! -e "$W/mail/abcdefghi@chat.example.test/password" ] && echo 0 || echo 1)" \
	"no password file written"
echo $((2048 * 1024 * 1024)) >"$CG/memory.limit_in_bytes"
out=$(login "$W/in.sock" abcdefghi@chat.example.test)
ok "$([ "$out" = O ] && echo 0 || echo 1)" "limit raised to 2 GiB: the next login creates the account ($out)"
check "Created address logged" grep -q 'Created address: abcdefghi@chat.example.test' "$W/in.log"

start "$W/out.sock" "$W/out.log"
out=$(login "$W/out.sock" jklmnopqr@chat.example.test)
avail=$(awk '/^MemAvailable:/ {print int($2 / 1024)}' /proc/meminfo)
if [ "$avail" -gt 500 ]; then
	ok "$([ "$out" = O ] && echo 0 || echo 1)" "outside the cgroup (node: $avail MB): created ($out)"
else
	skip "outside the cgroup: created" "the node has only $avail MB"
fi
tap_done
