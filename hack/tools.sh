#!/usr/bin/env bash
# tools.sh: small Go tools the checks need, built once from the Go module
# proxy (go install at a pinned version, no replace directives needed) and
# cached outside the repository like the Kubernetes binaries
# (~/.cache/chatmail-operator/tools/<name>-<version>/).
#
#   hack/tools.sh actionlint        build if missing, print the binary's path
#   hack/tools.sh path actionlint   print the path, build nothing
#   hack/tools.sh run actionlint [ARGS]
#                                   build if missing, run it (without
#                                   arguments actionlint checks every file
#                                   in .github/workflows, shellcheck on
#                                   their run: scripts)
#
# ACTIONLINT_VERSION overrides the version; GOPROXY the proxy.
set -euo pipefail

ACTIONLINT_VERSION=${ACTIONLINT_VERSION:-1.7.12}
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/chatmail-operator/tools

say() { echo "tools: $*" >&2; }

# module NAME: the go install path and the version of a tool
module() {
	case $1 in
	actionlint) echo "github.com/rhysd/actionlint/cmd/actionlint v$ACTIONLINT_VERSION" ;;
	*) say "unknown tool $1"; exit 64 ;;
	esac
}

# tool_path NAME: where the binary of NAME at its version lives
tool_path() {
	local pkg ver
	read -r pkg ver <<<"$(module "$1")"
	echo "$CACHE/$1-$ver/$1"
}

build() { # build NAME: go install into the cache (its own GOPATH)
	local pkg ver dir t0=$SECONDS
	read -r pkg ver <<<"$(module "$1")"
	dir=$CACHE/$1-$ver
	command -v go >/dev/null || { say "go missing: cannot build $1"; exit 69; }
	say "building $1 $ver from the Go module proxy"
	mkdir -p "$dir"
	(
		export GOPATH=$CACHE/gopath GOMODCACHE=$CACHE/gopath/pkg/mod
		export GOCACHE=$CACHE/gocache GOFLAGS=-modcacherw GOWORK=off
		export GOTOOLCHAIN=local CGO_ENABLED=0 GOBIN=$dir.tmp
		export GOPROXY=${GOPROXY:-https://proxy.golang.org}
		go install -trimpath -ldflags "-s -w" "$pkg@$ver"
	) >"$dir.log" 2>&1 || { tail -n 20 "$dir.log" >&2; say "FAILED: $1"; exit 1; }
	mv "$dir.tmp/$1" "$dir/$1"
	rmdir "$dir.tmp"
	say "$1 $ver built in $((SECONDS - t0)) s"
}

case ${1:-} in
path) tool_path "${2:?tool name}" ;;
actionlint)
	p=$(tool_path "$1")
	[ -x "$p" ] || build "$1"
	echo "$p"
	;;
run)
	p=$(tool_path "${2:?tool name}")
	[ -x "$p" ] || build "$2"
	shift 2
	cd "$(dirname "$0")/.."
	exec "$p" "$@"
	;;
*)
	echo "usage: $0 actionlint | path NAME | run NAME [ARGS]" >&2
	exit 64
	;;
esac
