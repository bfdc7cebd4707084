#!/usr/bin/env bash
# The off switch on the local server (issue 15 item 6): `peerflow play`
# serves a real libtorrent leecher (at 2 MiB/s), then POST /control
# {"upload":"off"} stops the upload within one second -- measured from the
# leecher's own counter (written every 50 ms with its wall clock): the last
# byte it receives arrives less than 1 s after the request went out --
# and {"upload":"on"} resumes it.  /stats.json, /metrics and the status
# line show the state.  Refused: a request from another address than
# loopback (the server bound to 0.0.0.0, reached on this host's own
# non-loopback address), GET, a body that is not the small JSON object,
# another content type, a web page's request (Origin).
. "$(dirname "$0")/lib.sh"
pf_setup 120
require_peerflow
require_libtorrent
require_cmd curl

gen_file 64M "$T/src/movie.bin" control
$PF_BIN create -p 256K -o "$T/movie.torrent" "$T/src/movie.bin" >/dev/null
mkdir -p "$T/viewer.cache"
cp "$T/src/movie.bin" "$T/viewer.cache/"
pport=$(free_port)
start_play viewer "$T/movie.torrent" --bind 0.0.0.0 -l "$pport" --upload-rate 2M -v
for _ in $(seq 200); do
    [ "$(stats_json "$PLAY_BASE/stats.json" 'd["complete"]')" = True ] && break
    sleep 0.1
done
[ "$(stats_json "$PLAY_BASE/stats.json" 'd["complete"]')" = True ] || fail "the viewer never verified its data"
[ "$(stats_json "$PLAY_BASE/stats.json" 'd["upload"]["state"]')" = on ] || fail "uploads not on at start"

spawn leech $LT_PEER get --torrent "$T/movie.torrent" --dir "$T/leech" --no-tracker \
    --peer "127.0.0.1:$pport" --stats-file "$T/leech.json" --stats-interval 0.05 --timeout 110
for _ in $(seq 300); do
    [ -s "$T/leech.json" ] && [ "$(json_get "$T/leech.json" downloaded)" -ge $((4 << 20)) ] && break
    sleep 0.1
done
[ "$(json_get "$T/leech.json" downloaded)" -ge $((4 << 20)) ] || fail "the leecher is not downloading"

# Off, measured from the leecher; then on.
cat >"$T/measure.py" <<'PY'
import json, sys, time, urllib.request
base, stats, out = sys.argv[1], sys.argv[2], sys.argv[3]
def post(body):
    req = urllib.request.Request(base + "/control", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    return json.load(urllib.request.urlopen(req, timeout=5))
def leech():
    while True:
        try:
            return json.load(open(stats))
        except (ValueError, OSError):
            time.sleep(0.005)
# The rate it receives at before the switch (over a second).
first = leech()
time.sleep(1.0)
before = leech()
rate = (before["downloaded"] - first["downloaded"]) / max(before["wall"] - first["wall"], 0.01)
t_off = time.time()
ans = post({"upload": "off"})
t_ans = time.time()
assert ans["enabled"] is False and ans["off"] == ["user"], ans
last_down, last_change = leech()["downloaded"], t_off
t_end = time.time() + 4
while time.time() < t_end:
    d = leech()
    if d["downloaded"] != last_down:
        last_down, last_change = d["downloaded"], d["wall"]
    time.sleep(0.02)
ours = json.load(urllib.request.urlopen(base + "/stats.json", timeout=5))
t_on = time.time()
ans = post({"upload": "on"})
assert ans["enabled"] is True, ans
resumed = None
while time.time() < t_on + 10:
    d = leech()
    if d["downloaded"] > last_down:
        resumed = d["wall"] - t_on
        break
    time.sleep(0.02)
json.dump({"stop_s": last_change - t_off, "answer_s": t_ans - t_off, "rate_before": rate,
           "after_off": last_down - before["downloaded"], "before": before["downloaded"],
           "ours_state": ours["upload"]["state"], "resume_s": resumed}, open(out, "w"))
PY
$PY "$T/measure.py" "$PLAY_BASE" "$T/leech.json" "$T/measure.json" || fail "the measurement failed"
stop_s=$(json_get "$T/measure.json" stop_s)
rate=$(json_get "$T/measure.json" rate_before)
log "receiving at $rate B/s; POST /control off: answered in $(json_get "$T/measure.json" answer_s) s; the leecher's last byte came $stop_s s after it ($(json_get "$T/measure.json" after_off) bytes after the request); on: uploads resumed after $(json_get "$T/measure.json" resume_s) s"
awk -v r="$rate" 'BEGIN { exit !(r > 1000000) }' || fail "the leecher was not receiving before the switch ($rate B/s)"
awk -v s="$stop_s" 'BEGIN { exit !(s < 1.0) }' || fail "uploads went on for $stop_s s after the off switch"
[ "$(json_get "$T/measure.json" ours_state)" = off ] || fail "/stats.json did not say off"
[ "$(json_get "$T/measure.json" resume_s)" != None ] || fail "uploads did not resume when switched on"
[ "$(stats_json "$PLAY_BASE/stats.json" 'd["upload"]["enabled"]')" = True ] || fail "/stats.json: not on again"
metrics=$(curl -sS "$PLAY_BASE/metrics") # not piped: grep -q would cut curl short (pipefail)
grep -qx 'peerflow_upload_enabled 1' <<<"$metrics" || fail "/metrics: no peerflow_upload_enabled 1"
grep -q "peerflow play: info: uploads off: switched off" "$T/logs/viewer.log" || fail "no log line for the switch"

# Refused.
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
json=(-H 'Content-Type: application/json')
[ "$(code -X GET "$PLAY_BASE/control")" = 405 ] || fail "GET /control not 405"
[ "$(code "${json[@]}" --data-binary 'upload=off' "$PLAY_BASE/control")" = 400 ] || fail "a form body not 400"
[ "$(code "${json[@]}" --data-binary '{"upload":"off","x":1}' "$PLAY_BASE/control")" = 400 ] || fail "an unknown key not 400"
[ "$(code -H 'Content-Type: text/plain' --data-binary '{"upload":"off"}' "$PLAY_BASE/control")" = 415 ] ||
    fail "text/plain not 415"
[ "$(code "${json[@]}" -H 'Origin: http://evil.example' --data-binary '{"upload":"off"}' "$PLAY_BASE/control")" = 403 ] ||
    fail "a web page's request not 403"
head -c 5000 /dev/zero | tr '\0' ' ' >"$T/big"
[ "$(code "${json[@]}" --data-binary @"$T/big" "$PLAY_BASE/control")" = 413 ] || fail "a 5000-byte body not 413"
other=$(ip -4 -o addr show 2>/dev/null | awk '$2 != "lo" { sub(/\/.*/, "", $4); print $4; exit }')
if [ -n "$other" ]; then
    port=${PLAY_BASE##*:}
    c=$(code "${json[@]}" --data-binary '{"upload":"off"}' "http://$other:$port/control")
    [ "$c" = 403 ] || fail "POST /control from $other (not loopback) answered $c"
    log "POST /control from $other: 403"
else
    log "no non-loopback IPv4 address on this host: the remote-address check is covered by the unit tests only"
fi
[ "$(stats_json "$PLAY_BASE/stats.json" 'd["upload"]["enabled"]')" = True ] || fail "a refused request switched uploads off"
stop leech
stop viewer
