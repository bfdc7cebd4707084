#!/usr/bin/env bash
# Streaming with the CDN only: a real nginx origin serves an H.264/AAC MP4
# (faststart) made by ffmpeg; the torrent has it as its BEP 19 web seed
# (url-list = the file URL) and there are no peers and no tracker.
# `peerflow play` serves it on 127.0.0.1: ffprobe reads it, ffmpeg decodes
# the whole stream without an error, curl's bytes equal the source, and the
# CDN carried every byte -- counted by nginx's access log and by /stats.json.
. "$(dirname "$0")/lib.sh"
pf_setup 80
require_peerflow
require_cmd ffprobe ffmpeg
require_cmd curl

gen_video 20 "$T/www/video.mp4"
size=$(stat -c %s "$T/www/video.mp4")
start_nginx_origin "$T/www"
$PF_BIN create -p 128K -w "$NGINX_URL/video.mp4" -o "$T/video.torrent" "$T/www/video.mp4" >/dev/null

start_play viewer "$T/video.torrent"
probe_media "$PLAY_URL" "$T/www/video.mp4"
decode_media "$PLAY_URL" 40
is_running viewer || fail "peerflow play exited while ffmpeg read"
fetch_same "$PLAY_URL" "$T/www/video.mp4" 30
is_running viewer || fail "peerflow play exited"

# Counters: everything from the CDN, nothing from peers.
st=$PLAY_BASE/stats.json
for _ in $(seq 50); do
    [ "$(stats_json "$st" 'd["complete"]')" = True ] && break
    sleep 0.1
done
[ "$(stats_json "$st" 'd["complete"]')" = True ] || fail "torrent not complete after the reads"
cdn=$(stats_json "$st" 'd["cdn_downloaded"]')
peer=$(stats_json "$st" 'd["peer_downloaded"]')
ngx=$(nginx_bytes "$NGINX_LOG" 'video\.mp4')
reqs=$(nginx_requests "$NGINX_LOG" 'video\.mp4')
log "file $size B; CDN per /stats.json $cdn B, per nginx $ngx B in $reqs requests; peers $peer B"
[ "$peer" = 0 ] || fail "peer bytes $peer without any peer"
# Every byte came from the CDN once; allow 10% for block duplication of a
# late request and ranges cut by cancels (nginx counts what it sent).
[ "$cdn" -ge "$size" ] || fail "stats: cdn_downloaded $cdn < file size $size"
[ "$ngx" -ge "$size" ] || fail "nginx sent $ngx B < file size $size"
[ "$ngx" -le $((size + size / 10)) ] || fail "nginx sent $ngx B > 1.1 x file size $size"
[ "$cdn" -le $((size + size / 10)) ] || fail "stats: cdn_downloaded $cdn > 1.1 x file size $size"
# The media server's requests to the origin were ranged (BEP 19 over Range).
grep -q ' 206 ' "$NGINX_LOG" || fail "no ranged (206) request reached nginx"
