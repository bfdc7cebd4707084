#!/usr/bin/env bash
# peerflow's tracker client against Debian's opentracker (whitelist-only):
# a libtorrent seed announces; `peerflow get` given only the .torrent (whose
# one tracker is opentracker) finds it and downloads byte-exact.
# opentracker's announce interval is ~30 min, so the seed must have announced
# before peerflow does (we wait for its tracker reply).
. "$(dirname "$0")/lib.sh"
pf_setup 60
require_peerflow
require_libtorrent
require_cmd opentracker

ot_port=$(free_port)
gen_file 16M "$T/src/feed.bin" opentracker
$LT_PEER create -p 128K -t "http://127.0.0.1:$ot_port/announce" -o "$T/feed.torrent" \
    "$T/src/feed.bin" >/dev/null
start_opentracker "$ot_port" "$(info_hash "$T/feed.torrent")"

spawn lt_seed $LT_PEER seed --torrent "$T/feed.torrent" --dir "$T/src" --tracker-only \
    --ready-file "$T/lt_seed.ready"
wait_for_file "$T/lt_seed.ready" 20 lt_seed
wait_for_log lt_seed 'tracker reply' 15 >/dev/null

spawn pf_get timeout 30 $PF_BIN get -d "$T/pf_get" -l 0 --bind 127.0.0.1 \
    --stats "$T/pf_get.json" "$T/feed.torrent"
expect_exit0 pf_get 35
assert_same_file "$T/src/feed.bin" "$T/pf_get/feed.bin"
stop lt_seed
