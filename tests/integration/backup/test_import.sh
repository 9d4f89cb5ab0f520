#!/usr/bin/env bash
# test_import: moving an upstream relay in and back out
# (docs/UPSTREAM.md, Moving a relay), against a local relay for
# example.test (hack/local-relay.sh: real Postfix, Dovecot, our
# services) and Debian's restic.
#
# The upstream tree, at upstream's paths: home/vmail/mail/example.test
# is the fixture the Dovecot tests use (tests/data/vmail-fixture: two
# accounts, one message), home/vmail/passdb.sqlite a legacy password
# database with one more account, etc/dkimkeys/opendkim.private a DKIM
# key, and var/spool/postfix/maildrop one message queued by a real
# Postfix (sendmail -> postdrop). `chatmail-backup import` makes a
# snapshot of it; a new relay restores it into empty volumes and
# starts: both fixture accounts log in with their passwords, the
# message is in fixture02's INBOX, the legacy account logs in
# (doveauth migrated the database), the queued message is delivered,
# the DKIM key and record are the tree's. Then the other way: a backup
# of that relay exported to upstream's layout holds the same password
# files, the message, the key.
# shellcheck source=tests/integration/lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source=tests/integration/relay/lib.sh
. "$(dirname "$0")/../relay/lib.sh"
# shellcheck source=tests/integration/backup/lib.sh
. "$(dirname "$0")/lib.sh"

relay_prereqs
backup_prereqs
tap_init
relay_workdir relay-import
LR=$TOP/hack/local-relay.sh
OWNERS=2000:2000:$(id -u postfix):$(id -g postfix):$(getent group postdrop | cut -d: -f3)
export RESTIC_PASSWORD_FILE=$W/restic.pw RESTIC_CACHE_DIR=$W/restic-cache
export RESTIC_REPOSITORY=$W/repo
head -c 18 /dev/urandom | base64 >"$RESTIC_PASSWORD_FILE"

U=$W/upstream
MB=$U/home/vmail/mail/example.test
upstream_tree "$U"
ok $? "an upstream tree: the fixture store, a legacy passdb.sqlite, a DKIM key, a message queued by Postfix"
QID=$UPSTREAM_QID
cp "$U/etc/dkimkeys/opendkim.private" "$W/dkim.orig"

cb import --from "$U" --host example-test >"$W/import.log" 2>&1
ok $? "chatmail-backup import makes a snapshot of it"
sed 's/^/# /' "$W/import.log" | grep -E 'files|saved' || true
restic ls latest >"$W/ls.txt" 2>/dev/null
grep -q '^/vmail/mail/example.test/fixture01@example.test/password$' "$W/ls.txt" &&
	grep -q '^/vmail/passdb.sqlite$' "$W/ls.txt" &&
	grep -q '^/queue/maildrop/.' "$W/ls.txt" &&
	grep -q '^/dkim/opendkim.private$' "$W/ls.txt" &&
	! grep -q '^/queue/public' "$W/ls.txt"
ok $? "the snapshot holds the store, the database, the queued message, the key (not Postfix's sockets)"
[ ! -e "$U/.chatmail-import" ]
ok $? "the import's staging tree is gone"

# a new relay for example.test, its volumes emptied as a new claim's
cat >"$W/relay.yaml" <<'EOF'
apiVersion: chatmail.at/v1alpha1
kind: ChatmailRelay
metadata:
  name: imported
spec:
  domain: example.test
EOF
relays_up "$W" 1 "$W/relay.yaml" || { ok 1 "relay e2e1 (example.test) up"; tap_done; }
E=$ENV1
R=$(renv "$E" ROOT)
"$LR" down e2e1 >/dev/null 2>&1
rm -rf "${R:?}/vmail" "$R/spool" "$R/dkim"
mkdir -p "$R/vmail" "$R/spool/postfix" "$R/dkim"
cb restore --vmail "$R/vmail" --queue "$R/spool/postfix" \
	--dkim "$R/dkim/opendkim.private" --owners "$OWNERS" >"$W/restore.log" 2>&1
ok $? "a new relay restores the import into empty volumes"
"$LR" up e2e1 >"$W/up2.log" 2>&1
ok $? "the relay starts on them"
cmp -s "$W/dkim.orig" "$R/dkim/opendkim.private" &&
	[ "$(renv "$E" DKIM_TXT)" = "v=DKIM1;k=rsa;p=$(openssl rsa -in "$W/dkim.orig" -pubout -outform DER 2>/dev/null | base64 -w 0);s=email;t=s" ]
ok $? "its DKIM key and record are the upstream relay's"
check "fixture01 logs in with its upstream password" rc capability "$E" fixture01@example.test fixturepw1
rc fetch "$E" fixture02@example.test fixturepw2 fixture1@example.test --timeout 10 >"$W/f1.eml" 2>/dev/null &&
	grep -q 'fixture body' "$W/f1.eml"
ok $? "fixture02 logs in and reads its upstream message"
check "the legacy passdb.sqlite account logs in (migrated by doveauth)" \
	rc capability "$E" oldtimer@example.test legacypw7
[ -e "$R/vmail/passdb.sqlite.old" ] && [ -s "$(renv "$E" MAILBOXES)/oldtimer@example.test/password" ]
ok $? "passdb.sqlite became .old, oldtimer has a password file"
postqueue -c "$R/postfix" -f 2>/dev/null
rc fetch "$E" fixture02@example.test fixturepw2 "$QID" --timeout 60 >/dev/null 2>&1
ok $? "the message queued on the upstream relay is delivered"

# and back: a backup of this relay, exported to upstream's layout
cb backup --vmail "$R/vmail" --queue "$R/spool/postfix" --dkim "$R/dkim/opendkim.private" \
	--host example-test >"$W/backup.log" 2>&1
ok $? "a backup of the relay"
X=$W/export
cb export --to "$X" >"$W/export.log" 2>&1
ok $? "chatmail-backup export to upstream's layout"
XM=$X/home/vmail/mail/example.test
cmp -s "$MB/fixture01@example.test/password" "$XM/fixture01@example.test/password" &&
	cmp -s "$W/dkim.orig" "$X/etc/dkimkeys/opendkim.private" &&
	[ -d "$X/var/spool/postfix" ] &&
	grep -rqs 'fixture body' "$XM/fixture02@example.test/cur" "$XM/fixture02@example.test/new"
ok $? "the export holds the password files, the DKIM key, the queue directory and the message at upstream's paths"
find "$XM/fixture02@example.test/cur" "$XM/fixture02@example.test/new" -type f \
	-exec zcat -f {} + 2>/dev/null | grep -qF "$QID"
ok $? "and the once-queued message, delivered since"
[ ! -e "$X/.chatmail-export" ]
ok $? "the export's staging tree is gone"

tap_done
