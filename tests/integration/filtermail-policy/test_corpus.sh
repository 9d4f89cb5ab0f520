#!/usr/bin/env bash
# test_corpus: gpg-made PGP/MIME messages through filtermail's classifier
# (the test-only CLI mode of the test_mime unit binary): encrypted to one
# and two recipients and symmetric pass, a literal-data packet,
# truncated and corrupted payloads and armor in text/plain fail.
set -uo pipefail
# shellcheck source=tests/integration/lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
tap_init
dir=$(workdir filtermail-corpus)
cls=build/tests/unit/services/filtermail/test_mime
if ! tests/data/mail/gen-pgp.sh "$dir" >"$dir/gen.log" 2>&1; then
	ok 1 "corpus generated (see $dir/gen.log)"
	tap_done
	exit 1
fi
for f in "$dir"/*.eml; do
	name=$(basename "$f" .eml)
	want=1
	case $name in bad-*) want=0 ;; esac
	for dirn in outgoing incoming; do
		got=$("$cls" "$f" "$dirn" | sed -n 's/^encrypted=\([01]\).*/\1/p')
		check "$name $dirn encrypted=$want" test "$got" = "$want"
	done
done
tap_done
