#!/usr/bin/env python3
"""Measure what an IMAP server offers and how its IDLE behaves.

Run it in the lab's client namespace (natidle lab exec NAME python3 ...)
against the lab's server, whichever kind it is (Dovecot, Cyrus, Courier):

  1. The plain port: greeting, CAPABILITY (login mechanisms, LOGINDISABLED,
     STARTTLS); STARTTLS, CAPABILITY again; LOGIN and CAPABILITY after it.
  2. The TLS port: CAPABILITY, LOGIN, NAMESPACE, the hierarchy separator
     (LIST "" ""), and whether a top-level mailbox "natidle-probe.<id>" (and
     "natidle-probe/<id>", and one under the personal namespace) can be
     created; what it created is deleted again.
  3. IDLE on INBOX, and APPENDs to INBOX from another connection: the time
     from the APPEND's tagged OK to "* N EXISTS" (PUSH_*_MS) when the APPEND
     comes (a) as soon as a session is in IDLE (FRESH), (b) after a new
     session has been idle --idle-wait seconds (IDLE), (c) right after (b)'s
     EXISTS arrived (NEXT; PUSH_GAP_MS is the time between the two EXISTS:
     the poll interval when the server polls), (d) at once in the first
     session's second IDLE, after a DONE (REIDLE).  Every untagged line
     during IDLE other than EXISTS/RECENT/FETCH/EXPUNGE is counted (a
     server keepalive such as "* OK Still here" would show there).
  4. With --watch S: one more IDLE, silent for S seconds, and every line the
     server sends in that time, with its time (server keepalives, an IDLE
     time limit).

Every line received is checked for its line ending.  Results are KEY=VALUE
lines on stdout (values unquoted: split at the first '=').  Exit status 0
when the measurement ran (the caller judges the values), 1 when it could not
(connection, TLS, login), 2 on bad arguments.  Standard library only; every
wait is bounded (--push-wait, --watch at most 3600 s).
"""

import argparse
import os
import socket
import ssl
import sys
import time

STEP = 15.0  # seconds allowed for any one command's answer


class Conn:
    """A line-oriented IMAP connection with a deadline on every read."""

    lf_only = 0   # lines that ended in a bare LF (every connection counts)
    crlf = 0

    def __init__(self, host, port, tls, ca_file):
        self.host = host
        self.ca_file = ca_file
        self.raw = socket.create_connection((host, port), timeout=STEP)
        self.sock = self.raw
        self.buf = b""
        if tls:
            self.starttls_wrap()
        self.greeting = self.readline(STEP)
        if not self.greeting.startswith(b"* OK"):
            raise RuntimeError("bad greeting: %r" % self.greeting)
        self.n = 0

    def starttls_wrap(self):
        ctx = ssl.create_default_context(cafile=self.ca_file)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        self.sock = ctx.wrap_socket(self.raw, server_hostname=self.host)

    def readline(self, timeout):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("no line within %.1f s" % timeout)
            self.sock.settimeout(left)
            chunk = self.sock.recv(65536)
            if not chunk:
                line, self.buf = self.buf, b""
                return line
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        if line.endswith(b"\r"):
            Conn.crlf += 1
        else:
            Conn.lf_only += 1
        return line + b"\n"

    def send(self, data):
        self.sock.sendall(data)

    def tag(self):
        self.n += 1
        return b"m%d" % self.n

    def command(self, text, literal=None, check=True):
        """Sends a command; returns (untagged lines, tagged line)."""
        tag = self.tag()
        if literal is None:
            self.send(tag + b" " + text + b"\r\n")
        else:
            # A synchronizing literal: no LITERAL+ needed.
            self.send(tag + b" " + text + b" {%d}\r\n" % len(literal))
            while True:
                cont = self.readline(STEP)
                if cont.startswith(b"+"):
                    break
                if not cont or cont.startswith(tag + b" "):
                    raise RuntimeError("literal refused: %r" % cont)
            self.send(literal + b"\r\n")
        untagged = []
        while True:
            line = self.readline(STEP)
            if not line:
                raise RuntimeError("connection closed during %r" % text)
            if line.startswith(tag + b" "):
                if check and not line.startswith(tag + b" OK"):
                    raise RuntimeError("%r failed: %r" % (text, line))
                return untagged, line
            untagged.append(line)

    def login(self, user, password):
        return self.command(b"LOGIN " + quote(user) + b" " + quote(password))

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def quote(s):
    if isinstance(s, str):
        s = s.encode()
    return b'"' + s.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def text(line):
    return line.decode("utf-8", "replace").rstrip("\r\n")


def caps_of(untagged, tagged=b""):
    """The capability list from a CAPABILITY response or a [CAPABILITY ...]
    response code."""
    for line in list(untagged) + [tagged]:
        t = text(line)
        if t.upper().startswith("* CAPABILITY "):
            return t.split()[2:]
        i = t.upper().find("[CAPABILITY ")
        if i >= 0:
            return t[i + 12:].split("]")[0].split()
    return []


def auth_of(caps):
    mechs = [c[5:] for c in caps if c.upper().startswith("AUTH=")]
    return " ".join(mechs) if mechs else "none"


def yes(b):
    return "yes" if b else "no"


def exists_count(line):
    p = line.split()
    if len(p) == 3 and p[0] == b"*" and p[2].upper() == b"EXISTS":
        try:
            return int(p[1])
        except ValueError:
            return None
    return None


def parse_namespace(line):
    """The first personal namespace's prefix and separator from a
    NAMESPACE response line."""
    t = text(line)
    rest = t[len("* NAMESPACE "):].strip()
    if rest.upper().startswith("NIL"):
        return "NIL", "NIL"
    try:
        q1 = rest.index('"')
        q2 = rest.index('"', q1 + 1)
        prefix = rest[q1 + 1:q2]
        rest2 = rest[q2 + 1:].lstrip()
        if rest2.upper().startswith("NIL"):
            return prefix, "NIL"
        q3 = rest2.index('"')
        q4 = rest2.index('"', q3 + 1)
        sep = rest2[q3 + 1:q4].replace('\\\\', '\\')
        return prefix, sep
    except ValueError:
        return "?", "?"


class Out:
    def __init__(self):
        self.items = []

    def __setitem__(self, k, v):
        self.items.append((k, v))

    def dump(self):
        for k, v in self.items:
            print("%s=%s" % (k, v))
        sys.stdout.flush()


def plain_port(a, password, out):
    c = Conn(a.host, a.port_imap, False, a.ca_file)
    try:
        out["GREETING_IMAP"] = text(c.greeting)
        u, t = c.command(b"CAPABILITY")
        caps = caps_of(u, t)
        out["PRE_TLS_CAPS"] = " ".join(caps)
        out["PRE_TLS_AUTH"] = auth_of(caps)
        out["PRE_TLS_LOGINDISABLED"] = yes("LOGINDISABLED" in [x.upper() for x in caps])
        out["STARTTLS"] = yes("STARTTLS" in [x.upper() for x in caps])
        if "STARTTLS" not in [x.upper() for x in caps]:
            return
        _, t = c.command(b"STARTTLS")
        c.starttls_wrap()
        u, t = c.command(b"CAPABILITY")
        caps = caps_of(u, t)
        out["STARTTLS_CAPS"] = " ".join(caps)
        out["STARTTLS_AUTH"] = auth_of(caps)
        out["STARTTLS_LOGINDISABLED"] = yes("LOGINDISABLED" in [x.upper() for x in caps])
        t0 = time.monotonic()
        c.login(a.user, password)
        out["STARTTLS_LOGIN_MS"] = int((time.monotonic() - t0) * 1000)
        c.command(b"LOGOUT", check=False)
    finally:
        c.close()
    if a.try_plaintext_login:
        # LOGIN before STARTTLS: refused, or accepted (the password crosses
        # the lab's own links in clear).
        c = Conn(a.host, a.port_imap, False, a.ca_file)
        try:
            _, t = c.command(b"LOGIN " + quote(a.user) + b" " + quote(password), check=False)
            out["PLAINTEXT_LOGIN"] = text(t)
            c.command(b"LOGOUT", check=False)
        finally:
            c.close()


def tls_port(a, password, out):
    t0 = time.monotonic()
    c = Conn(a.host, a.port_imaps, True, a.ca_file)
    out["GREETING_IMAPS"] = text(c.greeting)
    u, t = c.command(b"CAPABILITY")
    caps = caps_of(u, t)
    out["IMAPS_CAPS"] = " ".join(caps)
    out["IMAPS_AUTH"] = auth_of(caps)
    u, t = c.login(a.user, password)
    out["IMAPS_CONNECT_LOGIN_MS"] = int((time.monotonic() - t0) * 1000)
    pre = [x.upper() for x in caps]
    u, t = c.command(b"CAPABILITY")
    caps = caps_of(u, t)
    # Before or after login: SASL-IR only makes sense before, NOTIFY after.
    up = [x.upper() for x in caps] + pre
    out["LOGIN_CAPS"] = " ".join(caps)
    for name, key in (("IDLE", "IDLE"), ("NAMESPACE", "NAMESPACE"), ("LITERAL+", "LITERALPLUS"),
                      ("LITERAL-", "LITERALMINUS"), ("SASL-IR", "SASLIR"), ("UIDPLUS", "UIDPLUS"),
                      ("NOTIFY", "NOTIFY"), ("CONDSTORE", "CONDSTORE"), ("QRESYNC", "QRESYNC"),
                      ("MOVE", "MOVE"), ("UNSELECT", "UNSELECT"), ("ENABLE", "ENABLE"),
                      ("ID", "ID"), ("CHILDREN", "CHILDREN"), ("SPECIAL-USE", "SPECIALUSE"),
                      ("COMPRESS=DEFLATE", "COMPRESS")):
        out["HAS_" + key] = yes(name in up)
    u, t = c.command(b"NAMESPACE", check=False)
    ns = [x for x in u if x.upper().startswith(b"* NAMESPACE")]
    out["NAMESPACE"] = text(ns[0]) if ns else text(t)
    prefix, sep = parse_namespace(ns[0]) if ns else ("?", "?")
    out["PERSONAL_PREFIX"] = prefix
    out["NAMESPACE_SEPARATOR"] = sep
    u, t = c.command(b'LIST "" ""')
    lsep = "?"
    for line in u:
        parts = text(line).split('"')
        if text(line).upper().startswith("* LIST") and len(parts) >= 2:
            lsep = parts[1]
        elif text(line).upper().startswith("* LIST") and " NIL " in text(line):
            lsep = "NIL"
    out["LIST_SEPARATOR"] = lsep
    out["LIST_ROOT"] = " | ".join(text(x) for x in u)

    # Mailbox creation, as natidle's probe would try it.
    ident = "m%d" % os.getpid()
    created = []
    tries = [("CREATE_TOPLEVEL_DOT", "natidle-probe.%s" % ident),
             ("CREATE_TOPLEVEL_SLASH", "natidle-probe/%s" % ident)]
    if prefix not in ("", "NIL", "?") and sep not in ("NIL", "?"):
        tries.append(("CREATE_PERSONAL", "%snatidle-probe%s%s" % (prefix, sep, ident)))
    for key, name in tries:
        out[key + "_NAME"] = name
        _, t = c.command(b"CREATE " + quote(name), check=False)
        out[key] = text(t).split(" ", 1)[1] if b" " in t else text(t)
        if t.split(b" ")[1:2] == [b"OK"]:
            created.append(name)
    # Delete what was created, children first, then the parents the server
    # made on the way, when they are left empty of children.
    for name in created:
        c.command(b"DELETE " + quote(name), check=False)
    for name in created:
        parent = name[:name.index("natidle-probe") + len("natidle-probe")]
        u, _ = c.command(b'LIST "" ' + quote(parent + "*"), check=False)
        names = [text(x).rsplit(" ", 1)[-1].strip('"') for x in u if x.upper().startswith(b"* LIST")]
        if names == [parent]:
            c.command(b"DELETE " + quote(parent), check=False)
    u, _ = c.command(b'LIST "" "*natidle-probe*"', check=False)
    out["CREATE_LEFTOVERS"] = len([x for x in u if x.upper().startswith(b"* LIST")])
    c.command(b"LOGOUT", check=False)
    c.close()


class Idler:
    """A session that IDLEs on INBOX and times what reaches it."""

    def __init__(self, a, password):
        self.c = Conn(a.host, a.port_imaps, True, a.ca_file)
        self.c.login(a.user, password)
        u, _ = self.c.command(b"SELECT INBOX")
        self.count = 0
        for line in u:
            n = exists_count(line)
            if n is not None:
                self.count = n
        self.other = []       # (seconds since IDLE start, line) not EXISTS/RECENT/FETCH
        self.cont = ""
        self.idle_at = None

    def idle(self):
        self.c.send(b"i1 IDLE\r\n")
        while True:
            line = self.c.readline(STEP)
            if line.startswith(b"+"):
                self.cont = text(line)
                self.idle_at = time.monotonic()
                return
            if not line or line.startswith(b"i1 "):
                raise RuntimeError("IDLE refused: %r" % line)

    def wait_exists(self, limit):
        """Seconds (monotonic time) at which a new EXISTS arrived, or None."""
        end = time.monotonic() + limit
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return None
            try:
                line = self.c.readline(left)
            except socket.timeout:
                return None
            now = time.monotonic()
            if not line:
                self.other.append((now - self.idle_at, "<end of stream>"))
                return None
            n = exists_count(line)
            if n is not None:
                if n > self.count:
                    self.count = n
                    return now
                continue
            p = line.split()
            if len(p) >= 3 and p[2].upper() in (b"RECENT", b"FETCH", b"EXPUNGE"):
                continue
            self.other.append((now - self.idle_at, text(line)))

    def watch(self, seconds):
        """Every line in the next seconds, with its time since IDLE start."""
        end = time.monotonic() + seconds
        seen = []
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return seen
            try:
                line = self.c.readline(left)
            except socket.timeout:
                return seen
            seen.append((time.monotonic() - self.idle_at, text(line) if line else "<end of stream>"))
            if not line:
                return seen

    def done(self):
        """DONE, and the tagged answer's text."""
        self.c.send(b"DONE\r\n")
        end = time.monotonic() + STEP
        while time.monotonic() < end:
            line = self.c.readline(STEP)
            if not line:
                return "<end of stream>"
            n = exists_count(line)
            if n is not None and n > self.count:
                self.count = n
            if line.startswith(b"i1 "):
                return text(line)
        return "<no answer>"


def appender(a, password):
    b = Conn(a.host, a.port_imaps, True, a.ca_file)
    b.login(a.user, password)
    return b


def append(b, seq):
    msg = (b"From: natidle-measure@example.invalid\r\nTo: natidle-measure@example.invalid\r\n"
           b"Subject: natidle server measurement %d\r\nX-Natidle-Probe: measure\r\n\r\nmeasure\r\n" % seq)
    b.command(b"APPEND INBOX", literal=msg)
    return time.monotonic()


def ms(t_end, t_start):
    return -1 if t_end is None else int((t_end - t_start) * 1000)


def idle_part(a, password, out):
    A = Idler(a, password)
    A2 = None
    B = appender(a, password)
    try:
        # (a) an APPEND as soon as a session is in IDLE
        A.idle()
        out["IDLE_CONTINUATION"] = A.cont
        t = append(B, 1)
        got = A.wait_exists(a.push_wait)
        out["PUSH_FRESH_MS"] = ms(got, t)
        out["PUSH_FRESH_AT_S"] = "%.2f" % (got - A.idle_at) if got else "-1"
        out["DONE_FRESH"] = A.done()
        # (b) a new session, silent in IDLE for --idle-wait seconds
        A2 = Idler(a, password)
        A2.idle()
        A2.wait_exists(a.idle_wait)        # nothing expected: a silent wait
        t = append(B, 2)
        got = A2.wait_exists(a.push_wait)
        A.count = A2.count
        out["PUSH_IDLE_WAIT_S"] = a.idle_wait
        out["PUSH_IDLE_MS"] = ms(got, t)
        out["PUSH_IDLE_AT_S"] = "%.2f" % (got - A2.idle_at) if got else "-1"
        # (c) right after (b)'s EXISTS: when the server polls, the next one
        # comes at the next poll
        if got is not None:
            t = append(B, 3)
            got2 = A2.wait_exists(a.push_wait)
            out["PUSH_NEXT_MS"] = ms(got2, t)
            out["PUSH_GAP_MS"] = ms(got2, got)
        out["DONE_IDLE"] = A2.done()
        # (d) the first session again, IDLE after DONE (what a client does
        # after each push), an APPEND at once
        A.idle()
        # The EXISTS of (b) and (c) may come first: count from here.
        A.wait_exists(0.5)
        A.count = max(A.count, A2.count)
        t = append(B, 4)
        got = A.wait_exists(a.push_wait)
        out["PUSH_REIDLE_MS"] = ms(got, t)
        out["DONE_REIDLE"] = A.done()
        out["IDLE_OTHER_LINES"] = len(A.other) + len(A2.other)
        out["IDLE_OTHER"] = " | ".join("%.1fs %s" % x for x in (A.other + A2.other)[:5])
        # (e) a long silent IDLE, everything the server sends
        if a.watch > 0:
            A.other = []
            A.idle()
            seen = A.watch(a.watch)
            oks = [s for s, line in seen if line.startswith("* OK")]
            out["WATCH_S"] = a.watch
            out["WATCH_LINES"] = len(seen)
            out["WATCH"] = " | ".join("%.1fs %s" % x for x in seen[:8])
            out["KEEPALIVE_COUNT"] = len(oks)
            out["KEEPALIVE_FIRST_S"] = "%.1f" % oks[0] if oks else "-1"
            gaps = [b - a_ for a_, b in zip(oks, oks[1:])]
            out["KEEPALIVE_INTERVAL_S"] = "%.1f" % sorted(gaps)[len(gaps) // 2] if gaps else "-1"
            if not seen or seen[-1][1] != "<end of stream>":
                out["DONE_WATCH"] = A.done()
        for c in (B, A.c, A2.c):
            try:
                c.command(b"LOGOUT", check=False)
            except (OSError, RuntimeError, ssl.SSLError):
                pass
    finally:
        A.c.close()
        if A2 is not None:
            A2.c.close()
        B.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", required=True)
    ap.add_argument("--port-imap", type=int, default=143)
    ap.add_argument("--port-imaps", type=int, default=993)
    ap.add_argument("--ca-file", required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password-file", required=True)
    ap.add_argument("--idle-wait", type=float, default=12.0,
                    help="silence before the second APPEND (default 12 s)")
    ap.add_argument("--push-wait", type=float, default=75.0,
                    help="longest wait for an EXISTS (default 75 s)")
    ap.add_argument("--watch", type=float, default=0.0,
                    help="a final silent IDLE of this many seconds (default 0: none)")
    ap.add_argument("--try-plaintext-login", action="store_true",
                    help="also try LOGIN before STARTTLS on the plain port")
    ap.add_argument("--skip", default="",
                    help="comma-separated parts to leave out: plain, tls, idle")
    a = ap.parse_args()
    if not (0 <= a.idle_wait <= 600 and 0 < a.push_wait <= 600 and 0 <= a.watch <= 3600):
        ap.error("times out of range")
    skip = set(x for x in a.skip.split(",") if x)
    with open(a.password_file) as f:
        password = f.read().strip()
    out = Out()
    rc = 0
    try:
        if "plain" not in skip:
            plain_port(a, password, out)
        if "tls" not in skip:
            tls_port(a, password, out)
        if "idle" not in skip:
            idle_part(a, password, out)
    except (OSError, RuntimeError, ssl.SSLError) as e:
        print("server_measure: %s" % e, file=sys.stderr)
        out["ERROR"] = str(e)
        rc = 1
    out["LINES_CRLF"] = Conn.crlf
    out["LINES_LF_ONLY"] = Conn.lf_only
    out.dump()
    return rc


if __name__ == "__main__":
    sys.exit(main())
