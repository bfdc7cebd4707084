#!/usr/bin/env bash
# Streaming with the peers only: the torrent's web seed points at a port
# where nothing listens (the CDN is down: connection refused), and a
# `peerflow seed` peer, given with --peer, has the whole MP4. `peerflow play`
# still plays it to the end: ffmpeg decodes every frame without an error,
# curl's bytes equal the source, and no byte is counted from the CDN.
. "$(dirname "$0")/lib.sh"
pf_setup 80
require_peerflow
require_cmd ffprobe ffmpeg
require_cmd curl

gen_video 20 "$T/www/video.mp4"
size=$(stat -c %s "$T/www/video.mp4")
dead=$(dead_url)
$PF_BIN create -p 128K -w "$dead/video.mp4" -o "$T/video.torrent" "$T/www/video.mp4" >/dev/null

spawn seed $PF_BIN seed -d "$T/www" -l 0 --bind 127.0.0.1 --no-tracker \
    --stats "$T/seed.json" "$T/video.torrent"
seed_port=$(port_of seed)

start_play viewer "$T/video.torrent" --peer "127.0.0.1:$seed_port"
probe_media "$PLAY_URL" "$T/www/video.mp4"
decode_media "$PLAY_URL" 40
is_running viewer || fail "peerflow play exited while ffmpeg read"
fetch_same "$PLAY_URL" "$T/www/video.mp4" 30
is_running viewer || fail "peerflow play exited"

st=$PLAY_BASE/stats.json
for _ in $(seq 50); do
    [ "$(stats_json "$st" 'd["complete"]')" = True ] && break
    sleep 0.1
done
[ "$(stats_json "$st" 'd["complete"]')" = True ] || fail "torrent not complete after the reads"
cdn=$(stats_json "$st" 'd["cdn_downloaded"]')
peer=$(stats_json "$st" 'd["peer_downloaded"]')
log "file $size B; peers $peer B, CDN $cdn B (web seed $dead is down)"
[ "$cdn" = 0 ] || fail "cdn_downloaded $cdn from a dead web seed"
[ "$peer" -ge "$size" ] || fail "peer_downloaded $peer < file size $size"
# The seeder's own counter agrees (an independent process).
sleep 1.2  # its stats file is rewritten every second
up=$(json_get "$T/seed.json" uploaded)
log "seeder uploaded $up B"
[ "$up" -ge "$size" ] || fail "seeder uploaded $up < file size $size"
