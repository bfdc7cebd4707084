#!/usr/bin/env bash
# More than one tracker machine (issue 18, item 5): two `peerflow tracker`
# instances behind nginx as the load balancer, routing by info-hash
# (`hash $arg_info_hash consistent`), each owning its share of the swarms,
# both reading one policy file, both trusting the balancer's
# X-Forwarded-For.  Checks:
#  1. each title's swarm lives on one instance only, and a real seed and a
#     real `peerflow get` through the balancer find each other on both
#     instances' titles (byte-exact);
#  2. QoE reports through the balancer (a viewer's, with info_hash in the
#     query as peerflow sends it) reach the owner only: per title the sum
#     over the instances is exactly what was sent, retries included once;
#  3. the kill switch in the shared policy file holds whichever instance
#     answers: P2P off for one title (no peers, "p2p" 0), the other
#     untouched; both instances' /metrics show it.
. "$(dirname "$0")/lib.sh"
pf_setup 120
require_peerflow
require_cmd curl

: >"$T/policy"
spawn tA "$PF_BIN" tracker -l 0 --bind 127.0.0.1 --interval 5 --trusted-proxy 127.0.0.1 --policy "$T/policy"
spawn tB "$PF_BIN" tracker -l 0 --bind 127.0.0.1 --interval 5 --trusted-proxy 127.0.0.1 --policy "$T/policy"
pA=$(port_of tA)
pB=$(port_of tB)

# the balancer
start_nginx_proxy lb '
    upstream trackers {
        hash $arg_info_hash consistent;
        server 127.0.0.1:'"$pA"';
        server 127.0.0.1:'"$pB"';
    }
    server {
        listen 127.0.0.1:@PORT@;
        location / {
            proxy_pass http://trackers;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }
    }'
lport=$PROXY_PORT
lb="http://127.0.0.1:$lport"
log "nginx balances $lb over 127.0.0.1:$pA (A) and 127.0.0.1:$pB (B) by info_hash"

pct() { sed 's/../%&/g' <<<"$1"; }
# seeders_at PORT IH: the swarm's seeders at one instance (its scrape)
seeders_at() {
    curl -sS --max-time 5 "http://127.0.0.1:$1/scrape?info_hash=$(pct "$2")" | $PY -c '
import sys
d = sys.stdin.buffer.read()
i = d.find(b"8:completei")
print(int(d[i + 11:d.index(b"e", i + 11)]) if i >= 0 else 0)'
}

# titles until each instance owns one
owner_a= owner_b=
for i in $(seq 1 24); do
    mkdir -p "$T/seed$i"
    gen_file 256K "$T/seed$i/title$i.bin" "two-instances-$i"
    $PF_BIN create -p 32K -t "$lb/announce" -o "$T/t$i.torrent" "$T/seed$i/title$i.bin" >/dev/null
    ih=$(info_hash "$T/t$i.torrent")
    curl -sS --fail --max-time 5 "$lb/announce?info_hash=$(pct "$ih")&peer_id=-XX0001-probe0000000&port=9&left=0" \
        >/dev/null || fail "announce through the balancer failed"
    a=$(seeders_at "$pA" "$ih")
    b=$(seeders_at "$pB" "$ih")
    [ $((a + b)) = 1 ] || fail "title $i: seeders at A $a, at B $b: want the swarm on exactly one"
    if [ "$a" = 1 ] && [ -z "$owner_a" ]; then owner_a=$i; fi
    if [ "$b" = 1 ] && [ -z "$owner_b" ]; then owner_b=$i; fi
    [ -n "$owner_a" ] && [ -n "$owner_b" ] && break
done
[ -n "$owner_a" ] && [ -n "$owner_b" ] || fail "24 titles all hashed to one instance"
ihA=$(info_hash "$T/t$owner_a.torrent")
ihB=$(info_hash "$T/t$owner_b.torrent")
log "1. title $owner_a lives on A only, title $owner_b on B only"

# real peers through the balancer, one title on each instance
for i in "$owner_a" "$owner_b"; do
    spawn "seed$i" "$PF_BIN" seed -v -d "$T/seed$i" -l 0 --bind 127.0.0.1 "$T/t$i.torrent"
done
for i in "$owner_a" "$owner_b"; do
    wait_for_log "seed$i" "announce to .*" 20 >/dev/null || fail "seed $i did not announce"
    spawn "get$i" "$PF_BIN" get -d "$T/get$i" -l 0 --bind 127.0.0.1 "$T/t$i.torrent"
done
for i in "$owner_a" "$owner_b"; do
    wait_exit "get$i" 40 || fail "peerflow get of title $i through the balancer failed"
    assert_same_file "$T/seed$i/title$i.bin" "$T/get$i/title$i.bin"
done
log "1. a seed and a leecher found each other through the balancer on both instances"

# 2. QoE through the balancer
form='Content-Type: application/x-www-form-urlencoded'
qoe() { # IH STREAM PLAY_MS PEER_BYTES
    curl -sS -o /dev/null -w '%{http_code}' --max-time 5 -H "$form" \
        --data "info_hash=$(pct "$1")&stream=$2&play_ms=$3&peer_bytes=$4&cdn_bytes=100" \
        "$lb/qoe?info_hash=$(pct "$1")"
}
for ih in "$ihA" "$ihB"; do
    for s in 1 2; do
        for k in 1 2 3; do
            code=$(qoe "$ih" "$s$s" $((k * 1000)) $((k * 500)))
            [ "$code" = 204 ] || fail "QoE report through the balancer: HTTP $code"
        done
        [ "$(qoe "$ih" "$s$s" 3000 1500)" = 204 ] || fail "QoE retry refused" # a retry
    done
done
mA=$(curl -sS --fail --max-time 5 "http://127.0.0.1:$pA/metrics")
mB=$(curl -sS --fail --max-time 5 "http://127.0.0.1:$pB/metrics")
val() { awk -v k="$2" '$1 == k { print $2 }' <<<"$1"; }
for ih in "$ihA" "$ihB"; do
    lab="{title=\"$ih\",pid=\"unknown\"}"
    ra=$(val "$mA" "peerflow_tracker_qoe_reports_total$lab")
    rb=$(val "$mB" "peerflow_tracker_qoe_reports_total$lab")
    pa=$(val "$mA" "peerflow_tracker_qoe_bytes_total{title=\"$ih\",pid=\"unknown\",source=\"peer\"}")
    pb=$(val "$mB" "peerflow_tracker_qoe_bytes_total{title=\"$ih\",pid=\"unknown\",source=\"peer\"}")
    [ -z "$ra" ] || [ -z "$rb" ] || fail "title $ih has QoE on both instances ($ra, $rb)"
    [ "$((${ra:-0} + ${rb:-0}))" = 8 ] || fail "title $ih: $ra + $rb reports, want 8"
    [ "$((${pa:-0} + ${pb:-0}))" = 3000 ] || fail "title $ih: peer bytes $pa + $pb, want 3000 (retries once)"
done
[ -n "$(val "$mA" "peerflow_tracker_qoe_reports_total{title=\"$ihA\",pid=\"unknown\"}")" ] ||
    fail "A's title's QoE is not on A"
log "2. QoE through the balancer: each title's 8 reports on its owner only, peer bytes 3000 each (retries once)"

# 3. the kill switch, shared
echo "title $ihA p2p off" >"$T/policy"
sleep 2.2 # both instances look at the file every second
ann() { curl -sS --max-time 5 "$lb/announce?info_hash=$(pct "$1")&peer_id=-XX0001-probe1111111&port=9&left=100"; }
ann "$ihA" >"$T/offA.bin"
ann "$ihB" >"$T/onB.bin"
grep -aq '8:peerflowd3:p2pi0e' "$T/offA.bin" || fail "title A's announce does not say P2P off: $(head -c 200 "$T/offA.bin")"
grep -aq '5:peers0:' "$T/offA.bin" || fail "title A's announce still gives peers"
grep -aq '3:p2pi0e' "$T/onB.bin" && fail "title B's announce was switched off too"
for p in "$pA" "$pB"; do
    m=$(curl -sS --fail --max-time 5 "http://127.0.0.1:$p/metrics") || fail "GET /metrics on $p failed"
    grep -q "^peerflow_tracker_p2p_off{scope=\"title\",key=\"$ihA\"} 1$" <<<"$m" ||
        fail "instance on $p does not show the switch"
done
log "3. the switch holds through the balancer: title A off (no peers), title B on; both instances show it"
