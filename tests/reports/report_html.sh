#!/usr/bin/env bash
# The HTML report loads in headless Chromium and the rendered DOM holds the
# table values, the cost table and the plots.  Only file:// URLs; no network.
set -euo pipefail
trap 'echo "FAIL: line $LINENO: $BASH_COMMAND" >&2' ERR
bin=${NATIDLE_BIN:?}
fx=${NATIDLE_SRC:?}/tests/reports
browser=$(command -v chromium || command -v chromium-browser || true)
[ -n "$browser" ] || { echo "FAIL: chromium is not installed (sudo ./run deps)"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }

"$bin" report html "$fx"/summary-carrier-a.csv "$fx"/summary-carrier-b.csv \
  "$fx"/summary-home.csv "$fx"/obs-carrier-a.csv -o "$tmp/report.html"

# Bounded in time; the profile lives in the scratch directory.
timeout -k 5 120 "$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$tmp/profile" --dump-dom "file://$tmp/report.html" \
  >"$tmp/dom.html" 2>"$tmp/chromium.log" || {
  tail -20 "$tmp/chromium.log" >&2
  fail "chromium could not load the page"
}

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
echo "report_html: all checks passed"
