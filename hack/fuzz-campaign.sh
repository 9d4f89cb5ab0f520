#!/usr/bin/env bash
# fuzz-campaign.sh: a fuzz campaign over every target (make fuzz-campaign,
# which first builds build/fuzz, build/fuzzcov and build/afl).
#
#   libFuzzer  every build/fuzz/tests/fuzz/*/fuzz_* for CAMPAIGN_RUNS
#              executions (10000000) or CAMPAIGN_SECONDS (1800), whichever
#              comes first, from the seeds tests/fuzz/corpus/<target>/
#              plus the campaign's own corpus (kept between runs)
#   AFL++      every build/afl/tests/fuzz/*/fuzz_* (the network parsers,
#              AFL_FUZZ_NAMES in the Makefile) for AFL_SECONDS
#              (CAMPAIGN_SECONDS) from the same seeds; its queue joins
#              the corpus the coverage is measured over
#   coverage   build/fuzzcov runs every input of seeds + corpus + AFL
#              queue once; llvm-cov reports the lines of the project's
#              sources linked into the target (the harness left out)
#   crashes    kept under $C/crashes/<target>/ (libFuzzer) and
#              $C/afl/<target>/default/crashes/ (AFL++)
#
# C is CAMPAIGN_DIR (build/fuzz/campaign; another one lets a second run,
# say of the targets a fix changed, go beside a first). Prints a table (also $C/report.md): target,
# engine, executions, seconds, corpus size, line coverage, crashes; exits
# 1 if any target crashed or could not run. CAMPAIGN_JOBS (1) targets run
# at once, each on one core; a target's row is printed when it ends and
# the table, in name order, at the end. CAMPAIGN_TARGETS="fuzz_a
# fuzz_b" limits the run to those names and starts them in that order
# (longest first packs the jobs best); CAMPAIGN_MINIMISE=1 minimises
# each seed directory over the seeds and the campaign's inputs
# (minimise below), to commit. Every run is bounded
# (timeout, -rss_limit_mb, per-input timeout) and niced.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

RUNS=${CAMPAIGN_RUNS:-10000000}
SECS=${CAMPAIGN_SECONDS:-1800}
AFL_SECS=${AFL_SECONDS:-$SECS}
JOBS=${CAMPAIGN_JOBS:-1}
RSS_MB=${FUZZ_RSS_MB:-2048}
INPUT_TIMEOUT=${FUZZ_INPUT_TIMEOUT:-10}
MAX_LEN=${FUZZ_MAX_LEN:-65536}
C=${CAMPAIGN_DIR:-build/fuzz/campaign}
for n in "$RUNS" "$SECS" "$AFL_SECS" "$JOBS"; do
	if ! [[ $n =~ ^[0-9]+$ ]] || [ "$n" -lt 1 ]; then
		echo "fuzz-campaign: CAMPAIGN_RUNS, CAMPAIGN_SECONDS," \
			"AFL_SECONDS and CAMPAIGN_JOBS are positive integers" >&2
		exit 64
	fi
done
rm -rf "$C/rows"
mkdir -p "$C/logs" "$C/prof" "$C/rows"
report=$C/report.md
failed=0

# run_libfuzzer BIN NAME: sets EXECS, TOOK, CRASHES
run_libfuzzer() {
	local bin=$1 name=$2 log=$C/logs/$2.libfuzzer.log start rc
	local dirs=("$C/corpus/$name")
	mkdir -p "$C/corpus/$name" "$C/crashes/$name"
	[ -d "tests/fuzz/corpus/$name" ] && dirs+=("tests/fuzz/corpus/$name")
	start=$(date +%s)
	# the first directory receives new inputs: the campaign's corpus
	timeout --kill-after=10 $((SECS + 120)) nice -n 15 "$bin" \
		-runs="$RUNS" -max_total_time="$SECS" \
		-timeout="$INPUT_TIMEOUT" -rss_limit_mb="$RSS_MB" \
		-max_len="$MAX_LEN" -artifact_prefix="$C/crashes/$name/" \
		-print_final_stats=1 "${dirs[@]}" >"$log" 2>&1
	rc=$?
	TOOK=$(($(date +%s) - start))
	EXECS=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" |
		tail -n 1)
	CRASHES=$(find "$C/crashes/$name" -type f | wc -l)
	[ $rc -eq 0 ] || {
		echo "# $name: libFuzzer exited $rc (log $log)"
		grep -E '^(==[0-9]+==ERROR|SUMMARY)' "$log" | head -n 4 |
			sed 's/^/#   /'
		[ "$CRASHES" -gt 0 ] || CRASHES="exit $rc"
	}
	[ $rc -eq 0 ]
}

# run_afl BIN NAME: sets EXECS, TOOK, CRASHES
run_afl() {
	local bin=$1 name=$2 out=$C/afl/$2 seeds=$C/afl-seeds/$2 start rc f
	rm -rf "$seeds" && mkdir -p "$seeds" "$out"
	# AFL++ takes files of at most 1 MB, from one directory
	while IFS= read -r f; do
		cp "$f" "$seeds/$(basename "$(dirname "$f")")-$(basename "$f")"
	done < <(find "tests/fuzz/corpus/$name" -type f -size -1024k 2>/dev/null)
	[ -n "$(ls -A "$seeds")" ] || printf 'x' >"$seeds/empty"
	start=$(date +%s)
	# AFL_AUTORESUME: a second run goes on from its queue
	AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_NO_AFFINITY=1 \
		AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 \
		AFL_SKIP_CRASHES=1 AFL_AUTORESUME=1 \
		timeout --kill-after=10 $((AFL_SECS + 120)) nice -n 15 \
		afl-fuzz -i "$seeds" -o "$out" -V "$AFL_SECS" -t $((INPUT_TIMEOUT * 1000)) \
		-- "$bin" >"$C/logs/$name.afl.log" 2>&1
	rc=$?
	TOOK=$(($(date +%s) - start))
	EXECS=$(sed -n 's/^execs_done *: *//p' "$out/default/fuzzer_stats" \
		2>/dev/null)
	CRASHES=$(find "$out/default/crashes" -type f -name 'id:*' \
		2>/dev/null | wc -l)
	[ $rc -eq 0 ] || {
		echo "# $name: afl-fuzz exited $rc (log $C/logs/$name.afl.log)"
		tail -n 5 "$C/logs/$name.afl.log" | sed 's/^/#   /'
		[ "$CRASHES" -gt 0 ] || CRASHES="exit $rc"
	}
	[ $rc -eq 0 ]
}

# coverage NAME: line coverage of seeds + corpus + AFL queue, "l/L (p%)"
coverage() {
	local name=$1 bin prof=$C/prof/$1 dirs=() d
	bin=$(find build/fuzzcov/tests/fuzz -type f -name "$name" | head -n 1)
	[ -x "$bin" ] || {
		echo "-"
		return
	}
	rm -rf "$prof" && mkdir -p "$prof"
	for d in "tests/fuzz/corpus/$name" "$C/corpus/$name" \
		"$C/afl/$name/default/queue"; do
		[ -d "$d" ] && dirs+=("$d")
	done
	[ ${#dirs[@]} -gt 0 ] || {
		echo "-"
		return
	}
	# -runs=0: each input once; a crash here was already reported (its
	# artifact goes to the profile directory, not the working directory)
	LLVM_PROFILE_FILE="$prof/%p.profraw" timeout --kill-after=10 1800 \
		nice -n 15 "$bin" -runs=0 -timeout="$INPUT_TIMEOUT" -artifact_prefix="$prof/" \
		-rss_limit_mb="$RSS_MB" "${dirs[@]}" >"$C/logs/$name.cov.log" 2>&1
	llvm-profdata merge -sparse -o "$prof/merged.profdata" \
		"$prof"/*.profraw 2>>"$C/logs/$name.cov.log" || {
		echo "-"
		return
	}
	llvm-cov report "$bin" -instr-profile="$prof/merged.profdata" \
		-ignore-filename-regex='^/usr/|tests/fuzz/' 2>/dev/null |
		awk '$1 == "TOTAL" { printf "%d/%d (%s)\n", $8 - $9, $8, $10 }'
}

# minimise NAME BIN: make tests/fuzz/corpus/NAME a minimised corpus.
# Files named by hand and regress-* (a fixed finding) stay; the
# hash-named files (earlier campaigns' inputs) are taken out and merged
# back (libFuzzer -merge=1) with this campaign's corpus and AFL++ queue,
# so only inputs that reach code the kept files do not come back.
minimise() {
	local name=$1 bin=$2 seeds pool=$C/pool/$1 dirs=()
	seeds=tests/fuzz/corpus/$name
	rm -rf "$pool" && mkdir -p "$pool" "$seeds"
	find "$seeds" -maxdepth 1 -type f -regextype posix-extended \
		-regex '.*/[0-9a-f]{40}' -exec mv -t "$pool" {} +
	dirs=("$pool")
	[ -d "$C/corpus/$name" ] && dirs+=("$C/corpus/$name")
	[ -d "$C/afl/$name/default/queue" ] && dirs+=("$C/afl/$name/default/queue")
	nice -n 15 "$bin" -merge=1 -timeout="$INPUT_TIMEOUT" \
		-rss_limit_mb="$RSS_MB" -max_len="$MAX_LEN" \
		"$seeds" "${dirs[@]}" >"$C/logs/$name.merge.log" 2>&1 || {
		# a failed merge puts the earlier files back
		mv -n "$pool"/* "$seeds"/ 2>/dev/null
		return 1
	}
}

row() { # row FILE CELLS...: one table row, printed and kept in FILE
	local f=$1 line
	shift
	line="| $(printf '%s | ' "$@")"
	echo "${line% }" | tee -a "$f"
}

# campaign_one BIN: both engines, coverage and minimising for one target;
# its rows go to $C/rows/NAME; exits 1 if an engine failed
campaign_one() {
	local bin=$1 name rows afl cov size rc=0 lf aflrow
	name=$(basename "$bin")
	rows=$C/rows/$name
	run_libfuzzer "$bin" "$name" || rc=1
	size=$(find "$C/corpus/$name" -type f | wc -l)
	lf=("$EXECS" "$TOOK" "$size" "$CRASHES")
	afl=$(find build/afl/tests/fuzz -type f -name "$name" 2>/dev/null | head -n 1)
	aflrow=()
	if [ -n "$afl" ] && command -v afl-fuzz >/dev/null; then
		run_afl "$afl" "$name" || rc=1
		aflrow=("${EXECS:-?}" "$TOOK" \
			"$(find "$C/afl/$name/default/queue" -type f 2>/dev/null | wc -l)" \
			"$CRASHES")
	fi
	cov=$(coverage "$name")
	row "$rows" "$name" libFuzzer "${lf[0]:-?}" "${lf[1]}" "${lf[2]}" "$cov" "${lf[3]}"
	[ ${#aflrow[@]} -eq 0 ] ||
		row "$rows" "$name" AFL++ "${aflrow[0]}" "${aflrow[1]}" "${aflrow[2]}" \
			"(above)" "${aflrow[3]}"
	if [ "${CAMPAIGN_MINIMISE:-0}" = 1 ]; then
		minimise "$name" "$bin" ||
			echo "# $name: minimising failed ($C/logs/$name.merge.log)"
	fi
	return $rc
}

declare -A bin_of=()
while IFS= read -r b; do
	bin_of[$(basename "$b")]=$b
done < <(find build/fuzz/tests/fuzz -type f -name 'fuzz_*' -perm -u+x 2>/dev/null)
if [ ${#bin_of[@]} -eq 0 ]; then
	echo "fuzz-campaign: no targets under build/fuzz (make fuzz-bins)" >&2
	exit 1
fi
if [ -n "${CAMPAIGN_TARGETS:-}" ]; then
	read -ra names <<<"$CAMPAIGN_TARGETS"
else
	mapfile -t names < <(printf '%s\n' "${!bin_of[@]}" | sort)
fi
for name in "${names[@]}"; do
	[ -n "${bin_of[$name]:-}" ] || {
		echo "fuzz-campaign: no target $name under build/fuzz" >&2
		exit 64
	}
done
header="fuzz campaign $(date -u +%FT%TZ), $(nproc) cores, $JOBS at once:"
header+=" libFuzzer ${RUNS} runs or ${SECS} s, AFL++ ${AFL_SECS} s"
echo "$header"
running=0
for name in "${names[@]}"; do
	if [ "$running" -ge "$JOBS" ]; then
		wait -n || failed=1
		running=$((running - 1))
	fi
	campaign_one "${bin_of[$name]}" &
	running=$((running + 1))
done
while [ "$running" -gt 0 ]; do
	wait -n || failed=1
	running=$((running - 1))
done
{
	echo "$header"
	echo
	echo "| target | engine | executions | seconds | corpus | line coverage | crashes |"
	echo "| --- | --- | --- | --- | --- | --- | --- |"
	for name in $(printf '%s\n' "${names[@]}" | sort); do
		cat "$C/rows/$name" 2>/dev/null
	done
} >"$report"
echo
cat "$report"
echo "fuzz-campaign: report in $report"
exit $failed
