#!/usr/bin/env bash
# natidle report on the command line: the merged table, the SVG plot
# (well-formed, renders, escapes hostile CSV text), the HTML page, the help
# texts and the errors for bad input; the same for keepalive logs (their
# table and CSV, the timeline, a log cut short, the original layout).
# Local files only.
set -euo pipefail
trap 'echo "FAIL: line $LINENO: $BASH_COMMAND" >&2' ERR
bin=${NATIDLE_BIN:?}
fx=${NATIDLE_SRC:?}/tests/reports
for tool in xmllint rsvg-convert; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool is not installed (sudo ./run deps)"; exit 1; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
has() { grep -qF -- "$2" "$1" || fail "$1 lacks '$2'"; }
# expect_exit CODE MESSAGE-FRAGMENT -- natidle args...
expect_exit() {
  local want=$1 msg=$2 rc=0; shift 3
  "$bin" "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
  [ "$rc" -eq "$want" ] || fail "natidle $* exited $rc, want $want: $(cat "$tmp/err")"
  [ -z "$msg" ] || grep -qF -- "$msg" "$tmp/err" || fail "natidle $*: stderr lacks '$msg': $(cat "$tmp/err")"
  [ "$want" -eq 0 ] || [ "$(wc -l <"$tmp/err")" -le 2 ] || fail "natidle $*: error is not short"
}

# Help: man-style sections for every command.
for c in "" summary plot html; do
  "$bin" report $c --help >"$tmp/help"
  for s in NAME SYNOPSIS DESCRIPTION OPTIONS "EXIT STATUS" EXAMPLES; do has "$tmp/help" "$s"; done
done

# The merged table of three networks.
"$bin" report summary "$fx"/summary-carrier-a.csv "$fx"/summary-carrier-b.csv \
  "$fx"/summary-home.csv >"$tmp/table"
has "$tmp/table" "57.5 / 62.25 / 65"
has "$tmp/table" "1700 / 1757.5 / 1815"
has "$tmp/table" "(295, 300]"
has "$tmp/table" "measured:2 masked_by_server:1 inconclusive:1"
[ "$(wc -l <"$tmp/table")" -eq 5 ] || fail "table has $(wc -l <"$tmp/table") lines, want 5"
"$bin" report summary "$fx"/summary-*.csv --csv "$tmp/merged.csv"
has "$tmp/merged.csv" "home-fiber,imap.example.net,993,imaps,inbound,3,290,300,310,295,300,intersection,240,,measured:3"
"$bin" report summary --csv=- "$fx"/summary-home.csv >"$tmp/merged-stdout.csv"
has "$tmp/merged-stdout.csv" "network,server,port"

# The plot: valid SVG 1.1 that renders.
"$bin" report plot "$fx"/obs-carrier-a.csv --summary "$fx"/summary-carrier-a.csv --svg "$tmp/p.svg"
xmllint --noout "$tmp/p.svg"
rsvg-convert -o "$tmp/p.png" "$tmp/p.svg"
[ -s "$tmp/p.png" ] && head -c 8 "$tmp/p.png" | grep -q PNG || fail "no PNG rendered"
has "$tmp/p.svg" 'estimated timeout 62.5 s'
has "$tmp/p.svg" 'version="1.1"'
grep -qE '(href|src)=' "$tmp/p.svg" && fail "the SVG refers to something outside"

# XML injection: hostile text in every string column of the CSV.
evil='<script>alert(1)</script>&amp;<!--]]><?pi?>'
{
  echo "run_id,network,server,port,tls,session,target_s,silence_s,direction,outcome,detect_ms,rtt_ms,evidence,at"
  printf '"%s",%s,"%s",993,tls,1,10,10,inbound,alive,1,1,"%s",x\n' "r$evil" "\"$evil\"" "s$evil" "$evil"
  printf '"%s",%s,"%s",993,tls,2,1500,1500.5,inbound,dead_silent,,,"",x\n' "r$evil" "\"$evil\"" "s$evil"
  printf '"%s",%s,"%s",993,tls,3,700,700,inbound,refreshed,,,"",x\n' "r$evil" "\"$evil\"" "s$evil"
} >"$tmp/evil.csv"
printf 'r2,\xff\xfe latin-1 caf\xe9,s,143,starttls,4,5,5,outbound,alive,,,,x\n' \
  | sed "s/^/r$(printf '\\x01')/" >>"$tmp/evil.csv"
"$bin" report plot "$tmp/evil.csv" --svg "$tmp/evil.svg" --run "r$evil"
xmllint --noout "$tmp/evil.svg"
grep -q '<script' "$tmp/evil.svg" && fail "unescaped markup in the SVG"
rsvg-convert -o "$tmp/evil.png" "$tmp/evil.svg"
[ -s "$tmp/evil.png" ] || fail "hostile SVG did not render"
has "$tmp/evil.svg" "log scale" # 10 s .. 1500 s spans more than two decades
"$bin" report plot "$tmp/evil.csv" --svg "$tmp/evil2.svg" # the last run: 8-bit names
xmllint --noout "$tmp/evil2.svg"

# The HTML page.
"$bin" report html "$fx"/summary-*.csv "$fx"/obs-carrier-a.csv "$tmp/evil.csv" -o "$tmp/r.html"
has "$tmp/r.html" "<b>62.25</b>"
grep -q '<script' "$tmp/r.html" && fail "unescaped markup in the HTML"
xmllint --html --noout "$tmp/r.html" 2>/dev/null || true # HTML4 parser: informative only

# Summary CSVs alone: the chart of the timeout per network, one row per
# merged row, from the old-layout fixtures; the same bytes every time.
"$bin" report plot "$fx"/summary-*.csv -o "$tmp/n.svg"
xmllint --noout "$tmp/n.svg"
rsvg-convert -o "$tmp/n.png" "$tmp/n.svg"
head -c 8 "$tmp/n.png" | grep -q PNG || fail "the network chart did not render"
has "$tmp/n.svg" 'version="1.1"'
has "$tmp/n.svg" "NAT idle timeout per network"
has "$tmp/n.svg" "5 rows (network, server, port/TLS, direction) from 13 runs"
[ "$(grep -c 'height="16" fill="#f6c343"' "$tmp/n.svg")" -eq 5 ] || fail "not 4 bracket bars and the legend's"
has "$tmp/n.svg" "above 100 s, keepalive 90 s"
has "$tmp/n.svg" "(1810, 1820] s narrowest, keepalive 1500 s"
has "$tmp/n.svg" "(11.995, 12.283] s, keepalive 8 s"
for m in 2 9 15 24 29; do has "$tmp/n.svg" "client keepalive every $m min"; done
grep -qE '(href|src)=' "$tmp/n.svg" && fail "the chart refers to something outside"
"$bin" report plot --svg - "$fx"/summary-home.csv "$fx"/summary-carrier-b.csv \
  "$fx"/summary-carrier-a.csv "$fx"/summary-lab-12s.csv >"$tmp/n2.svg"
"$bin" report plot "$fx"/summary-home.csv --summary "$fx"/summary-carrier-b.csv -o "$tmp/n3.svg"
has "$tmp/n3.svg" "2 rows"
"$bin" report plot "$fx"/summary-*.csv -o "$tmp/n4.svg"
cmp -s "$tmp/n.svg" "$tmp/n4.svg" || fail "the same files gave different charts"
# The README's picture is this chart (make it again after changing the chart:
# natidle report plot tests/reports/summary-*.csv -o docs/networks-example.svg).
cmp -s "$tmp/n.svg" "$NATIDLE_SRC/docs/networks-example.svg" ||
  fail "docs/networks-example.svg is not the chart of tests/reports/summary-*.csv"
cmp -s "$tmp/n.svg" "$tmp/n2.svg" && fail "another order of the rows gave the same chart"
# Hostile text in a summary.
hdr="run_id,network,server,port,tls,direction,lower_s,upper_s,estimate_s,observations,wall_s,server_keepalive_s,recommended_keepalive_s,verdict"
{
  echo "$hdr"
  printf '"%s",%s,"%s",993,imaps,inbound,10,20,15,3,60,,8,measured\n' "r$evil" "\"$evil\"" "s$evil"
  printf 'r2,"\xff\xfe latin-1 caf\xe9",s,993,imaps,inbound,,,,1,60,,,inconclusive\n'
} >"$tmp/evil-summary.csv"
"$bin" report plot "$tmp/evil-summary.csv" -o "$tmp/evil-n.svg"
xmllint --noout "$tmp/evil-n.svg"
grep -q '<script' "$tmp/evil-n.svg" && fail "unescaped markup in the chart"
has "$tmp/evil-n.svg" "not drawn: inconclusive:1, no bracket"
# The HTML page over summaries alone holds the same chart, inline.
"$bin" report html "$fx"/summary-*.csv -o "$tmp/n.html"
has "$tmp/n.html" '<h2 id="chart">Timeout per network</h2>'
has "$tmp/n.html" "client keepalive every 29 min"
"$bin" report html "$fx"/summary-*.csv "$fx"/obs-carrier-a.csv -o "$tmp/n-obs.html"
grep -q 'id="chart"' "$tmp/n-obs.html" && fail "the chart drawn next to survival plots"

# Bad input: one line naming file and line, exit 2.
printf '%s\nr,n,s,993,tls,inbound,1,2,1.5,3,4,,1,measured\nr,n,s,993,tls,inbound,1,2,x,3,4,,1,measured\n' "$hdr" >"$tmp/bad.csv"
expect_exit 2 "$tmp/bad.csv:3: estimate_s: 'x' is not a number" -- report summary "$tmp/bad.csv"
printf '%s\nr,n,s,993,tls,inbound,1,2,"1.5\n' "$hdr" >"$tmp/unterminated.csv"
expect_exit 2 "$tmp/unterminated.csv:2: unterminated quoted field" -- report summary "$tmp/unterminated.csv"
expect_exit 2 "$tmp/none.csv: No such file" -- report summary "$tmp/none.csv"
expect_exit 2 "obs-carrier-a.csv:1: an observations CSV where a summary CSV or a keepalive log was expected" -- report summary "$fx"/obs-carrier-a.csv
expect_exit 2 "one observations CSV or keepalive log at a time, or summary CSVs alone" -- \
  report plot "$fx"/obs-carrier-a.csv "$fx"/summary-home.csv --svg "$tmp/x.svg"
expect_exit 2 "summary CSVs alone draw every network" -- report plot "$fx"/summary-home.csv --run h1 --svg "$tmp/x.svg"
printf '%s\n' "$hdr" >"$tmp/header-only.csv"
expect_exit 2 "no summary rows to plot" -- report plot "$tmp/header-only.csv" -o "$tmp/x.svg"
expect_exit 2 "--svg FILE (or -o FILE) is required" -- report plot "$fx"/summary-home.csv
expect_exit 1 "" -- report plot "$fx"/summary-home.csv -o /nonexistent/dir/n.svg
expect_exit 2 "no checks of run 'nope'" -- report plot "$fx"/obs-carrier-a.csv --run nope --svg "$tmp/x.svg"
expect_exit 2 "--svg FILE (or -o FILE) is required" -- report plot "$fx"/obs-carrier-a.csv
expect_exit 2 "-o REPORT.html is required" -- report html "$fx"/summary-home.csv
expect_exit 2 "unknown option '--bogus'" -- report summary --bogus "$fx"/summary-home.csv
expect_exit 2 "unknown command 'pie'" -- report pie
expect_exit 2 "a command is needed" -- report
expect_exit 1 "" -- report html "$fx"/summary-home.csv -o /nonexistent/dir/r.html
[ ! -e "$tmp/x.svg" ] || fail "an SVG was written for bad input"

# Keepalive logs: the table, with the probe's table when both are given.
ka="$fx/kalog-carrier-a.csv"
"$bin" report summary "$ka" "$fx/kalog-v1.csv" >"$tmp/ka-table" 2>"$tmp/ka-err"
has "$tmp/ka-table" "9 (997/day)"
has "$tmp/ka-table" "3 (timedout:2 closed:1)"
has "$tmp/ka-table" "60 -> 71.25 steady"
has "$tmp/ka-table" "18.017 -> 18.1"
[ "$(wc -l <"$tmp/ka-table")" -eq 3 ] || fail "keepalive table has $(wc -l <"$tmp/ka-table") lines"
# The cut last row is left out with a one-line warning; the load succeeds.
has "$tmp/ka-err" "natidle report: warning: $ka:33: last row cut short (no line end), left out"
[ "$(wc -l <"$tmp/ka-err")" -eq 1 ] || fail "more than the warning on stderr: $(cat "$tmp/ka-err")"
"$bin" report summary "$fx"/summary-carrier-a.csv "$ka" >"$tmp/both" 2>/dev/null
has "$tmp/both" "ESTIMATE min/med/max s"
has "$tmp/both" "KEEPALIVES"
"$bin" report summary "$ka" --csv "$tmp/ka.csv" 2>/dev/null
has "$tmp/ka.csv" "network,account,rows,runs,first_at,last_at,covered_s,keepalives"
has "$tmp/ka.csv" "carrier-a,alice,31,2,2026-11-27T21:00:00.000Z,2026-11-27T22:03:00.000Z,780,9,997,7,2,0.778,3,timedout:2 closed:1,1,2,1,1,1.3,45,45,15,1662,60,71.25,steady,75,82.5,516"
expect_exit 2 "--csv writes one table: give summary CSVs or keepalive logs, not both" -- \
  report summary "$fx"/summary-home.csv "$ka" --csv "$tmp/mixed.csv"
[ ! -e "$tmp/mixed.csv" ] || fail "a CSV was written for mixed input"

# The timeline: valid SVG 1.1 that renders, with the probe's line when the
# summary of the same network is given.
"$bin" report plot "$ka" --summary "$fx"/summary-carrier-a.csv --svg "$tmp/t.svg" 2>/dev/null
xmllint --noout "$tmp/t.svg"
rsvg-convert -o "$tmp/t.png" "$tmp/t.svg"
head -c 8 "$tmp/t.png" | grep -q PNG || fail "the timeline did not render"
has "$tmp/t.svg" 'version="1.1"'
has "$tmp/t.svg" "probe: recommended keepalive 45 s"
grep -qE '(href|src)=' "$tmp/t.svg" && fail "the timeline refers to something outside"
"$bin" report plot "$fx/kalog-v1.csv" --svg "$tmp/v1.svg"
xmllint --noout "$tmp/v1.svg"
has "$tmp/v1.svg" "(no network label), account natidle1"
"$bin" report plot "$ka" --account alice --network carrier-a --svg - 2>/dev/null >"$tmp/t2.svg"
xmllint --noout "$tmp/t2.svg"
expect_exit 2 "no rows of account bob" -- report plot "$ka" --account bob --svg "$tmp/x.svg"
expect_exit 2 "--run and --direction choose a probe run" -- report plot "$ka" --run a1 --svg "$tmp/x.svg"
expect_exit 2 "--network and --account choose a keepalive log" -- \
  report plot "$fx"/obs-carrier-a.csv --account alice --svg "$tmp/x.svg"
[ ! -e "$tmp/x.svg" ] || fail "an SVG was written for bad input"

# Hostile text in a keepalive log.
kh="at,account,event,interval_s,outcome,rtt_ms,bytes_out,bytes_in,network,delay_ms,wakeups,lower_s,upper_s,cadence_s"
{
  echo "$kh"
  printf '2026-11-27T21:00:00Z,"%s",connect,,ok,,1,1,"%s",,1,,,\n' "$evil" "n$evil"
  printf '2026-11-27T21:00:09Z,"%s",lost,,"%s",,1,1,"%s",,1,,,\n' "$evil" "$evil" "n$evil"
  printf '2026-11-27T21:00:10Z,"%s",cadence,,probing,,1,1,"%s",,1,3,,60\n' "$evil" "n$evil"
} >"$tmp/evil-ka.csv"
"$bin" report plot "$tmp/evil-ka.csv" --svg "$tmp/evil-ka.svg"
xmllint --noout "$tmp/evil-ka.svg"
grep -q '<script' "$tmp/evil-ka.svg" && fail "unescaped markup in the timeline"
"$bin" report html "$tmp/evil-ka.csv" "$ka" -o "$tmp/evil-ka.html" 2>/dev/null
grep -q '<script' "$tmp/evil-ka.html" && fail "unescaped markup in the HTML"
has "$tmp/evil-ka.html" "No probe summary of this network was given"

# Bad keepalive rows: one line naming file and line, exit 2.
printf '%s\n2026-11-27T21:00:00Z,a,keepalive,60,maybe,,1,1,n,,1,,,\n' "$kh" >"$tmp/bad-ka.csv"
expect_exit 2 "$tmp/bad-ka.csv:2: outcome: 'maybe' is not answered or unanswered for a keepalive row" -- \
  report summary "$tmp/bad-ka.csv"
printf '%s\nyesterday,a,connect,,ok,,1,1,n,,1,,,\n' "$kh" >"$tmp/bad-at.csv"
expect_exit 2 "$tmp/bad-at.csv:2: at: 'yesterday' is not a UTC time" -- report plot "$tmp/bad-at.csv" --svg "$tmp/x.svg"
printf '%s\n2026-11-27T21:00:00Z,a,connect,,ok,,1,1,n,,1\n2026-11-27T21:00:01Z,a,connect,,ok,,1,1,n,,1,,,\n' "$kh" >"$tmp/short-ka.csv"
expect_exit 2 "$tmp/short-ka.csv:2: expected 14 fields, found 11" -- report summary "$tmp/short-ka.csv"
echo "report_cli: all checks passed"
