#!/usr/bin/env python3
"""webrtc_pair.py: two real browsers call each other through a TURN server.

Starts a small signaling HTTP server on loopback that serves
webrtc_peer.html, then two headless browsers (Debian's chromium and
firefox-esr) on that page: the first makes the offer, the second answers.
Both use iceTransportPolicy "relay" with the TURN URI and credentials
given here, so the data channel only opens if the TURN server allocates,
permits and relays for both of them. Each side sends one message and
reports what it received and the selected candidate pair.

  webrtc_pair.py --turn turn:10.0.0.2:3478?transport=udp --user U --pass P \
                 --pair chromium,firefox [--timeout 45] [--log DIR]

Prints one JSON line per side and exits 0 when both received the other's
message over a relay<->relay pair; 1 otherwise (with the page logs and the
ends of the browser logs on stderr). Browsers run with fresh profiles in
a temporary directory, without background networking (this machine has
no outside network); they are killed at the end.
"""
import argparse
import http.server
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
PAGE = os.path.join(HERE, "webrtc_peer.html")

FIREFOX_PREFS = {
    # no first-run pages, updates, telemetry or remote services
    "browser.shell.checkDefaultBrowser": False,
    "browser.startup.homepage_override.mstone": "ignore",
    "browser.startup.page": 0,
    "browser.aboutwelcome.enabled": False,
    "datareporting.policy.dataSubmissionEnabled": False,
    "datareporting.healthreport.uploadEnabled": False,
    "toolkit.telemetry.enabled": False,
    "toolkit.telemetry.unified": False,
    "app.update.enabled": False,
    "app.update.auto": False,
    "app.normandy.enabled": False,
    "extensions.update.enabled": False,
    "extensions.getAddons.cache.enabled": False,
    "browser.safebrowsing.malware.enabled": False,
    "browser.safebrowsing.phishing.enabled": False,
    "browser.safebrowsing.downloads.enabled": False,
    "browser.safebrowsing.provider.mozilla.updateURL": "",
    "network.captive-portal-service.enabled": False,
    "network.connectivity-service.enabled": False,
    "network.dns.disablePrefetch": True,
    "network.prefetch-next": False,
    "services.settings.server": "http://127.0.0.1:9/",
    "media.gmp-manager.url": "",
    "browser.newtabpage.enabled": False,
    "browser.topsites.contile.enabled": False,
    "dom.push.enabled": False,
    "browser.tabs.remote.autostart": True,
}


class Rooms:
    """Signaling state: one message queue per (room, role)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.queues = {}
        self.results = queue.Queue()

    def q(self, room, role):
        with self.lock:
            return self.queues.setdefault((room, role), queue.Queue())


def handler(rooms):
    class H(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def reply(self, code, body=b"", ctype="application/json"):
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def args(self):
            u = urllib.parse.urlparse(self.path)
            return u.path, dict(urllib.parse.parse_qsl(u.query))

        def do_GET(self):
            path, a = self.args()
            if path == "/peer":
                with open(PAGE, "rb") as f:
                    self.reply(200, f.read(), "text/html; charset=utf-8")
            elif path == "/recv":
                try:
                    m = rooms.q(a["room"], a["role"]).get(timeout=2)
                    self.reply(200, m)
                except queue.Empty:
                    self.reply(204)
            elif path == "/favicon.ico":
                self.reply(404)
            else:
                self.reply(404)

        def do_POST(self):
            path, a = self.args()
            n = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(min(n, 1 << 20))
            if path == "/send":
                other = "answer" if a["role"] == "offer" else "offer"
                rooms.q(a["room"], other).put(body)
                self.reply(200, b"{}")
            elif path == "/result":
                rooms.results.put(json.loads(body))
                self.reply(200, b"{}")
            else:
                self.reply(404)

    return H


def browser_cmd(kind, profile, url):
    if kind == "chromium":
        return [
            "chromium", "--headless", "--no-sandbox", "--disable-gpu",
            "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync",
            "--disable-default-apps", "--disable-features=Translate",
            "--user-data-dir=" + profile, url,
        ]
    if kind == "firefox":
        with open(os.path.join(profile, "user.js"), "w") as f:
            for k, v in FIREFOX_PREFS.items():
                f.write("user_pref(%s, %s);\n" % (json.dumps(k), json.dumps(v)))
        return ["firefox-esr", "--headless", "--no-remote", "--profile", profile, url]
    raise SystemExit("unknown browser " + kind)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--turn", required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--pass", dest="password", required=True)
    ap.add_argument("--pair", default="chromium,chromium")
    ap.add_argument("--timeout", type=float, default=45)
    ap.add_argument("--log", default=None, help="keep browser logs here")
    o = ap.parse_args()
    kinds = o.pair.split(",")
    if len(kinds) != 2:
        raise SystemExit("--pair takes two browsers")

    rooms = Rooms()
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler(rooms))
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    port = srv.server_address[1]
    room = "r%d" % os.getpid()
    tmp = tempfile.mkdtemp(prefix="webrtc-pair-")
    logdir = o.log or tmp
    os.makedirs(logdir, exist_ok=True)
    procs = []
    try:
        for i, (kind, role) in enumerate(zip(kinds, ("offer", "answer"))):
            name = "%s-%d" % (kind, i + 1)
            url = "http://127.0.0.1:%d/peer?%s" % (port, urllib.parse.urlencode({
                "role": role, "room": room, "name": name, "turn": o.turn,
                "user": o.user, "pass": o.password}))
            prof = os.path.join(tmp, name)
            os.makedirs(prof)
            env = dict(os.environ, HOME=prof, MOZ_HEADLESS="1")
            logf = open(os.path.join(logdir, name + ".log"), "wb")
            procs.append((name, subprocess.Popen(
                browser_cmd(kind, prof, url), stdout=logf, stderr=logf,
                stdin=subprocess.DEVNULL, env=env, start_new_session=True), logf))
        results = []
        deadline = time.monotonic() + o.timeout
        while len(results) < 2 and time.monotonic() < deadline:
            try:
                results.append(rooms.results.get(timeout=0.5))
            except queue.Empty:
                if any(p.poll() is not None for _, p, _ in procs):
                    break
        good = len(results) == 2
        for r in results:
            print(json.dumps({k: r.get(k) for k in ("name", "ok", "got", "pair", "error")}))
            pair = r.get("pair") or {}
            if not (r.get("ok") and r.get("got", "").startswith("hello from")
                    and pair.get("local") == "relay"):
                good = False
        if not good:
            sys.stderr.write("webrtc_pair: %d of 2 sides reported\n" % len(results))
            for r in results:
                sys.stderr.write("  %s: %s\n" % (r.get("name"), "\n    ".join(r.get("states", []))))
            for name, p, _ in procs:
                sys.stderr.write("  %s exit %s\n" % (name, p.poll()))
        return 0 if good else 1
    finally:
        for name, p, logf in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for name, p, logf in procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
            logf.close()
        srv.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
