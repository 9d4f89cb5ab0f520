#!/usr/bin/env bash
# test_cert_manager: the CertManager TLS mode against the real cert-manager
# (hack/cert-manager-bin.sh: v1.21's control loops built from the Go
# module proxy, run on this host with the node's kubeconfig; its own
# CRDs; no webhook, no cainjector) on the real node, with the operator
# its chart runs there (running before cert-manager's CRDs are installed:
# it finds them without a restart).
#
# There: cert-manager's CRDs, a CA Issuer with a test CA made here, and a
# relay with tls.mode CertManager (hack/relay-k8s.sh up, in the
# background). The operator's Certificate is accepted by cert-manager's
# real schema; the relay waits (Ready False, CertificateNotReady) until
# cert-manager, started only then, has issued the Secret (with the
# relay's label, from the Certificate's secretTemplate); the relay turns
# Ready, its Pod mounts the Secret and serves the certificate on 443, 993
# and 465 (openssl s_client -verify_return_error against the test CA,
# host name checked; another CA fails). Two forced renewals: what `cmctl
# renew` does (the Certificate's Issuing condition, reason
# ManuallyTriggered; cmctl itself is not on the module proxy) and
# deleting the Secret; after each, kubelet updates the Secret volume in
# the running Pod, the cert container reloads nginx, Dovecot and Postfix,
# and 443, 993 and 465 present the new certificate without a restart.
# Times (apply -> issued, trigger -> served) are in the test names.
# shellcheck source=tests/integration/lib/common.sh
. "$(dirname "$0")/../integration/lib/common.sh"
# shellcheck source=tests/integration/relay/lib.sh
. "$(dirname "$0")/../integration/relay/lib.sh"
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

PORTS="443 993 465"
R=e2e1 # the relay's name: the harness's relay 1

e2e_prereqs
relay_prereqs
tap_init
relay_workdir e2e-certmgr
DOMAIN=e2e1.certmgr.test

# --- the binaries ---------------------------------------------------------------
t0=$SECONDS
CMBIN=$("$TOP/hack/cert-manager-bin.sh" 2>"$W/cert-manager-bin.log") &&
	CMCRDS=$("$TOP/hack/cert-manager-bin.sh" crds 2>>"$W/cert-manager-bin.log")
rc=$?
ok $rc "cert-manager's controller and CRDs from the Go module proxy ($((SECONDS - t0)) s)"
[ $rc -eq 0 ] || { tail -n 20 "$W/cert-manager-bin.log" | sed 's/^/# /'; tap_done; }
diag "$("$CMBIN/cert-manager-controller" --version)"

# --- the cluster: the node's (e2e_prereqs sourced its env: KUBECONFIG) ---------
KC=$KUBECONFIG
# the harness's namespace for this test's relays (hack/relay-k8s.sh)
export LOCAL_RELAY_BASE=$W/relays
NS=${RELAY_K8S_NS_PREFIX:-e2e}-$(printf %s "$LOCAL_RELAY_BASE" | sha256sum | cut -c1-8)
k() { "$NODE_KUBECTL" --kubeconfig "$KC" --request-timeout=20s "$@"; }

# (the ChatmailRelay CRD is the chart's)
k apply --server-side -f "$CMCRDS" >"$W/crd.log" 2>&1 &&
	k wait --for=condition=Established --timeout=30s \
		crd/certificates.cert-manager.io crd/issuers.cert-manager.io \
		crd/certificaterequests.cert-manager.io >>"$W/crd.log" 2>&1
rc=$?
ok $rc "cert-manager's six CRDs are established"
[ $rc -eq 0 ] || { sed 's/^/# /' "$W/crd.log"; tap_done; }
on_exit "'$NODE_KUBECTL' --kubeconfig '$KC' delete -f '$CMCRDS' --wait=false >/dev/null 2>&1"
k create namespace "$NS" >/dev/null
on_exit "'$NODE_KUBECTL' --kubeconfig '$KC' delete namespace '$NS' --wait=false >/dev/null 2>&1"

# --- the test CA and its Issuer ---------------------------------------------------
CA=$W/ca.crt
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -noenc -days 2 \
	-keyout "$W/ca.key" -out "$CA" -subj "/CN=chatmail e2e test CA $$" \
	-addext "basicConstraints=critical,CA:TRUE" \
	-addext "keyUsage=critical,keyCertSign,cRLSign" >/dev/null 2>&1 &&
	k -n "$NS" create secret tls test-ca --cert="$CA" --key="$W/ca.key" >/dev/null &&
	k -n "$NS" apply -f - >/dev/null <<EOF
apiVersion: cert-manager.io/v1
kind: Issuer
metadata: {name: test-ca}
spec:
  ca: {secretName: test-ca}
EOF
ok $? "a test CA (EC P-256), its Secret and a CA Issuer"

# --- the operator and the relay ---------------------------------------------------
# the chart's operator, started before cert-manager's CRDs existed, finds
# them on its own (it lists a kind not served at least every 30 s), with
# no restart: its log says so once the Certificate cache has listed
read -r opns opdep < <(k get deploy -A -l app.kubernetes.io/name=chatmail-operator \
	-o 'jsonpath={.items[0].metadata.namespace} {.items[0].metadata.name}')
t0=$SECONDS
until k -n "$opns" logs "deploy/$opdep" 2>/dev/null |
	grep -q 'certificates are served: reconciling every relay'; do
	[ $((SECONDS - t0)) -lt 90 ] || break
	sleep 2
done
k -n "$opns" logs "deploy/$opdep" 2>/dev/null |
	grep -q 'certificates are served: reconciling every relay'
ok $? "the running operator ($opns/$opdep) found cert-manager's CRDs without a restart ($((SECONDS - t0)) s)"
# why_not: what the operator did with the relay, for a failed step
why_not() {
	diag "the relay's conditions: $(k -n "$NS" get chatmailrelay "$R" -o json 2>/dev/null |
		jq -c '[.status.conditions[]? | {type, status, reason, message}]')"
	diag "Certificates: $(k -n "$NS" get certificates.cert-manager.io -o json 2>/dev/null |
		jq -c '[.items[] | {name: .metadata.name, spec, ready: .status.conditions}]')"
	k -n "$opns" logs "deploy/$opdep" --tail=400 2>/dev/null |
		grep -E "$NS|[Cc]ertificate|warn|error" | tail -n 15 | sed 's/^/# operator: /'
	diag "the operator's image: $(k -n "$opns" get pods -l app.kubernetes.io/name=chatmail-operator \
		-o 'jsonpath={.items[*].status.containerStatuses[0].imageID}')"
}

SPEC=$W/relay.yaml
cat >"$SPEC" <<EOF
apiVersion: chatmail.at/v1alpha1
kind: ChatmailRelay
metadata: {name: $R}
spec:
  domain: $DOMAIN
  network: {disableIPv6: true}
  service: {type: LoadBalancer}
  tls:
    mode: CertManager
    issuerRef: {name: test-ca}
  turn: {enabled: false}
  limits: {maxUserSendPerMinute: 600, maxUserSendBurstSize: 100}
  systemLimits: {maxLoad1m: 1000, minAvailableMemory: 1M, minFreeDiskSpace: 1M}
EOF
# the harness applies it and waits (in the background) for it and its
# Pod to be Ready, which needs the Secret cert-manager writes
t_apply=$SECONDS
on_exit "'$RELAY_HARNESS' down $R >/dev/null 2>&1"
LOCAL_RELAY_SPEC=$SPEC RELAY_K8S_WAIT=600 "$RELAY_HARNESS" up "$R" >"$W/up1.log" 2>&1 &
UP=$!
on_exit "kill $UP 2>/dev/null"
applied() { k -n "$NS" get chatmailrelay "$R" -o name >/dev/null 2>&1; }
wait_until 60 applied
ok $? "a ChatmailRelay with tls.mode CertManager and issuerRef test-ca applied"

cond() { # cond TYPE FIELD: a field of the relay's condition TYPE
	k -n "$NS" get chatmailrelay "$R" \
		-o "jsonpath={.status.conditions[?(@.type==\"$1\")].$2}" 2>/dev/null
}
waiting() { [ "$(cond Ready reason)" = CertificateNotReady ]; }
wait_until 180 waiting
rc=$?
ok $rc "without cert-manager running the relay waits: Ready False, CertificateNotReady ($(cond Ready message))"
[ $rc -eq 0 ] || why_not

CRT=$W/certificate.json
k -n "$NS" get certificates.cert-manager.io "$R" -o json >"$CRT" 2>/dev/null
jq -e --arg d "$DOMAIN" --arg r "$R" '.spec.secretName == "\($r)-tls"
	and .spec.dnsNames == [$d, "www.\($d)", "mta-sts.\($d)"]
	and .spec.issuerRef.name == "test-ca" and .spec.issuerRef.kind == "Issuer"
	and .spec.privateKey.algorithm == "ECDSA" and .spec.privateKey.size == 256
	and .spec.secretTemplate.labels["chatmail.at/relay"] == $r
	and .metadata.ownerReferences[0].kind == "ChatmailRelay"' "$CRT" >/dev/null
rc=$?
ok $rc "the operator's Certificate, accepted by cert-manager's CRD: $R-tls for the three names, ECDSA P-256, owned by the relay"
[ $rc -eq 0 ] ||
	diag "the Certificate: $(jq -c '{metadata: {ownerReferences: .metadata.ownerReferences}, spec}' "$CRT" 2>/dev/null)"

# --- the real cert-manager ------------------------------------------------------
CMLOG=$W/cert-manager.log
"$CMBIN/cert-manager-controller" --kubeconfig "$KC" --namespace "$NS" -v=2 >"$CMLOG" 2>&1 &
CMPID=$!
on_exit "stop_pid $CMPID 10"
t_cm=$SECONDS

ready_of() { # ready_of RESOURCE NAME: its Ready condition is True
	[ "$(k -n "$NS" get "$1" "$2" \
		-o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]
}
crt_ready() { ready_of certificates.cert-manager.io "$R"; }
wait_until 60 ready_of issuers.cert-manager.io test-ca
ok $? "cert-manager: the CA Issuer is Ready"
wait_until 120 crt_ready
rc=$?
ok $rc "cert-manager issued the Certificate ($((SECONDS - t_cm)) s after it started, $((SECONDS - t_apply)) s after the apply)"
if [ $rc -ne 0 ]; then
	grep -v '^I' "$CMLOG" | tail -n 15 | sed 's/^/# cert-manager: /'
	k -n "$NS" get certificaterequests.cert-manager.io -o wide 2>&1 | sed 's/^/# /'
fi

# secret_leaf FILE: the Secret's leaf certificate (first of tls.crt)
secret_leaf() {
	k -n "$NS" get secret "$R-tls" -o json 2>/dev/null |
		jq -r '.data["tls.crt"] // empty' | base64 -d >"$1.chain" 2>/dev/null &&
		openssl x509 -in "$1.chain" -out "$1" 2>/dev/null
}
fp_of() { openssl x509 -in "$1" -noout -fingerprint -sha256 | cut -d= -f2; }
secret_leaf "$W/leaf0.pem" &&
	openssl verify -CAfile "$CA" "$W/leaf0.pem" >/dev/null 2>&1 &&
	openssl x509 -in "$W/leaf0.pem" -noout -ext subjectAltName 2>/dev/null |
	grep -q "DNS:$DOMAIN, DNS:www.$DOMAIN, DNS:mta-sts.$DOMAIN" &&
	openssl x509 -in "$W/leaf0.pem" -noout -text | grep -q 'ASN1 OID: prime256v1'
ok $? "$R-tls holds a P-256 certificate for the three names, signed by the test CA"
[ "$(k -n "$NS" get secret "$R-tls" -o 'jsonpath={.metadata.labels.chatmail\.at/relay}')" = "$R" ]
ok $? "$R-tls carries the relay's label (cert-manager applied the secretTemplate)"

relay_is_ready() { [ "$(cond Ready status)" = True ]; }
wait_until 120 relay_is_ready
ok $? "the relay turns Ready once cert-manager issued ($(cond Ready reason))"

# --- the relay's Pod ---------------------------------------------------------------
wait "$UP"
rc=$?
ok $rc "relay $R up, its Pod mounting $R-tls ($((SECONDS - t_apply)) s after the apply)"
[ $rc -eq 0 ] || { tail -n 20 "$W/up1.log" | sed 's/^/# /'; tap_done; }
ENV1=$LOCAL_RELAY_BASE/$R/relay.env
ADDR=$(renv "$ENV1" ADDR)

# served PORT CAFILE: the fingerprint of the certificate on PORT, only when
# it verifies against CAFILE for the relay's name
served() {
	openssl s_client -connect "$ADDR:$1" -servername "$DOMAIN" -CAfile "$2" \
		-verify_return_error -verify_hostname "$DOMAIN" </dev/null 2>/dev/null |
		openssl x509 -noout -fingerprint -sha256 2>/dev/null | cut -d= -f2
}
all_serve() { # all_serve FINGERPRINT
	local p
	for p in $PORTS; do [ "$(served "$p" "$CA")" = "$1" ] || return 1; done
}
show_ports() { # show_ports FINGERPRINT: diagnostics for the ports that differ
	local p
	for p in $PORTS; do
		[ "$(served "$p" "$CA")" = "$1" ] || diag "port $p: '$(served "$p" "$CA")', want $1"
	done
}
fp0=$(fp_of "$W/leaf0.pem")
wait_until 30 all_serve "$fp0"
ok $? "443, 993 and 465 serve cert-manager's certificate, verified against the test CA"
show_ports "$fp0"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -noenc -days 1 \
	-keyout "$W/other.key" -out "$W/other.crt" -subj "/CN=another CA" >/dev/null 2>&1
[ -n "$(served 993 "$CA")" ] && [ -z "$(served 993 "$W/other.crt")" ] &&
	[ -z "$(served 465 /etc/ssl/certs/ca-certificates.crt)" ]
ok $? "verification against another CA fails on the same ports (the check can fail)"

# --- forced renewals ------------------------------------------------------------
revision() { k -n "$NS" get certificates.cert-manager.io "$R" -o 'jsonpath={.status.revision}' 2>/dev/null; }
new_leaf() { # new_leaf OLD_FP FILE: the Secret holds another certificate
	secret_leaf "$2" && [ "$(fp_of "$2")" != "$1" ] && crt_ready
}
# renewed HOW OLD_FP N: the new Secret reaches 443, 993 and 465
renewed() {
	# kubelet's sync period (60 s) plus its Secret cache bound the update
	local how=$1 old=$2 n=$3 t=$SECONDS fp secs=180
	wait_until 90 new_leaf "$old" "$W/leaf$n.pem"
	ok $? "$how: cert-manager wrote a new certificate to $R-tls (revision $(revision), $((SECONDS - t)) s)"
	fp=$(fp_of "$W/leaf$n.pem" 2>/dev/null)
	wait_until "$secs" all_serve "$fp"
	ok $? "$how: 443, 993 and 465 serve the new certificate, verified ($((SECONDS - t)) s after the trigger)"
	show_ports "$fp"
	LAST_FP=$fp
}

# what `cmctl renew` does: the Issuing condition, reason ManuallyTriggered
rev=$(revision)
k -n "$NS" get certificates.cert-manager.io "$R" -o json |
	jq '.metadata.generation as $g | {status: {conditions: ([.status.conditions[] | select(.type != "Issuing")] + [{type: "Issuing", status: "True", reason: "ManuallyTriggered", message: "Certificate re-issuance manually triggered", observedGeneration: $g, lastTransitionTime: (now | todate)}])}}' \
		>"$W/renew.json" &&
	k -n "$NS" patch certificates.cert-manager.io "$R" --subresource=status --type=merge \
		--patch-file "$W/renew.json" >/dev/null
ok $? "renewal forced as cmctl renew does it (at revision $rev)"
renewed "cmctl-style renewal" "$fp0" 1

k -n "$NS" delete secret "$R-tls" >/dev/null
ok $? "the Secret $R-tls deleted"
renewed "Secret deleted" "$LAST_FP" 2

restarts() { # nginx's, Dovecot's and Postfix's restarts, one line each
	local c
	for c in nginx dovecot postfix; do
		ctr_restarts "$ENV1" "$c"
	done
}
[ "$(restarts | sort -u)" = 0 ]
ok $? "nginx, Dovecot and Postfix were not restarted (reloaded in place by the cert container)"
pid_alive "$CMPID"
ok $? "cert-manager kept running ($(grep -c '^E' "$CMLOG") error lines in its log)"
tap_done
