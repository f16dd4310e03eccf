#!/usr/bin/env bash
# Layers only point down (DESIGN.md): no library or engine file includes
# the tool's code (cli/), by any path, relative ones included; a folder
# includes only the folders below it; and no library file prints to the
# terminal (the tool does that).  Checks itself first on a planted tree, so
# a broken check cannot pass.
#   layers.sh [ROOT]
set -euo pipefail
ROOT=$(cd "${1:-${NATIDLE_SRC:?}}" && pwd)

# What each folder may include besides the public headers (natidle/) and
# itself.  probe/ is the engine: everything below the tool.
declare -A MAY=(
  [common]=""
  [reports]="common"
  [imap]="common"
  [keepalive]="common imap"
  [probe]="common imap keepalive reports"
)

# check TREE: prints one line per violation, returns 1 when there is any.
check() {
  local tree=$1 bad=0 dir f line inc target top ok allowed
  for dir in "${!MAY[@]}"; do
    [ -d "$tree/$dir" ] || continue
    while IFS= read -r -d '' f; do
      # Includes: resolve against the file's folder and the tree's root,
      # as a compiler with either on its path would.
      while IFS= read -r line; do
        inc=$(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' <<<"$line")
        [ -n "$inc" ] || continue
        for target in "$(dirname "$f")/$inc" "$tree/$inc"; do
          [ -e "$target" ] || continue
          target=$(realpath -m "$target")
          case $target in "$tree"/*) ;; *) continue ;; esac
          top=${target#"$tree"/}
          top=${top%%/*}
          [ "$top" = "$dir" ] || [ "$top" = include ] && continue
          ok=0
          for allowed in ${MAY[$dir]}; do [ "$top" = "$allowed" ] && ok=1; done
          if [ $ok -eq 0 ]; then
            echo "${f#"$tree"/}: includes $inc ($top/ is not below $dir/)"
            bad=1
          fi
        done
      done < <(grep '#[[:space:]]*include' "$f" || true)
      # Terminal output: the library returns codes and reports through
      # callbacks; only the tool prints.
      if grep -nE '(^|[^a-z_])(printf|puts|perror|vprintf)[[:space:]]*\(|(^|[^a-z_])std(err|out)([^a-z_]|$)' "$f" |
        grep -v '^[0-9]*:[[:space:]]*\(/\*\|\*\)' >/tmp/layers.$$; then
        sed "s|^|${f#"$tree"/}:|; s|$| (prints to the terminal)|" /tmp/layers.$$
        bad=1
      fi
      rm -f /tmp/layers.$$
    done < <(find "$tree/$dir" -name '*.[ch]' -print0)
  done
  return $bad
}

# The check must catch a planted violation of each kind.
plant=$(mktemp -d)
trap 'rm -rf "$plant"' EXIT
mkdir -p "$plant"/{cli,imap,reports,common}
echo 'int x;' >"$plant/cli/options.h"
echo 'int y;' >"$plant/imap/conn_internal.h"
printf '#include "../cli/options.h"\n' >"$plant/imap/a.c"
printf '#include "imap/conn_internal.h"\n' >"$plant/reports/b.c"
printf 'void f(void) { fprintf(stderr, "x"); }\n' >"$plant/common/c.c"
out=$(check "$plant" || true)
for want in "imap/a.c: includes ../cli/options.h" "reports/b.c: includes imap/conn_internal.h" \
  "common/c.c:1:" ; do
  grep -qF "$want" <<<"$out" || { echo "FAIL: the check missed: $want"; echo "$out"; exit 1; }
done

if out=$(check "$ROOT"); then
  echo "ok: no library file includes the tool or a layer above it, none prints"
else
  echo "$out"
  echo "FAIL: layer violations above"
  exit 1
fi
