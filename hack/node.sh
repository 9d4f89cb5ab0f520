#!/usr/bin/env bash
# node.sh: a single-node Kubernetes cluster on this machine, built the way
# kind builds its node but without a node container: the control plane of
# hack/control-plane.sh (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler; no kwok) plus one real node: containerd 2.x with runc
# and the CNI bridge, kubelet, kube-proxy, CoreDNS and
# local-path-provisioner (hack/node-addons.sh). Everything is built from
# the registries (hack/k8s-bin.sh, hack/node-bin.sh, Debian's runc and
# CNI plugins) and runs from local images (hack/node-images.sh).
#
#   hack/node.sh up       start it all (idempotent); a stopped node with
#                         the same state directory comes back as it was:
#                         its Pods, volumes and API objects
#   hack/node.sh down     stop it all and leave nothing outside the state
#                         directory (processes, mounts, namespaces,
#                         interfaces, routes, iptables rules, cgroups)
#   hack/node.sh purge    down, then remove the state directory
#   hack/node.sh status   each component; exit 0 when all run
#   hack/node.sh env      shell exports (KUBECONFIG, NODE_*) of a node
#   hack/node.sh import [node|relay|all|REF...]
#                         bring podman images into the node's containerd
#   hack/node.sh leftovers
#                         print what of this node exists outside its
#                         state directory (nothing after down); exit 1
#                         when anything does
#   hack/node.sh crictl|ctr ARGS...
#                         the node's crictl or ctr
#   hack/node.sh control-plane up|stop|status
#                         hack/control-plane.sh on the node's control
#                         plane (up after a crash: the soak restarts
#                         kube-apiserver and etcd)
#
# Isolation. The node has a network namespace and a mount namespace of
# its own, kept as files in STATE/ns (like kind's node container):
#   network  a veth pair: host NET.255.1 <-> node NET.255.2 (the node IP,
#            kubelet's port); Pods NET.0.0/24 on the bridge cni0 inside;
#            Services NET.128.0/24, DNS at NET.128.10; the relay DNS
#            server at NET.254.53 on the node's loopback. The host routes
#            NET.0.0/16 to the node, so host-side tests reach Pods and
#            Services; the node has no default route, so nothing in it
#            reaches beyond this machine. kube-proxy's and kubelet's
#            iptables rules, IP forwarding and the bridge exist only in
#            that namespace. kube-apiserver listens on NET.255.1.
#   mount    containerd, kubelet and kube-proxy see tmpfs over /run,
#            /var/lib and /var/log (containerd's /run/containerd/s shim
#            sockets, kubelet's /var/lib/kubelet/device-plugins and pki,
#            /var/log/containers, libcni's /var/lib/cni), and the kernel
#            tunables kubelet insists on as read-only files (see
#            hack/node-conf.sh): the machine's own are never written.
#   cgroups  kubelet's cgroupRoot /chatmail-node-<tag> in every hierarchy.
# So two nodes (the demo's and a test run's) can run side by side with
# different NODE_NET and ports.
#
# Settings (environment): NODE_STATE (default build/node), NODE_NET (two
# octets, default 10.251; the second must not be one of the relay test
# networks 76-249), NODE_NAME (default chatmail-node), NODE_TIMEOUT
# (seconds per wait, default 180), and the control plane's CP_*_PORT
# (defaults 23379, 23380, 27443, 21257, 21259 here). Needs root.
set -Eeuo pipefail

PROG=node
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE=${NODE_STATE:-$ROOT/build/node}
NET=${NODE_NET:-10.251}
NAME=${NODE_NAME:-chatmail-node}
TIMEOUT=${NODE_TIMEOUT:-180}
case $NET in
10.25[0-5] | 10.[0-9] | 10.[1-6][0-9] | 10.7[0-5]) ;;
*)
	echo "node: NODE_NET must be 10.X with X 0-75 or 250-255 (76-249 are the relay test nets)" >&2
	exit 64
	;;
esac
# the node routes NET.0.0/16 to itself: a resolver of this machine inside
# it would be cut off (image builds and Go downloads then fail on DNS)
if grep -qE "^nameserver[[:space:]]+${NET//./\\.}\\." /etc/resolv.conf 2>/dev/null; then
	echo "node: NODE_NET $NET holds this machine's DNS server (/etc/resolv.conf); take another" >&2
	exit 64
fi
TAG=${NET#10.}
HOST_IP=$NET.255.1
NODE_IP=$NET.255.2
POD_CIDR=$NET.0.0/24
CLUSTER_CIDR=$POD_CIDR
SERVICE_CIDR=$NET.128.0/24
DNS_IP=$NET.128.10
RELAY_DNS=$NET.254.53
VETH=cmnode$TAG
CGROUP=chatmail-node-$TAG
KUBELET_PORT=10250
NSDIR=$STATE/ns
LOGDIR=$STATE/log
COMPONENTS=(containerd kubelet kube-proxy)

export CP_STATE_DIR=$STATE/cp CP_BIND_ADDRESS=$HOST_IP CP_SERVICE_CIDR=$SERVICE_CIDR
export CP_KWOK=0 CP_SCHEDULER=1 CP_KEEP_STATE=1
export CP_ETCD_PORT=${CP_ETCD_PORT:-23379} CP_ETCD_PEER_PORT=${CP_ETCD_PEER_PORT:-23380}
export CP_APISERVER_PORT=${CP_APISERVER_PORT:-27443} CP_KCM_PORT=${CP_KCM_PORT:-21257}
export CP_SCHEDULER_PORT=${CP_SCHEDULER_PORT:-21259} CP_KWOK_PORT=${CP_KWOK_PORT:-21247}
KUBECONFIG_FILE=$CP_STATE_DIR/kubeconfig
CLIENT_CA=$CP_STATE_DIR/pki/client-ca.crt
SOCK=$STATE/containerd/containerd.sock
export CONTAINER_RUNTIME_ENDPOINT=unix://$SOCK IMAGE_SERVICE_ENDPOINT=unix://$SOCK
export CRI_CONFIG_FILE=$STATE/crictl.yaml

say() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() {
	say "ERROR: $*"
	exit 1
}

# binaries: the Kubernetes cache, the node cache, the image names
bins() {
	KBIN=$("$ROOT/hack/k8s-bin.sh" path)
	NODE_BIN=$("$ROOT/hack/node-bin.sh" path)
	mapfile -t _imgs < <("$ROOT/hack/node-images.sh" list node)
	PAUSE_IMAGE=${_imgs[0]} COREDNS_IMAGE=${_imgs[1]}
	LOCAL_PATH_IMAGE=${_imgs[2]} HELPER_IMAGE=${_imgs[3]}
}

# shellcheck source=hack/node-conf.sh
. "$ROOT/hack/node-conf.sh"
# shellcheck source=hack/node-addons.sh
. "$ROOT/hack/node-addons.sh"

k() { "$KBIN/kubectl" --kubeconfig "$KUBECONFIG_FILE" --request-timeout=30s "$@"; }
crictl() { "$NODE_BIN/crictl" --timeout 30s "$@"; }

# in_node CMD...: CMD in the node's network and mount namespaces
in_node() { nsenter --net="$NSDIR/net" --mount="$NSDIR/mnt" -- "$@"; }

# ns_alive FILE: the namespace file is a live (bind-mounted) namespace
ns_alive() { [ -e "$1" ] && mountpoint -q "$1"; }

# alive COMPONENT: its pid file names a live process of our binary
alive() {
	local pidf=$STATE/$1.pid pid exe
	[ -f "$pidf" ] || return 1
	pid=$(cat "$pidf")
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
	exe=${exe% (deleted)}
	[ "${exe##*/}" = "$1" ] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$STATE/"
}

# wait_for WHAT COMPONENT CMD...: poll CMD until it succeeds (bounded)
wait_for() {
	local what=$1 c=$2 deadline=$((SECONDS + TIMEOUT))
	shift 2
	until "$@" >/dev/null 2>&1; do
		if [ -n "$c" ] && ! alive "$c"; then
			say "$c exited while waiting for $what; end of $LOGDIR/$c.log:"
			tail -n 30 "$LOGDIR/$c.log" >&2 || true
			return 1
		fi
		if [ $SECONDS -ge $deadline ]; then
			say "$what not reached within ${TIMEOUT}s"
			[ -z "$c" ] || tail -n 30 "$LOGDIR/$c.log" >&2 || true
			return 1
		fi
		sleep 0.5
	done
}

# start COMPONENT ARGS...: the binary detached, in the node's namespaces
start() {
	local c=$1 bin pid
	shift
	case $c in
	containerd) bin=$NODE_BIN/containerd ;;
	*) bin=$KBIN/$c ;;
	esac
	[ -x "$bin" ] || die "$bin missing (hack/k8s-bin.sh, hack/node-bin.sh)"
	# the shim is found through PATH, runc by its configured path
	setsid nsenter --net="$NSDIR/net" --mount="$NSDIR/mnt" -- \
		env PATH="$NODE_BIN:/usr/sbin:/usr/bin:/sbin:/bin" "$bin" "$@" \
		>"$LOGDIR/$c.log" 2>&1 </dev/null 8>&- &
	pid=$!
	echo "$pid" >"$STATE/$c.pid"
	for ((i = 0; i < 100; i++)); do
		alive "$c" && break
		sleep 0.05
	done
	say "started $c (pid $pid)"
}

# stop COMPONENT: TERM, then KILL after 20 s
stop() {
	local c=$1 pid i
	alive "$c" || { rm -f "$STATE/$c.pid"; return 0; }
	pid=$(cat "$STATE/$c.pid")
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 200; i++)); do
		alive "$c" || break
		sleep 0.1
	done
	if alive "$c"; then
		say "$c (pid $pid) ignored TERM; killing"
		kill -KILL "$pid" 2>/dev/null || true
		sleep 0.2
	fi
	rm -f "$STATE/$c.pid"
	say "stopped $c (pid $pid)"
}

# net_up: the node's network namespace, its veth to the host, the route
net_up() {
	ns_alive "$NSDIR/net" && return 0
	touch "$NSDIR/net"
	unshare --net="$NSDIR/net" true
	# created inside, the host end moved to this shell's namespace
	nsenter --net="$NSDIR/net" ip link add eth0 type veth peer name "$VETH" netns $$
	ip addr add "$HOST_IP/30" dev "$VETH"
	ip link set "$VETH" up
	nsenter --net="$NSDIR/net" sh -ec "
		ip link set lo up
		ip addr add $RELAY_DNS/32 dev lo
		ip addr add $NODE_IP/30 dev eth0
		ip link set eth0 up
		sysctl -qw net.ipv4.ip_forward=1
		if [ -e /proc/sys/net/bridge/bridge-nf-call-iptables ]; then
			sysctl -qw net.bridge.bridge-nf-call-iptables=1
		fi"
	ip route add "$NET.0.0/16" via "$NODE_IP"
	# the host's own addresses (not beyond it): a host client that sends
	# from its default route's address (Firefox's TURN allocations do)
	# gets its answers, as a kind node answers the docker host
	local a
	for a in $(ip -4 -o addr show scope global | awk '{ sub("/.*", "", $4); print $4 }'); do
		case $a in "$NET".*) continue ;; esac
		nsenter --net="$NSDIR/net" ip route add "$a/32" via "$HOST_IP"
	done
}

# mnt_up: the node's mount namespace: private tmpfs over /run, /var/lib
# and /var/log, kubelet's kernel tunables as read-only files
mnt_up() {
	local kv f
	ns_alive "$NSDIR/mnt" && return 0
	conf_sysctls
	touch "$NSDIR/mnt"
	unshare --mount="$NSDIR/mnt" --propagation private true
	nsenter --mount="$NSDIR/mnt" -- sh -ec "
		mount -t tmpfs -o mode=755 chatmail-node-run /run
		mount -t tmpfs -o mode=755 chatmail-node-varlib /var/lib
		mount -t tmpfs -o mode=755 chatmail-node-varlog /var/log"
	for kv in $SYSCTLS; do
		f=${kv%%=*}
		nsenter --mount="$NSDIR/mnt" -- mount --bind -o ro \
			"$STATE/sysctl/$(echo "$f" | tr / .)" "/proc/sys/$f"
	done
}

# ns_up: the directory holding the namespace files is a private mount,
# as namespace files must be
ns_up() {
	mkdir -p "$NSDIR"
	if ! mountpoint -q "$NSDIR"; then
		mount --bind "$NSDIR" "$NSDIR"
		mount --make-private "$NSDIR"
	fi
	net_up
	mnt_up
}

# cgroup_roots: the root of every cgroup hierarchy (one on cgroup v2)
cgroup_roots() {
	local h
	if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
		echo /sys/fs/cgroup/
		return 0
	fi
	for h in /sys/fs/cgroup/*/; do
		[ -d "$h" ] && echo "$h"
	done
	return 0
}

# cgroups_up: kubelet's cgroupRoot in every hierarchy (a v1 cpuset needs
# its cpus and mems before anything can join)
cgroups_up() {
	local h
	for h in $(cgroup_roots); do
		mkdir -p "$h$CGROUP"
	done
	if [ -f /sys/fs/cgroup/cpuset/cpuset.cpus ] && [ -d "/sys/fs/cgroup/cpuset/$CGROUP" ]; then
		cat /sys/fs/cgroup/cpuset/cpuset.cpus >"/sys/fs/cgroup/cpuset/$CGROUP/cpuset.cpus"
		cat /sys/fs/cgroup/cpuset/cpuset.mems >"/sys/fs/cgroup/cpuset/$CGROUP/cpuset.mems"
	fi
}

# oom_restricted: the CRI plugin clamps OOM scores (asserted before
# anything else is blamed: without it no sandbox starts here)
oom_restricted() {
	[ "$(crictl info -o json 2>/dev/null | jq -r '[.. | .restrictOOMScoreAdj? // empty] | first')" = true ]
}

node_ready() {
	[ "$(k get node "$NAME" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}')" = True ]
}

start_containerd() {
	alive containerd && return 0
	conf_containerd
	printf 'runtime-endpoint: unix://%s\nimage-endpoint: unix://%s\ntimeout: 30\n' \
		"$SOCK" "$SOCK" >"$STATE/crictl.yaml"
	conf_cni
	start containerd --config "$STATE/containerd/config.toml"
	wait_for "containerd's CRI" containerd crictl info
	oom_restricted || die "crictl info: restrictOOMScoreAdj is not true"
	say "containerd $("$NODE_BIN/containerd" --version | awk '{print $3}'): restrictOOMScoreAdj true"
}

start_kubelet() {
	local kv
	alive kubelet && return 0
	conf_kubelet
	# the machine's own values, which kubelet must leave as they are
	for kv in $SYSCTLS; do
		kv=$(echo "${kv%%=*}" | tr / .)
		echo "$kv $(sysctl -n "$kv")"
	done >"$LOGDIR/host-sysctls"
	start kubelet --config="$STATE/kubelet/config.yaml" --kubeconfig="$KUBECONFIG_FILE" \
		--root-dir="$STATE/kubelet/root" --hostname-override="$NAME" \
		--node-ip="$NODE_IP" --v=1
	wait_for "node $NAME Ready" kubelet node_ready
}

start_kube_proxy() {
	alive kube-proxy && return 0
	conf_kube_proxy
	start kube-proxy --config="$STATE/kube-proxy/config.yaml"
	wait_for "kube-proxy /healthz" kube-proxy \
		in_node curl -fsS --max-time 2 http://127.0.0.1:10256/healthz
}

write_env() {
	{
		cat "$CP_STATE_DIR/env"
		cat <<EOF
export NODE_STATE=$STATE
export NODE_NAME=$NAME
export NODE_NET=$NET
export NODE_IP=$NODE_IP
export NODE_HOST_IP=$HOST_IP
export NODE_POD_CIDR=$POD_CIDR
export NODE_SERVICE_CIDR=$SERVICE_CIDR
export NODE_DNS_IP=$DNS_IP
export NODE_RELAY_DNS=$RELAY_DNS
export NODE_NETNS=$NSDIR/net
export NODE_KUBECTL=$KBIN/kubectl
export NODE_CRICTL=$NODE_BIN/crictl
export CONTAINER_RUNTIME_ENDPOINT=unix://$SOCK
export IMAGE_SERVICE_ENDPOINT=unix://$SOCK
export CRI_CONFIG_FILE=$STATE/crictl.yaml
EOF
	} >"$STATE/env"
}

preflight() {
	local t c
	[ "$(id -u)" -eq 0 ] || die "needs root"
	for t in nsenter unshare mountpoint ip iptables curl jq podman setsid flock; do
		command -v "$t" >/dev/null || die "missing tool: $t (make deps)"
	done
	[ -x /usr/sbin/runc ] || die "runc missing (make deps)"
	for c in bridge host-local loopback portmap; do
		[ -x "/usr/lib/cni/$c" ] || die "CNI plugin /usr/lib/cni/$c missing (make deps)"
	done
}

on_up_error() {
	say "up failed; stopping the node (logs kept in $LOGDIR)"
	down_all >/dev/null 2>&1 || true
	exit 1
}

up() {
	local t0=$SECONDS
	preflight
	mkdir -p "$STATE" "$LOGDIR"
	"$ROOT/hack/k8s-bin.sh" >"$LOGDIR/k8s-bin.log" 2>&1 ||
		{ tail -n 20 "$LOGDIR/k8s-bin.log" >&2; die "hack/k8s-bin.sh failed"; }
	"$ROOT/hack/node-bin.sh" >"$LOGDIR/node-bin.log" 2>&1 ||
		{ tail -n 20 "$LOGDIR/node-bin.log" >&2; die "hack/node-bin.sh failed"; }
	"$ROOT/hack/node-images.sh" build >"$LOGDIR/node-images.log" 2>&1 ||
		{ tail -n 20 "$LOGDIR/node-images.log" >&2; die "hack/node-images.sh build failed"; }
	bins
	trap on_up_error ERR
	ns_up
	cgroups_up
	"$ROOT/hack/control-plane.sh" up >"$LOGDIR/control-plane.log" 2>&1 ||
		{ tail -n 20 "$LOGDIR/control-plane.log" >&2; false; }
	say "control plane up at https://$HOST_IP:$CP_APISERVER_PORT"
	start_containerd
	"$ROOT/hack/node-images.sh" import "$SOCK" node
	start_kubelet
	start_kube_proxy
	addons_up
	write_env
	trap - ERR
	say "up in $((SECONDS - t0)) s: node $NAME Ready ($(k get node "$NAME" \
		-o 'jsonpath={.status.nodeInfo.containerRuntimeVersion}')); . $STATE/env"
}

# ns_pids: processes in the node's namespaces or in its cgroups
ns_pids() {
	local netns="" mntns="" p
	ns_alive "$NSDIR/net" && netns="net:[$(stat -L -c %i "$NSDIR/net")]"
	ns_alive "$NSDIR/mnt" && mntns="mnt:[$(stat -L -c %i "$NSDIR/mnt")]"
	for p in /proc/[0-9]*; do
		[ "${p#/proc/}" = $$ ] && continue
		if { [ -n "$netns" ] && [ "$(readlink "$p/ns/net" 2>/dev/null)" = "$netns" ]; } ||
			{ [ -n "$mntns" ] && [ "$(readlink "$p/ns/mnt" 2>/dev/null)" = "$mntns" ]; } ||
			grep -q ":/$CGROUP/" "$p/cgroup" 2>/dev/null; then
			echo "${p#/proc/}"
		fi
	done
}

# kill_rest: TERM, then KILL whatever still runs in the node
kill_rest() {
	local pids i
	pids=$(ns_pids)
	[ -n "$pids" ] || return 0
	say "ending $(echo "$pids" | wc -w) leftover process(es) of the node: $(echo "$pids" | tr '\n' ' ')"
	# shellcheck disable=SC2086
	kill -TERM $pids 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do
		[ -n "$(ns_pids)" ] || return 0
		sleep 0.1
	done
	# shellcheck disable=SC2046
	kill -KILL $(ns_pids) 2>/dev/null || true
	sleep 0.2
}

# remove_sandboxes: every Pod sandbox (its containers, its network)
remove_sandboxes() {
	local ids
	ids=$(crictl pods -q 2>/dev/null) || return 0
	[ -n "$ids" ] || return 0
	# shellcheck disable=SC2086
	crictl stopp $ids >/dev/null 2>&1 || true
	crictl rmp -fa >/dev/null 2>&1 || true
}

cgroups_down() {
	local h d
	for h in $(cgroup_roots); do
		[ -d "$h$CGROUP" ] || continue
		find "$h$CGROUP" -depth -type d 2>/dev/null | while read -r d; do
			rmdir "$d" 2>/dev/null || true
		done
	done
}

ns_down() {
	ns_alive "$NSDIR/mnt" && umount "$NSDIR/mnt"
	ns_alive "$NSDIR/net" && umount "$NSDIR/net"
	mountpoint -q "$NSDIR" && umount "$NSDIR"
	ip link del "$VETH" 2>/dev/null || true
	rm -f "$NSDIR/net" "$NSDIR/mnt"
}

down_all() {
	local i
	[ -d "$STATE" ] || return 0
	NODE_BIN=$("$ROOT/hack/node-bin.sh" path)
	for ((i = ${#COMPONENTS[@]} - 1; i >= 1; i--)); do
		stop "${COMPONENTS[i]}"
	done
	if alive containerd; then remove_sandboxes; fi
	stop containerd
	kill_rest
	ns_down
	cgroups_down
	if [ -d "$CP_STATE_DIR" ]; then
		"$ROOT/hack/control-plane.sh" stop >>"$LOGDIR/control-plane.log" 2>&1 || true
	fi
	rm -f "$STATE/env"
}

# leftovers: everything of this node outside its state directory
leftovers() {
	local out=() p h
	p=$(ns_pids | tr '\n' ' ')
	[ -z "$p" ] || out+=("processes: $p")
	for p in $(pgrep -f -- "$STATE/" 2>/dev/null); do
		[ "$p" = $$ ] || out+=("process $p: $(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | cut -c1-100)")
	done
	p=$(findmnt -rn -o TARGET | grep -F "$STATE" | tr '\n' ' ' || true)
	[ -z "$p" ] || out+=("mounts: $p")
	if ip link show "$VETH" >/dev/null 2>&1; then out+=("interface $VETH"); fi
	if ip route show | grep "^$NET\." >/dev/null; then out+=("route to $NET.0.0/16"); fi
	for h in $(cgroup_roots); do
		if [ -d "$h$CGROUP" ]; then out+=("cgroup $h$CGROUP"); fi
	done
	# (not /var/lib/cni: podman's CNI keeps its own state there; the
	# node's libcni cache is in its own /var/lib)
	for p in /run/containerd /var/lib/kubelet /var/log/containers /var/log/pods \
		/etc/cni/net.d/10-chatmail-node.conflist; do
		if [ -e "$p" ]; then out+=("path $p"); fi
	done
	if iptables-save 2>/dev/null | grep 'KUBE-' >/dev/null; then
		out+=("KUBE-* iptables chains in the host's namespace")
	fi
	if [ ${#out[@]} -gt 0 ]; then
		printf 'left behind: %s\n' "${out[@]}"
		return 1
	fi
	echo "nothing of node $NAME outside $STATE"
}

status() {
	local c rc=0
	NODE_BIN=$("$ROOT/hack/node-bin.sh" path)
	"$ROOT/hack/control-plane.sh" status || rc=3
	for c in "${COMPONENTS[@]}"; do
		if alive "$c"; then
			printf '%-24s running (pid %s)\n' "$c" "$(cat "$STATE/$c.pid")"
		else
			printf '%-24s stopped\n' "$c"
			rc=3
		fi
	done
	if [ $rc -eq 0 ]; then
		bins
		k get node -o wide
		k get pods -A -o wide
	fi
	return $rc
}

lock() {
	mkdir -p "$STATE"
	exec 8>"$STATE/.lock"
	flock -w 600 8 || die "another hack/node.sh holds $STATE/.lock"
}

main() {
	case ${1:-} in
	up) lock && up ;;
	down) lock && down_all && say "down (state kept in $STATE)" ;;
	purge)
		lock
		down_all
		[ -d "$CP_STATE_DIR" ] && "$ROOT/hack/control-plane.sh" down >/dev/null 2>&1
		rm -rf "${STATE:?}"
		say "purged $STATE"
		;;
	status) status ;;
	env)
		[ -f "$STATE/env" ] || die "not up"
		cat "$STATE/env"
		;;
	import)
		shift
		"$ROOT/hack/node-images.sh" import "$SOCK" "${@:-all}"
		;;
	leftovers) leftovers ;;
	control-plane)
		shift
		"$ROOT/hack/control-plane.sh" "$@"
		;;
	crictl)
		shift
		NODE_BIN=$("$ROOT/hack/node-bin.sh" path)
		crictl "$@"
		;;
	ctr)
		shift
		exec "$("$ROOT/hack/node-bin.sh" path)/ctr" --address "$SOCK" -n k8s.io "$@"
		;;
	*)
		sed -n '11,31p' "$0" | sed 's/^# \{0,1\}//' >&2
		exit 64
		;;
	esac
}

main "$@"
