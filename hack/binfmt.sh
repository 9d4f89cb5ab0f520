#!/usr/bin/env bash
# binfmt.sh: let this machine run arm64 (aarch64) programs: Debian's
# qemu-user-static registered in binfmt_misc, from the entry Debian ships
# (/usr/lib/binfmt.d/qemu-aarch64.conf, flags OPF: F opens the emulator
# once at registration, so it also works inside chroots and containers
# whose root file system has no emulator). mmdebstrap needs it to run the
# arm64 maintainer scripts of the arm64 base, and podman to run the RUN
# steps of the arm64 Debian images (apt-get, dpkg, their scripts).
# Single programs need no registration: qemu-aarch64-static PROGRAM runs
# one directly (the arm64 unit tests do that).
#
#   hack/binfmt.sh          register if missing (root), idempotent
#   hack/binfmt.sh check    exit 0 if qemu-aarch64 is registered and enabled
#
# Without systemd nothing registers it at boot; binfmt_misc is mounted
# here if it is not. On GitHub's runners the same works (root via sudo).
set -euo pipefail

DIR=/proc/sys/fs/binfmt_misc
CONF=/usr/lib/binfmt.d/qemu-aarch64.conf

say() { echo "binfmt: $*" >&2; }

registered() { [ -e "$DIR/qemu-aarch64" ] && grep -qx enabled "$DIR/qemu-aarch64"; }

case ${1:-register} in
check)
	registered || { say "qemu-aarch64 not registered"; exit 1; }
	;;
register)
	if registered; then
		exit 0
	fi
	[ -r "$CONF" ] || { say "$CONF missing (make deps: qemu-user-static)"; exit 69; }
	[ "$(id -u)" -eq 0 ] || { say "need root to register qemu-aarch64"; exit 77; }
	if [ ! -e "$DIR/register" ]; then
		mount -t binfmt_misc binfmt_misc "$DIR" ||
			{ say "cannot mount binfmt_misc"; exit 1; }
	fi
	registered || cat "$CONF" >"$DIR/register" ||
		{ say "the kernel refused the qemu-aarch64 entry"; exit 1; }
	registered || { say "qemu-aarch64 registered but not enabled"; exit 1; }
	say "qemu-aarch64 registered (binfmt_misc, flags $(sed -n 's/^flags: //p' "$DIR/qemu-aarch64"))"
	;;
*) say "usage: $0 [register|check]"; exit 64 ;;
esac
