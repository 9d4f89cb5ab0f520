#!/usr/bin/env bash
# test_chart: the Helm chart charts/chatmail-operator against a real
# control plane (hack/control-plane.sh: etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, kwok), its own: started from a
# private copy of the script (own state and ports), stopped at exit.
#
# No drift between the chart's copies and crds/, crds/rbac/role.yaml,
# images/images.env; helm lint --strict; `helm template` with the default
# values and every ci/*-values.yaml accepted by the apiserver
# (kubectl apply --dry-run=server); values.schema.json rejects a bad
# value; `helm install` creates the CRD (resource-policy keep), RBAC
# (Roles only, for a watched namespace), ServiceAccount and the Deployment,
# whose Pod kwok runs (a fake kubelet: no container starts, so that
# Deployment's container is run here from the operator image in podman,
# as kubelet would: in-cluster config, a token of the chart's
# ServiceAccount, so only the chart's RBAC; hack/operator-pod.sh); it
# reconciles the example relay crds/examples/test-relay.yaml to Ready
# with its children and DNS records, without a denied request; the Argo
# CD health check
# (argocd/health.lua, run by lua5.4) says Healthy for that relay's real
# status and Progressing for one without status; `helm upgrade` works;
# `helm uninstall` keeps the CRD and the relay.
# shellcheck source=tests/integration/lib/common.sh
. "$(dirname "$0")/../integration/lib/common.sh"

CHART=$TOP/charts/chatmail-operator
CP=$TOP/hack/control-plane.sh
OPIMG=$(sed -n 's/^OPERATOR=//p' "$TOP/images/images.env")
if [ "$(id -u)" -ne 0 ] || ! command -v lua5.4 >/dev/null || ! podman image exists "$OPIMG"; then
	echo "1..0 # SKIP needs root, lua5.4 (make deps) and $OPIMG (make images)"
	exit 0
fi
tap_init
workdir e2e-chart >/dev/null
W=$TOP/build/test/e2e-chart

check "no drift: the chart's copies equal crds/, crds/rbac/role.yaml, images/images.env" \
	"$TOP/hack/chart.sh" check
check "helm lint --strict (default values and ci/*-values.yaml)" "$TOP/hack/chart.sh" lint
HELM=$("$TOP/hack/chart.sh" helm)

# a control plane of its own (its own state directory and ports), so
# envtest's, a developer's or the demo's are never touched
CPD=$TOP/build/e2e-control-plane
export CP_STATE_DIR=$CPD
export CP_ETCD_PORT=24379 CP_ETCD_PEER_PORT=24380 CP_APISERVER_PORT=28443
export CP_KCM_PORT=21257 CP_SCHEDULER_PORT=21259 CP_KWOK_PORT=21247
t0=$SECONDS
CP_BIN_DIR=$("$TOP/hack/k8s-bin.sh" 2>"$W/k8s-bin.log") &&
	export CP_BIN_DIR && "$CP" up >"$W/cp.log" 2>&1
rc=$?
on_exit "CP_STATE_DIR='$CPD' '$CP' down >/dev/null 2>&1"
ok $rc "a test control plane of its own up on 127.0.0.1:$CP_APISERVER_PORT ($((SECONDS - t0)) s)"
[ $rc -eq 0 ] || { tail -n 20 "$W/k8s-bin.log" "$W/cp.log" | sed 's/^/# /'; tap_done; }
# shellcheck disable=SC1091
. "$CPD/env"
k() { "$CP_BIN_DIR/kubectl" --request-timeout=30s "$@"; }

NS=chart-$RANDOM
RNS=mail-$RANDOM
k create namespace "$NS" >/dev/null && k create namespace "$RNS" >/dev/null

# helm template, validated by the apiserver
n=0
for v in "" "$CHART"/ci/*-values.yaml; do
	args=(--namespace "$NS" --set "watchNamespace=$RNS")
	[ -n "$v" ] && args+=(-f "$v" --set "watchNamespace=$RNS")
	"$HELM" template t "$CHART" "${args[@]}" >"$W/t$n.yaml" 2>"$W/t$n.err" &&
		k apply --dry-run=server --server-side -f "$W/t$n.yaml" >"$W/dry$n.log" 2>&1
	ok $? "helm template ${v:+-f $(basename "$v") }passes kubectl apply --dry-run=server ($(grep -c '^kind:' "$W/t$n.yaml") objects)"
	[ -s "$W/dry$n.log" ] && grep -v 'serverside-applied\|created\|configured' "$W/dry$n.log" | head -n 5 | sed 's/^/# /'
	n=$((n + 1))
done
! "$HELM" template t "$CHART" --set replicaCount=2 --set leaderElection.enabled=false >/dev/null 2>&1
ok $? "two replicas without leader election are refused"
! "$HELM" template t "$CHART" --set watchNamespace=Not_A_Namespace >/dev/null 2>"$W/schema.err" &&
	grep -q 'watchNamespace' "$W/schema.err"
ok $? "values.schema.json refuses a bad watchNamespace"

t0=$SECONDS
# free ports for /metrics and the probes: the image runs on the host's
# network below
VALS=(--set "watchNamespace=$RNS" --set "metrics.port=$(free_port)" --set "healthPort=$(free_port)")
"$HELM" install cm "$CHART" --namespace "$NS" "${VALS[@]}" \
	--wait --timeout 120s >"$W/install.log" 2>&1
ok $? "helm install --wait: the operator's Deployment becomes Available ($((SECONDS - t0)) s)"
sed -n '/NOTES/,$p' "$W/install.log" | grep -q "kubectl -n $RNS get chatmailrelay"
ok $? "NOTES tell how to create a relay and read its DNS records"
k get crd chatmailrelays.chatmail.at -o json >"$W/crd.json"
jq -e '.metadata.annotations["helm.sh/resource-policy"] == "keep"' "$W/crd.json" >/dev/null &&
	k wait --for=condition=Established --timeout=30s crd/chatmailrelays.chatmail.at >/dev/null
ok $? "the CRD is installed, Established, with helm.sh/resource-policy: keep"
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

# the operator, as the chart's ServiceAccount would run it
TOKEN=$(k -n "$NS" create token cm-chatmail-operator --duration=1h)
KC=$W/sa.kubeconfig
k config view --raw --minify -o json >"$W/admin.json"
cat >"$KC" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: cp
  cluster:
    server: $(jq -r '.clusters[0].cluster.server' "$W/admin.json")
    certificate-authority-data: $(jq -r '.clusters[0].cluster["certificate-authority-data"] // empty' "$W/admin.json")
users:
- name: sa
  user: {token: $TOKEN}
contexts:
- name: sa
  context: {cluster: cp, user: sa, namespace: $NS}
current-context: sa
EOF
if ! grep -q 'certificate-authority-data: .' "$KC"; then
	sed -i "s|certificate-authority-data: |certificate-authority: $CP_CA|" "$KC"
fi
# (the apiserver's RBAC cache may lag the binding by a moment)
for ((i = 0; i < 20; i++)); do
	can_in=$("$CP_BIN_DIR/kubectl" --kubeconfig "$KC" auth can-i create secrets -n "$RNS" 2>&1)
	can_out=$("$CP_BIN_DIR/kubectl" --kubeconfig "$KC" auth can-i get secrets -n default 2>&1)
	[ "$can_in" = yes ] && [ "$can_out" = no ] && break
	sleep 0.5
done
[ "$can_in" = yes ] && [ "$can_out" = no ]
ok $? "the ServiceAccount token can create Secrets in $RNS ($can_in), not read them in default ($can_out)"
OPC=chatmail-e2e-chart-operator
on_exit "'$TOP/hack/operator-pod.sh' down $OPC >/dev/null 2>&1"
KUBECTL=$CP_BIN_DIR/kubectl OPERATOR_POD_STATE=$W/operator-pod \
	"$TOP/hack/operator-pod.sh" up "$NS" cm-chatmail-operator "$OPC" >"$W/operator-pod.log" 2>&1
ok $? "the Deployment's container runs from the operator image (in-cluster config, the chart's ServiceAccount token)"
sed 's/^/# /' "$W/operator-pod.log"

k -n "$RNS" apply -f "$TOP/crds/examples/test-relay.yaml" >/dev/null
for w in mail queue; do
	k apply -f - >/dev/null <<EOF
apiVersion: v1
kind: PersistentVolume
metadata: {name: $RNS-$w, labels: {chatmail-e2e: "true"}}
spec:
  capacity: {storage: 10Gi}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Delete
  hostPath: {path: /nonexistent/$RNS/$w}
  claimRef: {namespace: $RNS, name: $w-test-relay-0}
EOF
done
t0=$SECONDS
ready() {
	[ "$(k -n "$RNS" get chatmailrelay test-relay -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}')" = True ]
}
for ((i = 0; i < 120; i++)); do ready && break; sleep 1; done
ready
ok $? "the example relay becomes Ready ($((SECONDS - t0)) s)"
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
podman logs "$OPC" >"$W/operator.log" 2>&1
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
	--set verbose=true --wait --timeout 120s >"$W/upgrade.log" 2>&1 &&
	k -n "$NS" get deploy cm-chatmail-operator -o json | jq -e '.spec.template.spec.containers[0].args | index("-v") != null' >/dev/null
ok $? "helm upgrade applies a changed value (-v)"
"$HELM" uninstall cm --namespace "$NS" --wait --timeout 60s >"$W/uninstall.log" 2>&1
ok $? "helm uninstall"
k get crd chatmailrelays.chatmail.at >/dev/null 2>&1 &&
	k -n "$RNS" get chatmailrelay test-relay >/dev/null 2>&1
ok $? "the CRD and the relay are kept after uninstall (resource-policy keep)"
tap_done
