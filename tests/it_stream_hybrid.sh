#!/usr/bin/env bash
# Hybrid streaming: a real nginx origin (the CDN, BEP 19 web seed) and one
# `peerflow seed` peer with ample upload (loopback, no cap). `ffmpeg -re`
# plays the first 25 s of a 60 s H.264/AAC MP4 through `peerflow play` at its
# native rate, so the deadline scheduler works against the clock; then curl
# fetches the whole file. Asserts: ffmpeg decodes without an error, no stall,
# the bytes served equal the source, and the CDN carried well under the file.
#
# The bound: CDN bytes < 25% of the file (15 s of this 60 s clip), counted
# twice, by /stats.json and independently by nginx's access log. Why: the
# scheduler takes from the CDN only (a) the start-up prefix of a new reader
# (startup_s = 4 s of media), (b) pieces due within the urgent horizon
# (urgent_s = 4 s of media-clock time) that the swarm, at its measured rate,
# would deliver late -- which happens only in the first second, before the
# seeder has delivered anything and its rate is known -- and (c) pieces no
# connected peer has, in the milliseconds before the seeder's bitfield. So
# about 4 s + 4 s = 8 s of media (13%), plus rounding to 128 KiB pieces and
# a loaded CI machine's slower peer start: 25% leaves room for that and
# still fails if the swarm stops carrying the stream (WebTorrent's split is
# about 50/50).
. "$(dirname "$0")/lib.sh"
pf_setup 85
require_peerflow
require_cmd ffprobe ffmpeg
require_cmd curl

gen_video 60 "$T/www/video.mp4"
size=$(stat -c %s "$T/www/video.mp4")
start_nginx_origin "$T/www"
$PF_BIN create -p 128K -w "$NGINX_URL/video.mp4" -o "$T/video.torrent" "$T/www/video.mp4" >/dev/null
# the seeder reads its data from its own copy (nginx serves www/)
mkdir -p "$T/seed"
cp "$T/www/video.mp4" "$T/seed/video.mp4"
spawn seed $PF_BIN seed -d "$T/seed" -l 0 --bind 127.0.0.1 --no-tracker \
    --stats "$T/seed.json" "$T/video.torrent"
seed_port=$(port_of seed)

start_play viewer "$T/video.torrent" --peer "127.0.0.1:$seed_port"
st=$PLAY_BASE/stats.json
# play 25 s at the native rate, then read the rest at full speed
decode_media "$PLAY_URL" 60 -re -t 25
is_running viewer || fail "peerflow play exited while ffmpeg read"
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
