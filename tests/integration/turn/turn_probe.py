#!/usr/bin/env python3
"""turn_probe.py: a small TURN client (RFC 8656 over UDP) that prints the
exact answer codes turnutils_uclient does not show.

  turn_probe.py SERVER PORT USER PASS allocate
        the 401 dance then a signed Allocate; prints "0 <relayed ip:port>"
        on success or the error code (401 wrong/expired credential, ...)
Every allocation made is released (Refresh, LIFETIME 0) before exit.
  turn_probe.py SERVER PORT USER PASS permit PEER_IP PEER_PORT
        Allocate, then CreatePermission for the peer; prints its code
  turn_probe.py SERVER PORT USER PASS flood N
        N allocations from N sockets of one address; prints the codes,
        space-separated (486 once the per-address cap is reached)
  turn_probe.py SERVER PORT - - garbage
        malformed datagrams (truncated, wrong cookie, bad lengths,
        ChannelData without allocation, a bad FINGERPRINT), then a
        Binding request; prints "0" if the server still answers
Exit status 0 when it got answers, 1 on a timeout.
"""
import hashlib
import hmac
import os
import socket
import struct
import sys
import zlib

MAGIC = 0x2112A442


def mtype(method, cls):
    return ((method & 0xF) | ((method & 0x70) << 1) | ((method & 0xF80) << 2)
            | ((cls & 1) << 4) | ((cls & 2) << 7))


def attr(t, v):
    return struct.pack("!HH", t, len(v)) + v + b"\0" * ((4 - len(v) % 4) % 4)


def xaddr(ip, port):
    a = socket.inet_aton(ip)
    m = struct.pack("!I", MAGIC)
    return (b"\0\x01" + struct.pack("!H", port ^ (MAGIC >> 16))
            + bytes(x ^ y for x, y in zip(a, m)))


def fingerprint(hdr_type, body, tid):
    hdr = struct.pack("!HHI", hdr_type, len(body) + 8, MAGIC) + tid
    crc = (zlib.crc32(hdr + body) ^ 0x5354554E) & 0xFFFFFFFF
    return body + attr(0x8028, struct.pack("!I", crc))


def build(method, attrs, key=None):
    tid = os.urandom(12)
    t = mtype(method, 0)
    body = b"".join(attrs)
    if key is not None:
        hdr = struct.pack("!HHI", t, len(body) + 24, MAGIC) + tid
        body += attr(0x0008, hmac.new(key, hdr + body, hashlib.sha1).digest())
    body = fingerprint(t, body, tid)
    return struct.pack("!HHI", t, len(body), MAGIC) + tid + body


def parse(d):
    if len(d) < 20:
        return None
    t, n = struct.unpack("!HH", d[:4])
    cls = ((t >> 4) & 1) | ((t >> 7) & 2)
    attrs, off = {}, 20
    while off + 4 <= 20 + n:
        at, al = struct.unpack("!HH", d[off:off + 4])
        attrs.setdefault(at, d[off + 4:off + 4 + al])
        off += 4 + al + (4 - al % 4) % 4
    code = 0
    if cls == 3 and 0x0009 in attrs:
        e = attrs[0x0009]
        code = e[2] * 100 + e[3]
    return code, attrs, d[8:20]


class Client:
    def __init__(self, server, port, user, password):
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.settimeout(2)
        self.srv = (server, int(port))
        self.user, self.password = user, password
        self.realm = self.nonce = None

    def ask(self, msg):
        for _ in range(3):
            self.s.sendto(msg, self.srv)
            try:
                return parse(self.s.recv(65536))
            except socket.timeout:
                continue
        raise SystemExit("timeout")

    def signed(self, method, attrs):
        if self.nonce is None:
            code, a, _ = self.ask(build(method, attrs))
            if code != 401:
                return code, a
            self.realm, self.nonce = a[0x0014], a[0x0015]
        key = hashlib.md5(self.user.encode() + b":" + self.realm + b":"
                          + self.password.encode()).digest()
        auth = [attr(0x0006, self.user.encode()), attr(0x0014, self.realm),
                attr(0x0015, self.nonce)]
        code, a, _ = self.ask(build(method, attrs + auth, key))
        if code == 438:  # stale nonce: once more with the new one
            self.nonce = a[0x0015]
            code, a, _ = self.ask(build(method, attrs + auth[:2]
                                        + [attr(0x0015, self.nonce)], key))
        return code, a

    def allocate(self):
        return self.signed(0x003, [attr(0x0019, b"\x11\0\0\0")])

    def release(self):
        """Refresh with LIFETIME 0: the allocation is gone at once"""
        if self.nonce is not None:
            self.signed(0x004, [attr(0x000D, b"\0\0\0\0")])


def relayed(a, tid_unused=None):
    v = a.get(0x0016)
    if v is None:
        return "?"
    port = struct.unpack("!H", v[2:4])[0] ^ (MAGIC >> 16)
    ip = bytes(x ^ y for x, y in zip(v[4:8], struct.pack("!I", MAGIC)))
    return "%s:%d" % (socket.inet_ntoa(ip), port)


def garbage(server, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    good = build(0x001, [])
    bad = [
        b"", b"\x00", good[:19], good[:-1], good + b"\0",
        b"\x00\x01\x00\x00\x21\x12\xa4\x43" + good[8:20],     # cookie
        b"\x00\x01\x00\x04" + good[4:20] + b"\x00\x06\x00\x40",  # attr len
        b"\x00\x01\x00\x03" + good[4:20] + b"abc",           # odd length
        good[:-1] + bytes([good[-1] ^ 1]),                   # FINGERPRINT
        b"\x40\x00\x00\x04abcd", b"\x40\x00\xff\xffab",       # ChannelData
        b"\xff" * 1400, os.urandom(600),
    ]
    for d in bad:
        s.sendto(d, (server, int(port)))
    # the server answered none of these (no reply but to valid STUN) ...
    try:
        s.recv(65536)
        return 1
    except socket.timeout:
        pass
    # ... and still answers a valid Binding
    s.sendto(good, (server, int(port)))
    r = parse(s.recv(65536))
    return 0 if r is not None and r[0] == 0 else 1


def main():
    server, port, user, password, cmd = sys.argv[1:6]
    args = sys.argv[6:]
    if cmd == "garbage":
        print(garbage(server, port))
        return 0
    if cmd == "allocate":
        c = Client(server, port, user, password)
        code, a = c.allocate()
        print(code, relayed(a) if code == 0 else "")
        if code == 0:
            c.release()
        return 0
    if cmd == "permit":
        c = Client(server, port, user, password)
        code, a = c.allocate()
        if code == 0:
            code, a = c.signed(0x008, [attr(0x0012, xaddr(args[0], int(args[1])))])
            c.release()
        print(code)
        return 0
    if cmd == "flood":
        clients = [Client(server, port, user, password) for _ in range(int(args[0]))]
        codes = [c.allocate()[0] for c in clients]
        print(" ".join(str(c) for c in codes))
        for c, code in zip(clients, codes):
            if code == 0:
                c.release()
        return 0
    raise SystemExit("unknown command " + cmd)


if __name__ == "__main__":
    sys.exit(main())
