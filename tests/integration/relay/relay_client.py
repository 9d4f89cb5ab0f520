#!/usr/bin/python3
"""relay_client: real-client actions against a local relay, for the
end-to-end tests (tests/integration/relay/test_*.sh). Debian's python3
(imaplib, smtplib, ssl, http.client) and gpg; nothing mocked.

Every command takes the relay's relay.env (hack/local-relay.sh) first and
prints what it got; the exit status says whether it was what the test
wants. Connections go to the relay's address with the relay's domain as
TLS server name, verified against its self-signed certificate.

  new ENV                                   POST /new: "email password"
  capability ENV USER PW --via 993|143|443  IMAP CAPABILITY after login
  login-fails ENV USER PW                   IMAP LOGIN is refused
  send ENV USER PW TO --via 465|587|443 [--plain] [--from ADDR]
       [--msgid ID] [--expect CODE] [--keydir DIR]
                                            submit a (PGP/MIME) message
  send25 ENV FROM TO [--msgid ID] [--sign-key PEM] [--sign-domain D]
       [--expect CODE]
       [--plain] [--no-tls]                 as another MTA on port 25
  fetch ENV USER PW MSGID [--via 993|443] [--timeout S]
                                            wait for the message, print it
  msgids ENV USER PW                        Message-IDs in the INBOX
  stream ENV USER PW TO [--count N] [--pause S] [--prefix P] [--keydir D]
                                            submit N messages, one line each
  latency ENV USER PW RENV RUSER RPW [--count N] [--keydir D]
                                            submit on 465 while RUSER IDLEs:
                                            "submit_ms deliver_ms" per message
  vrfy ENV USER                             VRFY on 25 after STARTTLS
  relay-test ENV FROM TO                    port 25 must not relay
  noauth ENV FROM TO                        587 without AUTH is refused
  tls-min ENV PORT VERSION                  a handshake at VERSION fails
  setmetadata ENV USER PW TOKEN             IMAP SETMETADATA devicetoken
  getmetadata ENV USER PW NAME              IMAP GETMETADATA "" NAME: the
                                            value (nothing when NIL)
  genkey DIR EMAIL                          a gpg key for EMAIL in DIR
"""

import argparse
import email
import email.policy
import imaplib
import json
import os
import re
import smtplib
import socket
import ssl
import subprocess
import sys
import time
import uuid

TIMEOUT = 30
# RFC 5464 commands imaplib does not know
imaplib.Commands.setdefault("SETMETADATA", ("AUTH", "SELECTED"))
imaplib.Commands.setdefault("GETMETADATA", ("AUTH", "SELECTED"))


def load_env(path):
    env = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#") or "=" not in line:
                continue
            k, v = line.split("=", 1)
            env[k] = v.strip('"')
    return env


def tls_context(env, alpn=None, maxver=None):
    ctx = ssl.create_default_context(cafile=env["CA"])
    if alpn:
        ctx.set_alpn_protocols([alpn])
    if maxver:
        ctx.maximum_version = maxver
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def port(env, name, default):
    return int(env.get(name, default))


class IMAPS(imaplib.IMAP4_SSL):
    """IMAP over TLS to the relay's address, SNI = its domain."""

    def __init__(self, env, port_, alpn=None):
        self.env = env
        super().__init__(env["DOMAIN"], port_,
                         ssl_context=tls_context(env, alpn),
                         timeout=TIMEOUT)

    def _create_socket(self, timeout):
        sock = socket.create_connection((self.env["ADDR"], self.port),
                                        timeout)
        return self.ssl_context.wrap_socket(
            sock, server_hostname=self.env["DOMAIN"])


class IMAPStartTLS(imaplib.IMAP4):
    def __init__(self, env, port_):
        self.env = env
        super().__init__(env["ADDR"], port_, timeout=TIMEOUT)
        self.starttls(ssl_context=tls_context(env))

    def starttls(self, ssl_context=None):
        # imaplib uses self.host (the address) for SNI; use the domain
        typ, dat = self._simple_command("STARTTLS")
        if typ != "OK":
            raise imaplib.IMAP4.error("STARTTLS failed")
        self.sock = ssl_context.wrap_socket(
            self.sock, server_hostname=self.env["DOMAIN"])
        self.file = self.sock.makefile("rb")
        self._tls_established = True
        self._get_capabilities()
        return typ, dat


def imap(env, via):
    if via == "143":
        return IMAPStartTLS(env, port(env, "IMAP_PORT", 143))
    if via == "443":
        return IMAPS(env, port(env, "HTTPS_PORT", 443), alpn="imap")
    return IMAPS(env, port(env, "IMAPS_PORT", 993))


class SMTPS(smtplib.SMTP_SSL):
    def __init__(self, env, port_, alpn=None, maxver=None):
        self.env = env
        super().__init__(env["ADDR"], port_, timeout=TIMEOUT,
                         context=tls_context(env, alpn, maxver))

    def _get_socket(self, host, port_, timeout):
        sock = socket.create_connection((host, port_), timeout)
        return self.context.wrap_socket(
            sock, server_hostname=self.env["DOMAIN"])


class SMTPStartTLS(smtplib.SMTP):
    def __init__(self, env, port_, tls=True, maxver=None):
        self.env = env
        super().__init__(env["ADDR"], port_, timeout=TIMEOUT)
        self.ehlo("client.example.org")
        if tls:
            self.starttls_sni(tls_context(env, maxver=maxver))

    def starttls_sni(self, ctx):
        code, resp = self.docmd("STARTTLS")
        if code != 220:
            raise smtplib.SMTPResponseException(code, resp)
        self.sock = ctx.wrap_socket(self.sock,
                                    server_hostname=self.env["DOMAIN"])
        self.file = None
        self.helo_resp = self.ehlo_resp = None
        self.esmtp_features = {}
        self.does_esmtp = False
        self.ehlo("client.example.org")


def smtp(env, via, maxver=None):
    if via == "587":
        return SMTPStartTLS(env, port(env, "SUBMISSION_PORT", 587),
                            maxver=maxver)
    if via == "443":
        return SMTPS(env, port(env, "HTTPS_PORT", 443), alpn="smtp")
    return SMTPS(env, port(env, "SMTPS_PORT", 465), maxver=maxver)


def gpg(keydir, *args, data=None):
    r = subprocess.run(["gpg", "--homedir", keydir, "--batch", "--yes",
                        "--no-tty", "--trust-model", "always"] + list(args),
                       input=data, capture_output=True, timeout=60)
    if r.returncode != 0:
        sys.stderr.write(r.stderr.decode(errors="replace"))
        raise SystemExit("gpg failed")
    return r.stdout


def genkey(keydir, addr):
    os.makedirs(keydir, mode=0o700, exist_ok=True)
    gpg(keydir, "--passphrase", "", "--quick-gen-key", f"<{addr}>",
        "ed25519", "default", "never")
    gpg(keydir, "--passphrase", "", "--quick-add-key",
        fingerprint(keydir, addr), "cv25519", "encr", "never")


def fingerprint(keydir, addr):
    out = gpg(keydir, "--with-colons", "--list-keys", addr).decode()
    for line in out.splitlines():
        if line.startswith("fpr:"):
            return line.split(":")[9]
    raise SystemExit("no key for " + addr)


def message(frm, to, msgid, keydir=None, plain=False, subject="[...]"):
    """A Delta Chat-like PGP/MIME message (or a cleartext one), with
    headers the relay must strip."""
    body = (f"Content-Type: text/plain; charset=utf-8\r\n\r\n"
            f"secret e2e payload {msgid}\r\n").encode()
    head = (f"From: <{frm}>\r\n"
            f"To: <{to}>\r\n"
            f"Subject: {subject}\r\n"
            f"Date: {email.utils.formatdate()}\r\n"
            f"Message-ID: <{msgid}>\r\n"
            f"X-Mailer: leaky-mailer 1.0\r\n"
            f"User-Agent: leaky-agent/2.0\r\n"
            f"X-Originating-IP: [192.0.2.99]\r\n"
            f"Received: from secret-client (secret-client [192.0.2.98])\r\n"
            f"MIME-Version: 1.0\r\n")
    if plain:
        return (head + "Content-Type: text/plain\r\n\r\n"
                f"cleartext {msgid}\r\n").encode()
    armored = gpg(keydir, "--armor", "--encrypt", "--recipient", to,
                  data=body).decode().replace("\r\n", "\n")
    armored = armored.replace("\n", "\r\n")
    b = "e2e-" + uuid.uuid4().hex
    return (head +
            f"Content-Type: multipart/encrypted; "
            f"protocol=\"application/pgp-encrypted\"; boundary=\"{b}\"\r\n"
            f"\r\n"
            f"--{b}\r\n"
            f"Content-Type: application/pgp-encrypted\r\n"
            f"Content-Description: PGP/MIME version identification\r\n"
            f"\r\n"
            f"Version: 1\r\n"
            f"\r\n"
            f"--{b}\r\n"
            f"Content-Type: application/octet-stream; name=\"encrypted.asc\"\r\n"
            f"Content-Description: OpenPGP encrypted message\r\n"
            f"Content-Disposition: inline; filename=\"encrypted.asc\"\r\n"
            f"\r\n"
            f"{armored}"
            f"\r\n"
            f"--{b}--\r\n").encode()


def expect(code, want, what):
    """exit 0 if code matches want ("250", "5", "523" ...)"""
    print(f"{what}: {code}")
    return 0 if str(code).startswith(want) else 1


def cmd_new(env, a):
    import http.client
    conn = http.client.HTTPSConnection(env["ADDR"],
                                       port(env, "HTTPS_PORT", 443),
                                       context=tls_context(env),
                                       timeout=TIMEOUT)
    # SNI and Host must be the domain; http.client uses the address
    conn.sock = tls_context(env).wrap_socket(
        socket.create_connection((env["ADDR"],
                                  port(env, "HTTPS_PORT", 443)), TIMEOUT),
        server_hostname=env["DOMAIN"])
    conn.request("POST", "/new", headers={"Host": env["DOMAIN"]})
    r = conn.getresponse()
    data = json.loads(r.read())
    if r.status != 200:
        return 1
    print(data["email"], data["password"])
    return 0


def cmd_capability(env, a):
    m = imap(env, a.via)
    m.login(a.user, a.pw)
    typ, dat = m.capability()
    print(dat[0].decode())
    m.logout()
    return 0 if typ == "OK" else 1


def cmd_login_fails(env, a):
    m = imap(env, "993")
    try:
        m.login(a.user, a.pw)
    except imaplib.IMAP4.error as e:
        print("refused:", e)
        return 0
    print("login succeeded")
    return 1


def cmd_send(env, a):
    msgid = a.msgid or (uuid.uuid4().hex + "@e2e.test")
    data = message(a.sender or a.user, a.to, msgid, a.keydir, a.plain,
                   a.subject)
    try:
        s = smtp(env, a.via)
        s.login(a.user, a.pw)
        s.sendmail(a.sender or a.user, [a.to], data)
        s.quit()
        code = 250
    except smtplib.SMTPRecipientsRefused as e:
        code = list(e.recipients.values())[0][0]
    except smtplib.SMTPResponseException as e:
        code = f"{e.smtp_code} {e.smtp_error.decode(errors='replace')}"
    return expect(code, a.expect, f"send {msgid} via {a.via}")


def dkim_sign(data, domain, keyfile, selector="opendkim"):
    import dkim
    with open(keyfile, "rb") as f:
        key = f.read()
    sig = dkim.sign(data, selector.encode(), domain.encode(), key,
                    include_headers=[b"from", b"to", b"subject",
                                     b"date", b"message-id"])
    return sig + data


def cmd_send25(env, a):
    msgid = a.msgid or (uuid.uuid4().hex + "@e2e.test")
    data = message(a.sender, a.to, msgid, a.keydir, a.plain, a.subject)
    if a.sign_key:
        data = dkim_sign(data, a.sign_domain or a.sender.split("@")[1],
                         a.sign_key)
    try:
        s = SMTPStartTLS(env, port(env, "SMTP_PORT", 25), tls=not a.no_tls)
        s.sendmail(a.sender, [a.to], data)
        s.quit()
        code = 250
    except smtplib.SMTPRecipientsRefused as e:
        r = list(e.recipients.values())[0]
        code = f"{r[0]} {r[1].decode(errors='replace')}"
    except smtplib.SMTPSenderRefused as e:
        code = f"{e.smtp_code} {e.smtp_error.decode(errors='replace')}"
    except smtplib.SMTPResponseException as e:
        code = f"{e.smtp_code} {e.smtp_error.decode(errors='replace')}"
    return expect(code, a.expect, f"port 25 {msgid}")


def find(m, msgid):
    m.select("INBOX")
    typ, dat = m.search(None, "HEADER", "Message-ID", msgid)
    ids = dat[0].split()
    if not ids:
        return None
    typ, dat = m.fetch(ids[-1], "(RFC822)")
    return dat[0][1]


def cmd_fetch(env, a):
    deadline = time.time() + a.timeout
    while time.time() < deadline:
        m = imap(env, a.via)
        m.login(a.user, a.pw)
        raw = find(m, a.msgid)
        m.logout()
        if raw is not None:
            sys.stdout.write(raw.decode(errors="replace")
                             .replace("\r\n", "\n"))
            return 0
        time.sleep(0.5)
    print(f"no message {a.msgid} after {a.timeout}s", file=sys.stderr)
    return 1


def cmd_msgids(env, a):
    """every Message-ID in the user's INBOX, one per line"""
    m = imap(env, "993")
    m.login(a.user, a.pw)
    m.select("INBOX")
    typ, dat = m.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
    m.logout()
    for item in dat:
        if isinstance(item, tuple):
            for line in item[1].decode(errors="replace").splitlines():
                if line.lower().startswith("message-id:"):
                    print(line.split(":", 1)[1].strip().strip("<>"))
    return 0


def cmd_stream(env, a):
    """submit COUNT messages one after another (a new session each, a
    pause between), printing "accepted ID" or "refused ID CODE" per
    message; never retries: only what got 250 counts as accepted"""
    for i in range(a.count):
        msgid = f"{a.prefix}-{i}@e2e.test"
        data = message(a.user, a.to, msgid, a.keydir)
        try:
            s = smtp(env, a.via)
            s.login(a.user, a.pw)
            s.sendmail(a.user, [a.to], data)
            try:
                s.quit()
            except (smtplib.SMTPException, OSError):
                pass
            print("accepted", msgid, flush=True)
        except (smtplib.SMTPException, OSError, ssl.SSLError) as e:
            print("refused", msgid, type(e).__name__, str(e)[:80],
                  flush=True)
        time.sleep(a.pause)
    return 0


def cmd_latency(env, a):
    """COUNT times: the recipient IDLEs on its INBOX, the sender submits
    on 465; prints "submit_ms deliver_ms" per message (deliver = from the
    start of the submission until the IDLE client saw EXISTS)"""
    renv = load_env(a.renv)
    r = imap(renv, "993")
    r.login(a.ruser, a.rpw)
    r.select("INBOX")
    r.sock.settimeout(TIMEOUT)
    for i in range(a.count):
        msgid = f"lat-{uuid.uuid4().hex}@e2e.test"
        data = message(a.user, a.ruser, msgid, a.keydir)
        tag = r._new_tag()
        r.send(tag + b" IDLE\r\n")
        if not r.readline().startswith(b"+"):
            raise SystemExit("IDLE refused")
        t0 = time.monotonic()
        s = smtp(env, "465")
        s.login(a.user, a.pw)
        s.sendmail(a.user, [a.ruser], data)
        t1 = time.monotonic()
        s.quit()
        while b"EXISTS" not in r.readline():
            pass
        t2 = time.monotonic()
        r.send(b"DONE\r\n")
        while not r.readline().startswith(tag):
            pass
        print(f"{(t1 - t0) * 1000:.1f} {(t2 - t0) * 1000:.1f}", flush=True)
        time.sleep(a.pause)
    r.logout()
    return 0


def cmd_vrfy(env, a):
    """as upstream's test_no_vrfy: port 25 after STARTTLS, 252 2.0.0 for
    any address (no user enumeration)"""
    s = SMTPStartTLS(env, port(env, "SMTP_PORT", 25))
    code, resp = s.verify(a.user)
    s.quit()
    if not resp.startswith(b"2.0.0 "):
        code = f"{code} (no 2.0.0)"
    return expect(code, "252", f"VRFY {a.user}: {resp.decode()}")


def cmd_relay_test(env, a):
    s = SMTPStartTLS(env, port(env, "SMTP_PORT", 25))
    s.mail(a.sender)
    code, resp = s.rcpt(a.to)
    s.quit()
    return expect(code, "5", f"RCPT {a.to} from a stranger: "
                  f"{resp.decode()}")


def cmd_noauth(env, a):
    s = SMTPStartTLS(env, port(env, "SUBMISSION_PORT", 587))
    code, resp = s.mail(a.sender)
    if code == 250:
        code, resp = s.rcpt(a.to)
    s.quit()
    return expect(code, "5", f"unauthenticated submission: "
                  f"{resp.decode()}")


def cmd_tls_min(env, a):
    ver = {"1.2": ssl.TLSVersion.TLSv1_2,
           "1.3": ssl.TLSVersion.TLSv1_3}[a.version]
    try:
        if a.port in ("465", "993"):
            p = port(env, "SMTPS_PORT" if a.port == "465" else
                     "IMAPS_PORT", int(a.port))
            ctx = tls_context(env, maxver=ver)
            sock = socket.create_connection((env["ADDR"], p), TIMEOUT)
            t = ctx.wrap_socket(sock, server_hostname=env["DOMAIN"])
            print("handshake ok:", t.version())
            t.close()
        else:
            SMTPStartTLS(env, port(env, "SUBMISSION_PORT", 587),
                         maxver=ver).quit()
            print("handshake ok")
    except (ssl.SSLError, ConnectionError, smtplib.SMTPException) as e:
        print("refused:", e)
        return 0 if a.want == "refused" else 1
    return 0 if a.want == "ok" else 1


def cmd_setmetadata(env, a):
    m = imap(env, "993")
    m.login(a.user, a.pw)
    typ, dat = m._simple_command(
        "SETMETADATA", "INBOX", f'(/private/devicetoken "{a.token}")')
    print(typ, dat)
    m.logout()
    return 0 if typ == "OK" else 1


def cmd_getmetadata(env, a):
    m = imap(env, "993")
    m.login(a.user, a.pw)
    typ, dat = m._simple_command("GETMETADATA", '""', a.name)
    if typ != "OK":
        return 1
    typ, dat = m._untagged_response(typ, dat, "METADATA")
    m.logout()
    for item in dat:
        if isinstance(item, tuple):  # (b'"" (/name {n}', b'value')
            print(item[1].decode())
        elif item is not None:
            found = re.search(rb'\(\S+ (NIL|"(.*)")\)', item)
            if found and found.group(1) != b"NIL":
                print(found.group(2).decode())
    return 0


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("new")
    s.add_argument("env")
    s = sub.add_parser("capability")
    s.add_argument("env"), s.add_argument("user"), s.add_argument("pw")
    s.add_argument("--via", default="993")
    s = sub.add_parser("login-fails")
    s.add_argument("env"), s.add_argument("user"), s.add_argument("pw")
    s = sub.add_parser("send")
    s.add_argument("env"), s.add_argument("user"), s.add_argument("pw")
    s.add_argument("to")
    s.add_argument("--via", default="465")
    s.add_argument("--plain", action="store_true")
    s.add_argument("--from", dest="sender")
    s.add_argument("--msgid")
    s.add_argument("--keydir")
    s.add_argument("--subject", default="[...]")
    s.add_argument("--expect", default="250")
    s = sub.add_parser("send25")
    s.add_argument("env"), s.add_argument("sender"), s.add_argument("to")
    s.add_argument("--msgid")
    s.add_argument("--keydir")
    s.add_argument("--plain", action="store_true")
    s.add_argument("--no-tls", action="store_true")
    s.add_argument("--sign-key")
    s.add_argument("--sign-domain")
    s.add_argument("--subject", default="[...]")
    s.add_argument("--expect", default="250")
    s = sub.add_parser("fetch")
    s.add_argument("env"), s.add_argument("user"), s.add_argument("pw")
    s.add_argument("msgid")
    s.add_argument("--via", default="993")
    s.add_argument("--timeout", type=float, default=30)
    s = sub.add_parser("msgids")
    s.add_argument("env"), s.add_argument("user"), s.add_argument("pw")
    s = sub.add_parser("stream")
    s.add_argument("env"), s.add_argument("user"), s.add_argument("pw")
    s.add_argument("to")
    s.add_argument("--keydir")
    s.add_argument("--via", default="465")
    s.add_argument("--count", type=int, default=50)
    s.add_argument("--pause", type=float, default=0.1)
    s.add_argument("--prefix", default="stream")
    s = sub.add_parser("latency")
    s.add_argument("env"), s.add_argument("user"), s.add_argument("pw")
    s.add_argument("renv"), s.add_argument("ruser"), s.add_argument("rpw")
    s.add_argument("--keydir")
    s.add_argument("--count", type=int, default=20)
    s.add_argument("--pause", type=float, default=0.2)
    s = sub.add_parser("vrfy")
    s.add_argument("env"), s.add_argument("user")
    s = sub.add_parser("relay-test")
    s.add_argument("env"), s.add_argument("sender"), s.add_argument("to")
    s = sub.add_parser("noauth")
    s.add_argument("env"), s.add_argument("sender"), s.add_argument("to")
    s = sub.add_parser("tls-min")
    s.add_argument("env"), s.add_argument("port"), s.add_argument("version")
    s.add_argument("--want", default="refused")
    s = sub.add_parser("setmetadata")
    s.add_argument("env"), s.add_argument("user"), s.add_argument("pw")
    s.add_argument("token")
    s = sub.add_parser("getmetadata")
    s.add_argument("env"), s.add_argument("user"), s.add_argument("pw")
    s.add_argument("name")
    s = sub.add_parser("genkey")
    s.add_argument("dir"), s.add_argument("addr")
    a = p.parse_args()
    if a.cmd == "genkey":
        genkey(a.dir, a.addr)
        return 0
    env = load_env(a.env)
    fn = globals()["cmd_" + a.cmd.replace("-", "_")]
    return fn(env, a)


if __name__ == "__main__":
    sys.exit(main())
