#!/usr/bin/env bash
# Misbehaving peer: a BEP 9 metadata request flood. The peer dials a
# `peerflow seed`, does the BEP 10 extension handshake and then asks for
# piece 0 of the info dict over and over (each ~30-byte request is answered
# with the whole 1.4 KiB info dict here, up to 16 KiB for big torrents),
# never reading the answers (hostile_peer.py metadata-flood). Asserts: an
# honest get still completes, byte-exact, and the seeder's peak RSS stays
# under 64 MiB (the flood is stopped early once it passes 256 MiB, so the
# test cannot take the machine down).
#
# Regression test: this failed on the engine before the fix it came with
# (see the commit that added it).
. "$(dirname "$0")/lib.sh"
. "$PF_SRC/tests/peers/hostile_lib.sh"
pf_setup 60
require_peerflow

gen_file 16M "$T/src/file.bin" hostile-metadata
$PF_BIN create -p 256K -o "$T/file.torrent" "$T/src/file.bin" >/dev/null
spawn seed $PF_BIN seed -vv -d "$T/src" -l 0 --bind 127.0.0.1 --no-tracker "$T/file.torrent"
port=$(port_of seed)
watch_hwm seed
hostile flood metadata-flood --torrent "$T/file.torrent" --connect "127.0.0.1:$port" --duration 10
for _ in $(seq 100); do
    is_running flood || break
    if [ -s "$T/seed.hwm" ] && [ "$(cat "$T/seed.hwm")" -gt $((256 * 1024)) ]; then
        log "seeder past 256 MiB: stopping the flood"
        stop flood
        break
    fi
    sleep 0.1
done
log "flood: $(hrep flood 'd["flood"]')"
spawn get $PF_BIN get -d "$T/get" -l 0 --bind 127.0.0.1 --no-tracker --peer "127.0.0.1:$port" \
    "$T/file.torrent"
expect_exit0 get 25
assert_same_file "$T/src/file.bin" "$T/get/file.bin"
is_running seed || fail "the seeder died"
assert_hwm_below seed 64
