#!/usr/bin/python3
"""soak: the load generator, the fault plan and the checker of the soak
(tests/soak/soak.sh). Debian's python3 (smtplib, imaplib, ssl) and gpg
through tests/integration/relay/relay_client.py; nothing mocked.

  soak.py accounts N ENV...     N fresh accounts on each relay (POST /new,
                                one IMAP login): "ENVINDEX email password"
  soak.py keys KEYDIR ACCOUNTS  a gpg key for every account
  soak.py plan --seed S --kinds K1,K2.. --relays R1,R2 --min-rounds N
          --until SECONDS [--backoff S]
                                the fault schedule, one line per fault:
                                "START KIND RELAY DURATION" (seconds from
                                the start of the load); round 1 one fault at
                                a time, every later round overlapping
  soak.py resources KIND RELAY  what a fault holds (as the plan counts it),
                                one a line, sorted
  soak.py send --accounts F --keydir K --count N --rate R --seed S ENV...
                                N messages at R per second, each with a
                                unique Message-ID, from a random account
                                to a random other one (on the same relay
                                or the other); one line per message on
                                stdout (below); a refused submission is
                                tried again (3 attempts, as a client
                                would), with the same Message-ID
  soak.py check --accounts F --sent LOG [--quiet] [--faults LOG --t0 T]
          ENV...
                                read every mailbox over IMAP and account
                                for every id; prints the result line
                                "sent N, accepted N, delivered N,
                                duplicated N, lost N, longest delay S s";
                                exit 1 when an accepted message is not in
                                its recipient's INBOX (or is in another);
                                with soak.sh's fault log, each duplicate
                                is tied to its attempts and the faults on
                                around it, and counted by cause

send's lines: "accepted ID FROM TO local|federated EPOCH ATTEMPTS" (EPOCH:
the 250 after DATA) or "refused ID FROM TO local|federated ERROR".

PGP/MIME: the payload is encrypted once per recipient key (real gpg) and
reused with a new Message-ID in every message to that recipient; the
relays refuse cleartext.
"""

import argparse
import datetime
import email.utils
import imaplib
import os
import random
import re
import smtplib
import ssl
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "integration", "relay"))
import relay_client as rc  # noqa: E402

ID_RE = re.compile(rb"soak-[0-9]+-[0-9]+@soak\.test")


def load_accounts(path):
    """[(envindex, email, password)]"""
    out = []
    with open(path) as f:
        for line in f:
            idx, user, pw = line.rstrip("\n").split(" ", 2)
            out.append((int(idx), user, pw))
    return out


def cmd_accounts(a):
    for idx, path in enumerate(a.env):
        env = rc.load_env(path)
        for _ in range(a.n):
            user, pw = new_account(env)
            print(idx, user, pw, flush=True)
    return 0


def new_account(env):
    """POST /new (nginx allows 2 a second from one address: wait when it
    says 503), then the first login (which creates the account)"""
    import http.client
    import json
    import socket
    port = int(env.get("HTTPS_PORT", 443))
    for _ in range(30):
        conn = http.client.HTTPSConnection(env["ADDR"], port, timeout=30)
        conn.sock = rc.tls_context(env).wrap_socket(
            socket.create_connection((env["ADDR"], port), 30),
            server_hostname=env["DOMAIN"])
        conn.request("POST", "/new", headers={"Host": env["DOMAIN"]})
        r = conn.getresponse()
        body = r.read()
        conn.close()
        if r.status == 200:
            break
        time.sleep(0.6)
    else:
        raise SystemExit(f"POST /new: {r.status}")
    data = json.loads(body)
    m = rc.imap(env, "993")
    m.login(data["email"], data["password"])
    m.logout()
    return data["email"], data["password"]


def cmd_keys(a):
    for _, user, _ in load_accounts(a.accounts):
        rc.genkey(a.keydir, user)
    return 0


# fault kinds: (resources a fault holds, shortest and longest duration);
# "B" stands for the retry interval (--backoff); a relay's resources are
# prefixed with its name, "dns" is shared
KINDS = {
    "kill-filtermail-outgoing": (["filtermail-outgoing"], 0.5, 3),
    "kill-filtermail-incoming": (["filtermail-incoming"], 0.5, 3),
    "kill-filtermail-transport": (["filtermail-transport"], 0.5, 3),
    "kill-postfix": (["postfix"], 0.5, 3),
    "kill-dovecot": (["dovecot"], 0.5, 3),
    "kill-doveauth": (["doveauth"], 0.5, 3),
    "kill-metadata": (["metadata"], 0.5, 3),
    "volume-full": (["vmail"], 6, 15),
    "peer-down": (["postfix", "nginx"], "1.5B", "2.5B"),
    "dns-outage": (["=dns"], 8, 20),
    # the node (tests/soak/faults-k8s.sh): the Pod made again holds every
    # resource of its relay; the control plane is shared
    "pod-delete": (["=apiserver", "@pod"], 5, 15),
    "apiserver-restart": (["=apiserver", "@pod"], 3, 10),
}
# what "@pod" stands for: every resource of the relay
POD = ["filtermail-outgoing", "filtermail-incoming", "filtermail-transport",
       "postfix", "dovecot", "doveauth", "metadata", "nginx", "vmail"]


def duration(rng, kind, backoff):
    _, lo, hi = KINDS[kind]
    lo = float(lo[:-1]) * backoff if isinstance(lo, str) else lo
    hi = float(hi[:-1]) * backoff if isinstance(hi, str) else hi
    return round(rng.uniform(lo, hi), 1)


def resources(kind, relay):
    names = []
    for r in KINDS[kind][0]:
        names += POD if r == "@pod" else [r]
    return {r[1:] if r.startswith("=") else f"{relay}:{r}" for r in names}


def cmd_resources(a):
    """the resources a fault holds, sorted (the order locks are taken)"""
    if a.kind not in KINDS:
        raise SystemExit(f"soak.py: no fault kind {a.kind}")
    print("\n".join(sorted(resources(a.kind, a.relay))))
    return 0


def cmd_plan(a):
    rng = random.Random(a.seed)
    kinds = a.kinds.split(",")
    relays = a.relays.split(",")
    for k in kinds:
        if k not in KINDS:
            raise SystemExit(f"soak.py: no fault kind {k}")
    plan = []  # (start, kind, relay, dur)
    t = 3.0
    # round 1: one at a time, in a random order
    order = kinds[:]
    rng.shuffle(order)
    for k in order:
        relay = rng.choice(relays)
        d = duration(rng, k, a.backoff)
        plan.append((round(t, 1), k, relay, d))
        t += d + rng.uniform(2, 5)
    rounds = 1
    # later rounds: every kind once more, starting close together so
    # that faults overlap; two faults on one resource never overlap (the
    # later one waits for the first to end)
    while rounds < a.min_rounds or t < a.until * 0.85:
        order = kinds[:]
        rng.shuffle(order)
        start = t
        span = max(10.0, len(kinds) * 2.5)
        busy = []  # (end, resources)
        for k in order:
            relay = rng.choice(relays)
            d = duration(rng, k, a.backoff)
            s = start + rng.uniform(0, span)
            res = resources(k, relay)
            for end, r in sorted(busy):
                if res & r and s < end:
                    s = end + 1
            busy.append((s + d, res))
            plan.append((round(s, 1), k, relay, d))
        t = max(e for e, _ in busy) + rng.uniform(3, 6)
        rounds += 1
    plan.sort()
    for s, k, relay, d in plan:
        print(f"{s:.1f} {k} {relay} {d:.1f}")
    return 0


class Sender:
    """the load: message i is due at t0 + i/rate; W workers take them in
    order, so a stalled submission delays only its own worker"""

    def __init__(self, a):
        self.a = a
        self.envs = [rc.load_env(p) for p in a.env]
        self.accounts = load_accounts(a.accounts)
        self.rng = random.Random(a.seed)
        self.lock = threading.Lock()
        self.next = 0
        self.cipher = {}
        self.jobs = [self.pick(i) for i in range(a.count)]

    def pick(self, i):
        frm = self.rng.choice(self.accounts)
        to = frm
        while to[1] == frm[1]:
            to = self.rng.choice(self.accounts)
        via = self.rng.choice(["465", "465", "587"])
        return (f"soak-{self.a.seed}-{i}@soak.test", frm, to, via)

    def armored(self, to):
        with self.lock:
            if to not in self.cipher:
                body = (b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
                        b"soak payload\r\n")
                arm = rc.gpg(self.a.keydir, "--armor", "--encrypt",
                             "--recipient", to, data=body).decode()
                self.cipher[to] = arm.replace("\r\n", "\n").replace(
                    "\n", "\r\n")
            return self.cipher[to]

    def message(self, msgid, frm, to):
        b = "soak-" + msgid.split("@")[0]
        return (f"From: <{frm}>\r\nTo: <{to}>\r\nSubject: [...]\r\n"
                f"Date: {email.utils.formatdate()}\r\n"
                f"Message-ID: <{msgid}>\r\nChat-Version: 1.0\r\n"
                f"MIME-Version: 1.0\r\n"
                f"Content-Type: multipart/encrypted; "
                f"protocol=\"application/pgp-encrypted\"; "
                f"boundary=\"{b}\"\r\n\r\n"
                f"--{b}\r\nContent-Type: application/pgp-encrypted\r\n"
                f"Content-Description: PGP/MIME version identification\r\n"
                f"\r\nVersion: 1\r\n\r\n"
                f"--{b}\r\nContent-Type: application/octet-stream; "
                f"name=\"encrypted.asc\"\r\n"
                f"Content-Description: OpenPGP encrypted message\r\n"
                f"Content-Disposition: inline; filename=\"encrypted.asc\""
                f"\r\n\r\n{self.armored(to)}\r\n--{b}--\r\n").encode()

    def submit(self, job):
        msgid, (fi, frm, pw), (ti, to, _), via = job
        kind = "local" if fi == ti else "federated"
        data = self.message(msgid, frm, to)
        err = ""
        for attempt in range(1, 4):
            try:
                s = rc.smtp(self.envs[fi], via)
                try:
                    s.login(frm, pw)
                    s.sendmail(frm, [to], data)
                    t = time.time()
                finally:
                    try:
                        s.quit()
                    except (smtplib.SMTPException, OSError):
                        s.close()
                return (f"accepted {msgid} {frm} {to} {kind} {t:.3f} "
                        f"{attempt}")
            except (smtplib.SMTPException, OSError, ssl.SSLError) as e:
                err = f"{type(e).__name__}:{str(e)[:60]}".replace(" ", "_")
                time.sleep(attempt * 1.5)
        return f"refused {msgid} {frm} {to} {kind} {err}"

    def worker(self, t0):
        while True:
            with self.lock:
                i = self.next
                self.next += 1
            if i >= len(self.jobs):
                return
            wait = t0 + i / self.a.rate - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            line = self.submit(self.jobs[i])
            with self.lock:
                print(line, flush=True)

    def run(self):
        for to in {j[2][1] for j in self.jobs}:
            self.armored(to)
        t0 = time.monotonic()
        ts = [threading.Thread(target=self.worker, args=(t0,))
              for _ in range(self.a.workers)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        return 0


def mailbox(env, user, pw, tries=5):
    """[(msgid or None, internaldate epoch, from, raw-if-bounce)] of
    user's INBOX, retried while the relay is recovering; None when it
    cannot be read"""
    for n in range(tries):
        try:
            return read_inbox(env, user, pw)
        except (imaplib.IMAP4.error, OSError, ssl.SSLError) as e:
            if n == tries - 1:
                print(f"# IMAP {user}: {e}", file=sys.stderr)
            else:
                time.sleep(2)
    return None


def read_inbox(env, user, pw):
    m = rc.imap(env, "993")
    m.login(user, pw)
    typ, dat = m.select("INBOX", readonly=True)
    out = []
    if typ == "OK" and int(dat[0]) > 0:
        typ, dat = m.fetch("1:*", "(UID INTERNALDATE BODY.PEEK[HEADER."
                           "FIELDS (MESSAGE-ID FROM)])")
        for item in dat:
            if not isinstance(item, tuple):
                continue
            d = re.search(rb'INTERNALDATE "([^"]+)"', item[0])
            uid = re.search(rb"UID ([0-9]+)", item[0]).group(1)
            when = datetime.datetime.strptime(
                d.group(1).decode(), "%d-%b-%Y %H:%M:%S %z").timestamp()
            mid = re.search(rb"(?im)^message-id:\s*<?([^>\s]+)", item[1])
            frm = re.search(rb"(?im)^from:(.*)$", item[1])
            frm = frm.group(1).decode(errors="replace") if frm else ""
            raw = b""
            if "mailer-daemon" in frm.lower():
                typ, b = m.uid("FETCH", uid, "(BODY.PEEK[])")
                raw = b[0][1] if b and isinstance(b[0], tuple) else b""
            out.append((mid.group(1).decode() if mid else None, when, frm,
                        raw))
    m.logout()
    return out


def read_sent(path):
    sent = {}
    with open(path) as f:
        for line in f:
            w = line.split()
            if len(w) >= 5 and w[0] in ("accepted", "refused"):
                sent[w[1]] = w
    return sent


def read_faults(path, t0):
    """[(on, off, kind, relay)] in epoch seconds from soak.sh's fault log
    ("T+S on|off KIND RELAY rc=..."); a fault never switched off lasts to
    the end"""
    on, out = {}, []
    with open(path) as f:
        for line in f:
            w = line.split()
            if len(w) < 4 or not w[0].startswith("T+"):
                continue
            t, key = t0 + float(w[0][2:]), (w[2], w[3])
            if w[1] == "on":
                on.setdefault(key, []).append(t)
            elif w[1] == "off" and on.get(key):
                out.append((on[key].pop(0), t, w[2], w[3]))
    for (kind, relay), ts in on.items():
        out += [(t, float("inf"), kind, relay) for t in ts]
    return sorted(out)


def explain_dups(ids, sent, found, faults, t0):
    """lines that tie each duplicate to what happened around it: the
    submission's attempts (a client that retries after a lost 250 makes
    a second message), when each copy reached the mailbox, and the
    faults that were on between the first attempt and the first copy
    (the window in which a hop can hand a message on twice)"""
    lines, why = [], {}
    for mid in ids:
        w = sent[mid]
        acc = float(w[5])
        copies = sorted(g[1] for g in found[mid] if g[0] == w[3])
        # a submission retried: the window opens a minute before the 250
        lo, hi = acc - 60, copies[0] + 1
        near = [f for f in faults if f[0] <= hi and f[1] >= lo]
        rel = (lambda t: f"T+{t - t0:.0f}") if t0 else (lambda t: f"{t:.0f}")
        kinds = sorted({f"{f[2]} {f[3]}" for f in near})
        if w[6] != "1":
            cause = "client retry after a lost reply"
        elif kinds:
            cause = "hop retried during " + ", ".join(kinds)
        else:
            cause = "no fault near it"
        why[cause] = why.get(cause, 0) + 1
        lines.append(f"duplicate {mid}: 250 at {rel(acc)} after {w[6]} "
                     f"attempt(s), copies at "
                     f"{', '.join(rel(c) for c in copies)}; faults on: "
                     f"{'; '.join(f'{f[2]} {f[3]} {rel(f[0])}' for f in near) or 'none'}")
    for cause, n in sorted(why.items(), key=lambda x: -x[1]):
        lines.append(f"duplicates: {n} x {cause}")
    return lines


def cmd_check(a):
    envs = [rc.load_env(p) for p in a.env]
    sent = read_sent(a.sent)
    found = {}  # id -> [(user, when)]
    bounced = {}
    unread = []
    for idx, user, pw in load_accounts(a.accounts):
        box = mailbox(envs[idx], user, pw)
        if box is None:
            unread.append(user)
            box = []
        for mid, when, frm, raw in box:
            if raw:
                for b in set(ID_RE.findall(raw)):
                    bounced[b.decode()] = user
            elif mid and mid.startswith("soak-"):
                found.setdefault(mid, []).append((user, when))
    acc = {k: w for k, w in sent.items() if w[0] == "accepted"}
    lost, wrong, dup, delay, worst = [], [], [], 0.0, ""
    for mid, w in acc.items():
        got = found.get(mid, [])
        mine = [g for g in got if g[0] == w[3]]
        if any(g[0] != w[3] for g in got):
            wrong.append(mid)
        if not mine:
            lost.append(mid)
            continue
        if len(mine) > 1:
            dup.append(mid)
        d = min(g[1] for g in mine) - float(w[5])
        if d > delay:
            delay, worst = d, mid
    unacc = [k for k in found if k in sent and sent[k][0] == "refused"]
    print(f"sent {len(sent)}, accepted {len(acc)}, delivered "
          f"{sum(1 for k in acc if k in found)}, duplicated {len(dup)}, "
          f"lost {len(lost)}, longest delay {max(delay, 0):.0f} s")
    if not a.quiet:
        fed = sum(1 for w in acc.values() if w[4] == "federated")
        retried = sum(1 for w in acc.values() if w[6] != "1")
        print(f"# accepted: {len(acc) - fed} local, {fed} federated, "
              f"{retried} after a refused attempt; refused "
              f"{len(sent) - len(acc)}, of them delivered anyway "
              f"{len(unacc)}")
        if worst:
            print(f"# longest delay: {worst} ({sent[worst][4]}), "
                  f"INTERNALDATE (1 s) minus the 250")
        faults = read_faults(a.faults, a.t0) if a.faults else []
        for what, ids in (("lost", lost), ("duplicated", dup),
                          ("in a wrong mailbox", wrong)):
            for mid in ids[:20]:
                print(f"# {what}: {' '.join(sent[mid][1:6])}")
            if what == "duplicated" and ids:
                for line in explain_dups(ids, sent, found, faults, a.t0):
                    print(f"# {line}")
        if unread:
            print(f"# {len(unread)} mailboxes unreadable (their messages "
                  f"count as lost): {' '.join(unread[:5])}")
        for mid, user in list(bounced.items())[:20]:
            print(f"# bounce for {mid} in {user}'s INBOX")
    return 1 if lost or wrong else 0


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("accounts")
    s.add_argument("n", type=int)
    s.add_argument("env", nargs="+")
    s = sub.add_parser("keys")
    s.add_argument("keydir"), s.add_argument("accounts")
    s = sub.add_parser("plan")
    s.add_argument("--seed", type=int, required=True)
    s.add_argument("--kinds", required=True)
    s.add_argument("--relays", required=True)
    s.add_argument("--min-rounds", type=int, default=2)
    s.add_argument("--until", type=float, default=0)
    s.add_argument("--backoff", type=float, default=10)
    s = sub.add_parser("resources")
    s.add_argument("kind"), s.add_argument("relay")
    s = sub.add_parser("send")
    s.add_argument("--accounts", required=True)
    s.add_argument("--keydir", required=True)
    s.add_argument("--count", type=int, required=True)
    s.add_argument("--rate", type=float, required=True)
    s.add_argument("--seed", type=int, required=True)
    s.add_argument("--workers", type=int, default=8)
    s.add_argument("env", nargs="+")
    s = sub.add_parser("check")
    s.add_argument("--accounts", required=True)
    s.add_argument("--sent", required=True)
    s.add_argument("--quiet", action="store_true")
    s.add_argument("--faults", help="soak.sh's fault log: duplicates "
                   "are tied to the faults around them")
    s.add_argument("--t0", type=float, default=0,
                   help="the epoch the fault log's T+ counts from")
    s.add_argument("env", nargs="+")
    a = p.parse_args()
    if a.cmd == "send":
        return Sender(a).run()
    return globals()["cmd_" + a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
