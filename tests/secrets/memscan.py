#!/usr/bin/env python3
"""Search a running process's memory for secrets (needs root).

    memscan.py PID SECRETFILE [IGNORE_PREFIX]

SECRETFILE holds one string per line to search for (the password, and the
forms it takes on the wire, such as the base64 of a SASL PLAIN message).
Reads every readable mapping in /proc/PID/maps through /proc/PID/mem (the
process is stopped with SIGSTOP meanwhile, so nothing moves under the scan)
and prints one line per hit:

    HIT string#N at 0xADDR in [path or anonymous] (perms), context: ...

A hit right after IGNORE_PREFIX (e.g. "NATIDLE_PASSWORD=") is reported but
not counted: a sanitizer runtime keeps a private copy of the initial
environment that the program cannot reach.

Exits 0 when nothing was found, 1 on a hit, 2 when the scan was impossible.
Mappings larger than 1 GiB (sanitizer shadow memory, reserved but empty)
are skipped.
"""
import os
import re
import signal
import sys

MAX_REGION = 1 << 30


def main():
    pid = int(sys.argv[1])
    with open(sys.argv[2], "rb") as f:
        needles = [l.rstrip(b"\r\n") for l in f if l.strip()]
    ignore = sys.argv[3].encode() if len(sys.argv) > 3 else None
    hits = 0
    os.kill(pid, signal.SIGSTOP)
    try:
        maps = open(f"/proc/{pid}/maps").read().splitlines()
        mem = open(f"/proc/{pid}/mem", "rb", 0)
        for line in maps:
            m = re.match(r"([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)", line)
            if not m or m.group(3)[0] != "r":
                continue
            lo, hi = int(m.group(1), 16), int(m.group(2), 16)
            name = m.group(4) or "anonymous"
            if hi - lo > MAX_REGION or name in ("[vvar]", "[vsyscall]"):
                continue
            try:
                mem.seek(lo)
                data = mem.read(hi - lo)
            except OSError:
                continue
            for i, n in enumerate(needles):
                for h in re.finditer(re.escape(n), data):
                    ctx = data[max(0, h.start() - 24):h.end() + 24]
                    if ignore and data[max(0, h.start() - len(ignore)):h.start()] == ignore:
                        print(f"ignored string#{i} at {lo + h.start():#x} after {ignore!r}")
                        continue
                    hits += 1
                    print(f"HIT string#{i} at {lo + h.start():#x} in {name} ({m.group(3)}), "
                          f"context: {ctx!r}")
    except OSError as e:
        print(f"cannot scan {pid}: {e}")
        return 2
    finally:
        os.kill(pid, signal.SIGCONT)
    return 1 if hits else 0


if __name__ == "__main__":
    sys.exit(main())
