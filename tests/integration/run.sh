#!/usr/bin/env bash
# run.sh: the integration tier. Runs every tests/integration/**/test_*.sh
# (each a TAP producer against real postfix/dovecot/nginx and our
# services) and tests/interop/test_*.sh (Delta Chat core against the
# local relays) through tests/run.sh. INTEGRATION_SKIP_SHARED=1 leaves
# out tests/e2e/shared.list (the e2e tier runs those on the node).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
# tests/interop: Delta Chat core against the same local relays
mapfile -t tests < <(find tests/integration tests/interop -name 'test_*.sh' -type f | sort)
# INTEGRATION_SKIP_SHARED=1 (make test): leave out what the e2e tier
# runs on the real node too (tests/e2e/shared.list)
if [ "${INTEGRATION_SKIP_SHARED:-0}" = 1 ]; then
	mapfile -t tests < <(printf '%s\n' "${tests[@]}" |
		grep -v -x -F -f <(grep -v -e '^#' -e '^$' tests/e2e/shared.list))
fi
if [ ${#tests[@]} -eq 0 ]; then
	mkdir -p "${RESULTS:-build/results}"
	echo "ok 0 - integration: no tests yet # SKIP none written" >"${RESULTS:-build/results}/integration.tap"
	exit 0
fi
exec tests/run.sh --tier integration "${tests[@]}"
