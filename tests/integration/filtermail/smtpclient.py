"""smtpclient.py: the SMTP client of the filtermail integration tests
(Debian's /usr/bin/python3, smtplib only).

  send PORT FROM TO MSGFILE [--auth USER:PASS]
      one message (STARTTLS + AUTH when --auth is given); prints
      "OK" or "ERR <code> <text>"
  killmid PORT FROM TO MSGFILE PID
      sends half of the message's DATA, kills PID (filtermail) with
      SIGKILL, sends the rest; prints the final reply as above
  compare DUMPDIR MSGID MSGFILE
      "SAME n" when exactly n dumps hold MSGID and the first one's body
      equals the message file's body (line ends normalised to LF, as
      smtp-sink writes them), else "DIFF ..." with details
  dkimverify DUMPDIR MSGID PUBKEY_B64
      "VALID" when the dump's DKIM-Signature verifies with python3-dkim
      (an independent implementation) against that RSA public key
  header DUMPDIR MSGID NAME
      the value of header NAME in the dump holding MSGID
"""
import os
import re
import signal
import smtplib
import ssl
import sys
import time


def ctx():
    c = ssl.create_default_context()
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    return c


def result(fn):
    try:
        fn()
        print("OK")
    except smtplib.SMTPRecipientsRefused as e:
        code, text = list(e.recipients.values())[0]
        print("ERR %d %s" % (code, text.decode(errors="replace")))
    except smtplib.SMTPResponseException as e:
        print("ERR %d %s" % (e.smtp_code, e.smtp_error.decode(errors="replace")))
    except (smtplib.SMTPException, OSError) as e:
        print("ERR 0 %s" % e)


def send(port, mfrom, rcpt, path, auth=None):
    data = open(path, "rb").read()

    def go():
        with smtplib.SMTP("127.0.0.1", int(port), timeout=60) as s:
            if auth:
                s.starttls(context=ctx())
                user, pw = auth.split(":", 1)
                s.login(user, pw)
            s.sendmail(mfrom, rcpt.split(","), data)

    result(go)


def killmid(port, mfrom, rcpt, path, pid):
    data = re.sub(rb"(?m)^\.", b"..", open(path, "rb").read())
    half = data.index(b"\r\n", len(data) // 2) + 2

    def go():
        s = smtplib.SMTP("127.0.0.1", int(port), timeout=60)
        s.ehlo()
        s.mail(mfrom)
        s.rcpt(rcpt)
        code, msg = s.docmd("DATA")
        if code != 354:
            raise smtplib.SMTPDataError(code, msg)
        s.send(data[:half])
        time.sleep(0.5)  # Postfix streams this part into filtermail
        os.kill(int(pid), signal.SIGKILL)
        time.sleep(0.5)
        s.send(data[half:] + b".\r\n")
        code, msg = s.getreply()
        s.close()
        if code != 250:
            raise smtplib.SMTPDataError(code, msg)

    result(go)


def dumps(d, msgid):
    out = []
    for name in sorted(os.listdir(d)):
        raw = open(os.path.join(d, name), "rb").read()
        if msgid.encode() in raw:
            out.append(raw)
    return out


def split(raw):
    """headers (as one bytes) and body of a message, LF line ends"""
    raw = raw.replace(b"\r\n", b"\n")
    head, _, body = raw.partition(b"\n\n")
    return head, body


def compare(d, msgid, path):
    found = dumps(d, msgid)
    if not found:
        print("DIFF no dump holds %s" % msgid)
        return
    _, want = split(open(path, "rb").read())
    _, got = split(found[0])
    if got.endswith(b"\n\n"):
        got = got[:-1]  # smtp-sink ends each dump with an empty line
    if got != want:
        print("DIFF body\n got: %r\nwant: %r" % (got[:300], want[:300]))
        return
    print("SAME %d" % len(found))


def header(d, msgid, name):
    found = dumps(d, msgid)
    if not found:
        print("")
        return
    head, _ = split(found[0])
    head = re.sub(rb"\n[ \t]+", b" ", head)  # unfold
    for line in head.split(b"\n"):
        if line.lower().startswith(name.lower().encode() + b":"):
            print(line.decode(errors="replace"))
            return
    print("")


def dkimverify(d, msgid, pub):
    import dkim

    found = dumps(d, msgid)
    if not found:
        print("NONE")
        return
    raw = found[0].replace(b"\r\n", b"\n")
    if raw.endswith(b"\n\n"):
        raw = raw[:-1]
    # smtp-sink's own header lines come first; the rest is the message
    lines = raw.split(b"\n")
    while lines and lines[0].split(b":")[0] in (
            b"X-Client-Addr", b"X-Client-Proto", b"X-Helo-Args",
            b"X-Mail-Args", b"X-Rcpt-Args"):
        lines.pop(0)
    msg = b"\r\n".join(lines)
    txt = b"v=DKIM1; k=rsa; p=" + pub.encode()
    ok = dkim.verify(msg, dnsfunc=lambda name, timeout=5: txt)
    print("VALID" if ok else "INVALID")


def main():
    a = sys.argv[1:]
    if a[0] == "send":
        auth = a[6] if len(a) > 6 and a[5] == "--auth" else None
        send(a[1], a[2], a[3], a[4], auth)
    elif a[0] == "killmid":
        killmid(a[1], a[2], a[3], a[4], a[5])
    elif a[0] == "compare":
        compare(a[1], a[2], a[3])
    elif a[0] == "dkimverify":
        dkimverify(a[1], a[2], a[3])
    elif a[0] == "header":
        header(a[1], a[2], a[3])
    else:
        sys.exit("usage: see the file's docstring")


if __name__ == "__main__":
    main()
