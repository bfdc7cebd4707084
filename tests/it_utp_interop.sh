#!/usr/bin/env bash
# uTP (BEP 29) interop on loopback, byte-exact:
#  1. a libtorrent seed that speaks uTP only -> `peerflow get --transport utp`
#  2. `peerflow seed --transport utp` -> a libtorrent leecher that speaks uTP only
#     (it dials us; peerflow answers on its UDP socket)
#  3. a Transmission 3.00 seed with libutp on -> `peerflow get --transport utp`
#     (Transmission also listens on TCP; we speak nothing but uTP), and
#     `peerflow seed --transport utp` dialling a Transmission leecher
# With TCP off on our side, a byte-exact copy proves the bytes came over uTP.
. "$(dirname "$0")/lib.sh"
pf_setup 150
require_peerflow
require_libtorrent
require_transmission

gen_file 6M "$T/src/clip.bin" utp-interop
$PF_BIN create -p 128K -o "$T/clip.torrent" "$T/src/clip.bin" >/dev/null

# 1. libtorrent (uTP only) seeds, peerflow (uTP only) gets.
spawn lt_seed $LT_PEER seed --torrent "$T/clip.torrent" --dir "$T/src" --no-tracker \
    --transport utp --ready-file "$T/lt_seed.ready"
wait_for_file "$T/lt_seed.ready" 20 lt_seed
spawn pf_get timeout 40 $PF_BIN get -v -d "$T/pf_get" -l 0 --bind 127.0.0.1 --no-tracker \
    --transport utp --peer "127.0.0.1:$(head -1 "$T/lt_seed.ready")" --stats "$T/pf_get.json" "$T/clip.torrent"
expect_exit0 pf_get 45
assert_same_file "$T/src/clip.bin" "$T/pf_get/clip.bin"
stop lt_seed
log "1. libtorrent uTP seed -> peerflow uTP get: byte-exact"

# 2. peerflow (uTP only) seeds, libtorrent (uTP only) dials it and gets.
mkdir -p "$T/pf_seed" && cp "$T/src/clip.bin" "$T/pf_seed/"
spawn pf_seed $PF_BIN seed -d "$T/pf_seed" -l 0 --bind 127.0.0.1 --no-tracker --transport utp \
    --stats "$T/pf_seed.json" "$T/clip.torrent"
seed_port=$(port_of pf_seed)
spawn lt_get $LT_PEER get --torrent "$T/clip.torrent" --dir "$T/lt_get" --no-tracker --transport utp \
    --peer "127.0.0.1:$seed_port" --timeout 40
expect_exit0 lt_get 45
assert_same_file "$T/src/clip.bin" "$T/lt_get/clip.bin"
# Bad datagrams on its socket are dropped and counted (the --stats file,
# written every second): 5 of garbage, 1 uTP packet whose SACK extension
# runs past its end.
dg() { stats_json "$T/pf_seed.json" "d['datagrams']['$1']"; }
in0=$(dg dropped_in) bad0=$(dg utp_invalid)
[ "$(dg received)" -gt 10 ] || fail "the seed's --stats file counts $(dg received) datagrams received"
$PY - "$seed_port" <<'PY'
import socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(5):
    s.sendto(bytes([0, i]) + b"not uTP" * 3, ("127.0.0.1", int(sys.argv[1])))
hdr = struct.pack(">BBHIIIHH", 0x01, 1, 4242, 1, 0, 65536, 1, 1)  # ST_DATA v1, a SACK follows
s.sendto(hdr + bytes([0, 8, 0xff]), ("127.0.0.1", int(sys.argv[1])))
PY
for _ in $(seq 30); do
    [ "$(dg dropped_in)" -ge $((in0 + 5)) ] && [ "$(dg utp_invalid)" -ge $((bad0 + 1)) ] && break
    sleep 0.1
done
[ "$(dg dropped_in)" -ge $((in0 + 5)) ] || fail "garbage not counted: dropped_in $in0 -> $(dg dropped_in)"
[ "$(dg utp_invalid)" -ge $((bad0 + 1)) ] || fail "a truncated uTP packet not counted: utp_invalid $bad0 -> $(dg utp_invalid)"
is_running pf_seed || fail "the seed died of bad datagrams"
log "bad datagrams counted in the seed's --stats: $(stats_json "$T/pf_seed.json" 'd["datagrams"]')"
stop pf_seed
log "2. peerflow uTP seed -> libtorrent uTP get: byte-exact"

# 3. Transmission (libutp) seeds, peerflow (uTP only) gets.
spawn tr_seed $TR_PEER seed --torrent "$T/clip.torrent" --dir "$T/src" --utp \
    --ready-file "$T/tr_seed.ready"
wait_for_file "$T/tr_seed.ready" 20 tr_seed
spawn pf_get2 timeout 50 $PF_BIN get -v -d "$T/pf_get2" -l 0 --bind 127.0.0.1 --no-tracker \
    --transport utp --peer "127.0.0.1:$(cat "$T/tr_seed.ready")" "$T/clip.torrent"
expect_exit0 pf_get2 55
assert_same_file "$T/src/clip.bin" "$T/pf_get2/clip.bin"
stop tr_seed
log "3. Transmission (libutp) seed -> peerflow uTP get: byte-exact"

# 3b. peerflow (uTP only) seeds and dials a Transmission leecher (libutp on):
#     Transmission never dials loopback peers itself (docs/INTEROP.md), so
#     the seed dials it, over nothing but uTP.
spawn tr_get $TR_PEER get --torrent "$T/clip.torrent" --dir "$T/tr_get" --timeout 50 --utp \
    --stats-file "$T/tr_get.json"
tr_port=$(port_of tr_get)
spawn pf_seed3 $PF_BIN seed -d "$T/src" -l 0 --bind 127.0.0.1 --no-tracker --transport utp \
    --peer "127.0.0.1:$tr_port" "$T/clip.torrent"
expect_exit0 tr_get 55
assert_same_file "$T/src/clip.bin" "$T/tr_get/clip.bin"
stop pf_seed3
log "3b. peerflow uTP seed -> Transmission (libutp) get: byte-exact"

# 4. peerflow (uTP only) seeds 96 MiB to peerflow (uTP only): enough to fill
#    the connection's send buffer many times over.  The seed once stopped
#    for good after a few MiB (blocks served while the send buffer was full
#    were never handed to uTP) and lost the tail of every window burst in
#    a 256-datagram queue; this run must simply finish, byte-exact.
gen_file 96M "$T/big/big.bin" utp-big
$PF_BIN create -p 1M -o "$T/big.torrent" "$T/big/big.bin" >/dev/null
spawn pf_seed4 $PF_BIN seed -d "$T/big" -l 0 --bind 127.0.0.1 --no-tracker --transport utp "$T/big.torrent"
seed_port=$(port_of pf_seed4)
spawn pf_get4 timeout 60 $PF_BIN get -d "$T/pf_get4" -l 0 --bind 127.0.0.1 --no-tracker \
    --transport utp --peer "127.0.0.1:$seed_port" --stats "$T/pf_get4.json" "$T/big.torrent"
expect_exit0 pf_get4 65
assert_same_file "$T/big/big.bin" "$T/pf_get4/big.bin"
stop pf_seed4
log "4. peerflow uTP seed -> peerflow uTP get, 96 MiB: byte-exact"
