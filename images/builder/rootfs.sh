#!/bin/sh
# rootfs.sh: collect a minimal root file system for a distroless image
# (FROM scratch) inside the builder: the given binaries, every shared
# library they load (their ldd closure, from Debian's own packages), the
# CA bundle, passwd/group with the fixed IDs every image shares, /tmp,
# and for each Debian package a file came from: its copyright file and
# its dpkg status under /var/lib/dpkg/status.d/ (so image scanners see
# what is inside, as distroless images do).
#
#   rootfs.sh OUT BIN...     BIN: absolute paths; copied to OUT/usr/local/bin
#
# Runs in the builder stage only (Debian bookworm, merged /usr); never
# shipped. POSIX sh: the builder's /bin/sh is dash.
set -eu

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
	# "libx.so => /usr/lib/.../libx.so (0x...)" and the loader line
	ldd "$b" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' >>"$files"
done
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
	dpkg -S "$real" 2>/dev/null || dpkg -S "$f" 2>/dev/null ||
		dpkg -S "${f#/usr}" 2>/dev/null || true
done | cut -d: -f1 | sort -u >"$files.pkgs"

while read -r p; do
	dpkg-query -s "$p" >"$out/var/lib/dpkg/status.d/$p"
	if [ -e "/usr/share/doc/$p/copyright" ]; then
		mkdir -p "$out/usr/share/doc/$p"
		cp -p "/usr/share/doc/$p/copyright" "$out/usr/share/doc/$p/"
	fi
done <"$files.pkgs"
rm -f "$files" "$files.pkgs"

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
