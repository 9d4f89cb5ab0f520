#!/usr/bin/env bash
# test_expire_tree.sh: chatmail-expire and chatmail-metrics on a generated
# mail store of a few hundred mailboxes (subfolders, odd names, symlinks
# into a directory outside the store, over-quota mailboxes, empty and
# password-less directories) and entries the job cannot read.
#
# Unreadable entries: the jobs run as vmail (setpriv), like the CronJob,
# on a store owned by vmail, with one mailbox and one folder owned by root
# with mode 0700 (root would read them anyway, so testing as root cannot
# show the "keep going, exit 75" path).
#
# The expected result comes from expire_oracle.py, an independent Python
# statement of upstream's rules. Checks: the dry run deletes nothing and
# counts what the oracle counts; the real run removes exactly the
# oracle's paths and prints upstream's summary with its figures; a second
# run removes nothing; nothing outside the store changes; the metrics
# textfile has the oracle's account figures.
# shellcheck source=tests/integration/lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

tap_init
W=$(workdir jobs-expire-tree)
MB=$W/mail/example.org
OUT=$W/outside
JOBS=$TOP/tests/integration/jobs

as_vmail() { setpriv --reuid=2000 --regid=2000 --clear-groups -- "$@"; }

# listing DIR: every path below DIR with type, size and mtime, as JSON
listing() {
	$PY - "$1" <<'PYEOF'
import json, os, sys
top = sys.argv[1]
out = {}
for root, dirs, files in os.walk(top):
    for n in dirs + files:
        p = os.path.join(root, n)
        st = os.lstat(p)
        out[os.path.relpath(p, top)] = [st.st_mode, st.st_size, st.st_mtime_ns]
print(json.dumps(out, sort_keys=True))
PYEOF
}

# removed BEFORE AFTER: the paths in BEFORE missing from AFTER, as JSON
removed() {
	$PY - "$1" "$2" <<'PYEOF'
import json, sys
a = json.load(open(sys.argv[1])); b = json.load(open(sys.argv[2]))
print(json.dumps(sorted(set(a) - set(b))))
PYEOF
}

# field NAME: a figure from the oracle's answer
field() { jq -r ".$1" "$W/oracle.json"; }

mkdir -p "$OUT"
$PY "$TOP/tests/bench/gen_maildirs.py" "$MB" --users 300 --files 9000 \
	--seed 7 --odd "$OUT" >"$W/gen.log" 2>&1
ok $? "generate a store of 300 mailboxes"
cat >"$W/chatmail.ini" <<EOF
[params]
mail_domain = example.org
mailboxes_dir = $MB
max_mailbox_size = 1M
EOF
chown -R vmail:vmail "$W/mail" "$OUT"
# the unreadable parts: a whole mailbox and one folder of another
mkdir -p "$MB/locked@example.org/cur" "$MB/links@example.org/.Locked/cur"
touch -d '30 days ago' "$MB/locked@example.org/cur/1.a,S=1" \
	"$MB/links@example.org/.Locked/cur/2.b,S=1"
touch -d '200 days ago' "$MB/locked@example.org/password"
chmod 700 "$MB/locked@example.org" "$MB/links@example.org/.Locked"

$PY "$JOBS/expire_oracle.py" "$MB" --quota-mb 1 \
	--locked locked@example.org --locked links@example.org/.Locked \
	>"$W/oracle.json"
ok $? "oracle: $(field mailboxes) mailboxes, $(jq '.removed|length' "$W/oracle.json") paths to remove"
listing "$MB" >"$W/before.json"
listing "$OUT" >"$W/out-before.json"

# metrics first, on the untouched store
mkdir -p "$W/prom"
chown vmail "$W/prom"
as_vmail "$BIN/chatmail-metrics" "$W/chatmail.ini" --textfile "$W/prom" \
	--legacy-metrics "$W/prom/legacy" 2>"$W/metrics.err"
rc=$?
[ $rc -eq 75 ]
ok $? "chatmail-metrics exits 75 on the unreadable entries (got $rc)"
[ "$(grep -c 'level=error' "$W/metrics.err")" -ge 2 ]
ok $? "chatmail-metrics logged the unreadable entries"
all=$(sed -n 's/^chatmail_accounts{kind="all"} //p' "$W/prom/fsreport.prom")
ci=$(sed -n 's/^chatmail_accounts{kind="ci"} //p' "$W/prom/fsreport.prom")
[ "$all" = "$(field accounts)" ] && [ "$ci" = "$(field ci)" ]
ok $? "metrics: accounts all=$all ci=$ci as the oracle counts"
! grep -vE '^(# (HELP|TYPE) [a-z_]+ .+|[a-z_]+\{[a-z_]+="[^"]*"\} [0-9]+)$' \
	"$W/prom/fsreport.prom"
ok $? "metrics: every textfile line is Prometheus text"
grep -qx "accounts $all" "$W/prom/legacy"
ok $? "metrics: legacy gauges written"

# dry run
as_vmail "$BIN/chatmail-expire" "$W/chatmail.ini" -v >"$W/dry.out" 2>"$W/dry.err"
rc=$?
[ $rc -eq 75 ]
ok $? "dry run: exit 75 because of the unreadable entries (got $rc)"
listing "$MB" >"$W/after-dry.json"
cmp -s "$W/before.json" "$W/after-dry.json"
ok $? "dry run deletes nothing"
grep -qE "^Removed [0-9]+ out of $(field mailboxes) mailboxes and [0-9]+ out of $(field files) files in existing mailboxes in [0-9]+\.[0-9]{2} seconds$" "$W/dry.out"
ok $? "dry run: summary counts $(field mailboxes) mailboxes, $(field files) files"

# real run
as_vmail "$BIN/chatmail-expire" "$W/chatmail.ini" -v --remove >"$W/run.out" 2>"$W/run.err"
rc=$?
[ $rc -eq 75 ]
ok $? "real run: exit 75, the rest done (got $rc)"
listing "$MB" >"$W/after.json"
removed "$W/before.json" "$W/after.json" >"$W/removed.json"
$PY -c 'import json, sys; print(json.dumps(sorted(json.load(open(sys.argv[1]))["removed"])))' \
	"$W/oracle.json" >"$W/want-removed.json"
cmp -s "$W/removed.json" "$W/want-removed.json"
ok $? "real run removed exactly the oracle's $(jq length "$W/want-removed.json") paths"
if ! cmp -s "$W/removed.json" "$W/want-removed.json"; then
	diff <(jq -r '.[]' "$W/want-removed.json") <(jq -r '.[]' "$W/removed.json") |
		head -n 20 | sed 's/^/# /'
fi
want="Removed $(field del_mboxes) out of $(field mailboxes) mailboxes and $(field del_files) out of $(field files) files in existing mailboxes in"
grep -qF "$want" "$W/run.out"
ok $? "real run: summary '$want ...'"
grep -q 'msg="cannot open mailbox .*locked@example.org: Permission denied"' "$W/run.err"
ok $? "real run: the unreadable mailbox is logged"
grep -q 'msg="removing [A-Z][a-z][a-z] [0-9][0-9] .*/cur/' "$W/run.err" &&
	grep -q 'msg="quota-expire: removed [0-9]* message(s) from fat0000@example.org"' "$W/run.err"
ok $? "real run: upstream's -v lines (removing <date> <path>, quota-expire)"
[ -e "$MB/locked@example.org/cur/1.a,S=1" ] && [ -e "$MB/links@example.org/.Locked/cur/2.b,S=1" ]
ok $? "unreadable entries are left alone"

# second run
as_vmail "$BIN/chatmail-expire" "$W/chatmail.ini" --remove >"$W/run2.out" 2>"$W/run2.err"
listing "$MB" >"$W/after2.json"
cmp -s "$W/after.json" "$W/after2.json"
ok $? "second run deletes nothing more"

listing "$OUT" >"$W/out-after.json"
cmp -s "$W/out-before.json" "$W/out-after.json"
ok $? "nothing outside mailboxes_dir changed (symlink targets intact)"

# a missing store is not an error, a bad config is 78
printf '[params]\nmail_domain = example.org\nmailboxes_dir = %s/nope\n' "$W" >"$W/missing.ini"
"$BIN/chatmail-expire" "$W/missing.ini" 2>"$W/missing.err" >/dev/null &&
	grep -q 'no mailboxes found at' "$W/missing.err"
ok $? "missing mailboxes_dir: exit 0, upstream's message"
printf '[params]\nmax_user_send_per_minute = x\n' >"$W/bad.ini"
"$BIN/chatmail-expire" "$W/bad.ini" >/dev/null 2>&1
[ $? -eq 78 ]
ok $? "bad config: exit 78"

tap_done
