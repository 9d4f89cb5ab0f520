#!/usr/bin/env bash
# bench_idle_cpu.sh: Dovecot's CPU at rest with many idle IMAP clients,
# with and without our chatmail_idle plugin (dovecot/) in the same run.
# Two relays at a time (hack/local-relay.sh), one as rendered (imap loads
# the plugin) and one with the plugin taken out of its dovecot.conf; each
# gets BENCH_IDLE_CONNS connections over IMAPS in IDLE at the same time
# (tests/bench/idle_conns.py), then tests/bench/dovecot_cpu.py sums the
# user+system CPU of each relay's Dovecot processes over a window of
# BENCH_IDLE_SECONDS. Two phases:
#   awake       imap.compress: true (upstream's switch that turns
#               hibernation off): every client keeps its imap process,
#               which holds the watches of the plugin (or of Dovecot
#               alone) for the whole window
#   hibernated  the default: after imap_hibernate_timeout (30 s) the
#               clients move to imap-hibernate, which loads no plugin;
#               measured once no imap process is left (bounded wait)
# The inotify instances of all those imap processes count against the
# host's fs.inotify.max_user_instances for vmail (128 on Debian): it is
# raised for the run and set back at exit, as upstream's deployer raises
# it on relays.
#
#   BENCH_IDLE_CONNS    connections per relay (default 1000)
#   BENCH_IDLE_SECONDS  the measuring window (default 30)
# Never fails on speed; exits non-zero only when it cannot run.
# shellcheck source=tests/integration/lib/common.sh
. "$(dirname "$0")/../integration/lib/common.sh"
# shellcheck source=tests/integration/relay/lib.sh
. "$(dirname "$0")/../integration/relay/lib.sh"

CONNS=${BENCH_IDLE_CONNS:-1000}
SECS=${BENCH_IDLE_SECONDS:-30}
HERE=$(cd "$(dirname "$0")" && pwd)
[ "$(id -u)" -eq 0 ] || { echo "bench_idle_cpu: needs root"; exit 1; }
relay_workdir bench-idle-cpu
export LOCAL_RELAY_BASE=$W/relays

old=$(cat /proc/sys/fs/inotify/max_user_instances)
if [ "$old" -lt $((CONNS * 2 + 512)) ]; then
	on_exit "echo $old >/proc/sys/fs/inotify/max_user_instances"
	echo $((CONNS * 2 + 512)) >/proc/sys/fs/inotify/max_user_instances
fi

# relay_up NAME COMPRESS WITH: one relay; WITH=0 takes the plugin out
relay_up() {
	local name=$1 root=$LOCAL_RELAY_BASE/$1
	mkdir -p "$root"
	cat >"$root/relay.yaml" <<EOF
apiVersion: chatmail.at/v1alpha1
kind: ChatmailRelay
metadata: {name: $name}
spec:
  domain: _$name.chat.test
  network: {disableIPv6: true}
  iroh: {enabled: false}
  imap: {compress: $2}
  systemLimits: {maxLoad1m: 1000, minAvailableMemory: 1M, minFreeDiskSpace: 1M}
EOF
	on_exit "'$RELAY_HARNESS' down $name >/dev/null 2>&1"
	"$RELAY_HARNESS" up "$name" >"$W/up-$name.log" 2>&1 || {
		tail -n 5 "$W/up-$name.log"
		return 1
	}
	if [ "$3" = 0 ]; then
		sed -i 's/ chatmail_idle//' "$root/dovecot/dovecot.conf"
		"$RELAY_HARNESS" restart "$name" dovecot >/dev/null || return 1
	fi
}

# phase LABEL COMPRESS WAIT_HIBERNATED A B: relays A (with) and B
# (without), CONNS clients each, one window; prints two result lines
phase() {
	local label=$1 a=$4 b=$5 envs i n
	relay_up "$a" "$2" 1 && relay_up "$b" "$2" 0 || return 1
	envs=("$LOCAL_RELAY_BASE/$a/relay.env" "$LOCAL_RELAY_BASE/$b/relay.env")
	coproc CONNS_P { exec $PY "$HERE/idle_conns.py" --per-relay "$CONNS" "${envs[@]}" 2>&1; }
	while IFS= read -r -t 600 line <&"${CONNS_P[0]}"; do
		echo "  $line" >>"$W/conns.log"
		case $line in "all idle") break ;; idle_conns:*) echo "bench_idle_cpu: $line"; return 1 ;; esac
	done
	[ "${line:-}" = "all idle" ] || { echo "bench_idle_cpu: clients not idle"; return 1; }
	if [ "$3" = 1 ]; then
		# until no imap process is left: all hibernated (bounded)
		for ((i = 0; i < 120; i++)); do
			n=$($PY "$HERE/dovecot_cpu.py" 0 "$(renv "${envs[0]}" NETNS)" "$(renv "${envs[1]}" NETNS)" | awk '{ s += $4 } END { print s }')
			[ "$n" = 0 ] && break
			sleep 1
		done
	else
		sleep 5
	fi
	$PY "$HERE/dovecot_cpu.py" "$SECS" "$(renv "${envs[0]}" NETNS)" "$(renv "${envs[1]}" NETNS)" |
		awk -v l="$label" 'NR == 1 { w = "with" } NR == 2 { w = "without" }
			{ printf "%-11s %-8s %7d %6d %6d %9d %8d %8d %7d\n", l, w, $2, $3, $4, $5, $6, $7, $8 }'
	eval "exec ${CONNS_P[1]}>&-"
	wait "$CONNS_P_PID" 2>/dev/null
	"$RELAY_HARNESS" down "$a" >/dev/null 2>&1
	"$RELAY_HARNESS" down "$b" >/dev/null 2>&1
}

echo "bench_idle_cpu: $CONNS idle IMAPS clients per relay, with and without chatmail_idle at once;"
echo "  Dovecot's CPU over ${SECS} s (ms), load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-11s %-8s %7s %6s %6s %9s %8s %8s %7s\n' phase plugin cpu_ms procs imap hibernate watches rss_mb changed
phase awake true 0 e2e1 e2e2 || exit 1
phase hibernated false 1 e2e3 e2e4 || exit 1
