#!/usr/bin/env bash
# Install what the suite needs, build (normal + ASan/UBSan) and run ctest.
#   scripts/test.sh            everything: the whole suite twice, the second
#                              time with every peerflow binary and test
#                              program built with ASan+UBSan
#   PF_TEST_FAST=1 ...         skip the sanitizer pass
#   PF_TEST_ASAN=unit ...      sanitizer pass on unit tests + fuzz replays only
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh --test
jobs=$(nproc)

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C build
(cd build && ctest --output-on-failure -j"$jobs" --timeout 600)

if [ -z "${PF_TEST_FAST:-}" ]; then
    # Optimised (-O2 -g) so the integration tests keep their pace; frame
    # pointers stay for readable stacks.
    cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPF_SANITIZE=ON >/dev/null
    ninja -C build-asan
    labels='unit|fuzz|it'
    [ "${PF_TEST_ASAN:-}" = unit ] && labels='unit|fuzz'
    # Every report from every process (the integration tests start many,
    # not all of whose exit codes a test looks at) lands in $logs: any file
    # there fails the run.
    logs=$(mktemp -d /tmp/pf-sanitizer-logs.XXXXXX)
    rc=0
    (cd build-asan && ASAN_OPTIONS="detect_leaks=1:log_path=$logs/asan" \
        UBSAN_OPTIONS="print_stacktrace=1:log_path=$logs/ubsan" \
        ctest --output-on-failure -j"$jobs" --timeout 900 -L "$labels") || rc=$?
    if [ -n "$(ls -A "$logs")" ]; then
        for f in "$logs"/*; do echo "===== $f" >&2; cat "$f" >&2; done
        echo "sanitizer reports above (from $(ls "$logs" | wc -l) processes)" >&2
        rc=1
    fi
    rm -rf "$logs"
    exit $rc
fi
