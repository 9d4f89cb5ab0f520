#!/usr/bin/env bash
# test_smuggling: SMTP smuggling (the 2023 class) against two local
# relays. One DATA carries an end-of-data look-alike (<LF>.<LF>,
# <CR>.<CR>, <LF>.<CR><LF>, ... probe.py VARIANTS) followed by a whole
# second transaction with a valid message; it is submitted on 587, 465,
# 443 (ALPN smtp) as a logged-in user, and on 25 as another relay (DKIM-
# signed by e2e2). Checked at the recipient's mailbox: the smuggled
# message never arrives, and the carrier arrives exactly once when it got
# a 250 (never when it was refused). Postfix (smtpd_forbid_bare_newline)
# and filtermail's own parser (the same bytes straight to filtermail's
# port inside the relay) refuse the same variants.
# shellcheck source=tests/integration/lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source=tests/integration/relay/lib.sh
. "$(dirname "$0")/../relay/lib.sh"

PROBE=$TOP/tests/integration/security/probe.py
VARIANTS="lf.lf lf.crlf crlf.lf lf.cr cr.lf cr.cr cr.crlf crlf.cr"
# the variants with a bare LF, which both parsers refuse
BARE_LF="lf.lf lf.crlf crlf.lf lf.cr cr.lf"

relay_prereqs
tap_init
relay_workdir security-smuggling
relays_up "$W" 2 || {
	ok 1 "relays e2e1 e2e2 up"
	tap_done
}
ok 0 "relays e2e1 e2e2 up"
probe() { "$PY" "$PROBE" "$@"; }

read -r A PA < <(new_account "$ENV1")
read -r A2 PA2 < <(new_account "$ENV1")
D2=$(renv "$ENV2" DOMAIN)
B="sender$RANDOM@$D2"
KEY2=$(renv "$ENV2" ROOT)/dkim/opendkim.private
K=$W/gnupg
rc genkey "$K" "$A" >/dev/null 2>&1 && rc genkey "$K" "$A2" >/dev/null 2>&1
ok $? "accounts A, A2 on e2e1 with gpg keys; a sender on e2e2's domain"

# smuggle VIA VARIANT: one attempt; "VIA VARIANT OUTER INNER VERDICT"
# into $W/cases
smuggle() {
	local via=$1 v=$2 outer inner args verdict
	outer="outer-${via//[:.]/_}-$v-$RANDOM@e2e.test"
	inner="inner-${via//[:.]/_}-$v-$RANDOM@e2e.test"
	case $via in
	25) args=(--from "$B" --to "$A" --sign-key "$KEY2" --sign-domain "$D2") ;;
	direct:*) args=(--from "$A" --to "$A2") ;;
	*) args=(--from "$A" --to "$A2" --user "$A" --pw "$PA") ;;
	esac
	if [[ $via == direct:* ]]; then
		ip netns exec "$(renv "$ENV1" NETNS)" "$PY" "$PROBE" smuggle \
			"$ENV1" --via "$via" --variant "$v" --keydir "$K" \
			--outer "$outer" --inner "$inner" "${args[@]}"
	else
		probe smuggle "$ENV1" --via "$via" --variant "$v" --keydir "$K" \
			--outer "$outer" --inner "$inner" "${args[@]}"
	fi >"$W/smuggle-$via-$v.log" 2>&1
	verdict=$(sed -n 's/^verdict: //p' "$W/smuggle-$via-$v.log")
	echo "$via $v $outer $inner ${verdict:-none}" >>"$W/cases"
	sed 's/^/# /' "$W/smuggle-$via-$v.log" | grep -E 'end of data|then|verdict'
}

: >"$W/cases"
for via in 587 465 443 25; do
	for v in $VARIANTS; do
		smuggle "$via" "$v"
	done
done
# filtermail outgoing's own SMTP port, inside the relay (loopback)
FM_PORT=$(sed -n 's/^filtermail_smtp_port *= *//p' "$(renv "$ENV1" INI)")
FM_PORT=${FM_PORT:-10080}
if [ -n "$(renv "$ENV1" NETNS)" ]; then
	for v in $VARIANTS; do
		smuggle "direct:127.0.0.1:$FM_PORT" "$v"
	done
fi

# a last, ordinary message on each path: once it is in, the smuggled
# ones (queued before it) would be too; then a little longer
id1="sentinel1-$RANDOM@e2e.test"
id2="sentinel2-$RANDOM@e2e.test"
rc send "$ENV1" "$A" "$PA" "$A2" --keydir "$K" --msgid "$id1" >/dev/null &&
	rc fetch "$ENV1" "$A2" "$PA2" "$id1" >/dev/null
ok $? "an ordinary message A -> A2 on 587 arrives after the attempts"
rc send25 "$ENV1" "$B" "$A" --keydir "$K" --sign-key "$KEY2" \
	--sign-domain "$D2" --msgid "$id2" >/dev/null &&
	rc fetch "$ENV1" "$A" "$PA" "$id2" >/dev/null
ok $? "an ordinary signed message on 25 arrives after the attempts"
sleep 3
relay_postfix "$ENV1" postqueue -p >"$W/queue.txt" 2>&1
rc msgids "$ENV1" "$A2" "$PA2" >"$W/ids-a2" && rc msgids "$ENV1" "$A" "$PA" >"$W/ids-a"
ok $? "both mailboxes listed"
cat "$W/ids-a2" "$W/ids-a" >"$W/ids"

# count ID: how often a Message-ID is in the mailboxes
count() { grep -cF "$1" "$W/ids"; }
refused() { [[ $1 == refused* || $1 == closed* ]]; }

declare -A verdict_of=()
while read -r via v outer inner verdict; do
	verdict_of["$via $v"]=$verdict
	n_in=$(count "$inner")
	n_out=$(count "$outer")
	[ "$n_in" -eq 0 ]
	ok $? "$via $v: no smuggled message at the recipient (verdict $verdict)"
	if [[ $verdict == accepted* ]]; then
		[ "$n_out" -eq 1 ]
	else
		[ "$n_out" -eq 0 ]
	fi
	ok $? "$via $v: the carrier arrived $n_out times after '$verdict'"
	[[ $verdict != *+250* ]]
	ok $? "$via $v: no second 250 in the session"
done <"$W/cases"

# the bare-LF variants are refused on every port, by Postfix and by
# filtermail alike; the others get the same answer from both
for v in $VARIANTS; do
	for via in 587 465 443 25; do
		pf=${verdict_of["$via $v"]:-none}
		if [[ " $BARE_LF " == *" $v "* ]]; then
			refused "$pf"
			ok $? "$via $v: a bare LF is refused by Postfix ($pf)"
		fi
	done
	[ -n "$(renv "$ENV1" NETNS)" ] || continue
	pf=${verdict_of["587 $v"]:-none}
	fm=${verdict_of["direct:127.0.0.1:$FM_PORT $v"]:-none}
	if refused "$pf"; then refused "$fm"; else ! refused "$fm"; fi
	ok $? "$v: Postfix ($pf) and filtermail's parser ($fm) agree"
done
! grep -q '^[0-9A-F]' "$W/queue.txt"
ok $? "nothing left in e2e1's queue"

tap_done
