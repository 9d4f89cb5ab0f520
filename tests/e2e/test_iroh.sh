#!/usr/bin/env bash
# test_iroh: the relay Pod's iroh-relay (0.35.0 from crates.io, image
# chatmail-iroh-relay) behind the Pod's nginx, as upstream runs it:
# /ping and /generate_204 through 443, iroh-relay itself only on the
# Pod's loopback, the irohrelay METADATA key, and a real iroh-relay 0.35
# client (tests/iroh, iroh-probe): two endpoints connect through the
# relay's 443 and exchange datagrams both ways.
# shellcheck source=tests/integration/lib/common.sh
. "$(dirname "$0")/../integration/lib/common.sh"
# shellcheck source=tests/integration/relay/lib.sh
. "$(dirname "$0")/../integration/relay/lib.sh"
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

e2e_begin iroh 1
ADDR=$(renv "$ENV1" ADDR)
DOMAIN=$(renv "$ENV1" DOMAIN)
CA=$(renv "$ENV1" CA)

kube "$ENV1" get pod "$(pod_of "$ENV1")" -o json |
	jq -e '.status.containerStatuses[] | select(.name == "iroh-relay" and .state.running) | .image | test("chatmail-iroh-relay")' >/dev/null
ok $? "the Pod runs the iroh-relay container from chatmail-iroh-relay"

get() { # get PATH: the HTTP status through nginx on 443
	curl -s -o /dev/null -w '%{http_code}' --max-time 10 --cacert "$CA" \
		--resolve "$DOMAIN:443:$ADDR" "https://$DOMAIN$1"
}
code=$(get /ping)
[ "$code" = 200 ]
ok $? "GET /ping through nginx on 443: 200 from iroh-relay (got $code)"
code=$(get /generate_204)
[ "$code" = 204 ]
ok $? "GET /generate_204 through nginx on 443: 204 (got $code)"
! curl -s --max-time 5 -o /dev/null "http://$(renv "$ENV1" POD_IP):3340/ping"
ok $? "iroh-relay's own port 3340 is not reachable from outside the Pod (its Pod IP)"

creds=$(new_account "$ENV1")
user=${creds%% *}
pw=${creds#* }
got=$(rc getmetadata "$ENV1" "$user" "$pw" /shared/vendor/deltachat/irohrelay)
[ "$got" = "https://$DOMAIN" ]
ok $? "GETMETADATA irohrelay: https://<domain> (got '$got')"

if PROBE=$("$TOP/hack/iroh-probe.sh" 2>"$W/iroh-probe-build.log"); then
	# by address: the test domain is only in the test DNS; the client
	# trusts only the webpki roots, so the test CA is not checked here
	# (nginx's certificate is test_cert_rotation's and the relay tests')
	out=$("$PROBE" "https://$ADDR/" --insecure --count 50 --timeout 30 2>&1)
	echo "# $out"
	echo "$out" | grep -q '^ok sent=50 a_to_b=50 b_to_a=50 '
	ok $? "two iroh 0.35 endpoints exchange 50 datagrams each way through the relay's 443"
	out=$("$PROBE" "https://$ADDR/" --insecure --count 5 --size 16000 --timeout 30 2>&1)
	echo "$out" | grep -q '^ok sent=5 a_to_b=5 b_to_a=5 '
	ok $? "16 kB datagrams pass both ways ($out)"
else
	sed 's/^/# /' "$W/iroh-probe-build.log" | tail -n 20
	ok 1 "iroh-probe builds (hack/iroh-probe.sh)"
fi
tap_done
