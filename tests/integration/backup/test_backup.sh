#!/usr/bin/env bash
# test_backup: chatmail-backup with Debian's restic against a local relay
# (hack/local-relay.sh: real Postfix, Dovecot and our services), to a
# directory repository (what the PVC target is) and to a real S3 server
# (versitygw, hack/s3-server.sh).
#
# Accounts A and B, two encrypted messages A -> B, one message waiting
# in Postfix's maildrop queue (Postfix stopped). Backups to both
# repositories; restic's repository holds no plaintext (encryption); a
# second backup of unchanged volumes adds no file (deduplication);
# retention keeps what --keep-* says. Then the relay is deleted with its
# volumes and DKIM key, restored from the S3 repository into empty ones
# and started: A and B log in with their old passwords, B reads both
# messages and the queued one is delivered, the DKIM key is the old one.
# A restore into volumes that hold mail restores nothing; a relay whose
# DKIM key differs from the backup's is refused (78).
# shellcheck source=tests/integration/lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source=tests/integration/relay/lib.sh
. "$(dirname "$0")/../relay/lib.sh"
# shellcheck source=tests/integration/backup/lib.sh
. "$(dirname "$0")/lib.sh"

relay_prereqs
backup_prereqs
tap_init
relay_workdir relay-backup
relays_up "$W" 1 || { ok 1 "relay e2e1 up"; tap_done; }
ok 0 "relay e2e1 up"
E=$ENV1
R=$(renv "$E" ROOT)
LR=$TOP/hack/local-relay.sh
OWNERS=2000:2000:$(id -u postfix):$(id -g postfix):$(getent group postdrop | cut -d: -f3)
export RESTIC_PASSWORD_FILE=$W/restic.pw RESTIC_CACHE_DIR=$W/restic-cache
head -c 18 /dev/urandom | base64 >"$RESTIC_PASSWORD_FILE"
backup_to() { # backup_to REPO LOG [ARGS]: a backup of e2e1's volumes
	local repo=$1 log=$2
	shift 2
	RESTIC_REPOSITORY=$repo cb backup --vmail "$R/vmail" --queue "$R/spool/postfix" \
		--dkim "$R/dkim/opendkim.private" --host e2e1 "$@" >"$log" 2>&1
}

# the S3 server: built once from the Go module proxy (cached)
S3DIR=$W/s3
S3=""
if t0=$SECONDS && "$TOP/hack/s3-server.sh" build >"$W/s3-build.log" 2>&1; then
	port=$(free_port)
	if "$TOP/hack/s3-server.sh" start "$S3DIR" "127.0.0.1:$port" >"$W/s3.log" 2>&1; then
		on_exit "'$TOP/hack/s3-server.sh' stop '$S3DIR'"
		S3=s3:http://127.0.0.1:$port/chatmail-backups/e2e1
		set -a
		eval "$("$TOP/hack/s3-server.sh" env "$S3DIR" "127.0.0.1:$port")"
		set +a
	fi
	ok $? "versitygw serves S3 on 127.0.0.1:$port (build + start $((SECONDS - t0)) s)"
else
	ok 1 "versitygw built (hack/s3-server.sh)"
	sed 's/^/# /' "$W/s3-build.log" | tail -n 5
fi

read -r A PA < <(new_account "$E")
read -r B PB < <(new_account "$E")
K=$W/gnupg
rc genkey "$K" "$B" >/dev/null 2>&1
ok $? "accounts A and B, B's key"
M1=bk1-$RANDOM@e2e.test M2=bk2-$RANDOM@e2e.test M3=bk3-$RANDOM@e2e.test
rc send "$E" "$A" "$PA" "$B" --keydir "$K" --msgid "$M1" >/dev/null &&
	rc send "$E" "$A" "$PA" "$B" --keydir "$K" --msgid "$M2" >/dev/null &&
	rc fetch "$E" "$B" "$PB" "$M1" >/dev/null 2>&1 &&
	rc fetch "$E" "$B" "$PB" "$M2" >/dev/null 2>&1
ok $? "two messages A -> B delivered"

# a message in the maildrop queue: Postfix stopped, postdrop writes it
"$LR" stop e2e1 postfix >/dev/null 2>&1
printf 'From: %s\nTo: %s\nSubject: queued\nMessage-ID: <%s>\n\nwaiting\n' \
	"$A" "$B" "$M3" | sendmail -C "$R/postfix" -f "$A" "$B" 2>/dev/null
n=$(find "$R/spool/postfix/maildrop" -type f | wc -l)
[ "$n" -eq 1 ]
ok $? "one message waits in the maildrop queue ($n)"
DKIM_OLD=$(renv "$E" DKIM_TXT)
cp "$R/dkim/opendkim.private" "$W/dkim.orig"

DIRREPO=$W/repo
backup_to "$DIRREPO" "$W/b1.log"
ok $? "backup to a directory repository (the PVC target)"
sed 's/^/# /' "$W/b1.log" | grep -E 'mail volume|queue|snapshot .* saved' || true
if [ -n "$S3" ]; then
	backup_to "$S3" "$W/b-s3.log"
	ok $? "backup to the S3 bucket"
	n=$(find "$S3DIR/chatmail-backups/e2e1/data" -type f | wc -l)
	[ "$n" -gt 0 ]
	ok $? "the bucket holds the repository's data ($n pack files)"
fi
! grep -rqF "$M3" "$DIRREPO" && ! grep -rqF "waiting" "$DIRREPO"
ok $? "the repository holds no plaintext (encrypted)"
RESTIC_REPOSITORY=$DIRREPO restic ls latest >"$W/ls.txt" 2>/dev/null
grep -q "^/vmail/mail/.*/$B/password$" "$W/ls.txt" &&
	grep -q '^/queue/maildrop/' "$W/ls.txt" &&
	grep -q '^/dkim/opendkim.private$' "$W/ls.txt" &&
	! grep -q '/tmp/.' "$W/ls.txt"
ok $? "the snapshot holds B's password file, the queued message, the DKIM key, no maildir tmp/ files"

backup_to "$DIRREPO" "$W/b2.log" --keep-daily 1 --keep-weekly 0 --keep-monthly 0
grep -E '^Files: +0 new, +0 changed' "$W/b2.log" >/dev/null
ok $? "a second backup of unchanged volumes adds no file ($(grep -E '^Files:' "$W/b2.log"))"
n=$(RESTIC_REPOSITORY=$DIRREPO restic snapshots --json 2>/dev/null | jq length)
[ "$n" = 1 ]
ok $? "retention: --keep-daily 1 left one snapshot of two ($n)"

# the relay and its volumes are gone
"$LR" down e2e1 >/dev/null 2>&1
rm -rf "${R:?}/vmail" "$R/spool" "$R/dkim"
mkdir -p "$R/vmail" "$R/spool/postfix" "$R/dkim"
[ ! -e "$R/dkim/opendkim.private" ] && [ -z "$(find "$R/vmail" -type f)" ]
ok $? "relay down, its mail, queue and DKIM key deleted"

REPO=${S3:-$DIRREPO}
where="the directory"
[ -n "$S3" ] && where="the S3 bucket"
RESTIC_REPOSITORY=$REPO cb restore --vmail "$R/vmail" --queue "$R/spool/postfix" \
	--dkim "$R/dkim/opendkim.private" --owners "$OWNERS" >"$W/restore.log" 2>&1
ok $? "restore from $where into empty volumes"
sed 's/^/# /' "$W/restore.log" | grep -v '^# $' | tail -n 4
cmp -s "$W/dkim.orig" "$R/dkim/opendkim.private"
ok $? "the DKIM key is the old one"
"$LR" up e2e1 >"$W/up2.log" 2>&1
ok $? "the relay starts on the restored volumes"
[ "$(renv "$E" DKIM_TXT)" = "$DKIM_OLD" ]
ok $? "its DKIM record is the old one"
check "A logs in with the old password" rc capability "$E" "$A" "$PA"
rc msgids "$E" "$B" "$PB" >"$W/b.ids" 2>/dev/null
grep -qx "$M1" "$W/b.ids" && grep -qx "$M2" "$W/b.ids"
ok $? "B logs in with the old password and reads both messages"
postqueue -c "$R/postfix" -f 2>/dev/null
rc fetch "$E" "$B" "$PB" "$M3" --timeout 60 >/dev/null 2>&1
ok $? "the queued message is delivered from the restored queue"
rc send "$E" "$A" "$PA" "$B" --keydir "$K" --msgid "after-$M1" >/dev/null &&
	rc fetch "$E" "$B" "$PB" "after-$M1" >/dev/null 2>&1
ok $? "new mail flows on the restored relay"

RESTIC_REPOSITORY=$REPO cb restore --vmail "$R/vmail" --queue "$R/spool/postfix" \
	--dkim "$R/dkim/opendkim.private" >"$W/restore2.log" 2>&1 &&
	grep -q 'nothing to do\|nothing restored' "$W/restore2.log"
ok $? "a second restore leaves the volumes alone"
mkdir -p "$W/other/vmail" "$W/other/queue"
openssl genrsa -out "$W/other/key" 2048 2>/dev/null
RESTIC_REPOSITORY=$REPO cb restore --vmail "$W/other/vmail" --queue "$W/other/queue" \
	--dkim "$W/other/key" >"$W/restore3.log" 2>&1
st=$?
[ "$st" -eq 78 ] && grep -q "is not the one in snapshot" "$W/restore3.log" &&
	[ -z "$(find "$W/other/vmail" -path "*/.chatmail-restore" -prune -o -name password -print)" ]
ok $? "a relay with another DKIM key is refused (exit $st), nothing moved in"

tap_done
