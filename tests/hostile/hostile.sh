#!/usr/bin/env bash
# natidle probe and natidle keepalive against hostile servers on loopback:
# garbage, BYE in the middle of a command, a flood of a million untagged
# lines, a literal of 2^40 bytes, a line that never ends, one byte per
# second, a server that never answers the login, stalled TLS handshakes
# (IMAPS and STARTTLS), STARTTLS answered with plaintext appended, STARTTLS
# refused, TLS 1.1 only (IMAPS and STARTTLS), plaintext on the IMAPS port,
# a certificate for another name, an untrusted
# certificate, and a plaintext server.  For each: the documented exit code,
# one line on stderr saying what happened, nothing on stdout, no CSV row, a
# peak RSS close to that of a plain failure, an end within the configured
# timeouts, no credentials sent where they must not be, and the password in
# no output.  Then natidle keepalive against servers that turn hostile once
# it is in IDLE (a 2^40-byte literal, garbage, a million untagged lines): it
# drops and reconnects, or reads on, with bounded memory, and ends normally.
source "$(dirname "$0")/lib.sh"
make_certs

# case|server mode|certificate|connection|probe exit|probe message|keepalive exit|keepalive message|seconds
# (messages are extended regular expressions, with ~ for alternation)
CASES=(
  "garbage|garbage|server|plain-ok|5|protocol error|1|protocol error|10"
  "bye|bye_mid|server|plain-ok|5|said BYE|5|said BYE|10"
  "flood|flood|server|plain-ok|5|closed|5|closed|30"
  "literal|literal|server|plain-ok|5|literal too large|1|literal too large|10"
  "longline|longline|server|plain-ok|5|line too long|1|line too long|10"
  "slow|slow|server|plain-ok|5|timed out|5|no answer~timed out|45"
  "stall_login|stall_login|server|plain-ok|5|.|5|no answer|45"
  "tls_stall|tls_stall|server|imaps|5|timed out|5|no answer~timed out|45"
  "starttls_stall|starttls_stall|server|starttls|5|timed out|5|no answer~timed out|45"
  "inject|starttls_inject|server|starttls|6|does not offer IDLE|6|lacks IDLE|10"
  "starttls_bad|starttls_bad|server|starttls|4|refused STARTTLS|4|refused STARTTLS|10"
  "tls11|tls11|server|imaps|4|protocol version|4|protocol version|10"
  "starttls_tls11|starttls_tls11|server|starttls|4|protocol version|4|protocol version|10"
  "plain_on_imaps|plain|server|imaps|4|TLS handshake failed|4|TLS handshake failed|10"
  "wrongname|tls_ok|wrongname|imaps|4|certificate verify failed|4|certificate verify failed|10"
  "untrusted|tls_ok|server|imaps-system|4|certificate verify failed|4|certificate verify failed|10"
  "insecure|tls_ok|server|imaps-insecure|6|does not offer IDLE|6|lacks IDLE|10"
  "plain|plain|server|plain|3|without TLS|3|without TLS|10"
  "plain_ok|plain|server|plain-ok|6|does not offer IDLE|6|lacks IDLE|10"
)

names=()
for c in "${CASES[@]}"; do
  IFS='|' read -r name mode cert _ <<<"$c"
  start_hostile "$name" "$mode" "$cert"
  names+=("$name")
done
IDLE_MODES=(idle_literal idle_garbage idle_flood)
for m in "${IDLE_MODES[@]}"; do
  start_hostile "$m" "$m"
  names+=("$m")
done
wait_ports "${names[@]}"

conn_args() { # conn_args KIND PORT
  case $1 in
    plain-ok) echo --tls none --allow-plaintext --port "$2" ;;
    plain) echo --tls none --port "$2" ;;
    imaps) echo --tls imaps --ca-file "$WORK/ca.pem" --port "$2" ;;
    imaps-system) echo --tls imaps --port "$2" ;;
    imaps-insecure) echo --tls imaps --insecure --port "$2" ;;
    starttls) echo --tls starttls --ca-file "$WORK/ca.pem" --port "$2" ;;
  esac
}

# Every command against every server at once: the slow cases take the
# connect and setup timeouts (15 s for the probe, 30 s for keepalive), and
# 60 s is the hard stop that turns a hang into a failure.
say "running ${#CASES[@]} cases x 2 commands"
jobs_=()
for c in "${CASES[@]}"; do
  IFS='|' read -r name mode cert kind _ <<<"$c"
  read -r -a A < <(conn_args "$kind" "${PORT[$name]}")
  (python3 "$HOSTILE/runlimit.py" "$WORK/$name.p.met" 60 "$BIN" probe --server 127.0.0.1 \
     "${A[@]}" --user someone --password-file "$WORK/pw" --max 5 --csv "$WORK/$name.csv" \
     --summary "$WORK/$name.sum.csv" --quiet </dev/null >"$WORK/$name.p.out" 2>"$WORK/$name.p.err" || true) &
  jobs_+=($!)
  (python3 "$HOSTILE/runlimit.py" "$WORK/$name.k.met" 60 "$BIN" keepalive --server 127.0.0.1 \
     "${A[@]}" --user someone --password-file "$WORK/pw" --duration 50 --log "$WORK/$name.ka.csv" \
     --quiet </dev/null >"$WORK/$name.k.out" 2>"$WORK/$name.k.err" || true) &
  jobs_+=($!)
done
for m in "${IDLE_MODES[@]}"; do
  (python3 "$HOSTILE/runlimit.py" "$WORK/$m.k.met" 60 "$BIN" keepalive --server 127.0.0.1 \
     --port "${PORT[$m]}" --tls none --allow-plaintext --user someone --password-file "$WORK/pw" \
     --nat-timeout 60 --duration 12 --log "$WORK/$m.ka.csv" --quiet \
     </dev/null >"$WORK/$m.k.out" 2>"$WORK/$m.k.err" || true) &
  jobs_+=($!)
done
for j in "${jobs_[@]}"; do wait "$j"; done

rows() { [ -f "$1" ] && echo $(($(wc -l <"$1") - 1)) || echo 0; }
# The baseline is the larger peak of two harmless failures: a plaintext
# refusal and a TLS session with a server that lacks IDLE (loading CAs and
# TLS costs memory of its own).
max_of() { [ "$1" -ge "$2" ] && echo "$1" || echo "$2"; }
base_p=$(max_of "$(field "$WORK/plain.p.met" maxrss_kb)" "$(field "$WORK/insecure.p.met" maxrss_kb)")
base_k=$(max_of "$(field "$WORK/plain.k.met" maxrss_kb)" "$(field "$WORK/insecure.k.met" maxrss_kb)")
say "baseline peak RSS: probe ${base_p} KiB, keepalive ${base_k} KiB"
# A hostile server may cost a few buffers, never its own volume: 16 MiB
# above the baseline (the flood is 12 MB, the literal 2^40 bytes, the
# endless line 64 MiB).  A sanitizer build keeps freed memory in quarantine,
# so it gets 48 MiB.
SLACK_KB=16384
if sanitized; then SLACK_KB=49152; fi

for c in "${CASES[@]}"; do
  IFS='|' read -r name mode cert kind prc ppat krc kpat secs <<<"$c"
  for cmd in p k; do
    met=$WORK/$name.$cmd.met err=$WORK/$name.$cmd.err out=$WORK/$name.$cmd.out
    if [ $cmd = p ]; then want=$prc pat=$ppat base=$base_p label=probe; else want=$krc pat=$kpat base=$base_k label=keepalive; fi
    rc=$(field "$met" rc) rss=$(field "$met" maxrss_kb) wall=$(field "$met" wall_s)
    line="$label/$name: exit $rc, ${rss} KiB, ${wall} s: $(head -c 200 "$err")"
    ok=1
    [ "$(field "$met" killed)" = 0 ] || { bad "$label/$name hung: killed after 60 s"; ok=0; }
    [ "$rc" = "$want" ] || { bad "$line (exit $want expected)"; ok=0; }
    [ "$(wc -l <"$err")" -eq 1 ] || { bad "$line (one line on stderr expected, got $(wc -l <"$err"))"; ok=0; }
    grep -q "^natidle $label: " "$err" || { bad "$line (message not prefixed)"; ok=0; }
    grep -qiE -- "${pat//\~/|}" "$err" || { bad "$line (message should match '$pat')"; ok=0; }
    [ ! -s "$out" ] || { bad "$label/$name printed on stdout: $(head -c 200 "$out")"; ok=0; }
    [ "$rss" -le $((base + SLACK_KB)) ] || { bad "$line (peak RSS above ${base} + $SLACK_KB KiB)"; ok=0; }
    awk -v w="$wall" -v s="$secs" 'BEGIN { exit !(w <= s) }' || { bad "$line (slower than $secs s)"; ok=0; }
    [ $ok = 1 ] && say "ok $line"
  done
  [ "$(rows "$WORK/$name.csv")" -le 0 ] || bad "probe/$name wrote observation rows"
  [ "$(rows "$WORK/$name.sum.csv")" -le 0 ] || bad "probe/$name wrote summary rows"
  no_secret "$WORK/$name".*
done

# Hostile after IDLE: keepalive runs its whole --duration and prints its
# tally; literal and garbage end the connection (logged as lost, with the
# reason) and it reconnects; the flood is read through.
for m in "${IDLE_MODES[@]}"; do
  met=$WORK/$m.k.met
  line="keepalive/$m: exit $(field "$met" rc), $(field "$met" maxrss_kb) KiB, $(field "$met" wall_s) s"
  [ "$(field "$met" rc)" = 0 ] || bad "$line (exit 0 expected): $(head -c 300 "$WORK/$m.k.err")"
  [ "$(field "$met" maxrss_kb)" -le $((base_k + SLACK_KB)) ] || bad "$line (peak RSS above ${base_k} + $SLACK_KB KiB)"
  grep -q '^tally ' "$WORK/$m.k.out" || bad "$line: no tally line"
  connects=$(grep -c ',connect,,ok,' "$WORK/$m.ka.csv" || true)
  case $m in
    idle_literal | idle_garbage)
      want=$([ $m = idle_literal ] && echo limit || echo parse)
      grep -q ",lost,,$want," "$WORK/$m.ka.csv" || bad "$line: no 'lost' row with outcome $want"
      [ "$connects" -ge 2 ] || bad "$line: did not reconnect ($connects connects)"
      ;;
    idle_flood)
      ! grep -q ',lost,' "$WORK/$m.ka.csv" || bad "$line: the flood ended the connection"
      grep -q 'bytes_in=1[0-9]\{7\}' "$WORK/$m.k.out" || bad "$line: the flood was not read: $(cat "$WORK/$m.k.out")"
      ;;
  esac
  no_secret "$WORK/$m".*
  say "checked $line"
done

# Credentials never cross a link that is not encrypted and verified.
for name in plain starttls_bad starttls_stall tls11 starttls_tls11 plain_on_imaps wrongname untrusted \
  tls_stall; do
  ! grep -qiE '^[^ ]+ (LOGIN|AUTHENTICATE)' "$WORK/$name.log" ||
    bad "$name: the client sent credentials: $(grep -iE 'LOGIN|AUTHENTICATE' "$WORK/$name.log" | head -1)"
done
grep -qiE '^[^ ]+ (LOGIN|AUTHENTICATE)' "$WORK/plain_ok.log" ||
  bad "plain_ok: --allow-plaintext should log in over plaintext"
# The injected plaintext was dropped, not parsed: the message is about the
# server inside TLS (no IDLE), never the injected BYE, and the TLS side
# received the client's CAPABILITY.
for cmd in p k; do
  ! grep -qi injected "$WORK/inject.$cmd.err" || bad "inject: injected bytes were parsed: $(cat "$WORK/inject.$cmd.err")"
done
grep -q '^[^ ]* CAPABILITY' "$WORK/inject.log" || bad "inject: no CAPABILITY inside TLS"

[ "$FAILS" -eq 0 ] || { echo "$FAILS check(s) failed" >&2; exit 1; }
say "all hostile-server checks passed"
