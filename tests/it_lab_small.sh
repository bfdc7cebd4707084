#!/usr/bin/env bash
# The lab's small scenario (tools/lab/scenarios/small.toml: 5 viewers, the
# CDN and a tracker in network namespaces on tc-shaped links), peerflow
# viewers only, about 90 s.  Needs root (ip netns, tc); skipped otherwise.
# Asserts:
#   - a stale pflab- namespace of a dead run is removed by the next run
#   - every viewer's player ran, started, and every byte it read equals
#     the source at its offset, and the reads log (the bound's demand) holds
#     every byte read
#   - zero stalls for peerflow
#   - CDN bytes (nginx) <= LAB_MAX_BOUND_RATIO (4) x the fluid-model bound,
#     and the peers carried part of the stream
#   - Ctrl-C (SIGINT) in the middle of a run tears its network down
#   - no pflab- namespace is left at the end
. "$(dirname "$0")/lib.sh"
pf_setup 420
[ "$(id -u)" = 0 ] || skip "needs root for network namespaces and tc (run the suite as root)"
command -v ip >/dev/null && ip netns list >/dev/null 2>&1 ||
    skip "ip netns unavailable here (iproute2, a kernel with network namespaces)"
require_peerflow
require_cmd tc iproute2
require_cmd ffmpeg
[ -x /usr/sbin/nginx ] || fail "/usr/sbin/nginx missing (apt package nginx-light)"
MAX_RATIO=${LAB_MAX_BOUND_RATIO:-4}
# Namespaces of this test's runs: those of a lab someone else is running
# at the same time (alive, so not stale) are not ours to judge.
others=$(ip netns list | awk '/^pflab-/ { print $1 }' | sort)
lab_ns() { comm -13 <(echo "$others") <(ip netns list | awk '/^pflab-/ { print $1 }' | sort) | grep . || true; }

# a stale namespace, as a killed run would leave it (pid 1 is never a lab)
ip netns add pflab-1-stale
export PF_LAB_DIR=$PF_SRC/tools/lab

spawn lab "$PF_BIN" lab small --modes peerflow --out "$T/run" --media-cache "$PF_BUILD/test-media"
expect_exit0 lab 300
! ip netns list | grep -q '^pflab-1-stale' || fail "the stale pflab-1-stale namespace was left"
[ -z "$(lab_ns)" ] || fail "namespaces left after the run: $(lab_ns | tr '\n' ' ')"
cat "$T/run/report.md" >&2

$PY - "$T/run" "$MAX_RATIO" <<'PY' || fail "lab results (above)"
import json, sys
run, max_ratio = sys.argv[1], float(sys.argv[2])
s = json.load(open(run + "/summary.json"))["peerflow"]
res = json.load(open(run + "/peerflow/result.json"))
bad = []
for v in res["viewers"]:
    p = v.get("player")
    if not p:
        bad.append("%s: no player result" % v["name"]); continue
    if p["mismatched_bytes"]:
        bad.append("%s: %d bytes differ from the source" % (v["name"], p["mismatched_bytes"]))
    if p["bytes"] < 4 * res["bitrate"]:
        bad.append("%s: read only %d bytes" % (v["name"], p["bytes"]))
    # The bound counts the player's reads: every byte read must be in them.
    logged = sum(b1 - b0 for _, _, b0, b1 in p["reads"])
    if logged != p["bytes"]:
        bad.append("%s: reads log %d bytes of the %d read" % (v["name"], logged, p["bytes"]))
    if p["startup_s"] is None:
        bad.append("%s: never started playing" % v["name"])
    if p["stalls"]:
        bad.append("%s: %d stalls (%.1f s)" % (v["name"], p["stalls"], p["stall_s"]))
    if p["errors"]:
        bad.append("%s: read errors: %s" % (v["name"], p["errors"][:3]))
    if v.get("client_died") is not None:
        bad.append("%s: peerflow play exited early (%s)" % (v["name"], v["client_died"]))
if not s["ratio"] or s["ratio"] > max_ratio:
    bad.append("CDN bytes %d are %.2fx the fluid bound %d (max %.1fx)" % (
        s["cdn_bytes"], s["ratio"] or 0, s["bound"], max_ratio))
if s["peer_wire"] < 1e6:
    bad.append("the peers carried only %d bytes" % s["peer_wire"])
for b in bad:
    print("lab: " + b, file=sys.stderr)
print("lab: CDN %.1f MB, bound %.1f MB (%.2fx), peers %.1f MB, median startup %.2f s" % (
    s["cdn_bytes"] / 1e6, s["bound"] / 1e6, s["ratio"], s["peer_wire"] / 1e6, s["startup_med"]),
    file=sys.stderr)
sys.exit(1 if bad else 0)
PY
[ -f "$T/run/cdn-rate.png" ] || log "no plots (python3-matplotlib not installed)"

# Ctrl-C in the middle of a run: the lab tears its network down
spawn lab2 "$PF_BIN" lab small --modes peerflow --out "$T/run2" --media-cache "$PF_BUILD/test-media"
n=0
until [ "$(lab_ns | wc -l)" -ge 7 ] && grep -q 'viewers watching' "$T/logs/lab2.log"; do
    n=$((n + 1)); [ $n -gt 300 ] && fail "the second run built no network in 30 s"
    is_running lab2 || fail "the second run exited early"
    sleep 0.1
done
kill -INT "$PID_lab2"
rc=0
wait_exit lab2 30 || rc=$?
[ $rc = 130 ] || fail "interrupted lab exited with $rc, not 130"
[ -z "$(lab_ns)" ] || fail "namespaces left after Ctrl-C: $(lab_ns | tr '\n' ' ')"
log "Ctrl-C: torn down, no pflab- namespace left"
