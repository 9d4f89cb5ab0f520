#!/usr/bin/env bash
# gen-mail.sh OUTDIR: the non-PGP/MIME half of filtermail's corpus, made
# at test time (our own messages; nothing upstream's): SecureJoin vc/vg
# requests and fakes, an Autocrypt Setup Message carrying a real
# gpg-exported secret key encrypted with a numeric passphrase (as
# Autocrypt Level 1 §4.4 describes it), an MDN, DSNs from MAILER-DAEMON,
# 8-bit text, a 1 MB line, and PGP/MIME messages with 8-bit headers and
# the armor on one long line. All lines end in CRLF, as filtermail gets
# them after DATA. File names say what the classifier must find; the
# table lives in tests/integration/filtermail-policy/test_corpus.sh.
set -euo pipefail
out=$1
mkdir -p "$out"
export GNUPGHOME
GNUPGHOME=$(mktemp -d)
trap 'gpgconf --kill all >/dev/null 2>&1 || true; rm -rf "$GNUPGHOME"' EXIT
gpg --batch --pinentry-mode loopback --passphrase '' \
	--quick-gen-key alice@example.org ed25519 cert never >/dev/null 2>&1
fpr=$(gpg --list-keys --with-colons alice@example.org | awk -F: '/^fpr/{print $10; exit}')
gpg --batch --pinentry-mode loopback --passphrase '' \
	--quick-add-key "$fpr" cv25519 encr never >/dev/null 2>&1

crlf() { sed 's/$/\r/'; }
# hdr FROM TO SUBJECT: the usual header fields, one per line (LF)
hdr() {
	printf 'From: %s\nTo: %s\nSubject: %s\n' "$1" "$2" "$3"
	printf 'Date: Sat, 28 Nov 2026 10:00:00 +0000\n'
	printf 'Message-ID: <%s@example.org>\nMIME-Version: 1.0\n' "$RANDOM$RANDOM"
}

# --- SecureJoin (Delta Chat's unencrypted first step) ------------------
# sj NAME HEADER BODY [PARTS]: multipart/mixed with PARTS text/plain parts
sj() {
	local parts=${4:-1} i
	{
		hdr alice@example.org bob@example.org '[...]'
		printf 'Secure-Join: %s\nSecure-Join-Invitenumber: 9zLwWOqAz8\n' "$2"
		printf 'Content-Type: multipart/mixed; boundary="sj0"\n\n'
		for ((i = 0; i < parts; i++)); do
			printf -- '--sj0\nContent-Type: text/plain; charset="utf-8"\n\n%s\n' "$3"
		done
		printf -- '--sj0--\n'
	} | crlf >"$out/$1.eml"
}
sj sj-vc vc-request 'Secure-Join: vc-request'
sj sj-vg vg-request 'SECURE-JOIN: VG-REQUEST  '
sj bad-sj-fake vc-request 'Buy viagra!'
sj bad-sj-twoparts vc-request 'Secure-Join: vc-request' 2
sj bad-sj-header vc-auth-required 'Secure-Join: vc-request'
{
	hdr alice@example.org bob@example.org '[...]'
	printf 'Secure-Join: vc-request\nContent-Type: text/plain\n\n'
	printf 'Secure-Join: vc-request\n'
} | crlf >"$out/bad-sj-notmultipart.eml"

# --- Autocrypt Setup Message ------------------------------------------
code=$(printf '%04d-' $((RANDOM % 10000)) $((RANDOM % 10000)) $((RANDOM % 10000)) \
	$((RANDOM % 10000)) $((RANDOM % 10000)) $((RANDOM % 10000)) \
	$((RANDOM % 10000)) $((RANDOM % 10000)) $((RANDOM % 10000)))
code=${code%-}
gpg --batch --pinentry-mode loopback --passphrase '' --armor \
	--export-secret-keys alice@example.org >"$GNUPGHOME/secret.asc"
gpg --batch --pinentry-mode loopback --passphrase "$code" --armor \
	--symmetric --cipher-algo AES128 -o "$GNUPGHOME/setup.asc" \
	"$GNUPGHOME/secret.asc"
# asm NAME SUBJECT: the setup message, self-addressed
asm() {
	{
		hdr alice@example.org alice@example.org "$2"
		printf 'Autocrypt-Setup-Message: v1\n'
		printf 'Content-Type: multipart/mixed; boundary="asm"\n\n'
		printf -- '--asm\nContent-Type: text/plain; charset=utf-8\n\n'
		printf 'This is the Autocrypt Setup Message.\n\n'
		printf -- '--asm\nContent-Type: application/autocrypt-setup\n'
		printf 'Content-Disposition: attachment; filename="autocrypt-setup-message.html"\n\n'
		printf '<html><body><p>Setup</p><pre>\n'
		sed '1a Passphrase-Format: numeric9x4\nPassphrase-Begin: '"${code:0:2}" \
			"$GNUPGHOME/setup.asc"
		printf '</pre></body></html>\n--asm--\n'
	} | crlf >"$out/$1.eml"
}
asm asm 'Autocrypt Setup Message'
asm asm-encoded-subject '=?utf-8?q?Autocrypt_Setup_Message?='
asm bad-asm-subject 'Autocrypt Setup Message (copy)'

# --- reports -------------------------------------------------------------
# report NAME FROM TYPE AUTO: a multipart/report, AUTO = Auto-Submitted or ""
report() {
	{
		hdr "$2" alice@example.org 'Delivery Status Notification (Failure)'
		[ -n "$4" ] && printf 'Auto-Submitted: %s\n' "$4"
		printf 'Content-Type: multipart/report; report-type=%s;\n' "$3"
		printf '\tboundary="rep"\n\n--rep\nContent-Type: text/plain\n\n'
		printf 'The mail system could not deliver your message.\n\n--rep\n'
		if [ "$3" = delivery-status ]; then
			printf 'Content-Type: message/delivery-status\n\n'
			printf 'Reporting-MTA: dns; mx.example.org\n'
			printf 'Arrival-Date: Sat, 28 Nov 2026 10:00:00 +0000\n\n'
			printf 'Final-Recipient: rfc822; nobody@example.net\n'
			printf 'Action: failed\nStatus: 5.1.1\n'
			printf 'Diagnostic-Code: smtp; 550 5.1.1 <nobody@example.net>: '
			printf 'Recipient address rejected\n\n'
		else
			printf 'Content-Type: message/disposition-notification\n\n'
			printf 'Reporting-UA: Delta Chat\n'
			printf 'Original-Recipient: rfc822;bob@example.org\n'
			printf 'Final-Recipient: rfc822;bob@example.org\n'
			printf 'Original-Message-ID: <orig@example.org>\n'
			printf 'Disposition: manual-action/MDN-sent-automatically; displayed\n\n'
		fi
		printf -- '--rep\nContent-Type: text/rfc822-headers\n\n'
		printf 'From: alice@example.org\nTo: nobody@example.net\n'
		printf 'Subject: hello\n\n--rep--\n'
	} | crlf >"$out/$1.eml"
}
report dsn MAILER-DAEMON@example.org delivery-status auto-replied
report dsn-noauto MAILER-DAEMON@example.org delivery-status ''
report mdn bob@example.org disposition-notification auto-replied

# --- 8-bit and long lines --------------------------------------------------
{
	hdr alice@example.org bob@example.org $'Gr\303\274\303\237e \344\270\255'
	printf 'Content-Type: text/plain; charset=utf-8\n'
	printf 'Content-Transfer-Encoding: 8bit\n\n'
	printf 'Gr\303\274\303\237e, \344\270\255\346\226\207, latin-1 \xe9\xe8, ctl \x01\x7f\n.\n'
} | crlf >"$out/8bit.eml"
{
	hdr alice@example.org bob@example.org 'a long line'
	printf 'Content-Type: text/plain\n\n'
	head -c 1048576 /dev/zero | tr '\0' 'x'
	printf '\nend\n'
} | crlf >"$out/longline.eml"

# pgpmime NAME SUBJECT ARMORFILE: RFC 3156 wrapping
pgpmime() {
	{
		hdr $'Al\303\256ce <alice@example.org>' bob@example.org "$2"
		printf 'Content-Type: multipart/encrypted;\n'
		printf ' protocol="application/pgp-encrypted"; boundary="pm"\n\n'
		printf -- '--pm\nContent-Type: application/pgp-encrypted\n\nVersion: 1\n\n'
		printf -- '--pm\nContent-Type: application/octet-stream; name="encrypted.asc"\n\n'
		cat "$3"
		printf -- '--pm--\n'
	} | crlf >"$out/$1.eml"
}
head -c 200000 /dev/urandom | base64 >"$GNUPGHOME/big.txt"
gpg --batch --trust-model always -a -r alice@example.org \
	-o "$GNUPGHOME/enc.asc" -e "$GNUPGHOME/big.txt"
pgpmime enc-8bit-headers $'Gr\303\274\303\237e' "$GNUPGHOME/enc.asc"
# the base64 of the armor joined into one line (~270 KB)
a=$GNUPGHOME/enc.asc
{
	sed -n '1,2p' "$a"
	sed -n '3,$p' "$a" | grep -v -e '^=' -e '^-----END' | tr -d '\n'
	printf '\n'
	grep -e '^=' -e '^-----END' "$a"
} >"$GNUPGHOME/oneline.asc"
pgpmime enc-one-long-armor-line '...' "$GNUPGHOME/oneline.asc"
