#!/usr/bin/env bash
# node-images.sh: the images of the test node itself, and every image the
# node runs brought into its containerd, without a registry.
#
#   hack/node-images.sh build        build what is missing or stale:
#                                    the pause image (images/pause, our
#                                    static C program), CoreDNS and
#                                    local-path-provisioner (the binaries
#                                    hack/node-bin.sh built, FROM scratch)
#   hack/node-images.sh list [node|relay|all]
#                                    the image references, one a line
#   hack/node-images.sh import SOCKET [node|relay|all|REF...]
#                                    podman save | ctr images import into
#                                    the containerd at SOCKET (namespace
#                                    k8s.io), each image only when its
#                                    podman ID changed since the last
#                                    import into that containerd
#
# node: pause, CoreDNS, local-path-provisioner and the Debian base (the
# provisioner's helper Pod runs mkdir/rm in it); relay: every image of
# images/images.env (the operator's and the relay's). Image names are
# podman's (localhost/...), which is what the manifests and the operator
# name, with imagePullPolicy IfNotPresent: nothing is ever pulled.
# The import stamps live next to the containerd socket (in the node's
# state directory), so a fresh node imports everything once.
set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$TOP"
NODE_BIN=$(hack/node-bin.sh path)

say() { echo "node-images: $*" >&2; }
die() { say "$*"; exit 1; }

version() { # the project's image version (images.env's tag)
	local v
	v=$(sed -n 's/^SERVICES=//p' images/images.env)
	echo "${v##*:}"
}

node_version() { # node_version BINARY: the version node-bin.sh built
	local v
	v=$(cat "$NODE_BIN/.$1.version" 2>/dev/null) || die "$1 not built (hack/node-bin.sh)"
	echo "${v#v}"
}

PAUSE=localhost/chatmail-pause:$(version)
BASE=docker.io/library/debian:bookworm-slim

coredns_ref() { echo "localhost/chatmail-coredns:$(node_version coredns)"; }
local_path_ref() {
	echo "localhost/chatmail-local-path-provisioner:$(node_version local-path-provisioner)"
}

list() {
	case ${1:-all} in
	node) printf '%s\n' "$PAUSE" "$(coredns_ref)" "$(local_path_ref)" "$BASE" ;;
	relay) hack/images.sh --list | cut -d= -f2 ;;
	all) list node && list relay ;;
	*) die "unknown list $1 (node, relay, all)" ;;
	esac
}

# label_of REF KEY: a label of a podman image, empty when absent
label_of() {
	podman image inspect --format "{{index .Labels \"$2\"}}" "$1" 2>/dev/null || true
}

# build_pause: images/pause in the builder (gcc, static libc) when the
# source changed; the label records the hash of what it was built from
build_pause() {
	local sum builder
	sum=$(cat images/pause/pause.c images/pause/Containerfile | sha256sum | cut -c1-16)
	[ "$(label_of "$PAUSE" chatmail.source)" = "$sum" ] && return 0
	builder=localhost/chatmail-builder:$(version)
	podman image exists "$builder" || hack/images.sh services >&2
	say "building $PAUSE"
	podman build --pull=never -q --build-arg "BUILDER=$builder" \
		--build-arg "VERSION=$(version)" --label "chatmail.source=$sum" \
		-f images/pause/Containerfile -t "$PAUSE" . >/dev/null
}

# build_go REF BINARY: a node-bin.sh binary alone in a scratch image,
# rebuilt when the binary changed
build_go() {
	local ref=$1 bin=$2 sum
	sum=$(sha256sum "$NODE_BIN/$bin" | cut -c1-16)
	[ "$(label_of "$ref" chatmail.source)" = "$sum" ] && return 0
	say "building $ref"
	podman build --pull=never -q --build-arg "BINARY=$bin" --build-arg "TITLE=$bin" \
		--build-arg "VERSION=${ref##*:}" --label "chatmail.source=$sum" \
		-f images/node/Containerfile -t "$ref" "$NODE_BIN" >/dev/null
}

build() {
	command -v podman >/dev/null || die "podman missing (make deps)"
	hack/base-image.sh >/dev/null 2>&1 || hack/base-image.sh
	build_pause
	build_go "$(coredns_ref)" coredns
	build_go "$(local_path_ref)" local-path-provisioner
}

# import_one SOCKET STAMPDIR REF: import REF unless this containerd has
# the same podman image already
import_one() {
	local sock=$1 stamps=$2 ref=$3 id stamp tar
	id=$(podman image inspect --format '{{.Id}}' "$ref" 2>/dev/null) ||
		die "$ref missing in podman (make images / hack/node-images.sh build)"
	stamp=$stamps/$(echo "$ref" | tr '/:' '__').id
	if [ "$(cat "$stamp" 2>/dev/null)" = "$id" ] &&
		"$NODE_BIN/ctr" --address "$sock" -n k8s.io images check "name==$ref" 2>/dev/null |
		grep -q complete; then
		return 0
	fi
	tar=$stamps/import.tar
	podman save --format oci-archive -o "$tar" "$ref" >/dev/null 2>&1 ||
		{ rm -f "$tar"; die "podman save $ref failed"; }
	# (ctr warns on stderr, per command, that cgroup v1 is deprecated)
	"$NODE_BIN/ctr" --address "$sock" -n k8s.io images import "$tar" >/dev/null 2>"$stamps/import.err" ||
		{ rm -f "$tar"; cat "$stamps/import.err" >&2; die "ctr images import $ref failed"; }
	rm -f "$tar"
	echo "$id" >"$stamp"
	IMPORTED+=("$ref")
}

IMPORTED=()
import() {
	local sock=$1 stamps r t0=$SECONDS
	shift
	[ -S "$sock" ] || die "no containerd socket at $sock"
	stamps=$(dirname "$sock")/imported
	mkdir -p "$stamps"
	local refs=()
	case ${1:-all} in
	node | relay | all) mapfile -t refs < <(list "${1:-all}") ;;
	*) refs=("$@") ;;
	esac
	for r in "${refs[@]}"; do import_one "$sock" "$stamps" "$r"; done
	if [ ${#IMPORTED[@]} -gt 0 ]; then
		say "imported ${#IMPORTED[@]} image(s) in $((SECONDS - t0)) s: ${IMPORTED[*]}"
	fi
}

case ${1:-} in
build) build ;;
list) list "${2:-all}" ;;
import)
	[ -n "${2:-}" ] || die "usage: $0 import SOCKET [node|relay|all|REF...]"
	sock=$2
	shift 2
	import "$sock" "$@"
	;;
*)
	echo "usage: $0 build | list [node|relay|all] | import SOCKET [node|relay|all|REF...]" >&2
	exit 64
	;;
esac
