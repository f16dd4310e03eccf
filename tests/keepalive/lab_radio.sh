#!/usr/bin/env bash
# natidle keepalive over a radio-like link (label lab): the lab's client link
# sleeps after 6 s without a frame and takes 2 s to wake (--radio 6:2000),
# loses 1 % of the frames each way and adds 200 ms of round trip; the NAT
# forgets a mapping after 12 s.  With --nat-timeout 12 the first keepalive
# allows for a radio wake-up it has not measured yet (3 s on top of the 2-s
# margin: it goes at 7 s of silence); it finds the radio asleep, pays the
# 2 s wake, and its round trip becomes the margin of every later keepalive
# (about 9.5 s of silence), each of which wakes the radio too, as does every
# push that comes while it sleeps.  (Before that guess, the first keepalive
# went at 10 s and reached the NAT a hair after its timeout in one run of
# three, losing the message of that moment for 15 s.)  Checked: every
# message appended from the server's side is pushed exactly once within 8 s
# (2 s wake, the round trip, a retransmission), at most one keepalive
# unanswered and one reconnect (1 % loss may still hold one keepalive back
# past the NAT's timeout), and the tally counts a radio wakeup for at least
# every keepalive.  About 100 s.  Needs root; exits 77 (skipped) without it.
# shellcheck source=tests/lab/lib.sh
. "$(dirname "$0")/../lab/lib.sh"
lab_test_init keepalive-radio
: "${NATIDLE_BIN:?run through ctest}"
T=12

lab_up "rdka$$" --timeout "$T" --mode drop --accounts 1 --radio 6:2000 --loss 1 --latency 200
PORT=${E[PORT_IMAPS]:-993}
ka=("${LAB_CMD[@]}" exec "${E[LAB]}" "$NATIDLE_BIN" keepalive --server "${E[SERVER_ADDR]}"
    --port "$PORT" --ca-file "${E[CA_FILE]}" --user "${E[USER]}"
    --password-file "${E[PASSWORD_FILE]}")

# The appender runs in the server's namespace: its own path has no radio.
if ip netns exec "${E[NS_SERVER]}" python3 "$T_SRC/tests/keepalive/soak.py" \
  --host "${E[SERVER_ADDR]}" --port "$PORT" --ca-file "${E[CA_FILE]}" --user "${E[USER]}" \
  --password-file "${E[PASSWORD_FILE]}" --log "$T_TMP/ka.csv" \
  --messages 4 --first-gap 14 --gap 12:20 --max-delay 8 --max-reconnects 1 \
  --keepalives 3:100 --expect-event keepalive/answered --expect-event message/pushed \
  -- "${ka[@]}" --nat-timeout "$T" --log "$T_TMP/ka.csv" 2>"$T_TMP/soak.err"; then
  ok "keepalive over a sleeping radio with 1 % loss: every message pushed once, at most one reconnect"
else
  fail "keepalive over a sleeping radio with 1 % loss: $(tail -5 "$T_TMP/soak.err" | tr '\n' ' ')"
fi

# At most one keepalive unanswered (see above), and each woke the radio (10 s of silence
# against its 6 s tail), so the wakeups counted cover the keepalives.
grep '^soak: ' "$T_TMP/soak.err" | tail -12 >&2

# soak.py logs natidle's tally line as a dict: "tally: {'keepalives': '5', ...}".
tv() { sed -n "s/.*'$1': '\([0-9]*\)'.*/\1/p" "$T_TMP/soak.err" | tail -1; }
kas=$(tv keepalives) ans=$(tv answered) unans=$(tv unanswered) wk=$(tv wakeups)
if [ -n "$kas" ] && [ "${unans:-2}" -le 1 ] && [ "$((ans + unans))" = "$kas" ] && [ "${wk:-0}" -ge "$kas" ]; then
  ok "tally: $kas keepalives, $ans answered, $wk radio wakeups"
else
  fail "tally: keepalives=$kas answered=$ans unanswered=$unans wakeups=$wk (want at most one unanswered, wakeups >= keepalives)"
fi
finish
