#!/usr/bin/env bash
# dovecot.sh: run Debian's real Dovecot 2.3 (and our dict services) as
# loopback-only instances under a test's work directory. Source it after
# common.sh. Everything started here is stopped at exit (on_exit).
#
#   tls_cert DIR                  DIR/cert.pem + DIR/key.pem (self-signed,
#                                 CN mail.example.test, SAN 127.0.0.1)
#   dovecot_base_conf STACK       print the lines every instance needs
#                                 (base_dir/state_dir/log under STACK,
#                                 listen 127.0.0.1, ssl with STACK/certs);
#                                 append the test's own settings
#   dovecot_start CONF [SECS]     start `dovecot -c CONF`, wait for its
#                                 master.pid and the listeners; sets
#                                 DOVECOT_PID; stopped at exit
#   dovecot_stop CONF             TERM the master, wait until it is gone
#   dovecot_log CONF              the path of the instance's log
#   doveadm_c CONF ARGS...        doveadm with that instance's config
#   as_vmail CMD...               run CMD as the vmail user (uid 2000)
#   service_start NAME LOG CMD... start a service (as vmail) in the
#                                 background; sets SERVICE_PID; stopped
#                                 at exit
#   wait_socket PATH [SECS]       until PATH is a socket
#   wait_log FILE REGEX [SECS]    until FILE has a line matching REGEX
#
# Traps handled (Debian's Dovecot run by a test as root): dovecot keeps
# the caller's stderr, so it is started with its output to a file; the
# master is reparented to init, so a zombie counts as stopped.

_conf_get() { # _conf_get CONF KEY: the first "KEY = value" in CONF
	sed -n "s/^[[:space:]]*$2[[:space:]]*=[[:space:]]*//p" "$1" | head -n 1
}

tls_cert() {
	local dir=$1
	mkdir -p "$dir"
	openssl req -x509 -newkey rsa:2048 -nodes -days 30 \
		-keyout "$dir/key.pem" -out "$dir/cert.pem" \
		-subj "/CN=mail.example.test" \
		-addext "subjectAltName=DNS:mail.example.test,DNS:localhost,IP:127.0.0.1" \
		>/dev/null 2>&1
	chmod 644 "$dir/cert.pem" "$dir/key.pem"
}

dovecot_base_conf() {
	local stack=$1
	mkdir -p "$stack/dovecot/run" "$stack/dovecot/state" "$stack/log"
	[ -e "$stack/certs/cert.pem" ] || tls_cert "$stack/certs"
	cat <<EOF
base_dir = $stack/dovecot/run
state_dir = $stack/dovecot/state
instance_name = dovecot-$(basename "$stack")-$$
log_path = $stack/log/dovecot.log
listen = 127.0.0.1
ssl = yes
ssl_cert = <$stack/certs/cert.pem
ssl_key = <$stack/certs/key.pem
disable_plaintext_auth = no
first_valid_uid = 100
EOF
}

dovecot_log() { _conf_get "$1" log_path; }

doveadm_c() {
	local conf=$1
	shift
	doveadm -c "$conf" "$@"
}

dovecot_start() {
	local conf=$1 secs=${2:-15} base i
	base=$(_conf_get "$conf" base_dir)
	rm -f "$base/master.pid"
	if ! dovecot -c "$conf" </dev/null >>"$base/../start.log" 2>&1; then
		cat "$base/../start.log" >&2
		return 1
	fi
	on_exit "dovecot_stop '$conf'"
	for ((i = 0; i < secs * 20; i++)); do
		if [ -s "$base/master.pid" ]; then
			export DOVECOT_PID
			DOVECOT_PID=$(cat "$base/master.pid")
			# the login listeners answer once the master is up
			doveadm_c "$conf" service status >/dev/null 2>&1 && return 0
		fi
		sleep 0.05
	done
	echo "dovecot did not start" >&2
	return 1
}

dovecot_stop() {
	local conf=$1 base pid
	base=$(_conf_get "$conf" base_dir)
	[ -s "$base/master.pid" ] || return 0
	pid=$(cat "$base/master.pid")
	stop_pid "$pid" 10
	rm -f "$base/master.pid"
}

as_vmail() {
	setpriv --reuid=vmail --regid=vmail --clear-groups -- "$@"
}

service_start() {
	local name=$1 log=$2
	shift 2
	# setpriv itself in the background (it execs the service), not the
	# as_vmail function: a backgrounded function is a subshell whose PID
	# is not the service's, and stopping it left the service running
	setpriv --reuid=vmail --regid=vmail --clear-groups -- "$@" \
		</dev/null >>"$log" 2>&1 &
	SERVICE_PID=$!
	on_exit "stop_pid $SERVICE_PID"
	[ -n "$name" ]
}

wait_socket() {
	local path=$1 secs=${2:-10} i
	for ((i = 0; i < secs * 20; i++)); do
		[ -S "$path" ] && return 0
		sleep 0.05
	done
	echo "timeout waiting for socket $path" >&2
	return 1
}

wait_log() {
	local file=$1 re=$2 secs=${3:-10} i
	for ((i = 0; i < secs * 20; i++)); do
		grep -qE "$re" "$file" 2>/dev/null && return 0
		sleep 0.05
	done
	echo "timeout waiting for /$re/ in $file" >&2
	return 1
}
