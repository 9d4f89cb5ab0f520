#!/usr/bin/python3
"""mx_fake.py: misbehaving /mxdeliv servers and a failing DNS server for
tests/integration/relay/test_transport.sh, run in a network namespace of
the test's own.

    mx_fake.py ADDR CERTDIR LOG

HTTPS on ADDR:443 (the test CA's certificates from CERTDIR), one
behaviour per server name (SNI, then Host):
  garbage.test    200 with a body that is no SMTP reply
  redirect.test   302 to https://redirect.test/followed (a request for
                  /followed would show the redirect was followed)
  huge.test       200 with 8 MiB of body
  slow.test       reads the request, then answers nothing for 60 s
  wrongname.test  presents a certificate for other.test (and would
                  answer "250 OK" if a client went on regardless)
DNS on ADDR:5353 (UDP): SERVFAIL to every question (dnsmasq forwards a
zone here). Every request is logged to LOG as one line "HOST METHOD PATH
BYTES". Stops on SIGTERM.
"""
import http.server
import os
import socket
import ssl
import sys
import threading
import time

ADDR, CERTDIR, LOG = sys.argv[1:4]
LOCK = threading.Lock()


def log(line):
    with LOCK, open(LOG, "a") as f:
        f.write(line + "\n")


def context(name):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(CERTDIR, name + ".pem"),
                        os.path.join(CERTDIR, name + ".key"))
    return ctx


MAIN = context("fake")
WRONG = context("wrong")


def pick(sslobj, server_name, ctx):
    if server_name == "wrongname.test":
        sslobj.context = WRONG


MAIN.sni_callback = pick


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def answer(self, status, body, extra=()):
        self.send_response(status)
        for k, v in extra:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        data = self.rfile.read(n)
        host = (self.headers.get("Host") or "").split(":")[0]
        log("%s %s %s %d" % (host, self.command, self.path, len(data)))
        if host == "garbage.test":
            self.answer(200, b"<html>hello, this is no SMTP reply</html>")
        elif host == "redirect.test":
            self.answer(302, b"", [("Location",
                                    "https://redirect.test/followed")])
        elif host == "huge.test":
            self.answer(200, b"250 OK " + b"x" * (8 << 20))
        elif host == "slow.test":
            time.sleep(60)
        else:
            self.answer(200, b"250 OK")

    do_GET = do_POST


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def get_request(self):
        sock, addr = super().get_request()
        return MAIN.wrap_socket(sock, server_side=True), addr


def dns_servfail():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((ADDR, 5353))
    while True:
        q, peer = s.recvfrom(4096)
        end = 12
        while end < len(q) and q[end] != 0:
            end += 1 + q[end]
        end += 5  # the root label, QTYPE, QCLASS
        if len(q) < end:
            continue
        # the question back, QR set, RCODE 2 (SERVFAIL), no records
        r = bytearray(q[:end])
        r[2] = 0x80 | (q[2] & 0x01)
        r[3] = 0x80 | 2
        r[6:12] = b"\0" * 6
        log("dns SERVFAIL %d" % len(q))
        s.sendto(bytes(r), peer)


threading.Thread(target=dns_servfail, daemon=True).start()
Server((ADDR, 443), Handler).serve_forever()
