#!/usr/bin/env bash
# relay-kind.sh: the relay test harness for a real cluster (kind in the
# GitHub workflow .github/workflows/e2e.yaml): the interface and relay.env
# of hack/local-relay.sh and hack/relay-pod.sh, so the relay e2e tests
# run unchanged against a relay the installed operator runs there.
#
#   hack/relay-kind.sh up NAME       apply ChatmailRelay NAME (the test
#                                    relay spec, or $LOCAL_RELAY_SPEC with
#                                    its name set to NAME), wait for Ready,
#                                    forward its Service's ports to
#                                    127.0.0.<10+index>, write relay.env
#   hack/relay-kind.sh down NAME     stop the forwards and log followers
#                                    (by PID), delete the relay
#   hack/relay-kind.sh status NAME
#
# relay.env: ADDR is the forward's loopback address, CA the relay's TLS
# Secret, LOG holds `kubectl logs -f` of postfix, dovecot and nginx,
# ROOT/dkim the DKIM key Secret; MAILBOXES is the mail claim seen through
# $KIND_PV_DIR (the kind node's /var/local-path-provisioner mounted on
# the runner), empty without it. No NETNS: tests that need the relay's
# network namespace (federation, push) skip themselves.
#
# Settings: LOCAL_RELAY_BASE (state, default build/kind-relay),
# RELAY_KIND_NS (namespace, default chatmail-e2e), RELAY_KIND_WAIT
# (seconds, default 300). Needs kubectl with a working context and root
# (ports below 1024). Not run on the development machine (no kubelet
# there); the workflow is its test.
set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BASE=${LOCAL_RELAY_BASE:-$TOP/build/kind-relay}
NS=${RELAY_KIND_NS:-chatmail-e2e}
WAIT=${RELAY_KIND_WAIT:-300}
PORTS="25 80 143 443 465 587 993"

CMD=${1:-}
NAME=${2:-}
[[ $NAME =~ ^[a-z][a-z0-9-]{0,8}[0-9]{1,2}$ ]] || {
	echo "usage: $0 up|down|status NAME (NAME ends in its index)" >&2
	exit 64
}
IDX=$((10#${NAME##*[!0-9]}))
ROOT=$BASE/$NAME
ADDR=127.0.0.$((10 + IDX))

say() { echo "relay-kind: $*"; }
die() { echo "relay-kind: $*" >&2; exit "${2:-75}"; }
k() { kubectl -n "$NS" --request-timeout=30s "$@"; }

spec() { # the ChatmailRelay to apply, named NAME
	if [ -n "${LOCAL_RELAY_SPEC:-}" ]; then
		/usr/bin/python3 - "$LOCAL_RELAY_SPEC" "$NAME" <<'PYEOF'
import sys, yaml
d = yaml.safe_load(open(sys.argv[1]))
d.setdefault("metadata", {})["name"] = sys.argv[2]
d["metadata"].pop("namespace", None)
print(yaml.safe_dump(d))
PYEOF
		return
	fi
	cat <<EOF
apiVersion: chatmail.at/v1alpha1
kind: ChatmailRelay
metadata: {name: $NAME}
spec:
  domain: _$NAME.chat.test
  iroh: {enabled: false}
  service: {type: ClusterIP}
  storage: {mail: {size: 1Gi, keepOnDelete: false}, queue: {size: 256Mi, keepOnDelete: false}}
  limits: {maxUserSendPerMinute: 600, maxUserSendBurstSize: 100}
  systemLimits: {maxLoad1m: 1000, minAvailableMemory: 1M, minFreeDiskSpace: 1M}
EOF
}

secret_of() { # secret_of TYPE-SELECTOR KEY: a key of the relay's Secret
	k get secret -l "chatmail.at/relay=$NAME" -o json |
		jq -r --arg k "$2" ".items[] | select($1) | .data[\$k] // empty" | head -n 1 | base64 -d
}

start_bg() { # start_bg PIDFILE LOG CMD...: a background helper, by PID
	local pidf=$1 log=$2
	shift 2
	"$@" >"$log" 2>&1 &
	echo $! >"$pidf"
}

stop_bg() {
	local f pid
	for f in "$ROOT"/pids/*.pid; do
		[ -e "$f" ] || continue
		pid=$(cat "$f")
		kill "$pid" 2>/dev/null || true
		rm -f "$f"
	done
}

cmd_up() {
	local domain p i mb pvdir dkim fw c
	[ -e "$ROOT/relay.env" ] && die "$NAME is up already" 64
	mkdir -p "$ROOT/log" "$ROOT/pids" "$ROOT/dkim"
	kubectl get namespace "$NS" >/dev/null 2>&1 || kubectl create namespace "$NS" >/dev/null
	spec | k apply -f - >/dev/null
	k wait "chatmailrelay/$NAME" --for=condition=Ready --timeout="${WAIT}s" >/dev/null ||
		die "$NAME not Ready after $WAIT s: $(k get chatmailrelay "$NAME" -o jsonpath='{.status.conditions}')"
	domain=$(k get chatmailrelay "$NAME" -o jsonpath='{.spec.domain}')
	secret_of '.type == "kubernetes.io/tls"' tls.crt >"$ROOT/tls.crt"
	secret_of '.data["opendkim.private"] != null' opendkim.private >"$ROOT/dkim/opendkim.private"
	chmod 600 "$ROOT/dkim/opendkim.private"
	dkim=$(openssl rsa -in "$ROOT/dkim/opendkim.private" -pubout -outform DER 2>/dev/null | base64 -w 0)
	fw=()
	for p in $PORTS; do fw+=("$p:$p"); done
	start_bg "$ROOT/pids/forward.pid" "$ROOT/log/forward.log" \
		kubectl -n "$NS" port-forward --address "$ADDR" "svc/$NAME" "${fw[@]}"
	for p in $PORTS; do
		for ((i = 0; i < 100; i++)); do
			(exec 3<>"/dev/tcp/$ADDR/$p") 2>/dev/null && break
			sleep 0.2
		done
	done
	for c in postfix dovecot nginx; do
		start_bg "$ROOT/pids/log-$c.pid" "$ROOT/log/$c.log" \
			kubectl -n "$NS" logs -f "$NAME-0" -c "$c"
	done
	mb=""
	if [ -n "${KIND_PV_DIR:-}" ]; then
		pvdir=$(find "$KIND_PV_DIR" -maxdepth 1 -name "*_${NS}_mail-$NAME-0" | head -n 1)
		[ -n "$pvdir" ] && mb=$pvdir/mail/$domain
	fi
	cat >"$ROOT/relay.env" <<EOF
# written by hack/relay-kind.sh up $NAME
NAME=$NAME
KIND=cluster
POD=$NAME-0
DOMAIN=$domain
ADDR=$ADDR
MODE=loopback
NETNS=
ROOT=$ROOT
CA=$ROOT/tls.crt
SMTP_PORT=25
SUBMISSION_PORT=587
SMTPS_PORT=465
IMAP_PORT=143
IMAPS_PORT=993
HTTP_PORT=80
HTTPS_PORT=443
MAILBOXES=$mb
DKIM_SELECTOR=opendkim
DKIM_TXT="v=DKIM1;k=rsa;p=$dkim;s=email;t=s"
LOG=$ROOT/log
POSTFIX_EXEC="kubectl -n $NS exec -i $NAME-0 -c postfix --"
POSTFIX_CONF=/run/postfix-config/etc
EOF
	say "$NAME up: $domain, Service ports forwarded to $ADDR"
}

cmd_down() {
	stop_bg
	rm -f "$ROOT/relay.env"
	k delete chatmailrelay "$NAME" --ignore-not-found --wait=false >/dev/null 2>&1 || true
	say "$NAME down"
}

cmd_status() {
	[ -e "$ROOT/relay.env" ] || { say "$NAME is not up"; return 3; }
	k get chatmailrelay "$NAME"
	k get pod "$NAME-0" -o wide
}

case $CMD in
up) cmd_up ;;
down) cmd_down ;;
status) cmd_status ;;
*) die "usage: $0 up|down|status NAME" 64 ;;
esac
