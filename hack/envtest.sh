#!/usr/bin/env bash
# envtest.sh: make envtest. Builds (or reuses) the Kubernetes binaries,
# starts the control plane, runs tests/envtest/run.sh and always takes the
# control plane down again, whether the tests pass, fail or are interrupted.
# ENVTEST_KEEP=1 leaves the control plane running for debugging
# (stop it with hack/control-plane.sh down).
set -Eeuo pipefail

PROG="envtest"
TESTS_PID=""
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# say prints one progress line on stderr.
say() { printf '%s: %s\n' "$PROG" "$*" >&2; }

# cleanup stops the control plane unless asked to keep it.
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [ "${ENVTEST_KEEP:-0}" = 1 ]; then
		say "ENVTEST_KEEP=1: control plane left running (hack/control-plane.sh down)"
	else
		"$ROOT/hack/control-plane.sh" down || say "control-plane down failed"
	fi
	exit "$rc"
}

# on_signal stops the running tests (the session run_tests created) and
# exits, which runs cleanup.
on_signal() { # exit-code
	if [ -n "$TESTS_PID" ]; then
		say "interrupted: stopping the tests (session $TESTS_PID)"
		# every process of the session run_tests created, by pid: tests/run.sh
		# runs each test under timeout(1), which moves to a process group of
		# its own but stays in the session, and forwards TERM to its test
		local pids
		pids=$(ps -o pid= -s "$TESTS_PID" 2>/dev/null || true)
		# shellcheck disable=SC2086
		[ -z "$pids" ] || kill -TERM $pids 2>/dev/null || true
	fi
	exit "$1"
}

# run_tests runs tests/envtest/run.sh in a session of its own, so an
# interrupt can find all of it; bash only runs traps between commands, and
# wait is one it can interrupt.
run_tests() {
	setsid tests/envtest/run.sh &
	TESTS_PID=$!
	wait "$TESTS_PID"
}

main() {
	local t0=$SECONDS t1
	cd "$ROOT"
	say "building or reusing the Kubernetes binaries"
	hack/k8s-bin.sh >/dev/null
	trap cleanup EXIT
	trap 'on_signal 130' INT
	trap 'on_signal 143' TERM
	hack/control-plane.sh up
	t1=$SECONDS
	say "control plane ready after $((t1 - t0))s; running tests/envtest/run.sh"
	run_tests
	say "tests done in $((SECONDS - t1))s (total $((SECONDS - t0))s)"
}

main "$@"
