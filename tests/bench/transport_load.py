#!/usr/bin/python3
"""transport_load.py: load for filtermail transport (tests/bench/bench_transport.sh).

    transport_load.py lmtp PORT COUNT CONNS FROM TO KEYDIR KEY DOMAIN
        COUNT messages from FROM to TO over CONNS concurrent LMTP
        connections to 127.0.0.1:PORT (run inside the sending relay's
        namespace), each PGP/MIME for TO (gpg, KEYDIR) and DKIM-signed
        with KEY for DOMAIN as the relay would have signed it; prints
        "sent N failed F secs S" and one latency in ms (final dot to the
        LMTP reply) per line

    transport_load.py queue FILTERMAIL DESTS
        starts FILTERMAIL <ini> transport on loopback with a resolver
        that never answers, so every delivery waits in its MX lookup;
        opens DESTS LMTP sessions, one message each to a destination of
        its own; prints the transport's RSS in KiB idle, with DESTS
        destinations queued, and how many it took ("rss_idle N
        rss_queued N queued N")
"""
import importlib.util
import os
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def relay_client():
    path = os.path.join(HERE, "..", "integration", "relay", "relay_client.py")
    spec = importlib.util.spec_from_file_location("rc", path)
    rc = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(rc)
    return rc


def lmtp(port, count, conns, frm, to, keydir, key, domain):
    rc = relay_client()
    msgs = []
    for i in range(count):
        data = rc.message(frm, to, "tl-%d-%d@bench.test" % (os.getpid(), i),
                          keydir)
        msgs.append(rc.dkim_sign(data, domain, key))
    lat, failed, lock = [], [0], threading.Lock()
    todo = list(range(count))

    def worker():
        c = smtplib.LMTP("127.0.0.1", port, timeout=300)
        while True:
            with lock:
                if not todo:
                    break
                i = todo.pop()
            t = time.monotonic()
            try:
                c.sendmail(frm, [to], msgs[i])
                ms = (time.monotonic() - t) * 1000
                with lock:
                    lat.append(ms)
            except smtplib.SMTPException:
                with lock:
                    failed[0] += 1
        c.quit()

    t0 = time.monotonic()
    ts = [threading.Thread(target=worker) for _ in range(conns)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    secs = time.monotonic() - t0
    print("sent %d failed %d secs %.3f" % (len(lat), failed[0], secs))
    for ms in lat:
        print("%.1f" % ms)


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def queue(binary, dests):
    # a resolver that takes every question and never answers
    dns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    dns.bind(("127.0.0.1", 0))
    threading.Thread(target=lambda: [dns.recv(4096) for _ in iter(int, 1)],
                     daemon=True).start()
    port = free_port()
    d = tempfile.mkdtemp(prefix="bench-transport-")
    ini = os.path.join(d, "chatmail.ini")
    with open(ini, "w") as f:
        f.write("[params]\nmail_domain = bench.test\n"
                "filtermail_lmtp_port_transport = %d\n"
                "dns_server = 127.0.0.1:%d\ndisable_ipv6 = true\n"
                % (port, dns.getsockname()[1]))
    p = subprocess.Popen([binary, ini, "transport"], stdout=subprocess.DEVNULL,
                         stderr=open(os.path.join(d, "log"), "w"))
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), 1).close()
                break
            except OSError:
                time.sleep(0.05)
        time.sleep(0.3)
        idle = rss_kib(p.pid)
        body = ("From: <a@bench.test>\r\nSubject: [...]\r\n\r\n" +
                "x" * 60 + "\r\n") * 50
        socks, queued = [], 0
        for i in range(dests):
            s = socket.create_connection(("127.0.0.1", port), 10)
            f = s.makefile("rwb")
            f.readline()
            f.write(b"LHLO b\r\nMAIL FROM:<a@bench.test>\r\n"
                    b"RCPT TO:<u@d%d.test>\r\nDATA\r\n" % i)
            f.flush()
            lines = [f.readline() for _ in range(7)]
            if lines[-1].startswith(b"354"):
                f.write(body.encode() + b".\r\n")
                f.flush()
                queued += 1
            socks.append((s, f))
        time.sleep(1.0)
        print("rss_idle %d rss_queued %d queued %d"
              % (idle, rss_kib(p.pid), queued))
        for s, f in socks:
            s.close()
    finally:
        p.terminate()
        p.wait(30)
        dns.close()
        for n in os.listdir(d):
            os.unlink(os.path.join(d, n))
        os.rmdir(d)


if __name__ == "__main__":
    if sys.argv[1] == "lmtp":
        a = sys.argv[2:]
        lmtp(int(a[0]), int(a[1]), int(a[2]), a[3], a[4], a[5], a[6], a[7])
    elif sys.argv[1] == "queue":
        queue(sys.argv[2], int(sys.argv[3]))
    else:
        sys.exit(__doc__)
