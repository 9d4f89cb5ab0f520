#!/usr/bin/env bash
# bench_relay.sh: a message's way through the local relays, as a Delta
# Chat user sees it, with and without our chatmail_idle Dovecot plugin
# (dovecot/) in the same run. Four relays (hack/local-relay.sh, network
# namespaces, real postfix/dovecot/nginx and our services): e2e1 and e2e2
# as rendered (imap loads chatmail_idle), e2e3 and e2e4 with the plugin
# taken out of their dovecot.conf (Debian's Dovecot as it comes: IDLE
# reports new mail 500 ms after it arrives, NOTIFY_DELAY_MSECS).
#
#   local      A -> C on one relay: 465 (TLS, AUTH) -> smtpd ->
#              filtermail outgoing (PGP/MIME check, DKIM signing) ->
#              reinject -> qmgr -> LMTP -> Dovecot -> IDLE client
#   federated  A -> B on the other relay: the same up to the queue, then
#              LMTP -> filtermail transport (DNS MX) -> HTTPS /mxdeliv
#              (nginx) -> filtermail incoming (DKIM verification) ->
#              reinject -> LMTP
#   Delta Chat core (hack/deltachat.sh: deltachat-rpc-server from PyPI)
#              two accounts of one relay: send_text to the other's
#              IncomingMsg event, and a ping-pong (B answers as soon as
#              its event comes)
# Paths take turns message by message (tests/bench/delivery.py,
# tests/interop/dc_bench.py), so with and without see the same machine.
# The breakdown of the local path comes from the same messages (client
# timestamps and an inotify watch on the recipient's maildir) and from
# submissions straight to filtermail's and the reinject smtpd's ports
# inside the relay's network namespace.
#
#   BENCH_COUNT     messages per path (default 50)
#   BENCH_DC_COUNT  Delta Chat sends per relay (default 50)
#   BENCH_DC_ROUNDS Delta Chat ping-pongs per relay (default 20)
# Never fails on speed; exits non-zero only when it cannot run.
# shellcheck source=tests/integration/lib/common.sh
. "$(dirname "$0")/../integration/lib/common.sh"
# shellcheck source=tests/integration/relay/lib.sh
. "$(dirname "$0")/../integration/relay/lib.sh"
# shellcheck source=tests/interop/lib.sh
. "$(dirname "$0")/../interop/lib.sh"

N=${BENCH_COUNT:-50}
DCN=${BENCH_DC_COUNT:-50}
DCR=${BENCH_DC_ROUNDS:-20}
HERE=$(cd "$(dirname "$0")" && pwd)
[ "$(id -u)" -eq 0 ] || { echo "bench_relay: needs root"; exit 1; }
for p in relay-render doveauth filtermail newemail; do
	[ -x "$BIN/$p" ] || { echo "bench_relay: $p not built"; exit 1; }
done
relay_workdir bench-relay

t0=$(date +%s.%N)
relays_up "$W" 4 || exit 1
t1=$(date +%s.%N)
[ -n "$(renv "$ENV1" NETNS)" ] || { echo "bench_relay: needs network namespaces"; exit 1; }
# e2e3 and e2e4: Debian's Dovecot without the plugin
for i in 3 4; do
	env=ENV$i
	conf=$(renv "${!env}" ROOT)/dovecot/dovecot.conf
	sed -i 's/ chatmail_idle//' "$conf"
	"$RELAY_HARNESS" restart "e2e$i" dovecot >/dev/null || exit 1
done

read -r A1 PA1 < <(new_account "$ENV1")
read -r C1 PC1 < <(new_account "$ENV1")
read -r B2 PB2 < <(new_account "$ENV2")
read -r A3 PA3 < <(new_account "$ENV3")
read -r C3 PC3 < <(new_account "$ENV3")
read -r B4 PB4 < <(new_account "$ENV4")
K=$W/gnupg
for u in "$C1" "$B2" "$C3" "$B4"; do
	rc genkey "$K" "$u" >/dev/null 2>&1 || exit 1
done

$PY "$HERE/delivery.py" run --count "$N" --keydir "$K" \
	--path local-with "$ENV1" "$A1" "$PA1" "$ENV1" "$C1" "$PC1" \
	--path local-without "$ENV3" "$A3" "$PA3" "$ENV3" "$C3" "$PC3" \
	--path fed-with "$ENV1" "$A1" "$PA1" "$ENV2" "$B2" "$PB2" \
	--path fed-without "$ENV3" "$A3" "$PA3" "$ENV4" "$B4" "$PB4" \
	>"$W/paths.txt" || exit 1
# the submission's stages on their own, inside e2e1's namespace
for port in 10080 10025; do
	ip netns exec "$(renv "$ENV1" NETNS)" "$PY" "$HERE/delivery.py" direct \
		--count "$((N / 2))" --keydir "$K" "$port" "$A1" "$C1" \
		>"$W/direct$port.txt" || exit 1
done

dc_ok=0
if dc_python; then
	read -r D1 PD1 < <(new_account "$ENV1")
	read -r E1 PE1 < <(new_account "$ENV1")
	read -r D3 PD3 < <(new_account "$ENV3")
	read -r E3 PE3 < <(new_account "$ENV3")
	dc_hosts "$ENV1" "$ENV3" >"$W/hosts"
	# core's accounts on tmpfs: its SQLite fsyncs on this shared
	# machine's disk would be most of what is measured
	DCW=$(mktemp -d /dev/shm/bench-relay-dc.XXXXXX)
	on_exit "rm -rf '$DCW'"
	dc_run "$W/hosts" dc_bench.py "$DCW" --count "$DCN" --rounds "$DCR" \
		--pair with "$ENV1" "$D1" "$PD1" "$E1" "$PE1" \
		--pair without "$ENV3" "$D3" "$PD3" "$E3" "$PE3" \
		>"$W/dc.txt" 2>"$W/dc.err" && dc_ok=1
	[ "$dc_ok" = 1 ] || tail -n 5 "$W/dc.err" | sed 's/^/bench_relay: dc_bench: /'
fi

# q FILE PREFIX COL P: the P-quantile (nearest rank) of column COL of
# the lines starting with "PREFIX " (every line if PREFIX is empty)
q() {
	awk -v m="$2" -v c="$3" '(m == "" || index($0, m " ") == 1) && $c != "-" { print $c }' "$1" | sort -n |
		awk -v p="$4" '{ v[NR] = $1 } END {
			if (NR == 0) { printf "%8s", "-"; exit }
			i = int(NR * p + 0.999999); if (i < 1) i = 1
			printf "%8.0f", v[i] }'
}
row() { printf '%-58s %s %s %6s\n' "$1" "$2" "$3" "$4"; }

echo "bench_relay: with and without chatmail_idle in one run, paths in turn;"
echo "  $N messages per path (PGP/MIME ~1 KB, IDLE on IMAPS), Delta Chat core"
echo "  $(sed -n 's/^DELTACHAT_VERSION=//p' "$TOP/hack/deltachat.sh"): $DCN sends, $DCR ping-pongs per relay; ms; load $(cut -d' ' -f1-3 /proc/loadavg)"
row "figure" "    with" " without" "goal"
row "local delivery to a waiting IDLE, p50" "$(q "$W/paths.txt" local-with 2 0.5)" "$(q "$W/paths.txt" local-without 2 0.5)" "60"
row "local delivery to a waiting IDLE, p99" "$(q "$W/paths.txt" local-with 2 0.99)" "$(q "$W/paths.txt" local-without 2 0.99)" ""
row "federated delivery (relay -> relay), p50" "$(q "$W/paths.txt" fed-with 2 0.5)" "$(q "$W/paths.txt" fed-without 2 0.5)" "120"
if [ "$dc_ok" = 1 ]; then
	row "Delta Chat: send -> incoming-message event, median of $DCN" "$(q "$W/dc.txt" "with send" 3 0.5)" "$(q "$W/dc.txt" "without send" 3 0.5)" "150"
	row "Delta Chat ping-pong round trip, median of $DCR" "$(q "$W/dc.txt" "with pingpong" 3 0.5)" "$(q "$W/dc.txt" "without pingpong" 3 0.5)" "300"
else
	row "Delta Chat figures: Delta Chat core could not run" "       -" "       -" ""
fi
echo
echo "where a message's milliseconds go (medians; delivery.py's columns):"
row "stage" "    with" " without" ""
for spec in "SMTP submission: TCP + TLS + AUTH on 465:3" \
	"smtpd + filtermail + reinject: MAIL FROM to 250:4" \
	"queue to the maildir (qmgr, LMTP, save):5" \
	"notify: file in new/ to the IDLE client's EXISTS:6" \
	"IMAP fetch: DONE + FETCH of the message:7"; do
	row "  local, ${spec%:*}" "$(q "$W/paths.txt" local-with "${spec##*:}" 0.5)" "$(q "$W/paths.txt" local-without "${spec##*:}" 0.5)" ""
done
row "  federated, queue to the remote maildir (transport, HTTPS, filtermail incoming, LMTP)" "" "" ""
row "" "$(q "$W/paths.txt" fed-with 5 0.5)" "$(q "$W/paths.txt" fed-without 5 0.5)" ""
row "  federated, notify on the remote relay" "$(q "$W/paths.txt" fed-with 6 0.5)" "$(q "$W/paths.txt" fed-without 6 0.5)" ""
f=$(q "$W/direct10080.txt" "" 1 0.5)
r=$(q "$W/direct10025.txt" "" 1 0.5)
row "  of MAIL..250: filtermail outgoing + reinject (to :10080)" "$f" "" ""
row "  of MAIL..250: the reinject smtpd alone (to :10025)" "$r" "" ""
awk -v s="$t0" -v e="$t1" 'BEGIN { printf "four relays up in %.1f s\n", e - s }'
