#!/usr/bin/env bash
# run.sh: the envtest tier. Runs every test program in tests/envtest/
# against the control plane hack/control-plane.sh started (it reads
# build/control-plane/env), counted by tests/run.sh into
# build/results/envtest.tap.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
progs=()
for p in tests/envtest/*.sh; do
	[ "$p" = tests/envtest/run.sh ] && continue
	progs+=("$p")
done
exec tests/run.sh --tier envtest "${progs[@]}"
