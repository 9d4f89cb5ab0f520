#!/usr/bin/env bash
# test_acme_federation: two relays with certificates from Pebble (tests/
# e2e/lib.sh pebble_up) federate with verified TLS when they trust
# Pebble's root through spec.tls.peerCABundle, and refuse a peer they
# do not trust. Pebble's root is in no system store, as a private
# federation's CA would not be.
#   e2e1 (fa.example.org): delivery Transport, peerCABundle = Pebble's
#        root: filtermail transport posts to https://fb.example.org/mxdeliv,
#        verified through the bundle;
#   e2e2 (fb.example.org): delivery PostfixSMTP without the bundle: its
#        Postfix (smtp_tls_security_level verify) defers mail to e2e1
#        with the verification error; with the bundle added
#        (smtp_tls_CAfile) the same message goes out over verified SMTP;
#   e2e1 without the bundle: its transport defers mail to e2e2 (HTTPS
#        and SMTP both refuse the certificate).
# shellcheck source=tests/integration/lib/common.sh
. "$(dirname "$0")/../integration/lib/common.sh"
# shellcheck source=tests/integration/relay/lib.sh
. "$(dirname "$0")/../integration/relay/lib.sh"
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

e2e_prereqs
relay_prereqs
tap_init
relay_workdir e2e-acme-fed
export LOCAL_RELAY_BASE=$W/relays

pebble_up "$W" 86400 || { ok 1 "Pebble up on the node"; tap_done; }
# the clients' CA in relay.env, for every up and refresh of the harness
# (without it a refresh would name the relay's own chain, not the root)
export LOCAL_RELAY_ACME_CA=$PEBBLE_ROOT
spec() { # spec NAME DOMAIN DELIVERY BUNDLE(0|1)
	printf 'apiVersion: chatmail.at/v1alpha1\nkind: ChatmailRelay\n'
	printf 'metadata: {name: %s}\nspec:\n  domain: %s\n' "$1" "$2"
	printf '  delivery: {mode: %s}\n' "$3"
	# a loaded build machine still lets test accounts register
	printf '  systemLimits: {maxLoad1m: 1000, minAvailableMemory: 1M, minFreeDiskSpace: 1M}\n'
	acme_tls_yaml
	if [ "$4" = 1 ]; then
		echo "    peerCABundle: |"
		sed 's/^/      /' "$PEBBLE_ROOT"
	fi
}
spec e2e1 fa.example.org Transport 1 >"$W/e2e1.yaml"
spec e2e2 fb.example.org PostfixSMTP 0 >"$W/e2e2.yaml"
t0=$SECONDS
for i in 1 2; do
	on_exit "'$RELAY_HARNESS' down e2e$i >/dev/null 2>&1"
	LOCAL_RELAY_SPEC=$W/e2e$i.yaml "$RELAY_HARNESS" up "e2e$i" >"$W/up$i.log" 2>&1 || {
		ok 1 "relay e2e$i up with a Pebble certificate"
		tail -n 20 "$W/up$i.log" | sed 's/^/# /'
		tap_done
	}
done
ENV1=$LOCAL_RELAY_BASE/e2e1/relay.env
ENV2=$LOCAL_RELAY_BASE/e2e2/relay.env
ok 0 "relays e2e1 and e2e2 up with Pebble certificates ($((SECONDS - t0)) s)"

read -r A PA < <(new_account "$ENV1")
read -r B PB < <(new_account "$ENV2")
K=$W/gnupg
rc genkey "$K" "$A" >/dev/null 2>&1 && rc genkey "$K" "$B" >/dev/null 2>&1
ok $? "accounts A@e2e1, B@e2e2 and their keys"

# 1. e2e1 -> e2e2 over HTTPS, verified through the bundle
id="https-$RANDOM@e2e.test"
rc send "$ENV1" "$A" "$PA" "$B" --keydir "$K" --msgid "$id" >/dev/null
rc fetch "$ENV2" "$B" "$PB" "$id" --timeout 60 >/dev/null 2>&1
ok $? "A@e2e1 -> B@e2e2 delivered"
ctr_logs "$ENV1" postfix 2>/dev/null | grep -q "to=<$B>,.*status=sent (250 OK (HTTPS))"
ok $? "e2e1's filtermail transport delivered it over HTTPS (verified against the peer bundle)"

# 2. e2e2 -> e2e1: e2e2's Postfix does not trust Pebble's root
id2="smtp-$RANDOM@e2e.test"
rc send "$ENV2" "$B" "$PB" "$A" --keydir "$K" --msgid "$id2" >/dev/null
ok $? "e2e2 accepts B -> A"
why() { pf "$1" postqueue -j 2>/dev/null | jq -r '.recipients[].delay_reason // empty' 2>/dev/null; }
refused() { why "$ENV2" | grep -qiE 'verif|trust'; }
wait_until 120 refused
ok $? "without the bundle e2e2 defers it: $(why "$ENV2" | head -n 1)"

# 3. the bundle added to e2e2: the same message goes out, verified
spec e2e2 fb.example.org PostfixSMTP 1 >"$W/e2e2.yaml"
uid=$(pod_uid "$ENV2")
kube "$ENV2" apply -f "$W/e2e2.yaml" >/dev/null
ok $? "tls.peerCABundle added to e2e2"
rendered() { kube "$ENV2" get configmap e2e2-config -o json | jq -e '.data["peer-ca.pem"]' >/dev/null 2>&1; }
wait_until 60 rendered
ok $? "the operator renders peer-ca.pem into e2e2's config"
new_pod() { [ "$(pod_uid "$1")" != "$2" ]; }
wait_until 240 new_pod "$ENV2" "$uid"
relay_pod refresh e2e2 >"$W/refresh2.log" 2>&1
ok $? "e2e2 rolled out and Ready again ($(tail -n 1 "$W/refresh2.log"))"
ca=$(pf "$ENV2" postconf -h smtp_tls_CAfile 2>/dev/null)
[ "$ca" = /etc/chatmail/peer-ca.pem ]
ok $? "e2e2's Postfix has smtp_tls_CAfile (got $ca)"
pf "$ENV2" postqueue -f >/dev/null 2>&1
rc fetch "$ENV1" "$A" "$PA" "$id2" --timeout 120 >/dev/null 2>&1
ok $? "B@e2e2 -> A@e2e1 delivered over verified SMTP"
ctr_logs "$ENV2" postfix 2>/dev/null | grep -q "Verified TLS connection established to fa.example.org"
ok $? "e2e2's Postfix logged a Verified TLS connection to fa.example.org"

# 4. the bundle removed from e2e1: its transport refuses e2e2's certificate
spec e2e1 fa.example.org Transport 0 >"$W/e2e1.yaml"
uid=$(pod_uid "$ENV1")
kube "$ENV1" apply -f "$W/e2e1.yaml" >/dev/null
gone() { ! kube "$ENV1" get configmap e2e1-config -o json | jq -e '.data["peer-ca.pem"]' >/dev/null 2>&1; }
wait_until 60 gone
ok $? "tls.peerCABundle removed from e2e1: no peer-ca.pem"
wait_until 240 new_pod "$ENV1" "$uid"
relay_pod refresh e2e1 >"$W/refresh1.log" 2>&1
ok $? "e2e1 rolled out and Ready again ($(tail -n 1 "$W/refresh1.log"))"
id3="untrusted-$RANDOM@e2e.test"
rc send "$ENV1" "$A" "$PA" "$B" --keydir "$K" --msgid "$id3" >/dev/null
ok $? "e2e1 accepts A -> B"
refused1() { why "$ENV1" | grep -qiE 'verif|trust|certificate'; }
wait_until 180 refused1
ok $? "without the bundle e2e1 defers mail to e2e2: $(why "$ENV1" | head -n 1)"
! rc fetch "$ENV2" "$B" "$PB" "$id3" --timeout 5 >/dev/null 2>&1
ok $? "and it has not reached B"
tap_done
