#!/usr/bin/env bash
# test_dkim_interop: filtermail's DKIM against an independent
# implementation, Debian's python3-dkim (dkimpy), with every key record
# served by a real dnsmasq on a loopback port and fetched by filtermail's
# own resolver (chatmail.ini dns_server) through the policy, as the
# incoming filter does it (test_policy_cli check).
#
#  - our signatures (opendkim-genkey style PKCS#1 key, the record as the
#    relay publishes it) verify in dkimpy and in ours, for several
#    messages, and through the outgoing policy path on a gpg-encrypted
#    message ("DKIM-Signature field added");
#  - dkimpy's signatures (relaxed/relaxed, simple/simple, relaxed/simple,
#    simple/relaxed; default, minimal, over-signing and absent-header
#    header sets; l=; ed25519-sha256) verify in ours;
#  - tampered messages fail in both, and for whitespace-only changes
#    both agree (relaxed tolerates them, simple does not);
#  - strict alignment, revoked and missing keys, unsigned mail, a
#    nameserver that refuses or is not there (451, our deviation), and
#    saving rejected mail.
set -uo pipefail
# shellcheck source=tests/integration/lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
tap_init
W=$(workdir filtermail-dkim)
# workdir's own cleanup is registered in its $(...) subshell and lost
[ "${KEEP:-0}" = 1 ] || on_exit "rm -rf '$W'"
HERE=$(cd "$(dirname "$0")" && pwd)
CLI=$TOP/build/tests/unit/services/filtermail/test_policy_cli
DKIMPY="$PY $HERE/dkimpy_tool.py"

if [ ! -x "$CLI" ]; then
	ok 1 "test_policy_cli is built (make)"
	tap_done
fi
for t in dnsmasq openssl gpg; do
	if ! command -v "$t" >/dev/null; then
		ok 1 "$t is installed (make deps)"
		tap_done
	fi
done

# --- keys: as opendkim-genkey writes them (PKCS#1 RSA), plus dkimpy's --
keygen() { # keygen NAME: NAME.pem and the base64 DER public key in NAME.pub
	openssl genrsa -traditional -out "$W/$1.pem" 2048 2>/dev/null &&
		openssl rsa -in "$W/$1.pem" -pubout -outform DER 2>/dev/null |
		base64 -w0 >"$W/$1.pub"
}
check "RSA keys generated" bash -c "$(declare -f keygen); W='$W';
	keygen ours && keygen py && keygen other"
ED=$($DKIMPY ed25519 "$W/ed.seed")
check "Ed25519 key generated" test -n "$ED"

# --- dnsmasq: the key records, authoritative for the test domains ------
DNSP=$(free_port)
root_opt=()
[ "$(id -u)" -eq 0 ] && root_opt=(--user=root)
dnsmasq --keep-in-foreground --no-resolv --no-hosts --no-poll \
	--listen-address=127.0.0.1 --bind-interfaces --port="$DNSP" \
	--pid-file="$W/dnsmasq.pid" --log-queries --log-facility="$W/dnsmasq.log" \
	--local=/example.org/ --local=/other.test/ --local-ttl=300 "${root_opt[@]}" \
	--txt-record="opendkim._domainkey.example.org,v=DKIM1;k=rsa;p=$(cat "$W/ours.pub");s=email;t=s" \
	--txt-record="py._domainkey.example.org,v=DKIM1; k=rsa; p=$(cat "$W/py.pub")" \
	--txt-record="ed._domainkey.example.org,v=DKIM1; k=ed25519; p=$ED" \
	--txt-record="revoked._domainkey.example.org,v=DKIM1; k=rsa; p=" \
	--txt-record="sel._domainkey.other.test,v=DKIM1; p=$(cat "$W/other.pub")" \
	>"$W/dnsmasq.out" 2>&1 &
DNSPID=$!
on_exit "stop_pid $DNSPID"
if ! check "dnsmasq answers on 127.0.0.1:$DNSP" wait_file "$W/dnsmasq.pid" 10; then
	tap_done
fi
wait_port 127.0.0.1 "$DNSP" 10 >/dev/null 2>&1

# --- filtermail configs: outgoing signs for example.org, incoming
# verifies on relay.test with our dnsmasq as its nameserver
mkdir -p "$W/mail" "$W/rejected"
cat >"$W/out.ini" <<EOF
[params]
mail_domain = example.org
dkim_key_file = $W/ours.pem
dkim_selector = opendkim
EOF
cat >"$W/in.ini" <<EOF
[params]
mail_domain = relay.test
mailboxes_dir = $W/mail
dns_server = 127.0.0.1:$DNSP
EOF
sed "s/127.0.0.1:$DNSP/127.0.0.1:$(free_port)/" "$W/in.ini" >"$W/nodns.ini"
export FILTERMAIL_REJECTED_DIR=""

# --- messages (CRLF), ours, no fixtures of anyone else ----------------
crlf() { sed 's/$/\r/'; }
{
	printf 'From: Alice <alice@example.org>\nTo: bob@relay.test\n'
	printf 'Subject: plain\nDate: Sat, 28 Nov 2026 10:00:00 +0000\n'
	printf 'Message-ID: <m1@example.org>\n\n'
	printf 'Hello Bob,  \n\twith trailing blanks \n\n\n'
} | crlf >"$W/m-plain.eml"
{
	printf 'Received: from x by y; Sat, 28 Nov 2026 10:00:00 +0000\n'
	printf 'FROM: "Alice, A." <Alice@Example.org>\n'
	printf 'To: bob@relay.test,\n\tcarol@relay.test\nCc: dave@relay.test\n'
	printf 'Reply-To: alice@example.org\nSubject: a folded\n  subject  \n'
	printf 'Date: Sat, 28 Nov 2026 10:00:00 +0000\nIn-Reply-To: <a@b>\n'
	printf 'References: <a@b>\n <c@d>\nList-Id: <l.example.org>\n'
	printf 'Autocrypt: addr=alice@example.org; keydata=\n mQINBF0123456789\n'
	printf ' abcdefABCDEF0123456789abcdef==\nX-Blank:\t \n'
	printf 'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="b"\n\n'
	printf -- '--b\nContent-Type: text/plain; charset=utf-8\n'
	printf 'Content-Transfer-Encoding: 8bit\n\nGr\303\274\303\237e\n.\n..x\n'
	head -c 3000 /dev/zero | tr '\0' 'L'
	printf '\n--b--\n'
} | crlf >"$W/m-headers.eml"
printf 'From: alice@example.org\r\nTo: bob@relay.test\r\nSubject: e\r\n\r\n' \
	>"$W/m-empty.eml"
printf 'From: alice@example.org\r\nTo: bob@relay.test\r\n\r\nno newline' \
	>"$W/m-nonl.eml"
check "gpg corpus generated" "$TOP/tests/data/mail/gen-pgp.sh" "$W/pgp"

# verdict INI FILE [MAIL_FROM]: "code=..." of the policy, incoming to bob
verdict() {
	"$CLI" check "$1" incoming "$2" - "${3:-alice@example.org}" \
		bob@relay.test 2>>"$W/policy.log" | sed -n 's/^code=\([0-9]*\).*/\1/p'
}
text() { # text INI FILE: the reply text
	"$CLI" check "$1" incoming "$2" - alice@example.org bob@relay.test \
		2>>"$W/policy.log" | sed -n 's/^code=[0-9]* erp=[01] text=//p'
}
py_verify() { $DKIMPY verify "$DNSP" <"$1" >/dev/null 2>>"$W/dkimpy.log"; }
py_fails() { ! py_verify "$1"; }
py_code() { if py_verify "$1"; then echo 250; else echo 554; fi; }
is() { test "$(verdict "$W/in.ini" "$1")" = "$2"; } # is FILE CODE
both_fail() { py_fails "$1" && is "$1" 554; }
# tamper IN OUT SED: a copy with one sed edit that must change something
tamper() { sed "$3" "$1" >"$2" && ! cmp -s "$1" "$2"; }

# --- our signatures --------------------------------------------------
for m in plain headers empty nonl; do
	f=$W/ours-$m.eml
	if ! check "ours signs $m" bash -c \
		"'$CLI' sign '$W/ours.pem' example.org opendkim '$W/m-$m.eml' >'$f'"; then
		continue
	fi
	check "ours $m: dkimpy verifies" py_verify "$f"
	check "ours $m: filtermail verifies (250)" is "$f" 250
done
sig=$(sed -n '1,/^[^ \t]/p' "$W/ours-headers.eml" | tr -d '\r\n\t ')
check "ours: rsa-sha256 relaxed/simple, selector and domain" \
	grep -q 'a=rsa-sha256;c=relaxed/simple;d=example.org;s=opendkim;' <<<"$sig"
# h= as libopendkim writes it: the present fields of SignHeaders (RFC 6376
# §5.4 list, +autocrypt, +content-type) in message order as spelled there,
# then every OversignHeaders entry once more, verbatim
H='h=FROM:To:Cc:Reply-To:Subject:Date:In-Reply-To:References:List-Id:'
H+='Autocrypt:Content-Type:from:reply-to:subject:date:to:cc:resent-*:'
H+='in-reply-to:references:list-*:autocrypt;'
check "ours: h= as OpenDKIM's SignHeaders/OversignHeaders" grep -qF "$H" <<<"$sig"

tamper "$W/ours-plain.eml" "$W/t1.eml" 's/^Hello Bob/Hello Eve/'
check "ours, body tampered: dkimpy fails" py_fails "$W/t1.eml"
check "ours, body tampered: filtermail 554" \
	test "$(text "$W/in.ini" "$W/t1.eml")" = "554 5.7.1 No valid DKIM signature found"
tamper "$W/ours-headers.eml" "$W/t2.eml" 's/^Subject: a folded/Subject: a fooled/'
check "ours, Subject tampered: both fail" both_fail "$W/t2.eml"
# a second From added at the end: over-signing makes it break the signature
awk 'f == 0 && /^\r$/ { printf "From: mallory@example.org\r\n"; f = 1 } { print }' \
	"$W/ours-plain.eml" >"$W/t3.eml"
check "ours, From added below (over-signed): both fail" both_fail "$W/t3.eml"

# the outgoing policy: a gpg-encrypted message is signed on its way out
if "$CLI" check "$W/out.ini" outgoing "$W/pgp/enc-one.eml" "$W/out-enc.eml" \
	alice@example.org bob@example.org >"$W/out.res" 2>"$W/out.log"; then :; fi
check "outgoing policy: encrypted mail passes (250)" grep -q '^code=250 ' "$W/out.res"
check "outgoing policy: logs upstream's phrases" bash -c \
	"grep -q 'Outgoing: Filtering encrypted mail.' '$W/out.log' && grep -q 'DKIM-Signature field added' '$W/out.log'"
check "outgoing policy: dkimpy verifies what it would reinject" py_verify "$W/out-enc.eml"
check "outgoing policy: incoming filtermail verifies it (250)" is "$W/out-enc.eml" 250
# a Subject other than "[...]" (folded), the headers Postfix's authclean
# strips, no Date: reinjected cleaned, and signed as cleaned
awk 'NR == 1 { printf "Received: from client (client [192.0.2.9])\r\n\tby x; Sat, 28 Nov 2026 10:00:00 +0000\r\n" }
	/^Subject:/ { printf "Subject: a secret\r\n  subject\r\nX-Mailer: leaky 1.0\r\nUser-Agent: leaky/2\r\nx-originating-ip: [192.0.2.9]\r\n"; next }
	{ print }' "$W/pgp/enc-one.eml" >"$W/leaky.eml"
if "$CLI" check "$W/out.ini" outgoing "$W/leaky.eml" "$W/out-leaky.eml" \
	alice@example.org bob@example.org >"$W/out-leaky.res" 2>>"$W/out.log"; then :; fi
check "outgoing policy: leaky headers and a real Subject pass (250)" grep -q '^code=250 ' "$W/out-leaky.res"
check "outgoing policy: reinjected with Subject [...], without Received/X-Mailer/User-Agent/X-Originating-IP, with a Date" \
	bash -c "grep -qx 'Subject: \[\.\.\.\]'\$'\r' '$W/out-leaky.eml' &&
		! grep -qiE '^(Received|X-Mailer|User-Agent|X-Originating-IP):|secret' '$W/out-leaky.eml' &&
		grep -qE '^Date: ' '$W/out-leaky.eml'"
check "outgoing policy: dkimpy verifies the cleaned message" py_verify "$W/out-leaky.eml"

# --- dkimpy's signatures in ours ---------------------------------------
n=0
for canon in relaxed/relaxed simple/simple relaxed/simple simple/relaxed; do
	for hs in default from from,to,subject,date,message-id,from,subject,reply-to; do
		for m in plain headers; do
			n=$((n + 1))
			f=$W/py-$n.eml
			desc="dkimpy $canon h=$hs $m"
			if ! $DKIMPY sign "$W/py.pem" example.org py "$canon" "$hs" \
				<"$W/m-$m.eml" >"$f" 2>>"$W/dkimpy.log"; then
				ok 1 "$desc: dkimpy signs"
				continue
			fi
			check "$desc: filtermail verifies (250)" is "$f" 250
		done
		# tampered body: both fail
		tamper "$f" "$f.bad" 's/^--b--/--c--/'
		check "dkimpy $canon h=$hs body tampered: both fail" both_fail "$f.bad"
	done
	# whitespace only (a blank in the Subject, blanks at body line ends):
	# relaxed tolerates it, simple does not, and both implementations agree
	f=$W/py-ws-${canon/\//-}.eml
	$DKIMPY sign "$W/py.pem" example.org py "$canon" default \
		<"$W/m-plain.eml" >"$f" 2>>"$W/dkimpy.log"
	for edit in 's/^Subject: plain/Subject:  plain/' 's/^Hello Bob,/Hello Bob, /'; do
		tamper "$f" "$f.ws" "$edit"
		py=$(py_code "$f.ws")
		ours=$(verdict "$W/in.ini" "$f.ws")
		check "dkimpy $canon, whitespace edit '$edit': filtermail $ours = dkimpy $py" \
			test "$ours" = "$py"
	done
done
sed 's/^Hello Bob,/Hello Bob, /' "$W/py-ws-relaxed-relaxed.eml" >"$W/a.eml"
sed 's/^Hello Bob,/Hello Bob, /' "$W/py-ws-simple-simple.eml" >"$W/b.eml"
check "a body whitespace edit: relaxed/relaxed passes in filtermail" is "$W/a.eml" 250
check "a body whitespace edit: simple/simple fails in filtermail" is "$W/b.eml" 554

# l=: content appended after the signed length is not covered
f=$W/py-len.eml
$DKIMPY sign "$W/py.pem" example.org py relaxed/simple default length \
	<"$W/m-plain.eml" >"$f" 2>>"$W/dkimpy.log"
check "dkimpy l=: filtermail verifies (250)" is "$f" 250
{ cat "$f"; printf 'appended after l=\r\n'; } >"$f.more"
py=$(py_code "$f.more")
check "dkimpy l=, text appended: filtermail agrees with dkimpy ($py)" is "$f.more" "$py"

# ed25519-sha256 (RFC 8463)
f=$W/py-ed.eml
$DKIMPY sign "ed25519:$W/ed.seed" example.org ed relaxed/relaxed default \
	<"$W/m-headers.eml" >"$f" 2>>"$W/dkimpy.log"
check "dkimpy ed25519-sha256: dkimpy verifies" py_verify "$f"
check "dkimpy ed25519-sha256: filtermail verifies (250)" is "$f" 250
tamper "$f" "$f.bad" 's/^Subject: a folded/Subject: a fooled/'
check "dkimpy ed25519-sha256 tampered: both fail" both_fail "$f.bad"

# --- origin rules --------------------------------------------------------
check "unsigned: 554 No DKIM signature found" \
	test "$(text "$W/in.ini" "$W/m-plain.eml")" = "554 5.7.1 No DKIM signature found"
# signed by other.test with a valid key, but From is example.org
$DKIMPY sign "$W/other.pem" other.test sel relaxed/simple default \
	<"$W/m-plain.eml" >"$W/misaligned.eml" 2>>"$W/dkimpy.log"
check "misaligned d=other.test: dkimpy passes it" py_verify "$W/misaligned.eml"
check "misaligned d=other.test: filtermail 554 (strict alignment)" \
	test "$(text "$W/in.ini" "$W/misaligned.eml")" = "554 5.7.1 No valid DKIM signature found"
sed 's/^From: Alice <alice@example.org>/From: Alice <alice@other.test>/' \
	"$W/m-plain.eml" >"$W/m-other.eml"
$DKIMPY sign "$W/other.pem" other.test sel relaxed/simple default \
	<"$W/m-other.eml" >"$W/aligned-other.eml" 2>>"$W/dkimpy.log"
check "aligned d=other.test, MAIL FROM differs: 250, empty return path" \
	grep -q '^code=250 erp=1 ' <("$CLI" check "$W/in.ini" incoming \
		"$W/aligned-other.eml" - alice@example.org bob@relay.test 2>/dev/null)
$DKIMPY sign "$W/py.pem" example.org revoked relaxed/simple default \
	<"$W/m-plain.eml" >"$W/revoked.eml" 2>>"$W/dkimpy.log"
check "revoked key (empty p=): both fail" both_fail "$W/revoked.eml"
$DKIMPY sign "$W/py.pem" example.org missing relaxed/simple default \
	<"$W/m-plain.eml" >"$W/nokey.eml" 2>>"$W/dkimpy.log"
check "no key record (NXDOMAIN): 554 No valid DKIM signature found" \
	test "$(text "$W/in.ini" "$W/nokey.eml")" = "554 5.7.1 No valid DKIM signature found"
# a domain dnsmasq is not authoritative for and cannot forward: REFUSED
sed 's/alice@example.org/alice@elsewhere.test/' "$W/m-plain.eml" >"$W/m-else.eml"
$DKIMPY sign "$W/py.pem" elsewhere.test py relaxed/simple default \
	<"$W/m-else.eml" >"$W/else.eml" 2>>"$W/dkimpy.log"
check "nameserver refuses: 451 (retry later, never lost)" \
	test "$(verdict "$W/in.ini" "$W/else.eml" alice@elsewhere.test)" = 451
check "no nameserver listening: 451 within 60 s" \
	test "$(timeout 70 "$CLI" check "$W/nodns.ini" incoming "$W/ours-plain.eml" - \
		alice@example.org bob@relay.test 2>/dev/null | cut -c1-8)" = code=451
check "dnsmasq served our lookups" grep -q 'query\[TXT\] opendkim._domainkey.example.org' "$W/dnsmasq.log"

# rejected mail is saved where FILTERMAIL_REJECTED_DIR says
FILTERMAIL_REJECTED_DIR=$W/rejected verdict "$W/in.ini" "$W/t1.eml" >/dev/null
saved=$(find "$W/rejected/dkim-verify" -name '*.eml' -type f 2>/dev/null | head -n 1)
check "a rejected message is saved under dkim-verify/" cmp -s "${saved:-/nonexistent}" "$W/t1.eml"
check "incoming logs upstream's phrase" grep -q 'Incoming: Filtering unencrypted mail.' "$W/policy.log"

tap_done
