#!/usr/bin/env bash
# test_filtermail_drain.sh: SIGTERM while a message is being reinjected
# (smtp-sink answers DATA only after 2 s): filtermail stops accepting,
# finishes that message (the client gets 250, the sink has it once),
# then exits by itself.
# shellcheck source=tests/integration/lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source=tests/integration/lib/postfix.sh
. "$(dirname "$0")/../lib/postfix.sh"

tap_init
W=$(workdir filtermail-drain)
# workdir ran in a subshell, so its own cleanup did not register here
[ "${KEEP:-0}" = 1 ] || on_exit "rm -rf '$W'"
CLIENT="$PY $(dirname "$0")/smtpclient.py"
SINKP=$(free_port)
FMP=$(free_port)
HTTPP=$(free_port)

mkdir -p "$W/sink" "$W/log"
chmod 777 "$W/sink"
smtp-sink -u postfix -w 2 -d "$W/sink/%M." -c "127.0.0.1:$SINKP" 100 \
	</dev/null >/dev/null 2>&1 &
SINK=$!
on_exit "stop_pid $SINK"
wait_port 127.0.0.1 "$SINKP" 10 || { ok 1 "smtp-sink starts"; tap_done; }

cat >"$W/chatmail.ini" <<INI
[params]
mail_domain = example.test
filtermail_smtp_port_incoming = $FMP
filtermail_http_port_incoming = $HTTPP
postfix_reinject_port_incoming = $SINKP
mailboxes_dir = $W/mail
INI
FILTERMAIL_SKIP_DKIM=1 "$BIN/filtermail" "$W/chatmail.ini" incoming \
	</dev/null >"$W/log/fm.log" 2>&1 &
FM=$!
on_exit "stop_pid $FM"
wait_port 127.0.0.1 "$FMP" 10 || { ok 1 "filtermail starts"; tap_done; }

printf 'From: a@remote.test\r\nTo: b@example.test\r\nMessage-ID: <drain1@remote.test>\r\n\r\nhello\r\n' >"$W/m.eml"
(sleep 0.7 && kill -TERM "$FM") &
out=$($CLIENT send "$FMP" a@remote.test b@example.test "$W/m.eml")
ok "$([ "$out" = OK ] && echo 0 || echo 1)" "the message in flight at SIGTERM is finished ($out)"
for ((i = 0; i < 100; i++)); do pid_alive "$FM" || break; sleep 0.05; done
ok "$(pid_alive "$FM" && echo 1 || echo 0)" "filtermail exits by itself afterwards"
n=$(grep -lF drain1@remote.test "$W"/sink/*.* 2>/dev/null | wc -l)
ok "$([ "$n" = 1 ] && echo 0 || echo 1)" "the message was delivered once ($n)"
check "the stop was logged" grep -q 'finishing the messages in flight' "$W/log/fm.log"
if (exec 3<>"/dev/tcp/127.0.0.1/$FMP") 2>/dev/null; then
	ok 1 "the port is closed"
else
	ok 0 "the port is closed"
fi
tap_done
