#!/usr/bin/env bash
# natidle probe killed with SIGKILL in the middle of a run on the carrier
# NAT lab (timeout 6 s), then --resume, then --cleanup: every row written
# before the kill is still there, unchanged, none twice; the resumed run
# keeps the run id and ends with a bracket holding 6 s; afterwards the
# account's mailboxes and the INBOX's messages are exactly what they were
# before the first run.
. "$NATIDLE_SRC/tests/lab/lib.sh"
. "$NATIDLE_SRC/tests/faults/lib.sh"
lab_test_init fault-kill
T=6
L=fkill$$
lab_up "$L" --timeout "$T" --mode drop --accounts 1

imapctl seed INBOX 3 || { say "seeding INBOX failed"; exit 1; }
imapctl dump INBOX >"$T_TMP/inbox.before"
imapctl list '*' | sort >"$T_TMP/boxes.before"

OBS=$T_TMP/obs.csv
probe_start "$OBS" "$T_TMP/sum1.csv" --max 30 --sessions 6
wait_rows "$OBS" 4
# timeout(1) runs natidle lab exec, which becomes (exec) natidle itself.
victim=$(pgrep -P "$PROBE_PID" -x natidle || true)
[ -n "$victim" ] || { say "cannot find the natidle process under $PROBE_PID"; exit 1; }
kill -KILL "$victim"
probe_wait
[ "$PROBE_RC" -eq 137 ] && ok "killed mid-run" || fail "kill: exit $PROBE_RC, 137 expected"
killed_rows=$(csv_rows "$OBS")
cp "$OBS" "$T_TMP/obs.killed"
[ -n "$(imapctl list 'natidle-probe*')" ] && ok "the killed run left its mailboxes" ||
  fail "no mailbox left by the killed run"

probe_start "$OBS" "$T_TMP/sum2.csv" --max 30 --sessions 6 --resume
probe_wait
keep_files "$OBS" "$T_TMP/sum2.csv" "$T_TMP/probe.err"
head -n $((killed_rows + 1)) "$OBS" | cmp -s - "$T_TMP/obs.killed" &&
  ok "the $killed_rows rows written before the kill are unchanged" || fail "rows before the kill changed"
[ "$(csv_rows "$OBS")" -gt "$killed_rows" ] && ok "--resume added rows" || fail "--resume added no row"
[ "$(sort "$OBS" | uniq -d | wc -l)" -eq 0 ] && ok "no row twice" || fail "duplicated rows"
[ "$(tail -n +2 "$OBS" | cut -d, -f1 | sort -u | wc -l)" -eq 1 ] && ok "one run id" ||
  fail "--resume started another run id"
check_verdict "$OBS" "$T_TMP/sum2.csv" "$T"

"${LAB_CMD[@]}" exec "$L" "$NATIDLE_BIN" probe --server "${E[SERVER_ADDR]}" --ca-file "${E[CA_FILE]}" \
  --user "${E[USER]}" --password-file "${E[PASSWORD_FILE]}" --cleanup >"$T_TMP/cleanup.out" 2>&1 ||
  fail "--cleanup failed: $(cat "$T_TMP/cleanup.out")"
imapctl list '*' | sort | cmp -s - "$T_TMP/boxes.before" && ok "mailboxes as before the run" ||
  fail "mailboxes differ: $(imapctl list '*' | sort | diff - "$T_TMP/boxes.before" | tr '\n' ' ')"
imapctl dump INBOX | cmp -s - "$T_TMP/inbox.before" && ok "INBOX byte for byte as before" ||
  fail "INBOX changed"
finish
