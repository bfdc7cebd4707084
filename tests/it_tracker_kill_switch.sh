#!/usr/bin/env bash
# The operator's kill switch and the fleet's QoE (issue 18, item 4): a real
# nginx CDN, a `peerflow tracker --policy FILE`, one seed and one viewer
# playing a 60 s MP4 at its native rate (ffmpeg -re) with QoE reports every
# 2 s.  While it plays the operator writes "title <ih> p2p off":
#  1. the viewer obeys at its next announce: no peer left, stats.json says
#     p2p_off, the CDN brings the rest, and the player never stalls;
#  2. the tracker's /metrics shows the switch and gives no peers;
#  3. the line removed, the viewer finds the seed again;
#  4. the bytes served equal the source, and the viewer's QoE reports (the
#     last one final, at SIGTERM) add up at the tracker: one stream, bytes
#     by source matching the viewer's own stats, a start-up, play time.
. "$(dirname "$0")/lib.sh"
pf_setup 150
require_peerflow
require_cmd ffprobe ffmpeg
require_cmd curl

gen_video 60 "$T/www/video.mp4"
size=$(stat -c %s "$T/www/video.mp4")
start_nginx_origin "$T/www"
: >"$T/policy"
spawn tracker "$PF_BIN" tracker -l 0 --bind 127.0.0.1 --interval 5 --policy "$T/policy" -v
tport=$(port_of tracker)
$PF_BIN create -p 128K -t "http://127.0.0.1:$tport/announce" -w "$NGINX_URL/video.mp4" \
    -o "$T/video.torrent" "$T/www/video.mp4" >/dev/null
ih=$(info_hash "$T/video.torrent")
mkdir -p "$T/seed"
cp "$T/www/video.mp4" "$T/seed/video.mp4"
# a seed with a modest uplink, so the viewer still needs bytes when the switch comes
spawn seed "$PF_BIN" seed -v -d "$T/seed" -l 0 --bind 127.0.0.1 --upload-rate 200K "$T/video.torrent"
wait_for_log seed "announce to .*: 0 peers" 20 >/dev/null || fail "the seed did not announce"

start_play viewer "$T/video.torrent" -v --qoe-report 2
st=$PLAY_STATS
for _ in $(seq 100); do [ "$(stats_json "$st" 'd["peers"]' 2>/dev/null)" = 1 ] && break; sleep 0.1; done
[ "$(stats_json "$st" 'd["peers"]')" = 1 ] || fail "the viewer never connected to the seed through the tracker"

( decode_media "$PLAY_URL" 90 -re -t 40 && touch "$T/decoded" ) &
decoder=$!
sleep 4
peer_before=$(stats_json "$st" 'd["peer_downloaded"]')
cdn_before=$(stats_json "$st" 'd["cdn_downloaded"]')
echo "title $ih p2p off" >"$T/policy"
log "operator: P2P off for $ih (peer bytes so far $peer_before, CDN $cdn_before)"
t_off=$(date +%s.%N)

# 1. obeyed at the next announce (at most 15 s: the client's floor)
for _ in $(seq 250); do [ "$(stats_json "$st" 'd["p2p_off"]')" = True ] && break; sleep 0.1; done
[ "$(stats_json "$st" 'd["p2p_off"]')" = True ] || fail "the viewer did not learn of the switch in 25 s"
obey=$(awk -v a="$(date +%s.%N)" -v b="$t_off" 'BEGIN { printf "%.1f", a - b }')
for _ in $(seq 30); do [ "$(stats_json "$st" 'd["peers"]')" = 0 ] && break; sleep 0.1; done
[ "$(stats_json "$st" 'd["peers"]')" = 0 ] || fail "P2P off, yet the viewer keeps $(stats_json "$st" 'd["peers"]') peer(s)"
log "viewer obeyed after ${obey}s: no peers"
peer_off=$(stats_json "$st" 'd["peer_downloaded"]')

# 2. the tracker says so
curl -sS --fail --max-time 5 "http://127.0.0.1:$tport/metrics" >"$T/metrics1.txt" || fail "GET /metrics failed"
grep -q "^peerflow_tracker_p2p_off{scope=\"title\",key=\"$ih\"} 1$" "$T/metrics1.txt" ||
    fail "/metrics does not show the switch: $(grep p2p_off "$T/metrics1.txt")"

wait "$decoder" || fail "ffmpeg failed while P2P went off"
[ -f "$T/decoded" ] || fail "ffmpeg did not finish"
stalls=$(stats_json "$st" 'd["files"][0]["qoe"]["stalls"]')
[ "$stalls" = 0 ] || fail "$stalls stall(s) while P2P went off"
peer_after=$(stats_json "$st" 'd["peer_downloaded"]')
cdn_after=$(stats_json "$st" 'd["cdn_downloaded"]')
[ "$peer_after" = "$peer_off" ] || fail "peer bytes grew with P2P off: $peer_off -> $peer_after"
[ "$cdn_after" -gt "$cdn_before" ] || fail "the CDN did not take over ($cdn_before -> $cdn_after)"
log "played 40 s with no stall; with P2P off the CDN brought $((cdn_after - cdn_before)) B, peers 0 B"

# 3. back on: the seed is found again
: >"$T/policy"
for _ in $(seq 300); do [ "$(stats_json "$st" 'd["peers"]')" = 1 ] && break; sleep 0.1; done
[ "$(stats_json "$st" 'd["peers"]')" = 1 ] || fail "P2P back on, but the viewer did not find the seed in 30 s"
[ "$(stats_json "$st" 'd["p2p_off"]')" = False ] || fail "stats.json still says p2p_off"
log "P2P back on: the viewer is connected to the seed again"

# 4. bytes, then the QoE at the tracker
fetch_same "$PLAY_URL" "$T/www/video.mp4" 30
cdn=$(stats_json "$st" 'd["cdn_downloaded"]')
peer=$(stats_json "$st" 'd["peer_downloaded"]')
stop viewer
wait_exit viewer 10 || true
grep -q 'token=' "$T/logs/tracker.log" && fail "a token reached the tracker's log"
m=$(curl -sS --fail --max-time 5 "http://127.0.0.1:$tport/metrics") || fail "GET /metrics failed"
lab="title=\"$ih\",pid=\"unknown\""
val() { awk -v k="$1" '$1 == k { print $2 }' <<<"$m"; }
reports=$(val "peerflow_tracker_qoe_reports_total{$lab}")
streams=$(val "peerflow_tracker_qoe_streams_total{$lab}")
qcdn=$(val "peerflow_tracker_qoe_bytes_total{$lab,source=\"cdn\"}")
qpeer=$(val "peerflow_tracker_qoe_bytes_total{$lab,source=\"peer\"}")
starts=$(val "peerflow_tracker_qoe_startup_seconds_count{$lab}")
play=$(val "peerflow_tracker_qoe_play_seconds_total{$lab}")
log "tracker QoE: $reports reports, $streams stream ended, CDN $qcdn B, peers $qpeer B, $starts start-up, ${play}s played"
[ "${reports:-0}" -ge 10 ] || fail "QoE reports at the tracker: '$reports', want at least 10 (every 2 s)"
[ "$streams" = 1 ] || fail "streams ended at the tracker: '$streams', want 1 (the final report)"
[ "$starts" = 1 ] || fail "start-ups at the tracker: '$starts', want 1"
[ "${qcdn:-0}" -ge "$cdn" ] && [ "${qpeer:-0}" -ge "$peer" ] ||
    fail "tracker's bytes (CDN $qcdn, peers $qpeer) below the viewer's own ($cdn, $peer)"
awk -v p="${play:-0}" 'BEGIN { exit !(p >= 30 && p <= 120) }' || fail "play seconds at the tracker: '$play'"
log "PASS: switch obeyed in ${obey}s, no stall, bytes equal, QoE added up at the tracker"
