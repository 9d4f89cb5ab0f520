#!/usr/bin/env bash
# registry.sh: a local OCI registry for the release tests: Debian's
# docker-registry (the CNCF distribution registry) with TLS from a test CA
# made here and basic auth (htpasswd, bcrypt), listening on one address
# of this machine only (loopback, or the host side of the test node's
# veth, which the node's containerd reaches).
#
#   hack/registry.sh init DIR ADDR:PORT the test CA, the server's key and
#                                       certificate, htpasswd, config.yml
#                                       and env (REGISTRY_HOST,
#                                       REGISTRY_CA, REGISTRY_USER,
#                                       REGISTRY_PASSWORD) in DIR, before
#                                       ADDR exists (the test node's
#                                       containerd is configured with them)
#   hack/registry.sh up DIR ADDR:PORT   init if needed, start it
#   hack/registry.sh down DIR           stop it (by its pid file)
#
# The certificate names ADDR (an IP SAN, or a DNS SAN for a name) and
# 127.0.0.1. The password is random per DIR.
set -euo pipefail

say() { echo "registry: $*" >&2; }
die() { say "ERROR: $*"; exit 1; }

init() {
	local dir=$1 hostport=$2 addr port user=release pass san
	addr=${hostport%:*} port=${hostport##*:}
	mkdir -p "$dir/data"
	dir=$(cd "$dir" && pwd)
	if [ -f "$dir/env" ] && grep -qx "REGISTRY_HOST=$hostport" "$dir/env"; then
		return 0
	fi
	if [[ $addr =~ ^[0-9.]+$ ]]; then san="IP:$addr,IP:127.0.0.1"; else san="DNS:$addr,IP:127.0.0.1"; fi
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
		-subj "/CN=chatmail release test CA" -keyout "$dir/ca.key" -out "$dir/ca.crt" 2>/dev/null
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-subj "/CN=$addr" -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
	printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\n' "$san" >"$dir/ext.cnf"
	openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
		-CAcreateserial -days 2 -extfile "$dir/ext.cnf" -out "$dir/server.crt" 2>/dev/null
	pass=$(openssl rand -hex 16)
	# bcrypt: the only hash docker-registry's htpasswd accepts
	/usr/bin/python3 -W ignore -c 'import crypt, sys
print("%s:%s" % (sys.argv[1], crypt.crypt(sys.argv[2], crypt.mksalt(crypt.METHOD_BLOWFISH))))' \
		"$user" "$pass" >"$dir/htpasswd"
	grep -q ":\\\$2[aby]\\\$" "$dir/htpasswd" || die "no bcrypt hash from python's crypt"
	cat >"$dir/config.yml" <<EOF
version: 0.1
log: {level: warn}
storage:
  filesystem: {rootdirectory: $dir/data}
  delete: {enabled: true}
http:
  addr: $addr:$port
  secret: $(openssl rand -hex 16)
  tls: {certificate: $dir/server.crt, key: $dir/server.key}
auth:
  htpasswd: {realm: chatmail-release-test, path: $dir/htpasswd}
EOF
	cat >"$dir/env" <<EOF
REGISTRY_HOST=$hostport
REGISTRY_CA=$dir/ca.crt
REGISTRY_USER=$user
REGISTRY_PASSWORD=$pass
EOF
}

up() {
	local dir=$1 hostport=$2 code
	command -v docker-registry >/dev/null || die "docker-registry missing (make deps)"
	init "$dir" "$hostport"
	dir=$(cd "$dir" && pwd)
	if [ -f "$dir/pid" ] && kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
		say "already running (pid $(cat "$dir/pid"))"
		return 0
	fi
	docker-registry serve "$dir/config.yml" >"$dir/registry.log" 2>&1 &
	echo $! >"$dir/pid"
	for _ in $(seq 1 50); do
		code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$dir/ca.crt" \
			"https://$hostport/v2/" 2>/dev/null || true)
		[ "$code" = 401 ] && break
		kill -0 "$(cat "$dir/pid")" 2>/dev/null || { cat "$dir/registry.log" >&2; die "docker-registry exited"; }
		sleep 0.2
	done
	[ "$code" = 401 ] || die "https://$hostport/v2/ answers $code, not 401"
	say "up at https://$hostport (pid $(cat "$dir/pid"))"
}

down() {
	local dir=$1 pid
	[ -f "$dir/pid" ] || return 0
	pid=$(cat "$dir/pid")
	if kill "$pid" 2>/dev/null; then
		for _ in $(seq 1 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$pid" 2>/dev/null || true
	fi
	rm -f "$dir/pid"
}

case ${1:-} in
init) init "${2:?DIR}" "${3:?ADDR:PORT}" ;;
up) up "${2:?DIR}" "${3:?ADDR:PORT}" ;;
down) down "${2:?DIR}" ;;
*) say "usage: $0 init|up DIR ADDR:PORT | down DIR"; exit 64 ;;
esac
