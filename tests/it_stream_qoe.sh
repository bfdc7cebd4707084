#!/usr/bin/env bash
# QoE where the player plays, in the units its name says (issue 19 item
# 14).  `peerflow play` streams a 60 s MP4 from a CDN (nginx, no peer);
# ffmpeg starts at 45 s (-ss 45: it reads the header at 0, then seeks),
# remuxing 12 s of media.  Then /stats.json must show:
#   - time_to_playable_s not null (it was null in 2 of 4 such runs: the
#     first 10 s, never fetched, were what was measured), and shorter than
#     the whole wait since the first read (it is measured from the read at
#     45 s, not from the header read);
#   - bitrate_bps in bits per second: within 10% of ffprobe's bit_rate for
#     the file (it was bytes per second, 1/8 of it);
# and /metrics's peerflow_bitrate_bits_per_second the same value.
. "$(dirname "$0")/lib.sh"
pf_setup 90
require_peerflow
require_cmd curl
require_cmd ffmpeg

gen_video 60 "$T/www/video.mp4"
src=$T/www/video.mp4
start_nginx_origin "$T/www"
$PF_BIN create -p 128K -w "$NGINX_URL/video.mp4" -o "$T/video.torrent" "$src" >/dev/null
start_play viewer "$T/video.torrent" --no-tracker
url=$PLAY_URL
br_ffprobe=$(ffprobe -v error -show_entries format=bit_rate -of default=nw=1:nk=1 "$src")
log "source: $(stat -c %s "$src") bytes, ffprobe bit_rate $br_ffprobe bit/s"

t0=$(date +%s.%N)
timeout 60 ffmpeg -hide_banner -nostdin -v error -ss 45 -i "$url" -t 12 -map 0 -c copy \
    -f null - 2>"$T/ffmpeg.err" || fail "ffmpeg from 45 s failed: $(head -3 "$T/ffmpeg.err")"
t1=$(date +%s.%N)
log "ffmpeg read 12 s of media from 45 s in $(awk -v a="$t1" -v b="$t0" 'BEGIN{printf "%.2f", a-b}') s"

curl -sS --max-time 5 "$PLAY_BASE/stats.json" -o "$T/stats.json" || fail "no /stats.json"
curl -sS --max-time 5 "$PLAY_BASE/metrics" -o "$T/metrics" || fail "no /metrics"
read -r ttp first_to_now bps seeks <<<"$($PY - "$T/stats.json" "$t0" <<'PY'
import json, sys, time
d = json.load(open(sys.argv[1]))
q = d["files"][0]["qoe"]
ttp = q["time_to_playable_s"]
print("null" if ttp is None else ttp, time.time() - float(sys.argv[2]), q["bitrate_bps"], q["seeks"])
PY
)"
log "stats.json: time_to_playable_s $ttp (first read ${first_to_now}s ago), bitrate_bps $bps, seeks $seeks"
[ "$ttp" != null ] || fail "time_to_playable_s is null after 12 s of media were played from 45 s"
awk -v a="$ttp" -v b="$first_to_now" 'BEGIN { exit !(a >= 0 && a < b) }' ||
    fail "time_to_playable_s $ttp is not within the ${first_to_now} s since the first read"
awk -v a="$bps" -v b="$br_ffprobe" 'BEGIN { r = a / b; exit !(r > 0.9 && r < 1.1) }' ||
    fail "bitrate_bps $bps is not ffprobe's $br_ffprobe bit/s (bytes per second would be 1/8)"
m=$(grep -E '^peerflow_bitrate_bits_per_second\{file="0"\} ' "$T/metrics" | awk '{print $2}')
[ -n "$m" ] || fail "/metrics has no peerflow_bitrate_bits_per_second: $(grep -i bitrate "$T/metrics")"
grep -q 'peerflow_bitrate_bytes' "$T/metrics" && fail "/metrics still has peerflow_bitrate_bytes"
awk -v a="$m" -v b="$bps" 'BEGIN { exit !(a - b < 1 && b - a < 1) }' ||
    fail "/metrics says $m bit/s, /stats.json $bps"
log "/metrics: peerflow_bitrate_bits_per_second $m, as /stats.json"
stop viewer
