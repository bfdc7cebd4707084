#!/usr/bin/env bash
# How `peerflow get` stops with many small files (issue 19 item 9): a
# torrent of N files (default 20,000, a few hundred bytes each) seeded on
# loopback at 1 MiB/s; `get` is sent SIGTERM once a quarter of it is in.
# Prints the time from SIGTERM to exit (a run without strace), and the
# syscalls of a second run under `strace -f -c` (openat, fdatasync,
# syncfs, fsync, close).  Not part of the timed test suite (strace slows
# everything); tests/it_stop_many_files.sh checks the time.
#   scripts/bench-stop-many-files.sh [N]     PF_BIN=path/to/peerflow
set -euo pipefail
N=${1:-20000}
SRC=$(cd "$(dirname "$0")/.." && pwd)
PF_BIN=${PF_BIN:-$SRC/build/peerflow}
command -v strace >/dev/null || { echo "strace missing (apt package strace)"; exit 1; }
W=$(mktemp -d /tmp/pf-bench-stop.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$W"; }
trap cleanup EXIT
/usr/bin/python3 - "$W/src/many" "$N" <<'PY'
import os, random, sys
root, n = sys.argv[1], int(sys.argv[2])
rnd = random.Random(19)
for i in range(n):
    d = os.path.join(root, "d%03d" % (i // 200))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%05d.txt" % i), "wb") as f:
        f.write(rnd.randbytes(100 + (i * 37) % 400))
PY
"$PF_BIN" create -p 16K -o "$W/many.torrent" "$W/src/many" >/dev/null
pieces=$("$PF_BIN" info "$W/many.torrent" | awk '/^pieces:/ {print $2}')
"$PF_BIN" seed -v -d "$W/src" -l 0 --bind 127.0.0.1 --no-tracker --upload-rate 1M "$W/many.torrent" \
    >"$W/seed.log" 2>&1 &
pids+=($!)
# Once its own check is over (a dial refused meanwhile is retried late).
for _ in $(seq 600); do grep -q "verified $pieces of $pieces" "$W/seed.log" && break; sleep 0.1; done
port=$(grep -o 'listening on port [0-9]*' "$W/seed.log" | awk '{print $4}')

# run LABEL [strace-prefix...]: get until a quarter is in, SIGTERM, time the exit.
run() {
    local label=$1; shift
    rm -rf "$W/dl" "$W/st.json"
    "$@" "$PF_BIN" get -d "$W/dl" -l 0 --bind 127.0.0.1 --no-tracker --peer "127.0.0.1:$port" \
        --stats "$W/st.json" "$W/many.torrent" >"$W/get.log" 2>&1 &
    local pid=$!
    local target=$pid
    local have=0 n
    for n in $(seq 1200); do
        if [ -s "$W/st.json" ]; then
            have=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["have"])' "$W/st.json")
            [ "$have" -ge $((pieces / 4)) ] && break
        fi
        sleep 0.1
    done
    [ $# -gt 0 ] && target=$(cat "/proc/$pid/task/$pid/children" | awk '{print $1}')
    local t0 t1
    t0=$(date +%s.%N)
    kill -TERM "$target"
    wait "$pid" || true
    t1=$(date +%s.%N)
    printf '%-14s SIGTERM with %s of %s pieces: exit after %.2f s\n' "$label" "$have" "$pieces" \
        "$(echo "$t1 - $t0" | bc)"
}
echo "peerflow $("$PF_BIN" --version | awk '{print $2}') ($PF_BIN), $N files"
run "no strace"
run "strace -f -c" strace -f -c -o "$W/strace.txt"
awk '$NF ~ /^(openat|fdatasync|syncfs|fsync|close|newfstatat)$/ { printf "  %-12s %8s calls %10s s\n", $NF, $4, $2 }' "$W/strace.txt"
