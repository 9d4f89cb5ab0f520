#!/usr/bin/env bash
# k8s-bin.sh: build the Kubernetes test binaries (etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, kubectl, kubelet, kube-proxy,
# kwok, helm) from the Go
# module proxy, with the version ldflags upstream's release builds use, into
# a per-version cache outside the repository. A binary already built at the
# wanted version is reused, so a warm run takes about a second.
#
# Usage: hack/k8s-bin.sh [build|path|versions]
#   build     (default) build what is missing, print the bin directory on stdout
#   path      print the bin directory, build nothing
#   versions  print the wanted version of every binary
#
# Versions. Kubernetes 1.36 (not 1.35): it is the newest minor the proxy
# serves that we may pick, it is built upstream with Go 1.26 (the Go this
# machine has, so no toolchain download), kwok v0.8.0 is built against the
# same k8s.io/* v0.36 modules, and it stays supported longest. etcd 3.6 is
# the minor kubeadm pairs with 1.34-1.36 (3.7 belongs to 1.37). helm v3
# because the chart targets helm 3 users; its own go.mod needs no wrapper.
#
# Environment: K8S_VERSION, ETCD_VERSION, KWOK_VERSION, HELM_VERSION override
# the versions below; XDG_CACHE_HOME moves the cache; K8S_BIN_SKIP (a list
# such as "kwok helm") leaves those binaries out.
set -Eeuo pipefail

K8S_VERSION=${K8S_VERSION:-1.36.3}
ETCD_VERSION=${ETCD_VERSION:-3.6.16}
KWOK_VERSION=${KWOK_VERSION:-0.8.0}
HELM_VERSION=${HELM_VERSION:-3.22.0}
K8S_BIN_SKIP=${K8S_BIN_SKIP:-}

PROG="k8s-bin"
ALL="etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet kube-proxy kwok helm"
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/chatmail-operator/k8s/v$K8S_VERSION
BIN=$CACHE/bin
SRC=$CACHE/src
LOG=$CACHE/build.log
STEP=start
GOMOD=""
T0=$SECONDS

# say prints one progress line on stderr.
say() { printf '%s: %s\n' "$PROG" "$*" >&2; }

# on_error names the step that broke and shows the end of the build log.
on_error() {
	local rc=$?
	# a failing command substitution reports through its parent, once
	[ "$BASHPID" = "$$" ] || exit "$rc"
	say "FAILED (exit $rc) at step: $STEP"
	if [ -s "$LOG" ]; then
		say "last lines of $LOG:"
		tail -n 40 "$LOG" >&2
	fi
	exit "$rc"
}

# step records and announces the current step.
step() {
	STEP=$*
	say "[$((SECONDS - T0))s] $STEP"
	printf '\n=== %s\n' "$STEP" >>"$LOG"
}

# run executes a command with its output in the build log.
run() {
	printf '+ %s\n' "$*" >>"$LOG"
	"$@" >>"$LOG" 2>&1
}

# go_env points every go command at the cache, offline from the repo.
go_env() {
	export GOMODCACHE=$CACHE/gomod GOCACHE=$CACHE/gocache
	export GOFLAGS="-modcacherw -buildvcs=false"
	export GOTOOLCHAIN=local GOWORK=off GO111MODULE=on CGO_ENABLED=0
	export GOPROXY=${GOPROXY:-https://proxy.golang.org}
	unset GOBIN GOOS GOARCH
}

# wanted prints the version a binary must have.
wanted() {
	case $1 in
	etcd) echo "v$ETCD_VERSION" ;;
	kwok) echo "v$KWOK_VERSION" ;;
	helm) echo "v$HELM_VERSION" ;;
	*) echo "v$K8S_VERSION" ;;
	esac
}

# skipped succeeds when K8S_BIN_SKIP names the binary.
skipped() { [[ " $K8S_BIN_SKIP " == *" $1 "* ]]; }

# present succeeds when the binary exists and was built at the wanted version.
present() {
	[ -x "$BIN/$1" ] && [ -f "$BIN/.$1.version" ] &&
		[ "$(cat "$BIN/.$1.version")" = "$(wanted "$1")" ]
}

# install_bin moves a fresh build into bin/ and records its version.
install_bin() { # name built-file
	mv -f "$2" "$BIN/$1"
	wanted "$1" >"$BIN/.$1.version"
}

# check_version runs the binary and insists its output names the version.
check_version() { # name expected-substring command...
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

# new_wrapper makes an empty wrapper module in $SRC/$1 and enters it.
new_wrapper() {
	rm -rf "${SRC:?}/$1"
	mkdir -p "$SRC/$1"
	cd "$SRC/$1"
	run go mod init "chatmail-operator.local/build/$1"
}

# build_etcd builds etcd from a wrapper module: etcd's server module carries
# replace directives, so `go install ...@version` refuses it.
build_etcd() {
	step "etcd v$ETCD_VERSION: wrapper module"
	new_wrapper etcd
	step "etcd v$ETCD_VERSION: resolve modules (downloads on a cold cache)"
	run go get -tool "go.etcd.io/etcd/server/v3@v$ETCD_VERSION"
	step "etcd v$ETCD_VERSION: compile"
	run go build -trimpath -o "$SRC/etcd/etcd" \
		-ldflags "-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=v$ETCD_VERSION" \
		go.etcd.io/etcd/server/v3
	install_bin etcd "$SRC/etcd/etcd"
}

# fetch_gomod downloads the go.mod of module@version and sets GOMOD to its
# path; a version the proxy does not serve is reported with the proxy's error.
fetch_gomod() { # module@version
	local json
	printf '+ go mod download -json %s\n' "$1" >>"$LOG"
	if ! json=$(go mod download -json "$1" 2>>"$LOG"); then
		say "the Go module proxy does not serve $1:"
		say "  $(jq -r '.Error // "unknown error"' <<<"$json" 2>/dev/null | head -n 3)"
		return 1
	fi
	GOMOD=$(jq -r .GoMod <<<"$json")
	[ -f "$GOMOD" ] || { say "no go.mod for $1"; return 1; }
}

# staging_modules prints the k8s.io staging modules a k8s.io/kubernetes
# go.mod requires at the placeholder version v0.0.0.
staging_modules() { # go.mod
	awk '$1 ~ /^k8s\.io\// && $2 == "v0.0.0" { print $1 }' "$1" | sort -u
}

# godebug_lines prints the godebug settings of a go.mod: they only apply in
# the main module, so the wrapper repeats k8s.io/kubernetes's.
godebug_lines() { # go.mod
	awk '$1 == "godebug" && $2 != "(" { print $2 }' "$1"
}

# build_k8s builds the missing Kubernetes commands in one go build, sharing
# the compiled packages, with the version variables hack/lib/version.sh sets.
build_k8s() { # command...
	local m mods minor v pkgs=() c
	step "kubernetes v$K8S_VERSION: fetch the published k8s.io/kubernetes go.mod"
	fetch_gomod "k8s.io/kubernetes@v$K8S_VERSION"
	step "kubernetes v$K8S_VERSION: wrapper module"
	new_wrapper kubernetes
	run go mod edit -go=1.26.0
	for v in $(godebug_lines "$GOMOD"); do run go mod edit -godebug="$v"; done
	step "kubernetes v$K8S_VERSION: staging replace list from k8s.io/kubernetes go.mod"
	mods=$(staging_modules "$GOMOD")
	[ -n "$mods" ] || { say "no staging modules found in $GOMOD"; return 1; }
	minor=${K8S_VERSION#1.}
	for m in $mods; do run go mod edit -replace="$m=$m@v0.$minor"; done
	say "  $(wc -w <<<"$mods") staging modules => v0.$minor"
	for c in "$@"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
	step "kubernetes v$K8S_VERSION: resolve modules (downloads on a cold cache)"
	run go get -tool "${pkgs[@]/%/@v$K8S_VERSION}"
	local X="" p
	for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
		X+=" -X $p.gitVersion=v$K8S_VERSION -X $p.gitMajor=1"
		X+=" -X $p.gitMinor=${minor%%.*} -X $p.gitTreeState=clean"
		X+=" -X $p.buildDate=1970-01-01T00:00:00Z"
	done
	step "kubernetes v$K8S_VERSION: compile $* (the long step on a cold cache)"
	mkdir -p "$SRC/kubernetes/out"
	run go build -trimpath -tags selinux,notest,grpcnotrace \
		-ldflags "-s -w$X" -o "$SRC/kubernetes/out/" "${pkgs[@]}"
	for c in "$@"; do install_bin "$c" "$SRC/kubernetes/out/$c"; done
}

# build_kwok installs kwok with go install: its go.mod has no replace.
build_kwok() {
	step "kwok v$KWOK_VERSION: go install (downloads and compiles)"
	mkdir -p "$SRC/kwok"
	cd "$SRC/kwok"
	run env GOBIN="$SRC/kwok" go install -trimpath \
		-ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=v$KWOK_VERSION" \
		"sigs.k8s.io/kwok/cmd/kwok@v$KWOK_VERSION"
	install_bin kwok "$SRC/kwok/kwok"
}

# build_helm installs helm 3 with the ldflags its Makefile sets: without the
# k8sVersion ones helm assumes Kubernetes v1.20 for kubeVersion checks.
build_helm() {
	local cg major minor p X=""
	mkdir -p "$SRC/helm"
	cd "$SRC/helm"
	step "helm v$HELM_VERSION: read the client-go version helm is built with"
	fetch_gomod "helm.sh/helm/v3@v$HELM_VERSION"
	cg=$(awk '$1 == "k8s.io/client-go" { print $2; exit }' "$GOMOD")
	[ -n "$cg" ] || { say "no k8s.io/client-go in $GOMOD"; return 1; }
	cg=${cg#v0.}
	major=1 minor=${cg%%.*}
	X="-X helm.sh/helm/v3/internal/version.version=v$HELM_VERSION"
	X+=" -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
	for p in pkg/lint/rules pkg/chartutil; do
		X+=" -X helm.sh/helm/v3/$p.k8sVersionMajor=$major"
		X+=" -X helm.sh/helm/v3/$p.k8sVersionMinor=$minor"
	done
	step "helm v$HELM_VERSION: go install (downloads and compiles)"
	mkdir -p "$SRC/helm"
	run env GOBIN="$SRC/helm" go install -trimpath -ldflags "-s -w $X" \
		"helm.sh/helm/v3/cmd/helm@v$HELM_VERSION"
	install_bin helm "$SRC/helm/helm"
}

# verify runs every binary's version command.
verify() {
	step "verify versions"
	local k="Kubernetes v$K8S_VERSION"
	local c
	if present etcd; then
		check_version etcd "etcd Version: $ETCD_VERSION" "$BIN/etcd" --version
	fi
	for c in kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy; do
		if present "$c"; then check_version "$c" "$k" "$BIN/$c" --version; fi
	done
	if present kubectl; then
		check_version kubectl "Client Version: v$K8S_VERSION" "$BIN/kubectl" version --client
	fi
	if present kwok; then check_version kwok "$KWOK_VERSION" "$BIN/kwok" --version; fi
	if present helm; then check_version helm "v$HELM_VERSION" "$BIN/helm" version --short; fi
}

# preflight checks the tools the build needs.
preflight() {
	local t
	for t in go jq flock; do
		command -v "$t" >/dev/null || { say "missing tool: $t (make deps)"; return 1; }
	done
	local gv
	gv=$(go env GOVERSION)
	case $gv in
	go1.2[6-9]* | go1.[3-9]*) ;;
	*) say "Go >= 1.26 needed for Kubernetes 1.36, found $gv"; return 1 ;;
	esac
}

# build brings every missing binary into $BIN.
build() {
	local k8s=() c missing=()
	trap on_error ERR
	mkdir -p "$BIN" "$SRC"
	step "preflight"
	preflight
	exec 9>"$CACHE/.lock"
	step "lock $CACHE (another build may hold it)"
	flock -w 5400 9 || { say "timed out waiting for the build lock"; return 1; }
	for c in $ALL; do
		skipped "$c" && continue
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
	for c in "${missing[@]}"; do
		case $c in
		kube-*) k8s+=("$c") ;;
		kubectl | kubelet) k8s+=("$c") ;;
		esac
	done
	if [[ " ${missing[*]} " == *" etcd "* ]]; then build_etcd; fi
	if [ ${#k8s[@]} -gt 0 ]; then build_k8s "${k8s[@]}"; fi
	if [[ " ${missing[*]} " == *" kwok "* ]]; then build_kwok; fi
	if [[ " ${missing[*]} " == *" helm "* ]]; then build_helm; fi
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
		for c in $ALL; do
			printf '%s %s\n' "$c" "$(wanted "$c")"
		done
		;;
	*)
		say "usage: $0 [build|path|versions]"
		exit 64
		;;
	esac
}

main "$@"
