#!/usr/bin/env bash
# test_quota_dovecot.sh: the expiry jobs against Debian's real Dovecot
# with upstream's quota setup (docs/UPSTREAM.md, Dovecot: maildir quota,
# quota_rule, quota_warning = storage=75%% quota-warning <70 % in MB>
# <mailbox>, the quota-warning service running chatmail-quota-expire as
# vmail through Dovecot's script helper).
#
#  1. A mailbox at 70 % of a 10 MiB quota gets one more message over
#     LMTP: Dovecot crosses 75 %, runs chatmail-quota-expire 7 <mailbox>,
#     which removes the oldest message; `doveadm quota get` then reports
#     at most 70 %, and the log has upstream's quota-expire line.
#  2. chatmail-expire --remove deletes old messages and maildirsize;
#     `doveadm quota get` recomputes the usage from what is left.
# shellcheck source=tests/integration/lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

tap_init
W=$(workdir jobs-quota-dovecot)
MB=$W/mail/example.org
CONF=$W/dovecot.conf
mkdir -p "$W/run" "$W/state" "$W/log" "$MB"

as_vmail() { setpriv --reuid=2000 --regid=2000 --clear-groups -- "$@"; }

cat >"$CONF" <<EOF
base_dir = $W/run
state_dir = $W/state
instance_name = dovecot-jobs-$$
log_path = $W/log/dovecot.log
info_log_path = $W/log/dovecot.log
listen = 127.0.0.1
protocols = lmtp
ssl = no
mail_uid = vmail
mail_gid = vmail
first_valid_uid = 100
mail_location = maildir:$MB/%u
mail_plugins = quota
passdb {
  driver = static
  args = nopassword=y
}
userdb {
  driver = static
  args = uid=vmail gid=vmail home=$MB/%u allow_all_users=yes
}
plugin {
  quota = maildir:User quota
  quota_rule = *:storage=10M
  quota_grace = 0
  quota_warning = storage=75%% quota-warning 7 $MB/%u
}
service quota-warning {
  executable = script $BIN/chatmail-quota-expire
  user = vmail
  unix_listener quota-warning {
    user = vmail
  }
}
service lmtp {
  unix_listener lmtp {
    mode = 0666
  }
}
EOF

# msg DIR DAYS_OLD SIZE: a message of SIZE bytes named as Dovecot does
msg() {
	$PY - "$@" <<'PYEOF'
import os, sys, time
d, days, size = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
t = int(time.time() - days * 86400)
head = b"From: a@example.org\r\nSubject: x\r\n\r\n"
body = head + b"x" * (size - len(head))
name = f"{t}.M{os.getpid()}P1.host,S={size},W={size}:2,S"
p = os.path.join(d, name)
open(p, "wb").write(body)
os.utime(p, (t, t))
PYEOF
}

# storage USER: doveadm's STORAGE value (KiB)
storage() {
	doveadm -c "$CONF" quota get -u "$1" 2>>"$W/log/doveadm.err" |
		awk '$3 == "STORAGE" { print $4 }'
}

U1=full@example.org
U2=old@example.org
mkdir -p "$MB/$U1"/{cur,new,tmp} "$MB/$U2"/{cur,new,tmp}
for d in 10 9 8 7 6 5 4; do
	msg "$MB/$U1/cur" "$d" 1048576 || true
done
for d in 30 25 22; do
	msg "$MB/$U2/cur" "$d" 204800 || true
done
for d in 3 1; do
	msg "$MB/$U2/new" "$d" 102400 || true
done
touch "$MB/$U2/password"
chown -R vmail:vmail "$W/mail"
[ "$(find "$MB/$U1/cur" -type f | wc -l)" -eq 7 ]
ok $? "7 old messages of 1 MiB in $U1 (70 % of 10 MiB)"

dovecot -c "$CONF" </dev/null >>"$W/log/start.log" 2>&1
ok $? "dovecot starts"
on_exit "stop_pid \$(cat '$W/run/master.pid' 2>/dev/null) 10"
wait_file "$W/run/lmtp" 10 >/dev/null 2>&1
doveadm -c "$CONF" quota recalc -u "$U1" 2>>"$W/log/doveadm.err"
before=$(storage "$U1")
[ "$before" = 7168 ]
ok $? "doveadm quota get: $U1 at ${before:-?} KiB (want 7168)"

# one more message over LMTP crosses 75 %
$PY - "$W/run/lmtp" <<'PYEOF' >"$W/log/lmtp.log" 2>&1
import smtplib, sys
body = "From: b@example.org\r\nTo: full@example.org\r\nSubject: y\r\n\r\n" + "y" * 1048000
s = smtplib.LMTP(sys.argv[1])
s.sendmail("b@example.org", ["full@example.org"], body)
s.quit()
PYEOF
ok $? "LMTP delivery of a 1 MiB message to $U1"
wait_log() { # wait_log FILE REGEX SECS
	local i
	for ((i = 0; i < $3 * 20; i++)); do
		grep -qE "$2" "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}
wait_log "$W/log/dovecot.log" "quota-expire: removed 1 message\(s\) from $U1" 10
ok $? "quota-warning ran chatmail-quota-expire: upstream's log line"
sleep 0.2
after=$(storage "$U1")
[ -n "$after" ] && [ "$after" -le 7168 ]
ok $? "doveadm quota get after the warning: ${after:-?} KiB <= 70 % (7168)"
[ "$(find "$MB/$U1/cur" "$MB/$U1/new" -type f | wc -l)" -eq 7 ]
ok $? "the oldest message went, the new one stayed"

# chatmail-expire: old messages and maildirsize go, Dovecot recomputes
doveadm -c "$CONF" quota recalc -u "$U2" 2>>"$W/log/doveadm.err"
b2=$(storage "$U2")
[ "$b2" = 800 ]
ok $? "doveadm quota get: $U2 at ${b2:-?} KiB (want 800)"
cat >"$W/chatmail.ini" <<EOF
[params]
mail_domain = example.org
mailboxes_dir = $MB
EOF
as_vmail "$BIN/chatmail-expire" "$W/chatmail.ini" -v --remove >"$W/expire.out" 2>"$W/expire.err"
ok $? "chatmail-expire --remove as vmail"
[ ! -e "$MB/$U2/maildirsize" ] && [ "$(find "$MB/$U2/cur" -type f | wc -l)" -eq 0 ]
ok $? "old messages and maildirsize removed"
a2=$(storage "$U2")
[ "$a2" = 200 ]
ok $? "doveadm quota get recomputes: ${a2:-?} KiB (want 200)"
[ -s "$MB/$U2/maildirsize" ]
ok $? "Dovecot wrote a fresh maildirsize"

tap_done
