#!/usr/bin/env bash
# test_cert_reload.sh: cert-reloader makes a real nginx and a real
# Dovecot serve a renewed certificate. The certificate directory is laid
# out the way the kubelet writes a Secret volume (timestamped directory,
# ..data symlink, tls.crt/tls.key through it) and renewed the same way
# (new directory, ..data swapped by rename). Checks what the daemons
# serve with openssl s_client; an invalid pair (key of another
# certificate) is refused and the old one kept. Targets are given by
# pid file, so no other nginx or Dovecot on this machine is signalled.
# shellcheck source=tests/integration/lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

DATA=$TOP/tests/data/cert-reloader
D=$(workdir cert-reloader)
NGINX_PORT=$(free_port)
IMAPS_PORT=$(free_port)

# swap makes certificate $1 / key $2 the current ones, like the kubelet.
swap() { # cert key name
	mkdir "$D/tls/..$3"
	cp "$1" "$D/tls/..$3/tls.crt"
	cp "$2" "$D/tls/..$3/tls.key"
	chmod 644 "$D/tls/..$3/tls.crt" "$D/tls/..$3/tls.key"
	ln -sfn "..$3" "$D/tls/..data_tmp"
	mv -T "$D/tls/..data_tmp" "$D/tls/..data"
}

# served prints the SHA-256 fingerprint of the certificate on a port.
served() { # port [starttls-free]
	openssl s_client -connect "127.0.0.1:$1" -servername cert.test </dev/null 2>/dev/null |
		openssl x509 -noout -fingerprint -sha256 2>/dev/null
}

fp() { openssl x509 -noout -fingerprint -sha256 -in "$1"; }

serves() { [ "$(served "$1")" = "$2" ]; }

poll() { # seconds command...
	local deadline=$((SECONDS + $1))
	shift
	until "$@"; do
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep 0.2
	done
}

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
		listen 127.0.0.1:$NGINX_PORT ssl;
		ssl_certificate $D/tls/tls.crt;
		ssl_certificate_key $D/tls/tls.key;
		location / { return 200 "ok\n"; }
	}
}
EOF
	/usr/sbin/nginx -c "$D/nginx/nginx.conf" -p "$D/nginx" \
		>"$D/nginx/start.log" 2>&1 </dev/null || return 1
	wait_file "$D/nginx/nginx.pid" 10 && wait_port 127.0.0.1 "$NGINX_PORT" 10
}

start_dovecot() {
	mkdir -p "$D/dovecot/base" "$D/dovecot/state"
	cat >"$D/dovecot/dovecot.conf" <<EOF
base_dir = $D/dovecot/base
state_dir = $D/dovecot/state
instance_name = certtest-$$
protocols = imap
listen = 127.0.0.1
log_path = $D/dovecot/dovecot.log
ssl = yes
ssl_cert = <$D/tls/tls.crt
ssl_key = <$D/tls/tls.key
passdb {
  driver = static
  args = nopassword=y
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=$D/dovecot/home
}
service imap-login {
  inet_listener imap {
    port = 0
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = $IMAPS_PORT
    ssl = yes
  }
}
EOF
	# the daemons keep stdout open: give them files, not check's pipe
	/usr/sbin/dovecot -c "$D/dovecot/dovecot.conf" \
		>"$D/dovecot/start.log" 2>&1 </dev/null || return 1
	wait_file "$D/dovecot/base/master.pid" 10 && wait_port 127.0.0.1 "$IMAPS_PORT" 10
}

main() {
	local fa fb rpid
	tap_init
	command -v /usr/sbin/nginx >/dev/null || { skip "nginx reload" "nginx not installed"; tap_done; }
	mkdir -p "$D/tls"
	swap "$DATA/cert-a.pem" "$DATA/key-a.pem" 2026_01_01
	ln -s ..data/tls.crt "$D/tls/tls.crt"
	ln -s ..data/tls.key "$D/tls/tls.key"
	fa=$(fp "$DATA/cert-a.pem")
	fb=$(fp "$DATA/cert-b.pem")

	check "nginx starts with certificate A" start_nginx
	on_exit "[ -f '$D/nginx/nginx.pid' ] && stop_pid \$(cat '$D/nginx/nginx.pid') 5"
	local dove=0
	if [ -x /usr/sbin/dovecot ] && check "Dovecot starts with certificate A" start_dovecot; then
		dove=1
		on_exit "/usr/sbin/dovecot -c '$D/dovecot/dovecot.conf' stop >/dev/null 2>&1"
	fi
	local targets=(--target "nginx=$D/nginx/nginx.pid")
	[ $dove = 1 ] && targets+=(--target "dovecot=$D/dovecot/base/master.pid")
	"$BIN/cert-reloader" --dir "$D/tls" "${targets[@]}" --debounce-ms 200 \
		--check-ms 60000 >"$D/reloader.log" 2>&1 &
	rpid=$!
	on_exit "stop_pid $rpid 5"
	check "cert-reloader watches the directory" wait_file "$D/reloader.log" 5
	sleep 0.5
	check "nginx serves A" serves "$NGINX_PORT" "$fa"

	swap "$DATA/cert-b.pem" "$DATA/key-b.pem" 2026_02_01
	check "after the ..data swap nginx serves B" poll 15 serves "$NGINX_PORT" "$fb"
	if [ $dove = 1 ]; then
		check "after the ..data swap Dovecot serves B" poll 15 serves "$IMAPS_PORT" "$fb"
	else
		skip "Dovecot serves B" "Dovecot did not start"
	fi
	check "each reload is logged" grep -q 'msg="reloaded nginx (pid [0-9]*): certificate renewed' "$D/reloader.log"

	# a certificate with somebody else's key is not loaded
	swap "$DATA/cert-a.pem" "$DATA/key-b.pem" 2026_03_01
	check "an invalid pair is refused (logged)" poll 15 grep -q 'key does not match the certificate' "$D/reloader.log"
	check "nginx still serves B" serves "$NGINX_PORT" "$fb"

	swap "$DATA/cert-a.pem" "$DATA/key-a.pem" 2026_04_01
	check "a valid renewal afterwards is loaded again" poll 15 serves "$NGINX_PORT" "$fa"
	check "SIGTERM stops cert-reloader" stop_pid "$rpid" 5
	tap_done
}

main "$@"
