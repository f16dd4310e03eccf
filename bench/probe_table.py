#!/usr/bin/env python3
"""Turn the probe benchmark's per-lab files into a markdown table."""
import csv
import glob
import os
import sys


def field_table(out):
    """Section 1c: one row per field condition, from the *.field files."""
    rows = []
    for ff in sorted(glob.glob(os.path.join(out, "*.field"))):
        name = os.path.basename(ff)[:-6]
        words = open(ff).read().split()
        T, wall, tls, mode, cond = float(words[0]), float(words[1]), words[2], words[3], " ".join(words[4:])
        r = {}
        sf = os.path.join(out, name + ".sum.csv")
        if os.path.exists(sf):
            for row in csv.DictReader(open(sf)):
                if row.get("direction") == "inbound":
                    r = row
        num = lambda k: float(r[k]) if r.get(k) else None
        lo, up, nlo, nup = num("lower_s"), num("upper_s"), num("nat_lower_s"), num("nat_upper_s")
        holds = nlo is not None and nup is not None and nlo < T <= nup
        goal = 2.5 * T + 30
        rows.append((cond, tls, mode, T, wall, lo, up, nlo, nup, r.get("bracket_basis", ""),
                     r.get("observations", ""), holds, goal))
    print("| conditions | TLS, NAT | T | wall time | wall / T | checks | bracket (client) | bracket (NAT's terms) | holds T | goal |")
    print("|---|---|---:|---:|---:|---:|---|---|---|---|")
    br = lambda a, b: f"({a:.2f}, {b:.2f}]" if a is not None and b is not None else "—"
    for cond, tls, mode, T, wall, lo, up, nlo, nup, basis, checks, holds, goal in rows:
        nat = br(nlo, nup) + (f" ({basis})" if basis else "")
        print(f"| {cond} | {tls}, {mode} | {T:.0f} s | {wall:.0f} s | {wall / T:.2f} | {checks} | {br(lo, up)} | {nat} "
              f"| {'yes' if holds else 'NO'} | ≤ {goal:.0f} s: {'met' if wall <= goal and holds else 'missed'} |")


if len(sys.argv) > 2 and sys.argv[1] == "--field":
    field_table(sys.argv[2])
    sys.exit(0)

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
