#!/usr/bin/env bash
# test_cronjobs: the relay's CronJobs, as the operator renders them, run
# once each (a Job made from the CronJob, its Pod run to completion by
# kubelet) against the same mail claim the
# running relay Pod uses, and do their job.
#
# expire (chatmail-expire --remove): on a relay with real accounts and
# messages, a message older than deleteMailsAfterDays and an account
# whose last login is older than deleteInactiveUsersAfterDays are
# removed; fresh messages and active accounts stay and still log in.
# metrics (chatmail-metrics --textfile): on a claim without
# /home/vmail/metrics yet, writes the fsreport textfile onto it with the
# real account count; nginx does not serve it (no public /metrics, as
# upstream since 1.10; tests/e2e/test_metrics.sh reads it from the
# private metrics port).
# shellcheck source=tests/integration/lib/common.sh
. "$(dirname "$0")/../integration/lib/common.sh"
# shellcheck source=tests/integration/relay/lib.sh
. "$(dirname "$0")/../integration/relay/lib.sh"
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

e2e_begin e2e-cronjobs 1
E=$ENV1
MB=$(renv "$E" MAILBOXES)

read -r A PA < <(new_account "$E")
read -r B PB < <(new_account "$E")
read -r C _ < <(new_account "$E")
K=$W/gnupg
rc genkey "$K" "$B" >/dev/null 2>&1
ok $? "accounts A, B, C and B's key"
ids=()
got=0
for i in 1 2 3; do
	ids[i]="exp$i-$RANDOM@e2e.test"
	rc send "$E" "$A" "$PA" "$B" --keydir "$K" --msgid "${ids[i]}" >/dev/null
	rc fetch "$E" "$B" "$PB" "${ids[i]}" >/dev/null 2>&1 && got=$((got + 1))
done
[ "$got" -eq 3 ]
ok $? "three messages A -> B delivered ($got)"

# age them on the claim, as time would: message 1 is 30 days old (past
# deleteMailsAfterDays 20); C last logged in 100 days ago (past 90)
# (Dovecot stores them gzipped: zlib_save = gz)
old=$(zgrep -l "${ids[1]}" "$MB/$B"/cur/* "$MB/$B"/new/* 2>/dev/null | head -n 1)
[ -n "$old" ] && touch -d '30 days ago' "$old" && touch -d '100 days ago' "$MB/$C/password"
ok $? "on the claim: message 1 aged 30 days, C's last login 100 days ago"

t0=$SECONDS
relay_pod job e2e1 expire >"$W/expire.log" 2>&1
ok $? "the expire CronJob's container ran to completion ($((SECONDS - t0)) s)"
sed 's/^/# expire: /' "$W/expire.log" | tail -n 3
[ -n "$old" ] && [ ! -e "$old" ]
ok $? "the 30-day-old message was removed"
rc msgids "$E" "$B" "$PB" >"$W/b.ids" 2>/dev/null
grep -qx "${ids[2]}" "$W/b.ids" && grep -qx "${ids[3]}" "$W/b.ids" && ! grep -qx "${ids[1]}" "$W/b.ids"
ok $? "B's INBOX keeps messages 2 and 3 only"
[ ! -e "$MB/$C" ]
ok $? "the inactive account C was removed"
[ -e "$MB/$A/password" ] && [ -e "$MB/$B/password" ]
ok $? "the active accounts A and B stay"
check "A still logs in" rc capability "$E" "$A" "$PA"

PROM=$(renv "$E" VMAIL)/metrics/fsreport.prom
[ ! -e "$(dirname "$PROM")" ]
ok $? "a fresh claim has no /home/vmail/metrics yet"
t0=$SECONDS
relay_pod job e2e1 metrics >"$W/metrics.log" 2>&1
ok $? "the metrics CronJob's container runs to completion on it ($((SECONDS - t0)) s)"
sed 's/^/# metrics: /' "$W/metrics.log" | tail -n 3
grep -E '^chatmail_accounts(\{[^}]*\})? 2$' "$PROM" >/dev/null
ok $? "it wrote the textfile on the claim with 2 accounts ($(grep -E '^chatmail_accounts' "$PROM" 2>/dev/null | head -n 1))"
code=$(curl -sS --max-time 20 --cacert "$(renv "$E" CA)" \
	--resolve "$(renv "$E" DOMAIN):443:$(renv "$E" ADDR)" \
	-o "$W/metrics.txt" -w '%{http_code}' "https://$(renv "$E" DOMAIN)/metrics")
[ "$code" = 404 ] && ! grep -q '^chatmail_accounts' "$W/metrics.txt"
ok $? "no public /metrics ($code)"

tap_done
