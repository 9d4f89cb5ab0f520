#!/usr/bin/env bash
# common.sh: shared helpers for integration and e2e test scripts (bash).
# Source it, then:
#
#   tap_init                      start a TAP stream (plan printed at the end)
#   ok COND_STATUS "name"         record a result: ok "name" if status 0
#   check "name" CMD...           run CMD, ok if it exits 0 (output kept in the log)
#   skip "name" "reason"          a test whose prerequisite is genuinely absent
#   tap_done                      print the plan; exit 1 if anything failed
#   workdir NAME                  a fresh directory build/test/NAME, removed at exit
#                                 unless KEEP=1 (also when called as d=$(workdir x));
#                                 world-traversable for daemons
#   free_port                     an unused TCP port on 127.0.0.1
#   wait_port HOST PORT [SECS]    until a TCP connect succeeds (bounded)
#   wait_file PATH [SECS]         until PATH exists (bounded)
#   stop_pid PID [SECS]           TERM, wait (zombies count as gone), then KILL
#   on_exit CMD                   run CMD at exit (LIFO), for cleanup
#
# Python clients: use $PY (Debian's /usr/bin/python3, which has
# python3-dkim and dnspython from make deps), not whatever python3 is first
# in PATH.

set -uo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
BIN=${BIN:-$TOP/build/bin}
PY=${PY:-/usr/bin/python3}
export TOP BIN PY

_tap_n=0
_tap_failed=0
_exit_cmds=()

# workdir runs in $(...), a subshell whose on_exit would be lost: it
# records its directory here instead ($$ is the main shell's pid even in
# a subshell), and the main shell's EXIT trap removes what is listed
_workdirs_file=${TMPDIR:-/tmp}/cm-workdirs.$$

_run_exit_cmds() {
	local i d
	for ((i = ${#_exit_cmds[@]} - 1; i >= 0; i--)); do
		eval "${_exit_cmds[$i]}" || true
	done
	if [ -f "$_workdirs_file" ]; then
		while IFS= read -r d; do
			[ -n "$d" ] && rm -rf "$d"
		done <"$_workdirs_file"
		rm -f "$_workdirs_file"
	fi
}
trap _run_exit_cmds EXIT

on_exit() { _exit_cmds+=("$*"); }

tap_init() { _tap_n=0; _tap_failed=0; }

ok() { # ok STATUS NAME
	_tap_n=$((_tap_n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $_tap_n - $2"
	else
		echo "not ok $_tap_n - $2"
		_tap_failed=1
	fi
}

check() { # check NAME CMD...
	local name=$1 out rc
	shift
	out=$("$@" 2>&1)
	rc=$?
	ok $rc "$name"
	if [ $rc -ne 0 ]; then
		printf '%s\n' "$out" | tail -n 30 | sed 's/^/# /'
	fi
	return $rc
}

skip() { # skip NAME REASON
	_tap_n=$((_tap_n + 1))
	echo "ok $_tap_n - $1 # SKIP $2"
}

diag() { printf '# %s\n' "$*"; }

tap_done() {
	echo "1..$_tap_n"
	[ "$_tap_failed" -eq 0 ]
	exit $?
}

workdir() { # workdir NAME -> prints the path
	local d=$TOP/build/test/$1
	rm -rf "$d"
	mkdir -p "$d"
	chmod 755 "$TOP/build" "$TOP/build/test" "$d"
	[ "${KEEP:-0}" = 1 ] || echo "$d" >>"$_workdirs_file"
	echo "$d"
}

free_port() {
	$PY - <<'PYEOF'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
PYEOF
}

wait_port() { # wait_port HOST PORT [SECS]
	local host=$1 port=$2 secs=${3:-10} i
	for ((i = 0; i < secs * 20; i++)); do
		if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
			return 0
		fi
		sleep 0.05
	done
	echo "timeout waiting for $host:$port" >&2
	return 1
}

wait_file() { # wait_file PATH [SECS]
	local path=$1 secs=${2:-10} i
	for ((i = 0; i < secs * 20; i++)); do
		[ -e "$path" ] && return 0
		sleep 0.05
	done
	echo "timeout waiting for $path" >&2
	return 1
}

pid_alive() { # a zombie counts as dead
	local st
	st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "${st#Z}" = "$st" ]
}

stop_pid() { # stop_pid PID [SECS]
	local pid=$1 secs=${2:-5} i
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	for ((i = 0; i < secs * 20; i++)); do
		pid_alive "$pid" || return 0
		sleep 0.05
	done
	kill -KILL "$pid" 2>/dev/null || true
}
