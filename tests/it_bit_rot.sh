#!/usr/bin/env bash
# Bit rot in the cache is never served (issue 19, item 2). After a clean,
# complete `peerflow get` (its resume record written), bytes of the file
# are flipped with its size and modification time kept (touch -r), so the
# next run trusts the record and does no hash check.
#  1. `peerflow play` of that folder with a real nginx CDN and no peers:
#     curl reads the whole file through the media server and gets the
#     source's bytes (cmp); play logs the rotten piece once, nginx served a
#     range covering the flipped byte (it was fetched again), and after a
#     clean stop the file on disk is the source again.
#  2. A `peerflow seed` of a rotten copy (8 pieces flipped) and an honest
#     one (upload capped): a real libtorrent leecher dialling both completes
#     byte-exact with no byte of a failed piece (libtorrent's
#     total_failed_bytes is 0): the rotten seed never sent a piece that did
#     not pass its check. It is still running at the end (its files are
#     read-only to it: it stops serving those pieces rather than stop).
#
# Regression test: the resume record was trusted and the flipped piece
# went to the player (and to peers) with wrong bytes.
. "$(dirname "$0")/lib.sh"
pf_setup 120
require_peerflow
require_libtorrent
require_cmd curl

gen_video 20 "$T/www/video.mp4"
size=$(stat -c %s "$T/www/video.mp4")
start_nginx_origin "$T/www"
$PF_BIN create -p 128K -w "$NGINX_URL/video.mp4" -o "$T/video.torrent" "$T/www/video.mp4" >/dev/null
mkdir -p "$T/src"
cp "$T/www/video.mp4" "$T/src/video.mp4"

# rot FILE OFFSET...: flips a byte at each offset, size and mtime kept
rot() {
    local f=$1; shift
    rot_bytes "$f" "$@"
    cmp -s "$f" "$T/src/video.mp4" && fail "rot: nothing changed"
    return 0
}

# A clean, complete run: the resume record is written.
spawn seed $PF_BIN seed -d "$T/src" -l 0 --bind 127.0.0.1 --no-tracker "$T/video.torrent"
seed_port=$(port_of seed)
spawn get $PF_BIN get -d "$T/cache" -l 0 --bind 127.0.0.1 --no-tracker --peer "127.0.0.1:$seed_port" \
    "$T/video.torrent"
expect_exit0 get 30
assert_same_file "$T/src/video.mp4" "$T/cache/video.mp4"
stop seed
ls "$T/cache/.peerflow/"*.resume >/dev/null 2>&1 || fail "no resume record after a complete run"

# 1. play
piece=$((128 * 1024))
off=$((5 * piece + 777))
rot "$T/cache/video.mp4" $off
PLAY_STATS=$T/play.stats.json
spawn play $PF_BIN play -d "$T/cache" --http-port 0 -l 0 --bind 127.0.0.1 --stats "$PLAY_STATS" -vv \
    --no-tracker "$T/video.torrent"
PLAY_URL=$(wait_for_log play '^https?://[^ ]+/files/0/' 20)
PLAY_URL=${PLAY_URL%%[[:space:]]*}
PLAY_BASE=$(sed -E 's#^(https?://[^/]+)/.*#\1#' <<<"$PLAY_URL")
wait_for_log play "fast resume" 10 >/dev/null
fetch_same "$PLAY_URL" "$T/src/video.mp4" 30
n_rot=$(grep -c "failed its hash check when read from disk" "$T/logs/play.log" || true)
log "play: rotten piece reports: $n_rot; $(stats_json "$PLAY_BASE/stats.json" '"hash_failures %s, CDN %s B" % (d["hash_failures"], d["cdn_downloaded"])')"
[ "$n_rot" = 1 ] || fail "play reported the rotten piece $n_rot times (want 1)"
# nginx served a range covering the flipped byte after the start
$PY - "$NGINX_LOG" $off <<'EOF' || fail "the rotten piece was not fetched again from the CDN"
import re, sys
off = int(sys.argv[2])
for line in open(sys.argv[1]):
    m = re.search(r'"bytes=(\d+)-(\d+)"', line)
    if m and int(m.group(1)) <= off <= int(m.group(2)) and line.split()[1] in ("200", "206"):
        sys.exit(0)
sys.exit(1)
EOF
stop play
assert_same_file "$T/src/video.mp4" "$T/cache/video.mp4"

# 2. peers: a rotten seed beside an honest one, a libtorrent leecher
offs=""
for k in 1 4 9 13 17 22 27 33; do
    [ $((k * piece)) -lt "$size" ] && offs="$offs $((k * piece + 4321))"
done
rot "$T/cache/video.mp4" $offs
spawn rotten $PF_BIN seed -vv -d "$T/cache" -l 0 --bind 127.0.0.1 --no-tracker "$T/video.torrent"
rotten_port=$(port_of rotten)
wait_for_log rotten "fast resume" 10 >/dev/null
lt_beside_rotten "$T/video.torrent" "$T/src" video.mp4 2M
