#!/usr/bin/env bash
# peerflow get from a magnet link only: the metadata comes from a libtorrent
# seed named by x.pe (BEP 9 ut_metadata); peerflow has no .torrent and no
# tracker. Single file, then a folder (larger info dict). Byte-exact.
. "$(dirname "$0")/lib.sh"
pf_setup 60
require_peerflow
require_libtorrent

gen_file 16M "$T/src/video.bin" magnet-lt
gen_tree "$T/src/album"

run_case() {  # run_case NAME TORRENT PATH-IN-SRC
    local name=$1 torrent=$2 what=$3 ih port
    ih=$(info_hash "$torrent")
    spawn "lt_seed_$name" $LT_PEER seed --torrent "$torrent" --dir "$T/src" --no-tracker \
        --ready-file "$T/$name.ready"
    wait_for_file "$T/$name.ready" 20 "lt_seed_$name"
    port=$(cat "$T/$name.ready")
    local magnet="magnet:?xt=urn:btih:$ih&dn=$what&x.pe=127.0.0.1:$port"
    log "magnet: $magnet"
    spawn "pf_get_$name" timeout 25 $PF_BIN get -d "$T/pf_$name" -l 0 --bind 127.0.0.1 \
        --no-tracker "$magnet"
    expect_exit0 "pf_get_$name" 30
    if [ -d "$T/src/$what" ]; then
        assert_same_tree "$T/src/$what" "$T/pf_$name/$what"
    else
        assert_same_file "$T/src/$what" "$T/pf_$name/$what"
    fi
    stop "lt_seed_$name"
}

$LT_PEER create -p 128K -o "$T/video.torrent" "$T/src/video.bin" >/dev/null
run_case file "$T/video.torrent" video.bin
$LT_PEER create -p 16K -o "$T/album.torrent" "$T/src/album" >/dev/null
run_case folder "$T/album.torrent" album
