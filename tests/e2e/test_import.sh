#!/usr/bin/env bash
# test_import: an upstream relay moved onto the real node and back
# (docs/UPSTREAM.md, Moving a relay; README, Day two).
#
# The upstream tree (tests/integration/backup/lib.sh upstream_tree: the
# Dovecot tests' fixture store for example.test, a legacy passdb.sqlite,
# a DKIM key, a message queued by a real Postfix) is imported with
# `chatmail-backup import` into a real S3 bucket (versitygw); its DKIM
# key becomes a Secret; relay e2e1 for example.test with spec.restore
# starts on the restored claims: the fixture accounts log in with their
# upstream passwords and read their message, the legacy account logs in
# (doveauth migrated the database), the queued message is delivered,
# the DKIM record is the upstream key's. Back out: the relay's backup
# Job, then `chatmail-backup export` to upstream's layout holds the
# password files, the key and the mail.
# shellcheck source=tests/integration/lib/common.sh
. "$(dirname "$0")/../integration/lib/common.sh"
# shellcheck source=tests/integration/relay/lib.sh
. "$(dirname "$0")/../integration/relay/lib.sh"
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/backup/lib.sh
. "$(dirname "$0")/../integration/backup/lib.sh"

if [ "$(basename "$RELAY_HARNESS")" != relay-k8s.sh ] || ! declare -F kube >/dev/null; then
	echo "1..0 # SKIP needs the real node's harness (hack/relay-k8s.sh)"
	exit 0
fi
e2e_prereqs
relay_prereqs
backup_prereqs
tap_init
relay_workdir e2e-import
# the S3 server on the host's end of the node's link (Pods route there)
backup_s3 "$NODE_NET.255.1"

U=$W/upstream
upstream_tree "$U"
ok $? "an upstream tree: fixture store, legacy passdb.sqlite, DKIM key, a queued message"
cb import --from "$U" --host e2e1 >"$W/import.log" 2>&1
ok $? "chatmail-backup import into the bucket"

cat >"$W/relay.yaml" <<EOF
apiVersion: chatmail.at/v1alpha1
kind: ChatmailRelay
metadata:
  name: e2e1
spec:
  domain: example.test
$(test_spec_lines)
  # example.test has no ACME server in this test (upstream's default for
  # a domain without "_" is ACME)
  tls: {mode: SelfSigned}
  dkim:
    secretName: e2e1-dkim-imported
  backup:
    target: S3
    s3:
      endpoint: http://$S3ADDR
      bucket: chatmail-backups
      credentialsSecretName: s3-creds
    passwordSecretName: restic-pw
  restore:
    enabled: true
EOF
# the namespace the harness will use, and the Secrets the relay names
NS=${RELAY_K8S_NS:-${RELAY_K8S_NS_PREFIX:-e2e}-$(printf %s "$W/relays" | sha256sum | cut -c1-8)}
k() { "$NODE_KUBECTL" --request-timeout=30s -n "$NS" "$@"; }
{ k get namespace "$NS" >/dev/null 2>&1 || k create namespace "$NS"; } >/dev/null 2>&1
k create secret generic restic-pw --from-file=password="$RESTIC_PASSWORD_FILE" >/dev/null &&
	k create secret generic s3-creds --from-literal=AWS_ACCESS_KEY_ID="$AWS_ACCESS_KEY_ID" \
		--from-literal=AWS_SECRET_ACCESS_KEY="$AWS_SECRET_ACCESS_KEY" \
		--from-literal=AWS_DEFAULT_REGION=us-east-1 >/dev/null &&
	k create secret generic e2e1-dkim-imported \
		--from-file=opendkim.private="$U/etc/dkimkeys/opendkim.private" >/dev/null
ok $? "Secrets: the repository's password, the bucket's keys, the upstream DKIM key"

t0=$SECONDS
relays_up "$W" 1 "$W/relay.yaml" || { ok 1 "relay e2e1 for example.test with restore up"; tap_done; }
ok 0 "relay e2e1 for example.test Ready on the imported state ($((SECONDS - t0)) s)"
E=$ENV1
kube "$E" logs "$(pod_of "$E")" -c restore 2>&1 | sed 's/^/# restore: /' | tail -n 3
check "fixture01 logs in with its upstream password" rc capability "$E" fixture01@example.test fixturepw1
rc fetch "$E" fixture02@example.test fixturepw2 fixture1@example.test --timeout 10 >"$W/f1.eml" 2>/dev/null &&
	grep -q 'fixture body' "$W/f1.eml"
ok $? "fixture02 logs in and reads its upstream message"
check "the legacy passdb.sqlite account logs in (migrated by doveauth)" \
	rc capability "$E" oldtimer@example.test legacypw7
pf "$E" postqueue -f >/dev/null 2>&1
rc fetch "$E" fixture02@example.test fixturepw2 "$UPSTREAM_QID" --timeout 60 >/dev/null 2>&1
ok $? "the message queued on the upstream relay is delivered"
want="v=DKIM1;k=rsa;p=$(openssl rsa -in "$U/etc/dkimkeys/opendkim.private" -pubout -outform DER 2>/dev/null | base64 -w 0);s=email;t=s"
[ "$(renv "$E" DKIM_TXT)" = "$want" ]
ok $? "the relay's DKIM record is the upstream key's"

# and back out
kube "$E" patch chatmailrelay e2e1 --type merge -p '{"spec":{"backup":{"enabled":true}}}' >/dev/null &&
	wait_until 60 kube "$E" get cronjob e2e1-backup >/dev/null 2>&1
ok $? "backup enabled: CronJob e2e1-backup"
relay_pod job e2e1 backup >"$W/job.log" 2>&1
ok $? "the backup Job ran to completion"
X=$W/export
cb export --to "$X" >"$W/export.log" 2>&1
ok $? "chatmail-backup export to upstream's layout"
XM=$X/home/vmail/mail/example.test
cmp -s "$U/home/vmail/mail/example.test/fixture01@example.test/password" \
	"$XM/fixture01@example.test/password" &&
	cmp -s "$U/etc/dkimkeys/opendkim.private" "$X/etc/dkimkeys/opendkim.private" &&
	[ -s "$XM/oldtimer@example.test/password" ] &&
	grep -rqs 'fixture body' "$XM/fixture02@example.test"
ok $? "the export holds the password files (oldtimer's too), the DKIM key and the mail at upstream's paths"

tap_done
