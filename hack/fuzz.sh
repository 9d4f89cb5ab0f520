#!/usr/bin/env bash
# fuzz.sh SECONDS: run every fuzz target already built by
# `make FUZZ=1 _fuzz-bins` (make fuzz does both) for SECONDS each.
#
#   target     every executable build/fuzz/tests/fuzz/*/fuzz_*; its name
#              is the file name (names must be unique across dirs)
#   seeds      tests/fuzz/corpus/<target>/ (read, never written); libFuzzer
#              runs every seed before it mutates, so a regress-* file kept
#              there (the input of a fixed finding) is a regression test
#   corpus     build/fuzz/corpus/<target>/ (new inputs land here, so the
#              repository stays clean; kept between runs)
#   crashes    build/fuzz/crashes/<target>/ (crash-*, leak-*, timeout-*,
#              oom-* as libFuzzer names them; kept)
#   log        build/fuzz/logs/<target>.log
#
# Each run is bounded: -max_total_time, -timeout per input, -rss_limit_mb,
# and a wall-clock kill after SECONDS + 60. Prints one TAP line per
# target (also into $RESULTS/fuzz.tap) and exits 1 if any target
# crashed, leaked, timed out or could not run. Builds nothing itself.
# Knobs (environment): FUZZ_BUILD (build/fuzz), FUZZ_RSS_MB (1024),
# FUZZ_INPUT_TIMEOUT (10 s per input), FUZZ_MAX_LEN (65536), RESULTS.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

secs=${1:-60}
if ! [[ $secs =~ ^[0-9]+$ ]] || [ "$secs" -lt 1 ]; then
	echo "usage: $0 SECONDS" >&2
	exit 64
fi
FUZZ_BUILD=${FUZZ_BUILD:-build/fuzz}
RSS_MB=${FUZZ_RSS_MB:-1024}
INPUT_TIMEOUT=${FUZZ_INPUT_TIMEOUT:-10}
MAX_LEN=${FUZZ_MAX_LEN:-65536}
RESULTS=${RESULTS:-build/results}
mkdir -p "$RESULTS" "$FUZZ_BUILD/logs"
out="$RESULTS/fuzz.tap"
: >"$out"

tap() { # tap LINE: print and record
	echo "$1" | tee -a "$out"
}

mapfile -t targets < <(find "$FUZZ_BUILD/tests/fuzz" -type f -name 'fuzz_*' \
	-perm -u+x 2>/dev/null | sort)
if [ "${#targets[@]}" -eq 0 ]; then
	tap "not ok 1 - fuzz: no targets under $FUZZ_BUILD/tests/fuzz (run make fuzz)"
	exit 1
fi
echo "1..${#targets[@]}"

n=0 failed=0
declare -A seen=()
for bin in "${targets[@]}"; do
	n=$((n + 1))
	name=$(basename "$bin")
	if [ -n "${seen[$name]:-}" ]; then
		tap "not ok $n - fuzz: $name: two targets share this name ($bin, ${seen[$name]})"
		failed=1
		continue
	fi
	seen[$name]=$bin
	corpus="$FUZZ_BUILD/corpus/$name"
	crashes="$FUZZ_BUILD/crashes/$name"
	log="$FUZZ_BUILD/logs/$name.log"
	mkdir -p "$corpus" "$crashes"
	dirs=("$corpus")
	[ -d "tests/fuzz/corpus/$name" ] && dirs+=("tests/fuzz/corpus/$name")
	stamp="$FUZZ_BUILD/logs/$name.start"
	: >"$stamp"
	# the first corpus dir receives new inputs: ours, not the seeds
	timeout --kill-after=10 $((secs + 60)) "$bin" \
		-max_total_time="$secs" -timeout="$INPUT_TIMEOUT" \
		-rss_limit_mb="$RSS_MB" -max_len="$MAX_LEN" \
		-artifact_prefix="$crashes/" -print_final_stats=1 \
		"${dirs[@]}" >"$log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	size=$(find "$corpus" -type f | wc -l)
	if [ $rc -eq 0 ]; then
		tap "ok $n - fuzz: $name (${runs:-?} runs in ${secs} s, corpus $size)"
		continue
	fi
	failed=1
	tap "not ok $n - fuzz: $name exited $rc (log $log)"
	grep -E '^(==[0-9]+==ERROR|SUMMARY|artifact_prefix|Test unit written)' "$log" |
		head -n 10 | sed 's/^/    /'
	find "$crashes" -type f -newer "$stamp" | while read -r f; do
		echo "    kept: $f (reproduce: $bin $f)"
	done
done
exit $failed
