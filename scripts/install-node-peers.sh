#!/usr/bin/env bash
# Install the WebTorrent reference peer (npm) for peerflow's interop tests
# into a project-local directory (git-ignored as /.pf-*/).
#   scripts/install-node-peers.sh [DIR]     DIR default: $PF_NODE_DIR or <repo>/.pf-node
# Idempotent: returns at once when the pinned versions are installed and load.
# Needs node >= 18 and npm with access to the npm registry (nothing else).
# See docs/INTEROP.md for why each workaround is here.
set -euo pipefail

WEBTORRENT_VERSION=3.0.21
WEBTORRENT_CLI_VERSION=6.0.1
STAMP_VALUE="webtorrent@$WEBTORRENT_VERSION webtorrent-cli@$WEBTORRENT_CLI_VERSION ndc-stub@1 no-utp@1"

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dest=${1:-${PF_NODE_DIR:-$root/.pf-node}}
stamp=$dest/.pf-installed

for tool in node npm; do
    command -v "$tool" >/dev/null 2>&1 || {
        echo "install-node-peers: $tool not found (scripts/install-deps.sh --test)" >&2
        exit 1
    }
done

# The smoke test: the package loads and the CLI answers.
check() {
    [ "$(cat "$stamp" 2>/dev/null)" = "$STAMP_VALUE" ] || return 1
    (cd "$dest" && node --input-type=module -e "
        const m = await import('webtorrent');
        if (typeof m.default !== 'function') process.exit(1);" ) >/dev/null 2>&1 || return 1
    [ -x "$dest/node_modules/.bin/webtorrent" ] || return 1
    [ -x "$dest/bin/webtorrent-tcp" ] || return 1
}

if check; then
    echo "install-node-peers: up to date in $dest ($STAMP_VALUE)"
    exit 0
fi

mkdir -p "$dest"
rm -f "$stamp"
cat > "$dest/package.json" <<EOF
{
  "name": "peerflow-node-peers",
  "version": "0.0.0",
  "private": true,
  "description": "Reference peers for peerflow's interop tests (see scripts/install-node-peers.sh)",
  "dependencies": {
    "webtorrent": "$WEBTORRENT_VERSION",
    "webtorrent-cli": "$WEBTORRENT_CLI_VERSION"
  }
}
EOF

start=$(date +%s)
# --ignore-scripts: ip-set's preinstall insists on pnpm, and node-datachannel's
# install script downloads a prebuilt binary (no internet here). No other
# package in the tree needs its scripts for TCP use.
npm_log=$dest/.npm-install.log
if ! (cd "$dest" && npm install --ignore-scripts --no-audit --no-fund --omit=dev \
        --loglevel=error --no-package-lock) >"$npm_log" 2>&1; then
    cat "$npm_log" >&2
    echo "install-node-peers: npm install failed in $dest" >&2
    exit 1
fi

# Replace node-datachannel's native loader (which requires the missing
# build/Release/node_datachannel.node at import time) by a stub whose members
# are functions that throw only when called, i.e. when WebRTC is really used.
ndc=$dest/node_modules/node-datachannel/dist
if [ -d "$ndc" ]; then
    stub='// peerflow (scripts/install-node-peers.sh): the native node-datachannel
// binary is not installed (its prebuilt download cannot work offline).
// Each member is a function that throws when called, so importing WebTorrent
// works and only real WebRTC use fails. TCP peers and web seeds are unaffected.
const fail = (name) => function () {
  throw new Error("node-datachannel (WebRTC) is not available here: " + name + " was used; peerflow tests use TCP only")
}
const cache = new Map()
const nodeDataChannel = new Proxy({}, {
  get (_t, prop) {
    if (typeof prop !== "string" || prop === "then" || prop === "__esModule") return undefined
    if (!cache.has(prop)) cache.set(prop, fail(prop))
    return cache.get(prop)
  }
})'
    for f in "$ndc"/esm/lib/node-datachannel.mjs "$ndc"/lib/esm/node-datachannel.mjs; do
        [ -f "$f" ] && printf '%s\nexport { nodeDataChannel as default }\n' "$stub" > "$f"
    done
    for f in "$ndc"/cjs/lib/node-datachannel.cjs; do
        [ -f "$f" ] && printf "'use strict'\n%s\nObject.defineProperty(exports, '__esModule', { value: true })\nexports.default = nodeDataChannel\n" "$stub" > "$f"
    done
fi

# webtorrent-cli has no switch for uTP, and it tries uTP first on IPv4,
# falling back to TCP only after 3 failed uTP attempts (~30 s). This wrapper
# preloads a hook that hides utp-native, so the CLI speaks TCP only. (It
# still starts DHT/LSD/UPnP/NAT-PMP: run it only inside a network namespace
# of its own, e.g. `unshare -n`; see docs/INTEROP.md.)
mkdir -p "$dest/bin"
cat > "$dest/bin/no-utp.cjs" <<'EOF2'
// peerflow: make require('utp-native') fail so WebTorrent runs TCP only.
const Module = require('module')
const orig = Module._load
Module._load = function (request, ...rest) {
  if (request === 'utp-native') throw new Error('uTP disabled for peerflow tests')
  return orig.call(this, request, ...rest)
}
EOF2
cat > "$dest/bin/webtorrent-tcp" <<'EOF2'
#!/bin/sh
# webtorrent-cli without uTP (see scripts/install-node-peers.sh)
here=$(cd "$(dirname "$0")" && pwd)
exec node --require "$here/no-utp.cjs" --no-warnings "$here/../node_modules/webtorrent-cli/bin/cmd.js" "$@"
EOF2
chmod +x "$dest/bin/webtorrent-tcp"

echo "$STAMP_VALUE" > "$stamp"
if ! check; then
    rm -f "$stamp"
    echo "install-node-peers: webtorrent does not load after install in $dest" >&2
    (cd "$dest" && node --input-type=module -e "await import('webtorrent')") || true
    exit 1
fi
ver=$("$dest/node_modules/.bin/webtorrent" --version 2>/dev/null || echo '?')
echo "install-node-peers: installed in $dest in $(( $(date +%s) - start )) s (webtorrent-cli $ver)"
