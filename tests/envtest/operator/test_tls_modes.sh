#!/usr/bin/env bash
# test_tls_modes.sh: the TLS and DKIM modes against the real control
# plane. CertManager: without cert-manager's CRD the relay is Degraded
# (CertManagerMissing); with cert-manager's own CRDs (v1.21 from the Go
# module proxy, hack/cert-manager-bin.sh crds: the real schema, so the
# Certificate the operator writes is validated as on a real cluster) the
# operator creates the Certificate for the relay's names and waits for it
# (this test plays cert-manager's controller: Secret plus Ready; the real
# controller issues in tests/e2e/test_cert_manager.sh), then turns Ready.
# Secret mode and a DKIM Secret of the user's: missing Secrets are
# reported, present ones used (the DKIM record comes from
# the user's key, no key is generated). Switching to SelfSigned deletes
# the Certificate the spec no longer wants. ACME: while the relay's Pod
# cannot start (a ResourceQuota of no Pods; kwok would make it Ready),
# CertificateReady Pending carries the cert container's probe line from
# a kubelet-shaped Unhealthy event of the relay's Pod (the operator's
# field-selected events informer; this test plays the kubelet), the
# newest one when a second arrives, and not another container's; once
# the Pod is Ready, Issued says what reading the served certificate over
# TLS gave (here, outside any cluster network, that it failed). TAP on
# stdout; bounded.
# shellcheck source=tests/envtest/operator/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NS=""
CM_CRDS=""
DATA=$ROOT/tests/data/cert-reloader

reason_is() { # relay type reason
	[ "$(k -n "$NS" get chatmailrelay "$1" -o "jsonpath={.status.conditions[?(@.type==\"$2\")].reason}")" = "$3" ]
}

t_cm_missing() {
	k delete crd certificates.cert-manager.io --ignore-not-found >/dev/null
	bind_pvs "$NS" cm
	relay cm "$NS" cm.example.org \
		'  tls: {mode: CertManager, issuerRef: {name: letsencrypt, kind: ClusterIssuer}}' |
		k apply -f - >/dev/null
	poll 60 reason_is cm Degraded CertManagerMissing ||
		fail "not Degraded/CertManagerMissing: $(k -n "$NS" get chatmailrelay cm -o json | jq -c .status.conditions)"
}

cert_exists() { k -n "$NS" get certificates.cert-manager.io cm -o name >/dev/null 2>&1; }

t_cm_certificate() {
	k apply --server-side --force-conflicts -f "$CM_CRDS" >/dev/null
	k wait --for=condition=Established --timeout=30s crd/certificates.cert-manager.io >/dev/null
	poll 120 cert_exists || fail "no Certificate"
	local c
	c=$(k -n "$NS" get certificates.cert-manager.io cm -o json)
	expect_eq "secretName" "$(jq -r .spec.secretName <<<"$c")" cm-tls
	expect_eq "dnsNames" "$(jq -r '.spec.dnsNames | join(",")' <<<"$c")" \
		cm.example.org,www.cm.example.org,mta-sts.cm.example.org
	expect_eq "issuerRef" "$(jq -c .spec.issuerRef <<<"$c")" \
		'{"group":"cert-manager.io","kind":"ClusterIssuer","name":"letsencrypt"}'
	expect_eq "key" "$(jq -c .spec.privateKey <<<"$c")" '{"algorithm":"ECDSA","size":256}'
	expect_eq "owner" "$(jq -r '.metadata.ownerReferences[0].kind' <<<"$c")" ChatmailRelay
	poll 90 reason_is cm Ready CertificateNotReady ||
		fail "not waiting for the certificate: $(k -n "$NS" get chatmailrelay cm -o json | jq -c .status.conditions)"
}

t_cm_issued() {
	# cert-manager's part: the Secret and the Ready condition
	k -n "$NS" create secret tls cm-tls --cert="$DATA/cert-a.pem" --key="$DATA/key-a.pem" >/dev/null
	k -n "$NS" patch certificates.cert-manager.io cm --subresource=status --type=merge \
		-p '{"status":{"conditions":[{"type":"Ready","status":"True","reason":"Ready","message":"issued"}]}}' >/dev/null
	poll 90 relay_ready "$NS" cm ||
		fail "not Ready: $(k -n "$NS" get chatmailrelay cm -o json | jq -c .status.conditions)"
	local st
	st=$(k -n "$NS" get chatmailrelay cm -o json | jq .status)
	expect_eq "tlsSecretName" "$(jq -r .tlsSecretName <<<"$st")" cm-tls
	expect_match "MTA-STS record (real certificate)" \
		"$(jq -r '.dnsRecords[] | "\(.name) \(.type)"' <<<"$st")" '^_mta-sts\.cm\.example\.org\. TXT$'
	expect_eq "Secret mounted" \
		"$(k -n "$NS" get sts cm -o json | jq -r '.spec.template.spec.volumes[] | select(.name == "tls") | .secret.secretName')" cm-tls
}

cert_gone() { ! cert_exists; }

t_cm_to_selfsigned() {
	k -n "$NS" patch chatmailrelay cm --type=merge -p '{"spec":{"tls":{"mode":"SelfSigned","issuerRef":null}}}' >/dev/null
	poll 60 cert_gone || fail "Certificate not deleted"
	k -n "$NS" get secret cm-tls-selfsigned -o name >/dev/null || fail "no self-signed Secret"
}

t_byo_missing() {
	bind_pvs "$NS" byo
	relay byo "$NS" byo.example.org \
		'  tls: {mode: Secret, secretName: byo-cert}
  dkim: {secretName: byo-dkim}' | k apply -f - >/dev/null
	poll 60 reason_is byo Degraded DKIMSecretMissing ||
		fail "missing Secrets not reported: $(k -n "$NS" get chatmailrelay byo -o json | jq -c .status.conditions)"
}

t_byo_present() {
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$WORK/dkim.pem" 2>/dev/null
	k -n "$NS" create secret generic byo-dkim --from-file=opendkim.private="$WORK/dkim.pem" >/dev/null
	k -n "$NS" create secret tls byo-cert --cert="$DATA/cert-b.pem" --key="$DATA/key-b.pem" >/dev/null
	poll 120 relay_ready "$NS" byo ||
		fail "not Ready: $(k -n "$NS" get chatmailrelay byo -o json | jq -c .status.conditions)"
	local want got
	want=$(openssl pkey -in "$WORK/dkim.pem" -pubout -outform DER 2>/dev/null | base64 -w0)
	got=$(k -n "$NS" get chatmailrelay byo -o json |
		jq -r '.status.dnsRecords[] | select(.name == "opendkim._domainkey.byo.example.org.") | .value' | tr -d '" ')
	expect_eq "DKIM record from the user's key" "$got" "v=DKIM1;k=rsa;p=$want;s=email;t=s"
	if k -n "$NS" get secret byo-dkim-generated byo-tls-selfsigned -o name 2>/dev/null | grep -q .; then
		fail "the operator generated keys although Secrets were given"
	fi
	expect_eq "no generated DKIM key" "$(k -n "$NS" get secret -l chatmail.at/relay=byo -o name)" ""
}

# probe_event NAME POD CONTAINER TIME ERROR: a core/v1 Event as the
# kubelet writes one for a failed readiness probe
probe_event() {
	k -n "$NS" create -f - >/dev/null <<EOF
{"apiVersion": "v1", "kind": "Event",
 "metadata": {"name": "$1", "namespace": "$NS"},
 "involvedObject": {"kind": "Pod", "apiVersion": "v1", "namespace": "$NS",
   "name": "$2", "fieldPath": "spec.containers{$3}"},
 "reason": "Unhealthy", "type": "Warning", "count": 1,
 "source": {"component": "kubelet", "host": "node"},
 "firstTimestamp": "$4", "lastTimestamp": "$4",
 "message": "Readiness probe failed: ready=false names= notAfter=- nextAttempt=2026-12-07T09:00:00Z failures=2 lastError=\"$5\"\n"}
EOF
}

cert_msg() { k -n "$NS" get chatmailrelay acme -o 'jsonpath={.status.conditions[?(@.type=="CertificateReady")].message}'; }
cert_msg_has() { [[ "$(cert_msg)" == *"$1"* ]]; }

t_acme_probe() {
	k -n "$NS" create quota no-pods --hard=pods=0 >/dev/null
	bind_pvs "$NS" acme
	relay acme "$NS" acme.example.org \
		'  tls: {mode: ACME, acmeDirectory: "https://acme.test/dir", acmeTermsOfServiceAgreed: true}' |
		k apply -f - >/dev/null
	poll 60 reason_is acme CertificateReady Pending ||
		fail "not Pending: $(k -n "$NS" get chatmailrelay acme -o json | jq -c .status.conditions)"
	probe_event acme-0.a acme-0 cert 2026-12-07T08:01:00Z "cannot reach the ACME server at https://acme.test/dir"
	probe_event acme-0.b acme-0 nginx 2026-12-07T08:02:00Z "not the cert container"
	poll 60 cert_msg_has 'lastError "cannot reach the ACME server at https://acme.test/dir", failures 2' ||
		fail "the probe line is not in the condition: $(cert_msg)"
	probe_event acme-0.c acme-0 cert 2026-12-07T08:03:00Z "urn:ietf:params:acme:error:rateLimited"
	poll 60 cert_msg_has 'since 2026-12-07T08:03:00Z: lastError "urn:ietf:params:acme:error:rateLimited"' ||
		fail "the newest probe line is not in the condition: $(cert_msg)"
	! cert_msg_has 'not the cert container' || fail "another container's event used: $(cert_msg)"
	k -n "$NS" delete quota no-pods >/dev/null
	# the StatefulSet controller backs off after the refused creates: an
	# update of the StatefulSet makes it try again now
	k -n "$NS" annotate sts acme envtest/poke=1 >/dev/null
	poll 90 reason_is acme CertificateReady Issued ||
		fail "not Issued once the Pod is Ready: $(cert_msg)"
	poll 30 cert_msg_has 'reading it over TLS from the Service failed: ' ||
		fail "no word of the TLS read: $(cert_msg)"
}

main() {
	lib_init
	CM_CRDS=$("$ROOT/hack/cert-manager-bin.sh" crds 2>"$WORK/cert-manager-bin.log") ||
		{ echo "Bail out! cert-manager's CRDs: $(tail -n 3 "$WORK/cert-manager-bin.log")"; exit 1; }
	install_crd
	NS=$(new_ns tls)
	op_start tls --namespace "$NS" --resync-period 600
	check "CertManager without cert-manager: Degraded CertManagerMissing" t_cm_missing
	check "with cert-manager's CRD: the Certificate for the relay's names; Ready waits for it" t_cm_certificate
	check "issued (Secret + Ready): the relay turns Ready with MTA-STS records" t_cm_issued
	check "switching to SelfSigned deletes the Certificate" t_cm_to_selfsigned
	check "Secret mode and the user's DKIM Secret: missing Secrets are reported" t_byo_missing
	check "present Secrets are used: DKIM record from the user's key, nothing generated" t_byo_present
	check "ACME: CertificateReady Pending gives the cert container's newest probe line (kubelet events); Issued the TLS read" t_acme_probe
	k -n "$NS" delete quota no-pods --ignore-not-found >/dev/null 2>&1 || true
	k delete -f "$CM_CRDS" --ignore-not-found --wait=false >/dev/null 2>&1 || true
	tap_done
}

main "$@"
