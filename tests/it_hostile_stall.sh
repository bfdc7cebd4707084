#!/usr/bin/env bash
# Misbehaving peers that stall instead of corrupting (tests/peers/
# hostile_peer.py), each next to one honest `peerflow seed`:
#
#   silent     handshake, bitfield (every piece), unchoke, then never
#              answers a request
#   liar       claims every piece by HAVE messages, never answers a request
#   choker     claims every piece, unchokes, and answers every request by
#              choking and unchoking again (never serves)
#   slowloris  claims every piece and sends each requested PIECE one byte
#              a second
#   cutter     claims every piece, sends half of the first PIECE message
#              asked for, then closes (each time it is dialled)
#   mute       (play only) accepts the TCP connection and never says a word
#   dribble    (play only) trickles its handshake one byte a second
#
# 1. For each of silent, liar, choker, slowloris and cutter in turn, a
#    `peerflow get` dials the seeder (capped at 4 MiB/s: the 16 MiB take
#    ~4 s) and that peer. Asserts: get exits 0 within 17 s with the
#    source's bytes (cmp) -- the blocks the peer sits on are re-routed (the
#    endgame's duplicates) before the 20 s request time-out; the peer
#    was asked for blocks; cutter did cut a PIECE in half; peak RSS < 64 MiB.
#    (Four at once hold more blocks than the endgame covers and the get
#    waits for the 20 s request time-out: ~21 s instead of ~4 s on the
#    engine as of f0bd4ee; issue 5, item 3.)
# 2. `peerflow play` with an nginx CDN, the seeder (2 MiB/s), silent,
#    slowloris, mute and dribble; ffmpeg reads 8 s at the native rate, then
#    curl the whole file. Asserts: ffmpeg decodes without an error, the bytes
#    equal the source, no stall, mute and dribble are dropped by the
#    handshake time-out (20 s: peerflow closes them, logged "handshake
#    timeout"), and play's peak RSS < 64 MiB.
. "$(dirname "$0")/lib.sh"
. "$PF_SRC/tests/peers/hostile_lib.sh"
pf_setup 100
require_peerflow
require_cmd ffmpeg
require_cmd curl

# --- 1. peerflow get ----------------------------------------------------------
gen_file 16M "$T/src/file.bin" hostile-stall
$PF_BIN create -p 256K -o "$T/file.torrent" "$T/src/file.bin" >/dev/null
spawn seed $PF_BIN seed -d "$T/src" -l 0 --bind 127.0.0.1 --no-tracker --upload-rate 4M \
    "$T/file.torrent"
seed_port=$(port_of seed)
tor=(--torrent "$T/file.torrent" --data "$T/src/file.bin" --listen 0)
get_case() {  # get_case NAME MODE [ARGS...]
    local h=$1; shift
    log "case 1 ($h): peerflow get from the honest seeder and $h ($*)"
    hostile "$h" "$@" "${tor[@]}"
    local t0 t1
    t0=$(date +%s.%N)
    spawn "get_$h" $PF_BIN get -vv -d "$T/get_$h" -l 0 --bind 127.0.0.1 --no-tracker \
        --peer "127.0.0.1:$seed_port" --peer "127.0.0.1:$HOSTILE_PORT" "$T/file.torrent"
    watch_hwm "get_$h"
    expect_exit0 "get_$h" 17
    t1=$(date +%s.%N)
    assert_same_file "$T/src/file.bin" "$T/get_$h/file.bin"
    log "$h: get done in $(awk -v a="$t1" -v b="$t0" 'BEGIN { printf "%.2f", a - b }')s; $h saw $(hrep "$h" '[(c["requests"], c["closed_by"], c.get("close_reason")) for c in d["conns"]]') (requests, closed by, why)"
    [ "$(hrep "$h" 'sum(c["requests"] for c in d["conns"])')" -ge 1 ] ||
        fail "$h: never asked for a block (the test proves nothing)"
    assert_hwm_below "get_$h" 64
    stop "$h"
}
get_case silent silent --stage bitfield
get_case liar lying --claim have --on-request ignore
get_case choker lying --on-request choke
get_case slowloris slowloris --stage piece
get_case cutter disconnect-mid-block
[ "$(hrep cutter 'any(c.get("close_reason") == "by us mid-block" for c in d["conns"])')" = True ] ||
    fail "cutter never cut a PIECE in half"

# --- 2. peerflow play with a CDN ------------------------------------------------
log "case 2: peerflow play (nginx CDN + honest seeder + silent, slowloris, mute, dribble)"
gen_video 60 "$T/www/video.mp4"
start_nginx_origin "$T/www"
$PF_BIN create -p 256K -w "$NGINX_URL/video.mp4" -o "$T/video.torrent" "$T/www/video.mp4" >/dev/null
mkdir -p "$T/vseed"
cp "$T/www/video.mp4" "$T/vseed/video.mp4"
spawn vseed $PF_BIN seed -d "$T/vseed" -l 0 --bind 127.0.0.1 --no-tracker --upload-rate 2M \
    "$T/video.torrent"
vseed_port=$(port_of vseed)
vtor=(--torrent "$T/video.torrent" --data "$T/www/video.mp4" --listen 0)
hostile vsilent silent --stage bitfield "${vtor[@]}"; vsilent_port=$HOSTILE_PORT
hostile vslow slowloris --stage piece "${vtor[@]}"; vslow_port=$HOSTILE_PORT
hostile mute silent --stage tcp "${vtor[@]}"; mute_port=$HOSTILE_PORT
hostile dribble slowloris --stage handshake "${vtor[@]}"; dribble_port=$HOSTILE_PORT
start_play play "$T/video.torrent" -vv --peer "127.0.0.1:$vseed_port" \
    --peer "127.0.0.1:$vsilent_port" --peer "127.0.0.1:$vslow_port" \
    --peer "127.0.0.1:$mute_port" --peer "127.0.0.1:$dribble_port"
watch_hwm play
t_play=$(date +%s)
decode_media "$PLAY_URL" 40 -re -t 8
is_running play || fail "peerflow play exited while ffmpeg read"
fetch_same "$PLAY_URL" "$T/www/video.mp4" 30
st=$PLAY_BASE/stats.json
log "play: qoe $(stats_json "$st" 'd["files"][0]["qoe"]'), CDN $(stats_json "$st" 'd["cdn_downloaded"]') B, peers $(stats_json "$st" 'd["peer_downloaded"]') B"
[ "$(stats_json "$st" 'd["files"][0]["qoe"]["stalls"]')" = 0 ] ||
    fail "play: the stream stalled ($(stats_json "$st" 'd["files"][0]["qoe"]["stall_s"]') s)"
for h in vsilent vslow; do
    [ "$(hrep "$h" 'sum(c["requests"] for c in d["conns"])')" -ge 1 ] ||
        fail "$h: never asked for a block (the test proves nothing)"
done
# mute and dribble: dropped by the handshake time-out
for h in mute dribble; do
    port_var=${h}_port
    while [ -z "$(closed_reason play "${!port_var}")" ] && [ $(($(date +%s) - t_play)) -lt 30 ]; do sleep 0.5; done
    why=$(closed_reason play "${!port_var}")
    log "$h: $(hrep "$h" '[(c["closed_by"], c["t_close"] and round(c["t_close"] - c["t_open"], 1)) for c in d["conns"]]') (closed by, after s); play: '$why'"
    [ "$why" = "handshake timeout" ] || fail "$h: not dropped by the handshake time-out: '$why'"
    for _ in $(seq 20); do [ "$(hrep "$h" 'd["conns"][0]["closed_by"]')" != None ] && break; sleep 0.1; done
    [ "$(hrep "$h" 'd["conns"][0]["closed_by"]')" = remote ] || fail "$h did not see peerflow close it"
done
assert_hwm_below play 64
