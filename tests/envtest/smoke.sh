#!/usr/bin/env bash
# smoke.sh: proves the control plane from hack/control-plane.sh is real and
# complete enough for the operator: CRDs with a status subresource, CEL rules
# and printer columns; server-side apply with field managers and conflicts;
# watches with bookmarks and 410 Gone after etcd compaction; garbage
# collection by kube-controller-manager; CronJob -> Job -> completion and
# StatefulSet Pods Running (kwok); RBAC on ServiceAccount tokens.
#
# Speaks TAP on stdout (one "ok N - ..." / "not ok N - ..." per check,
# diagnostics as "# " lines) and exits non-zero if any check failed.
# Reads build/control-plane/env (CP_ENV overrides). Every wait is bounded.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CP_ENV=${CP_ENV:-$ROOT/build/control-plane/env}
GROUP=envtest.chatmail.at
CRD=widgets.$GROUP
N=0
FAILED=0
WORK=$(mktemp -d)
NS=smoke-$(date +%s)-$$

# --- TAP and assertion helpers ------------------------------------------

# tap_ok / tap_not_ok / tap_skip print one numbered TAP line.
tap_ok() { N=$((N + 1)) && echo "ok $N - $1"; }
tap_not_ok() { N=$((N + 1)) && echo "not ok $N - $1" && FAILED=1; }
tap_skip() { N=$((N + 1)) && echo "ok $N - $1 # SKIP $2"; }

# check runs a test function in a subshell with errexit active (a failing
# command fails the check) and prints its output as diagnostics on failure.
check() { # description function [args...]
	local desc=$1 rc t0=$SECONDS
	shift
	set +e
	(
		set -e
		"$@"
	) >"$WORK/check.log" 2>&1
	rc=$?
	set -e
	if [ $rc -eq 0 ]; then
		tap_ok "$desc"
	else
		tap_not_ok "$desc"
		echo "#   (exit $rc after $((SECONDS - t0))s)"
		sed 's/^/#   /' "$WORK/check.log" | tail -n 40
	fi
}

# fail prints a reason and fails the current check.
fail() {
	echo "$*" >&2
	return 1
}

# expect_eq fails unless got equals want.
expect_eq() { # what got want
	[ "$2" = "$3" ] || fail "$1: got '$2', want '$3'"
}

# expect_match fails unless text contains the pattern (grep -E).
expect_match() { # what text pattern
	grep -Eq -- "$3" <<<"$2" || fail "$1: '$3' not found in: $(head -c 600 <<<"$2")"
}

# poll retries a command until it succeeds or the seconds run out.
poll() { # seconds command...
	local deadline=$((SECONDS + $1))
	shift
	until "$@"; do
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep 0.5
	done
}

# --- clients ---------------------------------------------------------------

# k runs kubectl as the admin.
k() { "$CP_BIN_DIR/kubectl" --request-timeout=20s "$@"; }

# api calls the apiserver with curl as the admin; prints the body, then the
# HTTP status on a last line of its own.
api() { # method path [curl args...]
	local m=$1 p=$2
	shift 2
	curl -sS --max-time 20 --cacert "$CP_CA" --cert "$CP_ADMIN_CERT" \
		--key "$CP_ADMIN_KEY" -X "$m" -w '\n%{http_code}\n' "$@" "$CP_APISERVER_URL$p"
}

# status_of prints the last line (the HTTP status) of api output.
status_of() { tail -n 1 <<<"$1"; }

# body_of prints api output without the status line.
body_of() { sed '$d' <<<"$1"; }

# jfield prints one jq expression of a JSON document.
jfield() { jq -r "$2" <<<"$1"; }

# --- fixtures --------------------------------------------------------------

# widget_crd prints a CRD with a status subresource, CEL rules (one a
# transition rule), defaults and printer columns.
widget_crd() {
	cat <<EOF
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: $CRD}
spec:
  group: $GROUP
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, listKind: WidgetList}
  versions:
  - name: v1alpha1
    served: true
    storage: true
    subresources: {status: {}}
    additionalPrinterColumns:
    - {name: Domain, type: string, jsonPath: .spec.domain}
    - {name: Replicas, type: integer, jsonPath: .spec.replicas}
    - {name: Ready, type: string, jsonPath: '.status.conditions[?(@.type=="Ready")].status'}
    - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [domain]
            x-kubernetes-validations:
            - {rule: "self.replicas <= self.maxReplicas", message: "replicas must not exceed maxReplicas"}
            properties:
              domain:
                type: string
                maxLength: 253
                x-kubernetes-validations:
                - {rule: "self == oldSelf", message: "domain is immutable"}
              replicas: {type: integer, minimum: 0, default: 1}
              maxReplicas: {type: integer, minimum: 0, default: 3}
          status:
            type: object
            properties:
              observedGeneration: {type: integer, format: int64}
              conditions:
                type: array
                x-kubernetes-list-type: map
                x-kubernetes-list-map-keys: [type]
                items:
                  type: object
                  required: [type, status]
                  properties:
                    type: {type: string}
                    status: {type: string, enum: ["True", "False", "Unknown"]}
                    reason: {type: string}
EOF
}

# widget prints a Widget.
widget() { # name domain [replicas]
	cat <<EOF
apiVersion: $GROUP/v1alpha1
kind: Widget
metadata: {name: $1, namespace: $NS}
spec: {domain: $2, replicas: ${3:-1}}
EOF
}

# --- checks ------------------------------------------------------------------

t_version() {
	local want got
	want=$("$ROOT/hack/k8s-bin.sh" versions | awk '$1 == "kube-apiserver" { print $2 }')
	got=$(k version -o json | jq -r .serverVersion.gitVersion)
	expect_eq "apiserver gitVersion" "$got" "$want"
	api GET /readyz >"$WORK/readyz"
	expect_eq "/readyz" "$(tail -n 1 "$WORK/readyz")" 200
}

t_namespace() {
	k create namespace "$NS"
	# kube-controller-manager's serviceaccount controller adds "default"
	poll 30 k -n "$NS" get serviceaccount default -o name >/dev/null ||
		fail "serviceaccount default never appeared in $NS"
}

# t_cronjob_create starts the CronJob early: the controller runs it at the
# next minute boundary, so the Job is checked last.
t_cronjob_create() {
	k -n "$NS" apply -f - <<EOF
apiVersion: batch/v1
kind: CronJob
metadata: {name: tick}
spec:
  schedule: "* * * * *"
  concurrencyPolicy: Forbid
  jobTemplate:
    spec:
      backoffLimit: 0
      template:
        spec:
          restartPolicy: Never
          containers: [{name: tick, image: localhost/none:0, command: ["true"]}]
EOF
	date +%s >"$WORK/cronjob-created"
}

t_crd() {
	widget_crd | k apply -f -
	k wait --for=condition=Established --timeout=30s "crd/$CRD"
	# discovery must serve the new resource before clients can use it
	poll 30 crd_served || fail "discovery does not list widgets.$GROUP"
}

# crd_served succeeds when discovery lists the widgets resource.
crd_served() {
	k api-resources --api-group="$GROUP" -o name 2>/dev/null | grep -qx "widgets\.$GROUP"
}

t_cr_defaults() {
	widget alpha alpha.example.org 2 | k apply -f -
	local obj
	obj=$(k -n "$NS" get widget alpha -o json)
	expect_eq "spec.replicas" "$(jfield "$obj" .spec.replicas)" 2
	expect_eq "defaulted spec.maxReplicas" "$(jfield "$obj" .spec.maxReplicas)" 3
}

t_cel_reject() {
	local out rc=0
	out=$(widget beta beta.example.org 9 | k apply -f - 2>&1) || rc=$?
	[ "$rc" -ne 0 ] || fail "replicas 9 > maxReplicas 3 was accepted: $out"
	expect_match "CEL message" "$out" "replicas must not exceed maxReplicas"
	expect_match "invalid" "$out" "Invalid value|is invalid"
	if k -n "$NS" get widget beta -o name 2>/dev/null; then fail "widget beta exists"; fi
}

t_cel_transition() {
	local out rc=0
	out=$(k -n "$NS" patch widget alpha --type=merge \
		-p '{"spec":{"domain":"other.example.org"}}' 2>&1) || rc=$?
	[ "$rc" -ne 0 ] || fail "domain change was accepted: $out"
	expect_match "CEL transition message" "$out" "domain is immutable"
	expect_eq "domain" "$(k -n "$NS" get widget alpha -o 'jsonpath={.spec.domain}')" alpha.example.org
}

t_status_subresource() {
	local obj gen
	gen=$(k -n "$NS" get widget alpha -o 'jsonpath={.metadata.generation}')
	# status written through the main resource is dropped
	k -n "$NS" patch widget alpha --type=merge \
		-p '{"status":{"conditions":[{"type":"Ready","status":"False"}]}}'
	obj=$(k -n "$NS" get widget alpha -o json)
	expect_eq "status via main resource" "$(jfield "$obj" '.status.conditions // [] | length')" 0
	# status written through /status sticks and leaves generation alone
	k -n "$NS" patch widget alpha --subresource=status --type=merge \
		-p '{"status":{"observedGeneration":1,"conditions":[{"type":"Ready","status":"True","reason":"Smoke"}]}}'
	obj=$(k -n "$NS" get widget alpha -o json)
	expect_eq "status via /status" "$(jfield "$obj" '.status.conditions[0].status')" True
	expect_eq "generation after status write" "$(jfield "$obj" .metadata.generation)" "$gen"
	# spec written through /status is dropped
	k -n "$NS" patch widget alpha --subresource=status --type=merge -p '{"spec":{"replicas":0}}'
	expect_eq "spec via /status" "$(k -n "$NS" get widget alpha -o 'jsonpath={.spec.replicas}')" 2
}

t_printer_columns() {
	local out
	out=$(k -n "$NS" get widgets)
	expect_match "header" "$(head -n 1 <<<"$out")" "^NAME +DOMAIN +REPLICAS +READY +AGE"
	expect_match "row" "$out" "^alpha +alpha\.example\.org +2 +True "
	# the same columns through the Table API, as a C client would ask
	out=$(api GET "/apis/$GROUP/v1alpha1/namespaces/$NS/widgets" \
		-H 'Accept: application/json;as=Table;v=v1;g=meta.k8s.io')
	expect_eq "Table status" "$(status_of "$out")" 200
	expect_eq "Table columns" "$(body_of "$out" | jq -c '[.columnDefinitions[].name]')" \
		'["Name","Domain","Replicas","Ready","Age"]'
}

t_ssa_owner() {
	local cm='{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"ssa","namespace":"'$NS'"},"data":{"mode":"a"}}'
	local out
	out=$(api PATCH "/api/v1/namespaces/$NS/configmaps/ssa?fieldManager=chatmail-operator" \
		-H 'Content-Type: application/apply-patch+yaml' --data-binary "$cm")
	expect_eq "apply status" "$(status_of "$out")" 201
	out=$(body_of "$out")
	expect_eq "manager" "$(jfield "$out" '[.metadata.managedFields[] | select(.manager == "chatmail-operator") | .operation] | join(",")')" Apply
	expect_match "owned fields" "$(jfield "$out" '.metadata.managedFields[] | select(.manager == "chatmail-operator") | .fieldsV1 | tojson')" '"f:mode"'
	# the same apply again writes nothing: resourceVersion unchanged
	local rv
	rv=$(jfield "$out" .metadata.resourceVersion)
	out=$(api PATCH "/api/v1/namespaces/$NS/configmaps/ssa?fieldManager=chatmail-operator" \
		-H 'Content-Type: application/apply-patch+yaml' --data-binary "$cm")
	expect_eq "idempotent apply resourceVersion" "$(body_of "$out" | jq -r .metadata.resourceVersion)" "$rv"
}

t_ssa_conflict() {
	local cm='{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"ssa","namespace":"'$NS'"},"data":{"mode":"b"}}'
	local out
	out=$(api PATCH "/api/v1/namespaces/$NS/configmaps/ssa?fieldManager=intruder" \
		-H 'Content-Type: application/apply-patch+yaml' --data-binary "$cm")
	expect_eq "conflicting apply status" "$(status_of "$out")" 409
	expect_eq "reason" "$(body_of "$out" | jq -r .reason)" Conflict
	expect_match "conflict names the owner" "$(body_of "$out" | jq -r .message)" 'conflict with "chatmail-operator"'
	expect_eq "data after conflict" "$(k -n "$NS" get cm ssa -o 'jsonpath={.data.mode}')" a
	# kubectl reports the same conflict; force takes the field over
	local rc=0
	out=$(k -n "$NS" apply --server-side --field-manager=intruder -f - <<<"$cm" 2>&1) || rc=$?
	[ "$rc" -ne 0 ] || fail "kubectl apply without --force-conflicts succeeded: $out"
	expect_match "kubectl conflict" "$out" "conflict"
	k -n "$NS" apply --server-side --field-manager=intruder --force-conflicts -f - <<<"$cm"
	out=$(k -n "$NS" get cm ssa -o json --show-managed-fields)
	expect_eq "data after force" "$(jfield "$out" .data.mode)" b
	expect_match "new owner" "$(jfield "$out" '.metadata.managedFields[] | select(.manager == "intruder") | .fieldsV1 | tojson')" '"f:mode"'
	expect_eq "old owner lost the field" "$(jfield "$out" '[.metadata.managedFields[] | select(.manager == "chatmail-operator")] | length')" 0
}

# watch_events runs a watch for a few seconds and prints its events.
watch_events() { # path-with-query seconds
	curl -sS -N --max-time "$2" --cacert "$CP_CA" --cert "$CP_ADMIN_CERT" \
		--key "$CP_ADMIN_KEY" -w '\nHTTP %{http_code}\n' "$CP_APISERVER_URL$1" || true
}

t_watch_bookmark() {
	local out p="/apis/$GROUP/v1alpha1/namespaces/$NS/widgets"
	# a watch-list stream: initial ADDED events, then the bookmark that ends them
	out=$(watch_events "$p?watch=1&allowWatchBookmarks=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&timeoutSeconds=4" 8)
	expect_match "HTTP status" "$out" '^HTTP 200$'
	expect_match "ADDED alpha" "$(grep '^{' <<<"$out" | jq -r 'select(.type == "ADDED") | .object.metadata.name')" '^alpha$'
	local bm
	bm=$(grep '^{' <<<"$out" | jq -c 'select(.type == "BOOKMARK")' | head -n 1)
	[ -n "$bm" ] || fail "no BOOKMARK event in: $out"
	expect_eq "initial-events-end" "$(jfield "$bm" '.object.metadata.annotations["k8s.io/initial-events-end"]')" true
	expect_match "bookmark resourceVersion" "$(jfield "$bm" .object.metadata.resourceVersion)" '^[0-9]+$'
}

# etcd_post calls etcd's JSON gateway.
etcd_post() { # path json
	curl -fsS --max-time 10 -X POST -H 'Content-Type: application/json' \
		--data "$2" "$CP_ETCD_URL$1"
}

# expect_gone fails unless a watch answered 410 Gone: either as the HTTP
# status or as a 200 stream whose first event is an ERROR with code 410.
expect_gone() { # watch-output
	local ev
	if grep -q '^HTTP 410$' <<<"$1"; then
		expect_match "Gone body" "$1" '"code":410'
		return 0
	fi
	expect_match "HTTP status" "$1" '^HTTP 200$'
	ev=$(grep '^{' <<<"$1" | head -n 1)
	expect_eq "first event type" "$(jfield "$ev" .type)" ERROR
	expect_eq "error code" "$(jfield "$ev" .object.code)" 410
	expect_eq "error reason" "$(jfield "$ev" .object.reason)" Expired
}

# podtemplate prints a PodTemplate with one label value.
podtemplate() { # value
	printf '{"apiVersion":"v1","kind":"PodTemplate","metadata":{"name":"churn","namespace":"%s","labels":{"i":"%s"}},"template":{"spec":{"containers":[{"name":"c","image":"localhost/none:0"}]}}}' "$NS" "$1"
}

t_watch_410() {
	local p="/api/v1/namespaces/$NS/podtemplates" out old rev i
	podtemplate 0 | k apply -f - >/dev/null
	old=$(k -n "$NS" get podtemplate churn -o 'jsonpath={.metadata.resourceVersion}')
	# before compaction the old resourceVersion is still watchable
	out=$(watch_events "$p?watch=1&allowWatchBookmarks=true&resourceVersion=$old&timeoutSeconds=1" 5)
	expect_match "watch before compaction" "$out" '^HTTP 200$'
	if grep -q '"type":"ERROR"' <<<"$out"; then fail "watch before compaction: $out"; fi
	for i in 1 2 3; do podtemplate "$i" | k apply -f - >/dev/null; done
	# compact etcd up to its current revision (physical: wait until done)
	rev=$(etcd_post /v3/kv/range '{"key":"AA=="}' | jq -r .header.revision)
	expect_match "etcd revision" "$rev" '^[0-9]+$'
	[ "$rev" -gt "$old" ] || fail "etcd revision $rev not past $old"
	etcd_post /v3/kv/compaction "{\"revision\":\"$rev\",\"physical\":true}" >/dev/null
	out=$(watch_events "$p?watch=1&allowWatchBookmarks=true&resourceVersion=$old&timeoutSeconds=2" 6)
	expect_gone "$out"
	# a fresh list then watch works again
	rev=$(k -n "$NS" get podtemplates -o 'jsonpath={.metadata.resourceVersion}')
	out=$(watch_events "$p?watch=1&allowWatchBookmarks=true&resourceVersion=$rev&timeoutSeconds=1" 5)
	expect_match "re-watch status" "$out" '^HTTP 200$'
	if grep -q '"type":"ERROR"' <<<"$out"; then fail "re-watch got an ERROR: $out"; fi
}

# gone succeeds when the object no longer exists.
gone() { # kind name
	local out
	out=$(k -n "$NS" get "$1" "$2" -o name 2>&1) && return 1
	grep -q NotFound <<<"$out"
}

t_gc_background() {
	local uid
	widget owner owner.example.org | k apply -f - >/dev/null
	uid=$(k -n "$NS" get widget owner -o 'jsonpath={.metadata.uid}')
	k apply -f - <<EOF
apiVersion: v1
kind: ConfigMap
metadata:
  name: owned-by-widget
  namespace: $NS
  ownerReferences:
  - {apiVersion: $GROUP/v1alpha1, kind: Widget, name: owner, uid: $uid, controller: true, blockOwnerDeletion: true}
data: {k: v}
EOF
	k -n "$NS" delete widget owner --wait=false
	# the garbage collector learns new kinds from discovery every 30 s
	poll 75 gone configmap owned-by-widget ||
		fail "configmap owned by the deleted widget still exists after 75s"
}

t_gc_orphan() {
	local uid
	k -n "$NS" create configmap parent --from-literal=k=v >/dev/null
	uid=$(k -n "$NS" get cm parent -o 'jsonpath={.metadata.uid}')
	k apply -f - <<EOF
apiVersion: v1
kind: Secret
metadata:
  name: child
  namespace: $NS
  ownerReferences: [{apiVersion: v1, kind: ConfigMap, name: parent, uid: $uid}]
stringData: {k: v}
EOF
	# orphan: the garbage collector removes the owner reference, keeps the child
	k -n "$NS" delete cm parent --cascade=orphan --timeout=30s
	poll 30 gone configmap parent || fail "parent not deleted"
	expect_eq "child ownerReferences" \
		"$(k -n "$NS" get secret child -o 'jsonpath={.metadata.ownerReferences}')" ""
	# foreground: the owner waits for its children
	k -n "$NS" create configmap parent2 --from-literal=k=v >/dev/null
	uid=$(k -n "$NS" get cm parent2 -o 'jsonpath={.metadata.uid}')
	k -n "$NS" patch secret child --type=merge \
		-p "{\"metadata\":{\"ownerReferences\":[{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"name\":\"parent2\",\"uid\":\"$uid\",\"blockOwnerDeletion\":true}]}}"
	k -n "$NS" delete cm parent2 --cascade=foreground --timeout=30s
	gone secret child || fail "child survived a foreground delete of its owner"
}

t_rbac() {
	k -n "$NS" create serviceaccount reader >/dev/null
	k -n "$NS" create role cm-reader --verb=get,list,watch --resource=configmaps >/dev/null
	k -n "$NS" create rolebinding reader --role=cm-reader --serviceaccount="$NS:reader" >/dev/null
	local tok out
	tok=$(k -n "$NS" create token reader --duration=10m)
	expect_match "token" "$tok" '^ey[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$'
	# tcurl calls the apiserver as the ServiceAccount (no client certificate)
	tcurl() {
		curl -sS --max-time 10 --cacert "$CP_CA" -H "Authorization: Bearer $tok" \
			-o "$WORK/rbac.body" -w '%{http_code}' "$@"
	}
	expect_eq "whoami" "$(k --token="$tok" --kubeconfig=/dev/null --server="$CP_APISERVER_URL" \
		--certificate-authority="$CP_CA" auth whoami -o 'jsonpath={.status.userInfo.username}')" \
		"system:serviceaccount:$NS:reader"
	expect_eq "list configmaps (allowed)" "$(tcurl "$CP_APISERVER_URL/api/v1/namespaces/$NS/configmaps")" 200
	expect_eq "list items" "$(jq -r .kind "$WORK/rbac.body")" ConfigMapList
	expect_eq "get one configmap (allowed)" "$(tcurl "$CP_APISERVER_URL/api/v1/namespaces/$NS/configmaps/ssa")" 200
	expect_eq "list secrets (denied)" "$(tcurl "$CP_APISERVER_URL/api/v1/namespaces/$NS/secrets")" 403
	expect_match "denial names the SA" "$(jq -r .message "$WORK/rbac.body")" "system:serviceaccount:$NS:reader"
	expect_eq "configmaps in kube-system (denied)" \
		"$(tcurl "$CP_APISERVER_URL/api/v1/namespaces/kube-system/configmaps")" 403
	out=$(tcurl -X POST -H 'Content-Type: application/json' \
		--data '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"nope"}}' \
		"$CP_APISERVER_URL/api/v1/namespaces/$NS/configmaps")
	expect_eq "create configmap (denied)" "$out" 403
	expect_eq "bad token" "$(tok=not-a-token tcurl "$CP_APISERVER_URL/api/v1/namespaces/$NS/configmaps")" 401
}

t_statefulset() {
	k -n "$NS" apply -f - <<EOF
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: relay}
spec:
  serviceName: relay
  replicas: 2
  selector: {matchLabels: {app: relay}}
  template:
    metadata: {labels: {app: relay}}
    spec:
      initContainers: [{name: init, image: localhost/none:0}]
      containers: [{name: main, image: localhost/none:0}]
EOF
	poll 60 sts_ready || fail "statefulset not ready: $(k -n "$NS" get sts,pods -o wide 2>&1)"
	local pods
	pods=$(k -n "$NS" get pods -l app=relay -o json)
	expect_eq "pods" "$(jfield "$pods" '[.items[] | select(.status.phase == "Running") | .metadata.name] | sort | join(",")')" relay-0,relay-1
	expect_eq "node" "$(jfield "$pods" '[.items[].spec.nodeName] | unique | join(",")')" "$CP_NODE_NAME"
	expect_match "pod IP" "$(jfield "$pods" '.items[0].status.podIP')" '^10\.244\.0\.[0-9]+$'
	# kwok finishes graceful deletes: scaling down really removes relay-1
	k -n "$NS" scale sts relay --replicas=1
	poll 60 gone pod relay-1 || fail "relay-1 still exists after scaling down"
}

# sts_ready succeeds when both replicas of the StatefulSet are ready.
sts_ready() {
	[ "$(k -n "$NS" get sts relay -o 'jsonpath={.status.readyReplicas}')" = 2 ]
}

# cron_job prints the name of a Job the CronJob created, if any.
cron_job() {
	k -n "$NS" get jobs -o json | jq -r --arg uid "$(k -n "$NS" get cronjob tick -o 'jsonpath={.metadata.uid}')" \
		'.items[] | select(.metadata.ownerReferences[]?.uid == $uid) | .metadata.name' | head -n 1 | grep .
}

# job_complete succeeds when the Job has the Complete condition.
job_complete() {
	[ "$(k -n "$NS" get job "$1" -o 'jsonpath={.status.conditions[?(@.type=="Complete")].status}')" = True ]
}

t_cronjob_job() {
	local created left job
	created=$(cat "$WORK/cronjob-created")
	# the next minute boundary, plus slack for the controller
	left=$((created + 75 - $(date +%s)))
	[ "$left" -gt 5 ] || left=5
	poll "$left" cron_job >/dev/null || fail "no Job from CronJob tick within 75s of its creation"
	job=$(cron_job)
	echo "job $job" >"$WORK/cron-job-name"
	expect_match "job name" "$job" '^tick-[0-9]+$'
}

t_job_complete() {
	local job
	job=$(awk '{ print $2 }' "$WORK/cron-job-name")
	poll 30 job_complete "$job" || fail "job $job not Complete: $(k -n "$NS" get job "$job" -o yaml 2>&1 | tail -n 30)"
	expect_eq "succeeded" "$(k -n "$NS" get job "$job" -o 'jsonpath={.status.succeeded}')" 1
	poll 30 cron_succeeded || fail "cronjob tick has no status.lastSuccessfulTime"
}

# cron_succeeded succeeds when the CronJob recorded a successful Job.
cron_succeeded() {
	k -n "$NS" get cronjob tick -o 'jsonpath={.status.lastSuccessfulTime}' | grep -q .
}

ns_gone() { gone namespace "$NS"; }

t_namespace_delete() {
	k delete namespace "$NS" --wait=false
	poll 60 ns_gone || fail "namespace $NS still exists: $(k get ns "$NS" -o yaml 2>&1 | tail -n 20)"
}

# cleanup removes what the suite created, even after a failure.
cleanup() {
	if [ -n "${CP_BIN_DIR:-}" ] && [ -n "${KUBECONFIG:-}" ]; then
		k delete namespace "$NS" --wait=false --ignore-not-found >/dev/null 2>&1 || true
		k delete crd "$CRD" --wait=false --ignore-not-found >/dev/null 2>&1 || true
	fi
	rm -rf "$WORK"
}

main() {
	local kwok_skip=""
	trap cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	for t in curl jq; do
		command -v "$t" >/dev/null || { echo "Bail out! $t missing (make deps)"; exit 1; }
	done
	if [ ! -f "$CP_ENV" ]; then
		echo "Bail out! no control plane: $CP_ENV missing (hack/control-plane.sh up)"
		exit 1
	fi
	# shellcheck source=/dev/null
	. "$CP_ENV"
	[ "${CP_KWOK:-0}" = 1 ] || kwok_skip="kwok and kube-scheduler are not running"

	check "apiserver serves the built version and /readyz" t_version
	check "namespace $NS gets its default ServiceAccount" t_namespace
	check "CronJob accepted (runs at the next minute)" t_cronjob_create
	check "CRD with status subresource, CEL rules and printer columns is Established" t_crd
	check "custom resource created with structural defaults" t_cr_defaults
	check "CEL rule rejects replicas > maxReplicas" t_cel_reject
	check "CEL transition rule keeps spec.domain immutable" t_cel_transition
	check "status subresource: /status writes status only, main resource spec only" t_status_subresource
	check "printer columns in kubectl get and the Table API" t_printer_columns
	check "server-side apply records field manager chatmail-operator; no-op apply writes nothing" t_ssa_owner
	check "server-side apply conflict (409) for another manager; --force-conflicts takes over" t_ssa_conflict
	check "watch with allowWatchBookmarks gets the initial-events-end BOOKMARK" t_watch_bookmark
	check "watch from before an etcd compaction gets 410 Gone (from etcd); a fresh watch works" t_watch_410
	check "ServiceAccount token: Role allows configmaps, denies secrets/other namespaces/create" t_rbac
	check "garbage collector: orphan and foreground deletion" t_gc_orphan
	check "garbage collector deletes a ConfigMap owned by a deleted custom resource" t_gc_background
	if [ -z "$kwok_skip" ]; then
		check "StatefulSet Pods scheduled onto the kwok node and Running; scale-down removes a Pod" t_statefulset
	else
		tap_skip "StatefulSet Pods Running" "$kwok_skip"
	fi
	check "CronJob creates a Job on schedule" t_cronjob_job
	if [ -z "$kwok_skip" ]; then
		check "the CronJob's Job completes (Pod Succeeded via kwok)" t_job_complete
	else
		tap_skip "the CronJob's Job completes" "$kwok_skip"
	fi
	check "namespace deletion completes (namespace controller)" t_namespace_delete
	echo "1..$N"
	exit "$FAILED"
}

main "$@"
