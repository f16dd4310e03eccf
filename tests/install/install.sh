#!/usr/bin/env bash
# The libraries install with their headers and .pc files, and clients build
# against the installed copy alone, as strict ISO C (-std=c11 -pedantic):
#   push_client (examples/) with natidle.pc, linked shared and static;
#   poll_client (examples/) with natidle-keepalive.pc, shared and static;
#   a file that includes natidle/push.h and nothing else.
# libnatidle-keepalive needs nothing but libc (its dynamic section says so),
# no installed library needs libpcap, and only ni_ names are exported.
set -euo pipefail
build=${NATIDLE_BUILD:?}; src=${NATIDLE_SRC:?}
prefix=$(mktemp -d /tmp/natidle-install.XXXXXX)
trap 'rm -rf "$prefix"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
cmake --install "$build" --prefix "$prefix" >/dev/null
for f in bin/natidle bin/natidle-lab include/natidle/push.h include/natidle/keepalive.h; do
  [ -e "$prefix/$f" ] || fail "$f not installed"
done
pc=$(find "$prefix" -name natidle.pc | head -1)
[ -n "$pc" ] || fail "natidle.pc not installed"
pcdir=$(dirname "$pc")
[ -e "$pcdir/natidle-keepalive.pc" ] || fail "natidle-keepalive.pc not installed"
libdir=$(dirname "$pcdir")
export PKG_CONFIG_PATH=$pcdir
STRICT=(-std=c11 -pedantic -Wall -Wextra -Werror)

# Build a client shared and static against module $1 and run it without
# arguments: it must print its usage and exit 2.
client() { # MODULE EXAMPLE LIBNAME
  local module=$1 name=$2 lib=$3 out rc
  local flags sflags
  flags=$(pkg-config --define-prefix --cflags --libs "$module")
  cc "${STRICT[@]}" "$src/examples/$name.c" $flags -o "$prefix/$name-shared" ||
    fail "$name does not build with $module.pc: $flags"
  sflags=$(pkg-config --define-prefix --static --cflags --libs "$module")
  cc "${STRICT[@]}" "$src/examples/$name.c" -Wl,-Bstatic -l"$lib" -Wl,-Bdynamic $sflags \
    -o "$prefix/$name-static" || fail "$name does not link statically: $sflags"
  for v in shared static; do
    rc=0
    out=$(LD_LIBRARY_PATH="$libdir" "$prefix/$name-$v" 2>&1) || rc=$?
    [ "$rc" -eq 2 ] && grep -q usage <<<"$out" || fail "$name ($v) does not run: exit $rc: $out"
  done
  echo "ok: $name built with $module.pc (strict C11) and ran, shared and static"
}
client natidle push_client natidle
client natidle-keepalive poll_client natidle-keepalive

# push.h alone, strict C11, no feature macros: it may not need <uv.h>.
printf '#include <natidle/push.h>\nint main(void) { return ni_push_state_name(NI_PUSH_FAILED)[0] != 0 ? 0 : 1; }\n' \
  >"$prefix/strict.c"
cc "${STRICT[@]}" "$prefix/strict.c" $(pkg-config --define-prefix --cflags --libs natidle) \
  -o "$prefix/strict" || fail "natidle/push.h does not build as strict C11"
LD_LIBRARY_PATH="$libdir" "$prefix/strict" || fail "strict consumer does not run"
echo "ok: natidle/push.h builds alone with -std=c11 -pedantic"

# The dynamic sections.
ka=$(find "$libdir" -name 'libnatidle-keepalive.so.*.*' | head -1)
full=$(find "$libdir" -name 'libnatidle.so.*.*' | head -1)
[ -n "$ka" ] && [ -n "$full" ] || fail "shared libraries not installed"
echo "readelf -d $(basename "$ka"):"
readelf -d "$ka" | grep -E 'NEEDED|SONAME'
needed=$(readelf -d "$ka" | awk '/NEEDED/ {print $NF}' | tr -d '[]')
for n in $needed; do
  [[ $n == libc.so.* ]] || fail "libnatidle-keepalive needs $n; it may need libc only"
done
[ -n "$needed" ] || fail "no NEEDED entry in libnatidle-keepalive"
echo "readelf -d $(basename "$full"):"
readelf -d "$full" | grep -E 'NEEDED|SONAME'
for lib in "$ka" "$full"; do
  if readelf -d "$lib" | grep NEEDED | grep -q pcap; then fail "$(basename "$lib") needs libpcap"; fi
  # Only ni_ names are exported.
  bad=$(nm -D --defined-only "$lib" | awk '$2 ~ /[TDB]/ {print $3}' | grep -v '^ni_' || true)
  [ -z "$bad" ] || fail "$(basename "$lib") exports names without the ni_ prefix: $bad"
done
echo "ok: libnatidle-keepalive needs libc only; no libpcap; exports are ni_* only"
