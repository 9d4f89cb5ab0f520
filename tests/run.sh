#!/usr/bin/env bash
# run.sh: run test programs and count results.
#
#   tests/run.sh --tier NAME PROG...   run each PROG, write build/results/NAME.tap,
#                                      print "NAME: N passed, N failed"
#   tests/run.sh --summary             print the total over every tier:
#                                      "N passed, N failed[, N skipped]"
#
# Test programs speak TAP: "ok N - name", "not ok N - name", and
# "ok N - name # SKIP reason". cmocka binaries are run with
# CMOCKA_MESSAGE_OUTPUT=TAP. A program that prints no TAP line counts as
# one test by its exit status; one that exits non-zero without a failing
# line (a crash) adds one failure. Each program gets TEST_TIMEOUT seconds,
# or more if a script asks for it in a "# test-timeout: SECS" line (the
# release test builds images for two architectures).
# As root, a program that leaves a network namespace named cm* behind
# (the local relays' and test nodes' prefix) gets one failure naming
# it; the runner removes it, and any cm* interface left (a veth whose
# namespace the kernel has not freed yet), which would make a later
# relay on the same address fail with "File exists". Two runs at once on one machine are not
# supported for the tiers that make such networks.
# TEST_WRAPPER runs each program through it (make ARCH=arm64 unit:
# qemu-aarch64-static).
set -uo pipefail

RESULTS=${RESULTS:-build/results}
TEST_TIMEOUT=${TEST_TIMEOUT:-900}

count() { # count FILE -> "pass fail skip"
	awk '
	/^ok [0-9]+/ { if ($0 ~ /# [Ss][Kk][Ii][Pp]/) s++; else p++; next }
	/^not ok [0-9]+/ { if ($0 ~ /# TODO/) p++; else f++; next }
	END { printf "%d %d %d\n", p, f, s }' "$1"
}

summary() {
	local p=0 f=0 s=0 a b c file
	for file in "$RESULTS"/*.tap; do
		[ -e "$file" ] || continue
		read -r a b c < <(count "$file")
		p=$((p + a)) f=$((f + b)) s=$((s + c))
	done
	if [ "$s" -gt 0 ]; then
		echo "$p passed, $f failed, $s skipped"
	else
		echo "$p passed, $f failed"
	fi
	[ "$f" -eq 0 ]
}

# owned_nets: the network namespaces hack/local-relay-net.sh made for
# a program of this run (it records CM_TEST_RUN in
# /run/chatmail-test-nets/<name>), one per line; another run's are not
# ours to judge or remove
owned_nets() {
	local f
	for f in /run/chatmail-test-nets/*; do
		[ -f "$f" ] && [ "$(cat "$f" 2>/dev/null)" = "$CM_TEST_RUN" ] &&
			echo "${f##*/}"
	done
	return 0
}

# net_clean NAMES: remove what a program left behind (processes in a
# namespace first, or the namespace lives on while they run)
net_clean() {
	local ns pid
	while read -r ns; do
		[ -n "$ns" ] || continue
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			kill -KILL "$pid" 2>/dev/null
		done
		ip netns del "$ns" 2>/dev/null
		rm -f "/run/chatmail-test-nets/$ns"
	done <<<"$1"
}

run_tier() {
	local tier=$1 out prog name log rc p f s n=0 left t0 limit
	shift
	mkdir -p "$RESULTS"
	out="$RESULTS/$tier.tap"
	: >"$out"
	for prog in "$@"; do
		name=${prog#build/}
		log=$(mktemp)
		t0=$SECONDS
		limit=$TEST_TIMEOUT
		if [[ $prog == *.sh ]]; then
			limit=$(sed -n 's/^# test-timeout: \([0-9][0-9]*\)$/\1/p' "$prog" | head -n 1)
			[ "${limit:-0}" -gt "$TEST_TIMEOUT" ] || limit=$TEST_TIMEOUT
		fi
		# shellcheck disable=SC2086 # TEST_WRAPPER: a command and its words
		CMOCKA_MESSAGE_OUTPUT=TAP timeout --kill-after=10 "$limit" \
			${TEST_WRAPPER:-} "$prog" >"$log" 2>&1
		rc=$?
		left=$(owned_nets)
		if [ -n "$left" ]; then
			echo "not ok 9999 - left a test network behind: $(echo "$left" | tr '\n' ' ')" >>"$log"
			net_clean "$left"
			[ $rc -ne 0 ] || rc=1
		fi
		read -r p f s < <(count "$log")
		# prefix every TAP line with the program, keep diagnostics
		awk -v name="$name" '
		/^(not )?ok [0-9]+/ {
			sub(/^ok [0-9]+( -)?/, "ok 0 - " name ":")
			sub(/^not ok [0-9]+( -)?/, "not ok 0 - " name ":")
		}
		{ print }' "$log" >>"$out"
		if [ $((p + f + s)) -eq 0 ]; then
			if [ $rc -eq 0 ]; then
				echo "ok 0 - $name" >>"$out"
			else
				echo "not ok 0 - $name (exit $rc)" >>"$out"
			fi
		elif [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then
			echo "not ok 0 - $name exited $rc after its tests" >>"$out"
		fi
		if [ $rc -ne 0 ]; then
			echo "FAIL $name (exit $rc, $((SECONDS - t0)) s):"
			grep -v '^ok ' "$log" | tail -n 40 | sed 's/^/    /'
		else
			echo "ok   $name ($((p + s)) tests, $((SECONDS - t0)) s)"
		fi
		rm -f "$log"
		n=$((n + 1))
	done
	read -r p f s < <(count "$out")
	grep -h '# [Ss][Kk][Ii][Pp]' "$out" | sed 's/^/  skipped: /' | head -n 20
	if [ "$s" -gt 0 ]; then
		echo "$tier: $p passed, $f failed, $s skipped"
	else
		echo "$tier: $p passed, $f failed"
	fi
	[ "$f" -eq 0 ]
}

# the run's mark on the namespaces its programs' relays make
export CM_TEST_RUN=${CM_TEST_RUN:-run-$$}

case "${1:-}" in
--tier)
	[ $# -ge 2 ] || { echo "usage: $0 --tier NAME PROG..." >&2; exit 64; }
	tier=$2
	shift 2
	run_tier "$tier" "$@"
	;;
--summary)
	summary
	;;
*)
	echo "usage: $0 --tier NAME PROG... | --summary" >&2
	exit 64
	;;
esac
