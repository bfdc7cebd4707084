#!/usr/bin/env bash
# Misbehaving peers: several peers that accept requests and never deliver
# (hostile_peer.py silent --stage bitfield, lying, slowloris --stage piece)
# at once, next to one honest `peerflow seed` capped at 4 MiB/s (alone it
# delivers the 16 MiB in ~4 s). Asserts: `peerflow get` exits 0 within
# 12 s with the source's bytes (cmp), i.e. the blocks they sit on are
# re-routed to the seeder well before the 20 s request time-out.
#
# Regression test: this failed on the engine before the fix it came with
# (see the commit that added it).
. "$(dirname "$0")/lib.sh"
. "$PF_SRC/tests/peers/hostile_lib.sh"
pf_setup 60
require_peerflow

gen_file 16M "$T/src/file.bin" hostile-stall-many
$PF_BIN create -p 256K -o "$T/file.torrent" "$T/src/file.bin" >/dev/null
spawn seed $PF_BIN seed -d "$T/src" -l 0 --bind 127.0.0.1 --no-tracker --upload-rate 4M \
    "$T/file.torrent"
peers=(--peer "127.0.0.1:$(port_of seed)")
tor=(--torrent "$T/file.torrent" --data "$T/src/file.bin" --listen 0)
hostile silent silent --stage bitfield "${tor[@]}"; peers+=(--peer "127.0.0.1:$HOSTILE_PORT")
hostile liar lying --claim have --on-request ignore "${tor[@]}"; peers+=(--peer "127.0.0.1:$HOSTILE_PORT")
hostile choker lying --on-request choke "${tor[@]}"; peers+=(--peer "127.0.0.1:$HOSTILE_PORT")
hostile slowloris slowloris --stage piece "${tor[@]}"; peers+=(--peer "127.0.0.1:$HOSTILE_PORT")
t0=$(date +%s.%N)
spawn get $PF_BIN get -vv -d "$T/get" -l 0 --bind 127.0.0.1 --no-tracker "${peers[@]}" \
    --stats "$T/get.json" "$T/file.torrent"
for _ in $(seq 300); do is_running get || break; sleep 0.1; done
took=$(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN { printf "%.1f", a - b }')
log "get ran ${took}s: $(cat "$T/get.json")"
for h in silent liar choker slowloris; do
    log "$h: $(hrep "$h" '[(c["requests"], c["closed_by"]) for c in d["conns"]]') (requests, closed by)"
done
awk -v t="$took" 'BEGIN { exit !(t < 12) }' || fail "get took ${took}s (alone with the seeder: ~4 s)"
expect_exit0 get 1
assert_same_file "$T/src/file.bin" "$T/get/file.bin"
