#!/usr/bin/env bash
# test_crd: crds/chatmail.at_chatmailrelays.yaml in a real kube-apiserver
# (hack/control-plane.sh), and the agreement between the apiserver and
# relay/spec.c: the CRD installs and is Established; kubectl explain
# shows the descriptions; every example is accepted, by the apiserver and
# by relay-render; the apiserver's defaulting of a minimal relay equals
# spec.c's defaults field by field; each schema/CEL rule rejects its
# invalid relay, and spec.c (relay-render) rejects the same relay; both
# accept each end of every numeric range and refuse one past it; the
# transition rules (domain, storageClassName immutable) hold on update.
# Needs the control plane up (build/control-plane/env); skips otherwise.
# shellcheck source=tests/integration/lib/common.sh
. "$(dirname "$0")/../../integration/lib/common.sh"

ENVF=${CP_ENV:-$TOP/build/control-plane/env}
if [ ! -s "$ENVF" ] || ! "$TOP/hack/control-plane.sh" status >/dev/null 2>&1; then
	echo "1..0 # SKIP control plane not up (hack/control-plane.sh up)"
	exit 0
fi
[ -x "$BIN/relay-render" ] || { echo "1..0 # SKIP relay-render not built"; exit 0; }
# shellcheck disable=SC1090
. "$ENVF"
KUBECTL=${KUBECTL:-$("$TOP/hack/k8s-bin.sh" path)/kubectl}
k() { "$KUBECTL" "$@"; }
refused() { # refused PATTERN CMD...: CMD fails with PATTERN in its output
	local want=$1 out
	shift
	if out=$("$@" 2>&1); then
		echo "# accepted: $*"
		return 1
	fi
	echo "$out" | grep -q -- "$want" || { echo "$out" | head -n 3 | sed 's/^/# /'; return 1; }
}
tap_init
workdir envtest-crd >/dev/null
W=$TOP/build/test/envtest-crd
NS=crdtest-$$
on_exit "'$KUBECTL' delete namespace $NS --wait=false >/dev/null 2>&1"

CRD=$TOP/crds/chatmail.at_chatmailrelays.yaml
check "the CRD applies (server-side)" k apply --server-side --force-conflicts -f "$CRD"
# established: the CRD's Established condition is True within 60 s
# (kubectl wait fails at once while the apiserver has not yet written any
# condition, which a loaded machine shows)
established() {
	local i
	for ((i = 0; i < 300; i++)); do
		[ "$(k get crd chatmailrelays.chatmail.at -o \
			jsonpath='{.status.conditions[?(@.type=="Established")].status}' 2>/dev/null)" = True ] &&
			return 0
		sleep 0.2
	done
	return 1
}
check "the CRD becomes Established" established
# the OpenAPI document is published a moment after Established
for ((i = 0; i < 50; i++)); do
	k explain chatmailrelay.spec.limits.maxMailboxSize >"$W/explain" 2>&1 &&
		grep -q "max_mailbox_size" "$W/explain" && break
	sleep 0.2
done
grep -q "max_mailbox_size" "$W/explain"
ok $? "kubectl explain shows the field descriptions"
check "namespace $NS" k create namespace "$NS"

# every example: apiserver and spec.c accept it
for f in "$TOP"/crds/examples/*.yaml; do
	sed '/^  namespace:/d' "$f" >"$W/example.yaml"
	check "example $(basename "$f") accepted by the apiserver (dry run)" \
		k apply -n "$NS" --dry-run=server -f "$W/example.yaml"
	check "example $(basename "$f") accepted by spec.c" \
		"$BIN/relay-render" -f "$f" --target pod --list
done

# defaulting: the apiserver's stored spec equals spec.c's defaults
cat >"$W/min.yaml" <<'EOF'
apiVersion: chatmail.at/v1alpha1
kind: ChatmailRelay
metadata: {name: defaults}
spec:
  domain: chat.example.org
EOF
k apply -n "$NS" -f "$W/min.yaml" >/dev/null &&
	k get -n "$NS" chatmailrelay defaults -o json >"$W/stored.json" &&
	"$BIN/relay-render" -f "$W/min.yaml" --target pod --spec >"$W/c.json"
ok $? "a minimal relay is stored; spec.c dumps its defaults"
$PY - "$W/stored.json" "$W/c.json" >"$W/diff" 2>&1 <<'PYEOF'
import json, sys
stored = json.load(open(sys.argv[1]))["spec"]
c = json.load(open(sys.argv[2]))
def flat(o, p=""):
    out = {}
    for k, v in o.items():
        key = p + k
        if isinstance(v, dict):
            out.update(flat(v, key + "."))
        else:
            out[key] = v
    return out
fs, fc = flat(stored), flat(c)
bad = []
for k, v in fc.items():
    if k.startswith(("tls.issuerRef.", "tls.eabSecretRef.")):
        continue  # an optional object without a default in the CRD
    if k == "tls.mode":
        continue  # derived from the domain when parsed (spec_parse.c)
    if k not in fs:
        bad.append(f"{k}: spec.c {v!r}, apiserver none")
    elif fs[k] != v and not (isinstance(v, (int, float)) and float(fs[k]) == float(v)):
        bad.append(f"{k}: spec.c {v!r}, apiserver {fs[k]!r}")
for k in fs:
    if k not in fc:
        bad.append(f"{k}: apiserver {fs[k]!r}, spec.c none")
print("\n".join(bad) or f"{len(fs)} fields equal")
sys.exit(1 if bad else 0)
PYEOF
rc=$?
ok $rc "apiserver defaults equal spec.c's ($(tail -n 1 "$W/diff"))"
[ $rc -eq 0 ] || sed 's/^/# /' "$W/diff" | head -n 20

# invalid relays: "pattern of the apiserver's message|spec YAML lines"
n=0
while IFS='|' read -r want spec; do
	[ -n "$want" ] || continue
	n=$((n + 1))
	printf 'apiVersion: chatmail.at/v1alpha1\nkind: ChatmailRelay\nmetadata: {name: bad%s}\nspec:\n%b\n' \
		"$n" "$spec" >"$W/bad$n.yaml"
	refused "$want" k apply -n "$NS" -f "$W/bad$n.yaml"
	ok $? "apiserver rejects: $want"
	"$BIN/relay-render" -f "$W/bad$n.yaml" --target pod --list >/dev/null 2>&1
	[ $? -eq 78 ]
	ok $? "spec.c rejects it too ($want)"
done <<'EOF'
spec.domain: Required value|  registration: Open
spec.domain|  domain: Not.A.Domain
spec.registration|  domain: a.example\n  registration: open
usernameMinLength must not exceed usernameMaxLength|  domain: a.example\n  limits: {usernameMinLength: 12}
spec.limits.maxSmtpConnections|  domain: a.example\n  limits: {maxSmtpConnections: 4}
spec.limits.maxMailboxSize|  domain: a.example\n  limits: {maxMailboxSize: 5T}
must be positive|  domain: a.example\n  limits: {maxMailboxSize: 0}
secretName is required when mode is Secret|  domain: a.example\n  tls: {mode: Secret}
issuerRef.name is required when mode is CertManager|  domain: a.example\n  tls: {mode: CertManager}
issuerRef is only allowed when mode is CertManager|  domain: a.example\n  tls: {issuerRef: {name: x}}
eabKeyId and eabSecretRef.name go together|  domain: a.example\n  tls: {eabKeyId: k}
spec.tls.acmeCABundle|  domain: a.example\n  tls: {acmeCABundle: x}
spec.tls.issuerRef.kind|  domain: a.example\n  tls: {mode: CertManager, issuerRef: {name: x, kind: Foo}}
spec.dkim.selector|  domain: a.example\n  dkim: {selector: a.b}
spec.storage.mail.size|  domain: a.example\n  storage: {mail: {size: 10GB}}
must not contain /..|  domain: a.example\n  storage: {mailboxesDir: /a/../b}
must be an IP address|  domain: a.example\n  service: {loadBalancerIP: 1.2.3}
must be an IP address|  domain: a.example\n  metrics: {mtailAddress: nope}
url is only allowed when enabled is false|  domain: a.example\n  iroh: {url: https://x.example}
hostNetwork is only allowed when enabled is true|  domain: a.example\n  turn: {enabled: false, hostNetwork: true}
externalIP must be an IPv4 unicast address|  domain: a.example\n  turn: {hostNetwork: true, externalIP: "2001:db8::1"}
externalIP must be an IPv4 unicast address|  domain: a.example\n  turn: {hostNetwork: true, externalIP: 127.0.0.1}
portRange must not include 3478|  domain: a.example\n  turn: {portRange: 3470-3490}
portRange must not overlap 30000-32767|  domain: a.example\n  turn: {hostNetwork: true, portRange: 32760-32800}
spec.expire.schedule|  domain: a.example\n  expire: {schedule: daily}
spec.privacy.mail|  domain: a.example\n  privacy: {mail: no-at}
please set your own privacy contacts|  domain: a.example\n  privacy: {mail: x@testrun.org}
configMapName is only allowed when enabled is true|  domain: a.example\n  website: {enabled: false, configMapName: pages}
the internal ports must differ|  domain: a.example\n  ports: {filtermailSmtp: 10025}
spec.ports.filtermailSmtp|  domain: a.example\n  ports: {filtermailSmtp: 70000}
spec.imagePullPolicy|  domain: a.example\n  imagePullPolicy: Sometimes
backup and restore need backup.passwordSecretName|  domain: a.example\n  backup: {enabled: true, claimName: b}
backup and restore need backup.passwordSecretName|  domain: a.example\n  backup: {enabled: true, passwordSecretName: p}
backup and restore need backup.passwordSecretName|  domain: a.example\n  backup: {target: S3, passwordSecretName: p, s3: {bucket: b}}\n  restore: {enabled: true}
backup and restore need backup.passwordSecretName|  domain: a.example\n  backup: {enabled: true, claimName: b, passwordSecretName: ""}
backup and restore need backup.passwordSecretName|  domain: a.example\n  backup: {enabled: true, target: S3, passwordSecretName: p, s3: {endpoint: "https://s3.example.org"}}
backup and restore need backup.passwordSecretName|  domain: a.example\n  restore: {enabled: true}
spec.restore.snapshot|  domain: a.example\n  restore: {snapshot: yesterday}
spec.backup.target|  domain: a.example\n  backup: {target: Tape}
spec.backup.schedule|  domain: a.example\n  backup: {schedule: nightly}
spec.backup.s3.endpoint|  domain: a.example\n  backup: {s3: {endpoint: "s3.example.org"}}
spec.backup.keepDaily|  domain: a.example\n  backup: {keepDaily: 1001}
EOF

# valid relays the rules above must not refuse: "what|spec YAML lines",
# accepted by the apiserver (dry run) and by spec.c
while IFS='|' read -r what spec; do
	[ -n "$what" ] || continue
	printf 'apiVersion: chatmail.at/v1alpha1\nkind: ChatmailRelay\nmetadata: {name: good}\nspec:\n%b\n' \
		"$spec" >"$W/good.yaml"
	check "apiserver accepts: $what" k apply -n "$NS" --dry-run=server -f "$W/good.yaml"
	check "spec.c accepts: $what" "$BIN/relay-render" -f "$W/good.yaml" --target pod --list
done <<'EOF'
backup to a PVC|  domain: a.example\n  backup: {enabled: true, claimName: b, passwordSecretName: p}
backup to S3 and restore from it|  domain: a.example\n  backup: {enabled: true, target: S3, passwordSecretName: p, s3: {endpoint: "https://s3.example.org", bucket: b, credentialsSecretName: c}}\n  restore: {enabled: true, snapshot: 0123abcd}
restore only, from a PVC|  domain: a.example\n  backup: {claimName: b, passwordSecretName: p}\n  restore: {enabled: true}
backup turned off, half configured|  domain: a.example\n  backup: {enabled: false, target: S3}
EOF

# every numeric range of the CRD as `chatmail-operator crd` generates it
# (the option table's for chatmail.ini options): each end is accepted
# and one past it refused, by the apiserver and by spec.c (relay-render,
# which also loads the rendered chatmail.ini with the services' parser)
mkdir -p "$W/range"
"$BIN/chatmail-operator" crd -o json >"$W/crd.json"
$PY - "$W/crd.json" "$W/range" >"$W/ranges" <<'PYEOF'
import json, sys
crd = json.load(open(sys.argv[1]))
root = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
cases = []
def walk(o, path):
    for k, v in o.get("properties", {}).items():
        if v.get("type") in ("integer", "number") and "minimum" in v:
            lo, hi = v["minimum"], v["maximum"]
            cases.extend([(path + [k], lo, 1), (path + [k], hi, 1),
                          (path + [k], lo - 1, 0), (path + [k], hi + 1, 0)])
        walk(v, path + [k])
walk(root["properties"]["spec"], [])
for n, (path, val, want) in enumerate(cases):
    spec = {"domain": "a.example"}
    o = spec
    for k in path[:-1]:
        o = o.setdefault(k, {})
    o[path[-1]] = val
    if want and path[-1] in ("usernameMinLength", "usernameMaxLength"):
        o["usernameMinLength"] = o["usernameMaxLength"] = val
    doc = {"apiVersion": "chatmail.at/v1alpha1", "kind": "ChatmailRelay",
           "metadata": {"name": "range%d" % n}, "spec": spec}
    json.dump(doc, open("%s/%d.json" % (sys.argv[2], n), "w"))
    print(n, want, "%s=%s" % (".".join(path), val))
PYEOF
ok $? "the generated CRD's numeric ranges ($(wc -l <"$W/ranges") cases)"
bad=0 nr=0
while read -r n want what; do
	nr=$((nr + 1))
	k apply -n "$NS" --dry-run=server -f "$W/range/$n.json" >"$W/range/$n.k8s" 2>&1
	a=$?
	"$BIN/relay-render" -f "$W/range/$n.json" --target pod --list >"$W/range/$n.c" 2>&1
	c=$?
	if [ "$want" = 1 ] && { [ $a -ne 0 ] || [ $c -ne 0 ]; }; then
		echo "# $what: refused (apiserver rc $a, spec.c rc $c)"
		head -n 2 "$W/range/$n.k8s" "$W/range/$n.c" | sed 's/^/#   /'
		bad=1
	elif [ "$want" = 0 ] && { [ $a -eq 0 ] || [ $c -ne 78 ]; }; then
		echo "# $what: accepted (apiserver rc $a, spec.c rc $c)"
		bad=1
	fi
done <"$W/ranges"
[ $bad -eq 0 ] && [ $nr -ge 60 ]
ok $? "each range end accepted and one past it refused, by the apiserver and spec.c ($nr cases)"

# metadata.name longer than 52
sed 's/name: bad1}/name: a23456789012345678901234567890123456789012345678901234}/' \
	"$W/bad1.yaml" | sed 's/  registration: Open/  domain: a.example/' >"$W/longname.yaml"
refused "at most 52" k apply -n "$NS" -f "$W/longname.yaml"
ok $? "apiserver rejects a name longer than 52 characters"

# transition rules on the stored relay
refused "domain is immutable" \
	k patch -n "$NS" chatmailrelay defaults --type merge -p '{"spec":{"domain":"other.example.org"}}'
ok $? "the domain cannot change"
refused "storageClassName is immutable" \
	k patch -n "$NS" chatmailrelay defaults --type merge -p '{"spec":{"storage":{"mail":{"storageClassName":"fast"}}}}'
ok $? "storageClassName cannot change"
check "other fields can change" \
	k patch -n "$NS" chatmailrelay defaults --type merge -p '{"spec":{"limits":{"maxUserSendPerMinute":30}}}'
check "status is a subresource (a spec patch leaves status alone)" \
	k patch -n "$NS" chatmailrelay defaults --subresource status --type merge \
	-p '{"status":{"observedGeneration":1,"address":"203.0.113.7"}}'
k get -n "$NS" chatmailrelay defaults >"$W/get" 2>&1
grep -q "chat.example.org.*203.0.113.7" "$W/get"
ok $? "printer columns show Domain and Address ($(tail -n 1 "$W/get" | tr -s ' '))"

tap_done
