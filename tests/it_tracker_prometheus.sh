#!/usr/bin/env bash
# The tracker's metrics for the operator (issue 18, item 4, first part):
# GET /metrics in the Prometheus text format, scraped by a real Prometheus
# (Debian's).  A subscribers-only tracker with a seed that has a token and
# announces without one, a wrong-torrent one and an expired one:
#  1. promtool accepts the exposition (`promtool check metrics`);
#  2. Prometheus scrapes it and its query API returns the swarm (1 seeder),
#     the announces and each refusal under its reason;
#  3. /metrics is for the hosts --metrics-allow names (default: this host):
#     a tracker that allows only 192.0.2.0/24 answers 127.0.0.1 with 403,
#     and behind a trusted proxy on this host the forwarded client decides.
. "$(dirname "$0")/lib.sh"
pf_setup 120
require_peerflow
require_cmd curl
require_cmd prometheus prometheus
require_cmd promtool prometheus

$PF_BIN token keygen --kid k1 --out "$T/k1.pem" >"$T/keys"
spawn tracker "$PF_BIN" tracker -l 0 --bind 127.0.0.1 --interval 5 --auth-keys "$T/keys"
tport=$(port_of tracker)
url="http://127.0.0.1:$tport/announce"
gen_file 1M "$T/seed/show.bin" tracker-prometheus
$PF_BIN create -p 64K -t "$url" -o "$T/show.torrent" "$T/seed/show.bin" >/dev/null
gen_file 64K "$T/other.bin" tracker-prometheus-other
$PF_BIN create -p 64K -t "$url" -o "$T/other.torrent" "$T/other.bin" >/dev/null
$PF_BIN token sign --key "$T/k1.pem" --kid k1 --sub seed --torrent "$T/show.torrent" >"$T/seed.token"
spawn seed "$PF_BIN" seed -vv -d "$T/seed" -l 0 --bind 127.0.0.1 --tracker-token "@$T/seed.token" "$T/show.torrent"
wait_for_log seed "announce to .*: 0 peers" 20 >/dev/null || fail "the seed's announce was not accepted"

ih_esc=$(info_hash "$T/show.torrent" | sed 's/../%&/g')
announce() { curl -sS --max-time 5 "$url?info_hash=$ih_esc&peer_id=-XX0001-abcdefghijkl&port=7001$1" >/dev/null; }
announce ""
announce ""
announce "&token=$($PF_BIN token sign --key "$T/k1.pem" --kid k1 --sub x --torrent "$T/other.torrent")"
short=$($PF_BIN token sign --key "$T/k1.pem" --kid k1 --sub x --torrent "$T/show.torrent" --ttl 1)
sleep 2
announce "&token=$short"
announce "&token=$short"

# a viewer's QoE report (issue 18 item 4), with the seed's token
curl -sS --fail --max-time 5 -o /dev/null -H 'Content-Type: application/x-www-form-urlencoded' \
    --data "info_hash=$ih_esc&stream=ab&play_ms=60000&startup_ms=700&stalls=1&stall_ms=300&cdn_bytes=100&peer_bytes=900&token=$(cat "$T/seed.token")" \
    "http://127.0.0.1:$tport/qoe?info_hash=$ih_esc" || fail "POST /qoe refused"

# 1. the exposition is valid
curl -sS --fail --max-time 5 "http://127.0.0.1:$tport/metrics" >"$T/metrics.txt" || fail "GET /metrics failed"
promtool check metrics <"$T/metrics.txt" >"$T/promtool.out" 2>&1 || fail "promtool: $(cat "$T/promtool.out")"
grep -q '^peerflow_tracker_refused_total{reason="missing_token"} 2$' "$T/metrics.txt" ||
    fail "missing_token count: $(grep missing_token "$T/metrics.txt")"
log "promtool accepts /metrics ($(grep -vc '^#' "$T/metrics.txt") samples)"
# every series the ops/ rules read is one the tracker exports
for name in $(grep -o 'peerflow_tracker_[a-z_0-9]*' "$PF_SRC/ops/peerflow.rules.yml" | sort -u |
    grep -E '(_total|_bucket|_count|_sum|^peerflow_tracker_p2p_off)$'); do
    base=$(sed -E 's/_(bucket|count|sum)$//' <<<"$name")
    grep -q "^# TYPE $name \|^# TYPE $base histogram" "$T/metrics.txt" ||
        fail "ops/peerflow.rules.yml reads $name, which /metrics does not export"
done
grep -q '^peerflow_tracker_qoe_startup_seconds_bucket{title="[0-9a-f]*",pid="unknown",le="1"} 1$' "$T/metrics.txt" ||
    fail "the QoE report is not in /metrics: $(grep qoe_startup "$T/metrics.txt" | head -3)"
log "/metrics exports every series ops/ reads, and the QoE report"

# 2. a real Prometheus scrapes it
pport=$(free_port)
cat >"$T/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - $PF_SRC/ops/peerflow.rules.yml
scrape_configs:
  - job_name: peerflow-tracker
    static_configs:
      - targets: ["127.0.0.1:$tport"]
EOF
spawn prom prometheus --config.file="$T/prometheus.yml" --storage.tsdb.path="$T/tsdb" \
    --web.listen-address="127.0.0.1:$pport"
query() { # query PROMQL: the first result's value, or ""
    curl -sS --max-time 5 -G "http://127.0.0.1:$pport/api/v1/query" --data-urlencode "query=$1" 2>/dev/null |
        $PY -c 'import json,sys
try:
    r = json.load(sys.stdin)["data"]["result"]
    print(r[0]["value"][1] if r else "")
except Exception:
    print("")'
}
for _ in $(seq 100); do [ "$(query 'up{job="peerflow-tracker"}')" = 1 ] && break; sleep 0.3; done
[ "$(query 'up{job="peerflow-tracker"}')" = 1 ] || fail "Prometheus never scraped the tracker: $(tail -5 "$T/logs/prom.log")"
for _ in $(seq 50); do [ "$(query 'peerflow_tracker_refused_total{reason="expired"}')" = 2 ] && break; sleep 0.2; done
check() { local got; got=$(query "$1"); [ "$got" = "$2" ] || fail "Prometheus: $1 = '$got', want $2"; }
check 'peerflow_tracker_peers{state="seeder"}' 1
check 'peerflow_tracker_torrents' 1
check 'peerflow_tracker_refused_total{reason="missing_token"}' 2
check 'peerflow_tracker_refused_total{reason="wrong_torrent"}' 1
check 'peerflow_tracker_refused_total{reason="expired"}' 2
check 'peerflow_tracker_auth_keys' 1
check 'sum(peerflow_tracker_qoe_reports_total)' 1
health=$(curl -sS --max-time 5 "http://127.0.0.1:$pport/api/v1/rules" | $PY -c 'import json,sys
g = json.load(sys.stdin)["data"]["groups"]
r = [x for grp in g for x in grp["rules"]]
bad = [x["name"] for x in r if x.get("health") not in ("ok", "unknown")]
print(len(r), "rules;", "bad:", ",".join(bad) if bad else "none")')
grep -q "bad: none" <<<"$health" && ! grep -q "^0 rules" <<<"$health" || fail "Prometheus and ops/ rules: $health"
log "Prometheus loaded ops/: $health"
a=$(query 'peerflow_tracker_announces_total')
[ "${a:-0}" -ge 6 ] || fail "announces_total = '$a', want at least 6"
log "Prometheus: 1 seeder, $a announces, refusals by reason as sent"

# 3. only for the hosts it names
spawn tracker2 "$PF_BIN" tracker -l 0 --bind 127.0.0.1 --metrics-allow 192.0.2.0/24
t2=$(port_of tracker2)
code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$t2/metrics")
[ "$code" = 403 ] || fail "a host --metrics-allow does not name got $code"
log "/metrics: 403 for a host not allowed"
# behind a reverse proxy on this host, the client is the one it forwards for
spawn tracker3 "$PF_BIN" tracker -l 0 --bind 127.0.0.1 --trusted-proxy 127.0.0.1
t3=$(port_of tracker3)
code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 5 -H 'X-Forwarded-For: 203.0.113.5' "http://127.0.0.1:$t3/metrics")
[ "$code" = 403 ] || fail "a remote client behind a local proxy got $code"
code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 5 -H 'X-Forwarded-For: 127.0.0.1' "http://127.0.0.1:$t3/metrics")
[ "$code" = 200 ] || fail "a local client behind a local proxy got $code"
log "/metrics behind a proxy: 403 for the remote client it forwards, 200 for a local one"
stop prom
