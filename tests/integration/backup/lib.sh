#!/usr/bin/env bash
# lib.sh: helpers of the backup tests (tests/integration/backup,
# tests/e2e/test_backup_restore.sh, tests/e2e/test_import.sh). Source
# after ../lib/common.sh.
#
#   backup_prereqs            skip the file (TAP plan 0) without restic or
#                             chatmail-backup
#   cb ARGS...                build/bin/chatmail-backup
#   backup_s3 HOST            versitygw on HOST, restic's settings exported
#   upstream_tree DIR         an upstream relay's state at upstream's
#                             paths under DIR, for example.test: the
#                             Dovecot tests' fixture store
#                             (tests/data/vmail-fixture: fixture01 and
#                             fixture02, passwords fixturepw1/2, one
#                             message <fixture1@example.test>), a legacy
#                             home/vmail/passdb.sqlite with
#                             oldtimer@example.test (password legacypw7),
#                             etc/dkimkeys/opendkim.private, and one
#                             message to fixture02 queued by a real
#                             Postfix (sendmail -> postdrop) in
#                             var/spool/postfix/maildrop; its Message-ID
#                             in UPSTREAM_QID
#   test_spec_lines           the spec lines hack/relay-k8s.sh gives its
#                             own test relays (IPv4 only, send limits and
#                             system limits for a loaded test machine)

backup_prereqs() {
	command -v restic >/dev/null || { echo "1..0 # SKIP restic missing (make deps)"; exit 0; }
	[ -x "$BIN/chatmail-backup" ] || { echo "1..0 # SKIP chatmail-backup not built"; exit 0; }
}

cb() { "$BIN/chatmail-backup" "$@"; }

# backup_s3 HOST: restic's password in $W, versitygw (hack/s3-server.sh)
# on a free port of HOST (the node's tests: the host's end of the
# node's link, where Pods route), its credentials and RESTIC_REPOSITORY
# (bucket chatmail-backups, path e2e1) exported, S3ADDR and S3DIR set;
# one TAP line; stopped on exit
backup_s3() {
	local t0=$SECONDS
	export RESTIC_PASSWORD_FILE=$W/restic.pw RESTIC_CACHE_DIR=$W/restic-cache
	head -c 18 /dev/urandom | base64 | tr -d '\n' >"$RESTIC_PASSWORD_FILE"
	S3DIR=$W/s3
	S3ADDR=$1:$(free_port)
	"$TOP/hack/s3-server.sh" start "$S3DIR" "$S3ADDR" >"$W/s3.log" 2>&1
	ok $? "versitygw serves S3 on $S3ADDR (build or cache + start $((SECONDS - t0)) s)"
	on_exit "'$TOP/hack/s3-server.sh' stop '$S3DIR'"
	set -a
	eval "$("$TOP/hack/s3-server.sh" env "$S3DIR" "$S3ADDR")"
	set +a
	export RESTIC_REPOSITORY=s3:http://$S3ADDR/chatmail-backups/e2e1
}

test_spec_lines() {
	cat <<'EOF'
  network: {disableIPv6: true}
  limits: {maxUserSendPerMinute: 600, maxUserSendBurstSize: 100}
  systemLimits: {maxLoad1m: 1000, minAvailableMemory: 1M, minFreeDiskSpace: 1M}
EOF
}

upstream_tree() {
	local u=$1 mb now hash f
	mb=$u/home/vmail/mail/example.test
	mkdir -p "$mb" "$u/etc/dkimkeys" "$u/etc/postfix" "$u/var/spool/postfix"
	cp -a "$TOP/tests/data/vmail-fixture/." "$mb/"
	now=$(date +%s)
	while read -r f; do
		sed "s/@NOW@/$now/g" "$f" >"${f%.in}" && rm -f "$f"
	done < <(find "$mb" -name '*.in')
	find "$mb" -name .keep -delete
	hash=$(openssl passwd -6 -salt legacysaltlegacy legacypw7)
	"$PY" - "$u/home/vmail/passdb.sqlite" "{SHA512-CRYPT}$hash" <<'PY' || return 1
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1])
c.execute("CREATE TABLE users (addr TEXT PRIMARY KEY, password TEXT, last_login INTEGER)")
c.execute("INSERT INTO users VALUES (?, ?, ?)", ("oldtimer@example.test", sys.argv[2], int(time.time())))
c.commit()
PY
	openssl genrsa -out "$u/etc/dkimkeys/opendkim.private" 2048 2>/dev/null || return 1
	cat >"$u/etc/postfix/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $u/var/spool/postfix
myhostname = example.test
EOF
	install -d -o postfix -g postdrop -m 1730 "$u/var/spool/postfix/maildrop"
	install -d -o postfix -g postdrop -m 0710 "$u/var/spool/postfix/public"
	UPSTREAM_QID=queued-$RANDOM@example.test
	printf 'From: someone@example.test\nTo: fixture02@example.test\nSubject: queued\nMessage-ID: <%s>\n\nwaiting\n' \
		"$UPSTREAM_QID" |
		sendmail -C "$u/etc/postfix" -f someone@example.test fixture02@example.test 2>/dev/null
	chown -R 2000:2000 "$u/home/vmail"
	[ "$(find "$u/var/spool/postfix/maildrop" -type f | wc -l)" -eq 1 ] &&
		[ -s "$u/home/vmail/passdb.sqlite" ]
}
