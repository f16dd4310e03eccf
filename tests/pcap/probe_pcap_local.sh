#!/usr/bin/env bash
# natidle probe --pcap against a loopback Dovecot (root, label imap):
#  1. as root: the probe becomes nobody once the capture is open (seen from
#     outside, while it runs), every alive check carries wire evidence, and
#     tcpdump reads the --pcap-out file, which holds only connections to
#     the server's port;
#  2. as a user who may not capture: one line says so, the run completes,
#     the evidence column stays empty;
#  3. usage: --no-capture with --pcap-out, an unknown --pcap-user, --help.
source "$NATIDLE_SRC/tests/probe/lib.sh"
command -v setpriv >/dev/null || fail "setpriv (util-linux) is needed"
command -v tcpdump >/dev/null || fail "tcpdump is needed"
start_dovecot
read -r -a A < <(dc_args)

# evidence_rows CSV: "outcome<TAB>evidence" per row.
evidence_rows() {
  python3 - "$1" <<'PY'
import csv, sys
for r in csv.DictReader(open(sys.argv[1])):
    print("%s\t%s" % (r["outcome"], r["evidence"]))
PY
}

say "1. root: capture, then nobody"
"$BIN" probe "${A[@]}" --max 4 --sessions 2 --csv "$WORK/r.csv" --summary "$WORK/rs.csv" \
  --pcap auto --pcap-out "$WORK/r.pcap" --verbose 2>"$WORK/r.err" >"$WORK/r.out" &
pid=$!
on_exit "kill $pid"
# Bounded wait until the probe has connected, then look at its ids.
uid=""
for _ in $(seq 100); do
  uid=$(ps -o uid= -p "$pid" 2>/dev/null | tr -d ' ') || true
  [ "$uid" = "$(id -u nobody)" ] && break
  sleep 0.1
done
[ "$uid" = "$(id -u nobody)" ] || { cat "$WORK/r.err" >&2; fail "the probe still runs as uid '$uid'"; }
grep -q '^CapEff:[[:space:]]*0*$' "/proc/$pid/status" || fail "capabilities left: $(grep Cap "/proc/$pid/status")"
wait "$pid" || { cat "$WORK/r.err" >&2; fail "probe failed"; }
grep -q "capturing on lo" "$WORK/r.err" || { cat "$WORK/r.err" >&2; fail "no word of the capture"; }
grep -q "running as nobody" "$WORK/r.err" || { cat "$WORK/r.err" >&2; fail "no word of the privilege drop"; }
[ "$(summary_field "$WORK/rs.csv" inbound verdict)" = above_max ] || fail "loopback has no NAT: above_max expected"
evidence_rows "$WORK/r.csv" >"$WORK/r.ev"
n=$(grep -c '^alive' "$WORK/r.ev") || true
[ "$n" -ge 2 ] || fail "alive observations expected"
[ "$(grep '^alive' "$WORK/r.ev" | grep -c 'wire_silence=.*done_rexmit=0.*server_ttl=64')" -eq "$n" ] ||
  { cat "$WORK/r.ev" >&2; fail "alive rows without wire evidence"; }
tcpdump -nn -r "$WORK/r.pcap" >"$WORK/r.dump" 2>"$WORK/r.dump.err" || { cat "$WORK/r.dump.err" >&2; fail "tcpdump cannot read the capture"; }
[ -s "$WORK/r.dump" ] || fail "empty capture"
if grep -v -E "^[^ ]+ IP $DC_HOST\.[0-9]+ > $DC_HOST\.[0-9]+: " "$WORK/r.dump" | head -3 | grep -q .; then
  fail "foreign packets in the capture"
fi
if ! awk -v p="$DC_PORT_IMAPS" '{ split($3, a, "."); split($5, b, "."); sub(":", "", b[5]);
       if (a[5] != p && b[5] != p) bad = 1 } END { exit bad }' "$WORK/r.dump"; then
  fail "packets of another port in the capture"
fi

say "2. no permission to capture"
mkdir "$WORK/nobody"
chown nobody:nogroup "$WORK/nobody"
NATIDLE_PASSWORD=$(cat "$DC_PASSWORD_FILE") setpriv --reuid=nobody --regid=nogroup --clear-groups \
  --inh-caps=-all -- "$BIN" probe --server "$DC_HOST" --port "$DC_PORT_IMAPS" --tls imaps \
  --ca-file "$DC_CA_FILE" --user "$DC_USER" --max 3 --sessions 2 --csv "$WORK/nobody/n.csv" \
  --summary "$WORK/nobody/ns.csv" --pcap auto 2>"$WORK/n.err" >"$WORK/n.out" ||
  { cat "$WORK/n.err" >&2; fail "the probe failed without capture permission"; }
[ "$(grep -c 'no packet evidence' "$WORK/n.err")" -eq 1 ] || { cat "$WORK/n.err" >&2; fail "say it once"; }
grep -q 'needs root or CAP_NET_RAW' "$WORK/n.err" || { cat "$WORK/n.err" >&2; fail "the reason"; }
[ "$(summary_field "$WORK/nobody/ns.csv" inbound verdict)" = above_max ] || fail "verdict without capture"
evidence_rows "$WORK/nobody/n.csv" >"$WORK/n.ev"
[ "$(grep -c . "$WORK/n.ev")" -ge 1 ] || fail "no rows"
if cut -f2 "$WORK/n.ev" | grep -q .; then fail "evidence without a capture"; fi

say "3. usage"
"$BIN" probe "${A[@]}" --csv "$WORK/u.csv" --no-capture --pcap-out "$WORK/u.pcap" 2>"$WORK/u.err" &&
  fail "--pcap-out without a capture accepted"
grep -q -- "need the capture" "$WORK/u.err" || fail "usage message"
"$BIN" probe --help >"$WORK/help"
grep -q -- "--pcap-user USER" "$WORK/help" || fail "--help does not tell about --pcap-user"
grep -q "no network input is parsed" "$WORK/help" || fail "--help does not tell about the privilege drop"
"$BIN" probe "${A[@]}" --csv "$WORK/u.csv" --pcap-user natidle-no-such-user 2>"$WORK/u.err" &&
  fail "an unknown --pcap-user accepted"
grep -q "no user 'natidle-no-such-user'" "$WORK/u.err" || { cat "$WORK/u.err" >&2; fail "unknown user message"; }
say "ok: pcap local"
