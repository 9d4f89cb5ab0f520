#!/usr/bin/python3
"""delivery: where a message's milliseconds go between two real clients
of our relays (bench_relay.sh). Debian's python3 with imaplib/smtplib/
ssl and gpg through tests/integration/relay/relay_client.py.

  delivery.py run --count N --keydir K --path LABEL SENV SUSER SPW RENV
          RUSER RPW...
      the sender submits on 465 of SENV, the recipient IDLEs on INBOX of
      RENV. Paths take turns,
      one message each per round, so every path sees the same machine.
      One line per message:
        LABEL total auth data250 queue notify fetch
      in ms: total = connect to the EXISTS the IDLE client sees;
      auth = TCP+TLS+AUTH on 465; data250 = MAIL FROM to the 250 after
      DATA (smtpd, filtermail, reinject); queue = the 250 to the file in
      the recipient's maildir new/ (qmgr, LMTP or the remote relay, the
      save); notify = the file to the EXISTS; fetch = DONE and FETCH of
      the whole message after the EXISTS. queue/notify are "-" when the
      maildir is not readable here (a relay Pod's volume).
  delivery.py direct --count N --keydir K PORT FROM TO
      inside a relay's network namespace: submit N messages to
      127.0.0.1:PORT (filtermail's or the reinject smtpd's) without TLS
      or AUTH; one line each: ms from MAIL FROM to the 250 after DATA.
  delivery.py watch DIR
      (for run) the arrival times of files in DIR, one line each
"""

import argparse
import ctypes
import os
import signal
import smtplib
import struct
import subprocess
import sys
import threading
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "integration", "relay"))
import relay_client as rc  # noqa: E402

IN_CREATE = 0x100
IN_MOVED_TO = 0x80


def watch(path):
    """print the CLOCK_MONOTONIC time of each file arriving in PATH
    (inotify), one per line, until killed: a process of its own, so its
    timestamps do not wait for the measuring process's GIL"""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG: end with the parent
    if os.getppid() == 1:
        return 1
    fd = libc.inotify_init1(os.O_CLOEXEC)
    if fd < 0 or libc.inotify_add_watch(fd, path.encode(),
                                        IN_CREATE | IN_MOVED_TO) < 0:
        return 1
    print("ready", flush=True)
    while True:
        data = os.read(fd, 65536)
        t = time.monotonic()
        pos = 0
        while pos + 16 <= len(data):
            _wd, mask, _cookie, n = struct.unpack_from("iIII", data, pos)
            pos += 16 + n
            if mask & (IN_CREATE | IN_MOVED_TO):
                print("%.6f" % t, flush=True)


class NewDir:
    """arrival times of files in a maildir's new/ (watch() in a child)"""

    def __init__(self, path):
        self.p = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "watch", path],
            stdout=subprocess.PIPE, text=True)
        self.ok = self.p.stdout.readline().strip() == "ready"
        self.times = []
        self.cv = threading.Condition()
        if self.ok:
            threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.p.stdout:
            with self.cv:
                self.times.append(float(line))
                self.cv.notify_all()

    def first_after(self, t0, timeout=10):
        """the first arrival after t0, or None"""
        end = time.monotonic() + timeout
        with self.cv:
            while True:
                later = [t for t in self.times if t >= t0]
                if later:
                    return later[0]
                left = end - time.monotonic()
                if left <= 0 or not self.ok:
                    return None
                self.cv.wait(left)


class Path:
    """one sender -> recipient path with the recipient in IDLE"""

    def __init__(self, spec, keydir):
        (self.label, senv, self.suser, self.spw, renv, self.ruser,
         self.rpw) = spec
        self.senv, self.renv = rc.load_env(senv), rc.load_env(renv)
        self.keydir = keydir
        self.r = rc.imap(self.renv, "993")
        self.r.login(self.ruser, self.rpw)
        typ, data = self.r.select("INBOX")
        self.count = int(data[0])
        maildir = os.path.join(self.renv.get("MAILBOXES", "/nonexistent"),
                               self.ruser, "new")
        self.new = NewDir(maildir) if os.path.isdir(maildir) else None

    def idle(self):
        self.tag = self.r._new_tag()
        self.r.send(self.tag + b" IDLE\r\n")
        if not self.r.readline().startswith(b"+"):
            raise SystemExit("IDLE refused")

    def wait_exists(self):
        while True:
            line = self.r.readline()
            if not line:
                raise SystemExit("IMAP connection closed")
            if line.rstrip().endswith(b"EXISTS"):
                self.count = int(line.split()[1])
                return time.monotonic()

    def done_fetch(self):
        self.r.send(b"DONE\r\n")
        while not self.r.readline().startswith(self.tag):
            pass
        typ, data = self.r.fetch(str(self.count), "(BODY.PEEK[])")
        if typ != "OK":
            raise SystemExit("FETCH failed")
        return time.monotonic()

    def one(self):
        """send one message; the line of figures"""
        data = rc.message(self.suser, self.ruser,
                          "bench-%s@e2e.test" % uuid.uuid4().hex, self.keydir)
        self.idle()
        t0 = time.monotonic()
        s = rc.smtp(self.senv, "465")
        s.login(self.suser, self.spw)
        t_auth = time.monotonic()
        s.sendmail(self.suser, [self.ruser], data)
        t_250 = time.monotonic()
        s.quit()
        t_exists = self.wait_exists()
        t_fetch = self.done_fetch()
        t_new = self.new.first_after(t_auth) if self.new else None
        ms = lambda a, b: "%.1f" % ((b - a) * 1000)  # noqa: E731
        return " ".join([
            self.label, ms(t0, t_exists), ms(t0, t_auth), ms(t_auth, t_250),
            ms(t_250, t_new) if t_new else "-",
            ms(t_new, t_exists) if t_new else "-", ms(t_exists, t_fetch)])


def cmd_run(a):
    paths = [Path(p, a.keydir) for p in a.paths]
    for _ in range(a.count):
        for p in paths:
            print(p.one(), flush=True)
            time.sleep(a.pause)
    return 0


def cmd_direct(a):
    for _ in range(a.count):
        data = rc.message(a.sender, a.to, "direct-%s@e2e.test"
                          % uuid.uuid4().hex, a.keydir)
        s = smtplib.SMTP("127.0.0.1", a.port, timeout=rc.TIMEOUT)
        s.ehlo("localhost")
        t0 = time.monotonic()
        s.sendmail(a.sender, [a.to], data)
        print("%.1f" % ((time.monotonic() - t0) * 1000), flush=True)
        s.quit()
        time.sleep(a.pause)
    return 0


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--count", type=int, default=20)
    r.add_argument("--keydir", required=True)
    r.add_argument("--pause", type=float, default=0.05)
    r.add_argument("--path", dest="paths", nargs=7, action="append",
                   required=True, metavar=("LABEL", "SENV", "SUSER", "SPW",
                                           "RENV", "RUSER", "RPW"))
    d = sub.add_parser("direct")
    d.add_argument("--count", type=int, default=20)
    d.add_argument("--keydir", required=True)
    d.add_argument("--pause", type=float, default=0.05)
    d.add_argument("port", type=int)
    d.add_argument("sender")
    d.add_argument("to")
    w = sub.add_parser("watch")
    w.add_argument("path")
    a = ap.parse_args()
    if a.cmd == "watch":
        return watch(a.path)
    return cmd_run(a) if a.cmd == "run" else cmd_direct(a)


if __name__ == "__main__":
    sys.exit(main())
