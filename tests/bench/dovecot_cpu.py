#!/usr/bin/python3
"""dovecot_cpu: what a relay's Dovecot costs while its clients rest, for
bench_idle_cpu.sh. Reads /proc only.

  dovecot_cpu.py SECONDS NETNS...

For each relay's network namespace: the Dovecot processes in it (their
executable is /usr/sbin/dovecot or under /usr/lib/dovecot/), sampled at
the start and the end of a window of SECONDS. Prints one line per
namespace:
  NETNS cpu_ms procs imap imap_hibernate watches rss_mb changed
cpu_ms: user+system CPU of those processes in the window (processes that
ended in it add their share through the master's reaped-children time);
imap, imap_hibernate: such processes at the end; watches: inotify watches
held by all of them (/proc/<pid>/fdinfo); rss_mb: their summed RSS;
changed: processes that started or ended during the window.
"""

import os
import subprocess
import sys
import time

TICK = os.sysconf("SC_CLK_TCK")


def pids(netns):
    out = subprocess.run(["ip", "netns", "pids", netns], capture_output=True,
                         text=True).stdout
    res = []
    for p in out.split():
        try:
            exe = os.readlink("/proc/%s/exe" % p)
        except OSError:
            continue
        if exe == "/usr/sbin/dovecot" or exe.startswith("/usr/lib/dovecot/"):
            res.append(int(p))
    return res


def stat(pid):
    """(cpu ticks, reaped children's ticks, comm, rss pages) or None"""
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
    except OSError:
        return None
    comm = s[s.index("(") + 1:s.rindex(")")]
    f = s[s.rindex(")") + 2:].split()
    # fields after comm: state is f[0]; utime 14, stime 15, cutime 16,
    # cstime 17, rss 24 (1-based in proc(5)) -> f[11], f[12], f[13], f[14],
    # f[21]
    return (int(f[11]) + int(f[12]), int(f[13]) + int(f[14]), comm,
            int(f[21]))


def watches(pid):
    n = 0
    try:
        fds = os.listdir("/proc/%d/fd" % pid)
    except OSError:
        return 0
    for fd in fds:
        try:
            if os.readlink("/proc/%d/fd/%s" % (pid, fd)) != "anon_inode:inotify":
                continue
            with open("/proc/%d/fdinfo/%s" % (pid, fd)) as f:
                n += sum(1 for line in f if line.startswith("inotify wd:"))
        except OSError:
            continue
    return n


def sample(netns):
    return {p: s for p in pids(netns) if (s := stat(p)) is not None}


def main():
    secs = float(sys.argv[1])
    spaces = sys.argv[2:]
    before = {ns: sample(ns) for ns in spaces}
    time.sleep(secs)
    page_mb = os.sysconf("SC_PAGE_SIZE") / 1e6
    for ns in spaces:
        after = sample(ns)
        b = before[ns]
        ticks = 0
        for p, s in after.items():
            ticks += s[0] - (b[p][0] if p in b else 0)
            # children reaped in the window: their whole time is in the
            # parent's cutime; take off what they had at the start
            ticks += s[1] - (b[p][1] if p in b else 0)
        for p, s in b.items():
            if p not in after:
                ticks -= s[0]
        changed = len(set(after) ^ set(b))
        imap = sum(1 for s in after.values() if s[2] == "imap")
        hib = sum(1 for s in after.values() if s[2] == "imap-hibernate")
        w = sum(watches(p) for p in after)
        rss = sum(s[3] for s in after.values()) * page_mb
        print("%s %.0f %d %d %d %d %.0f %d" % (
            ns, ticks * 1000.0 / TICK, len(after), imap, hib, w, rss,
            changed), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
