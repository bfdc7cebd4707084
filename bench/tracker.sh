#!/usr/bin/env bash
# UDP tracker (BEP 15) announces per second per core: `peerflow tracker`
# beside opentracker (Debian's, whitelist of the bench's torrents) in the
# same run, alternating, on loopback.
#
# The load generator (bench/udp_tracker_load.c, built as
# build/udp_tracker_load) keeps WINDOW transactions in flight from PEERS
# simulated peers over TORRENTS torrents: connect, then announce (numwant
# NUMWANT), each peer in turn, for SECONDS after a warm-up that fills the
# swarms.  Per run it reports announce replies per second (wall) and per
# CPU-second of the tracker (utime + stime of every thread, /proc/PID/stat,
# over the same window: "announces per second per core"), and how much CPU
# the rest of the machine used meanwhile (/proc/stat busy time minus the
# tracker's and the generator's own).
#
# Two loads, each run by both trackers in every round, the order reversed
# from one round to the next:
#   shared   every peer from 127.0.0.1 (peerflow with --rate-limit 0, as
#            opentracker has no per-source limit)
#   sources  every peer from its own address in 127.0.0.0/8 (IP_PKTINFO):
#            PEERS sources, so peerflow's per-source limiter (left on, its
#            defaults) and both trackers' connection ids see as many
#            clients as peers
# Prints every run and a summary: medians, min-max, and the ratio
# peerflow/opentracker of the medians.
#
#   bench/tracker.sh [--rounds N (5)] [--seconds S (10)] [--peers N (100000)]
#                    [--torrents T (1000)] [--numwant N (50)] [--window W (128)]
#                    [--loads shared,sources]
set -euo pipefail
ROUNDS=5 SECS=10 PEERS=100000 TORRENTS=1000 NUMWANT=50 WINDOW=128 LOADS=shared,sources
while [ $# -gt 0 ]; do
    case $1 in
        --rounds) ROUNDS=$2; shift 2 ;;
        --seconds) SECS=$2; shift 2 ;;
        --peers) PEERS=$2; shift 2 ;;
        --torrents) TORRENTS=$2; shift 2 ;;
        --numwant) NUMWANT=$2; shift 2 ;;
        --window) WINDOW=$2; shift 2 ;;
        --loads) LOADS=$2; shift 2 ;;
        *) sed -n '2,32p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
    esac
done
. "$(dirname "$0")/../tests/lib.sh"
TEST_NAME=tracker-bench
pf_setup $((ROUNDS * 4 * (SECS + 30) + 60))
require_peerflow
require_cmd opentracker
LOAD_BIN=${PF_LOAD_BIN:-$PF_BUILD/udp_tracker_load}
[ -x "$LOAD_BIN" ] || fail "no load generator at $LOAD_BIN (ninja -C build udp_tracker_load)"

mkdir -p "$T/ot"
chmod 755 "$T/ot"
"$LOAD_BIN" --print-hashes "$TORRENTS" >"$T/ot/whitelist"
chmod 644 "$T/ot/whitelist"
WARMUP=$(awk -v p="$PEERS" 'BEGIN { w = p / 40000 + 1; if (w > 8) w = 8; printf "%.1f", w }')
RESULTS=$T/results.tsv
: >"$RESULTS"
load_args=(--peers "$PEERS" --torrents "$TORRENTS" --numwant "$NUMWANT" --window "$WINDOW"
           --seconds "$SECS" --warmup "$WARMUP")
log "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"

# run_one NAME LOAD: one tracker fresh, one generator run; a line in RESULTS.
run_one() {
    local name=$1 load=$2 port pid extra=() lim=()
    [ "$load" = sources ] && extra=(--sources)
    if [ "$name" = peerflow ]; then
        [ "$load" = shared ] && lim=(--rate-limit 0)
        spawn "pf_$RUN" "$PF_BIN" tracker -l 0 --bind 127.0.0.1 "${lim[@]}"
        port=$(port_of "pf_$RUN")
        pid=$(_pid_of "pf_$RUN")
    else
        port=$(free_port)
        spawn "ot_$RUN" opentracker -i 127.0.0.1 -p "$port" -P "$port" -d "$T/ot" -w /whitelist
        wait_for_port "$port"
        pid=$(_pid_of "ot_$RUN")
    fi
    local out
    out=$("$LOAD_BIN" --port "$port" --pid "$pid" "${load_args[@]}" "${extra[@]}")
    local threads
    threads=$(awk '/^Threads:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo "?")
    stop "$([ "$name" = peerflow ] && echo "pf_$RUN" || echo "ot_$RUN")"
    log "$name $load: $out threads=$threads"
    printf '%s\t%s\t%s\t%s\t%s\n' "$RUN" "$name" "$load" "$threads" "$out" >>"$RESULTS"
    RUN=$((RUN + 1))
}

RUN=0
IFS=, read -r -a loads <<<"$LOADS"
for r in $(seq 1 "$ROUNDS"); do
    for load in "${loads[@]}"; do
        if [ $((r % 2)) = 1 ]; then run_one peerflow "$load"; run_one opentracker "$load"
        else run_one opentracker "$load"; run_one peerflow "$load"; fi
    done
done
log "machine after: load average $(cut -d' ' -f1-3 /proc/loadavg)"

# --- the table ---------------------------------------------------------------
$PY - "$RESULTS" "$ROUNDS" "$SECS" "$PEERS" "$TORRENTS" "$NUMWANT" "$WINDOW" <<'EOF'
import statistics, sys
path, rounds, secs, peers, torrents, numwant, window = sys.argv[1:]
rows = []
for line in open(path):
    run, name, load, threads, kv = line.rstrip("\n").split("\t")
    d = dict(x.split("=") for x in kv.split())
    rows.append((int(run), name, load, threads, {k: float(v) for k, v in d.items()}))
print(f"\n{rounds} rounds x {secs} s per run, {peers} peers, {torrents} torrents, numwant "
      f"{numwant}, window {window}\n")
print("| run | tracker | load | threads | announces/s | per tracker CPU-s | tracker CPU | "
      "generator CPU | others' CPU | lost | errors |")
print("|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for run, name, load, threads, d in rows:
    print(f"| {run} | {name} | {load} | {threads} | {d['rate']:,.0f} | {d['per_cpu_second']:,.0f} | "
          f"{d['tracker_cpu']:.2f} s | {d['gen_cpu']:.2f} s | {d['others_cpu']:.2f} s | "
          f"{d['lost']:.0f} | {d['errors']:.0f} |")
print()
print("| load | metric | peerflow median (min-max) | opentracker median (min-max) | "
      "peerflow/opentracker |")
print("|---|---|---:|---:|---:|")
for load in dict.fromkeys(r[2] for r in rows):
    for key, label in (("per_cpu_second", "announces per CPU-second"), ("rate", "announces/s (wall)")):
        m = {}
        for name in ("peerflow", "opentracker"):
            v = [d[key] for _, n, l, _, d in rows if n == name and l == load]
            m[name] = (statistics.median(v), min(v), max(v)) if v else (0, 0, 0)
        pf, ot = m["peerflow"], m["opentracker"]
        ratio = pf[0] / ot[0] if ot[0] else float("nan")
        print(f"| {load} | {label} | {pf[0]:,.0f} ({pf[1]:,.0f}-{pf[2]:,.0f}) | "
              f"{ot[0]:,.0f} ({ot[1]:,.0f}-{ot[2]:,.0f}) | {ratio:.2f} |")
others = [d["others_cpu"] / d["seconds"] for *_, d in rows]
print(f"\nothers' CPU during the runs: median {statistics.median(others):.2f} cores "
      f"(min {min(others):.2f}, max {max(others):.2f}) of {rows[0][4]['cores']:.0f}")
EOF
