#!/usr/bin/env bash
# Streaming an SSL torrent: nginx as the CDN (BEP 19 web seed) and one
# `peerflow seed` that admits only certificates of the torrent's CA.
#  1. A viewer with its certificate: ffmpeg -re plays 15 s through
#     `peerflow play`, no stall, bytes served equal the source, the peer
#     carried most of it over TLS (tls_peers seen, nothing refused).
#  2. A viewer whose certificate the seed's revocation list names: the seed
#     refuses it (revoked), the CDN carries the stream alone, still no
#     stall and the same bytes: a refused peer costs the viewer nothing.
. "$(dirname "$0")/lib.sh"
pf_setup 100
require_peerflow
require_cmd ffprobe ffmpeg
require_cmd curl

cd "$T"
gen_video 40 "$T/www/video.mp4"
size=$(stat -c %s "$T/www/video.mp4")
start_nginx_origin "$T/www"
$PF_BIN cert ca --out ca >/dev/null
for who in seed alice mallory; do $PF_BIN cert issue --ca ca --name video.mp4 --out $who >/dev/null; done
$PF_BIN cert revoke --ca ca --crl crl.pem mallory.pem >/dev/null
$PF_BIN create --ssl-ca ca.pem -p 128K -w "$NGINX_URL/video.mp4" -o video.torrent www/video.mp4 >/dev/null
mkdir -p seed && cp www/video.mp4 seed/
spawn seed $PF_BIN seed -v -d seed -l 0 --bind 127.0.0.1 --no-tracker --ssl-cert seed.pem --ssl-key seed.key.pem \
    --ssl-crl crl.pem --stats seed.json video.torrent
seed_port=$(port_of seed)

play_and_check() { # NAME CERT: plays 15 s at the native rate, then the rest; prints cdn peer
    start_play "$1" video.torrent --peer "127.0.0.1:$seed_port" --ssl-cert "$2.pem" --ssl-key "$2.key.pem"
    local st=$PLAY_BASE/stats.json
    decode_media "$PLAY_URL" 40 -re -t 15
    is_running "$1" || fail "$1: peerflow play exited"
    fetch_same "$PLAY_URL" www/video.mp4 20
    local stalls
    stalls=$(stats_json "$st" 'd["files"][0]["qoe"]["stalls"]')
    [ "$stalls" = 0 ] || fail "$1: $stalls stall(s)"
    [ "$(stats_json "$st" 'd["ssl"]')" = True ] || fail "$1: not an SSL torrent in /stats.json"
    CDN=$(stats_json "$st" 'd["cdn_downloaded"]')
    PEER=$(stats_json "$st" 'd["peer_downloaded"]')
    log "$1: file $size B, CDN $CDN B, peers $PEER B, no stall"
    stop "$1"
}

play_and_check alice alice
[ "$PEER" -gt $((size / 2)) ] || fail "alice: peers carried $PEER B of $size"
grep -q "refused" "$T/logs/seed.log" && fail "the seed refused alice: $(grep refused "$T/logs/seed.log")"
log "1. alice streamed over a TLS peer: $PEER B of $size from it"

play_and_check mallory mallory
[ "$PEER" = 0 ] || fail "mallory (revoked) got $PEER B from peers"
[ "$CDN" -ge "$size" ] || fail "mallory: the CDN carried $CDN B of $size"
grep -q "refused (revoked)" "$T/logs/seed.log" || fail "the seed did not refuse mallory as revoked"
log "2. mallory (revoked) was refused by the seed and streamed from the CDN alone, no stall"
log "PASS"
