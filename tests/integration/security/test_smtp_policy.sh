#!/usr/bin/env bash
# test_smtp_policy: what a hostile client gets from a local relay.
#   - no open relay: port 25 from the host and from another relay's
#     address, 587/465/443 without AUTH, to outside and local recipients;
#     the internal ports (filtermail, reinjection, transport) are not
#     reachable from outside the relay
#   - no user enumeration: VRFY, EXPN and RCPT answer the same for an
#     existing and a missing user, on 25 and on 587 (logged in)
#   - authentication brute force: each failed AUTH/LOGIN is delayed by
#     Dovecot (auth_failure_delay) on 587, 465 and 993, and logged by
#     Postfix and Dovecot
#   - no plaintext authentication before TLS: 587 and 25 offer no AUTH
#     and refuse it, 143 has LOGINDISABLED and refuses LOGIN and
#     AUTHENTICATE, 465/993/443 never answer plaintext
#   - oversized input: a command line, a header, a message, a SIZE= are
#     refused with the code RFC 5321 and Postfix give them
# shellcheck source=tests/integration/lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source=tests/integration/relay/lib.sh
. "$(dirname "$0")/../relay/lib.sh"

PROBE=$TOP/tests/integration/security/probe.py

relay_prereqs
tap_init
relay_workdir security-policy
relays_up "$W" 2 || {
	ok 1 "relays e2e1 e2e2 up"
	tap_done
}
ok 0 "relays e2e1 e2e2 up"
probe() { "$PY" "$PROBE" "$@"; }
show() { printf '%s\n' "$1" | sed 's/^/# /'; }
D1=$(renv "$ENV1" DOMAIN)
ADDR1=$(renv "$ENV1" ADDR)
NS2=$(renv "$ENV2" NETNS)
LOG1=$(renv "$ENV1" LOG)

read -r A PA < <(new_account "$ENV1")
read -r A2 PA2 < <(new_account "$ENV1")
[ -n "$A" ] && [ -n "$A2" ]
ok $? "accounts A, A2 on e2e1"
MISSING="nobody$RANDOM@$D1"

# --- open relay -------------------------------------------------------
# refused_rcpt VIA FROM TO [AUTH...]: RCPT (or MAIL) answered 4xx/5xx
refused_rcpt() {
	local via=$1 from=$2 to=$3 out
	out=$(probe ask "$ENV1" --via "$via" "MAIL FROM:<$from>" "RCPT TO:<$to>")
	show "$out"
	echo "$out" | grep -qE '^(MAIL|RCPT) [^>]*> -> [45][0-9][0-9] '
}
for via in 25 587 465 443; do
	check "$via: a stranger cannot relay to outside" \
		refused_rcpt "$via" "stranger@example.com" "victim@example.org"
	check "$via: a local sender address cannot relay to outside" \
		refused_rcpt "$via" "$A" "victim@example.org"
done
for via in 587 465 443; do
	check "$via: no unauthenticated mail to a local user either" \
		refused_rcpt "$via" "stranger@example.com" "$A"
done
if [ -n "$NS2" ]; then
	out=$(ip netns exec "$NS2" "$PY" "$PROBE" ask "$ENV1" --via 25 \
		"MAIL FROM:<someone@$(renv "$ENV2" DOMAIN)>" "RCPT TO:<victim@example.org>")
	show "$out"
	echo "$out" | grep -qE '^RCPT [^>]*> -> [45][0-9][0-9] '
	ok $? "25 from another relay's address: no relaying to outside"
fi
INI1=$(renv "$ENV1" INI)
for key in filtermail_smtp_port filtermail_smtp_port_incoming \
	postfix_reinject_port postfix_reinject_port_incoming \
	filtermail_lmtp_port_transport filtermail_milter_port; do
	p=$(sed -n "s/^$key *= *//p" "$INI1")
	[ -n "$p" ] || continue
	! timeout 3 bash -c "exec 3<>/dev/tcp/$ADDR1/$p" 2>/dev/null
	ok $? "$key ($p) is not reachable from outside the relay"
done

# --- user enumeration -------------------------------------------------
# same_answer VIA CMD...: the answers for A and MISSING are equal once
# the address is taken out (CMD has @U@ where the user goes)
same_answer() {
	local via=$1 a m
	shift
	a=$(probe ask "$ENV1" --via "$via" "${@//@U@/$A}" 2>&1 | sed "s/$A/<U>/g")
	m=$(probe ask "$ENV1" --via "$via" "${@//@U@/$MISSING}" 2>&1 | sed "s/$MISSING/<U>/g")
	echo "# existing: $a" | tr '\n' ' '
	echo
	echo "# missing:  $m" | tr '\n' ' '
	echo
	[ -n "$a" ] && [ "$a" = "$m" ]
}
same_answer 25 "VRFY @U@"
ok $? "25: VRFY answers the same for an existing and a missing user"
same_answer 25 "EXPN @U@"
ok $? "25: EXPN answers the same"
same_answer 25 "MAIL FROM:<x@example.org>" "RCPT TO:<@U@>"
ok $? "25: RCPT answers the same"
same_answer 587 --user "$A2" --pw "$PA2" "VRFY @U@"
ok $? "587 (logged in): VRFY answers the same"
same_answer 587 --user "$A2" --pw "$PA2" "MAIL FROM:<$A2>" "RCPT TO:<@U@>"
ok $? "587 (logged in): RCPT answers the same"

# --- brute force ------------------------------------------------------
slow=0
for via in 587 465 993 587 465; do
	out=$(probe authfail "$ENV1" --via "$via" "$A" "wrong-password-$RANDOM")
	echo "# $via: $out"
	read -r secs code _ <<<"$out"
	case $via in
	993) [[ $code == NO* ]] ;;
	*) [[ $code == 535* ]] ;;
	esac || slow=1
	# Dovecot answers a failed login only after auth_failure_delay (2 s
	# by default; 1.5 to 2.0 s measured here)
	awk -v s="$secs" 'BEGIN { exit !(s >= 1.0) }' || slow=1
	total=$(awk -v t="${total:-0}" -v s="$secs" 'BEGIN { print t + s }')
done
awk -v t="$total" 'BEGIN { exit !(t >= 7.0) }' || slow=1
ok $slow "five wrong passwords on 587/465/993: each refused after >= 1 s, $total s in all"
grep -c "SASL PLAIN authentication failed" "$LOG1/postfix.log" |
	awk '{ exit !($1 >= 4) }'
ok $? "Postfix logged the failed SMTP logins"
grep -rhE "imap-login: .*auth failed" "$LOG1" | grep -q "$A\|user=<"
ok $? "Dovecot logged the failed IMAP login"
check "the right password still works" rc capability "$ENV1" "$A" "$PA" --via 993

# --- plaintext authentication before TLS ------------------------------
for via in 587 25; do
	out=$(probe pretls "$ENV1" --via "$via")
	show "$out"
	! echo "$out" | grep '^ehlo:' | grep -q 'AUTH'
	ok $? "$via: no AUTH offered before STARTTLS"
	echo "$out" | grep -qE '^AUTH PLAIN.* -> (5[0-9][0-9] |closed)' &&
		echo "$out" | grep -qE '^AUTH LOGIN -> (5[0-9][0-9] |closed)'
	ok $? "$via: AUTH PLAIN and AUTH LOGIN refused before STARTTLS"
	echo "$out" | grep -qE '^MAIL .* -> (5[0-9][0-9] |closed)'
	ok $? "$via: no mail transaction before STARTTLS"
done
out=$(probe ask "$ENV1" --via 25 "AUTH PLAIN AHNvbWVvbmUAc2VjcmV0")
echo "# $out"
echo "$out" | grep -qE -- '-> 5[0-9][0-9] '
ok $? "25: no AUTH after STARTTLS either (not a submission port)"
out=$(probe pretls "$ENV1" --via 143)
show "$out"
echo "$out" | grep '^capability: \* CAPABILITY' | grep -q LOGINDISABLED &&
	! echo "$out" | grep '^capability: \* CAPABILITY' | grep -q 'AUTH='
ok $? "143: LOGINDISABLED and no AUTH= before STARTTLS"
echo "$out" | grep -qE '^LOGIN -> l (NO|BAD)' &&
	echo "$out" | grep -qE '^AUTHENTICATE -> p (NO|BAD)'
ok $? "143: LOGIN and AUTHENTICATE refused before STARTTLS"
for key in SMTPS_PORT IMAPS_PORT HTTPS_PORT; do
	check "$key: plaintext commands get no protocol answer" \
		probe plainwrap "$ENV1" "$(renv "$ENV1" "$key")"
done

# --- oversized input --------------------------------------------------
out=$(probe oversize "$ENV1" --via 587 --what line --size 5000 \
	--user "$A" --pw "$PA" --from "$A")
show "$out"
# the long commands by their length (a random account name may start
# with x too)
echo "$out" | grep -E '^(MAIL FROM|RCPT TO):<.*\([0-9]{4,} bytes\)' |
	grep -c -- '-> 50[01] 5\.' | grep -qx 2
ok $? "587: MAIL and RCPT with a 5000-byte path are refused with 500/501 5.x.x"
echo "$out" | grep -E '^MAIL FROM:<.*\([0-9]{1,3} bytes\) -> 250 ' >/dev/null &&
	echo "$out" | grep -qE '^NOOP.* -> 250 '
ok $? "587: the session goes on after them"
MAX=$(sed -n 's/^max_message_size *= *//p' "$INI1")
MAX=${MAX:-31457280}
out=$(probe ask "$ENV1" --via 587 --user "$A" --pw "$PA" \
	"MAIL FROM:<$A> SIZE=$((MAX + 1))")
echo "# $out"
echo "$out" | grep -qE -- '-> 552 5\.3\.4 '
ok $? "587: MAIL FROM with SIZE above max_message_size is refused with 552 5.3.4"
K=$W/gnupg
rc genkey "$K" "$A2" >/dev/null 2>&1
out=$(probe oversize "$ENV1" --via 465 --what message --size $((MAX + 4096)) \
	--user "$A" --pw "$PA" --from "$A" --to "$A2" --keydir "$K")
echo "# $out"
echo "$out" | grep -qE -- '-> 552 5\.3\.4 '
ok $? "465: a message above max_message_size is refused with 552 5.3.4"
out=$(probe oversize "$ENV1" --via 465 --what header --size 200000 \
	--user "$A" --pw "$PA" --from "$A" --to "$A2" --keydir "$K")
echo "# $out"
echo "$out" | grep -qE -- '-> 552 5\.3\.4 '
ok $? "465: a 200 KB header is refused with 552 5.3.4 (not cut short)"

tap_done
