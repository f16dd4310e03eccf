#!/usr/bin/env bash
# natidle keepalive against a real Dovecot on 127.0.0.1 (label imap): new
# mail pushed by NOTIFY and by plain IDLE + FETCH; every message reported
# exactly once across a connection the server drops (doveadm kick); a
# mailbox whose UIDVALIDITY changes; two accounts in one process.  No NAT
# here: tests/keepalive/lab_soak.sh covers that.
# Needs root (Dovecot switches users); exits 77 (skipped) without it.
set -euo pipefail
: "${NATIDLE_SRC:?}" "${NATIDLE_BIN:?}"
. "$NATIDLE_SRC/tests/keepalive/dovecot.sh"
dovecot_start --accounts 2

conn=(--host "${E[HOST]}" --port "${E[PORT_IMAPS]}" --ca-file "${E[CA_FILE]}"
      --user "${E[USER]}" --password-file "${E[PASSWORD_FILE]}")
ka=(--server "${E[HOST]}" --port "${E[PORT_IMAPS]}" --ca-file "${E[CA_FILE]}"
    --user "${E[USER]}" --password-file "${E[PASSWORD_FILE]}" --nat-timeout 8)

rc=0
run() { # NAME SOAK-ARGS... -- NATIDLE-ARGS...
  local name=$1; shift
  echo "=== $name"
  if ! python3 "$SOAK" "$@"; then
    echo "=== $name FAILED"
    rc=1
  fi
}

# NOTIFY (Dovecot offers it): headers pushed inside IDLE.  Keepalives come
# every 6 s of silence: the first gap (7 s) needs one, and pushes arrive
# between keepalives too.
run notify "${conn[@]}" --messages 4 --first-gap 7 --gap 0.5:9 --max-delay 3 --keepalives 1:12 \
  --log "$WORK/notify.csv" --expect-event connect/ok --expect-event message/pushed \
  -- "$NATIDLE_BIN" keepalive "${ka[@]}" --log "$WORK/notify.csv"

# Plain IDLE: EXISTS, then DONE + UID FETCH + IDLE.
run idle "${conn[@]}" --messages 4 --gap 0.5:4 --max-delay 3 \
  --log "$WORK/idle.csv" --expect-event message/fetched \
  -- "$NATIDLE_BIN" keepalive "${ka[@]}" --no-notify --log "$WORK/idle.csv"

# The server drops the connection after the second message: the session
# reconnects and the resync reports every message once, none twice.
run kick "${conn[@]}" --messages 5 --gap 0.2:2 --min-reconnects 1 \
  --flush-cmd "doveadm -c '$DIR/dovecot.conf' kick '${E[USER]}' >/dev/null" --flush-after 2 \
  --settle 10 --log "$WORK/kick.csv" --expect-event lost/bye \
  -- "$NATIDLE_BIN" keepalive "${ka[@]}" --log "$WORK/kick.csv"

# The watched mailbox is deleted and re-created (a new UIDVALIDITY): the
# session says so, starts over from the mailbox as it is, and reports what
# arrives afterwards.
run uidvalidity "${conn[@]}" --mailbox Watched --messages 4 --gap 0.5:1.5 --recreate-after 2 \
  --max-delay 3 --min-reconnects 1 \
  -- "$NATIDLE_BIN" keepalive "${ka[@]}" --mailbox Watched

# Two accounts in one process (--accounts): mail to the second one is
# reported once, marked with its account.
printf '%s %s\n' "${E[USER]}" "${E[PASSWORD_FILE]}" >"$WORK/accounts"
set -- ${E[USERS]}
printf '# second account\n%s %s/%s\n' "$2" "${E[PASSWORD_DIR]}" "$2" >>"$WORK/accounts"
run accounts --host "${E[HOST]}" --port "${E[PORT_IMAPS]}" --ca-file "${E[CA_FILE]}" \
  --user "$2" --password-file "${E[PASSWORD_DIR]}/$2" --sessions 2 --messages 3 --gap 0.5:2 \
  --max-delay 3 \
  -- "$NATIDLE_BIN" keepalive --server "${E[HOST]}" --port "${E[PORT_IMAPS]}" \
  --ca-file "${E[CA_FILE]}" --accounts "$WORK/accounts" --nat-timeout 8

if [ $rc -ne 0 ]; then
  echo "--- Dovecot log (tail)" >&2
  tail -n 30 "$DIR/dovecot.log" >&2 || true
fi
exit $rc
