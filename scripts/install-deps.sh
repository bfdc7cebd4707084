#!/usr/bin/env bash
# Install everything peerflow needs to build, test and demo on Debian 12.
# Idempotent: only missing packages are installed; safe to run repeatedly.
#   scripts/install-deps.sh          build + demo dependencies
#   scripts/install-deps.sh --test   also the interop peers used by the suite
#   scripts/install-deps.sh --lab    --test's, plus python3-matplotlib for the
#                                    lab's plots (peerflow lab, docs/LAB.md)
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

pkgs=(build-essential cmake ninja-build pkg-config clang libclang-rt-14-dev
      libuv1-dev libssl-dev libcurl4-openssl-dev
      nginx-light ffmpeg curl python3)
test=0
case "${1:-}" in
    --test) test=1 ;;
    --lab) test=1; pkgs+=(python3-matplotlib iproute2) ;;
esac
if [ $test = 1 ]; then
    pkgs+=(python3-libtorrent transmission-cli opentracker aria2
           iproute2 procps)
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
installed_nginx=0
if [ ${#missing[@]} -gt 0 ]; then
    for p in "${missing[@]}"; do [ "$p" = nginx-light ] && installed_nginx=1; done
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The tests and the demo run nginx with configurations of their own, on
# ports of their own; they never need the distribution's nginx service.
# Installing nginx-light starts that service: stop and disable it only when
# this run installed it.  An nginx the user already had (and any nginx
# process at all) is left alone: the project only stops what it started.
if [ $installed_nginx = 1 ]; then
    if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
        $SUDO systemctl disable --now nginx >/dev/null 2>&1 || true
    elif command -v invoke-rc.d >/dev/null 2>&1; then
        $SUDO invoke-rc.d nginx stop >/dev/null 2>&1 || true
    fi
fi
if [ $test = 1 ]; then bash "$(dirname "$0")/install-node-peers.sh"; fi
