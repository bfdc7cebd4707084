#!/usr/bin/env bash
# Slot squatting by peers that say they are interested (issue 19, item 3),
# against a `peerflow seed` with its defaults (50 peers per torrent, 200
# connections, 8 upload slots). hostile_peer.py squat: each connection
# handshakes, sends HAVE_NONE and INTERESTED, then only keep-alives, never
# a request.
#  1. 500 such connections from 127.0.0.2, each redialled 1 s after
#     peerflow closes it (a persistent squatter: the seed's connections stay
#     full). Then a real libtorrent leecher dials the seed. Asserts: it
#     completes within 40 s, byte-exact (the seed tries each squatter in an
#     upload slot for 2 s; those that ask nothing make room for newcomers);
#     peerflow dropped squatters for idling.
#  2. 100 more that do not come back: 80 s later at most 8 are open, the
#     ones in the 8 upload slots once nobody else wants one (idle peers go
#     within about a minute, sooner when connections are scarce; one that
#     holds a slot nobody else asks for is left alone, as a viewer waiting
#     for its player would be, until someone does).
#
# Regression test: 58 squatters stayed open for three minutes, holding
# every slot, and a libtorrent leecher could not get the file in 40 s.
. "$(dirname "$0")/lib.sh"
. "$PF_SRC/tests/peers/hostile_lib.sh"
pf_setup 170
require_peerflow
require_libtorrent

gen_file 16M "$T/src/file.bin" hostile-squat-interested
$PF_BIN create -p 256K -o "$T/file.torrent" "$T/src/file.bin" >/dev/null
spawn seed $PF_BIN seed -vv -d "$T/src" -l 0 --bind 127.0.0.1 --no-tracker "$T/file.torrent"
seed_port=$(port_of seed)
wait_for_log seed "verified" 20 >/dev/null

# 1. persistent squatters, then a libtorrent leecher
hostile squat squat --conns 500 --interval 20 --squat-reconnect 1 --bind 127.0.0.2 \
    --torrent "$T/file.torrent" --connect "127.0.0.1:$seed_port" --duration 120
sleep 4
log "squatters after 4 s: $(hrep squat '{k: v for k, v in d["squat"].items() if k != "samples"}')"
[ "$(hrep squat 'd["squat"]["open"]')" -ge 40 ] || fail "the squatters did not fill the seed: $(hrep squat 'd["squat"]')"
t0=$(date +%s.%N)
spawn lt_get $LT_PEER get --torrent "$T/file.torrent" --dir "$T/lt_get" --no-tracker \
    --peer "127.0.0.1:$seed_port" --timeout 40
expect_exit0 lt_get 45
took=$(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN { printf "%.1f", a - b }')
log "libtorrent leecher done in ${took}s; squatters then: $(hrep squat '{k: v for k, v in d["squat"].items() if k != "samples"}')"
assert_same_file "$T/src/file.bin" "$T/lt_get/file.bin"
n_idle=$(grep -c "idle, making room for a new peer\|idle: unchoked, asked for nothing" "$T/logs/seed.log" || true)
log "squatters dropped for idling: $n_idle"
[ "$n_idle" -ge 1 ] || fail "no squatter was dropped for idling"
stop squat

# 2. squatters that do not come back are gone within about a minute
hostile squat2 squat --conns 100 --interval 20 --bind 127.0.0.3 --torrent "$T/file.torrent" \
    --connect "127.0.0.1:$seed_port" --duration 100
sleep 4
log "second squat after 4 s: $(hrep squat2 'd["squat"]["open"]') open"
[ "$(hrep squat2 'd["squat"]["open"]')" -ge 30 ] || fail "the second squat did not get in: $(hrep squat2 'd["squat"]')"
sleep 76
open=$(hrep squat2 'd["squat"]["open"]')
log "second squat 80 s later: $open open ($(hrep squat2 'd["squat"]["closed_by_remote"]') closed by peerflow)"
[ "$open" -le 8 ] || fail "$open idle squatters still hold connections after 80 s"
stop squat2
stop seed
