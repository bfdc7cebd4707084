#!/usr/bin/env bash
# A magnet's x.pe peer is used at once (issue 19, item 10): `peerflow get
# 'magnet:?xt=...&x.pe=127.0.0.1:PORT'` against a real seeder (libtorrent,
# then peerflow) completes in a few seconds, and so does `peerflow play` of
# the same magnet (the file read whole through its media server). Each
# must finish within 5 s of its start and dial the seeder only once.
#
# Regression test: the x.pe peer was dialled with a clock of 0, the first
# tick closed it as a 15 s connect timeout and the retry came 10 s later
# (get: 10.5 s, where --peer took 0.66 s).
. "$(dirname "$0")/lib.sh"
pf_setup 90
require_peerflow
require_libtorrent
require_cmd curl

gen_file 4M "$T/src/clip.bin" magnet-xpe
$PF_BIN create -p 64K -o "$T/clip.torrent" "$T/src/clip.bin" >/dev/null
ih=$(info_hash "$T/clip.torrent")
BOUND=5

# elapsed_since T0: seconds (float) since the date +%s.%N stamp T0
elapsed_since() { awk -v a="$(date +%s.%N)" -v b="$1" 'BEGIN { printf "%.2f", a - b }'; }

get_case() {  # get_case NAME PORT
    local name=$1 port=$2 t0 took
    local magnet="magnet:?xt=urn:btih:$ih&dn=clip.bin&x.pe=127.0.0.1:$port"
    t0=$(date +%s.%N)
    spawn "get_$name" $PF_BIN get -vv -d "$T/get_$name" -l 0 --bind 127.0.0.1 --no-tracker "$magnet"
    expect_exit0 "get_$name" 30
    took=$(elapsed_since "$t0")
    assert_same_file "$T/src/clip.bin" "$T/get_$name/clip.bin"
    log "get from the $name seed by magnet: ${took}s"
    awk -v t="$took" -v b=$BOUND 'BEGIN { exit !(t < b) }' ||
        fail "get of a magnet with x.pe took ${took}s (bound ${BOUND}s)"
    ! grep -q "connect timeout" "$T/logs/get_$name.log" || fail "get_$name gave up on a dial in progress"
}

spawn lt_seed $LT_PEER seed --torrent "$T/clip.torrent" --dir "$T/src" --no-tracker \
    --ready-file "$T/lt.ready"
wait_for_file "$T/lt.ready" 20 lt_seed
get_case libtorrent "$(cat "$T/lt.ready")"
stop lt_seed

spawn pf_seed $PF_BIN seed -d "$T/src" -l 0 --bind 127.0.0.1 --no-tracker "$T/clip.torrent"
pf_port=$(port_of pf_seed)
get_case peerflow "$pf_port"

# play: the media server serves the whole file within the bound
t0=$(date +%s.%N)
start_play play "magnet:?xt=urn:btih:$ih&dn=clip.bin&x.pe=127.0.0.1:$pf_port" -vv --no-tracker
fetch_same "$PLAY_URL" "$T/src/clip.bin" 20
took=$(elapsed_since "$t0")
log "play of the magnet: whole file read in ${took}s"
awk -v t="$took" -v b=$BOUND 'BEGIN { exit !(t < b) }' ||
    fail "play of a magnet with x.pe took ${took}s to serve the file (bound ${BOUND}s)"
! grep -q "connect timeout" "$T/logs/play.log" || fail "play gave up on a dial in progress"
stop play
stop pf_seed
