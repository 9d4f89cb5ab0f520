#!/usr/bin/env bash
# lib.sh: helpers for the relay end-to-end tests. Source after common.sh.
#
#   relay_workdir NAME        W=build/test/NAME, fresh, removed at exit (calls
#                             workdir in this shell: W=$(workdir ..) would
#                             register its cleanup in a subshell)
#   relay_prereqs             skip the whole file (TAP plan 0 + skip) when
#                             not root, or daemons/binaries are missing
#   relays_up DIR N [SPEC]    start relays e2e1..e2eN with hack/local-relay.sh
#                             under DIR (their own net, see LOCAL_RELAY_NET
#                             below); stopped at exit; sets
#                             ENV1..ENVN (relay.env paths). RELAY_HARNESS
#                             names another script with the same up/down
#                             interface and relay.env (hack/relay-k8s.sh:
#                             relays the operator runs on the test
#                             node, make e2e)
#   renv ENV KEY              a value from a relay.env
#   rc ARGS...                tests/integration/relay/relay_client.py
#   new_account ENV           "email password" of a fresh, logged-in account
#   todo_ok STATUS NAME WHY   a known failure: "not ok ... # TODO WHY"
#                             (counted as passing, shown in the log) or ok
#   relay_postfix ENV CMD ARGS...
#                             a Postfix command (postqueue, postcat, ...)
#                             with the relay's configuration, run where
#                             the relay runs it (POSTFIX_EXEC and
#                             POSTFIX_CONF of relay.env; default: here,
#                             with ROOT/postfix)
#
# The relays listen inside network namespaces; the host reaches them over
# the bridge. Clients are real: Python's imaplib/smtplib/ssl, curl, gpg.

RELAY_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RC_PY=$RELAY_DIR/relay_client.py
# a /24 per test process (10.150.0 - 10.249.0), so two runs at once (or a
# developer's relays on 10.77.0) do not collide
export LOCAL_RELAY_NET=${LOCAL_RELAY_NET:-10.$((150 + $$ % 100)).0}
RELAY_HARNESS=${RELAY_HARNESS:-$TOP/hack/local-relay.sh}

relay_workdir() { # sets W for the caller
	workdir "$1" >/dev/null
	# shellcheck disable=SC2034 # W is for the sourcing test
	W=$TOP/build/test/$1
}

relay_prereqs() {
	local why="" p
	[ "$(id -u)" -eq 0 ] || why="needs root"
	for p in postfix dovecot nginx dnsmasq openssl gpg curl setpriv xmllint; do
		command -v "$p" >/dev/null || why="$why $p missing"
	done
	for p in relay-render doveauth filtermail newemail; do
		[ -x "$BIN/$p" ] || why="$why $p not built"
	done
	if [ -n "$why" ]; then
		echo "1..0 # SKIP $why"
		exit 0
	fi
}

relays_up() {
	local dir=$1 n=$2 spec=${3:-} i
	export LOCAL_RELAY_BASE=$dir/relays
	for ((i = 1; i <= n; i++)); do
		on_exit "'$RELAY_HARNESS' down e2e$i >/dev/null 2>&1"
		if ! LOCAL_RELAY_SPEC=$spec "$RELAY_HARNESS" up "e2e$i" >"$dir/up$i.log" 2>&1; then
			echo "# local-relay up e2e$i failed:"
			tail -n 20 "$dir/up$i.log" | sed 's/^/# /'
			return 1
		fi
		eval "ENV$i=\$LOCAL_RELAY_BASE/e2e$i/relay.env"
		grep -h 'loopback fallback' "$dir/up$i.log" | sed 's/^/# /' || true
	done
}

renv() { sed -n "s/^$2=//p" "$1" | tr -d '"'; }

rc() { $PY "$RC_PY" "$@"; }

# new_account ENV: POST /new, then log in once (which creates it)
new_account() {
	local creds user pw i
	# /new draws the password from letters, digits and punctuation (as
	# upstream); one starting with "-" would be read as an option by
	# relay_client.py's argument parser, so ask again (bounded)
	for i in 1 2 3 4 5; do
		creds=$(rc new "$1") || return 1
		read -r user pw <<<"$creds"
		[[ $pw == -* ]] || break
	done
	[[ $pw == -* ]] && return 1
	rc capability "$1" "$user" "$pw" >/dev/null || return 1
	echo "$creds"
}

todo_ok() { # todo_ok STATUS NAME WHY
	_tap_n=$((_tap_n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $_tap_n - $2"
	else
		echo "not ok $_tap_n - $2 # TODO $3"
	fi
}

relay_postfix() { # relay_postfix ENV CMD ARGS...
	local env=$1 cmd=$2 conf pre
	shift 2
	conf=$(renv "$env" POSTFIX_CONF)
	[ -n "$conf" ] || conf=$(renv "$env" ROOT)/postfix
	read -r -a pre <<<"$(renv "$env" POSTFIX_EXEC)"
	"${pre[@]}" "$cmd" -c "$conf" "$@"
}
