#!/usr/bin/env bash
# bench_filtermail.sh: filtermail outgoing as a before-queue proxy.
#
# A 10 KB PGP/MIME message (encrypted by a real gpg) is sent by 20
# parallel sessions of smtpbench (our load generator, one connection per
# message like Postfix's smtpd_proxy_filter) through
#   client -> filtermail outgoing (PGP/MIME check, DKIM signing with a
#             local 2048-bit RSA key) -> smtp-sink
# and, as the baseline measured in the same run, straight to
#   client -> smtp-sink
# (the limit for a transparent proxy). Prints messages/s and p50/p99
# latency of both, their ratio, and filtermail's RSS idle, with 500 open
# sessions (each taken to just before DATA) and its peak.
#
#   BENCH_MESSAGES (default 3000) messages per measured run
#   BENCH_PARALLEL (default 20) concurrent sessions
#   BENCH_OPEN (default 500) sessions held open for the RSS figure
#   BENCH_NO_DKIM=1 an IPv4 relay (mail_domain 127.0.0.1), which signs
#                   nothing: the proxy without the RSA signature
#   FILTERMAIL_SIGN_THREADS passes to filtermail: its DKIM signer threads
#                   (default the online CPUs, at most 4; 0 = sign on the
#                   event loop, as before the signer pool)
#   BIN=<dir>       another build's filtermail and smtpbench (before/after)
# The machine's load average is printed with the figures: other work on
# the same cores moves the rates, not the CPU per message.
# Never fails on speed; exits non-zero only when it cannot run.
# shellcheck source=tests/integration/lib/common.sh
. "$(dirname "$0")/../integration/lib/common.sh"
# shellcheck source=tests/integration/lib/postfix.sh
. "$(dirname "$0")/../integration/lib/postfix.sh"

N=${BENCH_MESSAGES:-3000}
C=${BENCH_PARALLEL:-20}
OPEN=${BENCH_OPEN:-500}
DOMAIN=example.test
FROM=bench@example.test
if [ "${BENCH_NO_DKIM:-0}" = 1 ]; then
	DOMAIN=127.0.0.1
	FROM='bench@[127.0.0.1]'
fi
W=$(workdir bench-filtermail)
# workdir ran in a subshell, so its own cleanup did not register here
[ "${KEEP:-0}" = 1 ] || on_exit "rm -rf '$W'"
SINKP=$(free_port)
FMP=$(free_port)
ulimit -n 4096 2>/dev/null || true

for b in filtermail smtpbench; do
	[ -x "$BIN/$b" ] || { echo "no $BIN/$b: run make first"; exit 1; }
done

# smtp-sink without dumps: as cheap a final hop as there is
smtp-sink -u postfix -c 127.0.0.1:"$SINKP" 1000 </dev/null >/dev/null 2>&1 &
SINK_PID=$!
on_exit "stop_pid $SINK_PID"
wait_port 127.0.0.1 "$SINKP" 10 || exit 1

# the message: PGP/MIME around ~7.5 KB of encrypted text, about 10 KB
export GNUPGHOME=$W/gnupg
# gpg starts an agent: stop it with the test
on_exit "gpgconf --homedir '$GNUPGHOME' --kill gpg-agent >/dev/null 2>&1"
mkdir -p "$GNUPGHOME" && chmod 700 "$GNUPGHOME"
gpg --batch --passphrase '' --quick-gen-key 'rcpt <rcpt@example.test>' \
	future-default default never >/dev/null 2>&1
head -c 7000 /dev/urandom | base64 | gpg --batch --trust-model always \
	--armor --encrypt -r rcpt@example.test >"$W/payload.asc" 2>/dev/null
{
	printf 'From: %s\r\nTo: rcpt@example.test\r\n' "$FROM"
	printf 'Subject: [...]\r\nDate: Sat, 28 Nov 2026 12:00:00 +0000\r\n'
	printf 'Message-ID: <bench@example.test>\r\nMIME-Version: 1.0\r\n'
	printf 'Autocrypt: addr=%s; keydata=AAAA\r\n' "$FROM"
	printf 'Content-Type: multipart/encrypted; protocol="application/pgp-encrypted"; boundary="b1"\r\n\r\n'
	printf 'This is an OpenPGP/MIME encrypted message\r\n--b1\r\n'
	printf 'Content-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n\r\n--b1\r\n'
	printf 'Content-Type: application/octet-stream; name="encrypted.asc"\r\n\r\n'
	sed 's/$/\r/' "$W/payload.asc"
	printf '\r\n--b1--\r\n'
} >"$W/msg.eml"

openssl genrsa -traditional -out "$W/dkim.private" 2048 2>/dev/null
cat >"$W/chatmail.ini" <<EOF
[params]
mail_domain = $DOMAIN
max_user_send_per_minute = 1000000
max_user_send_burst_size = 1000000
filtermail_smtp_port = $FMP
postfix_reinject_port = $SINKP
dkim_key_file = $W/dkim.private
EOF
"$BIN/filtermail" "$W/chatmail.ini" outgoing </dev/null >"$W/fm.log" 2>&1 &
FM_PID=$!
on_exit "stop_pid $FM_PID"
wait_port 127.0.0.1 "$FMP" 10 || { cat "$W/fm.log"; exit 1; }

cpu() { awk '{ print $14 + $15 }' "/proc/$1/stat"; } # utime+stime, ticks
# the event loop's own share: the main thread (the rest is the signers)
loopcpu() { awk '{ print $14 + $15 }' "/proc/$1/task/$1/stat"; }
rss() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
run() { # run PORT MESSAGES
	"$BIN/smtpbench" -p "$1" -c "$C" -n "$2" -f "$W/msg.eml" \
		-F "$FROM" -T rcpt@example.test
}

# RSS first, in a fresh process: idle, then with OPEN sessions open
idle=$(rss "$FM_PID" VmRSS)
"$BIN/smtpbench" -p "$FMP" -i "$OPEN" -w 30 -F "$FROM" \
	-T rcpt@example.test >"$W/hold.out" 2>&1 &
HOLD_PID=$!
on_exit "stop_pid $HOLD_PID"
for ((i = 0; i < 300; i++)); do
	grep -q '^held=' "$W/hold.out" && break
	sleep 0.05
done
held=$(sed -n 's/^held=//p' "$W/hold.out")
open_rss=$(rss "$FM_PID" VmRSS)
stop_pid "$HOLD_PID"
rss_line="filtermail RSS (fresh process): idle ${idle} kB; with ${held:-0} open sessions ${open_rss} kB (goal <= 8192 kB)"
# the same with each session in DATA, the whole message but its final dot
# sent: the message buffer is the per-session cost that remains
"$BIN/smtpbench" -p "$FMP" -i "$OPEN" -w 30 -F "$FROM" -T rcpt@example.test \
	-f "$W/msg.eml" >"$W/hold2.out" 2>&1 &
HOLD_PID=$!
on_exit "stop_pid $HOLD_PID"
for ((i = 0; i < 300; i++)); do
	grep -q '^held=' "$W/hold2.out" && break
	sleep 0.05
done
sleep 0.2 # the last bytes reach filtermail
held2=$(sed -n 's/^held=//p' "$W/hold2.out")
data_rss=$(rss "$FM_PID" VmRSS)
stop_pid "$HOLD_PID"
rss_line2="filtermail RSS with ${held2:-0} sessions each holding the message in DATA: ${data_rss} kB"

# the message must really pass filtermail (encrypted, signed)
out=$(run "$FMP" 1)
case $out in
*"messages=1 errors=0"*) ;;
*) echo "a test message did not pass filtermail: $out"; tail -5 "$W/fm.log"; exit 1 ;;
esac
grep -q 'DKIM-Signature field added' "$W/fm.log" ||
	echo "note: filtermail did not log a DKIM signature"

echo "message: $(wc -c <"$W/msg.eml") bytes PGP/MIME; $C parallel sessions; $N messages per run"
echo "load average before the runs: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs)"
if [ "$DOMAIN" = example.test ]; then
	# -n names the signer threads; a build without the pool says nothing
	st=$("$BIN/filtermail" -n "$W/chatmail.ini" outgoing 2>/dev/null |
		sed -n 's/^# FILTERMAIL_SIGN_THREADS = \([0-9]*\).*/\1/p')
	case ${st:-0} in
	0) where="on the event loop" ;;
	*) where="on $st signer threads" ;;
	esac
	echo "filtermail: outgoing, DKIM signing with a local 2048-bit RSA key $where ($(awk '/^Threads:/ { print $2 }' "/proc/$FM_PID/status") threads in all)"
else
	echo "filtermail: outgoing, IPv4 relay: no DKIM signature"
fi
run "$SINKP" 300 >/dev/null # warm-up
run "$FMP" 300 >/dev/null
c0=$(cpu "$FM_PID")
l0=$(loopcpu "$FM_PID")
s0=$(cpu "$SINK_PID")
direct=$(run "$SINKP" "$N")
s1=$(cpu "$SINK_PID")
through=$(run "$FMP" "$N")
c1=$(cpu "$FM_PID")
l1=$(loopcpu "$FM_PID")
direct2=$(run "$SINKP" "$N")
s2=$(cpu "$SINK_PID")
c2=$(cpu "$FM_PID")
l2=$(loopcpu "$FM_PID")
through2=$(run "$FMP" "$N")
c3=$(cpu "$FM_PID")
l3=$(loopcpu "$FM_PID")
printf '%-34s %s\n' "client -> smtp-sink (baseline):" "$direct" \
	"" "$direct2" \
	"client -> filtermail -> smtp-sink:" "$through" "" "$through2"
rate() { sed -n 's/.*rate=\([0-9]*\).*/\1/p' <<<"$1"; }
best() { if [ "$1" -gt "$2" ]; then echo "$1"; else echo "$2"; fi; }
rd=$(best "$(rate "$direct")" "$(rate "$direct2")")
rt=$(best "$(rate "$through")" "$(rate "$through2")")
[ "$rd" -gt 0 ] && awk -v a="$rt" -v b="$rd" \
	'BEGIN { printf "ratio filtermail/direct (best runs): %.2f (goal >= 0.8)\n", a / b }'

# CPU per message does not depend on what else the machine runs
hz=$(getconf CLK_TCK)
awk -v f=$((c1 - c0 + c3 - c2)) -v k=$((s1 - s0 + s2 - s1)) -v n=$((2 * N)) -v hz="$hz" \
	'BEGIN { printf "CPU per message: filtermail %.0f us (with DKIM signing if on); smtp-sink %.0f us (direct runs)\n", f / hz / n * 1e6, k / hz / n * 1e6 }'
# one thread's CPU per message bounds its rate: 1 s / that
awk -v l=$((l1 - l0 + l3 - l2)) -v f=$((c1 - c0 + c3 - c2)) -v n=$((2 * N)) -v hz="$hz" \
	'BEGIN { e = l / hz / n * 1e6; printf "CPU per message: event loop thread %.0f us (its ceiling ~%.0f msg/s), signer threads %.0f us\n", e, (e > 0 ? 1e6 / e : 0), (f - l) / hz / n * 1e6 }'
echo "$rss_line"
echo "$rss_line2"
echo "load average after the runs: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "filtermail RSS after the runs: $(rss "$FM_PID" VmRSS) kB, peak $(rss "$FM_PID" VmHWM) kB"
exit 0
