#!/usr/bin/env bash
# An upload cap as a share of the uplink measured (issue 15 item 6, the
# request of webtorrent 2352): `peerflow seed --upload-share 0.5` on an
# "uplink" of 2 MiB/s (--upload-rate 2M stands for the link) uploads to a
# real libtorrent leecher at full speed while it measures (5 s of uploads),
# then at half of what it measured: the leecher's own rate over 6 s falls
# to 50 % of the uplink (+-20 %), and the seed's stats and status line
# show the uplink measured and the cap.
. "$(dirname "$0")/lib.sh"
pf_setup 90
require_peerflow
require_libtorrent

LINK=$((2 << 20))
gen_file 64M "$T/seed/movie.bin" share
$PF_BIN create -p 256K -o "$T/movie.torrent" "$T/seed/movie.bin" >/dev/null
spawn seed $PF_BIN seed -d "$T/seed" -l 0 --bind 127.0.0.1 --no-tracker --upload-rate 2M \
    --upload-share 0.5 --stats "$T/seed.json" -v "$T/movie.torrent"
sport=$(port_of seed)
spawn leech $LT_PEER get --torrent "$T/movie.torrent" --dir "$T/leech" --no-tracker \
    --peer "127.0.0.1:$sport" --stats-file "$T/leech.json" --stats-interval 0.25 --timeout 80

up() { $PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["upload"][sys.argv[2]])' "$T/seed.json" "$1"; }
# rate_over S: the leecher's download rate over the next S seconds (its own counter).
rate_over() {
    local d0 w0 d1 w1
    d0=$(json_get "$T/leech.json" downloaded); w0=$(json_get "$T/leech.json" wall)
    sleep "$1"
    d1=$(json_get "$T/leech.json" downloaded); w1=$(json_get "$T/leech.json" wall)
    awk -v a="$d0" -v b="$d1" -v s="$w0" -v e="$w1" 'BEGIN { printf "%.0f", (b - a) / (e - s) }'
}
for _ in $(seq 200); do
    [ -s "$T/leech.json" ] && [ "$(json_get "$T/leech.json" downloaded)" -gt 0 ] && break
    sleep 0.1
done
warm=$(rate_over 2)
log "while the uplink is measured: the leecher receives $warm B/s"
awk -v r="$warm" -v l="$LINK" 'BEGIN { exit !(r > 0.8 * l) }' || fail "not at full speed while measuring ($warm)"
for _ in $(seq 150); do
    [ "$(up cap_bps)" -gt 0 ] && [ "$(up cap_bps)" -lt "$LINK" ] && break
    sleep 0.1
done
uplink=$(up uplink_bps)
cap=$(up cap_bps)
log "the seed measured an uplink of $uplink B/s and caps uploads at $cap B/s"
awk -v u="$uplink" -v l="$LINK" 'BEGIN { exit !(u > 0.85 * l && u < 1.2 * l) }' || fail "uplink measured $uplink, the link is $LINK"
awk -v c="$cap" -v u="$uplink" 'BEGIN { exit !(c > 0.49 * u && c < 0.51 * u) }' || fail "cap $cap is not half of $uplink"
sleep 3 # the rate settles
capped=$(rate_over 6)
log "capped: the leecher receives $capped B/s ($(awk -v r="$capped" -v u="$uplink" 'BEGIN { printf "%.0f", 100 * r / u }') % of the uplink measured)"
awk -v r="$capped" -v u="$uplink" 'BEGIN { exit !(r > 0.4 * u && r < 0.6 * u) }' ||
    fail "the leecher got $capped B/s, not half of the $uplink measured"
wait_for_log seed 'cap [0-9.]+ (KiB|MiB)/s \(50% of [0-9.]+ MiB/s\)' 12 >/dev/null
is_running seed || fail "the seed died"
stop leech
stop seed
