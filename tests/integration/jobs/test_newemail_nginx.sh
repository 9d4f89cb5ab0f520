#!/usr/bin/env bash
# test_newemail_nginx.sh: newemail and the rendered web content behind
# Debian's real nginx, TLS terminated by nginx as on the relay (8443
# server of docs/UPSTREAM.md, nginx), newemail on a Unix socket, run as
# vmail.
#
# Checks with curl: POST /new returns upstream's JSON with credentials of
# the right shape (9 x [a-z0-9] at the domain, 12 printable characters),
# distinct every time; GET /new is upstream's 301 to
# dcaccount:https://<domain>/new; the old /cgi-bin/newemail.py path works
# too; a self-signed (IPv4) relay answers GET with a dclogin_url. The
# rendered files (the golden copies the unit tests pin) are served, the
# autoconfig XML validates with xmllint and names the right hosts, ports
# and socket types.
# shellcheck source=tests/integration/lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

tap_init
W=$(workdir jobs-newemail-nginx)
D=chat.example.org
mkdir -p "$W/run" "$W/log" "$W/tmp" "$W/www"
chown vmail "$W/run"
cp -r "$TOP/tests/data/web/acme/." "$W/www/"
chmod -R a+rX "$W/www"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-days 2 -keyout "$W/key.pem" -out "$W/cert.pem" -subj "/CN=$D" \
	-addext "subjectAltName=DNS:$D,IP:127.0.0.1" >/dev/null 2>&1
ok $? "self-signed certificate"

printf '[params]\nmail_domain = %s\n' "$D" >"$W/acme.ini"
printf '[params]\nmail_domain = 127.0.0.1\n' >"$W/self.ini"
setpriv --reuid=2000 --regid=2000 --clear-groups -- "$BIN/newemail" \
	"$W/acme.ini" --listen "unix:$W/run/new.sock" </dev/null >"$W/log/new.log" 2>&1 &
on_exit "stop_pid $!"
setpriv --reuid=2000 --regid=2000 --clear-groups -- "$BIN/newemail" \
	"$W/self.ini" --listen "unix:$W/run/self.sock" </dev/null >"$W/log/self.log" 2>&1 &
on_exit "stop_pid $!"

PORT=$(free_port)
cat >"$W/nginx.conf" <<EOF
pid $W/run/nginx.pid;
error_log $W/log/error.log;
events { worker_connections 64; }
http {
	access_log off;
	client_body_temp_path $W/tmp/body;
	proxy_temp_path $W/tmp/proxy;
	fastcgi_temp_path $W/tmp/fcgi;
	uwsgi_temp_path $W/tmp/uwsgi;
	scgi_temp_path $W/tmp/scgi;
	types { text/html html; application/xml xml; text/plain txt; }
	default_type application/octet-stream;
	server {
		listen 127.0.0.1:$PORT ssl;
		ssl_certificate $W/cert.pem;
		ssl_certificate_key $W/key.pem;
		ssl_protocols TLSv1.2 TLSv1.3;
		root $W/www;
		location /new { proxy_pass http://unix:$W/run/new.sock; }
		location /cgi-bin/newemail.py { proxy_pass http://unix:$W/run/new.sock; }
		location = /selfnew { proxy_pass http://unix:$W/run/self.sock:/new; }
		location / { try_files \$uri \$uri/ =404; }
	}
}
EOF
wait_file "$W/run/new.sock" 10 && wait_file "$W/run/self.sock" 10
ok $? "newemail listens on its Unix sockets (as vmail)"
env -u NGINX nginx -c "$W/nginx.conf" -p "$W" -g 'daemon off;' </dev/null \
	>"$W/log/nginx.out" 2>&1 &
on_exit "stop_pid $!"
wait_port 127.0.0.1 "$PORT" 10
ok $? "nginx serves TLS on 127.0.0.1:$PORT"
C=(curl -sS --max-time 10 --cacert "$W/cert.pem" --resolve "$D:$PORT:127.0.0.1")
U=https://$D:$PORT

"${C[@]}" -X POST "$U/new" -o "$W/new.json" -w '%{http_code} %{content_type}\n' >"$W/new.status"
grep -qx '200 application/json' "$W/new.status"
ok $? "POST /new: 200 application/json ($(cat "$W/new.status"))"
jq -e --arg d "$D" '(.email | test("^[a-z0-9]{9}@" + ($d | gsub("\\."; "\\.")) + "$")) and
	(.password | length == 12) and (.password | test("^[!-~]+$")) and
	(has("dclogin_url") | not) and (keys == ["email", "password"])' "$W/new.json" >/dev/null
ok $? "POST /new: upstream's JSON and credential shape: $(jq -c .email "$W/new.json")"
head -c 11 "$W/new.json" | grep -qx '{"email": "'
ok $? "POST /new: formatted like json.dumps"

for i in $(seq 1 50); do
	"${C[@]}" -X POST "$U/new" | jq -r .email
done | sort | uniq -d >"$W/dups"
[ ! -s "$W/dups" ]
ok $? "50 POSTs: 50 different addresses"

"${C[@]}" -o /dev/null -D "$W/get.hdr" "$U/new"
grep -q '^HTTP/1.1 301' "$W/get.hdr" &&
	grep -qi "^location: dcaccount:https://$D/new" "$W/get.hdr"
ok $? "GET /new: 301 to dcaccount:https://$D/new"
"${C[@]}" -X POST "$U/cgi-bin/newemail.py" | jq -e .password >/dev/null
ok $? "POST /cgi-bin/newemail.py (old QR codes): credentials"
"${C[@]}" "$U/selfnew" -o "$W/self.json"
jq -e '(.email | endswith("@[127.0.0.1]")) and
	(.dclogin_url | startswith("dclogin:") and contains("&v=1&ih=127.0.0.1&sh=127.0.0.1&ic=3"))' \
	"$W/self.json" >/dev/null
ok $? "self-signed relay: GET /new gives credentials with dclogin_url"
code=$("${C[@]}" -o /dev/null -w '%{http_code}' -X DELETE "$U/new")
[ "$code" = 405 ]
ok $? "DELETE /new: 405 (got $code)"

A=.well-known/autoconfig/mail/config-v1.1.xml
"${C[@]}" -o "$W/autoconfig.xml" "$U/$A"
xmllint --noout "$W/autoconfig.xml"
ok $? "autoconfig served and valid XML"
x() { xmllint --xpath "$1" "$W/autoconfig.xml" 2>/dev/null; }
[ "$(x 'concat(//incomingServer[1]/port,",",//incomingServer[2]/port,",",//incomingServer[3]/port)')" = "993,143,443" ] &&
	[ "$(x 'concat(//outgoingServer[1]/port,",",//outgoingServer[2]/port,",",//outgoingServer[3]/port)')" = "465,587,443" ] &&
	[ "$(x 'concat(//incomingServer[1]/socketType,",",//incomingServer[2]/socketType,",",//incomingServer[3]/socketType)')" = "SSL,STARTTLS,SSL" ] &&
	[ "$(x 'concat(//outgoingServer[1]/socketType,",",//outgoingServer[2]/socketType,",",//outgoingServer[3]/socketType)')" = "SSL,STARTTLS,SSL" ] &&
	[ "$(x 'count(//*[self::incomingServer or self::outgoingServer][hostname="chat.example.org"][authentication="password-cleartext"][username="%EMAILADDRESS%"])')" = 6 ] &&
	[ "$(x 'string(//emailProvider/@id)')" = "$D" ]
ok $? "autoconfig: IMAP 993 SSL, 143 STARTTLS, 443 SSL; SMTP 465 SSL, 587 STARTTLS, 443 SSL; host $D"
"${C[@]}" "$U/.well-known/mta-sts.txt" | grep -qx "mx: $D"
ok $? "mta-sts.txt served"
bad=0
for p in index.html info.html privacy.html; do
	"${C[@]}" -o "$W/$p" "$U/$p" && xmllint --html --noout "$W/$p" || bad=1
done
ok $bad "index, info, privacy served and parse as HTML"

# a login with fresh credentials creates the account (doveauth)
MB=$W/mail/$D
IMAP=$(free_port)
mkdir -p "$MB" "$W/dovecot/run" "$W/dovecot/state"
chown -R vmail:vmail "$W/mail"
cat >"$W/auth.ini" <<EOF
[params]
mail_domain = $D
mailboxes_dir = $MB
nocreate_file = $W/nocreate
max_load_1m = 99999
min_available_memory = 0
min_free_disk_space = 0
EOF
cat >"$W/auth.conf" <<EOF
uri = proxy:$W/run/doveauth.socket:auth
iterate_disable = no
iterate_prefix = userdb/
default_pass_scheme = plain
password_key = passdb/%Ew"%Eu
user_key = userdb/%Eu
EOF
cat >"$W/dovecot.conf" <<EOF
base_dir = $W/dovecot/run
state_dir = $W/dovecot/state
instance_name = dovecot-newemail-$$
log_path = $W/log/dovecot.log
listen = 127.0.0.1
protocols = imap
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
auth_username_chars = abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ01234567890.-_@[]
first_valid_uid = 100
mail_uid = vmail
mail_gid = vmail
mail_location = maildir:$MB/%u
passdb {
  driver = dict
  args = $W/auth.conf
}
userdb {
  driver = dict
  args = $W/auth.conf
}
service auth-worker {
  user = vmail
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $IMAP
  }
  inet_listener imaps {
    port = 0
  }
}
EOF
if [ -x "$BIN/doveauth" ]; then
	setpriv --reuid=2000 --regid=2000 --clear-groups -- "$BIN/doveauth" \
		-m 0600 "$W/run/doveauth.socket" "$W/auth.ini" </dev/null \
		>"$W/log/doveauth.log" 2>&1 &
	on_exit "stop_pid $!"
	wait_file "$W/run/doveauth.socket" 10 &&
		dovecot -c "$W/dovecot.conf" </dev/null >"$W/log/dovecot.out" 2>&1
	ok $? "dovecot with doveauth (dict passdb) starts"
	on_exit "stop_pid \$(cat '$W/dovecot/run/master.pid' 2>/dev/null) 10"
	wait_port 127.0.0.1 "$IMAP" 10
	"${C[@]}" -X POST "$U/new" -o "$W/login.json"
	$PY - "$IMAP" "$W/login.json" <<'PYEOF' >"$W/log/imap.log" 2>&1
import imaplib, json, sys
c = json.load(open(sys.argv[2]))
m = imaplib.IMAP4("127.0.0.1", int(sys.argv[1]))
m.login(c["email"], c["password"])
m.select("INBOX")
m.logout()
PYEOF
	ok $? "IMAP login with the credentials from /new"
	email=$(jq -r .email "$W/login.json")
	[ -s "$MB/$email/password" ]
	ok $? "the login created the account ($email has a password file)"
else
	skip "login with /new credentials creates the account" "no doveauth built"
fi

tap_done
