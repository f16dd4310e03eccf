#!/usr/bin/env bash
# natidle under valgrind on the carrier NAT lab (NAT timeout 4 s):
#   valgrind.sh probe       a short probe (--max 20) to its verdict
#   valgrind.sh keepalive   a 20 s keepalive run with pushed mail
# Pass: the command's own exit status, no memory error, nothing definitely
# or indirectly lost.  Suppressions (tests/valgrind/natidle.supp) cover only
# one-time initialisation of libc and OpenSSL, each explained there.
. "$NATIDLE_SRC/tests/lab/lib.sh"
. "$NATIDLE_SRC/tests/faults/lib.sh"
CASE=${1:?usage: valgrind.sh probe|keepalive}
skip_unless_possible valgrind
lab_test_init "valgrind-$CASE"
T=4
L=vg${CASE:0:4}$$
lab_up "$L" --timeout "$T" --mode drop --accounts 1

VG=(valgrind --leak-check=full --show-leak-kinds=definite,indirect
    --errors-for-leak-kinds=definite,indirect --error-exitcode=99 --track-fds=no
    --suppressions="$T_SRC/tests/valgrind/natidle.supp" --log-file="$T_TMP/vg.log")
CONN=(--server "${E[SERVER_ADDR]}" --port "${E[PORT_IMAPS]}" --ca-file "${E[CA_FILE]}"
      --user "${E[USER]}" --password-file "${E[PASSWORD_FILE]}")
rc=0
case $CASE in
  probe)
    timeout -s KILL 280 "${LAB_CMD[@]}" exec "$L" "${VG[@]}" "$NATIDLE_BIN" probe "${CONN[@]}" \
      --max 20 --sessions 4 --csv "$T_TMP/obs.csv" --summary "$T_TMP/sum.csv" \
      >"$T_TMP/out" 2>"$T_TMP/err" </dev/null || rc=$?
    [ "$rc" -eq 0 ] && ok "probe exit 0 under valgrind" || fail "probe exit $rc: $(tail -n 3 "$T_TMP/err")"
    ;;
  keepalive)
    # Mail arrives during the run (appended from the server's side), so the
    # push and fetch paths run too.
    (for i in 1 2 3; do
       sleep 5
       ip netns exec "${E[NS_SERVER]}" python3 "$T_SRC/tests/probe/imapctl.py" "${E[SERVER_ADDR]}" \
         "${E[PORT_IMAPS]}" "${E[CA_FILE]}" "${E[USER]}" "${E[PASSWORD_FILE]}" seed INBOX 1
     done) >/dev/null 2>&1 &
    seeder=$!
    timeout -s KILL 120 "${LAB_CMD[@]}" exec "$L" "${VG[@]}" "$NATIDLE_BIN" keepalive "${CONN[@]}" \
      --nat-timeout "$T" --duration 20 --log "$T_TMP/ka.csv" \
      >"$T_TMP/out" 2>"$T_TMP/err" </dev/null || rc=$?
    wait "$seeder" || true
    [ "$rc" -eq 0 ] && ok "keepalive exit 0 under valgrind" || fail "keepalive exit $rc: $(tail -n 3 "$T_TMP/err")"
    grep -q '^new uid=' "$T_TMP/out" && ok "mail was pushed during the run" || fail "no mail printed"
    ;;
  *) say "unknown case $CASE"; exit 2 ;;
esac
keep_files "$T_TMP/vg.log" "$T_TMP/err" "$T_TMP/out"
errs=$(sed -n 's/.*ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' "$T_TMP/vg.log" | tail -n 1)
[ "$errs" = 0 ] && ok "valgrind: 0 errors" || { fail "valgrind: ${errs:-?} errors"; grep -A12 '^==[0-9]*== [A-Z].*\(Invalid\|uninitialised\|lost in\)' "$T_TMP/vg.log" | head -n 60 >&2; }
for kind in definitely indirectly; do
  lost=$(sed -n "s/.*$kind lost: \([0-9,]*\) bytes.*/\1/p" "$T_TMP/vg.log" | tail -n 1)
  [ "${lost:-0}" = 0 ] && ok "$kind lost: ${lost:-0} bytes" || fail "$kind lost: $lost bytes"
done
finish
