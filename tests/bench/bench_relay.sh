#!/usr/bin/env bash
# bench_relay.sh: a message's way through the local relays, as a Delta
# Chat user sees it. Two relays (hack/local-relay.sh, network namespaces,
# real postfix/dovecot/nginx and our services); the recipient IDLEs on
# its INBOX over IMAPS, the sender submits a gpg-encrypted PGP/MIME
# message on 465; measured from the start of the submission to the IDLE
# client seeing EXISTS:
#   local      A@e2e1 -> C@e2e1: smtpd -> filtermail outgoing (PGP/MIME
#              check, DKIM signing) -> reinject -> LMTP -> Dovecot
#   federated  A@e2e1 -> B@e2e2: the same, then Postfix's smtp client
#              (DNS MX, STARTTLS) -> e2e2:25 -> filtermail incoming (DKIM
#              verification with a DNS TXT lookup) -> reinject -> LMTP
# The baseline of the same run is the local path; also printed: the time
# to 250 on submission, the relays' start time and their RSS. Upstream
# publishes "sub-second message delivery"; Debian's Dovecot 2.3 adds a
# fixed ~0.5 s before IDLE reports a new message (NOTIFY_DELAY_MSECS,
# which upstream patches out), so that floor is in every figure here.
#
#   BENCH_COUNT (default 20) messages per path
# Never fails on speed; exits non-zero only when it cannot run.
# shellcheck source=tests/integration/lib/common.sh
. "$(dirname "$0")/../integration/lib/common.sh"
# shellcheck source=tests/integration/relay/lib.sh
. "$(dirname "$0")/../integration/relay/lib.sh"

N=${BENCH_COUNT:-20}
[ "$(id -u)" -eq 0 ] || { echo "bench_relay: needs root"; exit 1; }
for p in relay-render doveauth filtermail newemail; do
	[ -x "$BIN/$p" ] || { echo "bench_relay: $p not built"; exit 1; }
done
relay_workdir bench-relay

t0=$(date +%s.%N)
relays_up "$W" 2 || exit 1
t1=$(date +%s.%N)
[ -n "$(renv "$ENV1" NETNS)" ] || { echo "bench_relay: needs network namespaces"; exit 1; }

read -r A PA < <(new_account "$ENV1")
read -r B PB < <(new_account "$ENV2")
read -r C PC < <(new_account "$ENV1")
K=$W/gnupg
rc genkey "$K" "$B" >/dev/null 2>&1 && rc genkey "$K" "$C" >/dev/null 2>&1 || exit 1

rc latency "$ENV1" "$A" "$PA" "$ENV1" "$C" "$PC" --keydir "$K" --count "$N" >"$W/local.txt" || exit 1
rc latency "$ENV1" "$A" "$PA" "$ENV2" "$B" "$PB" --keydir "$K" --count "$N" >"$W/fed.txt" || exit 1

# stats FILE COLUMN: "p50 p90 max" in ms
stats() {
	cut -d' ' -f"$2" "$1" | sort -n | awk '{ v[NR] = $1 } END {
		printf "%7.0f %7.0f %7.0f", v[int((NR + 1) / 2)], v[int(NR * 0.9 + 0.5)], v[NR] }'
}
rss_kb() { # rss_kb ENV: the RSS of every process in the relay's namespace
	local pids
	pids=$(ip netns pids "$(renv "$1" NETNS)" | tr '\n' ',')
	ps -o rss= -p "${pids%,}" 2>/dev/null | awk '{ s += $1 } END { printf "%d kB in %d processes", s, NR }'
}

echo "bench_relay: $N messages per path, PGP/MIME ~1 KB, IDLE on IMAPS; ms"
printf '%-34s %7s %7s %7s\n' "" p50 p90 max
printf '%-34s %s\n' "submission on 465 to 250 (local)" "$(stats "$W/local.txt" 1)"
printf '%-34s %s\n' "submission on 465 to 250 (remote)" "$(stats "$W/fed.txt" 1)"
printf '%-34s %s\n' "baseline: local delivery to IDLE" "$(stats "$W/local.txt" 2)"
printf '%-34s %s\n' "federated delivery to IDLE" "$(stats "$W/fed.txt" 2)"
awk -v a="$(stats "$W/local.txt" 2 | awk '{print $1}')" \
	-v b="$(stats "$W/fed.txt" 2 | awk '{print $1}')" \
	'BEGIN { printf "federation adds %.0f ms at the median (x%.2f)\n", b - a, b / a }'
awk -v s="$t0" -v e="$t1" 'BEGIN { printf "two relays up in %.1f s\n", e - s }'
echo "RSS of relay e2e1: $(rss_kb "$ENV1"); e2e2: $(rss_kb "$ENV2")"
