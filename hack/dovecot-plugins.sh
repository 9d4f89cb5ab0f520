#!/usr/bin/env bash
# dovecot-plugins.sh: put our Dovecot plugins (dovecot/, built by make
# into build/dovecot/) where this machine's Dovecot loads them from, so
# the local relays (hack/local-relay.sh) and the integration tier run
# the rendered dovecot.conf, whose imap mail_plugins names them, as the
# Dovecot image does. Needs root: the module directory is Debian's.
#
#   hack/dovecot-plugins.sh install   copy each plugin that differs from
#                                     the installed one (atomically: a
#                                     running Dovecot keeps its copy)
#   hack/dovecot-plugins.sh check     the installed ones are the built
#                                     ones; exit 1 if not
#
# DOVECOT_PLUGINS_DIR: where the built plugins are (default
# build/dovecot). The module directory is dovecot-dev's dovecot_moduledir
# (/usr/lib/dovecot/modules). A plugin not built, or built against
# another dovecot-core than the installed one (the version it carries,
# see hack/dovecot-abi.sh), is an error: the rendered config would not
# load, or load the wrong code. Exit 0, 1 mismatch, 69
# not built or no dovecot-dev.
set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SRC=${DOVECOT_PLUGINS_DIR:-$TOP/build/dovecot}
NAMES="chatmail_idle"

moduledir() {
	local d
	d=$(sed -n 's/^dovecot_moduledir=//p' /usr/lib/dovecot/dovecot-config 2>/dev/null)
	echo "${d:-/usr/lib/dovecot/modules}"
}

built() { # built NAME: the built plugin's path, if built for this Dovecot
	local f=$SRC/lib90_$1_plugin.so core
	[ -s "$f" ] || {
		echo "dovecot-plugins: $f not built (make dovecot-plugins)" >&2
		return 69
	}
	# the plugin names the dovecot-dev it was built against
	# (chatmail_idle_plugin_built_for); it must be the installed Dovecot
	core=$(dpkg-query -W -f='${Version}' dovecot-core 2>/dev/null) || core=none
	grep -aqF "built against dovecot-dev $core" "$f" || {
		echo "dovecot-plugins: $f was not built for dovecot-core $core (make dovecot-plugins)" >&2
		return 69
	}
	echo "$f"
}

cmd_install() {
	local dst n f t
	dst=$(moduledir)
	[ -d "$dst" ] || { echo "dovecot-plugins: no $dst (make deps)" >&2; exit 69; }
	for n in $NAMES; do
		f=$(built "$n") || exit 69
		t=$dst/$(basename "$f")
		cmp -s "$f" "$t" && continue
		install -m 0644 "$f" "$t.tmp.$$"
		mv -f "$t.tmp.$$" "$t"
		echo "dovecot-plugins: installed $t"
	done
}

cmd_check() {
	local dst n f rc=0
	dst=$(moduledir)
	for n in $NAMES; do
		f=$(built "$n") || exit 69
		if ! cmp -s "$f" "$dst/$(basename "$f")"; then
			echo "dovecot-plugins: $dst/$(basename "$f") is not $f" >&2
			rc=1
		fi
	done
	return $rc
}

case ${1:-} in
install) cmd_install ;;
check) cmd_check ;;
*)
	echo "usage: $0 install|check" >&2
	exit 64
	;;
esac
