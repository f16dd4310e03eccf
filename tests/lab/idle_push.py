#!/usr/bin/env python3
"""One IMAP IDLE push experiment, for the lab's integration tests.

Session A logs in, SELECTs INBOX, starts IDLE and stays silent for --silence
seconds.  Then a second connection B logs in as the same user and APPENDs a
tiny message to INBOX, which should reach A as "* N EXISTS".  A waits
--wait-push seconds for it, sends DONE and waits --wait-done seconds for the
answer.  What happened is printed as KEY=VALUE lines:

  EXISTS_BEFORE_DONE  yes|no   the push reached A before DONE
  PUSH_MS             ms from the end of the APPEND to the EXISTS (or -1)
  DONE_RESULT         ok|reset|closed|silent|error
  DONE_MS             ms from DONE to that result (-1 when silent)
  EXISTS_AFTER_DONE   yes|no   an EXISTS arrived after DONE, before the tagged OK
  STILL_HERE          number of "* OK Still here" lines A got while silent
  SILENCE_BYTES       bytes A received during its silence
  SILENCE_EOF         yes|no   A's connection ended during its silence
  LOCAL_PORT          A's local TCP port

The exit status is 0 when the experiment ran (the caller judges the result)
and 1 when it could not (connection, TLS or login failure).  Standard library
only; every wait is bounded.
"""

import argparse
import socket
import ssl
import sys
import time


class Conn:
    """A line-oriented IMAP connection with deadlines on every read."""

    def __init__(self, host, port, tls, ca_file, timeout):
        raw = socket.create_connection((host, port), timeout=timeout)
        self.sock = raw
        self.buf = b""
        if tls == "imaps":
            self.sock = self._wrap(raw, host, ca_file)
        greeting = self.readline(timeout)
        if not greeting.startswith(b"* OK"):
            raise RuntimeError("bad greeting: %r" % greeting)
        if tls == "starttls":
            self.command(b"s0", b"STARTTLS", timeout)
            self.sock = self._wrap(raw, host, ca_file)

    @staticmethod
    def _wrap(raw, host, ca_file):
        ctx = ssl.create_default_context(cafile=ca_file)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        return ctx.wrap_socket(raw, server_hostname=host)

    def send(self, data):
        self.sock.sendall(data)

    def readline(self, timeout):
        """A line (with CRLF), or raises socket.timeout / ConnectionError.
        Returns b"" at end of stream."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("no line within %.1f s" % timeout)
            self.sock.settimeout(left)
            chunk = self.sock.recv(4096)
            if not chunk:
                line, self.buf = self.buf, b""
                return line
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line + b"\n"

    def lines_until(self, end):
        """Yields lines until the monotonic time end; yields b"" once at end
        of stream.  A timeout ends the iteration; other errors propagate."""
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return
            try:
                line = self.readline(left)
            except socket.timeout:
                return
            yield line
            if not line:
                return

    def command(self, tag, text, timeout, literal=None):
        """Sends a command, returns (untagged lines, tagged line)."""
        if literal is None:
            self.send(tag + b" " + text + b"\r\n")
        else:
            self.send(tag + b" " + text + b" {%d}\r\n" % len(literal))
            cont = self.readline(timeout)
            if not cont.startswith(b"+"):
                raise RuntimeError("literal refused: %r" % cont)
            self.send(literal + b"\r\n")
        untagged = []
        while True:
            line = self.readline(timeout)
            if not line:
                raise RuntimeError("connection closed during %r" % text)
            if line.startswith(tag + b" "):
                if not line.startswith(tag + b" OK"):
                    raise RuntimeError("%r failed: %r" % (text, line))
                return untagged, line
            untagged.append(line)

    def login(self, user, password, timeout):
        self.command(b"l1", b"LOGIN " + quote(user) + b" " + quote(password), timeout)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def quote(s):
    return b'"' + s.encode().replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def end_of_stream(conn):
    """Tells a RST from a FIN once the stream has ended.  Python's TLS layer
    reports a reset under TLS as a plain end of stream, but the kernel's TCP
    state still knows: CLOSE after a RST, CLOSE_WAIT after the peer's FIN."""
    tcp_close = 7  # CLOSE_WAIT (8) would be a FIN
    try:
        state = conn.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0]
    except OSError:
        return "closed"
    if state == tcp_close:
        return "reset"
    return "closed"


def exists_count(line):
    parts = line.split()
    if len(parts) == 3 and parts[0] == b"*" and parts[2].upper() == b"EXISTS":
        try:
            return int(parts[1])
        except ValueError:
            return None
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", type=int, default=993)
    ap.add_argument("--tls", choices=["imaps", "starttls", "none"], default="imaps")
    ap.add_argument("--ca-file")
    ap.add_argument("--user", required=True)
    ap.add_argument("--password-file", required=True)
    ap.add_argument("--silence", type=float, required=True)
    ap.add_argument("--wait-push", type=float, default=2.0)
    ap.add_argument("--wait-done", type=float, default=3.0)
    a = ap.parse_args()
    if not (0 <= a.silence <= 600 and 0 < a.wait_push <= 60 and 0 < a.wait_done <= 60):
        ap.error("times out of range")
    with open(a.password_file) as f:
        password = f.read().strip()
    step = 10.0

    res = {"EXISTS_BEFORE_DONE": "no", "PUSH_MS": "-1", "DONE_RESULT": "error",
           "EXISTS_AFTER_DONE": "no", "STILL_HERE": "0", "SILENCE_BYTES": "0",
           "SILENCE_EOF": "no",
           "LOCAL_PORT": "0", "DONE_MS": "-1"}
    try:
        A = Conn(a.host, a.port, a.tls, a.ca_file, step)
        A.login(a.user, password, step)
        untagged, _ = A.command(b"s1", b"SELECT INBOX", step)
        n0 = 0
        for line in untagged:
            n = exists_count(line)
            if n is not None:
                n0 = n
        A.send(b"i1 IDLE\r\n")
        while True:
            line = A.readline(step)
            if line.startswith(b"+"):
                break
            if not line or line.startswith(b"i1 "):
                raise RuntimeError("IDLE refused: %r" % line)
        res["LOCAL_PORT"] = str(A.sock.getsockname()[1])
    except (OSError, RuntimeError, ssl.SSLError) as e:
        print("idle_push: setup failed: %s" % e, file=sys.stderr)
        return 1

    # The silence: anything that arrives is counted (a server keepalive
    # refreshes the NAT's mapping, which is what one test relies on).
    still_here = 0
    silence_bytes = 0
    early_exists = False
    end = time.monotonic() + a.silence
    try:
        for line in A.lines_until(end):
            if not line:
                res["SILENCE_EOF"] = "yes"
            silence_bytes += len(line)
            if b"Still here" in line:
                still_here += 1
            if exists_count(line) is not None:
                early_exists = True
    except (OSError, ssl.SSLError) as e:
        print("idle_push: error during the silence: %s" % e, file=sys.stderr)
    # A session closed by the server still waits out its silence, so the
    # push comes at the same time whatever happened (e.g. a server restart).
    left = end - time.monotonic()
    if left > 0:
        time.sleep(left)
    res["STILL_HERE"] = str(still_here)
    res["SILENCE_BYTES"] = str(silence_bytes)
    if early_exists:
        print("idle_push: EXISTS during the silence (someone else wrote to INBOX)",
              file=sys.stderr)

    # The push: a second connection (its own fresh NAT mapping) appends.
    try:
        B = Conn(a.host, a.port, a.tls, a.ca_file, step)
        B.login(a.user, password, step)
        msg = (b"From: lab-test@example.invalid\r\nTo: lab-test@example.invalid\r\n"
               b"Subject: natidle lab push\r\nX-Natidle-Probe: lab-test\r\n\r\npush\r\n")
        B.command(b"a1", b"APPEND INBOX", step, literal=msg)
        try:
            B.command(b"a2", b"LOGOUT", step)
        except (OSError, RuntimeError):
            pass
        B.close()
    except (OSError, RuntimeError, ssl.SSLError) as e:
        print("idle_push: APPEND failed: %s" % e, file=sys.stderr)
        return 1
    appended = time.monotonic()

    end = appended + a.wait_push
    try:
        for line in A.lines_until(end):
            n = exists_count(line)
            if n is not None and n > n0:
                res["EXISTS_BEFORE_DONE"] = "yes"
                res["PUSH_MS"] = str(int((time.monotonic() - appended) * 1000))
                break
    except (OSError, ssl.SSLError) as e:
        print("idle_push: error waiting for the push: %s" % e, file=sys.stderr)

    # DONE, and what answers it.
    done_at = time.monotonic()
    try:
        A.send(b"DONE\r\n")
        end = done_at + a.wait_done
        result = "silent"
        for line in A.lines_until(end):
            if not line:
                result = end_of_stream(A)
                break
            n = exists_count(line)
            if n is not None and n > n0 and res["EXISTS_BEFORE_DONE"] == "no":
                res["EXISTS_AFTER_DONE"] = "yes"
            if line.startswith(b"i1 "):
                result = "ok" if line.startswith(b"i1 OK") else "error"
                break
        res["DONE_RESULT"] = result
    except ConnectionResetError:
        res["DONE_RESULT"] = "reset"
    except (OSError, ssl.SSLError) as e:
        print("idle_push: after DONE: %s" % e, file=sys.stderr)
        res["DONE_RESULT"] = "reset" if "reset" in str(e).lower() else "error"
    if res["DONE_RESULT"] != "silent":
        res["DONE_MS"] = str(int((time.monotonic() - done_at) * 1000))
    A.close()

    for k, v in res.items():
        print("%s=%s" % (k, v))
    return 0


if __name__ == "__main__":
    sys.exit(main())
