#!/usr/bin/env bash
# test_deltachat: Delta Chat core (deltachat-rpc-server and
# deltachat-rpc-client from PyPI, pinned: hack/deltachat.sh) against two
# of our relays, as upstream tests its relays with Delta Chat's own
# client: accounts through /new configured with explicit servers,
# SecureJoin, encrypted messages both ways with the padlock, an
# attachment near max_message_size, federation between the relays and a
# verified group of three (tests/interop/deltachat_check.py). The relays
# are hack/local-relay.sh's (integration tier) or RELAY_HARNESS's relay
# Pods (e2e tier, tests/e2e/run.sh).
# shellcheck source=tests/integration/lib/common.sh
. "$(dirname "$0")/../integration/lib/common.sh"
# shellcheck source=tests/integration/relay/lib.sh
. "$(dirname "$0")/../integration/relay/lib.sh"
# shellcheck source=tests/interop/lib.sh
. "$(dirname "$0")/lib.sh"

relay_prereqs
command -v unshare >/dev/null || { echo "1..0 # SKIP unshare missing"; exit 0; }
tap_init
if ! dc_python; then
	ok 1 "Delta Chat core $(sed -n 's/^DELTACHAT_VERSION=//p' "$TOP/hack/deltachat.sh") installed (hack/deltachat.sh)"
	tap_done
fi
relay_workdir interop-deltachat
relays_up "$W" 2 || { ok 1 "two relays up"; tap_done; }

read -r A PA < <(new_account "$ENV1")
read -r B PB < <(new_account "$ENV1")
read -r C PC < <(new_account "$ENV2")
[ -n "${A:-}" ] && [ -n "${B:-}" ] && [ -n "${C:-}" ]
ok $? "three accounts through /new (two on relay 1, one on relay 2)"

dc_hosts "$ENV1" "$ENV2" >"$W/hosts"
mkdir -p "$W/dc"
MAX_MESSAGE_SIZE=$(max_message_size "$ENV1") \
	dc_run "$W/hosts" deltachat_check.py "$W/dc" \
	"$ENV1" "$A" "$PA" "$B" "$PB" "$ENV2" "$C" "$PC" >"$W/check.tap"
rc=$?
# renumber deltachat_check.py's TAP into this file's stream
while IFS= read -r line; do
	case $line in
	"ok "*) ok 0 "${line#ok * - }" ;;
	"not ok "*) ok 1 "${line#not ok * - }" ;;
	"1.."*) ;;
	*) echo "$line" ;;
	esac
done <"$W/check.tap"
[ $rc -eq 0 ] || grep -q '^not ok' "$W/check.tap" || ok 1 "deltachat_check.py exited $rc"
if [ "$_tap_failed" -ne 0 ]; then
	diag "rpc-server log (last lines):"
	tail -n 20 "$W/dc/rpc-server.log" 2>/dev/null | sed 's/^/# /'
fi
tap_done
