#!/usr/bin/env bash
# bench_filtermail_policy.sh: filtermail's content decisions per byte.
#
# Two PGP/MIME messages encrypted by a real gpg (10 KB and 30 MB, the
# default max_message_size) go through test_policy_cli bench, which times
# in one process, on the same bytes:
#   baseline-memchr   memchr over the message for every line end (the
#                     cheapest linear pass there is)
#   classify          fm_pgp_classify: MIME, armor, base64, packet walk
#   baseline-sha256   SHA-256 of the raw bytes (OpenSSL EVP)
#   body-relaxed      DKIM relaxed body canonicalization + SHA-256
#   body-simple       DKIM simple body canonicalization + SHA-256
#   dkim-sign         a whole DKIM-Signature (relaxed/simple, RSA-2048)
#   dkim-verify       verification of that signature, key record parsed
# and prints bytes, ns/byte, MB/s, and the ratio to the baseline above it
# (memchr for classify, SHA-256 for the DKIM rows).
#
#   BENCH_SMALL_ITERS (default 2000), BENCH_LARGE_ITERS (default 3)
# Never fails on speed; exits non-zero only when it cannot run.
# shellcheck source=tests/integration/lib/common.sh
. "$(dirname "$0")/../integration/lib/common.sh"

CLI=$TOP/build/tests/unit/services/filtermail/test_policy_cli
[ -x "$CLI" ] || { echo "no $CLI: run make first"; exit 1; }
W=$(workdir bench-filtermail-policy)
# workdir's own cleanup is registered in its $(...) subshell and lost
[ "${KEEP:-0}" = 1 ] || on_exit "rm -rf '$W'"
export GNUPGHOME=$W/gnupg
mkdir -m 700 "$GNUPGHOME"
on_exit "gpgconf --kill all >/dev/null 2>&1"
keys() { # an encryption key for bob
	local fpr
	gpg --batch --pinentry-mode loopback --passphrase '' \
		--quick-gen-key bob@example.org ed25519 cert never || return 1
	fpr=$(gpg --list-keys --with-colons bob@example.org |
		awk -F: '/^fpr/{print $10; exit}')
	gpg --batch --pinentry-mode loopback --passphrase '' \
		--quick-add-key "$fpr" cv25519 encr never
}
keys >/dev/null 2>&1 || { echo "gpg key generation failed"; exit 1; }

# pgpmime NAME PLAINBYTES: a PGP/MIME message of about PLAINBYTES * 1.37
pgpmime() {
	head -c "$2" /dev/urandom >"$W/$1.bin"
	gpg --batch --trust-model always --compress-algo none -a \
		-r bob@example.org -o "$W/$1.asc" -e "$W/$1.bin" || return 1
	{
		printf 'From: alice@example.org\nTo: bob@example.org\nSubject: ...\n'
		printf 'Date: Sat, 28 Nov 2026 10:00:00 +0000\nMIME-Version: 1.0\n'
		printf 'Content-Type: multipart/encrypted;\n'
		printf ' protocol="application/pgp-encrypted"; boundary="pm"\n\n'
		printf -- '--pm\nContent-Type: application/pgp-encrypted\n\nVersion: 1\n\n'
		printf -- '--pm\nContent-Type: application/octet-stream\n\n'
		cat "$W/$1.asc"
		printf -- '--pm--\n'
	} | sed 's/$/\r/' >"$W/$1.eml"
}
pgpmime small 6800 || { echo "gpg encryption failed"; exit 1; }
pgpmime large 22000000 || { echo "gpg encryption failed"; exit 1; }

printf '%-16s %10s %9s %9s %7s\n' op bytes ns/byte MB/s xbase
for m in small:"${BENCH_SMALL_ITERS:-2000}" large:"${BENCH_LARGE_ITERS:-3}"; do
	f=$W/${m%%:*}.eml
	echo "# $(basename "$f"): $(stat -c %s "$f") bytes, ${m##*:} iterations"
	"$CLI" bench "$f" "${m##*:}" || { echo "bench failed on $f"; exit 1; }
done
