"""dc: Delta Chat core (deltachat-rpc-server, driven through
deltachat-rpc-client, both from PyPI, pinned in hack/deltachat.sh) against
our relays, for tests/interop/deltachat_check.py and
tests/bench/bench_delivery.sh. Run with the venv's python.

Accounts are the relay's own (POST /new, done by the caller with
relay_client.py) and configured with explicit servers: the relay's
domain on its IMAPS and SMTPS ports. The test relays' domains start with
"_" (upstream's self-signed mode): Delta Chat core then skips the CA
chain for them but still checks that the certificate names the host, so
the relay's own self-signed certificate is what it trusts. Core resolves
names with the system resolver; the caller runs us where /etc/hosts
maps each relay's domain to its address (tests/interop/lib.sh).

Every wait is bounded: wait_event() reads the account's event queue
with a timeout instead of the client's blocking wait_for_event().
"""

import os
import queue
import sys
import time

from deltachat_rpc_client import AttrDict, DeltaChat, Rpc

EVENT_TIMEOUT = 90.0
# core's own log (Info/Warning/Error events) of every account, by start()
_log = None


def load_env(path):
    env = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                k, v = line.split("=", 1)
                env[k] = v.strip('"')
    return env


class Timeout(Exception):
    pass


class StampedQueue(queue.Queue):
    """an account's event queue that keeps when each event came in (the
    client's events thread puts them as the server hands them out), so
    the log shows core's own timing, not when a test read the event"""

    def _put(self, item):
        super()._put((time.time(), item))

    def _get(self):
        self.stamp, item = super()._get()
        return item


def start(accounts_dir, log):
    """a deltachat-rpc-server (from the venv's bin/) and its DeltaChat"""
    server = os.path.join(os.path.dirname(sys.executable),
                          "deltachat-rpc-server")
    if not os.path.exists(server):
        server = "deltachat-rpc-server"
    global _log
    _log = open(log, "a")
    rpc = Rpc(accounts_dir=accounts_dir, rpc_server_path=server,
              stderr=_log)

    def get_queue(account_id):
        return rpc.event_queues.setdefault(account_id, StampedQueue())
    rpc.get_queue = get_queue
    rpc.start()
    return rpc, DeltaChat(rpc)


def configure(dc, env, addr, password, name):
    """a configured, online account for ADDR on the relay of ENV"""
    acc = dc.add_account()
    acc.set_config("displayname", name)
    acc.add_or_update_transport({
        "addr": addr,
        "password": password,
        "imapServer": env["DOMAIN"],
        "imapPort": int(env.get("IMAPS_PORT", 993)),
        "imapSecurity": "ssl",
        "smtpServer": env["DOMAIN"],
        "smtpPort": int(env.get("SMTPS_PORT", 465)),
        "smtpSecurity": "ssl",
        "certificateChecks": "automatic",
    })
    acc.bring_online()
    return acc


def wait_event(acc, pred, timeout=EVENT_TIMEOUT):
    """the first event of ACC for which pred(event) is true"""
    q = acc._rpc.get_queue(acc.id)
    end = time.monotonic() + timeout
    while True:
        left = end - time.monotonic()
        if left <= 0:
            raise Timeout("no matching event in %.0f s" % timeout)
        try:
            ev = q.get(timeout=left)
        except queue.Empty:
            continue
        if ev is None:
            continue
        ev = AttrDict(ev)
        _note(acc, ev)
        if pred(ev):
            return ev


def wait_incoming(acc, timeout=EVENT_TIMEOUT):
    """the next incoming message of ACC (IncomingMsg event)"""
    ev = wait_event(acc, lambda e: e.kind == "IncomingMsg", timeout)
    return acc.get_message_by_id(ev.msg_id)


def pump(acc):
    """log and forget ACC's queued events"""
    q = acc._rpc.get_queue(acc.id)
    while True:
        try:
            ev = q.get_nowait()
        except queue.Empty:
            return
        if ev is not None:
            _note(acc, AttrDict(ev))


def _note(acc, ev):
    if _log is not None and ev.kind in ("Info", "Warning", "Error"):
        q = acc._rpc.get_queue(acc.id)
        _log.write("%.3f account %d %s: %s\n" % (
            getattr(q, "stamp", time.time()), acc.id, ev.kind,
            ev.get("msg", "")))
        _log.flush()


def largest_sent():
    """the largest message core logged as SMTP-sent ("Message len=N was
    SMTP-sent"), in bytes; 0 if none"""
    best = 0
    if _log is None:
        return 0
    with open(_log.name, errors="replace") as f:
        for line in f:
            i = line.find("Message len=")
            if i >= 0 and "SMTP-sent" in line:
                n = line[i + 12:].split()[0]
                best = max(best, int(n)) if n.isdigit() else best
    return best


def wait_downloaded(msg, timeout=EVENT_TIMEOUT, others=()):
    """MSG's snapshot once fully downloaded: a large attachment comes as
    a small pre-message first and its post-message after it (the events
    of OTHERS, e.g. the sender, are logged meanwhile)"""
    end = time.monotonic() + timeout
    asked = False
    while True:
        for o in (msg.account,) + tuple(others):
            pump(o)
        snap = msg.get_snapshot()
        if snap.download_state == "Done":
            return snap
        if snap.download_state == "Available" and not asked:
            msg.account._rpc.download_full_message(msg.account.id, msg.id)
            asked = True
        if time.monotonic() > end:
            raise Timeout("message %d still %s after %.0f s"
                          % (msg.id, snap.download_state, timeout))
        time.sleep(0.2)


def wait_securejoin(inviter, joiner, timeout=EVENT_TIMEOUT):
    """both sides of a SecureJoin report success"""
    wait_event(joiner, lambda e: e.kind == "SecurejoinJoinerProgress"
               and e.progress == 1000, timeout)
    wait_event(inviter, lambda e: e.kind == "SecurejoinInviterProgress"
               and e.progress == 1000, timeout)


def drain(acc):
    """forget ACC's queued events"""
    acc._rpc.clear_all_events(acc.id)


def verified_pair(a, b, timeout=EVENT_TIMEOUT):
    """SecureJoin: B scans A's QR code; A's chat with B"""
    drain(a)
    drain(b)
    b.secure_join(a.get_qr_code())
    wait_securejoin(a, b, timeout)
    return a.create_chat(b)
