#!/usr/bin/env bash
# local-relay-net.sh: the network of local test relays, sourced by
# hack/local-relay.sh and hack/relay-dns.sh (not run by itself).
#
# Namespace mode (the default where `ip netns` works): a bridge
# cmbr<tag> on the host with $NET.1 (so host-side clients reach the
# relays; nothing on the host listens there), a namespace per relay
# (cm<tag>-<name>, veth on the bridge, address $NET.<10+index>, its own
# loopback for the internal ports, /etc/netns/<ns>/resolv.conf pointing
# at the DNS server) and one for dnsmasq (cm<tag>-dns, $NET.2).
# Loopback mode (no namespaces): relay <index> binds 127.<tag>.0.<10+index>
# with every port moved up by LOCAL_RELAY_PORT_OFFSET (default 20000),
# DNS at 127.<tag>.0.2; relays cannot federate (Postfix uses the host's
# resolver), which `up` says.
#
# shellcheck disable=SC2034 # the variables are for the sourcing scripts
# Settings (environment):
#   LOCAL_RELAY_BASE  where relays live (default build/local-relay)
#   LOCAL_RELAY_NET   the /24 of the bridge, 3 octets (default 10.77.0);
#                     its second octet is the tag in every name, so a
#                     test's relays never collide with a developer's
#   LOCAL_RELAY_MODE  auto | netns | loopback (default auto)
#   LOCAL_RELAY_DNS_NETNS, LOCAL_RELAY_DNS_ADDR
#                     run the relay DNS server in that network namespace
#                     (a namespace file) at that address instead, without
#                     a bridge: the test node's (hack/node.sh), whose
#                     CoreDNS forwards to it

BASE=${LOCAL_RELAY_BASE:-$TOP/build/local-relay}
NET=${LOCAL_RELAY_NET:-10.77.0}
TAG=$(echo "$NET" | cut -d. -f2)
BR=cmbr$TAG
DNS_NS=cm$TAG-dns
PORT_OFFSET=${LOCAL_RELAY_PORT_OFFSET:-20000}

case $NET in
*[!0-9.]* | *.*.*.* | .* | *..*)
	echo "LOCAL_RELAY_NET must be three octets like 10.77.0" >&2
	exit 64
	;;
esac

# net_mode: netns or loopback, fixed for all relays under BASE while any
# is up (recorded in BASE/.mode)
net_mode() {
	local m=${LOCAL_RELAY_MODE:-auto}
	if [ -s "$BASE/.mode" ]; then
		cat "$BASE/.mode"
		return 0
	fi
	if [ "$m" = auto ]; then
		m=loopback
		if ip netns add "cm$TAG-probe$$" 2>/dev/null; then
			ip netns del "cm$TAG-probe$$"
			m=netns
		fi
	fi
	echo "$m"
}

# net_mode_save: record the mode while relays are up
net_mode_save() {
	mkdir -p "$BASE"
	echo "$MODE" >"$BASE/.mode"
}

MODE=$(net_mode)
DNS_OWN_NS=${LOCAL_RELAY_DNS_NETNS:-}
if [ -n "$DNS_OWN_NS" ]; then
	DNS_ADDR=${LOCAL_RELAY_DNS_ADDR:?LOCAL_RELAY_DNS_ADDR goes with LOCAL_RELAY_DNS_NETNS}
	DNS_EXEC="nsenter --net=$DNS_OWN_NS"
elif [ "$MODE" = netns ]; then
	DNS_ADDR=$NET.2
	DNS_EXEC="ip netns exec $DNS_NS"
else
	DNS_ADDR=127.$TAG.0.2
	DNS_EXEC=""
fi

net_bridge_up() {
	[ "$MODE" = netns ] && [ -z "$DNS_OWN_NS" ] || return 0
	ip link show "$BR" >/dev/null 2>&1 && return 0
	ip link add "$BR" type bridge &&
		ip addr add "$NET.1/24" dev "$BR" &&
		ip link set "$BR" up
}

net_bridge_down() {
	[ "$MODE" = netns ] || { rm -f "$BASE/.mode"; return 0; }
	ip link del "$BR" 2>/dev/null || true
	rm -f "$BASE/.mode"
}

# net_veth NS HOSTIF ADDR: a veth from the bridge into NS as eth0
# (&& chains: callers use "||", under which set -e does not apply)
net_veth() {
	local ns=$1 hif=$2 addr=$3
	ip link add "$hif" type veth peer name "${hif}r" &&
		ip link set "${hif}r" netns "$ns" &&
		ip link set "$hif" master "$BR" up &&
		ip -n "$ns" link set lo up &&
		ip -n "$ns" link set "${hif}r" name eth0 &&
		ip -n "$ns" addr add "$addr/24" dev eth0 &&
		ip -n "$ns" link set eth0 up &&
		ip -n "$ns" route add default via "$NET.1"
}

# net_stale NS HOSTIF: remove a namespace and a host interface that no
# relay under BASE owns (callers check relay.env first): left by a
# relay whose down did not finish, they would make "ip netns add" or
# "ip link add" fail with "File exists"
net_stale() {
	local ns=$1 hif=$2 pid owner
	owner=$(cat "/run/chatmail-test-nets/$ns" 2>/dev/null || true)
	if [ -n "$owner" ] && [ "$owner" != "${CM_TEST_RUN:-}" ]; then
		echo "local-relay: $ns belongs to another test run ($owner)" >&2
		return 0
	fi
	if [ -e "/run/netns/$ns" ]; then
		echo "local-relay: removing the stale namespace $ns" >&2
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			kill -KILL "$pid" 2>/dev/null || true
		done
		ip netns del "$ns" 2>/dev/null || true
	fi
	if ip link show "$hif" >/dev/null 2>&1; then
		echo "local-relay: removing the stale interface $hif" >&2
		ip link del "$hif" 2>/dev/null || true
	fi
	return 0
}

# net_owner NS | net_owner NS -: record the test run that made NS
# (tests/run.sh's CM_TEST_RUN) so its runner finds what a program left;
# "-" forgets it
net_owner() {
	if [ "${2:-}" = - ]; then
		rm -f "/run/chatmail-test-nets/$1"
	elif [ -n "${CM_TEST_RUN:-}" ]; then
		mkdir -p /run/chatmail-test-nets &&
			echo "$CM_TEST_RUN" >"/run/chatmail-test-nets/$1"
	fi
	return 0
}

net_dns_up() {
	[ "$MODE" = netns ] && [ -z "$DNS_OWN_NS" ] || return 0
	ip netns list | grep -qw "^$DNS_NS" && return 0
	net_stale "$DNS_NS" "cm${TAG}hd"
	ip netns add "$DNS_NS" && net_owner "$DNS_NS" &&
		net_veth "$DNS_NS" "cm${TAG}hd" "$DNS_ADDR"
}

net_dns_down() {
	[ "$MODE" = netns ] && [ -z "$DNS_OWN_NS" ] || return 0
	ip netns del "$DNS_NS" 2>/dev/null || true
	net_owner "$DNS_NS" -
}

# net_relay_ns NAME: the relay's namespace name
net_relay_ns() { echo "cm$TAG-$1"; }

# net_relay_addr INDEX: the relay's own address
net_relay_addr() {
	if [ "$MODE" = netns ]; then
		echo "$NET.$((10 + $1))"
	else
		echo "127.$TAG.0.$((10 + $1))"
	fi
}

# net_relay_up NAME INDEX: namespace, veth, resolver for one relay
net_relay_up() {
	local ns
	[ "$MODE" = netns ] || return 0
	ns=$(net_relay_ns "$1")
	net_stale "$ns" "cm${TAG}h$2"
	net_bridge_up &&
		ip netns add "$ns" && net_owner "$ns" &&
		net_veth "$ns" "cm${TAG}h$2" "$(net_relay_addr "$2")" &&
		mkdir -p "/etc/netns/$ns" &&
		echo "nameserver $DNS_ADDR" >"/etc/netns/$ns/resolv.conf"
}

net_relay_down() {
	local ns
	[ "$MODE" = netns ] || return 0
	ns=$(net_relay_ns "$1")
	ip netns del "$ns" 2>/dev/null || true
	net_owner "$ns" -
	rm -rf "/etc/netns/$ns"
}

# net_prefix NAME: the command words that run something in the relay's
# network (none in loopback mode), as one word per line; use as
# mapfile -t pre < <(net_prefix NAME); "${pre[@]}" CMD & so that $! is
# CMD's own PID (ip netns exec and setpriv exec, a function would fork)
net_prefix() {
	[ "$MODE" = netns ] || return 0
	printf '%s\n' ip netns exec "$(net_relay_ns "$1")"
}

# net_exec NAME CMD...: run CMD in the relay's network (foreground)
net_exec() {
	local name=$1
	shift
	if [ "$MODE" = netns ]; then
		ip netns exec "$(net_relay_ns "$name")" "$@"
	else
		"$@"
	fi
}
