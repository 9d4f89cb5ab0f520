#!/usr/bin/env bash
# checksrc.sh: the project's own source rules (STYLE.md), like curl's
# checksrc: banned functions, and files that grew too big. Prints every
# offending line as file:line: reason; exits 1 if there was any.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

banned='strcpy|strcat|sprintf|vsprintf|strtok|atoi|atol|atoll|gets|strncpy|sscanf|system|tmpnam|mktemp'
files=$(git ls-files -co --exclude-standard -- '*.c' '*.h' 2>/dev/null | grep -v '^build/' || true)
bad=0

for f in $files; do
	[ -f "$f" ] || continue
	# strip // comments and string literals roughly before matching
	if out=$(sed -e 's://.*$::' -e 's/"[^"]*"/""/g' "$f" |
		grep -nE "(^|[^a-zA-Z0-9_>.])($banned)[[:space:]]*\(" |
		grep -v 'checksrc: allow'); then
		while IFS= read -r line; do
			echo "$f:${line%%:*}: banned function: ${line#*:}"
		done <<<"$out"
		bad=1
	fi
	n=$(wc -l <"$f")
	if [ "$n" -gt 1000 ]; then
		echo "$f: $n lines (split it by concern, STYLE.md rule 19)"
		bad=1
	fi
done
exit $bad
