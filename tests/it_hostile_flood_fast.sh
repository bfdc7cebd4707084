#!/usr/bin/env bash
# Misbehaving peer: a request flood at a seeder from a peer that negotiated
# BEP 6 Fast and never reads (tests/peers/hostile_peer.py request-flood
# --no-read). Every request the seeder cannot queue (its per-peer queue
# holds 1024) is answered with a 17-byte REJECT; nothing bounds those
# replies, so they pile up in the seeder's memory at the rate the flooder
# writes. Asserts the seeder stays responsive (an honest get completes,
# byte-exact) and its peak RSS (VmHWM) stays under 64 MiB.
#
# The flood is stopped early once the seeder passes 256 MiB.
#
# Regression test: this failed on the engine before the fix it came with
# (see the commit that added it).
. "$(dirname "$0")/lib.sh"
. "$PF_SRC/tests/peers/hostile_lib.sh"
pf_setup 60
require_peerflow

gen_file 16M "$T/src/file.bin" hostile-flood-fast
$PF_BIN create -p 256K -o "$T/file.torrent" "$T/src/file.bin" >/dev/null
spawn seed $PF_BIN seed -vv -d "$T/src" -l 0 --bind 127.0.0.1 --no-tracker "$T/file.torrent"
port=$(port_of seed)
watch_hwm seed
hostile flood request-flood --no-read --torrent "$T/file.torrent" --connect "127.0.0.1:$port" \
    --duration 12
sleep 1
spawn get $PF_BIN get -vv -d "$T/get" -l 0 --bind 127.0.0.1 --no-tracker \
    --peer "127.0.0.1:$port" "$T/file.torrent"
for _ in $(seq 150); do  # stop early past 256 MiB: the test must not take the machine down
    is_running flood || break
    [ -s "$T/seed.hwm" ] && [ "$(cat "$T/seed.hwm")" -gt $((256 * 1024)) ] && { log "seeder past 256 MiB: stopping the flood"; stop flood; break; }
    sleep 0.1
done
expect_exit0 get 25
assert_same_file "$T/src/file.bin" "$T/get/file.bin"
is_running flood && { wait_exit flood 20 || fail "the flooder failed"; }
log "flood $(hrep flood 'd["flood"]'); connection closed by $(hrep flood 'd["conns"][0]["closed_by"]')"
[ "$(hrep flood 'd["flood"]["requests"] > 100000')" = True ] || fail "the flood was too weak"
is_running seed || fail "the seeder died"
assert_hwm_below seed 64
