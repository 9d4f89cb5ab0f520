#!/usr/bin/env bash
# relay-dns.sh: the small DNS server local test relays find each other
# with (hack/local-relay.sh calls it; usable alone).
#
#   hack/relay-dns.sh reload    (re)write the zone from every relay.env
#                               under $LOCAL_RELAY_BASE and (re)start
#                               dnsmasq; with no relay left, stop it and
#                               remove its namespace (and the bridge)
#   hack/relay-dns.sh status    running or not, and the records served
#   hack/relay-dns.sh stop      stop dnsmasq (by PID), remove what it
#                               created
#   hack/relay-dns.sh outage DOMAIN
#                               a DNS outage for DOMAIN (the soak,
#                               tests/soak): its records are withdrawn and
#                               its queries forwarded to a server that
#                               does not answer (127.0.0.1#9), so every
#                               lookup under DOMAIN fails with SERVFAIL, a
#                               temporary error, as when a domain's name
#                               servers are unreachable; other domains
#                               stay served
#   hack/relay-dns.sh restore DOMAIN
#                               end the outage: DOMAIN's records are back
#
# Records per relay (as upstream's `cmdeploy dns` asks for, docs/UPSTREAM.md,
# DNS records):
# A, MX 10, www/mta-sts, _mta-sts TXT, SPF, DMARC, the DKIM TXT of the
# relay's key, SRV for submission(s) and imap(s). dnsmasq is
# authoritative for every relay domain (local=/<domain>/) and answers
# nothing else (no upstream servers: the relays stay offline).
#
# Tests add records of their own (more MX hosts, a null MX, a zone
# forwarded to a test server) as dnsmasq lines in $LOCAL_RELAY_BASE/
# dns-extra.conf, read at every reload.
#
# In namespace mode dnsmasq runs in its own network namespace at
# $LOCAL_RELAY_NET.2 on the relays' bridge; in loopback mode at
# 127.<tag>.0.2 on the host's loopback. Nothing listens elsewhere.
set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=hack/local-relay-net.sh
. "$TOP/hack/local-relay-net.sh"

DNSDIR=$BASE/.dns
PIDFILE=$DNSDIR/dnsmasq.pid
# domains in an outage, one a line (outage/restore)
OUTAGE=$BASE/dns-outage

pid_alive() { # a zombie counts as gone
	local st
	st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "${st#Z}" = "$st" ]
}

dns_pid() { # the PID of our dnsmasq, if it runs
	local pid
	pid=$(cat "$PIDFILE" 2>/dev/null) || return 1
	[ -n "$pid" ] && pid_alive "$pid" && echo "$pid"
}

dns_running() { dns_pid >/dev/null; }

dns_stop_daemon() {
	local pid i
	pid=$(dns_pid) || { rm -f "$PIDFILE"; return 0; }
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 100; i++)); do
		pid_alive "$pid" || break
		sleep 0.05
	done
	if pid_alive "$pid"; then
		kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -f "$PIDFILE"
}

# txt_record NAME TEXT: dnsmasq txt-record line, TEXT split into quoted
# strings of at most 255 bytes (a DKIM key does not fit one)
txt_record() {
	local name=$1 text=$2 out="txt-record=$1"
	while [ ${#text} -gt 255 ]; do
		out+=",\"${text:0:255}\""
		text=${text:255}
	done
	echo "$out,\"$text\""
	: "$name"
}

# zone_for ENVFILE: the records of one relay
zone_for() {
	local DOMAIN ADDR DKIM_SELECTOR DKIM_TXT
	# shellcheck disable=SC1090
	. "$1"
	echo "# $1"
	if grep -qsxF "$DOMAIN" "$OUTAGE"; then
		echo "# outage (hack/relay-dns.sh outage): nothing answers"
		echo "server=/$DOMAIN/127.0.0.1#9"
		return 0
	fi
	echo "local=/$DOMAIN/"
	echo "host-record=$DOMAIN,$ADDR"
	echo "cname=www.$DOMAIN,$DOMAIN"
	echo "cname=mta-sts.$DOMAIN,$DOMAIN"
	echo "mx-host=$DOMAIN,$DOMAIN,10"
	txt_record "$DOMAIN" "v=spf1 a ~all"
	txt_record "_dmarc.$DOMAIN" "v=DMARC1;p=reject;adkim=s;aspf=s"
	txt_record "_mta-sts.$DOMAIN" "v=STSv1; id=$(date -u +%Y%m%d%H%M)"
	txt_record "$DKIM_SELECTOR._domainkey.$DOMAIN" "$DKIM_TXT"
	echo "srv-host=_submission._tcp.$DOMAIN,$DOMAIN,587,0,1"
	echo "srv-host=_submissions._tcp.$DOMAIN,$DOMAIN,465,0,1"
	echo "srv-host=_imap._tcp.$DOMAIN,$DOMAIN,143,0,1"
	echo "srv-host=_imaps._tcp.$DOMAIN,$DOMAIN,993,0,1"
}

relay_envs() { # every relay.env that is up, one per line
	local f
	for f in "$BASE"/*/relay.env; do
		[ -e "$f" ] && echo "$f"
	done
	return 0
}

dns_reload() {
	local conf=$DNSDIR/dnsmasq.conf envs f
	envs=$(relay_envs)
	dns_stop_daemon
	if [ -z "$envs" ]; then
		net_dns_down
		net_bridge_down
		rm -rf "$DNSDIR"
		echo "relay-dns: no relay left; DNS stopped"
		return 0
	fi
	mkdir -p "$DNSDIR"
	{
		echo "# written by hack/relay-dns.sh; do not edit"
		echo "no-resolv"
		echo "no-hosts"
		echo "no-poll"
		echo "bind-interfaces"
		echo "listen-address=$DNS_ADDR"
		echo "port=53"
		echo "log-facility=$DNSDIR/dnsmasq.log"
		echo "log-queries"
		for f in $envs; do
			zone_for "$f"
		done
		if [ -f "$BASE/dns-extra.conf" ]; then
			echo "# $BASE/dns-extra.conf"
			cat "$BASE/dns-extra.conf"
		fi
	} >"$conf"
	net_bridge_up
	net_dns_up
	$DNS_EXEC dnsmasq -C "$conf" --pid-file="$PIDFILE" --user=root \
		</dev/null >>"$DNSDIR/start.log" 2>&1 9>&-
	local i
	for ((i = 0; i < 100; i++)); do
		[ -s "$PIDFILE" ] && break
		sleep 0.05
	done
	dns_running || { cat "$DNSDIR/start.log" >&2; return 1; }
	echo "relay-dns: dnsmasq at $DNS_ADDR serving $(echo "$envs" | wc -l) relay(s)"
}

dns_status() {
	if dns_running; then
		echo "relay-dns: running, pid $(dns_pid), at $DNS_ADDR"
		grep -E '^(host-record|mx-host)=' "$DNSDIR/dnsmasq.conf" | sed 's/^/  /'
	else
		echo "relay-dns: not running"
		return 3
	fi
}

# one at a time: two reloads at once (relays coming up, the soak's DNS
# outage) would start two dnsmasq on one address; the daemon does not
# keep the lock (9>&- above)
case ${1:-} in
reload | stop | outage | restore)
	mkdir -p "$BASE"
	exec 9>>"$BASE/.relay-dns.lock"
	flock -w 120 9 || { echo "relay-dns: $BASE/.relay-dns.lock busy" >&2; exit 75; }
	;;
esac
case ${1:-} in
reload) dns_reload ;;
status) dns_status ;;
stop)
	dns_stop_daemon
	net_dns_down
	;;
outage | restore)
	[ -n "${2:-}" ] || { echo "usage: $0 $1 DOMAIN" >&2; exit 64; }
	mkdir -p "$BASE"
	touch "$OUTAGE"
	grep -vxF "$2" "$OUTAGE" >"$OUTAGE.tmp" || true
	[ "$1" = restore ] || echo "$2" >>"$OUTAGE.tmp"
	mv "$OUTAGE.tmp" "$OUTAGE"
	dns_reload
	echo "relay-dns: $1 $2"
	;;
*)
	echo "usage: $0 reload|status|stop|outage|restore" >&2
	exit 64
	;;
esac
