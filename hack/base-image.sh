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
#
# Reproducible for a given package set: SOURCE_DATE_EPOCH is fixed, so the
# same mirror state gives the same tarball. MIRROR overrides the mirror.
set -euo pipefail

TAG=docker.io/library/debian:bookworm-slim
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SECURITY=${SECURITY:-http://deb.debian.org/debian-security}
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/chatmail-operator/base
TAR=$CACHE/bookworm-minbase.tar
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1735689600}

say() { echo "base-image: $*" >&2; }

force=0
[ "${1:-}" = "--force" ] && force=1

if [ $force -eq 0 ] && podman image exists "$TAG"; then
	say "$TAG present"
	exit 0
fi

if [ "${BASE_IMAGE_PULL:-0}" = 1 ]; then
	say "podman pull $TAG"
	podman pull -q "$TAG" >/dev/null
	exit 0
fi

mkdir -p "$CACHE"
if [ $force -eq 1 ] || [ ! -s "$TAR" ]; then
	say "mmdebstrap bookworm minbase -> $TAR"
	# shellcheck disable=SC2016 # $1 is for the hook shell
	mmdebstrap --variant=minbase --format=tar \
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
podman import \
	--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
	--change 'CMD ["/bin/bash"]' \
	"$TAR" "$TAG" >/dev/null
say "done: $(podman image inspect --format '{{.Size}}' "$TAG") bytes"
