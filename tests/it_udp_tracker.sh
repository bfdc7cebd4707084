#!/usr/bin/env bash
# BEP 15 UDP trackers, end to end on the client's UDP socket: opentracker
# (UDP on the same port as HTTP) and torrents whose only tracker is
# udp://127.0.0.1:PORT/announce.
#  1. a libtorrent seed announces over UDP; `peerflow get`, given only the
#     .torrent, finds it through the UDP tracker and downloads byte-exact;
#  2. a `peerflow seed` announces over UDP; a libtorrent leecher limited to
#     the tracker (--tracker-only) finds it and downloads byte-exact;
#  3. `peerflow info --scrape` asks opentracker over UDP (BEP 15 scrape).
# IPv6: Debian's opentracker is built IPv4-only ("V4 Tracker is V4 only!"
# for -i ::1), so peerflow's UDP client over IPv6 is tested against
# `peerflow tracker` instead (it_tracker_udp, test_udp_tracker).
. "$(dirname "$0")/lib.sh"
pf_setup 90
require_peerflow
require_libtorrent
require_cmd opentracker

ot_port=$(free_port)
gen_file 8M "$T/src/feed.bin" udp-tracker
$PF_BIN create -p 128K -t "udp://127.0.0.1:$ot_port/announce" -o "$T/feed.torrent" \
    "$T/src/feed.bin" >/dev/null
start_opentracker "$ot_port" "$(info_hash "$T/feed.torrent")"

# 1. libtorrent seeds, peerflow gets.
spawn lt_seed $LT_PEER seed --torrent "$T/feed.torrent" --dir "$T/src" --tracker-only \
    --ready-file "$T/lt_seed.ready"
wait_for_file "$T/lt_seed.ready" 20 lt_seed
wait_for_log lt_seed 'tracker reply' 15 >/dev/null
spawn pf_get timeout 40 $PF_BIN get -v -d "$T/pf_get" -l 0 --bind 127.0.0.1 \
    --stats "$T/pf_get.json" "$T/feed.torrent"
expect_exit0 pf_get 45
assert_same_file "$T/src/feed.bin" "$T/pf_get/feed.bin"
grep -q "announce to udp://127.0.0.1:$ot_port/announce: [1-9]" "$T/logs/pf_get.log" ||
    fail "peerflow get learned no peer from the UDP tracker: $(grep -i announce "$T/logs/pf_get.log" | head -3)"
stop lt_seed

# 2. peerflow seeds, libtorrent gets through the tracker only.
mkdir -p "$T/pf_seed"
cp "$T/src/feed.bin" "$T/pf_seed/feed.bin"
spawn pf_seed $PF_BIN seed -v -d "$T/pf_seed" -l 0 --bind 127.0.0.1 "$T/feed.torrent"
wait_for_log pf_seed "announce to udp://127.0.0.1:$ot_port/announce" 20 >/dev/null
spawn lt_get $LT_PEER get --torrent "$T/feed.torrent" --dir "$T/lt_get" --tracker-only --timeout 40
expect_exit0 lt_get 45
assert_same_file "$T/src/feed.bin" "$T/lt_get/feed.bin"
stop pf_seed

# 3. opentracker's counts over BEP 15: the seeds above (the stopped ones
# said so; libtorrent's leecher completed and still seeds).
$PF_BIN info --scrape "$T/feed.torrent" >"$T/scrape.out"
grep -Eq "udp://127.0.0.1:$ot_port/announce: [0-9]+ seeders, [0-9]+ leechers, [1-9][0-9]* downloads" \
    "$T/scrape.out" || fail "UDP scrape of opentracker: $(grep -A2 scrape: "$T/scrape.out")"
log "UDP tracker: both ways byte-exact; scrape:$(tail -1 "$T/scrape.out")"
