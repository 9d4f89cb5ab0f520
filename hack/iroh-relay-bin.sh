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
# IROH_RELAY_ARCH=arm64 cross-compiles for aarch64 into its own cache
# directory (v<version>-arm64) with Debian's Rust (rustc-web and
# cargo-web, whose libstd-rust-web-dev:arm64 is the aarch64 standard
# library; rustup's toolchains have none here) and the
# gcc-aarch64-linux-gnu linker; the result is checked under
# qemu-aarch64-static.
set -euo pipefail

IROH_RELAY_VERSION=${IROH_RELAY_VERSION:-0.35.0}
ARCH=${IROH_RELAY_ARCH:-amd64}
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/chatmail-operator/iroh-relay
case $ARCH in
amd64) ROOT=$CACHE/v$IROH_RELAY_VERSION RUN=() ;;
arm64) ROOT=$CACHE/v$IROH_RELAY_VERSION-arm64 RUN=(qemu-aarch64-static) ;;
*) echo "iroh-relay-bin: IROH_RELAY_ARCH must be amd64 or arm64" >&2; exit 64 ;;
esac
BIN=$ROOT/bin/iroh-relay
LOG=$ROOT/build.log

say() { echo "iroh-relay-bin: $*" >&2; }

present() {
	[ -x "$BIN" ] && [ "$("${RUN[@]}" "$BIN" --version 2>/dev/null)" = "iroh-relay $IROH_RELAY_VERSION" ]
}

# cargo_install: cargo install of the crate for $ARCH into $ROOT
cargo_install() {
	local cargo=cargo cross=()
	if [ "$ARCH" = arm64 ]; then
		cargo=/usr/bin/cargo
		if [ ! -x "$cargo" ] || [ ! -d /usr/lib/rustlib/aarch64-unknown-linux-gnu ]; then
			say "Debian's cargo-web and libstd-rust-web-dev:arm64 missing (make deps)"
			exit 69
		fi
		cross=(--target aarch64-unknown-linux-gnu)
		export RUSTC=/usr/bin/rustc
		export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
		export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
		export AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar
	else
		command -v cargo >/dev/null || { say "cargo missing: cannot build iroh-relay"; exit 69; }
	fi
	CARGO_HOME=$CACHE/cargo-home CARGO_TARGET_DIR=$CACHE/target-$ARCH \
		CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-2} CARGO_PROFILE_RELEASE_STRIP=symbols \
		nice -n 10 "$cargo" install iroh-relay --version "=$IROH_RELAY_VERSION" \
		--features server --locked --root "$ROOT" "${cross[@]}"
}

build() {
	local t0=$SECONDS
	mkdir -p "$ROOT"
	say "building iroh-relay $IROH_RELAY_VERSION ($ARCH) from crates.io (cold: ~7 min; log $LOG)"
	# the registry index and downloaded crates stay in the cache too, so a
	# warm rebuild (a wiped target) downloads nothing
	if ! cargo_install >"$LOG" 2>&1; then
		tail -n 30 "$LOG" >&2
		say "FAILED (log: $LOG)"
		exit 1
	fi
	present || { say "built, but $BIN --version is not iroh-relay $IROH_RELAY_VERSION"; exit 1; }
	# the intermediate objects (~1.5 GB) are not needed once installed
	rm -rf "$CACHE/target-$ARCH"
	say "built in $((SECONDS - t0)) s: $BIN"
}

case ${1:-build} in
build)
	# one build at a time on a machine (two make images at once)
	mkdir -p "$CACHE"
	# (one lock per architecture: they share only cargo's download cache,
	# which cargo locks itself)
	lock=$CACHE/.lock
	[ "$ARCH" = amd64 ] || lock=$CACHE/.lock-$ARCH
	exec 9>"$lock"
	flock 9
	present || build
	echo "$BIN"
	;;
path) echo "$BIN" ;;
version) echo "$IROH_RELAY_VERSION" ;;
*) say "usage: $0 [build|path|version]"; exit 64 ;;
esac
