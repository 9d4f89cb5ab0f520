#!/usr/bin/env bash
# chart.sh: the Helm chart charts/chatmail-operator, kept in step with its
# sources and checked without a cluster (make chart).
#
#   hack/chart.sh sync      copy the sources into the chart's files/:
#                           crds/*.yaml, crds/rbac/role.yaml,
#                           images/images.env (the chart templates them)
#   hack/chart.sh check     the copies equal their sources (drift), and
#                           the CRD helm renders is the one in crds/
#                           (the added labels and keep annotation aside)
#   hack/chart.sh lint      helm lint --strict with the default values and
#                           every ci/*-values.yaml
#   hack/chart.sh package   helm package into build/chart/
#   hack/chart.sh all       sync, check, lint, package (make chart)
#   hack/chart.sh helm      print the path of helm (built if missing)
#
# helm comes from hack/k8s-bin.sh (Go module proxy, cached); only helm is
# built when the other Kubernetes binaries are not wanted yet.
set -euo pipefail
cd "$(dirname "$0")/.."

CHART=charts/chatmail-operator
OUT=build/chart
PY=/usr/bin/python3

say() { echo "chart: $*" >&2; }

helm_bin() {
	local dir
	dir=$(hack/k8s-bin.sh path)
	if [ ! -x "$dir/helm" ]; then
		say "building helm (hack/k8s-bin.sh)"
		K8S_BIN_SKIP="etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet kube-proxy kwok" \
			hack/k8s-bin.sh >/dev/null
	fi
	echo "$dir/helm"
}

# pairs: "source copy" lines of every file the chart carries a copy of
pairs() {
	local f
	for f in crds/*.yaml; do
		echo "$f $CHART/files/crds/$(basename "$f")"
	done
	echo "crds/rbac/role.yaml $CHART/files/rbac/role.yaml"
	echo "images/images.env $CHART/files/images.env"
}

cmd_sync() {
	local src dst
	rm -f "$CHART"/files/crds/*.yaml
	while read -r src dst; do
		mkdir -p "$(dirname "$dst")"
		cp "$src" "$dst"
	done < <(pairs)
	say "files/ synced from crds/ and images/images.env"
}

# crd_same RENDERED: every CRD in crds/ appears in helm's output with the
# same content apart from the chart's labels and annotations
crd_same() {
	"$PY" - "$1" crds/*.yaml <<'PYEOF'
import sys, yaml
rendered = {d["metadata"]["name"]: d for d in yaml.safe_load_all(open(sys.argv[1]))
            if d and d.get("kind") == "CustomResourceDefinition"}
bad = 0
for path in sys.argv[2:]:
    src = yaml.safe_load(open(path))
    got = rendered.get(src["metadata"]["name"])
    if got is None:
        print("chart: %s: not rendered" % path)
        bad = 1
        continue
    for d in (src, got):
        d["metadata"].pop("labels", None)
        d["metadata"].pop("annotations", None)
    if src != got:
        print("chart: %s: rendered CRD differs from the source" % path)
        bad = 1
sys.exit(bad)
PYEOF
}

cmd_check() {
	local src dst bad=0 helm
	while read -r src dst; do
		if ! cmp -s "$src" "$dst"; then
			say "DRIFT: $dst differs from $src (run hack/chart.sh sync)"
			diff -u "$dst" "$src" | head -n 20 >&2 || true
			bad=1
		fi
	done < <(pairs)
	for dst in "$CHART"/files/crds/*.yaml; do
		[ -e "crds/$(basename "$dst")" ] || { say "DRIFT: $dst has no source in crds/"; bad=1; }
	done
	[ $bad -eq 0 ] || return 1
	helm=$(helm_bin)
	mkdir -p "$OUT"
	"$helm" template chk "$CHART" >"$OUT/check.yaml"
	crd_same "$OUT/check.yaml" || return 1
	grep -q 'helm.sh/resource-policy: keep' "$OUT/check.yaml" ||
		{ say "the CRD lacks helm.sh/resource-policy: keep"; return 1; }
	say "no drift: files/ equal crds/, crds/rbac/role.yaml, images/images.env; rendered CRD = source"
}

cmd_lint() {
	local helm f n=0
	helm=$(helm_bin)
	"$helm" lint --strict "$CHART" >"$OUT/lint.log" 2>&1 || { cat "$OUT/lint.log" >&2; return 1; }
	for f in "$CHART"/ci/*-values.yaml; do
		n=$((n + 1))
		"$helm" lint --strict "$CHART" -f "$f" >>"$OUT/lint.log" 2>&1 ||
			{ cat "$OUT/lint.log" >&2; say "lint failed with $f"; return 1; }
	done
	say "helm lint --strict: default values and $n ci value files"
}

cmd_package() {
	local helm
	helm=$(helm_bin)
	"$helm" package "$CHART" -d "$OUT" >/dev/null
	say "packaged: $(ls "$OUT"/chatmail-operator-*.tgz)"
}

mkdir -p "$OUT"
case ${1:-all} in
sync) cmd_sync ;;
check) cmd_check ;;
lint) cmd_lint ;;
package) cmd_package ;;
helm) helm_bin ;;
all)
	cmd_sync
	cmd_check
	cmd_lint
	cmd_package
	;;
*)
	sed -n '5,16p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 64
	;;
esac
