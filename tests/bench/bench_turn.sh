#!/usr/bin/env bash
# bench_turn: chatmail-turn's relayed UDP datagrams/s and round-trip
# latency with 50 allocations (each with 4 ChannelData datagrams in
# flight to an echo peer), and with one allocation and one datagram in
# flight, side by side with the direct UDP loopback path (the same load
# without TURN: the baseline) and with Debian's coturn (turnserver
# 4.6.1, when installed) in the same run; then the server's memory per
# allocation (RSS growth over 500 allocations). Everything on
# 127.0.0.1; the load is tests/bench/turnload.c, built here.
# Never fails on speed. Knobs: BENCH_SECS (default 5 per measurement).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/integration/lib/common.sh
. tests/integration/lib/common.sh

SECS=${BENCH_SECS:-5}
[ -x build/bin/chatmail-turn ] || { echo "build/bin/chatmail-turn missing"; exit 1; }
mkdir -p build/bench
cc -std=c11 -D_DEFAULT_SOURCE -O2 -Wall -Wextra -Iservices/lib \
	-Iservices/chatmail-turn -o build/bench/turnload tests/bench/turnload.c \
	build/lib/libchatmail-turn.a build/lib/libcm.a -lssl -lcrypto || exit 1

W=$(workdir bench-turn)
SECRET=bench-secret-$RANDOM$RANDOM
printf '%s\n' "$SECRET" >"$W/secret"
udp_port() { $PY -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
U=$(($(date +%s) + 3600))
P=$(printf %s "$U" | openssl dgst -sha1 -hmac "$SECRET" -binary | base64)
hwm() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$1/status"; }

CT_PORT=$(udp_port)
build/bin/chatmail-turn --realm bench.test --secret-file "$W/secret" \
	--listen 127.0.0.1 --port "$CT_PORT" --allow-peer 127.0.0.0/8 \
	--max-allocations 5000 --max-allocations-per-ip 5000 \
	--max-allocations-per-user 5000 2>"$W/chatmail-turn.log" &
CT_PID=$!
on_exit "stop_pid $CT_PID"
CO_PID=""
if command -v turnserver >/dev/null; then
	CO_PORT=$(udp_port)
	turnserver -n --listening-ip=127.0.0.1 --relay-ip=127.0.0.1 \
		--listening-port="$CO_PORT" --use-auth-secret \
		--static-auth-secret="$SECRET" --realm=bench.test \
		--allow-loopback-peers --no-tls --no-dtls --no-tcp --no-tcp-relay \
		--no-cli --min-port=40000 --max-port=45000 --pidfile="$W/co.pid" \
		--log-file=stdout --simple-log --no-stdout-log \
		--userdb="$W/turndb" >"$W/coturn.log" 2>&1 &
	CO_PID=$!
	on_exit "stop_pid $CO_PID"
fi
sleep 1

load() { # load PORT ARGS...: "pkts/s p50 p99"
	local out
	out=$(build/bench/turnload -s "127.0.0.1:$1" -u "$U" -w "$P" -t "$SECS" "${@:2}")
	echo "# $out" >&2
	echo "$out" | sed -n 's/.*pkts_per_s=\([0-9]*\) rtt_us p50=\([0-9]*\) p99=\([0-9]*\).*/\1 \2 \3/p'
}
read -r d50 d50p50 d50p99 < <(load 9 -d -n 50 -W 4)
read -r t50 t50p50 t50p99 < <(load "$CT_PORT" -n 50 -W 4)
read -r d1 d1p50 d1p99 < <(load 9 -d -n 1 -W 1)
read -r t1 t1p50 t1p99 < <(load "$CT_PORT" -n 1 -W 1)
c50=- c50p50=- c50p99=- c1=- c1p50=- c1p99=-
if [ -n "$CO_PID" ]; then
	read -r c50 c50p50 c50p99 < <(load "$CO_PORT" -n 50 -W 4)
	read -r c1 c1p50 c1p99 < <(load "$CO_PORT" -n 1 -W 1)
fi

# memory per allocation: RSS before and with 500 allocations held open
per_alloc() { # per_alloc PORT PID: bytes per allocation
	local before after out=$W/alloc.$1 holder
	before=$(hwm "$2")
	build/bench/turnload -s "127.0.0.1:$1" -u "$U" -w "$P" -A 500 -t 30 >"$out" 2>&1 &
	holder=$!
	for _ in $(seq 100); do grep -q '^ok' "$out" 2>/dev/null && break; sleep 0.2; done
	after=$(hwm "$2")
	stop_pid "$holder"
	if ! grep -q '^ok' "$out"; then
		echo "# turnload -A 500: $(cat "$out")" >&2
		echo "-"
		return
	fi
	echo $(((after - before) * 1024 / 500))
}
m_ct=$(per_alloc "$CT_PORT" "$CT_PID")
m_co=-
[ -z "$CO_PID" ] || m_co=$(per_alloc "$CO_PORT" "$CO_PID")

printf '%-46s %12s %12s %12s\n' "measure (same run, this machine)" chatmail-turn "direct UDP" "coturn 4.6.1"
printf '%-46s %12s %12s %12s\n' "50 allocations x 4 in flight: datagrams/s" "$t50" "$d50" "$c50"
printf '%-46s %12s %12s %12s\n' "  round trip p50 / p99, us" "$t50p50/$t50p99" "$d50p50/$d50p99" "$c50p50/$c50p99"
printf '%-46s %12s %12s %12s\n' "1 allocation x 1 in flight: datagrams/s" "$t1" "$d1" "$c1"
printf '%-46s %12s %12s %12s\n' "  round trip p50 / p99, us" "$t1p50/$t1p99" "$d1p50/$d1p99" "$c1p50/$c1p99"
printf '%-46s %12s %12s %12s\n' "memory per allocation (RSS, 500 held), bytes" "$m_ct" "-" "$m_co"
echo "# added latency = TURN round trip minus direct round trip (each datagram crosses the server twice per round trip)"
echo "# user-space RSS only: each allocation also holds one kernel UDP socket (buffers are the kernel's)"
