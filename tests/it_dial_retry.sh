#!/usr/bin/env bash
# A refused --peer dial is retried soon (issue 19, item 12): the viewer
# starts first and the seeder it names comes up 1.5 s later on that port,
# so the first dial (and maybe the second) is refused.
#  1. `peerflow get --peer`: completes (byte-exact) within 6 s of its
#     start, i.e. a retry came within a second or two of the seeder.
#  2. `peerflow play --peer` with a real nginx CDN, read by ffmpeg at the
#     native rate: bytes come from the seeder (stats.json "peer_downloaded")
#     within 3 s of it listening, and it brings a good part of the stream
#     (the CDN does not carry all of it).
#
# Regression test: the first retry came 10 s after the refusal; a viewer
# took the whole film from the CDN meanwhile.
. "$(dirname "$0")/lib.sh"
pf_setup 90
require_peerflow
require_cmd ffmpeg
require_cmd curl

elapsed_since() { awk -v a="$(date +%s.%N)" -v b="$1" 'BEGIN { printf "%.2f", a - b }'; }

# 1. get
gen_file 8M "$T/src/file.bin" dial-retry
$PF_BIN create -p 128K -o "$T/file.torrent" "$T/src/file.bin" >/dev/null
port=$(free_port)
t0=$(date +%s.%N)
spawn get $PF_BIN get -vv -d "$T/get" -l 0 --bind 127.0.0.1 --no-tracker --peer "127.0.0.1:$port" \
    "$T/file.torrent"
sleep 1.5
spawn seed $PF_BIN seed -d "$T/src" -l "$port" --bind 127.0.0.1 --no-tracker "$T/file.torrent"
expect_exit0 get 30
took=$(elapsed_since "$t0")
log "get finished ${took}s after it started (the seeder came up at 1.5 s)"
assert_same_file "$T/src/file.bin" "$T/get/file.bin"
awk -v t="$took" 'BEGIN { exit !(t < 6) }' || fail "get took ${took}s: the refused dial was retried late"
stop seed

# 2. play with a CDN
gen_video 30 "$T/www/video.mp4"
size=$(stat -c %s "$T/www/video.mp4")
start_nginx_origin "$T/www"
$PF_BIN create -p 128K -w "$NGINX_URL/video.mp4" -o "$T/video.torrent" "$T/www/video.mp4" >/dev/null
mkdir -p "$T/vseed"
cp "$T/www/video.mp4" "$T/vseed/video.mp4"
vport=$(free_port)
start_play viewer "$T/video.torrent" -vv --no-tracker --peer "127.0.0.1:$vport"
st=$PLAY_BASE/stats.json
spawn ffmpeg_re timeout 60 ffmpeg -hide_banner -nostdin -v error -re -t 8 -i "$PLAY_URL" -f null -
sleep 1.5
spawn vseed $PF_BIN seed -d "$T/vseed" -l "$vport" --bind 127.0.0.1 --no-tracker "$T/video.torrent"
port_of vseed >/dev/null
t1=$(date +%s.%N)
got=0
while awk -v t="$(elapsed_since "$t1")" 'BEGIN { exit !(t < 3) }'; do
    got=$(stats_json "$st" 'd["peer_downloaded"]')
    [ "$got" -gt 0 ] && break
    sleep 0.05
done
took=$(elapsed_since "$t1")
log "play: first bytes from the seeder ${took}s after it listened ($got B)"
[ "$got" -gt 0 ] || fail "play got nothing from the seeder within 3 s of it listening"
expect_exit0 ffmpeg_re 60
fetch_same "$PLAY_URL" "$T/www/video.mp4" 20
cdn=$(stats_json "$st" 'd["cdn_downloaded"]')
peer=$(stats_json "$st" 'd["peer_downloaded"]')
log "file $size B: CDN $cdn B, peer $peer B"
[ "$peer" -gt $((size / 4)) ] || fail "the seeder brought only $peer B of $size B (CDN $cdn B)"
