#!/bin/sh
# rootfs.sh: collect a minimal root file system for a distroless image
# (FROM scratch) inside the builder: the given binaries, every shared
# library they load (their closure, from Debian's own packages), the
# CA bundle, passwd/group with the fixed IDs every image shares, /tmp,
# and for each Debian package a file came from: its copyright file and
# its dpkg status under /var/lib/dpkg/status.d/ (so image scanners see
# what is inside, as distroless images do).
#
#   rootfs.sh OUT BIN...     BIN: absolute paths; copied to OUT/usr/local/bin
#
# Runs in the builder stage only (Debian bookworm, merged /usr); never
# shipped. POSIX sh: the builder's /bin/sh is dash. The closure is read
# with readelf (the interpreter and NEEDED entries, resolved in the
# binary's multiarch directories), not ldd, so the cross builder lays out
# arm64 roots from the :arm64 packages without running them.
set -eu

# triplet FILE: the multiarch directory name of an ELF file's machine
triplet() {
	case $(readelf -hW "$1" | sed -n 's/^ *Machine: *//p') in
	*AArch64*) echo aarch64-linux-gnu ;;
	*X86-64*) echo x86_64-linux-gnu ;;
	*) echo "rootfs.sh: $1: unknown machine" >&2; exit 1 ;;
	esac
}

# closure BIN...: the interpreter and every shared library the binaries
# load, recursively, as absolute paths (one per line, repeats possible)
closure() {
	pending=$(mktemp)
	seen=$(mktemp)
	printf '%s\n' "$@" >"$pending"
	while [ -s "$pending" ]; do
		f=$(head -n 1 "$pending")
		sed -i 1d "$pending"
		grep -qxF "$f" "$seen" && continue
		echo "$f" >>"$seen"
		t=$(triplet "$f")
		readelf -lW "$f" | sed -n 's/.*program interpreter: \(.*\)]$/\1/p'
		for n in $(readelf -dW "$f" | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p'); do
			found=
			for d in "/usr/lib/$t" "/lib/$t" /usr/lib /lib; do
				if [ -e "$d/$n" ]; then
					found=$d/$n
					break
				fi
			done
			[ -n "$found" ] || { echo "rootfs.sh: $f needs $n: not found" >&2; exit 1; }
			echo "$found"
			echo "$found" >>"$pending"
		done
	done
	rm -f "$pending" "$seen"
}

out=$1
shift
mkdir -p "$out/usr/local/bin" "$out/usr/lib" "$out/etc/ssl/certs" \
	"$out/var/lib/dpkg/status.d" "$out/tmp" "$out/home/vmail" "$out/run"
chmod 1777 "$out/tmp"
# merged /usr: the loader is found as /lib64/ld-linux-x86-64.so.2
ln -sfn usr/lib "$out/lib"
[ -d /usr/lib64 ] && { mkdir -p "$out/usr/lib64"; ln -sfn usr/lib64 "$out/lib64"; }

files=$(mktemp)
for b in "$@"; do
	cp -p "$b" "$out/usr/local/bin/"
done
closure "$@" | grep -vxF -e "$(printf '%s\n' "$@")" >>"$files" || true
printf '%s\n' /etc/ssl/certs/ca-certificates.crt /etc/os-release \
	/usr/lib/os-release >>"$files"

sort -u "$files" | while read -r f; do
	real=$(readlink -f "$f")
	# keep the name the loader asks for (the symlink) and its target
	mkdir -p "$out$(dirname "$f")" "$out$(dirname "$real")"
	case $f in
	/lib/* | /lib64/*) dest=/usr$f ;;
	*) dest=$f ;;
	esac
	mkdir -p "$out$(dirname "$dest")"
	[ -e "$out$real" ] || cp -p "$real" "$out$real"
	[ "$dest" = "$real" ] || [ -e "$out$dest" ] || ln -s "$real" "$out$dest"
	# the package a file belongs to (dpkg knows the /usr or the / name)
	# (libc6:arm64 in the cross builder: the qualifier is kept)
	dpkg -S "$real" 2>/dev/null || dpkg -S "$f" 2>/dev/null ||
		dpkg -S "${f#/usr}" 2>/dev/null || true
done >"$files.owners"
# and the packages of the binaries themselves (Debian's restic; ours
# belong to none)
for b in "$@"; do
	dpkg -S "$b" 2>/dev/null || true
done >>"$files.owners"
sed 's/: .*//' "$files.owners" | sort -u >"$files.pkgs"

while read -r p; do
	n=${p%%:*}
	dpkg-query -s "$p" >"$out/var/lib/dpkg/status.d/$n"
	if [ -e "/usr/share/doc/$n/copyright" ]; then
		mkdir -p "$out/usr/share/doc/$n"
		cp -p "/usr/share/doc/$n/copyright" "$out/usr/share/doc/$n/"
	fi
done <"$files.pkgs"
rm -f "$files" "$files.owners" "$files.pkgs"

# the fixed IDs shared by every image: vmail 2000 owns the mail store,
# postfix 2001 the queue, nonroot 65532 runs the operator
cat >"$out/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/usr/sbin/nologin
vmail:x:2000:2000:vmail:/home/vmail:/usr/sbin/nologin
postfix:x:2001:2001:postfix:/var/spool/postfix:/usr/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
EOF
cat >"$out/etc/group" <<'EOF'
root:x:0:
vmail:x:2000:
postfix:x:2001:
postdrop:x:2002:
nonroot:x:65532:
nogroup:x:65534:
EOF
printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$out/etc/nsswitch.conf"
chown 2000:2000 "$out/home/vmail"
