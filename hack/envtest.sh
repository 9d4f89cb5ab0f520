#!/usr/bin/env bash
# envtest.sh: make envtest. Builds (or reuses) the Kubernetes binaries,
# starts the control plane, runs tests/envtest/run.sh and always takes the
# control plane down again, whether the tests pass, fail or are interrupted.
# ENVTEST_KEEP=1 leaves the control plane running for debugging
# (stop it with hack/control-plane.sh down).
set -Eeuo pipefail

PROG="envtest"
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

main() {
	local t0=$SECONDS t1
	cd "$ROOT"
	say "building or reusing the Kubernetes binaries"
	hack/k8s-bin.sh >/dev/null
	trap cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	hack/control-plane.sh up
	t1=$SECONDS
	say "control plane ready after $((t1 - t0))s; running tests/envtest/run.sh"
	tests/envtest/run.sh
	say "tests done in $((SECONDS - t1))s (total $((SECONDS - t0))s)"
}

main "$@"
