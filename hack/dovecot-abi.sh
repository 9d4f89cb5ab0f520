#!/usr/bin/env bash
# dovecot-abi.sh: the ABI check of our Dovecot plugins (dovecot/module.mk
# runs it before every plugin build). A plugin is built against
# dovecot-dev's headers and loaded into the running Dovecot, whose
# structs it uses directly (struct mailbox, its vfuncs): the two must be
# exactly the same Debian upload. dovecot-dev does not depend on
# dovecot-core's version, so apt can leave them apart; this makes that
# a build failure instead of a plugin that crashes or silently does not
# load.
#
#   hack/dovecot-abi.sh OUT.h   check, then write OUT.h (only when its
#                               contents change) with
#                               CHATMAIL_DOVECOT_PACKAGE "<version>"
#
# Checks: dovecot-dev and dovecot-core installed, same Debian version;
# the headers' DOVECOT_VERSION is what `dovecot --version` says.
# Exit 0, or 1 with one line saying what differs.
set -euo pipefail

out=${1:?usage: dovecot-abi.sh OUT.h}
inc=${DOVECOT_INC:-/usr/include/dovecot}

fail() {
	echo "dovecot-abi: $*" >&2
	exit 1
}

pkgver() { # pkgver PKG: the installed version, or nothing
	dpkg-query -W -f='${db:Status-Abbrev} ${Version}' "$1" 2>/dev/null |
		awk '$1 == "ii" { print $2 }'
}

dev=$(pkgver dovecot-dev)
core=$(pkgver dovecot-core)
[ -n "$dev" ] || fail "dovecot-dev is not installed (make deps)"
[ -n "$core" ] || fail "dovecot-core is not installed (make deps)"
[ "$dev" = "$core" ] ||
	fail "dovecot-dev $dev and dovecot-core $core differ: install both of one version"
[ -r "$inc/config.h" ] || fail "$inc/config.h missing (dovecot-dev broken?)"
hdr=$(sed -n 's/^#define DOVECOT_VERSION "\(.*\)"$/\1/p' "$inc/config.h")
run=$(dovecot --version 2>/dev/null | cut -d' ' -f1) ||
	fail "dovecot --version failed"
if [ -z "$hdr" ] || [ "$hdr" != "$run" ]; then
	fail "headers are Dovecot '$hdr', the installed dovecot is '$run'"
fi

tmp=$out.tmp
mkdir -p "$(dirname "$out")"
printf '/* written by hack/dovecot-abi.sh: the Debian package the plugins\n * are built against */\n#define CHATMAIL_DOVECOT_PACKAGE "%s"\n' \
	"$dev" >"$tmp"
if cmp -s "$tmp" "$out"; then
	rm -f "$tmp"
else
	mv "$tmp" "$out"
fi
