#!/usr/bin/env bash
# test_idle: our chatmail_idle Dovecot plugin (dovecot/, built into
# build/dovecot) in Debian's real imap and dovecot-lda, run standalone
# by idle_check.py (see there): loaded, IDLE hears of new mail before
# Dovecot's 500 ms delay (and not without the plugin), bursts give every
# EXISTS once, inotify watches counted in /proc/<pid>/fdinfo (two during
# IDLE, none after, also after 30 rounds and NOTIFY), a clean exit when
# the client hangs up in IDLE.
# shellcheck source=tests/integration/lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

PLUGINS=${DOVECOT_PLUGINS_DIR:-$TOP/build/dovecot}
why=""
[ "$(id -u)" -eq 0 ] || why="needs root"
[ -x /usr/lib/dovecot/imap ] && [ -x /usr/lib/dovecot/dovecot-lda ] ||
	why="$why dovecot-imapd/dovecot-core missing (make deps)"
[ -s "$PLUGINS/lib90_chatmail_idle_plugin.so" ] ||
	why="$why chatmail_idle not built (make dovecot-plugins)"
if [ -n "$why" ]; then
	echo "1..0 # SKIP$why"
	exit 0
fi
W=$(workdir dovecot-idle)
exec $PY "$(dirname "$0")/idle_check.py" "$W" "$PLUGINS"
