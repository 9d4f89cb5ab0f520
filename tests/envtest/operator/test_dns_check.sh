#!/usr/bin/env bash
# test_dns_check.sh: the operator's live DNS check (operator/dnscheck.h)
# against real DNS servers run here: Debian's NSD, authoritative for
# example.test on 127.53.<n>.1:53, and dnsmasq on 127.53.<n>.2:53 as the
# caching resolver the operator finds the zone's servers through
# (--dns-server). The relay is dc.example.test, inside the zone, so the
# zone comes from the SOA; this test plays the cloud controller and
# gives its Service a load-balancer address.
#
#   correct zone (written from status.dnsRecords): DNSReady True, every
#     record ok
#   wrong zone (another DKIM key, MX and address): RecordsWrong with what
#     was found, an event; dnsmasq still serves the cached correct
#     answers: the check asked NSD itself
#   missing records (no MX, no DKIM): RecordsMissing, and why other
#     relays reject the relay's mail
#   NSD down: LookupFailed; back up and correct: DNSReady True again
# Ready stays True throughout.
# external-dns (spec.dns.externalDNS.enabled, with external-dns's own
# CRD from hack/external-dns-crd.sh): the relay's DNSEndpoint holds
# status.dnsRecords, follows the Service's address, is restored after a
# hand edit, and is deleted when the field is turned off. TAP on stdout;
# bounded.
# shellcheck source=tests/envtest/operator/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NS=""
NET=127.53.$((RANDOM % 250 + 1))
AUTH=$NET.1
RESOLVER=$NET.2
DNSDIR=""
DNSMASQ_PID=""
LB=192.0.2.53

# nsd_start: NSD serving $DNSDIR/zone (its own log per start)
nsd_start() {
	cat >"$DNSDIR/nsd.conf" <<EOF
server:
  ip-address: $AUTH
  port: 53
  username: ""
  chroot: ""
  zonesdir: "$DNSDIR"
  pidfile: "$DNSDIR/nsd.pid"
  database: ""
  xfrdfile: "$DNSDIR/xfrd.state"
  zonelistfile: "$DNSDIR/zone.list"
  logfile: "$DNSDIR/nsd.log"
  server-count: 1
  verbosity: 1
remote-control:
  control-enable: no
zone:
  name: example.test
  zonefile: zone
EOF
	: >"$DNSDIR/nsd.log"
	# started from check's subshells: the PID goes into a file
	nsd -d -c "$DNSDIR/nsd.conf" >>"$DNSDIR/nsd.out" 2>&1 &
	echo $! >"$DNSDIR/nsd.ours"
	poll 20 grep -q "nsd started" "$DNSDIR/nsd.log" ||
		fail "NSD did not start: $(tail -n 5 "$DNSDIR/nsd.log" "$DNSDIR/nsd.out")"
}

stop_pid() { # pid
	local i
	[ -n "$1" ] || return 0
	kill -TERM "$1" 2>/dev/null || true
	for ((i = 0; i < 100; i++)); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$1" 2>/dev/null || true
	{ wait "$1"; } 2>/dev/null || true
}

nsd_stop() {
	[ -n "$DNSDIR" ] && [ -f "$DNSDIR/nsd.ours" ] || return 0
	stop_pid "$(cat "$DNSDIR/nsd.ours")"
	rm -f "$DNSDIR/nsd.ours"
}

# dnsmasq_start: the caching resolver. Without negative caching: the
# operator asks it for the NS of dc.example.test before the test
# publishes the relay's records, and the NXDOMAIN (kept for the SOA's
# 3600 s) would then answer the test's own MX query in t_correct.
# MX answers are cached (dnsmasq caches only A, AAAA, CNAME and SRV
# unless told), which t_wrong relies on.
dnsmasq_start() {
	dnsmasq -k --conf-file=/dev/null --no-resolv --no-hosts \
		--listen-address="$RESOLVER" --bind-interfaces --port=53 \
		--server="/example.test/$AUTH" --cache-size=1000 --no-negcache \
		--cache-rr=MX \
		--pid-file="$DNSDIR/dnsmasq.pid" \
		--log-facility="$DNSDIR/dnsmasq.log" >/dev/null 2>&1 &
	DNSMASQ_PID=$!
	poll 20 ask "$RESOLVER" example.test SOA >/dev/null ||
		fail "dnsmasq does not answer"
}

dns_cleanup() {
	nsd_stop
	stop_pid "$DNSMASQ_PID"
	lib_cleanup
}

# ask SERVER NAME TYPE: the answer's records (one a line), exit 1 when
# the server does not answer
ask() {
	/usr/bin/python3 - "$@" <<'EOF'
import sys
import dns.message, dns.query, dns.rcode
server, name, rtype = sys.argv[1:4]
r = dns.query.udp(dns.message.make_query(name, rtype), server, timeout=2)
for rrset in r.answer:
    for rr in rrset:
        print(rr.to_text())
EOF
}

# zone_head: SOA, NS and the name server's address
zone_head() {
	cat <<EOF
\$ORIGIN example.test.
\$TTL 3600
@ IN SOA ns1 hostmaster 1 3600 600 86400 3600
@ IN NS ns1
ns1 IN A $AUTH
EOF
}

# zone_from VARIANT: the zone file; the records of the relay's
# status.dnsRecords as they are (correct) or changed
zone_from() { # correct|wrong|missing
	zone_head
	k -n "$NS" get chatmailrelay dc -o json | jq -r --arg v "$1" '
		.status.dnsRecords[]
		| if $v == "wrong" and .type == "TXT" and (.name | startswith("opendkim._domainkey."))
		  then .value = "\"v=DKIM1;k=rsa;p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAwrong;s=email;t=s\""
		  elif $v == "wrong" and .type == "MX" then .value = "10 mx.elsewhere.test."
		  elif $v == "wrong" and .type == "A" then .value = "192.0.2.99"
		  else . end
		| select($v != "missing" or (.type != "MX" and (.name | startswith("opendkim._domainkey.") | not)))
		| "\(.name) 3600 IN \(.type) \(.value)"'
}

publish() { # variant
	zone_from "$1" >"$DNSDIR/zone.new"
	mv "$DNSDIR/zone.new" "$DNSDIR/zone"
	nsd_stop
	nsd_start
}

dns_reason_is() { # reason
	[ "$(k -n "$NS" get chatmailrelay dc -o 'jsonpath={.status.conditions[?(@.type=="DNSReady")].reason}')" = "$1" ]
}

show() { k -n "$NS" get chatmailrelay dc -o json | jq -c '[.status.conditions, .status.dnsCheck]'; }

# state_of NAME_PREFIX TYPE: the check's state of that record
state_of() {
	k -n "$NS" get chatmailrelay dc -o json |
		jq -r --arg n "$1" --arg t "$2" \
			'.status.dnsCheck.records[] | select((.name | startswith($n)) and .type == $t) | .state'
}

ready_true() { expect_eq "Ready" "$(cond "$NS" dc Ready)" True; }

t_setup() {
	bind_pvs "$NS" dc
	relay dc "$NS" dc.example.test '  tls: {mode: SelfSigned}' | k apply -f - >/dev/null
	poll 60 k -n "$NS" get svc dc -o name >/dev/null || fail "no Service"
	k -n "$NS" patch svc dc --subresource=status --type=merge \
		-p "{\"status\":{\"loadBalancer\":{\"ingress\":[{\"ip\":\"$LB\"}]}}}" >/dev/null
	has_a() { k -n "$NS" get chatmailrelay dc -o json | jq -e --arg a "$LB" '.status.dnsRecords[] | select(.type == "A" and .value == $a)' >/dev/null; }
	dkim() { k -n "$NS" get chatmailrelay dc -o json | jq -e '.status.dnsRecords[] | select(.name | startswith("opendkim._domainkey."))' >/dev/null; }
	poll 60 has_a || fail "no A record for $LB: $(show)"
	poll 60 dkim || fail "no DKIM record: $(show)"
	poll 90 relay_ready "$NS" dc || fail "not Ready: $(show)"
}

t_correct() {
	publish correct
	poll 60 dns_reason_is RecordsPublished || fail "not published: $(show)"
	expect_eq "DNSReady" "$(cond "$NS" dc DNSReady)" True
	local st n
	st=$(k -n "$NS" get chatmailrelay dc -o json)
	n=$(jq '.status.dnsRecords | length' <<<"$st")
	expect_eq "records checked" "$(jq '[.status.dnsCheck.records[] | select(.state == "ok")] | length' <<<"$st")" "$n"
	expect_eq "zone" "$(jq -r .status.dnsCheck.zone <<<"$st")" example.test
	expect_eq "server" "$(jq -r .status.dnsCheck.server <<<"$st")" "ns1.example.test ($AUTH)"
	ready_true
	# warm dnsmasq's cache with the correct answers
	expect_eq "resolver MX" "$(ask "$RESOLVER" dc.example.test MX)" "10 dc.example.test."
}

t_wrong() {
	publish wrong
	poll 60 dns_reason_is RecordsWrong || fail "not RecordsWrong: $(show)"
	expect_eq "DNSReady" "$(cond "$NS" dc DNSReady)" False
	expect_eq "DKIM" "$(state_of opendkim._domainkey. TXT)" wrong
	expect_eq "MX" "$(state_of dc.example.test. MX)" wrong
	expect_eq "A" "$(state_of dc.example.test. A)" wrong
	expect_eq "SPF still ok" "$(state_of dc.example.test. TXT)" ok
	local st
	st=$(k -n "$NS" get chatmailrelay dc -o json)
	expect_match "MX found" "$(jq -c '.status.dnsCheck.records[] | select(.type == "MX") | .found' <<<"$st")" '"10 mx.elsewhere.test."'
	expect_match "A found" "$(jq -c '.status.dnsCheck.records[] | select(.type == "A") | .found' <<<"$st")" '"192.0.2.99"'
	expect_match "DKIM found" "$(jq -c '.status.dnsCheck.records[] | select(.name | startswith("opendkim")) | .found' <<<"$st")" 'AQEFAAOCAQ8AMIIBCgKCAQEAwrong'
	expect_match "message" "$(jq -r '.status.conditions[] | select(.type == "DNSReady") | .message' <<<"$st")" \
		'opendkim._domainkey.dc.example.test. TXT wrong: other relays reject its mail'
	ready_true
	# the resolver still has the correct MX cached: the operator did not
	# ask it for the records
	expect_eq "resolver MX (cached)" "$(ask "$RESOLVER" dc.example.test MX)" "10 dc.example.test."
	expect_eq "NSD MX" "$(ask "$AUTH" dc.example.test MX)" "10 mx.elsewhere.test."
	dns_event() {
		k -n "$NS" get events.events.k8s.io -o json |
			jq -e '[.items[] | select(.reason == "RecordsWrong" and .type == "Warning" and .regarding.name == "dc")] | length >= 1' >/dev/null
	}
	poll 30 dns_event || fail "no RecordsWrong event"
}

t_missing() {
	publish missing
	poll 60 dns_reason_is RecordsMissing || fail "not RecordsMissing: $(show)"
	expect_eq "DKIM" "$(state_of opendkim._domainkey. TXT)" missing
	expect_eq "MX" "$(state_of dc.example.test. MX)" missing
	expect_eq "A back" "$(state_of dc.example.test. A)" ok
	expect_match "message" "$(k -n "$NS" get chatmailrelay dc -o 'jsonpath={.status.conditions[?(@.type=="DNSReady")].message}')" \
		'dc.example.test. MX missing: other relays cannot deliver mail to it'
	ready_true
}

t_down_and_back() {
	nsd_stop
	poll 60 dns_reason_is LookupFailed || fail "not LookupFailed: $(show)"
	expect_eq "DNSReady" "$(cond "$NS" dc DNSReady)" False
	ready_true
	publish correct
	poll 60 dns_reason_is RecordsPublished || fail "not published again: $(show)"
	expect_eq "DNSReady" "$(cond "$NS" dc DNSReady)" True
}

# --- external-dns -------------------------------------------------------------

ep_json() { k -n "$NS" get dnsendpoints.externaldns.k8s.io xd -o json 2>/dev/null; }

# ep_matches: the DNSEndpoint's targets are the relay's records
ep_matches() {
	local want got
	want=$(k -n "$NS" get chatmailrelay xd -o json | jq -c '
		[.status.dnsRecords[] | {n: (.name | rtrimstr(".")), t: .type,
		  v: (if .type == "TXT" then (.value | gsub("\" \""; "") | ltrimstr("\"") | rtrimstr("\""))
		      elif (.type == "MX" or .type == "CNAME" or .type == "SRV") then (.value | rtrimstr("."))
		      else .value end)}] | sort')
	got=$(ep_json | jq -c '[.spec.endpoints[] | .dnsName as $n | .recordType as $t | .targets[] | {n: $n, t: $t, v: .}] | sort')
	[ -n "$got" ] && [ "$want" = "$got" ]
}

ep_has_a() { ep_json | jq -e --arg a "$LB" '.spec.endpoints[] | select(.recordType == "A" and .targets == [$a])' >/dev/null; }
ep_has_dkim() { ep_json | jq -e '.spec.endpoints[] | select(.recordType == "TXT" and (.targets[0] | startswith("v=DKIM1;k=rsa;p=")))' >/dev/null; }
ep_gone() { ! k -n "$NS" get dnsendpoints.externaldns.k8s.io xd -o name >/dev/null 2>&1; }

t_external_dns() {
	relay xd "$NS" xd.example.test '  tls: {mode: SelfSigned}
  dns: {externalDNS: {enabled: true}}' | k apply -f - >/dev/null
	poll 60 ep_has_dkim || fail "no DNSEndpoint with the DKIM key: $(ep_json | jq -c .spec)"
	expect_eq "owner" "$(ep_json | jq -r '.metadata.ownerReferences[0].kind + "/" + .metadata.ownerReferences[0].name')" ChatmailRelay/xd
	poll 30 ep_matches || fail "endpoints differ from status.dnsRecords: $(ep_json | jq -c .spec.endpoints)"
	poll 60 k -n "$NS" get svc xd -o name >/dev/null || fail "no Service"
	k -n "$NS" patch svc xd --subresource=status --type=merge \
		-p "{\"status\":{\"loadBalancer\":{\"ingress\":[{\"ip\":\"$LB\"}]}}}" >/dev/null
	poll 60 ep_has_a || fail "no A endpoint for $LB: $(ep_json | jq -c .spec.endpoints)"
	poll 30 ep_matches || fail "endpoints differ after the address: $(ep_json | jq -c .spec.endpoints)"
}

t_external_dns_drift() {
	k -n "$NS" patch dnsendpoints.externaldns.k8s.io xd --type=merge \
		-p '{"spec":{"endpoints":[{"dnsName":"xd.example.test","recordType":"A","targets":["198.51.100.1"]}]}}' >/dev/null
	poll 60 ep_matches || fail "the hand edit stayed: $(ep_json | jq -c .spec.endpoints)"
	k -n "$NS" patch chatmailrelay xd --type=merge -p '{"spec":{"dns":{"externalDNS":{"enabled":false}}}}' >/dev/null
	poll 60 ep_gone || fail "DNSEndpoint still there with the field off"
}

main() {
	lib_init
	trap dns_cleanup EXIT
	for t in nsd dnsmasq; do
		command -v "$t" >/dev/null || { echo "Bail out! $t missing (make deps)"; exit 1; }
	done
	install_crd
	EXTDNS_CRD=$("$ROOT/hack/external-dns-crd.sh") || { echo "Bail out! hack/external-dns-crd.sh failed"; exit 1; }
	k apply --server-side -f "$EXTDNS_CRD" >/dev/null
	k wait --for=condition=Established --timeout=30s crd/dnsendpoints.externaldns.k8s.io >/dev/null
	NS=$(new_ns dns)
	DNSDIR=$WORK/dns
	mkdir -p "$DNSDIR"
	zone_head >"$DNSDIR/zone"
	nsd_start
	dnsmasq_start
	op_start dns --namespace "$NS" --resync-period 600 \
		--dns-check-interval 3 --dns-check-retry 1 --dns-server "$RESOLVER"
	check "the relay, its Service address and DKIM key" t_setup
	check "correct zone: DNSReady True, every record ok at ns1.example.test" t_correct
	check "wrong zone: RecordsWrong with what was found, an event; asked NSD, not the cache" t_wrong
	check "MX and DKIM missing: RecordsMissing, and what follows" t_missing
	check "NSD down: LookupFailed, Ready stays; back up: DNSReady True" t_down_and_back
	check "dns.externalDNS: a DNSEndpoint owned by the relay holds its records" t_external_dns
	check "the DNSEndpoint is restored after a hand edit, deleted when turned off" t_external_dns_drift
	k delete crd dnsendpoints.externaldns.k8s.io --ignore-not-found --wait=false >/dev/null 2>&1 || true
	tap_done
}

main "$@"
