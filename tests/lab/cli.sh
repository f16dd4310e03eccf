#!/usr/bin/env bash
# "natidle lab" finds and runs the lab script (no root, no network): via
# NATIDLE_SRC, beside an installed binary, and with a clear error when it
# cannot find it.  Argument errors come back with the script's exit code.
# "check && ok || fail" is meant: fail runs when the check or ok fails.
# shellcheck disable=SC2015
set -euo pipefail
bin=${NATIDLE_BIN:?NATIDLE_BIN not set}
src=${NATIDLE_SRC:?NATIDLE_SRC not set}
tmp=$(mktemp -d /tmp/natidle-lab-cli.XXXXXX)
trap 'rm -rf -- "$tmp"' EXIT
fails=0
fail() { printf 'lab-cli: FAIL: %s\n' "$*" >&2; fails=$((fails + 1)); }
ok() { printf 'lab-cli: ok: %s\n' "$*" >&2; }

out=$(NATIDLE_SRC=$src "$bin" lab --help) || fail "--help exit status $?"
grep -q '^SYNOPSIS' <<<"$out" && grep -q 'natidle lab up NAME' <<<"$out" &&
  ok "--help via NATIDLE_SRC prints the manual" || fail "--help output: $out"

rc=0
NATIDLE_SRC=$src "$bin" lab up --mode nope 2>"$tmp/err" >/dev/null || rc=$?
[ "$rc" -eq 2 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] &&
  ok "bad argument: exit 2, $(cat "$tmp/err")" || fail "bad argument: exit $rc, $(cat "$tmp/err")"

# An installed layout: the binary with the scripts beside it, no NATIDLE_SRC.
mkdir "$tmp/bin"
cp "$bin" "$tmp/bin/natidle"
cp "$src/lab/natidle-lab" "$tmp/bin/natidle-lab"
out=$(env -u NATIDLE_SRC "$tmp/bin/natidle" lab --help) || fail "installed --help exit status $?"
grep -q '^SYNOPSIS' <<<"$out" && ok "finds natidle-lab beside the binary" || fail "installed layout"

# Nothing to find: one clear line, failure status.
rm "$tmp/bin/natidle-lab"
rc=0
env -u NATIDLE_SRC "$tmp/bin/natidle" lab --help >/dev/null 2>"$tmp/err" || rc=$?
[ "$rc" -eq 1 ] && grep -q 'cannot find the lab script' "$tmp/err" &&
  ok "missing script: exit 1, $(cat "$tmp/err")" || fail "missing script: exit $rc, $(cat "$tmp/err")"

[ "$fails" -eq 0 ] || exit 1
