#!/usr/bin/env bash
# test_release: what a user installs, from a registry. A node of its own
# (hack/node.sh, own state, network and ports) whose containerd trusts a
# local registry (hack/registry.sh: Debian's docker-registry, TLS from a
# test CA, basic auth) on the host side of the node's veth; `make release`
# into that registry (amd64 and arm64); every image an OCI index of both
# architectures with the OCI labels and an SBOM; `helm install
# oci://...` on the node; the operator's Pod and then a relay's Pod
# (crds/examples/test-relay.yaml) running from images the node pulled by
# digest; the arm64 programs started under qemu-user-static, the arm64
# unit tests under qemu-aarch64-static; the release's chatmail-services
# rebuilt from nothing with the same SOURCE_DATE_EPOCH is the same image.
#
# RELEASE_TEST_IMAGES: what this test releases. Default "services
# operator": the C programs, cross-compiled natively for arm64, so the
# test stays within make test's time (cold: the arm64 cross builder and
# the arm64 unit tests). The Debian images of arm64 run apt and dpkg
# under emulation (about 15 to 30 min cold on 2 cores) and iroh-relay's
# arm64 build compiles from crates.io; `make release` builds them all,
# and RELEASE_TEST_IMAGES=all tests that (set this script's timeout
# with TEST_TIMEOUT: an hour or more cold). Images not released keep
# the chart's defaults (images/images.env), which the node imports.
# Figures (diag lines): seconds per phase, release cold (as the caches
# were) and warm (the same commit again), image sizes per architecture.
# Its node sits beside the e2e tier's (NODE_NET 10.X, CP_*_PORT of the
# run, a lane's): RELEASE_NODE_NET (default 10.(X-190) for X 250-255,
# else 10.(75-X)), the control plane's ports 600 above the run's, the
# registry on RELEASE_REGISTRY_PORT (25000) of its host side, and
# VERSION 0.1.0-e2e-<X'> (podman's local tags of two runs differ);
# KEEP=1 keeps the node, the registry and the work directory.
# Time: the arm64 unit tests (cross-compiled without -g, run under qemu)
# go on in the background while the node comes up and the release
# builds, and the reproducibility rebuild while the chart installs.
# SOURCE_DATE_EPOCH, as for make release, defaults to the commit's time.
# test-timeout: 1800
# shellcheck source=tests/integration/lib/common.sh
. "$(dirname "$0")/../integration/lib/common.sh"

declare -A id_release
why=""
[ "$(id -u)" -eq 0 ] || why="needs root"
for c in podman docker-registry qemu-aarch64-static aarch64-linux-gnu-gcc jq curl; do
	command -v "$c" >/dev/null || why="${why:+$why, }$c missing (make deps)"
done
if [ -n "$why" ]; then
	echo "1..0 # SKIP $why"
	exit 0
fi
tap_init
t_start=$SECONDS
W=$(workdir e2e-release)
x=${NODE_NET:-10.251}
x=${x#10.}
if [ "$x" -ge 250 ]; then x=$((x - 190)); else x=$((75 - x)); fi
NET=${RELEASE_NODE_NET:-10.$x}
PORT=${RELEASE_REGISTRY_PORT:-25000}
HOSTPORT=$NET.255.1:$PORT
VERSION=0.1.0-e2e-${NET#10.}
REG=$HOSTPORT/chatmail
ALL=(services operator postfix dovecot nginx iroh-relay)
read -r -a NAMES <<<"${RELEASE_TEST_IMAGES:-services operator}"
[ "${NAMES[*]}" != all ] || NAMES=("${ALL[@]}")
released() { [[ " ${NAMES[*]} " == *" $1 "* ]]; }
export NODE_STATE=$W/node NODE_NET=$NET NODE_NAME=release-node
export CP_ETCD_PORT=$((${CP_ETCD_PORT:-23779} + 600)) CP_ETCD_PEER_PORT=$((${CP_ETCD_PEER_PORT:-23780} + 600))
export CP_APISERVER_PORT=$((${CP_APISERVER_PORT:-27843} + 600)) CP_KCM_PORT=$((${CP_KCM_PORT:-21657} + 600))
export CP_SCHEDULER_PORT=$((${CP_SCHEDULER_PORT:-21659} + 600)) CP_KWOK_PORT=$((${CP_KWOK_PORT:-21647} + 600))

# 1. arm64: binfmt for the Debian images' RUN steps; the unit tests of
# the cross-compiled programs under qemu-aarch64-static
"$TOP/hack/binfmt.sh" >"$W/binfmt.log" 2>&1
ok $? "qemu-aarch64 registered in binfmt_misc (hack/binfmt.sh)"
# in the background: the cross build and the qemu run, checked at the end
# (its own process group, so that an early exit stops all of it)
# shellcheck disable=SC2016 # expanded by the inner shell
setsid bash -c 'RESULTS=$2/results nice -n 10 make -C "$1" -j2 ARCH=arm64 CFLAGS=-O2 unit \
	>"$2/unit-arm64.log" 2>&1; echo "$SECONDS" >"$2/unit-arm64.secs"' _ "$TOP" "$W" &
unit_pid=$!
on_exit "kill -- -$unit_pid 2>/dev/null"

# 2. the registry's CA and password, then a node whose containerd holds them
"$TOP/hack/registry.sh" init "$W/registry" "$HOSTPORT" 2>"$W/registry-init.log"
# shellcheck disable=SC1091
. "$W/registry/env"
export NODE_REGISTRY=$HOSTPORT NODE_REGISTRY_CA=$REGISTRY_CA
export NODE_REGISTRY_AUTH=$REGISTRY_USER:$REGISTRY_PASSWORD
if [ "${KEEP:-0}" != 1 ]; then
	on_exit "'$TOP/hack/node.sh' purge >/dev/null 2>&1"
	on_exit "'$TOP/hack/registry.sh' down '$W/registry'"
fi
t0=$SECONDS
"$TOP/hack/node.sh" up >"$W/node-up.log" 2>&1
ok $? "a node of its own up ($((SECONDS - t0)) s; log $W/node-up.log)" ||
	{ tail -n 20 "$W/node-up.log" | sed 's/^/# /'; tap_done; }
# shellcheck disable=SC1091
. "$NODE_STATE/env"
k() { "$NODE_KUBECTL" --request-timeout=30s "$@"; }
"$TOP/hack/registry.sh" up "$W/registry" "$HOSTPORT" 2>"$W/registry-up.log"
ok $? "docker-registry up at https://$HOSTPORT (TLS, basic auth)" ||
	{ sed 's/^/# /' "$W/registry-up.log"; tap_done; }
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$REGISTRY_CA" "https://$HOSTPORT/v2/_catalog")
[ "$code" = 401 ]
ok $? "the registry refuses a client without credentials (got $code)"

# 3. make release, twice: cold (as the caches are) and warm
release() {
	REGISTRY_CA=$REGISTRY_CA REGISTRY_USER=$REGISTRY_USER REGISTRY_PASSWORD=$REGISTRY_PASSWORD \
		RELEASE_IMAGES="${NAMES[*]}" RELEASE_OUT=$W/out \
		make -C "$TOP" release REGISTRY="$REG" VERSION="$VERSION"
}
t0=$SECONDS
release >"$W/release1.log" 2>&1
ok $? "make release REGISTRY=$REG VERSION=$VERSION ($((SECONDS - t0)) s)" ||
	{ tail -n 30 "$W/release1.log" | sed 's/^/# /'; tap_done; }
cold=$((SECONDS - t0))
cp "$W/out/release.env" "$W/release1.env"
sed -n '/released/,$p' "$W/release1.log" | sed 's/^/# /'
t0=$SECONDS
release >"$W/release2.log" 2>&1
rc=$?
warm=$((SECONDS - t0))
# the images' digests; not the chart's: helm package writes the time of
# packaging into the archive, helm push the archive's ctime into the
# manifest (org.opencontainers.image.created)
[ $rc -eq 0 ] && diff -u <(grep -v '^CHART=' "$W/release1.env") \
	<(grep -v '^CHART=' "$W/out/release.env") >"$W/release.diff"
ok $? "the same commit released again gives the same image digests (cold $cold s, warm $warm s)"
diag "release time (${NAMES[*]}; amd64 arm64): cold $cold s, warm $warm s"
for n in "${NAMES[@]}"; do
	ref=localhost/chatmail-$n:$VERSION
	id_release[$n]=$(podman image inspect --format '{{.Id}}' "$ref" 2>/dev/null)
done

# 4. each image: an OCI index with linux/amd64 and linux/arm64, labels, SBOM
api() { # api PATH [ACCEPT]: GET from the registry with the test's credentials
	curl -sf --cacert "$REGISTRY_CA" -u "$REGISTRY_USER:$REGISTRY_PASSWORD" \
		-H "Accept: ${2:-application/vnd.oci.image.index.v1+json}" "https://$HOSTPORT/v2/$1"
}
rev=$(git -C "$TOP" rev-parse --short=12 HEAD)
for n in "${NAMES[@]}"; do
	repo=chatmail/chatmail-$n
	api "$repo/manifests/$VERSION" >"$W/$n.index.json"
	plats=$(jq -r '[.manifests[].platform | "\(.os)/\(.architecture)"] | sort | join(" ")' "$W/$n.index.json" 2>/dev/null)
	mt=$(jq -r .mediaType "$W/$n.index.json" 2>/dev/null)
	[ "$mt" = application/vnd.oci.image.index.v1+json ] && [ "$plats" = "linux/amd64 linux/arm64" ]
	ok $? "chatmail-$n:$VERSION is an OCI index of $plats"
	m=$(jq -r '.manifests[] | select(.platform.architecture == "arm64") | .digest' "$W/$n.index.json")
	cfg=$(api "$repo/manifests/$m" application/vnd.oci.image.manifest.v1+json | jq -r .config.digest)
	api "$repo/blobs/$cfg" '*/*' >"$W/$n.arm64.config.json"
	jq -e --arg v "$VERSION" --arg r "$rev" '.architecture == "arm64" and
		.config.Labels["org.opencontainers.image.version"] == $v and
		.config.Labels["org.opencontainers.image.revision"] == $r and
		(.config.Labels["org.opencontainers.image.source"] | startswith("https://")) and
		(.config.Labels["org.opencontainers.image.licenses"] | length > 0)' \
		"$W/$n.arm64.config.json" >/dev/null
	ok $? "chatmail-$n arm64: OCI labels version $VERSION, revision $rev, source, licenses"
	for arch in amd64 arm64; do
		f=$W/out/sbom/chatmail-$n-$arch.spdx.json
		jq -e --arg a "$arch" '.spdxVersion == "SPDX-2.3" and
			([.packages[] | select(.externalRefs[0].referenceLocator | test("^pkg:deb/debian/libc6@.*arch=" + $a))] | length == 1)' \
			"$f" >/dev/null 2>&1 || echo "chatmail-$n $arch: $f" >>"$W/sbom.bad"
		# a binary's own package too: the services image's restic
		[ "$n" != services ] || jq -e --arg a "$arch" '[.packages[].externalRefs[0].referenceLocator |
			select(test("^pkg:deb/debian/restic@.*arch=" + $a))] | length == 1' "$f" >/dev/null 2>&1 ||
			echo "chatmail-$n $arch: no restic in $f" >>"$W/sbom.bad"
	done
done
[ ! -e "$W/sbom.bad" ]
ok $? "every image has an SPDX SBOM from dpkg's database, libc6 (and the services' restic) of its own architecture ($(cat "$W/sbom.bad" 2>/dev/null))"
if released postfix; then
	jq -e '[.packages[].name] | index("postfix") != null' "$W/out/sbom/chatmail-postfix-arm64.spdx.json" >/dev/null
	ok $? "the postfix image's SBOM lists postfix"
fi
for arch in amd64 arm64; do
	sz=""
	for n in "${NAMES[@]}"; do
		ref=localhost/chatmail-$n:$VERSION
		[ "$arch" = amd64 ] || ref=$ref-$arch
		sz+="$n $(podman image inspect --format '{{.Size}}' "$ref" | awk '{printf "%.1f", $1 / 1e6}') MB, "
	done
	diag "image sizes $arch: ${sz%, }"
done

# 5. the arm64 programs start: in their images (podman, binfmt) and one
# straight under qemu-aarch64-static from the image's own root
run64() { podman run --rm --pull=never --platform linux/arm64 --entrypoint "$2" "localhost/chatmail-$1:$VERSION-arm64" "${@:3}"; }
run64 operator chatmail-operator crd >"$W/crd-arm64.yaml" 2>&1 &&
	cmp -s "$W/crd-arm64.yaml" "$TOP/crds/chatmail.at_chatmailrelays.yaml"
ok $? "arm64 chatmail-operator crd prints crds/chatmail.at_chatmailrelays.yaml"
# starts NAME PATTERN PROGRAM ARGS...: an arm64 program of a released
# image prints PATTERN
starts() {
	local out
	if ! released "$1"; then
		skip "arm64 $3 starts" "chatmail-$1 not in RELEASE_TEST_IMAGES"
		return 0
	fi
	out=$(run64 "$1" "${@:3}" 2>&1)
	# shellcheck disable=SC2053 # $2 is a pattern
	[[ $out == $2 ]]
	ok $? "arm64 $3 starts: $out"
}
starts postfix "mail_version = 3.*" /usr/sbin/postconf -d mail_version
starts dovecot "2.3.*" /usr/sbin/dovecot --version
starts nginx "nginx version: nginx/*" /usr/sbin/nginx -v
starts iroh-relay "iroh-relay 0.35*" /usr/local/bin/iroh-relay --version
mnt=$(podman image mount "localhost/chatmail-services:$VERSION-arm64")
out=$(qemu-aarch64-static -L "$mnt" "$mnt/usr/local/bin/chatmail-turn" --help 2>&1)
rc=$?
# and Debian's restic of arm64 (chatmail-backup runs it)
rout=$(qemu-aarch64-static -L "$mnt" "$mnt/usr/local/bin/restic" version 2>&1)
podman image unmount "localhost/chatmail-services:$VERSION-arm64" >/dev/null
[ $rc -eq 0 ] && [[ $out == *usage* || $out == *Usage* ]]
ok $? "qemu-aarch64-static runs the services image's arm64 chatmail-turn from its own root"
[[ $rout == "restic "*linux/arm64* ]]
ok $? "the services image's restic is arm64's: $rout"

# 8. (started here, checked after step 7) reproducible: the release's
# amd64 image (built with whatever layer cache there was) and the same
# image built again without the cache (IMAGES_NO_CACHE=sources: the
# builder compiles again and every step of the image runs again; only
# the builder's Debian packages may come from the cache) with the
# release's SOURCE_DATE_EPOCH are one image (the same config digest, so
# the same layers). It builds while the node pulls and starts Pods.
rn=services
released "$rn" || rn=${NAMES[0]}
t_repro=$SECONDS
# shellcheck disable=SC2016 # expanded by the inner shell
IMAGES_TAG=$VERSION IMAGES_NO_CACHE=sources IMAGES_FROM=head \
	SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$TOP" log -1 --format=%ct)} \
	setsid bash -c 'nice -n 10 "$1/hack/images.sh" "$2" >"$3/repro.log" 2>&1
		echo "$SECONDS" >"$3/repro.secs"' _ "$TOP" "$rn" "$W" &
repro_pid=$!
on_exit "kill -- -$repro_pid 2>/dev/null"

# 6. the chart from oci:// on the node; the operator from pulled images
HELM=$("$TOP/hack/chart.sh" helm)
t0=$SECONDS
"$HELM" install chatmail-operator "oci://$REG/charts/chatmail-operator" --version "$VERSION" \
	--ca-file "$REGISTRY_CA" --username "$REGISTRY_USER" --password "$REGISTRY_PASSWORD" \
	--kubeconfig "$KUBECONFIG" -n chatmail-system --create-namespace --wait --timeout 300s \
	>"$W/helm.log" 2>&1
ok $? "helm install oci://$REG/charts/chatmail-operator --version $VERSION: Available ($((SECONDS - t0)) s)" ||
	{ tail -n 20 "$W/helm.log" | sed 's/^/# /'; k -n chatmail-system describe pods 2>&1 | tail -n 30 | sed 's/^/# /'; }
opdigest=$(sed -n 's/^OPERATOR=.*@//p' "$W/out/release.env")
k -n chatmail-system get pods -l app.kubernetes.io/name=chatmail-operator -o json >"$W/op-pod.json"
jq -e --arg img "$REG/chatmail-operator:$VERSION@$opdigest" --arg node "$NODE_NAME" '.items[0] |
	.spec.nodeName == $node and .spec.containers[0].image == $img and
	.status.containerStatuses[0].ready and
	(.status.containerStatuses[0].imageID | contains("@sha256:"))' "$W/op-pod.json" >/dev/null
ok $? "the operator's Pod runs on $NODE_NAME from $REG/chatmail-operator by digest, pulled by the node"
args=$(jq -r '.items[0].spec.containers[0].args | join(" ")' "$W/op-pod.json")
# the relay's images: the released ones by digest (--images-NAME=ref),
# the others the operator's defaults (images.env, no flag), which the
# node imports
: >"$W/expected-images"
pinned=1
for n in services postfix dovecot nginx iroh-relay; do
	key=${n^^}
	key=${key//-/_}
	if released "$n"; then
		ref=$(sed -n "s/^$key=//p" "$W/out/release.env")
		[[ $args == *"--images-$n=$ref"* ]] || pinned=0
	else
		ref=$(sed -n "s/^$key=//p" "$TOP/images/images.env")
		[[ $args != *"--images-$n="* ]] || pinned=0
		"$TOP/hack/node.sh" import "$ref" >>"$W/import.log" 2>&1 ||
			echo "import of $ref failed" >>"$W/import.bad"
	fi
	echo "$ref" >>"$W/expected-images"
done
[ $pinned = 1 ] && [ ! -e "$W/import.bad" ]
ok $? "the operator gets the released relay images by digest (--images-*), the others are its defaults, imported"

# 7. a relay from the example (self-signed: no ACME server here): its
# Pod runs from the released images
k create namespace mail >/dev/null 2>&1
k -n mail apply -f "$TOP/crds/examples/test-relay.yaml" >"$W/relay-apply.log" 2>&1
ok $? "crds/examples/test-relay.yaml applied"
t0=$SECONDS
for _ in $(seq 1 100); do
	k -n mail get pods -o json >"$W/relay-pods.json" 2>/dev/null
	jq -e '.items | length == 1 and (.[0].status.containerStatuses // [] |
		length > 0 and all(.ready))' "$W/relay-pods.json" >/dev/null && break
	sleep 3
done
jq -e '.items[0].status.containerStatuses | length > 0 and all(.ready)' "$W/relay-pods.json" >/dev/null
ok $? "the relay's Pod: every container ready ($((SECONDS - t0)) s)" ||
	k -n mail describe pods 2>&1 | tail -n 40 | sed 's/^/# /'
jq -r '.items[0].spec.containers[].image' "$W/relay-pods.json" | sort -u >"$W/relay-images"
bad=$(grep -v -c -x -F -f "$W/expected-images" "$W/relay-images")
pulled=$(grep -c "^$REG/chatmail-[a-z-]*:$VERSION@sha256:[0-9a-f]\{64\}$" "$W/relay-images")
[ -s "$W/relay-images" ] && [ "$bad" = 0 ] && [ "$pulled" -gt 0 ]
ok $? "the relay's containers: $pulled released image(s) by digest, pulled; the rest the chart's defaults ($(wc -l <"$W/relay-images") images)"
k delete namespace mail --wait=false >/dev/null 2>&1

# 8. the rebuild started before step 6
wait "$repro_pid"
id2=$(podman image inspect --format '{{.Id}}' "localhost/chatmail-$rn:$VERSION" 2>/dev/null)
id1=${id_release[$rn]}
[ -n "$id1" ] && [ "$id1" = "$id2" ]
ok $? "chatmail-$rn rebuilt without the cache, the release's SOURCE_DATE_EPOCH: the released image (${id1:0:12}, ${id2:0:12}; $(cat "$W/repro.secs" 2>/dev/null) s, started $((t_repro - t_start)) s in)"
diag "reproducibility: chatmail-$rn $id1 released, $id2 rebuilt"

# 9. the arm64 unit tests (started in step 1)
wait "$unit_pid"
line=$(grep -E '^unit-arm64: [0-9]+ passed, [0-9]+ failed' "$W/unit-arm64.log" | tail -n 1)
passed=$(echo "$line" | awk '{print $2}')
# a test that failed is run once more, alone: under emulation on a loaded
# machine a few tests' own timeouts (2 s scrapes, reinjection) can pass;
# a real failure fails twice
again=() still=()
while read -r prog; do
	[ -n "$prog" ] || continue
	again+=("${prog#build/arm64/}")
	(cd "$TOP" && CMOCKA_MESSAGE_OUTPUT=TAP timeout 600 qemu-aarch64-static "$prog") \
		>"$W/again.log" 2>&1 || still+=("$prog")
done < <(sed -n 's/^not ok [0-9]* - \(arm64\/[^:]*\):.*/build\/\1/p' "$W/results/unit-arm64.tap" 2>/dev/null | sort -u)
[ -n "$line" ] && [ "${passed:-0}" -gt 100 ] && [ ${#still[@]} -eq 0 ]
ok $? "make ARCH=arm64 unit under qemu-aarch64-static: ${line:-no summary} ($(cat "$W/unit-arm64.secs" 2>/dev/null) s beside the rest)${again[*]:+; run again: ${again[*]}}${still[*]:+; failed again: ${still[*]}}"
file "$TOP/build/arm64/tests/unit/operator/test_reconcile" | grep -q 'ARM aarch64'
ok $? "the unit tests run were aarch64 programs (build/arm64/tests/unit/operator/test_reconcile)"

diag "test_release: $((SECONDS - t_start)) s in all"
tap_done
