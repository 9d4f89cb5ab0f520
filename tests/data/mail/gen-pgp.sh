#!/usr/bin/env bash
# gen-pgp.sh OUTDIR: build PGP/MIME test messages with a real gpg in a
# throwaway GNUPGHOME (generated keys): encrypted to one and to two
# recipients, symmetric (SKESK), with a "Version:" armor header (refused
# outgoing, skipped incoming), truncated and corrupted payloads, a
# literal-data packet, and armored text in text/plain. Our own corpus;
# nothing upstream's.
set -euo pipefail
out=$1
mkdir -p "$out"
export GNUPGHOME
GNUPGHOME=$(mktemp -d)
trap 'gpgconf --kill all >/dev/null 2>&1 || true; rm -rf "$GNUPGHOME"' EXIT
for u in alice bob; do
	gpg --batch --pinentry-mode loopback --passphrase '' \
		--quick-gen-key "$u@example.org" ed25519 cert never >/dev/null 2>&1
	fpr=$(gpg --list-keys --with-colons "$u@example.org" | awk -F: '/^fpr/{print $10; exit}')
	gpg --batch --pinentry-mode loopback --passphrase '' \
		--quick-add-key "$fpr" cv25519 encr never >/dev/null 2>&1
done
# mail FILE ARMOR: wrap an armored message as RFC 3156 PGP/MIME (CRLF)
mail() {
	{
		printf 'From: alice@example.org\nTo: bob@example.org\nSubject: ...\n'
		printf 'MIME-Version: 1.0\nContent-Type: multipart/encrypted;\n'
		printf ' protocol="application/pgp-encrypted"; boundary="XY"\n\n'
		printf -- '--XY\nContent-Type: application/pgp-encrypted\n\nVersion: 1\n\n'
		printf -- '--XY\nContent-Type: application/octet-stream; name="encrypted.asc"\n\n'
		cat "$2"
		printf -- '--XY--\n'
	} | sed 's/$/\r/' >"$1"
}
echo 'hello' >"$GNUPGHOME/p.txt"
gpg --batch --trust-model always -a -r bob@example.org -o "$GNUPGHOME/one.asc" -e "$GNUPGHOME/p.txt"
gpg --batch --trust-model always -a -r bob@example.org -r alice@example.org \
	-o "$GNUPGHOME/two.asc" -e "$GNUPGHOME/p.txt"
gpg --batch --pinentry-mode loopback --passphrase pw -a -c \
	-o "$GNUPGHOME/sym.asc" "$GNUPGHOME/p.txt"
gpg --batch -a --store -o "$GNUPGHOME/literal.asc" "$GNUPGHOME/p.txt"
gpg --batch --trust-model always --emit-version -a -r bob@example.org \
	-o "$GNUPGHOME/version.asc" -e "$GNUPGHOME/p.txt"
mail "$out/enc-one.eml" "$GNUPGHOME/one.asc"
mail "$out/enc-two.eml" "$GNUPGHOME/two.asc"
mail "$out/enc-sym.eml" "$GNUPGHOME/sym.asc"
mail "$out/bad-literal.eml" "$GNUPGHOME/literal.asc"
mail "$out/enc-version.eml" "$GNUPGHOME/version.asc"
# truncated: drop the last base64 line before the CRC
awk 'BEGIN{n=0} {l[n++]=$0} END{for(i=0;i<n;i++) if (i!=n-3) print l[i]}' \
	"$GNUPGHOME/two.asc" >"$GNUPGHOME/trunc.asc"
mail "$out/bad-truncated.eml" "$GNUPGHOME/trunc.asc"
# corrupted: the first packet tag byte changed (base64 'h' -> 'y')
sed '3s/^./y/' "$GNUPGHOME/one.asc" >"$GNUPGHOME/corrupt.asc"
mail "$out/bad-corrupted.eml" "$GNUPGHOME/corrupt.asc"
# armored text in text/plain
{
	printf 'From: alice@example.org\nTo: bob@example.org\nContent-Type: text/plain\n\n'
	cat "$GNUPGHOME/one.asc"
} | sed 's/$/\r/' >"$out/bad-fake-encrypted.eml"
