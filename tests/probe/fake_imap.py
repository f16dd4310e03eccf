#!/usr/bin/env python3
"""A minimal IMAP server for the probe's error tests (standard library only).

    fake_imap.py MODE PORTFILE

Listens on 127.0.0.1 (a free port, written to PORTFILE) in plaintext and
serves one client at a time, until killed.  MODE:
    noidle      CAPABILITY lacks IDLE (before and after login); LOGIN succeeds
    nostarttls  CAPABILITY has IDLE but no STARTTLS; STARTTLS is refused
"""
import socketserver
import sys

MODE = sys.argv[1]
CAPS = "IMAP4rev1 LITERAL+ AUTH=PLAIN" if MODE == "noidle" else "IMAP4rev1 IDLE LITERAL+"


class Handler(socketserver.StreamRequestHandler):
    def send(self, line):
        self.wfile.write(line.encode() + b"\r\n")
        self.wfile.flush()

    def handle(self):
        self.send(f"* OK [CAPABILITY {CAPS}] fake server ready")
        # Bounded: a test client sends a handful of commands.
        for _ in range(100):
            line = self.rfile.readline(8192)
            if not line:
                return
            parts = line.decode(errors="replace").strip().split(" ", 2)
            if len(parts) < 2:
                continue
            tag, cmd = parts[0], parts[1].upper()
            if cmd == "CAPABILITY":
                self.send(f"* CAPABILITY {CAPS}")
                self.send(f"{tag} OK done")
            elif cmd == "AUTHENTICATE":
                if len(parts) < 3 or " " not in parts[2]:
                    self.send("+ ")
                    self.rfile.readline(8192)
                self.send(f"{tag} OK [CAPABILITY {CAPS}] logged in")
            elif cmd == "LOGIN":
                self.send(f"{tag} OK [CAPABILITY {CAPS}] logged in")
            elif cmd == "LOGOUT":
                self.send("* BYE bye")
                self.send(f"{tag} OK done")
                return
            elif cmd == "STARTTLS":
                self.send(f"{tag} BAD no TLS here")
            elif cmd == "NOOP":
                self.send(f"{tag} OK done")
            else:
                self.send(f"{tag} BAD not in this fake")


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


with Server(("127.0.0.1", 0), Handler) as srv:
    with open(sys.argv[2], "w") as f:
        f.write(str(srv.server_address[1]))
    srv.serve_forever()
