#!/usr/bin/env bash
# base-image.sh: build the Debian bookworm base image locally, without a
# registry. mmdebstrap (minbase, docs/man/locales excluded like Docker's
# slim image) -> tarball cached under ~/.cache/chatmail-operator/base/ ->
# podman import, tagged docker.io/library/debian:bookworm-slim so that
# `FROM debian:bookworm-slim` in images/*/Containerfile resolves with
# `podman build --pull=never`.
#
#   hack/base-image.sh          build if the image is missing (cached tarball reused)
#   hack/base-image.sh --force  rebuild the tarball from the mirror
#   BASE_IMAGE_PULL=1 hack/base-image.sh
#                               pull it from Docker Hub instead, where a
#                               registry is reachable (GitHub Actions)
#   hack/base-image.sh --tag    print the tag of the base for $BASE_ARCH
#
# BASE_ARCH=arm64 builds the arm64 base (tagged
# localhost/chatmail-base:bookworm-slim-arm64, tarball
# bookworm-minbase-arm64.tar): mmdebstrap runs the arm64 maintainer
# scripts under qemu-user-static, registered by hack/binfmt.sh.
#
# Reproducible for a given package set: SOURCE_DATE_EPOCH is fixed, so the
# same mirror state gives the same tarball. MIRROR overrides the mirror.
set -euo pipefail

ARCH=${BASE_ARCH:-amd64}
case $ARCH in
amd64) TAG=docker.io/library/debian:bookworm-slim SUFFIX= ;;
arm64) TAG=localhost/chatmail-base:bookworm-slim-arm64 SUFFIX=-arm64 ;;
*) echo "base-image: BASE_ARCH must be amd64 or arm64" >&2; exit 64 ;;
esac
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SECURITY=${SECURITY:-http://deb.debian.org/debian-security}
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/chatmail-operator/base
TAR=$CACHE/bookworm-minbase$SUFFIX.tar
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1735689600}

say() { echo "base-image: $*" >&2; }

force=0
case ${1:-} in
--force) force=1 ;;
--tag) echo "$TAG"; exit 0 ;;
esac

if [ $force -eq 0 ] && podman image exists "$TAG"; then
	say "$TAG present"
	exit 0
fi

if [ "${BASE_IMAGE_PULL:-0}" = 1 ]; then
	say "podman pull $TAG"
	if [ "$ARCH" = amd64 ]; then
		podman pull -q "$TAG" >/dev/null
	else
		# one name, two platforms: pull arm64, keep it as $TAG, pull
		# amd64 back under the name
		podman pull -q --platform "linux/$ARCH" docker.io/library/debian:bookworm-slim >/dev/null
		podman tag docker.io/library/debian:bookworm-slim "$TAG"
		podman pull -q --platform linux/amd64 docker.io/library/debian:bookworm-slim >/dev/null
	fi
	exit 0
fi
[ "$ARCH" = amd64 ] || "$(dirname "$0")/binfmt.sh"

mkdir -p "$CACHE"
# one build of a tarball at a time (make images and make release at once)
exec 9>"$CACHE/.lock-$ARCH"
flock 9
if [ $force -eq 0 ] && podman image exists "$TAG"; then
	say "$TAG present"
	exit 0
fi
if [ $force -eq 1 ] || [ ! -s "$TAR" ]; then
	say "mmdebstrap bookworm minbase -> $TAR"
	# shellcheck disable=SC2016 # $1 is for the hook shell
	mmdebstrap --variant=minbase --format=tar --architectures="$ARCH" \
		--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
		--dpkgopt='path-exclude=/usr/share/man/*' \
		--dpkgopt='path-exclude=/usr/share/locale/*' \
		--dpkgopt='path-include=/usr/share/locale/locale.alias' \
		--dpkgopt='path-exclude=/usr/share/doc/*' \
		--dpkgopt='path-include=/usr/share/doc/*/copyright' \
		--dpkgopt='path-exclude=/usr/share/info/*' \
		--aptopt='APT::Install-Recommends "false"' \
		--customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
		bookworm "$TAR.tmp" \
		"deb $MIRROR bookworm main" \
		"deb $MIRROR bookworm-updates main" \
		"deb $SECURITY bookworm-security main"
	mv "$TAR.tmp" "$TAR"
fi

say "podman import -> $TAG"
podman import --arch "$ARCH" \
	--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
	--change 'CMD ["/bin/bash"]' \
	"$TAR" "$TAG" >/dev/null
say "done: $(podman image inspect --format '{{.Size}}' "$TAG") bytes"
