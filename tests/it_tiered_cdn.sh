#!/usr/bin/env bash
# Tiered CDNs: two web seeds of different cost, both real nginx: an "ISP
# cache" (cost 0.2, cheap) and a public "CDN" (cost 1, dear).  No peers:
# every byte is a costly one, and the scheduler must take it from the cheap
# one while it keeps up, from the dear one only when it does not.
#  1. Both healthy: `ffmpeg -re` plays 12 s; the cache brings almost all of
#     it (the CDN a small share at most), no stall, the bytes are the
#     source's.
#  2. The cache is killed mid-stream (after 6 s of playing): playback goes
#     on without a stall, the CDN takes over, every byte still right.
#  3. The cache is rate-capped far below the bitrate (nginx's limit_rate is
#     per request, and four GETs run at once: a twentieth of the bitrate
#     each): no stall; the CDN brings most of what was played, the cache
#     only what it could deliver in time.
# Bytes are counted from nginx's access logs while ffmpeg plays (the full
# read that checks the bytes comes after).
. "$(dirname "$0")/lib.sh"
pf_setup 150
require_peerflow
require_cmd ffprobe ffmpeg
require_cmd curl

gen_video 40 "$T/www/video.mp4"
size=$(stat -c %s "$T/www/video.mp4")
$PF_BIN create -p 128K -o "$T/video.torrent" "$T/www/video.mp4" >/dev/null

bytes_of() { nginx_bytes "$1" 'video\.mp4'; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b ? 100 * a / b : 0 }'; }

# Plays through `peerflow play` with both web seeds; ffmpeg reads PLAY_S
# seconds at the native rate; KILL_AT (optional): seconds of playing after
# which the cache's nginx is stopped.
run_case() {
    local name=$1 play_s=$2 kill_at=${3:-} fpid
    start_play "$name" "$T/video.torrent" --no-tracker \
        --webseed "$CACHE_URL/video.mp4" --webseed-cost 0.2 \
        --webseed "$CDN_URL/video.mp4" --webseed-cost 1
    timeout $((play_s + 30)) ffmpeg -hide_banner -nostdin -v error -re -t "$play_s" -i "$PLAY_URL" \
        -f null - 2>"$T/$name.ffmpeg.err" &
    fpid=$!
    if [ -n "$kill_at" ]; then
        sleep "$kill_at"
        stop cache
        log "$name: cache stopped after ${kill_at}s of playing"
    fi
    wait $fpid || fail "$name: ffmpeg failed: $(head -3 "$T/$name.ffmpeg.err")"
    [ ! -s "$T/$name.ffmpeg.err" ] || fail "$name: ffmpeg reported: $(head -3 "$T/$name.ffmpeg.err")"
    STALLS=$(stats_json "$PLAY_BASE/stats.json" 'd["files"][0]["qoe"]["stalls"]')
    SERVED=$(stats_json "$PLAY_BASE/stats.json" 'd["files"][0]["qoe"]["bytes_served"]')
}

# 1. Both healthy.
start_nginx_origin "$T/www" cache
CACHE_URL=$NGINX_URL CACHE_LOG=$NGINX_LOG
start_nginx_origin "$T/www" cdn
CDN_URL=$NGINX_URL CDN_LOG=$NGINX_LOG
run_case healthy 12
c1=$(bytes_of "$CACHE_LOG") d1=$(bytes_of "$CDN_LOG")
log "1. healthy: cache $c1 B, CDN $d1 B ($(pct "$d1" $((c1 + d1)))% of the costly bytes), stalls $STALLS"
[ "$STALLS" = 0 ] || fail "1: $STALLS stall(s) with two healthy web seeds"
[ "$c1" -gt 0 ] || fail "1: the cheap cache brought nothing"
[ "$d1" -le $(( (c1 + d1) / 10 )) ] || fail "1: the dear CDN brought $d1 of $((c1 + d1)) B while the cheap cache kept up"
fetch_same "$PLAY_URL" "$T/www/video.mp4" 30
stop healthy

# 2. The cache dies mid-stream.
: >"$CACHE_LOG"; : >"$CDN_LOG"
run_case killed 14 6
c2=$(bytes_of "$CACHE_LOG") d2=$(bytes_of "$CDN_LOG")
log "2. cache killed: cache $c2 B before it went, CDN $d2 B, stalls $STALLS"
[ "$STALLS" = 0 ] || fail "2: $STALLS stall(s) when the cheap cache went down"
[ "$c2" -gt 0 ] || fail "2: the cache brought nothing before it went"
[ "$d2" -gt 0 ] || fail "2: the CDN did not take over"
fetch_same "$PLAY_URL" "$T/www/video.mp4" 30
stop killed

# 3. The cache is slow: capped well below the bitrate.
rate=$(( size / 40 / 20 ))  # a twentieth of the bitrate, bytes/s
NGINX_LIMIT_RATE=$rate start_nginx_origin "$T/www" cache
CACHE_URL=$NGINX_URL CACHE_LOG=$NGINX_LOG
: >"$CDN_LOG"
run_case slow 12
c3=$(bytes_of "$CACHE_LOG") d3=$(bytes_of "$CDN_LOG")
log "3. cache capped at $rate B/s: cache $c3 B, CDN $d3 B, stalls $STALLS"
[ "$STALLS" = 0 ] || fail "3: $STALLS stall(s) behind a slow cheap cache"
[ "$d3" -gt "$c3" ] || fail "3: the slow cache ($c3 B) was not passed over for the CDN ($d3 B)"
fetch_same "$PLAY_URL" "$T/www/video.mp4" 30
stop slow
log "tiered CDNs: cheap first, dear when the cheap one is down or slow"
