#!/usr/bin/env bash
# test_idle: IMAP IDLE on a relay with our chatmail_idle Dovecot plugin
# (dovecot/), with real clients (idle_relay.py: imaplib, smtplib, gpg)
# and the relay's /proc (idle_watches.sh): Dovecot started only after
# its start check saw imap load the plugin; mail reported less than
# 500 ms after the submission's 250 (impossible with Dovecot's own
# 500 ms wait); the IDLE process maps the plugin, 2 inotify watches
# during IDLE and 0 after; a burst of 10 reported once each; new mail
# after hibernation; no process left when the client hangs up in IDLE.
# Runs on hack/local-relay.sh (integration) and on the relay Pod
# (RELAY_HARNESS=hack/relay-k8s.sh on the test node, tests/e2e/run.sh).
# shellcheck source=tests/integration/lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source=tests/integration/relay/lib.sh
. "$(dirname "$0")/lib.sh"

relay_prereqs
tap_init
relay_workdir relay-idle
relays_up "$W" 1 || { ok 1 "relay up"; tap_done; }

# dovecot_log: the relay's Dovecot output (a harness with "logs NAME
# CONTAINER", a cluster's; else the files in LOG)
dovecot_log() {
	if grep -q '^logs)' "$RELAY_HARNESS"; then
		"$RELAY_HARNESS" logs "$(renv "$ENV1" NAME)" dovecot 2>/dev/null
	else
		cat "$(renv "$ENV1" LOG)"/*dovecot* 2>/dev/null
	fi
}
dovecot_log | grep "dovecot-run: imap loads chatmail_idle" >"$W/start.txt"
ok $? "Dovecot started after its start check: $(head -n 1 "$W/start.txt")"

read -r A PA < <(new_account "$ENV1")
read -r B PB < <(new_account "$ENV1")
K=$W/gnupg
rc genkey "$K" "$B" >/dev/null 2>&1
ok $? "accounts and the recipient's key"

$PY "$RELAY_DIR/idle_relay.py" "$ENV1" "$A" "$PA" "$B" "$PB" "$K" \
	"'$RELAY_DIR/idle_watches.sh' '$ENV1' '$B'" >"$W/idle.tap" 2>"$W/idle.err"
rc=$?
while IFS= read -r line; do
	case $line in
	"ok "*) ok 0 "${line#ok * - }" ;;
	"not ok "*) ok 1 "${line#not ok * - }" ;;
	"1.."*) ;;
	*) echo "$line" ;;
	esac
done <"$W/idle.tap"
if [ $rc -ne 0 ] && ! grep -q '^not ok' "$W/idle.tap"; then
	ok 1 "idle_relay.py exited $rc"
	sed 's/^/# /' "$W/idle.err" | tail -n 20
fi
leaks=$(dovecot_log | grep -E "I/O notify leak|inotify_rm_watch|Panic|Fatal" | head -n 5)
[ -z "$leaks" ]
ok $? "no leak, inotify or fatal lines in Dovecot's log${leaks:+: $leaks}"
tap_done
