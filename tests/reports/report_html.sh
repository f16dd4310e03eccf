#!/usr/bin/env bash
# The HTML report loads in headless Chromium and the rendered DOM holds the
# table values, the cost table and the plots; with a keepalive log, the page
# puts the probe's cadence next to the keepalive run's, and the timeline SVG
# renders in Chromium to a screenshot that is not blank; over summary CSVs
# alone, the page's chart of the timeout per network renders in colour.  Only file:// URLs;
# no network.
set -euo pipefail
trap 'echo "FAIL: line $LINENO: $BASH_COMMAND" >&2' ERR
bin=${NATIDLE_BIN:?}
fx=${NATIDLE_SRC:?}/tests/reports
browser=$(command -v chromium || command -v chromium-browser || true)
[ -n "$browser" ] || { echo "FAIL: chromium is not installed (sudo ./run deps)"; exit 1; }
command -v xmllint >/dev/null || { echo "FAIL: xmllint is not installed (sudo ./run deps)"; exit 1; }
command -v xmllint >/dev/null || { echo "FAIL: xmllint is not installed (sudo ./run deps)"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }

"$bin" report html "$fx"/summary-carrier-a.csv "$fx"/summary-carrier-b.csv \
  "$fx"/summary-home.csv "$fx"/obs-carrier-a.csv -o "$tmp/report.html"

# Headless Chromium, bounded in time; the profile lives in the scratch
# directory.  chrome ARGS... (stdout: what Chromium prints).
chrome() {
  timeout -k 5 120 "$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --hide-scrollbars --user-data-dir="$tmp/profile" "$@" 2>"$tmp/chromium.log" || {
    tail -20 "$tmp/chromium.log" >&2
    fail "chromium failed: $*"
  }
}
chrome --dump-dom "file://$tmp/report.html" >"$tmp/dom.html"

# Values from the per-network table, as Chromium parsed them.
for want in '<table id="network-table">' '<b>62.25</b>' '<b>1757.5</b>' '<b>300</b>' \
  '(295, 300]' '(1810, 1820] narrowest' 'carrier "b", Ltd' \
  'recommended by natidle, every 45 s' '1920' '96 %' 'Haverinen' \
  'doi:10.1109/VETECS.2007.207'; do
  grep -qF -- "$want" "$tmp/dom.html" || fail "rendered DOM lacks '$want'"
done
# The plot is inline SVG in the DOM with its marks.
grep -q '<svg[^>]*xmlns="http://www.w3.org/2000/svg"' "$tmp/dom.html" || fail "no inline SVG"
[ "$(grep -o '<circle' "$tmp/dom.html" | wc -l)" -ge 6 ] || fail "plot marks missing"

# A keepalive log of the same network as a probe summary: side by side.
"$bin" report html "$fx"/summary-carrier-a.csv "$fx"/kalog-carrier-a.csv -o "$tmp/ka.html" 2>/dev/null
chrome --dump-dom "file://$tmp/ka.html" >"$tmp/ka-dom.html"
for want in '<table id="keepalive-table">' 'the probe’s cadence against the keepalive runs’' \
  'natidle probe: recommended keepalive (imap.example.net:993 inbound, 4 runs' \
  'natidle keepalive, account alice: the cadence it settled on' '71.25' '1662' \
  '2 of 9 keepalives unanswered, 1 of 4 messages late' 'Keepalive timeline: carrier-a'; do
  grep -qF -- "$want" "$tmp/ka-dom.html" || fail "rendered keepalive page lacks '$want'"
done

# The timeline SVG itself, rendered by Chromium: a screenshot with the
# plot's own colours (answered green, unanswered red, cadence purple)
# inside the keepalive panel, not a blank or an error page.
"$bin" report plot "$fx"/kalog-carrier-a.csv --summary "$fx"/summary-carrier-a.csv \
  --svg "$tmp/timeline.svg" 2>/dev/null
xmllint --noout "$tmp/timeline.svg"
chrome --window-size=960,640 --screenshot="$tmp/timeline.png" "file://$tmp/timeline.svg" >/dev/null
python3 "$fx/png_stats.py" "$tmp/timeline.png" --region 70,92,750,372 --min-colours 8 \
  --min-ink 0.02 --want-colour 1a9850 --want-colour d73027 --want-colour 7b3294 ||
  fail "the timeline screenshot looks blank"
# Summary CSVs alone: the page draws the timeout per network, right after
# the table; Chromium renders it with the chart's own colours (bracket
# yellow, estimate blue, recommended keepalive purple, open bar pale).
"$bin" report html "$fx"/summary-*.csv -o "$tmp/networks.html"
chrome --dump-dom "file://$tmp/networks.html" >"$tmp/networks-dom.html"
for want in '<h2 id="chart">Timeout per network</h2>' 'NAT idle timeout per network' \
  'client keepalive every 2 min (120 s)' 'client keepalive every 29 min (1740 s)' \
  'above 100 s, keepalive 90 s' '(11.995, 12.283] s, keepalive 8 s' 'No observations CSV was given'; do
  grep -qF -- "$want" "$tmp/networks-dom.html" || fail "rendered summaries-only page lacks '$want'"
done
chrome --window-size=1280,1400 --screenshot="$tmp/networks.png" "file://$tmp/networks.html" >/dev/null
python3 "$fx/png_stats.py" "$tmp/networks.png" --min-colours 8 --min-ink 0.02 \
  --want-colour f6c343 --want-colour 2c5fb3 --want-colour 7b3294 --want-colour f9e3a3 ||
  fail "the summaries-only page shows no network chart"
echo "report_html: all checks passed"
