#!/usr/bin/env bash
# lib.sh: helpers of the e2e tier (source after ../integration/lib/common.sh
# and ../integration/relay/lib.sh). The relays of these tests run on the
# real test node (hack/cluster.sh: kubelet, containerd, the operator
# from its chart): hack/relay-k8s.sh (RELAY_HARNESS) applies a
# ChatmailRelay and writes relay.env, so relays_up/new_account/rc work
# as in the relay tests. Against another cluster (kind in CI) the same
# tests run with NODE_STATE naming that cluster's env file.
#
#   e2e_prereqs               skip the file (TAP plan 0) when not root or
#                             the node is not up with the operator
#   e2e_begin NAME N          prerequisites, TAP, work dir NAME and relays
#                             e2e1..e2eN up (the file ends if not)
#   pod_of ENV                the relay's Pod name
#   kube ENV ARGS...          kubectl in the relay's namespace
#   pexec ENV CONTAINER CMD   run CMD in one of its containers
#   ctr_pid ENV CONTAINER     host PID of the container's first process
#                             (from the CRI; empty if it does not run)
#   ctr_restarts ENV CONTAINER
#                             its restartCount in the Pod's status
#   ctr_logs ENV CONTAINER    kubectl logs of it
#   pod_uid ENV               the Pod's UID (a new Pod has a new one)
#   pf ENV CMD ARGS...        a Postfix command in its postfix container
#                             with the rendered config (relay_postfix)
#   queued ENV                messages in its Postfix queue
#   tls_fp ENV PORT           SHA-256 fingerprint of the certificate the
#                             relay presents on PORT (465, 993, 443:
#                             implicit TLS; 587, 25: STARTTLS)
#   relay_pod ARGS...         the harness (hack/relay-k8s.sh)
#   wait_until SECS CMD...    retry CMD once a second (bounded)
#   pebble_up DIR LIFETIME [VAR=VALUE...]
#                             Pebble (hack/pebble-bin.sh) on this host at
#                             the node's host-side address
#                             (NODE_HOST_IP:14000, which Pods reach as
#                             they reach the apiserver), resolving names
#                             with the relay DNS and validating HTTP-01
#                             on port 80 of the relays' load-balancer
#                             addresses (as a CA outside the cluster
#                             does; from inside the node's namespace
#                             kube-proxy refuses them), issuing certificates
#                             valid LIFETIME seconds; its API's own
#                             certificate from a test CA (made once per
#                             DIR: call again to restart it). Sets
#                             PEBBLE_URL (the directory), PEBBLE_BUNDLE
#                             (the API's CA: a relay's tls.acmeCABundle),
#                             PEBBLE_ROOT (the root of what it issues),
#                             PEBBLE_LOG; stopped at exit (pebble_down)
#   acme_tls_yaml             the tls: block of a spec for that Pebble

export RELAY_HARNESS=${RELAY_HARNESS:-$TOP/hack/relay-k8s.sh}
export NODE_STATE=${NODE_STATE:-$TOP/build/node}
# the relay tests' own bridge is not used on the node; kept distinct
export LOCAL_RELAY_NET=${LOCAL_RELAY_NET:-10.$((100 + $$ % 50)).0}

e2e_prereqs() {
	local why=""
	[ "$(id -u)" -eq 0 ] || why="needs root"
	if [ -f "$NODE_STATE/env" ]; then
		# shellcheck disable=SC1091
		. "$NODE_STATE/env"
	else
		why="$why no node up (hack/cluster.sh up)"
	fi
	if [ -n "$why" ]; then
		echo "1..0 # SKIP $why"
		exit 0
	fi
}

e2e_begin() {
	local name=$1 n=$2 t0=$SECONDS what="relay e2e1"
	e2e_prereqs
	relay_prereqs
	tap_init
	relay_workdir "$name"
	[ "$n" -gt 1 ] && what="relays $(seq -f 'e2e%g' -s ' ' 1 "$n")"
	relays_up "$W" "$n" || { ok 1 "$what up"; tap_done; }
	ok 0 "$what Ready on node $NODE_NAME ($((SECONDS - t0)) s)"
}

pod_of() { renv "$1" POD; }
kube() { # kube ENV ARGS...
	local ns
	ns=$(renv "$1" NAMESPACE)
	shift
	"$NODE_KUBECTL" --request-timeout=30s -n "$ns" "$@"
}
pod_uid() { kube "$1" get pod "$(pod_of "$1")" -o 'jsonpath={.metadata.uid}'; }

pexec() { # pexec ENV CONTAINER CMD...
	local env=$1 c=$2
	shift 2
	kube "$env" exec -i "$(pod_of "$env")" -c "$c" -- "$@"
}

ctr_pid() { # ctr_pid ENV CONTAINER
	local id p pp
	id=$("$NODE_CRICTL" ps -q --name "^$2\$" --label "io.kubernetes.pod.namespace=$(renv "$1" NAMESPACE)" \
		--label "io.kubernetes.pod.name=$(pod_of "$1")" 2>/dev/null | head -n 1)
	[ -n "$id" ] || return 1
	# the process whose cgroup names the container and whose parent's
	# does not (the CRI's PIDs may be of the node's PID namespace)
	while read -r p; do
		pp=$(awk '/^PPid:/ { print $2 }' "/proc/$p/status" 2>/dev/null) || continue
		grep -q "$id" "/proc/$pp/cgroup" 2>/dev/null || { echo "$p"; return 0; }
	done < <(grep -l "$id" /proc/[0-9]*/cgroup 2>/dev/null | cut -d/ -f3 | sort -n)
	return 1
}

ctr_restarts() { # ctr_restarts ENV CONTAINER
	kube "$1" get pod "$(pod_of "$1")" -o json |
		jq -r --arg c "$2" '.status.containerStatuses[] | select(.name == $c) | .restartCount'
}

ctr_logs() { kube "$1" logs "$(pod_of "$1")" -c "$2"; }

pf() { relay_postfix "$@"; } # the relay tests' helper, by its short name

queued() { # number of messages in the relay's Postfix queue
	pf "$1" postqueue -j 2>/dev/null | grep -c '"queue_id"'
}

tls_fp() { # tls_fp ENV PORT
	local env=$1 port=$2 args=()
	case $port in
	25 | 587) args=(-starttls smtp) ;;
	143) args=(-starttls imap) ;;
	esac
	openssl s_client -connect "$(renv "$env" ADDR):$port" \
		-servername "$(renv "$env" DOMAIN)" "${args[@]}" </dev/null 2>/dev/null |
		openssl x509 -noout -fingerprint -sha256 2>/dev/null | cut -d= -f2
}

relay_pod() { "$RELAY_HARNESS" "$@"; }

wait_until() { # wait_until SECS CMD...
	local secs=$1 i
	shift
	for ((i = 0; i < secs; i++)); do
		"$@" && return 0
		sleep 1
	done
	return 1
}

PEBBLE_PID=""
pebble_up() { # pebble_up DIR LIFETIME [VAR=VALUE...]
	local dir=$1 life=$2 pb ip=$NODE_HOST_IP i
	shift 2
	pebble_down # a restart: the running one first (it holds the ports)
	pb=$("$TOP/hack/pebble-bin.sh" build 2>"$dir/pebble-bin.log") || {
		echo "# hack/pebble-bin.sh failed:"
		tail -n 5 "$dir/pebble-bin.log" | sed 's/^/# /'
		return 1
	}
	# the API's certificate names the address relays use (Pebble's own
	# test certificate names only localhost); made once per DIR, so a
	# restarted Pebble keeps the CA a relay's spec trusts
	[ -s "$dir/pebble-api.pem" ] ||
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-days 2 -subj "/CN=e2e ACME API CA" -keyout "$dir/pebble-ca.key" \
		-out "$dir/pebble-ca.pem" >/dev/null 2>&1 &&
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
			-subj "/CN=$ip" -keyout "$dir/pebble-api.key" \
			-out "$dir/pebble-api.csr" >/dev/null 2>&1 &&
		openssl x509 -req -in "$dir/pebble-api.csr" -CA "$dir/pebble-ca.pem" \
			-CAkey "$dir/pebble-ca.key" -CAcreateserial -days 2 \
			-extfile <(printf 'subjectAltName=IP:%s\n' "$ip") \
			-out "$dir/pebble-api.pem" >/dev/null 2>&1 || return 1
	cat >"$dir/pebble.json" <<EOF
{"pebble": {"listenAddress": "$ip:14000",
 "managementListenAddress": "$ip:15000",
 "certificate": "$dir/pebble-api.pem",
 "privateKey": "$dir/pebble-api.key",
 "httpPort": 80, "tlsPort": 443, "ocspResponderURL": "",
 "externalAccountBindingRequired": false,
 "retryAfter": {"authz": 1, "order": 1}, "keyAlgorithm": "ecdsa",
 "profiles": {"default": {"description": "e2e", "validityPeriod": $life}}}}
EOF
	PEBBLE_LOG=$dir/pebble.log
	env PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 \
		PEBBLE_AUTHZREUSE=0 "$@" "$pb/bin/pebble" -config "$dir/pebble.json" \
		-dnsserver "$NODE_RELAY_DNS:53" >>"$PEBBLE_LOG" 2>&1 &
	PEBBLE_PID=$!
	on_exit pebble_down
	PEBBLE_URL=https://$ip:14000/dir
	PEBBLE_BUNDLE=$dir/pebble-ca.pem
	PEBBLE_ROOT=$dir/pebble-root.pem
	for ((i = 0; i < 30; i++)); do
		curl -fsS --max-time 5 --cacert "$PEBBLE_BUNDLE" "https://$ip:15000/roots/0" \
			>"$PEBBLE_ROOT" 2>/dev/null && [ -s "$PEBBLE_ROOT" ] && return 0
		kill -0 "$PEBBLE_PID" 2>/dev/null || break
		sleep 1
	done
	echo "# Pebble did not answer at $ip:15000:"
	tail -n 5 "$PEBBLE_LOG" | sed 's/^/# /'
	return 1
}

pebble_down() {
	[ -n "$PEBBLE_PID" ] || return 0
	stop_pid "$PEBBLE_PID" 5
	PEBBLE_PID=""
}

# acme_tls_yaml: a spec's tls block (2-space indent under spec) for the
# Pebble of pebble_up, the terms agreed
acme_tls_yaml() {
	echo "  tls:"
	echo "    acmeTermsOfServiceAgreed: true"
	echo "    acmeEmail: admin@example.org"
	echo "    acmeDirectory: $PEBBLE_URL"
	echo "    acmeCABundle: |"
	sed 's/^/      /' "$PEBBLE_BUNDLE"
}
