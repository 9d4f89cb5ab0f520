#!/usr/bin/env bash
# control-plane.sh: a real Kubernetes control plane on loopback for tests,
# started envtest-style from the binaries hack/k8s-bin.sh builds: etcd,
# kube-apiserver (RBAC, ServiceAccount token signing), kube-controller-manager,
# kube-scheduler and kwok with one fake node whose Pods reach Running (and
# Succeeded when a Job owns them).
#
# Usage: hack/control-plane.sh up|stop|down|status|env
#   up      start everything (idempotent: a healthy control plane is left
#           alone, a broken one is stopped and started afresh); waits for
#           /readyz and for the fake node to be Ready
#   stop    stop exactly the processes up started (pid files), keep state
#   down    stop, then remove state
#   status  print each component; exit 0 when all run, 3 otherwise
#   env     print shell exports (KUBECONFIG, CP_*) for a running plane
#
# State, logs and the admin kubeconfig live in build/control-plane/, or in
# CP_STATE_DIR: a second instance (the demo's, the chart test's) runs
# from this same script with its own CP_STATE_DIR and ports.
# Ports are fixed, on 127.0.0.1, below the ephemeral range (32768+) so no
# outgoing connection can take them; each can be overridden:
#   CP_ETCD_PORT=22379 CP_ETCD_PEER_PORT=22380 CP_APISERVER_PORT=26443
#   CP_KCM_PORT=20257 CP_SCHEDULER_PORT=20259 CP_KWOK_PORT=20247
# CP_BIN_DIR overrides where the binaries are (default: hack/k8s-bin.sh path);
# CP_TIMEOUT bounds each wait in seconds (default 60); CP_KWOK=0 leaves
# kwok out, and kube-scheduler too unless CP_SCHEDULER=1.
#
# For a real node (hack/node.sh): CP_BIND_ADDRESS (default 127.0.0.1) is
# where kube-apiserver listens and what it advertises (an address the
# node's Pods reach; the `kubernetes` Service's endpoints then follow it
# through the lease reconciler), CP_SERVICE_CIDR the Service range
# (default 10.0.0.0/16), CP_KEEP_STATE=1 makes up reuse the PKI and etcd
# data a stop left (the cluster comes back as it was). kube-apiserver
# always reaches kubelets with the admin certificate, by InternalIP.
set -Eeuo pipefail

PROG="control-plane"
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE=${CP_STATE_DIR:-$ROOT/build/control-plane}
PKI=$STATE/pki
KUBECONFIG_FILE=$STATE/kubeconfig

ETCD_PORT=${CP_ETCD_PORT:-22379}
ETCD_PEER_PORT=${CP_ETCD_PEER_PORT:-22380}
APISERVER_PORT=${CP_APISERVER_PORT:-26443}
KCM_PORT=${CP_KCM_PORT:-20257}
SCHEDULER_PORT=${CP_SCHEDULER_PORT:-20259}
KWOK_PORT=${CP_KWOK_PORT:-20247}
TIMEOUT=${CP_TIMEOUT:-60}
WANT_KWOK=${CP_KWOK:-1}
WANT_SCHEDULER=${CP_SCHEDULER:-$WANT_KWOK}
BIND=${CP_BIND_ADDRESS:-127.0.0.1}
KEEP_STATE=${CP_KEEP_STATE:-0}
FRESH=0
NODE_NAME=kwok-node-0
SERVICE_CIDR=${CP_SERVICE_CIDR:-10.0.0.0/16}
# the first address of the range is the `kubernetes` Service's
SERVICE_IP=${SERVICE_CIDR%/*}
SERVICE_IP=${SERVICE_IP%.*}.$((${SERVICE_IP##*.} + 1))
POD_CIDR=10.244.0.0/24
# components in start order; down stops them in reverse
COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok)

# say prints one progress line on stderr.
say() { printf '%s: %s\n' "$PROG" "$*" >&2; }

# die prints a message and fails.
die() {
	say "ERROR: $*"
	exit 1
}

# bin_dir prints the directory holding the binaries.
bin_dir() {
	if [ -n "${CP_BIN_DIR:-}" ]; then
		printf '%s\n' "$CP_BIN_DIR"
	else
		"$ROOT/hack/k8s-bin.sh" path
	fi
}

# alive succeeds when the pid file names a live process running our binary.
alive() { # component
	local pidf=$STATE/$1.pid pid exe
	[ -f "$pidf" ] || return 1
	pid=$(cat "$pidf")
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
	exe=${exe% (deleted)}
	# the pid may have been reused by an unrelated process: ours run our
	# binary with arguments naming this state directory
	[ "${exe##*/}" = "$1" ] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$STATE/"
}

# port_busy succeeds when something accepts connections on the port.
port_busy() { # port [address]
	(exec 3<>"/dev/tcp/${2:-127.0.0.1}/$1") 2>/dev/null
}

# wait_for polls a command until it succeeds, the component dies or time
# runs out; a failure shows the end of the component's log.
wait_for() { # component what command...
	local c=$1 what=$2 deadline=$((SECONDS + TIMEOUT))
	shift 2
	until "$@" >/dev/null 2>&1; do
		if ! alive "$c"; then
			say "$c exited while waiting for $what; end of $STATE/$c.log:"
			tail -n 30 "$STATE/$c.log" >&2 || true
			return 1
		fi
		if [ $SECONDS -ge $deadline ]; then
			say "$c: $what not reached within ${TIMEOUT}s; end of $STATE/$c.log:"
			tail -n 30 "$STATE/$c.log" >&2 || true
			return 1
		fi
		sleep 0.3
	done
}

# start runs a component detached (own session, no terminal), logging to
# build/control-plane/<name>.log, and records its pid.
start() { # component args...
	local c=$1 bin pid i
	shift
	bin=$BIN/$c
	[ -x "$bin" ] || die "$bin missing: run hack/k8s-bin.sh (make k8s-bin)"
	# fd 8 is the state lock: a daemon must not inherit (and so hold) it
	setsid "$bin" "$@" >"$STATE/$c.log" 2>&1 </dev/null 8>&- &
	pid=$!
	echo "$pid" >"$STATE/$c.pid"
	# until the forked shell has exec'd the binary, alive() cannot know it
	for ((i = 0; i < 100; i++)); do
		alive "$c" && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	say "started $c (pid $pid)"
}

# stop ends one component by its pid: TERM, then KILL after 10 s.
stop() { # component
	local c=$1 pidf=$STATE/$1.pid pid i
	[ -f "$pidf" ] || return 0
	pid=$(cat "$pidf")
	if alive "$c"; then
		kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < 100; i++)); do
			alive "$c" || break
			sleep 0.1
		done
		if alive "$c"; then
			say "$c (pid $pid) ignored TERM; killing"
			kill -KILL "$pid" 2>/dev/null || true
			sleep 0.2
		fi
		say "stopped $c (pid $pid)"
	fi
	rm -f "$pidf"
}

# ca makes a self-signed ECDSA P-256 CA.
ca() { # name cn
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-days 7 -subj "/CN=$2" -keyout "$PKI/$1.key" -out "$PKI/$1.crt" \
		-addext basicConstraints=critical,CA:TRUE \
		-addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
}

# leaf makes a certificate signed by a CA.
leaf() { # name subject ca extendedKeyUsage [subjectAltName]
	local n=$1
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-subj "$2" -keyout "$PKI/$n.key" -out "$PKI/$n.csr" 2>/dev/null
	{
		echo "basicConstraints=critical,CA:FALSE"
		echo "keyUsage=critical,digitalSignature,keyEncipherment"
		echo "extendedKeyUsage=$4"
		if [ -n "${5:-}" ]; then echo "subjectAltName=$5"; fi
	} >"$PKI/$n.ext"
	openssl x509 -req -in "$PKI/$n.csr" -CA "$PKI/$3.crt" -CAkey "$PKI/$3.key" \
		-CAcreateserial -days 7 -extfile "$PKI/$n.ext" -out "$PKI/$n.crt" 2>/dev/null
	rm -f "$PKI/$n.csr" "$PKI/$n.ext"
}

# make_pki writes the serving CA and apiserver certificate, the client CA
# and admin certificate, and the ServiceAccount signing key pair.
make_pki() {
	mkdir -p "$PKI"
	chmod 700 "$PKI"
	ca serving-ca "chatmail-envtest-serving-ca"
	ca client-ca "chatmail-envtest-client-ca"
	leaf apiserver "/CN=kube-apiserver" serving-ca serverAuth \
		"IP:127.0.0.1,IP:$BIND,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:$SERVICE_IP"
	leaf admin "/O=system:masters/CN=chatmail-envtest-admin" client-ca clientAuth
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
		-out "$PKI/sa.key" 2>/dev/null
	openssl pkey -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
}

# write_kubeconfig writes the admin kubeconfig with embedded credentials.
write_kubeconfig() {
	local b64="base64 -w0"
	umask 077
	cat >"$KUBECONFIG_FILE" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: chatmail-envtest
  cluster:
    server: https://$BIND:$APISERVER_PORT
    certificate-authority-data: $($b64 "$PKI/serving-ca.crt")
users:
- name: chatmail-envtest-admin
  user:
    client-certificate-data: $($b64 "$PKI/admin.crt")
    client-key-data: $($b64 "$PKI/admin.key")
contexts:
- name: chatmail-envtest
  context:
    cluster: chatmail-envtest
    user: chatmail-envtest-admin
current-context: chatmail-envtest
EOF
	umask 022
}

# write_env records what tests need to reach the control plane.
write_env() {
	cat >"$STATE/env" <<EOF
export KUBECONFIG=$KUBECONFIG_FILE
export CP_APISERVER_URL=https://$BIND:$APISERVER_PORT
export CP_ETCD_URL=http://127.0.0.1:$ETCD_PORT
export CP_CA=$PKI/serving-ca.crt
export CP_ADMIN_CERT=$PKI/admin.crt
export CP_ADMIN_KEY=$PKI/admin.key
export CP_BIN_DIR=$BIN
export CP_KWOK=$WANT_KWOK
export CP_SERVICE_CIDR=$SERVICE_CIDR
export CP_NODE_NAME=$NODE_NAME
EOF
}

# write_kwok_config writes kwok's stages: the fake node turns Ready; a
# scheduled Pod turns Running with a pod IP; a Running Pod owned by a Job
# turns Succeeded; a Pod being deleted is removed (nothing else finishes a
# graceful delete without a kubelet).
write_kwok_config() {
	cat >"$STATE/kwok.yaml" <<'EOF'
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata: {name: chatmail-node-ready}
spec:
  resourceRef: {apiGroup: v1, kind: Node}
  selector:
    matchExpressions:
    - {key: '.status.conditions.[] | select( .type == "Ready" ) | .status', operator: NotIn, values: ['True']}
  next:
    statusTemplate: |
      {{ $now := Now }}
      conditions:
      - {type: Ready, status: "True", reason: KubeletReady, message: "kwok fake node", lastHeartbeatTime: {{ $now | Quote }}, lastTransitionTime: {{ $now | Quote }}}
      - {type: MemoryPressure, status: "False", reason: KubeletHasSufficientMemory, message: "", lastHeartbeatTime: {{ $now | Quote }}, lastTransitionTime: {{ $now | Quote }}}
      - {type: DiskPressure, status: "False", reason: KubeletHasNoDiskPressure, message: "", lastHeartbeatTime: {{ $now | Quote }}, lastTransitionTime: {{ $now | Quote }}}
      - {type: PIDPressure, status: "False", reason: KubeletHasSufficientPID, message: "", lastHeartbeatTime: {{ $now | Quote }}, lastTransitionTime: {{ $now | Quote }}}
      - {type: NetworkUnavailable, status: "False", reason: RouteCreated, message: "", lastHeartbeatTime: {{ $now | Quote }}, lastTransitionTime: {{ $now | Quote }}}
      addresses:
      - {type: InternalIP, address: {{ NodeIP | Quote }}}
      - {type: Hostname, address: {{ NodeName | Quote }}}
      capacity: {cpu: "16", memory: 64Gi, pods: "110", ephemeral-storage: 100Gi}
      allocatable: {cpu: "16", memory: 64Gi, pods: "110", ephemeral-storage: 100Gi}
      nodeInfo: {architecture: amd64, operatingSystem: linux, kubeletVersion: {{ printf "kwok-%s" Version | Quote }}, kubeProxyVersion: "", containerRuntimeVersion: kwok, kernelVersion: kwok, osImage: kwok, machineID: "", systemUUID: "", bootID: ""}
      phase: Running
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata: {name: chatmail-pod-running}
spec:
  resourceRef: {apiGroup: v1, kind: Pod}
  selector:
    matchExpressions:
    - {key: .metadata.deletionTimestamp, operator: DoesNotExist}
    - {key: .status.phase, operator: In, values: [Pending]}
  next:
    statusTemplate: |
      {{ $now := Now }}
      phase: Running
      startTime: {{ $now | Quote }}
      conditions:
      - {type: PodScheduled, status: "True", lastTransitionTime: {{ $now | Quote }}}
      - {type: Initialized, status: "True", lastTransitionTime: {{ $now | Quote }}}
      - {type: ContainersReady, status: "True", lastTransitionTime: {{ $now | Quote }}}
      - {type: Ready, status: "True", lastTransitionTime: {{ $now | Quote }}}
      containerStatuses:
      {{ range .spec.containers }}
      - {name: {{ .name | Quote }}, image: {{ .image | Quote }}, ready: true, started: true, restartCount: 0, state: {running: {startedAt: {{ $now | Quote }}}}}
      {{ end }}
      {{ with .spec.initContainers }}
      initContainerStatuses:
      {{ range . }}
      - {name: {{ .name | Quote }}, image: {{ .image | Quote }}, ready: true, restartCount: 0, state: {terminated: {exitCode: 0, reason: Completed, startedAt: {{ $now | Quote }}, finishedAt: {{ $now | Quote }}}}}
      {{ end }}
      {{ end }}
      {{ with NodeIPsWith .spec.nodeName }}
      hostIP: {{ index . 0 | Quote }}
      hostIPs: [{ip: {{ index . 0 | Quote }}}]
      {{ end }}
      {{ with PodIPsWith .spec.nodeName ( or .spec.hostNetwork false ) ( or .metadata.uid "" ) ( or .metadata.name "" ) ( or .metadata.namespace "" ) }}
      podIP: {{ index . 0 | Quote }}
      podIPs: [{ip: {{ index . 0 | Quote }}}]
      {{ end }}
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata: {name: chatmail-job-pod-succeeded}
spec:
  resourceRef: {apiGroup: v1, kind: Pod}
  selector:
    matchExpressions:
    - {key: .metadata.deletionTimestamp, operator: DoesNotExist}
    - {key: .status.phase, operator: In, values: [Running]}
    - {key: '.metadata.ownerReferences.[].kind', operator: In, values: [Job]}
  delay: {durationMilliseconds: 500}
  next:
    statusTemplate: |
      {{ $now := Now }}
      phase: Succeeded
      conditions:
      - {type: PodScheduled, status: "True", lastTransitionTime: {{ $now | Quote }}}
      - {type: Initialized, status: "True", lastTransitionTime: {{ $now | Quote }}}
      - {type: ContainersReady, status: "False", reason: PodCompleted, lastTransitionTime: {{ $now | Quote }}}
      - {type: Ready, status: "False", reason: PodCompleted, lastTransitionTime: {{ $now | Quote }}}
      containerStatuses:
      {{ range .spec.containers }}
      - {name: {{ .name | Quote }}, image: {{ .image | Quote }}, ready: false, started: false, restartCount: 0, state: {terminated: {exitCode: 0, reason: Completed, startedAt: {{ $now | Quote }}, finishedAt: {{ $now | Quote }}}}}
      {{ end }}
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata: {name: chatmail-pod-delete}
spec:
  resourceRef: {apiGroup: v1, kind: Pod}
  selector:
    matchExpressions:
    - {key: .metadata.deletionTimestamp, operator: Exists}
  next:
    delete: true
EOF
}

# start_etcd starts etcd on loopback; fsync is off, this data is disposable.
start_etcd() {
	mkdir -p "$STATE/etcd-data"
	chmod 700 "$STATE/etcd-data"
	start etcd --name=envtest --data-dir="$STATE/etcd-data" \
		--listen-client-urls="http://127.0.0.1:$ETCD_PORT" \
		--advertise-client-urls="http://127.0.0.1:$ETCD_PORT" \
		--listen-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
		--initial-advertise-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
		--initial-cluster="envtest=http://127.0.0.1:$ETCD_PEER_PORT" \
		--unsafe-no-fsync=true --log-level=warn
	wait_for etcd "/health" curl -fsS --max-time 2 "http://127.0.0.1:$ETCD_PORT/health"
}

# start_apiserver starts kube-apiserver with RBAC and ServiceAccount tokens.
# Every resource is served through the watch cache as in production, except
# podtemplates (unused by anything here): their watches go straight to etcd,
# so a test can see etcd compaction turn an old watch into 410 Gone (the
# watch cache keeps its event window across compactions).
# On loopback nothing could reach the `kubernetes` Service's endpoint,
# so no endpoint reconciler runs; on another address the default one does.
start_apiserver() {
	local rec=lease
	[ "$BIND" = 127.0.0.1 ] && rec=none
	start kube-apiserver \
		--etcd-servers="http://127.0.0.1:$ETCD_PORT" \
		--bind-address="$BIND" --secure-port="$APISERVER_PORT" \
		--advertise-address="$BIND" --endpoint-reconciler-type="$rec" \
		--kubelet-client-certificate="$PKI/admin.crt" \
		--kubelet-client-key="$PKI/admin.key" \
		--kubelet-preferred-address-types=InternalIP,Hostname \
		--cert-dir="$PKI" \
		--tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
		--client-ca-file="$PKI/client-ca.crt" \
		--authorization-mode=RBAC \
		--service-account-issuer=https://kubernetes.default.svc.cluster.local \
		--service-account-key-file="$PKI/sa.pub" \
		--service-account-signing-key-file="$PKI/sa.key" \
		--service-cluster-ip-range="$SERVICE_CIDR" \
		--allow-privileged=true --profiling=false \
		--watch-cache-sizes=podtemplates#0
	wait_for kube-apiserver "/readyz" curl -fsS --max-time 2 \
		--cacert "$PKI/serving-ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" \
		"https://$BIND:$APISERVER_PORT/readyz"
}

# start_kcm starts kube-controller-manager acting as the admin identity.
start_kcm() {
	start kube-controller-manager \
		--kubeconfig="$KUBECONFIG_FILE" \
		--authentication-kubeconfig="$KUBECONFIG_FILE" \
		--authorization-kubeconfig="$KUBECONFIG_FILE" \
		--leader-elect=false \
		--bind-address=127.0.0.1 --secure-port="$KCM_PORT" \
		--service-account-private-key-file="$PKI/sa.key" \
		--root-ca-file="$PKI/serving-ca.crt" \
		--service-cluster-ip-range="$SERVICE_CIDR" \
		--controllers='*' --profiling=false
	wait_for kube-controller-manager "/healthz" curl -fsSk --max-time 2 \
		"https://127.0.0.1:$KCM_PORT/healthz"
}

# start_scheduler starts kube-scheduler acting as the admin identity.
start_scheduler() {
	start kube-scheduler \
		--kubeconfig="$KUBECONFIG_FILE" \
		--authentication-kubeconfig="$KUBECONFIG_FILE" \
		--authorization-kubeconfig="$KUBECONFIG_FILE" \
		--leader-elect=false \
		--bind-address=127.0.0.1 --secure-port="$SCHEDULER_PORT" --profiling=false
	wait_for kube-scheduler "/healthz" curl -fsSk --max-time 2 \
		"https://127.0.0.1:$SCHEDULER_PORT/healthz"
}

# start_kwok starts kwok for the annotated fake node and creates that node.
start_kwok() {
	write_kwok_config
	mkdir -p "$STATE/kwok-home"
	# HOME: kwok also reads ~/.kwok/kwok.yaml; keep the user's out of it
	HOME=$STATE/kwok-home start kwok \
		--kubeconfig="$KUBECONFIG_FILE" --config="$STATE/kwok.yaml" \
		--manage-all-nodes=false \
		--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
		--cidr="$POD_CIDR" --node-ip=10.244.0.1 \
		--node-lease-duration-seconds=40 \
		--server-address="127.0.0.1:$KWOK_PORT"
	wait_for kwok "/healthz" curl -fsS --max-time 2 "http://127.0.0.1:$KWOK_PORT/healthz"
	"$BIN/kubectl" --kubeconfig="$KUBECONFIG_FILE" apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Node
metadata:
  name: $NODE_NAME
  annotations: {kwok.x-k8s.io/node: fake, node.alpha.kubernetes.io/ttl: "0"}
  labels: {kubernetes.io/hostname: $NODE_NAME, kubernetes.io/os: linux, kubernetes.io/arch: amd64, type: kwok}
spec:
  podCIDR: $POD_CIDR
EOF
	wait_for kwok "node $NODE_NAME Ready" node_ready
}

# node_ready succeeds when the fake node reports Ready.
node_ready() {
	[ "$("$BIN/kubectl" --kubeconfig="$KUBECONFIG_FILE" get node "$NODE_NAME" \
		-o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}')" = True ]
}

# healthy succeeds when every recorded component runs and the apiserver is ready.
healthy() {
	local c any=0
	for c in "${COMPONENTS[@]}"; do
		[ -f "$STATE/$c.pid" ] || continue
		any=1
		alive "$c" || return 1
	done
	[ $any = 1 ] && [ -f "$KUBECONFIG_FILE" ] || return 1
	curl -fsS --max-time 2 --cacert "$PKI/serving-ca.crt" --cert "$PKI/admin.crt" \
		--key "$PKI/admin.key" "https://$BIND:$APISERVER_PORT/readyz" >/dev/null 2>&1
}

# preflight checks tools, binaries and that our ports are free.
preflight() {
	local t p c
	for t in openssl curl setsid base64; do
		command -v "$t" >/dev/null || die "missing tool: $t (make deps)"
	done
	for c in etcd kube-apiserver kube-controller-manager kubectl; do
		[ -x "$BIN/$c" ] || die "$BIN/$c missing: run hack/k8s-bin.sh (make k8s-bin)"
	done
	if [ "$WANT_KWOK" = 1 ] && { [ ! -x "$BIN/kube-scheduler" ] || [ ! -x "$BIN/kwok" ]; }; then
		say "kube-scheduler or kwok not built: running without a fake node"
		WANT_KWOK=0
	fi
	if [ "$WANT_SCHEDULER" = 1 ] && [ ! -x "$BIN/kube-scheduler" ]; then
		die "$BIN/kube-scheduler missing: run hack/k8s-bin.sh (make k8s-bin)"
	fi
	for p in "$ETCD_PORT" "$ETCD_PEER_PORT" "$KCM_PORT" "$SCHEDULER_PORT" "$KWOK_PORT"; do
		port_busy "$p" && die "port 127.0.0.1:$p is in use (override with CP_*_PORT)"
	done
	port_busy "$APISERVER_PORT" "$BIND" &&
		die "port $BIND:$APISERVER_PORT is in use (override with CP_APISERVER_PORT)"
	return 0
}

# on_up_error stops whatever up had started when a step fails.
on_up_error() {
	say "up failed; stopping what was started (logs kept in $STATE)"
	if [ "$KEEP_STATE" = 1 ]; then stop_all; else down; fi
	exit 1
}

# lock serialises up and down on the state directory.
lock() {
	mkdir -p "$STATE"
	exec 8>"$STATE/.lock"
	flock -w "$TIMEOUT" 8 || die "another control-plane.sh holds $STATE/.lock"
}

up() {
	local t0=$SECONDS
	if healthy; then
		say "already up ($KUBECONFIG_FILE)"
		return 0
	fi
	stop_all
	if [ "$KEEP_STATE" = 1 ] && [ -f "$PKI/admin.key" ] && [ -d "$STATE/etcd-data" ]; then
		say "reusing the PKI and etcd data in $STATE"
	else
		down
		FRESH=1
	fi
	mkdir -p "$STATE"
	BIN=$(bin_dir)
	preflight
	trap on_up_error ERR
	if [ "$FRESH" = 1 ]; then make_pki; fi
	write_kubeconfig
	start_etcd
	start_apiserver
	start_kcm
	if [ "$WANT_SCHEDULER" = 1 ]; then start_scheduler; fi
	if [ "$WANT_KWOK" = 1 ]; then start_kwok; fi
	write_env
	trap - ERR
	say "up in $((SECONDS - t0))s: export KUBECONFIG=$KUBECONFIG_FILE"
}

# stop_all stops every component in reverse order.
stop_all() {
	local i
	[ -d "$STATE" ] || return 0
	for ((i = ${#COMPONENTS[@]} - 1; i >= 0; i--)); do
		stop "${COMPONENTS[i]}"
	done
}

# down stops every component and removes the state; the logs stay for
# reading until the next up.
down() {
	[ -d "$STATE" ] || return 0
	stop_all
	rm -rf "$PKI" "$STATE/etcd-data" "$STATE/kwok-home" "$KUBECONFIG_FILE" \
		"$STATE/env" "$STATE/kwok.yaml"
}

status() {
	local c rc=0 pid
	for c in "${COMPONENTS[@]}"; do
		if alive "$c"; then
			pid=$(cat "$STATE/$c.pid")
			printf '%-24s running (pid %s)\n' "$c" "$pid"
		elif [ -f "$STATE/$c.pid" ]; then
			printf '%-24s DEAD (see %s)\n' "$c" "$STATE/$c.log"
			rc=3
		else
			printf '%-24s stopped\n' "$c"
			case $c in etcd | kube-apiserver | kube-controller-manager) rc=3 ;; esac
		fi
	done
	if [ -f "$PKI/admin.key" ] && curl -fsS --max-time 2 --cacert "$PKI/serving-ca.crt" \
		--cert "$PKI/admin.crt" --key "$PKI/admin.key" \
		"https://$BIND:$APISERVER_PORT/readyz" >/dev/null 2>&1; then
		printf '%-24s ready (https://%s:%s, KUBECONFIG=%s)\n' /readyz "$BIND" \
			"$APISERVER_PORT" "$KUBECONFIG_FILE"
	else
		printf '%-24s not ready\n' /readyz
		rc=3
	fi
	return $rc
}

main() {
	case ${1:-} in
	up)
		lock
		up
		;;
	stop)
		lock
		stop_all
		say "stopped (state kept in $STATE)"
		;;
	down)
		lock
		down
		say "down"
		;;
	status) status ;;
	env)
		[ -f "$STATE/env" ] || die "not up"
		cat "$STATE/env"
		;;
	*)
		say "usage: $0 up|stop|down|status|env"
		exit 64
		;;
	esac
}

main "$@"
