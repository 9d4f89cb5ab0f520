#!/usr/bin/env bash
# test_configs: the rendered configs pass the daemons' own checkers with
# zero warnings: `postconf -c DIR -n`, `doveconf -c FILE -n`, `nginx -t`,
# for every ChatmailRelay of tests/data/render/ and crds/examples/,
# rendered for the Pod and for a local relay. Pod configs name absolute
# paths (/etc/chatmail/...), so they are checked in a private mount
# namespace where /etc is an overlay and /run a tmpfs: the host's /etc
# is never written.
# shellcheck source=tests/integration/lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source=tests/integration/relay/lib.sh
. "$(dirname "$0")/lib.sh"

[ -x "$BIN/relay-render" ] || { echo "1..0 # SKIP relay-render not built"; exit 0; }
for p in postconf doveconf nginx openssl unshare; do
	command -v "$p" >/dev/null || { echo "1..0 # SKIP $p missing"; exit 0; }
done
tap_init
relay_workdir relay-configs

# check_dir ROOT LABEL: the three checkers over a rendered tree at ROOT
# (its own paths inside), warnings are failures
check_dir() {
	local root=$1 label=$2 out f
	# Postfix waits for a config younger than ~2 s to settle
	for f in "$root"/postfix/*; do
		touch -d '10 seconds ago' "$f"
	done
	out=$(postconf -c "$root/postfix" -n 2>&1 >/dev/null)
	[ -z "$out" ]
	ok $? "$label: postconf -n, no warnings"
	[ -z "$out" ] || echo "$out" | head -n 5 | sed 's/^/# /'
	out=$(doveconf -c "$root/dovecot/dovecot.conf" -n 2>&1 >/dev/null)
	[ -z "$out" ]
	ok $? "$label: doveconf -n, no warnings"
	[ -z "$out" ] || echo "$out" | head -n 5 | sed 's/^/# /'
	out=$(env -u NGINX nginx -t -q -c "$root/nginx/nginx.conf" -e /dev/stderr 2>&1)
	rc=$?
	[ $rc -eq 0 ] && ! echo "$out" | grep -q '\[\(warn\|emerg\|alert\)\]'
	ok $? "$label: nginx -t, no warnings"
	[ $rc -eq 0 ] || echo "$out" | head -n 5 | sed 's/^/# /'
}

# a certificate the checkers can load
mkdir -p "$W/tls"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -noenc -days 2 \
	-keyout "$W/tls/key.pem" -out "$W/tls/cert.pem" -subj /CN=check.test \
	>/dev/null 2>&1

specs=()
for f in "$TOP"/tests/data/render/*/relay.yaml "$TOP"/crds/examples/*.yaml; do
	specs+=("$f")
done

# local target: everything under one directory
n=0
for f in "${specs[@]}"; do
	n=$((n + 1))
	r=$W/local$n
	mkdir -p "$r/tls" "$r/run/nginx" "$r/log"
	cp "$W/tls/"*.pem "$r/tls/"
	"$BIN/relay-render" -f "$f" --target local --root "$r" >"$W/render$n.log" 2>&1
	ok $? "render $(basename "$(dirname "$f")")/$(basename "$f") for a local relay"
	check_dir "$r" "local $(basename "$(dirname "$f")")/$(basename "$f")"
done

# Pod target: in a private mount namespace
if ! unshare --mount --propagation private true 2>/dev/null; then
	skip "Pod configs" "no mount namespaces here"
	tap_done
fi
cat >"$W/pod-check.sh" <<'EOF'
set -uo pipefail
W=$1 BIN=$2 TOP=$3
shift 3
mkdir -p "$W/ovl/upper" "$W/ovl/work"
mount -t overlay overlay -o "lowerdir=/etc,upperdir=$W/ovl/upper,workdir=$W/ovl/work" /etc || exit 99
mount -t tmpfs tmpfs /run || exit 99
. "$TOP/tests/integration/lib/common.sh"
. "$TOP/tests/integration/relay/lib.sh"
_tap_n=$START
EOF
declare -f check_dir >>"$W/pod-check.sh"
cat >>"$W/pod-check.sh" <<'EOF'
for f in "$@"; do
	rm -rf /etc/chatmail
	"$BIN/relay-render" -f "$f" --target pod --out /etc/chatmail >/dev/null 2>&1
	ok $? "render $(basename "$(dirname "$f")")/$(basename "$f") for the Pod"
	mkdir -p /etc/chatmail/tls /run/nginx
	cp "$W/tls/cert.pem" /etc/chatmail/tls/tls.crt
	cp "$W/tls/key.pem" /etc/chatmail/tls/tls.key
	check_dir /etc/chatmail "pod $(basename "$(dirname "$f")")/$(basename "$f")"
done
echo "N=$_tap_n F=$_tap_failed" >"$W/pod-result"
EOF
START=$_tap_n unshare --mount --propagation private \
	env START="$_tap_n" bash "$W/pod-check.sh" "$W" "$BIN" "$TOP" "${specs[@]}"
if [ -s "$W/pod-result" ]; then
	# shellcheck disable=SC1091
	. "$W/pod-result"
	_tap_n=$N
	[ "$F" -eq 0 ] || _tap_failed=1
else
	ok 1 "Pod configs checked in a mount namespace (overlay /etc)"
fi
tap_done
