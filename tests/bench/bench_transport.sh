#!/usr/bin/env bash
# bench_transport.sh: filtermail transport, relay to relay, over HTTPS
# /mxdeliv and over SMTP on port 25 in the same run, and its memory with
# 500 destinations queued.
#
# Two local relays (hack/local-relay.sh, namespaces, real Postfix, nginx
# and filtermail on both sides). tests/bench/transport_load.py, inside
# e2e1's namespace, hands BENCH_COUNT PGP/MIME messages (~1 KB, DKIM-
# signed with e2e1's key as filtermail outgoing would) to e2e1's
# transport over BENCH_CONNS LMTP connections, as Postfix's
# lmtp-filtermail clients do, and times each from its final dot to the
# transport's reply (which comes after e2e2 took the message: its
# nginx, filtermail incoming with DKIM verification, Postfix). First with
# e2e2's port 25 refused by iptables in e2e1's namespace (HTTPS), then
# with 443 refused (SMTP with STARTTLS; after the first success the SMTP
# preference skips HTTPS, as in production). One destination delivers
# one message at a time (upstream's worker), so msgs/s is per
# destination. Then a transport of its own on loopback whose resolver
# never answers: BENCH_DESTS sessions each queue one message to a
# destination of its own; its RSS idle and with them all waiting.
#
#   BENCH_COUNT (default 200) messages per channel
#   BENCH_CONNS (default 8) LMTP connections
#   BENCH_DESTS (default 500) destinations for the memory figure
# Never fails on speed; exits non-zero only when it cannot run.
# shellcheck source=tests/integration/lib/common.sh
. "$(dirname "$0")/../integration/lib/common.sh"
# shellcheck source=tests/integration/relay/lib.sh
. "$(dirname "$0")/../integration/relay/lib.sh"

N=${BENCH_COUNT:-200}
CONNS=${BENCH_CONNS:-8}
DESTS=${BENCH_DESTS:-500}
HERE=$(cd "$(dirname "$0")" && pwd)
[ "$(id -u)" -eq 0 ] || { echo "bench_transport: needs root"; exit 1; }
for p in relay-render filtermail filtermail-transport; do
	[ -x "$BIN/$p" ] || { echo "bench_transport: $p not built"; exit 1; }
done
command -v iptables >/dev/null || { echo "bench_transport: iptables missing"; exit 1; }
relay_workdir bench-transport

relays_up "$W" 2 || exit 1
NS1=$(renv "$ENV1" NETNS)
[ -n "$NS1" ] || { echo "bench_transport: needs network namespaces"; exit 1; }
A2=$(renv "$ENV2" ADDR)
D1=$(renv "$ENV1" DOMAIN)
read -r A PA < <(new_account "$ENV1")
read -r B PB < <(new_account "$ENV2")
: "$PA" "$PB"
K=$W/gnupg
rc genkey "$K" "$B" >/dev/null 2>&1 || exit 1
KEY=$(renv "$ENV1" ROOT)/dkim/opendkim.private
PORT=$(sed -n 's/^filtermail_lmtp_port_transport = //p' "$(renv "$ENV1" INI)")
on_exit "ip netns exec '$NS1' iptables -F OUTPUT 2>/dev/null"

# channel NAME BLOCKED_PORT: the load with BLOCKED_PORT refused
channel() {
	ip netns exec "$NS1" iptables -F OUTPUT
	ip netns exec "$NS1" iptables -A OUTPUT -d "$A2" -p tcp --dport "$2" \
		-j REJECT --reject-with tcp-reset
	ip netns exec "$NS1" "$PY" "$HERE/transport_load.py" lmtp "$PORT" "$N" \
		"$CONNS" "$A" "$B" "$K" "$KEY" "$D1" >"$W/$1.txt" || exit 1
}
channel https 25
channel smtp 443
grep -c 'over HTTPS' "$(renv "$ENV1" LOG)/filtermail-transport.log" >"$W/n_https"
$PY "$HERE/transport_load.py" queue "$BIN/filtermail" "$DESTS" >"$W/queue.txt" || exit 1

# q FILE P: the P-quantile (nearest rank) of the latencies in FILE
q() {
	tail -n +2 "$1" | sort -n | awk -v p="$2" '{ v[NR] = $1 } END {
		if (NR == 0) { printf "%8s", "-"; exit }
		i = int(NR * p + 0.999999); if (i < 1) i = 1
		printf "%8.1f", v[i] }'
}
rate() { awk 'NR == 1 { printf "%8.1f", $2 / $6 }' "$1"; }
row() { printf '%-52s %s %s\n' "$1" "$2" "$3"; }

echo "bench_transport: e2e1 -> e2e2 through filtermail transport, $N messages"
echo "  per channel over $CONNS LMTP connections (~1 KB PGP/MIME, DKIM-signed);"
echo "  load $(cut -d' ' -f1-3 /proc/loadavg)"
row "figure" "   HTTPS" "    SMTP"
row "messages/s (one destination)" "$(rate "$W/https.txt")" "$(rate "$W/smtp.txt")"
row "latency final dot -> reply, p50 (ms)" "$(q "$W/https.txt" 0.5)" "$(q "$W/smtp.txt" 0.5)"
row "latency final dot -> reply, p90 (ms)" "$(q "$W/https.txt" 0.9)" "$(q "$W/smtp.txt" 0.9)"
row "failed" "$(awk 'NR == 1 { printf "%8d", $4 }' "$W/https.txt")" "$(awk 'NR == 1 { printf "%8d", $4 }' "$W/smtp.txt")"
echo "  (deliveries the transport logged over HTTPS: $(cat "$W/n_https"))"
read -r _ idle _ queued _ n <"$W/queue.txt"
echo
echo "transport memory (VmRSS), its own instance, resolver never answering:"
row "idle (KiB)" "$(printf '%8d' "$idle")" ""
row "$n destinations, one ~3 KB message each, queued (KiB)" "$(printf '%8d' "$queued")" ""
awk -v i="$idle" -v q="$queued" -v n="$n" 'BEGIN { if (n > 0) printf "  %.1f KiB per queued destination\n", (q - i) / n }'
