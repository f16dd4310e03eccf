#!/usr/bin/env bash
# natidle keepalive --log and the layout of its file: a new file gets the
# current header and a run's start, cadence, connect and stop rows (here a
# run that cannot connect: nothing listens on the port); a log of the older
# 8-column layout, or any other CSV, is refused with a message naming the fix
# and left untouched; natidle report reads both layouts.  Local only, no root.
set -euo pipefail
trap 'echo "FAIL: line $LINENO: $BASH_COMMAND" >&2' ERR
bin=${NATIDLE_BIN:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

printf 'secret\n' >"$tmp/pw"
chmod 600 "$tmp/pw"
# A port nothing listens on: the session fails before IDLE and the command
# ends (exit 5, a network failure) after writing its rows.
ka=("$bin" keepalive --server 127.0.0.1 --port 9 --user u --password-file "$tmp/pw" --quiet
    --network "lab, \"quoted\"")

rc=0
"${ka[@]}" --log "$tmp/new.csv" >"$tmp/out" 2>"$tmp/err" || rc=$?
[ "$rc" -eq 5 ] || fail "keepalive to a closed port exited $rc, want 5: $(cat "$tmp/err")"
want='at,account,event,interval_s,outcome,rtt_ms,bytes_out,bytes_in,network,delay_ms,wakeups,lower_s,upper_s,cadence_s'
[ "$(head -1 "$tmp/new.csv")" = "$want" ] || fail "new log header: $(head -1 "$tmp/new.csv")"
# Counted independently of natidle's reader: the event column of each row.
events=$(python3 - "$tmp/new.csv" <<'EOF'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1], newline="")))
assert all(r["network"] == 'lab, "quoted"' for r in rows), rows
print(" ".join("%s/%s" % (r["event"], r["outcome"]) for r in rows))
EOF
)
[ "$events" = "start/adaptive cadence/probing connect/econnrefused stop/failed" ] ||
  fail "rows of a run that could not connect: $events"
"$bin" report summary "$tmp/new.csv" --csv "$tmp/sum.csv"
python3 - "$tmp/sum.csv" <<'EOF' || fail "summary of the failed run"
import csv, sys
r = list(csv.DictReader(open(sys.argv[1], newline="")))
assert len(r) == 1 and r[0]["network"] == 'lab, "quoted"' and r[0]["runs"] == "1", r
assert r[0]["connect_failures"] == "1" and r[0]["keepalives"] == "0", r
assert r[0]["cadence_start_s"] == "60" and r[0]["phase_end"] == "probing", r
EOF
# A second run appends under the same header.
"${ka[@]}" --log "$tmp/new.csv" >/dev/null 2>&1 || true
[ "$(grep -c '^at,' "$tmp/new.csv")" -eq 1 ] || fail "a second header was written"
[ "$(grep -c ',start,' "$tmp/new.csv")" -eq 2 ] || fail "the second run did not append"

# A log of the older layout: refused, untouched, still readable.
old="$tmp/old.csv"
cat >"$old" <<'EOF'
at,account,event,interval_s,outcome,rtt_ms,bytes_out,bytes_in
2026-11-27T23:00:45.790Z,natidle1,connect,,ok,,695,2362
2026-11-27T23:01:16.560Z,natidle1,keepalive,18.017,answered,2,723,2681
EOF
cp "$old" "$tmp/old.orig"
rc=0
"${ka[@]}" --log "$old" >"$tmp/out" 2>"$tmp/err" || rc=$?
[ "$rc" -eq 2 ] || fail "an old log exited $rc, want 2"
grep -qF -- "--log $old: a log of an older natidle (8 columns, no network or cadence); give a new file, or rename this one: natidle report still reads it" "$tmp/err" ||
  fail "old log message: $(cat "$tmp/err")"
[ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "the refusal is not one line: $(cat "$tmp/err")"
cmp -s "$old" "$tmp/old.orig" || fail "the old log was changed"
"$bin" report summary "$old" >"$tmp/table"
grep -q "natidle1" "$tmp/table" || fail "the old log is not read: $(cat "$tmp/table")"

# Another CSV altogether.
printf 'a,b\n1,2\n' >"$tmp/other.csv"
rc=0
"${ka[@]}" --log "$tmp/other.csv" >"$tmp/out" 2>"$tmp/err" || rc=$?
[ "$rc" -eq 2 ] || fail "a foreign CSV exited $rc, want 2"
grep -qF "not a natidle keepalive log (other columns); give a new file" "$tmp/err" ||
  fail "foreign CSV message: $(cat "$tmp/err")"
[ "$(cat "$tmp/other.csv")" = "$(printf 'a,b\n1,2')" ] || fail "the foreign CSV was changed"
echo "log_layout: all checks passed"
