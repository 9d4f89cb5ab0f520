#!/usr/bin/python3
"""idle_conns: many IMAP clients at rest on our relays, for
bench_idle_cpu.sh. Each relay gets N connections over IMAPS (TLS with
the relay's certificate, SNI its domain), ten per account (Dovecot's
mail_max_userip_connections), each LOGIN, SELECT INBOX, IDLE, then
nothing but reading what the server sends (keepalives). asyncio, Debian's
python3 and its ssl; accounts through the relay's POST /new.

  idle_conns.py --per-relay N ENV...

Prints "idle N" for each relay once all its connections are in IDLE,
then "all idle", and holds them until its standard input closes; then it
hangs up and prints "closed". Exit 1 if a connection cannot be set up
(printed with the reason).
"""

import argparse
import asyncio
import json
import os
import resource
import ssl
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "integration", "relay"))
import relay_client as rc  # noqa: E402

PER_ACCOUNT = 10
CONNECT_PARALLEL = 50


def quote(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


async def new_account(env, ctx):
    """POST /new on the relay: (email, password). The relay allows 2 a
    second from one address (upstream's nginx limit_req): a refusal is
    retried after half a second, at most 100 times"""
    for _ in range(100):
        r, w = await asyncio.open_connection(
            env["ADDR"], int(env.get("HTTPS_PORT", 443)), ssl=ctx,
            server_hostname=env["DOMAIN"])
        w.write(("POST /new HTTP/1.0\r\nHost: %s\r\nContent-Length: 0"
                 "\r\n\r\n" % env["DOMAIN"]).encode())
        data = await r.read()
        w.close()
        head, _, body = data.partition(b"\r\n\r\n")
        if head.split(b" ", 2)[1:2] == [b"200"]:
            d = json.loads(body)
            return d["email"], d["password"]
        await asyncio.sleep(0.5)
    raise ConnectionError("POST /new refused 100 times")


async def expect(r, tag):
    while True:
        line = await r.readline()
        if not line:
            raise ConnectionError("closed before %s" % tag)
        if line.startswith(tag.encode() + b" "):
            if b" OK" not in line:
                raise ConnectionError(line.decode(errors="replace").strip())
            return


class Conn:
    def __init__(self, env, ctx, user, pw):
        self.env, self.ctx, self.user, self.pw = env, ctx, user, pw

    async def open(self):
        self.r, self.w = await asyncio.open_connection(
            self.env["ADDR"], int(self.env.get("IMAPS_PORT", 993)),
            ssl=self.ctx, server_hostname=self.env["DOMAIN"], limit=1 << 16)
        await self.r.readline()
        self.w.write(("a LOGIN %s %s\r\n" % (quote(self.user),
                                             quote(self.pw))).encode())
        await expect(self.r, "a")
        self.w.write(b"b SELECT INBOX\r\n")
        await expect(self.r, "b")
        self.w.write(b"c IDLE\r\n")
        line = await self.r.readline()
        if not line.startswith(b"+"):
            raise ConnectionError("IDLE: %r" % line)

    async def rest(self):
        """read keepalives until the connection goes away"""
        try:
            while await self.r.readline():
                pass
        except (ConnectionError, ssl.SSLError):
            pass

    def close(self):
        try:
            self.w.close()
        except Exception:  # noqa: BLE001 - hanging up regardless
            pass


async def relay_conns(envp, n):
    env = rc.load_env(envp)
    ctx = rc.tls_context(env)
    accounts = []
    for _ in range((n + PER_ACCOUNT - 1) // PER_ACCOUNT):
        accounts.append(await new_account(env, ctx))
    conns = [Conn(env, ctx, *accounts[i // PER_ACCOUNT]) for i in range(n)]
    sem = asyncio.Semaphore(CONNECT_PARALLEL)

    async def one(c):
        async with sem:
            await c.open()
    await asyncio.gather(*(one(c) for c in conns))
    print("idle %d %s" % (n, env["DOMAIN"]), flush=True)
    return conns


async def main_async(a):
    groups = await asyncio.gather(*(relay_conns(e, a.per_relay)
                                    for e in a.envs))
    conns = [c for g in groups for c in g]
    print("all idle", flush=True)
    resting = [asyncio.ensure_future(c.rest()) for c in conns]
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)
    for c in conns:
        c.close()
    for t in resting:
        t.cancel()
    print("closed", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-relay", type=int, default=1000)
    ap.add_argument("envs", nargs="+")
    a = ap.parse_args()
    want = a.per_relay * len(a.envs) + 256
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(want, soft),
                                                    max(want, hard)))
    try:
        asyncio.run(main_async(a))
    except (ConnectionError, OSError, ssl.SSLError) as e:
        print("idle_conns: %s" % e, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
