#!/usr/bin/env bash
# test_acme_pebble.sh: cert-reloader's ACME client against a real Pebble
# (Let's Encrypt's test server, hack/pebble-bin.sh) through a real nginx
# that forwards port 80's /.well-known/acme-challenge/ to the client's
# challenge server, as in the relay Pod. Pebble's VA resolves the names
# through a dnsmasq of this test (127.0.0.1). Everything on loopback.
#
#   - Pebble down at start: the placeholder serves, status.json and
#     --acme-status say the server is unreachable, the process waits
#     (backoff) instead of exiting; Pebble up: a certificate for the
#     three names, verified against Pebble's root on nginx's 443-style
#     port (openssl s_client -verify_return_error)
#   - a restart registers no new account and orders nothing
#   - renewal within a 60 s lifetime (at 2/3 of it, or earlier at the
#     random point of Pebble's renewal window the client picks), reloaded
#     into nginx, while a loop of TLS handshakes sees no failure
#   - Pebble down at renewal: the served certificate stays, the
#     condition text names the failure; Pebble back: renewed
#   - faults: 50% of nonces rejected (PEBBLE_WFE_NONCEREJECT), slow
#     validation (PEBBLE_VA_SLEEPTIME), a failing challenge (nginx down)
#
# Figures (diag lines, never asserted): time from start to a served
# certificate, renewal time, ACME requests per issuance and renewal.
# shellcheck source=tests/integration/lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

D=$(workdir acme-pebble)
NAMES=(a.acme.test www.a.acme.test mta-sts.a.acme.test)
API=$(free_port)
MGMT=$(free_port)
HTTP=$(free_port)
TLS=$(free_port)
CH=$(free_port)
DNS=$(free_port)
PEBBLE_PID="" CR_PID=""
STATE=$D/state # the state directory whose certificate nginx serves

start_dns() {
	/usr/sbin/dnsmasq --keep-in-foreground --port "$DNS" \
		--listen-address 127.0.0.1 --bind-interfaces --no-resolv \
		--no-hosts --pid-file="$D/dnsmasq.pid" \
		--address=/acme.test/127.0.0.1 >"$D/dnsmasq.log" 2>&1 &
	on_exit "stop_pid $! 5"
}

# start_pebble LIFETIME [VAR=VALUE...]: Pebble issuing certificates
# valid for LIFETIME seconds. Its renewal information for a short
# lifetime is the whole lifetime (its 2-day window, clamped), so the
# client renews at a random point of it: the restart check uses a day.
start_pebble() {
	local life=$1
	shift
	cat >"$D/pebble.json" <<EOF
{"pebble": {"listenAddress": "127.0.0.1:$API",
 "managementListenAddress": "127.0.0.1:$MGMT",
 "certificate": "$PB/certs/localhost/cert.pem",
 "privateKey": "$PB/certs/localhost/key.pem",
 "httpPort": $HTTP, "tlsPort": $(free_port), "ocspResponderURL": "",
 "externalAccountBindingRequired": false,
 "retryAfter": {"authz": 1, "order": 1}, "keyAlgorithm": "ecdsa",
 "profiles": {"default": {"description": "short", "validityPeriod": $life}}}}
EOF
	env PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 PEBBLE_AUTHZREUSE=0 "$@" \
		"$PB/bin/pebble" -config "$D/pebble.json" -dnsserver "127.0.0.1:$DNS" \
		>>"$D/pebble.log" 2>&1 &
	PEBBLE_PID=$!
	wait_port 127.0.0.1 "$API" 20 || return 1
	# the root of this run's chain (Pebble makes a new one per start)
	curl -fsS --retry 10 --retry-connrefused --retry-delay 1 \
		--cacert "$PB/certs/pebble.minica.pem" \
		"https://localhost:$MGMT/roots/0" >"$D/root.pem"
}

stop_pebble() { stop_pid "$PEBBLE_PID" 5; PEBBLE_PID=""; }

start_nginx() {
	mkdir -p "$D/nginx"
	cat >"$D/nginx/nginx.conf" <<EOF
pid $D/nginx/nginx.pid;
error_log $D/nginx/error.log;
worker_processes 1;
events { worker_connections 64; }
http {
	access_log off;
	client_body_temp_path $D/nginx/body;
	proxy_temp_path $D/nginx/proxy;
	fastcgi_temp_path $D/nginx/fastcgi;
	uwsgi_temp_path $D/nginx/uwsgi;
	scgi_temp_path $D/nginx/scgi;
	server {
		listen 127.0.0.1:$HTTP;
		location /.well-known/acme-challenge/ {
			proxy_pass http://127.0.0.1:$CH;
		}
		location / { return 301 https://\$host\$request_uri; }
	}
	server {
		listen 127.0.0.1:$TLS ssl;
		ssl_certificate $STATE/tls/tls.crt;
		ssl_certificate_key $STATE/tls/tls.key;
		location / { return 200 "ok\n"; }
	}
}
EOF
	/usr/sbin/nginx -c "$D/nginx/nginx.conf" -p "$D/nginx" \
		>"$D/nginx/start.log" 2>&1 </dev/null || return 1
	wait_file "$D/nginx/nginx.pid" 10 && wait_port 127.0.0.1 "$TLS" 10
}

stop_nginx() { [ -f "$D/nginx/nginx.pid" ] && stop_pid "$(cat "$D/nginx/nginx.pid")" 5; rm -f "$D/nginx/nginx.pid"; }

acme_flags() { # the client's flags for state directory $1
	local n
	printf '%s\n' --dir "$1/tls" --acme-directory "https://localhost:$API/dir" \
		--acme-state "$1" --acme-ca-bundle "$PB/certs/pebble.minica.pem" \
		--acme-listen "127.0.0.1:$CH" --acme-agree-tos \
		--acme-email ops@acme.test --acme-backoff 1:4 --acme-poll-ms 250
	for n in "${NAMES[@]}"; do printf '%s\n' --acme-name "$n"; done
}

start_client() { # start_client STATE
	local flags
	mapfile -t flags < <(acme_flags "$1")
	"$BIN/cert-reloader" "${flags[@]}" --target "nginx=$D/nginx/nginx.pid" \
		--debounce-ms 200 >>"$D/client.log" 2>&1 &
	CR_PID=$!
}

stop_client() { stop_pid "$CR_PID" 5; CR_PID=""; }

verified() { # the certificate nginx serves chains to Pebble's root
	openssl s_client -connect "127.0.0.1:$TLS" -servername "${NAMES[0]}" \
		-CAfile "$D/root.pem" -verify_return_error -verify_hostname \
		"${NAMES[1]}" </dev/null >/dev/null 2>&1
}

served_fp() {
	openssl s_client -connect "127.0.0.1:$TLS" -servername "${NAMES[0]}" \
		</dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256 2>/dev/null
}

status_has() { grep -q "$2" "$1/status.json" 2>/dev/null; }

poll() { # poll SECS CMD...
	local deadline=$((SECONDS + $1))
	shift
	until "$@"; do
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep 0.2
	done
}

pebble_count() { grep -c "POST $1 " "$D/pebble.log" 2>/dev/null || true; }

# handshakes: TLS handshakes against nginx until $D/stop exists; failures
# counted into $D/hs.fail
handshakes() {
	local ok=0 bad=0
	while [ ! -e "$D/stop" ]; do
		if openssl s_client -connect "127.0.0.1:$TLS" -servername "${NAMES[0]}" \
			-CAfile "$D/root.pem" -verify_return_error </dev/null >/dev/null 2>&1; then
			ok=$((ok + 1))
		else
			bad=$((bad + 1))
		fi
		sleep 0.2
	done
	echo "$ok $bad" >"$D/hs.fail"
}

first_issue() {
	local t0 flags
	mapfile -t flags < <(acme_flags "$D/state")
	"$BIN/cert-reloader" "${flags[@]}" --acme-init >"$D/init.log" 2>&1
	ok $? "--acme-init writes the placeholder"
	check "nginx starts with the placeholder" start_nginx
	on_exit "stop_nginx"
	t0=$SECONDS
	start_client "$D/state"
	on_exit 'stop_client'
	check "Pebble down: status says it is unreachable" \
		poll 15 status_has "$D/state" 'cannot reach the ACME server'
	local line
	line=$("$BIN/cert-reloader" --acme-status "$D/state/status.json")
	[ $? -eq 1 ] && [[ $line == *'ready=false'* ]]
	ok $? "--acme-status fails while not ready: $line"
	pid_alive "$CR_PID"
	ok $? "the client waits (backoff), it does not exit"
	start_pebble 86400
	ok $? "Pebble starts"
	on_exit 'stop_pebble'
	t0=$SECONDS
	check "a certificate from Pebble, verified on the TLS port" poll 60 verified
	diag "figure: Pebble up -> certificate served: $((SECONDS - t0)) s"
	"$BIN/cert-reloader" --acme-status "$D/state/status.json" >"$D/status.line"
	ok $? "--acme-status: $(cat "$D/status.line")"
	diag "figure: ACME requests for the issuance: $(jq .requestsLastOrder "$D/state/status.json")"
}

restart_no_order() {
	local a0 o0
	a0=$(pebble_count /sign-me-up)
	o0=$(pebble_count /order-plz)
	stop_client
	start_client "$D/state"
	sleep 3
	[ "$(pebble_count /sign-me-up)" = "$a0" ] && [ "$(pebble_count /order-plz)" = "$o0" ]
	ok $? "a restart registers no account and orders nothing (accounts $a0, orders $o0)"
}

# use_state DIR: a fresh state directory; nginx serves its certificate
use_state() {
	local flags
	stop_client
	stop_nginx
	rm -rf "${1:?}"
	STATE=$1
	mapfile -t flags < <(acme_flags "$1")
	"$BIN/cert-reloader" "${flags[@]}" --acme-init >/dev/null 2>&1
	start_nginx
}

changed() { [ "$(served_fp)" != "$1" ]; }

renewal() { # a 60 s lifetime: renewed within it, reloaded, no failed handshake
	local fp0 t0 hs n bad
	stop_pebble
	start_pebble 60
	ok $? "Pebble restarted with a 60 s lifetime"
	use_state "$D/state2"
	start_client "$D/state2"
	check "a 60 s certificate is served" poll 60 verified
	fp0=$(served_fp)
	rm -f "$D/stop" "$D/hs.fail"
	handshakes &
	hs=$!
	t0=$SECONDS
	check "renewed within its lifetime and reloaded" poll 70 changed "$fp0"
	diag "figure: renewal $((SECONDS - t0)) s after the 60 s certificate was first served; requests for the renewal: $(jq .requestsLastOrder "$D/state2/status.json")"
	touch "$D/stop"
	wait "$hs"
	read -r n bad <"$D/hs.fail"
	[ "$bad" = 0 ] && [ "$n" -gt 5 ]
	ok $? "no failed TLS handshake across the renewal ($n good, $bad failed)"
	check "the renewed certificate verifies" verified
}

down_at_renewal() {
	local fp0
	stop_pebble
	fp0=$(served_fp)
	check "Pebble down at renewal: the status names the failure" \
		poll 70 status_has "$D/state2" 'cannot reach the ACME server'
	diag "condition text: $(jq -r .lastError "$D/state2/status.json")"
	[ "$(served_fp)" = "$fp0" ]
	ok $? "the served certificate stays"
	start_pebble 60
	ok $? "Pebble back"
	check "renewed after Pebble is back" poll 60 changed "$fp0"
}

faults() { # fresh accounts: nonces rejected, slow validation, nginx down
	stop_pebble
	start_pebble 86400 PEBBLE_WFE_NONCEREJECT=50 PEBBLE_VA_NOSLEEP=0 PEBBLE_VA_SLEEPTIME=2
	ok $? "Pebble with 50% nonce rejection and slow validation"
	use_state "$D/state3"
	: >"$D/client.log"
	start_client "$D/state3"
	check "issued through the nonce rejections" poll 90 verified
	grep -q 'badNonce' "$D/client.log"
	ok $? "badNonce answers were retried ($(grep -c badNonce "$D/client.log") times)"
	use_state "$D/state4"
	stop_nginx
	start_client "$D/state4"
	check "nginx down: the challenge fails with the server's reason" \
		poll 60 status_has "$D/state4" 'validation of'
	diag "condition text: $(jq -r .lastError "$D/state4/status.json")"
	start_nginx
	check "nginx back: issued on the next attempt" poll 90 verified
}

main() {
	tap_init
	command -v /usr/sbin/nginx >/dev/null || { skip "ACME against Pebble" "nginx not installed"; tap_done; }
	command -v /usr/sbin/dnsmasq >/dev/null || { skip "ACME against Pebble" "dnsmasq not installed"; tap_done; }
	PB=$("$TOP/hack/pebble-bin.sh" build 2>"$D/pebble-bin.log") ||
		{ ok 1 "Pebble builds (hack/pebble-bin.sh)"; tap_done; }
	start_dns
	first_issue
	restart_no_order
	renewal
	down_at_renewal
	faults
	tap_done
}

main
