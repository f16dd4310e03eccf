#!/usr/bin/env bash
# The library installs with its headers and natidle.pc, and a client builds
# against the installed copy alone, linked shared and static.
set -euo pipefail
build=${NATIDLE_BUILD:?}; src=${NATIDLE_SRC:?}
prefix=$(mktemp -d /tmp/natidle-install.XXXXXX)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" >/dev/null
for f in bin/natidle bin/natidle-lab include/natidle/push.h include/natidle/keepalive.h; do
  [ -e "$prefix/$f" ] || { echo "FAIL: $f not installed"; exit 1; }
done
pc=$(find "$prefix" -name natidle.pc | head -1)
[ -n "$pc" ] || { echo "FAIL: natidle.pc not installed"; exit 1; }
export PKG_CONFIG_PATH=$(dirname "$pc")
flags=$(pkg-config --define-prefix --cflags --libs natidle)
cc -Wall -Wextra -Werror "$src/examples/push_client.c" $flags -o "$prefix/pc-shared"
# Without arguments the client prints its usage and exits 2.
out=$(LD_LIBRARY_PATH="$(dirname "$pc")/.." "$prefix/pc-shared" 2>&1 || true)
grep -q usage <<<"$out" || { echo "FAIL: shared client does not run: $out"; exit 1; }
sflags=$(pkg-config --define-prefix --static --cflags --libs natidle)
cc -Wall -Wextra -Werror "$src/examples/push_client.c" -Wl,-Bstatic -lnatidle -Wl,-Bdynamic $sflags -o "$prefix/pc-static"
out=$("$prefix/pc-static" 2>&1 || true)
grep -q usage <<<"$out" || { echo "FAIL: static client does not run: $out"; exit 1; }
# Only ni_ names are exported from the shared library.
bad=$(nm -D --defined-only "$(find "$prefix" -name 'libnatidle.so.*.*' | head -1)" | awk '$2 ~ /[TDB]/ {print $3}' | grep -v '^ni_' || true)
[ -z "$bad" ] || { echo "FAIL: exported symbols without the ni_ prefix: $bad"; exit 1; }
echo "ok: installed, built and ran a client shared and static; exports are ni_* only"
