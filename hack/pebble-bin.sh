#!/usr/bin/env bash
# pebble-bin.sh: build Pebble, Let's Encrypt's ACME test server
# (github.com/letsencrypt/pebble/v2), from the Go module proxy into a
# per-version cache outside the repository, with its test certificates
# (the HTTPS certificate of its API and the CA that signed it, from the
# module's own test/certs/). A warm run takes about a second.
#
# Usage: hack/pebble-bin.sh [build|path]
#   build  (default) build if missing; print the cache directory on stdout:
#          bin/pebble, certs/pebble.minica.pem (trust it to reach the API),
#          certs/localhost/{cert,key}.pem (the API's certificate)
#   path   print the cache directory, build nothing
#
# Environment: PEBBLE_VERSION overrides the pinned version; XDG_CACHE_HOME
# moves the cache. Concurrent callers wait on a flock of the cache.
set -Eeuo pipefail

PEBBLE_VERSION=${PEBBLE_VERSION:-2.10.3}
MOD=github.com/letsencrypt/pebble/v2
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/chatmail-operator/pebble/v$PEBBLE_VERSION
LOG=$CACHE/build.log

say() { printf 'pebble-bin: %s\n' "$*" >&2; }

present() {
	[ -x "$CACHE/bin/pebble" ] && [ -s "$CACHE/certs/pebble.minica.pem" ] &&
		[ -s "$CACHE/certs/localhost/cert.pem" ] &&
		[ "$(cat "$CACHE/bin/.version" 2>/dev/null)" = "v$PEBBLE_VERSION" ]
}

build() {
	local t0=$SECONDS src
	export GOMODCACHE=$CACHE/gomod GOCACHE=$CACHE/gocache
	export GOFLAGS="-modcacherw -buildvcs=false" GOTOOLCHAIN=local GOWORK=off
	export GO111MODULE=on CGO_ENABLED=0
	export GOPROXY=${GOPROXY:-https://proxy.golang.org}
	unset GOBIN GOOS GOARCH
	command -v go >/dev/null || { say "go missing (make deps)"; return 69; }
	mkdir -p "$CACHE/bin" "$CACHE/certs"
	: >"$LOG"
	say "building $MOD/cmd/pebble@v$PEBBLE_VERSION (log: $LOG)"
	if ! GOBIN=$CACHE/bin go install -trimpath -ldflags "-s -w" \
		"$MOD/cmd/pebble@v$PEBBLE_VERSION" >>"$LOG" 2>&1; then
		say "build failed:"
		tail -n 20 "$LOG" >&2
		return 1
	fi
	src=$(go list -m -f '{{.Dir}}' "$MOD@v$PEBBLE_VERSION" 2>>"$LOG") || {
		say "module source not found"
		return 1
	}
	cp "$src/test/certs/pebble.minica.pem" "$CACHE/certs/"
	mkdir -p "$CACHE/certs/localhost"
	cp "$src/test/certs/localhost/cert.pem" "$src/test/certs/localhost/key.pem" \
		"$CACHE/certs/localhost/"
	chmod u+w -R "$CACHE/certs"
	echo "v$PEBBLE_VERSION" >"$CACHE/bin/.version"
	say "built in $((SECONDS - t0)) s"
}

case ${1:-build} in
path)
	echo "$CACHE"
	;;
build)
	mkdir -p "$CACHE"
	exec 9>"$CACHE.lock"
	flock 9
	present || build
	echo "$CACHE"
	;;
*)
	sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 64
	;;
esac
