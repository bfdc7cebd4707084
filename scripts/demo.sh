#!/usr/bin/env bash
# Install what is needed, build, and run the loopback demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C build peerflow >/dev/null
exec ./build/peerflow demo "$@"
