#!/usr/bin/env bash
# deps.sh: install every Debian package the build and all test tiers need.
# Idempotent and non-interactive; run as root on a fresh Debian 12 machine
# (make deps). Packages already installed are skipped without touching apt.
set -euo pipefail

pkgs=(
	# build
	build-essential pkg-config make gcc clang clang-tidy clang-format
	libclang-rt-14-dev libfuzzer-14-dev llvm bear
	# make fuzz-campaign: AFL++ as a second engine on the network parsers
	afl++
	libcurl4-openssl-dev libcjson-dev libwebsockets-dev libssl-dev
	libcmocka-dev libyaml-dev libqrencode-dev libcrypt-dev
	# doveauth's one-time import of a legacy SQLite password database
	libsqlite3-dev
	# backups (chatmail-backup runs restic: encrypted, deduplicated,
	# S3 and local repositories; docs/DESIGN.md, Backup and restore)
	restic
	# lint
	shellcheck
	# integration tier: the real peers and real clients
	postfix dovecot-core dovecot-imapd dovecot-lmtpd dovecot-auth-lua
	# our Dovecot plugins (dovecot/) are built against its headers
	dovecot-dev
	nginx libnginx-mod-stream
	gnupg curl openssl ca-certificates python3 python3-dkim python3-dnspython
	# Delta Chat core from PyPI in a venv (hack/deltachat.sh)
	python3-venv
	dnsmasq iproute2 procps psmisc jq netcat-openbsd libxml2-utils
	# the operator's DNS check asks a zone's own server: NSD is the
	# authoritative server of tests/envtest/operator/test_dns_check.sh
	# (never started as a service: policy-rc.d below)
	nsd
	# TURN clients: coturn's turnutils_uclient/turnutils_peer (coturn's
	# own server is never started: policy-rc.d below), and two real
	# browsers for WebRTC calls through TURN (headless)
	coturn chromium firefox-esr
	# benchmarks and debugging
	valgrind hyperfine time
	# images and e2e tiers
	podman buildah mmdebstrap runc uidmap slirp4netns fuse-overlayfs catatonit
	# the test node (hack/node.sh): containerd runs Debian's runc and CNI
	# plugins (bridge, host-local, loopback, portmap); kube-proxy drives
	# iptables; the relay harness reads YAML specs
	containernetworking-plugins iptables util-linux python3-yaml
	# chart checks: the Argo CD health check (Lua) run on a real status
	lua5.4
	# releases (hack/release.sh, tests/e2e/test_release.sh): arm64 C
	# programs by Debian's cross toolchain against the :arm64 -dev
	# packages; arm64 programs and the arm64 Debian images' RUN steps
	# under qemu-user-static (hack/binfmt.sh; arch-test lets mmdebstrap
	# build the arm64 base with it); iroh-relay for arm64 by Debian's
	# Rust (rustc-web, cargo-web: their libstd-rust-web-dev:arm64 is the
	# aarch64 standard library); the test registry (docker-registry)
	gcc-aarch64-linux-gnu binutils-aarch64-linux-gnu qemu-user-static arch-test
	libc6-dev:arm64 libcurl4-openssl-dev:arm64 libcjson-dev:arm64 libssl-dev:arm64
	libcmocka-dev:arm64 libyaml-dev:arm64 libqrencode-dev:arm64 libcrypt-dev:arm64
	libsqlite3-dev:arm64
	rustc-web cargo-web libstd-rust-web-dev:arm64
	docker-registry file
)

missing=()
for p in "${pkgs[@]}"; do
	# one line per installed architecture (a machine with a foreign
	# architecture has libfoo-dev for both): the native one or "all"
	s=$(dpkg-query -W -f='${Architecture} ${Status}\n' "$p" 2>/dev/null || true)
	a=$(dpkg --print-architecture)
	[[ $p == *:* ]] && a=${p#*:}
	grep -qE "^($a|all) install ok installed$" <<<"$s" || missing+=("$p")
done

# ensure_vmail: the mail store owner every tier uses (fixed UID/GID 2000,
# the same in every image)
ensure_vmail() {
	getent group vmail >/dev/null || groupadd --gid 2000 vmail
	getent passwd vmail >/dev/null ||
		useradd --uid 2000 --gid vmail --no-create-home \
			--home-dir /nonexistent --shell /usr/sbin/nologin vmail
}

# ensure_podman_conf: podman on these machines needs runc and ulimits
# within what the VM allows (no CAP_SYS_RESOURCE, cgroup v1)
ensure_podman_conf() {
	local f=/etc/containers/containers.conf
	[ -f "$f" ] && grep -q '^runtime = "runc"' "$f" && return 0
	mkdir -p /etc/containers
	cat >"$f" <<'CONF'
# written by chatmail-operator hack/deps.sh
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
runtime = "runc"
CONF
}

# ensure_dovecot_dev: dovecot-dev of exactly the installed dovecot-core
# (dovecot-dev does not depend on it; hack/dovecot-abi.sh refuses to build
# our plugins otherwise): that version's dovecot-dev, or, when the archive
# has moved on, every Dovecot package upgraded together
ensure_dovecot_dev() {
	local core dev
	core=$(dpkg-query -W -f='${Version}' dovecot-core 2>/dev/null) || return 0
	dev=$(dpkg-query -W -f='${Version}' dovecot-dev 2>/dev/null) || dev=none
	[ "$core" = "$dev" ] && return 0
	echo "deps: dovecot-dev $dev differs from dovecot-core $core"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -q --no-install-recommends "dovecot-dev=$core" ||
		apt-get install -y -q --no-install-recommends dovecot-core \
			dovecot-imapd dovecot-lmtpd dovecot-auth-lua dovecot-dev
}

if [ ${#missing[@]} -eq 0 ]; then
	echo "deps: all ${#pkgs[@]} packages present"
	if [ "$(id -u)" -eq 0 ]; then
		ensure_vmail
		ensure_podman_conf
		ensure_dovecot_dev
	fi
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "deps: need root to install: ${missing[*]}" >&2
	exit 1
fi

echo "deps: installing ${#missing[@]} packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# postfix asks a debconf question; we configure every instance ourselves
echo "postfix postfix/main_mailer_type select No configuration" |
	debconf-set-selections
# never let package scripts start daemons on this machine
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
	chmod 755 /usr/sbin/policy-rc.d
fi
# the :arm64 packages need the architecture known to dpkg and apt
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
	dpkg --add-architecture arm64
fi
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"

ensure_vmail
ensure_podman_conf
ensure_dovecot_dev
echo "deps: done"
