#!/usr/bin/env python3
"""A tiny IMAP client for the probe tests (Python standard library only).

    imapctl.py HOST PORT CAFILE USER PASSFILE COMMAND [ARGS...]

COMMAND:
    seed MAILBOX N     create MAILBOX if needed and APPEND N messages to it
    dump MAILBOX       print a digest of every message: UID, flags, size and
                       SHA-256 of the whole message, one line each, sorted
    list PATTERN       print the names of the mailboxes matching PATTERN
    count MAILBOX      print the number of messages
    sep                print the hierarchy separator
The password is read from PASSFILE, never from the command line.
"""
import hashlib
import imaplib
import ssl
import sys
import time


def connect(host, port, cafile, user, passfile):
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.check_hostname = False
    m = imaplib.IMAP4_SSL(host, int(port), ssl_context=ctx)
    with open(passfile) as f:
        m.login(user, f.read().strip())
    return m


def quote(name):
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def main():
    host, port, cafile, user, passfile, cmd = sys.argv[1:7]
    args = sys.argv[7:]
    m = connect(host, port, cafile, user, passfile)
    if cmd == "seed":
        box, n = args[0], int(args[1])
        if box.upper() != "INBOX":
            m.create(quote(box))
        for i in range(n):
            msg = (f"From: owner <owner@example.org>\r\nTo: owner@example.org\r\n"
                   f"Subject: precious message {i}\r\nMessage-ID: <seed{i}.{time.time()}@example.org>\r\n"
                   f"\r\nThe user's own data, line {i}.\r\n").encode()
            typ, _ = m.append(quote(box), "(\\Flagged)" if i % 2 else None, None, msg)
            assert typ == "OK", typ
    elif cmd == "dump":
        typ, _ = m.select(quote(args[0]), readonly=True)
        assert typ == "OK", typ
        typ, data = m.uid("FETCH", "1:*", "(UID FLAGS RFC822.SIZE BODY.PEEK[])")
        out = []
        for item in data:
            if isinstance(item, tuple):
                meta = item[0].decode()
                uid = meta.split("UID ")[1].split()[0]
                flags = meta.split("FLAGS (")[1].split(")")[0]
                flags = " ".join(sorted(f for f in flags.split() if f != "\\Recent"))
                out.append(f"{uid} [{flags}] {len(item[1])} {hashlib.sha256(item[1]).hexdigest()}")
        print("\n".join(sorted(out)))
    elif cmd == "list":
        typ, data = m.list('""', args[0])
        for d in data or []:
            if d:
                print(d.decode().rsplit(" ", 1)[-1].strip('"'))
    elif cmd == "sep":
        typ, data = m.list('""', '""')
        print(data[0].decode().split('"')[1])
    elif cmd == "count":
        typ, data = m.select(quote(args[0]), readonly=True)
        print(int(data[0]))
    m.logout()


if __name__ == "__main__":
    main()
