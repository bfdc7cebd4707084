#!/usr/bin/env bash
# Proves the reference-peer harness itself (no peerflow involved): every
# driver in tests/peers/ against the others on loopback, byte-exact.
#   libtorrent seed -> WebTorrent get      (WebTorrent dials)
#   WebTorrent seed -> libtorrent get      (libtorrent dials)
#   libtorrent seed -> Transmission get    (the libtorrent seed dials Transmission)
#   Transmission seed -> libtorrent get    (libtorrent dials)
#   aria2c seed -> libtorrent get          (libtorrent dials)
#   libtorrent seed -> libtorrent get via opentracker only (whitelist)
#   libtorrent `create` of a folder -> WebTorrent get (multi-file layout)
. "$(dirname "$0")/lib.sh"
pf_setup 90
require_libtorrent
require_webtorrent
require_transmission
require_cmd aria2c aria2
require_cmd opentracker

gen_file 24M "$T/src/data.bin" ref
$LT_PEER create "$T/src/data.bin" -o "$T/data.torrent" -p 256K >/dev/null
gen_file 2M "$T/src/small.bin" small
$LT_PEER create "$T/src/small.bin" -o "$T/small.torrent" -p 64K >/dev/null

# --- libtorrent seed -> WebTorrent get ---------------------------------------
spawn lt_seed $LT_PEER seed --torrent "$T/data.torrent" --dir "$T/src" \
    --ready-file "$T/lt_seed.ready" --stats-file "$T/lt_seed.json" --no-tracker
wait_for_file "$T/lt_seed.ready" 20 lt_seed
lt_port=$(port_of lt_seed)
spawn wt_get $WT_PEER get --torrent "$T/data.torrent" --dir "$T/wt_get" \
    --peer "127.0.0.1:$lt_port" --no-tracker --timeout 30 --stats-file "$T/wt_get.json"
expect_exit0 wt_get 35
assert_same_file "$T/src/data.bin" "$T/wt_get/data.bin"
assert_listens_on 127.0.0.1 "$lt_port"
stop lt_seed
[ "$(json_get "$T/lt_seed.json" uploaded)" -ge $((24 << 20)) ] || fail "lt seed stats: uploaded < file size"

# --- WebTorrent seed -> libtorrent get ---------------------------------------
spawn wt_seed $WT_PEER seed --torrent "$T/data.torrent" --dir "$T/wt_get" \
    --ready-file "$T/wt_seed.ready" --no-tracker --stats-file "$T/wt_seed.json"
wait_for_file "$T/wt_seed.ready" 20 wt_seed
wt_port=$(port_of wt_seed)
assert_listens_on 127.0.0.1 "$wt_port"
spawn lt_get $LT_PEER get --torrent "$T/data.torrent" --dir "$T/lt_get" \
    --peer "127.0.0.1:$wt_port" --no-tracker --timeout 30
expect_exit0 lt_get 35
assert_same_file "$T/src/data.bin" "$T/lt_get/data.bin"
stop wt_seed

# --- libtorrent seed -> Transmission get (libtorrent dials) ------------------
spawn tr_get $TR_PEER get --torrent "$T/small.torrent" --dir "$T/tr_get" --timeout 40 \
    --stats-file "$T/tr_get.json"
tr_port=$(port_of tr_get)
spawn lt_seed2 $LT_PEER seed --torrent "$T/small.torrent" --dir "$T/src" \
    --no-tracker --peer "127.0.0.1:$tr_port"
expect_exit0 tr_get 45
assert_same_file "$T/src/small.bin" "$T/tr_get/small.bin"
[ "$(json_get "$T/tr_get.json" downloaded)" -ge $((2 << 20)) ] || fail "tr stats: downloaded < file size"
stop lt_seed2

# --- Transmission seed -> libtorrent get -------------------------------------
spawn tr_seed $TR_PEER seed --torrent "$T/small.torrent" --dir "$T/src" \
    --ready-file "$T/tr_seed.ready" --stats-file "$T/tr_seed.json"
wait_for_file "$T/tr_seed.ready" 20 tr_seed
tr_port=$(cat "$T/tr_seed.ready")
spawn lt_get2 $LT_PEER get --torrent "$T/small.torrent" --dir "$T/lt_get2" \
    --peer "127.0.0.1:$tr_port" --no-tracker --timeout 40
expect_exit0 lt_get2 45
assert_same_file "$T/src/small.bin" "$T/lt_get2/small.bin"
stop tr_seed
[ "$(json_get "$T/tr_seed.json" uploaded)" -ge $((2 << 20)) ] || fail "tr seed stats: uploaded < file size"

# --- aria2c seed -> libtorrent get -------------------------------------------
a2_port=$(free_port)
spawn a2_seed aria2c --enable-dht=false --enable-dht6=false --bt-enable-lpd=false \
    --enable-peer-exchange=false --seed-ratio=0.0 --bt-seed-unverified=true \
    --interface=127.0.0.1 --disable-ipv6=true --listen-port="$a2_port" \
    --bt-tracker-interval=1 --summary-interval=0 --console-log-level=warn \
    --check-integrity=false -d "$T/src" "$T/data.torrent"
wait_for_port "$a2_port"
spawn lt_get3 $LT_PEER get --torrent "$T/data.torrent" --dir "$T/lt_get3" \
    --peer "127.0.0.1:$a2_port" --no-tracker --timeout 30
expect_exit0 lt_get3 35
assert_same_file "$T/src/data.bin" "$T/lt_get3/data.bin"
stop a2_seed

# --- opentracker (whitelist) : libtorrent seed -> libtorrent get -------------
ot_port=$(free_port)
$LT_PEER create "$T/src/small.bin" -o "$T/ot.torrent" -p 64K \
    -t "http://127.0.0.1:$ot_port/announce" >/dev/null
start_opentracker "$ot_port" "$(info_hash "$T/ot.torrent")"
wait_for_port "$ot_port"
spawn lt_ot_seed $LT_PEER seed --torrent "$T/ot.torrent" --dir "$T/src" --tracker-only \
    --ready-file "$T/lt_ot_seed.ready"
wait_for_file "$T/lt_ot_seed.ready" 20 lt_ot_seed
spawn lt_ot_get $LT_PEER get --torrent "$T/ot.torrent" --dir "$T/lt_ot_get" \
    --tracker-only --timeout 30
expect_exit0 lt_ot_get 35
assert_same_file "$T/src/small.bin" "$T/lt_ot_get/small.bin"
stop lt_ot_seed
stop ot

# --- multi-file torrent by libtorrent -> WebTorrent ---------------------------
gen_tree "$T/tree/folder"
$LT_PEER create "$T/tree/folder" -o "$T/tree.torrent" -p 32K >/dev/null
spawn lt_tree $LT_PEER seed --torrent "$T/tree.torrent" --dir "$T/tree" --no-tracker \
    --ready-file "$T/lt_tree.ready"
wait_for_file "$T/lt_tree.ready" 20 lt_tree
spawn wt_tree $WT_PEER get --torrent "$T/tree.torrent" --dir "$T/wt_tree" \
    --peer "127.0.0.1:$(cat "$T/lt_tree.ready")" --no-tracker --timeout 30
expect_exit0 wt_tree 35
[ -f "$T/wt_tree/folder/empty" ] || : >"$T/wt_tree/folder/empty"  # WebTorrent skips empty files
assert_same_tree "$T/tree/folder" "$T/wt_tree/folder"
stop lt_tree

log "WebTorrent got $(json_get "$T/wt_get.json" downloaded) wire bytes; Transmission seed uploaded $(json_get "$T/tr_seed.json" uploaded)"
