#!/usr/bin/env bash
# test_corpus: filtermail's content decisions on a corpus made at test
# time by real tools (tests/data/mail/gen-pgp.sh: gpg-encrypted PGP/MIME
# and its broken variants; gen-mail.sh: SecureJoin requests and fakes,
# Autocrypt Setup Messages, an MDN, DSNs, 8-bit text, long lines).
#
# Every file is classified in both directions (test_policy_cli classify)
# and decided by the policy (test_policy_cli check): outgoing with a DKIM
# key (passing mail must come back signed), incoming to a recipient with
# enforceE2EEincoming (DKIM skipped with FILTERMAIL_SKIP_DKIM, which the
# DKIM interop test covers). Upstream's log phrases are checked too.
set -uo pipefail
# shellcheck source=tests/integration/lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
tap_init
W=$(workdir filtermail-corpus)
# workdir's own cleanup is registered in its $(...) subshell and lost
[ "${KEEP:-0}" = 1 ] || on_exit "rm -rf '$W'"
CLI=$TOP/build/tests/unit/services/filtermail/test_policy_cli
if [ ! -x "$CLI" ]; then
	ok 1 "test_policy_cli is built (make)"
	tap_done
fi
for g in gen-pgp gen-mail; do
	if ! check "corpus: $g.sh" "$TOP/tests/data/mail/$g.sh" "$W/c" \
		>"$W/$g.log" 2>&1; then
		tap_done
	fi
done

openssl genrsa -traditional -out "$W/dkim.pem" 2048 2>/dev/null
mkdir -p "$W/mail/bob@relay.test" "$W/mail/legacy@relay.test"
: >"$W/mail/bob@relay.test/enforceE2EEincoming"
printf '[params]\nmail_domain = example.org\ndkim_key_file = %s\n' \
	"$W/dkim.pem" >"$W/out.ini"
printf '[params]\nmail_domain = relay.test\nmailboxes_dir = %s\n' \
	"$W/mail" >"$W/in.ini"

# name: classifier findings (encrypted outgoing, encrypted incoming,
# securejoin, multipart/mixed, mailer-daemon report flag), then the
# outgoing and the incoming verdict
expect=(
	"enc-one                  1 1 0 0 0  250 250"
	"enc-two                  1 1 0 0 0  250 250"
	"enc-sym                  1 1 0 0 0  250 250"
	"enc-version              0 1 0 0 0  523 250"
	"enc-8bit-headers         1 1 0 0 0  250 250"
	"enc-one-long-armor-line  1 1 0 0 0  250 250"
	"bad-literal              0 0 0 0 0  523 523"
	"bad-truncated            0 0 0 0 0  523 523"
	"bad-corrupted            0 0 0 0 0  523 523"
	"bad-fake-encrypted       0 0 0 0 0  523 523"
	"sj-vc                    0 0 1 1 0  250 250"
	"sj-vg                    0 0 1 1 0  250 250"
	"bad-sj-fake              0 0 0 1 0  523 523"
	"bad-sj-twoparts          0 0 0 1 0  523 523"
	"bad-sj-header            0 0 0 1 0  523 523"
	"bad-sj-notmultipart      0 0 0 0 0  523 523"
	"asm                      0 0 0 1 0  250 523"
	"asm-encoded-subject      0 0 0 1 0  250 523"
	"bad-asm-subject          0 0 0 1 0  523 523"
	"dsn                      0 0 0 0 1  523 250"
	"dsn-noauto               0 0 0 0 0  523 523"
	"mdn                      0 0 0 0 1  523 523"
	"8bit                     0 0 0 0 0  523 523"
	"longline                 0 0 0 0 0  523 523"
)
# signed_clean ORIG OUT: OUT is ORIG as filtermail outgoing reinjects it:
# its DKIM-Signature on top, the header as Postfix's authclean leaves it
# (Subject "[...]", no Received/X-Mailer/User-Agent/X-Originating-IP,
# Date and Message-ID present), the body byte for byte
signed_clean() {
	$PY - "$1" "$2" <<'PYEOF'
import re, sys
orig = open(sys.argv[1], "rb").read()
out = open(sys.argv[2], "rb").read()
oh, _, ob = orig.partition(b"\r\n\r\n")
h, _, b = out.partition(b"\r\n\r\n")
names = [l.split(b":")[0].strip().lower() for l in h.split(b"\r\n")
         if l and l[:1] not in (b" ", b"\t")]
subj = [l for l in h.split(b"\r\n") if l.lower().startswith(b"subject")]
ok = (out.startswith(b"DKIM-Signature: ") and b == ob
      and b"date" in names and b"message-id" in names
      and not {b"received", b"x-mailer", b"user-agent",
               b"x-originating-ip"} & set(names)
      and (subj == [b"Subject: [...]"] if re.search(rb"(?im)^subject:", oh)
           else subj == []))
sys.exit(0 if ok else 1)
PYEOF
}

export FILTERMAIL_SKIP_DKIM=1 FILTERMAIL_REJECTED_DIR=""
declare -A seen=()
for row in "${expect[@]}"; do
	read -r name eo ei sj mx rp outc inc <<<"$row"
	f=$W/c/$name.eml
	seen[$name]=1
	if ! check "$name: generated" test -s "$f"; then
		continue
	fi
	got_o=$("$CLI" classify "$f" outgoing)
	got_i=$("$CLI" classify "$f" incoming)
	want="encrypted=$eo securejoin=$sj mixed=$mx report=$rp "
	check "$name: classified outgoing ($want)" test "${got_o%mimetype=*}" = "$want"
	want="encrypted=$ei securejoin=$sj mixed=$mx report=$rp "
	check "$name: classified incoming ($want)" test "${got_i%mimetype=*}" = "$want"

	from=$(sed -n 's/^From:.*<\(.*\)>\r$/\1/p; s/^From: \([^<]*\)\r$/\1/p' "$f" | head -n 1)
	from=${from,,}
	rcpt=bob@example.org
	case $name in asm*) rcpt=$from ;; esac
	"$CLI" check "$W/out.ini" outgoing "$f" "$W/out-$name.eml" "$from" "$rcpt" \
		>"$W/out-$name.res" 2>"$W/out-$name.log"
	check "$name: outgoing $outc" grep -q "^code=$outc " "$W/out-$name.res"
	if [ "$outc" = 250 ]; then
		check "$name: outgoing signed (DKIM-Signature on top, header cleaned, body intact)" \
			signed_clean "$f" "$W/out-$name.eml"
	fi
	mf=$from
	case $name in dsn*) mf="" ;; esac
	"$CLI" check "$W/in.ini" incoming "$f" - "$mf" bob@relay.test \
		>"$W/in-$name.res" 2>"$W/in-$name.log"
	check "$name: incoming $inc" grep -q "^code=$inc " "$W/in-$name.res"
done

# every generated file has a row
for f in "$W"/c/*.eml; do
	name=$(basename "$f" .eml)
	check "$name: has an expectation" test -n "${seen[$name]:-}"
done

# upstream's log phrases (dashboards count them)
check "log: Outgoing: Filtering encrypted mail." \
	grep -q 'msg="Outgoing: Filtering encrypted mail."' "$W/out-enc-one.log"
check "log: DKIM-Signature field added" \
	grep -q 'DKIM-Signature field added' "$W/out-enc-one.log"
check "log: Outgoing: Filtering unencrypted mail. / Rejected unencrypted mail from:" \
	bash -c "grep -q 'Outgoing: Filtering unencrypted mail.' '$W/out-8bit.log' &&
		grep -q 'Rejected unencrypted mail from: alice@example.org' '$W/out-8bit.log'"
check "log: Incoming: Filtering encrypted mail." \
	grep -q 'Incoming: Filtering encrypted mail.' "$W/in-sj-vc.log"
check "log: Incoming: Filtering mailer-daemon message from" \
	grep -q 'Incoming: Filtering mailer-daemon message from mailer-daemon@example.org' \
	"$W/in-dsn.log"
check "log: DKIM verification DISABLED!" \
	grep -q 'DKIM verification DISABLED!' "$W/in-dsn.log"
check "a DSN from MAILER-DAEMON with MAIL FROM:<> keeps an empty return path" \
	grep -q '^code=250 erp=1 ' "$W/in-dsn.res"
# cleartext to a recipient without the marker (an account from before
# enforceE2EEincoming existed) passes
check "cleartext to a recipient without enforceE2EEincoming: 250" bash -c \
	"'$CLI' check '$W/in.ini' incoming '$W/c/8bit.eml' - alice@example.org \
		legacy@relay.test 2>/dev/null | grep -q '^code=250 '"
check "cleartext to one enforcing recipient among several: 523" bash -c \
	"'$CLI' check '$W/in.ini' incoming '$W/c/8bit.eml' - alice@example.org \
		legacy@relay.test bob@relay.test 2>/dev/null | grep -q '^code=523 '"
tap_done
