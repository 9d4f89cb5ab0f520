#!/usr/bin/python3
"""idle_relay: IMAP IDLE on a running relay (hack/local-relay.sh or a
relay Pod), with our chatmail_idle plugin in its Dovecot, seen from a
real client (imaplib over IMAPS, smtplib on 465, gpg-encrypted mail) and
from the relay's /proc (tests/integration/relay/idle_watches.sh: the
user's imap processes, their inotify watches from /proc/<pid>/fdinfo,
whether the plugin is mapped). Prints TAP; run by test_idle.sh.

  idle_relay.py ENV SENDER SPW USER UPW KEYDIR WATCHES_CMD

Checks: mail submitted on 465 reaches the IDLE client less than 500 ms
after the 250 (Dovecot alone waits 500 ms after the message is saved,
which is after the 250, so only the plugin can do this; the best of 5);
the IDLE session's imap process maps the plugin and has 2 inotify
watches during IDLE and 0 after DONE; 10 messages submitted at once are
reported with strictly rising EXISTS up to the true count; after 35 s of
IDLE (hibernated after 30 s) new mail still wakes the client; a client
that hangs up during IDLE leaves no imap process behind.
"""

import concurrent.futures
import subprocess
import sys
import time
import uuid

import relay_client as rc

_n = 0
_failed = False


def ok(cond, name, diag=None):
    global _n, _failed
    _n += 1
    print(("ok %d - %s" if cond else "not ok %d - %s") % (_n, name))
    if not cond:
        _failed = True
        if diag:
            for line in str(diag).splitlines()[-20:]:
                print("# " + line)
    sys.stdout.flush()
    return cond


class Idler:
    """USER's IMAPS session on INBOX, IDLE on demand"""

    def __init__(self, env, user, pw):
        self.r = rc.imap(env, "993")
        self.r.login(user, pw)
        typ, data = self.r.select("INBOX")
        self.count = int(data[0])
        self.r.sock.settimeout(rc.TIMEOUT)
        self.exists = []

    def idle(self):
        self.tag = self.r._new_tag()
        self.r.send(self.tag + b" IDLE\r\n")
        if not self.r.readline().startswith(b"+"):
            raise SystemExit("IDLE refused")

    def wait_exists(self, n, timeout):
        """read until '* n EXISTS' (every EXISTS is kept in .exists)"""
        self.r.sock.settimeout(timeout)
        try:
            while not self.exists or self.exists[-1] < n:
                line = self.r.readline()
                if not line:
                    return False
                if line.startswith(b"* ") and line.rstrip().endswith(b"EXISTS"):
                    self.exists.append(int(line.split()[1]))
        except (TimeoutError, OSError):
            return False
        finally:
            self.r.sock.settimeout(rc.TIMEOUT)
        self.count = self.exists[-1]
        return self.count == n

    def done(self):
        self.r.send(b"DONE\r\n")
        while True:
            line = self.r.readline()
            if not line or line.startswith(self.tag):
                return line

    def hangup(self):
        self.r.shutdown()


def submit(env, sender, spw, to, keydir):
    """one PGP/MIME message on 465; the time the 250 came"""
    data = rc.message(sender, to, "idle-%s@e2e.test" % uuid.uuid4().hex,
                      keydir)
    s = rc.smtp(env, "465")
    s.login(sender, spw)
    s.sendmail(sender, [to], data)
    t = time.monotonic()
    s.quit()
    return t


def watches(cmd):
    """[(pid, watches, mapped)] of the user's imap processes"""
    out = subprocess.run(cmd, shell=True, capture_output=True, text=True,
                         timeout=30).stdout
    return [tuple(int(x) for x in line.split()) for line in out.splitlines()
            if len(line.split()) == 3]


def main():
    env = rc.load_env(sys.argv[1])
    sender, spw, user, upw, keydir, cmd = sys.argv[2:8]
    idler = Idler(env, user, upw)

    # latency after the 250, and the process while IDLE
    lat, during = [], []
    for i in range(5):
        idler.idle()
        if i == 0:
            during = watches(cmd)
        t = submit(env, sender, spw, user, keydir)
        got = idler.wait_exists(idler.count + 1, 10)
        lat.append((time.monotonic() - t) * 1000 if got else None)
        idler.done()
    after = watches(cmd)
    seen = [x for x in lat if x is not None]
    ok(len(seen) == 5 and min(seen) < 500,
       "IDLE reports mail submitted on 465 less than 500 ms after the 250 "
       "(ms: %s)" % " ".join("-" if x is None else "%.0f" % x for x in lat))
    ok(len(during) == 1 and during[0][1:] == (2, 1) and
       len(after) == 1 and after[0][1] == 0,
       "the IDLE session's imap process maps chatmail_idle and has 2 "
       "inotify watches during IDLE, 0 after DONE (%s / %s)" % (during, after))

    # a burst: 10 submissions at once
    base = idler.count
    idler.exists = []
    idler.idle()
    with concurrent.futures.ThreadPoolExecutor(10) as pool:
        list(pool.map(lambda _: submit(env, sender, spw, user, keydir),
                      range(10)))
    got = idler.wait_exists(base + 10, 30)
    seen = list(idler.exists)
    idler.done()
    rising = all(a < b for a, b in zip(seen, seen[1:]))
    ok(got and rising and seen and seen[-1] == base + 10,
       "10 messages at once: EXISTS rising to +10, each once (%s)"
       % " ".join(str(x - base) for x in seen))

    # hibernation (imap_hibernate_timeout = 30s), then new mail
    idler.idle()
    time.sleep(35)
    hib = watches(cmd)
    t = submit(env, sender, spw, user, keydir)
    got = idler.wait_exists(idler.count + 1, 15)
    late = (time.monotonic() - t) * 1000
    line = idler.done()
    ok(got and line and b"OK" in line,
       "after 35 s of IDLE (hibernated: %s) new mail wakes the client "
       "(%.0f ms after the 250)" % (hib, late))

    # hang up during IDLE: the process goes away
    idler.idle()
    idler.hangup()
    left = watches(cmd)
    for _ in range(50):
        if not left:
            break
        time.sleep(0.2)
        left = watches(cmd)
    ok(not left, "a client gone during IDLE leaves no imap process (%s)"
       % left)
    print("1..%d" % _n)
    return 1 if _failed else 0


if __name__ == "__main__":
    sys.exit(main())
