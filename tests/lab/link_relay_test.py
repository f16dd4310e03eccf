#!/usr/bin/env python3
"""Unit checks of lab/link-relay's model, without interfaces: the config
file (old two-number form and the radio form), random loss, and the radio
that sleeps after RADIO_IDLE_MS and takes RADIO_WAKE_MS to wake."""

import importlib.machinery
import importlib.util
import os
import random
import sys
import tempfile

src = os.environ.get("NATIDLE_SRC") or os.path.join(os.path.dirname(__file__), "..", "..")
loader = importlib.machinery.SourceFileLoader("link_relay", os.path.join(src, "lab", "link-relay"))
spec = importlib.util.spec_from_loader("link_relay", loader)
relay = importlib.util.module_from_spec(spec)
loader.exec_module(relay)

fails = 0


def check(cond, what):
    global fails
    print(("ok: " if cond else "FAIL: ") + what)
    fails += 0 if cond else 1


def config(text):
    f = tempfile.NamedTemporaryFile("w", delete=False)
    f.write(text)
    f.close()
    c = relay.Config(f.name)
    os.unlink(f.name)
    return c


c = config("300 0\n")
check(c.one_way == 0.15 and c.loss == 0 and c.radio_idle == 0, "two numbers: delay only")
check(c.delay() == 0.15, "one-way delay without jitter")
c = config("300 100\n")
check(all(0.1 <= c.delay() <= 0.2 for _ in range(1000)), "jitter stays within half of it")
c = config("200 0 10 5000 3000\n")
check(c.one_way == 0.1 and c.loss == 0.01 and c.radio_idle == 5 and c.radio_wake == 3,
      "five numbers: loss and radio")
c = config("200 0 1001 0 0\n")
check(c.loss == 0, "loss above 1000 per mille is refused (the old values stay)")

# The radio: asleep at first, awake for idle seconds after the last frame.
r = relay.Radio(config("0 0 0 5000 3000\n"))
check(r.depart(100.0) == 103.0, "first frame wakes the radio: leaves after 3 s")
check(r.depart(101.0) == 103.0, "a frame during the promotion waits for it too")
check(r.depart(104.0) == 104.0, "awake: no wait")
check(r.depart(108.9) == 108.9, "4.9 s after the last frame: still awake")
check(r.depart(114.0) == 117.0, "5 s of silence: asleep again, 3 s to wake")
r = relay.Radio(config("0 0 0 0 0\n"))
check(r.depart(5.0) == 5.0, "radio off: never waits")

# Loss is per frame and close to the configured share.
random.seed(1)
c = config("0 0 100 0 0\n")
lost = sum(1 for _ in range(20000) if random.random() < c.loss)
check(1700 < lost < 2300, "10 %% loss: %d of 20000 lost" % lost)
sys.exit(1 if fails else 0)
