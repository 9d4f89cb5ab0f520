#!/usr/bin/env bash
# test_submission: sending with real clients through two local relays.
# Submission on 465, 587 and through 443 (ALPN smtp), reading on 993 and
# through 443 (ALPN imap): a PGP/MIME message (gpg) from A on e2e1 reaches
# B's INBOX on e2e2 with Subject [...] and without the client's Received,
# X-Mailer, User-Agent, X-Originating-IP; the refusals of a chatmail
# relay: cleartext (523), MAIL FROM not the login (553), VRFY (252), no
# open relay on 25, no unauthenticated submission, TLS below 1.3 on the
# submission ports and IMAPS, no mail on 25 without STARTTLS.
# shellcheck source=tests/integration/lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source=tests/integration/relay/lib.sh
. "$(dirname "$0")/lib.sh"

relay_prereqs
tap_init
relay_workdir relay-submission
t0=$(date +%s.%N)
relays_up "$W" 2 || { ok 1 "relays e2e1 e2e2 up"; tap_done; }
ok 0 "relays e2e1 e2e2 up ($(awk "BEGIN{printf \"%.1f\", $(date +%s.%N) - $t0}") s)"

read -r A PA < <(new_account "$ENV1")
read -r A2 PA2 < <(new_account "$ENV1")
read -r B PB < <(new_account "$ENV2")
[ -n "$A" ] && [ -n "$A2" ] && [ -n "$B" ]
ok $? "accounts A, A2 on e2e1 and B on e2e2"
K=$W/gnupg
rc genkey "$K" "$B" >/dev/null 2>&1 && rc genkey "$K" "$A2" >/dev/null 2>&1
ok $? "gpg keys for the recipients"

# send VIA READ: A -> B through submission port VIA, read on B's relay VIA
n=0
for pair in "465 993" "587 443" "443 993"; do
	read -r via read_via <<<"$pair"
	n=$((n + 1))
	id="sub$n-$RANDOM@e2e.test"
	check "encrypted A->B submitted on $via" \
		rc send "$ENV1" "$A" "$PA" "$B" --via "$via" --keydir "$K" --msgid "$id"
	rc fetch "$ENV2" "$B" "$PB" "$id" --via "$read_via" >"$W/msg$n.eml" 2>"$W/fetch$n.err"
	ok $? "it reaches B's INBOX on the other relay (read via $read_via)"
done

M=$W/msg1.eml
grep -q '^Content-Type: multipart/encrypted' "$M" && grep -q -- '-----BEGIN PGP MESSAGE-----' "$M"
ok $? "the delivered message is the PGP/MIME one"
grep -qx 'Subject: \[\.\.\.\]' "$M"
ok $? "its Subject is [...]"
! grep -qiE '^(X-Mailer|User-Agent|X-Originating-IP):' "$M"
ok $? "no X-Mailer, User-Agent, X-Originating-IP leak"
! grep -qiE '^Received:' "$M" && ! grep -q '192\.0\.2\.9[89]' "$M" && ! grep -q "$(renv "$ENV1" ADDR)" "$M"
ok $? "no Received header, no client or relay address in the message"
! grep -qiE '^(DKIM-Signature|Authentication-Results):' "$M"
ok $? "DKIM-Signature and Authentication-Results stripped on final delivery"
grep -qE "postfix/lmtp-filtermail/lmtp\[[0-9]+\]: [0-9A-F]+: to=<$B>, .*status=sent \(250 OK \((HTTPS|SMTP)\)\)" "$(renv "$ENV1" LOG)/postfix.log"
ok $? "e2e1's filtermail transport delivered it to e2e2"
grep -q "Incoming: Filtering encrypted mail." "$(renv "$ENV2" LOG)/filtermail-incoming.log"
ok $? "e2e2's filtermail incoming accepted it (it needs a valid DKIM signature of e2e1, see test_federation)"

# the Subject of anything else is replaced (local delivery, A -> A2)
id="subj-$RANDOM@e2e.test"
rc send "$ENV1" "$A" "$PA" "$A2" --keydir "$K" --msgid "$id" \
	--subject "leaky subject line" >/dev/null
rc fetch "$ENV1" "$A2" "$PA2" "$id" >"$W/subj.eml" 2>/dev/null
grep -qx 'Subject: \[\.\.\.\]' "$W/subj.eml" && ! grep -q 'leaky subject' "$W/subj.eml"
ok $? "a Subject other than [...] arrives as [...] (authclean)"

# to another relay, a Subject that authclean rewrites after filtermail
# signed must still verify there (filtermail has to sign what Postfix
# will send)
id="subj2-$RANDOM@e2e.test"
rc send "$ENV1" "$A" "$PA" "$B" --keydir "$K" --msgid "$id" \
	--subject "leaky subject line" >/dev/null
rc fetch "$ENV2" "$B" "$PB" "$id" --timeout 10 >"$W/subj2.eml" 2>/dev/null
todo_ok $? "a rewritten Subject still passes DKIM at the other relay" \
	"filtermail signs the Subject before authclean replaces it"

# refusals
check "cleartext to another user is refused with 523" \
	rc send "$ENV1" "$A" "$PA" "$B" --plain --expect 523
check "cleartext to a local user is refused with 523" \
	rc send "$ENV1" "$A" "$PA" "$A2" --plain --expect 523
check "MAIL FROM other than the login is refused with 553" \
	rc send "$ENV1" "$A" "$PA" "$B" --from "$A2" --keydir "$K" --expect 553
check "VRFY on 25 answers 252 2.0.0" rc vrfy "$ENV1" "$A"
check "VRFY of an unknown user answers 252 too" rc vrfy "$ENV1" "nobody-xyz@$(renv "$ENV1" DOMAIN)"
check "port 25 does not relay for strangers" \
	rc relay-test "$ENV1" "stranger@example.com" "victim@example.org"
check "port 25 does not relay from a local address either" \
	rc relay-test "$ENV1" "$A" "victim@example.org"
check "unauthenticated submission on 587 is refused" \
	rc noauth "$ENV1" "$A" "$B"
check "mail on 25 without STARTTLS is refused" \
	rc send25 "$ENV1" "x@example.com" "$A" --no-tls --plain --expect 5
for p in 465 587 993; do
	check "TLS 1.2 is refused on $p (minimum 1.3)" rc tls-min "$ENV1" $p 1.2
	check "TLS 1.3 works on $p" rc tls-min "$ENV1" $p 1.3 --want ok
done

tap_done
