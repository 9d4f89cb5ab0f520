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
# C is build/fuzz/campaign. Prints a table (also $C/report.md): target,
# engine, executions, seconds, corpus size, line coverage, crashes; exits
# 1 if any target crashed or could not run. CAMPAIGN_TARGETS="fuzz_a
# fuzz_b" limits the run to those names; CAMPAIGN_MINIMISE=1 adds to
# each seed directory the campaign's inputs that reach code the seeds
# do not (libFuzzer -merge=1), to commit. Every run is bounded
# (timeout, -rss_limit_mb, per-input timeout) and niced.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

RUNS=${CAMPAIGN_RUNS:-10000000}
SECS=${CAMPAIGN_SECONDS:-1800}
AFL_SECS=${AFL_SECONDS:-$SECS}
RSS_MB=${FUZZ_RSS_MB:-2048}
INPUT_TIMEOUT=${FUZZ_INPUT_TIMEOUT:-10}
MAX_LEN=${FUZZ_MAX_LEN:-65536}
C=build/fuzz/campaign
for n in "$RUNS" "$SECS" "$AFL_SECS"; do
	if ! [[ $n =~ ^[0-9]+$ ]] || [ "$n" -lt 1 ]; then
		echo "fuzz-campaign: CAMPAIGN_RUNS, CAMPAIGN_SECONDS and" \
			"AFL_SECONDS are positive integers" >&2
		exit 64
	fi
done
mkdir -p "$C/logs" "$C/prof"
report=$C/report.md
failed=0

wanted() { # wanted NAME: in CAMPAIGN_TARGETS (or all)
	[ -z "${CAMPAIGN_TARGETS:-}" ] && return 0
	[[ " $CAMPAIGN_TARGETS " == *" $1 "* ]]
}

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

# minimise NAME BIN: add to the seeds the inputs of the corpus and the
# AFL++ queue that cover something the seeds do not (libFuzzer -merge=1
# into the seed directory: the seeds stay, new files are named by hash)
minimise() {
	local name=$1 bin=$2 dirs=()
	mkdir -p "tests/fuzz/corpus/$name"
	[ -d "$C/corpus/$name" ] && dirs+=("$C/corpus/$name")
	[ -d "$C/afl/$name/default/queue" ] && dirs+=("$C/afl/$name/default/queue")
	[ ${#dirs[@]} -gt 0 ] || return 0
	nice -n 15 "$bin" -merge=1 -timeout="$INPUT_TIMEOUT" \
		-rss_limit_mb="$RSS_MB" -max_len="$MAX_LEN" \
		"tests/fuzz/corpus/$name" "${dirs[@]}" \
		>"$C/logs/$name.merge.log" 2>&1
}

row() { # row CELLS...: print and record one table row
	local line
	line="| $(printf '%s | ' "$@")"
	echo "${line% }" | tee -a "$report"
}

mapfile -t bins < <(find build/fuzz/tests/fuzz -type f -name 'fuzz_*' \
	-perm -u+x 2>/dev/null | sort)
if [ ${#bins[@]} -eq 0 ]; then
	echo "fuzz-campaign: no targets under build/fuzz (make fuzz-bins)" >&2
	exit 1
fi
{
	echo "fuzz campaign $(date -u +%FT%TZ), $(nproc) cores:" \
		"libFuzzer ${RUNS} runs or ${SECS} s, AFL++ ${AFL_SECS} s"
	echo
} | tee "$report"
row target engine executions seconds corpus "line coverage" crashes
row --- --- --- --- --- --- ---
for bin in "${bins[@]}"; do
	name=$(basename "$bin")
	wanted "$name" || continue
	run_libfuzzer "$bin" "$name" || failed=1
	size=$(find "$C/corpus/$name" -type f | wc -l)
	lf=("$EXECS" "$TOOK" "$size" "$CRASHES")
	afl=$(find build/afl/tests/fuzz -type f -name "$name" 2>/dev/null | head -n 1)
	if [ -n "$afl" ] && command -v afl-fuzz >/dev/null; then
		run_afl "$afl" "$name" || failed=1
		aflrow=("${EXECS:-?}" "$TOOK" \
			"$(find "$C/afl/$name/default/queue" -type f 2>/dev/null | wc -l)" \
			"$CRASHES")
	else
		aflrow=()
	fi
	cov=$(coverage "$name")
	row "$name" libFuzzer "${lf[0]:-?}" "${lf[1]}" "${lf[2]}" "$cov" "${lf[3]}"
	[ ${#aflrow[@]} -eq 0 ] ||
		row "$name" AFL++ "${aflrow[0]}" "${aflrow[1]}" "${aflrow[2]}" \
			"(above)" "${aflrow[3]}"
	if [ "${CAMPAIGN_MINIMISE:-0}" = 1 ]; then
		minimise "$name" "$bin" ||
			echo "# $name: minimising failed ($C/logs/$name.merge.log)"
	fi
done
echo "fuzz-campaign: report in $report"
exit $failed
