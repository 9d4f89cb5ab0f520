"""dc_bench: Delta Chat core's own view of delivery through our relays,
for tests/bench/bench_relay.sh (run with the venv's python where the
relays' names resolve, as deltachat_check.py).

  dc_bench.py WORKDIR --count N --rounds M --pair LABEL ENV A PA B PB...
      each pair: two accounts A and B of the relay of ENV. Each
      pair is configured and verified (SecureJoin) and warmed up with a
      message each way; then the pairs take turns. Prints one line per
      measurement:
        LABEL send MS       A's send_text to B's IncomingMsg event (N)
        LABEL pingpong MS   A sends, B answers as soon as its
                            IncomingMsg event comes, A's IncomingMsg (M)
"""

import argparse
import os
import sys
import time

import dc


# core sends at most 1 message a second per account after a burst of 3
# (its SMTP ratelimit, context.rs), holding the rest back: each account
# here sends at most once in SPACING seconds, so what is measured is the
# relay and core's receive path, not that queue
SPACING = 1.2
_last = {}


def spaced(acc):
    """wait until ACC may send without meeting core's ratelimit"""
    left = _last.get(acc.id, 0) + SPACING - time.monotonic()
    if left > 0:
        time.sleep(left)
    _last[acc.id] = time.monotonic()


class Pair:
    def __init__(self, dchat, spec):
        self.label, envp, a, pa, b, pb = spec
        env = dc.load_env(envp)
        self.a = dc.configure(dchat, env, a, pa, self.label + "-a")
        self.b = dc.configure(dchat, env, b, pb, self.label + "-b")
        self.ab = dc.verified_pair(self.a, self.b)
        self.ba = self.b.create_chat(self.a)
        self.send(self.ab, self.b)
        self.send(self.ba, self.a)

    @staticmethod
    def send(chat, to):
        """chat.send_text; seconds until TO's IncomingMsg event"""
        spaced(chat.account)
        dc.drain(to)
        t0 = time.monotonic()
        chat.send_text("bench %f" % t0)
        dc.wait_event(to, lambda e: e.kind == "IncomingMsg")
        t = time.monotonic() - t0
        dc.pump(chat.account)  # the sender's side into the log
        return t

    def pingpong(self):
        spaced(self.b)  # both may send now: nothing waits inside
        spaced(self.a)
        dc.drain(self.a)
        dc.drain(self.b)
        t0 = time.monotonic()
        self.ab.send_text("ping %f" % t0)
        dc.wait_event(self.b, lambda e: e.kind == "IncomingMsg")
        self.ba.send_text("pong %f" % t0)
        dc.wait_event(self.a, lambda e: e.kind == "IncomingMsg")
        return time.monotonic() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("workdir")
    ap.add_argument("--count", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--pause", type=float, default=0.2)
    ap.add_argument("--pair", dest="pairs", nargs=6, action="append",
                    required=True,
                    metavar=("LABEL", "ENV", "A", "PA", "B", "PB"))
    a = ap.parse_args()
    rpc, dchat = dc.start(os.path.join(a.workdir, "accounts"),
                          os.path.join(a.workdir, "rpc-server.log"))
    try:
        pairs = [Pair(dchat, p) for p in a.pairs]
        for _ in range(a.count):
            for p in pairs:
                print("%s send %.1f" % (p.label,
                                        p.send(p.ab, p.b) * 1000), flush=True)
                time.sleep(a.pause)
        for _ in range(a.rounds):
            for p in pairs:
                print("%s pingpong %.1f" % (p.label, p.pingpong() * 1000),
                      flush=True)
                time.sleep(a.pause)
    finally:
        rpc.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
