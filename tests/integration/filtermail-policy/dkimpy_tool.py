"""dkimpy_tool: Debian's python3-dkim (dkimpy) as the independent DKIM
implementation of the interop test, with key records fetched from the
test's dnsmasq through dnspython.

  dkimpy_tool.py sign KEY DOMAIN SELECTOR CANON HEADERS [length] <msg >signed
      KEY: PEM RSA key file, or "ed25519:FILE" (base64 32-byte seed);
      CANON: header/body, e.g. relaxed/simple; HEADERS: "default" or a
      comma-separated list (a name twice over-signs it)
  dkimpy_tool.py verify DNSPORT <msg
      prints "pass" (exit 0) or "fail" (exit 1)
  dkimpy_tool.py ed25519 SEEDFILE
      writes a fresh base64 seed to SEEDFILE, prints the public key (base64)
"""
import base64
import sys

import dkim
import dns.resolver


def txt_from(port):
    """a dkimpy dnsfunc asking only 127.0.0.1:port"""
    res = dns.resolver.Resolver(configure=False)
    res.nameservers = ["127.0.0.1"]
    res.port = port
    res.lifetime = 10

    def get_txt(name, timeout=5):
        try:
            ans = res.resolve(name.decode().rstrip("."), "TXT")
        except dns.exception.DNSException:
            return None
        for rd in ans:
            return b"".join(rd.strings)
        return None

    return get_txt


def sign(args):
    keyarg, domain, selector, canon, headers = args[:5]
    length = len(args) > 5 and args[5] == "length"
    msg = sys.stdin.buffer.read()
    alg = b"rsa-sha256"
    if keyarg.startswith("ed25519:"):
        alg = b"ed25519-sha256"
        with open(keyarg[len("ed25519:"):], "rb") as f:
            key = f.read().strip()
    else:
        with open(keyarg, "rb") as f:
            key = f.read()
    hc, bc = canon.split("/")
    include = None
    if headers != "default":
        include = [h.encode() for h in headers.split(",")]
    sig = dkim.sign(msg, selector.encode(), domain.encode(), key,
                    canonicalize=(hc.encode(), bc.encode()),
                    signature_algorithm=alg, include_headers=include,
                    length=length)
    sys.stdout.buffer.write(sig + msg)
    return 0


def verify(args):
    msg = sys.stdin.buffer.read()
    try:
        good = dkim.verify(msg, dnsfunc=txt_from(int(args[0])))
    except dkim.DKIMException as e:
        print("error: %s" % e, file=sys.stderr)
        good = False
    print("pass" if good else "fail")
    return 0 if good else 1


def ed25519(args):
    import nacl.signing
    sk = nacl.signing.SigningKey.generate()
    with open(args[0], "wb") as f:
        f.write(base64.b64encode(bytes(sk)) + b"\n")
    print(base64.b64encode(bytes(sk.verify_key)).decode())
    return 0


def main():
    cmds = {"sign": (sign, 5), "verify": (verify, 1), "ed25519": (ed25519, 1)}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds or \
            len(sys.argv) - 2 < cmds[sys.argv[1]][1]:
        print(__doc__, file=sys.stderr)
        return 64
    fn = cmds[sys.argv[1]][0]
    return fn(sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
