#!/usr/bin/env bash
# test_metrics: the relay's private metrics port (chatmail-exporter on
# 9464 of the Pod's address, relay.env's POD_IP; docs/DESIGN.md,
# Metrics) of a relay the operator runs on the test node
# (hack/relay-k8s.sh).
#
# The first scrape answers with every source up (the services' --metrics
# sockets, filtermail transport's included, and Dovecot's OpenMetrics)
# and no address or user name in any label. Then two accounts are made
# through POST /new and their first logins, one sets a device token, and
# sends the other a message, and a message to a domain that does not
# exist goes to filtermail transport: the next scrape shows
# created_accounts and newemail's credentials up by 2, filtermail
# outgoing's encrypted count and Dovecot's deliveries up by 1,
# chatmail-metadata's push queued and sent up by 1 (the push endpoint is
# an HTTPS server in the Pod's network namespace, as in test_push; the
# harness makes chatmail-metadata trust its CA, LOCAL_RELAY_PUSH_CA),
# and the transport's LMTP connections, deliveries and answers to
# Postfix up by 1. The metrics CronJob's textfile then appears as the
# fsreport source; nginx has no public /metrics.
#
# The objects, from the API server: the headless Service names port
# metrics, the public one does not (and its address refuses 9464); the
# NetworkPolicy lets only spec.metrics.allowedNamespaces reach 9464 (the
# object is checked, not the packet path: the node's CNI bridge does not
# enforce policies). The test installs the Prometheus Operator's
# PodMonitor CRD when the cluster lacks it (hack/prom-crds.sh; removed
# at the end) and the running operator must create the relay's
# PodMonitor. The envtest tier checks the same against a control plane
# (tests/envtest/operator/test_monitoring.sh).
# shellcheck source=tests/integration/lib/common.sh
. "$(dirname "$0")/../integration/lib/common.sh"
# shellcheck source=tests/integration/relay/lib.sh
. "$(dirname "$0")/../integration/relay/lib.sh"
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

e2e_prereqs
relay_prereqs
tap_init
relay_workdir e2e-metrics

PUSH_PORT=9443
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -noenc -days 2 \
	-keyout "$W/push.key" -out "$W/push.crt" -subj /CN=push.test \
	-addext "subjectAltName=IP:127.0.0.1" >/dev/null 2>&1
chmod 644 "$W/push.crt" "$W/push.key"
cat >"$W/relay.yaml" <<EOF
apiVersion: chatmail.at/v1alpha1
kind: ChatmailRelay
metadata: {name: e2e1}
spec:
  domain: _e2e1.chat.test
  network: {disableIPv6: true}
  iroh: {enabled: false}
  systemLimits: {maxLoad1m: 1000, minAvailableMemory: 1M, minFreeDiskSpace: 1M}
  push: {notificationUrl: "https://127.0.0.1:$PUSH_PORT/notify"}
  metrics: {allowedNamespaces: [monitoring], serviceMonitor: {enabled: true}}
EOF
export LOCAL_RELAY_PUSH_CA=$W/push.crt
t0=$SECONDS
relays_up "$W" 1 "$W/relay.yaml" || { ok 1 "relay e2e1 up"; tap_done; }
ok 0 "relay e2e1 up ($((SECONDS - t0)) s)"
ADDR=$(renv "$ENV1" ADDR)
# the Pod's own address (the headless Service's endpoint)
POD_ADDR=$(renv "$ENV1" POD_IP)

# scrape N: GET /metrics on the private port into $W/scrape.N
scrape() {
	curl -sS --max-time 30 -o "$W/scrape.$1" -w '%{http_code}' \
		"http://$POD_ADDR:9464/metrics" >"$W/scrape.$1.code" 2>"$W/scrape.$1.err" &&
		grep -qx 200 "$W/scrape.$1.code"
}

# value N NAME SELECTOR: the sum of the samples of NAME whose labels
# contain SELECTOR (a fixed string), in scrape N
value() {
	awk -v name="$2" -v sel="$3" '
		$1 ~ "^" name "({|$)" && (sel == "" || index($1, sel)) { s += $NF }
		END { printf "%d\n", s }' "$W/scrape.$1"
}

# up N: every source answered in scrape N
up() {
	local s
	for s in filtermail-outgoing filtermail-incoming filtermail-transport \
		doveauth metadata lastlogin newemail dovecot; do
		grep -qx "chatmail_exporter_source_up{service=\"$s\"} 1" "$W/scrape.$1" || {
			echo "source $s not up" >&2
			return 1
		}
	done
}

# every container is up some seconds after the Pod; retry (bounded)
wait_until 60 eval 'scrape 1 && up 1'
ok $? "GET http://$POD_ADDR:9464/metrics: every service, Dovecot's OpenMetrics ($(cat "$W/scrape.1.code" 2>/dev/null))"
! grep -E '^[a-z_]+\{[^}]*@' "$W/scrape.1" >/dev/null
ok $? "no label carries an address"

NS=$(renv "$ENV1" NETNS)
cat >"$W/push.py" <<'PYEOF'
import http.server, ssl, sys
log = open(sys.argv[1], "a", buffering=1)
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        log.write(f"{self.path} {body.decode(errors='replace')}\n")
        self.send_response(200)
        self.end_headers()
    def log_message(self, *a):
        pass
srv = http.server.HTTPServer(("127.0.0.1", int(sys.argv[2])), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[3], sys.argv[4])
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
srv.serve_forever()
PYEOF
: >"$W/push.log"
ip netns exec "$NS" "$PY" "$W/push.py" "$W/push.log" $PUSH_PORT "$W/push.crt" "$W/push.key" \
	</dev/null >"$W/push.out" 2>&1 &
PUSH_PID=$!
on_exit "stop_pid $PUSH_PID"
wait_until 10 ip netns exec "$NS" bash -c "exec 3<>/dev/tcp/127.0.0.1/$PUSH_PORT" 2>/dev/null
ok $? "HTTPS push endpoint listens in the Pod's network namespace"

read -r A PA < <(new_account "$ENV1")
read -r B PB < <(new_account "$ENV1")
K=$W/gnupg
rc genkey "$K" "$B" >/dev/null 2>&1
ok $? "accounts A and B (POST /new, first login), B's key"
TOK="openpgp:tok-$RANDOM$RANDOM"
check "B stores a device token" rc setmetadata "$ENV1" "$B" "$PB" "$TOK"
id="metrics-$RANDOM@e2e.test"
rc send "$ENV1" "$A" "$PA" "$B" --keydir "$K" --msgid "$id" >/dev/null &&
	rc fetch "$ENV1" "$B" "$PB" "$id" >/dev/null 2>&1
ok $? "A sends B an encrypted message, B reads it"
pushed=0
! wait_until 20 grep -q "$TOK" "$W/push.log" || pushed=1
# remote delivery: Postfix hands it to filtermail transport, which finds
# no such domain (an answer Postfix bounces or defers: either counts)
NX="x@nx-$RANDOM.invalid"
rc genkey "$W/gnupg-nx" "$NX" >/dev/null 2>&1 &&
	rc send "$ENV1" "$A" "$PA" "$NX" --keydir "$W/gnupg-nx" >/dev/null
ok $? "A sends an encrypted message to $NX (accepted for remote delivery)"

# moved: scrape 2 shows NAME{SELECTOR} up by at least WANT over scrape 1
moved() { # moved NAME SELECTOR WANT
	local a b
	a=$(value 1 "$1" "$2")
	b=$(value 2 "$1" "$2")
	echo "$1{$2}: $a -> $b"
	[ $((b - a)) -ge "$3" ]
}

# the push and transport counters move after the answers: retry (bounded)
wait_until 30 eval 'scrape 2 && moved chatmail_metadata_push_sent_total "" 1 >/dev/null &&
	moved chatmail_filtermail_transport_recipients_total "" 1 >/dev/null' ||
	scrape 2
ok $? "scraped again"
m=$(moved created_accounts 'service="doveauth"' 2)
ok $? "doveauth's created_accounts: $m"
m=$(moved chatmail_newemail_answers_total 'answer="credentials"' 2)
ok $? "newemail's credentials answers: $m"
m=$(moved outgoing_encrypted_mail_count 'service="filtermail-outgoing"' 1)
ok $? "filtermail outgoing's encrypted mail: $m"
m=$(moved chatmail_filtermail_messages_total 'service="filtermail-outgoing",result="accepted"' 1)
ok $? "filtermail outgoing's accepted messages: $m"
m=$(moved dovecot_mail_delivery_total 'service="dovecot"' 1)
ok $? "Dovecot's deliveries (its OpenMetrics): $m"
m=$(moved chatmail_metadata_push_queued_total 'service="metadata"' 1)
ok $? "chatmail-metadata's push notifications queued: $m"
m=$(moved chatmail_metadata_push_sent_total 'service="metadata"' 1)
ok $? "chatmail-metadata's push notifications sent: $m (the endpoint got the token: $pushed; $(moved chatmail_metadata_push_failed_total 'service="metadata"' 0))"
m=$(moved chatmail_filtermail_connections_total 'service="filtermail-transport",listener="lmtp"' 1)
ok $? "filtermail transport's LMTP connections: $m"
m=$(moved chatmail_filtermail_transport_recipients_total 'service="filtermail-transport"' 1)
ok $? "filtermail transport's answers to Postfix: $m ($(grep -h '^chatmail_filtermail_transport_recipients_total' "$W/scrape.2" | tr '\n' ' '))"
m=$(moved chatmail_filtermail_transport_delivery_duration_seconds_count 'service="filtermail-transport"' 1)
ok $? "filtermail transport's deliveries timed: $m"

# the metrics CronJob writes the textfile the exporter reads
"$RELAY_HARNESS" job "$(renv "$ENV1" NAME)" metrics >"$W/job.log" 2>&1
ok $? "the metrics CronJob's container ran"
scrape 3 && [ "$(value 3 chatmail_accounts 'kind="all"')" -ge 2 ] &&
	grep -qx 'chatmail_exporter_source_up{service="fsreport"} 1' "$W/scrape.3"
ok $? "its figures are on the metrics port (chatmail_accounts all: $(value 3 chatmail_accounts 'kind="all"'))"

code=$(curl -sS --max-time 20 --cacert "$(renv "$ENV1" CA)" \
	--resolve "$(renv "$ENV1" DOMAIN):443:$ADDR" -o "$W/public" -w '%{http_code}' \
	"https://$(renv "$ENV1" DOMAIN)/metrics")
[ "$code" = 404 ] && ! grep -q chatmail_accounts "$W/public"
ok $? "no public /metrics ($code)"

# objs KIND...: the relay's objects of those kinds as a JSON array
KUBE_NS=$(renv "$ENV1" NAMESPACE)
kctl() { "$NODE_KUBECTL" --request-timeout=30s "$@"; }
objs() {
	local kinds
	kinds=$(echo "$*" | tr ' ' ,)
	kctl -n "$KUBE_NS" get "$kinds" -l "chatmail.at/relay=$(renv "$ENV1" NAME)" \
		-o json | jq -c .items
}

objs Service >"$W/svc.json"
jq -e '[.[] | select(.spec.clusterIP == "None") | .spec.ports[]
	| select(.name == "metrics" and .port == 9464)] | length == 1' "$W/svc.json" >/dev/null &&
	jq -e '[.[] | select(.spec.clusterIP != "None") | .spec.ports[]
		| select(.port == 9464 or .name == "metrics")] | length == 0' "$W/svc.json" >/dev/null
ok $? "the headless Service names port metrics (9464), the public one has none"
! curl -sS --max-time 5 -o /dev/null "http://$ADDR:9464/metrics" 2>/dev/null
ok $? "the public address $ADDR does not answer on 9464"
objs NetworkPolicy >"$W/netpol.json"
# the ingress rules that admit 9464: one, from namespace monitoring only
jq -e '[.[].spec.ingress[] | select(any(.ports[]?; .port == 9464 or .port == "metrics"))]
	| length == 1 and .[0].from == [{"namespaceSelector": {"matchExpressions":
		[{"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["monitoring"]}]}}]' \
	"$W/netpol.json" >/dev/null
ok $? "the NetworkPolicy opens 9464 to namespace monitoring only"

# the PodMonitor: the running operator creates it once the CRD is served
PM_CRD=podmonitors.monitoring.coreos.com
pm_one() { objs PodMonitor >"$W/pm.json" && jq -e 'length == 1' "$W/pm.json" >/dev/null; }
if ! kctl get crd "$PM_CRD" >/dev/null 2>&1; then
	dir=$("$TOP/hack/prom-crds.sh") &&
		kctl apply --server-side -f "$dir/monitoring.coreos.com_podmonitors.yaml" >/dev/null &&
		on_exit "'$NODE_KUBECTL' delete crd $PM_CRD --ignore-not-found --wait=false >/dev/null 2>&1" &&
		kctl wait --for=condition=Established --timeout=60s "crd/$PM_CRD" >/dev/null
	ok $? "the Prometheus Operator's PodMonitor CRD installed"
fi
wait_until 120 pm_one
ok $? "the operator created the relay's PodMonitor"
jq -e '.[0].spec.podMetricsEndpoints == [{"path": "/metrics", "port": "metrics"}]' "$W/pm.json" >/dev/null
ok $? "the PodMonitor scrapes port metrics at /metrics"

tap_done
