#!/usr/bin/env bash
# Install the real web players for peerflow's browser tests
# (tests/it_browser_*.sh): hls.js, dash.js and puppeteer-core, pinned by
# tests/browser/package.json and package-lock.json, into a project-local
# directory (git-ignored as /.pf-*/).  Chromium itself is Debian's
# `chromium` (scripts/install-deps.sh --test); puppeteer-core downloads no
# browser.
#   scripts/install-browser-deps.sh [DIR]   DIR default: $PF_BROWSER_DIR or <repo>/.pf-browser
# Idempotent: returns at once when the lock file installed matches.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dest=${1:-${PF_BROWSER_DIR:-$root/.pf-browser}}
src=$root/tests/browser
stamp=$dest/.pf-installed
want=$(cat "$src/package.json" "$src/package-lock.json" | sha256sum | cut -c1-16)

for tool in node npm; do
    command -v "$tool" >/dev/null 2>&1 || {
        echo "install-browser-deps: $tool not found (scripts/install-deps.sh --test)" >&2
        exit 1
    }
done

check() {
    [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] || return 1
    [ -f "$dest/node_modules/hls.js/dist/hls.min.js" ] || return 1
    [ -f "$dest/node_modules/dashjs/dist/modern/umd/dash.all.min.js" ] || return 1
    (cd "$dest" && node -e "require('puppeteer-core')") >/dev/null 2>&1 || return 1
}

if check; then
    echo "install-browser-deps: up to date in $dest"
    exit 0
fi
mkdir -p "$dest"
rm -f "$stamp"
cp "$src/package.json" "$src/package-lock.json" "$dest/"
# --ignore-scripts: nothing here needs an install script (puppeteer-core
# has no browser download; the players ship built dist/ files).
log=$dest/.npm-install.log
if ! (cd "$dest" && npm ci --ignore-scripts --no-audit --no-fund --omit=dev --loglevel=error) >"$log" 2>&1; then
    cat "$log" >&2
    echo "install-browser-deps: npm ci failed in $dest" >&2
    exit 1
fi
echo "$want" >"$stamp"
check || { echo "install-browser-deps: installed, but the players do not load from $dest" >&2; exit 1; }
versions=$(cd "$dest/node_modules" && for n in hls.js dashjs puppeteer-core; do
    printf '%s@%s ' "$n" "$(node -p "JSON.parse(require('fs').readFileSync('$n/package.json')).version")"
done)
echo "install-browser-deps: installed in $dest ($versions)"
