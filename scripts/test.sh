#!/usr/bin/env bash
# Install what the suite needs, build (normal + ASan/UBSan) and run ctest.
#   scripts/test.sh            everything
#   PF_TEST_FAST=1 ...         skip the sanitizer build
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh --test
jobs=$(nproc)

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C build
(cd build && ctest --output-on-failure -j"$jobs" --timeout 600)

if [ -z "${PF_TEST_FAST:-}" ]; then
    # The unit tests and fuzz-corpus replays again under ASan+UBSan.
    cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DPF_SANITIZE=ON >/dev/null
    ninja -C build-asan
    (cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
        ctest --output-on-failure -j"$jobs" -L 'unit|fuzz')
fi
