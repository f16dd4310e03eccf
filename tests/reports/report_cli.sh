#!/usr/bin/env bash
# natidle report on the command line: the merged table, the SVG plot
# (well-formed, renders, escapes hostile CSV text), the HTML page, the help
# texts and the errors for bad input.  Local files only.
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

# Bad input: one line naming file and line, exit 2.
hdr="run_id,network,server,port,tls,direction,lower_s,upper_s,estimate_s,observations,wall_s,server_keepalive_s,recommended_keepalive_s,verdict"
printf '%s\nr,n,s,993,tls,inbound,1,2,1.5,3,4,,1,measured\nr,n,s,993,tls,inbound,1,2,x,3,4,,1,measured\n' "$hdr" >"$tmp/bad.csv"
expect_exit 2 "$tmp/bad.csv:3: estimate_s: 'x' is not a number" -- report summary "$tmp/bad.csv"
printf '%s\nr,n,s,993,tls,inbound,1,2,"1.5\n' "$hdr" >"$tmp/unterminated.csv"
expect_exit 2 "$tmp/unterminated.csv:2: unterminated quoted field" -- report summary "$tmp/unterminated.csv"
expect_exit 2 "$tmp/none.csv: No such file" -- report summary "$tmp/none.csv"
expect_exit 2 "an observations CSV where a summary CSV was expected" -- report summary "$fx"/obs-carrier-a.csv
expect_exit 2 "a summary CSV where an observations CSV was expected" -- report plot "$fx"/summary-home.csv --svg "$tmp/x.svg"
expect_exit 2 "no checks of run 'nope'" -- report plot "$fx"/obs-carrier-a.csv --run nope --svg "$tmp/x.svg"
expect_exit 2 "--svg FILE is required" -- report plot "$fx"/obs-carrier-a.csv
expect_exit 2 "-o REPORT.html is required" -- report html "$fx"/summary-home.csv
expect_exit 2 "unknown option '--bogus'" -- report summary --bogus "$fx"/summary-home.csv
expect_exit 2 "unknown command 'pie'" -- report pie
expect_exit 2 "a command is needed" -- report
expect_exit 1 "" -- report html "$fx"/summary-home.csv -o /nonexistent/dir/r.html
[ ! -e "$tmp/x.svg" ] || fail "an SVG was written for bad input"
echo "report_cli: all checks passed"
