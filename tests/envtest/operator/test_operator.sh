#!/usr/bin/env bash
# test_operator.sh: chatmail-operator against the real control plane
# (kube-apiserver, etcd, kube-controller-manager, kube-scheduler, kwok):
# the CRD installs and rejects invalid relays; a relay yields every child
# with the expected fields and a Ready status with its DNS records; a
# spec change updates the children and rolls the Pod; deleted and
# hand-edited children are restored; steady state makes no write
# requests; `render` prints what the operator applied; spec.paused stops
# reconciling; deleting the relay garbage-collects its children but
# keeps the PVCs it was asked to keep; SIGTERM drains and exits 0.
# TAP on stdout; every wait is bounded.
# shellcheck source=tests/envtest/operator/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DOMAIN=chat.example.org
NS=""

# --- checks -------------------------------------------------------------

t_crd() {
	install_crd
	local out
	# kubectl explain reads the OpenAPI document, published a moment
	# after the CRD is served
	poll 30 explained || fail "kubectl explain chatmailrelay.spec.domain failed"
	out=$(k explain chatmailrelay.spec.domain)
	expect_match "explain documents spec.domain" "$out" "mail domain"
	out=$(k get crd chatmailrelays.chatmail.at -o json)
	expect_eq "status subresource" "$(jq -c '.spec.versions[0].subresources.status' <<<"$out")" '{}'
}

explained() { k explain chatmailrelay.spec.domain >/dev/null 2>&1; }

# rejected succeeds when the apiserver refuses the relay with the pattern.
rejected() { # pattern yaml
	local out rc=0
	out=$(k apply -f - <<<"$2" 2>&1) || rc=$?
	[ "$rc" -ne 0 ] || fail "accepted: $2"
	expect_match "rejection" "$out" "$1"
}

t_invalid() {
	rejected 'spec.domain: Required value' \
		"$(relay bad1 "$NS" x '  registration: Open' | sed '/domain:/d')"
	rejected 'spec.domain' "$(relay bad2 "$NS" 'Not A Domain')"
	rejected 'usernameMinLength' "$(relay bad3 "$NS" bad3.example.org \
		'  limits: {usernameMinLength: 12, usernameMaxLength: 9}')"
	rejected 'secretName' "$(relay bad4 "$NS" bad4.example.org '  tls: {mode: Secret}')"
	if k -n "$NS" get chatmailrelays -o name | grep -q .; then
		fail "an invalid relay was stored: $(k -n "$NS" get chatmailrelays -o name)"
	fi
}

# healthy succeeds when the operator answers /readyz.
t_healthy() {
	local st
	st=$(metrics_of main | grep -c '^chatmail_operator_') || true
	[ "$st" -gt 5 ] || fail "no metrics"
}

# children_exist succeeds when every child of relay chat exists.
children_exist() {
	k -n "$NS" get cm/chat-config cm/chat-postfix cm/chat-dovecot cm/chat-nginx \
		svc/chat svc/chat-headless networkpolicy/chat sts/chat \
		cronjob/chat-expire cronjob/chat-metrics secret/chat-dkim \
		secret/chat-tls-selfsigned -o name >/dev/null 2>&1
}

t_children() {
	# SelfSigned: the operator's own certificate is one of the children
	# (a public domain would default to ACME)
	relay chat "$NS" "$DOMAIN" '  tls: {mode: SelfSigned}' >"$WORK/relay.yaml"
	bind_pvs "$NS" chat
	k apply -f "$WORK/relay.yaml" >/dev/null
	poll 60 children_exist || fail "children missing: $(k -n "$NS" get all,cm,secret,netpol 2>&1)"
	local uid objs sts svc
	uid=$(k -n "$NS" get chatmailrelay chat -o 'jsonpath={.metadata.uid}')
	objs=$(k -n "$NS" get cm,svc,networkpolicy,sts,cronjob,secret -l chatmail.at/relay=chat -o json)
	# every child but the kept DKIM key is controlled by the relay
	expect_eq "children without the owner reference" \
		"$(jq -r --arg uid "$uid" '[.items[] | select(.metadata.name != "chat-dkim")
			| select([.metadata.ownerReferences[]? | select(.uid == $uid and .controller == true
			and .kind == "ChatmailRelay")] | length == 0) | .metadata.name] | join(",")' <<<"$objs")" ""
	expect_eq "children" "$(jq '.items | length' <<<"$objs")" 13
	expect_eq "app.kubernetes.io/instance copied" \
		"$(jq -r '[.items[] | select(.metadata.labels["app.kubernetes.io/instance"])] | length' <<<"$objs")" 0
	expect_eq "managed-by" \
		"$(jq -r '[.items[].metadata.labels["app.kubernetes.io/managed-by"]] | unique | join(",")' <<<"$objs")" \
		chatmail-operator
	sts=$(k -n "$NS" get sts chat -o json)
	expect_match "config hash" "$(jq -r '.spec.template.metadata.annotations["chatmail.at/config-hash"]' <<<"$sts")" '^[0-9a-f]{64}$'
	expect_eq "containers" "$(jq -r '[.spec.template.spec.containers[].name] | join(",")' <<<"$sts")" \
		"postfix,dovecot,nginx,filtermail-outgoing,filtermail-incoming,filtermail-transport,doveauth,metadata,lastlogin,newemail,iroh-relay,cert,exporter"
	expect_eq "shared process namespace" "$(jq -r .spec.template.spec.shareProcessNamespace <<<"$sts")" true
	expect_eq "claim templates" "$(jq -r '[.spec.volumeClaimTemplates[].metadata.name] | join(",")' <<<"$sts")" mail,queue
	expect_eq "vmail services run as 2000" \
		"$(jq -r '[.spec.template.spec.containers[] | select(.name == "doveauth") | .securityContext.runAsUser] | .[0]' <<<"$sts")" 2000
	svc=$(k -n "$NS" get svc chat -o json)
	expect_eq "service type" "$(jq -r .spec.type <<<"$svc")" LoadBalancer
	expect_eq "client IP kept" "$(jq -r .spec.externalTrafficPolicy <<<"$svc")" Local
	expect_eq "public ports" "$(jq -r '[.spec.ports[].port] | join(",")' <<<"$svc")" 25,80,143,443,465,587,993
	expect_match "chatmail.ini" "$(k -n "$NS" get cm chat-config -o 'jsonpath={.data.chatmail\.ini}')" \
		"^mail_domain = $DOMAIN\$"
	expect_eq "expire schedule" "$(k -n "$NS" get cronjob chat-expire -o 'jsonpath={.spec.schedule}')" "2 0 * * *"
	expect_eq "expire runs next to the relay" \
		"$(k -n "$NS" get cronjob chat-expire -o json | jq -r '.spec.jobTemplate.spec.template.spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey')" \
		kubernetes.io/hostname
	expect_eq "network policy ports" \
		"$(k -n "$NS" get networkpolicy chat -o json | jq -r '[.spec.ingress[0].ports[].port] | join(",")')" \
		25,80,143,443,465,587,993
}

# dkim_p prints the p= value of the DKIM key in the relay's Secret.
dkim_p() {
	k -n "$NS" get secret chat-dkim -o 'jsonpath={.data.opendkim\.private}' | base64 -d |
		openssl pkey -pubout -outform DER 2>/dev/null | base64 -w0
}

t_ready() {
	poll 90 relay_ready "$NS" chat ||
		fail "not Ready: $(k -n "$NS" get chatmailrelay chat -o json | jq -c .status.conditions) $(k -n "$NS" get pods,pvc 2>&1)"
	local obj recs
	obj=$(k -n "$NS" get chatmailrelay chat -o json)
	expect_eq "observedGeneration" "$(jq .status.observedGeneration <<<"$obj")" "$(jq .metadata.generation <<<"$obj")"
	expect_eq "Degraded" "$(jq -r '.status.conditions[] | select(.type == "Degraded") | .status' <<<"$obj")" False
	expect_eq "Progressing" "$(jq -r '.status.conditions[] | select(.type == "Progressing") | .status' <<<"$obj")" False
	expect_eq "tlsSecretName" "$(jq -r .status.tlsSecretName <<<"$obj")" chat-tls-selfsigned
	recs=$(jq -r '.status.dnsRecords[] | "\(.name) \(.type) \(.value)"' <<<"$obj")
	expect_match "MX" "$recs" "^$DOMAIN\. MX 10 $DOMAIN\.$"
	expect_match "SPF" "$recs" "^$DOMAIN\. TXT \"v=spf1 a ~all\"$"
	expect_match "DMARC" "$recs" "^_dmarc\.$DOMAIN\. TXT \"v=DMARC1;p=reject;adkim=s;aspf=s\"$"
	local dkim want
	dkim=$(jq -r '.status.dnsRecords[] | select(.name == "opendkim._domainkey.'"$DOMAIN"'.") | .value' <<<"$obj" | tr -d '" ')
	want=$(dkim_p)
	[ -n "$want" ] || fail "no DKIM key in Secret chat-dkim"
	expect_eq "DKIM TXT carries the Secret's key" "$dkim" "v=DKIM1;k=rsa;p=$want;s=email;t=s"
	expect_match "printer column Ready" "$(k -n "$NS" get chatmailrelays)" "^chat +$DOMAIN +True"
}

pod_uid() { k -n "$NS" get pod chat-0 -o 'jsonpath={.metadata.uid}' 2>/dev/null; }
new_pod() { local u; u=$(pod_uid) && [ -n "$u" ] && [ "$u" != "$1" ]; }
ini_has() { k -n "$NS" get cm chat-config -o 'jsonpath={.data.chatmail\.ini}' | grep -qx "$1"; }
hash_changed() {
	[ "$(k -n "$NS" get sts chat -o 'jsonpath={.spec.template.metadata.annotations.chatmail\.at/config-hash}')" != "$1" ]
}
observed_current() {
	local obj
	obj=$(k -n "$NS" get chatmailrelay chat -o json)
	[ "$(jq .status.observedGeneration <<<"$obj")" = "$(jq .metadata.generation <<<"$obj")" ]
}

t_spec_change() {
	local uid hash
	uid=$(pod_uid)
	hash=$(k -n "$NS" get sts chat -o 'jsonpath={.spec.template.metadata.annotations.chatmail\.at/config-hash}')
	k -n "$NS" patch chatmailrelay chat --type=merge -p '{"spec":{"limits":{"maxUserSendPerMinute":30}}}' >/dev/null
	poll 30 ini_has "max_user_send_per_minute = 30" || fail "chatmail.ini not updated"
	poll 30 hash_changed "$hash" || fail "Pod template hash unchanged"
	poll 60 new_pod "$uid" || fail "Pod not rolled: $(k -n "$NS" get pods -o wide 2>&1)"
	poll 60 relay_ready "$NS" chat || fail "not Ready after the roll"
	poll 30 observed_current || fail "observedGeneration behind"
}

postfix_restored() {
	k -n "$NS" get cm chat-postfix -o 'jsonpath={.data.main\.cf}' | grep -q "^myorigin = $DOMAIN\$"
}
headless_back() { k -n "$NS" get svc chat-headless -o name >/dev/null 2>&1; }
image_back() {
	[ "$(k -n "$NS" get sts chat -o 'jsonpath={.spec.template.spec.containers[0].image}')" = "$1" ]
}

t_drift() {
	local img
	img=$(k -n "$NS" get sts chat -o 'jsonpath={.spec.template.spec.containers[0].image}')
	k -n "$NS" patch cm chat-postfix --type=merge -p '{"data":{"main.cf":"hand edited\n"}}' >/dev/null
	poll 30 postfix_restored || fail "hand-edited ConfigMap not restored"
	k -n "$NS" delete svc chat-headless --wait=true >/dev/null
	poll 30 headless_back || fail "deleted Service not re-created"
	k -n "$NS" set image sts/chat postfix=example.org/evil:1 >/dev/null
	poll 30 image_back "$img" || fail "hand-edited image not restored"
}

# quiet succeeds when the operator made no write for 3 seconds.
quiet() {
	local a b
	a=$(writes main)
	sleep 3
	b=$(writes main)
	[ "$a" = "$b" ]
}

# rvs prints every child's kind/name=resourceVersion.
rvs() {
	k -n "$NS" get cm,svc,networkpolicy,sts,cronjob,secret,pvc -l chatmail.at/relay=chat -o json |
		jq -r '.items[] | "\(.kind)/\(.metadata.name)=\(.metadata.resourceVersion)"' | sort
}

t_steady_state() {
	poll 60 quiet || fail "the operator keeps writing"
	local w0 r0 rv0 w1 r1
	w0=$(writes main)
	r0=$(metric main '^chatmail_operator_reconcile_total')
	rv0=$(rvs)
	sleep 12 # two resync periods: every relay is reconciled again
	w1=$(writes main)
	r1=$(metric main '^chatmail_operator_reconcile_total')
	[ "$r1" -ge $((r0 + 2)) ] || fail "no resync reconciles ($r0 -> $r1)"
	expect_eq "write requests during $((r1 - r0)) steady-state reconciles" "$((w1 - w0))" 0
	expect_eq "children resourceVersions" "$(rvs)" "$rv0"
}

t_render_equals() {
	# the relay as stored (defaults filled in), without its status
	k -n "$NS" get chatmailrelay chat -o json |
		jq '{apiVersion, kind, metadata: {name: .metadata.name,
			namespace: .metadata.namespace}, spec}' >"$WORK/live-relay.json"
	"$OP_BIN" render -f "$WORK/live-relay.json" -o json >"$WORK/rendered.json"
	[ "$(jq '.items | length' "$WORK/rendered.json")" -ge 10 ] || fail "render printed too little"
	local kinds obj kind name
	: >"$WORK/live.jsonl"
	for obj in $(jq -r '.items[] | "\(.kind)/\(.metadata.name)"' "$WORK/rendered.json"); do
		kind=${obj%%/*}
		name=${obj#*/}
		k -n "$NS" get "$kind" "$name" -o json | jq -c . >>"$WORK/live.jsonl"
	done
	kinds=$(jq -r '[.items[].kind] | unique | join(",")' "$WORK/rendered.json")
	expect_eq "rendered kinds" "$kinds" "ConfigMap,CronJob,NetworkPolicy,Service,StatefulSet"
	# every rendered field has the same value in the live object
	$PY - "$WORK/rendered.json" "$WORK/live.jsonl" <<'PYEOF'
import json, sys
rendered = json.load(open(sys.argv[1]))["items"]
live = [json.loads(l) for l in open(sys.argv[2])]
def sub(a, b, path):
    if isinstance(a, dict):
        if not isinstance(b, dict):
            return [path]
        return [p for k, v in a.items() for p in sub(v, b.get(k), path + "." + k)]
    if isinstance(a, list):
        if not isinstance(b, list) or len(a) != len(b):
            return [path + " (list)"]
        return [p for i, v in enumerate(a) for p in sub(v, b[i], "%s[%d]" % (path, i))]
    return [] if a == b else [path]
bad = []
for r, l in zip(rendered, live):
    bad += ["%s/%s%s" % (r["kind"], r["metadata"]["name"], p) for p in sub(r, l, "")]
if bad:
    print("differs from what was applied:", *bad[:20], sep="\n  ")
    sys.exit(1)
PYEOF
}

restored_while_paused() {
	k -n "$NS" get cm chat-nginx -o 'jsonpath={.data.nginx\.conf}' | grep -qv '^paused edit$'
}

t_paused() {
	k -n "$NS" patch chatmailrelay chat --type=merge -p '{"spec":{"paused":true}}' >/dev/null
	poll 30 paused_reported || fail "paused not reported"
	k -n "$NS" patch cm chat-nginx --type=merge -p '{"data":{"nginx.conf":"paused edit"}}' >/dev/null
	sleep 12 # two resyncs
	expect_eq "edit kept while paused" "$(k -n "$NS" get cm chat-nginx -o 'jsonpath={.data.nginx\.conf}')" "paused edit"
	k -n "$NS" patch chatmailrelay chat --type=merge -p '{"spec":{"paused":false}}' >/dev/null
	poll 30 restored_while_paused || fail "not restored after unpausing"
}

paused_reported() {
	[ "$(k -n "$NS" get chatmailrelay chat -o 'jsonpath={.status.conditions[?(@.type=="Progressing")].reason}')" = ReconciliationPaused ]
}

gone() { ! k -n "$NS" get "$1" -o name >/dev/null 2>&1; }
all_gone() {
	local o
	for o in sts/chat svc/chat svc/chat-headless cm/chat-config cm/chat-postfix \
		networkpolicy/chat cronjob/chat-expire secret/chat-tls-selfsigned; do
		gone "$o" || return 1
	done
}

# kept_listed prints status.keptOnDelete of a relay as sorted Kind/name.
kept_listed() { # relay
	k -n "$NS" get chatmailrelay "$1" -o json |
		jq -r '[.status.keptOnDelete[]? | "\(.kind)/\(.name)"] | sort | join(",")'
}

t_delete_keeps() {
	expect_eq "status.keptOnDelete before the delete" "$(kept_listed chat)" \
		PersistentVolumeClaim/mail-chat-0,PersistentVolumeClaim/queue-chat-0,Secret/chat-dkim
	k -n "$NS" delete chatmailrelay chat --wait=false >/dev/null
	poll 120 all_gone || fail "children left: $(k -n "$NS" get all,cm,secret,netpol 2>&1)"
	local pvcs
	pvcs=$(k -n "$NS" get pvc -o json)
	expect_eq "kept PVCs" "$(jq -r '[.items[].metadata.name] | sort | join(",")' <<<"$pvcs")" mail-chat-0,queue-chat-0
	expect_eq "kept PVCs have no relay owner" \
		"$(jq -r '[.items[].metadata.ownerReferences[]? | select(.kind == "ChatmailRelay")] | length' <<<"$pvcs")" 0
	k -n "$NS" get secret chat-dkim -o name >/dev/null || fail "DKIM key not kept"
	poll 30 kept_event || fail "no VolumeKept event"
	kept_event_names
}

kept_event() {
	k -n "$NS" get events.events.k8s.io -o json |
		jq -e '[.items[] | select(.reason == "VolumeKept")] | length == 2' >/dev/null
}

# kept_event_names: the events name what was kept, as the status did
kept_event_names() {
	local notes
	notes=$(k -n "$NS" get events.events.k8s.io -o json |
		jq -r '.items[] | select(.reason == "VolumeKept" or .reason == "SecretKept") | .note')
	expect_match "mail PVC named" "$notes" 'kept PersistentVolumeClaim mail-chat-0 \(storage\.mail\.keepOnDelete\)'
	expect_match "queue PVC named" "$notes" 'kept PersistentVolumeClaim queue-chat-0 \(storage\.queue\.keepOnDelete\)'
	expect_match "DKIM Secret named" "$notes" 'kept the DKIM key Secret chat-dkim'
}

pvcs_owned() {
	[ "$(k -n "$NS" get pvc mail-drop-0 queue-drop-0 -o json 2>/dev/null |
		jq '[.items[].metadata.ownerReferences[]? | select(.kind == "ChatmailRelay")] | length')" = 2 ]
}
nothing_kept() { [ -z "$(kept_listed drop)" ]; }
drop_pvcs_gone() { gone pvc/mail-drop-0 && gone pvc/queue-drop-0; }

t_delete_drops() {
	bind_pvs "$NS" drop
	relay drop "$NS" drop.example.org \
		'  storage: {mail: {keepOnDelete: false}, queue: {keepOnDelete: false}}' | k apply -f - >/dev/null
	poll 60 pvcs_owned || fail "PVCs not owned by the relay: $(k -n "$NS" get pvc -o yaml 2>&1 | tail -n 30)"
	poll 30 nothing_kept || fail "status.keptOnDelete of a relay that keeps nothing: $(kept_listed drop)"
	k -n "$NS" delete chatmailrelay drop --wait=false >/dev/null
	poll 120 drop_pvcs_gone || fail "PVCs of a relay that keeps nothing survive: $(k -n "$NS" get pvc 2>&1)"
}

t_sigterm() {
	expect_eq "exit status after SIGTERM" "$OP_RC" 0
	expect_match "drain logged" "$(cat "$WORK/op-main.log")" 'msg="received signal 15: draining"'
	expect_match "stop logged" "$(cat "$WORK/op-main.log")" 'msg="stopped after [0-9]+ reconciles"'
}

main() {
	lib_init
	NS=$(new_ns op)
	check "CRD installs with a status subresource and documented fields" t_crd
	check "invalid relays are rejected by the schema and CEL rules" t_invalid
	# started here, not in a check's subshell: its PID stays known
	op_start main --namespace "$NS" --resync-period 5
	check "operator starts (namespace $NS, resync 5 s) and serves metrics" t_healthy
	check "a relay yields every child with owner references, labels and expected fields" t_children
	check "the relay turns Ready with observedGeneration and DNS records (DKIM from its key)" t_ready
	check "a spec change updates chatmail.ini and rolls the Pod" t_spec_change
	check "hand-edited and deleted children are restored" t_drift
	check "steady state: resyncs make no write requests" t_steady_state
	check "render prints exactly what the operator applied" t_render_equals
	check "spec.paused stops reconciling; unpausing restores" t_paused
	check "status.keptOnDelete lists the kept PVCs and DKIM key; deleting the relay keeps exactly those and says so" t_delete_keeps
	check "a relay that keeps nothing loses its PVCs with it" t_delete_drops
	op_exit_code main
	check "SIGTERM drains and exits 0" t_sigterm
	tap_done
}

main "$@"
