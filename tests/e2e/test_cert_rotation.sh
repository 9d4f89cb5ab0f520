#!/usr/bin/env bash
# test_cert_rotation: a renewed certificate reaches every TLS endpoint of
# the running Pod through its `cert` container, without a restart and
# without losing a message.
#
# Two relays (e2e1, e2e2). While a client submits a stream of encrypted
# messages to e2e1 (to a local and to a remote user, one SMTP session
# each, nothing retried), e2e1's TLS Secret gets a new certificate and
# key (kubectl patch) and kubelet updates the Secret volume as it does
# (a new timestamped directory, ..data swapped atomically). Within a minute nginx (443),
# Dovecot (993, 143) and Postfix (465, 587, 25) present the new
# certificate; the cert container logged the reloads; every message that
# got 250 is delivered. The clients trust old and new certificate (a
# renewal keeps the names; its subject differs so that OpenSSL tells the
# two self-signed certificates apart).
# shellcheck source=tests/integration/lib/common.sh
. "$(dirname "$0")/../integration/lib/common.sh"
# shellcheck source=tests/integration/relay/lib.sh
. "$(dirname "$0")/../integration/relay/lib.sh"
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

e2e_begin e2e-cert 2
D1=$(renv "$ENV1" DOMAIN)
PORTS="443 993 143 465 587 25"

if [ -z "$(ctr_pid "$ENV1" cert)" ]; then
	ctr_logs "$ENV1" cert 2>&1 | tail -n 5 | sed 's/^/# cert: /'
	skip "certificate rotation" "the Pod's cert container does not run (cert-reloader missing from the services image?)"
	tap_done
fi
ok 0 "the Pod's cert container runs"

old=$(tls_fp "$ENV1" 443)
n=0
for p in $PORTS; do [ "$(tls_fp "$ENV1" "$p")" = "$old" ] && n=$((n + 1)); done
[ -n "$old" ] && [ "$n" -eq 6 ]
ok $? "before: one certificate on 443, 993, 143, 465, 587, 25 ($n of 6)"

read -r A PA < <(new_account "$ENV1")
read -r C PC < <(new_account "$ENV1")
read -r B PB < <(new_account "$ENV2")
K=$W/gnupg
rc genkey "$K" "$B" >/dev/null 2>&1 && rc genkey "$K" "$C" >/dev/null 2>&1
ok $? "accounts A, C on e2e1, B on e2e2, keys"

# the renewed pair; clients trust both (same name, as after a renewal)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -noenc -days 90 \
	-keyout "$W/new.key" -out "$W/new.crt" -subj "/CN=$D1/O=renewed" \
	-addext "basicConstraints=critical,CA:FALSE" \
	-addext "extendedKeyUsage=serverAuth,clientAuth" \
	-addext "subjectAltName=DNS:$D1,DNS:www.$D1,DNS:mta-sts.$D1" >/dev/null 2>&1
new=$(openssl x509 -in "$W/new.crt" -noout -fingerprint -sha256 | cut -d= -f2)
cat "$W/new.crt" >>"$(renv "$ENV1" CA)"

COUNT=${CERT_COUNT:-40}
rc stream "$ENV1" "$A" "$PA" "$B" --keydir "$K" --count "$COUNT" \
	--pause 0.2 --prefix remote >"$W/remote.out" 2>&1 &
S1=$!
rc stream "$ENV1" "$A" "$PA" "$C" --keydir "$K" --count "$COUNT" \
	--pause 0.2 --prefix local --via 587 >"$W/local.out" 2>&1 &
S2=$!
on_exit "kill $S1 $S2 2>/dev/null"
sleep 2

# the Secret changes; kubelet's sync swaps the volume's ..data
SECRET=$(jq -r '.items[] | select(.kind == "Secret" and .type == "kubernetes.io/tls") | .metadata.name' \
	"$(renv "$ENV1" OBJECTS)" | head -n 1)
t0=$SECONDS
kube "$ENV1" patch secret "$SECRET" --type=merge -p "{\"data\":{\"tls.crt\":\"$(base64 -w 0 "$W/new.crt")\",\"tls.key\":\"$(base64 -w 0 "$W/new.key")\"}}" >/dev/null
ok $? "the TLS Secret $SECRET has the new pair (kubectl patch)"
vol_new() { # what the cert container sees, through its root from the host
	cmp -s "/proc/$(ctr_pid "$ENV1" cert)/root/etc/chatmail/tls/tls.crt" "$W/new.crt"
}
wait_until 90 vol_new
ok $? "kubelet updated the Pod's TLS volume ($((SECONDS - t0)) s)"

all_new() {
	local p
	for p in $PORTS; do [ "$(tls_fp "$ENV1" "$p")" = "$new" ] || return 1; done
}
wait_until 60 all_new
ok $? "within a minute all of 443, 993, 143, 465, 587, 25 present the new certificate ($((SECONDS - t0)) s)"
for p in $PORTS; do
	[ "$(tls_fp "$ENV1" "$p")" = "$new" ] || diag "port $p still presents $(tls_fp "$ENV1" "$p")"
done
ctr_logs "$ENV1" cert >"$W/cert.log" 2>&1
for t in nginx dovecot master; do
	grep -q "$t" "$W/cert.log" && grep -qi 'reload\|sighup\|signal' "$W/cert.log"
	ok $? "the cert container logged the reload of $t"
done
[ "$(for c in nginx dovecot postfix; do ctr_restarts "$ENV1" "$c"; done | sort -u)" = 0 ]
ok $? "nginx, Dovecot and Postfix were not restarted (reloaded in place)"

wait "$S1" "$S2"
acc=$(cat "$W/remote.out" "$W/local.out" | grep -c '^accepted')
ref=$(cat "$W/remote.out" "$W/local.out" | grep -c '^refused')
diag "accepted $acc of $((2 * COUNT)), $ref refused"
[ "$acc" -ge "$COUNT" ]
ok $? "the stream went on during the rotation ($acc accepted)"
missing() { # missing ENV USER PW OUTFILE: accepted ids not in the INBOX
	rc msgids "$1" "$2" "$3" >"$W/have" 2>/dev/null
	grep '^accepted' "$4" | cut -d' ' -f2 | sort | comm -23 - <(sort "$W/have")
}
for ((i = 0; i < 30; i++)); do
	pf "$ENV1" postqueue -f >/dev/null 2>&1
	mr=$(missing "$ENV2" "$B" "$PB" "$W/remote.out" | wc -l)
	ml=$(missing "$ENV1" "$C" "$PC" "$W/local.out" | wc -l)
	[ "$mr" -eq 0 ] && [ "$ml" -eq 0 ] && break
	sleep 2
done
[ "$mr" -eq 0 ] && [ "$ml" -eq 0 ]
ok $? "every accepted message was delivered ($mr remote, $ml local missing)"

tap_done
