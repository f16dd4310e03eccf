#!/usr/bin/env python3
"""Turn the probe benchmark's per-lab files into a markdown table."""
import csv
import glob
import os
import sys

out = sys.argv[1]
rows = []
for tf in sorted(glob.glob(os.path.join(out, "*.time"))):
    name = os.path.basename(tf)[:-5]
    T, strategy, wall = open(tf).read().split()
    T, wall = float(T), float(wall)
    lower = upper = None
    checks = verdict = ""
    sf = os.path.join(out, name + ".sum.csv")
    if os.path.exists(sf):
        for r in csv.DictReader(open(sf)):
            if r.get("direction") == "inbound":
                lower = float(r["lower_s"]) if r["lower_s"] else None
                upper = float(r["upper_s"]) if r["upper_s"] else None
                checks = r["observations"]
                verdict = r["verdict"]
    holds = lower is not None and upper is not None and lower < T <= upper + max(1.0, 0.03 * T)
    goal = 2.5 * T + 30
    rows.append((T, strategy, wall, checks, lower, upper, holds, verdict, goal))

print("| NAT timeout T | strategy | wall time | wall / T | checks | bracket | holds T | verdict | goal (adaptive) |")
print("|---:|---|---:|---:|---:|---|---|---|---|")
order = {"adaptive": 0, "grid": 1, "bisect": 2}
for T, s, wall, checks, lo, up, holds, verdict, goal in sorted(rows, key=lambda r: (r[0], order.get(r[1], 9))):
    br = f"({lo:.1f}, {up:.1f}]" if lo is not None and up is not None else "—"
    g = f"≤ {goal:.0f} s: {'met' if wall <= goal else 'missed'}" if s == "adaptive" else ""
    print(f"| {T:.0f} s | {s} | {wall:.0f} s | {wall / T:.2f} | {checks} | {br} | {'yes' if holds else 'NO'} | {verdict} | {g} |")
