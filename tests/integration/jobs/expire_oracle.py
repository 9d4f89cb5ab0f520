#!/usr/bin/python3
"""expire_oracle: what chatmail-expire --remove must do to a tree.

    expire_oracle.py MAILBOXES_DIR --quota-mb N [--locked REL ...]

An independent statement of upstream's rules (chatmaild expire.py,
docs/UPSTREAM.md, Expiry), written from the rules, not from our C code,
walking the tree without following symlinks. Prints JSON: the relative
paths a real run removes, and the summary figures. --locked names
entries the run cannot read (they and everything below are left alone).
"""
import argparse
import json
import os
import re
import stat
import time

DAY = 86400
DOVECOT = re.compile(r"(\d+)\..+,S=(\d+)")


def lstat(p):
    try:
        return os.lstat(p)
    except FileNotFoundError:
        return None


def everything(top):
    """top and every path below it (symlinks are entries, not followed)"""
    out = [top]
    for root, dirs, files in os.walk(top):
        out += [os.path.join(root, n) for n in dirs + files]
    return out


class Oracle:
    def __init__(self, base, quota_mb, locked):
        self.base = base
        self.now = time.time()
        self.target = quota_mb * 1024 * 1024 * 0.7
        self.locked = {os.path.join(base, p) for p in locked}
        self.removed = []
        self.fig = dict(mailboxes=0, del_mboxes=0, files=0, del_files=0,
                        accounts=0, ci=0)

    def messages(self, folder):
        """(path, stat, parent name, top) of every message below folder"""
        out = []
        if folder in self.locked:
            return out
        for name in sorted(os.listdir(folder)):
            p = os.path.join(folder, name)
            st = lstat(p)
            if st is None or p in self.locked:
                continue
            if name in ("cur", "new", "tmp") and stat.S_ISDIR(st.st_mode):
                for m in sorted(os.listdir(p)):
                    mp = os.path.join(p, m)
                    mst = lstat(mp)
                    if mst is not None and stat.S_ISREG(mst.st_mode):
                        out.append((mp, mst, name, folder == self.mb))
            elif stat.S_ISDIR(st.st_mode):
                out += self.messages(p)
        return out

    def mailbox(self, mb):
        self.mb = mb
        self.fig["mailboxes"] += 1
        pw = lstat(os.path.join(mb, "password"))
        login = pw.st_mtime if pw is not None and stat.S_ISREG(pw.st_mode) else None
        if login:
            self.fig["accounts"] += 1
            self.fig["ci"] += os.path.basename(mb).startswith("ci-")
        if login and login < self.now - 90 * DAY:
            self.removed += everything(mb)
            self.fig["del_mboxes"] += 1
            return
        if login is None:
            if not os.listdir(mb):
                self.removed.append(mb)
                self.fig["del_mboxes"] += 1
            return
        changed = False
        quota = []
        for p, st, parent, top in self.messages(mb):
            self.fig["files"] += 1
            if st.st_mtime < self.now - 20 * DAY:
                gone = True
            elif st.st_size > 200000 and st.st_mtime < self.now - 7 * DAY:
                gone = parent == "cur"
                changed = True
            else:
                gone = False
            if gone:
                self.removed.append(p)
                self.fig["del_files"] += 1
                changed = True
            elif top and parent != "tmp":
                m = DOVECOT.match(os.path.basename(p))
                if m:
                    rel = parent + "/" + os.path.basename(p)
                    quota.append((int(m.group(1)), int(m.group(2)), rel, p))
        total = sum(q[1] for q in quota)
        for ts, size, _, p in sorted(quota):
            if total <= self.target or ts > self.now - DAY:
                break
            self.removed.append(p)
            self.fig["del_files"] += 1
            total -= size
            changed = True
        if changed:
            self.fig["del_files"] += 1
            if lstat(os.path.join(mb, "maildirsize")) is not None:
                self.removed.append(os.path.join(mb, "maildirsize"))

    def run(self):
        for name in sorted(os.listdir(self.base)):
            p = os.path.join(self.base, name)
            st = lstat(p)
            if "@" in name and st and stat.S_ISDIR(st.st_mode) and p not in self.locked:
                self.mailbox(p)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--quota-mb", type=int, default=500)
    ap.add_argument("--locked", action="append", default=[])
    a = ap.parse_args()
    o = Oracle(a.dir.rstrip("/"), a.quota_mb, a.locked)
    o.run()
    rel = sorted(os.path.relpath(p, o.base) for p in o.removed)
    print(json.dumps(dict(removed=rel, **o.fig)))


if __name__ == "__main__":
    main()
