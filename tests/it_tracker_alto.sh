#!/usr/bin/env bash
# Locality decided by the operator, at the tracker (issue 18, item 3):
# `peerflow tracker --alto-network-map F --alto-cost-map G` (RFC 7285 JSON
# files).  20 viewers of ISP a (10.0.1.0/24), 20 of b, 20 of c announce
# (through a trusted proxy's ip=, as behind a balancer); then:
#  1. a viewer of a asking for 30 peers gets all 20 of a and 6 of b (other
#     PIDs at most a fifth; b is cheaper than c in the cost map), where
#     without a map about a third would be of a;
#  2. the QoE series are labelled with the PID (pid="isp-a");
#  3. a map changed on disk is used within seconds (a and b merged into
#     one PID: a's viewer now gets a and b), and a broken one is refused
#     with its reason while the last good one stays in force;
#  4. a tracker given a broken map does not start and says why.
. "$(dirname "$0")/lib.sh"
pf_setup 60
require_peerflow
require_cmd curl

netmap() { # NAME_A NAME_B: a network map with a and b as given PIDs (the same: merged)
    if [ "$1" = "$2" ]; then
        printf '{"meta":{"vtag":{"resource-id":"lab","tag":"%s"}},"network-map":{"%s":{"ipv4":["10.0.1.0/24","10.0.2.0/24"]},"isp-c":{"ipv4":["10.0.3.0/24"]}}}' "$3" "$1"
    else
        printf '{"meta":{"vtag":{"resource-id":"lab","tag":"%s"}},"network-map":{"%s":{"ipv4":["10.0.1.0/24"]},"%s":{"ipv4":["10.0.2.0/24"]},"isp-c":{"ipv4":["10.0.3.0/24"]}}}' "$3" "$1" "$2"
    fi
}
netmap isp-a isp-b 1 >"$T/net.json"
cat >"$T/cost.json" <<'EOF'
{"meta":{"dependent-vtags":[{"resource-id":"lab","tag":"1"}],
         "cost-type":{"cost-mode":"numerical","cost-metric":"routingcost"}},
 "cost-map":{"isp-a":{"isp-a":1,"isp-b":5,"isp-c":9},
             "isp-b":{"isp-a":5,"isp-b":1,"isp-c":9},
             "isp-c":{"isp-a":9,"isp-b":9,"isp-c":1}}}
EOF
spawn tracker "$PF_BIN" tracker -l 0 --bind 127.0.0.1 --trusted-proxy 127.0.0.1 -v \
    --alto-network-map "$T/net.json" --alto-cost-map "$T/cost.json"
tport=$(port_of tracker)
wait_for_log tracker "ALTO map lab: 3 PIDs, 3 prefixes, cost map routingcost" 5 >/dev/null ||
    fail "the tracker did not say it loaded the map: $(head -3 "$T/logs/tracker.log")"
ih=0123456789abcdef0123456789abcdef01234567
ihq=$(sed 's/../%&/g' <<<"$ih")
ann() { # NET HOST NUMWANT: the reply's peers counted by third octet: "a b c"
    curl -sS --max-time 5 "http://127.0.0.1:$tport/announce?info_hash=$ihq&peer_id=-XX0001-$(printf '%06d%06d' "$1" "$2")&port=6881&left=1&numwant=$3&ip=10.0.$1.$2" |
        $PY -c '
import sys
d = sys.stdin.buffer.read()
i = d.index(b"5:peers") + 7
n = int(d[i:d.index(b":", i)]); i = d.index(b":", i) + 1
p = d[i:i + n]
c = {1: 0, 2: 0, 3: 0}
for k in range(0, len(p), 6):
    c[p[k + 2]] = c.get(p[k + 2], 0) + 1
print(c[1], c[2], c[3])'
}
for net in 1 2 3; do
    for h in $(seq 1 20); do ann "$net" "$h" 0 >/dev/null; done
done
got=$(ann 1 100 30)
[ "$got" = "20 6 0" ] || fail "a viewer of isp-a got peers a b c = $got, want 20 6 0"
log "1. a viewer of isp-a: peers of a, b, c = $got (own PID, then the cheaper PID)"

curl -sS --fail --max-time 5 -o /dev/null -H 'Content-Type: application/x-www-form-urlencoded' \
    -H 'X-Forwarded-For: 10.0.1.9' --data "info_hash=$ihq&stream=1&play_ms=1000" \
    "http://127.0.0.1:$tport/qoe?info_hash=$ihq" || fail "POST /qoe refused"
m=$(curl -sS --fail --max-time 5 "http://127.0.0.1:$tport/metrics")
grep -q "^peerflow_tracker_qoe_reports_total{title=\"$ih\",pid=\"isp-a\"} 1$" <<<"$m" ||
    fail "no QoE series for pid isp-a: $(grep qoe_reports_total <<<"$m")"
log "2. QoE from 10.0.1.9 counted under pid=\"isp-a\""

# 3. a new map: a and b are one PID now (its cost map must follow: none)
sleep 1.1
netmap isp-ab isp-ab 2 >"$T/net.json"
echo '{"meta":{"dependent-vtags":[{"resource-id":"lab","tag":"2"}],"cost-type":{"cost-mode":"numerical","cost-metric":"routingcost"}},"cost-map":{"isp-ab":{"isp-ab":1,"isp-c":9},"isp-c":{"isp-ab":9,"isp-c":1}}}' >"$T/cost.json"
wait_for_log tracker "ALTO map lab: 2 PIDs, 3 prefixes" 5 >/dev/null || fail "the new map was not loaded"
got=$(ann 1 101 30)
read -r a b c <<<"$got"
[ $((a + b)) -ge 27 ] && [ "$b" -ge 8 ] || fail "after the merge a viewer of a got a b c = $got"
log "3. the merged map is in force: a viewer of a gets a b c = $got"
sleep 1.1
echo '{"meta":{"vtag":{"resource-id":"lab","tag":"3"}},"network-map":{"bad pid!":{"ipv4":["10.0.1.0/24"]}}}' >"$T/net.json"
wait_for_log tracker 'ALTO network map .*PID' 5 >/dev/null || fail "the broken map was not refused with a reason: $(tail -3 "$T/logs/tracker.log")"
got=$(ann 1 102 30)
read -r a b c <<<"$got"
[ $((a + b)) -ge 27 ] || fail "after a broken map the last good one is not in force: $got"
log "3. a broken map refused ($(grep -o 'ALTO network map .*' "$T/logs/tracker.log" | tail -1)); the last good map stays"

# 4. a tracker does not start on a broken map
rc=0
"$PF_BIN" tracker -l 0 --bind 127.0.0.1 --alto-network-map "$T/net.json" >"$T/bad.out" 2>&1 &
bad=$!
for _ in $(seq 50); do kill -0 "$bad" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$bad" 2>/dev/null; then kill "$bad"; fail "a tracker with a broken map started"; fi
wait "$bad" || rc=$?
[ "$rc" != 0 ] && grep -q 'ALTO network map' "$T/bad.out" || fail "a broken map: exit $rc, '$(cat "$T/bad.out")'"
log "4. a broken map at start: exit $rc, $(grep -m1 'ALTO' "$T/bad.out")"
