#!/usr/bin/env bash
# Streaming from a magnet link: `peerflow play` is given only
# magnet:?xt=urn:btih:...&x.pe=SEEDER, so it must fetch the info dict from
# the peer (BEP 9) before it can even name the file; then it serves the
# file as usual. Asserts: the URL appears once the metadata is in, ffprobe
# reads the stream, and curl's bytes equal the source.
. "$(dirname "$0")/lib.sh"
pf_setup 60
require_peerflow
require_cmd ffprobe ffmpeg
require_cmd curl

gen_video 10 "$T/www/video.mp4"
$PF_BIN create -p 64K -o "$T/video.torrent" "$T/www/video.mp4" >/dev/null
hash=$($PF_BIN info "$T/video.torrent" | awk '/^info hash:/ {print $3}')
[ ${#hash} = 40 ] || fail "no info hash from peerflow info"

spawn seed $PF_BIN seed -d "$T/www" -l 0 --bind 127.0.0.1 --no-tracker "$T/video.torrent"
seed_port=$(port_of seed)

start_play viewer "magnet:?xt=urn:btih:$hash&dn=video.mp4&x.pe=127.0.0.1:$seed_port"
case "$PLAY_URL" in
*/files/0/video.mp4) ;;
*) fail "unexpected file URL from a magnet: $PLAY_URL" ;;
esac
probe_media "$PLAY_URL" "$T/www/video.mp4"
fetch_same "$PLAY_URL" "$T/www/video.mp4" 30
is_running viewer || fail "peerflow play exited"
log "magnet $hash streamed byte-exact from $PLAY_URL"
