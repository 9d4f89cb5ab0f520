#!/bin/sh
# sbom.sh: an SPDX 2.3 JSON SBOM of the Debian packages in an image,
# read from dpkg's database: a status file (the Debian-based images'
# /var/lib/dpkg) or a status.d directory of single stanzas (the
# distroless roots rootfs.sh lays out). Every package is listed with its
# version, architecture, source package and a purl (pkg:deb/debian/...);
# extra non-Debian components are named by purl. Deterministic: the same
# packages give the same bytes (the creation time is SOURCE_DATE_EPOCH,
# the namespace a hash of the package list), so reproducible builds stay
# reproducible.
#
#   sbom.sh NAME ADMIN OUT [PURL...]
#       NAME   the image's name (chatmail-services, ...)
#       ADMIN  a dpkg admin directory (with a status file) or a status.d
#              directory
#       OUT    the SBOM to write (its directory is created)
#       PURL   further components, e.g. pkg:cargo/iroh-relay@0.35.0
#
# Runs where the image is built (the builder, or the image itself: POSIX
# sh and dpkg-query only).
set -eu

name=$1 admin=$2 out=$3
shift 3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ -f "$admin/status" ]; then
	cp "$admin/status" "$tmp/status"
else
	: >"$tmp/status"
	for f in "$admin"/*; do
		[ -f "$f" ] || continue
		cat "$f" >>"$tmp/status"
		echo >>"$tmp/status"
	done
fi
mkdir -p "$tmp/updates" "$tmp/info"
dpkg-query --admindir="$tmp" -W \
	-f='${db:Status-Abbrev}\t${Package}\t${Version}\t${Architecture}\t${source:Package}\t${source:Version}\n' |
	awk -F'\t' '$1 ~ /^ii/' | cut -f2- | LC_ALL=C sort -u >"$tmp/list"
[ -s "$tmp/list" ] || { echo "sbom.sh: no installed package in $admin" >&2; exit 1; }
for p in "$@"; do printf '%s\n' "$p"; done >"$tmp/extra"

ns=$(cat "$tmp/list" "$tmp/extra" | sha256sum | cut -c1-32)
epoch=${SOURCE_DATE_EPOCH:-0}
created=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)
mkdir -p "$(dirname "$out")"

# pct S: percent-encode what a purl version may not hold (+ : and %)
awk -F'\t' -v name="$name" -v ns="$ns" -v created="$created" -v extra="$tmp/extra" '
function pct(s) { gsub(/%/, "%25", s); gsub(/\+/, "%2B", s); gsub(/:/, "%3A", s); return s }
function id(s) { gsub(/[^A-Za-z0-9.-]/, "-", s); return s }
BEGIN {
	printf "{\n  \"spdxVersion\": \"SPDX-2.3\",\n  \"dataLicense\": \"CC0-1.0\",\n"
	printf "  \"SPDXID\": \"SPDXRef-DOCUMENT\",\n  \"name\": \"%s\",\n", name
	printf "  \"documentNamespace\": \"https://github.com/chatmail/chatmail-operator/sbom/%s-%s\",\n", name, ns
	printf "  \"creationInfo\": {\"created\": \"%s\", \"creators\": [\"Tool: chatmail-operator-sbom.sh\"]},\n", created
	printf "  \"packages\": ["
	n = 0
}
function pkg(spdxid, pname, ver, purl, src) {
	printf "%s\n    {\"SPDXID\": \"%s\", \"name\": \"%s\", \"versionInfo\": \"%s\",", (n++ ? "," : ""), spdxid, pname, ver
	printf " \"downloadLocation\": \"NOASSERTION\", \"filesAnalyzed\": false,"
	if (src != "") printf " \"sourceInfo\": \"%s\",", src
	printf " \"externalRefs\": [{\"referenceCategory\": \"PACKAGE-MANAGER\", \"referenceType\": \"purl\", \"referenceLocator\": \"%s\"}]}", purl
	ids[n] = spdxid
}
{
	purl = "pkg:deb/debian/" $1 "@" pct($2) "?arch=" $3 "&distro=debian-12"
	src = ""
	if ($4 != "" && ($4 != $1 || $5 != $2)) src = "built from Debian source package " $4 " " $5
	pkg("SPDXRef-deb-" id($1) "-" id($3), $1, $2, purl, src)
}
END {
	while ((getline p < extra) > 0) {
		pname = p; sub(/^pkg:[^\/]*\//, "", pname); sub(/@.*/, "", pname)
		ver = p; sub(/^[^@]*@?/, "", ver); sub(/\?.*/, "", ver)
		pkg("SPDXRef-" id(pname), pname, ver, p, "")
	}
	printf "\n  ],\n  \"relationships\": ["
	for (i = 1; i <= n; i++)
		printf "%s\n    {\"spdxElementId\": \"SPDXRef-DOCUMENT\", \"relationshipType\": \"DESCRIBES\", \"relatedSpdxElement\": \"%s\"}", (i > 1 ? "," : ""), ids[i]
	printf "\n  ]\n}\n"
}' "$tmp/list" >"$out"
