#!/usr/bin/env bash
# lib.sh: helpers of the Delta Chat interop tests (source after
# ../integration/lib/common.sh and ../integration/relay/lib.sh, which
# bring the relays: hack/local-relay.sh, or RELAY_HARNESS's relay Pods).
#
#   dc_python                 the venv's python with Delta Chat core
#                             (hack/deltachat.sh installs it, pinned, into
#                             ~/.cache/chatmail-operator/deltachat); sets
#                             DC_PY, returns non-zero when it cannot
#   dc_run HOSTS ARGS...      run $DC_PY ARGS... where /etc/hosts is HOSTS:
#                             a private mount namespace (unshare) in which
#                             HOSTS is bind-mounted over /etc/hosts, so core
#                             (system resolver) finds the relays by name
#   dc_hosts ENV...           print a hosts file: the machine's own lines
#                             and each relay's domain at its address
#   max_message_size ENV      the relay's max_message_size (chatmail.ini)

INTEROP_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

dc_python() {
	DC_PY=$("$TOP/hack/deltachat.sh") || return 1
	export DC_PY
}

dc_hosts() {
	local env
	cat /etc/hosts
	for env in "$@"; do
		printf '%s %s\n' "$(renv "$env" ADDR)" "$(renv "$env" DOMAIN)"
	done
}

# shellcheck disable=SC2016 # the script's $0, $1 are its own arguments
dc_run() {
	local hosts=$1
	shift
	unshare --mount --propagation private -- bash -c \
		'mount --bind "$0" /etc/hosts && cd "$1" && shift && exec "$@"' \
		"$hosts" "$INTEROP_DIR" "$DC_PY" "$@"
}

max_message_size() {
	local ini v
	ini=$(renv "$1" INI)
	v=$(sed -n 's/^max_message_size *= *//p' "$ini" 2>/dev/null)
	echo "${v:-31457280}"
}
