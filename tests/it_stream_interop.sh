#!/usr/bin/env bash
# Streaming from other clients: a libtorrent seeder (tests/peers/lt_peer.py)
# and a WebTorrent seeder (tests/peers/wt_peer.mjs) form the swarm, the
# torrent's web seed is down (connection refused), and `peerflow play` dials
# both. ffmpeg decodes the whole stream without an error, curl's bytes equal
# the source, no byte came from the CDN, and both reference clients served
# pieces to the viewer: each seeder's own upload counter is at least a piece,
# and the viewer's /stats.json per-source list (polled every 0.1 s while it
# streams) shows bytes from each seeder's address.
. "$(dirname "$0")/lib.sh"
pf_setup 85
require_peerflow
require_libtorrent
require_webtorrent
require_cmd ffprobe ffmpeg
require_cmd curl

gen_video 60 "$T/www/video.mp4"
size=$(stat -c %s "$T/www/video.mp4")
plen=$((128 * 1024))
$PF_BIN create -p 128K -w "$(dead_url)/video.mp4" -o "$T/video.torrent" "$T/www/video.mp4" >/dev/null
mkdir -p "$T/lt" "$T/wt"
cp "$T/www/video.mp4" "$T/lt/"
cp "$T/www/video.mp4" "$T/wt/"

spawn lt_seed $LT_PEER seed --torrent "$T/video.torrent" --dir "$T/lt" --no-tracker \
    --ready-file "$T/lt.ready" --stats-file "$T/lt.json"
spawn wt_seed $WT_PEER seed --torrent "$T/video.torrent" --dir "$T/wt" --no-tracker \
    --ready-file "$T/wt.ready" --stats-file "$T/wt.json"
wait_for_file "$T/lt.ready" 30 lt_seed
wait_for_file "$T/wt.ready" 30 wt_seed
lt_port=$(tail -1 "$T/lt.ready"); wt_port=$(tail -1 "$T/wt.ready")
log "libtorrent seeds on $lt_port, WebTorrent on $wt_port"

# The viewer's download is capped so the transfer lasts a few seconds: on
# loopback libtorrent alone would deliver the whole file before WebTorrent's
# first unchoke, and the test is that both serve.
start_play viewer "$T/video.torrent" --download-rate 4M --peer "127.0.0.1:$lt_port" \
    --peer "127.0.0.1:$wt_port"
# The viewer's per-source list, the largest count seen per source.
cat >"$T/poll.py" <<'PY'
import json, sys, time, urllib.request
url, out = sys.argv[1], sys.argv[2]
best = {}
while True:
    try:
        d = json.load(urllib.request.urlopen(url, timeout=2))
        for s in d.get("sources", []):
            best[s["name"]] = max(best.get(s["name"], 0), s["downloaded"])
        open(out + ".tmp", "w").write(json.dumps(best))
        import os; os.replace(out + ".tmp", out)
    except Exception as e:
        print("poll:", e, flush=True)
    time.sleep(0.1)
PY
spawn poll $PY "$T/poll.py" "$PLAY_BASE/stats.json" "$T/sources.json"

decode_media "$PLAY_URL" 60
is_running viewer || fail "peerflow play exited while ffmpeg read"
fetch_same "$PLAY_URL" "$T/www/video.mp4" 30
is_running viewer || fail "peerflow play exited"
st=$PLAY_BASE/stats.json
for _ in $(seq 50); do
    [ "$(stats_json "$st" 'd["complete"]')" = True ] && break
    sleep 0.1
done
[ "$(stats_json "$st" 'd["complete"]')" = True ] || fail "torrent not complete after the reads"
sleep 0.3
stop poll
cdn=$(stats_json "$st" 'd["cdn_downloaded"]')
peer=$(stats_json "$st" 'd["peer_downloaded"]')
log "viewer: peers $peer B, CDN $cdn B; sources seen: $(cat "$T/sources.json" 2>/dev/null)"
[ "$cdn" = 0 ] || fail "cdn_downloaded $cdn from a dead web seed"
[ "$peer" -ge "$size" ] || fail "peer_downloaded $peer < file size $size"

# The seeders' own counters (rewritten every second and at exit).
stop lt_seed
stop wt_seed
lt_up=$(json_get "$T/lt.json" uploaded)
wt_up=$(json_get "$T/wt.json" uploaded)
log "libtorrent uploaded $lt_up B, WebTorrent uploaded $wt_up B (file $size B)"
[ "$lt_up" -ge "$plen" ] || fail "the libtorrent seeder served $lt_up B (< one piece)"
[ "$wt_up" -ge "$plen" ] || fail "the WebTorrent seeder served $wt_up B (< one piece)"
[ $((lt_up + wt_up)) -ge "$size" ] || fail "the seeders served $((lt_up + wt_up)) B < file size $size"

# The viewer's per-source view: both addresses with bytes (they may have
# been folded into "peer:(departed)" only if they left before the first poll).
seen=$($PY -c '
import json, re, sys
best = json.load(open(sys.argv[1]))
for port in sys.argv[2:]:
    n = sum(v for k, v in best.items() if k.startswith("peer:") and re.search(r":%s(\s|$)" % port, k))
    print(n)
' "$T/sources.json" "$lt_port" "$wt_port" | tr '\n' ' ')
read -r lt_seen wt_seen <<<"$seen"
log "viewer's sources: libtorrent ($lt_port) $lt_seen B, WebTorrent ($wt_port) $wt_seen B"
[ "$lt_seen" -gt 0 ] || fail "the viewer's sources never showed bytes from the libtorrent seeder"
[ "$wt_seen" -gt 0 ] || fail "the viewer's sources never showed bytes from the WebTorrent seeder"
