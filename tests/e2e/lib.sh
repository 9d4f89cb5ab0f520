#!/usr/bin/env bash
# lib.sh: helpers of the e2e tier (source after ../integration/lib/common.sh
# and ../integration/relay/lib.sh). The relays of these tests are the
# operator's rendered Pod run by hack/relay-pod.sh (RELAY_HARNESS), on
# a bridge of their own (never the integration tier's or a developer's),
# so relays_up/new_account/rc work as in the relay tests.
#
#   e2e_prereqs               skip the file (TAP plan 0) when not root or
#                             podman or the relay images are missing
#   e2e_begin NAME N          prerequisites, TAP, work dir NAME and relay
#                             Pods e2e1..e2eN up (the file ends if not)
#   pod_of ENV                the relay's podman Pod
#   pexec ENV CONTAINER CMD   run CMD in one of its containers
#   pf ENV CMD ARGS...        a Postfix command in its postfix container
#                             with the rendered config (relay_postfix)
#   queued ENV                messages in its Postfix queue
#   tls_fp ENV PORT           SHA-256 fingerprint of the certificate the
#                             relay presents on PORT (465, 993, 443:
#                             implicit TLS; 587, 25: STARTTLS)
#   relay_pod ARGS...         hack/relay-pod.sh with the tests' settings
#   wait_until SECS CMD...    retry CMD once a second (bounded)

export RELAY_HARNESS=$TOP/hack/relay-pod.sh
# a /24 per e2e run (10.100.0 - 10.149.0; integration runs use 150-249,
# the demo 10.76.0, developers 10.77.0)
export LOCAL_RELAY_NET=${LOCAL_RELAY_NET:-10.$((100 + $$ % 50)).0}

e2e_prereqs() {
	local why="" img
	[ "$(id -u)" -eq 0 ] || why="needs root"
	command -v podman >/dev/null || why="$why podman missing"
	[ -x "$BIN/chatmail-operator" ] || why="$why chatmail-operator not built"
	for img in $("$TOP/hack/images.sh" --list | cut -d= -f2 | grep -v operator); do
		podman image exists "$img" 2>/dev/null || why="$why $img missing (make images)"
	done
	if [ -n "$why" ]; then
		echo "1..0 # SKIP $why"
		exit 0
	fi
}

e2e_begin() {
	local name=$1 n=$2 t0=$SECONDS what="relay Pod e2e1"
	e2e_prereqs
	relay_prereqs
	tap_init
	relay_workdir "$name"
	[ "$n" -gt 1 ] && what="relay Pods $(seq -f 'e2e%g' -s ' ' 1 "$n")"
	relays_up "$W" "$n" || { ok 1 "$what up"; tap_done; }
	ok 0 "$what up in podman ($((SECONDS - t0)) s)"
}

pod_of() { renv "$1" POD; }

pexec() { # pexec ENV CONTAINER CMD...
	local pod
	pod=$(pod_of "$1")
	shift
	local c=$1
	shift
	podman exec "$pod-$c" "$@"
}

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
