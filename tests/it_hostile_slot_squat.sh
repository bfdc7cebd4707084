#!/usr/bin/env bash
# Misbehaving peers: slot squatting. 20 connections from one address
# (127.0.0.2) to a `peerflow seed --max-peers 4` each complete the
# handshake, never say they are interested and then trickle keep-alives one
# byte a second (hostile_peer.py slowloris --stage idle --conns 20). Then an
# honest `peerflow get` from 127.0.0.1 dials the seeder. Asserts: the get
# exits 0 within 30 s with the source's bytes (cmp), i.e. the seeder makes
# room for a peer that wants data.
#
# Regression test: this failed on the engine before the fix it came with
# (see the commit that added it).
. "$(dirname "$0")/lib.sh"
. "$PF_SRC/tests/peers/hostile_lib.sh"
pf_setup 90
require_peerflow

gen_file 16M "$T/src/file.bin" hostile-squat
$PF_BIN create -p 256K -o "$T/file.torrent" "$T/src/file.bin" >/dev/null
spawn seed $PF_BIN seed -vv -d "$T/src" -l 0 --bind 127.0.0.1 --no-tracker --max-peers 4 \
    "$T/file.torrent"
seed_port=$(port_of seed)
hostile squat slowloris --stage idle --conns 20 --bind 127.0.0.2 --torrent "$T/file.torrent" \
    --connect "127.0.0.1:$seed_port"
sleep 3
log "squatters: $(hrep squat 'len(d["conns"])') connected, $(hrep squat 'sum(1 for c in d["conns"] if c["closed_by"] is None)') still open"
spawn get $PF_BIN get -vv -d "$T/get" -l 0 --bind 127.0.0.1 --no-tracker \
    --peer "127.0.0.1:$seed_port" --stats "$T/get.json" "$T/file.torrent"
for _ in $(seq 300); do is_running get || break; sleep 0.1; done
log "get: $(cat "$T/get.json" 2>/dev/null); squatters still open: $(hrep squat 'sum(1 for c in d["conns"] if c["closed_by"] is None)')"
is_running get && fail "the get could not get in within 30 s"
expect_exit0 get 1
assert_same_file "$T/src/file.bin" "$T/get/file.bin"
