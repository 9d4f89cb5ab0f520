#!/usr/bin/env bash
# faults.sh: the soak's faults (tests/soak/soak.sh sources it, after
# tests/integration/relay/lib.sh). A fault KIND on relay NAME is two
# steps, fault_on and fault_off, with its duration between them (the
# plan of tests/soak/soak.py: "START KIND NAME DURATION").
#
#   soak_kinds                the kinds this harness can play, one a line
#   fault_on KIND NAME ENV    start the fault
#   fault_off KIND NAME ENV   end it: the relay recovers by itself from
#                             here (Postfix retries what it deferred)
#
# Kinds on the local relays (hack/local-relay.sh):
#   kill-COMPONENT   SIGKILL of the process in the harness's pid file
#                    (filtermail-outgoing, -incoming, -transport,
#                    doveauth, metadata: pids/NAME.pid; postfix and
#                    dovecot: their masters' own pid files); off: the
#                    harness's "start", as a supervisor would (retried)
#   volume-full      the relay's vmail volume (a tmpfs of SOAK_VMAIL_SIZE
#                    that soak.sh mounts before the relay starts) filled
#                    to the last byte; off: the file removed
#   peer-down        the relay's Postfix and nginx stopped (port 25 and
#                    HTTPS /mxdeliv refuse, so its peer defers); the
#                    plan keeps it down longer than a retry interval
#   dns-outage       hack/relay-dns.sh outage DOMAIN (SERVFAIL for every
#                    name under the relay's domain); off: restore
# On the real node (hack/relay-k8s.sh) peer-down and dns-outage are
# played through the same stop/start (iptables in the Pod's network
# namespace) and relay-dns.sh (the node's relay DNS server, which
# CoreDNS forwards to); the kill-* kinds, volume-full, pod-delete and
# apiserver-restart as tests/soak/faults-k8s.sh says.
#
# Faults hold what soak.py's plan says they hold (a relay's daemons,
# its volume, the whole Pod, the DNS, the API) for real: run_fault
# locks it, so a fault the plan keeps apart from another never
# overlaps it even when the other ends late.

# shellcheck disable=SC2034 # for soak.sh
SOAK_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SOAK_SERVICES="filtermail-outgoing filtermail-incoming filtermail-transport doveauth metadata"

harness_is_local() { [ "$(basename "$RELAY_HARNESS")" = local-relay.sh ]; }
if ! harness_is_local; then
	# shellcheck source=tests/soak/faults-k8s.sh
	. "$SOAK_DIR/faults-k8s.sh"
fi

# soak_backoff ENV: the soak's retry interval (SOAK_BACKOFF) in the
# relay's Postfix, reloaded
soak_backoff() {
	local b=${SOAK_BACKOFF:-10}
	relay_postfix "$1" postconf -e "minimal_backoff_time = ${b}s" \
		"maximal_backoff_time = $((3 * b))s" \
		"queue_run_delay = $(((b + 1) / 2))s" &&
		relay_postfix "$1" postfix reload >/dev/null 2>&1
}

# relay_dns CMD DOMAIN: hack/relay-dns.sh of the relays' DNS server
relay_dns() {
	if harness_is_local; then
		"$TOP/hack/relay-dns.sh" "$@"
	else
		LOCAL_RELAY_BASE=$NODE_STATE/relay-dns LOCAL_RELAY_DNS_NETNS=$NODE_NETNS \
			LOCAL_RELAY_DNS_ADDR=$NODE_RELAY_DNS "$TOP/hack/relay-dns.sh" "$@"
	fi
}

# kill_pidfile ROOT COMPONENT: where the harness keeps its PID
kill_pidfile() {
	case $2 in
	postfix) echo "$1/spool/postfix/pid/master.pid" ;;
	dovecot) echo "$1/run/dovecot/master.pid" ;;
	*) echo "$1/pids/$2.pid" ;;
	esac
}

soak_kinds() { # soak_kinds ENV: the kinds this relay and harness play
	local root c
	if harness_is_local; then
		root=$(renv "$1" ROOT)
		for c in $SOAK_SERVICES postfix dovecot; do
			[ -s "$(kill_pidfile "$root" "$c")" ] && echo "kill-$c"
		done
		mountpoint -q "$root/vmail" && echo volume-full
	else
		k8s_kinds "$1"
	fi
	echo peer-down
	echo dns-outage
}

# retry N CMD...: CMD until it succeeds, N times at most, 1 s apart
retry() {
	local n=$1 i
	shift
	for ((i = 1; i <= n; i++)); do
		"$@" && return 0
		sleep 1
	done
	return 1
}

fill_volume() { # fill_volume DIR: write until the file system is full
	dd if=/dev/zero of="$1/.soak-fill" bs=1M status=none 2>/dev/null
	dd if=/dev/zero of="$1/.soak-fill" bs=4k oflag=append conv=notrunc \
		status=none 2>/dev/null
	[ "$(df --output=avail -B1 "$1" | tail -n 1)" -lt 65536 ]
}

fault_on() { # fault_on KIND NAME ENV STATE
	local kind=$1 name=$2 env=$3 f pid i
	case $kind in
	kill-* | volume-full | pod-delete | apiserver-restart)
		harness_is_local || {
			k8s_fault_on "$@"
			return
		}
		;;&
	kill-*)
		# the process may be starting still (the end of the fault
		# before it on this resource, up to 10 s of retries)
		f=$(kill_pidfile "$(renv "$env" ROOT)" "${kind#kill-}")
		for ((i = 0; i < 150; i++)); do
			pid=$(head -n 1 "$f" 2>/dev/null | tr -dc 0-9)
			[ -n "$pid" ] && pid_alive "$pid" && break
			pid=
			sleep 0.1
		done
		[ -n "$pid" ] || { echo "no running PID in $f"; return 1; }
		kill -KILL "$pid" && echo "pid $pid"
		;;
	volume-full) fill_volume "$(renv "$env" ROOT)/vmail" ;;
	peer-down)
		"$RELAY_HARNESS" stop "$name" postfix &&
			"$RELAY_HARNESS" stop "$name" nginx
		;;
	dns-outage) relay_dns outage "$(renv "$env" DOMAIN)" ;;
	*)
		echo "no fault $kind"
		return 1
		;;
	esac
}

fault_off() { # fault_off KIND NAME ENV STATE
	local kind=$1 name=$2 env=$3 r
	case $kind in
	kill-* | volume-full | pod-delete | apiserver-restart)
		harness_is_local || {
			k8s_fault_off "$@"
			return
		}
		;;&
	kill-*) retry 10 "$RELAY_HARNESS" start "$name" "${kind#kill-}" ;;
	volume-full) rm -f "$(renv "$env" ROOT)/vmail/.soak-fill" ;;
	peer-down)
		# both, even if the first fails: a port left closed would
		# keep the relay down (on the node: its Pod not Ready)
		r=0
		retry 10 "$RELAY_HARNESS" start "$name" postfix || r=1
		retry 10 "$RELAY_HARNESS" start "$name" nginx || r=1
		return $r
		;;
	dns-outage) relay_dns restore "$(renv "$env" DOMAIN)" ;;
	esac
}

# run_fault T0 START KIND NAME DURATION ENV LOG: at T0+START (epoch
# seconds) start the fault, end it DURATION later; one line each to LOG
run_fault() {
	local t0=$1 start=$2 kind=$3 name=$4 dur=$5 env=$6 log=$7 out rc st
	local fds=() fd r
	st=$log.$start.$kind.$name
	sleep "$(awk "BEGIN { d = $t0 + $start - $(date +%s.%N); print (d > 0 ? d : 0) }")"
	# what the fault holds, locked in one order (no deadlock): a fault
	# delayed by another (a Pod takes longer to come back than the
	# plan can know) never overlaps one the plan keeps apart from it;
	# the faults that call the API share it, so no API outage meets them
	{
		case $kind in peer-down | kill-postfix) echo apiserver-user ;; esac
		$PY "$SOAK_DIR/soak.py" resources "$kind" "$name"
	} >"$st.locks"
	while read -r r; do
		exec {fd}>>"$log.lock.${r/apiserver-user/apiserver}"
		if [ "$r" = apiserver-user ]; then flock -s "$fd"; else flock -x "$fd"; fi
		fds+=("$fd")
	done <"$st.locks"
	# the fault runs without the locks' descriptors: a daemon it starts
	# (kube-apiserver, dnsmasq) must not hold them on
	out=$(for fd in "${fds[@]}"; do exec {fd}>&-; done
		fault_on "$kind" "$name" "$env" "$st" 2>&1)
	rc=$?
	echo "T+$(since "$t0") on $kind $name rc=$rc $(echo "$out" | tail -n 1)" >>"$log"
	sleep "$dur"
	out=$(for fd in "${fds[@]}"; do exec {fd}>&-; done
		fault_off "$kind" "$name" "$env" "$st" 2>&1)
	rc=$?
	echo "T+$(since "$t0") off $kind $name rc=$rc $(echo "$out" | tail -n 1)" >>"$log"
	for fd in "${fds[@]}"; do exec {fd}>&-; done
}

since() { awk "BEGIN { printf \"%.1f\", $(date +%s.%N) - $1 }"; }
