#!/usr/bin/env bash
# The simulator at 1,000 viewers (tools/sim/scenarios/it-1k.sim: 1,000
# real engines in one process on a virtual clock, payload elided; about
# 8 s of CPU on the CI machine, 170 MB of RSS: 40 s and 2.7 GB with real
# payload, docs/BENCHMARKS.md "Payload elision").  Asserts:
#   - the run writes summary.json, summary.txt, viewers.csv and perf.json
#   - every viewer arrived and started playing, no piece failed its hash,
#     no engine reported an error
#   - the CDN served at least one copy of what the players read, and no
#     less than the fluid bound; the peers carried part of the stream
#   - each viewer's line in viewers.csv adds up to the summary's bytes
#   - a bad scenario is refused with its file and line
. "$(dirname "$0")/lib.sh"
pf_setup 300
require_peerflow

spawn sim nice -n 10 "$PF_BIN" sim -q "$PF_SRC/tools/sim/scenarios/it-1k.sim" --out "$T/run"
expect_exit0 sim 280
cat "$T/run/summary.txt" "$T/run/perf.json" >&2

$PY - "$T/run" <<'PY' || fail "simulator results (above)"
import csv, json, os, sys
d = sys.argv[1]
for f in ("summary.json", "summary.txt", "viewers.csv", "perf.json"):
    assert os.path.getsize(os.path.join(d, f)) > 0, f
s = json.load(open(os.path.join(d, "summary.json")))
bad = []
def want(cond, what):
    if not cond:
        bad.append(what)
want(s["viewers_arrived"] == 1000, "all 1000 viewers arrived: %d" % s["viewers_arrived"])
want(s["started"] == 1000 and s["not_started"] == 0, "all started: %d" % s["started"])
want(s["hash_failures"] == 0, "no hash failure: %d" % s["hash_failures"])
want(s["engine_errors"] == 0, "no engine error: %d" % s["engine_errors"])
want(s["cdn_bytes"] >= s["novel_bytes"], "CDN >= one copy of what was read: %d < %d"
     % (s["cdn_bytes"], s["novel_bytes"]))
want(s["cdn_bytes"] >= s["fluid_bound_bytes"], "CDN >= the fluid bound: %d < %d"
     % (s["cdn_bytes"], s["fluid_bound_bytes"]))
want(s["offload"] > 0.1, "the peers carried part of it: offload %.3f" % s["offload"])
want(0 < s["startup_p50_s"] < 5 and s["startup_p90_s"] < 10,
     "start-up p50 %.3f p90 %.3f s" % (s["startup_p50_s"], s["startup_p90_s"]))
rows = list(csv.DictReader(open(os.path.join(d, "viewers.csv"))))
want(len(rows) == 1000, "viewers.csv has 1000 lines: %d" % len(rows))
want(sum(int(r["peer_bytes"]) for r in rows) == s["peer_bytes"], "peer bytes add up")
want(sum(int(r["cdn_bytes"]) for r in rows) == s["cdn_bytes_accepted"], "CDN bytes add up")
p = json.load(open(os.path.join(d, "perf.json")))
want(p["events"] == s["events"] and p["events_per_s"] > 0, "perf.json: events")
for b in bad:
    print("FAIL:", b)
sys.exit(1 if bad else 0)
PY

printf 'viewers 10\nlink up 1M down fast\n' > "$T/bad.sim"
if "$PF_BIN" sim -q "$T/bad.sim" 2> "$T/bad.err"; then fail "a bad scenario was accepted"; fi
grep -q "bad.sim:2: link down: bad rate 'fast'" "$T/bad.err" || fail "error: $(cat "$T/bad.err")"
log "PASS"
