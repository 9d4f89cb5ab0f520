#!/usr/bin/env bash
# postfix.sh: run Debian's real Postfix as a loopback-only instance whose
# whole state lives under a test's work directory. Source it after
# common.sh. An instance started here is stopped at exit (on_exit).
#
#   postfix_main_base STACK      print the main.cf lines every instance
#                                needs (queue, data and log under STACK,
#                                loopback only, no DNS, no local delivery,
#                                TLS with STACK/certs/{cert,key}.pem);
#                                append the test's own settings
#   postfix_master_base          print the standard master.cf services
#                                (pickup ... postlog, chroot off); put
#                                the test's own services before them
#   postfix_write STACK MAIN MASTER
#                                install the two files as the instance's
#                                main.cf / master.cf (back-dated, so
#                                Postfix does not wait for them to settle)
#   postfix_start STACK [SECS]   check + start, wait for the master pid;
#                                sets POSTFIX_PID; stopped at exit
#   postfix_stop STACK           stop the master, wait until it is gone
#   postfix_log STACK            the path of the instance's log
#   postfix_queue_count STACK    messages in the queue
#   postfix_flush STACK          retry deferred mail now (postqueue -f)
#   sink_start DIR PORT          smtp-sink on 127.0.0.1:PORT dumping each
#                                message into DIR (one file each); sets
#                                SINK_PID; stopped at exit
#
# Traps handled (Debian's Postfix in a test directory): maillog_file
# needs maillog_file_prefixes; data_directory must belong to postfix;
# chroot must be off for absolute socket paths; a config younger than
# about 2 s makes Postfix wait; the master is reparented to init, so a
# zombie counts as stopped.

postfix_main_base() {
	local stack=$1
	cat <<EOF
compatibility_level = 3.6
queue_directory = $stack/postfix/spool
data_directory = $stack/postfix/data
mail_owner = postfix
setgid_group = postdrop
maillog_file = $stack/log/postfix.log
maillog_file_prefixes = $stack/log
myhostname = mail.example.test
mydomain = example.test
myorigin = \$mydomain
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
local_recipient_maps =
notify_classes =
smtp_dns_support_level = disabled
smtpd_peername_lookup = no
smtpd_tls_cert_file = $stack/certs/cert.pem
smtpd_tls_key_file = $stack/certs/key.pem
smtpd_tls_security_level = may
smtp_tls_security_level = none
EOF
}

postfix_master_base() {
	cat <<'EOF'
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n -  0 cleanup
qmgr      unix  n - n 300 1 qmgr
tlsmgr    unix  - - n 1000? 1 tlsmgr
rewrite   unix  - - n -  - trivial-rewrite
bounce    unix  - - n -  0 bounce
defer     unix  - - n -  0 bounce
trace     unix  - - n -  0 bounce
verify    unix  - - n -  1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n -  - proxymap
proxywrite unix - - n -  1 proxymap
smtp      unix  - - n -  - smtp
relay     unix  - - n -  - smtp
showq     unix  n - n -  - showq
error     unix  - - n -  - error
retry     unix  - - n -  - error
discard   unix  - - n -  - discard
lmtp      unix  - - n -  - lmtp
anvil     unix  - - n -  1 anvil
scache    unix  - - n -  1 scache
postlog   unix-dgram n - n - 1 postlogd
EOF
}

postfix_write() { # postfix_write STACK MAINFILE MASTERFILE
	local stack=$1 etc=$1/postfix/etc
	mkdir -p "$etc" "$stack/postfix/spool" "$stack/postfix/data" \
		"$stack/log"
	chown postfix "$stack/postfix/data"
	cp "$2" "$etc/main.cf"
	cp "$3" "$etc/master.cf"
	touch -d '10 seconds ago' "$etc/main.cf" "$etc/master.cf"
}

postfix_log() { echo "$1/log/postfix.log"; }

postfix_start() { # postfix_start STACK [SECS]
	local stack=$1 secs=${2:-15} etc=$1/postfix/etc pidf i
	pidf=$stack/postfix/spool/pid/master.pid
	postfix -c "$etc" check </dev/null >>"$stack/log/postfix-start.log" 2>&1 ||
		{ cat "$stack/log/postfix-start.log" >&2; return 1; }
	touch "$stack/postfix/spool/quick-start"
	postfix -c "$etc" start </dev/null >>"$stack/log/postfix-start.log" 2>&1 ||
		{ cat "$stack/log/postfix-start.log" >&2; return 1; }
	on_exit "postfix_stop '$stack'"
	for ((i = 0; i < secs * 20; i++)); do
		if [ -s "$pidf" ]; then
			POSTFIX_PID=$(tr -d ' ' <"$pidf")
			export POSTFIX_PID
			return 0
		fi
		sleep 0.05
	done
	echo "postfix did not start" >&2
	return 1
}

postfix_stop() { # postfix_stop STACK
	local pidf=$1/postfix/spool/pid/master.pid pid
	[ -s "$pidf" ] || return 0
	pid=$(tr -d ' ' <"$pidf")
	stop_pid "$pid" 10
	rm -f "$pidf"
}

postfix_queue_count() { # messages in the queue (postqueue -j: one line each)
	postqueue -c "$1/postfix/etc" -j 2>/dev/null | grep -c '"queue_id"'
}

postfix_flush() { postqueue -c "$1/postfix/etc" -f >/dev/null 2>&1; }

sink_start() { # sink_start DIR PORT
	local dir=$1 port=$2
	mkdir -p "$dir"
	chmod 777 "$dir"
	smtp-sink -u postfix -d "$dir/%M." -c "127.0.0.1:$port" 1000 \
		</dev/null >>"$dir/../smtp-sink.log" 2>&1 &
	SINK_PID=$!
	export SINK_PID
	on_exit "stop_pid $SINK_PID"
	wait_port 127.0.0.1 "$port" 10
}
