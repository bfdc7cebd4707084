#!/usr/bin/env bash
# Misbehaving peer: a peer that claims every piece and answers requests with
# corrupt blocks (tests/peers/hostile_peer.py wrong-data --corrupt all), next
# to an honest `peerflow seed`.
#
# 1. `peerflow get` dials both. Asserts: get exits 0 and its file equals the
#    source (cmp); at least one piece failed its hash check; peerflow closed
#    the hostile peer with "sent data that failed the hash check" (-vv log)
#    and the peer saw its connection closed by peerflow; it is banned: its
#    reconnects to the downloader from the endpoint peerflow dialled (bans
#    are per address and port) are hung up on before a handshake reply,
#    and peerflow never dials it again; the honest seeder is never blamed;
#    the downloader's peak RSS (VmHWM) stays under 64 MiB (a 16 MiB file:
#    the bound is the download's buffers, not the file).
# 2. `peerflow play` with an nginx CDN (BEP 19 web seed), the honest seeder
#    and the hostile peer; ffmpeg reads 8 s of the stream at its native rate,
#    then curl the whole file. Asserts: ffmpeg decodes without an error, the
#    served bytes equal the source, the hostile peer is closed for hash
#    failures and refused on reconnect, and play's peak RSS < 64 MiB.
#
# Regression test: this failed on the engine before the fix it came with
# (see the commit that added it).
. "$(dirname "$0")/lib.sh"
. "$PF_SRC/tests/peers/hostile_lib.sh"
pf_setup 75
require_peerflow
require_cmd ffmpeg
require_cmd curl

# --- 1. peerflow get ----------------------------------------------------------
log "case 1: peerflow get from an honest seeder and a corrupt-data peer"
gen_file 16M "$T/src/file.bin" hostile-wrong-data
$PF_BIN create -p 256K -o "$T/file.torrent" "$T/src/file.bin" >/dev/null
# the honest seeder is capped so the hostile peer gets its share of requests
spawn seed $PF_BIN seed -d "$T/src" -l 0 --bind 127.0.0.1 --no-tracker --upload-rate 4M \
    "$T/file.torrent"
seed_port=$(port_of seed)
hostile bad wrong-data --corrupt all --torrent "$T/file.torrent" --data "$T/src/file.bin" \
    --bind 127.0.0.2 --listen 0 --reconnect "@$T/get.addr" --reconnect-interval 0.5 --reconnect-count 3 \
    --reconnect-from-listen
bad_port=$HOSTILE_PORT
spawn get $PF_BIN get -vv -d "$T/get" -l 0 --bind 127.0.0.1 --no-tracker \
    --peer "127.0.0.1:$seed_port" --peer "127.0.0.2:$bad_port" --stats "$T/get.json" \
    "$T/file.torrent"
watch_hwm get
echo "127.0.0.1:$(port_of get)" >"$T/get.addr"
expect_exit0 get 40
assert_same_file "$T/src/file.bin" "$T/get/file.bin"
hf=$(json_get "$T/get.json" hash_failures)
log "get: complete, $hf hash failure(s), $(json_get "$T/get.json" wasted) bytes wasted"
[ "$hf" -ge 1 ] || fail "no hash failure counted: the corrupt blocks were never used?"
[ "$(hrep bad 'd["conns"][0]["bad_blocks_sent"]')" -gt 0 ] || fail "the hostile peer sent no corrupt block"
why=$(closed_reason get "$bad_port" 127.0.0.2)
log "get closed the hostile peer: '$why'"
is_data_ban "$why" || fail "hostile peer not dropped for its data: '$why'"
[ "$(hrep bad 'd["conns"][0]["closed_by"]')" = remote ] || fail "the hostile peer did not see peerflow close it"
why=$(closed_reason get "$seed_port")
case $why in *"failed the hash check"* | *"differs from the verified piece"* | *"more failed pieces"*) fail "the honest seeder was blamed: '$why'" ;; esac
# banned: every reconnect hung up before a handshake reply; never re-dialled
for _ in $(seq 30); do [ "$(hrep bad 'len(d["reconnects"])')" -ge 1 ] && break; sleep 0.1; done
log "hostile reconnects: $(hrep bad '[r["result"] for r in d["reconnects"]]')"
[ "$(hrep bad 'len(d["reconnects"])')" -ge 1 ] || fail "the hostile peer never got to reconnect"
[ "$(hrep bad 'any(r["result"] == "refused" for r in d["reconnects"]) and all(r["result"] in ("refused", "connect-failed") for r in d["reconnects"])')" = True ] ||
    fail "a reconnect after the ban was not refused: $(hrep bad 'd["reconnects"]')"
[ "$(hrep bad 'len(d["conns"])')" = 1 ] || fail "peerflow dialled the banned peer again: $(hrep bad 'len(d["conns"])') connections"
assert_hwm_below get 64
stop bad

# --- 2. peerflow play with a CDN ------------------------------------------------
log "case 2: peerflow play (nginx CDN + honest seeder + corrupt-data peer)"
gen_video 60 "$T/www/video.mp4"
start_nginx_origin "$T/www"
$PF_BIN create -p 256K -w "$NGINX_URL/video.mp4" -o "$T/video.torrent" "$T/www/video.mp4" >/dev/null
mkdir -p "$T/vseed"
cp "$T/www/video.mp4" "$T/vseed/video.mp4"
spawn vseed $PF_BIN seed -d "$T/vseed" -l 0 --bind 127.0.0.1 --no-tracker --upload-rate 2M \
    "$T/video.torrent"
vseed_port=$(port_of vseed)
hostile vbad wrong-data --corrupt all --torrent "$T/video.torrent" --data "$T/www/video.mp4" \
    --bind 127.0.0.2 --listen 0 --reconnect "@$T/play.addr" --reconnect-interval 0.5 --reconnect-count 3 \
    --reconnect-from-listen
vbad_port=$HOSTILE_PORT
start_play play "$T/video.torrent" -vv --peer "127.0.0.1:$vseed_port" --peer "127.0.0.2:$vbad_port"
watch_hwm play
echo "127.0.0.1:$(sed -nE 's/^peerflow play: peers on port ([0-9]+).*/\1/p' "$T/logs/play.log" | head -1)" >"$T/play.addr"
decode_media "$PLAY_URL" 40 -re -t 8
is_running play || fail "peerflow play exited while ffmpeg read"
fetch_same "$PLAY_URL" "$T/www/video.mp4" 30
st=$PLAY_BASE/stats.json
log "play: $(stats_json "$st" '{k: d[k] for k in ("hash_failures", "wasted", "cdn_downloaded", "peer_downloaded")}'), qoe $(stats_json "$st" 'd["files"][0]["qoe"]')"
[ "$(stats_json "$st" 'd["hash_failures"]')" -ge 1 ] || fail "play: no hash failure counted"
why=$(closed_reason play "$vbad_port" 127.0.0.2)
log "play closed the hostile peer: '$why'"
is_data_ban "$why" || fail "play: hostile peer not dropped for its data: '$why'"
why=$(closed_reason play "$vseed_port")
case $why in *"failed the hash check"* | *"differs from the verified piece"* | *"more failed pieces"*) fail "play: the honest seeder was blamed: '$why'" ;; esac
for _ in $(seq 30); do [ "$(hrep vbad 'len(d["reconnects"])')" -ge 1 ] && break; sleep 0.1; done
log "hostile reconnects to play: $(hrep vbad '[r["result"] for r in d["reconnects"]]')"
[ "$(hrep vbad 'any(r["result"] == "refused" for r in d["reconnects"]) and all(r["result"] in ("refused", "connect-failed") for r in d["reconnects"])')" = True ] ||
    fail "play: a reconnect after the ban was not refused: $(hrep vbad 'd["reconnects"]')"
[ "$(hrep vbad 'len(d["conns"])')" = 1 ] || fail "play dialled the banned peer again"
assert_hwm_below play 64
