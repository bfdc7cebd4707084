#!/usr/bin/env bash
# A packaged title (issue 16): three H.264 renditions and AAC audio in 4 s
# fMP4 segments, HLS and DASH over the same files (ffmpeg), one torrent
# with the CDN (real nginx) as web seed and one `peerflow seed` peer.
# `peerflow play` prints the title's master playlist and MPD on its local
# server; ffmpeg's HLS demuxer reads the master playlist through it to the
# end, every variant at once, then one rendition and the audio at the
# native rate (-re), as a player would.  Asserts: ffmpeg reads without an
# error; each segment and playlist fetched from the local server equals
# the source; the media timeline was loaded (4 tracks, from the manifests)
# and counts no stall at the native rate; the peer carried most bytes; the
# MPD and playlists are served with their types; bad paths are refused.
. "$(dirname "$0")/lib.sh"
pf_setup 120
require_peerflow
require_cmd ffmpeg
require_cmd curl

bash "$PF_SRC/tests/media/make_title.sh" --seconds 16 "$T/www/title" >"$T/make_title.log" 2>&1 ||
    fail "make_title.sh failed: $(tail -3 "$T/make_title.log")"
start_nginx_origin "$T/www"
$PF_BIN create -p 64K -w "$NGINX_URL/" -o "$T/title.torrent" "$T/www/title" >"$T/create.log" 2>&1 ||
    fail "create failed: $(cat "$T/create.log")"
mkdir -p "$T/seed"
cp -r "$T/www/title" "$T/seed/title"
spawn seed $PF_BIN seed -d "$T/seed" -l 0 --bind 127.0.0.1 --no-tracker "$T/title.torrent"
seed_port=$(port_of seed)

start_play viewer "$T/title.torrent" --peer "127.0.0.1:$seed_port"
master=$(wait_for_log viewer '^https?://[^ ]+/t/master\.m3u8' 20)
mpd=$(wait_for_log viewer '^https?://[^ ]+/t/manifest\.mpd' 20)
log "title: $master and $mpd"
[ "$master" = "$PLAY_BASE/t/master.m3u8" ] || fail "master playlist URL $master"

# The timeline is loaded when play prints the title's URLs; wait for it.
# (A player that asks before the load is done races it: a timeline set
# while segments are read starts the presentation over, and once in a CI
# run ffmpeg reading every variant then hung for 60 s; issue 16, left.)
for _ in $(seq 100); do
    [ "$(stats_json "$PLAY_BASE/stats.json" 'd.get("media", {}).get("tracks", 0)')" = 4 ] && break
    sleep 0.1
done

# ffmpeg's HLS demuxer: the master, every variant and the audio rendition.
t0=$(date +%s.%N)
timeout 60 ffmpeg -hide_banner -nostdin -v error -i "$master" -map 0 -c copy -f null - \
    2>"$T/ffmpeg.err" || fail "ffmpeg -i $master failed: $(head -5 "$T/ffmpeg.err")"
[ ! -s "$T/ffmpeg.err" ] || fail "ffmpeg reported: $(head -5 "$T/ffmpeg.err")"
log "ffmpeg read the title in $(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN{printf "%.2f", a-b}') s"
# ...and as a player does: one rendition (the middle one) and the audio,
# at the native rate: the media timeline must count no stall.
st=$PLAY_BASE/stats.json
stalls0=$(stats_json "$st" 'd["media"]["stalls"]')
timeout 60 ffmpeg -hide_banner -nostdin -v error -re -i "$master" -map 0:p:1 -c copy -f null - \
    2>"$T/ffmpeg1.err" || fail "ffmpeg -re -map 0:p:1 failed: $(head -5 "$T/ffmpeg1.err")"
[ ! -s "$T/ffmpeg1.err" ] || fail "ffmpeg -re -map 0:p:1 reported: $(head -5 "$T/ffmpeg1.err")"
stalls1=$(stats_json "$st" 'd["media"]["stalls"]')
log "ffmpeg -re read rendition 1 and the audio; media QoE $(stats_json "$st" 'd["media"]')"
[ "$stalls1" = "$stalls0" ] || fail "$((stalls1 - stalls0)) stall(s) on the media timeline while ffmpeg played at the native rate"
is_running viewer || fail "peerflow play exited"

# Every file of the title, fetched by its path, equals the source.
n=0
for f in "$T/www/title"/*; do
    name=$(basename "$f")
    fetch_same "$PLAY_BASE/t/$name" "$f" 20
    n=$((n + 1))
done
log "$n files of the title fetched by path, each identical to the source"
ctype=$(curl -sS -o /dev/null -w '%{content_type}' "$mpd")
[ "$ctype" = "application/dash+xml" ] || fail "MPD served as '$ctype'"
ctype=$(curl -sS -o /dev/null -w '%{content_type}' "$master")
[ "$ctype" = "application/vnd.apple.mpegurl" ] || fail "master playlist served as '$ctype'"
code=$(curl -sS -o /dev/null -w '%{http_code}' "$PLAY_BASE/t/no-such-file.m4s")
[ "$code" = 404 ] || fail "a missing path gave $code, not 404"
code=$(curl -sS -o /dev/null -w '%{http_code}' --path-as-is "$PLAY_BASE/t/../t/master.m3u8")
[ "$code" = 400 ] || fail "a path with .. gave $code, not 400"

tracks=$(stats_json "$st" 'd["media"]["tracks"]')
[ "$tracks" = 4 ] || fail "media timeline has $tracks tracks, not 4 (3 video + audio): $(stats_json "$st" 'd.get("media")')"
# Every rendition has a bitrate, the audio's (no BANDWIDTH in the master)
# from its segments.
[ "$(stats_json "$st" 'all(r["bandwidth"] > 0 for r in d["media"]["renditions"])')" = True ] ||
    fail "a rendition without a bitrate: $(stats_json "$st" 'd["media"]["renditions"]')"
cdn=$(stats_json "$st" 'd["cdn_downloaded"]')
peer=$(stats_json "$st" 'd["peer_downloaded"]')
log "media QoE $(stats_json "$st" 'd["media"]'); CDN $cdn B, peers $peer B"
# At least a quarter from the peer: ffmpeg reading every variant as fast
# as it can makes much of it urgent, so the CDN's share varies with the
# machine's load (48 % from the peer in a loaded CI run); a swarm that
# stopped carrying the title would fail this.
[ $((peer * 4)) -ge $((peer + cdn)) ] || fail "the peer carried $peer B, under a quarter (CDN $cdn B)"

# The CDN was told what each request is for (CMCD, CTA-5004): segments of
# the video renditions as video (ot=v), the audio rendition's as audio.
grep -q '"GET /title/chunk-stream[012]-[0-9]*\.m4s?CMCD=[^ ]*ot%3Dv' "$NGINX_LOG" ||
    fail "no CDN request for a video segment carried CMCD ot=v: $(grep -m2 chunk-stream "$NGINX_LOG")"
# (before the title's manifests are read, a segment is "av", by its name)
grep -q '"GET /title/chunk-stream3-[0-9]*\.m4s?CMCD=[^ ]*ot%3Da%2C' "$NGINX_LOG" ||
    fail "no CDN request for an audio segment carried CMCD ot=a"
! grep '"GET /title/chunk-stream3-' "$NGINX_LOG" | grep -q 'ot%3Dv%2C' ||
    fail "an audio segment's CDN request said ot=v"
! grep '"GET /title/' "$NGINX_LOG" | grep -v -q 'CMCD=' || fail "a CDN request without CMCD: $(grep '"GET /title/' "$NGINX_LOG" | grep -v -m1 'CMCD=')"
log "every CDN request carried CMCD; segments named video or audio by their track"
