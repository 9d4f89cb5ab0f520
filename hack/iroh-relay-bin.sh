#!/usr/bin/env bash
# iroh-relay-bin.sh: build iroh-relay (the relay server of Delta Chat's
# realtime channels) from crates.io with this machine's cargo, into a
# per-version cache outside the repository, as hack/k8s-bin.sh does for the
# Kubernetes binaries. A binary already built at the wanted version is
# reused, so a warm run takes a second.
#
#   hack/iroh-relay-bin.sh [build]   build if missing, print the binary's path
#   hack/iroh-relay-bin.sh path      print the path, build nothing
#   hack/iroh-relay-bin.sh version   print the wanted version
#
# Version: 0.35.0, what upstream pins (docs/UPSTREAM.md, iroh-relay and
# TURN): Delta Chat's clients speak the 0.35 relay protocol; iroh 1.x is
# not compatible. `cargo install --locked` takes the crate's own
# Cargo.lock, so every build resolves the same dependency versions. Cold:
# about 6.5 min on 2 cores, 570 MB peak RSS, under nice; the binary is
# stripped (11.5 MB).
#
# Environment: IROH_RELAY_VERSION overrides the version; XDG_CACHE_HOME
# moves the cache; CARGO_BUILD_JOBS (default 2) the parallelism.
set -euo pipefail

IROH_RELAY_VERSION=${IROH_RELAY_VERSION:-0.35.0}
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/chatmail-operator/iroh-relay
ROOT=$CACHE/v$IROH_RELAY_VERSION
BIN=$ROOT/bin/iroh-relay
LOG=$ROOT/build.log

say() { echo "iroh-relay-bin: $*" >&2; }

present() {
	[ -x "$BIN" ] && [ "$("$BIN" --version 2>/dev/null)" = "iroh-relay $IROH_RELAY_VERSION" ]
}

build() {
	local t0=$SECONDS
	command -v cargo >/dev/null || { say "cargo missing: cannot build iroh-relay"; exit 69; }
	mkdir -p "$ROOT"
	say "building iroh-relay $IROH_RELAY_VERSION from crates.io (cold: ~7 min; log $LOG)"
	# the registry index and downloaded crates stay in the cache too, so a
	# warm rebuild (a wiped target) downloads nothing
	if ! CARGO_HOME=$CACHE/cargo-home CARGO_TARGET_DIR=$CACHE/target \
		CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-2} CARGO_PROFILE_RELEASE_STRIP=symbols \
		nice -n 10 cargo install iroh-relay --version "=$IROH_RELAY_VERSION" \
		--features server --locked --root "$ROOT" >"$LOG" 2>&1; then
		tail -n 30 "$LOG" >&2
		say "FAILED (log: $LOG)"
		exit 1
	fi
	present || { say "built, but $BIN --version is not iroh-relay $IROH_RELAY_VERSION"; exit 1; }
	# the intermediate objects (~1.5 GB) are not needed once installed
	rm -rf "$CACHE/target"
	say "built in $((SECONDS - t0)) s: $BIN"
}

case ${1:-build} in
build)
	# one build at a time on a machine (two make images at once)
	mkdir -p "$CACHE"
	exec 9>"$CACHE/.lock"
	flock 9
	present || build
	echo "$BIN"
	;;
path) echo "$BIN" ;;
version) echo "$IROH_RELAY_VERSION" ;;
*) say "usage: $0 [build|path|version]"; exit 64 ;;
esac
