#!/usr/bin/env python3
"""A hostile IMAP server for natidle's robustness tests (standard library only).

    hostile_imap.py MODE PORTFILE LOGFILE [CERTPREFIX]

Listens on 127.0.0.1 (a free port, written to PORTFILE) and serves every
client that connects, each in a thread of its own, until killed.  Every line
a client sends in the clear or inside TLS is appended to LOGFILE (so a test
can check that no credentials were ever sent).  CERTPREFIX names PREFIX.pem
and PREFIX.key for the TLS modes.  Every loop is bounded in bytes and time:
a broken client cannot keep this server busy for more than two minutes.

MODE (what the server does to the client):
    garbage        64 KiB of bytes that are not IMAP, instead of a greeting
    bye_mid        a normal start, then "* BYE" in the middle of the login
                   command, and the connection is closed
    flood          answers the login with a million untagged lines, then a
                   tagged OK, and closes on the next command
    literal        answers the login with a literal announcing 2^40 bytes,
                   then sends 1 MiB of its "contents"
    longline       a greeting line that never ends (up to 64 MiB)
    slow           the greeting, one byte per second
    stall_login    a normal start, then never answers the login
    tls_stall      IMAPS port: reads the TLS ClientHello and never answers
    starttls_stall STARTTLS answered OK, then no TLS handshake at all
    starttls_inject
                   STARTTLS answered OK with plaintext lines appended in the
                   same write ("* BYE injected", a capability list); then
                   TLS, and inside TLS a server without IDLE
    starttls_bad   STARTTLS advertised, but the command is refused (BAD)
    tls11          IMAPS limited to TLS 1.1 (and 1.0)
    starttls_tls11 STARTTLS, then TLS limited to 1.1 (and 1.0)
    tls_ok         IMAPS with TLS 1.2+, a plain server without IDLE inside
    plain          plaintext, a plain server without IDLE (login accepted)
    idle_literal   a session that reaches IDLE, then gets a literal of 2^40
                   bytes (every connection, so the client keeps reconnecting)
    idle_garbage   the same with 64 KiB of garbage
    idle_flood     the same with a million untagged lines, then IDLE goes on
"""
import os
import socket
import ssl
import sys
import threading
import time

MODE, PORTFILE, LOGFILE = sys.argv[1:4]
CERT = sys.argv[4] if len(sys.argv) > 4 else None
LOCK = threading.Lock()
MAX_CONN_S = 120  # no connection is served longer than this
CAPS_IDLE = "IMAP4rev1 IDLE LITERAL+ AUTH=PLAIN"
CAPS_NOIDLE = "IMAP4rev1 LITERAL+ AUTH=PLAIN"


def log(line):
    with LOCK, open(LOGFILE, "a") as f:
        f.write(line.rstrip("\r\n") + "\n")


def tls_context(max11=False):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(CERT + ".pem", CERT + ".key")
    if max11:
        # OpenSSL 3 refuses TLS < 1.2 at its default security level.
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    return ctx


class Conn:
    """One client: line reading with a bound, and sending."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.deadline = time.monotonic() + MAX_CONN_S

    def send(self, data):
        if isinstance(data, str):
            data = data.encode() + b"\r\n"
        self.sock.sendall(data)

    def readline(self):
        while b"\n" not in self.buf:
            if len(self.buf) > 1 << 20 or time.monotonic() > self.deadline:
                return None
            self.sock.settimeout(max(0.1, self.deadline - time.monotonic()))
            try:
                d = self.sock.recv(65536)
            except (OSError, socket.timeout):
                return None
            if not d:
                return None
            self.buf += d
        line, self.buf = self.buf.split(b"\n", 1)
        text = line.decode(errors="replace").rstrip("\r")
        log(text)
        return text

    def wait_eof(self):
        """Read and drop everything until the client closes (bounded)."""
        while time.monotonic() < self.deadline:
            self.sock.settimeout(1)
            try:
                if not self.sock.recv(65536):
                    return
            except socket.timeout:
                continue
            except OSError:
                return

    def start_tls(self, ctx):
        self.sock = ctx.wrap_socket(self.sock, server_side=True)
        self.buf = b""


def commands(c, limit):
    """Yield (tag, COMMAND, rest) for at most limit client lines."""
    for _ in range(limit):
        line = c.readline()
        if line is None:
            return
        parts = line.split(" ", 2) + [""]
        if parts[1]:
            yield parts[0], parts[1].upper(), parts[2]


def serve_commands(c, caps, on_login=None):
    """A plain IMAP server: CAPABILITY, LOGIN/AUTHENTICATE (accepted), NOOP,
    LOGOUT; anything else is refused.  on_login(c, tag) replaces the answer
    to the login command; it returns False to end the connection."""
    for tag, cmd, arg in commands(c, 1000):
        if cmd == "CAPABILITY":
            c.send(f"* CAPABILITY {caps}")
            c.send(f"{tag} OK done")
        elif cmd in ("LOGIN", "AUTHENTICATE"):
            if cmd == "AUTHENTICATE" and " " not in arg:
                c.send("+ ")
                if c.readline() is None:
                    return
            if on_login:
                if not on_login(c, tag):
                    return
            else:
                c.send(f"{tag} OK [CAPABILITY {caps}] logged in")
        elif cmd == "LOGOUT":
            c.send("* BYE bye")
            c.send(f"{tag} OK done")
            return
        elif cmd == "NOOP":
            c.send(f"{tag} OK done")
        elif MODE.startswith("idle_") and cmd in ("SELECT", "EXAMINE"):
            c.send("* FLAGS (\\Seen)")
            c.send("* 0 EXISTS")
            c.send("* OK [UIDVALIDITY 1] ok")
            c.send("* OK [UIDNEXT 1] ok")
            c.send(f"{tag} OK [READ-WRITE] selected")
        elif MODE.startswith("idle_") and cmd == "IDLE":
            c.send("+ idling")
            if not idle_attack(c, tag):
                return
        elif MODE.startswith("idle_"):
            c.send(f"{tag} OK done")
        else:
            c.send(f"{tag} NO not in this server")


def idle_attack(c, tag):
    """What the idle_* modes do to a client in IDLE.  Returns False to end
    the connection."""
    time.sleep(0.5)
    if MODE == "idle_literal":
        c.send(b"* 1 FETCH (BODY[] {1099511627776}\r\n" + b"A" * 65536)
    elif MODE == "idle_garbage":
        c.send(bytes((i * 7 + 13) % 256 for i in range(65536)))
    elif MODE == "idle_flood":
        chunk = b"* 0 RECENT\r\n" * 10000
        for _ in range(100):  # 10^6 lines in the middle of IDLE
            c.send(chunk)
        if c.readline() is None:  # DONE
            return False
        c.send(f"{tag} OK idle done")
        return True
    c.wait_eof()
    return False


def greet(c, caps=CAPS_IDLE):
    c.send(f"* OK [CAPABILITY {caps}] hostile server ready")


def login_bye(c, tag):
    c.send("* BYE shutting down in the middle of your command")
    return False


def login_flood(c, tag):
    chunk = b"* 1 RECENT\r\n" * 10000
    for _ in range(100):  # 10^6 lines, 12 MB
        c.send(chunk)
    c.send(f"{tag} OK [CAPABILITY {CAPS_IDLE}] logged in after the flood")
    c.readline()
    return False


def login_literal(c, tag):
    c.send(b"* 1 FETCH (BODY[] {1099511627776}\r\n")
    block = b"A" * 65536
    for _ in range(16):
        c.send(block)
    c.wait_eof()
    return False


def login_stall(c, tag):
    c.wait_eof()
    return False


def starttls_then(c, inject, then):
    """Serve until STARTTLS; answer it (with an injected tail when asked)
    and hand over to then(c)."""
    for tag, cmd, _ in commands(c, 20):
        if cmd == "CAPABILITY":
            c.send(f"* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED")
            c.send(f"{tag} OK done")
        elif cmd == "STARTTLS":
            if MODE == "starttls_bad":
                c.send(f"{tag} BAD STARTTLS is not for you")
                continue
            out = f"{tag} OK begin TLS now\r\n".encode()
            if inject:
                # One write: the OK and the injected plaintext share a segment.
                out += (f"* CAPABILITY {CAPS_IDLE} INJECTED\r\n"
                        "* BYE injected before TLS\r\n").encode()
            c.send(out)
            then(c)
            return
        else:
            c.send(f"{tag} BAD say STARTTLS first")


def after_inject(c):
    c.start_tls(tls_context())
    serve_commands(c, CAPS_NOIDLE)


def handle(sock):
    c = Conn(sock)
    try:
        if MODE == "garbage":
            c.send(bytes((i * 7 + 13) % 256 for i in range(65536)))
            c.wait_eof()
        elif MODE == "bye_mid":
            greet(c)
            serve_commands(c, CAPS_IDLE, login_bye)
        elif MODE == "flood":
            greet(c)
            serve_commands(c, CAPS_IDLE, login_flood)
        elif MODE == "literal":
            greet(c)
            serve_commands(c, CAPS_IDLE, login_literal)
        elif MODE == "longline":
            c.send(b"* OK ")
            block = b"x" * 65536
            for _ in range(1024):
                if time.monotonic() > c.deadline:
                    break
                c.send(block)
        elif MODE == "slow":
            for ch in f"* OK [CAPABILITY {CAPS_IDLE}] slow server\r\n".encode():
                if time.monotonic() > c.deadline:
                    break
                c.send(bytes([ch]))
                time.sleep(1)
        elif MODE == "stall_login":
            greet(c)
            serve_commands(c, CAPS_IDLE, login_stall)
        elif MODE == "tls_stall":
            c.wait_eof()
        elif MODE in ("starttls_stall", "starttls_inject", "starttls_bad", "starttls_tls11"):
            c.send("* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] hostile server ready")
            then = {"starttls_inject": after_inject,
                    "starttls_tls11": lambda cc: cc.start_tls(tls_context(max11=True))}
            starttls_then(c, MODE == "starttls_inject", then.get(MODE, lambda cc: cc.wait_eof()))
            c.wait_eof()
        elif MODE in ("tls11", "tls_ok"):
            c.start_tls(tls_context(max11=MODE == "tls11"))
            greet(c, CAPS_NOIDLE)
            serve_commands(c, CAPS_NOIDLE)
        elif MODE.startswith("idle_"):
            greet(c)
            serve_commands(c, CAPS_IDLE)
        elif MODE == "plain":
            greet(c, CAPS_NOIDLE)
            serve_commands(c, CAPS_NOIDLE)
        else:
            log(f"unknown mode {MODE}")
    except (OSError, ssl.SSLError) as e:
        log(f"# connection ended: {e.__class__.__name__}")
    finally:
        try:
            c.sock.close()
        except OSError:
            pass


def main():
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    open(LOGFILE, "a").close()
    with open(PORTFILE + ".tmp", "w") as f:
        f.write(str(srv.getsockname()[1]))
    os.rename(PORTFILE + ".tmp", PORTFILE)
    for _ in range(200):  # bounded: a test makes a handful of connections
        s, _ = srv.accept()
        threading.Thread(target=handle, args=(s,), daemon=True).start()


if __name__ == "__main__":
    main()
