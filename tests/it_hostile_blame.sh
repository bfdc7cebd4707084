#!/usr/bin/env bash
# Misbehaving peer: blame by block origin. Two honest `peerflow seed`s
# (2 MiB/s each) and a peer that claims every piece and corrupts every other
# block it sends (hostile_peer.py wrong-data --corrupt half, paced at ~50
# blocks/s) all contribute blocks to the same 1 MiB pieces of a
# `peerflow get`. Asserts: get exits 0 within 30 s with the source's bytes
# (cmp); the hostile peer is closed for its data and refused when it
# reconnects from the endpoint peerflow dialled (bans are per endpoint); neither honest seeder is ever blamed (closed for "data that
# failed the hash check"); peak RSS < 64 MiB.
#
# Regression test: this failed on the engine before the fix it came with
# (see the commit that added it).
. "$(dirname "$0")/lib.sh"
. "$PF_SRC/tests/peers/hostile_lib.sh"
pf_setup 60
require_peerflow

gen_file 16M "$T/src/file.bin" hostile-blame
$PF_BIN create -p 1M -o "$T/file.torrent" "$T/src/file.bin" >/dev/null
spawn seed1 $PF_BIN seed -d "$T/src" -l 0 --bind 127.0.0.1 --no-tracker --upload-rate 2M "$T/file.torrent"
seed1_port=$(port_of seed1)
spawn seed2 $PF_BIN seed -d "$T/src" -l 0 --bind 127.0.0.1 --no-tracker --upload-rate 2M "$T/file.torrent"
seed2_port=$(port_of seed2)
hostile bad wrong-data --corrupt half --block-delay 0.02 --torrent "$T/file.torrent" \
    --data "$T/src/file.bin" --bind 127.0.0.2 --listen 0 --reconnect "@$T/get.addr" --reconnect-interval 0.5 \
    --reconnect-count 3 --reconnect-from-listen
bad_port=$HOSTILE_PORT
spawn get $PF_BIN get -vv -d "$T/get" -l 0 --bind 127.0.0.1 --no-tracker \
    --peer "127.0.0.1:$seed1_port" --peer "127.0.0.1:$seed2_port" --peer "127.0.0.2:$bad_port" \
    --stats "$T/get.json" "$T/file.torrent"
watch_hwm get
echo "127.0.0.1:$(port_of get)" >"$T/get.addr"
for _ in $(seq 300); do is_running get || break; sleep 0.1; done
rc=running
is_running get || { rc=0; wait_exit get 1 || rc=$?; }
log "get: $(cat "$T/get.json"); closed: seed1 '$(closed_reason get "$seed1_port")', seed2 '$(closed_reason get "$seed2_port")', hostile '$(closed_reason get "$bad_port" 127.0.0.2)'"
log "hostile sent $(hrep bad 'sum(c["bad_blocks_sent"] for c in d["conns"])') corrupt blocks in pieces $(hrep bad 'sorted(set(p for c in d["conns"] for p in c["bad_pieces"]))')"
for s in seed1 seed2; do
    port_var=${s}_port
    case $(closed_reason get "${!port_var}") in
    *"failed the hash check"* | *"differs from the verified piece"* | *"more failed pieces"*)
        fail "the honest $s was blamed for the hostile peer's blocks" ;;
    esac
done
[ "$rc" = 0 ] || fail "get: exit status $rc after 30 s"
assert_same_file "$T/src/file.bin" "$T/get/file.bin"
is_data_ban "$(closed_reason get "$bad_port" 127.0.0.2)" ||
    fail "the hostile peer was not dropped for its data"
[ "$(hrep bad 'any(r["result"] == "refused" for r in d["reconnects"]) and all(r["result"] in ("refused", "connect-failed") for r in d["reconnects"])')" = True ] ||
    fail "the hostile peer was not banned: $(hrep bad 'd["reconnects"]')"
assert_hwm_below get 64
