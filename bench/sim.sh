#!/usr/bin/env bash
# The simulator's cost at several audience sizes (docs/SIM.md,
# docs/BENCHMARKS.md "Simulator"):
#   bench/sim.sh SCENARIO N...      e.g. bench/sim.sh tools/sim/scenarios/it-1k.sim 100 300 1000
# Runs `peerflow sim SCENARIO --viewers N` for each N (at nice 10, one at
# a time) and prints one Markdown table row each: wall time, CPU time,
# events, events/s, peak RSS and per viewer present at the peak, the
# engines' heap per viewer, CDN / bound, offload, start-up p50/p90,
# stalls.  Runs are kept in ${SIM_BENCH_OUT:-/tmp/pf-sim-bench}/N.
set -euo pipefail
PF_SRC=${PF_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
PF_BIN=${PF_BIN:-$PF_SRC/build/peerflow}
[ $# -ge 2 ] || { sed -n '2,9p' "$0" >&2; exit 2; }
sc=$1
shift
out=${SIM_BENCH_OUT:-/tmp/pf-sim-bench}
mkdir -p "$out"
echo "| viewers | wall (s) | CPU (s) | events | events/s | peak RSS (MB) | RSS / viewer (KiB) | engine heap / viewer (KiB) | CDN / bound | offload | start-up p50 / p90 (s) | stalls |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for n in "$@"; do
    /usr/bin/time -f "%e %U %S" -o "$out/$n.time" nice -n 10 "$PF_BIN" sim -q "$sc" --viewers "$n" --out "$out/$n" >/dev/null
    /usr/bin/python3 - "$out/$n" <<'PY'
import json, sys
d = sys.argv[1]
s = json.load(open(d + "/summary.json"))
p = json.load(open(d + "/perf.json"))
wall, user, sys_ = (float(x) for x in open(d + ".time").read().split()[-3:])
print("| %d | %.1f | %.1f | %d | %.0f | %.0f | %.0f | %.0f | %.2f | %.3f | %.2f / %.2f | %d |" % (
    s["viewers"], wall, user + sys_, s["events"], p["events_per_s"], p["peak_rss_kb"] / 1024,
    p["peak_rss_per_viewer_kb"], s["engine_heap_per_viewer_bytes"] / 1024, s["cdn_over_bound"],
    s["offload"], s["startup_p50_s"], s["startup_p90_s"], s["stalls"]))
PY
done
