#!/usr/bin/env bash
# deltachat.sh: Delta Chat core for our tests and benchmarks
# (tests/interop/, tests/bench/bench_relay.sh): deltachat-rpc-server
# (core's JSON-RPC server; the PyPI wheel carries the binary) and
# deltachat-rpc-client (its Python client), pinned, from PyPI, in a
# virtual environment of Debian's python3 (python3-venv, make deps) under
# ~/.cache/chatmail-operator/deltachat/, reused when warm. Nothing of it
# goes into the repository.
#
#   hack/deltachat.sh          install if missing; print the venv's python
#   hack/deltachat.sh --check  print it if installed, else exit 69
#
# Cold: about 10 s and 50 MB (two wheels; pip's cache beside the venv).
# Exit 0, or 69 when PyPI cannot be reached / the venv cannot be made.
set -euo pipefail

# the pinned versions (client and server of one core release)
DELTACHAT_VERSION=2.65.0
CACHE=${CHATMAIL_CACHE:-$HOME/.cache/chatmail-operator}/deltachat
VENV=$CACHE/venv-$DELTACHAT_VERSION
PYTHON=${DELTACHAT_PYTHON:-/usr/bin/python3}

installed() {
	[ -x "$VENV/bin/deltachat-rpc-server" ] &&
		"$VENV/bin/python" -c 'import deltachat_rpc_client' 2>/dev/null &&
		[ "$("$VENV/bin/deltachat-rpc-server" --version 2>&1)" = "$DELTACHAT_VERSION" ]
}

if installed; then
	echo "$VENV/bin/python"
	exit 0
fi
[ "${1:-}" = --check ] && exit 69

echo "deltachat: installing deltachat-rpc-server and deltachat-rpc-client $DELTACHAT_VERSION into $VENV" >&2
mkdir -p "$CACHE"
rm -rf "$VENV.tmp"
"$PYTHON" -m venv "$VENV.tmp" >&2 || {
	echo "deltachat: $PYTHON -m venv failed (python3-venv, make deps)" >&2
	exit 69
}
"$VENV.tmp/bin/pip" install --quiet --disable-pip-version-check \
	--cache-dir "$CACHE/pip" \
	"deltachat-rpc-server==$DELTACHAT_VERSION" \
	"deltachat-rpc-client==$DELTACHAT_VERSION" >&2 || {
	rm -rf "$VENV.tmp"
	echo "deltachat: pip install failed (PyPI not reachable?)" >&2
	exit 69
}
# the venv's scripts name their own path: move it only while unused,
# and fix the shebangs
rm -rf "$VENV"
mv "$VENV.tmp" "$VENV"
grep -rlF "$VENV.tmp" "$VENV/bin" | xargs -r sed -i "s|$VENV.tmp|$VENV|g"
installed || { echo "deltachat: installed, but deltachat-rpc-server is not $DELTACHAT_VERSION" >&2; exit 69; }
echo "$VENV/bin/python"
