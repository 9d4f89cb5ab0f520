#!/usr/bin/env bash
# release.sh: make release REGISTRY=<host>[/<path>] VERSION=<semver>.
# Builds every image for each architecture (hack/images.sh with
# IMAGES_ARCH, IMAGES_TAG=VERSION, from the committed HEAD), pushes one
# multi-architecture OCI image index per image to
# REGISTRY/chatmail-<name>:VERSION, then packages the chart with
# VERSION and every image pinned by the index digest the push returned
# (values.yaml and files/images.env) and pushes it with `helm push` to
# oci://REGISTRY/charts/chatmail-operator:VERSION (its own repository:
# REGISTRY/chatmail-operator is the operator's image). The operator puts
# relay images into Pods by digest, never by a tag that can move.
#
# Environment:
#   REGISTRY, VERSION    required (VERSION: semver without build metadata,
#                        it is also every image's tag)
#   RELEASE_ARCHES       default "amd64 arm64"
#   RELEASE_IMAGES       default every image (services operator postfix
#                        dovecot nginx iroh-relay); the chart keeps its
#                        defaults for images left out
#   REGISTRY_USER, REGISTRY_PASSWORD
#                        log podman and helm in first (else their stored
#                        logins are used)
#   REGISTRY_CA          a CA file for a registry with a private CA (the
#                        test registry); podman gets it as --cert-dir,
#                        helm as --ca-file
#   SOURCE_DATE_EPOCH    default: the commit time of HEAD, so a release
#                        of one commit gives the same image digests
#   IMAGES_FROM          default head (hack/images.sh)
#   RELEASE_OUT          default build/release: release.env (the pushed
#                        digests), the chart archive, sbom/ (the SBOM of
#                        every image and architecture, as in the images)
# The last lines are a table: image, architecture, size, digest.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "release: $*" >&2; }
die() { say "ERROR: $*"; exit "${2:-1}"; }

: "${REGISTRY:?REGISTRY=<host>[/<path>] is required}"
: "${VERSION:?VERSION=<semver> is required}"
REGISTRY=${REGISTRY%/}
# semver 2.0 without +build (a tag cannot hold '+')
[[ $VERSION =~ ^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?$ ]] ||
	die "VERSION $VERSION is not semver (MAJOR.MINOR.PATCH[-PRE], no +build)" 64
[[ $REGISTRY =~ ^[a-z0-9.-]+(:[0-9]+)?(/[a-z0-9._-]+)*$ ]] ||
	die "REGISTRY $REGISTRY is not host[:port][/path] (lower case)" 64
ARCHES=${RELEASE_ARCHES:-amd64 arm64}
OUT=${RELEASE_OUT:-build/release}
read -r -a NAMES <<<"${RELEASE_IMAGES:-services operator postfix dovecot nginx iroh-relay}"
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}
export IMAGES_FROM=${IMAGES_FROM:-head} IMAGES_TAG=$VERSION

t0=$SECONDS
rm -rf "$OUT"
mkdir -p "$OUT/sbom"
podman_tls=()
helm_tls=()
if [ -n "${REGISTRY_CA:-}" ]; then
	mkdir -p "$OUT/certs"
	cp "$REGISTRY_CA" "$OUT/certs/ca.crt"
	podman_tls=(--cert-dir "$OUT/certs")
	helm_tls=(--ca-file "$REGISTRY_CA")
fi
HELM=$(hack/chart.sh helm)
host=${REGISTRY%%/*}
if [ -n "${REGISTRY_USER:-}" ]; then
	printf '%s' "${REGISTRY_PASSWORD:?REGISTRY_PASSWORD with REGISTRY_USER}" |
		podman login "${podman_tls[@]}" -u "$REGISTRY_USER" --password-stdin "$host" >/dev/null
	printf '%s' "$REGISTRY_PASSWORD" |
		"$HELM" registry login "${helm_tls[@]}" -u "$REGISTRY_USER" --password-stdin "$host" >/dev/null 2>&1 ||
		die "helm registry login $host failed"
fi

# 1. the images of every architecture (local tags, -arm64 for arm64)
for arch in $ARCHES; do
	say "images for $arch (SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH)"
	IMAGES_ARCH=$arch nice -n 10 hack/images.sh "${NAMES[@]}"
done

# local_ref NAME ARCH: the local tag hack/images.sh gave that image
local_ref() {
	local key=${1^^}
	key=${key//-/_}
	IMAGES_ARCH=$2 hack/images.sh --list | sed -n "s/^$key=//p"
}

# 2. one OCI image index per image, pushed; its digest kept
: >"$OUT/release.env"
table=()
for n in "${NAMES[@]}"; do
	ref=$REGISTRY/chatmail-$n:$VERSION
	podman manifest rm "$ref" >/dev/null 2>&1 || true
	podman manifest create "$ref" >/dev/null
	for arch in $ARCHES; do
		lref=$(local_ref "$n" "$arch")
		podman manifest add "$ref" "containers-storage:$lref" >/dev/null
		size=$(podman image inspect --format '{{.Size}}' "$lref")
		table+=("$(printf '%-22s %-6s %7.1f MB' "chatmail-$n" "$arch" "$(awk "BEGIN{print $size / 1000000}")")")
		mnt=$(podman image mount "$lref") || die "podman image mount $lref failed"
		cp "$mnt/usr/share/doc/sbom/chatmail-$n.spdx.json" "$OUT/sbom/chatmail-$n-$arch.spdx.json" ||
			die "chatmail-$n ($arch) has no SBOM at /usr/share/doc/sbom/chatmail-$n.spdx.json"
		podman image unmount "$lref" >/dev/null
	done
	say "push $ref"
	podman manifest push "${podman_tls[@]}" --all --format oci --digestfile "$OUT/digest" \
		"$ref" "docker://$ref" >/dev/null 2>"$OUT/push.log" ||
		{ cat "$OUT/push.log" >&2; die "push of $ref failed"; }
	digest=$(cat "$OUT/digest")
	[[ $digest =~ ^sha256:[0-9a-f]{64}$ ]] || die "no digest for $ref"
	key=${n^^}
	echo "${key//-/_}=$ref@$digest" >>"$OUT/release.env"
done
rm -f "$OUT/digest" "$OUT/push.log"

# 3. the chart: VERSION, every image pinned by digest
chart=$OUT/chart/chatmail-operator
mkdir -p "$OUT/chart"
cp -r charts/chatmail-operator "$chart"
# files/images.env: the released images pinned, the others as they were
while IFS='=' read -r key ref; do
	sed -i "s|^$key=.*|$key=$ref|" "$chart/files/images.env"
done <"$OUT/release.env"
/usr/bin/python3 - "$chart" "$VERSION" "$OUT/release.env" <<'PYEOF'
import re, sys
chart, version, envfile = sys.argv[1:4]
refs = dict(l.strip().split("=", 1) for l in open(envfile) if "=" in l)
p = chart + "/Chart.yaml"
s = open(p).read()
s = re.sub(r"(?m)^version: .*$", "version: " + version, s)
s = re.sub(r"(?m)^appVersion: .*$", 'appVersion: "%s"' % version, s)
open(p, "w").write(s)
p = chart + "/values.yaml"
s = open(p).read()
op = refs.get("OPERATOR")
def setval(s, path, value):
    # path: "image.repository" -> the line "  repository: ..." under "image:"
    top, key = path.split(".")
    pat = r'(?m)(^%s:\n(?:[ #].*\n|\n)*?  %s: )"[^"\n]*"' % (re.escape(top), re.escape(key))
    s2, n = re.subn(pat, lambda m: m.group(1) + '"%s"' % value, s, count=1)
    if n != 1:
        sys.exit("release: values.yaml has no %s" % path)
    return s2
if op:
    name, digest = op.split("@")
    repo, tag = name.rsplit(":", 1)
    s = setval(s, "image.repository", repo)
    s = setval(s, "image.tag", tag)
    s = setval(s, "image.digest", digest)
for key, val in (("postfix", "POSTFIX"), ("dovecot", "DOVECOT"), ("nginx", "NGINX"),
                 ("services", "SERVICES"), ("irohRelay", "IROH_RELAY")):
    if val in refs:
        s = setval(s, "relayImages." + key, refs[val])
open(p, "w").write(s)
PYEOF
"$HELM" lint --strict "$chart" >"$OUT/lint.log" 2>&1 || { cat "$OUT/lint.log" >&2; die "helm lint of the release chart failed"; }
"$HELM" package "$chart" -d "$OUT" >/dev/null
tgz=$OUT/chatmail-operator-$VERSION.tgz
[ -s "$tgz" ] || die "helm package wrote no $tgz"
say "push $tgz to oci://$REGISTRY/charts"
"$HELM" push "${helm_tls[@]}" "$tgz" "oci://$REGISTRY/charts" >"$OUT/helm-push.log" 2>&1 ||
	{ cat "$OUT/helm-push.log" >&2; die "helm push failed"; }
chart_digest=$(sed -n 's/^Digest: //p' "$OUT/helm-push.log")
echo "CHART=oci://$REGISTRY/charts/chatmail-operator:$VERSION@$chart_digest" >>"$OUT/release.env"

say "released $VERSION to $REGISTRY in $((SECONDS - t0)) s:"
printf '  %s\n' "${table[@]}" >&2
sed 's/^/  /' "$OUT/release.env" >&2
