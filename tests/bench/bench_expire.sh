#!/usr/bin/env bash
# bench_expire.sh: chatmail-expire (dry run) and chatmail-metrics on a
# generated store of 10,000 mailboxes / 500,000 files, side by side with
# the walk-and-stat floor measured in the same run:
#
#   find <tree> -type f -mtime +20 | wc -l
#
# Wall time: hyperfine (1 warm-up, BENCH_RUNS runs, mean and min), so all
# three see a warm dentry/inode cache. Peak RSS: GNU time's %M. The tree
# is generated once under build/bench/ (tests/bench/gen_maildirs.py) and
# reused while its parameters stay the same; the generation time is
# printed when it happens. Never fails on speed.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1

USERS=${BENCH_USERS:-10000}
FILES=${BENCH_FILES:-500000}
RUNS=${BENCH_RUNS:-5}
B=build/bench/expire
TREE=$B/mail/example.org
STAMP="users=$USERS files=$FILES seed=1 gen=$(md5sum tests/bench/gen_maildirs.py | cut -c1-12)"
BIN=build/bin

for tool in hyperfine /usr/bin/time; do
	command -v "$tool" >/dev/null || {
		echo "bench_expire: $tool missing (make deps)"
		exit 1
	}
done
if [ ! -x "$BIN/chatmail-expire" ] || [ ! -x "$BIN/chatmail-metrics" ]; then
	echo "bench_expire: build first (make)"
	exit 1
fi

if [ "$(cat "$B/stamp" 2>/dev/null)" != "$STAMP" ]; then
	rm -rf "$B"
	mkdir -p "$B/mail"
	start=$(date +%s.%N)
	/usr/bin/python3 tests/bench/gen_maildirs.py "$TREE" --users "$USERS" \
		--files "$FILES" --seed 1 || exit 1
	echo "tree generated in $(/usr/bin/python3 -c "import sys; print(round(float(sys.argv[2]) - float(sys.argv[1]), 1))" "$start" "$(date +%s.%N)") s"
	echo "$STAMP" >"$B/stamp"
else
	echo "tree cached: $B ($STAMP)"
fi
printf '[params]\nmail_domain = example.org\nmailboxes_dir = %s\n' \
	"$PWD/$TREE" >"$B/chatmail.ini"
echo "tree: $(find "$TREE" -maxdepth 1 -name '*@*' | wc -l) mailboxes," \
	"$(find "$TREE" -type f | wc -l) files"

FIND="find $TREE -type f -mtime +20 | wc -l"
EXPIRE=("$BIN/chatmail-expire" "$B/chatmail.ini")
METRICS=("$BIN/chatmail-metrics" "$B/chatmail.ini")

hyperfine -N --style none --warmup 1 --runs "$RUNS" \
	--export-json "$B/hyperfine.json" \
	-n find "sh -c '$FIND'" -n chatmail-expire "${EXPIRE[*]}" \
	-n chatmail-metrics "${METRICS[*]}" >"$B/hyperfine.out" 2>&1 || {
	cat "$B/hyperfine.out"
	exit 1
}

rss() { # rss CMD...: peak RSS in KiB
	/usr/bin/time -f '%M' -o "$B/rss" "$@" >/dev/null 2>&1
	cat "$B/rss"
}
rss_find=$(rss sh -c "$FIND")
rss_expire=$(rss "${EXPIRE[@]}")
rss_metrics=$(rss "${METRICS[@]}")

/usr/bin/python3 - "$B/hyperfine.json" "$rss_find" "$rss_expire" \
	"$rss_metrics" <<'PYEOF'
import json, sys
res = json.load(open(sys.argv[1]))["results"]
rss = dict(zip(("find", "chatmail-expire", "chatmail-metrics"),
               (int(x) for x in sys.argv[2:5])))
floor = res[0]["mean"]
print(f"{'command':<18} {'mean s':>8} {'min s':>8} {'x floor':>8} {'peak RSS':>10}")
for r in res:
    n = r["command"]
    print(f"{n:<18} {r['mean']:8.3f} {r['min']:8.3f} {r['mean'] / floor:8.2f}"
          f" {rss[n] / 1024:7.1f} MiB")
PYEOF
echo "(upstream's Python chatmail-expire on such a tree, per the issue: 2.7 s, 1.6x the find floor, 15 MiB RSS)"
