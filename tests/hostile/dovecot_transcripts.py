#!/usr/bin/env python3
"""Record what a real Dovecot sends, as seeds for the IMAP parser fuzzer.

    dovecot_transcripts.py HOST PORT CAFILE USER PASSFILE OUTDIR

Runs a few IMAPS sessions against the server (standard library only) and
writes every byte the server sent in each to OUTDIR/dovecot_<name>, after
the four bytes ff ff ff 07 that tests/fuzz/fuzz_parser.c reads as roomy
limits.  The sessions cover the responses natidle meets: greeting and
capabilities, SASL continuations, LIST/STATUS/NAMESPACE/ID, SELECT with
CONDSTORE, FETCH of envelopes, body structures, headers, whole messages and
BINARY literals, IDLE with EXISTS/EXPUNGE/FETCH pushes, NOTIFY, APPEND with
synchronising literals and APPENDUID, the server's NO/BAD codes, and BYE.
Used once to make tests/fuzz/corpus/fuzz_parser/dovecot_*; kept so the
seeds can be made again from a newer Dovecot (e.g. against a lab:
`natidle lab env NAME` gives every argument).
"""
import base64
import os
import socket
import ssl
import sys
import time

PREFIX = b"\xff\xff\xff\x07"
MESSAGES = [
    (b"From: =?UTF-8?B?w4lsb2TDrWU=?= <elodie@example.org>\r\n"
     b"To: \"Quote \\\" Test\" <q@example.org>, group: a@example.org, b@example.org;\r\n"
     b"Subject: =?UTF-8?Q?caf=C3=A9_(with_parens)_and_\"quotes\"?=\r\n"
     b"Message-ID: <m1@example.org>\r\nDate: Tue, 3 Mar 2026 10:00:00 +0100\r\n"
     b"X-Natidle-Probe: 20260303T090000Z-abcd\r\n\r\nHello.\r\n"),
    (b"From: a@example.org\r\nTo: b@example.org\r\nSubject: " + b"long " * 60 + b"\r\n"
     b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
     b"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nPart one.\r\n"
     b"--b1\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
     + base64.encodebytes(bytes(range(256))).replace(b"\n", b"\r\n") + b"--b1--\r\n"),
    b"Subject: no from, no date\r\n\r\n\r\n",
]


class Session:
    def __init__(self, host, port, cafile, log=True):
        ctx = ssl.create_default_context(cafile=cafile)
        ctx.check_hostname = False
        self.s = ctx.wrap_socket(socket.create_connection((host, int(port)), timeout=10))
        self.rx = b""
        self.log = log
        self.n = 0
        self.buf = b""

    def _recv(self):
        d = self.s.recv(65536)
        if not d:
            raise EOFError(self.rx[-300:])
        if self.log:
            self.rx += d
        self.buf += d

    def until(self, marker):
        """Read until marker appears in what the server sent (bounded) and
        drop everything up to the end of that line.  A marker starting with
        CRLF also matches at the start of the unread data."""
        deadline = time.monotonic() + 10
        while marker not in b"\r\n" + self.buf:
            if time.monotonic() > deadline:
                raise TimeoutError(marker)
            self._recv()
        i = (b"\r\n" + self.buf).index(marker) + len(marker) - 2
        j = self.buf.find(b"\r\n", max(i, 0))
        while j < 0:
            self._recv()
            j = self.buf.find(b"\r\n", max(i, 0))
        self.buf = self.buf[j + 2:]

    def send(self, data):
        self.s.sendall(data)

    def cmd(self, text, cont=None):
        """Send a tagged command; cont answers each "+" continuation."""
        self.n += 1
        tag = f"a{self.n}".encode()
        self.send(tag + b" " + text + b"\r\n")
        for c in cont or []:
            self.until(b"\r\n+")
            self.send(c)
        self.until(b"\r\n" + tag + b" ")
        return tag

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


def login(s, user, pw):
    s.until(b"* OK")
    s.cmd(b"CAPABILITY")
    raw = base64.b64encode(b"\0" + user.encode() + b"\0" + pw.encode())
    s.cmd(b"AUTHENTICATE PLAIN", [raw + b"\r\n"])


def main():
    host, port, cafile, user, passfile, out = sys.argv[1:7]
    pw = open(passfile).read().strip()
    os.makedirs(out, exist_ok=True)
    got = {}

    # The mailbox content first, over a connection that is not recorded.
    s = Session(host, port, cafile, log=False)
    login(s, user, pw)
    s.cmd(b'CREATE "fuzz seeds"')
    for m in MESSAGES:
        s.cmd(b'APPEND INBOX (\\Seen $Label1) {%d+}\r\n' % len(m) + m)
    s.cmd(b"LOGOUT")
    s.close()

    s = Session(host, port, cafile)
    login(s, user, pw)
    for c in [b'ID ("name" "natidle-seeds")', b"NAMESPACE", b"ENABLE CONDSTORE",
              b'LIST "" "*"', b'LSUB "" "*"', b'LIST (SPECIAL-USE) "" "*" RETURN (STATUS (MESSAGES))',
              b"STATUS INBOX (MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN HIGHESTMODSEQ)",
              b"GETQUOTAROOT INBOX", b'LIST "" ""']:
        s.cmd(c)
    s.cmd(b"LOGOUT")
    got["session_start"] = s.rx
    s.close()

    s = Session(host, port, cafile)
    login(s, user, pw)
    for c in [b"SELECT INBOX (CONDSTORE)", b"UID SEARCH ALL", b"SEARCH UNSEEN",
              b"UID FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE MODSEQ)",
              b"UID FETCH 1:* (BODYSTRUCTURE)",
              b"UID FETCH 1:* (BODY.PEEK[HEADER.FIELDS (From Subject X-Natidle-Probe)])",
              b"FETCH 1 (BODY.PEEK[])", b"FETCH 2 (BINARY.PEEK[2])", b"FETCH 2 (BODY.PEEK[1]<0.4>)",
              b"UID STORE 1 +FLAGS (\\Flagged)", b"STORE 3 +FLAGS.SILENT (\\Deleted)",
              b"UID EXPUNGE 3", b"CLOSE"]:
        s.cmd(c)
    s.cmd(b"LOGOUT")
    got["select_fetch"] = s.rx
    s.close()

    # IDLE and NOTIFY: a second, unrecorded connection makes the events.
    w = Session(host, port, cafile, log=False)
    login(w, user, pw)
    s = Session(host, port, cafile)
    login(s, user, pw)
    s.cmd(b"SELECT INBOX")
    s.send(b"i1 IDLE\r\n")
    s.until(b"\r\n+")
    w.cmd(b"APPEND INBOX {%d+}\r\n" % len(MESSAGES[2]) + MESSAGES[2])
    s.until(b"EXISTS")
    w.cmd(b"SELECT INBOX")
    w.cmd(b"STORE 1 +FLAGS (\\Answered)")
    w.cmd(b"STORE 1:* +FLAGS.SILENT (\\Deleted)")
    w.cmd(b"EXPUNGE")
    s.until(b"EXPUNGE")
    time.sleep(0.5)
    s.send(b"DONE\r\n")
    s.until(b"\r\ni1 ")
    s.cmd(b"NOTIFY SET (selected (MessageNew (uid body.peek[header.fields (from subject)]) "
          b"MessageExpunge FlagChange)) (personal (MessageNew MailboxName SubscriptionChange))")
    s.send(b"i2 IDLE\r\n")
    s.until(b"\r\n+")
    w.cmd(b"APPEND INBOX {%d+}\r\n" % len(MESSAGES[0]) + MESSAGES[0])
    s.until(b"FETCH")
    w.cmd(b'APPEND "fuzz seeds" {%d+}\r\n' % len(MESSAGES[2]) + MESSAGES[2])
    time.sleep(0.5)
    s.send(b"DONE\r\n")
    s.until(b"\r\ni2 ")
    s.cmd(b"NOTIFY NONE")
    s.cmd(b"LOGOUT")
    got["idle_notify"] = s.rx
    s.close()
    w.close()

    # APPEND with a synchronising literal, errors of every kind, and BYE.
    s = Session(host, port, cafile)
    login(s, user, pw)
    m = MESSAGES[0]
    s.cmd(b'APPEND "fuzz seeds" (\\Draft) "03-Mar-2026 10:00:00 +0100" {%d}' % len(m), [m + b"\r\n"])
    for c in [b'CREATE "fuzz seeds"', b'DELETE "no such box"', b'SELECT "no such box"',
              b"FETCH 1 (FLAGS)", b"FROB", b"UID FETCH x:y (FLAGS)", b'EXAMINE "fuzz seeds"',
              b"UID SEARCH HEADER X-Natidle-Probe 20260303", b"STORE 1 +FLAGS (\\Seen)",
              b'DELETE "fuzz seeds"']:
        s.cmd(c)
    # Deleting the selected mailbox makes Dovecot say BYE and hang up.
    try:
        s.cmd(b'DELETE "fuzz seeds"')
        s.cmd(b"LOGOUT")
    except EOFError:
        pass
    got["append_errors"] = s.rx
    s.close()

    for name, data in got.items():
        with open(os.path.join(out, "dovecot_" + name), "wb") as f:
            f.write(PREFIX + data)
        print(f"dovecot_{name}: {len(data)} bytes")


if __name__ == "__main__":
    main()
