#!/usr/bin/python3
"""idle_check: the chatmail_idle Dovecot plugin (dovecot/) in Debian's
real imap, run standalone: no master, the imap process is our child and
speaks IMAP on its stdin/stdout (PREAUTH), so its PID, file descriptors
and stderr are ours to inspect. Mail arrives the two ways a maildir gets
it: Dovecot's own dovecot-lda (what LMTP does: save under the uidlist
lock) and a plain rename from tmp/ into new/ (any MDA). Prints TAP.

  idle_check.py WORKDIR PLUGIN_DIR

Checks: the plugin is loaded; an IDLE client hears of new mail before
Dovecot's own 500 ms delay could have ended (and, as the control, not
before it without the plugin); a burst of deliveries at once gives
strictly increasing EXISTS up to the true count (no lost wake-up, no
duplicate EXISTS); the process's inotify watches (counted in
/proc/<pid>/fdinfo) are Dovecot's two (new/, cur/) during IDLE, as
without the plugin, and none after DONE, also after many IDLE/DONE
rounds and after IDLE was re-armed by IMAP NOTIFY; a client gone during
IDLE leaves a process that exits cleanly without Dovecot's "I/O notify
leak" warning or any error.
"""

import os
import pwd
import select
import subprocess
import sys
import time

IMAP = "/usr/lib/dovecot/imap"
LDA = "/usr/lib/dovecot/dovecot-lda"
TIMEOUT = 15.0
DELAY = 0.5  # Dovecot's NOTIFY_DELAY_MSECS

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


def note(text):
    print("# " + text)
    sys.stdout.flush()


def write_conf(path, plugin_dir, plugins):
    with open(path, "w") as f:
        f.write(
            "mail_location = maildir:~/Maildir\n"
            "mail_uid = vmail\n"
            "mail_gid = vmail\n"
            "mail_plugin_dir = %s\n"
            "mail_plugins = %s\n"
            "mail_debug = yes\n"
            "log_path = /dev/stderr\n"
            "ssl = no\n"
            "imap_hibernate_timeout = 0\n" % (plugin_dir, plugins)
        )


class Imap:
    """one standalone imap process as the user USER with home HOME"""

    def __init__(self, conf, user, home, log):
        env = {"USER": user, "HOME": home, "PATH": "/usr/bin:/bin"}
        self.log = open(log, "ab")
        self.p = subprocess.Popen(
            [IMAP, "-c", conf], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=self.log, env=env)
        self.buf = b""
        self.tag = 0
        self.exists = []  # every EXISTS number seen, in order
        line = self.line()
        if line is None or not line.startswith("* PREAUTH"):
            raise RuntimeError("no PREAUTH greeting: %r" % line)

    def send(self, text):
        self.p.stdin.write(text.encode() + b"\r\n")
        self.p.stdin.flush()

    def line(self, timeout=TIMEOUT):
        """the next line, or None at EOF or timeout"""
        end = time.monotonic() + timeout
        fd = self.p.stdout.fileno()
        while b"\n" not in self.buf:
            left = end - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return None
            data = os.read(fd, 65536)
            if not data:
                return None
            self.buf += data
        raw, self.buf = self.buf.split(b"\n", 1)
        text = raw.decode(errors="replace").rstrip("\r")
        if text.startswith("* ") and text.endswith(" EXISTS"):
            self.exists.append(int(text.split()[1]))
        return text

    def cmd(self, command):
        """run a command, return (tagged line, untagged lines)"""
        self.tag += 1
        tag = "t%d" % self.tag
        self.send("%s %s" % (tag, command))
        untagged = []
        while True:
            line = self.line()
            if line is None:
                raise RuntimeError("no answer to %s" % command)
            if line.startswith(tag + " "):
                return line, untagged
            untagged.append(line)

    def idle(self):
        self.tag += 1
        self.idle_tag = "t%d" % self.tag
        self.send(self.idle_tag + " IDLE")
        while True:
            line = self.line()
            if line is None:
                raise RuntimeError("IDLE not accepted")
            if line.startswith("+"):
                return

    def done(self):
        self.send("DONE")
        while True:
            line = self.line()
            if line is None:
                raise RuntimeError("no answer to DONE")
            if line.startswith(self.idle_tag + " "):
                return line

    def wait_exists(self, n, timeout=TIMEOUT):
        """read until '* n EXISTS'; True if it came in time"""
        end = time.monotonic() + timeout
        while not self.exists or self.exists[-1] < n:
            if self.line(max(0.0, end - time.monotonic())) is None:
                return False
        return self.exists[-1] == n

    def count(self):
        tagged, untagged = self.cmd("SEARCH ALL")
        for line in untagged:
            if line.startswith("* SEARCH"):
                return len(line.split()) - 2
        return -1

    def close(self):
        """hang up (the client is gone); the process's exit status"""
        self.p.stdin.close()
        try:
            rc = self.p.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            self.p.kill()
            rc = self.p.wait()
        self.p.stdout.close()
        self.log.close()
        return rc


def inotify_watches(pid):
    """the inotify watches of process PID, from /proc/PID/fdinfo"""
    n = 0
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if target != "anon_inode:inotify":
            continue
        with open("/proc/%d/fdinfo/%s" % (pid, fd)) as f:
            n += sum(1 for line in f if line.startswith("inotify wd:"))
    return n


def open_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


class Mailbox:
    """the user's maildir INBOX, as an MDA writes it"""

    def __init__(self, conf, user, home):
        self.conf, self.user, self.home = conf, user, home
        self.dir = os.path.join(home, "Maildir")
        self.seq = 0
        vm = pwd.getpwnam("vmail")
        self.uid, self.gid = vm.pw_uid, vm.pw_gid

    def message(self, subject):
        return ("From: sender@example.test\r\nTo: %s@example.test\r\n"
                "Subject: %s\r\nMessage-ID: <%s@example.test>\r\n\r\n"
                "hello\r\n" % (self.user, subject, subject)).encode()

    def rename_in(self):
        """one message into new/ by rename; the time just before it"""
        self.seq += 1
        name = "%d.M%dP%d.idlecheck" % (time.time(), self.seq, os.getpid())
        tmp = os.path.join(self.dir, "tmp", name)
        with open(tmp, "wb") as f:
            f.write(self.message("r%d" % self.seq))
        os.chown(tmp, self.uid, self.gid)
        t = time.monotonic()
        os.rename(tmp, os.path.join(self.dir, "new", name))
        return t

    def lda(self, n):
        """n messages by n dovecot-lda processes at once; all delivered.
        A delivery that exits 75 (EX_TEMPFAIL: Dovecot gave up on a lock
        under load) is retried, as Postfix retries it, at most 3 times;
        self.errors keeps what dovecot-lda printed for those and for
        any other failure"""
        env = {"USER": self.user, "HOME": self.home, "PATH": "/usr/bin:/bin"}
        self.errors = []
        pending = []
        for _ in range(n):
            self.seq += 1
            pending.append(self.message("l%d" % self.seq))
        for attempt in range(4):
            procs = []
            for msg in pending:
                err = open(os.path.join(self.home, "lda-%d.err" % len(procs)),
                           "w+b")
                p = subprocess.Popen(
                    ["setpriv", "--reuid=vmail", "--regid=vmail",
                     "--clear-groups", LDA, "-c", self.conf,
                     "-f", "sender@example.test"],
                    stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                    stderr=err, env=env)
                procs.append((p, msg, err))
            for p, msg, _ in procs:
                p.stdin.write(msg)
                p.stdin.close()
            pending = []
            for p, msg, err in procs:
                rc = p.wait(TIMEOUT)
                err.seek(0)
                text = err.read().decode(errors="replace").strip()
                err.close()
                if rc == 0:
                    continue
                self.errors.append("attempt %d: exit %d: %s"
                                   % (attempt + 1, rc, text[-300:]))
                if rc != 75:
                    return False
                pending.append(msg)
            if not pending:
                return True
        return False


def setup_user(work, name):
    home = os.path.join(work, name)
    os.makedirs(home, exist_ok=True)
    os.chown(home, *[getattr(pwd.getpwnam("vmail"), k)
                     for k in ("pw_uid", "pw_gid")])
    return name, home


def latencies(imap, box, rounds):
    """seconds from a rename into new/ to the EXISTS, per round"""
    out = []
    for _ in range(rounds):
        want = imap.count() + 1
        imap.idle()
        t = box.rename_in()
        if not imap.wait_exists(want, 5.0):
            out.append(None)
        else:
            out.append(time.monotonic() - t)
        imap.done()
    return out


def check_latency(work, confs):
    """before Dovecot's 500 ms could end, only with the plugin"""
    for label, conf in (("with", confs["with"]), ("without", confs["without"])):
        user, home = setup_user(work, "lat-" + label)
        imap = Imap(conf, user, home, os.path.join(work, "imap-lat.log"))
        imap.cmd("SELECT INBOX")
        got = latencies(imap, Mailbox(conf, user, home), 5)
        imap.close()
        ms = ["-" if s is None else "%.0f" % (s * 1000) for s in got]
        note("%s the plugin: rename -> EXISTS in ms: %s" % (label, " ".join(ms)))
        seen = [s for s in got if s is not None]
        if label == "with":
            ok(len(seen) == 5 and min(seen) < DELAY,
               "with chatmail_idle an IDLE client hears of new mail "
               "before Dovecot's 500 ms delay ends", ms)
        else:
            ok(len(seen) == 5 and min(seen) >= DELAY,
               "control: without it, never before the 500 ms", ms)


def check_burst(work, conf, how):
    """n messages at once: EXISTS strictly rising to the true count"""
    user, home = setup_user(work, "burst-" + how)
    imap = Imap(conf, user, home, os.path.join(work, "imap-burst.log"))
    box = Mailbox(conf, user, home)
    imap.cmd("SELECT INBOX")
    imap.idle()
    imap.exists = []
    n = 20 if how == "lda" else 50
    if how == "lda":
        delivered = box.lda(n)
    else:
        for _ in range(n):
            box.rename_in()
        delivered = True
    got = imap.wait_exists(n, TIMEOUT)
    seen = list(imap.exists)
    imap.done()
    rising = all(a < b for a, b in zip(seen, seen[1:]))
    errors = getattr(box, "errors", [])
    for e in errors:
        note("dovecot-lda " + e)
    ok(delivered and got and rising and seen and seen[-1] == n,
       "%d messages at once (%s): IDLE reports all of them, each EXISTS "
       "once and rising (%s)" % (n, how, " ".join(map(str, seen))),
       "\n".join([str(seen)] + errors))
    total = imap.count()
    imap.cmd("NOOP")
    ok(total == n and imap.exists[-1] == n,
       "%s burst: nothing left unreported after IDLE (SEARCH finds %d)"
       % (how, total))
    imap.close()


def check_watches(work, confs):
    """Dovecot's two watches during IDLE, none after"""
    counts = {}
    for label in ("with", "without"):
        user, home = setup_user(work, "watch-" + label)
        imap = Imap(confs[label], user, home, os.path.join(work, "imap-watch.log"))
        imap.cmd("SELECT INBOX")
        before = inotify_watches(imap.p.pid)
        imap.idle()
        during = inotify_watches(imap.p.pid)
        imap.done()
        after = inotify_watches(imap.p.pid)
        counts[label] = (before, during, after)
        imap.close()
    note("inotify watches before/during/after IDLE: with %s, without %s"
         % (counts["with"], counts["without"]))
    ok(counts["with"] == (0, 2, 0) and counts["without"] == (0, 2, 0),
       "inotify watches: 2 during IDLE (new/, cur/), as without the "
       "plugin, and 0 after DONE", counts)


def check_rounds(work, conf, rounds=30):
    """many IDLE/DONE rounds with mail: no watch or descriptor left"""
    user, home = setup_user(work, "rounds")
    imap = Imap(conf, user, home, os.path.join(work, "imap-rounds.log"))
    box = Mailbox(conf, user, home)
    imap.cmd("SELECT INBOX")
    during, missed, fds0 = set(), 0, 0
    for i in range(rounds):
        imap.idle()
        during.add(inotify_watches(imap.p.pid))
        box.rename_in()
        if not imap.wait_exists(i + 1, 5.0):
            missed += 1
        imap.done()
        if i == 0:
            # the ioloop's inotify descriptor stays from the first IDLE on
            fds0 = open_fds(imap.p.pid)
    after, fds1 = inotify_watches(imap.p.pid), open_fds(imap.p.pid)
    imap.close()
    ok(missed == 0 and during == {2} and after == 0 and fds1 == fds0,
       "%d IDLE/DONE rounds with a message each: every one reported, "
       "watches %s during and %d after, descriptors %d -> %d"
       % (rounds, sorted(during), after, fds0, fds1))


def check_notify(work, conf):
    """IDLE re-arms a watch NOTIFY already set: still one per dir"""
    user, home = setup_user(work, "notify")
    imap = Imap(conf, user, home, os.path.join(work, "imap-notify.log"))
    box = Mailbox(conf, user, home)
    imap.cmd("SELECT INBOX")
    tagged, _ = imap.cmd("NOTIFY SET (SELECTED (MessageNew MessageExpunge))")
    imap.idle()
    during = inotify_watches(imap.p.pid)
    t = box.rename_in()
    got = imap.wait_exists(1, 5.0)
    late = time.monotonic() - t
    imap.done()
    imap.cmd("NOTIFY NONE")
    after = inotify_watches(imap.p.pid)
    imap.close()
    ok(tagged.split()[1] == "OK" and got and during == 2 and after == 0,
       "NOTIFY then IDLE (the watch armed twice): EXISTS after %.0f ms, "
       "%d watches during, %d after NOTIFY NONE" % (late * 1000, during, after),
       tagged)


def check_hangup(work, conf):
    """the client goes away in IDLE: a clean exit, no leak warning"""
    user, home = setup_user(work, "hangup")
    log = os.path.join(work, "imap-hangup.log")
    imap = Imap(conf, user, home, log)
    imap.cmd("SELECT INBOX")
    imap.idle()
    Mailbox(conf, user, home).rename_in()
    imap.wait_exists(1, 5.0)
    watching = inotify_watches(imap.p.pid)
    rc = imap.close()
    with open(log, errors="replace") as f:
        text = f.read()
    bad = [l for l in text.splitlines()
           if "leak" in l or "Panic" in l or "Fatal" in l or "Error" in l]
    ok(watching == 2 and rc == 0 and not bad,
       "client gone during IDLE: imap exits %d, no leak/error lines" % rc,
       "\n".join(bad))


def main():
    work, plugin_dir = sys.argv[1], sys.argv[2]
    confs = {"with": os.path.join(work, "with.conf"),
             "without": os.path.join(work, "without.conf")}
    write_conf(confs["with"], plugin_dir, "chatmail_idle")
    write_conf(confs["without"], plugin_dir, "")
    user, home = setup_user(work, "load")
    log = os.path.join(work, "imap-load.log")
    imap = Imap(confs["with"], user, home, log)
    imap.cmd("SELECT INBOX")
    with open("/proc/%d/maps" % imap.p.pid) as f:
        mapped = "lib90_chatmail_idle_plugin.so" in f.read()
    imap.close()
    with open(log, errors="replace") as f:
        loaded = "chatmail_idle: loaded (" in f.read()
    ok(mapped and loaded, "imap loads chatmail_idle (mapped, and its line "
       "in the debug log)")
    check_latency(work, confs)
    check_burst(work, confs["with"], "lda")
    check_burst(work, confs["with"], "rename")
    check_watches(work, confs)
    check_rounds(work, confs["with"])
    check_notify(work, confs["with"])
    check_hangup(work, confs["with"])
    with open(os.path.join(work, "imap-rounds.log"), errors="replace") as f:
        errs = [l for l in f if "Error" in l or "leak" in l]
    ok(not errs, "no error or leak line in the IDLE rounds' log", "".join(errs))
    print("1..%d" % _n)
    return 1 if _failed else 0


if __name__ == "__main__":
    sys.exit(main())
