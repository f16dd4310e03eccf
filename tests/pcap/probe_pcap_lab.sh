#!/usr/bin/env bash
# natidle probe --pcap in the carrier NAT lab (root):
#   probe_pcap_lab.sh reset TIMEOUT [6]   the NAT's RST is attributed to a
#                                     middlebox (it is one hop closer than the
#                                     server)
#   probe_pcap_lab.sh drop TIMEOUT [6]    DONE retransmissions are counted on
#                                     dead checks; while the probe runs, a ping
#                                     and other TCP connections to the server
#                                     (same port and another) must stay out
#                                     of the --pcap-out file
# Both: the probe ran as nobody after opening the capture, the silence on
# the wire matches the application's on alive checks, tcpdump reads the
# --pcap-out file and it holds the probe's packets only.  With 6 the lab
# has its IPv6 path (--ipv6: a stateful firewall with the same timeout)
# and the probe runs over it (--family 6): the same evidence, with the
# IPv6 hop limit in rst_ttl and server_ttl.
source "$NATIDLE_SRC/tests/probe/lib.sh"
mode=$1 T=$2 family=${3:-4}
if [ "$family" = 6 ]; then name="v6${mode:0:1}${T}x$$"; else name="pc${mode:0:1}${T}x$$"; fi
name=${name:0:12}
obs=$WORK/obs.csv sum=$WORK/sum.csv cap=$WORK/probe.pcap
command -v tcpdump >/dev/null || fail "tcpdump is needed to read the capture"

if [ "$family" = 6 ]; then
  lab_up "$name" --timeout "$T" --mode "$mode" --ipv6
  [ -n "${LAB_SERVER_ADDR6:-}" ] || fail "the lab shows no IPv6 server address"
  # The probe and everything checked below use the IPv6 path.
  LAB_SERVER_ADDR=$LAB_SERVER_ADDR6 LAB_CLIENT_ADDR=$LAB_CLIENT_ADDR6
else
  lab_up "$name" --timeout "$T" --mode "$mode"
fi

# Other traffic of the client namespace during the probe: bounded in count
# and time, and recorded so the capture can be checked for it.
noise() {
  "$LAB" exec "$LAB_NAME" ping -c 20 -i 0.5 -W 1 "$LAB_SERVER_ADDR" >/dev/null 2>&1 || true
}
other_tcp() {
  "$LAB" exec "$LAB_NAME" python3 - "$LAB_SERVER_ADDR" "$WORK/other-ports" <<'PY' || true
import socket, sys, time
host, out = sys.argv[1], sys.argv[2]
ports = []
deadline = time.monotonic() + 20
for i in range(10):
    if time.monotonic() > deadline:
        break
    for j, port in enumerate((993, 143)):
        try:
            # A local port below the kernel's ephemeral range, so that a
            # probe connection made later cannot reuse it and pass for
            # one of these.
            fam = socket.AF_INET6 if ":" in host else socket.AF_INET
            s = socket.socket(fam, socket.SOCK_STREAM)
            s.settimeout(2)
            s.bind(("", 20000 + 2 * i + j))
            s.connect((host, port))
            ports.append(s.getsockname()[1])
            s.sendall(b"x" * 20)
            time.sleep(0.2)
            s.close()
        except OSError:
            pass
    time.sleep(1)
with open(out, "w") as f:
    f.write("\n".join(str(p) for p in ports) + "\n")
PY
}

if [ "$mode" = drop ]; then
  noise &
  on_exit "kill $! 2>/dev/null"
  other_tcp &
  other=$!
  on_exit "kill $other 2>/dev/null"
fi

lab_probe --family "$family" --max $((3 * T)) --sessions 4 --network "lab-pcap-$mode-$T" --csv "$obs" --summary "$sum" \
  --pcap auto --pcap-out "$cap" --verbose 2>"$WORK/err" | tee "$WORK/out" ||
  { cat "$WORK/err" >&2; fail "probe failed"; }
[ "$mode" = drop ] && wait "$other"
grep -q "dropped privileges\|running as" "$WORK/err" || { cat "$WORK/err" >&2; fail "no word of the privilege drop"; }
[ "$(summary_field "$sum" inbound verdict)" = measured ] || fail "verdict not measured"

# Per-outcome checks of the evidence column.
python3 - "$obs" "$mode" "$LAB_SERVER_ADDR" <<'PY' || fail "evidence column"
import csv, sys
path, mode, server = sys.argv[1], sys.argv[2], sys.argv[3]
rows = list(csv.DictReader(open(path)))
bad = ["row of server %s, not %s" % (r["server"], server) for r in rows if r["server"] != server]
def ev(r):
    return dict(kv.split("=", 1) for kv in r["evidence"].split())
dead_outcome = {"reset": "dead_reset", "drop": "dead_silent"}[mode]
if not any(r["outcome"] == "alive" for r in rows):
    bad.append("no alive observation")
# The silence on the wire against the application's, on every alive or
# dead check: the application counts from its own last read, the wire from
# the last packet (a delayed ACK comes up to 40 ms later); 0.1 s also
# covers a busy event loop.  A death's silence_s is the longest silence the
# lost push may have met (the slowest push measured after a comparable
# silence), its wire silence ends when a typical push was due: it may be
# later by the spread of the push delays, which on a loaded machine passes
# 0.1 s (0.13 s seen), never earlier.
DEAD_SPREAD = 0.5
for r in rows:
    if r["outcome"] not in ("alive", dead_outcome):
        continue
    e = ev(r)
    if "wire_silence" not in e:
        bad.append("%s row without wire_silence: %r" % (r["outcome"], r["evidence"]))
        continue
    d = float(r["silence_s"]) - float(e["wire_silence"])
    print("%s: silence_s %s wire %s (differ by %.3f s)" % (r["outcome"], r["silence_s"], e["wire_silence"], d))
    if d < -0.1 or d > (0.1 + DEAD_SPREAD if r["outcome"] == dead_outcome else 0.1):
        bad.append("wire silence %s far from silence_s %s" % (e["wire_silence"], r["silence_s"]))
    if "refresh" in e:
        bad.append("a refresh during a silence of the lab: %r" % r["evidence"])
def reset_ok(e):
    # The lab's NAT makes the RST itself, one hop closer than the server
    # (IPv4 TTL, or IPv6 hop limit).
    return e.get("rst") == "middlebox" and int(e["rst_ttl"]) == int(e["server_ttl"]) + 1
def drop_ok(e):
    # DONE goes into a mapping that is gone: the kernel sends it again.
    return int(e.get("done_rexmit", "0")) >= 1 and "rst" not in e
want, ok = dead_outcome, {"reset": reset_ok, "drop": drop_ok}[mode]
dead = [r for r in rows if r["outcome"] == want]
if not dead:
    bad.append("no %s observation" % want)
for r in dead:
    print("%s: %s" % (want, r["evidence"]))
    if not ok(ev(r)):
        bad.append("%s evidence: %r" % (want, r["evidence"]))
for b in bad:
    print("FAIL:", b, file=sys.stderr)
sys.exit(1 if bad else 0)
PY

# The capture file: tcpdump reads it, and it holds only TCP between the
# client and the server's IMAPS port, from none of the other connections.
tcpdump -nn -r "$cap" >"$WORK/dump" 2>"$WORK/dump.err" || { cat "$WORK/dump.err" >&2; fail "tcpdump cannot read $cap"; }
[ -s "$WORK/dump" ] || fail "the capture is empty"
python3 - "$WORK/dump" "$LAB_CLIENT_ADDR" "$LAB_SERVER_ADDR" "$WORK/other-ports" <<'PY' || fail "foreign packets in the capture"
import ipaddress, os, re, sys
dump, cli, srv, other_file = sys.argv[1:5]
# tcpdump prints addresses in their canonical form (2001:db8:64::2), the
# lab may spell them otherwise (2001:db8:64:0::2): compare them as addresses.
def addr(a):
    try:
        return ipaddress.ip_address(a)
    except ValueError:
        return a
cli, srv = addr(cli), addr(srv)
other = set()
if os.path.exists(other_file):
    other = {int(x) for x in open(other_file).read().split()}
pat = re.compile(r"^\S+ IP6? (\S+)\.(\d+) > (\S+)\.(\d+): ")
bad = n = 0
ports = set()
for line in open(dump):
    n += 1
    m = pat.match(line)
    if not m:
        print("not the probe's:", line.strip(), file=sys.stderr); bad += 1; continue
    a, pa, b, pb = addr(m.group(1)), int(m.group(2)), addr(m.group(3)), int(m.group(4))
    if (a, pa, b) == (cli, pa, srv) and pb == 993:
        local = pa
    elif (a, b, pb) == (srv, cli, pb) and pa == 993:
        local = pb
    else:
        print("not the probe's:", line.strip(), file=sys.stderr); bad += 1; continue
    if local in other:
        print("another connection's:", line.strip(), file=sys.stderr); bad += 1
    ports.add(local)
print("%d packets of %d probe connections; %d other connections kept out" % (n, len(ports), len(other)))
sys.exit(1 if bad or n == 0 else 0)
PY
[ "$mode" != drop ] || [ "$(grep -c '' "$WORK/other-ports")" -ge 2 ] || fail "the other TCP connections did not happen"
say "ok: pcap $mode $T (IPv$family)"
