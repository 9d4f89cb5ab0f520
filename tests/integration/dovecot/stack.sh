#!/usr/bin/env bash
# stack.sh: a chatmail mail store served by Debian's real Dovecot 2.3
# with our doveauth, lastlogin and chatmail-metadata behind it, wired as
# upstream's dovecot.conf.j2 wires them (passdb/userdb dict via
# auth.conf, mail_attribute_dict, last_login, imap_metadata, LMTP with
# the push_notification lua hook). Sourced by the tests in this
# directory (after common.sh and dovecot.sh):
#
#   stack_workdir NAME       a work directory the vmail user can reach
#   stack_up W [INI_LINES]   build and start everything under W; sets
#                            CONF INI MBOX RUN IMAP_PORT IMAPS_PORT
#                            LMTP_SOCK SVCLOG (the services' log)
#   METADATA_FLAGS           extra flags for chatmail-metadata (array)
#   metadata_start           (re)start chatmail-metadata (METADATA_PID)
#   FIXTURE                  a mailboxes tree copied in before the start
#
# The services run as vmail with their sockets at mode 0600, Dovecot's
# auth-worker, imap and lmtp processes as vmail: upstream's arrangement.

# stack_workdir NAME: workdir NAME when the vmail user can reach it and
# its Unix socket paths stay short (sun_path holds 108 bytes); else a
# fresh /tmp/cm-NAME.XXXXXX (a CI clone may sit under a 0700 directory
# or a long path). stack_up removes it at exit unless KEEP=1.
stack_workdir() {
	local name=$1 w
	w=$(workdir "$name")
	if [ ${#w} -le 48 ] && as_vmail test -x "$w" 2>/dev/null; then
		echo "$w"
		return
	fi
	w=$(mktemp -d "/tmp/cm-$name.XXXXXX")
	chmod 755 "$w"
	echo "$w"
}

# metadata_start: (re)start chatmail-metadata; sets METADATA_PID
metadata_start() {
	rm -f "$RUN/metadata.socket"
	service_start metadata "$SVCLOG" "$RUNBIN/chatmail-metadata" \
		-m 0600 "${METADATA_FLAGS[@]}" "$RUN/metadata.socket" \
		"$INI" || return 1
	export METADATA_PID=$SERVICE_PID
	wait_socket "$RUN/metadata.socket"
}

stack_up() {
	local w=$1 extra=${2:-}
	# registered first, so it runs last (after the daemons are stopped);
	# workdir's own cleanup is lost in the $(...) subshell
	[ "${KEEP:-0}" = 1 ] || on_exit "rm -rf '$w'"
	RUN=$w/run
	MBOX=$w/vmail/mail/example.test
	INI=$w/chatmail.ini
	CONF=$w/dovecot/dovecot.conf
	SVCLOG=$w/log/services.log
	export LMTP_SOCK=$w/dovecot/run/lmtp
	IMAP_PORT=$(free_port)
	IMAPS_PORT=$(free_port)
	mkdir -p "$RUN" "$MBOX" "$w/log" "$w/dovecot"
	if [ -n "${FIXTURE:-}" ]; then
		cp -a "$FIXTURE/." "$MBOX/"
	fi
	chown vmail:vmail "$RUN" "$w/vmail" "$w/vmail/mail"
	chown -R vmail:vmail "$MBOX"
	cat >"$INI" <<INI
[params]
mail_domain = example.test
mailboxes_dir = $MBOX
nocreate_file = $w/nocreate
turn_socket_path = $RUN/turn.socket
max_load_1m = 99999
min_available_memory = 0
min_free_disk_space = 0
$extra
INI
	: >"$SVCLOG"
	chmod 666 "$SVCLOG"
	# copies the vmail user can run wherever the tree was checked out
	RUNBIN=$w/bin
	mkdir -p "$RUNBIN"
	cp "$BIN/doveauth" "$BIN/lastlogin" "$RUNBIN/" || return 1
	[ ! -x "$BIN/chatmail-metadata" ] || cp "$BIN/chatmail-metadata" "$RUNBIN/"
	service_start doveauth "$SVCLOG" "$RUNBIN/doveauth" -m 0600 \
		"$RUN/doveauth.socket" "$INI" || return 1
	service_start lastlogin "$SVCLOG" "$RUNBIN/lastlogin" -m 0600 \
		"$RUN/lastlogin.socket" "$INI" || return 1
	if [ -x "$RUNBIN/chatmail-metadata" ]; then
		metadata_start || return 1
	fi
	wait_socket "$RUN/doveauth.socket" || return 1
	wait_socket "$RUN/lastlogin.socket" || return 1

	cat >"$w/dovecot/auth.conf" <<AUTH
uri = proxy:$RUN/doveauth.socket:auth
iterate_disable = no
iterate_prefix = userdb/
default_pass_scheme = plain
password_key = passdb/%Ew"%Eu
user_key = userdb/%Eu
AUTH
	# our hook: a message from someone else marks /private/messagenew,
	# which the metadata dict turns into push notifications
	cat >"$w/dovecot/push.lua" <<'LUA'
function dovecot_lua_notify_begin_txn(user)
  return user
end

function dovecot_lua_notify_event_message_new(user, event)
  if event.from_address == user.username then
    return
  end
  local box = user:mailbox(event.mailbox)
  box:sync()
  box:metadata_set("/private/messagenew", "")
  box:free()
end

function dovecot_lua_notify_end_txn(ctx, success)
end
LUA
	{
		dovecot_base_conf "$w"
		cat <<CONF
protocols = imap lmtp
auth_mechanisms = plain
auth_username_chars = abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ01234567890.-_@[]
imap_capability = +XDELTAPUSH XCHATMAIL
mail_uid = vmail
mail_gid = vmail
passdb {
  driver = dict
  args = $w/dovecot/auth.conf
}
userdb {
  driver = dict
  args = $w/dovecot/auth.conf
}
mail_location = maildir:$MBOX/%u
mail_attribute_dict = proxy:$RUN/metadata.socket:metadata
protocol imap {
  mail_plugins = \$mail_plugins last_login
  imap_metadata = yes
}
plugin {
  last_login_dict = proxy:$RUN/lastlogin.socket:lastlogin
  last_login_precision = s
  push_notification_driver = lua:file=$w/dovecot/push.lua
}
protocol lmtp {
  mail_plugins = \$mail_plugins mail_lua notify push_notification push_notification_lua
}
lmtp_add_received_header = no
service lmtp {
  user = vmail
}
service auth-worker {
  user = vmail
}
# no failure delays: the tests fail logins on purpose (upstream turns
# the auth penalty off too)
auth_failure_delay = 0
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $IMAP_PORT
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = $IMAPS_PORT
    ssl = yes
  }
}
CONF
	} >"$CONF"
	dovecot_start "$CONF" || return 1
	wait_port 127.0.0.1 "$IMAP_PORT"
}
