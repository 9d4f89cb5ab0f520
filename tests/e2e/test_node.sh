#!/usr/bin/env bash
# test_node: the test node itself (hack/node.sh), before anything of ours
# runs on it: one node, Ready, on containerd 2.x with the OOM-score
# restriction this machine needs; kubelet and kube-proxy of the control
# plane's version; the Pod sandboxes are our pause image; a Pod resolves
# kubernetes.default through CoreDNS and reaches the API server through
# kube-proxy's `kubernetes` Service; a claim of the default StorageClass
# binds (local-path-provisioner) with the Pod's fsGroup applied by
# kubelet, and what the Pod writes lands under the node's state
# directory; the machine's kernel tunables are what they were before
# kubelet started; kube-proxy's rules exist in the node's network
# namespace only.
# shellcheck source=tests/integration/lib/common.sh
. "$(dirname "$0")/../integration/lib/common.sh"

STATE=${NODE_STATE:-$TOP/build/node}
if [ "$(id -u)" -ne 0 ] || [ ! -f "$STATE/env" ]; then
	echo "1..0 # SKIP needs root and a node up (hack/node.sh up)"
	exit 0
fi
# shellcheck disable=SC1091
. "$STATE/env"
tap_init
workdir e2e-node >/dev/null
W=$TOP/build/test/e2e-node
k() { "$NODE_KUBECTL" --request-timeout=30s "$@"; }
crictl() { "$NODE_CRICTL" --timeout 30s "$@"; }
K8S=$("$TOP/hack/k8s-bin.sh" versions | awk '$1 == "kubelet" { print $2 }')
CTRD=$("$TOP/hack/node-bin.sh" versions | awk '$1 == "containerd" { print substr($2, 2) }')

k get nodes -o json >"$W/nodes.json"
[ "$(jq '.items | length' "$W/nodes.json")" = 1 ] &&
	[ "$(jq -r '.items[0].metadata.name' "$W/nodes.json")" = "$NODE_NAME" ]
ok $? "exactly one node, $NODE_NAME (no kwok node beside it)"
info=$(jq -r '.items[0].status.nodeInfo | "\(.containerRuntimeVersion) \(.kubeletVersion) \(.kubeProxyVersion)"' "$W/nodes.json")
read -r rt kl _ <<<"$info"
[ "$rt" = "containerd://$CTRD" ] && [ "$kl" = "$K8S" ]
ok $? "runtime $rt, kubelet $kl (want containerd://$CTRD, $K8S)"
jq -e '.items[0].status.conditions[] | select(.type == "Ready") | .status == "True"' "$W/nodes.json" >/dev/null
ok $? "the node is Ready"
crictl info -o json >"$W/crictl-info.json"
[ "$(jq -r '[.. | .restrictOOMScoreAdj? // empty] | first' "$W/crictl-info.json")" = true ]
ok $? "crictl info: restrictOOMScoreAdj is true"
"$TOP/hack/node.sh" status >"$W/status" 2>&1
ok $? "hack/node.sh status: every component runs"
grep -q "kube-proxy.*running" "$W/status" && k -n kube-system get endpointslices -l kubernetes.io/service-name=kube-dns -o json |
	jq -e '[.items[].endpoints[]?.conditions.ready] | any' >/dev/null
ok $? "kube-proxy runs and CoreDNS has a ready endpoint"

# a Pod of the Debian base image: DNS, the kubernetes Service, a claim
NS=node-check-$RANDOM
k create namespace "$NS" >/dev/null
on_exit "'$NODE_KUBECTL' delete namespace $NS --wait=false >/dev/null 2>&1"
k -n "$NS" apply -f - >/dev/null <<EOF
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 16Mi}}
---
apiVersion: v1
kind: Pod
metadata: {name: check}
spec:
  restartPolicy: Never
  securityContext: {runAsUser: 2000, runAsGroup: 2000, fsGroup: 2000}
  containers:
  - name: check
    image: docker.io/library/debian:bookworm-slim
    imagePullPolicy: Never
    command: [bash, -c]
    volumeMounts: [{name: data, mountPath: /data}]
    args:
    - |
      getent hosts kubernetes.default.svc.cluster.local | awk '{ print "dns", \$1 }'
      (exec 3<>/dev/tcp/kubernetes.default.svc.cluster.local/443) && echo "service ok"
      echo "written by the Pod" >/data/hello && echo "claim ok"
      stat -c "claim %g %A" /data
  volumes:
  - name: data
    persistentVolumeClaim: {claimName: data}
EOF
t0=$SECONDS
k -n "$NS" wait pod/check --for=jsonpath='{.status.phase}'=Succeeded --timeout=120s >/dev/null
ok $? "a Pod with a claim ran to completion ($((SECONDS - t0)) s from apply)"
k -n "$NS" logs check >"$W/check.log" 2>&1
sed 's/^/# /' "$W/check.log"
svc=$(k -n default get svc kubernetes -o 'jsonpath={.spec.clusterIP}')
grep -qx "dns $svc" "$W/check.log"
ok $? "the Pod resolves kubernetes.default through CoreDNS ($svc)"
grep -qx "service ok" "$W/check.log"
ok $? "the Pod reaches the API server through the kubernetes Service (kube-proxy)"
pv=$(k -n "$NS" get pvc data -o 'jsonpath={.spec.volumeName}')
sc=$(k -n "$NS" get pvc data -o 'jsonpath={.spec.storageClassName}')
path=$(k get pv "$pv" -o 'jsonpath={.spec.local.path}')
[ "$sc" = standard ] && [ -n "$path" ] && [ "$(cat "$path/hello" 2>/dev/null)" = "written by the Pod" ]
ok $? "the claim bound from the default StorageClass ($sc, a local PV in $path)"
grep -q '^claim 2000 drwxrws' "$W/check.log"
ok $? "kubelet applied the Pod's fsGroup to the claim ($(grep '^claim [0-9]' "$W/check.log"))"
sid=$(crictl pods -q --name '^check$' --namespace "^$NS\$" | head -n 1)
img=$(crictl inspectp -o json "$sid" 2>/dev/null | jq -r '.info.image // .info.config.image.image // empty')
pause=$("$TOP/hack/node-images.sh" list node | head -n 1)
pid=$(crictl inspectp -o go-template --template '{{.info.pid}}' "$sid" 2>/dev/null)
[ -n "$sid" ] && { [ "$img" = "$pause" ] || [ "$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" = "/pause " ]; }
ok $? "the Pod's sandbox runs our pause image ($pause: ${img:-pid $pid})"

# the machine as it was: kubelet's tunables only inside the node
while read -r key want; do
	have=$(sysctl -n "$key")
	[ "$have" = "$want" ] || { echo "# $key is $have, was $want"; false; }
done <"$NODE_STATE/log/host-sysctls"
ok $? "the machine's kernel tunables are untouched ($(tr '\n' ' ' <"$NODE_STATE/log/host-sysctls"))"
host=$(iptables-save 2>/dev/null | grep -c 'KUBE-')
node=$(nsenter --net="$NODE_NETNS" iptables-save 2>/dev/null | grep -c 'KUBE-SERVICES')
[ "$host" -eq 0 ] && [ "$node" -gt 0 ]
ok $? "kube-proxy's chains exist in the node's network namespace only"
tap_done
