#!/usr/bin/env bash
# peerflow <-> WebTorrent 3.0.21 (node, TCP only: no uTP/WebRTC) on loopback:
#   peerflow seed -> WebTorrent get   (WebTorrent dials)
#   WebTorrent seed -> peerflow get   (peerflow dials)
# Byte-exact. WebTorrent speaks plaintext here (wt_peer.mjs --secure 0).
. "$(dirname "$0")/lib.sh"
pf_setup 60
require_peerflow
require_webtorrent

gen_file 32M "$T/src/stream.bin" interop-wt
$PF_BIN create -p 256K -o "$T/stream.torrent" "$T/src/stream.bin"

spawn pf_seed $PF_BIN seed -d "$T/src" -l 0 --bind 127.0.0.1 --no-tracker \
    --stats "$T/pf_seed.json" "$T/stream.torrent"
pf_port=$(port_of pf_seed)
spawn wt_get $WT_PEER get --torrent "$T/stream.torrent" --dir "$T/wt_get" --no-tracker \
    --peer "127.0.0.1:$pf_port" --timeout 25
expect_exit0 wt_get 30
assert_same_file "$T/src/stream.bin" "$T/wt_get/stream.bin"
stop pf_seed

spawn wt_seed $WT_PEER seed --torrent "$T/stream.torrent" --dir "$T/src" --no-tracker \
    --ready-file "$T/wt_seed.ready"
wait_for_file "$T/wt_seed.ready" 20 wt_seed
spawn pf_get timeout 25 $PF_BIN get -d "$T/pf_get" -l 0 --bind 127.0.0.1 --no-tracker \
    --peer "127.0.0.1:$(cat "$T/wt_seed.ready")" --stats "$T/pf_get.json" "$T/stream.torrent"
expect_exit0 pf_get 30
assert_same_file "$T/src/stream.bin" "$T/pf_get/stream.bin"
stop wt_seed
