#!/usr/bin/env bash
# images.sh: make images. Builds the local Debian base (hack/base-image.sh),
# the builder (every C program compiled once, distroless root file systems
# laid out), then the runtime images, tagged as images/images.env says
# (the same list the operator compiles in and the chart's values use).
# podman only, --pull=never: nothing comes from a registry. Layers are
# cached by podman: a warm run with unchanged sources takes seconds; a
# source change rebuilds the builder's compile step and what copies from it.
#
#   hack/images.sh [NAME...]   NAME: services operator postfix dovecot nginx
#                              iroh-relay (default: all of them)
#   hack/images.sh --list      print KEY=name:tag of every image
#
# Environment:
#   IMAGES_FROM=worktree|head  build from the working tree (default) or
#                              from the committed HEAD (git archive): what
#                              a clean clone would build
#   IMAGES_CI=true|false       warnings are errors in the builder (default
#                              true, as `make test`)
# The last lines are a table: image, size, build seconds.
#
# iroh-relay is not built from this repository: hack/iroh-relay-bin.sh
# compiles it from crates.io into ~/.cache/chatmail-operator/iroh-relay
# (about 7 min on a cold cache, a second when warm), and the image's
# build context is build/images/iroh-relay/ with that one binary.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "images: $*" >&2; }

# image_ref KEY: the name:tag for KEY in images/images.env
image_ref() {
	local v
	v=$(sed -n "s/^$1=//p" images/images.env)
	[ -n "$v" ] || { say "images.env has no $1"; exit 1; }
	echo "$v"
}

key_of() { # key_of NAME: the images.env key of an image directory
	case $1 in
	services | operator | postfix | dovecot | nginx) echo "${1^^}" ;;
	iroh-relay) echo IROH_RELAY ;;
	*) return 1 ;;
	esac
}

ALL=(services operator postfix dovecot nginx iroh-relay)
if [ "${1:-}" = --list ]; then
	for n in "${ALL[@]}"; do echo "$(key_of "$n")=$(image_ref "$(key_of "$n")")"; done
	exit 0
fi
names=("$@")
[ ${#names[@]} -gt 0 ] || names=("${ALL[@]}")
for n in "${names[@]}"; do
	key_of "$n" >/dev/null || { say "unknown image $n (${ALL[*]})"; exit 64; }
done

command -v podman >/dev/null || { say "podman missing (make deps)"; exit 69; }
t0=$SECONDS
hack/base-image.sh

version=$(image_ref SERVICES)
version=${version##*:}
builder=localhost/chatmail-builder:$version
revision=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)

ctx=.
case ${IMAGES_FROM:-worktree} in
worktree)
	if [ -n "$(git status --porcelain -- services operator relay dovecot images Makefile 2>/dev/null)" ]; then
		revision=$revision-dirty
	fi
	;;
head)
	# exactly the committed tree, as a clean clone has it
	ctx=build/images/context
	rm -rf "$ctx"
	mkdir -p "$ctx"
	git archive HEAD Makefile hack services operator relay dovecot images .containerignore |
		tar -x -C "$ctx"
	;;
*) say "IMAGES_FROM must be worktree or head"; exit 64 ;;
esac

report=()
# iroh_context: build/images/iroh-relay/ with the iroh-relay binary
iroh_context() {
	local bin dir=build/images/iroh-relay
	bin=$(hack/iroh-relay-bin.sh build) || { say "iroh-relay build failed"; exit 1; }
	mkdir -p "$dir"
	cmp -s "$bin" "$dir/iroh-relay" || cp -f "$bin" "$dir/iroh-relay"
	echo "$dir"
}

build() { # build NAME TAG
	local name=$1 tag=$2 start size c=$ctx extra=()
	start=$SECONDS
	if [ "$name" = iroh-relay ]; then
		c=$(iroh_context)
		extra=(--build-arg "IROH_RELAY_VERSION=$(hack/iroh-relay-bin.sh version)")
	fi
	say "building $tag from images/$name/Containerfile"
	if ! podman build --pull=never --layers -q "${extra[@]}" \
		--build-arg "VERSION=$version" --build-arg "REVISION=$revision" \
		--build-arg "BUILDER=$builder" --build-arg "CI=${IMAGES_CI:-true}" \
		-f "images/$name/Containerfile" -t "$tag" "$c" >build/images/"$name".log 2>&1; then
		tail -n 30 build/images/"$name".log >&2
		say "FAILED: $tag (log: build/images/$name.log)"
		exit 1
	fi
	size=$(podman image inspect --format '{{.Size}}' "$tag")
	report+=("$(printf '%-42s %6.1f MB %4d s' "$tag" "$(awk "BEGIN{print $size / 1000000}")" $((SECONDS - start)))")
}

mkdir -p build/images
build builder "$builder"
for n in "${names[@]}"; do
	build "$n" "$(image_ref "$(key_of "$n")")"
done
# superseded images (untagged, no child): the layer cache of the current
# tags stays (its images have children), disk use does not grow per build
podman image prune -f >/dev/null 2>&1 || true
say "built in $((SECONDS - t0)) s (revision $revision):"
printf '  %s\n' "${report[@]}" >&2
