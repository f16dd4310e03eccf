#!/usr/bin/env bash
# One IMAP server variant in the lab: servers.sh VARIANT
#
#   dovecot           the lab's Dovecot (the reference)
#   cyrus             Cyrus 3.6 as Debian ships it (namespace "INBOX.", no
#                     idled: IDLE polls, here every 5 s)
#   cyrus-idled       Cyrus with idled (IDLE is told at once)
#   cyrus-altns       Cyrus with altnamespace yes, idled, allowplaintext no
#   courier           Courier-IMAP 5.0 as Debian ships it (IDLE polls, here
#                     every 5 s)
#   courier-enhanced  Courier with enhanced IDLE (gamin) and
#                     IMAP_TLS_REQUIRED=1
#
# A lab with the server (NAT timeout 600 s, so the NAT plays no role); in the
# client namespace: tests/lab/server_measure.py (STARTTLS and IMAPS logins,
# NAMESPACE, the separator, top-level CREATE, IDLE with APPEND from a second
# connection at once, after 11 s of IDLE, right after that, and after a
# DONE and IDLE again), the
# existing helpers idle_push.py (over STARTTLS) and imapctl.py unchanged;
# restart-server; down leaves nothing behind.  Expected values are the ones
# measured (lab/README.md, "Cyrus and Courier").  Cyrus and Courier come
# from Debian packages that server-debs downloads on first use: a failed
# download fails the test.
# "check && ok || fail" is meant throughout: fail runs when either fails.
# shellcheck disable=SC2015
# shellcheck source=tests/lab/lib.sh
. "$(dirname "$0")/lib.sh"

V=${1:-}
POLL=5
case $V in
  dovecot) ARGS=(--server dovecot) ;;
  cyrus) ARGS=(--server cyrus --server-opt "idle-poll=$POLL") ;;
  cyrus-idled) ARGS=(--server cyrus --server-opt idled=yes) ;;
  cyrus-altns) ARGS=(--server cyrus --server-opt altnamespace=yes --server-opt idled=yes
                     --server-opt plaintext=no) ;;
  courier) ARGS=(--server courier --server-opt "idle-timeout=$POLL") ;;
  courier-enhanced) ARGS=(--server courier --server-opt enhanced-idle=yes --server-opt plaintext=no) ;;
  *) echo "usage: servers.sh dovecot|cyrus|cyrus-idled|cyrus-altns|courier|courier-enhanced" >&2; exit 2 ;;
esac
lab_test_init "server-$V"
for c in apt-get dpkg-deb unshare mount setsid ldd; do
  command -v "$c" >/dev/null || { fail "'$c' is not installed"; exit 1; }
done

# Expected values, per variant (measured; see lab/README.md).
KIND=${V%%-*}
PREFIX=INBOX. PRE_AUTH=none PLAIN_LOGIN=ok PUSHES=poll
case $V in
  dovecot) PREFIX="" PRE_AUTH="PLAIN LOGIN" PUSHES=push TOPLEVEL=OK ;;
  cyrus) PRE_AUTH="PLAIN LOGIN" TOPLEVEL=NO ;;
  cyrus-idled) PRE_AUTH="PLAIN LOGIN" PUSHES=push TOPLEVEL=NO ;;
  cyrus-altns) PREFIX="" PLAIN_LOGIN=refused PUSHES=push TOPLEVEL=OK ;;
  courier) TOPLEVEL=NO ;;
  courier-enhanced) PLAIN_LOGIN=refused PUSHES=push TOPLEVEL=NO ;;
esac

L=t-sv-$V-$$
L=${L:0:24}
t0=$(date +%s%3N)
lab_up "$L" --timeout 600 "${ARGS[@]}"
say "lab up with $KIND ${E[SERVER_VERSION]} took $(($(date +%s%3N) - t0)) ms (server ${E[SERVER_UP_MS]} ms)"
[ "${E[SERVER_KIND]}" = "$KIND" ] && ok "env: SERVER_KIND=$KIND" || fail "env: SERVER_KIND=${E[SERVER_KIND]}, expected $KIND"

# The measurement, and at the same time idle_push.py over STARTTLS on the
# second account (its own INBOX, so neither sees the other's mail).
timeout 100 "${LAB_CMD[@]}" exec "$L" python3 "$T_DIR/server_measure.py" --host "${E[SERVER_ADDR]}" \
  --ca-file "${E[CA_FILE]}" --user natidle1 --password-file "${E[PASSWORD_DIR]}/natidle1" \
  --idle-wait 11 --push-wait $((POLL + 5)) --try-plaintext-login >"$T_TMP/m" 2>"$T_TMP/m.err" &
m=$!
timeout 60 "${LAB_CMD[@]}" exec "$L" python3 "$T_DIR/idle_push.py" --host "${E[SERVER_ADDR]}" \
  --port "${E[PORT_IMAP]}" --tls starttls --ca-file "${E[CA_FILE]}" --user natidle2 \
  --password-file "${E[PASSWORD_DIR]}/natidle2" --silence 1 --wait-push $((POLL + 3)) >"$T_TMP/p" &
p=$!
wait "$m" || fail "server_measure.py failed: $(tr '\n' ' ' <"$T_TMP/m.err")"
wait "$p" || fail "idle_push.py over STARTTLS failed"
say "measured: $(grep -E '^(PUSH_|NAMESPACE=|CREATE_TOPLEVEL_DOT=|PRE_TLS_AUTH)' "$T_TMP/m" | tr '\n' ' ')"

# between FILE KEY LO HI WHAT: a numeric result within [LO, HI].
between() {
  local got
  got=$(result "$1" "$2")
  if [[ $got =~ ^[0-9]+$ ]] && [ "$got" -ge "$3" ] && [ "$got" -le "$4" ]; then
    ok "$5 ($2=$got, expected $3..$4)"
  else
    fail "$5: expected $2 in $3..$4, got '$got'"
  fi
}

M=$T_TMP/m
expect "$M" STARTTLS yes "STARTTLS offered"
[[ $(result "$M" STARTTLS_AUTH) == *PLAIN* ]] && ok "AUTH=PLAIN after STARTTLS" ||
  fail "no AUTH=PLAIN after STARTTLS: $(result "$M" STARTTLS_AUTH)"
[ -n "$(result "$M" STARTTLS_LOGIN_MS)" ] && ok "login over STARTTLS" || fail "no login over STARTTLS"
[ -n "$(result "$M" IMAPS_CONNECT_LOGIN_MS)" ] && ok "login over IMAPS" || fail "no login over IMAPS"
expect "$M" PRE_TLS_AUTH "$PRE_AUTH" "mechanisms before STARTTLS"
case $PLAIN_LOGIN in
  ok) [[ $(result "$M" PLAINTEXT_LOGIN) == "m1 OK"* ]] && ok "LOGIN before STARTTLS accepted" ||
    fail "LOGIN before STARTTLS: $(result "$M" PLAINTEXT_LOGIN | cut -c1-80)" ;;
  refused) expect "$M" PRE_TLS_LOGINDISABLED yes "LOGINDISABLED before STARTTLS"
    [[ $(result "$M" PLAINTEXT_LOGIN) == "m1 NO"* ]] && ok "LOGIN before STARTTLS refused ($(result "$M" PLAINTEXT_LOGIN))" ||
      fail "LOGIN before STARTTLS: $(result "$M" PLAINTEXT_LOGIN | cut -c1-80)" ;;
esac
expect "$M" HAS_IDLE yes "IDLE offered"
expect "$M" HAS_NAMESPACE yes "NAMESPACE offered"
expect "$M" PERSONAL_PREFIX "$PREFIX" "personal namespace prefix"
expect "$M" NAMESPACE_SEPARATOR . "namespace separator"
expect "$M" LIST_SEPARATOR . "LIST separator"
[[ $(result "$M" CREATE_TOPLEVEL_DOT) == "$TOPLEVEL"* ]] &&
  ok "CREATE natidle-probe.X: $(result "$M" CREATE_TOPLEVEL_DOT)" ||
  fail "CREATE natidle-probe.X: expected $TOPLEVEL, got '$(result "$M" CREATE_TOPLEVEL_DOT)'"
if [ -n "$PREFIX" ]; then
  [[ $(result "$M" CREATE_PERSONAL) == OK* ]] && ok "CREATE under $PREFIX works" ||
    fail "CREATE under $PREFIX: $(result "$M" CREATE_PERSONAL)"
fi
expect "$M" CREATE_LEFTOVERS 0 "the created mailboxes are gone again"
expect "$M" LINES_LF_ONLY 0 "every line ends in CRLF"
expect "$M" IDLE_OTHER_LINES 0 "nothing but EXISTS/RECENT/FETCH during IDLE"
if [ "$PUSHES" = push ]; then
  # Dovecot batches changes for 0.5 s; idled tells at once; gamin tells a
  # session that just entered IDLE at once, one idle for a while about
  # 1.1 s later.
  between "$M" PUSH_FRESH_MS 0 2000 "APPEND reaches a session just in IDLE"
  between "$M" PUSH_IDLE_MS 0 2500 "APPEND reaches a session idle 11 s"
  between "$M" PUSH_NEXT_MS 0 2000 "the next APPEND right after"
  between "$M" PUSH_REIDLE_MS 0 2000 "APPEND at once after DONE and IDLE again"
else
  # The server looks every POLL s from the start of IDLE: the first APPEND
  # is seen about POLL s later, the one after 11 s of IDLE at the next
  # multiple of POLL (15 s), the next one POLL s after that.
  between "$M" PUSH_FRESH_MS $((POLL * 1000 - 1500)) $((POLL * 1000 + 1500)) "APPEND at IDLE start is seen at the first poll"
  between "$M" PUSH_IDLE_MS 1 $((POLL * 1000 + 1500)) "APPEND after 11 s of IDLE is seen at the next poll"
  between "$M" PUSH_GAP_MS $((POLL * 1000 - 1500)) $((POLL * 1000 + 1500)) "the poll interval"
  between "$M" PUSH_REIDLE_MS 1 $((POLL * 1000 + 1500)) "APPEND after DONE and IDLE again is seen at the first poll"
fi
expect "$T_TMP/p" EXISTS_BEFORE_DONE yes "idle_push.py over STARTTLS gets its push"
expect "$T_TMP/p" DONE_RESULT ok "idle_push.py: DONE answered"

# imapctl.py unchanged: separator, and an APPEND counted.
ctl() {
  timeout 30 "${LAB_CMD[@]}" exec "$L" python3 "$T_SRC/tests/probe/imapctl.py" "${E[SERVER_ADDR]}" \
    "${E[PORT_IMAPS]}" "${E[CA_FILE]}" natidle2 "${E[PASSWORD_DIR]}/natidle2" "$@"
}
[ "$(ctl sep)" = . ] && ok "imapctl.py sep: ." || fail "imapctl.py sep: '$(ctl sep)'"
n0=$(ctl count INBOX) || n0=x
ctl seed INBOX 1 || fail "imapctl.py seed INBOX failed"
n1=$(ctl count INBOX) || n1=y
[[ $n0 =~ ^[0-9]+$ ]] && [ "$n1" = $((n0 + 1)) ] && ok "imapctl.py seed and count: $n0 -> $n1" ||
  fail "imapctl.py count: $n0 -> $n1"

# restart-server: clients come back; restart-dovecot only for Dovecot.
lab restart-server "$L" || fail "restart-server failed"
[ "$(ctl sep)" = . ] && ok "after restart-server: login works" || fail "after restart-server: no login"
if [ "$KIND" != dovecot ]; then
  if lab restart-dovecot "$L" 2>"$T_TMP/rd"; then fail "restart-dovecot accepted a $KIND lab"
  else ok "restart-dovecot refused: $(cat "$T_TMP/rd")"; fi
fi
lab status "$L" >"$T_TMP/status" || fail "status reports a problem: $(tr '\n' ' ' <"$T_TMP/status")"
grep -q "^$KIND .*running" "$T_TMP/status" && ok "status: $(grep "^$KIND" "$T_TMP/status")" ||
  fail "status does not show $KIND running"

# down leaves nothing: no namespace, no process, no state.
state=${E[STATE_DIR]}
lab down "$L" || fail "down failed"
left=$(
  for f in /run/netns/natidle-"$L"-*; do [ -e "$f" ] && echo "namespace ${f#/run/netns/}"; done
  [ -e "$state" ] && echo "$state"
  for q in /proc/[0-9]*; do
    for link in "$q/cwd" "$q/root"; do
      link=$(readlink "$link" 2>/dev/null) || continue
      case $link in "$state" | "$state"/*) echo "process ${q#/proc/} in $link" ;; esac
    done
    tr '\0' ' ' 2>/dev/null <"$q/cmdline" | grep -F "$state/" | sed "s|^|process ${q#/proc/}: |" || true
  done
)
[ -z "$left" ] && ok "down left nothing behind" || fail "down left: $left"
finish
