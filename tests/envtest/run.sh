#!/usr/bin/env bash
# run.sh: the envtest tier. Runs every test program under tests/envtest/
# (the *.sh files here, except this one, and test_*.sh one directory down)
# against the control plane hack/control-plane.sh started (they read
# build/control-plane/env), counted by tests/run.sh into
# build/results/envtest.tap.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
progs=()
for p in tests/envtest/*.sh tests/envtest/*/test_*.sh; do
	[ -e "$p" ] || continue
	[ "$p" = tests/envtest/run.sh ] && continue
	progs+=("$p")
done
exec tests/run.sh --tier envtest "${progs[@]}"
