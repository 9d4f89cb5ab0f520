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
#   IMAGES_ARCH=amd64|arm64    the target architecture (default amd64).
#                              arm64: tags get a -arm64 suffix; the C
#                              programs are cross-compiled in an amd64
#                              builder (localhost/chatmail-builder:<v>-arm64,
#                              Debian's aarch64 toolchain); the Debian images
#                              start from the arm64 base (hack/base-image.sh)
#                              and their RUN steps run under qemu-user-static
#                              (hack/binfmt.sh); iroh-relay is cross-compiled
#                              by hack/iroh-relay-bin.sh
#   IMAGES_TAG=TAG             the tag of every image instead of images.env's
#                              (make release: VERSION); also the version label
#   SOURCE_DATE_EPOCH=N        reproducible images: every created time and
#                              file time in new layers is N (podman build
#                              --timestamp), the SBOMs' time too
#   IMAGES_NO_CACHE=1          build every layer again (podman --no-cache)
#   IMAGES_NO_CACHE=sources    the same, except that the builder's Debian
#                              packages (its apt-get layer) may come from
#                              the cache: its compile step and every
#                              image's own steps run again (the release
#                              test's reproducibility check)
# The last lines are a table: image, size, build seconds.
#
# iroh-relay is not built from this repository: hack/iroh-relay-bin.sh
# compiles it from crates.io into ~/.cache/chatmail-operator/iroh-relay
# (about 7 min on a cold cache, a second when warm), and the image's
# build context is build/images/iroh-relay/ with that one binary.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "images: $*" >&2; }

ARCH=${IMAGES_ARCH:-amd64}
case $ARCH in
amd64) SUFFIX= ;;
arm64) SUFFIX=-arm64 ;;
*) say "IMAGES_ARCH must be amd64 or arm64"; exit 64 ;;
esac

# image_ref KEY: the name:tag for KEY in images/images.env (the tag
# replaced by IMAGES_TAG, -arm64 appended for arm64)
image_ref() {
	local v
	v=$(sed -n "s/^$1=//p" images/images.env)
	[ -n "$v" ] || { say "images.env has no $1"; exit 1; }
	[ -z "${IMAGES_TAG:-}" ] || v=${v%:*}:$IMAGES_TAG
	echo "$v$SUFFIX"
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
# the builder always runs on the amd64 base; the Debian images of arm64
# need the arm64 base (its first build runs dpkg under emulation), the
# images FROM scratch do not
hack/base-image.sh
base=$(BASE_ARCH=$ARCH hack/base-image.sh --tag)
if [ "$ARCH" != amd64 ] && [[ " ${names[*]} " =~ \ (postfix|dovecot|nginx)\  ]]; then
	BASE_ARCH=$ARCH hack/base-image.sh
	hack/binfmt.sh # their RUN steps run arm64 programs
fi

version=$(image_ref SERVICES)
version=${version##*:}
version=${version%"$SUFFIX"}
builder=localhost/chatmail-builder:$version$SUFFIX
opts=()
if [ -n "${SOURCE_DATE_EPOCH:-}" ]; then
	opts+=(--timestamp "$SOURCE_DATE_EPOCH" --build-arg "SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH")
fi
rebuild=
case ${IMAGES_NO_CACHE:-0} in
0) ;;
1) opts+=(--no-cache) ;;
sources) rebuild=$(date +%s.%N) ;;
*) say "IMAGES_NO_CACHE must be 0, 1 or sources"; exit 64 ;;
esac
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
	# tar.umask 0022: the modes of a checkout (git archive defaults to
	# 0002), so that the builder's COPY steps hit make images' cache
	git -c tar.umask=0022 archive HEAD Makefile hack services operator relay dovecot images .containerignore |
		tar -x -C "$ctx"
	;;
*) say "IMAGES_FROM must be worktree or head"; exit 64 ;;
esac

report=()
# iroh_context: build/images/iroh-relay/ with the iroh-relay binary
iroh_context() {
	local bin dir=build/images/iroh-relay$SUFFIX
	bin=$(IROH_RELAY_ARCH=$ARCH hack/iroh-relay-bin.sh build) ||
		{ say "iroh-relay build failed"; exit 1; }
	mkdir -p "$dir"
	cmp -s "$bin" "$dir/iroh-relay" || cp -f "$bin" "$dir/iroh-relay"
	echo "$dir"
}

build() { # build NAME TAG
	local name=$1 tag=$2 start size c=$ctx extra=() log=build/images/$1$SUFFIX.log attempt
	start=$SECONDS
	if [ "$name" = iroh-relay ]; then
		c=$(iroh_context)
		extra=(--build-arg "IROH_RELAY_VERSION=$(hack/iroh-relay-bin.sh version)")
	fi
	# the builder runs on this machine's architecture (it cross-compiles);
	# every other image is of the target's
	if [ "$name" = builder ]; then
		extra+=(--build-arg "ARCH=$ARCH")
		# a new value runs the compile step again (REBUILD is in its
		# cache key), not the apt-get layer above it
		[ -z "$rebuild" ] || extra+=(--build-arg "REBUILD=$rebuild")
	else
		extra+=(--platform "linux/$ARCH")
		[ -z "$rebuild" ] || extra+=(--no-cache)
		# the labels that change per build, given here: podman takes a
		# cached LABEL step whatever its ARG values are, so the
		# Containerfiles' version and revision would be those of the
		# build that made the cached layer
		extra+=(--label "org.opencontainers.image.version=$version"
			--label "org.opencontainers.image.revision=$revision")
		# and podman stamps those labels on every intermediate image,
		# whose IDs the history names: a release (SOURCE_DATE_EPOCH)
		# builds the images FROM scratch (a few COPY steps) without the
		# cache, so none names an intermediate of another commit's
		# build (the Debian images' layers are keyed by the epoch)
		case $name in
		services | operator | iroh-relay)
			[ -z "${SOURCE_DATE_EPOCH:-}" ] || extra+=(--no-cache)
			;;
		esac
	fi
	say "building $tag from images/$name/Containerfile"
	# twice at most: another build's `podman image prune` on this machine
	# can remove a cached layer or the new image under this build ("layer
	# not known", "image not known"); the second attempt rebuilds them
	for attempt in 1 2; do
		if podman build --pull=never --layers -q "${extra[@]}" "${opts[@]}" \
			--build-arg "VERSION=$version" --build-arg "REVISION=$revision" \
			--build-arg "BUILDER=$builder_ref" --build-arg "BASE=$base" \
			--build-arg "CI=${IMAGES_CI:-true}" \
			-f "images/$name/Containerfile" -t "$tag" "$c" >"$log" 2>&1 &&
			size=$(podman image inspect --format '{{.Size}}' "$tag" 2>>"$log"); then
			break
		fi
		if [ $attempt = 1 ] && grep -qE '(layer|image) not known' "$log"; then
			say "$tag: a layer went away under the build (a concurrent prune); again"
			continue
		fi
		tail -n 30 "$log" >&2
		say "FAILED: $tag (log: $log)"
		exit 1
	done
	report+=("$(printf '%-42s %6.1f MB %4d s' "$tag" "$(awk "BEGIN{print $size / 1000000}")" $((SECONDS - start)))")
}

mkdir -p build/images
builder_ref=$builder
build builder "$builder"
# the runtime images name the builder by its ID: by name, podman building
# for arm64 would look for an arm64 image of that name (the builder is
# amd64 whatever it compiles for) and find none
builder_ref=$(podman image inspect --format '{{.Id}}' "$builder")
for n in "${names[@]}"; do
	build "$n" "$(image_ref "$(key_of "$n")")"
done
# superseded images (untagged, no child): the layer cache of the current
# tags stays (its images have children), disk use does not grow per build
podman image prune -f >/dev/null 2>&1 || true
say "built in $((SECONDS - t0)) s (revision $revision):"
printf '  %s\n' "${report[@]}" >&2
