#!/usr/bin/env bash
# CMCD to a real CDN, CMSD back (issue 16 item 3).  nginx serves an
# ffmpeg-made MP4 as the torrent's web seed; its access log records each
# GET's query arguments and CMCD-* request headers, and it answers every
# request with `CMSD-Dynamic: "cdn-a";etp=12000;mb=3000`.  `peerflow play`
# streams the torrent to curl (a player reading at about twice the
# bitrate), three times:
#   --cmcd query (the default): every CDN GET carries CMCD= with sid, cid
#     (the info-hash), ot, st, bl and dl; the first GET also br and su;
#     the start-up GETs have su, later ones not; the same sid throughout;
#   --cmcd headers: the same keys in CMCD-Request/-Object/-Session headers,
#     nothing in the query;
#   --cmcd off: neither.
# Each time /stats.json shows the etp and mb the CDN sent for its source
# and /metrics the torrent's gauges.
. "$(dirname "$0")/lib.sh"
pf_setup 150
require_peerflow
require_cmd ffmpeg
require_cmd curl
[ -x /usr/sbin/nginx ] || skip "/usr/sbin/nginx missing (apt package nginx-light)"

gen_video 20 "$T/www/video.mp4"
size=$(stat -c %s "$T/www/video.mp4")

# nginx: one JSON object per request in cmcd.log.
start_nginx_proxy cdn "
    types { video/mp4 mp4; }
    default_type application/octet-stream;
    log_format cmcd escape=json '{\"start\":\$msec,\"rt\":\$request_time,\"status\":\$status,'
        '\"uri\":\"\$uri\",\"args\":\"\$args\",\"range\":\"\$http_range\",'
        '\"req\":\"\$http_cmcd_request\",\"obj\":\"\$http_cmcd_object\",'
        '\"ses\":\"\$http_cmcd_session\",\"sta\":\"\$http_cmcd_status\"}';
    sendfile on;
    server {
        listen 127.0.0.1:@PORT@;
        root $T/www;
        access_log $T/cdn/cmcd.log cmcd;
        location / { add_header CMSD-Dynamic '\"cdn-a\";etp=12000;mb=3000' always; }
    }"
CDN_URL=http://127.0.0.1:$PROXY_PORT
curl -sS -D "$T/hdrs" -o /dev/null -r 0-99 "$CDN_URL/video.mp4" || fail "nginx does not serve the video"
grep -qi '^CMSD-Dynamic: "cdn-a";etp=12000;mb=3000' "$T/hdrs" || fail "nginx sends no CMSD-Dynamic"
$PF_BIN create -p 128K -w "$CDN_URL/video.mp4" -o "$T/video.torrent" "$T/www/video.mp4" >/dev/null
ih=$($PF_BIN info "$T/video.torrent" | awk -F': *' 'tolower($1) ~ /info.?hash/ { print tolower($2); exit }')
[ ${#ih} = 40 ] || fail "no info-hash from peerflow info: '$ih'"

# check_log MODE FROM: the requests logged from line FROM on (this run's).
check_log() {
    local mode=$1 from=$2
    tail -n +"$from" "$T/cdn/cmcd.log" >"$T/run-$mode.log"
    $PY - "$mode" "$T/run-$mode.log" "$ih" <<'PY' || fail "$mode: CMCD in the CDN's log is not what it should be"
import json, sys, urllib.parse
mode, path, ih = sys.argv[1], sys.argv[2], sys.argv[3]
reqs = [json.loads(l) for l in open(path) if l.strip()]
reqs = [r for r in reqs if r["uri"] == "/video.mp4" and r["range"]]
reqs.sort(key=lambda r: float(r["start"]) - float(r["rt"]))  # by arrival
assert len(reqs) >= 2, f"{len(reqs)} ranged GETs"

def keys(payload):
    out = {}
    for item in filter(None, payload.split(",")):
        k, _, v = item.partition("=")
        out[k] = v if _ else True
    return out

rows = []
for r in reqs:
    q = urllib.parse.parse_qs(r["args"])
    hdr = ",".join(h for h in (r["req"], r["obj"], r["ses"], r["sta"]) if h)
    if mode == "query":
        assert "CMCD" in q and len(q["CMCD"]) == 1, f"no CMCD= in {r['args']!r}"
        assert not hdr, f"CMCD headers in query mode: {hdr!r}"
        rows.append(keys(q["CMCD"][0]))
    elif mode == "headers":
        assert r["args"] == "", f"a query in headers mode: {r['args']!r}"
        assert r["req"] and r["obj"] and r["ses"], f"missing CMCD headers: {r}"
        assert "sid=" in r["ses"] and "cid=" in r["ses"] and "ot=" in r["obj"], r
        assert "sid=" not in r["req"] + r["obj"] + r["sta"], f"a key in the wrong header: {r}"
        rows.append(keys(hdr))
    else:
        assert r["args"] == "" and not hdr, f"CMCD sent with --cmcd off: {r}"
if mode == "off":
    print(f"off: {len(reqs)} GETs, none with CMCD")
    sys.exit(0)
first = rows[0]
for k in ("sid", "cid", "ot", "br", "su", "st", "dl", "bl"):
    assert k in first, f"first GET lacks {k}: {first}"
sid = first["sid"]
assert sid.startswith('"') and len(sid) == 38, sid
assert first["cid"] == f'"{ih}"', (first["cid"], ih)
assert first["ot"] == "av" and first["st"] == "v", first
assert int(first["br"]) > 0, first
for i, k in enumerate(rows):
    assert k["sid"] == sid and k["cid"] == first["cid"], f"GET {i}: another session or content: {k}"
    for key in ("ot", "st", "dl", "bl"):
        assert key in k, f"GET {i} lacks {key}: {k}"
    assert int(k["dl"]) % 100 == 0 and int(k["bl"]) % 100 == 0, f"GET {i}: dl/bl not in 100 ms: {k}"
    if "mtp" in k:
        assert int(k["mtp"]) % 100 == 0, k
su = [("su" in k) for k in rows]
last_su = max(i for i, s in enumerate(su) if s)
assert not all(su), "every GET says start-up"
assert any(not s for s in su[last_su + 1:]), f"no GET after the start-up without su: {su}"
# The start-up GETs come first (one may reach nginx out of order).
assert sum(su[su.index(False):]) <= 1, f"start-up GETs after later ones: {su}"
assert any("mtp" in k for k in rows[1:]), "no measured throughput (mtp) after the first GET"
print(f"{mode}: {len(rows)} GETs, start-up ones {sum(su)} (the first {su.index(False)}), sid {sid}")
for k in rows[:3]:
    print("   ", ",".join(f"{a}={b}" if b is not True else a for a, b in k.items()))
PY
}

# check_cmsd: the etp and mb nginx sent, per source and in /metrics.
check_cmsd() {
    local mode=$1 st=$PLAY_BASE/stats.json etp mb
    etp=$(stats_json "$st" '[s["cmsd_etp_kbps"] for s in d["sources"] if s["kind"] == "webseed"][0]')
    mb=$(stats_json "$st" '[s["cmsd_mb_kbps"] for s in d["sources"] if s["kind"] == "webseed"][0]')
    [ "$etp" = 12000 ] && [ "$mb" = 3000 ] || fail "$mode: /stats.json has etp $etp mb $mb, not 12000 and 3000"
    curl -sS --max-time 5 "$PLAY_BASE/metrics" >"$T/metrics-$mode" || fail "no /metrics"
    grep -q '^peerflow_cdn_cmsd_etp_kbps 12000$' "$T/metrics-$mode" || fail "$mode: /metrics lacks the etp"
    grep -q '^peerflow_cdn_cmsd_mb_kbps 3000$' "$T/metrics-$mode" || fail "$mode: /metrics lacks the mb"
    log "$mode: /stats.json and /metrics show etp=$etp mb=$mb kbps from CMSD"
}

for mode in query headers off; do
    from=$(($(wc -l <"$T/cdn/cmcd.log") + 1))
    args=(--cmcd "$mode")
    [ "$mode" = query ] && args=() # the default
    start_play "v-$mode" "$T/video.torrent" "${args[@]}"
    out=$T/read-$mode.mp4
    curl -sS --fail --max-time 60 --limit-rate 600K -o "$out" "$PLAY_URL" || fail "$mode: curl failed"
    assert_same_file "$T/www/video.mp4" "$out"
    is_running "v-$mode" || fail "$mode: peerflow play exited"
    check_cmsd "$mode"
    stop "v-$mode"
    check_log "$mode" "$from"
done
log "file $size B: CMCD in the query, in the headers and off as asked; CMSD read"
