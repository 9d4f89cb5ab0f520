#!/usr/bin/env bash
# local-relay.sh: run a complete chatmail relay on this machine, from
# configs rendered by relay-render, with Debian's postfix, dovecot and
# nginx and our services (whichever are built).
#
#   hack/local-relay.sh up [NAME]      start relay NAME (default relay1)
#   hack/local-relay.sh down [NAME]    stop exactly what up started, by PID
#   hack/local-relay.sh status [NAME]  what runs, what is missing
#   hack/local-relay.sh stop|start|restart NAME COMPONENT
#                                      one daemon (dovecot, postfix, nginx)
#                                      or service (doveauth, lastlogin,
#                                      metadata, filtermail-outgoing,
#                                      filtermail-incoming,
#                                      filtermail-transport, newemail)
#
# NAME ends in its index (relay1, relay2, e2e3): relay N gets address
# $LOCAL_RELAY_NET.<10+N> in its own network namespace, where it listens
# on the standard ports 25, 80, 143, 443, 465, 587, 993 (internal ports
# on the namespace's own loopback). See hack/local-relay-net.sh for the
# network and the loopback fallback. Relays are found by each other
# through a dnsmasq (hack/relay-dns.sh) serving MX, A, DKIM TXT,
# _mta-sts, SPF, DMARC and SRV records for every relay that is up.
#
# The relay lives in $LOCAL_RELAY_BASE/NAME (default build/local-relay/
# NAME): relay.yaml (its ChatmailRelay; kept across restarts, or copied
# from $LOCAL_RELAY_SPEC), the rendered configs, tls/ (self-signed EC
# P-256 for NAME's domain, www. and mta-sts., as upstream's self-signed
# mode; or $LOCAL_RELAY_CERT/$LOCAL_RELAY_KEY), dkim/, vmail/, log/,
# pids/, and relay.env (DOMAIN, ADDR, every port, CA, ...) for clients.
# The domain is "_NAME.chat.test" unless the spec says otherwise ("_"
# makes it a self-signed relay other relays accept, as upstream).
#
# Our Dovecot plugins (build/dovecot, make dovecot-plugins) are put into
# Dovecot's module directory first (hack/dovecot-plugins.sh install),
# and Dovecot starts only when imap loads them (the image's start check,
# images/dovecot/dovecot-run --check).
#
# LOCAL_RELAY_PUSH_CA names a CA file chatmail-metadata trusts for the
# notification server (tests point notificationUrl at a local one).
# Needs root (namespaces, privileged ports, daemons). Exit codes: 0,
# 64 usage, 69 a prerequisite missing, 75 something did not start.
set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=hack/local-relay-net.sh
. "$TOP/hack/local-relay-net.sh"
BIN=${BIN:-$TOP/build/bin}
WAIT=${LOCAL_RELAY_WAIT:-20}

usage() {
	echo "usage: $0 up|down|status [NAME]" >&2
	echo "       $0 stop|start|restart NAME COMPONENT" >&2
	exit 64
}

CMD=${1:-}
NAME=${2:-relay1}
[[ $NAME =~ ^[a-z][a-z0-9-]{0,8}[0-9]{1,2}$ ]] || {
	echo "local-relay: NAME must be lowercase and end in its index, e.g. relay1" >&2
	exit 64
}
IDX=$((10#${NAME##*[!0-9]}))
if [ "$IDX" -lt 1 ] || [ "$IDX" -gt 99 ]; then usage; fi
ROOT=$BASE/$NAME
RUN=$ROOT/run/chatmail
INI=$ROOT/chatmail.ini
PIDS=$ROOT/pids
ADDR=$(net_relay_addr "$IDX")
POFF=0
[ "$MODE" = netns ] || POFF=$PORT_OFFSET

# our services: name, binary, arguments (started as vmail)
service_args() {
	case $1 in
	doveauth) echo "doveauth $RUN/doveauth.socket $INI" ;;
	lastlogin) echo "lastlogin $RUN/lastlogin.socket $INI" ;;
	metadata)
		# LOCAL_RELAY_PUSH_CA: the CA of a test notification server
		echo "chatmail-metadata ${LOCAL_RELAY_PUSH_CA:+-c $LOCAL_RELAY_PUSH_CA} $RUN/metadata.socket $INI"
		;;
	filtermail-outgoing) echo "filtermail $INI outgoing" ;;
	filtermail-incoming) echo "filtermail $INI incoming" ;;
	filtermail-transport) echo "filtermail $INI transport" ;;
	newemail) echo "newemail $INI --listen unix:$RUN/newemail.socket" ;;
	esac
}
SERVICES="doveauth lastlogin metadata filtermail-outgoing filtermail-incoming filtermail-transport newemail"

# service_wanted NAME: the rendered relay runs it (filtermail transport
# only in delivery mode Transport, where Postfix hands it remote mail)
service_wanted() {
	case $1 in
	filtermail-transport)
		grep -q '^default_transport = lmtp-filtermail:' "$ROOT/postfix/main.cf" 2>/dev/null
		;;
	*) return 0 ;;
	esac
}

alive() { # alive PID: running and not a zombie
	local st
	st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "${st#Z}" = "$st" ]
}

pid_of() { # pid_of FILE: the PID in FILE, if it is alive
	local pid
	[ -s "$1" ] || return 1
	pid=$(head -n 1 "$1" | tr -dc 0-9)
	[ -n "$pid" ] && alive "$pid" && echo "$pid"
}

stop_pidfile() { # stop_pidfile FILE NAME: TERM, wait, KILL
	local pid i
	pid=$(pid_of "$1") || { rm -f "$1"; return 0; }
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < WAIT * 20; i++)); do
		alive "$pid" || break
		sleep 0.05
	done
	if alive "$pid"; then
		echo "local-relay: $2 (pid $pid) did not stop, killing" >&2
		kill -KILL "$pid" 2>/dev/null || true
	fi
	case $1 in "$PIDS"/*) rm -f "$1" ;; esac
}

# the daemons' own pid files
daemon_pidfile() {
	case $1 in
	dovecot) echo "$ROOT/run/dovecot/master.pid" ;;
	postfix) echo "$ROOT/spool/postfix/pid/master.pid" ;;
	nginx) echo "$ROOT/run/nginx/nginx.pid" ;;
	esac
}

wait_tcp() { # wait_tcp HOST PORT: connect from the relay's network
	local i
	for ((i = 0; i < WAIT * 10; i++)); do
		if net_exec "$NAME" bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	echo "local-relay: nothing listens on $1:$2" >&2
	return 1
}

wait_path() {
	local i
	for ((i = 0; i < WAIT * 20; i++)); do
		[ -e "$1" ] && return 0
		sleep 0.05
	done
	echo "local-relay: $1 did not appear" >&2
	return 1
}

write_spec() {
	[ -e "$ROOT/relay.yaml" ] && return 0
	if [ -n "${LOCAL_RELAY_SPEC:-}" ]; then
		cp "$LOCAL_RELAY_SPEC" "$ROOT/relay.yaml"
		return 0
	fi
	cat >"$ROOT/relay.yaml" <<EOF
# ChatmailRelay of the local test relay $NAME (hack/local-relay.sh);
# edit and run "down" + "up" to apply.
apiVersion: chatmail.at/v1alpha1
kind: ChatmailRelay
metadata:
  name: $NAME
spec:
  domain: _$NAME.chat.test
  network: {disableIPv6: true}
  iroh: {enabled: false}
  limits: {maxUserSendPerMinute: 600, maxUserSendBurstSize: 100}
  # a shared build machine is often loaded; test relays still register
  systemLimits: {maxLoad1m: 1000, minAvailableMemory: 1M, minFreeDiskSpace: 1M}
EOF
}

spec_domain() { # the domain from the rendered chatmail.ini
	sed -n 's/^mail_domain = //p' "$INI"
}

make_tls() {
	local d domain=$1
	d=$ROOT/tls
	mkdir -p "$d"
	if [ -n "${LOCAL_RELAY_CERT:-}" ]; then
		cp "$LOCAL_RELAY_CERT" "$d/cert.pem"
		cp "$LOCAL_RELAY_KEY" "$d/key.pem"
	elif [ ! -s "$d/cert.pem" ]; then
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
			-noenc -days 36500 -keyout "$d/key.pem" -out "$d/cert.pem" \
			-subj "/CN=$domain" \
			-addext "basicConstraints=critical,CA:FALSE" \
			-addext "extendedKeyUsage=serverAuth,clientAuth" \
			-addext "subjectAltName=DNS:$domain,DNS:www.$domain,DNS:mta-sts.$domain" \
			>/dev/null 2>&1
	fi
	chmod 600 "$d/key.pem"
	chmod 644 "$d/cert.pem"
}

make_dkim() {
	local d=$ROOT/dkim
	mkdir -p "$d"
	[ -s "$d/opendkim.private" ] ||
		openssl genrsa -out "$d/opendkim.private" 2048 >/dev/null 2>&1
	chown vmail:vmail "$d/opendkim.private"
	chmod 600 "$d/opendkim.private"
	# the TXT record's p=: the public key, DER, base64
	openssl rsa -in "$d/opendkim.private" -pubout -outform DER 2>/dev/null |
		base64 -w 0
}

render() {
	local args=(-f "$ROOT/relay.yaml" --target local --root "$ROOT"
		--bin "$BIN" --dns "$DNS_ADDR")
	if [ "$MODE" = netns ]; then
		args+=(--addr "")
	else
		args+=(--addr "$ADDR" --local-addr "$ADDR" --port-offset "$POFF")
	fi
	"$BIN/relay-render" "${args[@]}"
}

layout() {
	mkdir -p "$ROOT" "$PIDS" "$ROOT/log" "$RUN" "$ROOT/run/nginx" \
		"$ROOT/spool/postfix" "$ROOT/lib/postfix" "$ROOT/lib/dovecot" \
		"$ROOT/vmail/mail" "$ROOT/vmail/metrics"
	chmod 755 "$BASE" "$ROOT" "$ROOT/run" "$ROOT/vmail" "$ROOT/vmail/metrics"
	chown vmail:vmail "$RUN" "$ROOT/vmail" "$ROOT/vmail/mail" "$ROOT/vmail/metrics"
	chmod 755 "$RUN"
	chmod 700 "$ROOT/vmail/mail"
	chown postfix "$ROOT/lib/postfix"
}

# became PID BIN: PID runs BIN now (filtermail's transport mode execs
# filtermail-transport, next to it)
became() {
	local exe
	exe=$(readlink "/proc/$1/exe" 2>/dev/null) || return 1
	[ "$exe" = "$(readlink -f "$2")" ] || [ "$exe" = "$(readlink -f "$2")-transport" ]
}

start_service() { # start_service NAME: one of ours, as vmail
	local svc=$1 args bin pid pre i
	service_wanted "$svc" || return 0
	read -r -a args <<<"$(service_args "$svc")"
	bin=$BIN/${args[0]}
	if [ ! -x "$bin" ]; then
		echo "local-relay: $svc: $bin not built; the relay runs without it"
		return 0
	fi
	mapfile -t pre < <(net_prefix "$NAME")
	"${pre[@]}" setpriv --reuid=vmail --regid=vmail --init-groups \
		"$bin" "${args[@]:1}" </dev/null >>"$ROOT/log/$svc.log" 2>&1 &
	pid=$!
	echo "$pid" >"$PIDS/$svc.pid"
	# the recorded PID must become the service itself (ip netns exec and
	# setpriv exec it), or down would miss it; a loaded machine may take
	# a moment to get there
	for ((i = 0; i < WAIT * 20; i++)); do
		alive "$pid" || break
		if became "$pid" "$bin"; then
			sleep 0.1 # a bad config makes it exit at once
			alive "$pid" && return 0
			break
		fi
		sleep 0.05
	done
	if alive "$pid"; then
		echo "local-relay: $svc: PID $pid did not become $bin" >&2
	else
		echo "local-relay: $svc exited at once:" >&2
		tail -n 5 "$ROOT/log/$svc.log" >&2
	fi
	return 1
}

start_daemon() { # start_daemon dovecot|postfix|nginx (they daemonize)
	local f pf
	pf=$(daemon_pidfile "$1")
	# the pid file of a daemon that was killed (SIGKILL leaves it) names
	# a dead PID, or a zombie not reaped yet, which Dovecot's own check
	# takes for a running master ("already running") and wait_pidfile
	# below for the new one: remove it
	pid_of "$pf" >/dev/null || rm -f "$pf"
	case $1 in
	dovecot)
		# the image's start check: imap loads our plugins
		"$TOP/images/dovecot/dovecot-run" --check -c "$ROOT/dovecot/dovecot.conf" \
			>>"$ROOT/log/dovecot-start.log" 2>&1 || {
			tail -n 5 "$ROOT/log/dovecot-start.log" >&2
			return 1
		}
		net_exec "$NAME" dovecot -c "$ROOT/dovecot/dovecot.conf" \
			</dev/null >>"$ROOT/log/dovecot-start.log" 2>&1
		;;
	postfix)
		for f in "$ROOT"/postfix/*; do
			touch -d '10 seconds ago' "$f"
		done
		postfix -c "$ROOT/postfix" check >>"$ROOT/log/postfix-start.log" 2>&1
		touch "$ROOT/spool/postfix/quick-start"
		net_exec "$NAME" postfix -c "$ROOT/postfix" start \
			</dev/null >>"$ROOT/log/postfix-start.log" 2>&1
		;;
	nginx)
		net_exec "$NAME" env -u NGINX nginx -c "$ROOT/nginx/nginx.conf" \
			-e "$ROOT/log/nginx-error.log" \
			</dev/null >>"$ROOT/log/nginx-start.log" 2>&1
		;;
	esac
	wait_pidfile "$pf" "$1" && return 0
	# why: the daemon's start output and the end of its log
	tail -n 10 "$ROOT/log/$1-start.log" >&2 2>/dev/null
	tail -n 10 "$ROOT/log/$1.log" >&2 2>/dev/null
	return 1
}

wait_pidfile() { # wait_pidfile FILE NAME: FILE names a running process
	local i
	for ((i = 0; i < WAIT * 20; i++)); do
		pid_of "$1" >/dev/null && return 0
		sleep 0.05
	done
	echo "local-relay: $2 did not start ($1 names no running process)" >&2
	return 1
}

is_daemon() { case $1 in dovecot | postfix | nginx) return 0 ;; esac; return 1; }
is_service() { case " $SERVICES " in *" $1 "*) return 0 ;; esac; return 1; }

# component ops for tests: stop/start/restart one daemon or service
cmd_component() {
	local op=$1 comp=$2
	[ -e "$ROOT/relay.env" ] || { echo "local-relay: $NAME is not up" >&2; exit 64; }
	is_daemon "$comp" || is_service "$comp" || {
		echo "local-relay: no component $comp (dovecot postfix nginx $SERVICES)" >&2
		exit 64
	}
	if [ "$op" != start ]; then
		if is_daemon "$comp"; then
			stop_pidfile "$(daemon_pidfile "$comp")" "$comp"
		else
			stop_pidfile "$PIDS/$comp.pid" "$comp"
		fi
	fi
	if [ "$op" != stop ]; then
		if is_daemon "$comp"; then
			start_daemon "$comp" || exit 75
		else
			start_service "$comp" || exit 75
		fi
	fi
	echo "local-relay: $NAME $comp: $op done"
}

write_env() {
	local domain=$1 dkim=$2 p
	p=$POFF
	cat >"$ROOT/relay.env.tmp" <<EOF
# written by hack/local-relay.sh up $NAME
NAME=$NAME
DOMAIN=$domain
ADDR=$ADDR
MODE=$MODE
NETNS=$([ "$MODE" = netns ] && net_relay_ns "$NAME")
ROOT=$ROOT
INI=$INI
CA=$ROOT/tls/cert.pem
SMTP_PORT=$((25 + p))
SUBMISSION_PORT=$((587 + p))
SMTPS_PORT=$((465 + p))
IMAP_PORT=$((143 + p))
IMAPS_PORT=$((993 + p))
HTTP_PORT=$((80 + p))
HTTPS_PORT=$((443 + p))
DNS=$DNS_ADDR
MAILBOXES=$(sed -n 's/^mailboxes_dir = //p' "$INI")
DKIM_SELECTOR=$(sed -n 's/^dkim_selector = //p' "$INI")
DKIM_TXT="v=DKIM1;k=rsa;p=$dkim;s=email;t=s"
LOG=$ROOT/log
EOF
	mv "$ROOT/relay.env.tmp" "$ROOT/relay.env"
}

cmd_up() {
	local domain dkim svc d p
	for p in postfix dovecot nginx openssl dnsmasq setpriv; do
		command -v "$p" >/dev/null || { echo "local-relay: $p missing (make deps)" >&2; exit 69; }
	done
	[ -x "$BIN/relay-render" ] || { echo "local-relay: $BIN/relay-render missing: run make" >&2; exit 69; }
	# the rendered dovecot.conf loads our plugins (dovecot/) into imap
	"$TOP/hack/dovecot-plugins.sh" install >&2 || exit 69
	if [ -e "$ROOT/relay.env" ]; then
		echo "local-relay: $NAME is up already (down first)" >&2
		exit 64
	fi
	# the index picks the address and interface names: one relay each
	if grep -lsx "ADDR=$ADDR" "$BASE"/*/relay.env >/dev/null; then
		echo "local-relay: index $IDX ($ADDR) is taken by another relay" >&2
		exit 64
	fi
	net_mode_save
	layout
	write_spec
	render || exit 75
	domain=$(spec_domain)
	# chatmail-metadata wants the mailboxes directory to exist
	d=$(sed -n 's/^mailboxes_dir = //p' "$INI")
	mkdir -p "$d"
	chown vmail:vmail "$d"
	make_tls "$domain"
	dkim=$(make_dkim)
	net_relay_up "$NAME" "$IDX" || { cmd_down; exit 75; }
	write_env "$domain" "$dkim"
	"$TOP/hack/relay-dns.sh" reload || { cmd_down; exit 75; }
	for svc in $SERVICES; do
		start_service "$svc" || { cmd_down; exit 75; }
	done
	for d in dovecot postfix nginx; do
		start_daemon "$d" || { cmd_down; exit 75; }
	done
	for p in 25 587 465 143 993 80 443; do
		wait_tcp "$ADDR" $((p + POFF)) || { cmd_down; exit 75; }
	done
	if [ -x "$BIN/chatmail-metrics" ]; then
		setpriv --reuid=vmail --regid=vmail --init-groups "$BIN/chatmail-metrics" "$INI" \
			--textfile "$ROOT/vmail/metrics/fsreport.prom" >>"$ROOT/log/metrics.log" 2>&1 || true
	fi
	echo "local-relay: $NAME up: $domain at $ADDR ($MODE mode), env in $ROOT/relay.env"
	if [ "$MODE" = loopback ]; then
		echo "local-relay: loopback fallback (no network namespaces): ports +$POFF, no federation between relays"
	fi
}

cmd_down() {
	local svc d
	[ -d "$ROOT" ] || { echo "local-relay: $NAME does not exist"; return 0; }
	# nginx first (stops taking clients), Postfix next (its queue is on
	# disk), then Dovecot, then our services
	for d in nginx postfix dovecot; do
		stop_pidfile "$(daemon_pidfile "$d")" "$d"
	done
	for svc in $SERVICES; do
		stop_pidfile "$PIDS/$svc.pid" "$svc"
	done
	rm -f "$ROOT/relay.env"
	net_relay_down "$NAME"
	# the host's neighbour entry names the old veth's MAC: a relay up
	# again at this address would be unreachable from the host until it
	# times out
	[ "$MODE" != netns ] || ip neigh flush to "$ADDR" 2>/dev/null || true
	"$TOP/hack/relay-dns.sh" reload
	echo "local-relay: $NAME down"
}

cmd_status() {
	local svc d pid bin args rc=0
	if [ ! -e "$ROOT/relay.env" ]; then
		echo "local-relay: $NAME is not up"
		return 3
	fi
	echo "local-relay: $NAME $(sed -n 's/^DOMAIN=//p' "$ROOT/relay.env") at $ADDR ($MODE mode)"
	for d in dovecot postfix nginx; do
		if pid=$(pid_of "$(daemon_pidfile "$d")"); then
			echo "  $d: running, pid $pid"
		else
			echo "  $d: NOT running"
			rc=3
		fi
	done
	for svc in $SERVICES; do
		read -r -a args <<<"$(service_args "$svc")"
		bin=$BIN/${args[0]}
		if pid=$(pid_of "$PIDS/$svc.pid"); then
			echo "  $svc: running, pid $pid"
		elif ! service_wanted "$svc"; then
			echo "  $svc: not used by this relay"
		elif [ ! -x "$bin" ]; then
			echo "  $svc: missing (${args[0]} not built)"
		else
			echo "  $svc: NOT running"
			rc=3
		fi
	done
	"$TOP/hack/relay-dns.sh" status | sed 's/^/  /' || rc=3
	return $rc
}

case $CMD in
up) cmd_up ;;
down) cmd_down ;;
status) cmd_status ;;
stop | start | restart) cmd_component "$CMD" "${3:-}" ;;
*) usage ;;
esac
