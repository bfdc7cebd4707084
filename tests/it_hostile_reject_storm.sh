#!/usr/bin/env bash
# Misbehaving peer: a peer that claims every piece and answers every request
# with a BEP 6 REJECT (hostile_peer.py lying --on-request reject), next to
# one honest `peerflow seed` capped at 4 MiB/s. Asserts: `peerflow get`
# exits 0 with the source's bytes (cmp), and peerflow does not keep asking
# the liar: fewer than 2,000 requests reach it during the ~4 s download.
#
# Regression test: this failed on the engine before the fix it came with
# (see the commit that added it).
. "$(dirname "$0")/lib.sh"
. "$PF_SRC/tests/peers/hostile_lib.sh"
pf_setup 60
require_peerflow

gen_file 16M "$T/src/file.bin" hostile-reject
$PF_BIN create -p 256K -o "$T/file.torrent" "$T/src/file.bin" >/dev/null
spawn seed $PF_BIN seed -d "$T/src" -l 0 --bind 127.0.0.1 --no-tracker --upload-rate 4M \
    "$T/file.torrent"
seed_port=$(port_of seed)
hostile liar lying --on-request reject --torrent "$T/file.torrent" --listen 0
spawn get $PF_BIN get -vv -d "$T/get" -l 0 --bind 127.0.0.1 --no-tracker \
    --peer "127.0.0.1:$seed_port" --peer "127.0.0.1:$HOSTILE_PORT" "$T/file.torrent"
expect_exit0 get 30
assert_same_file "$T/src/file.bin" "$T/get/file.bin"
n=$(hrep liar 'sum(c["requests"] for c in d["conns"])')
log "the liar received $n requests, rejected them all; $(hrep liar '[(c["closed_by"], round(c["t_close"] - c["t_open"], 1)) for c in d["conns"] if c["t_close"]]') (closed by, after s)"
[ "$n" -lt 2000 ] || fail "peerflow sent $n requests to a peer that rejects every one"
