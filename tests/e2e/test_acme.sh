#!/usr/bin/env bash
# test_acme: the built-in ACME client of the relay's cert container
# against Pebble (Let's Encrypt's test server, tests/e2e/lib.sh
# pebble_up) on the real node. One relay with a public-looking domain
# (ACME by default), its Service address in the relay DNS that Pebble
# asks, HTTP-01 answered by the relay's own nginx on port 80:
#   1. Pebble down when the relay starts: the relay is not Ready, the
#      cert container's probe (the Pod's events) says why, and the
#      CertificateReady condition carries that line: the client's
#      lastError, failures and nextAttempt;
#   2. Pebble up (short-lived certificates, 30% of nonces rejected): the
#      relay gets its certificate after its backoff and becomes Ready;
#      443, 465 and 993 serve it, verified against Pebble's root, for
#      the domain, www. and mta-sts.; CertificateReady is True with the
#      names and notAfter (read by the operator over TLS);
#   3. renewal before expiry: a new certificate reaches 993 while a
#      client logs in over verified TLS every 2 s, no login failing;
#   4. a Pod restart with a valid certificate creates no account and no
#      order at Pebble.
# Figures (diag lines): seconds from Pebble up to Ready, ACME requests
# per issuance and per renewal.
# shellcheck source=tests/integration/lib/common.sh
. "$(dirname "$0")/../integration/lib/common.sh"
# shellcheck source=tests/integration/relay/lib.sh
. "$(dirname "$0")/../integration/relay/lib.sh"
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

e2e_prereqs
relay_prereqs
tap_init
relay_workdir e2e-acme
DOMAIN=acme.example.org
LIFE=150
export LOCAL_RELAY_BASE=$W/relays
NS=${RELAY_K8S_NS:-${RELAY_K8S_NS_PREFIX:-e2e}-$(printf %s "$LOCAL_RELAY_BASE" | sha256sum | cut -c1-8)}
k() { "$NODE_KUBECTL" --request-timeout=30s -n "$NS" "$@"; }
cond() { # cond FIELD: of the relay's CertificateReady condition
	k get chatmailrelay e2e1 -o "jsonpath={.status.conditions[?(@.type==\"CertificateReady\")].$1}" 2>/dev/null
}
pcount() { grep -c "POST $1" "$PEBBLE_LOG" 2>/dev/null || true; }
reqs() { grep -cE ' (POST|GET|HEAD) /' "$PEBBLE_LOG" 2>/dev/null || true; }
# verified: the certificate on PORT verifies against Pebble's root for NAME
verified() { # verified PORT NAME
	openssl s_client -connect "$ADDR:$1" -servername "$2" -CAfile "$PEBBLE_ROOT" \
		-verify_return_error -verify_hostname "$2" </dev/null 2>&1 |
		grep -q 'Verify return code: 0 (ok)'
}
fp() { # the SHA-256 fingerprint on PORT
	openssl s_client -connect "$ADDR:$1" -servername "$DOMAIN" </dev/null 2>/dev/null |
		openssl x509 -noout -fingerprint -sha256 2>/dev/null | cut -d= -f2
}

# Pebble's files first (its API CA goes into the spec); stopped at once
pebble_up "$W" "$LIFE" PEBBLE_WFE_NONCEREJECT=30 ||
	{ ok 1 "Pebble up on the node"; tap_done; }
pebble_down
{
	printf 'apiVersion: chatmail.at/v1alpha1\nkind: ChatmailRelay\n'
	printf 'metadata: {name: e2e1}\nspec:\n  domain: %s\n' "$DOMAIN"
	# as hack/relay-k8s.sh's test relays: accounts on a loaded machine
	printf '  systemLimits: {maxLoad1m: 1000, minAvailableMemory: 1M, minFreeDiskSpace: 1M}\n'
	acme_tls_yaml
} >"$W/relay.yaml"

# 1. Pebble down: the harness waits in the background
LOCAL_RELAY_ACME_CA=$PEBBLE_ROOT LOCAL_RELAY_SPEC=$W/relay.yaml RELAY_K8S_WAIT=600 \
	"$RELAY_HARNESS" up e2e1 >"$W/up1.log" 2>&1 &
UP=$!
on_exit "kill $UP 2>/dev/null; '$RELAY_HARNESS' down e2e1 >/dev/null 2>&1"
# the cert container's probe line, as the kubelet records it in the
# Pod's Unhealthy events
probe_says() {
	local uid
	# this Pod's (events of an earlier one of the name live an hour)
	uid=$(k get pod e2e1-0 -o 'jsonpath={.metadata.uid}' 2>/dev/null) && [ -n "$uid" ] || return 1
	k get events --field-selector "involvedObject.uid=$uid,reason=Unhealthy" \
		-o 'jsonpath={range .items[*]}{.message}{"\n"}{end}' 2>/dev/null |
		grep -m1 'cannot reach the ACME server'
}
wait_until 240 probe_says >/dev/null
ok $? "ACME server down: the cert probe says why ($(probe_says | cut -c1-200))"
# the operator's events informer puts that line into the condition
unreachable() { [[ "$(cond message)" == *'cannot reach the ACME server'* ]]; }
wait_until 60 unreachable
ok $? "CertificateReady says so ($(cond status) $(cond reason): $(cond message))"
[[ "$(cond message)" =~ lastError\ \".*\",\ failures\ [0-9]+,\ nextAttempt\ (20[0-9][0-9]-|-) ]] &&
	[ "$(cond status)" = False ]
ok $? "CertificateReady False, Pending with the probe's lastError, failures and nextAttempt"
[ "$(k get chatmailrelay e2e1 -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}')" = False ]
ok $? "and the relay is not Ready"

# 2. Pebble up: issued after the backoff, through rejected nonces
t0=$SECONDS
pebble_up "$W" "$LIFE" PEBBLE_WFE_NONCEREJECT=30 ||
	{ ok 1 "Pebble up again"; tap_done; }
wait "$UP"
rc=$?
ok $rc "Pebble up: the relay gets its certificate and is Ready ($((SECONDS - t0)) s after Pebble started)"
[ $rc -eq 0 ] || { tail -n 20 "$W/up1.log" | sed 's/^/# /'; tap_done; }
diag "ACME requests for the first issuance (30% nonces rejected): $(reqs)"
ENV1=$LOCAL_RELAY_BASE/e2e1/relay.env
ADDR=$(renv "$ENV1" ADDR)
for p in 443 465 993; do
	verified "$p" "$DOMAIN"
	ok $? "$p serves a certificate for $DOMAIN verified against Pebble's root"
done
verified 443 "www.$DOMAIN" && verified 443 "mta-sts.$DOMAIN"
ok $? "the same certificate names www.$DOMAIN and mta-sts.$DOMAIN"
# names and notAfter: the operator reads the served certificate over TLS
# from the Service once the relay is Ready (a moment after the flip)
issued_msg() {
	msg=$(cond message)
	[ "$(cond status)" = True ] && [[ $msg == *"www.$DOMAIN"* ]] &&
		[[ $msg == *"mta-sts.$DOMAIN"* ]] && [[ $msg == *"notAfter 20"[0-9][0-9]-* ]]
}
wait_until 30 issued_msg
ok $? "CertificateReady True with the names and notAfter ($(cond message))"

# 3. renewal under logins
read -r U PW < <(new_account "$ENV1")
[ -n "$PW" ]
ok $? "a new account on the relay (${U:-none})"
r0=$(reqs)
old=$(fp 993)
fails=0 logins=0 renewed=""
t0=$SECONDS
while [ $((SECONDS - t0)) -lt $((LIFE + 60)) ]; do
	if SSL_CERT_FILE=$PEBBLE_ROOT $PY -c '
import imaplib, socket, ssl, sys
c = ssl.create_default_context(cafile=sys.argv[4])
class I(imaplib.IMAP4):  # TLS to the address, verified for the domain
    def _create_socket(self, timeout):
        return c.wrap_socket(socket.create_connection((self.host, self.port), 10),
                             server_hostname=sys.argv[5])
m = I(sys.argv[1], 993)
m.login(sys.argv[2], sys.argv[3]); m.logout()' "$ADDR" "$U" "$PW" "$PEBBLE_ROOT" "$DOMAIN" >/dev/null 2>"$W/login.err"; then
		logins=$((logins + 1))
	else
		fails=$((fails + 1))
		[ $fails -eq 1 ] && diag "first failed login: $(tail -n 1 "$W/login.err")"
	fi
	now=$(fp 993)
	if [ -n "$now" ] && [ "$now" != "$old" ]; then
		renewed=$((SECONDS - t0))
		break
	fi
	sleep 2
done
[ -n "$renewed" ] && [ "$fails" -eq 0 ]
rc=$?
ok $rc "renewed before expiry: a new certificate on 993 after $renewed s; $logins verified logins, $fails failed"
# on failure the ACME client's own account of the renewal
[ $rc -eq 0 ] || k logs e2e1-0 -c cert --tail 400 2>&1 |
	grep -E 'ordering|installed|not issued|badNonce|renewal|reload' | tail -n 15 | sed 's/^/# /'
verified 465 "$DOMAIN" && verified 443 "$DOMAIN" && [ "$(fp 443)" = "$(fp 993)" ]
ok $? "the renewed certificate is on 443 and 465 too"
diag "ACME requests of the renewal (30% nonces rejected): $(($(reqs) - r0))"

# 4. the ACME server replaced (Pebble restarted: a new root, no memory
# of the account): the relay moves to it before its short certificate
# expires, registering anew; then long-lived certificates
r0=$(reqs)
pebble_up "$W" 86400 || { ok 1 "Pebble restarted"; tap_done; }
wait_until $((LIFE + 120)) verified 993 "$DOMAIN"
ok $? "a new ACME server: its certificate on 993 before the old one expired"
diag "ACME requests of that issuance: $(($(reqs) - r0)) (the server had forgotten the account)"

# 5. Pod restart with a valid certificate: no new account, no new order
a0=$(pcount /sign-me-up)
o0=$(pcount /order-plz)
relay_pod restart e2e1 >"$W/restart.log" 2>&1
ok $? "the Pod deleted and Ready again"
sleep 5
[ "$(pcount /sign-me-up)" = "$a0" ] && [ "$(pcount /order-plz)" = "$o0" ]
ok $? "after the restart: no new account ($a0 -> $(pcount /sign-me-up)), no new order ($o0 -> $(pcount /order-plz))"
verified 993 "$DOMAIN" && verified 465 "$DOMAIN"
ok $? "993 and 465 still verified after the restart"
tap_done
