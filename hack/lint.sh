#!/usr/bin/env bash
# lint.sh: make lint. clang-format check, clang-tidy over a compile
# database recorded by bear, the banned-function check, shellcheck of
# hack/ and test scripts (LINT_SINCE=REV: only what changed since REV).
# Each check is one TAP line in
# build/results/lint.tap (when RESULTS is set) and on stdout.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

RESULTS=${RESULTS:-build/results}
mkdir -p "$RESULTS" build/lint
out="$RESULTS/lint.tap"
: >"$out"
n=0 failed=0

check() { # check NAME CMD...: run CMD, record ok/not ok
	local name=$1 log
	shift
	n=$((n + 1))
	log=build/lint/$name.log
	if "$@" >"$log" 2>&1; then
		echo "ok $n - lint: $name" | tee -a "$out"
	else
		echo "not ok $n - lint: $name" | tee -a "$out"
		sed 's/^/    /' "$log" | head -n 60
		failed=1
	fi
}

csrc=$(git ls-files -co --exclude-standard -- '*.c' '*.h' | grep -v '^build/' | sort)
# shellcheck disable=SC2086
check clang-format clang-format --dry-run --Werror $csrc
check checksrc hack/checksrc.sh

# tidy: record a compile database with bear (a separate build dir, so it
# sees every compile), then clang-tidy every source; fails on any finding
# LINT_SINCE=REV: clang-tidy and shellcheck look only at the files
# changed since REV (a branch before it lands; CI leaves it unset)
since=${LINT_SINCE:-}
changed() { # changed PATTERN...: tracked files matching, changed since REV
	if [ -n "$since" ]; then
		git diff --name-only --diff-filter=d "$since" -- "$@"
		git ls-files -o --exclude-standard -- "$@"
	else
		git ls-files -co --exclude-standard -- "$@"
	fi | grep -v '^build/' | sort -u
}

tidy() {
	local files
	files=$(changed 'services/*.c' 'operator/*.c' 'relay/*.c' 'dovecot/*.c')
	if [ -n "$since" ] && [ -s build/lint/compile_commands.json ]; then
		# the changed files recompile; bear adds their commands
		# shellcheck disable=SC2086 # one path a word
		[ -z "$files" ] || touch $files
		bear --append --output build/lint/compile_commands.json -- \
			make -s -j"$(nproc)" BUILD=build/lint/obj bins unit-bins dovecot-plugins >/dev/null ||
			return 1
	else
		rm -rf build/lint/obj
		bear --output build/lint/compile_commands.json -- \
			make -s -j"$(nproc)" BUILD=build/lint/obj bins unit-bins dovecot-plugins >/dev/null ||
			return 1
	fi
	[ -n "$files" ] || return 0
	# shellcheck disable=SC2086
	printf '%s\n' $files | xargs -P "$(nproc)" -n 8 \
		clang-tidy -p build/lint --quiet >build/lint/tidy.out 2>&1
	grep -v -E '^[0-9]+ warnings? generated|^Suppressed|^Use -header-filter|^$' \
		build/lint/tidy.out
	! grep -qE ': (warning|error):' build/lint/tidy.out
}
check clang-tidy tidy

shfiles=$(changed '*.sh' .ci/run)
if [ -z "$shfiles" ]; then
	n=$((n + 1))
	echo "ok $n - lint: shellcheck (no script changed since $since)" | tee -a "$out"
elif command -v shellcheck >/dev/null; then
	# shellcheck disable=SC2086
	check shellcheck shellcheck -x $shfiles
else
	n=$((n + 1))
	echo "ok $n - lint: shellcheck # SKIP shellcheck not installed" | tee -a "$out"
fi

check actionlint hack/tools.sh run actionlint

exit $failed
