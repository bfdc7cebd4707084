#!/usr/bin/env bash
# `peerflow tracker` over BEP 15 (UDP) only, with other clients:
#  1. a libtorrent seed and an aria2 leecher find each other through it, on
#     a torrent whose only tracker is udp://127.0.0.1:PORT/announce (aria2
#     runs its UDP trackers on its DHT socket, so DHT is on, with no node to
#     talk to and its socket on loopback); byte-exact; the tracker saw UDP
#     announces from both and not one HTTP request;
#  2. `peerflow info --scrape` reads the swarm over UDP (IPv4, then IPv6);
#     `peerflow get` of a magnet whose only tr= is the udp:// URL finds the
#     libtorrent seed through it (metadata and data from the seed);
#     with --no-udp nothing answers there;
#  3. over IPv6 (udp://[::1]:PORT): a libtorrent seed on ::1 and `peerflow
#     get` find each other: the peers an IPv6 client is handed are 18-byte
#     IPv6 ones (the IPv4 seed of part 1, in the same swarm, is not among
#     them).
. "$(dirname "$0")/lib.sh"
pf_setup 150
require_peerflow
require_libtorrent
require_cmd aria2c aria2

spawn tracker $PF_BIN tracker -l 0 --bind :: --interval 60 -v
tport=$(port_of tracker)
wait_for_port "$tport"
grep -q "listening on port $tport (HTTP and UDP)" "$T/logs/tracker.log" ||
    fail "the tracker does not say it serves UDP: $(head -3 "$T/logs/tracker.log")"
url="udp://127.0.0.1:$tport/announce"

gen_file 12M "$T/src/show.bin" tracker-udp
$PF_BIN create -p 256K -t "$url" -o "$T/show.torrent" "$T/src/show.bin" >/dev/null
[ "$($LT_PEER info "$T/show.torrent" --field trackers)" = "[\"$url\"]" ] ||
    fail "torrent trackers: $($LT_PEER info "$T/show.torrent" --field trackers)"

# --- 1. libtorrent seed -> aria2 leecher, through the UDP tracker ----------
spawn lt_seed $LT_PEER seed --torrent "$T/show.torrent" --dir "$T/src" --tracker-only \
    --ready-file "$T/lt_seed.ready" -v
wait_for_file "$T/lt_seed.ready" 20 lt_seed
wait_for_log lt_seed 'tracker reply' 20 >/dev/null
grep -q "udp announce from 127.0.0.1" "$T/logs/tracker.log" ||
    fail "libtorrent's announce did not come over UDP"

a2_port=$(free_port)
dht_port=$(free_port)
spawn a2_get aria2c --enable-dht=true --dht-listen-port="$dht_port" \
    --dht-file-path="$T/a2_dht.dat" --enable-dht6=false --bt-enable-lpd=false \
    --enable-peer-exchange=false --interface=127.0.0.1 --disable-ipv6=true \
    --listen-port="$a2_port" --seed-time=0 --summary-interval=0 --console-log-level=notice \
    --file-allocation=none -d "$T/a2_get" "$T/show.torrent"
expect_exit0 a2_get 60
assert_same_file "$T/src/show.bin" "$T/a2_get/show.bin"
n_lt=$(grep -c "udp announce from 127.0.0.1" "$T/logs/tracker.log" || true)
grep -q "udp announce from 127.0.0.1:$dht_port:" "$T/logs/tracker.log" ||
    fail "no UDP announce from aria2 (its DHT socket, port $dht_port)"
! grep -q "GET /" "$T/logs/tracker.log" || fail "an HTTP request reached the tracker"
log "libtorrent seed -> aria2 through the UDP tracker: byte-exact ($n_lt UDP announces)"

# --- 2. peerflow info --scrape over UDP --------------------------------------
$PF_BIN info --scrape "$T/show.torrent" >"$T/scrape4.out"
grep -Eq "$url: [1-9][0-9]* seeders" "$T/scrape4.out" ||
    fail "UDP scrape (IPv4): $(grep -A2 scrape: "$T/scrape4.out")"
magnet=$($PF_BIN info "$T/show.torrent" | sed -nE 's/^magnet: *//p')
grep -q "tr=udp%3A%2F%2F127.0.0.1%3A$tport%2Fannounce" <<<"$magnet" || fail "magnet: $magnet"
spawn pf_mag timeout 40 $PF_BIN get -v -d "$T/pf_mag" -l 0 --bind 127.0.0.1 "$magnet"
expect_exit0 pf_mag 45
assert_same_file "$T/src/show.bin" "$T/pf_mag/show.bin"
grep -F "announce to $url: " "$T/logs/pf_mag.log" | grep -Eq ': [1-9][0-9]* peers' ||
    fail "the magnet's UDP tracker gave no peer: $(grep -i announce "$T/logs/pf_mag.log" | head -3)"

# --no-udp: HTTP only; the same UDP scrape finds nobody there
spawn tracker_http $PF_BIN tracker -l 0 --bind 127.0.0.1 --no-udp
hport=$(port_of tracker_http)
grep -q "listening on port $hport (HTTP)" "$T/logs/tracker_http.log" ||
    fail "--no-udp: $(head -2 "$T/logs/tracker_http.log")"
$PF_BIN create -p 256K -t "udp://127.0.0.1:$hport/announce" -o "$T/http_only.torrent" \
    "$T/src/show.bin" >/dev/null
$PF_BIN info --scrape "$T/http_only.torrent" >"$T/scrape_http.out"
grep -q "udp://127.0.0.1:$hport/announce: scrape failed" "$T/scrape_http.out" ||
    fail "--no-udp still answered over UDP: $(grep -A2 scrape: "$T/scrape_http.out")"
stop tracker_http

# --- 3. IPv6: a libtorrent seed on ::1, peerflow get through udp://[::1] -----
if ! $PY -c 'import socket; s=socket.socket(socket.AF_INET6); s.bind(("::1", 0))' 2>/dev/null; then
    log "no IPv6 loopback here: the IPv6 part is not run"
    stop lt_seed
    exit 0
fi
url6="udp://[::1]:$tport/announce"
$PF_BIN create -p 256K -t "$url6" -o "$T/show6.torrent" "$T/src/show.bin" >/dev/null
# the same info-hash: the swarm the IPv4 clients made, seen over IPv6
$PF_BIN info --scrape "$T/show6.torrent" >"$T/scrape6.out"
grep -Eq "\[::1\]:$tport/announce: 1 seeders" "$T/scrape6.out" ||
    fail "UDP scrape (IPv6): $(grep -A2 scrape: "$T/scrape6.out")"
spawn lt_seed6 $LT_PEER seed --torrent "$T/show6.torrent" --dir "$T/src" --tracker-only \
    --bind ::1 --ready-file "$T/lt_seed6.ready" -v
wait_for_file "$T/lt_seed6.ready" 20 lt_seed6
wait_for_log lt_seed6 'tracker reply' 20 >/dev/null
grep -q "udp announce from \[::1\]" "$T/logs/tracker.log" ||
    fail "libtorrent's IPv6 announce did not come over UDP"
spawn pf_get6 timeout 40 $PF_BIN get -v -d "$T/pf_get6" -l 0 --bind :: "$T/show6.torrent"
expect_exit0 pf_get6 45
assert_same_file "$T/src/show.bin" "$T/pf_get6/show.bin"
grep -F "announce to $url6: " "$T/logs/pf_get6.log" | grep -Eq ': [1-9][0-9]* peers' ||
    fail "peerflow learned no peer over IPv6: $(grep -i announce "$T/logs/pf_get6.log" | head -3)"
$PF_BIN info --scrape "$T/show6.torrent" >"$T/scrape6.out"
grep -Eq "\[::1\]:$tport/announce: [2-9] seeders" "$T/scrape6.out" ||
    fail "UDP scrape (IPv6) after the IPv6 seed: $(grep -A2 scrape: "$T/scrape6.out")"
stop lt_seed6
stop lt_seed
log "IPv6: libtorrent seed -> peerflow get through udp://[::1]: byte-exact"
