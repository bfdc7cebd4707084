#!/usr/bin/env bash
# QoE reports go only to a tracker that asks for them: `peerflow play`
# with reports every half second, its torrent announced to opentracker (a
# public tracker's software) behind an nginx that logs every request, and
# to a `peerflow tracker`.  While the viewer plays, opentracker gets its
# announces and not one POST /qoe; the peerflow tracker (which says "qoe"
# in its replies) gets the reports.  A public tracker learns nothing more
# than an announce tells it.
. "$(dirname "$0")/lib.sh"
pf_setup 60
require_peerflow
require_cmd curl
require_cmd opentracker

gen_file 2M "$T/www/f.bin" qoe-public
start_nginx_origin "$T/www"
otport=$(free_port)
$PF_BIN create -p 64K -o "$T/probe.torrent" "$T/www/f.bin" >/dev/null
ih=$(info_hash "$T/probe.torrent")
start_opentracker "$otport" "$ih"
start_nginx_proxy front '
    server {
        listen 127.0.0.1:@PORT@;
        location / { proxy_pass http://127.0.0.1:'"$otport"'; }
    }'
public="http://127.0.0.1:$PROXY_PORT/announce"
spawn pft "$PF_BIN" tracker -l 0 --bind 127.0.0.1 --interval 5
ours="http://127.0.0.1:$(port_of pft)/announce"

# one torrent per tracker, same data and web seed
$PF_BIN create -p 64K -t "$public" -w "$NGINX_URL/f.bin" -o "$T/pub.torrent" "$T/www/f.bin" >/dev/null
[ "$(info_hash "$T/pub.torrent")" = "$ih" ] || fail "the info-hash changed with the tracker (it must not)"
$PF_BIN create -p 64K -t "$ours" -w "$NGINX_URL/f.bin" -o "$T/ours.torrent" "$T/www/f.bin" >/dev/null

reports() { # QoE reports the peerflow tracker has counted for the title
    local m
    m=$(curl -sS --fail --max-time 5 "http://127.0.0.1:$(port_of pft)/metrics") || return 0
    awk -v k="peerflow_tracker_qoe_reports_total{title=\"$ih\",pid=\"unknown\"}" '$1 == k { print $2 }' <<<"$m"
}
# The public tracker's viewer has 2.5 s to send what it must not; ours
# until its tracker has counted 3 reports (a slow ASan start-up takes a
# while to reach the first announce whose reply asks for them).
for which in pub ours; do
    start_play "v$which" "$T/$which.torrent" --qoe-report 0.5
    fetch_same "$PLAY_URL" "$T/www/f.bin" 20
    sleep 2.5
    if [ $which = ours ]; then
        for _ in $(seq 100); do [ "$(reports)" -ge 3 ] 2>/dev/null && break; sleep 0.1; done
    fi
    stop "v$which"
done
grep -q 'GET /announce' "$T/front/access.log" || fail "opentracker never got an announce: $(cat "$T/front/access.log")"
if grep -q '/qoe' "$T/front/access.log"; then
    fail "a QoE report went to the public tracker: $(grep /qoe "$T/front/access.log" | head -2)"
fi
log "opentracker: $(grep -c 'GET /announce' "$T/front/access.log") announces, no QoE report"
n=$(reports)
[ "${n:-0}" -ge 3 ] || fail "the peerflow tracker got '$n' QoE reports, want at least 3"
log "the peerflow tracker got $n QoE reports"
