#!/usr/bin/env bash
# peerflow <-> Transmission 3.00 (transmission-cli) on loopback, byte-exact.
# Transmission never dials loopback peers it learns from a tracker or PEX, and
# cannot be told to dial one: peerflow dials it in both directions.
#   peerflow seed --peer <transmission>  -> Transmission get
#   Transmission seed -> peerflow get --peer <transmission>
# Transmission decides interest/unchoke on a 10 s timer, so each direction
# takes ~10-15 s whatever the size: the file is kept small.
. "$(dirname "$0")/lib.sh"
pf_setup 90
require_peerflow
require_libtorrent
require_transmission

gen_file 3M "$T/src/clip.bin" interop-tr
$PF_BIN create -p 64K -o "$T/clip.torrent" "$T/src/clip.bin"

# --- peerflow seed (dials) -> Transmission get ---------------------------------
spawn tr_get $TR_PEER get --torrent "$T/clip.torrent" --dir "$T/tr_get" --timeout 40 \
    --stats-file "$T/tr_get.json"
tr_port=$(port_of tr_get)
spawn pf_seed $PF_BIN seed -d "$T/src" -l 0 --bind 127.0.0.1 --no-tracker \
    --peer "127.0.0.1:$tr_port" --stats "$T/pf_seed.json" "$T/clip.torrent"
expect_exit0 tr_get 45
assert_same_file "$T/src/clip.bin" "$T/tr_get/clip.bin"
stop pf_seed

# --- Transmission seed -> peerflow get (dials) ---------------------------------
spawn tr_seed $TR_PEER seed --torrent "$T/clip.torrent" --dir "$T/src" \
    --ready-file "$T/tr_seed.ready"
wait_for_file "$T/tr_seed.ready" 20 tr_seed
spawn pf_get timeout 40 $PF_BIN get -d "$T/pf_get" -l 0 --bind 127.0.0.1 --no-tracker \
    --peer "127.0.0.1:$(cat "$T/tr_seed.ready")" --stats "$T/pf_get.json" "$T/clip.torrent"
expect_exit0 pf_get 45
assert_same_file "$T/src/clip.bin" "$T/pf_get/clip.bin"
stop tr_seed
