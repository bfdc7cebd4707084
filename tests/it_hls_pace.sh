#!/usr/bin/env bash
# Pacing of an adaptive title's segments (issue 16): with --pace, a segment
# the engine already holds goes to the player no faster than the viewer's
# network has shown it brings (down_peak_rate), so that an adaptive
# player never times it at loopback speed; by default it goes at once.  The
# CDN is a real nginx capped per connection (limit_rate), the only source.
# For each viewer: a segment of the top rendition is fetched (over the
# capped CDN), then fetched again (from the engine).  Asserts: both fetches
# are byte-exact; paced, the second takes at least 60 % of size/peak and
# no more than the first took over the network (plus slack); without
# --pace it takes under a quarter of size/peak; a manifest and the
# single-rendition audio are never paced.
. "$(dirname "$0")/lib.sh"
pf_setup 150
require_peerflow
require_cmd ffmpeg
require_cmd curl

bash "$PF_SRC/tests/media/make_title.sh" --seconds 16 "$T/www/title" >"$T/make_title.log" 2>&1 ||
    fail "make_title.sh failed: $(tail -3 "$T/make_title.log")"
NGINX_LIMIT_RATE=400k start_nginx_origin "$T/www"
$PF_BIN create -p 64K -w "$NGINX_URL/" -o "$T/title.torrent" "$T/www/title" >"$T/create.log" 2>&1 ||
    fail "create failed: $(cat "$T/create.log")"
seg=chunk-stream2-00001.m4s
audio=chunk-stream3-00001.m4s
[ -f "$T/www/title/$seg" ] && [ -f "$T/www/title/$audio" ] || fail "make_title.sh made no $seg / $audio"
size=$(stat -c %s "$T/www/title/$seg")

# fetch_time URL SRC: fetches URL, checks it equals SRC; FT = seconds.
fetch_time() {
    local url=$1 src=$2 out=$T/fetch.out
    FT=$(curl -sS --max-time 60 -o "$out" -w '%{time_total}' "$url") || fail "curl $url failed"
    cmp -s "$out" "$src" || fail "$url differs from $src"
    rm -f "$out"
}

# one_viewer NAME [play options]: sets T1 (first fetch), T2 (again), PEAK.
one_viewer() {
    local name=$1; shift
    start_play "$name" "$T/title.torrent" --no-tracker "$@"
    local st=$PLAY_BASE/stats.json
    for _ in $(seq 100); do
        [ "$(stats_json "$st" 'd.get("media", {}).get("tracks", 0)')" = 4 ] && break
        curl -sS -o /dev/null "$PLAY_BASE/t/master.m3u8"
        sleep 0.1
    done
    [ "$(stats_json "$st" 'd.get("media", {}).get("tracks", 0)')" = 4 ] || fail "$name: the title did not load"
    fetch_time "$PLAY_BASE/t/$seg" "$T/www/title/$seg"
    T1=$FT
    sleep 2.5 # a whole 2 s window of the measure, whatever the phase
    PEAK=$(stats_json "$st" 'd["down_peak_rate"]')
    fetch_time "$PLAY_BASE/t/$seg" "$T/www/title/$seg"
    T2=$FT
    # Never paced: a manifest, and the audio (one rendition of its kind).
    local ta tm
    fetch_time "$PLAY_BASE/t/$audio" "$T/www/title/$audio"
    fetch_time "$PLAY_BASE/t/$audio" "$T/www/title/$audio"
    ta=$FT
    fetch_time "$PLAY_BASE/t/master.m3u8" "$T/www/title/master.m3u8"
    tm=$FT
    awk -v a="$ta" -v m="$tm" 'BEGIN { exit !(a < 0.1 && m < 0.1) }' ||
        fail "$name: audio again in ${ta}s, master in ${tm}s: paced, they should not be"
    stop "$name"
}

one_viewer paced --pace
p1=$T1 p2=$T2 ppeak=$PEAK
log "paced: $seg ($size B) over the CDN in ${p1}s, again in ${p2}s; down_peak_rate $ppeak B/s = $(awk -v s="$size" -v r="$ppeak" 'BEGIN{printf "%.2f", s/r}')s for the segment"
# nginx gives each connection 400 KB/s and the engine runs a few GETs at
# once: an estimate past 4 MB/s is not this network's (a GET's own rate
# from its first byte read 516 MB/s: buffered bytes in a burst).
awk -v r="$ppeak" 'BEGIN { exit !(r > 0 && r < 4000000) }' || fail "paced: down_peak_rate $ppeak B/s is not the network's"
awk -v t="$p2" 'BEGIN { exit !(t >= 0.5) }' || fail "paced: the held 2.4 MB segment came in ${p2}s"
awk -v t="$p2" -v s="$size" -v r="$ppeak" 'BEGIN { exit !(t >= 0.6 * s / r) }' ||
    fail "paced: the held segment came in ${p2}s, faster than 60 % of size/peak ($(awk -v s="$size" -v r="$ppeak" 'BEGIN{printf "%.2f", s/r}')s)"
awk -v t="$p2" -v f="$p1" 'BEGIN { exit !(t <= 1.5 * f + 0.5) }' ||
    fail "paced: the held segment came in ${p2}s, slower than over the network (${p1}s)"

one_viewer unpaced
n1=$T1 n2=$T2 npeak=$PEAK
log "unpaced (default): $seg over the CDN in ${n1}s, again in ${n2}s; down_peak_rate $npeak B/s"
awk -v t="$n2" -v s="$size" -v r="$npeak" 'BEGIN { exit !(r > 0 && t < 0.25 * s / r) }' ||
    fail "unpaced (default): the held segment took ${n2}s (size/peak $(awk -v s="$size" -v r="$npeak" 'BEGIN{printf "%.2f", s/r}')s)"
log "PASS"
