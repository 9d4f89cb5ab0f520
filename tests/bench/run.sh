#!/usr/bin/env bash
# run.sh: make bench. Runs every tests/bench/bench_*.sh in turn; each
# prints its figures side by side with its baseline from the same run.
# Benchmarks never fail on speed; a benchmark that cannot run says why.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
rc=0
for b in $(find tests/bench -name 'bench_*.sh' -type f | sort); do
	echo "=== $b"
	"$b" || { echo "=== $b: could not run (exit $?)"; rc=1; }
done
exit $rc
