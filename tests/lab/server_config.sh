#!/usr/bin/env bash
# The probe-server recipe is a configuration Dovecot accepts, with no server
# keepalive while idle and room for the probe's sessions; bad options are
# refused.  Runs doveconf on the generated file (no server is started).
set -euo pipefail
src=${NATIDLE_SRC:?}
command -v doveconf >/dev/null || { echo "FAIL: doveconf is not installed (sudo ./run deps)"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=probe.example.org -days 1 \
  -keyout "$tmp/key.pem" -out "$tmp/cert.pem" >/dev/null 2>&1
: >"$tmp/users"
bash "$src/lab/probe-server-config" --cert "$tmp/cert.pem" --key "$tmp/key.pem" --sessions 12 \
  --users "$tmp/users" --mail-dir "$tmp/mail" --vmail nobody >"$tmp/dovecot.conf"
# Dovecot wants its own paths for a configuration it checks as a whole.
printf 'base_dir = %s/run\nstate_dir = %s/state\n' "$tmp" "$tmp" >>"$tmp/dovecot.conf"
out=$(doveconf -c "$tmp/dovecot.conf" -n 2>&1) || fail "doveconf refused it: $out"
doveconf -c "$tmp/dovecot.conf" -h -f protocol=imap imap_idle_notify_interval | grep -qx '1 days' ||
  fail "idle notify interval: $(doveconf -c "$tmp/dovecot.conf" -h -f protocol=imap imap_idle_notify_interval)"
[ "$(doveconf -c "$tmp/dovecot.conf" -h -f protocol=imap mail_max_userip_connections)" = 52 ] ||
  fail "mail_max_userip_connections is not 4 x (12 + 1)"
[ "$(doveconf -c "$tmp/dovecot.conf" -h ssl)" = required ] || fail "ssl is not required"
rc=0; bash "$src/lab/probe-server-config" --sessions 0 >/dev/null 2>&1 || rc=$?
[ $rc -eq 2 ] || fail "--sessions 0 gave exit $rc, 2 expected"
rc=0; bash "$src/lab/probe-server-config" --cert 'a b' >/dev/null 2>&1 || rc=$?
[ $rc -eq 2 ] || fail "a path with a space gave exit $rc, 2 expected"
bash "$src/lab/probe-server-config" --help | grep -q 'imap_idle_notify_interval' || fail "--help"
echo "ok: the recipe is valid Dovecot configuration with no idle keepalive"
