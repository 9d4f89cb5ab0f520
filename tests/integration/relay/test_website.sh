#!/usr/bin/env bash
# test_website: spec.website.configMapName against Debian's real nginx
# on a local relay. The custom pages (in the Pod: the ConfigMap mounted
# at chatmail.ini's www_folder; here the same directory of the local
# layout, filled by the test) are served instead of the built-in ones,
# and a file they lack comes from the built-in site (info.html, the
# MTA-STS policy); a file missing from both is 404. A page added later
# is served without a reload, as a ConfigMap edit reaches the Pod.
# shellcheck source=tests/integration/lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source=tests/integration/relay/lib.sh
. "$(dirname "$0")/lib.sh"

relay_prereqs
tap_init
relay_workdir relay-website
cat >"$W/relay.yaml" <<EOF
apiVersion: chatmail.at/v1alpha1
kind: ChatmailRelay
metadata: {name: e2e1}
spec:
  domain: _e2e1.chat.test
  network: {disableIPv6: true}
  iroh: {enabled: false}
  website: {configMapName: pages}
EOF
relays_up "$W" 1 "$W/relay.yaml" || { ok 1 "relay e2e1 up"; tap_done; }
ok 0 "relay e2e1 up with website.configMapName"

E=$ENV1
D=$(renv "$E" DOMAIN)
CA=$(renv "$E" CA)
H=$(renv "$E" HTTPS_PORT)
CURL=(curl -sS --max-time 20 --cacert "$CA" --resolve "$D:$H:$(renv "$E" ADDR)")
WWW=$(sed -n 's/^www_folder = //p' "$(renv "$E" INI)")
[ -n "$WWW" ] && [ "$WWW" != disabled ]
ok $? "chatmail.ini names the custom pages' directory (www_folder = $WWW)"

# get PATH: body into $W/body, status printed
get() { "${CURL[@]}" -o "$W/body" -w '%{http_code}' "https://$D:$H$1"; }

mkdir -p "$WWW"
marker="custom-$RANDOM$RANDOM"
printf '<html><body>%s</body></html>\n' "$marker" >"$WWW/index.html"
chmod 755 "$WWW" && chmod 644 "$WWW/index.html"
code=$(get /)
[ "$code" = 200 ] && grep -q "$marker" "$W/body"
ok $? "/ is the custom index.html ($code)"
code=$(get /info.html)
[ "$code" = 200 ] && grep -qi 'chatmail' "$W/body" && ! grep -q "$marker" "$W/body"
ok $? "/info.html, which the custom pages lack, is the built-in page ($code)"
code=$(get /.well-known/mta-sts.txt)
[ "$code" = 200 ] && grep -q '^mode: enforce' "$W/body"
ok $? "the built-in MTA-STS policy is still served ($code)"
code=$(get /nothing-here.html)
[ "$code" = 404 ]
ok $? "a file in neither is 404 ($code)"
printf 'custom info %s\n' "$marker" >"$WWW/info.html"
chmod 644 "$WWW/info.html"
code=$(get /info.html)
[ "$code" = 200 ] && grep -q "custom info $marker" "$W/body"
ok $? "a page added later is served at once, instead of the built-in one ($code)"

tap_done
