#!/usr/bin/env bash
# test_backup_restore: spec.backup and spec.restore on the real node
# (hack/relay-k8s.sh), with a real S3 server (versitygw,
# hack/s3-server.sh) on the host's side of the node's link.
#
# Relay e2e1 with backup to the bucket: accounts A and B, two messages
# A -> B. The backup CronJob's Job runs to completion and the bucket
# holds a snapshot with B's mail and the DKIM key (read back with
# restic on the host). The relay is purged (relay, claims, DKIM Secret
# gone). As README's "Restore" says: the DKIM key from the snapshot
# into a Secret, the old manifest with restore, that Secret and the
# repository's backup fields as a new relay e2e1; its restore init
# container fills the new claims; A and B log in with their old
# passwords, B reads both messages, the DKIM record is the old one. A
# Pod restart does not restore again. Then backups again, to the PVC
# target: a backup Job into a claim, its repository read on the host.
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
relay_workdir e2e-backup
# the S3 server on the host's end of the node's link (Pods route there)
backup_s3 "$NODE_NET.255.1"

spec() { # spec FILE: relay e2e1 with backup to the bucket
	cat >"$1" <<EOF
apiVersion: chatmail.at/v1alpha1
kind: ChatmailRelay
metadata:
  name: e2e1
spec:
  domain: _e2e1.chat.test
$(test_spec_lines)
  backup:
    enabled: true
    target: S3
    s3:
      endpoint: http://$S3ADDR
      bucket: chatmail-backups
      credentialsSecretName: s3-creds
    passwordSecretName: restic-pw
EOF
}
secrets() { # the repository's password and the bucket's keys
	kube "$ENV1" create secret generic restic-pw --from-file=password="$RESTIC_PASSWORD_FILE" &&
		kube "$ENV1" create secret generic s3-creds \
			--from-literal=AWS_ACCESS_KEY_ID="$AWS_ACCESS_KEY_ID" \
			--from-literal=AWS_SECRET_ACCESS_KEY="$AWS_SECRET_ACCESS_KEY" \
			--from-literal=AWS_DEFAULT_REGION=us-east-1
}

spec "$W/backup.yaml"
t0=$SECONDS
relays_up "$W" 1 "$W/backup.yaml" || { ok 1 "relay e2e1 with backup up"; tap_done; }
ok 0 "relay e2e1 with spec.backup Ready ($((SECONDS - t0)) s)"
secrets >/dev/null
ok $? "Secrets restic-pw and s3-creds in $(renv "$ENV1" NAMESPACE)"
kube "$ENV1" get cronjob e2e1-backup >/dev/null 2>&1
ok $? "the operator made CronJob e2e1-backup"

read -r A PA < <(new_account "$ENV1")
read -r B PB < <(new_account "$ENV1")
K=$W/gnupg
rc genkey "$K" "$B" >/dev/null 2>&1
M1=bk1-$RANDOM@e2e.test M2=bk2-$RANDOM@e2e.test
rc send "$ENV1" "$A" "$PA" "$B" --keydir "$K" --msgid "$M1" >/dev/null &&
	rc send "$ENV1" "$A" "$PA" "$B" --keydir "$K" --msgid "$M2" >/dev/null &&
	rc fetch "$ENV1" "$B" "$PB" "$M1" >/dev/null 2>&1 &&
	rc fetch "$ENV1" "$B" "$PB" "$M2" >/dev/null 2>&1
ok $? "accounts A and B, two messages A -> B delivered"
DKIM_OLD=$(renv "$ENV1" DKIM_TXT)

t0=$SECONDS
relay_pod job e2e1 backup >"$W/job.log" 2>&1
ok $? "the backup CronJob's Job ran to completion ($((SECONDS - t0)) s)"
sed 's/^/# backup: /' "$W/job.log" | grep -E 'mail volume|queue:|saved|backup done' || true
restic ls latest >"$W/ls.txt" 2>"$W/ls.err"
grep -q "^/vmail/mail/.*/$B/password$" "$W/ls.txt" && grep -q '^/dkim/opendkim.private$' "$W/ls.txt"
ok $? "the bucket holds a snapshot with B's account and the DKIM key"
restic dump latest /dkim/opendkim.private >"$W/dkim.key" 2>/dev/null
kube "$ENV1" get secret e2e1-dkim -o 'jsonpath={.data.opendkim\.private}' | base64 -d >"$W/dkim.live"
cmp -s "$W/dkim.key" "$W/dkim.live"
ok $? "the snapshot's DKIM key is the relay's"

NS=$(renv "$ENV1" NAMESPACE)
relay_pod purge e2e1 >"$W/purge.log" 2>&1
wait_until 120 sh -c "! '$NODE_KUBECTL' -n '$NS' get pvc mail-e2e1-0 >/dev/null 2>&1"
ok $? "relay e2e1 purged: relay, claims and DKIM Secret deleted"

"$NODE_KUBECTL" -n "$NS" create secret generic e2e1-dkim-restored \
	--from-file=opendkim.private="$W/dkim.key" >/dev/null
ok $? "the DKIM key from the snapshot as Secret e2e1-dkim-restored (restic dump)"
# the new relay as README's "Restore" makes it: the old manifest, the
# restored DKIM key, restore, and the repository's backup fields
"$NODE_KUBECTL" -n "$NS" create -f "$W/backup.yaml" --dry-run=client -o json |
	jq --arg ep "http://$S3ADDR" '.spec.dkim.secretName = "e2e1-dkim-restored" |
		.spec.restore = {enabled: true, snapshot: "latest"} |
		.spec.backup = {target: "S3", passwordSecretName: "restic-pw",
			s3: {endpoint: $ep, bucket: "chatmail-backups",
				credentialsSecretName: "s3-creds"}}' >"$W/restore.yaml"
t0=$SECONDS
relays_up "$W" 1 "$W/restore.yaml" || { ok 1 "a new relay e2e1 with restore up"; tap_done; }
ok 0 "a new relay e2e1 with spec.restore Ready on new claims ($((SECONDS - t0)) s)"
kube "$ENV1" logs "$(pod_of "$ENV1")" -c restore >"$W/restore.log" 2>&1
grep -q 'restored snapshot' "$W/restore.log"
ok $? "its restore init container restored the snapshot"
sed 's/^/# restore: /' "$W/restore.log" | tail -n 3
check "A logs in with the old password" rc capability "$ENV1" "$A" "$PA"
rc msgids "$ENV1" "$B" "$PB" >"$W/b.ids" 2>/dev/null
grep -qx "$M1" "$W/b.ids" && grep -qx "$M2" "$W/b.ids"
ok $? "B logs in with the old password and reads both old messages"
[ "$(renv "$ENV1" DKIM_TXT)" = "$DKIM_OLD" ]
ok $? "the relay's DKIM record is the old one"
rc send "$ENV1" "$A" "$PA" "$B" --keydir "$K" --msgid "new-$M1" >/dev/null &&
	rc fetch "$ENV1" "$B" "$PB" "new-$M1" >/dev/null 2>&1
ok $? "new mail flows on the restored relay"

relay_pod restart e2e1 >/dev/null 2>&1 && relay_pod refresh e2e1 >/dev/null 2>&1
kube "$ENV1" logs "$(pod_of "$ENV1")" -c restore >"$W/restore2.log" 2>&1
grep -q 'nothing to do' "$W/restore2.log" && rc msgids "$ENV1" "$B" "$PB" | grep -qx "new-$M1"
ok $? "a new Pod on the same claims restores nothing (the new message stays)"

! kube "$ENV1" get cronjob e2e1-backup >/dev/null 2>&1
ok $? "backup not enabled on the restored relay: no CronJob"

# the PVC target: a claim for the repository, a backup Job into it
kube "$ENV1" apply -f - >/dev/null <<'EOF'
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: backups
spec:
  accessModes: [ReadWriteOnce]
  resources:
    requests:
      storage: 1Gi
EOF
kube "$ENV1" patch chatmailrelay e2e1 --type merge \
	-p '{"spec":{"backup":{"enabled":true,"target":"PVC","claimName":"backups"}}}' >/dev/null &&
	wait_until 60 sh -c "'$NODE_KUBECTL' -n '$NS' get cronjob e2e1-backup -o json | grep -q '\"claimName\": \"backups\"'"
ok $? "backup.target PVC: the CronJob mounts claim backups"
relay_pod job e2e1 backup >"$W/job2.log" 2>&1
ok $? "the backup Job into the claim ran to completion"
pv=$(kube "$ENV1" get pvc backups -o 'jsonpath={.spec.volumeName}')
dir=$("$NODE_KUBECTL" get pv "$pv" -o 'jsonpath={.spec.local.path}{.spec.hostPath.path}')
dir=${NODE_ROOT:-}$dir
n=$(RESTIC_REPOSITORY=$dir/e2e1 restic snapshots --json 2>/dev/null | jq length)
[ "${n:-0}" -ge 1 ]
ok $? "the claim holds the repository with ${n:-0} snapshot"

tap_done
