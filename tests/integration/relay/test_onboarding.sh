#!/usr/bin/env bash
# test_onboarding: a new user's first minutes on a local relay, with real
# clients: POST https://<relay>/new hands out credentials (newemail behind
# nginx), the first IMAP login creates the account (doveauth behind
# Dovecot), CAPABILITY advertises XCHATMAIL and XDELTAPUSH on 993, on 143
# after STARTTLS and through 443 with ALPN imap; autoconfig and MTA-STS
# are served; port 80 redirects; wrong and short passwords are refused.
# shellcheck source=tests/integration/lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source=tests/integration/relay/lib.sh
. "$(dirname "$0")/lib.sh"

relay_prereqs
tap_init
relay_workdir relay-onboarding
t0=$(date +%s.%N)
relays_up "$W" 1 || { ok 1 "relay e2e1 up"; tap_done; }
ok 0 "relay e2e1 up ($(awk "BEGIN{printf \"%.1f\", $(date +%s.%N) - $t0}") s)"

E=$ENV1
D=$(renv "$E" DOMAIN)
A=$(renv "$E" ADDR)
CA=$(renv "$E" CA)
H=$(renv "$E" HTTPS_PORT)
CURL=(curl -sS --max-time 20 --cacert "$CA" --resolve "$D:$H:$A")

# POST /new: JSON with email and password of upstream's shape
out=$("${CURL[@]}" -X POST "https://$D:$H/new")
echo "$out" >"$W/new.json"
user=$(jq -r .email "$W/new.json")
pw=$(jq -r .password "$W/new.json")
echo "$user" | grep -qE "^[a-z0-9]{9}@$D\$"
ok $? "POST /new gives an address of 9 [a-z0-9] at the domain ($user)"
[ ${#pw} -eq 12 ]
ok $? "POST /new gives a 12-character password"
jq -e '.dclogin_url | startswith("dclogin:")' "$W/new.json" >/dev/null
ok $? "self-signed relay: /new adds a dclogin_url"

MB=$(renv "$E" MAILBOXES)
[ ! -e "$MB/$user" ]
ok $? "no account exists before the first login"

for via in 993 143 443; do
	caps=$(rc capability "$E" "$user" "$pw" --via $via 2>&1)
	echo "$caps" | grep -qw XCHATMAIL && echo "$caps" | grep -qw XDELTAPUSH
	ok $? "IMAP via $via: login works, CAPABILITY has XCHATMAIL and XDELTAPUSH"
done
[ -s "$MB/$user/password" ] && grep -q '^{SHA512-CRYPT}[$]6[$]' "$MB/$user/password"
ok $? "the first login created the account (password file, SHA512-CRYPT)"
[ -e "$MB/$user/enforceE2EEincoming" ]
ok $? "the new account rejects incoming cleartext (enforceE2EEincoming)"

check "a wrong password is refused" rc login-fails "$E" "$user" "wrong-password-123"
short="${user/@*/}x@$D"
check "a password shorter than 9 is refused (no account created)" \
	rc login-fails "$E" "$short" "short"
[ ! -e "$MB/$short" ]
ok $? "no directory for the refused account"

# autoconfig: valid XML naming the relay with upstream's six servers
"${CURL[@]}" -o "$W/autoconfig.xml" \
	"https://$D:$H/.well-known/autoconfig/mail/config-v1.1.xml"
check "autoconfig XML is served and well-formed" xmllint --noout "$W/autoconfig.xml"
ports=$(xmllint --xpath '//*[local-name()="port"]/text()' "$W/autoconfig.xml" 2>/dev/null | tr '\n' ' ')
[ "$(echo "$ports" | tr -s ' ')" = "993 143 443 465 587 443 " ] ||
	[ "$(xmllint --xpath 'count(//*[local-name()="port"])' "$W/autoconfig.xml")" = 6 ]
ok $? "autoconfig lists IMAP 993/143/443 and SMTP 465/587/443 ($ports)"
xmllint --xpath 'string(//*[local-name()="incomingServer"][1]/*[local-name()="hostname"])' \
	"$W/autoconfig.xml" | grep -qx "$D"
ok $? "autoconfig names the relay's domain"

"${CURL[@]}" "https://$D:$H/.well-known/mta-sts.txt" >"$W/mta-sts.txt"
grep -qx "mode: enforce" "$W/mta-sts.txt" && grep -qx "mx: $D" "$W/mta-sts.txt"
ok $? "MTA-STS policy served (enforce, mx = domain)"

code=$(curl -sS --max-time 10 -o /dev/null -w '%{http_code} %{redirect_url}' \
	--resolve "$D:$(renv "$E" HTTP_PORT):$A" "http://$D:$(renv "$E" HTTP_PORT)/x?y")
[ "$code" = "301 https://$D/x?y" ]
ok $? "port 80 redirects to https ($code)"

code=$("${CURL[@]}" -o /dev/null -w '%{http_code}' "https://$D:$H/")
[ "$code" = 200 ]
ok $? "the website's index is served ($code)"

# what the metrics CronJob does, and no public /metrics: a local relay
# runs chatmail-metrics here; a relay Pod (KIND=pod) runs the CronJob's
# own container against its mail claim; a cluster (KIND=cluster) leaves
# it to its CronJob
case $(renv "$E" KIND) in
cluster)
	skip "chatmail-metrics ran" "a cluster relay: its metrics CronJob runs on schedule"
	skip "no public /metrics" "a cluster relay: tests/e2e/test_metrics.sh"
	;;
*)
	if [ "$(renv "$E" KIND)" = pod ]; then
		"$RELAY_HARNESS" job "$(renv "$E" NAME)" metrics >"$W/metrics.log" 2>&1
		ok $? "the metrics CronJob's container ran"
	else
		setpriv --reuid=vmail --regid=vmail --init-groups "$BIN/chatmail-metrics" \
			"$(renv "$E" INI)" --textfile "$(dirname "$MB")/../metrics/fsreport.prom" \
			>"$W/metrics.log" 2>&1 &&
			grep -q '^chatmail_accounts' "$(dirname "$MB")/../metrics/fsreport.prom"
		ok $? "chatmail-metrics wrote its textfile"
	fi
	# upstream removed the public /metrics in 1.10 (it leaks user
	# counts); the figures are on the Pod's private metrics port
	"${CURL[@]}" -o "$W/metrics" -w '%{http_code}' "https://$D:$H/metrics" >"$W/metrics.code"
	grep -q '^404$' "$W/metrics.code" && ! grep -q '^chatmail_accounts' "$W/metrics"
	ok $? "no public /metrics ($(cat "$W/metrics.code"))"
	;;
esac

# the relay's TLS: the self-signed certificate names domain, www., mta-sts.
openssl x509 -in "$CA" -noout -ext subjectAltName >"$W/san" 2>&1
grep -q "DNS:$D, DNS:www.$D, DNS:mta-sts.$D" "$W/san"
ok $? "the certificate covers the domain, www. and mta-sts. (upstream's self-signed mode)"

tap_done
