#!/usr/bin/env bash
# test_chart: the Helm chart charts/chatmail-operator on the test node
# (hack/cluster.sh: a real kubelet and containerd).
#
# No drift between the chart's copies and crds/, crds/rbac/role.yaml,
# images/images.env; helm lint --strict; `helm template` with the default
# values and every ci/*-values.yaml accepted by the apiserver
# (kubectl apply --dry-run=server); values.schema.json rejects a bad
# value. Then a second release of the chart (the cluster's own operator,
# which watches every namespace, is scaled to 0 meanwhile and back at
# the end), watching one namespace, with crds.install false (the
# cluster's release owns the CRD): RBAC (Roles only, for a watched
# namespace), ServiceAccount and the Deployment, whose Pod kubelet runs
# on the node (in-cluster config, the chart's ServiceAccount token, so
# only the chart's RBAC); it reconciles the example relay
# crds/examples/test-relay.yaml to Ready (its Pod running, its claims
# bound by the provisioner) with its children and DNS records, without
# a denied request; the Argo CD health check (argocd/health.lua, run by
# lua5.4) says Healthy for that relay's real status and Progressing for
# one without status; `helm upgrade` works; `helm uninstall` keeps the
# relay.
# shellcheck source=tests/integration/lib/common.sh
. "$(dirname "$0")/../integration/lib/common.sh"

CHART=$TOP/charts/chatmail-operator
NODE_STATE=${NODE_STATE:-$TOP/build/node}
if [ "$(id -u)" -ne 0 ] || ! command -v lua5.4 >/dev/null || [ ! -f "$NODE_STATE/env" ]; then
	echo "1..0 # SKIP needs root, lua5.4 (make deps) and the test node up (hack/cluster.sh up)"
	exit 0
fi
# shellcheck disable=SC1091
. "$NODE_STATE/env"
tap_init
workdir e2e-chart >/dev/null
W=$TOP/build/test/e2e-chart

check "no drift: the chart's copies equal crds/, crds/rbac/role.yaml, images/images.env" \
	"$TOP/hack/chart.sh" check
check "helm lint --strict (default values and ci/*-values.yaml)" "$TOP/hack/chart.sh" lint
HELM=$("$TOP/hack/chart.sh" helm)

k() { "$NODE_KUBECTL" --request-timeout=30s "$@"; }
OPNS=${CLUSTER_NAMESPACE:-chatmail-system}
OPDEPLOY=${CLUSTER_RELEASE:-chatmail-operator}

NS=chart-$RANDOM
RNS=mail-$RANDOM
k create namespace "$NS" >/dev/null && k create namespace "$RNS" >/dev/null

# helm template, validated by the apiserver (a dry run that takes the
# fields helm owns on the cluster's installed chart: --force-conflicts)
n=0
for v in "" "$CHART"/ci/*-values.yaml; do
	args=(--namespace "$NS" --set "watchNamespace=$RNS")
	[ -n "$v" ] && args+=(-f "$v" --set "watchNamespace=$RNS")
	"$HELM" template t "$CHART" "${args[@]}" >"$W/t$n.yaml" 2>"$W/t$n.err" &&
		k apply --dry-run=server --server-side --force-conflicts -f "$W/t$n.yaml" >"$W/dry$n.log" 2>&1
	ok $? "helm template ${v:+-f $(basename "$v") }passes kubectl apply --dry-run=server ($(grep -c '^kind:' "$W/t$n.yaml") objects)"
	[ -s "$W/dry$n.log" ] && grep -v 'serverside-applied\|created\|configured' "$W/dry$n.log" | head -n 5 | sed 's/^/# /'
	n=$((n + 1))
done
! "$HELM" template t "$CHART" --set replicaCount=2 --set leaderElection.enabled=false >/dev/null 2>&1
ok $? "two replicas without leader election are refused"
! "$HELM" template t "$CHART" --set watchNamespace=Not_A_Namespace >/dev/null 2>"$W/schema.err" &&
	grep -q 'watchNamespace' "$W/schema.err"
ok $? "values.schema.json refuses a bad watchNamespace"

# the cluster's operator watches every namespace: out of the way
# meanwhile, back at the end
k -n "$OPNS" scale deploy "$OPDEPLOY" --replicas=0 >/dev/null
on_exit "'$NODE_KUBECTL' -n '$OPNS' scale deploy '$OPDEPLOY' --replicas=1 >/dev/null 2>&1; \
'$NODE_KUBECTL' -n '$OPNS' rollout status deploy '$OPDEPLOY' --timeout=120s >/dev/null 2>&1"
on_exit "'$NODE_KUBECTL' delete namespace '$RNS' '$NS' --wait=false >/dev/null 2>&1"
k -n "$OPNS" wait pod -l app.kubernetes.io/name=chatmail-operator --for=delete --timeout=60s >/dev/null 2>&1
t0=$SECONDS
VALS=(--set "watchNamespace=$RNS" --set crds.install=false)
"$HELM" install cm "$CHART" --namespace "$NS" "${VALS[@]}" \
	--wait --timeout 180s >"$W/install.log" 2>&1
ok $? "helm install --wait: the operator's Deployment becomes Available ($((SECONDS - t0)) s)"
sed -n '/NOTES/,$p' "$W/install.log" | grep -q "kubectl -n $RNS get chatmailrelay"
ok $? "NOTES tell how to create a relay and read its DNS records"
k get crd chatmailrelays.chatmail.at -o json >"$W/crd.json"
jq -e '.metadata.annotations["helm.sh/resource-policy"] == "keep"' "$W/crd.json" >/dev/null &&
	k wait --for=condition=Established --timeout=30s crd/chatmailrelays.chatmail.at >/dev/null
ok $? "the CRD (the cluster's release of this chart) is Established, with helm.sh/resource-policy: keep"
k -n "$RNS" get role cm-chatmail-operator >/dev/null 2>&1 &&
	! k get clusterrole cm-chatmail-operator >/dev/null 2>&1 &&
	k -n "$NS" get role cm-chatmail-operator-leader-election >/dev/null 2>&1
ok $? "watchNamespace: a Role in $RNS (no ClusterRole), leader election Role in $NS"
k -n "$NS" get deploy cm-chatmail-operator -o json >"$W/deploy.json"
jq -e '.spec.template.spec.containers[0] | (.securityContext.readOnlyRootFilesystem == true)
	and (.livenessProbe.httpGet.path == "/healthz") and (.readinessProbe.httpGet.path == "/readyz")
	and (.args | index("--namespace='"$RNS"'") != null) and (.args | index("--leader-elect=true") != null)' \
	"$W/deploy.json" >/dev/null
ok $? "the Deployment has probes, a read-only root, --namespace and --leader-elect"

# the operator's Pod: kubelet runs it with the chart's ServiceAccount
k -n "$NS" get pod -l app.kubernetes.io/name=chatmail-operator -o json >"$W/oppod.json"
jq -e --arg n "$NODE_NAME" '.items[0] | (.spec.nodeName == $n) and (.spec.serviceAccountName == "cm-chatmail-operator")
	and (.status.containerStatuses[0].ready == true) and (.status.containerStatuses[0].containerID | startswith("containerd://"))' \
	"$W/oppod.json" >/dev/null
ok $? "its Pod runs on $NODE_NAME with the chart's ServiceAccount ($(jq -r '.items[0].status.containerStatuses[0].containerID' "$W/oppod.json" | cut -c1-24))"
SA=system:serviceaccount:$NS:cm-chatmail-operator
can_in=$(k auth can-i create secrets -n "$RNS" --as "$SA" 2>&1)
can_out=$(k auth can-i get secrets -n default --as "$SA" 2>&1)
[ "$can_in" = yes ] && [ "$can_out" = no ]
ok $? "its ServiceAccount can create Secrets in $RNS ($can_in), not read them in default ($can_out)"

k -n "$RNS" apply -f "$TOP/crds/examples/test-relay.yaml" >/dev/null
t0=$SECONDS
ready() {
	[ "$(k -n "$RNS" get chatmailrelay test-relay -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}')" = True ]
}
for ((i = 0; i < 300; i++)); do ready && break; sleep 1; done
ready
ok $? "the example relay becomes Ready ($((SECONDS - t0)) s)"
k -n "$RNS" get pvc -o jsonpath='{range .items[*]}{.status.phase} {end}' | grep -qx 'Bound Bound '
ok $? "its claims are bound by the provisioner"
k -n "$RNS" get statefulset,configmap,secret,service,cronjob -l chatmail.at/relay=test-relay \
	-o name >"$W/children"
for kind in statefulset.apps/test-relay service/test-relay cronjob.batch/test-relay-expire \
	secret/test-relay-dkim configmap/test-relay-postfix; do
	grep -qx "$kind" "$W/children" || { echo "# missing $kind"; false; }
done
ok $? "its children exist ($(wc -l <"$W/children") objects)"
k -n "$RNS" get chatmailrelay test-relay -o json >"$W/relay.json"
jq -e '[.status.dnsRecords[].type] | (index("MX") != null) and (index("TXT") != null)' "$W/relay.json" >/dev/null
ok $? "its status lists DNS records ($(jq -r '[.status.dnsRecords[].type] | unique | join(" ")' "$W/relay.json"))"
k -n "$NS" logs deploy/cm-chatmail-operator >"$W/operator.log" 2>&1
! grep -qiE 'forbidden|status=403| 403 ' "$W/operator.log"
ok $? "no request of the operator was denied"

# Argo CD's health check on the real status
lua_health() { # lua_health JSON: the status the Lua returns
	$PY - "$1" "$CHART/argocd/health.lua" <<'PYEOF'
import json, subprocess, sys
def lua(v):
    if isinstance(v, dict):
        return "{" + ",".join("[%s]=%s" % (json.dumps(k), lua(x)) for k, x in v.items()) + "}"
    if isinstance(v, list):
        return "{" + ",".join(lua(x) for x in v) + "}"
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "nil"
    return json.dumps(v)
obj = json.load(open(sys.argv[1]))
src = "obj = " + lua(obj) + "\nlocal hs = (function()\n" + open(sys.argv[2]).read() + \
    "\nend)()\nprint(hs.status .. ': ' .. (hs.message or ''))\n"
print(subprocess.run(["lua5.4", "-"], input=src, capture_output=True, text=True,
                     check=True).stdout.strip())
PYEOF
}
h=$(lua_health "$W/relay.json")
[ "${h%%:*}" = Healthy ]
ok $? "Argo CD health check of the Ready relay: $h"
jq 'del(.status)' "$W/relay.json" >"$W/nostatus.json"
h=$(lua_health "$W/nostatus.json")
[ "${h%%:*}" = Progressing ]
ok $? "Argo CD health check of a relay without status: $h"
grep -qF -- "$(sed -n 2p "$CHART/argocd/health.lua")" "$CHART/README.md"
ok $? "the chart's README carries the health check"

"$HELM" upgrade cm "$CHART" --namespace "$NS" "${VALS[@]}" \
	--set verbose=true --wait --timeout 180s >"$W/upgrade.log" 2>&1 &&
	k -n "$NS" get deploy cm-chatmail-operator -o json | jq -e '.spec.template.spec.containers[0].args | index("-v") != null' >/dev/null
ok $? "helm upgrade applies a changed value (-v)"
"$HELM" uninstall cm --namespace "$NS" --wait --timeout 60s >"$W/uninstall.log" 2>&1
ok $? "helm uninstall"
k get crd chatmailrelays.chatmail.at >/dev/null 2>&1 &&
	k -n "$RNS" get chatmailrelay test-relay >/dev/null 2>&1
ok $? "the CRD and the relay are kept after uninstall"
tap_done
