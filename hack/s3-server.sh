#!/usr/bin/env bash
# s3-server.sh: a real S3 server for the backup tests: Versity's S3
# gateway (versitygw, Apache-2.0) with its posix backend, built once from
# the Go module proxy into ~/.cache/chatmail-operator/s3/ (flock-protected;
# a warm run takes well under a second). MinIO's server is AGPL and
# Garage is not on crates.io in a buildable form here; versitygw is a
# plain `go install`. A bucket is a directory of the backend; objects are
# files with their metadata in extended attributes.
#
# Usage:
#   hack/s3-server.sh build            build if missing, print the binary
#   hack/s3-server.sh path             print the binary's path, build nothing
#   hack/s3-server.sh start DIR ADDR:PORT [NETNS]
#                                      serve DIR (buckets are its
#                                      subdirectories) over plain HTTP on
#                                      ADDR:PORT (inside NETNS when given);
#                                      access key "chatmail", secret in
#                                      DIR/.secret (made once); the PID in
#                                      DIR/.pid; waits until it answers
#   hack/s3-server.sh stop DIR         stop the server started on DIR
#   hack/s3-server.sh env DIR ADDR:PORT
#                                      the AWS_* variables restic needs
#
# Environment: VERSITYGW_VERSION (default below), XDG_CACHE_HOME.
# Exit codes: 0, 64 usage, 69 the build failed, 75 the server did not
# come up.
set -euo pipefail

VERSION=${VERSITYGW_VERSION:-1.8.0}
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/chatmail-operator/s3
BIN=$CACHE/bin/versitygw
LOG=$CACHE/build.log
ACCESS=chatmail

say() { echo "s3-server: $*" >&2; }

present() { [ -x "$BIN" ] && [ "$(cat "$BIN.version" 2>/dev/null)" = "v$VERSION" ]; }

build() {
	present && return 0
	mkdir -p "$CACHE/bin"
	exec 9>"$CACHE/.lock"
	flock 9
	present && return 0
	local t0=$SECONDS
	say "building versitygw v$VERSION from the Go module proxy (cold: minutes)"
	if ! (
		export GOMODCACHE=$CACHE/gomod GOCACHE=$CACHE/gocache GOPATH=$CACHE/gopath
		export GOFLAGS="-modcacherw -buildvcs=false" GOTOOLCHAIN=local GOWORK=off
		export CGO_ENABLED=0 GOBIN=$CACHE/bin
		nice -n 10 go install -p 2 -trimpath -ldflags "-s -w" \
			"github.com/versity/versitygw/cmd/versitygw@v$VERSION"
	) >"$LOG" 2>&1; then
		say "build failed; last lines of $LOG:"
		tail -n 20 "$LOG" >&2
		exit 69
	fi
	echo "v$VERSION" >"$BIN.version"
	say "built in $((SECONDS - t0)) s"
}

secret_of() { # secret_of DIR: made once per server directory
	[ -s "$1/.secret" ] || head -c 24 /dev/urandom | base64 | tr -d '/+=' >"$1/.secret"
	cat "$1/.secret"
}

cmd_start() {
	local dir=$1 listen=$2 ns=${3:-} pre=() i
	build
	mkdir -p "$dir"
	[ -n "$ns" ] && pre=(ip netns exec "$ns")
	"${pre[@]}" "$BIN" --access "$ACCESS" --secret "$(secret_of "$dir")" \
		--port "$listen" posix "$dir" </dev/null >"$dir/.log" 2>&1 &
	echo $! >"$dir/.pid"
	for ((i = 0; i < 100; i++)); do
		if curl -s -o /dev/null --max-time 1 "http://$listen/"; then
			say "versitygw on http://$listen serving $dir (PID $(cat "$dir/.pid"))"
			return 0
		fi
		kill -0 "$(cat "$dir/.pid")" 2>/dev/null || break
		sleep 0.2
	done
	say "versitygw did not answer on $listen:"
	tail -n 5 "$dir/.log" >&2
	cmd_stop "$dir"
	exit 75
}

cmd_stop() {
	local dir=$1 pid
	[ -s "$dir/.pid" ] || return 0
	pid=$(cat "$dir/.pid")
	kill "$pid" 2>/dev/null || true
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.2
	done
	kill -9 "$pid" 2>/dev/null || true
	rm -f "$dir/.pid"
}

case ${1:-} in
build) build && echo "$BIN" ;;
path) echo "$BIN" ;;
start) [ $# -ge 3 ] || exit 64; cmd_start "$2" "$3" "${4:-}" ;;
stop) [ $# -eq 2 ] || exit 64; cmd_stop "$2" ;;
env)
	[ $# -eq 3 ] || exit 64
	echo "AWS_ACCESS_KEY_ID=$ACCESS"
	echo "AWS_SECRET_ACCESS_KEY=$(secret_of "$2")"
	echo "AWS_DEFAULT_REGION=us-east-1"
	;;
*) sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 64 ;;
esac
