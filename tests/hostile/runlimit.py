#!/usr/bin/env python3
"""Run a command with a time limit and measure its peak memory.

    runlimit.py METRICS SECONDS CMD [ARGS...]

Runs CMD (stdin, stdout and stderr inherited), kills it with SIGKILL after
SECONDS, and writes one line to METRICS:

    rc=N maxrss_kb=N wall_s=N.NN killed=0|1

maxrss_kb is the child's peak resident set (getrusage ru_maxrss, which
outlives the process, unlike VmHWM in /proc).  Exits with CMD's status
(137 when it was killed).
"""
import os
import signal
import sys
import time


def main():
    metrics, limit = sys.argv[1], float(sys.argv[2])
    cmd = sys.argv[3:]
    t0 = time.monotonic()
    pid = os.fork()
    if pid == 0:
        try:
            os.execvp(cmd[0], cmd)
        finally:
            os._exit(127)
    killed = 0
    while True:
        wpid, status, ru = os.wait4(pid, os.WNOHANG)
        if wpid == pid:
            break
        if time.monotonic() - t0 > limit and not killed:
            os.kill(pid, signal.SIGKILL)
            killed = 1
        time.sleep(0.02)
    wall = time.monotonic() - t0
    rc = os.waitstatus_to_exitcode(status)
    if rc < 0:
        rc = 128 - rc
    with open(metrics, "w") as f:
        f.write(f"rc={rc} maxrss_kb={ru.ru_maxrss} wall_s={wall:.2f} killed={killed}\n")
    sys.exit(rc)


if __name__ == "__main__":
    main()
