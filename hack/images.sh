#!/usr/bin/env bash
# images.sh: make images. Builds the local Debian base (hack/base-image.sh),
# the builder (every C program compiled once), then the runtime images,
# tagged as images/images.env says (the same list the operator and the
# chart use). podman only, --pull=never: nothing comes from a registry.
#
#   hack/images.sh [NAME...]   NAME: services operator postfix dovecot nginx
#                              (default: all of them)
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

hack/base-image.sh

version=$(image_ref SERVICES)
version=${version##*:}
builder=localhost/chatmail-builder:$version

build() { # build NAME TAG
	local name=$1 tag=$2 start
	start=$(date +%s)
	say "building $tag from images/$name/Containerfile"
	podman build --pull=never --layers -q \
		--build-arg "VERSION=$version" --build-arg "BUILDER=$builder" \
		-f "images/$name/Containerfile" -t "$tag" . >/dev/null
	say "$tag: $(podman image inspect --format '{{.Size}}' "$tag") bytes, $(($(date +%s) - start)) s"
}

names=("$@")
[ ${#names[@]} -gt 0 ] || names=(services operator postfix dovecot nginx)

build builder "$builder"
for n in "${names[@]}"; do
	case $n in
	services) build services "$(image_ref SERVICES)" ;;
	operator) build operator "$(image_ref OPERATOR)" ;;
	postfix) build postfix "$(image_ref POSTFIX)" ;;
	dovecot) build dovecot "$(image_ref DOVECOT)" ;;
	nginx) build nginx "$(image_ref NGINX)" ;;
	*) say "unknown image $n"; exit 64 ;;
	esac
done
