#!/usr/bin/env bash
# test_pod_security: what the kernel sees of the relay Pod's containers
# as kubelet, containerd and runc run them on the test node, and what
# Postfix says about its directories.
#
# One relay (e2e1). For every container of the StatefulSet's Pod, from
# /proc/<pid>/status of its first process: no new privileges, the
# runtime's seccomp filter, no ambient capabilities, and the user and
# effective capabilities its securityContext asks for (services: vmail
# 2000 with none; nginx: www-data with none, through the Pod's sysctl
# net.ipv4.ip_unprivileged_port_start=0; cert: root with KILL only;
# Postfix and Dovecot masters: root with the daemons' set); every root
# file system is
# read-only, and writing to it fails where a shell exists to try. The
# cert container finds the masters through /proc without SYS_PTRACE.
# Postfix started from the image's postfix-run: `postfix check` and the
# start logged no "warning:" line (no ConfigMap symlinks in its
# config_directory, the queue in a root-owned subdirectory of the
# claim, data_directory owned by postfix), while the claim's root keeps
# what kubelet's fsGroup gives it (so kubelet never re-chowns it). A
# local message goes through.
# shellcheck source=tests/integration/lib/common.sh
. "$(dirname "$0")/../integration/lib/common.sh"
# shellcheck source=tests/integration/relay/lib.sh
. "$(dirname "$0")/../integration/relay/lib.sh"
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

e2e_begin e2e-security 1
E=$ENV1
OBJ=$(renv "$E" OBJECTS)

# status_of CONTAINER: "uid capeff capamb nonewprivs seccomp" of its pid 1
status_of() {
	local pid
	pid=$(ctr_pid "$E" "$1") || return 1
	[ -n "$pid" ] || return 1
	awk '/^Uid:/ { u = $2 } /^CapEff:/ { e = $2 } /^CapAmb:/ { a = $2 }
		/^NoNewPrivs:/ { n = $2 } /^Seccomp:/ { s = $2 }
		END { print u, e, a, n, s }' "/proc/$pid/status"
}

# KILL is bit 5; the daemons' set: CHOWN DAC_OVERRIDE FOWNER KILL SETGID
# SETUID NET_BIND_SERVICE SYS_CHROOT (a master may drop some of it)
KILL_ONLY=0000000000000020
DAEMONS=$((0x404eb))
mapfile -t ctrs < <(jq -r '.items[] | select(.kind == "StatefulSet") |
	.spec.template.spec.containers[].name' "$OBJ")
[ "${#ctrs[@]}" -ge 10 ]
ok $? "the StatefulSet's Pod has ${#ctrs[@]} containers"
for c in "${ctrs[@]}"; do
	read -r uid eff amb nnp sec < <(status_of "$c") || uid=missing
	ro=$(awk '$5 == "/" { split($6, o, ","); print o[1] }' "/proc/$(ctr_pid "$E" "$c")/mountinfo" 2>/dev/null)
	case $c in
	cert) [ "$uid" = 0 ] && [ "$eff" = $KILL_ONLY ] ;;
	postfix | dovecot)
		[ "$uid" = 0 ] && [ $((0x$eff & ~DAEMONS)) -eq 0 ] ;;
	nginx) [ "$uid" = 33 ] && [ "$eff" = 0000000000000000 ] ;;
	*) [ "$uid" = 2000 ] && [ "$eff" = 0000000000000000 ] ;;
	esac
	ok $? "$c: uid $uid, effective capabilities $eff"
	[ "$amb" = 0000000000000000 ] && [ "$nnp" = 1 ] && [ "$sec" = 2 ] && [ "$ro" = ro ]
	ok $? "$c: no ambient capabilities ($amb), no_new_privs ($nnp), seccomp filter ($sec), read-only root ($ro)"
done
for c in postfix dovecot nginx; do
	! pexec "$E" "$c" sh -c 'echo x >/etc/e2e-write-test' 2>/dev/null
	ok $? "$c: writing to its root file system fails"
done
# nginx: every process www-data, 80 and 443 bound through the Pod's
# sysctl (set in its network namespace, as the runtime does)
users=$(ps -o user= --ppid "$(ctr_pid "$E" nginx)" |
	sort -u | tr '\n' ' ')
[ "$users" = "www-data " ]
ok $? "nginx workers run as www-data too (${users:-none})"
port=$(nsenter --net="/run/netns/$(renv "$E" NETNS)" sysctl -n net.ipv4.ip_unprivileged_port_start)
[ "$port" = 0 ]
ok $? "the Pod's network namespace has net.ipv4.ip_unprivileged_port_start = $port"
# the cert helper probes at start whether it may signal each master
CL=$(renv "$E" LOG)/cert.log
all_probed() { grep -q 'can signal nginx' "$CL" && grep -q 'can signal dovecot' "$CL" &&
	grep -q 'can signal master' "$CL"; }
wait_until 20 all_probed && ! grep -q 'cannot signal' "$CL"
ok $? "the cert container (root, KILL only) may signal nginx (www-data), dovecot and master (root)"
grep 'signal' "$CL" | sed 's/^/# /' | head -n 6

# Postfix: nothing to warn about, now or when checked again
L=$(renv "$E" LOG)/postfix.log
grep -q 'daemon started' "$L"
ok $? "Postfix started through postfix-run ($(grep -o 'configuration [^ ]*' "$L" | head -n 1))"
n=$(grep -c 'warning:' "$L")
[ "$n" -eq 0 ]
ok $? "the Postfix log has no warning at start ($n)"
grep 'warning:' "$L" | head -n 5 | sed 's/^/# /'
conf=$(grep -o 'configuration [^ ]*' "$L" | head -n 1 | cut -d' ' -f2)
out=$(pexec "$E" postfix postfix -c "${conf:-/run/postfix-config/etc}" check 2>&1)
[ -n "$conf" ] && [ -z "$out" ]
ok $? "postfix check in the running container says nothing (${out:-silent})"
Q=$(renv "$E" QUEUE)
claim=$(stat -c '%U:%G %A' "$(dirname "$Q")")
queue=$(stat -c '%U:%G %A' "$Q")
[ "$queue" = "root:root drwxr-xr-x" ] && [[ $claim == root:vmail\ drwxrws* ]]
ok $? "the queue is a root-owned 0755 subdirectory ($queue) of the claim kubelet owns ($claim)"

read -r A PA < <(new_account "$E")
read -r B PB < <(new_account "$E")
K=$W/gnupg
rc genkey "$K" "$B" >/dev/null 2>&1
id="sec-$RANDOM@e2e.test"
rc send "$E" "$A" "$PA" "$B" --keydir "$K" --msgid "$id" >/dev/null &&
	rc fetch "$E" "$B" "$PB" "$id" >/dev/null 2>&1
ok $? "A -> B delivered through the read-only Pod"
n=$(grep -c 'warning:' "$L")
[ "$n" -eq 0 ]
ok $? "still no Postfix warning after a delivery ($n)"

tap_done
