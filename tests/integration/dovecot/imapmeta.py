"""imapmeta: IMAP METADATA client steps for the dovecot integration tests.

usage: imapmeta.py PORT USER PASSWORD COMMAND [ARGS...]
  set MAILBOX NAME VALUE   SETMETADATA MAILBOX (NAME "VALUE")
  get MAILBOX NAME         print the value of GETMETADATA MAILBOX (NAME)
  caps                     print the capabilities after login
Exits non-zero when the server says anything but OK.
"""
import imaplib
import re
import sys


# RFC 5464 commands are not in imaplib's table
imaplib.Commands.setdefault("SETMETADATA", ("AUTH", "SELECTED"))
imaplib.Commands.setdefault("GETMETADATA", ("AUTH", "SELECTED"))


def quote(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def main():
    port, user, password, cmd = sys.argv[1:5]
    args = sys.argv[5:]
    m = imaplib.IMAP4("127.0.0.1", int(port))
    typ, _ = m.login(user, password)
    assert typ == "OK", typ
    if cmd == "set":
        box, name, value = args
        typ, data = m._simple_command(
            "SETMETADATA", quote(box), "(%s %s)" % (name, quote(value))
        )
        print(typ, data)
        sys.exit(0 if typ == "OK" else 1)
    elif cmd == "get":
        box, name = args
        typ, data = m._simple_command("GETMETADATA", quote(box), name)
        if typ != "OK":
            sys.exit(1)
        typ, data = m._untagged_response(typ, data, "METADATA")
        for item in data:
            if isinstance(item, tuple):
                # (b'"" (/name {n}', b'value')
                print(item[1].decode())
            elif item is not None:
                found = re.search(rb'\(\S+ (NIL|"(.*)")\)', item)
                if found and found.group(1) != b"NIL":
                    print(found.group(2).decode())
    elif cmd == "caps":
        print(" ".join(c.decode() if isinstance(c, bytes) else c
                       for c in m.capabilities))
    m.logout()


main()
