#!/usr/bin/env bash
# scale_smoke: run "bench/scale-bench BUILD --quick" and check its table:
# a row per run, RSS per session above 0 and below 10 MiB, CPU per keepalive
# and the keepalive count above 0.
set -uo pipefail
: "${NATIDLE_SRC:?}" "${NATIDLE_BUILD:?}"
out=$(mktemp /tmp/natidle-scale-smoke.XXXXXX)
trap 'rm -f "$out"' EXIT
bash "$NATIDLE_SRC/bench/scale-bench" "$NATIDLE_BUILD" --quick >"$out"
status=$?
cat "$out"
[ $status -eq 0 ] || { echo "FAIL: scale-bench exited $status"; exit 1; }
fail=0
for tls in none imaps; do
  row=$(grep -E "^\| 200 \| own \| $tls \| private \|" "$out")
  if [ -z "$row" ]; then echo "FAIL: no row for N = 200, $tls"; fail=1; continue; fi
  # Columns: N, server, TLS, group, RSS, trimmed RSS, TLS part, CPU us,
  # keepalives, goal.
  IFS='|' read -r _ _ _ _ _ rss trimmed _ cpu kas _ <<<"$row"
  if ! awk -v r="$rss" -v t="$trimmed" -v c="$cpu" -v k="$kas" \
       'BEGIN{exit !(r > 0 && r < 10240 && t < 10240 && c > 0 && k > 0)}'; then
    echo "FAIL: implausible numbers for $tls: RSS $rss KiB, trimmed $trimmed KiB, CPU $cpu us, keepalives $kas"
    fail=1
  fi
done
[ $fail -eq 0 ] && echo "PASS"
exit $fail
