#!/usr/bin/env bash
# measure_servers.sh: measure IMAP server variants in the lab, side by side.
#
#   sudo tests/lab/measure_servers.sh OUTDIR [--watch S] [--idle-wait S]
#        [--push-wait S] [--poll S] VARIANT...
#
# Each VARIANT gets a lab of its own (NAT timeout 600 s more than --watch, so
# the NAT plays no role), tests/lab/server_measure.py runs in its client namespace, and the
# lab is removed again, also on failure.  OUTDIR/VARIANT.txt holds the
# measurement plus LAB_UP_MS and the lab's SERVER_UP_MS; a summary table is
# printed at the end.  --poll S sets the IDLE poll interval of the polling
# variants (Cyrus imapidlepoll, Courier IMAP_IDLE_TIMEOUT); without it they
# keep their real default (60 s), and a measurement takes about 3 minutes
# plus --watch.  Variants:
#
#   dovecot           the lab's Dovecot (imap_idle_notify_interval one day)
#   dovecot-ka        Dovecot with its own default keepalive (120 s)
#   cyrus             Cyrus 3.6 as Debian ships it: altnamespace no, no idled
#   cyrus-idled       ... with idled
#   cyrus-altns       ... altnamespace yes (no idled)
#   cyrus-noplain     ... allowplaintext no
#   courier           Courier-IMAP 5.0 as Debian ships it (IDLE polls)
#   courier-enhanced  ... IMAP_ENHANCEDIDLE=1 (gamin/FAM)
#   courier-noplain   ... IMAP_TLS_REQUIRED=1
set -euo pipefail

SRC=${NATIDLE_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
LAB=(bash "$SRC/lab/natidle-lab")
die() { printf 'measure_servers: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "needs root (the lab)"
[ $# -ge 2 ] || die "usage: measure_servers.sh OUTDIR [--watch S] [--idle-wait S] [--push-wait S] [--poll S] VARIANT..."
OUT=$1; shift
watch=0 idle_wait=12 push_wait=75 poll=""
variants=()
while [ $# -gt 0 ]; do
  case $1 in
    --watch) watch=$2; shift 2 ;;
    --idle-wait) idle_wait=$2; shift 2 ;;
    --push-wait) push_wait=$2; shift 2 ;;
    --poll) poll=$2; shift 2 ;;
    -*) die "unknown option '$1'" ;;
    *) variants+=("$1"); shift ;;
  esac
done
mkdir -p "$OUT"
# The NAT must outlive the longest silence, or the end of a watch is lost.
nat=$((${watch%.*} + 600))

# lab_args VARIANT: the "natidle lab up" options of a variant.
lab_args() {
  case $1 in
    dovecot) echo "--server dovecot" ;;
    dovecot-ka) echo "--server dovecot --server-keepalive 120" ;;
    cyrus) echo "--server cyrus${poll:+ --server-opt idle-poll=$poll}" ;;
    cyrus-idled) echo "--server cyrus --server-opt idled=yes${poll:+ --server-opt idle-poll=$poll}" ;;
    cyrus-altns) echo "--server cyrus --server-opt altnamespace=yes${poll:+ --server-opt idle-poll=$poll}" ;;
    cyrus-noplain) echo "--server cyrus --server-opt plaintext=no${poll:+ --server-opt idle-poll=$poll}" ;;
    courier) echo "--server courier${poll:+ --server-opt idle-timeout=$poll}" ;;
    courier-enhanced) echo "--server courier --server-opt enhanced-idle=yes${poll:+ --server-opt idle-timeout=$poll}" ;;
    courier-noplain) echo "--server courier --server-opt plaintext=no${poll:+ --server-opt idle-timeout=$poll}" ;;
    *) return 1 ;;
  esac
}
for v in "${variants[@]}"; do lab_args "$v" >/dev/null || die "unknown variant '$v'"; done

LABS=()
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
  local l
  for l in "${LABS[@]}"; do timeout 60 "${LAB[@]}" down "$l" >/dev/null 2>&1 || true; done
}
trap cleanup EXIT

measure() {
  local v=$1 name=$2 f=$OUT/$1.txt t0 up line
  local -A E=()
  t0=$(date +%s%3N)
  # shellcheck disable=SC2046 # the options of the variant
  up=$(timeout 120 "${LAB[@]}" up "$name" --timeout "$nat" $(lab_args "$v")) || { echo "ERROR=lab up failed" >"$f"; return 1; }
  while IFS= read -r line; do E[${line%%=*}]=${line#*=}; done <<<"$up"
  {
    echo "VARIANT=$v"
    echo "LAB_ARGS=$(lab_args "$v")"
    echo "LAB_UP_MS=$(($(date +%s%3N) - t0))"
    echo "SERVER_KIND=${E[SERVER_KIND]}"
    echo "SERVER_VERSION=${E[SERVER_VERSION]}"
    echo "SERVER_UP_MS=${E[SERVER_UP_MS]}"
    timeout $((600 + ${watch%.*} * 2)) "${LAB[@]}" exec "$name" python3 "$SRC/tests/lab/server_measure.py" \
      --host "${E[SERVER_ADDR]}" --ca-file "${E[CA_FILE]}" --user "${E[USER]}" \
      --password-file "${E[PASSWORD_FILE]}" --idle-wait "$idle_wait" --push-wait "$push_wait" \
      --watch "$watch" --try-plaintext-login || echo "ERROR=server_measure exit $?"
  } >"$f" 2>&1
  timeout 60 "${LAB[@]}" down "$name" >/dev/null 2>&1 || true
}

pids=()
for v in "${variants[@]}"; do
  name=ms$$-$v
  name=${name:0:24}
  LABS+=("$name")
  measure "$v" "$name" &
  pids+=($!)
done
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=1; done

val() { sed -n "s/^$2=//p" "$OUT/$1.txt" | head -1; }
printf '%-17s %-7s %-7s %-11s %-10s %-7s %-4s %-8s %-8s %-8s %-8s %-6s\n' variant up_ms srv_ms pre_auth tls_auth ns sep fresh_ms idle_ms gap_ms reidle ka
for v in "${variants[@]}"; do
  printf '%-17s %-7s %-7s %-11s %-10s %-7s %-4s %-8s %-8s %-8s %-8s %-6s\n' "$v" "$(val "$v" LAB_UP_MS)" \
    "$(val "$v" SERVER_UP_MS)" "$(val "$v" PRE_TLS_AUTH | tr ' ' ,)" "$(val "$v" STARTTLS_AUTH | tr ' ' ,)" \
    "$(val "$v" PERSONAL_PREFIX)" "$(val "$v" NAMESPACE_SEPARATOR)" "$(val "$v" PUSH_FRESH_MS)" \
    "$(val "$v" PUSH_IDLE_MS)" "$(val "$v" PUSH_GAP_MS)" "$(val "$v" PUSH_REIDLE_MS)" "$(val "$v" KEEPALIVE_INTERVAL_S)"
done
exit "$rc"
