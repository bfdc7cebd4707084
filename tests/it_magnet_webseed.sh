#!/usr/bin/env bash
# A magnet's ws= web seeds (issue 19 item 11): they were parsed (`peerflow
# info` listed them) and then dropped, so `play` of a magnet never used the
# CDN (CDN bytes 0).  Here a real nginx is the CDN and a `peerflow seed` the
# swarm; `peerflow play` gets only magnet:?xt&dn&x.pe=SEEDER&ws=NGINX.  Once
# the info dict arrives the CDN takes part (its start-up prefix at least):
# nginx's own log and the stats both count CDN bytes > 0, and the bytes
# played equal the source.
. "$(dirname "$0")/lib.sh"
pf_setup 90
require_peerflow
require_cmd curl
require_cmd ffmpeg

gen_video 20 "$T/www/video.mp4"
$PF_BIN create -p 64K -o "$T/video.torrent" "$T/www/video.mp4" >/dev/null
hash=$($PF_BIN info "$T/video.torrent" | awk '/^info hash:/ {print $3}')
[ ${#hash} = 40 ] || fail "no info hash"
start_nginx_origin "$T/www"
spawn seed $PF_BIN seed -d "$T/www" -l 0 --bind 127.0.0.1 --no-tracker --upload-rate 1M "$T/video.torrent"
sport=$(port_of seed)

ws=$($PY -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$NGINX_URL/video.mp4")
mag="magnet:?xt=urn:btih:$hash&dn=video.mp4&x.pe=127.0.0.1:$sport&ws=$ws"
$PF_BIN info "$mag" | grep -qF "  $NGINX_URL/video.mp4" || fail "info does not list the ws= web seed"
start_play viewer "$mag"
fetch_same "$PLAY_URL" "$T/www/video.mp4" 60
cdn=$(stats_json "$PLAY_BASE/stats.json" 'd["cdn_downloaded"]')
peer=$(stats_json "$PLAY_BASE/stats.json" 'd["peer_downloaded"]')
ngx=$(nginx_bytes)
log "magnet play: CDN $cdn bytes (nginx sent $ngx), peers $peer bytes"
[ "$cdn" -gt 0 ] || fail "the magnet's ws= web seed was not used: CDN bytes 0"
[ "$ngx" -gt 0 ] || fail "nginx served nothing"
[ "$ngx" -ge "$cdn" ] || fail "stats count $cdn CDN bytes, nginx sent only $ngx"
[ $((cdn + peer)) -ge "$(stat -c %s "$T/www/video.mp4")" ] || fail "CDN + peer bytes below the file's size"
is_running viewer || fail "peerflow play exited"
