#!/usr/bin/python3
"""probe: adversarial SMTP and IMAP sessions against a local relay, for
tests/integration/security/test_*.sh. Raw sockets (with Python's ssl for
TLS), so the bytes on the wire are exactly the ones under test; the
relay's helpers (TLS context, PGP/MIME messages, DKIM signing) come from
tests/integration/relay/relay_client.py.

  smuggle ENV --via 25|465|587|443|direct:HOST:PORT --variant NAME
          --from F --to T --outer ID --inner ID [--user U --pw P]
          [--keydir D] [--sign-key PEM --sign-domain DOM]
      one DATA whose body carries the end-of-data look-alike NAME
      (VARIANTS) followed by a whole second transaction (MAIL, RCPT,
      DATA, a valid message with Message-ID INNER, "."); prints every
      reply and a last line "verdict: accepted|refused CODE|closed"
  ask ENV --via 25|587|465 [--user U --pw P] [--from F] LINE...
      send each LINE as a command (after EHLO, STARTTLS/TLS and the
      optional AUTH), print "LINE -> reply" per line
  authfail ENV --via 587|465|993|143 USER PW
      one failing login; prints "secs code text"
  pretls ENV --via 587|25|143
      what the server offers and answers before TLS: prints the EHLO/
      CAPABILITY and the answer to AUTH PLAIN / LOGIN
  plainwrap ENV PORT
      plaintext SMTP/IMAP (EHLO, AUTH PLAIN, LOGIN) to a port that
      wants TLS from the first byte; prints what came back; exit 0 when
      no protocol answer did (the credentials never met a parser)
  oversize ENV --via 587|465 --what line|header|message [--size N]
      [--user U --pw P --from F --to T --keydir D]
      oversized command lines (a MAIL and a RCPT path of SIZE bytes, then
      NOOP), header or message; prints the replies
"""

import argparse
import base64
import os
import socket
import ssl
import sys
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "relay"))
import relay_client as rcl  # noqa: E402

TIMEOUT = 30

# the end-of-data look-alikes of the 2023 SMTP smuggling class: what
# goes between the message's last line and the smuggled "MAIL FROM"
VARIANTS = {
    "lf.lf": b"\n.\n",
    "lf.crlf": b"\n.\r\n",
    "crlf.lf": b"\r\n.\n",
    "cr.cr": b"\r.\r",
    "cr.crlf": b"\r.\r\n",
    "crlf.cr": b"\r\n.\r",
    "lf.cr": b"\n.\r",
    "cr.lf": b"\r.\n",
}


class Conn:
    """one SMTP or IMAP connection; replies read line by line"""

    def __init__(self, env, port_, wrap=False, alpn=None, host=None):
        self.env = env
        self.sock = socket.create_connection((host or env["ADDR"], port_),
                                             TIMEOUT)
        self.buf = b""
        if wrap:
            self.tls(alpn)

    def tls(self, alpn=None):
        ctx = rcl.tls_context(self.env, alpn)
        self.sock = ctx.wrap_socket(self.sock,
                                    server_hostname=self.env["DOMAIN"])

    def send(self, data):
        self.sock.sendall(data)

    def line(self):
        while b"\n" not in self.buf:
            try:
                d = self.sock.recv(65536)
            except (ConnectionError, ssl.SSLError, socket.timeout):
                d = b""
            if not d:
                raise EOFError("closed")
            self.buf += d
        ln, self.buf = self.buf.split(b"\n", 1)
        return ln.rstrip(b"\r").decode(errors="replace")

    def reply(self):
        """an SMTP reply: (code, text of all its lines)"""
        lines = []
        while True:
            ln = self.line()
            lines.append(ln)
            if len(ln) < 4 or ln[3] != "-":
                break
        code = int(lines[-1][:3]) if lines[-1][:3].isdigit() else 0
        return code, " / ".join(lines)

    def cmd(self, text):
        self.send(text.encode() + b"\r\n")
        return self.reply()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def smtp_open(env, via, user=None, pw=None):
    """a session after greeting, EHLO, TLS and AUTH as the port needs"""
    if via.startswith("direct:"):
        _, host, p = via.split(":")
        c = Conn(env, int(p), host=host)
        c.reply()
        c.cmd("EHLO probe.example.org")
        return c
    ports = {"25": ("SMTP_PORT", 25, False, None),
             "587": ("SUBMISSION_PORT", 587, False, None),
             "465": ("SMTPS_PORT", 465, True, None),
             "443": ("HTTPS_PORT", 443, True, "smtp")}
    key, default, wrap, alpn = ports[via]
    c = Conn(env, rcl.port(env, key, default), wrap, alpn)
    c.reply()
    c.cmd("EHLO probe.example.org")
    if not wrap:
        code, text = c.cmd("STARTTLS")
        if code != 220:
            raise SystemExit(f"STARTTLS: {text}")
        c.tls()
        c.cmd("EHLO probe.example.org")
    if user:
        tok = base64.b64encode(f"\0{user}\0{pw}".encode()).decode()
        code, text = c.cmd("AUTH PLAIN " + tok)
        if code != 235:
            raise SystemExit(f"AUTH: {text}")
    return c


def msg_bytes(a, frm, to, msgid):
    data = rcl.message(frm, to, msgid, a.keydir, a.keydir is None)
    if a.sign_key:
        data = rcl.dkim_sign(data, a.sign_domain, a.sign_key)
    return data


def cmd_smuggle(env, a):
    inner = msg_bytes(a, a.sender, a.to, a.inner)
    outer = msg_bytes(a, a.sender, a.to, a.outer)
    # the smuggled transaction goes after the outer message's last line
    body = (outer.rstrip(b"\r\n") + VARIANTS[a.variant] +
            f"MAIL FROM:<{a.sender}>\r\nRCPT TO:<{a.to}>\r\nDATA\r\n"
            .encode() + inner)
    c = smtp_open(env, a.via, a.user, a.pw)
    verdict = "closed"
    try:
        for what in (f"MAIL FROM:<{a.sender}>", f"RCPT TO:<{a.to}>"):
            code, text = c.cmd(what)
            print(f"{what} -> {text}")
            if code >= 400:
                raise SystemExit(f"verdict: setup refused {code}")
        code, text = c.cmd("DATA")
        print(f"DATA -> {text}")
        # the only CRLF.CRLF: the smuggled message's end is the real one
        c.send(body + b".\r\n")
        code, text = c.reply()
        print(f"end of data -> {text}")
        verdict = "accepted" if code == 250 else f"refused {code}"
        # whatever else the server answers: a second 250 would be the
        # smuggled message (the mailbox check is the real judge)
        c.send(b"QUIT\r\n")
        while True:
            code, text = c.reply()
            print(f"then -> {text}")
            if code == 250:
                verdict += " +250"
    except EOFError:
        pass
    finally:
        c.close()
    print(f"verdict: {verdict}")
    return 0


def cmd_ask(env, a):
    c = smtp_open(env, a.via, a.user, a.pw)
    try:
        for ln in a.lines:
            try:
                code, text = c.cmd(ln)
            except EOFError:
                text = "closed"
            print(f"{ln} -> {text}")
    finally:
        c.close()
    return 0


def cmd_authfail(env, a):
    t0 = time.monotonic()
    if a.via in ("993", "143"):
        if a.via == "993":
            c = Conn(env, rcl.port(env, "IMAPS_PORT", 993), True)
            c.line()
        else:
            c = Conn(env, rcl.port(env, "IMAP_PORT", 143))
            c.line()
            c.send(b"s STARTTLS\r\n")
            c.line()
            c.tls()
        t0 = time.monotonic()
        c.send(f"a LOGIN \"{a.user}\" \"{a.pw}\"\r\n".encode())
        while True:
            ln = c.line()
            if ln.startswith("a "):
                break
        took = time.monotonic() - t0
        print(f"{took:.2f} {ln[2:]}")
        c.close()
        return 0
    c = smtp_open(env, a.via)
    tok = base64.b64encode(f"\0{a.user}\0{a.pw}".encode()).decode()
    t0 = time.monotonic()
    code, text = c.cmd("AUTH PLAIN " + tok)
    took = time.monotonic() - t0
    print(f"{took:.2f} {text}")
    c.close()
    return 0


def cmd_pretls(env, a):
    tok = base64.b64encode(b"\0someone\0secret-password").decode()
    if a.via == "143":
        c = Conn(env, rcl.port(env, "IMAP_PORT", 143))
        print("greeting:", c.line())
        c.send(b"c CAPABILITY\r\n")
        while True:
            ln = c.line()
            print("capability:", ln)
            if ln.startswith("c "):
                break
        for cmd in ("l LOGIN someone secret-password",
                    "p AUTHENTICATE PLAIN " + tok):
            c.send(cmd.encode() + b"\r\n")
            tag = cmd.split()[0] + " "
            while True:
                ln = c.line()
                if ln.startswith(tag) or ln.startswith("+"):
                    break
            print(f"{cmd.split()[1]} -> {ln}")
            if ln.startswith("+"):
                c.send(b"*\r\n")
                c.line()
        c.close()
        return 0
    key = {"25": ("SMTP_PORT", 25), "587": ("SUBMISSION_PORT", 587)}[a.via]
    c = Conn(env, rcl.port(env, *key))
    c.reply()
    code, text = c.cmd("EHLO probe.example.org")
    print(f"ehlo: {text}")
    for cmd in ("AUTH PLAIN " + tok, "AUTH LOGIN",
                "MAIL FROM:<someone@example.org>"):
        try:
            code, text = c.cmd(cmd)
        except EOFError:
            text = "closed"
        print(f"{cmd.split(':')[0].split(' ')[0]} {cmd.split(' ')[1]} -> "
              f"{text}")
    c.close()
    return 0


def cmd_plainwrap(env, a):
    tok = base64.b64encode(b"\0someone\0secret-password").decode()
    c = Conn(env, a.port)
    c.sock.settimeout(3)
    got = b""
    try:
        c.send(f"EHLO probe.example.org\r\nAUTH PLAIN {tok}\r\n"
               "a LOGIN someone secret-password\r\n".encode())
        while len(got) < 4096:
            d = c.sock.recv(4096)
            if not d:
                break
            got += d
    except (OSError, socket.timeout):
        pass
    c.close()
    print(f"port {a.port} answered {got[:200]!r}")
    spoke = any(ln[:3] in (b"220", b"250", b"334", b"235", b"* O", b"a O")
                for ln in got.split(b"\n"))
    return 1 if spoke else 0


def cmd_oversize(env, a):
    c = smtp_open(env, a.via, a.user, a.pw)
    try:
        if a.what == "line":
            # paths of SIZE bytes: RFC 5321 allows 256 (4.5.3.1.3) in a
            # command line of 512; Postfix reads 2048 and cuts the rest
            long = "x" * a.size
            for cmd in (f"MAIL FROM:<{long}@example.org>",
                        f"MAIL FROM:<{a.sender}>",
                        f"RCPT TO:<{long}@example.org>",
                        "NOOP"):
                code, text = c.cmd(cmd)
                print(f"{cmd[:14]}...({len(cmd)} bytes) -> {text}")
            return 0
        for what in (f"MAIL FROM:<{a.sender}>", f"RCPT TO:<{a.to}>",
                     "DATA"):
            code, text = c.cmd(what)
            if code >= 400:
                print(f"{what} -> {text}")
                return 1
        msgid = uuid.uuid4().hex + "@e2e.test"
        data = rcl.message(a.sender, a.to, msgid, a.keydir, False)
        if a.what == "header":
            # one header of SIZE bytes, folded into 76-byte lines
            fold = "\r\n ".join("h" * 70 for _ in range(a.size // 70))
            data = f"X-Big: {fold}\r\n".encode() + data
        else:
            pad = ("\r\n".join("x" * 76 for _ in range(a.size // 78))
                   + "\r\n").encode()
            head, body = data.split(b"\r\n\r\n", 1)
            data = head + b"\r\nX-Pad: 1\r\n\r\n" + body + pad
        c.send(data + b".\r\n")
        code, text = c.reply()
        print(f"{a.what} of {a.size} -> {text}")
    except EOFError:
        print(f"{a.what} of {a.size} -> closed")
    finally:
        c.close()
    return 0


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("smuggle")
    s.add_argument("env")
    s.add_argument("--via", required=True)
    s.add_argument("--variant", required=True, choices=sorted(VARIANTS))
    s.add_argument("--from", dest="sender", required=True)
    s.add_argument("--to", required=True)
    s.add_argument("--outer", required=True)
    s.add_argument("--inner", required=True)
    s.add_argument("--user")
    s.add_argument("--pw")
    s.add_argument("--keydir")
    s.add_argument("--sign-key")
    s.add_argument("--sign-domain")
    s = sub.add_parser("ask")
    s.add_argument("env")
    s.add_argument("--via", required=True)
    s.add_argument("--user")
    s.add_argument("--pw")
    s.add_argument("lines", nargs="+")
    s = sub.add_parser("authfail")
    s.add_argument("env")
    s.add_argument("--via", required=True)
    s.add_argument("user")
    s.add_argument("pw")
    s = sub.add_parser("pretls")
    s.add_argument("env")
    s.add_argument("--via", required=True)
    s = sub.add_parser("plainwrap")
    s.add_argument("env")
    s.add_argument("port", type=int)
    s = sub.add_parser("oversize")
    s.add_argument("env")
    s.add_argument("--via", required=True)
    s.add_argument("--what", required=True,
                   choices=("line", "header", "message"))
    s.add_argument("--size", type=int, default=8192)
    s.add_argument("--user")
    s.add_argument("--pw")
    s.add_argument("--from", dest="sender")
    s.add_argument("--to")
    s.add_argument("--keydir")
    a = ap.parse_args()
    env = rcl.load_env(a.env)
    return globals()["cmd_" + a.cmd](env, a)


if __name__ == "__main__":
    sys.exit(main())
