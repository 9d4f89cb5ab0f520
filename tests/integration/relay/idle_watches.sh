#!/usr/bin/env bash
# idle_watches.sh ENV USER: one line "PID WATCHES MAPPED" per imap
# process of USER on the relay of ENV (hack/local-relay.sh, or a relay
# Pod: then inside its dovecot container, with the container's PIDs,
# through RELAY_HARNESS's "exec" where it has one, else podman exec):
# the PIDs from `doveadm who`, WATCHES the inotify watches of the process
# (every "inotify wd:" line of its inotify descriptors' fdinfo), MAPPED
# 1 if our chatmail_idle plugin is mapped into it. For idle_relay.py.
# Only bash, grep and readlink: the Dovecot image has no awk.
set -euo pipefail
env=$1 user=$2
get() { sed -n "s/^$1=//p" "$env" | tr -d '"'; }

# shellcheck disable=SC2016 # run by bash -c, with its own $1 $2
snippet='conf=$1 user=$2
doveadm -c "$conf" -f tab who -1 2>/dev/null |
	while IFS="	" read -r u proto pid _; do
		[ "$u" = "$user" ] && [ "$proto" = imap ] || continue
		n=0
		for fd in /proc/"$pid"/fd/*; do
			[ "$(readlink "$fd" 2>/dev/null)" = anon_inode:inotify ] || continue
			n=$((n + $(grep -c "^inotify wd:" /proc/"$pid"/fdinfo/"${fd##*/}" || true)))
		done
		m=0
		grep -q lib90_chatmail_idle_plugin.so /proc/"$pid"/maps 2>/dev/null && m=1
		echo "$pid $n $m"
	done'
pod=$(get POD)
harness=${RELAY_HARNESS:-}
if [ -n "$pod" ] && [ -n "$harness" ] && grep -q '^exec)' "$harness"; then
	# a harness with "exec NAME CONTAINER CMD..." (a cluster's)
	"$harness" exec "$(get NAME)" dovecot bash -c "$snippet" _ \
		/etc/chatmail/dovecot/dovecot.conf "$user"
elif [ -n "$pod" ]; then
	podman exec "$pod-dovecot" bash -c "$snippet" _ \
		/etc/chatmail/dovecot/dovecot.conf "$user"
else
	bash -c "$snippet" _ "$(get ROOT)/dovecot/dovecot.conf" "$user"
fi
