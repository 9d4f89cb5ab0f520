#!/usr/bin/env bash
# external-dns-crd.sh: external-dns's DNSEndpoint CRD
# (externaldns.k8s.io/v1alpha1), taken from the external-dns module on
# the Go module proxy at a pinned version (go mod download, checksum
# checked by the go command) and cached under
# ~/.cache/chatmail-operator/external-dns/<version>/ (flock-protected;
# a warm call prints the path at once). The envtest tier installs it to
# test spec.dns.externalDNS against the real schema.
#
#   hack/external-dns-crd.sh          fetch if missing, print the path
#
# EXTERNAL_DNS_VERSION overrides the version; GOPROXY the proxy.
#
# Only the CRD is used: external-dns itself is not built (v0.23.0 needs
# Go 1.27, and its build pulls in every DNS provider's SDK).
set -euo pipefail

VERSION=${EXTERNAL_DNS_VERSION:-v0.23.0}
MOD=sigs.k8s.io/external-dns
FILE=config/crd/standard/dnsendpoints.externaldns.k8s.io.yaml
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/chatmail-operator/external-dns
OUT=$CACHE/$VERSION/dnsendpoints.externaldns.k8s.io.yaml

say() { echo "external-dns-crd: $*" >&2; }

fetch() {
	local zip
	command -v go >/dev/null || { say "go missing"; exit 69; }
	say "fetching $MOD@$VERSION from the Go module proxy"
	# the module's go directive may be newer than the local toolchain:
	# go mod download still fetches and checks the zip, and says so in
	# .Error, which is not ours to fix (nothing is built)
	zip=$(
		export GOPATH=$CACHE/gopath GOMODCACHE=$CACHE/gopath/pkg/mod
		export GOFLAGS=-modcacherw GOWORK=off GOTOOLCHAIN=local
		export GOPROXY=${GOPROXY:-https://proxy.golang.org}
		cd "$CACHE"
		{ go mod download -json "$MOD@$VERSION" || true; } |
			jq -r '.Zip // empty'
	)
	if [ -z "$zip" ] || [ ! -f "$zip" ]; then
		say "no module zip for $MOD@$VERSION"
		exit 1
	fi
	mkdir -p "$CACHE/$VERSION"
	python3 - "$zip" "$MOD@$VERSION/$FILE" "$OUT.tmp" <<'EOF'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, open(sys.argv[3], "wb") as f:
    f.write(z.read(sys.argv[2]))
EOF
	grep -q 'name: dnsendpoints.externaldns.k8s.io' "$OUT.tmp" ||
		{ say "$FILE is not the DNSEndpoint CRD"; exit 1; }
	mv "$OUT.tmp" "$OUT"
}

mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9
[ -s "$OUT" ] || fetch
echo "$OUT"
