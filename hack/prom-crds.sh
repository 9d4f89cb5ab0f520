#!/usr/bin/env bash
# prom-crds.sh: the Prometheus Operator's own PodMonitor and
# ServiceMonitor CRDs (example/prometheus-operator-crd/ of its Go module,
# fetched with `go mod download` from the Go module proxy and verified
# against sum.golang.org), for the envtest tier's "the operator creates
# a PodMonitor only when the CRD exists" checks. Cached per version
# under ~/.cache/chatmail-operator/prom-crds/; a warm run reads nothing
# from the network.
#
# Usage: hack/prom-crds.sh [dir]
#   prints the directory holding monitoring.coreos.com_podmonitors.yaml
#   and monitoring.coreos.com_servicemonitors.yaml
#
# Environment: PROM_OPERATOR_VERSION (v0.85.0), XDG_CACHE_HOME, GOPROXY.
set -Eeuo pipefail

VERSION=${PROM_OPERATOR_VERSION:-v0.85.0}
MOD=github.com/prometheus-operator/prometheus-operator
TOP=${XDG_CACHE_HOME:-$HOME/.cache}/chatmail-operator/prom-crds
OUT=$TOP/$VERSION
FILES="monitoring.coreos.com_podmonitors.yaml monitoring.coreos.com_servicemonitors.yaml"

# have: every CRD file is in the cache
have() {
	local f
	for f in $FILES; do
		[ -s "$OUT/$f" ] || return 1
	done
}

mkdir -p "$TOP"
exec 9>"$TOP/.lock"
flock 9
if ! have; then
	command -v go >/dev/null || {
		echo "prom-crds: go is needed (hack/deps.sh)" >&2
		exit 1
	}
	export GOMODCACHE=$TOP/gomod GOFLAGS=-modcacherw GOTOOLCHAIN=local
	export GOWORK=off GO111MODULE=on
	export GOPROXY=${GOPROXY:-https://proxy.golang.org}
	dir=$(cd "$TOP" && go mod download -json "$MOD@$VERSION" |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
	[ -d "$dir" ] || {
		echo "prom-crds: go mod download $MOD@$VERSION gave no directory" >&2
		exit 1
	}
	mkdir -p "$OUT.tmp"
	for f in $FILES; do
		install -m 0644 "$dir/example/prometheus-operator-crd/$f" "$OUT.tmp/$f"
	done
	rm -rf "$OUT"
	mv "$OUT.tmp" "$OUT"
	# the module's sources are not needed once the CRDs are out
	chmod -R u+w "$TOP/gomod" && rm -rf "$TOP/gomod"
fi
echo "$OUT"
