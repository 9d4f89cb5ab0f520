#!/usr/bin/env bash
# test-all.sh: what `make test` runs. Builds everything, then runs every
# tier: unit (plain, then ASan+UBSan), lint, integration, envtest, e2e,
# and a short run of every fuzz target. Every tier runs even if an
# earlier one failed; the last line is the total
# "N passed, N failed" from tests/run.sh --summary.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

RESULTS=build/results
export CI=${CI:-true} # make test is what CI runs: warnings are errors
export RESULTS
rm -rf "$RESULTS"
mkdir -p "$RESULTS"
MAKE=${MAKE:-make}
JOBS=${JOBS:-$(nproc)}

# tier NAME CMD...: run CMD; if it failed without recording any result,
# record one failure so a broken build or a crashed runner is counted
tier() {
	local name=$1 rc start
	shift
	start=$(date +%s)
	echo "== $name: $*"
	"$@"
	rc=$?
	if [ $rc -ne 0 ] && ! grep -q '^not ok' "$RESULTS/$name.tap" 2>/dev/null; then
		echo "not ok 0 - tier $name: '$*' exited $rc" >>"$RESULTS/$name.tap"
	fi
	echo "== $name: done in $(($(date +%s) - start)) s (exit $rc)"
	TIMES="$TIMES $name $(($(date +%s) - start)) s,"
}
TIMES=""

build() {
	if "$MAKE" -j"$JOBS" all; then
		echo "ok 0 - build: make all" >"$RESULTS/build.tap"
	else
		echo "not ok 0 - build: make all" >"$RESULTS/build.tap"
		return 1
	fi
}

# prefetch: what later tiers build from the registries (each script
# caches under ~/.cache/chatmail-operator and takes its cache's lock, so
# a tier's own call waits for it or finds it done). Started after the
# build at the lowest priority: on a cold machine the long Go and cargo
# builds use the CPU the unit, lint and integration tiers leave idle;
# on a warm one every call returns at once. A failure here is only
# logged: the tier that needs the piece builds it again and fails there.
prefetch() {
	local step
	for step in "hack/k8s-bin.sh" "hack/node-bin.sh" "hack/pebble-bin.sh build" \
		"hack/s3-server.sh build" "hack/iroh-relay-bin.sh build" \
		"hack/iroh-probe.sh build" "hack/external-dns-crd.sh" "hack/prom-crds.sh" \
		"hack/tools.sh actionlint" "hack/base-image.sh"; do
		echo "== prefetch: $step"
		# shellcheck disable=SC2086 # the step's words
		nice -n 19 $step || echo "== prefetch: $step failed (its tier builds it)"
	done
}

tier build build
prefetch >"$RESULTS/prefetch.log" 2>&1 &
PREFETCH=$!
tier unit "$MAKE" -j"$JOBS" unit
tier unit-san "$MAKE" -j"$JOBS" SAN=address,undefined unit
tier lint "$MAKE" lint
# the relay checks the e2e tier runs on the node run there only
[ -x tests/integration/run.sh ] && tier integration env INTEGRATION_SKIP_SHARED=1 "$MAKE" integration
[ -x hack/envtest.sh ] && tier envtest "$MAKE" envtest
[ -x tests/e2e/run.sh ] && tier e2e "$MAKE" e2e
# every fuzz target built with clang and run briefly (make fuzz runs 60 s)
tier fuzz "$MAKE" fuzz FUZZ_SECONDS="${TEST_FUZZ_SECONDS:-5}"

wait "$PREFETCH" 2>/dev/null
echo
# every failure with the diagnostics around it (up to 12 "#" lines just
# before it and 12 after), so the tail of a CI log alone says why
for f in "$RESULTS"/*.tap; do
	awk '/^not ok/ { for (i = 0; i < nb; i++) print "    " b[i]
		nb = 0; print "FAILED: " $0; d = 12; next }
	/^#/ { if (d > 0) { print "    " $0; d--; next }
		if (nb == 12) { for (i = 1; i < 12; i++) b[i - 1] = b[i]; nb = 11 }
		b[nb++] = $0; next }
	{ d = 0; nb = 0 }' "$f"
done
# the tiers' times (the cost of a CI run, cold or warm) just above the
# summary, which stays the last line
echo "tiers:${TIMES%,}"
tests/run.sh --summary
