#!/usr/bin/env bash
# idle_watches.sh ENV USER: one line "PID WATCHES MAPPED" per imap
# process of USER on the relay of ENV (hack/local-relay.sh, or a relay
# Pod): the PIDs from `doveadm who` (run where Dovecot runs: here, or in
# the Pod's dovecot container through RELAY_HARNESS's "exec"), found on this host among the processes of
# the relay's network namespace (their NSpid ends in the PID the
# container sees), then read from this host's /proc, which a container's
# own root cannot do (no CAP_SYS_PTRACE): WATCHES are the inotify
# watches of the process (every "inotify wd:" line of its inotify
# descriptors' fdinfo), MAPPED is 1 if our chatmail_idle plugin is mapped
# into it. PID is the host's. For idle_relay.py.
set -euo pipefail
env=$1 user=$2
get() { sed -n "s/^$1=//p" "$env" | tr -d '"'; }

# who: "user<TAB>proto<TAB>pid<TAB>ip" lines of Dovecot's anvil
who() {
	local pod harness=${RELAY_HARNESS:-}
	pod=$(get POD)
	if [ -n "$pod" ] && [ -n "$harness" ] && grep -q '^exec)' "$harness"; then
		"$harness" exec "$(get NAME)" dovecot \
			doveadm -c /etc/chatmail/dovecot/dovecot.conf -f tab who -1
	else
		doveadm -c "$(get ROOT)/dovecot/dovecot.conf" -f tab who -1
	fi
}

# host_pid PID: the host PID of the relay's imap process PID
host_pid() {
	local ns p nspid
	ns=$(get NETNS)
	if [ -z "$ns" ]; then
		echo "$1"
		return
	fi
	for p in $(ip netns pids "$ns"); do
		[ "$(cat "/proc/$p/comm" 2>/dev/null)" = imap ] ||
			[ "$(cat "/proc/$p/comm" 2>/dev/null)" = imap-hibernate ] || continue
		nspid=$(sed -n 's/^NSpid:.*[[:space:]]\([0-9][0-9]*\)$/\1/p' "/proc/$p/status" 2>/dev/null)
		[ "$nspid" = "$1" ] && echo "$p" && return
	done
}

who 2>/dev/null | while IFS="	" read -r u proto pid _; do
	if [ "$u" != "$user" ] || [ "$proto" != imap ]; then
		continue
	fi
	hp=$(host_pid "$pid")
	[ -n "$hp" ] || continue
	n=0
	for fd in /proc/"$hp"/fd/*; do
		[ "$(readlink "$fd" 2>/dev/null)" = anon_inode:inotify ] || continue
		n=$((n + $(grep -c "^inotify wd:" /proc/"$hp"/fdinfo/"${fd##*/}" || true)))
	done
	m=0
	grep -q lib90_chatmail_idle_plugin.so /proc/"$hp"/maps 2>/dev/null && m=1
	echo "$hp $n $m"
done
