#!/usr/bin/env bash
# test_website: spec.website.configMapName and spec.appVersions.
# configMapName in the relay Pod the operator runs on the test node
# (hack/relay-k8s.sh). The admin's ConfigMaps exist in the relay's
# namespace (fixed here with RELAY_K8S_NS) before the relay: "pages"
# (index.html) and "versions"
# (appversions.json). nginx serves the custom index.html instead of the
# built-in one, and the built-in pages for what the ConfigMap lacks
# (info.html, the MTA-STS policy); IMAP GETMETADATA
# /shared/vendor/deltachat/appversions answers the ConfigMap's index.
# An edit of "pages" (info.html added) reaches the running Pod without a
# restart, as kubelet syncs a ConfigMap volume.
# shellcheck source=tests/integration/lib/common.sh
. "$(dirname "$0")/../integration/lib/common.sh"
# shellcheck source=tests/integration/relay/lib.sh
. "$(dirname "$0")/../integration/relay/lib.sh"
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

e2e_prereqs
relay_prereqs
tap_init
relay_workdir e2e-website

cat >"$W/relay.yaml" <<EOF
apiVersion: chatmail.at/v1alpha1
kind: ChatmailRelay
metadata: {name: e2e1}
spec:
  domain: _e2e1.chat.test
  network: {disableIPv6: true}
  iroh: {enabled: false}
  systemLimits: {maxLoad1m: 1000, minAvailableMemory: 1M, minFreeDiskSpace: 1M}
  website: {configMapName: pages}
  appVersions: {configMapName: versions}
EOF
marker="custom-$RANDOM$RANDOM"
printf '<html><body>%s</body></html>\n' "$marker" >"$W/index.html"
printf 'custom info %s\n' "$marker" >"$W/info.html"
ver="9.$RANDOM.0"
# upstream's schema (defaults/appversions.json), a version of our own
jq -n --arg v "$ver" '{clients: [{clientId: "deltachat", sources: [{sourceId: "gplay",
	versionInteger: 9000, versionString: $v, downloadUrl: "https://example.org/dc.apk"}]}]}' \
	>"$W/appversions.json"

# cm NAME KEY=FILE...: a ConfigMap as JSON
cm() {
	local name=$1 kv args=()
	shift
	for kv in "$@"; do
		args+=(--rawfile "${kv%%=*}" "${kv#*=}")
	done
	jq -n --arg _cm "$name" "${args[@]}" '{apiVersion: "v1", kind: "ConfigMap",
		metadata: {name: $_cm}, data: ($ARGS.named | del(._cm))}'
}
cm pages "index.html=$W/index.html" >"$W/pages.json"
cm pages "index.html=$W/index.html" "info.html=$W/info.html" >"$W/pages2.json"
cm versions "appversions.json=$W/appversions.json" >"$W/versions.json"

export RELAY_K8S_NS=e2e-website
kctl() { "$NODE_KUBECTL" --request-timeout=30s -n "$RELAY_K8S_NS" "$@"; }
"$NODE_KUBECTL" get namespace "$RELAY_K8S_NS" >/dev/null 2>&1 ||
	"$NODE_KUBECTL" create namespace "$RELAY_K8S_NS" >/dev/null
kctl apply -f "$W/pages.json" >/dev/null && kctl apply -f "$W/versions.json" >/dev/null
ok $? "the ConfigMaps pages and versions in namespace $RELAY_K8S_NS"
t0=$SECONDS
relays_up "$W" 1 "$W/relay.yaml" || { ok 1 "relay e2e1 up"; tap_done; }
ok 0 "relay e2e1 up with website and appVersions ConfigMaps ($((SECONDS - t0)) s)"

E=$ENV1
D=$(renv "$E" DOMAIN)
CURL=(curl -sS --max-time 20 --cacert "$(renv "$E" CA)" --resolve "$D:443:$(renv "$E" ADDR)")
get() { "${CURL[@]}" -o "$W/body" -w '%{http_code}' "https://$D$1"; }

code=$(get /)
[ "$code" = 200 ] && grep -q "$marker" "$W/body"
ok $? "/ is the ConfigMap's index.html ($code)"
code=$(get /info.html)
[ "$code" = 200 ] && grep -qi chatmail "$W/body" && ! grep -q "$marker" "$W/body"
ok $? "/info.html, which the ConfigMap lacks, is the built-in page ($code)"
code=$(get /.well-known/mta-sts.txt)
[ "$code" = 200 ] && grep -q '^mode: enforce' "$W/body"
ok $? "the built-in MTA-STS policy is still served ($code)"

read -r user pw < <(new_account "$E")
got=$(rc getmetadata "$E" "$user" "$pw" /shared/vendor/deltachat/appversions 2>&1)
jq -e --arg v "$ver" '.clients[0].sources[0].versionString == $v' <<<"$got" >/dev/null 2>&1
ok $? "GETMETADATA appversions answers the ConfigMap's index ($(head -c 80 <<<"$got"))"

# pod_id: the Pod's UID and its nginx container's restart count
pod_id() {
	kctl get pod "$(renv "$E" POD)" -o json |
		jq -r '.metadata.uid + " " + ([.status.containerStatuses[] | select(.name == "nginx") | .restartCount] | tostring)'
}
# the edit: info.html added to pages, the Pod keeps running
pod0=$(pod_id 2>/dev/null)
kctl apply -f "$W/pages2.json" >/dev/null
info_custom() { [ "$(get /info.html)" = 200 ] && grep -q "custom info $marker" "$W/body"; }
# kubelet syncs a ConfigMap volume within its sync period (about a minute)
wait_until 150 info_custom
ok $? "an edit of the ConfigMap is served without a restart (info.html now the custom one)"
pod1=$(pod_id 2>/dev/null)
[ -n "$pod0" ] && [ "$pod0" = "$pod1" ]
ok $? "the same Pod (and nginx container) served both ($pod1)"

tap_done
