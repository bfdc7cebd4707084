#!/usr/bin/env bash
# peerflow <-> libtorrent (python3-libtorrent 2.0) over TCP on loopback:
#   peerflow create is cross-checked against libtorrent's create (same info-hash)
#   peerflow seed -> libtorrent get      (single file, then a folder)
#   libtorrent seed -> peerflow get      (single file, then a folder)
# Byte-exact every time.
. "$(dirname "$0")/lib.sh"
pf_setup 60
require_peerflow
require_libtorrent

gen_file 32M "$T/src/movie.bin" interop-lt
gen_tree "$T/src/folder"

# --- torrent creation cross-check ---------------------------------------------
$PF_BIN create -p 256K -o "$T/pf.torrent" "$T/src/movie.bin"
$LT_PEER create -p 256K -o "$T/lt.torrent" "$T/src/movie.bin" >/dev/null
pf_ih=$(info_hash "$T/pf.torrent") || fail "libtorrent cannot load peerflow's torrent"
lt_ih=$(info_hash "$T/lt.torrent")
[ "$pf_ih" = "$lt_ih" ] || fail "peerflow create: info-hash $pf_ih, libtorrent's: $lt_ih (info dicts differ)"
log "peerflow create == libtorrent create: $pf_ih"
$PF_BIN create -p 32K -o "$T/pf_tree.torrent" "$T/src/folder"
$LT_PEER info "$T/pf_tree.torrent" >"$T/pf_tree.info" || fail "libtorrent cannot load peerflow's folder torrent"

# --- peerflow seed -> libtorrent get ------------------------------------------
spawn pf_seed $PF_BIN seed -d "$T/src" -l 0 --bind 127.0.0.1 --no-tracker \
    --stats "$T/pf_seed.json" "$T/pf.torrent"
pf_port=$(port_of pf_seed)
spawn lt_get $LT_PEER get --torrent "$T/pf.torrent" --dir "$T/lt_get" --no-tracker \
    --peer "127.0.0.1:$pf_port" --timeout 25
expect_exit0 lt_get 30
assert_same_file "$T/src/movie.bin" "$T/lt_get/movie.bin"
stop pf_seed
up=$(json_get "$T/pf_seed.json" uploaded)
[ "$up" -ge $((32 << 20)) ] || fail "peerflow seed --stats: uploaded $up < file size"

spawn pf_seed_tree $PF_BIN seed -d "$T/src" -l 0 --bind 127.0.0.1 --no-tracker "$T/pf_tree.torrent"
pf_port=$(port_of pf_seed_tree)
spawn lt_get_tree $LT_PEER get --torrent "$T/pf_tree.torrent" --dir "$T/lt_tree" --no-tracker \
    --peer "127.0.0.1:$pf_port" --timeout 20
expect_exit0 lt_get_tree 25
assert_same_tree "$T/src/folder" "$T/lt_tree/folder"
stop pf_seed_tree

# --- libtorrent seed -> peerflow get ------------------------------------------
spawn lt_seed $LT_PEER seed --torrent "$T/lt.torrent" --dir "$T/src" --no-tracker \
    --ready-file "$T/lt_seed.ready" --stats-file "$T/lt_seed.json"
wait_for_file "$T/lt_seed.ready" 20 lt_seed
lt_port=$(cat "$T/lt_seed.ready")
spawn pf_get timeout 25 $PF_BIN get -d "$T/pf_get" -l 0 --bind 127.0.0.1 --no-tracker \
    --peer "127.0.0.1:$lt_port" --stats "$T/pf_get.json" "$T/lt.torrent"
expect_exit0 pf_get 30
assert_same_file "$T/src/movie.bin" "$T/pf_get/movie.bin"
[ "$(json_get "$T/pf_get.json" complete)" = True ] || fail "peerflow get --stats: complete is not true"
stop lt_seed

$LT_PEER create -p 32K -o "$T/lt_tree.torrent" "$T/src/folder" >/dev/null
spawn lt_seed_tree $LT_PEER seed --torrent "$T/lt_tree.torrent" --dir "$T/src" --no-tracker \
    --ready-file "$T/lt_seed_tree.ready"
wait_for_file "$T/lt_seed_tree.ready" 20 lt_seed_tree
spawn pf_get_tree timeout 20 $PF_BIN get -d "$T/pf_tree" -l 0 --bind 127.0.0.1 --no-tracker \
    --peer "127.0.0.1:$(cat "$T/lt_seed_tree.ready")" "$T/lt_tree.torrent"
expect_exit0 pf_get_tree 25
assert_same_tree "$T/src/folder" "$T/pf_tree/folder"
stop lt_seed_tree
