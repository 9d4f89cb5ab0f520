#!/usr/bin/env bash
# relay-k8s.sh: the relay test harness on the real test node
# (hack/cluster.sh: kubelet, containerd, the operator installed from its
# chart). A relay is a ChatmailRelay applied to the cluster; the operator
# (its Deployment's Pod, in-cluster config) renders it, kubelet runs its
# StatefulSet Pod, local-path-provisioner gives it its claims. Same
# interface and relay.env as hack/local-relay.sh, so the relay tests and
# clients run unchanged (RELAY_HARNESS=hack/relay-k8s.sh).
#
#   hack/relay-k8s.sh up NAME          apply ChatmailRelay NAME (the test
#                                      relay "_NAME.chat.test", or
#                                      $LOCAL_RELAY_SPEC renamed to NAME),
#                                      wait until it and its Pod are Ready,
#                                      write relay.env, add it to the DNS;
#                                      a relay whose directory is new gets
#                                      fresh claims
#   hack/relay-k8s.sh down NAME        delete the relay (its claims and DKIM
#                                      key stay, as storage.*.keepOnDelete
#                                      says; up again finds them)
#   hack/relay-k8s.sh purge NAME       down, then delete the claims too
#   hack/relay-k8s.sh status NAME      its Pod's containers; 0 when all run
#   hack/relay-k8s.sh refresh NAME     wait for the Pod to be Ready, rewrite
#                                      relay.env (after a change made
#                                      elsewhere: a deleted Pod, a spec edit)
#   hack/relay-k8s.sh restart NAME     delete the Pod; the StatefulSet makes
#                                      it again on the same claims
#   hack/relay-k8s.sh restart NAME CONTAINER
#                                      stop the container through the CRI;
#                                      kubelet starts it again
#   hack/relay-k8s.sh stop|start NAME CONTAINER
#                                      kubelet restarts a container that
#                                      exits, so a stopped daemon is played
#                                      as its peers see one: every TCP port
#                                      the container's processes listen on
#                                      refuses connections (iptables REJECT
#                                      with a TCP reset in the Pod's network
#                                      namespace, loopback included); start
#                                      removes the rules
#   hack/relay-k8s.sh exec NAME CONTAINER CMD...   kubectl exec -i
#   hack/relay-k8s.sh logs NAME CONTAINER          kubectl logs
#   hack/relay-k8s.sh job NAME CRONJOB a Job from the relay's CronJob
#                                      *-CRONJOB (expire, metrics), run to
#                                      completion; its logs on stdout, its
#                                      container's exit status returned
#
# relay.env (the keys tests read): NAME, KIND=pod, POD, NAMESPACE, DOMAIN,
# ADDR (the relay's Service: its load-balancer address, which this script
# assigns as a load-balancer provider would, NET.129.<index> of the
# node's NET, routed from the host through the node; the ClusterIP for
# a ClusterIP Service), NETNS (the Pod's network namespace, attached as
# `ip netns` name NAMESPACE-NAME), ROOT, INI (the ConfigMap's
# chatmail.ini), OBJECTS (the relay's objects as a List), CA (its TLS
# certificate), the *_PORTS, DNS (the relay DNS server), VMAIL, QUEUE
# and MAILBOXES (the claims' directories on this host), DKIM_SELECTOR,
# DKIM_TXT, LOG (links to kubelet's log file of each container: CRI
# lines), POSTFIX_EXEC (kubectl exec into the postfix container) and
# POSTFIX_CONF.
#
# DNS: hack/relay-dns.sh in the node's network namespace at
# NODE_RELAY_DNS, serving every relay up on this node; CoreDNS forwards
# to it, so relays federate by their domains.
#
# Trust: LOCAL_RELAY_PUSH_CA names the CA file of a test's notification
# server (push.notificationUrl), which the relay's chatmail-metadata
# must trust, as a cluster's CA distribution (trust-manager and the
# like) would arrange: the system bundle plus that CA in the ConfigMap
# NAME-test-ca, mounted over the metadata container's
# /etc/ssl/certs/ca-certificates.crt (libcurl's default) by a
# server-side apply of the harness's own field manager, which the
# operator leaves alone; the Pod is made once more with it before
# relay.env is written.
#
# Settings: NODE_STATE (the node, default build/node; it must be up:
# hack/cluster.sh up), LOCAL_RELAY_BASE (relay.env and logs, default
# build/k8s-relay), RELAY_K8S_NS (namespace; default
# RELAY_K8S_NS_PREFIX, "e2e", and a hash of LOCAL_RELAY_BASE),
# RELAY_K8S_WAIT (seconds per wait, default 300).
# Needs root. Exit codes: 0, 64 usage, 69 the node is not up, 75 not
# ready.
set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NODE_STATE=${NODE_STATE:-$TOP/build/node}
BASE=${LOCAL_RELAY_BASE:-$TOP/build/k8s-relay}
WAIT=${RELAY_K8S_WAIT:-300}
PY=/usr/bin/python3

say() { echo "relay-k8s: $*"; }
die() { echo "relay-k8s: $*" >&2; exit "${2:-75}"; }
usage() {
	sed -n '10,44p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 64
}

CMD=${1:-}
NAME=${2:-}
[ -n "$CMD" ] || usage
[[ $NAME =~ ^[a-z]([a-z0-9-]{0,28}[a-z0-9])?$ ]] ||
	die "NAME must be a lowercase DNS label, e.g. e2e1" 64
# the index (trailing digits, 1-249) picks the load-balancer address
IDX=250
if [[ $NAME =~ [^0-9]([0-9]{1,3})$ ]] && [ $((10#${BASH_REMATCH[1]})) -ge 1 ] &&
	[ $((10#${BASH_REMATCH[1]})) -le 249 ]; then
	IDX=$((10#${BASH_REMATCH[1]}))
fi
ROOT=$BASE/$NAME

[ -f "$NODE_STATE/env" ] || die "no node in $NODE_STATE (hack/cluster.sh up)" 69
# shellcheck disable=SC1091
. "$NODE_STATE/env"
NS=${RELAY_K8S_NS:-${RELAY_K8S_NS_PREFIX:-e2e}-$(printf %s "$BASE" | sha256sum | cut -c1-8)}
POD=$NAME-0
NETNS=$NS-$NAME
LB_ADDR=$NODE_NET.129.$IDX
DNSBASE=$NODE_STATE/relay-dns
# kubelet's podLogsDir and the node's root as this host sees them
# (another cluster's env file sets them, tests/e2e/kind.sh)
PODLOGS=${NODE_POD_LOGS:-$NODE_STATE/kubelet/pod-logs}
NODE_ROOT=${NODE_ROOT:-}

k() { "$NODE_KUBECTL" --request-timeout=30s -n "$NS" "$@"; }
crictl() { "$NODE_CRICTL" --timeout 30s "$@"; }

dns_reload() {
	LOCAL_RELAY_BASE=$DNSBASE LOCAL_RELAY_DNS_NETNS=$NODE_NETNS \
		LOCAL_RELAY_DNS_ADDR=$NODE_RELAY_DNS "$TOP/hack/relay-dns.sh" reload >/dev/null
}

spec() { # the ChatmailRelay to apply, named NAME, in NS
	if [ -n "${LOCAL_RELAY_SPEC:-}" ]; then
		"$PY" - "$LOCAL_RELAY_SPEC" "$NAME" <<'PYEOF'
import sys, yaml
d = yaml.safe_load(open(sys.argv[1]))
d.setdefault("metadata", {})["name"] = sys.argv[2]
d["metadata"].pop("namespace", None)
print(yaml.safe_dump(d))
PYEOF
		return
	fi
	cat <<EOF
# the test relay $NAME (hack/relay-k8s.sh)
apiVersion: chatmail.at/v1alpha1
kind: ChatmailRelay
metadata: {name: $NAME}
spec:
  domain: _$NAME.chat.test
  network: {disableIPv6: true}
  service: {type: LoadBalancer, loadBalancerIP: "$LB_ADDR"}
  # TURN relays on the load-balancer address the test clients reach
  turn: {externalIP: "$LB_ADDR", portRange: "49160-49179"}
  limits: {maxUserSendPerMinute: 600, maxUserSendBurstSize: 100}
  # a shared build machine is often loaded; test relays still register
  systemLimits: {maxLoad1m: 1000, minAvailableMemory: 1M, minFreeDiskSpace: 1M}
EOF
}

# lb_assign: what a load-balancer provider does for a LoadBalancer
# Service: an address in its status (kube-proxy then routes it to the
# Pod). The spec's loadBalancerIP when it is in the node's network,
# else NET.129.<index>.
lb_assign() {
	local t ip want
	# (jsonpath prints no newline: read's status is that of EOF)
	read -r t ip < <(k get svc "$NAME" -o 'jsonpath={.spec.type} {.status.loadBalancer.ingress[0].ip}' 2>/dev/null) || true
	[ "$t" = LoadBalancer ] && [ -z "$ip" ] || return 0
	want=$(k get svc "$NAME" -o 'jsonpath={.spec.loadBalancerIP}')
	[[ $want == "$NODE_NET".* ]] || want=$LB_ADDR
	k patch svc "$NAME" --subresource=status --type=merge -p \
		"{\"status\":{\"loadBalancer\":{\"ingress\":[{\"ip\":\"$want\",\"ipMode\":\"VIP\"}]}}}" >/dev/null
}

svc_addr() { # the address relay.env names
	local t ip
	read -r t ip < <(k get svc "$NAME" -o 'jsonpath={.spec.type} {.status.loadBalancer.ingress[0].ip}')
	if [ "$t" = LoadBalancer ] && [ -n "$ip" ]; then
		echo "$ip"
	else
		k get svc "$NAME" -o 'jsonpath={.spec.clusterIP}'
	fi
}

relay_ready() {
	[ "$(k get chatmailrelay "$NAME" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]
}
pod_ready() {
	[ "$(k get pod "$POD" -o 'jsonpath={.metadata.deletionTimestamp}{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]
}

# wait_ready [OLD_UID]: the relay and its Pod (a new one if OLD_UID) Ready
wait_ready() {
	local old=${1:-} deadline=$((SECONDS + WAIT)) uid
	while :; do
		lb_assign 2>/dev/null || true
		uid=$(k get pod "$POD" -o 'jsonpath={.metadata.uid}' 2>/dev/null || true)
		if [ -n "$uid" ] && [ "$uid" != "$old" ] && pod_ready && relay_ready &&
			[ -n "$(svc_addr 2>/dev/null)" ]; then
			return 0
		fi
		if [ $SECONDS -ge $deadline ]; then
			echo "relay-k8s: $NAME not Ready within $WAIT s:" >&2
			k get chatmailrelay "$NAME" -o jsonpath='{.status.conditions}' >&2 2>/dev/null || true
			echo >&2
			k get pod "$POD" -o wide >&2 2>/dev/null || true
			k describe pod "$POD" 2>/dev/null | tail -n 25 >&2 || true
			return 1
		fi
		sleep 1
	done
}

# host_pid ID: the first process of a sandbox or container, as this
# host numbers it: the process whose cgroup names ID and whose parent's
# does not (the runtime's own PIDs may be of the node's PID namespace)
host_pid() {
	local p pp
	while read -r p; do
		pp=$(awk '/^PPid:/ { print $2 }' "/proc/$p/status" 2>/dev/null) || continue
		grep -q "$1" "/proc/$pp/cgroup" 2>/dev/null || { echo "$p"; return 0; }
	done < <(grep -l "$1" /proc/[0-9]*/cgroup 2>/dev/null | cut -d/ -f3 | sort -n)
	return 1
}

# the Pod sandbox's ID and its pause process
sandbox_id() { crictl pods -q --name "^$POD\$" --namespace "^$NS\$" --state ready | head -n 1; }
pod_pid() { host_pid "$(sandbox_id)"; }
container_id() { crictl ps -q --pod "$(sandbox_id)" --name "^$1\$" | head -n 1; }

netns_attach() {
	local pid
	ip netns delete "$NETNS" 2>/dev/null || true
	rm -rf "/etc/netns/$NETNS"
	pid=$(pod_pid)
	[[ $pid =~ ^[0-9]+$ ]] || die "no sandbox process for $NS/$POD"
	ip netns attach "$NETNS" "$pid"
	# `ip netns exec` then resolves as the Pod does (kubelet's resolv.conf
	# for dnsPolicy ClusterFirst), not with this host's resolver
	mkdir -p "/etc/netns/$NETNS"
	printf 'nameserver %s\nsearch %s.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n' \
		"$NODE_DNS_IP" "$NS" >"/etc/netns/$NETNS/resolv.conf"
}

# link_logs: LOG/<container>.log -> kubelet's file of the container's
# current run
link_logs() {
	local uid c d f
	uid=$(k get pod "$POD" -o 'jsonpath={.metadata.uid}')
	mkdir -p "$ROOT/log"
	for c in $(k get pod "$POD" -o 'jsonpath={.spec.containers[*].name}'); do
		d=$PODLOGS/${NS}_${POD}_$uid/$c
		f=$(find "$d" -maxdepth 1 -name '*.log' -printf '%f\n' 2>/dev/null | sort -n | tail -n 1)
		[ -n "$f" ] && ln -sfn "$d/$f" "$ROOT/log/$c.log"
	done
	return 0
}

# claim_dir CLAIM: the host directory of the Pod's claim (a local PV)
claim_dir() {
	local pv
	pv=$(k get pvc "$1-$POD" -o 'jsonpath={.spec.volumeName}')
	[ -n "$pv" ] || return 0
	echo "$NODE_ROOT$("$NODE_KUBECTL" --request-timeout=30s get pv "$pv" -o 'jsonpath={.spec.local.path}{.spec.hostPath.path}')"
}

ini() { sed -n "s/^$1 = //p" "$ROOT/chatmail.ini" | head -n 1; }

write_env() {
	local domain q key dks dkim mail queue
	k get sts,cm,secret,cronjob,svc -l "chatmail.at/relay=$NAME" -o json >"$ROOT/objects.json"
	jq -r '.items[] | select(.kind == "ConfigMap") | .data["chatmail.ini"] // empty' \
		"$ROOT/objects.json" >"$ROOT/chatmail.ini"
	domain=$(ini mail_domain)
	[ -n "$domain" ] || die "no mail_domain in $NAME's chatmail.ini"
	mail=$(claim_dir mail)
	queue=$(claim_dir queue)
	jq -r '.items[] | select(.kind == "Secret" and .type == "kubernetes.io/tls") | .data["tls.crt"]' \
		"$ROOT/objects.json" | head -n 1 | base64 -d >"$ROOT/tls.crt"
	# ACME mode (a cert-init container): the certificate is on the mail
	# claim; clients trust a test's ACME CA ($LOCAL_RELAY_ACME_CA), else
	# the placeholder the relay serves until it has one
	if [ ! -s "$ROOT/tls.crt" ] && [ "$(jq '[.items[] | select(.kind == "StatefulSet") |
		.spec.template.spec.initContainers // [] | .[] | select(.name == "cert-init")] | length' "$ROOT/objects.json")" -gt 0 ]; then
		if [ -n "${LOCAL_RELAY_ACME_CA:-}" ]; then
			cp "$LOCAL_RELAY_ACME_CA" "$ROOT/tls.crt"
		else
			cp "$mail/acme/tls/tls.crt" "$ROOT/tls.crt" 2>/dev/null || true
		fi
	fi
	[ -s "$ROOT/tls.crt" ] || die "no TLS Secret (nor ACME certificate) of $NAME"
	mkdir -p "$ROOT/dkim"
	key=$(jq -r '.items[] | select(.kind == "Secret") | .data["opendkim.private"] // empty' "$ROOT/objects.json" | head -n 1)
	# a key the admin made (spec.dkim.secretName: a restored or imported
	# one) carries no relay label: the Secret the Pod mounts as "dkim"
	if [ -z "$key" ]; then
		dks=$(jq -r '.items[] | select(.kind == "StatefulSet") | .spec.template.spec.volumes[] |
			select(.name == "dkim") | .secret.secretName // empty' "$ROOT/objects.json" | head -n 1)
		[ -z "$dks" ] || key=$(k get secret "$dks" -o 'jsonpath={.data.opendkim\.private}' 2>/dev/null || true)
	fi
	[ -n "$key" ] || die "no DKIM key Secret of $NAME"
	(umask 077 && echo "$key" | base64 -d >"$ROOT/dkim/opendkim.private")
	dkim=$(openssl rsa -in "$ROOT/dkim/opendkim.private" -pubout -outform DER 2>/dev/null | base64 -w 0)
	q=$(jq -r '.items[] | select(.kind == "ConfigMap") | .data["main.cf"] // empty' "$ROOT/objects.json" |
		sed -n 's/^queue_directory = //p' | head -n 1)
	netns_attach
	link_logs
	cat >"$ROOT/relay.env.tmp" <<EOF
# written by hack/relay-k8s.sh for $NS/$NAME
NAME=$NAME
KIND=pod
POD=$POD
NAMESPACE=$NS
DOMAIN=$domain
ADDR=$(svc_addr)
POD_IP=$(k get pod "$POD" -o 'jsonpath={.status.podIP}')
MODE=netns
NETNS=$NETNS
ROOT=$ROOT
INI=$ROOT/chatmail.ini
OBJECTS=$ROOT/objects.json
CA=$ROOT/tls.crt
SMTP_PORT=25
SUBMISSION_PORT=587
SMTPS_PORT=465
IMAP_PORT=143
IMAPS_PORT=993
HTTP_PORT=80
HTTPS_PORT=443
DNS=$NODE_RELAY_DNS
VMAIL=$mail
QUEUE=$queue${q#/var/spool/postfix}
MAILBOXES=$mail$(ini mailboxes_dir | sed 's|^/home/vmail||')
DKIM_SELECTOR=$(ini dkim_selector)
DKIM_TXT="v=DKIM1;k=rsa;p=$dkim;s=email;t=s"
LOG=$ROOT/log
POSTFIX_EXEC="$NODE_KUBECTL --kubeconfig $KUBECONFIG -n $NS exec -i $POD -c postfix --"
POSTFIX_CONF=/run/postfix-config/etc
EOF
	mv "$ROOT/relay.env.tmp" "$ROOT/relay.env"
	mkdir -p "$DNSBASE/$NS-$NAME"
	rm -f "$DNSBASE/$NS-$NAME/relay.env"
	ln -sfn "$ROOT/relay.env" "$DNSBASE/$NS-$NAME/relay.env"
	dns_reload
}

# dns_early: the relay's name and load-balancer address in the DNS
# before it is Ready, as an admin publishes them first: an ACME server
# resolves the names it validates (write_env then adds the rest)
dns_early() {
	local domain
	domain=$("$PY" -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["spec"]["domain"])' \
		"$ROOT/relay.yaml") || return 0
	mkdir -p "$DNSBASE/$NS-$NAME"
	rm -f "$DNSBASE/$NS-$NAME/relay.env"
	printf 'DOMAIN=%s\nADDR=%s\nDKIM_SELECTOR=dkim\nDKIM_TXT=\n' "$domain" "$LB_ADDR" \
		>"$DNSBASE/$NS-$NAME/relay.env"
	dns_reload || true
}

# push_ca: $LOCAL_RELAY_PUSH_CA trusted by the Pod's chatmail-metadata
# (see Trust above); waits for the Pod made with it
push_ca() {
	local uid gen
	[ -n "${LOCAL_RELAY_PUSH_CA:-}" ] || return 0
	cat /etc/ssl/certs/ca-certificates.crt "$LOCAL_RELAY_PUSH_CA" >"$ROOT/test-ca.crt"
	# server-side: the bundle is larger than kubectl's last-applied
	# annotation may be
	k create configmap "$NAME-test-ca" --from-file=ca-certificates.crt="$ROOT/test-ca.crt" \
		--dry-run=client -o json |
		k apply --server-side --field-manager=relay-k8s -f - >/dev/null ||
		die "ConfigMap $NAME-test-ca failed"
	uid=$(k get pod "$POD" -o 'jsonpath={.metadata.uid}')
	gen=$(k get sts "$NAME" -o 'jsonpath={.metadata.generation}')
	k apply --server-side --field-manager=relay-k8s -f - >/dev/null <<EOF || die "mounting $NAME-test-ca failed"
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: $NAME}
spec:
  template:
    spec:
      volumes:
      - {name: test-ca, configMap: {name: $NAME-test-ca}}
      containers:
      - name: metadata
        volumeMounts:
        - {name: test-ca, mountPath: /etc/ssl/certs/ca-certificates.crt, subPath: ca-certificates.crt, readOnly: true}
EOF
	[ "$(k get sts "$NAME" -o 'jsonpath={.metadata.generation}')" = "$gen" ] && return 0
	wait_ready "$uid" || exit 75
}

# fresh_state: a relay whose directory is new starts from nothing, as
# its volumes lived in that directory: what an earlier relay of the same
# name left in the namespace (claims, DKIM key) goes first
fresh_state() {
	k delete chatmailrelay "$NAME" --ignore-not-found --wait=true --timeout="${WAIT}s" >/dev/null 2>&1 || true
	k wait pod "$POD" --for=delete --timeout="${WAIT}s" >/dev/null 2>&1 || true
	k delete pvc "mail-$POD" "queue-$POD" --ignore-not-found --wait=true --timeout="${WAIT}s" >/dev/null 2>&1 || true
	k delete secret -l "chatmail.at/relay=$NAME" --ignore-not-found >/dev/null 2>&1 || true
}

cmd_up() {
	local t0=$SECONDS
	[ "$(id -u)" -eq 0 ] || die "needs root" 69
	[ -e "$ROOT/relay.env" ] && die "$NAME is up already (down first)" 64
	if [ ! -d "$ROOT" ] && k get namespace "$NS" >/dev/null 2>&1; then
		fresh_state
	fi
	mkdir -p "$ROOT/log"
	chmod 755 "$BASE" "$ROOT"
	k get namespace "$NS" >/dev/null 2>&1 ||
		"$NODE_KUBECTL" create namespace "$NS" >/dev/null
	spec >"$ROOT/relay.yaml"
	k apply -f "$ROOT/relay.yaml" >/dev/null || die "kubectl apply of $NAME failed"
	dns_early
	wait_ready || exit 75
	push_ca
	write_env
	say "$NAME up: $NS/$POD for $(sed -n 's/^DOMAIN=//p' "$ROOT/relay.env") at $(sed -n 's/^ADDR=//p' "$ROOT/relay.env") in $((SECONDS - t0)) s, env in $ROOT/relay.env"
}

cmd_down() {
	ip netns delete "$NETNS" 2>/dev/null || true
	rm -rf "/etc/netns/$NETNS"
	rm -f "$ROOT/relay.env"
	rm -rf "${DNSBASE:?}/$NS-$NAME"
	dns_reload || true
	k delete chatmailrelay "$NAME" --ignore-not-found --wait=true --timeout="${WAIT}s" >/dev/null 2>&1 || true
	# the StatefulSet's Pod goes with its owner (bounded)
	k wait pod "$POD" --for=delete --timeout="${WAIT}s" >/dev/null 2>&1 || true
	k delete configmap "$NAME-test-ca" --ignore-not-found >/dev/null 2>&1 || true
	say "$NAME down (its claims and DKIM key kept in $NS)"
}

cmd_purge() {
	cmd_down
	k delete pvc "mail-$POD" "queue-$POD" --ignore-not-found --wait=false >/dev/null 2>&1 || true
	k delete secret -l "chatmail.at/relay=$NAME" --ignore-not-found >/dev/null 2>&1 || true
	rm -rf "$ROOT"
	say "$NAME purged"
}

cmd_status() {
	[ -e "$ROOT/relay.env" ] || { say "$NAME is not up"; return 3; }
	link_logs
	say "$NAME: $NS/$POD, $(sed -n 's/^DOMAIN=//p' "$ROOT/relay.env") at $(sed -n 's/^ADDR=//p' "$ROOT/relay.env")"
	k get pod "$POD" -o json | jq -r '.status.containerStatuses[] |
		"  \(.name): \(.state | keys[0]) (restarts \(.restartCount))"'
	k get pod "$POD" -o json | jq -e 'all(.status.containerStatuses[]; .state.running != null)' >/dev/null || return 3
}

cmd_refresh() {
	[ -e "$ROOT/relay.env" ] || die "$NAME is not up" 64
	wait_ready || exit 75
	write_env
	say "$NAME: relay.env rewritten ($(sed -n 's/^ADDR=//p' "$ROOT/relay.env"))"
}

cmd_restart_pod() {
	local uid
	[ -e "$ROOT/relay.env" ] || die "$NAME is not up" 64
	uid=$(k get pod "$POD" -o 'jsonpath={.metadata.uid}')
	k delete pod "$POD" --wait=true --timeout="${WAIT}s" >/dev/null || die "deleting $POD failed"
	wait_ready "$uid" || exit 75
	write_env
	say "$NAME: Pod $POD deleted and made again by its StatefulSet"
}

# ports_of CONTAINER: the TCP ports its processes listen on
ports_of() {
	local cid pids
	cid=$(container_id "$1")
	[ -n "$cid" ] || die "no running container $1 in $POD"
	pids=$(grep -l "$cid" /proc/[0-9]*/cgroup 2>/dev/null | cut -d/ -f3 | sort -u | tr '\n' '|')
	[ -n "$pids" ] || return 0
	ip netns exec "$NETNS" ss -ltnpH |
		grep -E "pid=(${pids%|})," | awk '{ n = split($4, a, ":"); print a[n] }' | sort -un
}

restarts_of() {
	k get pod "$POD" -o json | jq -r --arg c "$1" '.status.containerStatuses[] | select(.name == $c) | .restartCount'
}

cmd_container() { # stop|start|restart NAME CONTAINER
	local op=$1 c=$2 p n i tag="relay-k8s stop $2"
	[ -e "$ROOT/relay.env" ] || die "$NAME is not up" 64
	k get pod "$POD" -o 'jsonpath={.spec.containers[*].name}' | tr ' ' '\n' | grep -qx "$c" ||
		die "no container $c in $POD" 64
	case $op in
	stop)
		for p in $(ports_of "$c"); do
			ip netns exec "$NETNS" iptables -I INPUT -p tcp --dport "$p" \
				-m comment --comment "$tag" -j REJECT --reject-with tcp-reset
		done
		;;
	start)
		# (none if the container listened on nothing at stop: restarting)
		ip netns exec "$NETNS" iptables -S INPUT | { grep -F -- "\"$tag\"" || true; } | sed 's/^-A //' |
			while read -r rule; do
				eval "ip netns exec '$NETNS' iptables -D $rule"
			done
		;;
	restart)
		n=$(restarts_of "$c")
		crictl stop -t 20 "$(container_id "$c")" >/dev/null || die "crictl stop $c failed"
		for ((i = 0; i < WAIT; i++)); do
			[ "$(restarts_of "$c")" -gt "$n" ] && pod_ready && break
			sleep 1
		done
		pod_ready || die "$NAME $c: the Pod is not Ready after the restart"
		link_logs
		;;
	esac
	say "$NAME $c: $op done"
}

cmd_job() {
	local cj=$1 job pod rc deadline=$((SECONDS + WAIT)) st
	[ -e "$ROOT/relay.env" ] || die "$NAME is not up" 64
	[ -n "$cj" ] || usage
	k get cronjob "$NAME-$cj" >/dev/null 2>&1 || die "no CronJob $NAME-$cj" 64
	job=$NAME-$cj-$(date +%s)
	k create job --from="cronjob/$NAME-$cj" "$job" >/dev/null || die "creating Job $job failed"
	while :; do
		st=$(k get job "$job" -o 'jsonpath={.status.succeeded}/{.status.failed}')
		[ "$st" != / ] && break
		[ $SECONDS -lt $deadline ] || { k delete job "$job" --wait=false >/dev/null 2>&1; return 124; }
		sleep 1
	done
	pod=$(k get pod -l "job-name=$job" -o 'jsonpath={.items[0].metadata.name}')
	k logs "$pod" --all-containers 2>&1 || true
	rc=$(k get pod "$pod" -o 'jsonpath={.status.containerStatuses[0].state.terminated.exitCode}')
	k delete job "$job" --cascade=foreground --wait=false >/dev/null 2>&1 || true
	return "${rc:-1}"
}

case $CMD in
up) cmd_up ;;
down) cmd_down ;;
purge) cmd_purge ;;
status) cmd_status ;;
refresh) cmd_refresh ;;
restart)
	if [ -n "${3:-}" ]; then cmd_container restart "$3"; else cmd_restart_pod; fi
	;;
stop | start) [ -n "${3:-}" ] || usage; cmd_container "$CMD" "$3" ;;
exec)
	[ $# -ge 4 ] || usage
	c=$3
	shift 3
	exec "$NODE_KUBECTL" -n "$NS" exec -i "$POD" -c "$c" -- "$@"
	;;
logs)
	[ -n "${3:-}" ] || usage
	exec "$NODE_KUBECTL" -n "$NS" logs "$POD" -c "$3"
	;;
job) cmd_job "${3:-}" ;;
*) usage ;;
esac
