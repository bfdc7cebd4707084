#!/usr/bin/env bash
# Misbehaving peer: unsolicited blocks. A peer that claims every piece and,
# without being asked, sends PIECE messages full of zeros for random blocks
# as fast as it can (hostile_peer.py unsolicited), next to one honest
# `peerflow seed` (1 MiB/s). Asserts: `peerflow get` exits 0 within 40 s
# with the source's bytes (cmp); the honest seeder is never blamed (closed
# for "data that failed the hash check"); the hostile peer is dropped.
#
# Regression test: this failed on the engine before the fix it came with
# (see the commit that added it).
. "$(dirname "$0")/lib.sh"
. "$PF_SRC/tests/peers/hostile_lib.sh"
pf_setup 60
require_peerflow

gen_file 16M "$T/src/file.bin" hostile-unsolicited
$PF_BIN create -p 256K -o "$T/file.torrent" "$T/src/file.bin" >/dev/null
spawn seed $PF_BIN seed -d "$T/src" -l 0 --bind 127.0.0.1 --no-tracker --upload-rate 1M \
    "$T/file.torrent"
seed_port=$(port_of seed)
hostile junk unsolicited --bind 127.0.0.2 --torrent "$T/file.torrent" --listen 0
spawn get $PF_BIN get -vv -d "$T/get" -l 0 --bind 127.0.0.1 --no-tracker \
    --peer "127.0.0.1:$seed_port" --peer "127.0.0.2:$HOSTILE_PORT" --stats "$T/get.json" \
    "$T/file.torrent"
for _ in $(seq 400); do is_running get || break; sleep 0.1; done
log "get: $(cat "$T/get.json"); junk sent $(hrep junk 'sum(c["blocks_sent"] for c in d["conns"])') unrequested blocks"
why=$(closed_reason get "$seed_port")
case $why in *"failed the hash check"* | *"differs from the verified piece"* | *"more failed pieces"*) fail "the honest seeder was banned for the junk another peer sent: '$why'" ;; esac
is_running get && fail "get did not finish within 40 s"
expect_exit0 get 1
assert_same_file "$T/src/file.bin" "$T/get/file.bin"
[ -n "$(closed_reason get "$HOSTILE_PORT" 127.0.0.2)" ] || fail "the junk peer was never dropped"
