#!/usr/bin/env bash
# test_resilience.sh: the operator survives its API server going away and
# history it missed being compacted. It talks to a second kube-apiserver
# of its own (same etcd, same PKI as the control plane's), which this
# suite stops and restarts: watches break, requests fail, the informers
# back off and re-watch from their last resourceVersion; after an etcd
# compaction of everything they missed, the re-watch gets 410 Gone and
# they re-list. In both cases a change made meanwhile (through the main
# API server) is seen and repaired. TAP on stdout; waits bounded.
# shellcheck source=tests/envtest/operator/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NS=""
AS_PORT=""

# as2_start starts the operator's own kube-apiserver and waits for /readyz.
as2_start() {
	local pki
	pki=$(dirname "$CP_CA")
	mkdir -p "$WORK/as2"
	"$CP_BIN_DIR/kube-apiserver" \
		--etcd-servers="$CP_ETCD_URL" \
		--bind-address=127.0.0.1 --secure-port="$AS_PORT" \
		--advertise-address=127.0.0.1 --endpoint-reconciler-type=none \
		--cert-dir="$WORK/as2" \
		--tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
		--client-ca-file="$pki/client-ca.crt" --authorization-mode=RBAC \
		--service-account-issuer=https://kubernetes.default.svc.cluster.local \
		--service-account-key-file="$pki/sa.pub" \
		--service-account-signing-key-file="$pki/sa.key" \
		--service-cluster-ip-range=10.0.0.0/24 --allow-privileged=true \
		--profiling=false >>"$WORK/apiserver2.log" 2>&1 &
	# checks run in subshells: keep the PID where every shell sees it
	echo $! >"$WORK/as2.pid"
	poll 90 as2_ready || fail "second apiserver not ready: $(tail -n 5 "$WORK/apiserver2.log")"
}

as2_ready() {
	curl -fsS --max-time 2 --cacert "$CP_CA" --cert "$CP_ADMIN_CERT" \
		--key "$CP_ADMIN_KEY" "https://127.0.0.1:$AS_PORT/readyz" >/dev/null 2>&1
}

# as2_stop kills the second apiserver (a crash: connections just drop)
# and waits until it is gone.
as2_stop() {
	local pid i
	[ -f "$WORK/as2.pid" ] || return 0
	pid=$(cat "$WORK/as2.pid")
	rm -f "$WORK/as2.pid"
	kill -KILL "$pid" 2>/dev/null || true
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	fail "apiserver $pid does not die"
}

etcd_post() { # path json
	curl -fsS --max-time 10 -X POST -H 'Content-Type: application/json' \
		--data "$2" "$CP_ETCD_URL$1"
}

postfix_restored() {
	k -n "$NS" get cm chat-postfix -o 'jsonpath={.data.main\.cf}' | grep -q '^myorigin = chat.example.org$'
}

children_exist() {
	k -n "$NS" get cm/chat-postfix sts/chat svc/chat -o name >/dev/null 2>&1
}

t_setup() {
	poll 60 children_exist || fail "children missing: $(grep -v level=debug "$WORK/op-res.log" | tail -n 5)"
}

t_restart() {
	as2_stop
	k -n "$NS" patch cm chat-postfix --type=merge -p '{"data":{"main.cf":"while down\n"}}' >/dev/null
	sleep 3
	as2_start
	poll 90 postfix_restored || fail "change made while the apiserver was down not repaired"
	expect_match "watch failures logged" "$(cat "$WORK/op-res.log")" 'level=warn.*(watch|list) failed'
}

t_gone_410() {
	local relists0 relists1 rev
	relists0=$(metric res '^chatmail_operator_watch_restarts_total.kind="ConfigMap"')
	as2_stop
	k -n "$NS" patch cm chat-postfix --type=merge -p '{"data":{"main.cf":"compacted away\n"}}' >/dev/null
	k -n "$NS" annotate cm chat-nginx churn="$RANDOM" --overwrite >/dev/null
	rev=$(etcd_post /v3/kv/range '{"key":"AA=="}' | jq -r .header.revision)
	expect_match "etcd revision" "$rev" '^[0-9]+$'
	etcd_post /v3/kv/compaction "{\"revision\":\"$rev\",\"physical\":true}" >/dev/null
	as2_start
	poll 90 postfix_restored || fail "change hidden by the compaction not repaired"
	relists1=$(metric res '^chatmail_operator_watch_restarts_total.kind="ConfigMap"')
	[ "$relists1" -gt "$relists0" ] || fail "no re-list after 410 ($relists0 -> $relists1)"
}

cleanup() {
	as2_stop
	lib_cleanup
}

main() {
	lib_init
	trap cleanup EXIT
	NS=$(new_ns res)
	AS_PORT=$(free_port)
	as2_start
	# the admin kubeconfig pointed at the second apiserver (JSON is YAML)
	k config view --raw --minify -o json |
		jq --arg s "https://127.0.0.1:$AS_PORT" '.clusters[0].cluster.server = $s' \
			>"$WORK/kubeconfig2"
	install_crd
	relay chat "$NS" chat.example.org | k apply -f - >/dev/null
	op_start res --kubeconfig "$WORK/kubeconfig2" --namespace "$NS" --resync-period 600
	check "operator on its own apiserver creates the children" t_setup
	check "apiserver restart: watches resume, a missed change is repaired" t_restart
	check "etcd compaction while away: 410 Gone, re-list, repaired" t_gone_410
	tap_done
}

main "$@"
