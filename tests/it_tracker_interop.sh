#!/usr/bin/env bash
# `peerflow tracker` serves other clients: a libtorrent seed and a WebTorrent
# leecher find each other only through it (no --peer, no DHT/LSD/PEX), on a
# torrent made by `peerflow create -t`. Byte-exact. Also checks /scrape.
. "$(dirname "$0")/lib.sh"
pf_setup 60
require_peerflow
require_libtorrent
require_webtorrent
require_cmd curl

spawn tracker $PF_BIN tracker -l 0 --bind 127.0.0.1 --interval 2
tport=$(port_of tracker)
wait_for_port "$tport"
url="http://127.0.0.1:$tport/announce"

gen_file 24M "$T/src/show.bin" tracker-interop
$PF_BIN create -p 256K -t "$url" -o "$T/show.torrent" "$T/src/show.bin"
[ "$($LT_PEER info "$T/show.torrent" --field trackers)" = "[\"$url\"]" ] ||
    fail "torrent trackers: $($LT_PEER info "$T/show.torrent" --field trackers)"

spawn lt_seed $LT_PEER seed --torrent "$T/show.torrent" --dir "$T/src" --tracker-only \
    --ready-file "$T/lt_seed.ready" --stats-file "$T/lt_seed.json"
wait_for_file "$T/lt_seed.ready" 20 lt_seed
wait_for_log lt_seed 'tracker reply' 15 >/dev/null
spawn wt_get $WT_PEER get --torrent "$T/show.torrent" --dir "$T/wt_get" --tracker-only \
    --timeout 30
expect_exit0 wt_get 35
assert_same_file "$T/src/show.bin" "$T/wt_get/show.bin"

# the tracker knows the swarm: scrape answers with the info-hash's counts
ih=$(info_hash "$T/show.torrent")
ih_esc=$(echo "$ih" | sed 's/../%&/g')
curl -sf --max-time 5 "http://127.0.0.1:$tport/scrape?info_hash=$ih_esc" >"$T/scrape.out" ||
    fail "scrape failed"
grep -q "complete" "$T/scrape.out" || fail "scrape reply has no 'complete': $(head -c 200 "$T/scrape.out")"
stop lt_seed
