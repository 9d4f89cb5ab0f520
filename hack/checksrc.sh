#!/usr/bin/env bash
# checksrc.sh: the project's own source rules (docs/STYLE.md, "What is
# checked"), in the spirit of curl's checksrc. Over every C file git
# knows (sources, headers, tests, fuzz targets):
#
#   1. banned functions (a line may carry "checksrc: allow")
#   2. a header comment: the file starts with "/*"
#   3. files of at most MAX_FILE_LINES lines
#   4. function bodies (between a "{" and a "}" at column 0, as
#      clang-format puts them) of at most MAX_FUNC_LINES lines
#
# ALLOW_LONG below lists the exceptions to 3 and 4 ("path" for a file,
# "path:function" for a function), each with its reason; an entry that
# no longer exceeds its limit is reported as well, so the list stays
# short. Prints every problem as file:line: reason; exits 1 if there was
# any.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

MAX_FILE_LINES=800
MAX_FUNC_LINES=60

ALLOW_LONG=(
	# tests: one assertion per chatmail.ini option and per spec field
	tests/unit/services/lib/test_config.c
	tests/unit/services/lib/test_config.c:test_defaults
	tests/unit/services/lib/test_config.c:test_every_option
	tests/unit/relay/test_spec.c:test_full
	# tests: the appversions schema walk
	tests/unit/services/chatmail-metadata/test_metadata.c:test_appversions
	# flag parsers: one case per flag
	operator/main.c:parse
	services/relay-render/main.c:parse_args
	# dovecot.conf's service blocks, one printf
	relay/render/render_dovecot.c:dc_services
)

banned='strcpy|strcat|sprintf|vsprintf|strtok|atoi|atol|atoll|gets|strncpy|sscanf|system|tmpnam|mktemp'
files=$(git ls-files -co --exclude-standard -- '*.c' '*.h' 2>/dev/null | grep -v '^build/' || true)
bad=0
declare -A allowed=() used=()
for a in "${ALLOW_LONG[@]}"; do
	allowed[$a]=1
done

# too_long KEY WHERE WHAT LIMIT: report unless KEY is allowed
too_long() {
	if [ -n "${allowed[$1]:-}" ]; then
		used[$1]=1
		return
	fi
	echo "$2: $3 (more than $4 lines; split it, docs/STYLE.md)"
	bad=1
}

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
	if [ "$(head -c 2 "$f")" != "/*" ]; then
		echo "$f:1: no header comment (what the file is, its role, its untrusted input)"
		bad=1
	fi
	n=$(wc -l <"$f")
	if [ "$n" -gt "$MAX_FILE_LINES" ]; then
		too_long "$f" "$f" "$n lines" "$MAX_FILE_LINES"
	fi
done

# function bodies: "file line name length" for each one over the limit
# shellcheck disable=SC2086 # one word per file name
long=$(awk -v max="$MAX_FUNC_LINES" '
	FNR == 1 { inbody = 0 }
	/^[A-Za-z_][A-Za-z0-9_]*[ \t]*\(/ {
		match($0, /^[A-Za-z_][A-Za-z0-9_]*/)
		name = substr($0, 1, RLENGTH); at = FNR
	}
	/^\{/ { inbody = 1; start = FNR; next }
	/^\}/ && inbody {
		inbody = 0
		if (FNR - start - 1 > max)
			print FILENAME, at, name, FNR - start - 1
	}' $files)
while read -r f at name len; do
	[ -n "$f" ] || continue
	too_long "$f:$name" "$f:$at" "function $name has $len lines" \
		"$MAX_FUNC_LINES"
done <<<"$long"

for a in "${ALLOW_LONG[@]}"; do
	if [ -z "${used[$a]:-}" ]; then
		echo "hack/checksrc.sh: $a is within its limit now: remove it from ALLOW_LONG"
		bad=1
	fi
done
exit $bad
