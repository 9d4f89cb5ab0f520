#!/usr/bin/env bash
# iroh-probe.sh: build tests/iroh (iroh-probe, a real iroh-relay 0.35
# client for test_iroh.sh and bench_iroh.sh) with this machine's cargo;
# dependencies from crates.io as tests/iroh/Cargo.lock pins them. Build
# output and the crates stay outside the repository, in
# ~/.cache/chatmail-operator/iroh-probe/ (the registry is shared with
# hack/iroh-relay-bin.sh), so a warm run only checks that nothing changed.
#
#   hack/iroh-probe.sh [build]   build if needed, print the binary's path
#   hack/iroh-probe.sh path      print the path, build nothing
#
# Cold: about 4 min on 2 cores (under nice); warm: a second.
set -euo pipefail
cd "$(dirname "$0")/.."

BASE=${XDG_CACHE_HOME:-$HOME/.cache}/chatmail-operator
TARGET=$BASE/iroh-probe/target
BIN=$TARGET/release/iroh-probe
LOG=$BASE/iroh-probe/build.log

say() { echo "iroh-probe: $*" >&2; }

case ${1:-build} in
path)
	echo "$BIN"
	exit 0
	;;
build) ;;
*) say "usage: $0 [build|path]"; exit 64 ;;
esac
command -v cargo >/dev/null || { say "cargo missing: cannot build iroh-probe"; exit 69; }
mkdir -p "$(dirname "$LOG")"
t0=$SECONDS
if ! CARGO_HOME=$BASE/iroh-relay/cargo-home CARGO_TARGET_DIR=$TARGET \
	CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-2} nice -n 10 \
	cargo build --release --locked --manifest-path tests/iroh/Cargo.toml >"$LOG" 2>&1; then
	tail -n 30 "$LOG" >&2
	say "FAILED (log: $LOG)"
	exit 1
fi
[ $((SECONDS - t0)) -lt 5 ] || say "built in $((SECONDS - t0)) s"
echo "$BIN"
