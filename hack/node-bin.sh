#!/usr/bin/env bash
# node-bin.sh: build the pieces of the test node that are not Kubernetes
# commands (hack/k8s-bin.sh builds kubelet and kube-proxy with the control
# plane) from the Go module proxy, into a per-version cache outside the
# repository: containerd 2.x with ctr and its runc shim, crictl, CoreDNS
# and Rancher's local-path-provisioner. A binary already built at the
# wanted version is reused, so a warm run takes well under a second.
# runc and the CNI plugins come from Debian (hack/deps.sh).
#
# Usage: hack/node-bin.sh [build|path|versions]
#   build     (default) build what is missing, print the bin directory
#   path      print the bin directory, build nothing
#   versions  print the wanted version of every binary
#
# How each is built (each module's go.mod has no replace or exclude, so a
# plain `go install module/cmd@version` builds exactly what upstream
# tagged):
#   containerd, ctr     go install .../containerd/v2/cmd/{containerd,ctr},
#                       static (osusergo netgo, no cgo: no btrfs), with
#                       upstream's version ldflags
#   containerd-shim-runc-v2
#                       the same, plus the no_grpc tag of upstream's
#                       Makefile for the shim
#   crictl              go install sigs.k8s.io/cri-tools/cmd/crictl
#   coredns             a ten-line main of our own linking the plugins the
#                       node's Corefile uses (kubernetes, forward, cache,
#                       errors, log, health, ready, reload, loop,
#                       loadbalance), as CoreDNS documents for custom
#                       builds: the full plugin set would compile three
#                       cloud SDKs nobody here uses
#   local-path-provisioner
#                       go install github.com/rancher/local-path-provisioner
#
# Environment: CONTAINERD_VERSION, CRICTL_VERSION, COREDNS_VERSION,
# LOCAL_PATH_VERSION override the versions below; XDG_CACHE_HOME moves
# the cache (~/.cache/chatmail-operator/node).
set -Eeuo pipefail

CONTAINERD_VERSION=${CONTAINERD_VERSION:-2.4.2}
CRICTL_VERSION=${CRICTL_VERSION:-1.37.0}
COREDNS_VERSION=${COREDNS_VERSION:-1.15.0}
LOCAL_PATH_VERSION=${LOCAL_PATH_VERSION:-0.0.37}

PROG="node-bin"
ALL="containerd ctr containerd-shim-runc-v2 crictl coredns local-path-provisioner"
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/chatmail-operator/node
BIN=$CACHE/bin
SRC=$CACHE/src
LOG=$CACHE/build.log
STEP=start
T0=$SECONDS

say() { printf '%s: %s\n' "$PROG" "$*" >&2; }

# on_error names the step that broke and shows the end of the build log.
on_error() {
	local rc=$?
	[ "$BASHPID" = "$$" ] || exit "$rc"
	say "FAILED (exit $rc) at step: $STEP"
	if [ -s "$LOG" ]; then
		say "last lines of $LOG:"
		tail -n 40 "$LOG" >&2
	fi
	exit "$rc"
}

step() {
	STEP=$*
	say "[$((SECONDS - T0))s] $STEP"
	printf '\n=== %s\n' "$STEP" >>"$LOG"
}

run() {
	printf '+ %s\n' "$*" >>"$LOG"
	"$@" >>"$LOG" 2>&1
}

go_env() {
	export GOMODCACHE=$CACHE/gomod GOCACHE=$CACHE/gocache GOPATH=$CACHE/gopath
	export GOFLAGS="-modcacherw -buildvcs=false"
	export GOTOOLCHAIN=local GOWORK=off GO111MODULE=on CGO_ENABLED=0
	export GOPROXY=${GOPROXY:-https://proxy.golang.org}
	unset GOBIN GOOS GOARCH
}

wanted() {
	case $1 in
	containerd | ctr | containerd-shim-runc-v2) echo "v$CONTAINERD_VERSION" ;;
	crictl) echo "v$CRICTL_VERSION" ;;
	coredns) echo "v$COREDNS_VERSION" ;;
	local-path-provisioner) echo "v$LOCAL_PATH_VERSION" ;;
	*) return 1 ;;
	esac
}

present() {
	[ -x "$BIN/$1" ] && [ -f "$BIN/.$1.version" ] &&
		[ "$(cat "$BIN/.$1.version")" = "$(wanted "$1")" ]
}

install_bin() { # name built-file
	mv -f "$2" "$BIN/$1"
	wanted "$1" >"$BIN/.$1.version"
}

# gobuild_install DIR TAGS LDFLAGS PKG@VERSION: go install into DIR
gobuild_install() {
	mkdir -p "$1"
	run env GOBIN="$1" go install -trimpath -tags "$2" -ldflags "$3" "$4"
}

build_containerd() {
	local m=github.com/containerd/containerd/v2 v=v$CONTAINERD_VERSION ld out=$SRC/containerd
	ld="-s -w -X $m/version.Version=$v -X $m/version.Revision=$v -X $m/version.Package=$m"
	rm -rf "$out"
	step "containerd $v: go install cmd/containerd cmd/ctr (downloads on a cold cache)"
	gobuild_install "$out" "urfave_cli_no_docs no_btrfs osusergo netgo static_build" "$ld" \
		"$m/cmd/containerd@$v"
	gobuild_install "$out" "urfave_cli_no_docs no_btrfs osusergo netgo static_build" "$ld" \
		"$m/cmd/ctr@$v"
	step "containerd $v: go install cmd/containerd-shim-runc-v2 (no_grpc)"
	gobuild_install "$out" "urfave_cli_no_docs no_btrfs osusergo netgo static_build no_grpc" \
		"$ld" "$m/cmd/containerd-shim-runc-v2@$v"
	install_bin containerd "$out/containerd"
	install_bin ctr "$out/ctr"
	install_bin containerd-shim-runc-v2 "$out/containerd-shim-runc-v2"
}

build_crictl() {
	local v=v$CRICTL_VERSION out=$SRC/crictl
	rm -rf "$out"
	step "crictl $v: go install sigs.k8s.io/cri-tools/cmd/crictl"
	gobuild_install "$out" "" "-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=$v" \
		"sigs.k8s.io/cri-tools/cmd/crictl@$v"
	install_bin crictl "$out/crictl"
}

# build_coredns: a main package of our own with the plugins the node's
# Corefile names, in CoreDNS's plugin.cfg order (dnsserver.Directives is
# the order plugins run in a server block)
build_coredns() {
	local v=v$COREDNS_VERSION dir=$SRC/coredns p
	local plugins="reload ready health errors log loadbalance cache kubernetes loop forward"
	rm -rf "$dir"
	mkdir -p "$dir"
	step "coredns $v: wrapper module with $(wc -w <<<"$plugins") plugins"
	{
		echo "// Generated by hack/node-bin.sh: CoreDNS $v with the test node's plugins."
		echo "package main"
		echo
		echo "import ("
		echo '	"github.com/coredns/coredns/core/dnsserver"'
		echo '	"github.com/coredns/coredns/coremain"'
		for p in $plugins; do echo "	_ \"github.com/coredns/coredns/plugin/$p\""; done
		echo ")"
		echo
		echo "func init() {"
		printf '\tdnsserver.Directives = []string{'
		# shellcheck disable=SC2086 # one argument per plugin
		printf '"%s", ' $plugins | sed 's/, $//'
		echo "}"
		echo "}"
		echo
		echo "func main() { coremain.Run() }"
	} >"$dir/main.go"
	(cd "$dir" && run go mod init chatmail-operator.local/build/coredns &&
		run go get "github.com/coredns/coredns@$v" && run go mod tidy)
	step "coredns $v: compile"
	(cd "$dir" && run go build -trimpath -tags "osusergo netgo" -ldflags "-s -w" -o "$dir/coredns" .)
	install_bin coredns "$dir/coredns"
}

build_local_path() {
	local v=v$LOCAL_PATH_VERSION out=$SRC/local-path
	rm -rf "$out"
	step "local-path-provisioner $v: go install"
	gobuild_install "$out" "osusergo netgo" "-s -w -X main.VERSION=$v" \
		"github.com/rancher/local-path-provisioner@$v"
	install_bin local-path-provisioner "$out/local-path-provisioner"
}

check_version() { # name expected command...
	local name=$1 want=$2 out
	shift 2
	out=$("$@" 2>&1 | head -n 3) || true
	if [[ $out != *"$want"* ]]; then
		say "$name reports '$out', expected '$want'"
		rm -f "$BIN/.$name.version"
		return 1
	fi
	say "  $name: $(printf '%s' "$out" | head -n 1)"
}

verify() {
	step "verify versions"
	present containerd && check_version containerd "v$CONTAINERD_VERSION" "$BIN/containerd" --version
	present ctr && check_version ctr "v$CONTAINERD_VERSION" "$BIN/ctr" --version
	present containerd-shim-runc-v2 && check_version containerd-shim-runc-v2 \
		"v$CONTAINERD_VERSION" "$BIN/containerd-shim-runc-v2" -v
	present crictl && check_version crictl "v$CRICTL_VERSION" "$BIN/crictl" --version
	present coredns && check_version coredns "CoreDNS-$COREDNS_VERSION" "$BIN/coredns" -version
	present local-path-provisioner && check_version local-path-provisioner \
		"v$LOCAL_PATH_VERSION" "$BIN/local-path-provisioner" --version
	return 0
}

preflight() {
	local t gv
	for t in go flock; do
		command -v "$t" >/dev/null || { say "missing tool: $t (make deps)"; return 1; }
	done
	gv=$(go env GOVERSION)
	case $gv in
	go1.2[6-9]* | go1.[3-9]*) ;;
	*) say "Go >= 1.26 needed (containerd $CONTAINERD_VERSION), found $gv"; return 1 ;;
	esac
}

build() {
	local c missing=()
	trap on_error ERR
	mkdir -p "$BIN" "$SRC"
	step "preflight"
	preflight
	exec 9>"$CACHE/.lock"
	step "lock $CACHE (another build may hold it)"
	flock -w 3600 9 || { say "timed out waiting for the build lock"; return 1; }
	for c in $ALL; do
		present "$c" || missing+=("$c")
	done
	if [ ${#missing[@]} -eq 0 ]; then
		say "all binaries present in $BIN"
		printf '%s\n' "$BIN"
		return 0
	fi
	: >"$LOG"
	say "building: ${missing[*]} (log: $LOG)"
	go_env
	if [[ " ${missing[*]} " == *" containerd"* || " ${missing[*]} " == *" ctr "* ]]; then
		build_containerd
	fi
	if [[ " ${missing[*]} " == *" crictl "* ]]; then build_crictl; fi
	if [[ " ${missing[*]} " == *" coredns "* ]]; then build_coredns; fi
	if [[ " ${missing[*]} " == *" local-path-provisioner "* ]]; then build_local_path; fi
	verify
	step "done in $((SECONDS - T0))s; cache $(du -sh "$CACHE" | cut -f1)"
	# the cold cost, for make bench (tests/bench/bench_node.sh)
	printf '%s built %s in %d s, %d cores\n' "$(date -u +%FT%TZ)" "${missing[*]}" \
		$((SECONDS - T0)) "$(nproc)" >>"$CACHE/builds.log"
	printf '%s\n' "$BIN"
}

main() {
	case ${1:-build} in
	build) build ;;
	path) printf '%s\n' "$BIN" ;;
	versions)
		local c
		for c in $ALL; do printf '%s %s\n' "$c" "$(wanted "$c")"; done
		;;
	*)
		say "usage: $0 [build|path|versions]"
		exit 64
		;;
	esac
}

main "$@"
