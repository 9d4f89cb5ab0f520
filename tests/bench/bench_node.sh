#!/usr/bin/env bash
# bench_node.sh: what the real test node costs (hack/node.sh,
# hack/cluster.sh, hack/relay-k8s.sh), on a node of its own
# (build/bench/node, NODE_NET 10.253, its own ports):
#
#   build      the cold cost of the node's binaries, as recorded when
#              their caches were filled (hack/k8s-bin.sh, hack/node-bin.sh
#              builds.log), and the warm cost now (both scripts on a full
#              cache)
#   start      hack/cluster.sh up on a fresh state directory with warm
#              caches: control plane, node, image import, operator
#   apply      kubectl apply of the test relay to its Pod Ready (and the
#              relay's Ready condition), beside hack/local-relay.sh up of
#              the same relay without Kubernetes (the baseline: the same
#              daemons, started by a script)
#   delete     the relay's Pod deleted to the new Pod Ready
#   memory     per container, the working set kubelet reports in its
#              summary API (/stats/summary) at rest and after 1,000
#              messages (four clients, 250 each), summed per Pod
#
# Upstream's Python services (chatmaild's doveauth, metadata, lastlogin)
# are not measured beside them: chatmaild is not published on PyPI
# (`pip download chatmaild`: "No matching distribution"), and building
# it from upstream's repository would put fetched code into our runs.
#   BENCH_NODE_MSGS   messages (default 1000)
# Never fails on speed; exits non-zero only when it cannot run.
# shellcheck source=tests/integration/lib/common.sh
. "$(dirname "$0")/../integration/lib/common.sh"
# shellcheck source=tests/integration/relay/lib.sh
. "$(dirname "$0")/../integration/relay/lib.sh"
export NODE_STATE=$TOP/build/bench/node NODE_NET=10.253
export RELAY_HARNESS=$TOP/hack/relay-k8s.sh RELAY_K8S_NS_PREFIX=bench
export CP_ETCD_PORT=26379 CP_ETCD_PEER_PORT=26380 CP_APISERVER_PORT=26443
export CP_KCM_PORT=26257 CP_SCHEDULER_PORT=26259 CP_KWOK_PORT=26247
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/../e2e/lib.sh"
MSGS=${BENCH_NODE_MSGS:-1000}
[ "$(id -u)" -eq 0 ] || { echo "bench_node: needs root"; exit 1; }
relay_workdir bench-node
export LOCAL_RELAY_BASE=$W/relays

secs() { awk "BEGIN { printf \"%.1f\", $(date +%s.%N) - $1 }"; }
row() { printf '  %-44s %s\n' "$1" "$2"; }

echo "bench_node: build (cold as recorded when the cache was filled; warm now)"
for s in k8s-bin node-bin; do
	bin=$("$TOP/hack/$s.sh" path 2>/dev/null) || true
	log=$(find "$(dirname "${bin:-/nonexistent}")" "$(dirname "$(dirname "${bin:-/nonexistent}")")" \
		-maxdepth 1 -name builds.log 2>/dev/null | head -n 1)
	cold=$(tail -n 1 "$log" 2>/dev/null || echo "not recorded")
	t=$(date +%s.%N)
	"$TOP/hack/$s.sh" >/dev/null 2>&1 || { echo "bench_node: hack/$s.sh failed"; exit 1; }
	row "hack/$s.sh cold" "$cold"
	row "hack/$s.sh warm" "$(secs "$t") s"
done

on_exit "'$TOP/hack/node.sh' purge >/dev/null 2>&1"
"$TOP/hack/node.sh" purge >/dev/null 2>&1
t=$(date +%s.%N)
"$TOP/hack/cluster.sh" up >"$W/cluster.log" 2>&1 || {
	tail -n 20 "$W/cluster.log"
	echo "bench_node: hack/cluster.sh up failed"
	exit 1
}
echo "bench_node: start"
row "hack/cluster.sh up, fresh state, warm caches" "$(secs "$t") s"
grep -E '^node: (up|started|control plane)' "$W/cluster.log" | sed 's/^/    /'
# shellcheck disable=SC1091
. "$NODE_STATE/env"

cat >"$W/relay.yaml" <<EOF
apiVersion: chatmail.at/v1alpha1
kind: ChatmailRelay
metadata: {name: bench1}
spec:
  domain: _bench1.chat.test
  network: {disableIPv6: true}
  service: {type: LoadBalancer, loadBalancerIP: "$NODE_NET.129.1"}
  limits: {maxUserSendPerMinute: 100000, maxUserSendBurstSize: 10000}
  systemLimits: {maxLoad1m: 1000, minAvailableMemory: 1M, minFreeDiskSpace: 1M}
EOF
echo "bench_node: apply -> Ready"
t=$(date +%s.%N)
LOCAL_RELAY_SPEC=$W/relay.yaml "$RELAY_HARNESS" up bench1 >"$W/up.log" 2>&1 || {
	cat "$W/up.log"
	exit 1
}
on_exit "'$RELAY_HARNESS' purge bench1 >/dev/null 2>&1"
row "kubectl apply -> relay and Pod Ready (node)" "$(secs "$t") s"
E=$LOCAL_RELAY_BASE/bench1/relay.env
t=$(date +%s.%N)
LNET=10.$((150 + $$ % 100)).0
if LOCAL_RELAY_BASE=$W/local LOCAL_RELAY_SPEC=$W/relay.yaml LOCAL_RELAY_NET=$LNET \
	"$TOP/hack/local-relay.sh" up bench1 >"$W/local.log" 2>&1; then
	row "hack/local-relay.sh up, same spec (baseline)" "$(secs "$t") s"
else
	row "hack/local-relay.sh up, same spec (baseline)" "could not run: $(tail -n 1 "$W/local.log")"
fi
# (local-relay.sh has no purge: down stops the daemons and removes the
# relay's network namespace)
LOCAL_RELAY_BASE=$W/local LOCAL_RELAY_NET=$LNET "$TOP/hack/local-relay.sh" down bench1 >/dev/null 2>&1

echo "bench_node: Pod deleted -> new Pod Ready"
t=$(date +%s.%N)
"$RELAY_HARNESS" restart bench1 >"$W/restart.log" 2>&1 || { cat "$W/restart.log"; exit 1; }
row "kubectl delete pod -> new Pod Ready" "$(secs "$t") s"

# mem: "container MiB" lines of the relay's Pod from kubelet's summary
mem() {
	"$NODE_KUBECTL" get --raw "/api/v1/nodes/$NODE_NAME/proxy/stats/summary" |
		jq -r --arg ns "$(renv "$E" NAMESPACE)" --arg p "$(renv "$E" POD)" \
			'.pods[] | select(.podRef.namespace == $ns and .podRef.name == $p) |
			.containers[] | "\(.name) \(.memory.workingSetBytes / 1048576 * 10 | round / 10)"' | sort
}
sleep 15 # the summary's stats are sampled every 10 s
mem >"$W/rest.txt"
read -r A PA < <(new_account "$E")
read -r B PB < <(new_account "$E")
K=$W/gnupg
rc genkey "$K" "$B" >/dev/null 2>&1 || exit 1
t=$(date +%s.%N)
pids=()
for i in 1 2 3 4; do
	rc stream "$E" "$A" "$PA" "$B" --keydir "$K" --count $((MSGS / 4)) --pause 0 \
		--prefix "b$i" >"$W/stream$i.out" 2>&1 &
	pids+=($!)
done
wait "${pids[@]}"
acc=$(cat "$W"/stream*.out | grep -c '^accepted')
dt=$(secs "$t")
sleep 15
mem >"$W/after.txt"
echo "bench_node: memory per container (working set, kubelet /stats/summary), MiB"
printf '  %-24s %10s %10s\n' container "at rest" "after $acc"
join "$W/rest.txt" "$W/after.txt" | while read -r c r a; do
	printf '  %-24s %10s %10s\n' "$c" "$r" "$a"
done
printf '  %-24s %10s %10s\n' "Pod (sum)" "$(awk '{ s += $2 } END { print s }' "$W/rest.txt")" \
	"$(awk '{ s += $2 } END { print s }' "$W/after.txt")"
got=$(rc msgids "$E" "$B" "$PB" 2>/dev/null | grep -c '^b[1-4]-')
echo "bench_node: $acc of $MSGS messages accepted in $dt s (four clients, 465), $got in the INBOX"
exit 0
