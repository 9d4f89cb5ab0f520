#!/usr/bin/env bash
# bench_iroh: the round trip of an iroh datagram (A -> relay -> B, B's
# answer -> relay -> A; iroh-relay 0.35.0 and the iroh-probe client,
# both from crates.io) through the relay's path (Debian's nginx: the
# stream ALPN multiplexer on the public port, TLS terminated by the
# HTTPS server's /relay location, then iroh-relay on loopback, as the
# rendered nginx.conf does), side by side with the same client talking
# to iroh-relay's loopback port directly, in the same run. Everything on
# 127.0.0.1. Never fails on speed. Knobs: BENCH_N (datagrams, default
# 2000), BENCH_SIZE (bytes, default 100).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/integration/lib/common.sh
. tests/integration/lib/common.sh

N=${BENCH_N:-2000}
SIZE=${BENCH_SIZE:-100}
IROH=$(hack/iroh-relay-bin.sh build) || { echo "iroh-relay could not be built"; exit 1; }
PROBE=$(hack/iroh-probe.sh build) || { echo "iroh-probe could not be built"; exit 1; }
command -v nginx >/dev/null || { echo "nginx missing (make deps)"; exit 1; }

W=$(workdir bench-iroh)
IR_PORT=$(free_port)
TLS_PORT=$(free_port)
PUB_PORT=$(free_port)
cat >"$W/iroh-relay.toml" <<EOF
enable_relay = true
http_bind_addr = "127.0.0.1:$IR_PORT"
enable_stun = false
enable_metrics = false
EOF
"$IROH" --config-path "$W/iroh-relay.toml" >"$W/iroh.log" 2>&1 &
on_exit "stop_pid $!"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$W/key.pem" -out "$W/cert.pem" -days 1 -subj /CN=bench.test \
	>/dev/null 2>&1
mod=/usr/lib/nginx/modules/ngx_stream_module.so
cat >"$W/nginx.conf" <<EOF
$([ -e "$mod" ] && echo "load_module $mod;")
worker_processes 1;
pid $W/nginx.pid;
error_log $W/nginx-error.log;
events { worker_connections 256; }
stream {
	server {
		listen 127.0.0.1:$PUB_PORT;
		ssl_preread on;
		proxy_pass 127.0.0.1:$TLS_PORT;
	}
}
http {
	access_log off;
	client_body_temp_path $W/tmp;
	proxy_temp_path $W/tmp;
	fastcgi_temp_path $W/tmp;
	uwsgi_temp_path $W/tmp;
	scgi_temp_path $W/tmp;
	ssl_protocols TLSv1.2 TLSv1.3;
	server {
		listen 127.0.0.1:$TLS_PORT ssl default_server;
		ssl_certificate $W/cert.pem;
		ssl_certificate_key $W/key.pem;
		location /relay {
			proxy_pass http://127.0.0.1:$IR_PORT;
			proxy_http_version 1.1;
			proxy_set_header Upgrade \$http_upgrade;
			proxy_set_header Connection "upgrade";
		}
	}
}
EOF
mkdir -p "$W/tmp"
nginx -c "$W/nginx.conf" -g 'daemon off;' >"$W/nginx.out" 2>&1 &
on_exit "stop_pid $!"
if ! wait_port 127.0.0.1 "$IR_PORT" || ! wait_port 127.0.0.1 "$PUB_PORT"; then
	echo "iroh-relay or nginx did not start"
	exit 1
fi

run() { # run URL: "rate p50 p90 max" (rate: round trips/s)
	local out t0 t1
	t0=$(date +%s%N)
	out=$("$PROBE" "$1" --insecure --count "$N" --size "$SIZE" --timeout 120)
	t1=$(date +%s%N)
	echo "# $out" >&2
	echo "$out" | sed -n "s/^ok .*p50=\([0-9]*\) p90=\([0-9]*\) max=\([0-9]*\).*/$((N * 1000000000 / (t1 - t0))) \1 \2 \3/p"
}
read -r d_rate d50 d90 dmax < <(run "http://127.0.0.1:$IR_PORT/")
read -r n_rate n50 n90 nmax < <(run "https://127.0.0.1:$PUB_PORT/")

printf '%-44s %16s %16s\n' "measure (same run, this machine)" "nginx+iroh-relay" "iroh-relay direct"
printf '%-44s %16s %16s\n' "datagram round trip p50, us" "$n50" "$d50"
printf '%-44s %16s %16s\n' "datagram round trip p90 / max, us" "$n90/$nmax" "$d90/$dmax"
printf '%-44s %16s %16s\n' "round trips/s, one at a time (incl. connect)" "$n_rate" "$d_rate"
echo "# $N datagrams of $SIZE bytes, one in flight; each round trip crosses the relay twice"
