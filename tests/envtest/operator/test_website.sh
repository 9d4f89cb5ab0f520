#!/usr/bin/env bash
# test_website.sh: the ConfigMaps a relay's spec names, against the real
# control plane. website.configMapName becomes a volume of that
# ConfigMap mounted read-only into nginx at chatmail.ini's www_folder
# (nginx.conf serves it with the built-in pages as fallback);
# appVersions.configMapName one mounted into the metadata container,
# its key appversions.json at chatmail.ini's appversions_file. Naming
# another ConfigMap moves the volume; clearing the field removes it.
# TAP on stdout; bounded.
# shellcheck source=tests/envtest/operator/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NS=""

sts_json() { k -n "$NS" get sts web -o json 2>/dev/null; }
sts_exists() { sts_json >/dev/null; }
cm_of() { # volume name -> its ConfigMap's name
	sts_json | jq -r --arg v "$1" '.spec.template.spec.volumes[] | select(.name == $v) | .configMap.name'
}
mount_in() { # container volume -> its mountPath (read-only marked)
	sts_json | jq -r --arg c "$1" --arg v "$2" \
		'.spec.template.spec.containers[] | select(.name == $c) | .volumeMounts[] | select(.name == $v) | "\(.mountPath) \(.readOnly)"'
}
ini() { k -n "$NS" get cm web-config -o 'jsonpath={.data.chatmail\.ini}'; }

t_mounted() {
	bind_pvs "$NS" web
	relay web "$NS" web.example.org \
		'  website: {configMapName: pages}
  appVersions: {configMapName: versions}' | k apply -f - >/dev/null
	poll 60 sts_exists || fail "no StatefulSet"
	expect_eq "www-custom volume" "$(cm_of www-custom)" pages
	expect_eq "nginx mounts it" "$(mount_in nginx www-custom)" "/etc/chatmail/www-custom true"
	expect_eq "appversions volume" "$(cm_of appversions)" versions
	expect_eq "metadata mounts it" "$(mount_in metadata appversions)" "/etc/chatmail/appversions true"
	expect_eq "only metadata" "$(mount_in doveauth appversions)" ""
	expect_match "www_folder" "$(ini)" 'www_folder = /etc/chatmail/www-custom'
	expect_match "appversions_file" "$(ini)" 'appversions_file = /etc/chatmail/appversions/appversions.json'
	expect_match "nginx falls back to the built-in site" \
		"$(k -n "$NS" get cm web-nginx -o 'jsonpath={.data.nginx\.conf}')" '@site'
}

pages_are() { [ "$(cm_of www-custom)" = "$1" ]; }
no_versions() { [ -z "$(cm_of appversions)" ] && ! ini | grep -q appversions_file; }

t_changed() {
	k -n "$NS" patch chatmailrelay web --type=merge \
		-p '{"spec":{"website":{"configMapName":"pages2"},"appVersions":{"configMapName":""}}}' >/dev/null
	poll 60 pages_are pages2 || fail "volume still $(cm_of www-custom)"
	poll 60 no_versions || fail "appversions still mounted or set"
}

main() {
	lib_init
	install_crd
	NS=$(new_ns web)
	op_start web --namespace "$NS" --resync-period 600
	check "website and appVersions ConfigMaps mounted where chatmail.ini says" t_mounted
	check "another ConfigMap moves the volume; an empty name removes it" t_changed
	tap_done
}

main "$@"
