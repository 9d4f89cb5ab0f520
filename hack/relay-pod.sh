#!/usr/bin/env bash
# relay-pod.sh: run a relay the way Kubernetes would, from the objects
# the operator renders: its StatefulSet's Pod, with the ConfigMaps and
# Secrets as volumes, in podman (`podman kube play`), inside a network
# namespace on the local relays' bridge. The same interface and
# relay.env as hack/local-relay.sh, so the relay e2e tests and clients
# run unchanged against either.
#
#   hack/relay-pod.sh up [NAME]          start relay NAME (default pod1)
#   hack/relay-pod.sh down [NAME]        remove its Pod and namespace (its
#                                        volumes stay, like PVCs)
#   hack/relay-pod.sh purge [NAME]       down, then delete all of its data
#   hack/relay-pod.sh status [NAME]      containers and readiness
#   hack/relay-pod.sh restart NAME [CONTAINER]
#                                        the whole Pod (deleted and created
#                                        again: emptyDirs fresh, claims
#                                        kept, as a StatefulSet does) or one
#                                        container
#   hack/relay-pod.sh stop|start NAME CONTAINER
#   hack/relay-pod.sh sync [NAME]        re-read the objects and update
#                                        configMap/secret volumes in place,
#                                        as kubelet's sync does
#   hack/relay-pod.sh apply [NAME]       up if down; else re-read the
#                                        objects: a changed Pod template
#                                        recreates the Pod (the
#                                        StatefulSet's rolling update),
#                                        otherwise sync
#   hack/relay-pod.sh job NAME CRONJOB   run the CronJob's Pod once against
#                                        the same volumes; its logs on
#                                        stdout, its exit status returned
#
# The objects: $RELAY_POD_OBJECTS (a JSON List, e.g. `kubectl get -o
# json` of what the operator applied), copied at every up and sync; else
# `chatmail-operator render --with-secrets` of $ROOT/relay.yaml, once
# (kept in $ROOT/objects.json so the DKIM key and certificate stay).
# relay.yaml is $LOCAL_RELAY_SPEC or a test relay "_NAME.chat.test".
#
# Kubelet's part (volumes, fsGroup, subPath, probes, capabilities) is
# hack/podlet.py; the Pod's sysctls are set here in its namespace.
# What a cluster adds is played here: the DNS (resolv.conf names the
# relays' dnsmasq, hack/relay-dns.sh), a CA bundle with
# $LOCAL_RELAY_PUSH_CA (a test's notification server) and
# $LOCAL_RELAY_ACME_CA (a test ACME server's root, also the clients' CA
# of an ACME-mode relay) in every container,
# readiness (the probes' TCP ports, from inside the namespace), and logs
# ($ROOT/log/<container>.log link podman's log files).
#
# Settings as hack/local-relay.sh (LOCAL_RELAY_BASE, LOCAL_RELAY_NET);
# RELAY_POD_NAME names the Pod (default cm<tag>-NAME); RELAY_POD_WAIT
# bounds each wait (default 60 s). Needs root and network namespaces.
# Exit codes: 0, 64 usage, 69 a prerequisite missing, 75 not ready.
set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LOCAL_RELAY_MODE=netns
# shellcheck source=hack/local-relay-net.sh
. "$TOP/hack/local-relay-net.sh"
BIN=${BIN:-$TOP/build/bin}
PY=/usr/bin/python3
WAIT=${RELAY_POD_WAIT:-60}

usage() {
	sed -n '9,31p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 64
}

say() { echo "relay-pod: $*"; }
die() { echo "relay-pod: $*" >&2; exit "${2:-75}"; }

CMD=${1:-}
NAME=${2:-pod1}
[[ $NAME =~ ^[a-z][a-z0-9-]{0,8}[0-9]{1,2}$ ]] ||
	die "NAME must be lowercase and end in its index, e.g. pod1" 64
IDX=$((10#${NAME##*[!0-9]}))
ROOT=$BASE/$NAME
NS=$(net_relay_ns "$NAME")
ADDR=$(net_relay_addr "$IDX")
POD=${RELAY_POD_NAME:-cm$TAG-$NAME}
OUT=$ROOT/pod
PVC=$ROOT/pvc

# pm ARGS...: podman inside the relay's network namespace; nsenter, not
# `ip netns exec`, which remounts /sys and hides the cgroups from podman
pm() { nsenter --net="/run/netns/$NS" podman "$@"; }

# jqo FILTER: query the relay's objects
jqo() { jq -r "$@" "$ROOT/objects.json"; }

write_spec() {
	[ -e "$ROOT/relay.yaml" ] && return 0
	if [ -n "${LOCAL_RELAY_SPEC:-}" ]; then
		cp "$LOCAL_RELAY_SPEC" "$ROOT/relay.yaml"
		return 0
	fi
	cat >"$ROOT/relay.yaml" <<EOF
# ChatmailRelay of the test relay $NAME (hack/relay-pod.sh)
apiVersion: chatmail.at/v1alpha1
kind: ChatmailRelay
metadata:
  name: $NAME
spec:
  domain: _$NAME.chat.test
  network: {disableIPv6: true}
  # TURN relays on the Pod's address, which the test clients reach
  turn: {externalIP: "$ADDR", portRange: "49160-49179"}
  limits: {maxUserSendPerMinute: 600, maxUserSendBurstSize: 100}
  # a shared build machine is often loaded; test relays still register
  systemLimits: {maxLoad1m: 1000, minAvailableMemory: 1M, minFreeDiskSpace: 1M}
EOF
}

# objects: the relay's Kubernetes objects into $ROOT/objects.json
objects() {
	if [ -n "${RELAY_POD_OBJECTS:-}" ]; then
		jq -e '.items | length > 0' "$RELAY_POD_OBJECTS" >/dev/null ||
			die "$RELAY_POD_OBJECTS: not a List of objects" 64
		cp "$RELAY_POD_OBJECTS" "$ROOT/objects.json"
		return 0
	fi
	[ -s "$ROOT/objects.json" ] && return 0
	[ -x "$BIN/chatmail-operator" ] || die "$BIN/chatmail-operator missing: run make" 69
	write_spec
	"$BIN/chatmail-operator" render -f "$ROOT/relay.yaml" --with-secrets \
		-o json >"$ROOT/objects.json.tmp" || die "render failed"
	mv "$ROOT/objects.json.tmp" "$ROOT/objects.json"
}

# queue_dir: Postfix's queue directory on the host (queue_directory of
# the rendered main.cf, below the queue claim mounted at
# /var/spool/postfix)
queue_dir() {
	local q
	q=$(jqo '.items[] | select(.kind == "ConfigMap") | .data["main.cf"] // empty' |
		sed -n 's/^queue_directory = //p' | head -n 1)
	echo "$PVC/queue-$(sts_name)-0${q#/var/spool/postfix}"
}

ini() { # ini KEY: a value of the relay's chatmail.ini
	jqo '.items[] | select(.kind == "ConfigMap") | .data["chatmail.ini"] // empty' |
		sed -n "s/^$1 = //p" | head -n 1
}

sts_name() { jqo '[.items[] | select(.kind == "StatefulSet")][0].metadata.name'; }

# host_path CONTAINER_PATH: where a path under /home/vmail is on the host
host_path() { echo "$PVC/mail-$(sts_name)-0${1#/home/vmail}"; }

# dkim_files: the DKIM key as a file for clients that sign as the relay
# (tests), and the TXT record value
dkim_txt() {
	local key
	mkdir -p "$ROOT/dkim"
	key=$(jqo '.items[] | select(.kind == "Secret") | .data["opendkim.private"] // empty' | head -n 1)
	[ -n "$key" ] || die "no DKIM key Secret in the objects"
	(umask 077 && echo "$key" | base64 -d >"$ROOT/dkim/opendkim.private")
	openssl rsa -in "$ROOT/dkim/opendkim.private" -pubout -outform DER 2>/dev/null |
		base64 -w 0
}

tls_ca() { # the relay's certificate, for clients to verify it
	jqo '.items[] | select(.kind == "Secret" and .type == "kubernetes.io/tls") | .data["tls.crt"]' |
		head -n 1 | base64 -d >"$ROOT/tls.crt"
	[ -s "$ROOT/tls.crt" ] && return 0
	# ACME mode: the issuing CA's root when a test gives one (Pebble's),
	# else the placeholder the cert-init container writes (acme_placeholder)
	is_acme || die "no TLS Secret in the objects"
	if [ -n "${LOCAL_RELAY_ACME_CA:-}" ]; then
		cp "$LOCAL_RELAY_ACME_CA" "$ROOT/tls.crt"
	else
		rm -f "$ROOT/tls.crt"
	fi
}

is_acme() { # the Pod gets its certificate from the ACME client
	[ "$(jqo '[.items[] | select(.kind == "StatefulSet") | .spec.template.spec.initContainers // [] | .[] | select(.name == "cert-init")] | length')" -gt 0 ]
}

acme_placeholder() { # an ACME relay without a test CA: trust what it serves
	[ -s "$ROOT/tls.crt" ] && return 0
	cp "$(host_path /home/vmail)/acme/tls/tls.crt" "$ROOT/tls.crt" 2>/dev/null ||
		die "no certificate in the ACME relay's acme/tls"
}

cluster_files() { # what the cluster gives every Pod: DNS and trust
	echo "nameserver $DNS_ADDR" >"$ROOT/resolv.conf"
	cat /etc/ssl/certs/ca-certificates.crt >"$ROOT/ca-bundle.crt"
	if [ -n "${LOCAL_RELAY_PUSH_CA:-}" ]; then
		cat "$LOCAL_RELAY_PUSH_CA" >>"$ROOT/ca-bundle.crt"
	fi
	# a test ACME server's root (Pebble): relays verify each other
	if [ -n "${LOCAL_RELAY_ACME_CA:-}" ]; then
		cat "$LOCAL_RELAY_ACME_CA" >>"$ROOT/ca-bundle.crt"
	fi
	chmod 644 "$ROOT/resolv.conf" "$ROOT/ca-bundle.crt"
}

containers() { jq -r '.spec.containers[].name' "$OUT/pod.json"; }

link_logs() {
	local c path
	mkdir -p "$ROOT/log"
	for c in $(containers); do
		path=$(podman inspect --format '{{.HostConfig.LogConfig.Path}}' "$POD-$c" 2>/dev/null) || continue
		ln -sfn "$path" "$ROOT/log/$c.log"
	done
}

# ready: every probed TCP port answers inside the namespace (bounded)
ready() {
	local ports p i
	ports=$(jq -r '.[] | .readinessProbe.tcpSocket.port // empty' "$OUT/probes.json")
	for p in $ports 25 587 465 143 993 80 443; do
		for ((i = 0; i < WAIT * 10; i++)); do
			nsenter --net="/run/netns/$NS" bash -c "exec 3<>/dev/tcp/$ADDR/$p" 2>/dev/null && break
			sleep 0.1
		done
		[ "$i" -lt $((WAIT * 10)) ] || { echo "relay-pod: nothing answers on $ADDR:$p" >&2; return 1; }
	done
}

# not_running: containers of the Pod that are not running
not_running() {
	local c st
	for c in $(containers); do
		st=$(podman inspect --format '{{.State.Status}}' "$POD-$c" 2>/dev/null || echo missing)
		[ "$st" = running ] || echo "$c:$st"
	done
}

template_sum() { # the StatefulSet's Pod template, hashed
	jqo -S '[.items[] | select(.kind == "StatefulSet")][0].spec.template' | sha256sum | cut -d' ' -f1
}

play() { # create and start the Pod from fresh volumes
	"$PY" "$TOP/hack/podlet.py" pod "$ROOT/objects.json" --out "$OUT" \
		--pvc-dir "$PVC" --pod-name "$POD" --resolv "$ROOT/resolv.conf" \
		--ca-bundle "$ROOT/ca-bundle.crt" >/dev/null || die "podlet failed"
	# the Pod's sysctls, in its network namespace, as the runtime sets
	# them before the containers start
	local k v
	while read -r k v; do
		[ -n "$k" ] || continue
		nsenter --net="/run/netns/$NS" sysctl -q -w "$k=$v" ||
			die "sysctl $k=$v in $NS failed"
	done < <(jq -r 'to_entries[] | "\(.key) \(.value)"' "$OUT/sysctls.json")
	# a container that cannot start is reported below, as kubelet would
	# show it crash-looping; the Pod runs without it
	pm kube play "$OUT/pod.json" >"$ROOT/log/play.log" 2>&1 || true
	podman pod exists "$POD" || { cat "$ROOT/log/play.log" >&2; die "kube play failed"; }
	template_sum >"$OUT/template.sum"
	link_logs
	ready || die "$POD is not ready (see $ROOT/log/)"
	local bad
	bad=$(not_running | tr '\n' ' ')
	[ -z "$bad" ] || say "$POD: not running: $bad(see $ROOT/log/play.log)"
}

unplay() {
	podman pod exists "$POD" 2>/dev/null || return 0
	# Postfix and nginx stop within seconds; bounded as a grace period
	podman pod rm -f -t 20 "$POD" >/dev/null 2>&1 || true
	podman pod exists "$POD" 2>/dev/null && die "$POD could not be removed"
	return 0
}

write_env() {
	local domain=$1 dkim=$2
	cat >"$ROOT/relay.env.tmp" <<EOF
# written by hack/relay-pod.sh up $NAME
NAME=$NAME
KIND=pod
POD=$POD
DOMAIN=$domain
ADDR=$ADDR
MODE=netns
NETNS=$NS
ROOT=$ROOT
INI=$OUT/volumes/config/chatmail.ini
OBJECTS=$ROOT/objects.json
CA=$ROOT/tls.crt
SMTP_PORT=25
SUBMISSION_PORT=587
SMTPS_PORT=465
IMAP_PORT=143
IMAPS_PORT=993
HTTP_PORT=80
HTTPS_PORT=443
DNS=$DNS_ADDR
VMAIL=$(host_path /home/vmail)
QUEUE=$(queue_dir)
MAILBOXES=$(host_path "$(ini mailboxes_dir)")
DKIM_SELECTOR=$(ini dkim_selector)
DKIM_TXT="v=DKIM1;k=rsa;p=$dkim;s=email;t=s"
LOG=$ROOT/log
POSTFIX_EXEC="podman exec -i $POD-postfix"
POSTFIX_CONF=/run/postfix-config/etc
EOF
	mv "$ROOT/relay.env.tmp" "$ROOT/relay.env"
}

cmd_up() {
	local p domain dkim t0=$SECONDS
	for p in podman nsenter jq openssl dnsmasq; do
		command -v "$p" >/dev/null || die "$p missing (make deps)" 69
	done
	[ -e "$ROOT/relay.env" ] && die "$NAME is up already (down first)" 64
	mkdir -p "$ROOT/log" "$PVC"
	chmod 755 "$BASE" "$ROOT"
	net_mode_save
	objects
	domain=$(ini mail_domain)
	[ -n "$domain" ] || die "no mail_domain in the objects' chatmail.ini"
	tls_ca
	dkim=$(dkim_txt)
	net_relay_up "$NAME" "$IDX"
	cluster_files
	write_env "$domain" "$dkim"
	"$TOP/hack/relay-dns.sh" reload >/dev/null
	play || { cmd_down >/dev/null; exit 75; }
	acme_placeholder
	say "$NAME up: Pod $POD for $domain at $ADDR in $((SECONDS - t0)) s, env in $ROOT/relay.env"
}

cmd_down() {
	[ -d "$ROOT" ] || { say "$NAME does not exist"; return 0; }
	unplay
	rm -f "$ROOT/relay.env"
	net_relay_down "$NAME"
	"$TOP/hack/relay-dns.sh" reload >/dev/null
	say "$NAME down (volumes kept in $ROOT)"
}

cmd_purge() {
	cmd_down
	rm -rf "$ROOT"
	say "$NAME purged"
}

cmd_status() {
	local c st rc=0
	[ -e "$ROOT/relay.env" ] || { say "$NAME is not up"; return 3; }
	say "$NAME: Pod $POD, $(sed -n 's/^DOMAIN=//p' "$ROOT/relay.env") at $ADDR"
	for c in $(containers); do
		st=$(podman inspect --format '{{.State.Status}} (restarts {{.RestartCount}})' "$POD-$c" 2>/dev/null || echo missing)
		echo "  $c: $st"
		case $st in running*) ;; *) rc=3 ;; esac
	done
	return $rc
}

cmd_container() { # stop|start|restart one container
	local op=$1 c=$2
	[ -e "$ROOT/relay.env" ] || die "$NAME is not up" 64
	containers | grep -qx "$c" || die "no container $c in $POD" 64
	# podman's cgroup clean-up warnings go to the log, errors count
	case $op in
	stop) pm stop -t 20 "$POD-$c" >/dev/null 2>>"$ROOT/log/podman.log" ;;
	start) pm start "$POD-$c" >/dev/null 2>>"$ROOT/log/podman.log" ;;
	restart) pm restart -t 20 "$POD-$c" >/dev/null 2>>"$ROOT/log/podman.log" ;;
	esac
	# as hack/local-relay.sh: a started daemon answers before we return
	if [ "$op" != stop ]; then
		ready || die "$NAME $c: not ready after $op"
	fi
	say "$NAME $c: $op done"
}

cmd_restart_pod() {
	[ -e "$ROOT/relay.env" ] || die "$NAME is not up" 64
	unplay
	objects
	play || exit 75
	say "$NAME: Pod $POD recreated"
}

cmd_sync() {
	[ -e "$ROOT/relay.env" ] || die "$NAME is not up" 64
	objects
	"$PY" "$TOP/hack/podlet.py" sync "$ROOT/objects.json" --out "$OUT" |
		sed "s/^/relay-pod: $NAME: volume updated: /"
}

cmd_apply() {
	[ -e "$ROOT/relay.env" ] || { cmd_up; return; }
	objects
	if [ "$(template_sum)" != "$(cat "$OUT/template.sum" 2>/dev/null)" ]; then
		say "$NAME: the Pod template changed: recreating $POD"
		cmd_restart_pod
	else
		cmd_sync
		say "$NAME: Pod template unchanged; volumes synced"
	fi
}

cmd_job() {
	local cj=$1 out=$ROOT/job-$1 jpod rc
	[ -e "$ROOT/relay.env" ] || die "$NAME is not up" 64
	[ -n "$cj" ] || usage
	jpod=$POD-$cj
	# shellcheck disable=SC2016 # $s is jq's
	cj=$(jqo --arg s "-$cj" '.items[] | select(.kind == "CronJob") | .metadata.name | select(endswith($s))' | head -n 1)
	[ -n "$cj" ] || die "no CronJob *-$1 in the objects" 64
	podman pod rm -f -t 5 "$jpod" >/dev/null 2>&1 || true
	"$PY" "$TOP/hack/podlet.py" job "$ROOT/objects.json" --cronjob "$cj" \
		--out "$out" --pvc-dir "$PVC" --pod-name "$jpod" \
		--resolv "$ROOT/resolv.conf" >/dev/null || die "podlet failed"
	pm kube play "$out/pod.json" >"$ROOT/log/job-$1.play.log" 2>&1 || true
	rc=$(timeout "$WAIT" podman wait "$jpod-$(jq -r '.spec.containers[0].name' "$out/pod.json")" 2>/dev/null) || rc=124
	podman logs "$jpod-$(jq -r '.spec.containers[0].name' "$out/pod.json")" 2>&1 || true
	podman pod rm -f -t 5 "$jpod" >/dev/null 2>&1 || true
	return "$rc"
}

case $CMD in
up) cmd_up ;;
down) cmd_down ;;
purge) cmd_purge ;;
status) cmd_status ;;
sync) cmd_sync ;;
apply) cmd_apply ;;
job) cmd_job "${3:-}" ;;
restart)
	if [ -n "${3:-}" ]; then cmd_container restart "$3"; else cmd_restart_pod; fi
	;;
stop | start) [ -n "${3:-}" ] || usage; cmd_container "$CMD" "$3" ;;
*) usage ;;
esac
