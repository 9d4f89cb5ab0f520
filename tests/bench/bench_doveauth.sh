#!/usr/bin/env bash
# bench_doveauth: doveauth's lookups/s (pipelined, and one connection
# per lookup as Dovecot's auth worker does), account creations/s and
# peak RSS, side by side with dictstatic (our dict core answering a
# fixed value: the protocol's ceiling on this machine) in the same run.
# The load client is tests/bench/dictload.c, built here with the
# project's flags; it also times crypt_r alone, the creation ceiling.
# Output: a table on stdout, dictload's raw lines as "# ..." on stderr. Never fails on speed. Knobs: BENCH_SECS (default 10,
# the cap per measurement), BENCH_N (pipelined lookups, default 300000).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/integration/lib/common.sh
. tests/integration/lib/common.sh

SECS=${BENCH_SECS:-10}
N=${BENCH_N:-300000}
CFLAGS_B="-std=c11 -D_DEFAULT_SOURCE -O2 -D_FORTIFY_SOURCE=3 \
-fstack-protector-strong -fPIE -pie -Wall -Wextra -Iservices/lib"
mkdir -p build/bench
# shellcheck disable=SC2086
cc $CFLAGS_B -o build/bench/dictload tests/bench/dictload.c \
	build/lib/libcm.a -lcrypt || exit 1
# shellcheck disable=SC2086
cc $CFLAGS_B -o build/bench/dictstatic tests/bench/dictstatic.c \
	build/lib/libcm.a -lcjson -lssl -lcrypto -lcrypt -lm || exit 1
[ -x build/bin/doveauth ] || { echo "build/bin/doveauth missing"; exit 1; }

W=$(workdir bench-doveauth)
mkdir -p "$W/mail"
cat >"$W/chatmail.ini" <<INI
[params]
mail_domain = example.org
mailboxes_dir = $W/mail
nocreate_file = $W/nocreate
username_min_length = 2
username_max_length = 32
max_load_1m = 99999
min_available_memory = 0
min_free_disk_space = 0
INI
build/bin/doveauth -m 0600 "$W/auth.sock" "$W/chatmail.ini" \
	2>"$W/doveauth.log" &
AUTH_PID=$!
on_exit "stop_pid $AUTH_PID"
build/bench/dictstatic "$W/static.sock" 2>"$W/static.log" &
STATIC_PID=$!
on_exit "stop_pid $STATIC_PID"
wait_file "$W/auth.sock" && wait_file "$W/static.sock" || exit 1

load() { # load SOCKET ARGS...: the rate dictload reports
	local out
	out=$(build/bench/dictload -s "$@" -t "$SECS" -d example.org)
	echo "# $out" >&2
	echo "$out" | sed -n 's/.*ok=\([0-9]*\).*rate=\([0-9]*\).*/\2 \1/p'
}
hwm() { sed -n 's/^VmHWM:[[:space:]]*//p' "/proc/$1/status"; }

# the first lookup of each of the 100 users creates it
load "$W/auth.sock" -m conn -c 4 -n 100 -u 100 >/dev/null
read -r s_pipe _ < <(load "$W/static.sock" -m pipe -c 4 -w 64 -n "$N")
read -r a_pipe a_pipe_ok < <(load "$W/auth.sock" -m pipe -c 4 -w 64 -n "$N" -u 100)
read -r s_conn _ < <(load "$W/static.sock" -m conn -c 8 -n $((N / 10)))
read -r a_conn a_conn_ok < <(load "$W/auth.sock" -m conn -c 8 -n $((N / 10)) -u 100)
read -r a_create a_create_ok < <(load "$W/auth.sock" -m create -c 4 -n 3000)
created=$(grep -c 'Created address' "$W/doveauth.log")
read -r crypt_rate _ < <(load none -m crypt -n 300)

printf '%-44s %12s %12s\n' "measure (same run, this machine)" doveauth "dictstatic"
printf '%-44s %12s %12s\n' "lookups/s, pipelined (4 conns x 64)" "$a_pipe" "$s_pipe"
printf '%-44s %12s %12s\n' "lookups/s, new connection per lookup (8)" "$a_conn" "$s_conn"
printf '%-44s %12s %12s\n' "account creations/s (4 at once)" "$a_create" "-"
printf '%-44s %12s %12s\n' "  ceiling: SHA512-CRYPT hashes/s, 1 core" "-" "$crypt_rate"
printf '%-44s %12s %12s\n' "peak RSS" "$(hwm $AUTH_PID)" "$(hwm $STATIC_PID)"
echo "# replies O: pipelined $a_pipe_ok, per-connection $a_conn_ok, creations $a_create_ok; accounts created $created"
echo "# reference (issue 3): upstream Python doveauth ~17000/s pipelined, ~2800/s per connection, 550 creations/s, 18 MiB"
