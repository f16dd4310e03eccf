#!/usr/bin/env python3
"""Soak test harness for `natidle keepalive` (Python 3 standard library only).

Runs the natidle command given after "--", waits until its session reaches
IDLE, then APPENDs uniquely named messages over a second IMAP connection at
random moments and records when each one was appended and when natidle
printed it.  At the end it stops natidle with SIGTERM and checks what the
options ask for: every message printed exactly once, delays, keepalive and
reconnect counts from natidle's tally line, rows of its CSV log.

Must run where the IMAP server is reachable (the lab scripts run it inside
the server's network namespace); natidle itself runs wherever the command
puts it (natidle lab exec ...).
"""
import argparse
import csv
import imaplib
import os
import random
import re
import shlex
import signal
import ssl
import subprocess
import sys
import threading
import time

NEW_RE = re.compile(r'^new uid=(\d+) .*subject="((?:[^"\\]|\\.)*)"')
TALLY_RE = re.compile(r'^tally (.*)$')


class Abort(Exception):
    """Ends the run early; the reason is already in the failure list."""


def log(msg):
    print("soak: %s" % msg, file=sys.stderr, flush=True)


class Natidle:
    """The process under test, its stdout lines with arrival times, and
    whether its session has reached IDLE (from its stderr state lines)."""

    def __init__(self, argv):
        self.lines = []  # (monotonic time, line)
        self.idle_count = 0
        self.uidvalidity_changes = 0
        self.reconnect_waits = 0
        self.idle_mark = 0  # idle_count when the last change was reported
        self.cond = threading.Condition()
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, bufsize=1, start_new_session=True)
        self.t_out = threading.Thread(target=self._read_out, daemon=True)
        self.t_err = threading.Thread(target=self._read_err, daemon=True)
        self.t_out.start()
        self.t_err.start()

    def _read_out(self):
        for line in self.proc.stdout:
            now = time.monotonic()
            line = line.rstrip("\n")
            print("  [%7.3f] out: %s" % (now - self.t0, line), file=sys.stderr, flush=True)
            with self.cond:
                self.lines.append((now, line))
                self.cond.notify_all()

    def _read_err(self):
        for line in self.proc.stderr:
            now = time.monotonic()
            line = line.rstrip("\n")
            print("  [%7.3f] err: %s" % (now - self.t0, line), file=sys.stderr, flush=True)
            with self.cond:
                if " state reconnect-wait" in line:
                    self.reconnect_waits += 1
                if "uidvalidity changed" in line:
                    self.uidvalidity_changes += 1
                    self.idle_mark = self.idle_count
                if " state idle" in line:
                    self.idle_count += 1
                self.cond.notify_all()

    def wait_idle(self, timeout, sessions=1):
        """Wait until `sessions` "state idle" lines were seen."""
        end = time.monotonic() + timeout
        with self.cond:
            while self.idle_count < sessions and self.proc.poll() is None:
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(min(left, 0.2))
            return self.idle_count >= sessions

    def seen_subjects(self):
        with self.cond:
            out = {}
            for t, line in self.lines:
                m = NEW_RE.match(line)
                if m:
                    out.setdefault(m.group(2), []).append(t)
            return out

    def wait_subjects(self, subjects, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end and self.proc.poll() is None:
            seen = self.seen_subjects()
            if all(s in seen for s in subjects):
                return True
            time.sleep(0.1)
        seen = self.seen_subjects()
        return all(s in seen for s in subjects)

    def stop(self, timeout=10):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            rc = self.proc.wait()
        self.t_out.join(2)
        self.t_err.join(2)
        return rc

    def tally(self):
        with self.cond:
            for _, line in reversed(self.lines):
                m = TALLY_RE.match(line)
                if m:
                    return dict(kv.split("=", 1) for kv in m.group(1).split() if "=" in kv)
        return None


class Appender:
    """A second IMAP connection that APPENDs test messages."""

    def __init__(self, a):
        self.a = a
        self.connect()

    def connect(self):
        a = self.a
        pw = open(a.password_file, encoding="utf-8").read().strip("\r\n")
        if a.tls == "imaps":
            ctx = ssl.create_default_context(cafile=a.ca_file)
            self.m = imaplib.IMAP4_SSL(a.host, a.port, ssl_context=ctx, timeout=10)
        else:
            self.m = imaplib.IMAP4(a.host, a.port, timeout=10)
        self.m.login(a.user, pw)
        self.mailbox = a.mailbox

    def append(self, subject):
        msg = ("From: Soak Sender <sender@example.org>\r\n"
               "To: natidle <natidle@example.org>\r\n"
               "Subject: %s\r\n"
               "Message-ID: <%s@example.org>\r\n"
               "\r\n"
               "keepalive soak test message\r\n") % (subject, subject.replace(" ", "."))
        typ, data = self.m.append(self.mailbox, None, None, msg.encode())
        if typ != "OK":
            raise RuntimeError("APPEND failed: %r" % (data,))

    def close(self):
        try:
            self.m.logout()
        except Exception:  # the test is over; a failing LOGOUT changes nothing
            pass


def wait_for(n, pred, timeout):
    """Wait until pred() (called under n.cond) holds or timeout passes."""
    end = time.monotonic() + timeout
    while time.monotonic() < end and n.proc.poll() is None:
        with n.cond:
            if pred():
                return True
        time.sleep(0.1)
    return False


def recreate(a, app, n, subjects, failures):
    """Delete the watched mailbox once natidle has printed `subjects`, wait
    until natidle lost its session, re-create the mailbox (a new UIDVALIDITY)
    and wait until natidle reports that and is idle again.  Dovecot corrupts
    its index when a mailbox is re-created while a session still has it
    selected, hence the wait in between."""
    if not n.wait_subjects(subjects, 10):
        failures.append("messages before the re-creation not printed")
        raise Abort()
    with n.cond:
        changes, waits = n.uidvalidity_changes, n.reconnect_waits
    log("deleting %s" % a.mailbox)
    app.m.delete(a.mailbox)
    if not wait_for(n, lambda: n.reconnect_waits > waits, 20):
        failures.append("natidle kept its session to the deleted mailbox")
        raise Abort()
    log("re-creating %s" % a.mailbox)
    app.close()
    app.connect()
    app.m.create(a.mailbox)
    if not wait_for(n, lambda: n.uidvalidity_changes > changes and n.idle_count > n.idle_mark, 20):
        failures.append("natidle did not report the new UIDVALIDITY")
        raise Abort()


def parse_range(s):
    lo, _, hi = s.partition(":")
    return int(lo), int(hi)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--tls", default="imaps", choices=["imaps", "none"])
    ap.add_argument("--ca-file")
    ap.add_argument("--user", required=True)
    ap.add_argument("--password-file", required=True)
    ap.add_argument("--mailbox", default="INBOX")
    ap.add_argument("--messages", type=int, default=5, help="messages to append")
    ap.add_argument("--sessions", type=int, default=1,
                    help="sessions (accounts) of natidle that must reach IDLE first")
    ap.add_argument("--gap", default="1:8", help="seconds between appends, MIN:MAX")
    ap.add_argument("--first-gap", type=float, help="seconds before the first append")
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--settle", type=float, default=5, help="seconds to wait for the last messages")
    ap.add_argument("--flush-cmd", help="command run after --flush-after messages")
    ap.add_argument("--flush-after", type=int, default=1)
    ap.add_argument("--max-delay", type=float, help="every message printed within S seconds")
    ap.add_argument("--expect-late", type=float,
                    help="at least one message printed more than S seconds after its append")
    ap.add_argument("--keepalives", help="MIN:MAX keepalives in natidle's tally")
    ap.add_argument("--keepalive-every", type=float,
                    help="at most one keepalive per S seconds of the run (plus one)")
    ap.add_argument("--min-reconnects", type=int)
    ap.add_argument("--max-reconnects", type=int)
    ap.add_argument("--log", help="natidle's --log CSV, checked with --expect-event")
    ap.add_argument("--expect-event", action="append", default=[],
                    help="EVENT or EVENT/OUTCOME that must appear in the CSV log")
    ap.add_argument("--recreate-after", type=int,
                    help="after K messages were printed, delete and re-create the mailbox "
                         "(a new UIDVALIDITY); natidle must say so and go on")
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd[:1] == ["--"] else a.cmd
    if not cmd:
        ap.error("the natidle command goes after --")

    rng = random.Random(a.seed)
    gmin, gmax = (float(x) for x in a.gap.split(":"))
    tag = "%d-%d" % (os.getpid(), a.seed)
    # The appender first: it creates the mailbox natidle is to watch.
    app = Appender(a)
    if a.mailbox.upper() != "INBOX":
        app.m.create(a.mailbox)  # "already exists" is fine
    log("seed %d; running %s" % (a.seed, " ".join(shlex.quote(c) for c in cmd)))
    n = Natidle(cmd)
    failures = []
    appended = []  # (subject, monotonic time)
    t_idle = None
    try:
        if not n.wait_idle(30, a.sessions):
            failures.append("natidle never reached IDLE")
            raise Abort()
        t_idle = time.monotonic()
        for i in range(a.messages):
            gap = a.first_gap if (i == 0 and a.first_gap is not None) else rng.uniform(gmin, gmax)
            time.sleep(gap)
            if n.proc.poll() is not None:
                failures.append("natidle exited early with %s" % n.proc.returncode)
                raise Abort()
            subject = "natidle soak %s #%d" % (tag, i)
            t = time.monotonic()
            app.append(subject)
            appended.append((subject, t))
            log("appended %r at %.3f" % (subject, t - n.t0))
            if a.flush_cmd and i + 1 == a.flush_after:
                log("flushing: %s" % a.flush_cmd)
                subprocess.run(a.flush_cmd, shell=True, check=True)
                # The flush may have cut the appender's own connection too
                # (a server-side kick does): start a fresh one.
                app.close()
                app.connect()
            if a.recreate_after and i + 1 == a.recreate_after:
                recreate(a, app, n, [s for s, _ in appended], failures)
        n.wait_subjects([s for s, _ in appended], a.settle)
    except Abort:
        pass
    finally:
        if app:
            app.close()
        t_end = time.monotonic()
        rc = n.stop()
    log("natidle exited with %s" % rc)
    if rc not in (0, 130):
        failures.append("natidle exit status %s" % rc)

    seen = n.seen_subjects()
    delays = []
    for subject, t in appended:
        times = seen.get(subject, [])
        if not times:
            failures.append("message %r never printed" % subject)
            continue
        if len(times) > 1:
            failures.append("message %r printed %d times" % (subject, len(times)))
        d = times[0] - t
        delays.append(d)
        log("%r: printed after %.3f s" % (subject, d))
        if a.max_delay is not None and d > a.max_delay:
            failures.append("message %r printed after %.1f s (limit %.1f s)" % (subject, d, a.max_delay))
    ours = {s for s, _ in appended}
    for subject, times in seen.items():
        if subject.startswith("natidle soak %s " % tag) and subject not in ours:
            failures.append("natidle printed a message never appended: %r" % subject)
    if a.expect_late is not None and not any(d > a.expect_late for d in delays):
        failures.append("no message was late by more than %.1f s: the lost push went unnoticed" % a.expect_late)

    tally = n.tally()
    if tally is None:
        failures.append("no tally line on exit")
    else:
        log("tally: %s" % tally)
        if a.keepalives:
            lo, hi = parse_range(a.keepalives)
            k = int(tally.get("keepalives", -1))
            if not lo <= k <= hi:
                failures.append("%d keepalives, expected %d..%d" % (k, lo, hi))
        if a.keepalive_every and t_idle is not None:
            k = int(tally.get("keepalives", -1))
            limit = int((t_end - t_idle) / a.keepalive_every) + 1
            log("%d keepalives in %.1f s of run (limit %d)" % (k, t_end - t_idle, limit))
            if k > limit:
                failures.append("%d keepalives in %.1f s: more than one per %.1f s"
                                % (k, t_end - t_idle, a.keepalive_every))
        r = int(tally.get("reconnects", -1))
        if a.min_reconnects is not None and r < a.min_reconnects:
            failures.append("%d reconnects, expected at least %d" % (r, a.min_reconnects))
        if a.max_reconnects is not None and r > a.max_reconnects:
            failures.append("%d reconnects, expected at most %d" % (r, a.max_reconnects))
        if appended and int(tally.get("messages", -1)) != len(appended):
            failures.append("tally counts %s messages, %d appended" % (tally.get("messages"), len(appended)))

    if a.log:
        rows = list(csv.DictReader(open(a.log, newline="", encoding="utf-8")))
        have = {r["event"] for r in rows} | {"%s/%s" % (r["event"], r["outcome"]) for r in rows}
        log("log: %d rows, events %s" % (len(rows), sorted(have)))
        for e in a.expect_event:
            if e not in have:
                failures.append("no %r row in %s" % (e, a.log))

    for f in failures:
        print("FAIL: %s" % f, file=sys.stderr)
    if not failures:
        log("ok: %d messages, delays %s" % (len(appended), ", ".join("%.2f" % d for d in delays)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
