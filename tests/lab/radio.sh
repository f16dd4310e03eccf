#!/usr/bin/env bash
# The client's link as a cellular radio and a lossy link (the user-space
# link relay): after --radio IDLE_S of silence the first packet waits
# WAKE_MS for the radio, back-to-back packets do not; --loss PCT loses
# packets each way, --loss 0 none.
# "[ test ] && ok || fail" is meant: fail runs when either fails.
# shellcheck disable=SC2015
# shellcheck source=tests/lab/lib.sh
. "$(dirname "$0")/lib.sh"
lab_test_init lab-radio

L=t-radio-$$
lab_up "$L" --timeout 30 --radio 5:2000

[ "${E[DELAY_ENGINE]}" = relay ] && ok "--radio puts the relay on the link" ||
  fail "--radio: DELAY_ENGINE=${E[DELAY_ENGINE]}, expected relay"
[ "${E[RADIO_IDLE_S]}:${E[RADIO_WAKE_MS]}:${E[LOSS_PCT]}" = 5:2000:0 ] &&
  ok "env shows RADIO_IDLE_S=5 RADIO_WAKE_MS=2000 LOSS_PCT=0" ||
  fail "env shows radio ${E[RADIO_IDLE_S]}:${E[RADIO_WAKE_MS]} loss ${E[LOSS_PCT]}"

# pings COUNT INTERVAL: "RECEIVED MIN MAX" (ms) of COUNT pings to the server.
pings() {
  local out
  out=$(timeout 60 "${LAB_CMD[@]}" exec "$L" ping -n -q -c "$1" -i "$2" -W 5 "${E[SERVER_ADDR]}" 2>/dev/null) || true
  printf '%s %s\n' "$(sed -n 's/.* \([0-9]*\) received.*/\1/p' <<<"$out")" \
    "$(sed -n 's|^rtt [^=]*= \([0-9.]*\)/[0-9.]*/\([0-9.]*\)/.*|\1 \2|p' <<<"$out")"
}

# rtt_check COUNT INTERVAL AWK_COND WHAT: COUNT pings, all answered, whose
# round trips (min m, max x, ms) satisfy AWK_COND.
rtt_check() {
  local n min max
  read -r n min max <<<"$(pings "$1" "$2")"
  say "$4: $n of $1 answered, rtt ${min:-none}..${max:-none} ms"
  if [ "${n:-0}" -eq "$1" ] && awk -v m="$min" -v x="$max" "BEGIN { exit !($3) }"; then
    ok "$4 ($min..$max ms)"
  else
    fail "$4: $n of $1 answered, rtt '${min}'..'${max}' ms, expected $3"
  fi
}

# Wake the radio, then back to back: fast.
pings 1 1 >/dev/null
rtt_check 5 0.2 "x < 500" "back-to-back pings are fast"
# 6 s of silence: the radio sleeps, the next ping waits for it.
sleep 6
rtt_check 1 1 "m >= 2000 && m < 4000" "after 6 s of silence the ping waits for the radio"
wakes=$(grep -c '^wake' "${E[STATE_DIR]}/relay.out" || true)
say "radio wakeups counted by the relay: $wakes"

# Loss: radio off, 50 % each way, then none.
lab set "$L" --radio 0:0 --loss 50 || fail "set --radio 0:0 --loss 50 failed"
env_out=$("${LAB_CMD[@]}" env "$L") || fail "env failed"
grep -qx 'LOSS_PCT=50' <<<"$env_out" && ok "env shows LOSS_PCT=50" || fail "env does not show LOSS_PCT=50"
read -r n _ <<<"$(pings 20 0.1)"
say "--loss 50: $n of 20 pings answered"
if [ -n "$n" ] && [ "$n" -lt 20 ]; then ok "--loss 50 loses pings ($n of 20 answered)"; else fail "--loss 50: ${n:-?} of 20 answered"; fi
lab set "$L" --loss 0 || fail "set --loss 0 failed"
read -r n _ <<<"$(pings 20 0.1)"
say "--loss 0: $n of 20 pings answered"
if [ "$n" = 20 ]; then ok "--loss 0 loses nothing"; else fail "--loss 0: ${n:-?} of 20 answered"; fi
finish
