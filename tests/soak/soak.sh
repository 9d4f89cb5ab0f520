#!/usr/bin/env bash
# soak.sh: no accepted message lost under load and faults (make soak;
# the short run is tests/e2e/test_soak.sh). TAP output.
#
# Two relays (RELAY_HARNESS through tests/integration/relay/lib.sh:
# default hack/relay-k8s.sh, relays the operator runs on the real test
# node; hack/local-relay.sh for the local relays), SOAK_ACCOUNTS
# accounts on each, and tests/soak/soak.py sending SOAK_MESSAGES
# PGP/MIME messages (real gpg) at a steady rate, local and federated,
# each with a unique Message-ID, while the fault plan runs: every kind
# of tests/soak/faults.sh once, one at a time, then in rounds where they
# overlap, until the load ends (at least SOAK_ROUNDS rounds: every fault
# at least that often). The plan comes from SOAK_SEED (printed; the
# same seed gives the same plan and the same messages). Then the relays
# recover on their own (Postfix retries what it deferred; the soak
# lowers the retry interval to SOAK_BACKOFF seconds, below), the queues
# are flushed if mail is still waiting, and every mailbox is read over
# IMAP. The result line:
#
#   sent N, accepted N, delivered N, duplicated N, lost N, longest delay S s
#
# The node: the one NODE_STATE names if it is up (the e2e tier's, a
# lane's); else the soak brings up its own (hack/cluster.sh up: node,
# images, operator) in build/soak/node on NODE_NET 10.253 with control
# plane ports 24xxx (apart from make e2e's and the demo's) and removes
# it at the end (hack/node.sh purge). The images: make images first
# (make soak does).
# It fails on any accepted message not in its recipient's INBOX, on a
# queue left non-empty, or on a relay component not running at the end.
#
#   SOAK_MESSAGES (2000)  SOAK_RATE (4 per second; lower if the plan is
#   longer)  SOAK_SEED (random)  SOAK_ROUNDS (2)  SOAK_ACCOUNTS (20)
#   SOAK_BACKOFF (10 s)  SOAK_KINDS (every kind the harness plays,
#   comma-separated)  SOAK_VMAIL_SIZE (64m)  SOAK_RECOVER (240 s)
#
# Retry interval: Postfix's minimal_backoff_time (default 300 s) and
# maximal_backoff_time (4000 s) are set on both relays to SOAK_BACKOFF
# and 3 x SOAK_BACKOFF, queue_run_delay to SOAK_BACKOFF / 2, with
# postconf -e and postfix reload in the relay's Postfix (relay_postfix),
# so a fault longer than a retry interval is retried during the soak;
# on the node again after every fault that starts a new Postfix (its
# container copies the rendered config afresh).
# shellcheck source=tests/integration/lib/common.sh
. "$(dirname "$0")/../integration/lib/common.sh"
export RELAY_HARNESS=${RELAY_HARNESS:-$TOP/hack/relay-k8s.sh}
if [ -z "${NODE_STATE:-}" ]; then
	export NODE_STATE=$TOP/build/soak/node NODE_NET=${NODE_NET:-10.253}
	export CP_ETCD_PORT=${CP_ETCD_PORT:-24379} CP_ETCD_PEER_PORT=${CP_ETCD_PEER_PORT:-24380}
	export CP_APISERVER_PORT=${CP_APISERVER_PORT:-24443} CP_KCM_PORT=${CP_KCM_PORT:-24257}
	export CP_SCHEDULER_PORT=${CP_SCHEDULER_PORT:-24259} CP_KWOK_PORT=${CP_KWOK_PORT:-24247}
fi
# shellcheck source=tests/integration/relay/lib.sh
. "$TOP/tests/integration/relay/lib.sh"
# shellcheck source=tests/soak/faults.sh
. "$TOP/tests/soak/faults.sh"

N=${SOAK_MESSAGES:-2000}
RATE=${SOAK_RATE:-4}
SEED=${SOAK_SEED:-$((RANDOM * 32768 + RANDOM))}
ROUNDS=${SOAK_ROUNDS:-2}
NACC=${SOAK_ACCOUNTS:-20}
BACKOFF=${SOAK_BACKOFF:-10}
RECOVER=${SOAK_RECOVER:-240}
SP="$PY $SOAK_DIR/soak.py"

relay_prereqs
tap_init
relay_workdir "${SOAK_WORKDIR:-soak}"
diag "SOAK_SEED=$SEED SOAK_MESSAGES=$N (replay: SOAK_SEED=$SEED SOAK_MESSAGES=$N make soak)"
T_ALL=$(date +%s.%N)

# the node, unless one is up
if ! harness_is_local && [ ! -f "$NODE_STATE/env" ]; then
	mkdir -p "$(dirname "$NODE_STATE")"
	NODE_LOG=$(dirname "$NODE_STATE")/cluster.log
	"$TOP/hack/node.sh" purge >"$NODE_LOG" 2>&1
	on_exit "'$TOP/hack/node.sh' purge >>'$NODE_LOG' 2>&1"
	t=$(date +%s)
	"$TOP/hack/cluster.sh" up >>"$NODE_LOG" 2>&1
	rc=$?
	ok $rc "the test node up with the operator in $(($(date +%s) - t)) s ($NODE_STATE, log $NODE_LOG)"
	if [ $rc -ne 0 ]; then
		tail -n 20 "$NODE_LOG" | sed 's/^/# /'
		tap_done
	fi
	k8s_env
fi

# the small mail volumes (volume-full): mounted before the relays start,
# unmounted after they stopped (on_exit runs last in, first out)
if harness_is_local; then
	for i in 1 2; do
		mkdir -p "$W/relays/e2e$i/vmail"
		mount -t tmpfs -o "size=${SOAK_VMAIL_SIZE:-64m},mode=755" tmpfs \
			"$W/relays/e2e$i/vmail" || diag "no tmpfs for e2e$i: no volume-full"
		on_exit "umount '$W/relays/e2e$i/vmail' 2>/dev/null"
	done
fi
relays_up "$W" 2 || { ok 1 "relays e2e1 e2e2 up"; tap_done; }
ok 0 "relays e2e1 e2e2 up"
if [ -z "$(renv "$ENV1" NETNS)" ]; then
	skip "soak" "loopback fallback: no federation"
	tap_done
fi

# the small mail volumes on the node: each claim's directory a tmpfs in
# the node's mount namespace, the Pod made again on it (faults-k8s.sh)
if ! harness_is_local; then
	for e in "$ENV1" "$ENV2"; do
		on_exit "k8s_small_volume_off '$e'"
		k8s_small_volume "$e" "${SOAK_VMAIL_SIZE:-64m}" ||
			diag "no tmpfs for $(renv "$e" NAME): no volume-full"
	done
fi
soak_backoff "$ENV1" && soak_backoff "$ENV2"
ok $? "Postfix retry interval ${BACKOFF} s on both relays"

# the relays' logs, kept for the trace of a duplicate or a loss: on the
# node, kubelet's files of every container copied every 2 s (a deleted
# Pod's directory goes with it, a restarted container's after the next
# restart); the local relays' log files at the end
KEEP=${RESULTS:-$TOP/build/results}/soak-logs
rm -rf "$KEEP" && mkdir -p "$KEEP"
keep_logs() { # keep_logs: one copy of what is new
	local d
	if harness_is_local; then
		for d in "$ENV1" "$ENV2"; do
			mkdir -p "$KEEP/$(renv "$d" NAME)"
			cp -a "$(renv "$d" LOG)"/. "$KEEP/$(renv "$d" NAME)/" 2>/dev/null
		done
	else
		cp -a --update "${NODE_POD_LOGS:-$NODE_STATE/kubelet/pod-logs}"/. \
			"$KEEP"/ 2>/dev/null
	fi
	return 0
}
if ! harness_is_local; then
	(while :; do
		keep_logs
		sleep 2
	done) &
	KEEPER=$!
	on_exit "kill $KEEPER 2>/dev/null"
fi

K=$W/gnupg
on_exit "gpgconf --homedir '$K' --kill gpg-agent 2>/dev/null"
$SP accounts "$NACC" "$ENV1" "$ENV2" >"$W/accounts" 2>"$W/accounts.err" &&
	$SP keys "$K" "$W/accounts" >/dev/null 2>"$W/accounts.err"
rc=$?
ok $rc "$NACC accounts on each relay, a gpg key each ($(wc -l <"$W/accounts"))"
if [ $rc -ne 0 ]; then
	tail -n 5 "$W/accounts.err" | sed 's/^/# /'
	tap_done
fi

# the plan: kinds both relays play, rounds until the load would end
KINDS=${SOAK_KINDS:-$(comm -12 <(soak_kinds "$ENV1" | sort) <(soak_kinds "$ENV2" | sort) | paste -sd,)}
plan() {
	$SP plan --seed "$SEED" --kinds "$KINDS" --relays e2e1,e2e2 \
		--min-rounds "$ROUNDS" --until "$(awk "BEGIN { print $N / $RATE }")" \
		--backoff "$BACKOFF"
}
plan >"$W/plan"
ok $? "fault plan: $(wc -l <"$W/plan") faults of $(echo "$KINDS" | tr ',' '\n' | wc -l) kinds"
plan | cmp -s - "$W/plan"
ok $? "the same SOAK_SEED gives the same plan (a run can be replayed)"
few=$(echo "$KINDS" | tr ',' '\n' | while read -r k; do
	[ "$(awk -v k="$k" '$2 == k' "$W/plan" | wc -l)" -ge "$ROUNDS" ] || echo "$k"
done)
[ -z "$few" ]
ok $? "every kind in the plan at least $ROUNDS times${few:+ (not: $few)}"
sed 's/^/# plan: /' "$W/plan"
diag "faults per kind: $(awk '{ print $2 }' "$W/plan" | sort | uniq -c | awk '{ printf "%s %s, ", $2, $1 }')"
END=$(sort -n "$W/plan" | awk '{ e = $1 + $4; if (e > m) m = e } END { print m + 5 }')
RATE=$(awk "BEGIN { d = $N / $RATE; if ($END > d) d = $END; printf \"%.3f\", $N / d }")
diag "load: $N messages at $RATE per second ($(awk "BEGIN { printf \"%.0f\", $N / $RATE }") s), faults until T+$END s"

T0=$(date +%s.%N)
$SP send --accounts "$W/accounts" --keydir "$K" --count "$N" --rate "$RATE" \
	--seed "$SEED" "$ENV1" "$ENV2" >"$W/sent" 2>"$W/send.err" &
SENDER=$!
on_exit "kill $SENDER 2>/dev/null"
: >"$W/faults.log"
FPIDS=()
while read -r start kind name dur; do
	env=$ENV1
	[ "$name" = e2e2 ] && env=$ENV2
	run_fault "$T0" "$start" "$kind" "$name" "$dur" "$env" "$W/faults.log" &
	FPIDS+=($!)
done <"$W/plan"
wait "${FPIDS[@]}"
wait "$SENDER"
rc=$?
[ "$rc" -eq 0 ] && [ "$(wc -l <"$W/sent")" -eq "$N" ]
ok $? "load generator sent $(wc -l <"$W/sent") of $N messages in $(since "$T0") s"
acc=$(grep -c '^accepted' "$W/sent")
[ "$acc" -ge $((N / 2)) ]
ok $? "most messages accepted despite the faults ($acc of $N; 3 attempts each)"
[ -s "$W/send.err" ] && tail -n 5 "$W/send.err" | sed 's/^/# send: /'
sort -t+ -k2 -n "$W/faults.log" | sed 's/^/# fault: /'
nf=$(grep -c ' rc=0' "$W/faults.log")
[ "$nf" -eq $((2 * $(wc -l <"$W/plan"))) ]
ok $? "every fault started and ended ($nf of $((2 * $(wc -l <"$W/plan"))) steps)"

# recovery: Postfix's own retries first, then flushes (bounded)
queued() { # queued: messages in both queues
	echo $(($(relay_postfix "$ENV1" postqueue -j 2>/dev/null | wc -l) +
		$(relay_postfix "$ENV2" postqueue -j 2>/dev/null | wc -l)))
}
T1=$(date +%s)
flushed=0
while :; do
	q=$(queued)
	if [ "$q" -eq 0 ] && $SP check --quiet --accounts "$W/accounts" \
		--sent "$W/sent" "$ENV1" "$ENV2" >"$W/check.quick" 2>&1; then
		break
	fi
	el=$(($(date +%s) - T1))
	[ "$el" -ge "$RECOVER" ] && break
	if [ "$el" -ge $((4 * BACKOFF)) ]; then
		relay_postfix "$ENV1" postqueue -f 2>/dev/null
		relay_postfix "$ENV2" postqueue -f 2>/dev/null
		flushed=$((flushed + 1))
	fi
	sleep 3
done
diag "recovered in $(($(date +%s) - T1)) s after the load ($flushed queue flushes; queued now $(queued))"

$SP check --accounts "$W/accounts" --sent "$W/sent" --faults "$W/faults.log" \
	--t0 "$T0" "$ENV1" "$ENV2" >"$W/result" 2>"$W/check.err"
rc=$?
RESULT=$(head -n 1 "$W/result")
echo "$RESULT"
tail -n +2 "$W/result"
# the Postfix log lines of every queue file of a duplicated or lost
# message (its message-id at cleanup names the queue IDs), both relays
[ -n "${KEEPER:-}" ] && kill "$KEEPER" 2>/dev/null
keep_logs
trace() { # trace ID: up to 40 lines
	local qids
	qids=$(grep -rhoE "[0-9A-Za-z]+: message-id=<$1>" "$KEEP" |
		cut -d: -f1 | sort -u)
	[ -n "$qids" ] || {
		echo "no queue file of $1 in the kept logs"
		return
	}
	# a line starts with its file: RELAY/FILE (local) or, on the node,
	# NAMESPACE_POD_UID/CONTAINER/N.log, shortened to NAMESPACE/CONTAINER
	grep -rE "($(echo "$qids" | paste -sd'|')): " "$KEEP" |
		sed -E "s|^$KEEP/||" |
		if harness_is_local; then cat; else
			sed -E 's|^([^_/]+)_[^/]*/([^/]+)/[^:]*:|\1/\2 |'
		fi | sort -k2 | head -n 40
}
for id in $(sed -nE 's/^# (duplicated|lost): ([^ ]+) .*/\2/p' "$W/result" | head -n 10); do
	trace "$id" | sed "s/^/# trace $id: /"
done
sed 's/^/# check: /' "$W/check.err"
ok $rc "no accepted message lost: $RESULT"
q=$(queued)
[ "$q" -eq 0 ]
ok $? "every queue empty after recovery ($q left)"
[ "$q" -eq 0 ] || relay_postfix "$ENV1" postqueue -p | tail -n 8 | sed 's/^/# e2e1 queue: /'
[ "$q" -eq 0 ] || relay_postfix "$ENV2" postqueue -p | tail -n 8 | sed 's/^/# e2e2 queue: /'
for i in 1 2; do
	"$RELAY_HARNESS" status "e2e$i" >"$W/status$i" 2>&1
	ok $? "e2e$i: every component running after the soak"
	grep -E 'NOT running' "$W/status$i" | sed 's/^/# /'
done
awk '{ print "to=<" $2 ">" }' "$W/accounts" >"$W/rcpts"
bounced=$(cat "$(renv "$ENV1" LOG)/postfix.log" "$(renv "$ENV2" LOG)/postfix.log" |
	grep 'status=bounced' | grep -cFf "$W/rcpts")
diag "bounces to soak accounts in the Postfix logs: $bounced"
diag "soak took $(since "$T_ALL") s; SOAK_SEED=$SEED"
tap_done
