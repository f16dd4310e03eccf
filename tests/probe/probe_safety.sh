#!/usr/bin/env bash
# Data safety of natidle probe against a loopback Dovecot: the user's own
# messages are byte-for-byte the same after a probe, after a probe killed
# with SIGKILL plus --cleanup, after a --read-only probe and after Ctrl-C;
# --resume continues the killed run without losing or repeating a row and
# refuses another server's file; --cleanup refuses a probe mailbox that holds
# a message natidle did not write.
source "$(dirname "$0")/lib.sh"
start_dovecot
read -r -a A < <(dc_args)

imapctl seed INBOX 5
imapctl dump INBOX >"$WORK/before"
[ "$(wc -l <"$WORK/before")" -eq 5 ] || fail "seeding INBOX failed"
same_inbox() {
  imapctl dump INBOX >"$WORK/after"
  cmp -s "$WORK/before" "$WORK/after" || { diff "$WORK/before" "$WORK/after" >&2; fail "INBOX changed ($1)"; }
}
no_leftovers() {
  local left
  left=$(imapctl list 'natidle-probe*' | grep -v '^natidle-probes-notes$' || true)
  [ -z "$left" ] || fail "probe mailboxes left ($1): $left"
}
# Poll (bounded) until the probe's mailboxes exist.
wait_mailboxes() {
  for _ in $(seq 100); do
    [ -n "$(imapctl list 'natidle-probe*' 2>/dev/null | grep -v '^natidle-probes-notes$')" ] && return 0
    sleep 0.1
  done
  fail "the probe never created its mailboxes"
}

say "1. a whole probe"
run_probe "${A[@]}" --max 4 --sessions 3 --csv "$WORK/p1.csv" --summary "$WORK/p1s.csv" --quiet
same_inbox "after a probe"
no_leftovers "after a probe"
[ "$(summary_field "$WORK/p1s.csv" inbound verdict)" = above_max ] || fail "loopback has no NAT: above_max expected"
[ "$(count_outcome "$WORK/p1.csv" alive)" -ge 2 ] || fail "alive observations expected"

say "2. SIGKILL in the middle, then --cleanup"
"$BIN" probe "${A[@]}" --max 60 --sessions 3 --csv "$WORK/k.csv" --quiet &
pid=$!
on_exit "kill -9 $pid"
wait_mailboxes
# Let at least one check land in the CSV (bounded wait).
for _ in $(seq 100); do [ "$(csv_rows "$WORK/k.csv")" -ge 1 ] && break; sleep 0.1; done
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
[ -n "$(imapctl list 'natidle-probe*')" ] || fail "expected leftovers after SIGKILL"
rows_killed=$(csv_rows "$WORK/k.csv")
[ "$rows_killed" -ge 1 ] || fail "the killed run wrote no row"
cp "$WORK/k.csv" "$WORK/k.before-resume.csv"
# A user's mailbox whose name merely starts like the probe's is not the
# probe's: --cleanup leaves it alone and does not refuse because of it.
imapctl seed natidle-probes-notes 2
imapctl dump natidle-probes-notes >"$WORK/notes.before"
run_probe "${A[@]}" --cleanup >"$WORK/cleanup.out"
imapctl dump natidle-probes-notes | cmp -s - "$WORK/notes.before" || fail "natidle-probes-notes changed"
grep -q 'cleanup: [1-9][0-9]* probe mailboxes deleted, 0 refused' "$WORK/cleanup.out" ||
  { cat "$WORK/cleanup.out"; fail "cleanup output"; }
no_leftovers "after --cleanup"
same_inbox "after SIGKILL and --cleanup"

say "3. --read-only"
run_probe "${A[@]}" --read-only --max 4 --sessions 2 --csv "$WORK/ro.csv" --summary "$WORK/ros.csv" --quiet
same_inbox "after --read-only"
no_leftovers "after --read-only"
[ "$(summary_field "$WORK/ros.csv" outbound verdict)" = above_max ] || fail "read-only verdict"
! grep -q ',inbound,' "$WORK/ro.csv" || fail "read-only wrote inbound observations"

say "4. Ctrl-C: exit 130, summary kept, mailboxes removed"
"$BIN" probe "${A[@]}" --max 60 --sessions 3 --csv "$WORK/int.csv" --summary "$WORK/ints.csv" \
  >"$WORK/int.out" 2>"$WORK/int.err" &
pid=$!
on_exit "kill -9 $pid"
wait_mailboxes
# Interrupt once something is known (the first check is in the CSV).
for _ in $(seq 100); do [ "$(csv_rows "$WORK/int.csv")" -ge 1 ] && break; sleep 0.1; done
kill -INT "$pid" || true
rc=0
wait "$pid" || rc=$?
[ "$rc" -eq 130 ] || { cat "$WORK/int.err"; fail "exit $rc after SIGINT, 130 expected"; }
[ "$(csv_rows "$WORK/ints.csv")" -eq 1 ] || fail "no summary after SIGINT"
no_leftovers "after SIGINT"
same_inbox "after SIGINT"

say "5. --resume continues the killed run"
run=$(tail -n 1 "$WORK/k.csv" | cut -d, -f1)
run_probe "${A[@]}" --max 6 --sessions 3 --csv "$WORK/k.csv" --summary "$WORK/ks.csv" --resume --quiet
head -n $((rows_killed + 1)) "$WORK/k.csv" | cmp -s - "$WORK/k.before-resume.csv" ||
  fail "earlier rows changed by --resume"
[ "$(csv_rows "$WORK/k.csv")" -gt "$rows_killed" ] || fail "no new rows after --resume"
[ "$(cut -d, -f1 "$WORK/k.csv" | sort -u | grep -vc run_id)" -eq 1 ] || fail "resume used another run id"
[ "$(summary_field "$WORK/ks.csv" inbound run_id)" = "$run" ] || fail "summary run id"
[ "$(sort "$WORK/k.csv" | uniq -d | wc -l)" -eq 0 ] || fail "duplicated rows"
no_leftovers "after --resume"
rc=0
run_probe --server "$DC_HOST" --port "$DC_PORT_IMAP" --tls starttls --ca-file "$DC_CA_FILE" \
  --user "$DC_USER" --password-file "$DC_PASSWORD_FILE" --csv "$WORK/k.csv" --resume --quiet \
  2>"$WORK/mm.err" || rc=$?
[ "$rc" -eq 7 ] || fail "--resume of another server's file: exit $rc, 7 expected"
grep -q 'cannot resume' "$WORK/mm.err" || fail "mismatch message"

say "6. --cleanup refuses a probe mailbox holding foreign data"
sep=$(imapctl sep)
foreign="natidle-probe${sep}20200101T000000Z-0000${sep}1"
imapctl seed "$foreign" 1
imapctl dump "$foreign" >"$WORK/foreign.before"
rc=0
run_probe "${A[@]}" --cleanup >/dev/null 2>"$WORK/refuse.err" || rc=$?
[ "$rc" -eq 7 ] || { cat "$WORK/refuse.err"; fail "exit $rc, 7 expected"; }
grep -q 'refusing to delete' "$WORK/refuse.err" || fail "refusal message"
imapctl dump "$foreign" | cmp -s - "$WORK/foreign.before" || fail "foreign mailbox changed"
same_inbox "after a refused cleanup"
say "all data safety checks passed"
