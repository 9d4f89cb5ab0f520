#!/usr/bin/python3
"""gen_maildirs: generate a chatmail mailboxes_dir for tests and benchmarks.

    gen_maildirs.py DIR --users N --files F [--seed S] [--odd OUTSIDE]

Creates N mailboxes <user>@example.org under DIR (which must not exist),
about F files in total, deterministic for a seed. Each mailbox has a
password file (mtime = last login: mostly recent, some older than 90 days,
some missing), maildirsize, dovecot index files, and messages with Dovecot
names "<ts>.M<n>P<pid>.host,S=<size>,W=<size>:2,S" in cur/, new/, tmp/ and
in the subfolders .Sent/ and .DeltaChat/, with mtimes spread over 0-30
days (never within an hour of the 7/20/90-day limits, so a test run a few
minutes later sees the same verdicts). Large messages (> 200000 bytes)
are sparse files. A few ci- accounts, a few over-quota mailboxes (S=
sizes summing past 1 MiB) and a few empty directories are included.

--odd OUTSIDE adds the awkward cases for tree tests: odd names, symlinks
pointing into OUTSIDE (a mailbox, a folder, a message, inside an inactive
mailbox) and a non-mailbox entry. Prints a one-line summary.
"""
import argparse
import os
import random
import time

DAY = 86400
NOW = time.time()


def age(rnd, lo, hi):
    """a random age in days in [lo, hi), kept an hour away from limits"""
    while True:
        d = rnd.uniform(lo, hi)
        if all(abs(d - lim) > 1 / 24 for lim in (1, 7, 20, 90)):
            return d


def put(path, size, days, sparse=False):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    if sparse:
        os.ftruncate(fd, size)
    elif size:
        os.write(fd, b"x" * size)
    os.close(fd)
    t = NOW - days * DAY
    os.utime(path, (t, t))


class Gen:
    def __init__(self, base, seed):
        self.base = base
        self.rnd = random.Random(seed)
        self.files = 0
        self.seq = 0

    def message(self, folder, sub, days, size, qsize=None):
        self.seq += 1
        ts = int(NOW - days * DAY)
        q = size if qsize is None else qsize
        name = f"{ts}.M{self.seq}P{4242 + self.seq % 97}.host,S={q},W={q}:2,S"
        put(os.path.join(folder, sub, name), size, days, sparse=size > 4096)
        self.files += 1

    def folder(self, path, nmsg):
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(path, sub), exist_ok=True)
        rnd = self.rnd
        for _ in range(nmsg):
            sub = rnd.choices(("cur", "new", "tmp"), (8, 3, 1))[0]
            if rnd.random() < 0.03:
                self.message(path, sub, age(rnd, 0, 30), rnd.randint(200001, 900000))
            else:
                self.message(path, sub, age(rnd, 0, 30), rnd.randint(0, 120))

    def mailbox(self, name, nfiles):
        rnd = self.rnd
        mb = os.path.join(self.base, name)
        os.mkdir(mb, 0o700)
        r = rnd.random()
        if r < 0.01:
            login = None
        elif r < 0.06:
            login = age(rnd, 91, 200)
        else:
            login = age(rnd, 0, 60)
        if login is not None:
            put(os.path.join(mb, "password"), 106, login)
            self.files += 1
        for extra in ("maildirsize", "dovecot.index.log", "dovecot-uidlist"):
            put(os.path.join(mb, extra), 20, 0)
            self.files += 1
        n = max(0, nfiles - 4)
        top = n * 3 // 4
        self.folder(mb, top)
        self.folder(os.path.join(mb, ".Sent"), (n - top) // 2)
        self.folder(os.path.join(mb, ".DeltaChat"), n - top - (n - top) // 2)

    def fat(self, name, nmsg):
        """an active mailbox whose S= sizes pass 1 MiB (quota trim)"""
        mb = os.path.join(self.base, name)
        os.mkdir(mb, 0o700)
        put(os.path.join(mb, "password"), 106, 1.5)
        put(os.path.join(mb, "maildirsize"), 20, 0)
        self.files += 2
        self.folder(mb, 0)
        for i in range(nmsg):
            self.message(mb, "cur" if i % 2 else "new", 2 + i * 0.5, 10, qsize=200000)
        # young ones are protected by the 24 h guard
        self.message(mb, "new", 0.2, 10, qsize=300000)

    def odd(self, outside):
        b = self.base
        os.makedirs(os.path.join(outside, "victimdir", "cur"), exist_ok=True)
        put(os.path.join(outside, "victim"), 10, 100)
        put(os.path.join(outside, "victimdir", "cur", "1.x,S=5"), 5, 100)
        for name in ("we ird'\"$ name@example.org", "-dash@example.org",
                     "new\nline@example.org", "\u00fc\u00f1\u00ed@example.org"):
            self.mailbox(name, 12)
        os.symlink(os.path.join(outside, "victimdir"), os.path.join(b, "evil@example.org"))
        mb = os.path.join(b, "links@example.org")
        os.mkdir(mb)
        put(os.path.join(mb, "password"), 106, 1)
        self.folder(mb, 3)
        os.symlink(os.path.join(outside, "victim"), os.path.join(mb, "cur", "linkold"))
        os.symlink(os.path.join(outside, "victimdir"), os.path.join(mb, ".Linked"))
        self.message(mb, "cur", 25, 10)
        mb = os.path.join(b, "gone@example.org")
        os.mkdir(mb)
        put(os.path.join(mb, "password"), 106, 120)
        os.makedirs(os.path.join(mb, "cur"))
        os.symlink(os.path.join(outside, "victimdir"), os.path.join(mb, "cur", "dirlink"))
        os.symlink(os.path.join(outside, "victim"), os.path.join(mb, "filelink"))
        os.makedirs(os.path.join(b, "not-a-mailbox", "cur"))
        put(os.path.join(b, "not-a-mailbox", "cur", "1.x,S=5"), 5, 100)
        put(os.path.join(b, "stray@file"), 5, 100)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--users", type=int, default=100)
    ap.add_argument("--files", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--odd", metavar="OUTSIDE")
    a = ap.parse_args()
    os.makedirs(a.dir)
    g = Gen(a.dir, a.seed)
    per = max(4, a.files // max(1, a.users))
    nfat = max(1, a.users // 100)
    for i in range(a.users - nfat - 2):
        prefix = "ci-" if i % 50 == 7 else ""
        g.mailbox(f"{prefix}u{i:06d}@example.org", per)
    for i in range(nfat):
        g.fat(f"fat{i:04d}@example.org", 12)
    os.mkdir(os.path.join(a.dir, "empty1@example.org"))
    os.makedirs(os.path.join(a.dir, "nopass@example.org", "cur"))
    if a.odd:
        g.odd(a.odd)
    print(f"generated {a.users} mailboxes, {g.files} files in {a.dir}")


if __name__ == "__main__":
    main()
