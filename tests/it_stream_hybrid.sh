#!/usr/bin/env bash
# Hybrid streaming: a real nginx origin (the CDN, BEP 19 web seed) and one
# `peerflow seed` peer with ample upload (loopback, no cap). `ffmpeg -re`
# plays a 30 s H.264/AAC MP4 through `peerflow play` at its native rate, so
# the deadline scheduler works against the clock; then curl fetches the whole
# file. Asserts: ffmpeg decodes to the end without an error, no stall, the
# bytes served equal the source, and the CDN carried well under the file.
#
# The bound: CDN bytes < 25% of the file (7.5 s of this 30 s clip), counted
# twice, by /stats.json and independently by nginx's access log. Why: the
# scheduler takes from the CDN only (a) the start-up prefix of a new reader
# (startup_s = 2 s of media), (b) pieces of the urgent window (urgent_s = 4 s
# ahead of the playhead) the swarm is late with -- never here: the seeder
# has ample upload on loopback -- and (c) pieces no connected peer has, which
# can only happen in the milliseconds before the seeder's bitfield arrives,
# inside the same urgent window. So at most 2 s + 4 s = 6 s of media, plus
# rounding to whole 128 KiB pieces at both ends (~1 s at 2.1 Mbit/s):
# ~7 s < 7.5 s. Everything after the first seconds must come from the peer.
. "$(dirname "$0")/lib.sh"
pf_setup 85
require_peerflow
require_cmd ffprobe ffmpeg
require_cmd curl

gen_video 30 "$T/www/video.mp4"
size=$(stat -c %s "$T/www/video.mp4")
start_nginx_origin "$T/www"
$PF_BIN create -p 128K -w "$NGINX_URL/video.mp4" -o "$T/video.torrent" "$T/www/video.mp4"
# the seeder reads its data from its own copy (nginx serves www/)
mkdir -p "$T/seed"
cp "$T/www/video.mp4" "$T/seed/video.mp4"
spawn seed $PF_BIN seed -d "$T/seed" -l 0 --bind 127.0.0.1 --no-tracker \
    --stats "$T/seed.json" "$T/video.torrent"
seed_port=$(port_of seed)

start_play viewer "$T/video.torrent" --peer "127.0.0.1:$seed_port"
st=$PLAY_BASE/stats.json
# play at the native rate: ~30 s of wall clock
decode_media "$PLAY_URL" 60 -re
is_running viewer || fail "peerflow play exited"
stalls=$(stats_json "$st" 'd["files"][0]["qoe"]["stalls"]')
stall_s=$(stats_json "$st" 'd["files"][0]["qoe"]["stall_s"]')
log "QoE after ffmpeg -re: $(stats_json "$st" 'd["files"][0]["qoe"]')"
fetch_same "$PLAY_URL" "$T/www/video.mp4" 20

for _ in $(seq 50); do
    [ "$(stats_json "$st" 'd["complete"]')" = True ] && break
    sleep 0.1
done
[ "$(stats_json "$st" 'd["complete"]')" = True ] || fail "torrent not complete after the reads"
cdn=$(stats_json "$st" 'd["cdn_downloaded"]')
peer=$(stats_json "$st" 'd["peer_downloaded"]')
ngx=$(nginx_bytes "$NGINX_LOG" 'video\.mp4')
reqs=$(nginx_requests "$NGINX_LOG" 'video\.mp4')
bound=$((size / 4))
pct() { awk -v a="$1" -v b="$size" 'BEGIN { printf "%.1f%%", 100 * a / b }'; }
log "file $size B; CDN per /stats.json $cdn B ($(pct "$cdn")), per nginx $ngx B ($(pct "$ngx")) in $reqs requests; peers $peer B ($(pct "$peer")); bound $bound B (25%)"
[ "$cdn" -lt "$bound" ] || fail "stats: CDN carried $cdn B >= 25% of the file ($bound B)"
[ "$ngx" -lt "$bound" ] || fail "nginx sent $ngx B >= 25% of the file ($bound B)"
[ $((cdn + peer)) -ge "$size" ] || fail "cdn $cdn + peer $peer < file size $size"
[ "$stalls" = 0 ] || fail "$stalls stall(s) ($stall_s s) while playing at the native rate with an ample peer"
