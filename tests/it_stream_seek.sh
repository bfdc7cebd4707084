#!/usr/bin/env bash
# Seeking and the HTTP semantics of `peerflow play`'s media server.
# CDN only (nginx origin, no peer): every read at a new offset is a seek the
# engine must serve by fetching the pieces there first, so the times are
# those of a real seek, not of a file already on disk.
#   - 10 reads at random offsets (curl -r a-b; PF_SEEK_SEED=N repeats a run)
#     return exactly the source's bytes (dd), 206 with the right
#     Content-Range; the time each took is printed.
#   - HEAD: 200, Content-Length, Accept-Ranges: bytes, Content-Type video/mp4.
#   - suffix (-N), open-ended (a-) and past-the-end-clipped ranges: 206.
#   - a range that starts at or past the end: 416, Content-Range: bytes */SIZE.
#   - /playlist.m3u is an m3u that lists the file's URL.
. "$(dirname "$0")/lib.sh"
pf_setup 80
require_peerflow
require_cmd curl

gen_video 60 "$T/www/video.mp4"
src=$T/www/video.mp4
size=$(stat -c %s "$src")
start_nginx_origin "$T/www"
$PF_BIN create -p 128K -w "$NGINX_URL/video.mp4" -o "$T/video.torrent" "$src" >/dev/null
start_play viewer "$T/video.torrent"
url=$PLAY_URL

# want A B: the source's bytes A..B (inclusive) into $T/want
want() { dd if="$src" bs=64K iflag=skip_bytes,count_bytes skip="$1" count=$(($2 - $1 + 1)) status=none >"$T/want"; }
hdr() { tr -d '\r' <"$T/hdr" | awk -v k="$(tr 'A-Z' 'a-z' <<<"$1"):" 'tolower($1) == k { $1 = ""; sub(/^ /, ""); print; exit }'; }

# range_read A B: GET bytes=A-B; checks 206, Content-Range and the bytes.
range_read() {
    local a=$1 b=$2 out code
    out=$(curl -sS --max-time 20 -r "$a-$b" -D "$T/hdr" -o "$T/got" \
        -w '%{http_code} %{time_starttransfer} %{time_total}' "$url") || fail "curl -r $a-$b failed"
    read -r code ttfb total <<<"$out"
    [ "$code" = 206 ] || fail "bytes=$a-$b: status $code, want 206"
    [ "$(hdr Content-Range)" = "bytes $a-$b/$size" ] ||
        fail "bytes=$a-$b: Content-Range '$(hdr Content-Range)', want 'bytes $a-$b/$size'"
    want "$a" "$b"
    cmp -s "$T/want" "$T/got" || fail "bytes=$a-$b: wrong bytes ($(cmp "$T/want" "$T/got" 2>&1 | head -1))"
}

seed=${PF_SEEK_SEED:-$RANDOM}
log "file $size B; random offsets with PF_SEEK_SEED=$seed"
mapfile -t ranges < <($PY - "$size" "$seed" <<'PY'
import random, sys
size, seed = int(sys.argv[1]), int(sys.argv[2])
r = random.Random(seed)
for _ in range(10):
    n = r.randint(1, 512 * 1024)
    a = r.randrange(0, size - n)
    print(a, a + n - 1)
PY
)
i=0
for rg in "${ranges[@]}"; do
    i=$((i + 1))
    read -r a b <<<"$rg"
    range_read "$a" "$b"
    log "seek $i: bytes $a-$b ($((b - a + 1)) B at $(awk -v a="$a" -v s="$size" 'BEGIN{printf "%.1f%%", 100*a/s}')): first byte ${ttfb}s, done ${total}s"
done

# edges: the first byte, the last byte, a suffix range, a clipped range
range_read 0 0
range_read $((size - 1)) $((size - 1))
out=$(curl -sS --max-time 20 -r -1000 -D "$T/hdr" -o "$T/got" -w '%{http_code}' "$url")
[ "$out" = 206 ] || fail "bytes=-1000: status $out"
[ "$(hdr Content-Range)" = "bytes $((size - 1000))-$((size - 1))/$size" ] || fail "bytes=-1000: Content-Range '$(hdr Content-Range)'"
want $((size - 1000)) $((size - 1)); cmp -s "$T/want" "$T/got" || fail "bytes=-1000: wrong bytes"
out=$(curl -sS --max-time 20 -r "$((size - 10))-$((size + 1000))" -D "$T/hdr" -o "$T/got" -w '%{http_code}' "$url")
[ "$out" = 206 ] || fail "clipped range: status $out"
[ "$(hdr Content-Range)" = "bytes $((size - 10))-$((size - 1))/$size" ] || fail "clipped range: Content-Range '$(hdr Content-Range)'"
want $((size - 10)) $((size - 1)); cmp -s "$T/want" "$T/got" || fail "clipped range: wrong bytes"
a=$((size / 3))
out=$(curl -sS --max-time 30 -r "$a-" -D "$T/hdr" -o "$T/got" -w '%{http_code}' "$url")
[ "$out" = 206 ] || fail "bytes=$a-: status $out"
[ "$(hdr Content-Length)" = $((size - a)) ] || fail "bytes=$a-: Content-Length '$(hdr Content-Length)'"
want "$a" $((size - 1)); cmp -s "$T/want" "$T/got" || fail "bytes=$a-: wrong bytes"
log "edges: first/last byte, bytes=-1000, clipped end, bytes=$a- all right"

# HEAD
code=$(curl -sS --max-time 10 -I -D "$T/hdr" -o /dev/null -w '%{http_code}' "$url")
[ "$code" = 200 ] || fail "HEAD: status $code"
[ "$(hdr Content-Length)" = "$size" ] || fail "HEAD: Content-Length '$(hdr Content-Length)', want $size"
[ "$(hdr Accept-Ranges)" = bytes ] || fail "HEAD: Accept-Ranges '$(hdr Accept-Ranges)'"
[[ "$(hdr Content-Type)" == video/mp4* ]] || fail "HEAD: Content-Type '$(hdr Content-Type)'"
log "HEAD: 200, $size B, Accept-Ranges bytes, $(hdr Content-Type)"

# 416: a range starting at the end or beyond
for r in "$size-" "$((size + 100))-$((size + 200))"; do
    code=$(curl -sS --max-time 10 -r "$r" -D "$T/hdr" -o "$T/got" -w '%{http_code}' "$url")
    [ "$code" = 416 ] || fail "bytes=$r: status $code, want 416"
    [ "$(hdr Content-Range)" = "bytes */$size" ] || fail "bytes=$r: Content-Range '$(hdr Content-Range)', want 'bytes */$size'"
done
log "416 with Content-Range: bytes */$size for ranges at/past the end"

# playlist
curl -sS --fail --max-time 10 -o "$T/pl.m3u" "$PLAY_BASE/playlist.m3u" || fail "GET /playlist.m3u failed"
head -1 "$T/pl.m3u" | tr -d '\r' | grep -qx '#EXTM3U' || fail "playlist does not start with #EXTM3U: $(head -1 "$T/pl.m3u")"
tr -d '\r' <"$T/pl.m3u" | grep -qxF "$url" || fail "playlist does not list $url: $(cat "$T/pl.m3u")"
log "playlist.m3u lists $url"
is_running viewer || fail "peerflow play exited"
