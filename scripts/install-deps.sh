#!/usr/bin/env bash
# Install everything peerflow needs to build, test and demo on Debian 12.
# Idempotent: only missing packages are installed; safe to run repeatedly.
#   scripts/install-deps.sh          build + demo dependencies
#   scripts/install-deps.sh --test   also the interop peers and the real
#                                    players (Chromium + hls.js/dash.js
#                                    from npm, mpv) used by the suite
#   scripts/install-deps.sh --lab    --test's, plus python3-matplotlib for the
#                                    lab's plots (peerflow lab, docs/LAB.md)
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

pkgs=(build-essential cmake ninja-build pkg-config clang libclang-rt-14-dev
      libuv1-dev libssl-dev libcurl4-openssl-dev libxxhash-dev
      nginx-light ffmpeg curl python3)
test=0
case "${1:-}" in
    --test) test=1 ;;
    --lab) test=1; pkgs+=(python3-matplotlib iproute2) ;;
esac
if [ $test = 1 ]; then
    pkgs+=(python3-libtorrent transmission-cli opentracker aria2
           iproute2 procps prometheus util-linux
           chromium mpv)   # real players: tests/it_browser_*.sh, it_mpv_hls.sh
    # Node may come from outside Debian (the image ships node 20 + npm 11);
    # Debian's npm conflicts with it, so add Debian's only when none exists.
    command -v node >/dev/null 2>&1 || pkgs+=(nodejs)
    command -v npm >/dev/null 2>&1 || pkgs+=(npm)
fi

missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" \
        || missing+=("$p")
done
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
installed_services=()
if [ ${#missing[@]} -gt 0 ]; then
    for p in "${missing[@]}"; do
        case $p in nginx-light) installed_services+=(nginx) ;; prometheus) installed_services+=(prometheus) ;; esac
    done
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The tests and the demo run nginx and Prometheus with configurations of
# their own, on ports of their own; they never need the distribution's
# services.  Installing the packages starts those services: stop and
# disable them only when this run installed them.  An nginx or Prometheus
# the user already had (and any such process at all) is left alone: the
# project only stops what it started.
for svc in "${installed_services[@]}"; do
    if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
        $SUDO systemctl disable --now "$svc" >/dev/null 2>&1 || true
    elif command -v invoke-rc.d >/dev/null 2>&1; then
        $SUDO invoke-rc.d "$svc" stop >/dev/null 2>&1 || true
    fi
done
if [ $test = 1 ]; then
    bash "$(dirname "$0")/install-node-peers.sh"
    bash "$(dirname "$0")/install-browser-deps.sh"   # hls.js, dash.js, puppeteer-core
fi
