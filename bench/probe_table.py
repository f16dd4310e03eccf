#!/usr/bin/env python3
"""Turn the probe benchmark's per-lab files into markdown tables.

probe_table.py OUT              section 1: the *.time files (T, strategy, wall)
probe_table.py --field OUT      section 1c: the *.field files (T, wall, TLS, mode, conditions)
probe_table.py --ipv6 SUM T WALL section 1d: one summary file

Every table judges "holds T" by one rule, on the bracket in the NAT's terms
(nat_lower_s < T <= nat_upper_s, docs/CSV.md): the NAT sits somewhere on the
path, so the client's own silences are off by up to a round trip and a
delayed ACK, and the NAT-terms bracket is what the probe claims about the NAT.
A summary without those columns (an older natidle) is judged on lower_s and
upper_s.  Exit status 1 when a row does not hold T or is not measured.
"""
import csv
import glob
import os
import sys

RULE = ("Holds T: nat_lower_s < T ≤ nat_upper_s, the bracket in the NAT's terms (the client's "
        "lower end lowered by the measured round trip and delayed ACK, or the wire's silence "
        "from the capture: docs/CSV.md), the same rule in every table.")


def inbound(path):
    """The last inbound summary row of a file ({} when none)."""
    r = {}
    if os.path.exists(path):
        for row in csv.DictReader(open(path)):
            if row.get("direction") == "inbound":
                r = row
    return r


def num(r, k):
    return float(r[k]) if r.get(k) else None


def nat_bracket(r):
    lo, up = num(r, "nat_lower_s"), num(r, "nat_upper_s")
    if lo is None and up is None and "nat_lower_s" not in r:
        lo, up = num(r, "lower_s"), num(r, "upper_s")
    return lo, up


def holds(r, T):
    lo, up = nat_bracket(r)
    return lo is not None and up is not None and lo < T <= up


def br(a, b, digits=2):
    return f"({a:.{digits}f}, {b:.{digits}f}]" if a is not None and b is not None else "—"


def nat_cell(r):
    lo, up = nat_bracket(r)
    basis = r.get("bracket_basis", "")
    return br(lo, up) + (f" ({basis})" if basis else "")


def yes(b):
    return "yes" if b else "NO"


def lab_table(out):
    """Section 1: adaptive against the baselines, one row per *.time file."""
    rows = []
    for tf in sorted(glob.glob(os.path.join(out, "*.time"))):
        name = os.path.basename(tf)[:-5]
        T, strategy, wall = open(tf).read().split()
        T, wall = float(T), float(wall)
        r = inbound(os.path.join(out, name + ".sum.csv"))
        rows.append((T, strategy, wall, r))
    print(RULE)
    print()
    print("| NAT timeout T | strategy | wall time | wall / T | checks | bracket (client) "
          "| bracket (NAT's terms) | holds T | verdict | goal (adaptive) |")
    print("|---:|---|---:|---:|---:|---|---|---|---|---|")
    order = {"adaptive": 0, "grid": 1, "bisect": 2}
    ok = True
    for T, s, wall, r in sorted(rows, key=lambda x: (x[0], order.get(x[1], 9))):
        goal = 2.5 * T + 30
        h = holds(r, T)
        ok = ok and h and r.get("verdict") == "measured"
        g = f"≤ {goal:.0f} s: {'met' if wall <= goal and h else 'missed'}" if s == "adaptive" else ""
        print(f"| {T:.0f} s | {s} | {wall:.0f} s | {wall / T:.2f} | {r.get('observations', '')} "
              f"| {br(num(r, 'lower_s'), num(r, 'upper_s'))} | {nat_cell(r)} | {yes(h)} "
              f"| {r.get('verdict', '')} | {g} |")
    return ok


def field_table(out):
    """Section 1c: one row per field condition, from the *.field files."""
    print(RULE)
    print()
    print("| conditions | TLS, NAT | T | wall time | wall / T | checks | bracket (client) "
          "| bracket (NAT's terms) | holds T | goal |")
    print("|---|---|---:|---:|---:|---:|---|---|---|---|")
    ok = True
    for ff in sorted(glob.glob(os.path.join(out, "*.field"))):
        name = os.path.basename(ff)[:-6]
        words = open(ff).read().split()
        T, wall, tls, mode, cond = float(words[0]), float(words[1]), words[2], words[3], " ".join(words[4:])
        r = inbound(os.path.join(out, name + ".sum.csv"))
        goal = 2.5 * T + 30
        h = holds(r, T)
        ok = ok and h and r.get("verdict") == "measured"
        print(f"| {cond} | {tls}, {mode} | {T:.0f} s | {wall:.0f} s | {wall / T:.2f} "
              f"| {r.get('observations', '')} | {br(num(r, 'lower_s'), num(r, 'upper_s'))} "
              f"| {nat_cell(r)} | {yes(h)} | ≤ {goal:.0f} s: {'met' if wall <= goal and h else 'missed'} |")
    return ok


def ipv6_table(path, T, wall):
    """Section 1d: the IPv6 firewall's one run."""
    r = inbound(path)
    goal = 2.5 * T + 30
    h = holds(r, T)
    print(RULE)
    print()
    print("| path | wall time | wall / T | checks | bracket (client) | bracket (NAT's terms) "
          "| holds T | verdict | goal |")
    print("|---|---:|---:|---:|---|---|---|---|---|")
    print(f"| IPv6 firewall, T = {T:.0f} s, adaptive | {wall:.0f} s | {wall / T:.2f} "
          f"| {r.get('observations', '')} | {br(num(r, 'lower_s'), num(r, 'upper_s'))} | {nat_cell(r)} "
          f"| {yes(h)} | {r.get('verdict', '')} | ≤ {goal:.0f} s: {'met' if wall <= goal and h else 'missed'} |")
    return h and r.get("verdict") == "measured"


if __name__ == "__main__":
    a = sys.argv[1:]
    if len(a) == 2 and a[0] == "--field":
        ok = field_table(a[1])
    elif len(a) == 4 and a[0] == "--ipv6":
        ok = ipv6_table(a[1], float(a[2]), float(a[3]))
    elif len(a) == 1:
        ok = lab_table(a[0])
    else:
        sys.exit("usage: probe_table.py OUT | --field OUT | --ipv6 SUMMARY T WALL_S")
    sys.exit(0 if ok else 1)
